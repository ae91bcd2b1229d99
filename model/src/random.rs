//! Random valid models for tests across the workspace (property tests of the reference, the
//! hardware plan, the simulator and the RTL).
//!
//! A [`RandomSpec`] is plain data (so a property-test strategy can generate and shrink it): a
//! sequence of layers, where a [`LayerSpec::Residual`] block forks its input into a main path
//! and a shortcut (identity or layers of its own) joined by an `add` node. [`build`] turns it
//! into a valid [`QuantModel`] with weights drawn from a seeded generator.

use crate::error::ModelError;
use crate::format::{InputSpec, Node, QuantModel};
use crate::numerics::{self, ActFormat, Weight, WeightKind};
use crate::ops::{self, Op, Output};
use crate::weights::WeightTensor;

/// One layer of a random model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerSpec {
    /// Conv with ReLU (unsigned output) or without (signed output).
    Conv {
        /// Output channels.
        out: usize,
        /// Square kernel size.
        k: usize,
        /// Stride (both axes).
        stride: usize,
        /// Padding on every side (must be < k).
        pad: usize,
        /// Code bits 2..=8.
        bits: u32,
        /// Output activation bits.
        act_bits: u32,
        /// ReLU (unsigned output) or not (signed).
        relu: bool,
        /// One n1 per output channel.
        per_channel: bool,
    },
    /// Depthwise conv (`group = channels`), channel count kept.
    Depthwise {
        /// Square kernel size.
        k: usize,
        /// Stride (both axes).
        stride: usize,
        /// Padding on every side (must be < k).
        pad: usize,
        /// Code bits 2..=8.
        bits: u32,
        /// Output activation bits.
        act_bits: u32,
        /// ReLU (unsigned output) or not (signed).
        relu: bool,
    },
    /// Max pool, square window, stride = window.
    MaxPool(usize),
    /// Average pool, square power-of-two window (1 or 2 or 4), stride = window.
    AvgPool(usize),
    /// Max or average pool with a square window and a stride of its own, so that windows may
    /// overlap (3×3 stride 2, 2×2 stride 1) or leave gaps; an average window must hold a power
    /// of two elements (1×1, 2×2, 4×4).
    Pool {
        /// Window size (both axes).
        k: usize,
        /// Stride (both axes).
        stride: usize,
        /// Average instead of maximum.
        avg: bool,
    },
    /// Global average pool.
    GlobalAvgPool,
    /// Flatten.
    Flatten,
    /// Dense (inserting a flatten is the caller's job).
    Dense {
        /// Output features.
        out: usize,
        /// Code bits.
        bits: u32,
        /// Output activation bits.
        act_bits: u32,
        /// ReLU or not.
        relu: bool,
        /// One n1 per output channel.
        per_channel: bool,
    },
    /// A residual block: the block input feeds `main` and `shortcut` (empty: the identity),
    /// whose outputs (same shape) an add node sums into `act_bits` (ReLU: unsigned).
    Residual {
        /// The main path.
        main: Vec<LayerSpec>,
        /// The shortcut (empty = identity).
        shortcut: Vec<LayerSpec>,
        /// Output bits of the add.
        act_bits: u32,
        /// ReLU after the add.
        relu: bool,
    },
}

/// A whole random model: input and layers. The last layer must be `Conv` or `Dense`; it is
/// turned into a logits layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomSpec {
    /// Input `[C, H, W]`.
    pub input: [usize; 3],
    /// Input format.
    pub input_format: ActFormat,
    /// Layers.
    pub layers: Vec<LayerSpec>,
}

/// SplitMix64: a small, well-known seeded generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo + 1) as u64;
        lo + (self.next_u64() % span) as i64
    }
}

