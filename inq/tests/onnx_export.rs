//! ONNX export: float export → import round trip (always), float and quantized export →
//! onnxruntime via `scripts/check_onnx.py` (when python3 with onnxruntime is available; CI
//! installs it with `pip install onnx onnxruntime numpy`).

use std::path::{Path, PathBuf};
use std::process::Command;

use inq_model::ops::{self as qops, Output};
use inq_model::{numerics, ActFormat, InputSpec, Op, QuantModel, WeightTensor};
use inq_quant::forward;
use inq_quant::graph::{
    Add, AvgPool, Conv, Dense, Flatten, FloatModel, FloatOp, MaxPool, Node, Normalization, Relu,
    Window,
};
use inq_quant::onnx;
use serde_json::json;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn f(&mut self) -> f32 {
        (self.next() % 2001) as f32 / 1000.0 - 1.0
    }
    fn fs(&mut self, n: usize, s: f32) -> Vec<f32> {
        (0..n).map(|_| self.f() * s).collect()
    }
}

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("inq-onnx-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn conv(
    r: &mut Lcg,
    i: usize,
    o: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
) -> Conv {
    let mut c = Conv::new(i, o, k, stride, pad, r.fs(o * i * k[0] * k[1], 0.4));
    c.bias = r.fs(o, 0.1);
    c
}

fn dense(r: &mut Lcg, i: usize, o: usize) -> Dense {
    Dense {
        in_features: i,
        out_features: o,
        weight: r.fs(o * i, 0.3),
        bias: r.fs(o, 0.1),
    }
}

fn win(k: [usize; 2], s: [usize; 2]) -> Window {
    Window {
        kernel: k,
        stride: s,
    }
}

fn float_model() -> FloatModel {
    let mut r = Lcg(42);
    let c1 = conv(&mut r, 2, 4, [3, 3], [1, 1], [1, 1, 1, 1]);
    let c2 = conv(&mut r, 4, 6, [2, 3], [1, 2], [1, 0, 0, 1]);
    let f1 = dense(&mut r, 24, 7);
    let f2 = dense(&mut r, 7, 3);
    FloatModel::chain(
        "lenet-ish",
        [2, 8, 8],
        Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.2860, 0.5],
            std: vec![0.3530, 0.25],
        },
        vec![
            ("conv1".into(), c1.into()),
            ("relu1".into(), Relu {}.into()),
            ("pool1".into(), MaxPool(win([2, 2], [2, 2])).into()),
            ("conv2".into(), c2.into()),
            ("relu2".into(), Relu {}.into()),
            ("pool2".into(), AvgPool(win([2, 1], [2, 1])).into()),
            ("flatten".into(), Flatten {}.into()),
            ("fc1".into(), f1.into()),
            ("relu3".into(), Relu {}.into()),
            ("fc2".into(), f2.into()),
        ],
    )
}

/// A residual graph with a strided conv, a 1×1 projection, a depthwise conv, BatchNorm and a
/// global average pool over a non-power-of-two plane.
fn residual_model() -> FloatModel {
    let mut r = Lcg(9);
    let stem = conv(&mut r, 1, 4, [3, 3], [1, 1], [1, 1, 1, 1]);
    let mut dw = conv(&mut r, 4, 4, [3, 3], [1, 1], [1, 1, 1, 1]);
    dw.group = 4;
    dw.weight.truncate(4 * 9);
    let c1 = conv(&mut r, 4, 8, [3, 3], [2, 2], [1, 1, 1, 1]);
    let proj = conv(&mut r, 4, 8, [1, 1], [2, 2], [0; 4]);
    let mut bn = inq_quant::graph::BatchNorm::new(8);
    bn.gamma = r.fs(8, 0.5).iter().map(|v| v + 1.0).collect();
    bn.beta = r.fs(8, 0.2);
    bn.mean = r.fs(8, 0.2);
    bn.var = r.fs(8, 0.3).iter().map(|v| v + 1.0).collect();
    let fc = dense(&mut r, 8, 3);
    FloatModel::new(
        "res",
        [1, 6, 6],
        Normalization::default(),
        vec![
            Node::new("stem", &["input"], stem),
            Node::new("stem_relu", &["stem"], Relu {}),
            Node::new("dw", &["stem_relu"], dw),
            Node::new("c1", &["dw"], c1),
            Node::new("c1_bn", &["c1"], bn),
            Node::new("proj", &["stem_relu"], proj),
            Node::new("add", &["c1_bn", "proj"], Add {}),
            Node::new("relu", &["add"], Relu {}),
            Node::new("gap", &["relu"], inq_quant::graph::GlobalAvgPool {}),
            Node::new("flatten", &["gap"], Flatten {}),
            Node::new("fc", &["flatten"], fc),
        ],
        "fc",
    )
}

