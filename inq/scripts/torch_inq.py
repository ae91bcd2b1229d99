#!/usr/bin/env python3
"""PyTorch side of issue 15: trains float networks of different shapes on Fashion-MNIST, exports
each to ONNX for `inq quantize`, and runs INQ written in plain PyTorch on the same float model
with the same schedule, the comparison `docs/experiments.md` ("INQ on models trained
elsewhere") records.

Networks (input 1x28x28, pixels x/255; `bn` also subtracts a mean and divides by a std, recorded
in the ONNX metadata `inq.normalization` so that `inq` reads the same normalization):
  cnn  conv 3x3 16 + ReLU + maxpool 2, conv 3x3 32 + ReLU + maxpool 2, dense 1568->128 + ReLU,
       dense 128->10 (the issue's conv16-conv32-fc128-fc10).
  bn   conv 3x3 16 + BN + ReLU + maxpool 2, conv 3x3 32 + BN + ReLU + maxpool 2, conv 3x3 32 + BN
       + ReLU + maxpool 2 (to 3x3), dense 288->10; normalization mean 0.286, std 0.353.
  res  stem conv 3x3 16 + BN + ReLU + maxpool 2; a basic block (identity shortcut); a basic
       block with stride 2, 32 channels and a 1x1 stride-2 projection (+ BN); global average
       pool (7x7), dense 32->10.

Float training (`train`): SGD lr 0.05, momentum 0.9, weight decay 5e-4, cosine annealing per
batch to 0, batch 64, cross-entropy, reshuffled every epoch. The exported file is the classic
exporter's (dynamo=False, opset 13) of the model in eval mode; the state dict is saved beside it
(`<out>.pt`) for the INQ run.

INQ (`inq`): BatchNorm folded into the conv before it (as `inq quantize` does: the hardware has
no BN), then the paper's recipe: level set per layer from Eq. 2 (n1 = floor(log2(4 max|W| / 3)))
and Eq. 3 (2^(b-2) exponents below n1 and zero), the pruning-inspired partition (largest
magnitudes first, per layer), the accumulated portions 0.5, 0.75, 0.875, 1 with Eq. 4 (nearest
level, ties up, below 2^(n2-1) zero, clamped at 2^n1); after each step but the last, re-training
of the free weights and all biases for E epochs with SGD (momentum 0.9, weight decay 5e-4 on the
free weights only, cosine learning rate restarted every step, fresh momentum). Frozen weights
never move (their gradient is masked and they are written back after every step). Accuracy is
measured with float activations, as the paper does.

Usage:
  python3 inq/scripts/torch_inq.py train --arch cnn --epochs 4 --seed 1 --out nets/cnn.onnx
  python3 inq/scripts/torch_inq.py inq --arch cnn --float nets/cnn.onnx.pt --bits 5 \
      --lr 0.01 --epochs-per-step 2 --seed 1
Each prints one RESULT line (accuracies in %, wall seconds). --threads (default 2) sets torch's
intra-op threads.
Requires: pip install torch onnx numpy
"""

import argparse
import gzip
import json
import math
import os
import struct
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    _, _, _, nd = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * nd, data[4 : 4 + 4 * nd])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(d, prefix, mean, std):
    def find(stem):
        for p in (os.path.join(d, stem), os.path.join(d, stem + ".gz")):
            if os.path.exists(p):
                return p
        raise FileNotFoundError(os.path.join(d, stem))

    x = read_idx(find(f"{prefix}-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find(f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    x = (x - mean) / std
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


# The normalization of each architecture: (mean, std) after x/255.
NORM = {"cnn": (0.0, 1.0), "bn": (0.286, 0.353), "res": (0.0, 1.0)}


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1, 1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class BnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 32, 3, 1, 1)
        self.bn3 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32 * 3 * 3, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.max_pool2d(F.relu(self.bn3(self.conv3(x))), 2)
        return self.fc(x.flatten(1))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.proj is None else self.proj(x)
        return F.relu(y + s)


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, 1, 1)
        self.bn = nn.BatchNorm2d(16)
        self.block1 = Block(16, 16, 1)
        self.block2 = Block(16, 32, 2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.stem(x))), 2)
        x = self.block2(self.block1(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


ARCHS = {"cnn": Cnn, "bn": BnNet, "res": ResNet}


def fold_bn(model):
    """Folds every BatchNorm2d into the conv before it (eval statistics) and replaces it with
    the identity; returns the model (changed in place)."""
    prev = None
    for name, m in list(model.named_modules()):
        if isinstance(m, nn.Conv2d):
            prev = m
        elif isinstance(m, nn.BatchNorm2d):
            s = m.weight.data / torch.sqrt(m.running_var + m.eps)
            prev.weight.data *= s.view(-1, 1, 1, 1)
            b = prev.bias.data if prev.bias is not None else torch.zeros_like(m.running_mean)
            prev.bias = nn.Parameter((b - m.running_mean) * s + m.bias.data)
            parent = model
            parts = name.split(".")
            for p in parts[:-1]:
                parent = getattr(parent, p)
            setattr(parent, parts[-1], nn.Identity())
    return model


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum().item()
    model.train()
    return correct / len(x)


def run_epochs(model, xtr, ytr, epochs, lr, masks=None, frozen=None):
    """SGD (momentum 0.9, weight decay 5e-4), cosine per batch to 0 over `epochs`, batch 64.
    With masks, a weight whose mask is True keeps its value `frozen` (no gradient, no decay)."""
    bs = 64
    batches = math.ceil(len(xtr) / bs)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, batches * epochs))
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xtr))
        for b in range(batches):
            idx = perm[b * bs : (b + 1) * bs]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            if masks:
                for p, m in masks.items():
                    p.grad[m] = 0.0
            opt.step()
            sched.step()
            if masks:
                with torch.no_grad():
                    for p, m in masks.items():
                        p[m] = frozen[p][m]


