"""INQ in PyTorch with `inq quantize`'s defaults (min-error per-channel n1, pruning partition,
lr 0.005, 2 epochs per step) and, with --compensate, the least-squares compensation of each
step's quantization error in the weights left free (`inq quantize --compensate`,
`inq_quant::quantize::compensate`): an independent implementation of the same method, used as
a cross-check in docs/experiments.md (e), "Compensating each step's error". Each step prints the
test accuracy before and after its re-training. Reuses the networks and helpers of
torch_inq.py (run `torch_inq.py train` first for the float state dict).

    python3 inq/scripts/torch_inq_compensate.py --arch cnn --float cnn.onnx.pt --bits 3 [--compensate]
"""
import os, sys, math, time, argparse
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch, torch.nn as nn, torch.nn.functional as F
from torch_inq import ARCHS, NORM, load, fold_bn, run_epochs, evaluate, quantize_eq4

def n1_paper(s):
    return 0 if s == 0 else math.floor(math.log2(4 * s / 3))

def n1_min_error(row, bits):
    base = n1_paper(row.abs().max().item())
    best = (((row - quantize_eq4(row, base, bits)) ** 2).sum().item(), base)
    for n in range(base + 1, base - 7, -1):
        e = ((row - quantize_eq4(row, n, bits)) ** 2).sum().item()
        if e < best[0]:
            best = (e, n)
    return best[1]

def qrows(w, n1s, bits):
    rows = w.view(w.shape[0], -1)
    return torch.stack([quantize_eq4(rows[i], n1s[i], bits) for i in range(rows.shape[0])]).view_as(w)

def hessians(model, mods, x):
    H = {}
    hooks = []
    def mk(m):
        def hook(mod, inp, out):
            a = inp[0].detach()
            if isinstance(mod, nn.Conv2d):
                u = F.unfold(a, mod.kernel_size, dilation=mod.dilation, padding=mod.padding, stride=mod.stride)
                u = u.transpose(1, 2).reshape(-1, u.shape[1])
            else:
                u = a.reshape(a.shape[0], -1)
            u = torch.cat([u.double(), torch.ones(u.shape[0], 1, dtype=torch.float64)], 1)
            H[mod] = H.get(mod, 0) + u.T @ u
        return hook
    for m in mods:
        hooks.append(m.register_forward_hook(mk(m)))
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), 500):
            model(x[i:i + 500])
    model.train()
    for h in hooks: h.remove()
    return H

def compensate(m, H, mask_before, mask_after, q, damp, bias):
    """Rows: the newly frozen weights go to q; the weights still free (and, with `bias`, the
    bias: H's last row and column are the constant input) absorb the error."""
    w = m.weight
    dim = w[0].numel()
    rows = w.data.view(w.shape[0], -1).double()
    mb = mask_before.view(w.shape[0], -1); ma = mask_after.view(w.shape[0], -1)
    qr = q.view(w.shape[0], -1).double()
    lam = damp * H.diagonal()[:dim].mean()
    for r in range(rows.shape[0]):
        Q = (ma[r] & ~mb[r]).nonzero().flatten()
        R = (~ma[r]).nonzero().flatten()
        if bias and m.bias is not None:
            R = torch.cat([R, torch.tensor([dim])])
        if len(Q) == 0 or len(R) == 0:
            continue
        d = qr[r, Q] - rows[r, Q]
        A = H[R][:, R] + lam * torch.eye(len(R), dtype=torch.float64)
        b = -(H[R][:, Q] @ d)
        delta = torch.linalg.solve(A, b)
        if bias and m.bias is not None:
            m.bias.data[r] += float(delta[-1])
            R, delta = R[:-1], delta[:-1]
        rows[r, R] += delta
    w.data.copy_(rows.view_as(w).float())

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True); ap.add_argument("--float", required=True)
    ap.add_argument("--bits", type=int, default=3); ap.add_argument("--schedule", default="0.2,0.4,0.6,0.7,0.8,0.9,0.95,1")
    ap.add_argument("--lr", type=float, default=0.005); ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs-per-step", type=int, default=2)
    ap.add_argument("--compensate", action="store_true"); ap.add_argument("--damp", type=float, default=0.01)
    ap.add_argument("--calib", type=int, default=4000)
    ap.add_argument("--no-bias", dest="bias", action="store_false", help="compensate with the free weights only"); ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
    mean, std = NORM[a.arch]
    xtr, ytr = load("/usr/share/datasets/fashion-mnist", "train", mean, std)
    xte, yte = load("/usr/share/datasets/fashion-mnist", "t10k", mean, std)
    model = ARCHS[a.arch](); model.load_state_dict(torch.load(a.float, weights_only=True)); model.eval()
    fa = evaluate(model, xte, yte); t0 = time.time()
    fold_bn(model)
    mods = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    n1 = {m: [n1_min_error(r, a.bits) for r in m.weight.data.view(m.weight.shape[0], -1)] for m in mods}
    masks = {m.weight: torch.zeros_like(m.weight, dtype=torch.bool) for m in mods}
    sched = [float(s) for s in a.schedule.split(",")]
    g = torch.Generator().manual_seed(1000 + a.seed)
    for i, portion in enumerate(sched):
        H = hessians(model, mods, xtr[torch.randperm(len(xtr), generator=g)[:a.calib]]) if a.compensate else None
        for m in mods:
            w = m.weight; n = w.numel(); target = round(portion * n); have = int(masks[w].sum())
            if target <= have: continue
            before = masks[w].clone()
            free = (~masks[w]).flatten().nonzero().flatten()
            pick = free[torch.argsort(w.data.abs().flatten()[free], descending=True, stable=True)[: target - have]]
            masks[w].view(-1)[pick] = True
            q = qrows(w.data, n1[m], a.bits)
            if a.compensate:
                compensate(m, H[m], before, masks[w], q, a.damp, a.bias)
            with torch.no_grad():
                w.data.view(-1)[pick] = q.view(-1)[pick]
        pre = evaluate(model, xte, yte)
        frozen = {m.weight: m.weight.data.clone() for m in mods}
        if i + 1 < len(sched) and a.epochs_per_step > 0:
            run_epochs(model, xtr, ytr, a.epochs_per_step, a.lr, masks, frozen)
        acc = evaluate(model, xte, yte)
        print(f"step {i+1} portion {portion}: before re-training {100*pre:.2f}%, after {100*acc:.2f}% ({time.time()-t0:.0f} s)", flush=True)
    print(f"RESULT arch={a.arch} seed={a.seed} bits={a.bits} comp={a.compensate} bias={a.bias} float={100*fa:.2f} inq={100*acc:.2f} loss={100*(acc-fa):+.2f} seconds={time.time()-t0:.0f}", flush=True)

main()
