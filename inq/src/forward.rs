//! A plain `f32` forward pass of a [`FloatModel`], on one image or a batch.
//!
//! Used to check ONNX import against onnxruntime and to measure float accuracy. The loops are
//! simple but laid out so that the compiler vectorizes the inner ones: a stride-1 convolution
//! sweeps each `(out, in, ky, kx)` weight over a whole output plane computed on the padded
//! width, and dense layers use an 8-lane dot product. [`accuracy`] splits the images over the
//! available cores.
//!
//! Shapes: a feature map is `[C, H, W]` (row-major, channel-major), a vector `[N]`. Every layer
//! is checked once by [`Forward::new`] (or [`shapes`]), so running never panics on a model
//! that passed the check.

use crate::data::Dataset;
use crate::graph::{FloatLayer, FloatModel};
use thiserror::Error;

/// Errors of the forward pass.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ForwardError {
    /// A layer does not fit the tensor it receives, or its parameters have the wrong size.
    #[error("layer {index} ({name}): {message}")]
    Layer {
        /// Index of the layer in `FloatModel::layers`.
        index: usize,
        /// The layer's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The input does not fit the model.
    #[error("input: {message}")]
    Input {
        /// What is wrong.
        message: String,
    },
}

/// The name of a layer.
pub fn layer_name(l: &FloatLayer) -> &str {
    match l {
        FloatLayer::Conv { name, .. }
        | FloatLayer::Dense { name, .. }
        | FloatLayer::Relu { name }
        | FloatLayer::MaxPool { name, .. }
        | FloatLayer::AvgPool { name, .. }
        | FloatLayer::GlobalAvgPool { name }
        | FloatLayer::Flatten { name } => name,
    }
}

/// Checks every layer against the tensor it receives and returns the shape after each layer
/// (index 0 is the input, `[C, H, W]`; vectors are `[N]`).
pub fn shapes(model: &FloatModel) -> Result<Vec<Vec<usize>>, ForwardError> {
    let [c0, h0, w0] = model.input_shape;
    if c0 == 0 || h0 == 0 || w0 == 0 {
        return Err(ForwardError::Input {
            message: format!("input shape {:?} has a zero dimension", model.input_shape),
        });
    }
    let mut shape = vec![c0, h0, w0];
    let mut out = vec![shape.clone()];
    for (index, layer) in model.layers.iter().enumerate() {
        let err = |message: String| ForwardError::Layer {
            index,
            name: layer_name(layer).to_string(),
            message,
        };
        let map = |shape: &[usize]| -> Result<[usize; 3], ForwardError> {
            match *shape {
                [c, h, w] => Ok([c, h, w]),
                _ => Err(err(format!(
                    "needs a [C, H, W] feature map but receives a vector {shape:?}"
                ))),
            }
        };
        shape = match layer {
            FloatLayer::Conv {
                in_channels,
                out_channels,
                kernel: [kh, kw],
                stride: [sh, sw],
                pad: [pt, pl, pb, pr],
                weight,
                bias,
                ..
            } => {
                let [c, h, w] = map(&shape)?;
                if *in_channels != c {
                    return Err(err(format!(
                        "in_channels is {in_channels} but the incoming tensor has {c} channels"
                    )));
                }
                if *kh == 0 || *kw == 0 || *sh == 0 || *sw == 0 || *out_channels == 0 {
                    return Err(err(
                        "kernel, stride and out_channels must be at least 1".into()
                    ));
                }
                if weight.len() != out_channels * c * kh * kw {
                    return Err(err(format!(
                        "weight has {} values; [{out_channels}, {c}, {kh}, {kw}] needs {}",
                        weight.len(),
                        out_channels * c * kh * kw
                    )));
                }
                if bias.len() != *out_channels {
                    return Err(err(format!(
                        "bias has {} values; expected {out_channels}",
                        bias.len()
                    )));
                }
                let (hp, wp) = (h + pt + pb, w + pl + pr);
                if hp < *kh || wp < *kw {
                    return Err(err(format!(
                        "kernel {kh}×{kw} larger than the padded input {hp}×{wp}"
                    )));
                }
                vec![*out_channels, (hp - kh) / sh + 1, (wp - kw) / sw + 1]
            }
            FloatLayer::Dense {
                in_features,
                out_features,
                weight,
                bias,
                ..
            } => {
                if shape.len() != 1 {
                    return Err(err(format!(
                        "needs a vector input but receives {shape:?} (add a flatten)"
                    )));
                }
                if *in_features != shape[0] {
                    return Err(err(format!(
                        "in_features is {in_features} but the incoming vector has {} elements",
                        shape[0]
                    )));
                }
                if weight.len() != in_features * out_features || bias.len() != *out_features {
                    return Err(err(format!(
                        "weight/bias have {}/{} values; [{out_features}, {in_features}] needs {}/{out_features}",
                        weight.len(),
                        bias.len(),
                        in_features * out_features
                    )));
                }
                vec![*out_features]
            }
            FloatLayer::Relu { .. } => shape,
            FloatLayer::MaxPool {
                kernel: [kh, kw],
                stride: [sh, sw],
                ..
            }
            | FloatLayer::AvgPool {
                kernel: [kh, kw],
                stride: [sh, sw],
                ..
            } => {
                let [c, h, w] = map(&shape)?;
                if *kh == 0 || *kw == 0 || *sh == 0 || *sw == 0 {
                    return Err(err("kernel and stride must be at least 1".into()));
                }
                if kh > &h || kw > &w {
                    return Err(err(format!(
                        "window {kh}×{kw} larger than the input {h}×{w}"
                    )));
                }
                vec![c, (h - kh) / sh + 1, (w - kw) / sw + 1]
            }
            FloatLayer::GlobalAvgPool { .. } => {
                let [c, _, _] = map(&shape)?;
                vec![c, 1, 1]
            }
            FloatLayer::Flatten { .. } => vec![shape.iter().product()],
        };
        out.push(shape.clone());
    }
    Ok(out)
}