def quantize_eq4(w, n1, bits):
    """Eq. 4 with clamping, as `inq_quant::quantize::levels::quantize_value`."""
    n2 = n1 + 1 - 2 ** (bits - 1) // 2
    a = w.abs()
    k = torch.floor(torch.log2(a / 0.75)).clamp(n2, n1)
    q = torch.sign(w) * torch.pow(2.0, k)
    return torch.where(a < 2.0 ** (n2 - 1), torch.zeros_like(w), q)


def n1_paper(w):
    s = w.abs().max().item()
    return 0 if s == 0 else math.floor(math.log2(4 * s / 3))


def cmd_train(a):
    torch.manual_seed(a.seed)
    mean, std = NORM[a.arch]
    xtr, ytr = load(a.data, "train", mean, std)
    xte, yte = load(a.data, "t10k", mean, std)
    model = ARCHS[a.arch]()
    t0 = time.time()
    run_epochs(model, xtr, ytr, a.epochs, a.lr)
    secs = time.time() - t0
    acc = evaluate(model, xte, yte)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save(model.state_dict(), a.out + ".pt")
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), a.out, dynamo=False, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    import onnx

    m = onnx.load(a.out)
    meta = m.metadata_props.add()
    meta.key = "inq.normalization"
    meta.value = json.dumps({"scale": 1.0 / 255.0, "mean": [mean], "std": [std]})
    onnx.save(m, a.out)
    print(f"RESULT arch={a.arch} seed={a.seed} epochs={a.epochs} float={100 * acc:.2f} "
          f"seconds={secs:.1f}", flush=True)


def cmd_inq(a):
    torch.manual_seed(a.seed)
    mean, std = NORM[a.arch]
    xtr, ytr = load(a.data, "train", mean, std)
    xte, yte = load(a.data, "t10k", mean, std)
    model = ARCHS[a.arch]()
    model.load_state_dict(torch.load(a.float, weights_only=True))
    model.eval()
    float_acc = evaluate(model, xte, yte)
    t0 = time.time()
    fold_bn(model)
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    n1 = {w: n1_paper(w.data) for w in weights}
    masks = {w: torch.zeros_like(w, dtype=torch.bool) for w in weights}
    schedule = [float(s) for s in a.schedule.split(",")]
    steps = []
    for i, portion in enumerate(schedule):
        for w in weights:
            n = w.numel()
            target = round(portion * n)
            have = int(masks[w].sum())
            if target > have:
                free = (~masks[w]).flatten().nonzero().flatten()
                mags = w.data.abs().flatten()[free]
                pick = free[torch.argsort(mags, descending=True, stable=True)[: target - have]]
                flat = masks[w].view(-1)
                flat[pick] = True
                with torch.no_grad():
                    q = quantize_eq4(w.data, n1[w], a.bits)
                    w.data.view(-1)[pick] = q.view(-1)[pick]
        frozen = {w: w.data.clone() for w in weights}
        if i + 1 < len(schedule) and a.epochs_per_step > 0:
            run_epochs(model, xtr, ytr, a.epochs_per_step, a.lr, masks, frozen)
        acc = evaluate(model, xte, yte)
        steps.append(acc)
        print(f"step {i + 1} portion {portion}: test {100 * acc:.2f}% ({time.time() - t0:.1f} s)",
              flush=True)
    secs = time.time() - t0
    # Every weight is a level (or zero) now.
    for w in weights:
        q = quantize_eq4(w.data, n1[w], a.bits)
        assert torch.equal(q, w.data), "a weight is not on its level set"
    print(f"RESULT arch={a.arch} seed={a.seed} bits={a.bits} float={100 * float_acc:.2f} "
          f"inq={100 * steps[-1]:.2f} loss={100 * (steps[-1] - float_acc):+.2f} seconds={secs:.1f}",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("train", "inq"):
        p = sub.add_parser(name)
        p.add_argument("--arch", choices=sorted(ARCHS), required=True)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    t = sub.choices["train"]
    t.add_argument("--epochs", type=int, default=4)
    t.add_argument("--lr", type=float, default=0.05)
    t.add_argument("--out", required=True)
    q = sub.choices["inq"]
    q.add_argument("--float", required=True, help="the state dict written by `train` (<out>.pt)")
    q.add_argument("--bits", type=int, default=5)
    q.add_argument("--schedule", default="0.5,0.75,0.875,1")
    q.add_argument("--epochs-per-step", type=int, default=2)
    q.add_argument("--lr", type=float, default=0.01)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    {"train": cmd_train, "inq": cmd_inq}[a.cmd](a)


if __name__ == "__main__":
    main()