/// Random codes for `out` channels of `row` weights each.
pub fn random_weights(
    rng: &mut SplitMix64,
    kind: WeightKind,
    bits: u32,
    out: usize,
    row: usize,
    per_channel: bool,
) -> WeightTensor {
    if kind == WeightKind::Int {
        // n2 in -6..=0 as for INQ codes; q uniform over the symmetric range, a quarter zeros.
        let n1: Vec<i32> = (0..if per_channel { out } else { 1 })
            .map(|_| (rng.range(-6, 0) + bits as i64 - 2) as i32)
            .collect();
        let m = numerics::int_max(bits);
        let codes = (0..out * row)
            .map(|_| {
                if rng.range(0, 3) == 0 {
                    0
                } else {
                    numerics::encode(Weight::Int(rng.range(-m, m)), bits)
                }
            })
            .collect();
        return WeightTensor {
            kind,
            bits,
            n1,
            codes,
        };
    }
    // n2 in -6..=0, so that exponents stay moderate at every code width.
    let top = numerics::levels(bits) as i64 - 1;
    let n1: Vec<i32> = if per_channel {
        (0..out).map(|_| (rng.range(-6, 0) + top) as i32).collect()
    } else {
        vec![(rng.range(-6, 0) + top) as i32]
    };
    // At 7 and 8 bits the level set spans 32 and 64 exponents; real layers use a few of them,
    // and using all would exceed the 48-bit accumulator limit. Draw from the lowest 10.
    let levels = (numerics::levels(bits) as i64).min(10);
    let codes = (0..out * row)
        .map(|_| {
            if rng.range(0, 3) == 0 {
                0
            } else {
                numerics::encode(
                    Weight::Pow2 {
                        negative: rng.range(0, 1) == 1,
                        index: rng.range(0, levels - 1) as u32,
                    },
                    bits,
                )
            }
        })
        .collect();
    WeightTensor {
        kind,
        bits,
        n1,
        codes,
    }
}

/// Picks an output exponent so that the largest accumulator of the layer maps a little above
/// the output range (values saturate sometimes, and usually do not).
fn output_exp(
    w: &WeightTensor,
    bias: &[i64],
    out: usize,
    row: usize,
    x: ActFormat,
    y_bits: u32,
    rng: &mut SplitMix64,
) -> i32 {
    let bound = (0..out)
        .map(|c| {
            numerics::acc_bound_row_kind(
                w.kind,
                &w.codes[c * row..(c + 1) * row],
                w.bits,
                bias[c],
                x.max_abs().max(1),
            )
        })
        .max()
        .unwrap_or(1)
        .max(1);
    let log_b = 128 - (bound as u128).leading_zeros() as i32;
    // typical values are ~sqrt of the bound's worst case: aim the output range near there.
    let r = (log_b - y_bits as i32) / 2 + rng.range(0, 2) as i32;
    r.max(0) + x.exp + w.n2_min(out)
}

/// Builds a valid model from a spec and a seed (INQ weights).
pub fn build(spec: &RandomSpec, seed: u64) -> Result<QuantModel, ModelError> {
    build_with_kind(spec, seed, WeightKind::Pow2)
}

/// What the builder tracks: the name, shape and format of the current tensor.
#[derive(Debug, Clone)]
struct Cur {
    name: String,
    shape: Vec<usize>,
    fmt: ActFormat,
}

struct Builder {
    rng: SplitMix64,
    kind: WeightKind,
    nodes: Vec<Node>,
    count: usize,
}

impl Builder {
    fn fresh(&mut self, base: &str) -> String {
        self.count += 1;
        format!("{base}{}", self.count - 1)
    }

    #[allow(clippy::too_many_arguments)]
    fn act_output(
        &mut self,
        w: &WeightTensor,
        bias: &[i64],
        out: usize,
        row: usize,
        x: ActFormat,
        act_bits: u32,
        relu: bool,
        last: bool,
    ) -> (Output, bool, Option<ActFormat>) {
        if last {
            return (Output::Logits, false, None);
        }
        let exp = output_exp(w, bias, out, row, x, act_bits, &mut self.rng);
        let f = ActFormat {
            bits: act_bits,
            signed: !relu,
            exp,
        };
        (Output::from_act(f), relu, Some(f))
    }

    fn push(&mut self, name: String, input: &str, op: Op) {
        self.nodes.push(Node::new(name, &[input], op));
    }

