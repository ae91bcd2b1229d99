//! `Flatten`: `[C, H, W]` → `[C·H·W]` in C-major (ONNX) order; a vector stays as it is.

use serde::{Deserialize, Serialize};

use super::{FloatOperator, Scratch};

/// Flatten (no parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flatten {}

impl FloatOperator for Flatten {
    fn op_name(&self) -> &'static str {
        "Flatten"
    }
    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        Ok(vec![inputs[0].iter().product()])
    }
    fn forward(&self, inputs: &[&[f32]], _: &[&[usize]], out: &mut Vec<f32>, _: &mut Scratch) {
        out.clear();
        out.extend_from_slice(inputs[0]);
    }
}
