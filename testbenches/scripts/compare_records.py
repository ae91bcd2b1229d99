#!/usr/bin/env python3
"""Compares the Verilator harness's records (so far) with the simulator's full-run records:
output words (value, cycle, tlast, tuser) and input starts. The simulator's run was checked
against the integer reference (0 mismatching words, 0 differing streams), so equal words mean
RTL = reference on those images."""
import json, sys
rec, simj = sys.argv[1], sys.argv[2]
sim = json.load(open(simj))
W = 18
outs, starts, csums = [], [], 0
with open(rec) as f:
    for line in f:
        p = line.split()
        if not p: continue
        if p[0] == 'O' and len(p) == 5:
            cyc, data, last, user = int(p[1]), int(p[2]), int(p[3]), int(p[4])
            v = data - (1 << W) if data >> (W - 1) else data
            outs.append((v, cyc, bool(last), user))
        elif p[0] == 'I' and len(p) == 3:
            starts.append((int(p[1]), int(p[2])))
        elif p[0] == 'C':
            csums += 1
so = [(o['value'], o['cycle'], o['tlast'], o['tuser']) for o in sim['outputs']]
ss = [(s['image'], s['cycle']) for s in sim['input_starts']]
n = len(outs)
bad = next((i for i in range(n) if outs[i] != so[i]), None)
sbad = next((i for i in range(len(starts)) if starts[i] != ss[i]), None)
print(f"RTL output words so far: {n} ({n // 10} complete images); first differing word: {bad}")
print(f"RTL input starts so far: {len(starts)}; first differing: {sbad}")
print(f"stream checksum lines so far: {csums}")
