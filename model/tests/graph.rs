//! Version 2 graphs: version 1 files load, structural errors name the node, and the residual,
//! depthwise and global-pooling arithmetic by hand.

mod common;
use inq_model::ops::{Add, Conv, Flatten, GlobalAvgPool};
use inq_model::random::{self, LayerSpec, RandomSpec};
use inq_model::*;

fn err_of(m: &QuantModel) -> String {
    let text = serde_json::to_string(m).unwrap();
    QuantModel::from_json_str(&text, "g.json")
        .unwrap_err()
        .to_string()
}

#[test]
fn version_1_file_loads_as_a_chain() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fashion_lenet_inq5.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("\"version\":1") || text.contains("\"version\": 1"));
    let m = QuantModel::from_json_str(&text, path).unwrap();
    assert_eq!(m.version, FORMAT_VERSION);
    let names: Vec<&str> = m.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        ["conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2"]
    );
    assert_eq!(m.output, "fc2");
    assert_eq!(m.nodes[0].inputs, ["input"]);
    for w in m.nodes.windows(2) {
        assert_eq!(w[1].inputs, [w[0].name.clone()]);
    }
    // written back as version 2, identical on reload
    let v2 = m.to_json_string().unwrap();
    assert!(v2.contains("\"version\":2"));
    let back = QuantModel::from_json_str(&v2, "v2.json").unwrap();
    assert_eq!(back, m);
    // and it computes
    let x = random::random_input(&m, 3);
    let out = run(&m, &x).unwrap();
    assert_eq!(out.logits.len(), 10);
    assert_eq!(out.nodes.len(), 7);
}

#[test]
fn version_1_duplicate_and_empty_names_become_unique() {
    let m = common::tiny();
    let mut v = serde_json::json!({
        "format": FORMAT_NAME, "version": 1, "name": "t",
        "input": {"shape": [1, 3, 3], "format": {"bits": 8, "signed": false, "exp": 0}},
        "layers": []
    });
    let mut layers = Vec::new();
    for (i, n) in m.nodes.iter().enumerate() {
        let mut body = serde_json::to_value(n).unwrap();
        let o = body.as_object_mut().unwrap();
        o.remove("inputs");
        o.insert(
            "name".into(),
            serde_json::json!(if i == 0 { "" } else { "x" }),
        );
        layers.push(body);
    }
    v["layers"] = serde_json::Value::Array(layers);
    let c = QuantModel::from_json_str(&v.to_string(), "v1.json").unwrap();
    let names: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["layer0", "x", "x_2", "x_3"]);
}

#[test]
fn structural_errors_name_the_node() {
    // dangling input
    let mut m = common::tiny();
    m.nodes[1].inputs = vec!["nope".into()];
    let e = err_of(&m);
    assert!(
        e.contains("node \"pool\" (nodes[1]).inputs[0]") && e.contains("\"nope\""),
        "{e}"
    );
    // cycle: conv reads fc
    let mut m = common::tiny();
    m.nodes[1].inputs = vec!["flat".into()];
    let e = err_of(&m);
    assert!(
        e.contains("cycle") && e.contains("\"pool\" → \"flat\""),
        "{e}"
    );
    // unused node
    let mut m = common::tiny();
    m.nodes[2].inputs = vec!["conv".into()];
    let e = err_of(&m);
    assert!(
        e.contains("node \"pool\" (nodes[1])") && e.contains("never used"),
        "{e}"
    );
    // duplicate name
    let mut m = common::tiny();
    m.nodes[2].name = "pool".into();
    let e = err_of(&m);
    assert!(e.contains("repeats the name of nodes[1]"), "{e}");
    // a node named like the input
    let mut m = common::tiny();
    m.nodes[0].name = "input".into();
    let e = err_of(&m);
    assert!(e.contains("is the name of the model input"), "{e}");
    // arity
    let mut m = common::tiny();
    m.nodes[1].inputs.push("conv".into());
    let e = err_of(&m);
    assert!(
        e.contains("node \"pool\" (nodes[1]).inputs") && e.contains("reads 1"),
        "{e}"
    );
    // output not a node
    let mut m = common::tiny();
    m.output = "zzz".into();
    let e = err_of(&m);
    assert!(e.contains("`output`") && e.contains("zzz"), "{e}");
}

fn fmt(bits: u32, signed: bool, exp: i32) -> ActFormat {
    ActFormat { bits, signed, exp }
}

