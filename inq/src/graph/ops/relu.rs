//! `Relu`: `max(x, 0)` elementwise. Shape unchanged.

use serde::{Deserialize, Serialize};

use super::{FloatOperator, Scratch};

/// Rectified linear unit (no parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Relu {}

impl FloatOperator for Relu {
    fn op_name(&self) -> &'static str {
        "Relu"
    }
    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        Ok(inputs[0].to_vec())
    }
    fn forward(&self, inputs: &[&[f32]], _: &[&[usize]], out: &mut Vec<f32>, _: &mut Scratch) {
        out.clear();
        out.extend(inputs[0].iter().map(|&v| if v > 0.0 { v } else { 0.0 }));
    }
}
