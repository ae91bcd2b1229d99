//! `dense`: fully connected layer with fused bias, requantization and optional ReLU.

use serde::{Deserialize, Serialize};

use super::api::{check_acc, check_bias, check_output, finish, Operator, Output};
use crate::tensor::{OpError, Tensor, TensorInfo};
use crate::weights::WeightTensor;

/// A fully connected layer with fused bias, requantization and optional ReLU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    /// Input features (must equal the size of the incoming vector).
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// The weight codes, shape `[out, in]`.
    pub weights: WeightTensor,
    /// Integer bias per output feature at that feature's accumulator scale.
    pub bias: Vec<i64>,
    /// Clamp negative results to zero (requires an unsigned output format).
    pub relu: bool,
    /// What the layer emits.
    pub output: Output,
}

impl Operator for Dense {
    fn op_name(&self) -> &'static str {
        "dense"
    }

    fn infer(&self, inputs: &[&TensorInfo]) -> Result<TensorInfo, OpError> {
        let x = inputs[0];
        let in_fmt = x.act()?;
        if x.shape.len() != 1 {
            return Err(OpError::new(
                "",
                format!(
                    "dense layer needs a vector input; got shape {:?} (add a flatten)",
                    x.shape
                ),
            ));
        }
        if self.in_features != x.shape[0] {
            return Err(OpError::new(
                "in_features",
                format!(
                    "is {} but the incoming vector has {} elements",
                    self.in_features, x.shape[0]
                ),
            ));
        }
        if self.out_features == 0 {
            return Err(OpError::new("out_features", "must be at least 1"));
        }
        let codes = self
            .out_features
            .checked_mul(self.in_features)
            .ok_or_else(|| {
                OpError::new(
                    "weights",
                    format!(
                        "the weight shape [{}, {}] overflows",
                        self.out_features, self.in_features
                    ),
                )
            })?;
        self.weights
            .check(self.out_features, codes)
            .map_err(|e| e.under("weights"))?;
        check_bias(&self.bias, self.out_features)?;
        let of = check_output(&self.output, self.relu)?;
        check_acc(
            &self.weights,
            &self.bias,
            self.out_features,
            self.in_features,
            in_fmt.max_abs(),
            in_fmt,
            of,
        )?;
        Ok(TensorInfo {
            shape: vec![self.out_features],
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
        let n = self.in_features;
        let data = (0..self.out_features)
            .map(|o| {
                let acc = dec[o * n..(o + 1) * n]
                    .iter()
                    .zip(&t.data)
                    .fold(self.bias[o], |a, (&wt, &x)| a + x * wt);
                finish(
                    acc,
                    o,
                    &self.weights,
                    self.out_features,
                    self.relu,
                    &self.output,
                    in_fmt,
                )
            })
            .collect();
        Tensor {
            shape: vec![self.out_features],
            data,
        }
    }

    fn weights(&self) -> Option<&WeightTensor> {
        Some(&self.weights)
    }

    fn weights_mut(&mut self) -> Option<&mut WeightTensor> {
        Some(&mut self.weights)
    }
}
