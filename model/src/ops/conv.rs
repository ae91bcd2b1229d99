//! `conv`: 2-D convolution with fused bias, requantization and optional ReLU; `group = 1`
//! (dense) or `group = in_channels = out_channels` (depthwise).

use serde::{Deserialize, Serialize};

use super::api::{check_acc, check_bias, check_output, finish, map_tensor, Operator, Output};
use crate::numerics::{self, Weight};
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

    fn eval(&self, inputs: &[&Tensor], infos: &[&TensorInfo], dec: &[Weight]) -> Tensor {
        let t = inputs[0];
        let in_fmt = infos[0].format.unwrap_or(crate::numerics::ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        });
        let (h, w) = (t.shape[1], t.shape[2]);
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl, _, _] = self.pad;
        let (oh, ow) = self.out_hw(h, w);
        let gc = self.group_channels();
        let row = self.row_len();
        let mut data = vec![0i64; self.out_channels * oh * ow];
        // Loop order: for each output channel, one weight at a time over the whole output
        // plane (the inner loop runs along a row of contiguous input and output elements).
        // Integer sums do not depend on the order of their terms, so this is the dot product
        // of the definition (bias + Σ product(x, w)) in any order.
        let mut acc = vec![0i64; oh * ow];
        for o in 0..self.out_channels {
            let wrow = &dec[o * row..(o + 1) * row];
            // the input channels output channel `o` sees
            let c0 = if self.depthwise() { o } else { 0 };
            acc.fill(self.bias[o]);
            for gi in 0..gc {
                let plane = &t.data[(c0 + gi) * h * w..(c0 + gi + 1) * h * w];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let wt = wrow[(gi * kh + ky) * kw + kx];
                        if matches!(wt, Weight::Zero) {
                            continue;
                        }
                        let pad_term = numerics::product(self.pad_value, wt);
                        for y in 0..oh {
                            let out = &mut acc[y * ow..(y + 1) * ow];
                            let iy = (y * sh + ky) as isize - pt as isize;
                            if iy < 0 || iy >= h as isize {
                                out.iter_mut().for_each(|a| *a += pad_term);
                                continue;
                            }
                            let line = &plane[iy as usize * w..(iy as usize + 1) * w];
                            for (x, a) in out.iter_mut().enumerate() {
                                let ix = (x * sw + kx) as isize - pl as isize;
                                *a += if ix < 0 || ix >= w as isize {
                                    pad_term
                                } else {
                                    numerics::product(line[ix as usize], wt)
                                };
                            }
                        }
                    }
                }
            }
            for (i, &a) in acc.iter().enumerate() {
                data[o * oh * ow + i] = finish(
                    a,
                    o,
                    &self.weights,
                    self.out_channels,
                    self.relu,
                    &self.output,
                    in_fmt,
                );
            }
        }
        map_tensor(self.out_channels, oh, ow, data)
    }

    fn weights(&self) -> Option<&WeightTensor> {
        Some(&self.weights)
    }

    fn weights_mut(&mut self) -> Option<&mut WeightTensor> {
        Some(&mut self.weights)
    }
}
