//! Per-step learning-rate search on a held-back part of the training split (beyond the paper).
//!
//! With [`LrSearch`] in [`super::InqConfig::lr_search`], every INQ step that re-trains does so
//! once per candidate learning rate, each time from the same starting point (the step's newly
//! frozen weights), on the training split without its last `holdout` images; it then keeps the
//! model whose float-activation accuracy on those held-back images is highest (ties: the lower
//! held-back loss, then the earlier candidate). The held-back images are never trained on, in
//! any step, so the choice is not made on data the model has seen; the test split is never
//! looked at. The cost is one re-training per candidate.
//!
//! Owns the settings, the split and the choice ([`search`]). Not here: which weights a step
//! freezes and the step's log ([`super::inq_step`]), the SGD loop ([`crate::train`]).

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::graph::FloatModel;
use crate::train::distill::Teacher;
use crate::train::{self, Mask, TrainConfig, TrainLog};

use super::QuantError;

/// Settings of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrSearch {
    /// Candidate learning rates, tried in this order (each finite and positive, no repeats).
    pub candidates: Vec<f64>,
    /// Images at the end of the training split held back to choose among them.
    pub holdout: usize,
}

impl LrSearch {
    /// Refuses an empty or non-positive candidate list, repeated candidates and a hold-out
    /// that leaves fewer images for training than it holds back.
    pub fn check(&self, train_images: usize) -> Result<(), QuantError> {
        self.check_candidates()?;
        if self.holdout == 0 || 2 * self.holdout > train_images {
            return Err(QuantError::Config(format!(
                "learning-rate search: a hold-out of {} images needs between 1 and half of the {train_images} training images",
                self.holdout
            )));
        }
        Ok(())
    }

    /// The part of [`LrSearch::check`] that does not depend on the data.
    pub fn check_candidates(&self) -> Result<(), QuantError> {
        if self.candidates.is_empty() {
            return Err(QuantError::Config(
                "learning-rate search: no candidate learning rate".into(),
            ));
        }
        for (i, &lr) in self.candidates.iter().enumerate() {
            if !(lr.is_finite() && lr > 0.0) {
                return Err(QuantError::Config(format!(
                    "learning-rate search: candidate {lr} is not a positive number"
                )));
            }
            if self.candidates[..i].contains(&lr) {
                return Err(QuantError::Config(format!(
                    "learning-rate search: candidate {lr} is listed twice"
                )));
            }
        }
        Ok(())
    }
}

/// Images of a `total`-image training split that the re-training learns from: all but the
/// last `holdout` ([`split`]'s first part).
pub fn fit_len(total: usize, holdout: usize) -> usize {
    total.saturating_sub(holdout)
}

/// The training split without its last `holdout` images, and those images.
pub fn split(data: &Dataset, holdout: usize) -> (Dataset, Dataset) {
    let n = fit_len(data.len(), holdout);
    let px = data.image_len();
    let part = |range: std::ops::Range<usize>| Dataset {
        channels: data.channels,
        rows: data.rows,
        cols: data.cols,
        pixels: data.pixels[range.start * px..range.end * px].to_vec(),
        labels: data.labels[range].to_vec(),
    };
    (part(0..n), part(n..data.len()))
}

/// One candidate's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrTrial {
    /// The learning rate.
    pub lr: f64,
    /// Float-activation accuracy on the held-back images after the step's re-training.
    pub holdout_accuracy: f64,
    /// Mean cross-entropy on the held-back images.
    pub holdout_loss: f64,
}

/// What [`search`] chose.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The re-trained model of the chosen candidate.
    pub model: FloatModel,
    /// Its training log.
    pub log: TrainLog,
    /// Index of the chosen candidate in [`LrSearch::candidates`].
    pub chosen: usize,
    /// Every candidate's outcome, in candidate order.
    pub trials: Vec<LrTrial>,
}

/// Re-trains `model` once per candidate (`tc` with its `lr` replaced) on `train_data` without
/// its last `holdout` images and keeps the best on those images (see the module
/// documentation). `teacher`, if any, holds soft targets for every image of `train_data`.
pub fn search(
    settings: &LrSearch,
    model: &FloatModel,
    train_data: &Dataset,
    tc: &TrainConfig,
    mask: Option<&Mask>,
    teacher: Option<&Teacher>,
    seed_parts: &[u64],
) -> Result<Choice, QuantError> {
    settings.check(train_data.len())?;
    let (fit, held) = split(train_data, settings.holdout);
    let teacher = teacher.map(|t| t.prefix(fit.len()));
    let mut best: Option<Choice> = None;
    let mut trials = Vec::with_capacity(settings.candidates.len());
    for (i, &lr) in settings.candidates.iter().enumerate() {
        let mut m = model.clone();
        let cfg = TrainConfig { lr, ..tc.clone() };
        let log = train::train_masked_with(
            &mut m,
            &fit,
            &cfg,
            mask,
            teacher.as_ref(),
            seed_parts,
            &mut |_| {},
        )?;
        let ev = train::evaluate(&m, &held)?;
        trials.push(LrTrial {
            lr,
            holdout_accuracy: ev.accuracy,
            holdout_loss: ev.loss,
        });
        let better = match &best {
            None => true,
            Some(b) => {
                let t = &trials[b.chosen];
                ev.accuracy > t.holdout_accuracy
                    || (ev.accuracy == t.holdout_accuracy && ev.loss < t.holdout_loss)
            }
        };
        if better {
            best = Some(Choice {
                model: m,
                log,
                chosen: i,
                trials: Vec::new(),
            });
        }
    }
    let mut c = best.ok_or_else(|| {
        QuantError::Config("learning-rate search: no candidate learning rate".into())
    })?;
    c.trials = trials;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Dataset {
        Dataset {
            channels: 1,
            rows: 2,
            cols: 2,
            pixels: (0..4 * n).map(|v| v as u8).collect(),
            labels: (0..n).map(|v| (v % 10) as u8).collect(),
        }
    }

    #[test]
    fn split_holds_back_the_tail() {
        let d = data(10);
        let (fit, held) = split(&d, 3);
        assert_eq!(fit.len(), 7);
        assert_eq!(held.len(), 3);
        assert_eq!(held.image(0), d.image(7));
        assert_eq!(held.labels, vec![7, 8, 9]);
        assert_eq!(fit.image(6), d.image(6));
    }

    #[test]
    fn check_refuses_bad_settings() {
        let ok = LrSearch {
            candidates: vec![0.005, 0.01],
            holdout: 5,
        };
        assert!(ok.check(10).is_ok());
        assert!(ok.check(9).is_err(), "more held back than trained on");
        for bad in [vec![], vec![0.0], vec![f64::NAN], vec![0.01, 0.01]] {
            let s = LrSearch {
                candidates: bad.clone(),
                holdout: 1,
            };
            assert!(s.check(10).is_err(), "{bad:?}");
        }
        let none = LrSearch {
            candidates: vec![0.01],
            holdout: 0,
        };
        assert!(none.check(10).is_err());
    }
}
