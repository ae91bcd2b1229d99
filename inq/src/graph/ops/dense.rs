//! `Dense`: fully connected `y = W x + b`, `[in]` → `[out]`, weights `[out, in]` row-major.

use serde::{Deserialize, Serialize};

use super::{FloatOperator, Scratch};

/// A fully connected layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// `[out, in]` row-major.
    pub weight: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

impl FloatOperator for Dense {
    fn op_name(&self) -> &'static str {
        "Dense"
    }
    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        let shape = inputs[0];
        if shape.len() != 1 {
            return Err(format!(
                "needs a vector input but receives {shape:?} (add a flatten)"
            ));
        }
        if self.in_features != shape[0] {
            return Err(format!(
                "in_features is {} but the incoming vector has {} elements",
                self.in_features, shape[0]
            ));
        }
        if self.out_features == 0 {
            return Err("out_features must be at least 1".into());
        }
        if self.weight.len() != self.in_features * self.out_features
            || self.bias.len() != self.out_features
        {
            return Err(format!(
                "weight/bias have {}/{} values; [{}, {}] needs {}/{}",
                self.weight.len(),
                self.bias.len(),
                self.out_features,
                self.in_features,
                self.in_features * self.out_features,
                self.out_features
            ));
        }
        Ok(vec![self.out_features])
    }
    fn forward(&self, inputs: &[&[f32]], _: &[&[usize]], out: &mut Vec<f32>, _: &mut Scratch) {
        out.clear();
        out.extend(
            self.weight
                .chunks_exact(self.in_features.max(1))
                .zip(&self.bias)
                .map(|(row, b)| b + dot(row, inputs[0])),
        );
    }
}

/// Dot product with 8 independent partial sums (vectorizes).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_handles_remainders() {
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b = vec![2.0f32; 19];
        assert_eq!(dot(&a, &b), 342.0);
    }
}