/// A checked model, ready for repeated runs.
#[derive(Debug, Clone)]
pub struct Forward<'m> {
    model: &'m FloatModel,
    shapes: Vec<Vec<usize>>,
}

impl<'m> Forward<'m> {
    /// Checks the model ([`shapes`]).
    pub fn new(model: &'m FloatModel) -> Result<Self, ForwardError> {
        Ok(Forward {
            model,
            shapes: shapes(model)?,
        })
    }

    /// Elements of one input (`C·H·W`).
    pub fn input_len(&self) -> usize {
        self.model.input_shape.iter().product()
    }

    /// Elements of the output (the last layer's tensor).
    pub fn output_len(&self) -> usize {
        self.shapes.last().map(|s| s.iter().product()).unwrap_or(0)
    }

    /// Shape after each layer (index 0 is the input).
    pub fn shapes(&self) -> &[Vec<usize>] {
        &self.shapes
    }

    fn check_input(&self, input: &[f32]) -> Result<(), ForwardError> {
        if input.len() != self.input_len() {
            return Err(ForwardError::Input {
                message: format!(
                    "has {} values; the model's input {:?} needs {}",
                    input.len(),
                    self.model.input_shape,
                    self.input_len()
                ),
            });
        }
        Ok(())
    }

    /// Runs one (already normalized) input, `C·H·W` values, and returns the output.
    pub fn run(&self, input: &[f32]) -> Result<Vec<f32>, ForwardError> {
        self.check_input(input)?;
        let mut scratch = Scratch::default();
        Ok(self.run_checked(input, &mut scratch, None))
    }

