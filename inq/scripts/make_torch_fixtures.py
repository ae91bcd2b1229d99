#!/usr/bin/env python3
"""Builds small networks in real PyTorch, exports each with both ONNX exporters and writes the
outputs onnxruntime computes for fixed inputs: the graph fixtures of inq/tests/onnx_import.rs.

Networks (eval mode; BatchNorm running statistics set to random values so that folding is
exercised):
  * torch_resnet: stem conv 3×3 + BN + ReLU; a basic block with an identity shortcut; a basic
    block with stride 2 and a 1×1 stride-2 projection shortcut (+ BN); adaptive average pool to
    1×1, flatten, linear. BatchNorm on both branches of the second block.
  * torch_dwsep: a depthwise-separable network: conv 3×3 + BN + ReLU; depthwise 3×3 (groups =
    channels) + BN + ReLU; pointwise 1×1 + BN + ReLU; depthwise 3×3 stride 2; mean over H, W
    (x.mean((2, 3))), linear.
Each is written twice: `<name>_classic.onnx` (torch.onnx.export(..., dynamo=False), opset 13)
with BatchNormalization nodes kept (TrainingMode.PRESERVE), and `<name>_dynamo.onnx`
(dynamo=True, default optimization), each with `<file>.json` in the format of
make_onnx_fixtures.py (inputs, onnxruntime outputs).

Requires: pip install torch onnx onnxruntime onnxscript numpy
Usage:    python3 inq/scripts/make_torch_fixtures.py
"""

import json
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
ort.set_default_logger_severity(3)
warnings.filterwarnings("ignore")


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 1.0 + 0.2 * torch.randn(c, generator=gen)
            m.bias.data = 0.1 * torch.randn(c, generator=gen)
            m.running_mean = 0.2 * torch.randn(c, generator=gen)
            m.running_var = 0.5 + torch.rand(c, generator=gen)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.proj is None else self.proj(x)
        return F.relu(y + s)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.block1 = Block(4, 4, 1)
        self.block2 = Block(4, 8, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class DwSep(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, 1, 1)
        self.bn0 = nn.BatchNorm2d(4)
        self.dw1 = nn.Conv2d(4, 4, 3, 1, 1, groups=4, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.pw1 = nn.Conv2d(4, 8, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.dw2 = nn.Conv2d(8, 8, 3, 2, 1, groups=8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = F.relu(self.bn0(self.conv(x)))
        x = F.relu(self.bn1(self.dw1(x)))
        x = F.relu(self.bn2(self.pw1(x)))
        x = self.dw2(x)
        return self.fc(x.mean((2, 3)))


def save(name, model, chw, gen, dynamo):
    path = os.path.join(OUT, name + ".onnx")
    x = torch.zeros(1, *chw)
    if dynamo:
        # The default (optimized) output, as users get it: the exporter's optimizer folds
        # BatchNorm itself; the classic fixtures keep BatchNormalization nodes.
        prog = torch.onnx.export(model, (x,), dynamo=True, input_names=["input"],
                                 output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("N")},))
        prog.save(path)
    else:
        # TrainingMode.PRESERVE on an eval-mode model keeps BatchNormalization nodes
        # (TrainingMode.EVAL would fold them into the convolutions before we see them).
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=13, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    inputs, outputs = [], []
    for _ in range(2):
        xi = torch.randn(1, *chw, generator=gen).numpy()
        y = sess.run(None, {in_name: xi})[0]
        with torch.no_grad():
            ref = model(torch.from_numpy(xi)).numpy()
        assert np.allclose(y, ref, atol=1e-5, rtol=1e-4), (name, y, ref)
        inputs.append([float(v) for v in xi.ravel()])
        outputs.append([float(v) for v in y.ravel()])
    ops = sorted({n.op_type for n in m.graph.node})
    case = {
        "model": name + ".onnx",
        "input_shape": list(chw),
        "inputs": inputs,
        "outputs": outputs,
        "softmax": False,
        "notes": f"real PyTorch {torch.__version__}, {'dynamo' if dynamo else 'classic'} exporter; ops {ops}",
        "generated_with": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
    }
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(case, f)
        f.write("\n")
    print(f"{name}.onnx: {os.path.getsize(path)} bytes, ops {ops}")


def main():
    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(7)
    for cls, name, chw in ((TinyResNet, "torch_resnet", (1, 8, 8)), (DwSep, "torch_dwsep", (1, 6, 6))):
        model = cls()
        randomize_bn(model, gen)
        model.eval()
        for dynamo in (False, True):
            save(f"{name}_{'dynamo' if dynamo else 'classic'}", model, chw, gen, dynamo)


if __name__ == "__main__":
    main()
