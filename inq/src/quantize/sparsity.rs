//! Magnitude pruning before INQ ([`InqConfig::sparsity`], `inq quantize --sparsity S`).
//!
//! Owns: the check of `S`, how many weights of a layer are pruned ([`prune_count`]), which
//! ones ([`smallest`]: the smallest magnitudes in the quantized domain, i.e. after the layer's
//! gain), setting them to zero and freezing them in the INQ frozen mask *before the first
//! step* ([`prune`]), and counting the zero weights of a quantized model ([`zero_counts`]).
//!
//! The threshold is **per layer**: every conv/dense node loses the same fraction `S` of its
//! own weights (`ceil(S·n)`), so no layer is emptied because its weights are smaller than
//! another layer's. A pruned weight is frozen like any quantized weight, so masked SGD never
//! moves it (nor its momentum or weight decay) and the partition never picks it again; INQ's
//! schedule then applies to the weights that remain ([`remaining_target`]), and the level sets
//! (`n1`) are chosen from the remaining weights. Zeros cost nothing in a hard-wired engine
//! (`docs/hardware.md` §4.1). `S = 0` prunes nothing and leaves the run bit-identical to a run
//! without the option.
//!
//! The INQ run (`quantize/mod.rs`) calls [`check`] and [`prune`] in `inq_start` and
//! [`remaining_target`] in every step; nothing here imports the run.

use serde::{Deserialize, Serialize};

use super::levels;
use super::partition;
use super::state::{InqConfig, LayerQuant, QuantError};
use crate::graph::FloatModel;
use crate::train::Mask;

/// Refuses a sparsity outside `[0, 1)` (or not a number), naming the setting.
pub fn check(sparsity: f64) -> Result<(), QuantError> {
    if (0.0..1.0).contains(&sparsity) {
        Ok(())
    } else {
        Err(QuantError::Config(format!(
            "sparsity {sparsity} is outside [0, 1): it is the fraction of each layer's weights pruned to zero before INQ (--sparsity)"
        )))
    }
}

/// The number of weights pruned in a layer of `n` weights: `ceil(S·n)` (so at least the
/// fraction `S` of the layer is zero), with a product within rounding of an integer taken as
/// that integer (`0.9 · 1280` is 1152, not 1153). 0 for `S = 0`; at most `n`.
pub fn prune_count(sparsity: f64, n: usize) -> usize {
    if sparsity <= 0.0 || sparsity.is_nan() {
        return 0;
    }
    let x = sparsity * n as f64;
    let r = x.round();
    let k = if (x - r).abs() <= 1e-9 * (n.max(1) as f64) {
        r
    } else {
        x.ceil()
    };
    (k.max(0.0) as usize).min(n)
}

/// The size of a layer's frozen set after a step with accumulated portion `portion`: the
/// `pruned` weights plus the portion of the `n - pruned` others
/// ([`partition::target_count`]). With nothing pruned this is `target_count(portion, n)`.
pub fn remaining_target(portion: f64, n: usize, pruned: usize) -> usize {
    let pruned = pruned.min(n);
    pruned + partition::target_count(portion, n - pruned)
}

/// The indices of the `count` smallest magnitudes of `weights` (ties: lower index first),
/// sorted ascending.
pub fn smallest(weights: &[f32], count: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..weights.len()).collect();
    idx.sort_by(|&a, &b| {
        weights[a]
            .abs()
            .total_cmp(&weights[b].abs())
            .then(a.cmp(&b))
    });
    idx.truncate(count.min(weights.len()));
    idx.sort_unstable();
    idx
}