    fn layer(&mut self, ls: &LayerSpec, cur: Cur, last: bool) -> Cur {
        let name = self.fresh("l");
        match ls {
            &LayerSpec::Conv {
                out,
                k,
                stride,
                pad,
                bits,
                act_bits,
                relu,
                per_channel,
            } => {
                let cin = cur.shape[0];
                let row = cin * k * k;
                let weights = random_weights(&mut self.rng, self.kind, bits, out, row, per_channel);
                let bias: Vec<i64> = (0..out).map(|_| self.rng.range(-64, 64)).collect();
                let (output, relu, nf) =
                    self.act_output(&weights, &bias, out, row, cur.fmt, act_bits, relu, last);
                let oh = (cur.shape[1] + 2 * pad).saturating_sub(k) / stride + 1;
                let ow = (cur.shape[2] + 2 * pad).saturating_sub(k) / stride + 1;
                self.push(
                    name.clone(),
                    &cur.name,
                    Op::Conv(ops::Conv {
                        in_channels: cin,
                        out_channels: out,
                        kernel: [k, k],
                        stride: [stride, stride],
                        pad: [pad; 4],
                        pad_value: 0,
                        group: 1,
                        weights,
                        bias,
                        relu,
                        output,
                    }),
                );
                Cur {
                    name,
                    shape: vec![out, oh, ow],
                    fmt: nf.unwrap_or(cur.fmt),
                }
            }
            &LayerSpec::Depthwise {
                k,
                stride,
                pad,
                bits,
                act_bits,
                relu,
            } => {
                let c = cur.shape[0];
                let row = k * k;
                let weights = random_weights(&mut self.rng, self.kind, bits, c, row, true);
                let bias: Vec<i64> = (0..c).map(|_| self.rng.range(-64, 64)).collect();
                let (output, relu, nf) =
                    self.act_output(&weights, &bias, c, row, cur.fmt, act_bits, relu, last);
                let oh = (cur.shape[1] + 2 * pad).saturating_sub(k) / stride + 1;
                let ow = (cur.shape[2] + 2 * pad).saturating_sub(k) / stride + 1;
                self.push(
                    name.clone(),
                    &cur.name,
                    Op::Conv(ops::Conv {
                        in_channels: c,
                        out_channels: c,
                        kernel: [k, k],
                        stride: [stride, stride],
                        pad: [pad; 4],
                        pad_value: 0,
                        group: c,
                        weights,
                        bias,
                        relu,
                        output,
                    }),
                );
                Cur {
                    name,
                    shape: vec![c, oh, ow],
                    fmt: nf.unwrap_or(cur.fmt),
                }
            }
            &LayerSpec::Dense {
                out,
                bits,
                act_bits,
                relu,
                per_channel,
            } => {
                let row = cur.shape[0];
                let weights = random_weights(&mut self.rng, self.kind, bits, out, row, per_channel);
                let bias: Vec<i64> = (0..out).map(|_| self.rng.range(-64, 64)).collect();
                let (output, relu, nf) =
                    self.act_output(&weights, &bias, out, row, cur.fmt, act_bits, relu, last);
                self.push(
                    name.clone(),
                    &cur.name,
                    Op::Dense(ops::Dense {
                        in_features: row,
                        out_features: out,
                        weights,
                        bias,
                        relu,
                        output,
                    }),
                );
                Cur {
                    name,
                    shape: vec![out],
                    fmt: nf.unwrap_or(cur.fmt),
                }
            }
            &LayerSpec::MaxPool(k) | &LayerSpec::AvgPool(k) | &LayerSpec::Pool { k, .. } => {
                let (stride, avg) = match *ls {
                    LayerSpec::Pool { stride, avg, .. } => (stride, avg),
                    _ => (k, matches!(ls, LayerSpec::AvgPool(_))),
                };
                let w = ops::Window {
                    kernel: [k, k],
                    stride: [stride, stride],
                };
                let op = if avg {
                    Op::AvgPool(ops::AvgPool(w))
                } else {
                    Op::MaxPool(ops::MaxPool(w))
                };
                self.push(name.clone(), &cur.name, op);
                let (h, wd) = (cur.shape[1], cur.shape.get(2).copied().unwrap_or(1));
                let s = stride.max(1);
                Cur {
                    name,
                    shape: vec![
                        cur.shape[0],
                        h.saturating_sub(k) / s + 1,
                        wd.saturating_sub(k) / s + 1,
                    ],
                    fmt: cur.fmt,
                }
            }
            LayerSpec::GlobalAvgPool => {
                self.push(
                    name.clone(),
                    &cur.name,
                    Op::GlobalAvgPool(ops::GlobalAvgPool {}),
                );
                Cur {
                    name,
                    shape: vec![cur.shape[0], 1, 1],
                    fmt: cur.fmt,
                }
            }
            LayerSpec::Flatten => {
                self.push(name.clone(), &cur.name, Op::Flatten(ops::Flatten {}));
                Cur {
                    name,
                    shape: vec![cur.shape.iter().product()],
                    fmt: cur.fmt,
                }
            }
            LayerSpec::Residual {
                main,
                shortcut,
                act_bits,
                relu,
            } => {
                let mut a = cur.clone();
                for l in main {
                    a = self.layer(l, a, false);
                }
                let mut b = cur;
                for l in shortcut {
                    b = self.layer(l, b, false);
                }
                // an output exponent near the larger input's, so the sum mostly fits
                let e = a.fmt.exp.max(b.fmt.exp) + self.rng.range(0, 1) as i32;
                let f = ActFormat {
                    bits: *act_bits,
                    signed: !relu,
                    exp: e,
                };
                self.nodes.push(Node::new(
                    name.clone(),
                    &[&a.name, &b.name],
                    Op::Add(ops::Add {
                        relu: *relu,
                        output: Output::from_act(f),
                    }),
                ));
                Cur {
                    name,
                    shape: a.shape,
                    fmt: f,
                }
            }
        }
    }
}

