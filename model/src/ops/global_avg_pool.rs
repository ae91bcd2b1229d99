//! `global_avg_pool`: the rounded sum over each channel's whole plane, shifted right by
//! `ceil(log2(H·W))` (`docs/numerics.md` § 6). For a power-of-two plane this is the mean;
//! otherwise it is the mean times `H·W / 2^shift` (between ½ and 1), a gain the quantizer folds
//! into the consumer's weights. The output keeps the input's format.

use serde::{Deserialize, Serialize};

use super::api::{map_tensor, Operator};
use crate::numerics;
use crate::tensor::{OpError, Tensor, TensorInfo};

/// Global average pooling (no parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAvgPool {}

impl GlobalAvgPool {
    /// The gain of the integer result against the true mean over `n` elements:
    /// `n / 2^gap_shift(n)`.
    pub fn gain(n: usize) -> f64 {
        n as f64 / (1u64 << numerics::gap_shift(n)) as f64
    }
}

impl Operator for GlobalAvgPool {
    fn op_name(&self) -> &'static str {
        "global_avg_pool"
    }
    fn infer(&self, inputs: &[&TensorInfo]) -> Result<TensorInfo, OpError> {
        let f = inputs[0].act()?;
        let [c, h, w] = inputs[0].chw()?;
        if h * w > 1 << 20 {
            return Err(OpError::new(
                "",
                format!("global average over {h}×{w} elements is too large"),
            ));
        }
        Ok(TensorInfo {
            shape: vec![c, 1, 1],
            format: Some(f),
        })
    }
    fn eval(&self, inputs: &[&Tensor], _: &[&TensorInfo], _: &[i64]) -> Tensor {
        let t = inputs[0];
        let (c, hw) = (t.shape[0], t.shape[1] * t.shape[2]);
        let s = numerics::gap_shift(hw) as i32;
        let data = (0..c)
            .map(|ch| numerics::shift_round(t.data[ch * hw..(ch + 1) * hw].iter().sum(), s))
            .collect();
        map_tensor(c, 1, 1, data)
    }
}
