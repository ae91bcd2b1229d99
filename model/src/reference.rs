//! The integer golden reference: the one executable definition of the arithmetic in
//! `docs/numerics.md`.
//!
//! It runs a validated [`QuantModel`] on one integer input tensor and returns the logits, the
//! argmax, and every node's output tensor. It evaluates the graph in its checked order and
//! leaves the arithmetic of each node to its operator ([`crate::ops::Operator::eval`]). Weights
//! reach the operators as the integers they stand for ([`numerics::weight_int`]), so a product
//! is `x · w`, which equals the hardware's shift and conditional negate
//! ([`numerics::product`]; tested there); averages and alignments are shifts.

use crate::error::ModelError;
use crate::format::QuantModel;
use crate::graph::{Graph, Source};
use crate::numerics;
pub use crate::tensor::Tensor;
use crate::tensor::TensorInfo;

/// The result of running a model on one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The output node's logits (signed, at accumulator width, aligned to the layer's smallest
    /// exponent).
    pub logits: Vec<i64>,
    /// Index of the largest logit (lowest index on ties).
    pub argmax: usize,
    /// The output tensor of every node, indexed like [`QuantModel::nodes`].
    pub nodes: Vec<Tensor>,
}

/// A model prepared for repeated runs: graph checked, weights decoded once.
#[derive(Debug, Clone)]
pub struct Reference<'m> {
    model: &'m QuantModel,
    graph: Graph,
    /// Each node's weights as integers ([`numerics::weight_int`]), decoded once.
    decoded: Vec<Vec<i64>>,
}

impl<'m> Reference<'m> {
    /// Prepares a model (validating it).
    pub fn new(model: &'m QuantModel) -> Result<Self, ModelError> {
        let graph = crate::validate::validate(model)?;
        let decoded = model
            .nodes
            .iter()
            .map(|n| {
                n.op.operator()
                    .weights()
                    .map(|w| {
                        w.decode_all()
                            .into_iter()
                            .map(numerics::weight_int)
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        Ok(Reference {
            model,
            graph,
            decoded,
        })
    }

    /// The checked graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs the model on one input (`C·H·W` integers in C-major order).
    pub fn run(&self, input: &[i64]) -> Result<RunOutput, ModelError> {
        let x = self.input_tensor(input)?;
        let g = &self.graph;
        let mut out: Vec<Option<Tensor>> = vec![None; self.model.nodes.len()];
        for &i in &g.order {
            let t = self.eval_node(i, &x, |j| out[j].as_ref().expect("evaluation order"));
            out[i] = Some(t);
        }
        let nodes: Vec<Tensor> = out.into_iter().map(|t| t.expect("every node")).collect();
        let logits = nodes[g.output].data.clone();
        let argmax = numerics::argmax(&logits);
        Ok(RunOutput {
            logits,
            argmax,
            nodes,
        })
    }

    /// The output's argmax for one input, evaluating only the nodes from position `from` of
    /// the checked order ([`Graph::order`]) on and taking every earlier node's output from
    /// `known` (indexed like [`QuantModel::nodes`]).
    ///
    /// For re-running a model that differs from another only from position `from` on: `known`
    /// must be the other model's [`RunOutput::nodes`] for the same input (same graph, and the
    /// same nodes and input format before `from`), and the result is then exactly this
    /// model's [`Reference::run`] argmax. Used by the calibration search of `inq quantize`,
    /// which tries many models that differ in one activation exponent.
    pub fn argmax_from(
        &self,
        input: &[i64],
        known: &[Tensor],
        from: usize,
    ) -> Result<usize, ModelError> {
        let n = self.model.nodes.len();
        if known.len() != n {
            return Err(ModelError::Input {
                message: format!(
                    "{} known node outputs for a model of {n} nodes",
                    known.len()
                ),
            });
        }
        let x = self.input_tensor(input)?;
        let g = &self.graph;
        let mut fresh: Vec<Option<Tensor>> = vec![None; n];
        for &i in g.order.iter().skip(from) {
            let t = self.eval_node(i, &x, |j| fresh[j].as_ref().unwrap_or(&known[j]));
            fresh[i] = Some(t);
        }
        let logits = &fresh[g.output].as_ref().unwrap_or(&known[g.output]).data;
        Ok(numerics::argmax(logits))
    }

    /// Evaluates node `i` on the model input `x` and the outputs of earlier nodes (`node`).
    fn eval_node<'t>(&self, i: usize, x: &'t Tensor, node: impl Fn(usize) -> &'t Tensor) -> Tensor {
        let g = &self.graph;
        let (ts, infos): (Vec<&Tensor>, Vec<&TensorInfo>) = g.inputs[i]
            .iter()
            .map(|s| match s {
                Source::Input => (x, &g.input),
                Source::Node(j) => (node(*j), &g.infos[*j]),
            })
            .unzip();
        self.model.nodes[i]
            .op
            .operator()
            .eval(&ts, &infos, &self.decoded[i])
    }

    /// Checks one input against the model's input shape and format.
    fn input_tensor(&self, input: &[i64]) -> Result<Tensor, ModelError> {
        let m = self.model;
        let [c, h, w] = m.input.shape;
        if input.len() != c * h * w {
            return Err(ModelError::Input {
                message: format!(
                    "has {} values; the model's input {c}×{h}×{w} needs {}",
                    input.len(),
                    c * h * w
                ),
            });
        }
        let f = m.input.format;
        if let Some((i, v)) = input
            .iter()
            .enumerate()
            .find(|(_, &v)| v < f.min() || v > f.max())
        {
            return Err(ModelError::Input {
                message: format!(
                    "value {v} at index {i} outside the input format's range {}..={}",
                    f.min(),
                    f.max()
                ),
            });
        }
        Ok(Tensor {
            shape: vec![c, h, w],
            data: input.to_vec(),
        })
    }
}

/// Runs a model once (convenience wrapper around [`Reference`]).
pub fn run(model: &QuantModel, input: &[i64]) -> Result<RunOutput, ModelError> {
    Reference::new(model)?.run(input)
}