    /// Runs one input and returns the tensor after every layer (the last is the output).
    pub fn run_layers(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, ForwardError> {
        self.check_input(input)?;
        let mut scratch = Scratch::default();
        let mut all = Vec::with_capacity(self.model.layers.len());
        self.run_checked(input, &mut scratch, Some(&mut all));
        Ok(all)
    }

    /// Runs a batch: `inputs` holds `n` inputs one after another; returns the `n` outputs one
    /// after another.
    pub fn run_batch(&self, inputs: &[f32]) -> Result<Vec<f32>, ForwardError> {
        let n = self.input_len();
        if n == 0 || !inputs.len().is_multiple_of(n) {
            return Err(ForwardError::Input {
                message: format!(
                    "batch has {} values, not a multiple of the input size {n}",
                    inputs.len()
                ),
            });
        }
        let mut scratch = Scratch::default();
        let mut out = Vec::with_capacity(inputs.len() / n * self.output_len());
        for x in inputs.chunks_exact(n) {
            out.extend(self.run_checked(x, &mut scratch, None));
        }
        Ok(out)
    }

    fn run_checked(
        &self,
        input: &[f32],
        s: &mut Scratch,
        mut all: Option<&mut Vec<Vec<f32>>>,
    ) -> Vec<f32> {
        let mut cur = input.to_vec();
        let mut next = Vec::new();
        for (i, layer) in self.model.layers.iter().enumerate() {
            let shape = &self.shapes[i];
            match layer {
                FloatLayer::Conv {
                    out_channels,
                    kernel,
                    stride,
                    pad,
                    weight,
                    bias,
                    ..
                } => {
                    let conv = ConvGeom {
                        in_shape: [shape[0], shape[1], shape[2]],
                        out_channels: *out_channels,
                        kernel: *kernel,
                        stride: *stride,
                        pad: *pad,
                    };
                    conv2d(&conv, &cur, weight, bias, &mut next, s);
                }
                FloatLayer::Dense {
                    in_features,
                    weight,
                    bias,
                    ..
                } => {
                    next.clear();
                    next.extend(
                        weight
                            .chunks_exact(*in_features)
                            .zip(bias)
                            .map(|(row, b)| b + dot(row, &cur)),
                    );
                }
                FloatLayer::Relu { .. } => {
                    next.clear();
                    next.extend(cur.iter().map(|&v| if v > 0.0 { v } else { 0.0 }));
                }
                FloatLayer::MaxPool { kernel, stride, .. } => pool(
                    &cur,
                    [shape[0], shape[1], shape[2]],
                    *kernel,
                    *stride,
                    true,
                    &mut next,
                ),
                FloatLayer::AvgPool { kernel, stride, .. } => pool(
                    &cur,
                    [shape[0], shape[1], shape[2]],
                    *kernel,
                    *stride,
                    false,
                    &mut next,
                ),
                FloatLayer::GlobalAvgPool { .. } => {
                    let (h, w) = (shape[1], shape[2]);
                    pool(&cur, [shape[0], h, w], [h, w], [h, w], false, &mut next)
                }
                FloatLayer::Flatten { .. } => {
                    next.clear();
                    next.extend_from_slice(&cur);
                }
            }
            std::mem::swap(&mut cur, &mut next);
            if let Some(all) = all.as_deref_mut() {
                all.push(cur.clone());
            }
        }
        cur
    }
}

/// Runs one (already normalized) input through `model`.
pub fn forward(model: &FloatModel, input: &[f32]) -> Result<Vec<f32>, ForwardError> {
    Forward::new(model)?.run(input)
}

/// Runs `n` inputs stored one after another; returns the `n` outputs one after another.
pub fn forward_batch(model: &FloatModel, inputs: &[f32]) -> Result<Vec<f32>, ForwardError> {
    Forward::new(model)?.run_batch(inputs)
}

/// Index of the largest value (lowest index on ties; NaN never wins).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Result of [`accuracy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accuracy {
    /// Images whose argmax equals the label.
    pub correct: usize,
    /// Images evaluated.
    pub total: usize,
}

