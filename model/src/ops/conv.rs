//! `conv`: 2-D convolution with fused bias, requantization and optional ReLU; `group = 1`
//! (dense) or `group = in_channels = out_channels` (depthwise).

use serde::{Deserialize, Serialize};

use super::api::{check_acc, check_bias, check_output, map_tensor, Finish, Operator, Output};
use crate::tensor::{OpError, Tensor, TensorInfo};
use crate::weights::WeightTensor;

fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

/// A convolution layer with fused bias, requantization and optional ReLU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]` padding.
    pub pad: [usize; 4],
    /// Integer value of padded input positions, in the input's format (0 unless a
    /// normalization offset was folded into the layer).
    #[serde(default)]
    pub pad_value: i64,
    /// Channel groups: 1, or `in_channels` for a depthwise convolution (then
    /// `out_channels = in_channels` and output channel `o` sees input channel `o` only).
    /// Absent in the file: 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub group: usize,
    /// The weight codes, shape `[out, in / group, kh, kw]`.
    pub weights: WeightTensor,
    /// Integer bias per output channel at that channel's accumulator scale.
    pub bias: Vec<i64>,
    /// Clamp negative results to zero (requires an unsigned output format).
    pub relu: bool,
    /// What the layer emits.
    pub output: Output,
}

impl Conv {
    /// Whether this is a depthwise convolution (`group = in_channels > 1`, or a
    /// single-channel map with `group = 1` counts as dense).
    pub fn depthwise(&self) -> bool {
        self.group > 1
    }

    /// Input channels each output channel sees (`in / group`).
    pub fn group_channels(&self) -> usize {
        self.in_channels / self.group.max(1)
    }

    /// Codes per output channel: `(in / group) · kh · kw`.
    pub fn row_len(&self) -> usize {
        self.group_channels() * self.kernel[0] * self.kernel[1]
    }

    /// Output height and width for an `h × w` input.
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl, pb, pr] = self.pad;
        ((h + pt + pb - kh) / sh + 1, (w + pl + pr - kw) / sw + 1)
    }
}

/// An accumulator type of the reference convolution: `i64`, or `i32` when a layer's
/// accumulator bound allows (twice as many lanes per vector instruction). Both are exact.
trait Acc:
    Copy
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::Shl<u32, Output = Self>
    + std::ops::Mul<Output = Self>
    + Into<i64>
    + TryFrom<i64>
{
}

impl Acc for i32 {}
impl Acc for i64 {}

/// `out[i] += src[i·step] · wt` for every `i` of `out`: a weight `±2^k` (every INQ weight) is
/// a shift and an add or subtract, as [`crate::numerics::product`] computes it, chosen once
/// per call so that the loop vectorizes; any other weight (uniform integers) a multiply-add.
/// `wt` must be representable in `T` (the caller's bound check guarantees it).
fn add_products<T: Acc>(out: &mut [T], src: &[T], step: usize, wt: i64) {
    if step == 1 {
        add_terms(out, src.iter().copied(), wt);
    } else {
        add_terms(out, src.iter().step_by(step).copied(), wt);
    }
}

fn add_terms<T: Acc>(out: &mut [T], src: impl Iterator<Item = T>, wt: i64) {
    let terms = out.iter_mut().zip(src);
    let k = wt.unsigned_abs().trailing_zeros();
    if wt.unsigned_abs().is_power_of_two() && k < 63 {
        if wt > 0 {
            terms.for_each(|(a, v)| *a += v << k);
        } else {
            terms.for_each(|(a, v)| *a -= v << k);
        }
    } else if let Ok(m) = T::try_from(wt) {
        terms.for_each(|(a, v)| *a += v * m);
    }
}