/// Prunes every layer of `model` (BatchNorm folded, planned by `layers`) to `cfg.sparsity`:
/// the [`prune_count`] smallest weights by magnitude in the quantized domain
/// (`|w · gain|`, the ranking the partition uses) become exactly 0 and frozen in `frozen`;
/// then each layer's `n1` is chosen again (by `cfg.levels`) from the weights that remain.
/// Returns the number pruned per layer. Does nothing for `S = 0`.
pub fn prune(
    model: &mut FloatModel,
    layers: &mut [LayerQuant],
    frozen: &mut Mask,
    cfg: &InqConfig,
) -> Result<Vec<usize>, QuantError> {
    check(cfg.sparsity)?;
    if frozen.len() != layers.len() {
        return Err(QuantError::Config(
            "the frozen masks do not match the quantized layers".into(),
        ));
    }
    let mut counts = Vec::with_capacity(layers.len());
    for (lq, mask) in layers.iter_mut().zip(frozen.iter_mut()) {
        let Some((w, _)) = model
            .nodes
            .get_mut(lq.layer)
            .and_then(|n| n.op.params_mut())
        else {
            return Err(QuantError::Model {
                node: lq.name.clone(),
                message: "not a conv/dense layer".into(),
            });
        };
        if mask.len() != w.len() {
            return Err(QuantError::Model {
                node: lq.name.clone(),
                message: format!(
                    "frozen mask of {} entries for {} weights",
                    mask.len(),
                    w.len()
                ),
            });
        }
        let count = prune_count(cfg.sparsity, w.len());
        if count == 0 {
            counts.push(0);
            continue;
        }
        let eff: Vec<f32> = w
            .iter()
            .enumerate()
            .map(|(k, &v)| v * lq.gain_at(k))
            .collect();
        for k in smallest(&eff, count) {
            w[k] = 0.0;
            mask[k] = true;
        }
        let eff: Vec<f32> = w
            .iter()
            .enumerate()
            .map(|(k, &v)| v * lq.gain_at(k))
            .collect();
        lq.n1 = levels::choose_n1(&eff, lq.out, lq.bits, cfg.levels);
        counts.push(count);
    }
    Ok(counts)
}

/// The zero weights of one conv/dense node of a quantized model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerZeros {
    /// Node name.
    pub name: String,
    /// Weights that are 0.
    pub zeros: usize,
    /// All weights of the node.
    pub weights: usize,
}

impl LayerZeros {
    /// `zeros / weights` (0 for a node without weights).
    pub fn fraction(&self) -> f64 {
        if self.weights == 0 {
            0.0
        } else {
            self.zeros as f64 / self.weights as f64
        }
    }
}

/// The zero weights of every conv/dense node of `q`, in node order (codes that do not decode
/// count as non-zero; validation rejects them anyway).
pub fn zero_counts(q: &inq_model::QuantModel) -> Vec<LayerZeros> {
    use inq_model::numerics::Weight;
    q.nodes
        .iter()
        .filter_map(|n| {
            let w = match &n.op {
                inq_model::Op::Conv(c) => &c.weights,
                inq_model::Op::Dense(d) => &d.weights,
                _ => return None,
            };
            let zeros = w
                .codes
                .iter()
                .filter(|&&c| matches!(w.decode(c), Ok(Weight::Zero | Weight::Int(0))))
                .count();
            Some(LayerZeros {
                name: n.name.clone(),
                zeros,
                weights: w.codes.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_at_least_the_fraction_and_exact_on_integers() {
        assert_eq!(prune_count(0.0, 1280), 0);
        assert_eq!(prune_count(0.9, 1280), 1152);
        assert_eq!(prune_count(0.9, 100), 90);
        assert_eq!(prune_count(0.75, 10), 8);
        assert_eq!(prune_count(0.5, 3), 2);
        assert_eq!(prune_count(0.999, 5), 5);
        for n in [1usize, 7, 144, 4608, 200_704] {
            for s in [0.1, 0.3, 0.5, 0.75, 0.9, 0.95] {
                let k = prune_count(s, n);
                assert!(k as f64 >= s * n as f64 - 1e-6, "{s}·{n}: {k}");
                assert!(k <= n && (k as f64) < s * n as f64 + 1.0, "{s}·{n}: {k}");
            }
        }
    }

    #[test]
    fn remaining_target_applies_the_schedule_to_the_rest() {
        assert_eq!(remaining_target(0.5, 100, 0), 50);
        assert_eq!(remaining_target(0.5, 100, 90), 95);
        assert_eq!(remaining_target(1.0, 100, 90), 100);
        for n in [0usize, 1, 9, 1000] {
            for p in [0.2, 0.5, 0.875, 1.0] {
                assert_eq!(remaining_target(p, n, 0), partition::target_count(p, n));
            }
        }
    }

    #[test]
    fn smallest_takes_the_smallest_magnitudes_ties_by_index() {
        let w = [0.5, -0.1, 0.1, 0.0, -2.0, 0.1];
        assert_eq!(smallest(&w, 0), Vec::<usize>::new());
        assert_eq!(smallest(&w, 1), vec![3]);
        assert_eq!(smallest(&w, 3), vec![1, 2, 3]);
        assert_eq!(smallest(&w, 4), vec![1, 2, 3, 5]);
        assert_eq!(smallest(&w, 9).len(), 6);
    }

    #[test]
    fn check_refuses_outside_the_unit_interval() {
        for s in [0.0, 0.5, 0.99] {
            assert!(check(s).is_ok());
        }
        for s in [1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            let e = check(s).unwrap_err().to_string();
            assert!(e.contains("sparsity") && e.contains("[0, 1)"), "{e}");
        }
    }
}
