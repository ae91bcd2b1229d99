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
                fin[o].apply_each(0, a.iter().map(|&a| a.into()), d);
            }
        }
        map_tensor(self.out_channels, oh, ow, data)
    }
}

/// A float type through which [`Conv::eval_gemm`] computes integer sums exactly: every integer
/// of magnitude at most `LIMIT` is representable, so a sum of integer terms whose absolute
/// values add up to at most `LIMIT` is exact in any order of addition and with or without
/// fused multiply-adds (every partial result is such an integer, so no step rounds).
trait ExactFloat: Copy + Default + 'static {
    /// `2^(mantissa bits + 1)`: 2^24 for `f32`, 2^53 for `f64`.
    const LIMIT: i128;
    /// `v` as a float (exact for `|v| ≤ LIMIT`).
    fn from_i64(v: i64) -> Self;
    /// An integral value back (exact for integral values of magnitude ≤ `LIMIT`).
    fn to_i64(self) -> i64;
    /// `1`.
    fn one() -> Self;
    /// Scratch buffers of the calling thread: the padded input and the column matrix.
    fn with_scratch<R>(f: impl FnOnce(&mut Vec<Self>, &mut Vec<Self>) -> R) -> R;
}

thread_local! {
    static SCRATCH_F32: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = Default::default();
    static SCRATCH_F64: std::cell::RefCell<(Vec<f64>, Vec<f64>)> = Default::default();
}

/// `ExactFloat` for a float type, its mantissa limit and its scratch buffers.
macro_rules! exact_float {
    ($t:ty, $limit:expr, $scratch:ident) => {
        impl ExactFloat for $t {
            const LIMIT: i128 = $limit;
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
            fn one() -> Self {
                1.0
            }
            fn with_scratch<R>(f: impl FnOnce(&mut Vec<Self>, &mut Vec<Self>) -> R) -> R {
                $scratch.with(|s| {
                    let (a, b) = &mut *s.borrow_mut();
                    f(a, b)
                })
            }
        }
    };
}

exact_float!(f32, 1 << 24, SCRATCH_F32);
exact_float!(f64, 1 << 53, SCRATCH_F64);

