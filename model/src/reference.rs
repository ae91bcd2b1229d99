//! The integer golden reference: the one executable definition of the arithmetic in
//! `docs/numerics.md`.
//!
//! It runs a validated [`QuantModel`] on one integer input tensor and returns the logits, the
//! argmax, and every intermediate tensor. It uses no multiplication on data values: products
//! are [`numerics::product`] (shift and conditional negate), averages are shifts.

use crate::error::ModelError;
use crate::format::{ActFormat, ConvLayer, DenseLayer, Layer, PoolLayer, QuantModel, WeightTensor};
use crate::numerics::{self, Weight};

/// A tensor of integers: `shape` is `[C, H, W]` or `[N]`, `data` row-major (C-major).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub data: Vec<i64>,
}

/// The result of running a model on one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The final layer's logits (signed, at accumulator width, aligned to the layer's smallest
    /// exponent).
    pub logits: Vec<i64>,
    /// Index of the largest logit (lowest index on ties).
    pub argmax: usize,
    /// The tensor after every layer, in layer order (the last one holds the logits).
    pub layers: Vec<Tensor>,
}

/// A model prepared for repeated runs: weights decoded once.
#[derive(Debug, Clone)]
pub struct Reference<'m> {
    model: &'m QuantModel,
    decoded: Vec<Vec<Weight>>,
}

impl<'m> Reference<'m> {
    /// Prepares a (validated) model.
    pub fn new(model: &'m QuantModel) -> Result<Self, ModelError> {
        crate::validate::validate(model)?;
        let decoded = model
            .layers
            .iter()
            .map(|l| match l {
                Layer::Conv(c) => decode_all(&c.weights),
                Layer::Dense(d) => decode_all(&d.weights),
                _ => Vec::new(),
            })
            .collect();
        Ok(Reference { model, decoded })
    }

    /// Runs the model on one input (`C·H·W` integers in C-major order).
    pub fn run(&self, input: &[i64]) -> Result<RunOutput, ModelError> {
        let m = self.model;
        let [c, h, w] = m.input.shape;
        if input.len() != c * h * w {
            return Err(ModelError::Input {
                message: format!(
                    "has {} values; the model's input {c}×{h}×{w} needs {}",
                    input.len(),
                    c * h * w
                ),
            });
        }
        let f = m.input.format;
        if let Some((i, v)) = input
            .iter()
            .enumerate()
            .find(|(_, &v)| v < f.min() || v > f.max())
        {
            return Err(ModelError::Input {
                message: format!(
                    "value {v} at index {i} outside the input format's range {}..={}",
                    f.min(),
                    f.max()
                ),
            });
        }
        let mut t = Tensor {
            shape: vec![c, h, w],
            data: input.to_vec(),
        };
        let mut fmt = f;
        let mut layers = Vec::with_capacity(m.layers.len());
        for (i, layer) in m.layers.iter().enumerate() {
            let dec = &self.decoded[i];
            t = match layer {
                Layer::Conv(l) => conv(l, dec, &t, fmt),
                Layer::Dense(l) => dense(l, dec, &t, fmt),
                Layer::MaxPool(p) => pool(p, &t, true),
                Layer::AvgPool(p) => pool(p, &t, false),
                Layer::GlobalAvgPool(_) => {
                    let (h, w) = (t.shape[1], t.shape[2]);
                    pool(
                        &PoolLayer {
                            name: String::new(),
                            kernel: [h, w],
                            stride: [h, w],
                        },
                        &t,
                        false,
                    )
                }
                Layer::Flatten(_) => Tensor {
                    shape: vec![t.data.len()],
                    data: t.data,
                },
            };
            if let Layer::Conv(ConvLayer { output, .. }) | Layer::Dense(DenseLayer { output, .. }) =
                layer
            {
                if let Some(nf) = output.act() {
                    fmt = nf;
                }
            }
            layers.push(t.clone());
        }
        let logits = t.data;
        let argmax = numerics::argmax(&logits);
        Ok(RunOutput {
            logits,
            argmax,
            layers,
        })
    }
}

