//! `GlobalAvgPool`: the mean over each channel's `H × W` plane, `[C, H, W]` → `[C, 1, 1]`.
//!
//! The float mean is exact for any plane size. (The integer operator divides by the next power
//! of two instead; integerization folds that gain into the consumer, see
//! [`crate::quantize::integerize()`].)

use serde::{Deserialize, Serialize};

use super::{chw, FloatOperator, Scratch};

/// Global average pooling (no parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalAvgPool {}

impl FloatOperator for GlobalAvgPool {
    fn op_name(&self) -> &'static str {
        "GlobalAvgPool"
    }
    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        let [c, _, _] = chw(inputs[0], "global average pooling")?;
        Ok(vec![c, 1, 1])
    }
    fn forward(&self, inputs: &[&[f32]], shapes: &[&[usize]], out: &mut Vec<f32>, _: &mut Scratch) {
        let hw = (shapes[0][1] * shapes[0][2]).max(1);
        let inv = 1.0 / hw as f32;
        out.clear();
        out.extend(inputs[0].chunks(hw).map(|p| p.iter().sum::<f32>() * inv));
    }
}
