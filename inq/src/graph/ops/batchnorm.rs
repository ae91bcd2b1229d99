//! `BatchNorm`: per-channel `γ·(x − μ)/√(σ² + ε) + β` with the running statistics (inference
//! form). Input `[C, H, W]` or `[C]`.
//!
//! Exists for training only (batch statistics and the running averages are the training
//! engine's business, [`crate::train::engine`]); [`crate::graph::fold_batchnorm`] folds it into
//! the conv or dense node it follows before quantization or export.

use serde::{Deserialize, Serialize};

use super::{FloatOperator, Scratch};

/// Batch normalization parameters and running statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    /// Channels.
    pub channels: usize,
    /// Scale `γ` (trainable).
    pub gamma: Vec<f32>,
    /// Shift `β` (trainable).
    pub beta: Vec<f32>,
    /// Running mean.
    pub mean: Vec<f32>,
    /// Running (unbiased) variance.
    pub var: Vec<f32>,
    /// `ε` added to the variance.
    pub eps: f32,
    /// Weight of the new batch statistic in the running averages (PyTorch: 0.1).
    pub momentum: f32,
}

impl BatchNorm {
    /// A fresh batch norm: `γ = 1, β = 0`, running mean 0 and variance 1, PyTorch's
    /// `eps = 1e-5` and `momentum = 0.1`.
    pub fn new(channels: usize) -> Self {
        BatchNorm {
            channels,
            gamma: vec![1.0; channels],
            beta: vec![0.0; channels],
            mean: vec![0.0; channels],
            var: vec![1.0; channels],
            eps: 1e-5,
            momentum: 0.1,
        }
    }

    /// Per-channel `(scale, shift)` of the inference form `y = scale·x + shift`, in f64.
    pub fn affine(&self) -> Vec<(f64, f64)> {
        (0..self.channels)
            .map(|c| {
                let s = f64::from(self.gamma[c])
                    / (f64::from(self.var[c]) + f64::from(self.eps)).sqrt();
                (s, f64::from(self.beta[c]) - f64::from(self.mean[c]) * s)
            })
            .collect()
    }
}

impl FloatOperator for BatchNorm {
    fn op_name(&self) -> &'static str {
        "BatchNorm"
    }
    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        let c = inputs[0].first().copied().unwrap_or(0);
        if c != self.channels {
            return Err(format!(
                "channels is {} but the incoming tensor has {c}",
                self.channels
            ));
        }
        for (what, v) in [
            ("gamma", &self.gamma),
            ("beta", &self.beta),
            ("mean", &self.mean),
            ("var", &self.var),
        ] {
            if v.len() != c {
                return Err(format!("{what} has {} values; expected {c}", v.len()));
            }
        }
        if let Some(k) = self.var.iter().position(|&v| {
            (f64::from(v) + f64::from(self.eps)).partial_cmp(&0.0)
                != Some(std::cmp::Ordering::Greater)
        }) {
            return Err(format!("var[{k}] + eps is not positive"));
        }
        Ok(inputs[0].to_vec())
    }
    fn forward(&self, inputs: &[&[f32]], shapes: &[&[usize]], out: &mut Vec<f32>, _: &mut Scratch) {
        let per = shapes[0].iter().skip(1).product::<usize>().max(1);
        out.clear();
        for (c, (s, t)) in self.affine().into_iter().enumerate() {
            let (s, t) = (s as f32, t as f32);
            out.extend(inputs[0][c * per..(c + 1) * per].iter().map(|&x| s * x + t));
        }
    }
}
