//! `max_pool` and `avg_pool`: windowed pooling without padding (average windows hold a power of
//! two elements). The output keeps the input's format.

use serde::{Deserialize, Serialize};

use super::api::{map_tensor, Operator};
use crate::numerics;
use crate::tensor::{OpError, Tensor, TensorInfo};

/// Window and stride of a pooling layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
}

/// Max pooling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MaxPool(pub Window);

/// Average pooling with a power-of-two window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AvgPool(pub Window);

fn infer_window(w: &Window, x: &TensorInfo, avg: bool) -> Result<TensorInfo, OpError> {
    let f = x.act()?;
    let [c, h, wd] = x.chw()?;
    let [kh, kw] = w.kernel;
    let [sh, sw] = w.stride;
    if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
        return Err(OpError::new(
            "kernel",
            "kernel and stride must be at least 1",
        ));
    }
    if kh > h || kw > wd {
        return Err(OpError::new(
            "kernel",
            format!("window {kh}×{kw} larger than the input {h}×{wd}"),
        ));
    }
    if avg && numerics::log2_exact(kh * kw).is_none() {
        return Err(OpError::new(
            "kernel",
            format!("average window {kh}×{kw} does not hold a power of two elements"),
        ));
    }
    Ok(TensorInfo {
        shape: vec![c, (h - kh) / sh + 1, (wd - kw) / sw + 1],
        format: Some(f),
    })
}

/// The pooled tensor: the maximum, or the rounded mean of a power-of-two window
/// (`docs/numerics.md` § 6).
pub fn pool(t: &Tensor, kernel: [usize; 2], stride: [usize; 2], max: bool) -> Tensor {
    let (c, h, w) = (t.shape[0], t.shape[1], t.shape[2]);
    let [kh, kw] = kernel;
    let [sh, sw] = stride;
    let oh = (h - kh) / sh + 1;
    let ow = (w - kw) / sw + 1;
    let shift = numerics::gap_shift(kh * kw) as i32;
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
    map_tensor(c, oh, ow, data)
}

impl Operator for MaxPool {
    fn op_name(&self) -> &'static str {
        "max_pool"
    }
    fn infer(&self, inputs: &[&TensorInfo]) -> Result<TensorInfo, OpError> {
        infer_window(&self.0, inputs[0], false)
    }
    fn eval(&self, inputs: &[&Tensor], _: &[&TensorInfo], _: &[i64]) -> Tensor {
        pool(inputs[0], self.0.kernel, self.0.stride, true)
    }
}

impl Operator for AvgPool {
    fn op_name(&self) -> &'static str {
        "avg_pool"
    }
    fn infer(&self, inputs: &[&TensorInfo]) -> Result<TensorInfo, OpError> {
        infer_window(&self.0, inputs[0], true)
    }
    fn eval(&self, inputs: &[&Tensor], _: &[&TensorInfo], _: &[i64]) -> Tensor {
        pool(inputs[0], self.0.kernel, self.0.stride, false)
    }
}