impl Conv {
    /// The reference arithmetic with accumulators of type `T` (see [`Operator::eval`]; the
    /// caller checked that every partial sum fits `T`).
    fn eval_as<T: Acc + Default>(&self, t: &Tensor, fin: &[Finish], dec: &[i64]) -> Tensor {
        let cast = |v: i64| T::try_from(v).unwrap_or_default();
        let (h, w) = (t.shape[1], t.shape[2]);
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl, pb, pr] = self.pad;
        let (oh, ow) = self.out_hw(h, w);
        let gc = self.group_channels();
        let row = self.row_len();
        // The input with its padding written out (`pad_value`), so that every tap reads a plain
        // rectangle of it.
        let (hp, wp) = (h + pt + pb, w + pl + pr);
        let mut padded = vec![cast(self.pad_value); t.shape[0] * hp * wp];
        for (c, plane) in t.data.chunks_exact((h * w).max(1)).enumerate() {
            for (y, line) in plane.chunks_exact(w.max(1)).enumerate() {
                let at = (c * hp + y + pt) * wp + pl;
                for (d, &v) in padded[at..at + w].iter_mut().zip(line) {
                    *d = cast(v);
                }
            }
        }
        // Loop order: for each output channel, one weight at a time over the whole output
        // plane, the weight's case chosen once. At stride 1 the accumulator rows are `wp` long
        // (columns `ow..` are scratch), so a tap is one run over the padded plane; otherwise a
        // tap is one strided run per output row. Integer sums do not depend on the order of
        // their terms, so this is the dot product of the definition
        // (bias + Σ product(x, w)) in any order.
        let whole = sh == 1 && sw == 1;
        let arow = if whole { wp } else { ow };
        let mut data = vec![0i64; self.out_channels * oh * ow];
        let mut acc = vec![cast(0); oh * arow];
        for o in 0..self.out_channels {
            let wrow = &dec[o * row..(o + 1) * row];
            // the input channels output channel `o` sees
            let c0 = if self.depthwise() { o } else { 0 };
            acc.fill(cast(self.bias[o]));
            for gi in 0..gc {
                let plane = &padded[(c0 + gi) * hp * wp..(c0 + gi + 1) * hp * wp];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let wt = wrow[(gi * kh + ky) * kw + kx];
                        if wt == 0 || oh == 0 {
                            continue;
                        }
                        if whole {
                            let (start, len) = (ky * wp + kx, (oh - 1) * wp + ow);
                            add_products(&mut acc[..len], &plane[start..start + len], 1, wt);
                        } else {
                            for y in 0..oh {
                                let start = (y * sh + ky) * wp + kx;
                                let out = &mut acc[y * arow..y * arow + ow];
                                add_products(out, &plane[start..], sw, wt);
                            }
                        }
                    }
                }
            }
            let out = &mut data[o * oh * ow..(o + 1) * oh * ow];
            for (d, a) in out.chunks_exact_mut(ow.max(1)).zip(acc.chunks(arow.max(1))) {
                for (d, &a) in d.iter_mut().zip(a) {
                    *d = fin[o].apply(a.into());
                }
            }
        }
        map_tensor(self.out_channels, oh, ow, data)
    }
}