/// Runs a model once (convenience wrapper around [`Reference`]).
pub fn run(model: &QuantModel, input: &[i64]) -> Result<RunOutput, ModelError> {
    Reference::new(model)?.run(input)
}

fn decode_all(w: &WeightTensor) -> Vec<Weight> {
    w.codes
        .iter()
        .map(|&c| w.decode(c).unwrap_or(Weight::Zero))
        .collect()
}

/// Turns channel `c`'s accumulator into the layer's output value.
fn finish(
    acc: i64,
    c: usize,
    w: &crate::format::WeightTensor,
    out_count: usize,
    relu: bool,
    output: &crate::format::Output,
    in_fmt: ActFormat,
) -> i64 {
    match output.act() {
        Some(of) => {
            let r = numerics::requant_shift(in_fmt, w, c, of);
            numerics::requantize(acc, r, relu, of)
        }
        None => acc << (numerics::n2_of(w, c) - numerics::n2_min(w, out_count)) as u32,
    }
}

fn conv(l: &ConvLayer, dec: &[Weight], t: &Tensor, in_fmt: ActFormat) -> Tensor {
    let (c, h, w) = (t.shape[0], t.shape[1], t.shape[2]);
    let [kh, kw] = l.kernel;
    let [sh, sw] = l.stride;
    let [pt, pl, pb, pr] = l.pad;
    let oh = (h + pt + pb - kh) / sh + 1;
    let ow = (w + pl + pr - kw) / sw + 1;
    let mut data = vec![0i64; l.out_channels * oh * ow];
    for o in 0..l.out_channels {
        let wrow = &dec[o * c * kh * kw..(o + 1) * c * kh * kw];
        for y in 0..oh {
            for x in 0..ow {
                let mut acc = l.bias[o];
                for ci in 0..c {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (y * sh + ky) as isize - pt as isize;
                            let ix = (x * sw + kx) as isize - pl as isize;
                            let v = if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                l.pad_value
                            } else {
                                t.data[(ci * h + iy as usize) * w + ix as usize]
                            };
                            acc += numerics::product(v, wrow[(ci * kh + ky) * kw + kx]);
                        }
                    }
                }
                data[(o * oh + y) * ow + x] = finish(
                    acc,
                    o,
                    &l.weights,
                    l.out_channels,
                    l.relu,
                    &l.output,
                    in_fmt,
                );
            }
        }
    }
    Tensor {
        shape: vec![l.out_channels, oh, ow],
        data,
    }
}

fn dense(l: &DenseLayer, dec: &[Weight], t: &Tensor, in_fmt: ActFormat) -> Tensor {
    let n = l.in_features;
    let data = (0..l.out_features)
        .map(|o| {
            let acc = dec[o * n..(o + 1) * n]
                .iter()
                .zip(&t.data)
                .fold(l.bias[o], |a, (&wt, &x)| a + numerics::product(x, wt));
            finish(
                acc,
                o,
                &l.weights,
                l.out_features,
                l.relu,
                &l.output,
                in_fmt,
            )
        })
        .collect();
    Tensor {
        shape: vec![l.out_features],
        data,
    }
}

fn pool(p: &PoolLayer, t: &Tensor, max: bool) -> Tensor {
    let (c, h, w) = (t.shape[0], t.shape[1], t.shape[2]);
    let [kh, kw] = p.kernel;
    let [sh, sw] = p.stride;
    let oh = (h - kh) / sh + 1;
    let ow = (w - kw) / sw + 1;
    let shift = numerics::log2_exact(kh * kw).unwrap_or(0) as i32;
    let mut data = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        for y in 0..oh {
            for x in 0..ow {
                let vals = (0..kh).flat_map(|ky| {
                    (0..kw).map(move |kx| t.data[(ch * h + y * sh + ky) * w + x * sw + kx])
                });
                data.push(if max {
                    vals.max().unwrap_or(0)
                } else {
                    numerics::shift_round(vals.sum(), shift)
                });
            }
        }
    }
    Tensor {
        shape: vec![c, oh, ow],
        data,
    }
}
