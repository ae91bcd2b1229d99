#!/usr/bin/env python3
"""PyTorch reference run of the ResNet-8 layout that `inq_quant::train::build_arch(Arch::Resnet8, ..)`
builds, for the comparison in docs/training.md.

Layout (input 1×28×28, pixels x/255, no mean/std):
  stem: conv 3×3 16 pad 1 + BN + ReLU
  three residual stages of 16, 32, 64 channels, one basic block each:
    conv 3×3 (stride 2 in stages 2 and 3) + BN + ReLU, conv 3×3 + BN,
    shortcut: identity (stage 1) or conv 1×1 stride 2 + BN (stages 2, 3),
    add, ReLU
  global average pool, dense 64 → 10.
Training: SGD lr 0.05, momentum 0.9, weight decay 5e-4 (weights and biases: PyTorch's default),
cosine annealing per batch to 0 over the run, batch 64, cross-entropy, shuffled every epoch.
BN momentum 0.1, eps 1e-5 (PyTorch defaults).

Usage: python3 inq/scripts/torch_resnet8.py [--epochs 3] [--threads 2] [--data DIR] [--onnx OUT]
Prints the time and test accuracy of every epoch and one final RESULT line.
"""

import argparse
import gzip
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    _, _, dt, nd = struct.unpack(">BBBB", data[:4])
    dims = struct.unpack(">" + "I" * nd, data[4 : 4 + 4 * nd])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(d, prefix):
    def find(stem):
        for p in (os.path.join(d, stem), os.path.join(d, stem + ".gz")):
            if os.path.exists(p):
                return p
        raise FileNotFoundError(stem)

    x = read_idx(find(f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


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


class ResNet8(nn.Module):
    def __init__(self, cin=1, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(cin, 16, 3, 1, 1)
        self.bn = nn.BatchNorm2d(16)
        self.stage1 = Block(16, 16, 1)
        self.stage2 = Block(16, 32, 2)
        self.stage3 = Block(32, 64, 2)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum().item()
    model.train()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--onnx", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "t10k")
    model = ResNet8()
    bs = 64
    batches = math.ceil(len(xtr) / bs)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=batches * a.epochs)
    t_all = time.time()
    for epoch in range(a.epochs):
        t0 = time.time()
        perm = torch.randperm(len(xtr))
        loss_sum = 0.0
        for b in range(batches):
            idx = perm[b * bs : (b + 1) * bs]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
        secs = time.time() - t0
        acc = evaluate(model, xte, yte)
        print(f"epoch {epoch + 1}: loss {loss_sum / len(xtr):.4f} test {100 * acc:.2f}% ({secs:.1f} s)", flush=True)
    total = time.time() - t_all
    print(f"RESULT epochs={a.epochs} test_accuracy={100 * acc:.2f}% seconds={total:.0f}", flush=True)
    if a.onnx:
        model.eval()
        torch.onnx.export(model, torch.zeros(1, 1, 28, 28), a.onnx, dynamo=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


if __name__ == "__main__":
    main()
