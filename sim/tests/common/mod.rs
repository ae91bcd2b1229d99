//! Shared helpers: random models (chains and graphs), foldings, images.
#![allow(dead_code)]

use inq_hdl::{plan, Design, Folding, FoldingRequest, LayerFolding};
use inq_model::random::{build, random_input, LayerSpec, RandomSpec};
use inq_model::{ActFormat, Op, QuantModel};

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

pub fn depthwise(k: usize, stride: usize, pad: usize, relu: bool) -> LayerSpec {
    LayerSpec::Depthwise {
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 6,
        relu,
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

/// A residual block: `main`, `shortcut` (empty: identity), ReLU after the add.
pub fn residual(main: Vec<LayerSpec>, shortcut: Vec<LayerSpec>) -> LayerSpec {
    LayerSpec::Residual {
        main,
        shortcut,
        act_bits: 6,
        relu: true,
    }
}

/// Chain-shaped models covering every engine kind and option.
pub fn chain_specs() -> Vec<(&'static str, RandomSpec)> {
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

/// Graph-shaped models: residual blocks with identity and strided 1×1 projection shortcuts,
/// depthwise convolutions, global average pooling of non-power-of-two planes, a fork of the
/// input, nested residual blocks.
pub fn graph_specs() -> Vec<(&'static str, RandomSpec)> {
    vec![
        (
            "residual_identity",
            RandomSpec {
                input: [2, 8, 8],
                input_format: u8_input(),
                layers: vec![
                    conv(4, 3, 1, 1, true),
                    residual(
                        vec![conv(4, 3, 1, 1, true), conv(4, 3, 1, 1, false)],
                        vec![],
                    ),
                    LayerSpec::MaxPool(2),
                    LayerSpec::Flatten,
                    dense(5, false),
                ],
            },
        ),
        (
            "residual_projection_gap25",
            RandomSpec {
                input: [3, 9, 9],
                input_format: ActFormat {
                    bits: 6,
                    signed: true,
                    exp: -4,
                },
                layers: vec![
                    conv(4, 3, 1, 1, true),
                    residual(
                        vec![conv(8, 3, 2, 1, true), conv(8, 3, 1, 1, false)],
                        vec![conv(8, 1, 2, 0, false)],
                    ),
                    LayerSpec::GlobalAvgPool,
                    LayerSpec::Flatten,
                    dense(4, false),
                ],
            },
        ),
        (
            "depthwise_separable",
            RandomSpec {
                input: [4, 7, 7],
                input_format: u8_input(),
                layers: vec![
                    depthwise(3, 1, 1, true),
                    conv(6, 1, 1, 0, true),
                    depthwise(3, 2, 1, true),
                    LayerSpec::GlobalAvgPool,
                    LayerSpec::Flatten,
                    dense(3, false),
                ],
            },
        ),
        (
            "input_fanout",
            RandomSpec {
                input: [2, 6, 6],
                input_format: u8_input(),
                layers: vec![
                    residual(
                        vec![conv(2, 3, 1, 1, true), conv(2, 3, 1, 1, false)],
                        vec![],
                    ),
                    conv(3, 3, 1, 0, true),
                    LayerSpec::Flatten,
                    dense(4, false),
                ],
            },
        ),
        (
            "nested_residual_depthwise",
            RandomSpec {
                input: [3, 6, 6],
                input_format: u8_input(),
                layers: vec![
                    conv(4, 1, 1, 0, true),
                    residual(
                        vec![
                            depthwise(3, 1, 1, true),
                            residual(vec![conv(4, 3, 1, 1, false)], vec![]),
                        ],
                        vec![],
                    ),
                    residual(
                        vec![conv(6, 3, 2, 1, true), depthwise(3, 1, 1, false)],
                        vec![conv(6, 1, 2, 0, false)],
                    ),
                    LayerSpec::GlobalAvgPool,
                    LayerSpec::Flatten,
                    dense(3, false),
                ],
            },
        ),
    ]
}

/// Every spec: chains and graphs.
pub fn specs() -> Vec<(&'static str, RandomSpec)> {
    let mut v = chain_specs();
    v.extend(graph_specs());
    v
}

/// The ResNet-8-shaped spec: input [1,28,28] 8-bit; conv 16; residual(16, identity);
/// residual(32, stride 2, 1×1 projection); residual(64, stride 2, 1×1 projection); GAP (7×7);
/// flatten; dense 10.
pub fn resnet8_spec() -> RandomSpec {
    let c = |out, k, stride, pad, relu| LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 8,
        relu,
        per_channel: true,
    };
    let block = |ch: usize, stride: usize| LayerSpec::Residual {
        main: vec![c(ch, 3, stride, 1, true), c(ch, 3, 1, 1, false)],
        shortcut: if stride == 1 {
            vec![]
        } else {
            vec![c(ch, 1, stride, 0, false)]
        },
        act_bits: 8,
        relu: true,
    };
    RandomSpec {
        input: [1, 28, 28],
        input_format: u8_input(),
        layers: vec![
            c(16, 3, 1, 1, true),
            block(16, 1),
            block(32, 2),
            block(64, 2),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            dense(10, false),
        ],
    }
}

/// Conv/dense nodes of a model: `(node index, out channels, in channels, depthwise)`.
pub fn mvu_nodes(m: &QuantModel) -> Vec<(usize, usize, usize, bool)> {
    m.nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.op {
            Op::Conv(c) => Some((i, c.out_channels, c.in_channels, c.depthwise())),
            Op::Dense(d) => Some((i, d.out_features, d.in_features, false)),
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

/// An explicit folding from `f(k, oc, c) -> (pe, simd)` per conv/dense node (SIMD forced to 1
/// for depthwise nodes).
pub fn explicit_by(
    m: &QuantModel,
    f: &dyn Fn(usize, usize, usize) -> (usize, usize),
) -> FoldingRequest {
    FoldingRequest::Explicit(Folding {
        layer: mvu_nodes(m)
            .into_iter()
            .enumerate()
            .map(|(k, (i, oc, c, dw))| {
                let (pe, simd) = f(k, oc, c);
                LayerFolding {
                    name: None,
                    index: Some(i),
                    pe,
                    simd: if dw { 1 } else { simd },
                }
            })
            .collect(),
    })
}

/// Named foldings: minimal, full (PE = OC, SIMD = C), and a mixed one.
pub fn foldings(m: &QuantModel) -> Vec<(&'static str, FoldingRequest)> {
    vec![
        ("minimal", FoldingRequest::Minimal),
        ("full", explicit_by(m, &|_, oc, c| (oc, c))),
        (
            "mixed",
            explicit_by(m, &|k, oc, c| {
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

/// A report without its wall-clock figures (for comparing runs).
pub fn strip(mut r: inq_sim::SimReport) -> inq_sim::SimReport {
    r.sim_seconds = 0.0;
    r.cycles_per_second = 0.0;
    r
}

/// The default options, but the decoupled run on every design (`inq_sim::Decoupled::Always`):
/// what the exactness tests compare with the lockstep machine.
pub fn decoupled() -> inq_sim::SimOptions {
    inq_sim::SimOptions {
        decoupled: inq_sim::Decoupled::Always,
        ..inq_sim::SimOptions::default()
    }
}

/// Asserts that the fast paths give exactly the report of stepping every cycle of the
/// lockstep machine, for each `(stall rate, mid-run reset)` run with 2 tapped images.
pub fn assert_fast_forward_exact(
    d: &Design,
    imgs: &[Vec<i64>],
    seed: u64,
    runs: &[(f64, Option<usize>)],
    what: &str,
) {
    for &(rate, reset) in runs {
        let o = inq_sim::SimOptions {
            stall_rate: rate,
            seed,
            reset_after: reset,
            tap_images: 2,
            ..decoupled()
        };
        let fast = strip(inq_sim::simulate(d, imgs, &o).unwrap());
        let slow = strip(
            inq_sim::simulate(
                d,
                imgs,
                &inq_sim::SimOptions {
                    fast_forward: false,
                    ..o
                },
            )
            .unwrap(),
        );
        assert_eq!(fast, slow, "{what} rate {rate} reset {reset:?}");
    }
}