/// input [2,2,2] → c1 (1×1 conv, identity-ish) and the input itself → add → gap → flatten →
/// dense logits.
fn residual() -> QuantModel {
    let bits = 4;
    let c1 = Conv {
        in_channels: 2,
        out_channels: 2,
        kernel: [1, 1],
        stride: [1, 1],
        pad: [0; 4],
        pad_value: 0,
        group: 1,
        // n1 = 0 → n2 = -3: weights 2^-3·code
        weights: WeightTensor {
            kind: Default::default(),
            bits,
            n1: vec![0],
            codes: vec![common::pos(3, bits), 0, 0, common::neg(3, bits)],
        },
        bias: vec![0, 0],
        relu: false,
        // acc exp = 0 + -3 = -3; out exp -1 → shift 2
        output: Output::Act {
            bits: 8,
            signed: true,
            exp: -1,
        },
    };
    let dense = ops::Dense {
        in_features: 2,
        out_features: 1,
        weights: WeightTensor {
            kind: Default::default(),
            bits: 3,
            n1: vec![0],
            codes: vec![common::pos(1, 3), common::pos(0, 3)],
        },
        bias: vec![0],
        relu: false,
        output: Output::Logits,
    };
    QuantModel::new(
        "res",
        InputSpec {
            name: "x".into(),
            shape: [2, 2, 2],
            format: fmt(8, false, 0),
            mapping: String::new(),
        },
        vec![
            Node::new("c1", &["x"], Op::Conv(c1)),
            Node::new(
                "add",
                &["c1", "x"],
                Op::Add(Add {
                    relu: true,
                    output: Output::from_act(fmt(8, false, 0)),
                }),
            ),
            Node::new("gap", &["add"], Op::GlobalAvgPool(GlobalAvgPool {})),
            Node::new("flat", &["gap"], Op::Flatten(Flatten {})),
            Node::new("fc", &["flat"], Op::Dense(dense)),
        ],
        "fc",
    )
}

#[test]
fn hand_computed_residual_add() {
    let m = residual();
    m.graph().unwrap();
    // channel 0: 1, 2, 3, 4; channel 1: 5, 6, 7, 9
    let x = [1, 2, 3, 4, 5, 6, 7, 9];
    let out = run(&m, &x).unwrap();
    // c1: ch0 = x0 (code +2^3 at n2 -3 → ×1, acc 8·x at 2^-3; shift 2 → 2x at 2^-1),
    //     ch1 = -x1 → -2·x1 at 2^-1
    assert_eq!(out.nodes[0].data, [2, 4, 6, 8, -10, -12, -14, -18]);
    // add: e = min(-1, 0) = -1; x << 1; sum at 2^-1: ch0 4x, ch1 0; out exp 0: r = 1 → (s+1)>>1
    assert_eq!(out.nodes[1].data, [2, 4, 6, 8, 0, 0, 0, 0]);
    // gap over 4: (20 + 2) >> 2 = 5, 0
    assert_eq!(out.nodes[2].data, [5, 0]);
    // fc: 2·5 + 0 = 10 (n2 = -1: code +2^1 → ×2 at 2^-1)
    assert_eq!(out.logits, [10]);
}

#[test]
fn add_errors_name_the_node() {
    let mut m = residual();
    m.nodes[1].inputs = vec!["c1".into(), "c1".into()];
    // now "x" is read only by c1: fine; shapes equal; still valid
    m.graph().unwrap();
    let mut m = residual();
    if let Op::Add(a) = &mut m.nodes[1].op {
        a.output = Output::from_act(fmt(8, true, 0));
    }
    let e = err_of(&m);
    assert!(e.contains("node \"add\" (nodes[1]).output.signed"), "{e}");
    // shape mismatch: add the gap output to the conv output
    let mut m = residual();
    m.nodes.insert(
        2,
        Node::new("g2", &["x"], Op::GlobalAvgPool(GlobalAvgPool {})),
    );
    m.nodes[1].inputs = vec!["c1".into(), "g2".into()];
    m.nodes[3].inputs = vec!["add".into()];
    let e = err_of(&m);
    assert!(
        e.contains("node \"add\" (nodes[1]).inputs") && e.contains("different shapes"),
        "{e}"
    );
}

