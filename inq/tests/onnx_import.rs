//! ONNX import against onnxruntime: every fixture under `tests/fixtures/` (built by
//! `scripts/make_onnx_fixtures.py`) is imported, run with `forward`, and compared with the
//! outputs onnxruntime computed for the same inputs; every `err_*` fixture must fail with an
//! error naming the node and op.

use std::path::{Path, PathBuf};

use inq_quant::forward::{self, Forward};
use inq_quant::graph::{FloatModel, FloatOp, Normalization};
use inq_quant::onnx::{self, OnnxError};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn case(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn softmax(v: &[f32]) -> Vec<f32> {
    let m = v.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

/// Imports fixture `name` and checks forward() against onnxruntime's outputs.
fn check_valid(name: &str) -> onnx::Imported {
    let c = case(name);
    let imp = onnx::import_full(&fixtures().join(format!("{name}.onnx")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let shape: Vec<usize> = c["input_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(imp.model.input_shape.to_vec(), shape, "{name}");
    let f = Forward::new(&imp.model).unwrap();
    let ins = c["inputs"].as_array().unwrap();
    let outs = c["outputs"].as_array().unwrap();
    assert!(!ins.is_empty());
    for (x, want) in ins.iter().zip(outs) {
        let (x, want) = (floats(x), floats(want));
        let mut got = f.run(&x).unwrap();
        if c["softmax"].as_bool().unwrap_or(false) {
            got = softmax(&got);
        }
        assert_eq!(got.len(), want.len(), "{name}: output length");
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 + 1e-4 * b.abs(),
                "{name}: output[{k}] = {a}, onnxruntime {b}"
            );
        }
    }
    imp
}

fn kinds(m: &FloatModel) -> Vec<&'static str> {
    m.nodes
        .iter()
        .map(|n| match &n.op {
            FloatOp::Conv(c) if c.depthwise() => "dwconv",
            FloatOp::Conv(_) => "conv",
            FloatOp::Dense(_) => "dense",
            FloatOp::Relu(_) => "relu",
            FloatOp::MaxPool(_) => "maxpool",
            FloatOp::AvgPool(_) => "avgpool",
            FloatOp::GlobalAvgPool(_) => "gap",
            FloatOp::Flatten(_) => "flatten",
            FloatOp::Add(_) => "add",
            FloatOp::BatchNorm(_) => "bn",
        })
        .collect()
}

#[test]
fn classic_exporter_with_bn_folding_dropout_and_gemm_forms() {
    let imp = check_valid("classic_bn_gemm");
    assert_eq!(
        kinds(&imp.model),
        [
            "conv", "relu", "maxpool", "conv", "relu", "avgpool", "flatten", "dense", "relu",
            "dense"
        ]
    );
    assert!(imp
        .notes
        .iter()
        .any(|n| n.contains("folded BatchNormalization")
            && n.contains("Conv_0")
            && n.contains("0.001")));
    assert_eq!(imp.normalization, None);
    assert_eq!(imp.model.normalization, Normalization::default());
    assert_eq!(imp.opset, 11);
    // Pads [top, left, bottom, right] come through in that order.
    assert!(
        matches!(&imp.model.nodes[3].op, FloatOp::Conv(c) if c.pad == [1, 0, 1, 2])
            && imp.model.nodes[3].name == "Conv_4"
    );
}

#[test]
fn classic_exporter_view_with_dynamic_batch_and_final_softmax() {
    let imp = check_valid("classic_view_softmax");
    assert_eq!(kinds(&imp.model), ["conv", "relu", "flatten", "dense"]);
    assert!(
        imp.notes.iter().any(|n| n.contains("Softmax")),
        "{:?}",
        imp.notes
    );
}

#[test]
fn same_padding_global_pool_and_metadata_normalization() {
    let imp = check_valid("classic_same_global");
    let n = imp.normalization.clone().unwrap();
    assert_eq!(n.mean, vec![0.485, 0.456, 0.406]);
    assert_eq!(n.std, vec![0.229, 0.224, 0.225]);
    assert!((n.scale - 1.0 / 255.0).abs() < 1e-9);
    assert_eq!(imp.model.normalization, n);
    // 7×8 input, 3×3 kernel, stride 2, SAME_UPPER: output 4×4, total pads 2 and 1.
    assert!(matches!(
        &imp.model.nodes[0].op,
        FloatOp::Conv(c) if c.pad == [1, 0, 1, 1] && c.stride == [2, 2]
    ));
    assert_eq!(
        kinds(&imp.model),
        ["conv", "relu", "gap", "flatten", "dense"]
    );
}

#[test]
fn dynamo_exporter_constants_matmul_add_and_bn1d() {
    let imp = check_valid("dynamo_constants");
    assert_eq!(
        kinds(&imp.model),
        ["conv", "relu", "maxpool", "flatten", "dense", "relu", "dense"]
    );
    assert_eq!(imp.model.name, "main_graph");
}

#[test]
fn tf2onnx_conv_add_bias_reshape_matmul() {
    let imp = check_valid("tf2onnx_style");
    assert_eq!(
        kinds(&imp.model),
        ["conv", "relu", "maxpool", "flatten", "dense"]
    );
}

#[test]
fn reshape_and_flatten_forms() {
    let imp = check_valid("reshape_forms");
    assert_eq!(kinds(&imp.model), ["conv", "relu", "flatten", "dense"]);
    let imp = check_valid("reshape_zero");
    assert_eq!(kinds(&imp.model), ["conv", "flatten", "dense"]);
    let imp = check_valid("reduce_squeeze");
    assert_eq!(
        kinds(&imp.model),
        ["conv", "relu", "avgpool", "gap", "flatten", "dense"]
    );
}

#[test]
fn every_fixture_is_covered_and_every_error_names_the_node() {
    let mut valid = 0;
    let mut errors = 0;
    let mut names: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    for p in names {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let c = case(&name);
        let onnx_path = fixtures().join(c["model"].as_str().unwrap());
        match c.get("error") {
            Some(expect) => {
                errors += 1;
                let e = onnx::import(&onnx_path).expect_err(&name).to_string();
                assert!(e.contains(&format!("{name}.onnx")), "{name}: {e}");
                for s in expect.as_array().unwrap() {
                    assert!(e.contains(s.as_str().unwrap()), "{name}: `{s}` not in: {e}");
                }
            }
            None => {
                valid += 1;
                check_valid(&name);
            }
        }
    }
    assert!(
        valid >= 8 && errors >= 12,
        "{valid} valid, {errors} error fixtures"
    );
}

#[test]
fn node_errors_carry_structured_fields() {
    let e = onnx::import(&fixtures().join("err_group2.onnx")).unwrap_err();
    match e {
        OnnxError::Node {
            node,
            index,
            op,
            message,
            ..
        } => {
            assert_eq!((node.as_str(), index, op.as_str()), ("dwconv", 0, "Conv"));
            assert!(
                message.contains("group=2") && message.contains("depthwise"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let e = onnx::import(Path::new("/nonexistent/model.onnx")).unwrap_err();
    assert!(matches!(e, OnnxError::Io { .. }));
    let e = onnx::import_bytes(b"\xff\xff\xff garbage", "junk").unwrap_err();
    assert!(
        e.to_string().starts_with("junk: not a valid ONNX model"),
        "{e}"
    );
}

#[test]
fn forward_batch_agrees_with_single_runs() {
    let imp = check_valid("classic_bn_gemm");
    let c = case("classic_bn_gemm");
    let xs: Vec<f32> = c["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    let batch = forward::forward_batch(&imp.model, &xs).unwrap();
    let want: Vec<f32> = c["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    assert_eq!(batch.len(), want.len());
    for (a, b) in batch.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-5 + 1e-4 * b.abs());
    }
}

/// A residual branch (formerly refused): the input of the block fans out to a conv and the Add.
#[test]
fn residual_branch_is_a_graph() {
    let imp = check_valid("branch_residual");
    assert_eq!(
        kinds(&imp.model),
        ["conv", "relu", "conv", "add", "flatten", "dense"]
    );
    let g = imp.model.graph().unwrap();
    let relu = imp.model.node_index("relu").unwrap();
    assert_eq!(g.uses[relu].len(), 2, "fan-out of the relu output");
}

/// Real PyTorch exports (inq/scripts/make_torch_fixtures.py): a residual network with
/// BatchNorm on both branches (identity and 1×1 stride-2 projection shortcuts) and a
/// depthwise-separable network, each from the classic and the dynamo exporter.
#[test]
fn torch_residual_network_both_exporters() {
    for name in ["torch_resnet_classic", "torch_resnet_dynamo"] {
        let imp = check_valid(name);
        let k = kinds(&imp.model);
        assert_eq!(
            k.iter().filter(|&&x| x == "add").count(),
            2,
            "{name}: {k:?}"
        );
        assert_eq!(
            k.iter().filter(|&&x| x == "conv").count(),
            6,
            "{name}: {k:?}"
        );
        assert!(!k.contains(&"bn"), "{name}: BatchNorm must be folded");
        assert!(k.contains(&"gap"), "{name}: {k:?}");
        // the projection shortcut: 1×1 stride 2
        assert!(imp.model.nodes.iter().any(
            |n| matches!(&n.op, FloatOp::Conv(c) if c.kernel == [1, 1] && c.stride == [2, 2])
        ));
        // strided 3×3 conv without pooling
        assert!(imp.model.nodes.iter().any(
            |n| matches!(&n.op, FloatOp::Conv(c) if c.kernel == [3, 3] && c.stride == [2, 2])
        ));
    }
    let imp = check_valid("torch_resnet_classic");
    let folded = imp
        .notes
        .iter()
        .filter(|n| n.contains("folded BatchNormalization"))
        .count();
    assert_eq!(folded, 6, "{:?}", imp.notes);
}

#[test]
fn torch_depthwise_separable_both_exporters() {
    for name in ["torch_dwsep_classic", "torch_dwsep_dynamo"] {
        let imp = check_valid(name);
        let k = kinds(&imp.model);
        assert_eq!(
            k.iter().filter(|&&x| x == "dwconv").count(),
            2,
            "{name}: {k:?}"
        );
        assert!(k.contains(&"gap") && !k.contains(&"bn"), "{name}: {k:?}");
    }
}