impl Accuracy {
    /// `correct / total` (0 for an empty set).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// Top-1 accuracy of `model` on `data`, normalizing the raw pixels with
/// `model.normalization`. Uses every available core.
pub fn accuracy(model: &FloatModel, data: &Dataset) -> Result<Accuracy, ForwardError> {
    let preds = predict(model, data)?;
    let correct = preds
        .iter()
        .zip(&data.labels)
        .filter(|(p, &l)| **p == usize::from(l))
        .count();
    Ok(Accuracy {
        correct,
        total: data.len(),
    })
}

/// The argmax of `model` on every image of `data` (normalized with `model.normalization`),
/// computed on every available core.
pub fn predict(model: &FloatModel, data: &Dataset) -> Result<Vec<usize>, ForwardError> {
    let f = Forward::new(model)?;
    if data.image_shape() != model.input_shape {
        return Err(ForwardError::Input {
            message: format!(
                "dataset images are {:?} (C, H, W) but the model expects {:?}",
                data.image_shape(),
                model.input_shape
            ),
        });
    }
    crate::data::check_normalization(&model.normalization, model.input_shape[0]).map_err(|e| {
        ForwardError::Input {
            message: e.to_string(),
        }
    })?;
    let n = data.len();
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, 16)
        .min(n.max(1));
    let per = n.div_ceil(threads);
    let mut preds = vec![0usize; n];
    let f = &f;
    std::thread::scope(|scope| {
        for (t, chunk) in preds.chunks_mut(per.max(1)).enumerate() {
            scope.spawn(move || {
                let mut s = Scratch::default();
                let mut x = Vec::new();
                for (j, p) in chunk.iter_mut().enumerate() {
                    let i = t * per + j;
                    model
                        .normalization
                        .apply_into(data.image(i), data.channels, &mut x);
                    *p = argmax(&f.run_checked(&x, &mut s, None));
                }
            });
        }
    });
    Ok(preds)
}

#[derive(Default)]
struct Scratch {
    padded: Vec<f32>,
    col: Vec<f32>,
}

struct ConvGeom {
    in_shape: [usize; 3],
    out_channels: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
}

fn conv2d(
    g: &ConvGeom,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    out: &mut Vec<f32>,
    s: &mut Scratch,
) {
    let [c, h, w] = g.in_shape;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [pt, pl, pb, pr] = g.pad;
    let (hp, wp) = (h + pt + pb, w + pl + pr);
    let (oh, ow) = ((hp - kh) / sh + 1, (wp - kw) / sw + 1);
    // Zero-padded copy of the input (skipped when there is no padding).
    let inp: &[f32] = if pt + pl + pb + pr == 0 {
        input
    } else {
        s.padded.clear();
        s.padded.resize(c * hp * wp, 0.0);
        for ci in 0..c {
            for y in 0..h {
                let src = &input[(ci * h + y) * w..(ci * h + y + 1) * w];
                let d0 = (ci * hp + y + pt) * wp + pl;
                s.padded[d0..d0 + w].copy_from_slice(src);
            }
        }
        &s.padded
    };
    // im2col: row k = (ci, ky, kx) of `col` holds that tap for every output position, padded
    // to a multiple of 8 positions; then out = W · col + bias with a 4×8 register block.
    let k = c * kh * kw;
    let p = oh * ow;
    let pp = p.div_ceil(8) * 8;
    s.col.clear();
    s.col.resize(k * pp, 0.0);
    for ci in 0..c {
        let plane = &inp[ci * hp * wp..(ci + 1) * hp * wp];
        for ky in 0..kh {
            for kx in 0..kw {
                let row = &mut s.col[((ci * kh + ky) * kw + kx) * pp..][..p];
                for y in 0..oh {
                    let src = &plane[(y * sh + ky) * wp + kx..];
                    let dst = &mut row[y * ow..(y + 1) * ow];
                    if sw == 1 {
                        dst.copy_from_slice(&src[..ow]);
                    } else {
                        for (x, d) in dst.iter_mut().enumerate() {
                            *d = src[x * sw];
                        }
                    }
                }
            }
        }
    }
    out.clear();
    out.resize(g.out_channels * p, 0.0);
    gemm_bias(weight, g.out_channels, k, &s.col, pp, bias, p, out);
}

