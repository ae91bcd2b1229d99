//! `Conv`: 2-D convolution with bias, any kernel, stride and asymmetric zero padding;
//! `group = 1` (every output channel sees every input channel) or depthwise
//! (`group = in_channels = out_channels`: output channel `o` sees input channel `o` only).
//!
//! The float forward: group 1 is an im2col matrix times the weights with a 4×8 register block
//! (the compiler vectorizes it); depthwise is a direct loop.

use serde::{Deserialize, Serialize};

use super::{chw, FloatOperator, Scratch};

fn one() -> usize {
    1
}

/// A convolution layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pad: [usize; 4],
    /// 1, or `in_channels` (= `out_channels`) for a depthwise convolution.
    #[serde(default = "one")]
    pub group: usize,
    /// `[out, in/group, kh, kw]` row-major.
    pub weight: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

impl Conv {
    /// A group-1 convolution with zero bias.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 4],
        weight: Vec<f32>,
    ) -> Self {
        Conv {
            in_channels,
            out_channels,
            kernel,
            stride,
            pad,
            group: 1,
            weight,
            bias: vec![0.0; out_channels],
        }
    }

    /// Whether this is a depthwise convolution (`group > 1`).
    pub fn depthwise(&self) -> bool {
        self.group > 1
    }

    /// Input channels each output channel sees (`in / group`).
    pub fn group_channels(&self) -> usize {
        self.in_channels / self.group.max(1)
    }

    /// Weights per output channel: `(in / group)·kh·kw`.
    pub fn row_len(&self) -> usize {
        self.group_channels() * self.kernel[0] * self.kernel[1]
    }

    /// Output `(height, width)` for an `h × w` input.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl, pb, pr] = self.pad;
        (
            (h + pt + pb - kh) / sh.max(1) + 1,
            (w + pl + pr - kw) / sw.max(1) + 1,
        )
    }
}

impl FloatOperator for Conv {
    fn op_name(&self) -> &'static str {
        "Conv"
    }

    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        let [c, h, w] = chw(inputs[0], "convolution")?;
        let o = self.out_channels;
        if self.in_channels != c {
            return Err(format!(
                "in_channels is {} but the incoming tensor has {c} channels",
                self.in_channels
            ));
        }
        if self.group != 1 && !(self.group == c && o == c) {
            return Err(format!(
                "group={} is not supported: only 1 or depthwise (group = input channels = output channels); here {c} input and {o} output channels",
                self.group
            ));
        }
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || o == 0 {
            return Err("kernel, stride and out_channels must be at least 1".into());
        }
        let need = o * self.row_len();
        if self.weight.len() != need {
            return Err(format!(
                "weight has {} values; [{o}, {}, {kh}, {kw}] needs {need}",
                self.weight.len(),
                self.group_channels()
            ));
        }
        if self.bias.len() != o {
            return Err(format!("bias has {} values; expected {o}", self.bias.len()));
        }
        let [pt, pl, pb, pr] = self.pad;
        let (hp, wp) = (h + pt + pb, w + pl + pr);
        if hp < kh || wp < kw {
            return Err(format!(
                "kernel {kh}×{kw} larger than the padded input {hp}×{wp}"
            ));
        }
        let (oh, ow) = self.out_hw(h, w);
        Ok(vec![o, oh, ow])
    }

    fn forward(&self, inputs: &[&[f32]], shapes: &[&[usize]], out: &mut Vec<f32>, s: &mut Scratch) {
        let shape = [shapes[0][0], shapes[0][1], shapes[0][2]];
        if self.depthwise() {
            depthwise(self, inputs[0], shape, out);
        } else {
            conv2d(self, inputs[0], shape, out, s);
        }
    }
}

fn depthwise(g: &Conv, input: &[f32], [c, h, w]: [usize; 3], out: &mut Vec<f32>) {
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let [pt, pl, _, _] = g.pad;
    let (oh, ow) = g.out_hw(h, w);
    out.clear();
    out.reserve(c * oh * ow);
    for ch in 0..c {
        let plane = &input[ch * h * w..(ch + 1) * h * w];
        let wk = &g.weight[ch * kh * kw..(ch + 1) * kh * kw];
        for y in 0..oh {
            for x in 0..ow {
                let mut acc = g.bias[ch];
                for ky in 0..kh {
                    let Some(iy) = (y * sh + ky).checked_sub(pt).filter(|&v| v < h) else {
                        continue;
                    };
                    for kx in 0..kw {
                        if let Some(ix) = (x * sw + kx).checked_sub(pl).filter(|&v| v < w) {
                            acc += wk[ky * kw + kx] * plane[iy * w + ix];
                        }
                    }
                }
                out.push(acc);
            }
        }
    }
}

fn conv2d(g: &Conv, input: &[f32], [c, h, w]: [usize; 3], out: &mut Vec<f32>, s: &mut Scratch) {
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
    gemm_bias(&g.weight, g.out_channels, k, &s.col, pp, &g.bias, p, out);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], [c, h, w]: [usize; 3], l: &Conv) -> Vec<f32> {
        let [kh, kw] = l.kernel;
        let [sh, sw] = l.stride;
        let [pt, pl, _, _] = l.pad;
        let (oh, ow) = l.out_hw(h, w);
        let gc = l.group_channels();
        let mut out = vec![];
        for o in 0..l.out_channels {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut acc = l.bias[o] as f64;
                    for gi in 0..gc {
                        let ci = if l.depthwise() { o } else { gi };
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (y * sh + ky) as isize - pt as isize;
                                let ix = (xx * sw + kx) as isize - pl as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += (l.weight[((o * gc + gi) * kh + ky) * kw + kx]
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
        let _ = c;
        out
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn conv_matches_naive_for_strides_pads_and_depthwise() {
        let mut seed = 7;
        for &(stride, pad, k, group) in &[
            ([1, 1], [1, 1, 1, 1], [3, 3], 1),
            ([2, 1], [0, 2, 1, 0], [3, 2], 1),
            ([2, 2], [1, 0, 0, 1], [2, 3], 1),
            ([1, 1], [0, 0, 0, 0], [1, 1], 1),
            ([1, 1], [1, 1, 1, 1], [3, 3], 3),
            ([2, 2], [1, 1, 1, 1], [3, 3], 3),
        ] {
            let (c, h, w) = (3, 7, 6);
            let o = if group == 1 { 4 } else { 3 };
            let weight: Vec<f32> = (0..o * (c / group) * k[0] * k[1])
                .map(|_| lcg(&mut seed))
                .collect();
            let mut l = Conv::new(c, o, k, stride, pad, weight);
            l.group = group;
            l.bias = (0..o).map(|_| lcg(&mut seed)).collect();
            let x: Vec<f32> = (0..c * h * w).map(|_| lcg(&mut seed)).collect();
            let want = naive(&x, [c, h, w], &l);
            let shape = l.infer(&[&[c, h, w]]).unwrap();
            let mut got = Vec::new();
            l.forward(&[&x], &[&[c, h, w]], &mut got, &mut Scratch::default());
            assert_eq!(got.len(), shape.iter().product::<usize>());
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{a} vs {b} ({stride:?} {pad:?} {k:?} g{group})"
                );
            }
        }
    }

    #[test]
    fn grouped_but_not_depthwise_is_refused() {
        let mut l = Conv::new(2, 4, [3, 3], [1, 1], [1; 4], vec![0.0; 4 * 9]);
        l.group = 2;
        let e = l.infer(&[&[2, 4, 4]]).unwrap_err();
        assert!(e.contains("group=2") && e.contains("depthwise"), "{e}");
    }
}
