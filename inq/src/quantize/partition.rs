//! Weight partition: which not-yet-frozen weights join the quantized (frozen) group at an INQ
//! step.

use crate::train::rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// How the weights quantized at a step are picked among those not yet frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The paper's pruning-inspired partition: largest magnitudes first (layer-wise).
    #[default]
    Pruning,
    /// A uniformly random subset (seeded).
    Random,
}

impl Strategy {
    /// The name used on the command line and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Pruning => "pruning",
            Strategy::Random => "random",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pruning" | "pruning-inspired" => Ok(Strategy::Pruning),
            "random" => Ok(Strategy::Random),
            _ => Err(format!(
                "unknown partition strategy `{s}` (expected pruning or random)"
            )),
        }
    }
}

/// Number of weights frozen after a step with accumulated portion `portion` in a layer of `n`
/// weights: `round(portion · n)`, exactly `n` for a portion of 1.
pub fn target_count(portion: f64, n: usize) -> usize {
    if portion >= 1.0 {
        n
    } else {
        ((portion.max(0.0) * n as f64).round() as usize).min(n)
    }
}

/// Picks the indices to freeze now so that `target` weights of the layer are frozen in total.
/// Frozen weights stay frozen; returns the newly chosen indices (sorted ascending).
///
/// `Pruning` picks the largest `|w|` among the unfrozen weights (ties by lower index);
/// `Random` a uniformly random subset drawn with `rng`.
pub fn choose(
    weights: &[f32],
    frozen: &[bool],
    target: usize,
    strategy: Strategy,
    rng: &mut SplitMix64,
) -> Vec<usize> {
    let already = frozen.iter().filter(|&&f| f).count();
    let need = target.saturating_sub(already);
    let mut free: Vec<usize> = (0..weights.len()).filter(|&i| !frozen[i]).collect();
    let need = need.min(free.len());
    let mut chosen: Vec<usize> = match strategy {
        Strategy::Pruning => {
            free.sort_by(|&a, &b| {
                weights[b]
                    .abs()
                    .total_cmp(&weights[a].abs())
                    .then(a.cmp(&b))
            });
            free.truncate(need);
            free
        }
        Strategy::Random => {
            // Partial Fisher–Yates.
            for i in 0..need {
                let j = i + rng.below((free.len() - i) as u64) as usize;
                free.swap(i, j);
            }
            free.truncate(need);
            free
        }
    };
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portions_are_exact_and_pruning_takes_largest() {
        let w: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        for strategy in [Strategy::Pruning, Strategy::Random] {
            let mut frozen = vec![false; w.len()];
            let mut rng = SplitMix64::new(3);
            let mut prev = 0;
            for p in [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 1.0] {
                let t = target_count(p, w.len());
                let new = choose(&w, &frozen, t, strategy, &mut rng);
                for &i in &new {
                    assert!(!frozen[i], "re-chose a frozen weight");
                    frozen[i] = true;
                }
                let n = frozen.iter().filter(|&&f| f).count();
                assert_eq!(n, (p * 1000.0_f64).round() as usize);
                assert!(n >= prev);
                prev = n;
                if strategy == Strategy::Pruning {
                    let min_frozen = (0..w.len())
                        .filter(|&i| frozen[i])
                        .map(|i| w[i].abs())
                        .fold(f32::MAX, f32::min);
                    let max_free = (0..w.len())
                        .filter(|&i| !frozen[i])
                        .map(|i| w[i].abs())
                        .fold(0.0, f32::max);
                    assert!(min_frozen >= max_free);
                }
            }
            assert!(frozen.iter().all(|&f| f));
        }
    }
}