/// Builds a valid model from a spec and a seed with weights of the given kind (uniform
/// integers use the full symmetric range of each layer's `bits`). Errors when the spec's
/// shapes do not fit (e.g. a residual block whose paths end in different shapes).
pub fn build_with_kind(
    spec: &RandomSpec,
    seed: u64,
    kind: WeightKind,
) -> Result<QuantModel, ModelError> {
    let mut b = Builder {
        rng: SplitMix64(seed),
        kind,
        nodes: Vec::new(),
        count: 0,
    };
    let input = InputSpec {
        name: crate::format::DEFAULT_INPUT_NAME.to_string(),
        shape: spec.input,
        format: spec.input_format,
        mapping: "random test input".into(),
    };
    let mut cur = Cur {
        name: input.name.clone(),
        shape: spec.input.to_vec(),
        fmt: spec.input_format,
    };
    let n = spec.layers.len();
    for (i, ls) in spec.layers.iter().enumerate() {
        cur = b.layer(ls, cur, i + 1 == n);
    }
    let m = QuantModel::new(format!("random_{seed:x}"), input, b.nodes, cur.name);
    crate::validate::validate(&m)?;
    Ok(m)
}

/// A random input tensor for `model` (values spread over the whole input range).
pub fn random_input(model: &QuantModel, seed: u64) -> Vec<i64> {
    let mut rng = SplitMix64(seed ^ 0x5EED);
    let [c, h, w] = model.input.shape;
    let f = model.input.format;
    (0..c * h * w)
        .map(|_| rng.range(f.min(), f.max()))
        .collect()
}

/// The LeNet-class shape of the built-in model (conv 1→16 3×3 pad 1, ReLU, maxpool 2; conv
/// 16→32 3×3 pad 1, ReLU, maxpool 2; flatten; dense 1568→128, ReLU; dense 128→10), 5-bit
/// weights, 8-bit activations, 8-bit unsigned input with exponent `input_exp`; conv layers have
/// per-channel level sets, dense layers when `dense_per_channel`.
pub fn lenet_spec(input_exp: i32, dense_per_channel: bool) -> RandomSpec {
    let conv = |out| LayerSpec::Conv {
        out,
        k: 3,
        stride: 1,
        pad: 1,
        bits: 5,
        act_bits: 8,
        relu: true,
        per_channel: true,
    };
    let dense = |out, relu| LayerSpec::Dense {
        out,
        bits: 5,
        act_bits: 8,
        relu,
        per_channel: dense_per_channel,
    };
    RandomSpec {
        input: [1, 28, 28],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: input_exp,
        },
        layers: vec![
            conv(16),
            LayerSpec::MaxPool(2),
            conv(32),
            LayerSpec::MaxPool(2),
            LayerSpec::Flatten,
            dense(128, true),
            dense(10, false),
        ],
    }
}
