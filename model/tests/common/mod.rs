//! Small hand-built models shared by the model crate's tests.
#![allow(dead_code)]

use inq_model::numerics::{encode, Weight};
use inq_model::ops::{Conv, Dense, Flatten, MaxPool, Window};
use inq_model::*;

/// `+2^k` as a code of `bits`.
pub fn pos(k: u32, bits: u32) -> u8 {
    encode(
        Weight::Pow2 {
            negative: false,
            index: k,
        },
        bits,
    )
}
/// `-2^k` as a code of `bits`.
pub fn neg(k: u32, bits: u32) -> u8 {
    encode(
        Weight::Pow2 {
            negative: true,
            index: k,
        },
        bits,
    )
}

pub fn u8fmt() -> ActFormat {
    ActFormat {
        bits: 8,
        signed: false,
        exp: 0,
    }
}

/// input 1×3×3 u8 → conv 1→2 (2×2, stride 1, no pad, relu, out u8 exp -1) → maxpool 2
/// → flatten → dense 2→2 logits. Hand-computed results are in tests/reference.rs.
pub fn tiny() -> QuantModel {
    let bits = 4; // 4 levels: k in 0..4; n1 = 0 -> n2 = -3; n1 = -1 -> n2 = -4
    let conv = Conv {
        in_channels: 1,
        out_channels: 2,
        kernel: [2, 2],
        stride: [1, 1],
        pad: [0, 0, 0, 0],
        pad_value: 0,
        group: 1,
        weights: WeightTensor {
            kind: Default::default(),
            bits,
            n1: vec![0, -1],
            // ch0 (index units): +1 +2 / 0 -1 ; ch1: +8 0 / 0 +1
            codes: vec![
                pos(0, bits),
                pos(1, bits),
                0,
                neg(0, bits),
                pos(3, bits),
                0,
                0,
                pos(0, bits),
            ],
        },
        bias: vec![3, -5],
        relu: true,
        // r0 = -1 - (0 + -3) = 2, r1 = -1 - (0 + -4) = 3
        output: Output::Act {
            bits: 8,
            signed: false,
            exp: -1,
        },
    };
    let dense = Dense {
        in_features: 2,
        out_features: 2,
        weights: WeightTensor {
            kind: Default::default(),
            bits: 3, // 2 levels; ch0 n1 = 0 -> n2 = -1; ch1 n1 = 1 -> n2 = 0
            n1: vec![0, 1],
            codes: vec![pos(1, 3), neg(0, 3), 0, pos(0, 3)],
        },
        bias: vec![1, -2],
        relu: false,
        output: Output::Logits,
    };
    QuantModel::chain(
        "tiny",
        InputSpec {
            name: "input".into(),
            shape: [1, 3, 3],
            format: u8fmt(),
            mapping: String::new(),
        },
        vec![
            ("conv".into(), Op::Conv(conv)),
            (
                "pool".into(),
                Op::MaxPool(MaxPool(Window {
                    kernel: [2, 2],
                    stride: [2, 2],
                })),
            ),
            ("flat".into(), Op::Flatten(Flatten {})),
            ("fc".into(), Op::Dense(dense)),
        ],
    )
}

/// The conv node called `name`.
pub fn conv<'a>(m: &'a mut QuantModel, name: &str) -> &'a mut Conv {
    let i = m.node_index(name).expect("node");
    match &mut m.nodes[i].op {
        Op::Conv(c) => c,
        _ => panic!("{name} is not a conv"),
    }
}

/// The dense node called `name`.
pub fn dense<'a>(m: &'a mut QuantModel, name: &str) -> &'a mut Dense {
    let i = m.node_index(name).expect("node");
    match &mut m.nodes[i].op {
        Op::Dense(c) => c,
        _ => panic!("{name} is not a dense"),
    }
}
