//! `flatten`: `[C, H, W]` → `[C·H·W]` in C-major (ONNX) order. Moves no data in hardware (the
//! stream keeps its HWC order and the next dense layer's weights are permuted instead).

use serde::{Deserialize, Serialize};

use super::api::Operator;
use crate::tensor::{OpError, Tensor, TensorInfo};

/// Flatten (no parameters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flatten {}

impl Operator for Flatten {
    fn op_name(&self) -> &'static str {
        "flatten"
    }
    fn infer(&self, inputs: &[&TensorInfo]) -> Result<TensorInfo, OpError> {
        let f = inputs[0].act()?;
        Ok(TensorInfo {
            shape: vec![inputs[0].elements()],
            format: Some(f),
        })
    }
    fn eval(&self, inputs: &[&Tensor], _: &[&TensorInfo], _: &[i64]) -> Tensor {
        Tensor {
            shape: vec![inputs[0].data.len()],
            data: inputs[0].data.clone(),
        }
    }
}