fn onnxruntime_available() -> bool {
    Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs scripts/check_onnx.py; None when onnxruntime is not available (after saying why).
fn ort_check(model: &Path, case: &serde_json::Value, dir: &Path) -> Option<(bool, String)> {
    if !onnxruntime_available() {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "python3 with onnxruntime and numpy is needed: run scripts/setup --test, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!(
            "SKIPPED the onnxruntime check: python3 with onnxruntime and numpy is not importable \
             (pip install onnx onnxruntime numpy)"
        );
        return None;
    }
    let case_path = dir.join("case.json");
    std::fs::write(&case_path, case.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_onnx.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(model)
        .arg(&case_path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

#[test]
fn float_export_round_trips_and_runs_in_onnxruntime() {
    let m = float_model();
    let dir = tmp_dir("float");
    let path = dir.join("model.onnx");
    onnx::export_float(&m, &path).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    let back = onnx::import_full(&path).unwrap();
    assert_eq!(back.model, m);
    assert_eq!(back.normalization.as_ref(), Some(&m.normalization));
    assert_eq!(back.opset, 13);

    let mut r = Lcg(7);
    let f = forward::Forward::new(&m).unwrap();
    let inputs: Vec<Vec<f32>> = (0..3).map(|_| r.fs(2 * 8 * 8, 2.0)).collect();
    let expected: Vec<Vec<f32>> = inputs.iter().map(|x| f.run(x).unwrap()).collect();
    let case = json!({"input_shape": [2, 8, 8], "inputs": inputs, "expected": expected,
                      "rtol": 1e-4, "atol": 1e-5});
    if let Some((ok, text)) = ort_check(&path, &case, &dir) {
        assert!(ok, "onnxruntime disagrees with forward(): {text}");
        eprintln!("{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn residual_float_export_runs_in_onnxruntime_and_reimports() {
    let m = residual_model();
    let dir = tmp_dir("res");
    let path = dir.join("res.onnx");
    onnx::export_float(&m, &path).unwrap();
    let back = onnx::import_full(&path).unwrap();
    // BatchNorm comes back folded into c1; everything else identical
    assert_eq!(back.model.nodes.len(), m.nodes.len() - 1);
    assert!(back
        .notes
        .iter()
        .any(|n| n.contains("c1_bn") && n.contains("'c1'")));
    let f = forward::Forward::new(&m).unwrap();
    let fb = forward::Forward::new(&back.model).unwrap();
    let mut r = Lcg(5);
    let inputs: Vec<Vec<f32>> = (0..3).map(|_| r.fs(36, 2.0)).collect();
    let expected: Vec<Vec<f32>> = inputs.iter().map(|x| f.run(x).unwrap()).collect();
    for (x, want) in inputs.iter().zip(&expected) {
        for (a, b) in fb.run(x).unwrap().iter().zip(want) {
            assert!((a - b).abs() <= 1e-5 + 1e-4 * b.abs(), "{a} vs {b}");
        }
    }
    let case = json!({"input_shape": [1, 6, 6], "inputs": inputs, "expected": expected,
                      "rtol": 1e-4, "atol": 1e-5});
    if let Some((ok, text)) = ort_check(&path, &case, &dir) {
        assert!(ok, "onnxruntime disagrees with forward(): {text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn export_rejects_inconsistent_models() {
    let mut m = float_model();
    if let FloatOp::Dense(d) = &mut m.nodes[7].op {
        d.in_features = 25;
    }
    let e = onnx::export_float(&m, &std::env::temp_dir().join("never.onnx")).unwrap_err();
    assert!(e.to_string().contains("fc1"), "{e}");
    assert!(!std::env::temp_dir().join("never.onnx").exists());
}

fn codes(r: &mut Lcg, n: usize, bits: u32) -> Vec<u8> {
    (0..n)
        .map(|_| {
            if r.next().is_multiple_of(4) {
                0
            } else {
                let w = numerics::Weight::Pow2 {
                    negative: r.next().is_multiple_of(2),
                    index: (r.next() % u64::from(numerics::levels(bits))) as u32,
                };
                numerics::encode(w, bits)
            }
        })
        .collect()
}

fn quant_model() -> QuantModel {
    let mut r = Lcg(3);
    let u8f = ActFormat {
        bits: 8,
        signed: false,
        exp: 0,
    };
    let wt = |r: &mut Lcg, bits: u32, n1: Vec<i32>, n: usize| WeightTensor {
        kind: Default::default(),
        bits,
        n1,
        codes: codes(r, n, bits),
    };
    let w1 = wt(&mut r, 4, vec![-1, -2, 0, -1], 4 * 9);
    let w2 = wt(&mut r, 3, vec![-1], 3 * 4);
    let w3 = wt(&mut r, 5, vec![-1], 15);
    let w4 = wt(&mut r, 4, vec![0, -2, -1], 15);
    let win = |k| qops::Window {
        kernel: [k, k],
        stride: [k, k],
    };
    let nodes: Vec<(String, Op)> = vec![
        (
            "conv1".into(),
            Op::Conv(qops::Conv {
                in_channels: 1,
                out_channels: 4,
                kernel: [3, 3],
                stride: [1, 1],
                pad: [1, 1, 1, 1],
                pad_value: 3,
                group: 1,
                weights: w1,
                bias: vec![5, -12, 100, 0],
                relu: true,
                output: Output::Act {
                    bits: 8,
                    signed: false,
                    exp: -1,
                },
            }),
        ),
        ("pool1".into(), Op::MaxPool(qops::MaxPool(win(2)))),
        ("pool2".into(), Op::AvgPool(qops::AvgPool(win(2)))),
        (
            "conv2".into(),
            Op::Conv(qops::Conv {
                in_channels: 4,
                out_channels: 3,
                kernel: [1, 1],
                stride: [1, 1],
                pad: [0, 0, 0, 0],
                pad_value: 0,
                group: 1,
                weights: w2,
                bias: vec![1, 2, -3],
                relu: false,
                output: Output::Act {
                    bits: 4,
                    signed: true,
                    exp: 1,
                },
            }),
        ),
        ("gap".into(), Op::GlobalAvgPool(qops::GlobalAvgPool {})),
        ("flatten".into(), Op::Flatten(qops::Flatten {})),
        (
            "fc1".into(),
            Op::Dense(qops::Dense {
                in_features: 3,
                out_features: 5,
                weights: w3,
                bias: vec![7, -7, 0, 33, -64],
                relu: true,
                output: Output::Act {
                    bits: 6,
                    signed: false,
                    exp: -2,
                },
            }),
        ),
        (
            "fc2".into(),
            Op::Dense(qops::Dense {
                in_features: 5,
                out_features: 3,
                weights: w4,
                bias: vec![10, -20, 3],
                relu: false,
                output: Output::Logits,
            }),
        ),
    ];
    QuantModel::chain(
        "q",
        InputSpec {
            name: "input".into(),
            shape: [1, 8, 8],
            format: u8f,
            mapping: "raw pixels".into(),
        },
        nodes,
    )
}

/// Runs `m` in the reference and through the QDQ export in onnxruntime on `n` random inputs.
fn check_qdq(m: &QuantModel, tag: &str, n: usize, seed: u64) {
    let reference = inq_model::Reference::new(m).unwrap();
    let dir = tmp_dir(tag);
    let path = dir.join("q.onnx");
    let info = onnx::export_quantized(m, &path).unwrap();
    let [c, h, w] = m.input.shape;
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for k in 0..n {
        let q = inq_model::random::random_input(m, seed + k as u64);
        expected.push(reference.run(&q).unwrap().logits);
        inputs.push(q);
    }
    let case = json!({"input_shape": [c, h, w], "inputs": inputs, "expected": expected,
                      "rtol": 0.0, "atol": 0.0,
                      "output_scale": 2f64.powi(-info.logits_exp)});
    if let Some((ok, text)) = ort_check(&path, &case, &dir) {
        assert!(
            ok,
            "{tag}: onnxruntime disagrees with the integer reference: {text}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Residual blocks (identity and projection shortcuts, add with ReLU), depthwise convs and a
/// global average pool over a non-power-of-two plane, from the model crate's random graphs.
#[test]
fn quantized_export_of_residual_and_depthwise_graphs_matches_the_reference() {
    use inq_model::random::{build, LayerSpec, RandomSpec};
    let conv = |out, stride, relu| LayerSpec::Conv {
        out,
        k: 3,
        stride,
        pad: 1,
        bits: 4,
        act_bits: 8,
        relu,
        per_channel: true,
    };
    let spec = RandomSpec {
        input: [1, 7, 7],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        },
        layers: vec![
            conv(4, 1, true),
            LayerSpec::Residual {
                main: vec![conv(4, 1, true), conv(4, 1, false)],
                shortcut: vec![],
                act_bits: 8,
                relu: true,
            },
            LayerSpec::Depthwise {
                k: 3,
                stride: 1,
                pad: 1,
                bits: 4,
                act_bits: 8,
                relu: true,
            },
            LayerSpec::Residual {
                main: vec![conv(6, 2, true), conv(6, 1, false)],
                shortcut: vec![LayerSpec::Conv {
                    out: 6,
                    k: 1,
                    stride: 2,
                    pad: 0,
                    bits: 4,
                    act_bits: 8,
                    relu: false,
                    per_channel: false,
                }],
                act_bits: 7,
                relu: false,
            },
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 3,
                bits: 5,
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    };
    for seed in 0..3 {
        let m = build(&spec, seed).unwrap();
        assert!(m.nodes.iter().any(|n| matches!(n.op, Op::Add(_))));
        check_qdq(&m, &format!("resq{seed}"), 12, seed * 100);
    }
}

#[test]
fn quantized_export_matches_the_integer_reference_in_onnxruntime() {
    let m = quant_model();
    let reference = inq_model::Reference::new(&m).unwrap();
    let dir = tmp_dir("quant");
    let path = dir.join("q.onnx");
    let info = onnx::export_quantized(&m, &path).unwrap();
    assert_eq!(info.opset, 13);
    assert_eq!(info.input_exp, 0);
    // fc2's smallest n2 is n1 = -2 → n2 = -2 + 1 - 4 = -5; input format exp -2.
    assert_eq!(info.logits_exp, -2 - 5);

    let mut r = Lcg(11);
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..40 {
        let q: Vec<i64> = (0..64).map(|_| (r.next() % 256) as i64).collect();
        let out = reference.run(&q).unwrap();
        inputs.push(q.iter().map(|&v| v as f32).collect::<Vec<f32>>());
        expected.push(out.logits.iter().map(|&v| v as f64).collect::<Vec<f64>>());
    }
    let case = json!({"input_shape": [1, 8, 8], "inputs": inputs, "expected": expected,
                      "rtol": 0.0, "atol": 0.0,
                      "output_scale": 2f64.powi(-info.logits_exp)});
    if let Some((ok, text)) = ort_check(&path, &case, &dir) {
        assert!(
            ok,
            "onnxruntime disagrees with the integer reference: {text}"
        );
        eprintln!("{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn quantized_export_uses_16_bit_qdq_for_wide_formats() {
    let mut m = quant_model();
    if let Op::Conv(c) = &mut m.nodes[0].op {
        c.output = Output::Act {
            bits: 12,
            signed: false,
            exp: -3,
        };
    }
    let reference = inq_model::Reference::new(&m).unwrap();
    let (proto, info) = onnx::quantized_model_proto(&m).unwrap();
    assert_eq!(info.opset, 21);
    assert_eq!(proto.opset_import[0].version, Some(21));
    let dir = tmp_dir("quant16");
    let path = dir.join("q16.onnx");
    onnx::export_quantized(&m, &path).unwrap();
    let mut r = Lcg(5);
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..10 {
        let q: Vec<i64> = (0..64).map(|_| (r.next() % 256) as i64).collect();
        expected.push(reference.run(&q).unwrap().logits);
        inputs.push(q);
    }
    let case = json!({"input_shape": [1, 8, 8], "inputs": inputs, "expected": expected,
                      "rtol": 0.0, "atol": 0.0,
                      "output_scale": 2f64.powi(-info.logits_exp)});
    if let Some((ok, text)) = ort_check(&path, &case, &dir) {
        assert!(
            ok,
            "onnxruntime disagrees with the integer reference: {text}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
