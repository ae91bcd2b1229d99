#!/usr/bin/env python3
"""Builds the small ONNX test models under inq/tests/fixtures/ and their expected outputs.

Each valid fixture `NAME.onnx` gets `NAME.json` with fixed inputs and the outputs onnxruntime
computes for them; the Rust tests (inq/tests/onnx_import.rs) import the model, run
`inq_quant::forward` and compare. Each error fixture `err_NAME.onnx` gets `err_NAME.json`
listing substrings the import error must contain (node name, op type, reason).

The models mimic what the real exporters emit (torch is not installable here):
  * classic torch.onnx.export (TorchScript): Conv/BatchNormalization/Gemm with initializers
    (also listed as graph inputs, as old IR versions required), Flatten, Dropout, opsets
    11-17, `x.view(x.size(0), -1)` as Shape→Gather→Unsqueeze→Concat→Reshape;
  * the dynamo exporter: opset 18, weights as Constant nodes, Identity nodes, MatMul+Add with
    a Transpose of a constant weight, Reshape with a Constant shape, ReduceMean with axes as
    an input, Dropout with ratio/training_mode inputs;
  * tf2onnx (NCHW, Transpose-free): Conv + separate Add bias, Reshape with an int64
    initializer shape, MatMul + Add, `:0`-style tensor names.

Requires: pip install onnx onnxruntime numpy
Usage:    python3 inq/scripts/make_onnx_fixtures.py   (from the repository root or anywhere)
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
RNG = np.random.default_rng(20240611)
ort.set_default_logger_severity(3)


def w(*shape, scale=0.3):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def const_node(out, arr):
    return helper.make_node("Constant", [], [out], value=numpy_helper.from_array(np.asarray(arr)))


def bn_params(prefix, c):
    gamma = (1.0 + 0.2 * RNG.standard_normal(c)).astype(np.float32)
    beta = (0.1 * RNG.standard_normal(c)).astype(np.float32)
    mean = (0.2 * RNG.standard_normal(c)).astype(np.float32)
    var = (0.5 + RNG.random(c)).astype(np.float32)
    return [init(f"{prefix}.weight", gamma), init(f"{prefix}.bias", beta),
            init(f"{prefix}.running_mean", mean), init(f"{prefix}.running_var", var)]


def bn_names(prefix):
    return [f"{prefix}.weight", f"{prefix}.bias", f"{prefix}.running_mean", f"{prefix}.running_var"]


def value(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def model(name, nodes, inits, in_shape, out_shape, opset, inits_as_inputs=False, ir=None,
          metadata=None, in_name="input", out_name="output"):
    inputs = [value(in_name, in_shape)]
    if inits_as_inputs:
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    g = helper.make_graph(nodes, name, inputs, [value(out_name, out_shape)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="inq-fixtures")
    m.ir_version = ir if ir is not None else min(onnx.IR_VERSION, 8 if opset <= 17 else 9)
    for k, v in (metadata or {}).items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    return m


def save_valid(name, m, chw, softmax=False, notes="", rng=None):
    onnx.checker.check_model(m, full_check=True)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(m, path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    inputs, outputs = [], []
    for k in range(2):
        x = (rng or RNG).standard_normal((1, *chw)).astype(np.float32)
        y = sess.run(None, {in_name: x})[0]
        inputs.append([float(v) for v in x.ravel()])
        outputs.append([float(v) for v in y.ravel()])
    case = {
        "model": name + ".onnx",
        "input_shape": list(chw),
        "inputs": inputs,
        "outputs": outputs,
        "softmax": softmax,
        "notes": notes,
        "generated_with": {"onnx": onnx.__version__, "onnxruntime": ort.__version__},
    }
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(case, f)
        f.write("\n")


def save_error(name, m, expect, check=True):
    if check:
        onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, name + ".onnx"))
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump({"model": name + ".onnx", "error": expect}, f, indent=1)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# Valid models.

def classic_bn_gemm():
    """Classic exporter, opset 11: Conv(no bias)+BN, MaxPool, Conv(pads), AveragePool,
    Flatten, Gemm(transB=1), Dropout(ratio attribute), Gemm(transB=0, alpha, beta);
    initializers also listed as graph inputs."""
    inits = [init("conv1.weight", w(4, 2, 3, 3))] + bn_params("bn1", 4) + [
        init("conv2.weight", w(6, 4, 3, 3)), init("conv2.bias", w(6)),
        init("fc1.weight", w(8, 6 * 2 * 2)), init("fc1.bias", w(8)),
        init("fc2.weight", w(8, 3)), init("fc2.bias", w(3)),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight"], ["c1"], name="Conv_0",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("BatchNormalization", ["c1"] + bn_names("bn1"), ["b1"], name="BatchNormalization_1",
                         epsilon=1e-3, momentum=0.9),
        helper.make_node("Relu", ["b1"], ["r1"], name="Relu_2"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="MaxPool_3", kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0]),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], name="Conv_4",
                         kernel_shape=[3, 3], pads=[1, 0, 1, 2], strides=[1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="Relu_5"),
        helper.make_node("AveragePool", ["r2"], ["p2"], name="AveragePool_6", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"], name="Flatten_7", axis=1),
        helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], name="Gemm_8", alpha=1.0, beta=1.0, transB=1),
        helper.make_node("Relu", ["g1"], ["r3"], name="Relu_9"),
        helper.make_node("Dropout", ["r3"], ["d", "mask"], name="Dropout_10", ratio=0.5),
        helper.make_node("Gemm", ["d", "fc2.weight", "fc2.bias"], ["output"], name="Gemm_11", alpha=0.5, beta=2.0),
    ]
    m = model("classic_bn_gemm", nodes, inits, ["batch_size", 2, 8, 8], ["batch_size", 3], 11, inits_as_inputs=True, ir=6)
    save_valid("classic_bn_gemm", m, (2, 8, 8))


def classic_view_softmax():
    """Classic exporter, opset 13, dynamic batch: x.view(x.size(0), -1) as
    Shape→Gather→Unsqueeze(axes input)→Concat→Reshape; final Softmax (dropped on import)."""
    inits = [init("conv.weight", w(3, 1, 3, 3)), init("conv.bias", w(3)),
             init("fc.weight", w(5, 3 * 3 * 3)), init("fc.bias", w(5))]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="Conv_0",
                         kernel_shape=[3, 3], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"], name="Relu_1"),
        helper.make_node("Shape", ["r"], ["s"], name="Shape_2"),
        const_node("idx0", np.array(0, dtype=np.int64)),
        helper.make_node("Gather", ["s", "idx0"], ["n"], name="Gather_4", axis=0),
        const_node("ax0", np.array([0], dtype=np.int64)),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"], name="Unsqueeze_6"),
        const_node("minus1", np.array([-1], dtype=np.int64)),
        helper.make_node("Concat", ["n1", "minus1"], ["shape"], name="Concat_8", axis=0),
        helper.make_node("Reshape", ["r", "shape"], ["f"], name="Reshape_9"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["g"], name="Gemm_10", transB=1),
        helper.make_node("Softmax", ["g"], ["output"], name="Softmax_11", axis=1),
    ]
    m = model("classic_view_softmax", nodes, inits, ["N", 1, 7, 7], ["N", 5], 13)
    save_valid("classic_view_softmax", m, (1, 7, 7), softmax=True)


def classic_same_global():
    """Opset 17: Conv auto_pad=SAME_UPPER stride 2, BN with training_mode=0, GlobalAveragePool,
    Flatten, Gemm; normalization in the metadata."""
    inits = [init("conv.weight", w(4, 3, 3, 3)), init("conv.bias", w(4))] + bn_params("bn", 4) + [
        init("fc.weight", w(3, 4)), init("fc.bias", w(3))]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                         auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c"] + bn_names("bn"), ["b"], name="/bn/BatchNormalization",
                         epsilon=1e-5, momentum=0.9, training_mode=0),
        helper.make_node("Relu", ["b"], ["r"], name="/relu/Relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["gp"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["gp"], ["f"], name="/Flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], name="/fc/Gemm", transB=1),
    ]
    meta = {"inq.normalization": json.dumps({"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})}
    m = model("classic_same_global", nodes, inits, ["N", 3, 7, 8], ["N", 3], 17, metadata=meta)
    save_valid("classic_same_global", m, (3, 7, 8))


def dynamo_constants():
    """Dynamo exporter, opset 18: weights as Constant nodes, Identity nodes, MaxPool with
    ceil_mode=1 where it changes nothing, Reshape with a Constant shape [-1, F], MatMul with a
    Transpose of a constant weight, Add(bias, x), BatchNormalization on [N, F], Dropout with
    ratio/training_mode inputs and an unused mask output."""
    f = 4 * 3 * 3
    nodes = [
        const_node("conv1.weight", w(4, 2, 3, 3)),
        const_node("conv1.bias", w(4)),
        helper.make_node("Identity", ["conv1.weight"], ["w_id"], name="node_Identity_0"),
        helper.make_node("Conv", ["input", "w_id", "conv1.bias"], ["conv"], name="node_Conv_1",
                         pads=[0, 0, 0, 0], strides=[1, 1], dilations=[1, 1], group=1),
        helper.make_node("Relu", ["conv"], ["relu"], name="node_Relu_2"),
        helper.make_node("MaxPool", ["relu"], ["pool"], name="node_MaxPool_3",
                         kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        const_node("val_shape", np.array([-1, f], dtype=np.int64)),
        helper.make_node("Reshape", ["pool", "val_shape"], ["view"], name="node_Reshape_4", allowzero=0),
        const_node("fc1.weight", w(6, f)),
        helper.make_node("Transpose", ["fc1.weight"], ["t"], name="node_Transpose_5", perm=[1, 0]),
        helper.make_node("MatMul", ["view", "t"], ["mm"], name="node_MatMul_6"),
        const_node("fc1.bias", w(6)),
        helper.make_node("Add", ["fc1.bias", "mm"], ["lin"], name="node_Add_7"),
        const_node("bn.weight", (1 + 0.2 * RNG.standard_normal(6)).astype(np.float32)),
        const_node("bn.bias", w(6, scale=0.1)),
        const_node("bn.mean", w(6, scale=0.2)),
        const_node("bn.var", (0.5 + RNG.random(6)).astype(np.float32)),
        helper.make_node("BatchNormalization", ["lin", "bn.weight", "bn.bias", "bn.mean", "bn.var"], ["bnout"],
                         name="node_BatchNormalization_8", epsilon=1e-5),
        helper.make_node("Relu", ["bnout"], ["r2"], name="node_Relu_9"),
        const_node("ratio", np.array(0.25, dtype=np.float32)),
        const_node("train", np.array(False)),
        helper.make_node("Dropout", ["r2", "ratio", "train"], ["drop", "drop_mask"], name="node_Dropout_10"),
        const_node("fc2.weight", w(6, 4)),
        helper.make_node("MatMul", ["drop", "fc2.weight"], ["mm2"], name="node_MatMul_11"),
        const_node("fc2.bias", w(4)),
        helper.make_node("Add", ["mm2", "fc2.bias"], ["add2"], name="node_Add_12"),
        helper.make_node("Identity", ["add2"], ["output"], name="node_Identity_13"),
    ]
    m = model("main_graph", nodes, [], ["s0", 2, 8, 8], ["s0", 4], 18)
    save_valid("dynamo_constants", m, (2, 8, 8))


def tf2onnx_style():
    """tf2onnx-like (NCHW): Conv without bias + Add of a [1, C, 1, 1] bias, MaxPool, Reshape
    with an int64 initializer, MatMul + Add, tensor names with ':0'."""
    inits = [init("model/conv2d/Conv2D/ReadVariableOp:0", w(3, 1, 3, 3)),
             init("model/conv2d/BiasAdd/ReadVariableOp:0", w(1, 3, 1, 1)),
             init("const_fold_opt__12", np.array([-1, 3 * 3 * 3], dtype=np.int64)),
             init("model/dense/MatMul/ReadVariableOp:0", w(27, 5)),
             init("model/dense/BiasAdd/ReadVariableOp:0", w(5))]
    nodes = [
        helper.make_node("Conv", ["input_1:0", "model/conv2d/Conv2D/ReadVariableOp:0"], ["conv:0"],
                         name="model/conv2d/Conv2D", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["conv:0", "model/conv2d/BiasAdd/ReadVariableOp:0"], ["badd:0"], name="model/conv2d/BiasAdd"),
        helper.make_node("Relu", ["badd:0"], ["relu:0"], name="model/conv2d/Relu"),
        helper.make_node("MaxPool", ["relu:0"], ["pool:0"], name="model/max_pooling2d/MaxPool",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["pool:0", "const_fold_opt__12"], ["flat:0"], name="model/flatten/Reshape"),
        helper.make_node("MatMul", ["flat:0", "model/dense/MatMul/ReadVariableOp:0"], ["mm:0"], name="model/dense/MatMul"),
        helper.make_node("Add", ["mm:0", "model/dense/BiasAdd/ReadVariableOp:0"], ["dense:0"], name="model/dense/BiasAdd"),
    ]
    m = model("tf2onnx", nodes, inits, ["unk__6", 1, 6, 6], ["unk__7", 5], 15, in_name="input_1:0", out_name="dense:0")
    save_valid("tf2onnx_style", m, (1, 6, 6))


def reshape_forms():
    """Static batch 1: a no-op Reshape [0, C, H, W], Reshape [1, -1] (static export),
    Reshape [0, -1] on a vector (no-op), Flatten of a vector (no-op)."""
    inits = [init("noop_shape", np.array([0, 2, 5, 5], dtype=np.int64)),
             init("conv.weight", w(3, 2, 2, 2)), init("conv.bias", w(3)),
             init("flat_shape", np.array([1, -1], dtype=np.int64)),
             init("zero_shape", np.array([0, -1], dtype=np.int64)),
             init("fc.weight", w(4, 3 * 4 * 4)), init("fc.bias", w(4))]
    nodes = [
        helper.make_node("Reshape", ["input", "noop_shape"], ["x"], name="reshape_noop"),
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "flat_shape"], ["f"], name="reshape_1_m1"),
        helper.make_node("Reshape", ["f", "zero_shape"], ["f2"], name="reshape_0_m1"),
        helper.make_node("Flatten", ["f2"], ["f3"], name="flatten_vec"),
        helper.make_node("Gemm", ["f3", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1),
    ]
    m = model("reshape_forms", nodes, inits, [1, 2, 5, 5], [1, 4], 14)
    save_valid("reshape_forms", m, (2, 5, 5))


def reshape_zero_squeeze():
    """Opset 18: Reshape [0, -1] flatten of a feature map after an average pool; a second
    model branch-free path with ReduceMean(axes input, keepdims=1) + Squeeze(axes input)."""
    inits = [init("conv.weight", w(4, 1, 3, 3)), init("conv.bias", w(4)),
             init("axes", np.array([2, 3], dtype=np.int64)),
             init("fc.weight", w(2, 4)), init("fc.bias", w(2))]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("AveragePool", ["r"], ["p"], name="avgpool", kernel_shape=[2, 4], strides=[2, 4]),
        helper.make_node("ReduceMean", ["p", "axes"], ["m"], name="mean", keepdims=1),
        helper.make_node("Squeeze", ["m", "axes"], ["s"], name="squeeze"),
        helper.make_node("Gemm", ["s", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1),
    ]
    m = model("reduce_squeeze", nodes, inits, ["N", 1, 4, 8], ["N", 2], 18)
    save_valid("reduce_squeeze", m, (1, 4, 8))
    inits = [init("conv.weight", w(2, 1, 3, 3)), init("conv.bias", w(2)),
             init("shape", np.array([0, -1], dtype=np.int64)),
             init("fc.weight", w(3, 2 * 3 * 3)), init("fc.bias", w(3))]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="conv", strides=[2, 2], pads=[1, 1, 0, 0]),
        helper.make_node("Reshape", ["c", "shape"], ["f"], name="flatten0"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1),
    ]
    m = model("reshape_zero", nodes, inits, ["N", 1, 6, 6], ["N", 3], 13)
    save_valid("reshape_zero", m, (1, 6, 6))


def autopad_forms():
    """auto_pad=SAME_LOWER with stride 2 (odd total padding goes first), auto_pad=VALID, and a
    MaxPool with auto_pad=SAME_UPPER that needs no padding."""
    inits = [init("c1.weight", w(3, 2, 3, 3)), init("c1.bias", w(3)),
             init("c2.weight", w(4, 3, 2, 2)), init("c2.bias", w(4)),
             init("fc.weight", w(2, 4)), init("fc.bias", w(2))]
    nodes = [
        helper.make_node("Conv", ["input", "c1.weight", "c1.bias"], ["a"], name="same_lower", auto_pad="SAME_LOWER", strides=[2, 2]),
        helper.make_node("Relu", ["a"], ["b"], name="relu"),
        helper.make_node("MaxPool", ["b"], ["c"], name="pool_same", auto_pad="SAME_UPPER", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["c", "c2.weight", "c2.bias"], ["d"], name="valid", auto_pad="VALID"),
        helper.make_node("Flatten", ["d"], ["e"], name="flatten"),
        helper.make_node("Gemm", ["e", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1),
    ]
    m = model("autopad", nodes, inits, ["N", 2, 8, 7], ["N", 2], 13)
    save_valid("autopad_forms", m, (2, 8, 7))


# ---------------------------------------------------------------------------------------------
# Error models.

def small_chain(mid_nodes, mid_inits, opset=13, in_shape=("N", 1, 4, 4), out_shape=("N", 2)):
    inits = [init("conv.weight", w(2, 1, 3, 3)), init("conv.bias", w(2))] + mid_inits
    nodes = [helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1])]
    return model("err", nodes + mid_nodes, inits, list(in_shape), list(out_shape), opset)


def errors():
    fc = [init("fc.weight", w(2, 32)), init("fc.bias", w(2))]
    flat_fc = [helper.make_node("Flatten", ["x"], ["f"], name="flatten"),
               helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1)]

    # Softmax in the middle.
    m = small_chain([helper.make_node("Flatten", ["c"], ["f"], name="flatten"),
                     helper.make_node("Softmax", ["f"], ["s"], name="mid_softmax", axis=1),
                     helper.make_node("Gemm", ["s", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1)], fc)
    save_error("err_softmax_middle", m, ["'mid_softmax'", "#2", "Softmax", "final node"])

    # An LSTM (unsupported op).
    m = small_chain([helper.make_node("Relu", ["c"], ["x0"], name="relu"),
                     helper.make_node("LSTM", ["x0", "W", "R"], ["output"], name="lstm", hidden_size=2)],
                    [init("W", w(1, 8, 2)), init("R", w(1, 8, 2))], out_shape=("N", 1, 1, 2))
    save_error("err_lstm", m, ["'lstm'", "#2", "LSTM", "not supported"], check=False)

    # Grouped convolution.
    inits = [init("conv.weight", w(4, 1, 3, 3)), init("conv.bias", w(4))]
    nodes = [helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["output"], name="dwconv", group=2, pads=[1, 1, 1, 1])]
    m = model("err", nodes, inits, ["N", 2, 4, 4], ["N", 4, 4, 4], 13)
    save_error("err_group2", m, ["'dwconv'", "#0", "Conv", "group=2"])

    # Dilated convolution.
    nodes = [helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["output"], name="dil", dilations=[2, 2])]
    inits = [init("conv.weight", w(2, 1, 3, 3)), init("conv.bias", w(2))]
    m = model("err", nodes, inits, ["N", 1, 6, 6], ["N", 2, 2, 2], 13)
    save_error("err_dilation", m, ["'dil'", "#0", "Conv", "dilations"])

    # Average pool over 3×3 = 9 elements.
    m = small_chain([helper.make_node("AveragePool", ["c"], ["x"], name="avg3", kernel_shape=[3, 3], strides=[1, 1])]
                    + [helper.make_node("Flatten", ["x"], ["f"], name="flatten"),
                       helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["output"], name="fc", transB=1)],
                    [init("fc.weight", w(2, 8)), init("fc.bias", w(2))])
    save_error("err_avgpool3", m, ["'avg3'", "#1", "AveragePool", "power-of-two"])

    # Unsupported opset.
    m = small_chain([helper.make_node("Relu", ["c"], ["x"], name="relu")] + flat_fc, fc, opset=8)
    m.ir_version = 3
    save_error("err_opset8", m, ["opset 8", "not supported"], check=False)

    # A branching graph (a residual Add: refused by the chain importer, valid since graphs).
    # Its inputs come from a separate generator so that the fixtures after it stay as they were.
    inits = [init("conv.weight", w(2, 1, 3, 3)), init("conv.bias", w(2)),
             init("conv2.weight", w(2, 2, 3, 3)), init("conv2.bias", w(2))] + fc
    nodes = [helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "conv2.weight", "conv2.bias"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["r", "c2"], ["x"], name="residual")] + flat_fc
    m = model("err", nodes, inits, ["N", 1, 4, 4], ["N", 2], 13)
    save_valid("branch_residual", m, (1, 4, 4), notes="residual Add of two streams",
               rng=np.random.default_rng(77))

    # BatchNormalization after a Relu (cannot be folded).
    m = small_chain([helper.make_node("Relu", ["c"], ["r"], name="relu"),
                     helper.make_node("BatchNormalization", ["r"] + bn_names("bn"), ["x"], name="bn_after_relu")]
                    + flat_fc, bn_params("bn", 2) + fc)
    save_error("err_bn_after_relu", m, ["'bn_after_relu'", "#2", "BatchNormalization", "directly follow"])

    # Padded max pool.
    m = small_chain([helper.make_node("MaxPool", ["c"], ["x"], name="padpool", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1])]
                    + flat_fc, [init("fc.weight", w(2, 18)), init("fc.bias", w(2))])
    save_error("err_pool_padding", m, ["'padpool'", "#1", "MaxPool", "padding"])

    # Reshape that is not a flatten.
    m = small_chain([helper.make_node("Reshape", ["c", "shape"], ["output"], name="reshape3d")],
                    [init("shape", np.array([0, 2, -1], dtype=np.int64))], out_shape=("N", 2, 16))
    save_error("err_reshape", m, ["'reshape3d'", "#1", "Reshape", "flatten"])

    # Symbolic spatial size.
    m = small_chain([helper.make_node("Relu", ["c"], ["output"], name="relu")], [],
                    in_shape=("N", 1, "H", "W"), out_shape=("N", 2, "H", "W"))
    save_error("err_symbolic_hw", m, ["input 'input'", "symbolic", "'H'"])

    # Gemm with transA=1.
    inits = [init("conv.weight", w(2, 1, 3, 3)), init("conv.bias", w(2)), init("fcw", w(1, 2)), init("fc.bias", w(2))]
    nodes = [helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="conv"),
             helper.make_node("Flatten", ["c"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fcw", "fc.bias"], ["output"], name="gemmA", transA=1)]
    m = model("err", nodes, inits, [1, 1, 3, 3], [2, 2], 13)
    save_error("err_gemm_transa", m, ["'gemmA'", "#2", "Gemm", "transA"])

    # Half-precision weights.
    inits = [numpy_helper.from_array(w(2, 1, 3, 3).astype(np.float16), "conv.weight")]
    nodes = [helper.make_node("Cast", ["input"], ["h"], name="to_half", to=TensorProto.FLOAT16),
             helper.make_node("Conv", ["h", "conv.weight"], ["output"], name="half_conv")]
    g = helper.make_graph(nodes, "err", [value("input", ["N", 1, 4, 4])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT16, ["N", 2, 2, 2])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    save_error("err_cast_fp16", m, ["'to_half'", "#0", "Cast", "not supported"])
    nodes = [helper.make_node("Conv", ["input", "conv.weight"], ["output"], name="half_w")]
    g = helper.make_graph(nodes, "err", [value("input", ["N", 1, 4, 4])], [value("output", ["N", 2, 2, 2])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    save_error("err_fp16_weight", m, ["'half_w'", "#0", "Conv", "FLOAT16", "conv.weight"], check=False)


def npy_dataset():
    """A tiny dataset folder written by numpy itself, for data::load's .npy path: the test
    split as x_test.npy (uint8 [3, 1, 4, 5]) + y_test.npy (int64 [3]), the train split as
    train_images.npy (float32 k/255, [2, 4, 5]) + train_labels.npy (uint8 [2, 1]).
    Pixel j of image i is (7·i + 3·j) mod 256."""
    d = os.path.join(OUT, "npy")
    os.makedirs(d, exist_ok=True)
    def pix(n, per):
        return np.array([[(7 * i + 3 * j) % 256 for j in range(per)] for i in range(n)], dtype=np.uint8)
    np.save(os.path.join(d, "x_test.npy"), pix(3, 20).reshape(3, 1, 4, 5))
    np.save(os.path.join(d, "y_test.npy"), np.array([4, 0, 9], dtype=np.int64))
    np.save(os.path.join(d, "train_images.npy"), (pix(2, 20).astype(np.float32) / 255.0).reshape(2, 4, 5))
    np.save(os.path.join(d, "train_labels.npy"), np.array([[1], [2]], dtype=np.uint8))


def main():
    os.makedirs(OUT, exist_ok=True)
    npy_dataset()
    classic_bn_gemm()
    classic_view_softmax()
    classic_same_global()
    dynamo_constants()
    tf2onnx_style()
    reshape_forms()
    reshape_zero_squeeze()
    autopad_forms()
    errors()
    files = [os.path.join(r, f) for r, _, fs in os.walk(OUT) for f in fs]
    total = sum(os.path.getsize(f) for f in files)
    print(f"wrote {len(files)} files ({total} bytes) under {os.path.normpath(OUT)}")


if __name__ == "__main__":
    sys.exit(main())