impl Conv {
    /// The reference arithmetic of a `group = 1` convolution as one float matrix product
    /// (`[out, C·kh·kw] × [C·kh·kw, OH·OW]`, the input's column matrix with `pad_value` in
    /// the padding), the bias added to the integral result in `i64`.
    ///
    /// Exact, hence equal to [`Conv::eval_as`], when `max|x| · Σ_taps |w_o| ≤ F::LIMIT` for
    /// every output channel `o` (padding included in `max|x|`; the caller checks it): every
    /// input value, weight, product and partial sum of the product is then an integer of
    /// magnitude at most `F::LIMIT` (a product is at most `max|x| · |w|`, a partial sum at
    /// most the sum of its terms' magnitudes), so nothing rounds, whatever order and blocking
    /// the GEMM uses.
    fn eval_gemm<F: ExactFloat>(&self, t: &Tensor, fin: &[Finish], dec: &[i64]) -> Tensor {
        let (c, h, w) = (t.shape[0], t.shape[1], t.shape[2]);
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl, pb, pr] = self.pad;
        let (oh, ow) = self.out_hw(h, w);
        let (m, k, p) = (self.out_channels, self.row_len(), oh * ow);
        let mut data = vec![0i64; m * p];
        if p == 0 {
            return map_tensor(m, oh, ow, data);
        }
        let (hp, wp) = (h + pt + pb, w + pl + pr);
        let wf: Vec<F> = dec[..m * k].iter().map(|&v| F::from_i64(v)).collect();
        let mut prod = vec![F::default(); m * p];
        F::with_scratch(|padded, cols| {
            padded.clear();
            padded.resize(c * hp * wp, F::from_i64(self.pad_value));
            for (ci, plane) in t.data.chunks_exact((h * w).max(1)).enumerate() {
                for (y, line) in plane.chunks_exact(w.max(1)).enumerate() {
                    let at = (ci * hp + y + pt) * wp + pl;
                    for (d, &v) in padded[at..at + w].iter_mut().zip(line) {
                        *d = F::from_i64(v);
                    }
                }
            }
            // row (ci, ky, kx) of the column matrix: that tap for every output position, the
            // order of the weights' `[out, C, kh, kw]` rows
            cols.clear();
            cols.reserve(k * p);
            for ci in 0..c {
                let plane = &padded[ci * hp * wp..(ci + 1) * hp * wp];
                for ky in 0..kh {
                    for kx in 0..kw {
                        for y in 0..oh {
                            let at = (y * sh + ky) * wp + kx;
                            if sw == 1 {
                                cols.extend_from_slice(&plane[at..at + ow]);
                            } else {
                                cols.extend(plane[at..].iter().step_by(sw).take(ow));
                            }
                        }
                    }
                }
            }
            debug_assert_eq!(cols.len(), k * p);
            // SAFETY: `wf` is `m × k` row-major, `cols` `k × p` row-major and `prod` `m × p`
            // row-major, exactly the extents the strides below address; `prod` is borrowed
            // mutably, so it overlaps neither input.
            unsafe {
                gemm::gemm(
                    m,
                    p,
                    k,
                    prod.as_mut_ptr(),
                    1,
                    p as isize,
                    false,
                    wf.as_ptr(),
                    1,
                    k as isize,
                    cols.as_ptr(),
                    1,
                    p as isize,
                    F::default(),
                    F::one(),
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        });
        for (o, (d, s)) in data
            .chunks_exact_mut(p)
            .zip(prod.chunks_exact(p))
            .enumerate()
        {
            fin[o].apply_each(self.bias[o], s.iter().map(|v| v.to_i64()), d);
        }
        map_tensor(m, oh, ow, data)
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
        // and sums. Without the bias (added in `i64` after the product) the same bound decides
        // whether a float GEMM is exact (see `eval_gemm`).
        let x_max = i128::from(in_fmt.max_abs().max(self.pad_value.abs()));
        let row = self.row_len();
        let (mut prod_max, mut acc_max) = (0i128, 0i128);
        for o in 0..self.out_channels {
            let w_sum: i128 = dec[o * row..(o + 1) * row]
                .iter()
                .map(|&w| i128::from(w).abs())
                .sum();
            prod_max = prod_max.max(x_max * w_sum);
            acc_max = acc_max.max(i128::from(self.bias[o]).abs() + x_max * w_sum);
        }
        // every weight and input value must be representable too (implied by the bound unless
        // all weights are 0 or all inputs are)
        let w_max = dec.iter().map(|&w| i128::from(w).abs()).max().unwrap_or(0);
        let gemm_ok =
            |limit: i128| self.group == 1 && prod_max <= limit && x_max <= limit && w_max <= limit;
        if gemm_ok(<f32 as ExactFloat>::LIMIT) {
            self.eval_gemm::<f32>(t, &fin, dec)
        } else if gemm_ok(<f64 as ExactFloat>::LIMIT) {
            self.eval_gemm::<f64>(t, &fin, dec)
        } else if acc_max <= i128::from(i32::MAX) {
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
    use crate::numerics::{self, ActFormat, Weight};

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

    /// The definition: bias + Σ product(x, w) over each window, padding reading `pad_value`,
    /// then the channel's finish.
    fn definition(conv: &Conv, x: &Tensor, fin: &[Finish]) -> Vec<i64> {
        let (h, w) = (x.shape[1], x.shape[2]);
        let (k, st, pad) = (conv.kernel, conv.stride, conv.pad);
        let (oh, ow) = conv.out_hw(h, w);
        let row = conv.row_len();
        let mut want = Vec::new();
        for (o, f) in fin.iter().enumerate() {
            let c0 = if conv.depthwise() { o } else { 0 };
            for y in 0..oh {
                for xx in 0..ow {
                    let mut acc = conv.bias[o];
                    for gi in 0..conv.group_channels() {
                        for ky in 0..k[0] {
                            for kx in 0..k[1] {
                                let iy = (y * st[0] + ky) as isize - pad[0] as isize;
                                let ix = (xx * st[1] + kx) as isize - pad[1] as isize;
                                let v = if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize
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
        want
    }

    /// A test convolution's shape: in and out channels, kernel, stride, padding, group,
    /// weight code bits and pad value.
    type TestGeom = (
        usize,
        usize,
        [usize; 2],
        [usize; 2],
        [usize; 4],
        usize,
        u32,
        i64,
    );

    /// A convolution with the given geometry, codes from `code(i)` (invalid ones as 0) and
    /// biases `o·5 − 7`, with its decoded weights and finishes for input format `fmt`.
    fn conv_with(
        geom: TestGeom,
        fmt: ActFormat,
        code: impl Fn(usize) -> u8,
    ) -> (Conv, Vec<i64>, Vec<Finish>) {
        conv_out(geom, fmt, code, Output::Logits)
    }

    /// [`conv_with`] with the given output (ReLU with an unsigned one).
    fn conv_out(
        (cin, cout, k, st, pad, group, bits, pad_value): TestGeom,
        fmt: ActFormat,
        code: impl Fn(usize) -> u8,
        output: Output,
    ) -> (Conv, Vec<i64>, Vec<Finish>) {
        let mut conv = Conv {
            in_channels: cin,
            out_channels: cout,
            kernel: k,
            stride: st,
            pad,
            pad_value,
            group,
            weights: WeightTensor {
                kind: Default::default(),
                bits,
                n1: vec![0],
                codes: Vec::new(),
            },
            bias: (0..cout as i64).map(|o| o * 5 - 7).collect(),
            relu: output.act().is_some_and(|f| !f.signed),
            output,
        };
        let row = conv.row_len();
        conv.weights.codes = (0..cout * row)
            .map(|i| {
                let c = code(i);
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
        let fin: Vec<Finish> = (0..cout)
            .map(|o| Finish::of(o, &conv.weights, cout, conv.relu, &conv.output, fmt))
            .collect();
        (conv, dec, fin)
    }

    /// The reference convolution, with 32- and 64-bit accumulators and through the f32 and
    /// f64 GEMM, against the definition, for strides, asymmetric pads and depthwise layers.
    #[test]
    fn eval_matches_the_definition_in_both_widths() {
        let fmt = ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        };
        for (k, st, pad, group) in [
            ([3, 3], [1, 1], [1, 1, 1, 1], 1),
            ([3, 2], [2, 1], [1, 0, 0, 2], 1),
            ([2, 2], [2, 2], [0, 1, 1, 0], 3),
            ([1, 1], [1, 1], [0; 4], 1),
        ] {
            let (cin, h, w) = (3, 5, 6);
            let cout = if group > 1 { cin } else { 4 };
            let (conv, dec, fin) = conv_with((cin, cout, k, st, pad, group, 5, 3), fmt, |i| {
                ((i * 7 + 3) % 32) as u8
            });
            let x = Tensor {
                shape: vec![cin, h, w],
                data: (0..(cin * h * w) as i64).map(|i| (i * 37) % 256).collect(),
            };
            let want = definition(&conv, &x, &fin);
            let (oh, ow) = conv.out_hw(h, w);
            let a = conv.eval_as::<i32>(&x, &fin, &dec);
            let b = conv.eval_as::<i64>(&x, &fin, &dec);
            assert_eq!(a.shape, vec![cout, oh, ow]);
            assert_eq!(a.data, want, "i32, {k:?} {st:?} {pad:?} group {group}");
            assert_eq!(b.data, want, "i64, {k:?} {st:?} {pad:?} group {group}");
            if group == 1 {
                let c = conv.eval_gemm::<f32>(&x, &fin, &dec);
                let d = conv.eval_gemm::<f64>(&x, &fin, &dec);
                assert_eq!(c.shape, vec![cout, oh, ow]);
                assert_eq!(c.data, want, "f32, {k:?} {st:?} {pad:?}");
                assert_eq!(d.data, want, "f64, {k:?} {st:?} {pad:?}");
            }
            let infos = TensorInfo {
                shape: x.shape.clone(),
                format: Some(fmt),
            };
            assert_eq!(conv.eval(&[&x], &[&infos], &dec).data, want);
        }
    }

    /// Past the f32 bound (16-bit inputs, weights 2^0 to 2^14, 3·3·4 taps: sums beyond 2^24)
    /// the f32 GEMM would round; `eval` takes the f64 GEMM and stays exact.
    #[test]
    fn eval_is_exact_beyond_the_f32_bound() {
        let fmt = ActFormat {
            bits: 16,
            signed: true,
            exp: 0,
        };
        // 6-bit codes: non-zero flag, sign, 4 exponent bits (2^0..2^15)
        let (conv, dec, fin) = conv_with(
            (4, 2, [3, 3], [1, 1], [1, 1, 1, 1], 1, 6, -32768),
            fmt,
            |i| 0b10_0000 | ((i % 2) << 4) as u8 | ((i * 7) % 15) as u8,
        );
        let x = Tensor {
            shape: vec![4, 4, 5],
            data: (0..80i64)
                .map(|i| if i % 3 == 0 { 32767 } else { -32768 + i })
                .collect(),
        };
        let want = definition(&conv, &x, &fin);
        let infos = TensorInfo {
            shape: x.shape.clone(),
            format: Some(fmt),
        };
        assert_ne!(
            conv.eval_gemm::<f32>(&x, &fin, &dec).data,
            want,
            "f32 should round here"
        );
        assert_eq!(conv.eval_gemm::<f64>(&x, &fin, &dec).data, want);
        assert_eq!(conv.eval(&[&x], &[&infos], &dec).data, want);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

        /// Random geometry (kernel, stride, asymmetric padding, depthwise), codes, inputs, pad
        /// values and outputs (logits, or requantized with every kind of shift, with and
        /// without ReLU): every path that the bound admits, and `eval`'s choice, equal the
        /// definition.
        #[test]
        fn every_path_matches_the_definition(
            (cin, cout_dense, h, w) in (1usize..6, 1usize..7, 1usize..9, 1usize..9),
            (kh, kw, sh, sw) in (1usize..4, 1usize..4, 1usize..4, 1usize..4),
            pad in prop::array::uniform4(0usize..3),
            depthwise in any::<bool>(),
            // (8-bit codes reach index 63: 2^63 is no i64, and validation allows at most a
            // 48-bit accumulator anyway)
            bits in 2u32..=7,
            (act_bits, signed) in (2u32..=12, any::<bool>()),
            out in prop_oneof![
                Just(None),
                (2u32..=12, any::<bool>(), -12i32..12).prop_map(Some),
            ],
            seed in any::<u64>(),
        ) {
            let pad = [pad[0].min(kh - 1), pad[1].min(kw - 1), pad[2].min(kh - 1), pad[3].min(kw - 1)];
            prop_assume!(h + pad[0] + pad[2] >= kh && w + pad[1] + pad[3] >= kw);
            let fmt = ActFormat { bits: act_bits, signed, exp: 0 };
            let (group, cout) = if depthwise && cin > 1 { (cin, cin) } else { (1, cout_dense) };
            let mut r = seed;
            let mut next = move || {
                r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                r >> 33
            };
            let codes: Vec<u8> = (0..cout * (cin / group) * kh * kw).map(|_| next() as u8).collect();
            let span = (fmt.max() - fmt.min() + 1) as u64;
            let pad_value = fmt.min() + (next() % span) as i64;
            let output = match out {
                None => Output::Logits,
                Some((bits, signed, exp)) => Output::Act { bits, signed, exp },
            };
            let (conv, dec, fin) = conv_out(
                (cin, cout, [kh, kw], [sh, sw], pad, group, bits, pad_value),
                fmt,
                |i| codes[i] & ((1u16 << bits) - 1) as u8,
                output,
            );
            let x = Tensor {
                shape: vec![cin, h, w],
                data: (0..cin * h * w).map(|_| fmt.min() + (next() % span) as i64).collect(),
            };
            let x_max = fmt.max_abs().max(pad_value.abs()) as i128;
            let row = conv.row_len();
            let bound = (0..cout)
                .map(|o| x_max * dec[o * row..(o + 1) * row].iter().map(|&v| (v as i128).abs()).sum::<i128>())
                .max()
                .unwrap_or(0);
            // only layers that validation accepts (an accumulator of at most MAX_ACC_BITS):
            // beyond, the i64 definition itself overflows (a panic in a debug build)
            let bias_max = conv.bias.iter().map(|b| (*b as i128).abs()).max().unwrap_or(0);
            prop_assume!(bound + bias_max < 1i128 << (crate::ops::api::MAX_ACC_BITS - 1));
            let want = definition(&conv, &x, &fin);
            let infos = TensorInfo { shape: x.shape.clone(), format: Some(fmt) };
            prop_assert_eq!(&conv.eval(&[&x], &[&infos], &dec).data, &want);
            prop_assert_eq!(&conv.eval_as::<i64>(&x, &fin, &dec).data, &want);
            if group == 1 && bound <= 1 << 24 {
                prop_assert_eq!(&conv.eval_gemm::<f32>(&x, &fin, &dec).data, &want);
            }
            if group == 1 && bound <= 1 << 53 {
                prop_assert_eq!(&conv.eval_gemm::<f64>(&x, &fin, &dec).data, &want);
            }
        }
    }
}
