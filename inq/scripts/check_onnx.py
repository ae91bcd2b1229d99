#!/usr/bin/env python3
"""Runs an ONNX model in onnxruntime on the inputs of a JSON case and compares the outputs.

Usage: check_onnx.py MODEL.onnx CASE.json

CASE.json:
  {"input_shape": [C, H, W],
   "inputs":   [[x0, x1, ...], ...],     one flat C·H·W list per image
   "expected": [[y0, y1, ...], ...],     one flat output list per image
   "rtol": 1e-4, "atol": 1e-5,           |got - want| <= atol + rtol·|want|
   "output_scale": 1.0}                  optional: got is multiplied by it first

The images are run one at a time and then all together as one batch (the exported models
have a symbolic batch dimension). Graph optimizations are disabled so that the float
semantics of every node (including QuantizeLinear/DequantizeLinear pairs) are what runs.
Exit status: 0 all match, 1 mismatch, 2 usage error or onnxruntime missing.
Used by inq/tests/onnx_export.rs; needs `pip install onnxruntime numpy`.
"""

import json
import sys


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        print(f"check_onnx: {e}", file=sys.stderr)
        return 2
    ort.set_default_logger_severity(3)
    with open(argv[2]) as f:
        case = json.load(f)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(argv[1], so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    shape = case["input_shape"]
    xs = np.array(case["inputs"], dtype=np.float32).reshape(-1, *shape)
    want = np.array(case["expected"], dtype=np.float64).reshape(len(xs), -1)
    scale = float(case.get("output_scale", 1.0))
    rtol, atol = float(case.get("rtol", 1e-4)), float(case.get("atol", 1e-5))
    single = np.concatenate([sess.run(None, {name: x[None]})[0].reshape(1, -1) for x in xs])
    batch = sess.run(None, {name: xs})[0].reshape(len(xs), -1)
    ok = True
    for label, got in (("single", single), ("batch", batch)):
        got = got.astype(np.float64) * scale
        if got.shape != want.shape:
            print(f"check_onnx: {label}: output shape {got.shape}, expected {want.shape}")
            ok = False
            continue
        err = np.abs(got - want) - (atol + rtol * np.abs(want))
        worst = np.unravel_index(np.argmax(err), err.shape)
        if err[worst] > 0:
            print(f"check_onnx: {label}: mismatch at image {worst[0]} output {worst[1]}: "
                  f"onnxruntime {got[worst]} expected {want[worst]}")
            ok = False
    if ok:
        print(f"check_onnx: {len(xs)} image(s) match (rtol {rtol}, atol {atol}), "
              f"max |diff| {np.max(np.abs(single * scale - want)):.3g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
