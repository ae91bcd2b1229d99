//! Shared helpers: random models, foldings, images.
#![allow(dead_code)]

use inq_hdl::{plan, Design, Folding, FoldingRequest, LayerFolding};
use inq_model::random::{build, random_input, LayerSpec, RandomSpec};
use inq_model::{ActFormat, Layer, QuantModel};

pub fn u8_input() -> ActFormat {
    ActFormat {
        bits: 8,
        signed: false,
        exp: -8,
    }
}

pub fn conv(out: usize, k: usize, stride: usize, pad: usize, relu: bool) -> LayerSpec {
    LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 6,
        relu,
        per_channel: true,
    }
}

pub fn dense(out: usize, relu: bool) -> LayerSpec {
    LayerSpec::Dense {
        out,
        bits: 5,
        act_bits: 8,
        relu,
        per_channel: false,
    }
}

/// A small set of model shapes covering every engine kind and option.
pub fn specs() -> Vec<(&'static str, RandomSpec)> {
    vec![
        (
            "conv_pool_conv_dense",
            RandomSpec {
                input: [2, 8, 8],
                input_format: u8_input(),
                layers: vec![
                    conv(4, 3, 1, 1, true),
                    LayerSpec::MaxPool(2),
                    conv(6, 3, 1, 0, false),
                    LayerSpec::Flatten,
                    dense(5, false),
                ],
            },
        ),
        (
            "stride2_avgpool_gap",
            RandomSpec {
                input: [3, 9, 9],
                input_format: ActFormat {
                    bits: 6,
                    signed: true,
                    exp: -4,
                },
                layers: vec![
                    conv(4, 3, 2, 1, true),
                    LayerSpec::AvgPool(1),
                    conv(8, 1, 1, 0, true),
                    LayerSpec::AvgPool(2),
                    LayerSpec::GlobalAvgPool,
                    LayerSpec::Flatten,
                    dense(4, false),
                ],
            },
        ),
        (
            "odd_pool_dense_chain",
            RandomSpec {
                input: [1, 7, 7],
                input_format: u8_input(),
                layers: vec![
                    conv(4, 2, 1, 0, true),
                    LayerSpec::MaxPool(2),
                    LayerSpec::Flatten,
                    dense(6, true),
                    dense(4, false),
                ],
            },
        ),
        (
            "conv_only_logits",
            RandomSpec {
                input: [2, 5, 4],
                input_format: u8_input(),
                layers: vec![conv(4, 3, 1, 1, false), conv(3, 3, 2, 0, false)],
            },
        ),
    ]
}

/// Conv/dense layer indices of a model with their (out, in) channel counts.
pub fn mvu_layers(m: &QuantModel) -> Vec<(usize, usize, usize)> {
    m.layers
        .iter()
        .enumerate()
        .filter_map(|(i, l)| match l {
            Layer::Conv(c) => Some((i, c.out_channels, c.in_channels)),
            Layer::Dense(d) => Some((i, d.out_features, d.in_features)),
            _ => None,
        })
        .collect()
}

fn largest_divisor_at_most(n: usize, cap: usize) -> usize {
    (1..=cap.min(n))
        .rev()
        .find(|d| n.is_multiple_of(*d))
        .unwrap_or(1)
}

/// Named foldings: minimal, full (PE = OC, SIMD = C), and a mixed one.
pub fn foldings(m: &QuantModel) -> Vec<(&'static str, FoldingRequest)> {
    let mk = |f: &dyn Fn(usize, usize, usize) -> (usize, usize)| {
        FoldingRequest::Explicit(Folding {
            layer: mvu_layers(m)
                .into_iter()
                .enumerate()
                .map(|(k, (i, oc, c))| {
                    let (pe, simd) = f(k, oc, c);
                    LayerFolding {
                        name: None,
                        index: Some(i),
                        pe,
                        simd,
                    }
                })
                .collect(),
        })
    };
    vec![
        ("minimal", FoldingRequest::Minimal),
        ("full", mk(&|_, oc, c| (oc, c))),
        (
            "mixed",
            mk(&|k, oc, c| {
                if k % 2 == 0 {
                    (largest_divisor_at_most(oc, 2), 1)
                } else {
                    (1, largest_divisor_at_most(c, 4))
                }
            }),
        ),
    ]
}

pub fn model(spec: &RandomSpec, seed: u64) -> QuantModel {
    build(spec, seed).expect("random model")
}

pub fn design(m: &QuantModel, req: &FoldingRequest) -> Design {
    plan(m, req).expect("plan")
}

pub fn images(m: &QuantModel, n: usize, seed: u64) -> Vec<Vec<i64>> {
    (0..n)
        .map(|i| random_input(m, seed.wrapping_mul(1000) + i as u64))
        .collect()
}