#[test]
fn hand_computed_depthwise_and_non_power_of_two_gap() {
    // 2 channels 3×3, depthwise 2×2 no pad: ch0 weight all +1, ch1 +2 at (0,0) only.
    let bits = 4;
    let dw = Conv {
        in_channels: 2,
        out_channels: 2,
        kernel: [2, 2],
        stride: [1, 1],
        pad: [0; 4],
        pad_value: 0,
        group: 2,
        weights: WeightTensor {
            kind: Default::default(),
            bits,
            n1: vec![0],
            codes: vec![
                common::pos(0, bits),
                common::pos(0, bits),
                common::pos(0, bits),
                common::pos(0, bits),
                common::pos(1, bits),
                0,
                0,
                0,
            ],
        },
        bias: vec![0, 1],
        relu: true,
        // acc at 2^-3, out at 2^-3: shift 0
        output: Output::from_act(fmt(8, false, -3)),
    };
    let dense = ops::Dense {
        in_features: 2,
        out_features: 2,
        weights: WeightTensor {
            kind: Default::default(),
            bits: 3,
            n1: vec![0],
            codes: vec![common::pos(1, 3), 0, 0, common::pos(1, 3)],
        },
        bias: vec![0, 0],
        relu: false,
        output: Output::Logits,
    };
    let m = QuantModel::chain(
        "dw",
        InputSpec {
            name: "input".into(),
            shape: [2, 3, 3],
            format: fmt(8, false, 0),
            mapping: String::new(),
        },
        vec![
            ("dw".into(), Op::Conv(dw)),
            ("gap".into(), Op::GlobalAvgPool(GlobalAvgPool {})),
            ("flat".into(), Op::Flatten(Flatten {})),
            ("fc".into(), Op::Dense(dense)),
        ],
    );
    let x: Vec<i64> = (1..=18).collect();
    let out = run(&m, &x).unwrap();
    // ch0 windows of [1..9]: 1+2+4+5 = 12, 16, 24, 28; ch1: 2·x[0,0 of window] + 1
    assert_eq!(out.nodes[0].data, [12, 16, 24, 28, 21, 23, 27, 29]);
    // gap over 4 (power of two): (80 + 2) >> 2 = 20; (100 + 2) >> 2 = 25
    assert_eq!(out.nodes[1].data, [20, 25]);
    // the group must be 1 or the channel count
    let mut bad = m.clone();
    common::conv(&mut bad, "dw").group = 3;
    let e = err_of(&bad);
    assert!(e.contains("node \"dw\" (nodes[0]).group"), "{e}");
    // GAP over a 3×3 plane: shift ceil(log2 9) = 4, the gain 9/16 is the quantizer's business
    let t = Tensor {
        shape: vec![1, 3, 3],
        data: vec![10; 9],
    };
    let info = TensorInfo {
        shape: vec![1, 3, 3],
        format: Some(fmt(8, false, 0)),
    };
    let g = GlobalAvgPool {}.eval(&[&t], &[&info], &[]);
    assert_eq!(g.data, [(90 + 8) >> 4]);
    assert!((GlobalAvgPool::gain(49) - 49.0 / 64.0).abs() < 1e-12);
}

#[test]
fn random_residual_models_are_valid_and_round_trip() {
    let conv = |out, k, stride, pad, relu| LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 6,
        relu,
        per_channel: true,
    };
    let spec = RandomSpec {
        input: [3, 8, 8],
        input_format: fmt(8, false, 0),
        layers: vec![
            conv(4, 3, 1, 1, true),
            LayerSpec::Residual {
                main: vec![conv(4, 3, 1, 1, true), conv(4, 3, 1, 1, false)],
                shortcut: vec![],
                act_bits: 7,
                relu: true,
            },
            LayerSpec::Residual {
                main: vec![
                    conv(6, 3, 2, 1, true),
                    LayerSpec::Depthwise {
                        k: 3,
                        stride: 1,
                        pad: 1,
                        bits: 3,
                        act_bits: 6,
                        relu: false,
                    },
                ],
                shortcut: vec![conv(6, 1, 2, 0, false)],
                act_bits: 6,
                relu: false,
            },
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 5,
                bits: 4,
                act_bits: 8,
                relu: false,
                per_channel: false,
            },
        ],
    };
    for seed in 0..6 {
        let m = random::build(&spec, seed).unwrap();
        let g = m.graph().unwrap();
        assert_eq!(g.input_uses.len(), 1);
        let text = m.to_json_string().unwrap();
        assert_eq!(QuantModel::from_json_str(&text, "r.json").unwrap(), m);
        let x = random::random_input(&m, seed);
        assert_eq!(run(&m, &x).unwrap().logits.len(), 5);
    }
}
