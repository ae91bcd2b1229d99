//! Learning-rate schedules.

use serde::{Deserialize, Serialize};

/// How the learning rate changes over the epochs of one training run (one INQ step restarts
/// it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays (at least 1).
        every: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// Cosine annealing from the base rate to `min_factor · base` over the run, per batch.
    Cosine {
        /// Final rate as a fraction of the base rate.
        min_factor: f64,
    },
}

impl Default for LrSchedule {
    fn default() -> Self {
        LrSchedule::Cosine { min_factor: 0.0 }
    }
}

impl LrSchedule {
    /// The rate at `progress` = (epoch, fraction of the run done in `[0, 1)`).
    pub fn rate(&self, base: f64, epoch: usize, fraction: f64) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, gamma } => base * gamma.powi((epoch / every.max(1)) as i32),
            LrSchedule::Cosine { min_factor } => {
                let f = fraction.clamp(0.0, 1.0);
                let lo = base * min_factor;
                lo + (base - lo) * 0.5 * (1.0 + (std::f64::consts::PI * f).cos())
            }
        }
    }
}

impl std::str::FromStr for LrSchedule {
    type Err = String;
    /// `constant`, `cosine`, `step` (every epoch, ×0.1) or `step:EVERY:GAMMA`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["constant"] => Ok(LrSchedule::Constant),
            ["cosine"] => Ok(LrSchedule::Cosine { min_factor: 0.0 }),
            ["step"] => Ok(LrSchedule::Step { every: 1, gamma: 0.1 }),
            ["step", e, g] => {
                let every = e.parse().map_err(|_| format!("step schedule: bad epoch count `{e}`"))?;
                let gamma = g.parse().map_err(|_| format!("step schedule: bad factor `{g}`"))?;
                Ok(LrSchedule::Step { every, gamma })
            }
            _ => Err(format!(
                "unknown learning-rate schedule `{s}` (expected constant, cosine, step or step:EVERY:GAMMA)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let s = LrSchedule::Step {
            every: 2,
            gamma: 0.5,
        };
        assert_eq!(s.rate(0.1, 0, 0.0), 0.1);
        assert_eq!(s.rate(0.1, 1, 0.3), 0.1);
        assert_eq!(s.rate(0.1, 2, 0.6), 0.05);
        let c = LrSchedule::Cosine { min_factor: 0.0 };
        assert!((c.rate(0.1, 0, 0.0) - 0.1).abs() < 1e-12);
        assert!((c.rate(0.1, 0, 0.5) - 0.05).abs() < 1e-12);
        assert!(c.rate(0.1, 0, 1.0).abs() < 1e-12);
        assert_eq!(
            "step:3:0.2".parse::<LrSchedule>(),
            Ok(LrSchedule::Step {
                every: 3,
                gamma: 0.2
            })
        );
    }
}