/// `out[o][q] = bias[o] + Σ_k w[o][k] · col[k][q]` for `q < p`; `col` rows are `pp` long
/// (`pp` a multiple of 8).
#[allow(clippy::too_many_arguments)]
fn gemm_bias(
    w: &[f32],
    o: usize,
    k: usize,
    col: &[f32],
    pp: usize,
    bias: &[f32],
    p: usize,
    out: &mut [f32],
) {
    let mut oi = 0;
    while oi < o {
        let rows = (o - oi).min(4);
        for pb in (0..pp).step_by(8) {
            let mut acc = [[0.0f32; 8]; 4];
            if rows == 4 {
                let (w0, w1, w2, w3) = (
                    &w[oi * k..(oi + 1) * k],
                    &w[(oi + 1) * k..(oi + 2) * k],
                    &w[(oi + 2) * k..(oi + 3) * k],
                    &w[(oi + 3) * k..(oi + 4) * k],
                );
                for kk in 0..k {
                    let cv = &col[kk * pp + pb..kk * pp + pb + 8];
                    let (x0, x1, x2, x3) = (w0[kk], w1[kk], w2[kk], w3[kk]);
                    for j in 0..8 {
                        acc[0][j] += x0 * cv[j];
                        acc[1][j] += x1 * cv[j];
                        acc[2][j] += x2 * cv[j];
                        acc[3][j] += x3 * cv[j];
                    }
                }
            } else {
                for (r, a) in acc.iter_mut().enumerate().take(rows) {
                    let wr = &w[(oi + r) * k..(oi + r + 1) * k];
                    for (kk, &x) in wr.iter().enumerate() {
                        let cv = &col[kk * pp + pb..kk * pp + pb + 8];
                        for j in 0..8 {
                            a[j] += x * cv[j];
                        }
                    }
                }
            }
            let n = (p - pb.min(p)).min(8);
            for (r, a) in acc.iter().enumerate().take(rows) {
                let dst = &mut out[(oi + r) * p + pb..(oi + r) * p + pb + n];
                for (d, &v) in dst.iter_mut().zip(a) {
                    *d = v + bias[oi + r];
                }
            }
        }
        oi += rows;
    }
}

/// Dot product with 8 independent partial sums (vectorizes).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

