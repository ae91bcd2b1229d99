//! ONNX export: float export → import round trip (always), float and quantized export →
//! onnxruntime via `scripts/check_onnx.py` (when python3 with onnxruntime is available; CI
//! installs it with `pip install onnx onnxruntime numpy`).

use std::path::{Path, PathBuf};
use std::process::Command;

use inq_model::{
    numerics, ActFormat, ConvLayer, DenseLayer, InputSpec, Layer, NamedLayer, Output, PoolLayer,
    QuantModel, WeightTensor,
};
use inq_quant::forward;
use inq_quant::graph::{FloatLayer, FloatModel, Normalization};
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

fn float_model() -> FloatModel {
    let mut r = Lcg(42);
    FloatModel {
        name: "lenet-ish".into(),
        input_shape: [2, 8, 8],
        normalization: Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.2860, 0.5],
            std: vec![0.3530, 0.25],
        },
        layers: vec![
            FloatLayer::Conv {
                name: "conv1".into(),
                in_channels: 2,
                out_channels: 4,
                kernel: [3, 3],
                stride: [1, 1],
                pad: [1, 1, 1, 1],
                weight: r.fs(4 * 2 * 9, 0.4),
                bias: r.fs(4, 0.1),
            },
            FloatLayer::Relu {
                name: "relu1".into(),
            },
            FloatLayer::MaxPool {
                name: "pool1".into(),
                kernel: [2, 2],
                stride: [2, 2],
            },
            FloatLayer::Conv {
                name: "conv2".into(),
                in_channels: 4,
                out_channels: 6,
                kernel: [2, 3],
                stride: [1, 2],
                pad: [1, 0, 0, 1],
                weight: r.fs(6 * 4 * 6, 0.4),
                bias: r.fs(6, 0.1),
            },
            FloatLayer::Relu {
                name: "relu2".into(),
            },
            FloatLayer::AvgPool {
                name: "pool2".into(),
                kernel: [2, 1],
                stride: [2, 1],
            },
            FloatLayer::Flatten {
                name: "flatten".into(),
            },
            FloatLayer::Dense {
                name: "fc1".into(),
                in_features: 24,
                out_features: 7,
                weight: r.fs(7 * 24, 0.3),
                bias: r.fs(7, 0.1),
            },
            FloatLayer::Relu {
                name: "relu3".into(),
            },
            FloatLayer::Dense {
                name: "fc2".into(),
                in_features: 7,
                out_features: 3,
                weight: r.fs(3 * 7, 0.3),
                bias: r.fs(3, 0.1),
            },
        ],
    }
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
fn export_rejects_inconsistent_models() {
    let mut m = float_model();
    if let FloatLayer::Dense { in_features, .. } = &mut m.layers[7] {
        *in_features = 25;
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
    let layers = vec![
        Layer::Conv(ConvLayer {
            name: "conv1".into(),
            in_channels: 1,
            out_channels: 4,
            kernel: [3, 3],
            stride: [1, 1],
            pad: [1, 1, 1, 1],
            pad_value: 3,
            weights: WeightTensor {
                kind: Default::default(),
                bits: 4,
                n1: vec![-1, -2, 0, -1],
                codes: codes(&mut r, 4 * 9, 4),
            },
            bias: vec![5, -12, 100, 0],
            relu: true,
            output: Output::Act {
                bits: 8,
                signed: false,
                exp: -1,
            },
        }),
        Layer::MaxPool(PoolLayer {
            name: "pool1".into(),
            kernel: [2, 2],
            stride: [2, 2],
        }),
        Layer::AvgPool(PoolLayer {
            name: "pool2".into(),
            kernel: [2, 2],
            stride: [2, 2],
        }),
        Layer::Conv(ConvLayer {
            name: "conv2".into(),
            in_channels: 4,
            out_channels: 3,
            kernel: [1, 1],
            stride: [1, 1],
            pad: [0, 0, 0, 0],
            pad_value: 0,
            weights: WeightTensor {
                kind: Default::default(),
                bits: 3,
                n1: vec![-1],
                codes: codes(&mut r, 3 * 4, 3),
            },
            bias: vec![1, 2, -3],
            relu: false,
            output: Output::Act {
                bits: 4,
                signed: true,
                exp: 1,
            },
        }),
        Layer::GlobalAvgPool(NamedLayer { name: "gap".into() }),
        Layer::Flatten(NamedLayer {
            name: "flatten".into(),
        }),
        Layer::Dense(DenseLayer {
            name: "fc1".into(),
            in_features: 3,
            out_features: 5,
            weights: WeightTensor {
                kind: Default::default(),
                bits: 5,
                n1: vec![-1],
                codes: codes(&mut r, 15, 5),
            },
            bias: vec![7, -7, 0, 33, -64],
            relu: true,
            output: Output::Act {
                bits: 6,
                signed: false,
                exp: -2,
            },
        }),
        Layer::Dense(DenseLayer {
            name: "fc2".into(),
            in_features: 5,
            out_features: 3,
            weights: WeightTensor {
                kind: Default::default(),
                bits: 4,
                n1: vec![0, -2, -1],
                codes: codes(&mut r, 15, 4),
            },
            bias: vec![10, -20, 3],
            relu: false,
            output: Output::Logits,
        }),
    ];
    QuantModel::new(
        "q",
        InputSpec {
            shape: [1, 8, 8],
            format: u8f,
            mapping: "raw pixels".into(),
        },
        layers,
    )
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
    if let Layer::Conv(c) = &mut m.layers[0] {
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
