//! `Add`: the elementwise sum of two tensors of the same shape (a residual connection). No
//! broadcasting: a constant addend is a bias and is folded by the importer.

use serde::{Deserialize, Serialize};

use super::{FloatOperator, Scratch};

/// Elementwise addition of two streams (no parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Add {}

impl FloatOperator for Add {
    fn op_name(&self) -> &'static str {
        "Add"
    }
    fn arity(&self) -> usize {
        2
    }
    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        if inputs[0] != inputs[1] {
            return Err(format!(
                "the two inputs have different shapes {:?} and {:?} (no broadcasting)",
                inputs[0], inputs[1]
            ));
        }
        Ok(inputs[0].to_vec())
    }
    fn forward(&self, inputs: &[&[f32]], _: &[&[usize]], out: &mut Vec<f32>, _: &mut Scratch) {
        out.clear();
        out.extend(inputs[0].iter().zip(inputs[1]).map(|(a, b)| a + b));
    }
}