fn pool(
    input: &[f32],
    [c, h, w]: [usize; 3],
    [kh, kw]: [usize; 2],
    [sh, sw]: [usize; 2],
    max: bool,
    out: &mut Vec<f32>,
) {
    let (oh, ow) = ((h - kh) / sh + 1, (w - kw) / sw + 1);
    let inv = 1.0 / (kh * kw) as f32;
    out.clear();
    out.reserve(c * oh * ow);
    for ch in 0..c {
        let plane = &input[ch * h * w..(ch + 1) * h * w];
        for y in 0..oh {
            for x in 0..ow {
                let mut m = f32::NEG_INFINITY;
                let mut sum = 0.0f32;
                for ky in 0..kh {
                    let row = &plane[(y * sh + ky) * w + x * sw..(y * sh + ky) * w + x * sw + kw];
                    for &v in row {
                        m = if v > m { v } else { m };
                        sum += v;
                    }
                }
                out.push(if max { m } else { sum * inv });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Normalization;

    fn naive_conv(x: &[f32], [c, h, w]: [usize; 3], l: &FloatLayer) -> Vec<f32> {
        let FloatLayer::Conv {
            out_channels,
            kernel: [kh, kw],
            stride: [sh, sw],
            pad: [pt, pl, pb, pr],
            weight,
            bias,
            ..
        } = l
        else {
            unreachable!()
        };
        let oh = (h + pt + pb - kh) / sh + 1;
        let ow = (w + pl + pr - kw) / sw + 1;
        let mut out = vec![];
        for o in 0..*out_channels {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut acc = bias[o] as f64;
                    for ci in 0..c {
                        for ky in 0..*kh {
                            for kx in 0..*kw {
                                let iy = (y * sh + ky) as isize - *pt as isize;
                                let ix = (xx * sw + kx) as isize - *pl as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += (weight[((o * c + ci) * kh + ky) * kw + kx]
                                        * x[(ci * h + iy as usize) * w + ix as usize])
                                        as f64;
                                }
                            }
                        }
                    }
                    out.push(acc as f32);
                }
            }
        }
        let _ = (pb, pr);
        out
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn conv_matches_naive_for_strides_and_pads() {
        let mut seed = 7;
        for &(stride, pad, k) in &[
            ([1, 1], [1, 1, 1, 1], [3, 3]),
            ([2, 1], [0, 2, 1, 0], [3, 2]),
            ([2, 2], [1, 0, 0, 1], [2, 3]),
            ([1, 1], [0, 0, 0, 0], [1, 1]),
        ] {
            let (c, h, w, o) = (3, 7, 6, 4);
            let weight: Vec<f32> = (0..o * c * k[0] * k[1]).map(|_| lcg(&mut seed)).collect();
            let bias: Vec<f32> = (0..o).map(|_| lcg(&mut seed)).collect();
            let x: Vec<f32> = (0..c * h * w).map(|_| lcg(&mut seed)).collect();
            let layer = FloatLayer::Conv {
                name: "c".into(),
                in_channels: c,
                out_channels: o,
                kernel: k,
                stride,
                pad,
                weight,
                bias,
            };
            let want = naive_conv(&x, [c, h, w], &layer);
            let m = FloatModel {
                name: "t".into(),
                input_shape: [c, h, w],
                normalization: Normalization::default(),
                layers: vec![layer],
            };
            let got = forward(&m, &x).unwrap();
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{a} vs {b} ({stride:?} {pad:?} {k:?})"
                );
            }
        }
    }

    #[test]
    fn pools_dense_relu_flatten() {
        let m = FloatModel {
            name: "t".into(),
            input_shape: [1, 4, 4],
            normalization: Normalization::default(),
            layers: vec![
                FloatLayer::MaxPool {
                    name: "mp".into(),
                    kernel: [2, 2],
                    stride: [2, 2],
                },
                FloatLayer::Relu { name: "r".into() },
                FloatLayer::Flatten { name: "f".into() },
                FloatLayer::Dense {
                    name: "d".into(),
                    in_features: 4,
                    out_features: 2,
                    weight: vec![1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5],
                    bias: vec![0.0, 1.0],
                },
            ],
        };
        let x: Vec<f32> = (0..16).map(|i| i as f32 - 8.0).collect();
        // max pool: [-3, -1, 5, 7] -> relu [0, 0, 5, 7]
        let all = Forward::new(&m).unwrap().run_layers(&x).unwrap();
        assert_eq!(all[0], vec![-3.0, -1.0, 5.0, 7.0]);
        assert_eq!(all[3], vec![0.0, 7.0]);
        let mut m2 = m.clone();
        m2.layers[0] = FloatLayer::AvgPool {
            name: "ap".into(),
            kernel: [2, 2],
            stride: [2, 2],
        };
        assert_eq!(
            Forward::new(&m2).unwrap().run_layers(&x).unwrap()[0],
            vec![-5.5, -3.5, 2.5, 4.5]
        );
        m2.layers[0] = FloatLayer::GlobalAvgPool { name: "g".into() };
        let e = forward(&m2, &x).unwrap_err().to_string();
        assert!(
            e.contains("layer 3 (d)") && e.contains("in_features is 4"),
            "{e}"
        );
        let e = forward(&m, &x[1..]).unwrap_err().to_string();
        assert!(e.contains("15 values"), "{e}");
        let batch: Vec<f32> = x.iter().chain(x.iter()).copied().collect();
        assert_eq!(forward_batch(&m, &batch).unwrap(), vec![0.0, 7.0, 0.0, 7.0]);
    }

    #[test]
    fn dot_handles_remainders() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b = vec![2.0f32; 19];
        assert_eq!(dot(&a, &b), 342.0);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, f32::NAN]), 1);
    }
}