impl Operator for Conv {
    fn op_name(&self) -> &'static str {
        "conv"
    }

    fn infer(&self, inputs: &[&TensorInfo]) -> Result<TensorInfo, OpError> {
        let x = inputs[0];
        let in_fmt = x.act()?;
        let [c, h, w] = x.chw()?;
        if self.in_channels != c {
            return Err(OpError::new(
                "in_channels",
                format!(
                    "is {} but the incoming tensor has {c} channels",
                    self.in_channels
                ),
            ));
        }
        if self.out_channels == 0 {
            return Err(OpError::new("out_channels", "must be at least 1"));
        }
        if self.group != 1 && !(self.group == c && self.out_channels == c) {
            return Err(OpError::new(
                "group",
                format!(
                    "is {}; only 1 or a depthwise convolution (group = in_channels = out_channels = {c}) is supported",
                    self.group
                ),
            ));
        }
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        if kh == 0 || kw == 0 {
            return Err(OpError::new("kernel", "must be at least 1×1"));
        }
        if sh == 0 || sw == 0 {
            return Err(OpError::new("stride", "must be at least 1"));
        }
        let [pt, pl, pb, pr] = self.pad;
        if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
            return Err(OpError::new(
                "pad",
                "padding must be smaller than the kernel",
            ));
        }
        let padded = |x: usize, a: usize, b: usize| x.checked_add(a)?.checked_add(b);
        let (Some(hp), Some(wp)) = (padded(h, pt, pb), padded(w, pl, pr)) else {
            return Err(OpError::new("pad", "the padded input size overflows"));
        };
        if hp < kh || wp < kw {
            return Err(OpError::new(
                "kernel",
                format!("kernel {kh}×{kw} larger than the padded input {hp}×{wp}"),
            ));
        }
        if self.pad_value < in_fmt.min() || self.pad_value > in_fmt.max() {
            return Err(OpError::new(
                "pad_value",
                format!("{} outside the input format's range", self.pad_value),
            ));
        }
        let (row, codes) = match self
            .group_channels()
            .checked_mul(kh)
            .and_then(|r| r.checked_mul(kw))
            .and_then(|r| Some((r, r.checked_mul(self.out_channels)?)))
        {
            Some(rc) => rc,
            None => {
                return Err(OpError::new(
                    "weights",
                    format!(
                        "the weight shape [{}, {}, {kh}, {kw}] overflows",
                        self.out_channels,
                        self.group_channels()
                    ),
                ))
            }
        };
        self.weights
            .check(self.out_channels, codes)
            .map_err(|e| e.under("weights"))?;
        check_bias(&self.bias, self.out_channels)?;
        let of = check_output(&self.output, self.relu)?;
        let x_max = in_fmt.max_abs().max(self.pad_value.abs());
        check_acc(
            &self.weights,
            &self.bias,
            self.out_channels,
            row,
            x_max,
            in_fmt,
            of,
        )?;
        let (oh, ow) = self.out_hw(h, w);
        Ok(TensorInfo {
            shape: vec![self.out_channels, oh, ow],
            format: of,
        })
    }

    fn eval(&self, inputs: &[&Tensor], infos: &[&TensorInfo], dec: &[i64]) -> Tensor {
        let t = inputs[0];
        let in_fmt = infos[0].format.unwrap_or(crate::numerics::ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        });
        let fin: Vec<Finish> = (0..self.out_channels)
            .map(|o| {
                Finish::of(
                    o,
                    &self.weights,
                    self.out_channels,
                    self.relu,
                    &self.output,
                    in_fmt,
                )
            })
            .collect();
        // Every partial sum of channel `o` is within |bias_o| + max|x| · Σ|w_o| (padding
        // included in max|x|); when that fits 32 bits for every channel, so do all products
        // and sums.
        let x_max = i128::from(in_fmt.max_abs().max(self.pad_value.abs()));
        let row = self.row_len();
        let fits_i32 = (0..self.out_channels).all(|o| {
            let w_sum: i128 = dec[o * row..(o + 1) * row]
                .iter()
                .map(|&w| i128::from(w).abs())
                .sum();
            i128::from(self.bias[o]).abs() + x_max * w_sum <= i128::from(i32::MAX)
        });
        if fits_i32 {
            self.eval_as::<i32>(t, &fin, dec)
        } else {
            self.eval_as::<i64>(t, &fin, dec)
        }
    }

    fn weights(&self) -> Option<&WeightTensor> {
        Some(&self.weights)
    }

    fn weights_mut(&mut self) -> Option<&mut WeightTensor> {
        Some(&mut self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::{self, Weight};

    #[test]
    fn add_products_is_the_sum_of_products() {
        let src: Vec<i64> = (-7..13).collect();
        for wt in [
            Weight::Zero,
            Weight::Int(-5),
            Weight::Int(4),
            Weight::Pow2 {
                negative: false,
                index: 3,
            },
            Weight::Pow2 {
                negative: true,
                index: 2,
            },
        ] {
            for step in 1..4 {
                let mut out = vec![100i64; 6];
                add_products(&mut out, &src, step, numerics::weight_int(wt));
                let mut out32 = vec![100i32; 6];
                let src32: Vec<i32> = src.iter().map(|&v| v as i32).collect();
                add_products(&mut out32, &src32, step, numerics::weight_int(wt));
                assert_eq!(out32.iter().map(|&v| i64::from(v)).collect::<Vec<_>>(), out);
                let want: Vec<i64> = (0..6)
                    .map(|i| 100 + numerics::product(src[i * step], wt))
                    .collect();
                assert_eq!(out, want, "{wt:?} step {step}");
            }
        }
    }

    /// The reference convolution, with 32- and 64-bit accumulators, against the definition
    /// (bias + Σ product(x, w) over the window, padding reading `pad_value`), for strides,
    /// asymmetric pads and depthwise layers.
    #[test]
    fn eval_matches_the_definition_in_both_widths() {
        use crate::numerics::ActFormat;
        for (k, st, pad, group) in [
            ([3, 3], [1, 1], [1, 1, 1, 1], 1),
            ([3, 2], [2, 1], [1, 0, 0, 2], 1),
            ([2, 2], [2, 2], [0, 1, 1, 0], 3),
            ([1, 1], [1, 1], [0; 4], 1),
        ] {
            let (cin, h, w) = (3, 5, 6);
            let cout = if group > 1 { cin } else { 4 };
            let mut conv = Conv {
                in_channels: cin,
                out_channels: cout,
                kernel: k,
                stride: st,
                pad,
                pad_value: 3,
                group,
                weights: WeightTensor {
                    kind: Default::default(),
                    bits: 5,
                    n1: vec![0],
                    codes: Vec::new(),
                },
                bias: (0..cout as i64).map(|o| o * 5 - 7).collect(),
                relu: false,
                output: Output::Logits,
            };
            let row = conv.row_len();
            conv.weights.codes = (0..cout * row)
                .map(|i| {
                    let c = ((i * 7 + 3) % 32) as u8;
                    if conv.weights.decode(c).is_ok() {
                        c
                    } else {
                        0
                    }
                })
                .collect();
            let dec: Vec<i64> = conv
                .weights
                .decode_all()
                .into_iter()
                .map(numerics::weight_int)
                .collect();
            let fmt = ActFormat {
                bits: 8,
                signed: false,
                exp: 0,
            };
            let x = Tensor {
                shape: vec![cin, h, w],
                data: (0..(cin * h * w) as i64).map(|i| (i * 37) % 256).collect(),
            };
            let fin: Vec<Finish> = (0..cout)
                .map(|o| Finish::of(o, &conv.weights, cout, false, &conv.output, fmt))
                .collect();
            let (oh, ow) = conv.out_hw(h, w);
            let mut want = Vec::new();
            for (o, f) in fin.iter().enumerate() {
                let c0 = if group > 1 { o } else { 0 };
                for y in 0..oh {
                    for xx in 0..ow {
                        let mut acc = conv.bias[o];
                        for gi in 0..conv.group_channels() {
                            for ky in 0..k[0] {
                                for kx in 0..k[1] {
                                    let iy = (y * st[0] + ky) as isize - pad[0] as isize;
                                    let ix = (xx * st[1] + kx) as isize - pad[1] as isize;
                                    let v =
                                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize
                                        {
                                            conv.pad_value
                                        } else {
                                            x.data[((c0 + gi) * h + iy as usize) * w + ix as usize]
                                        };
                                    let code =
                                        conv.weights.codes[o * row + (gi * k[0] + ky) * k[1] + kx];
                                    let wt = conv.weights.decode(code).unwrap();
                                    acc += numerics::product(v, wt);
                                }
                            }
                        }
                        want.push(f.apply(acc));
                    }
                }
            }
            let a = conv.eval_as::<i32>(&x, &fin, &dec);
            let b = conv.eval_as::<i64>(&x, &fin, &dec);
            assert_eq!(a.shape, vec![cout, oh, ow]);
            assert_eq!(a.data, want, "i32, {k:?} {st:?} {pad:?} group {group}");
            assert_eq!(b.data, want, "i64, {k:?} {st:?} {pad:?} group {group}");
        }
    }
}
