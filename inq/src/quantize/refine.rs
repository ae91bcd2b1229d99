//! The activation-exponent search of integerization ([`super::IntConfig::refine`]): greedy
//! ±1 steps on each calibrated exponent, kept when the integer accuracy on the calibration
//! images improves.
//!
//! Owns the search loop and the evaluation of its candidates. A candidate differs from the
//! current model in one exponent, which changes the node producing that tensor and the nodes
//! after it; every node before it in the evaluation order is the same. So the node outputs of
//! the current model are kept for every calibration image ([`PrefixRuns`]) and a candidate
//! only evaluates its own suffix ([`inq_model::Reference::argmax_from`]); the accuracies, and
//! so the exponents chosen, are exactly those of evaluating every candidate whole (tested).
//! When the kept outputs would exceed [`KEEP_BUDGET_BYTES`], candidates are evaluated whole.
//!
//! Does not own: building a model from exponents, or the first calibration
//! ([`super::integerize()`]).

use inq_model::{QuantModel, Reference, Tensor};
use rayon::prelude::*;

use super::integerize::{evaluate_integer, pixels};
use super::state::QuantError;
use crate::data::Dataset;

/// The most memory kept node outputs may take (8 bytes per value, every node of every
/// calibration image); above it the search evaluates candidates whole.
pub const KEEP_BUDGET_BYTES: usize = 512 << 20;

/// At most this many passes over the exponents.
const ROUNDS: usize = 3;

/// Greedy search over the exponents `exps` of `model` (built from them by `build`): up to
/// three passes, each trying `e − 1` and `e + 1` for every exponent in turn and keeping a
/// change that raises the integer accuracy on `cal`, until a pass changes nothing or the
/// accuracy reaches `target`. Returns the exponents and the model.
pub fn search(
    mut exps: Vec<i32>,
    mut model: QuantModel,
    cal: &Dataset,
    target: f64,
    build: impl Fn(&[i32]) -> Result<QuantModel, QuantError>,
) -> Result<(Vec<i32>, QuantModel), QuantError> {
    let mut best = evaluate_integer(&model, cal)?;
    if best >= target {
        return Ok((exps, model));
    }
    let mut runs = PrefixRuns::new(&model, cal)?;
    let mut improved = true;
    let mut rounds = 0;
    while improved && rounds < ROUNDS && best < target {
        improved = false;
        rounds += 1;
        for i in 0..exps.len() {
            for d in [-1, 1] {
                let mut e2 = exps.clone();
                e2[i] += d;
                let Ok(m2) = build(&e2) else {
                    continue;
                };
                let a = match &runs {
                    Some(r) => r.accuracy_of(&model, &m2, cal)?,
                    None => evaluate_integer(&m2, cal)?,
                };
                if a > best {
                    best = a;
                    exps = e2;
                    model = m2;
                    improved = true;
                    if runs.take().is_some() {
                        // (the old outputs are dropped first: one set in memory at a time)
                        runs = PrefixRuns::new(&model, cal)?;
                    }
                }
            }
        }
    }
    Ok((exps, model))
}

/// Every node output of one model for every calibration image.
pub struct PrefixRuns {
    /// Per image, the outputs indexed like [`QuantModel::nodes`].
    nodes: Vec<Vec<Tensor>>,
}

impl PrefixRuns {
    /// Runs `model` on every image of `data` and keeps the outputs; `None` when they would
    /// take more than [`KEEP_BUDGET_BYTES`] (or `data` is empty).
    pub fn new(model: &QuantModel, data: &Dataset) -> Result<Option<Self>, QuantError> {
        if data.is_empty() {
            return Ok(None);
        }
        let r = Reference::new(model)?;
        let first = r.run(&pixels(data, 0))?;
        let per_image: usize = first.nodes.iter().map(|t| t.data.len() * 8).sum();
        if per_image.saturating_mul(data.len()) > KEEP_BUDGET_BYTES {
            return Ok(None);
        }
        let rest: Vec<Vec<Tensor>> = (1..data.len())
            .into_par_iter()
            .map(|i| r.run(&pixels(data, i)).map(|o| o.nodes))
            .collect::<Result<_, _>>()?;
        let nodes = std::iter::once(first.nodes).chain(rest).collect();
        Ok(Some(PrefixRuns { nodes }))
    }

