//! Knowledge distillation (Hinton et al. 2015) from a float teacher during re-training.
//!
//! Owns the settings ([`Distill`]: weight `α` and temperature `T`), the teacher's soft targets
//! for a whole training set ([`Teacher::of`]: `softmax(z_t/T)` of the float model, computed
//! once) and the loss term ([`soft_cross_entropy`]). The re-training loss of a batch becomes
//! `(1 − α)·CE(z, y) + α·T²·H(softmax(z_t/T), softmax(z/T))`, where `H(p, q) = −Σ p·log q`
//! is the cross-entropy with the soft targets (the KL divergence up to the teacher's entropy,
//! a constant: same gradient); `T²` keeps the soft term's gradient on the scale of the hard
//! one. Not here: the SGD loop ([`super::train_masked_with`]) and when INQ uses it
//! ([`crate::quantize::inq`]).

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

use super::engine::Net;
use super::TrainError;
use crate::data::Dataset;
use crate::graph::FloatModel;

/// Distillation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distill {
    /// Weight `α` in `[0, 1]` of the soft term (1 − α on the labels).
    pub alpha: f64,
    /// Temperature `T > 0` of both softmaxes.
    pub temperature: f64,
}

impl Default for Distill {
    fn default() -> Self {
        Distill {
            alpha: 0.5,
            temperature: 2.0,
        }
    }
}

impl Distill {
    /// Refuses `α` outside `[0, 1]` and a temperature that is not a positive finite number.
    pub fn check(&self) -> Result<(), TrainError> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(TrainError::Config(format!(
                "distillation weight {} must be in [0, 1]",
                self.alpha
            )));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(TrainError::Config(format!(
                "distillation temperature {} must be a positive number",
                self.temperature
            )));
        }
        Ok(())
    }
}

/// The teacher's soft targets for every image of a training set (row-major, `classes` per
/// image, in the data set's order).
#[derive(Debug, Clone)]
pub struct Teacher {
    /// The settings the targets were computed with.
    pub distill: Distill,
    /// `softmax(z_t/T)` per image.
    pub probs: Vec<f32>,
    /// Outputs per image.
    pub classes: usize,
}

impl Teacher {
    /// Runs `model` (evaluation mode: BatchNorm with its running statistics) on every image of
    /// `data` and keeps `softmax(z/T)`.
    pub fn of(model: &FloatModel, data: &Dataset, distill: Distill) -> Result<Teacher, TrainError> {
        distill.check()?;
        let net = Net::new(model)?;
        let params = super::params_of(model);
        let classes = net.classes;
        let px = data.image_len();
        let t = distill.temperature as f32;
        let mut probs = Vec::with_capacity(data.len() * classes);
        let mut x = Vec::new();
        for start in (0..data.len()).step_by(500) {
            let end = (start + 500).min(data.len());
            net.normalize(&data.pixels[start * px..end * px], &mut x);
            let z = net.logits(&params, &x)?;
            for row in z.chunks(classes) {
                let m = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v / t));
                let at = probs.len();
                probs.extend(row.iter().map(|&v| (v / t - m).exp()));
                let s: f32 = probs[at..].iter().sum();
                probs[at..].iter_mut().for_each(|p| *p /= s);
            }
        }
        Ok(Teacher {
            distill,
            probs,
            classes,
        })
    }

    /// The soft targets of the first `n` images only (for training on a prefix of the set).
    pub fn prefix(&self, n: usize) -> Teacher {
        let end = (n * self.classes).min(self.probs.len());
        Teacher {
            distill: self.distill,
            probs: self.probs[..end].to_vec(),
            classes: self.classes,
        }
    }

    /// The soft targets of image `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.probs[i * self.classes..(i + 1) * self.classes]
    }
}

/// `T²·H(p, softmax(z/T))` averaged over the batch: `logits` `[n, classes]`, `soft` the same
/// shape (each row sums to 1).
pub fn soft_cross_entropy(
    logits: &Tensor,
    soft: &Tensor,
    temperature: f64,
) -> candle_core::Result<Tensor> {
    let n = logits.dim(0)? as f64;
    let ls = candle_nn::ops::log_softmax(&(logits / temperature)?, D::Minus1)?;
    (soft * ls)?
        .sum_all()?
        .affine(-temperature * temperature / n, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn soft_cross_entropy_matches_the_formula() {
        let z =
            Tensor::from_slice(&[1.0f32, 2.0, 0.5, -1.0, 0.0, 3.0], (2, 3), &Device::Cpu).unwrap();
        let p =
            Tensor::from_slice(&[0.2f32, 0.7, 0.1, 0.0, 0.5, 0.5], (2, 3), &Device::Cpu).unwrap();
        let t = 2.0;
        let got = soft_cross_entropy(&z, &p, t)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let rows = [[1.0f64, 2.0, 0.5], [-1.0, 0.0, 3.0]];
        let ps = [[0.2f64, 0.7, 0.1], [0.0, 0.5, 0.5]];
        let mut want = 0.0;
        for (r, p) in rows.iter().zip(&ps) {
            let lse = r.iter().map(|v| (v / t).exp()).sum::<f64>().ln();
            for (v, q) in r.iter().zip(p) {
                want -= q * (v / t - lse);
            }
        }
        want *= t * t / 2.0;
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn bad_settings_are_refused() {
        for (alpha, temperature) in [(-0.1, 2.0), (1.5, 2.0), (0.5, 0.0), (0.5, f64::NAN)] {
            assert!(Distill { alpha, temperature }.check().is_err());
        }
        assert!(Distill::default().check().is_ok());
    }
}