    /// The top-1 accuracy on `data` of `candidate`, a model with the same graph as `kept`
    /// (the model these outputs are of), evaluating only the nodes from the first one, in
    /// evaluation order, where the two differ.
    pub fn accuracy_of(
        &self,
        kept: &QuantModel,
        candidate: &QuantModel,
        data: &Dataset,
    ) -> Result<f64, QuantError> {
        if candidate.nodes.len() != kept.nodes.len() {
            return evaluate_integer(candidate, data);
        }
        let r = Reference::new(candidate)?;
        let order = &r.graph().order;
        let from = if candidate.input != kept.input {
            0
        } else {
            order
                .iter()
                .position(|&i| candidate.nodes[i] != kept.nodes[i])
                .unwrap_or(order.len())
        };
        let correct: usize = (0..self.nodes.len())
            .into_par_iter()
            .map(|i| {
                r.argmax_from(&pixels(data, i), &self.nodes[i], from)
                    .map(|a| usize::from(a == usize::from(data.labels[i])))
            })
            .sum::<Result<usize, _>>()?;
        Ok(correct as f64 / self.nodes.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inq_model::random::{build as random_model, lenet_spec, random_input};

    /// Images the model reads, labelled half by `labeller` and half at random, so that
    /// accuracies are neither 0 nor 1.
    fn data(model: &QuantModel, labeller: &QuantModel, n: usize) -> Dataset {
        let r = Reference::new(labeller).unwrap();
        let [c, h, w] = model.input.shape;
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let x = random_input(model, 1000 + i as u64);
            let own = r.run(&x).unwrap().argmax as u8;
            pixels.extend(x.iter().map(|&v| u8::try_from(v).unwrap()));
            labels.push(if i % 2 == 0 { own } else { (i % 10) as u8 });
        }
        Dataset {
            channels: c,
            rows: h,
            cols: w,
            pixels,
            labels,
        }
    }

    /// A family of valid models indexed like exponents: `e[k] ≠ 0` gives the node at
    /// position `k` of the order the weights of another random model.
    struct Family {
        base: QuantModel,
        variants: Vec<QuantModel>,
        order: Vec<usize>,
    }

    impl Family {
        fn new() -> Self {
            let spec = lenet_spec(-8, true);
            let base = random_model(&spec, 5).unwrap();
            let variants = (0..4)
                .map(|s| random_model(&spec, 50 + s).unwrap())
                .collect();
            let order = Reference::new(&base).unwrap().graph().order.clone();
            Family {
                base,
                variants,
                order,
            }
        }
        fn build(&self, e: &[i32]) -> Result<QuantModel, QuantError> {
            let mut m = self.base.clone();
            for (k, &v) in e.iter().enumerate() {
                if v != 0 {
                    let src = &self.variants[v.unsigned_abs() as usize % self.variants.len()];
                    m.nodes[self.order[k]] = src.nodes[self.order[k]].clone();
                }
            }
            Reference::new(&m)?;
            Ok(m)
        }
    }

    #[test]
    fn suffix_evaluation_gives_the_whole_evaluation_s_accuracy() {
        let f = Family::new();
        let d = data(&f.base, &f.base, 24);
        let runs = PrefixRuns::new(&f.base, &d).unwrap().unwrap();
        assert_eq!(
            runs.accuracy_of(&f.base, &f.base, &d).unwrap(),
            evaluate_integer(&f.base, &d).unwrap()
        );
        let mut tried = 0;
        for k in 0..f.order.len() {
            for v in [-1, 1, 2] {
                let mut e = vec![0; f.order.len()];
                e[k] = v;
                let Ok(m) = f.build(&e) else { continue };
                tried += 1;
                assert_eq!(
                    runs.accuracy_of(&f.base, &m, &d).unwrap(),
                    evaluate_integer(&m, &d).unwrap(),
                    "node position {k}, variant {v}"
                );
            }
        }
        assert!(tried >= 3, "only {tried} candidates were valid models");
    }

    #[test]
    fn search_chooses_what_whole_evaluation_chooses() {
        let f = Family::new();
        // Labels from a model the search can reach: the last node of variant 1.
        let mut goal = vec![0; f.order.len()];
        goal[f.order.len() - 1] = 1;
        let d = data(&f.base, &f.build(&goal).unwrap(), 24);
        let start = vec![0; f.order.len()];
        let (exps, model) = search(start.clone(), f.base.clone(), &d, 1.0, |e| f.build(e)).unwrap();
        // The same greedy search, every candidate evaluated whole.
        let mut want = start;
        let mut best = evaluate_integer(&f.base, &d).unwrap();
        let mut improved = true;
        let mut rounds = 0;
        while improved && rounds < ROUNDS && best < 1.0 {
            improved = false;
            rounds += 1;
            for i in 0..want.len() {
                for delta in [-1, 1] {
                    let mut e2 = want.clone();
                    e2[i] += delta;
                    let Ok(m2) = f.build(&e2) else { continue };
                    let a = evaluate_integer(&m2, &d).unwrap();
                    if a > best {
                        best = a;
                        want = e2;
                        improved = true;
                    }
                }
            }
        }
        assert_eq!(exps, want);
        assert_eq!(model, f.build(&want).unwrap());
        assert_ne!(
            want,
            vec![0; f.order.len()],
            "the search should move something"
        );
    }
}
