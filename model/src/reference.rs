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
        let x = Tensor {
            shape: vec![c, h, w],
            data: input.to_vec(),
        };
        let g = &self.graph;
        let mut out: Vec<Option<Tensor>> = vec![None; m.nodes.len()];
        for &i in &g.order {
            let (ts, infos): (Vec<&Tensor>, Vec<&TensorInfo>) = g.inputs[i]
                .iter()
                .map(|s| match s {
                    Source::Input => (&x, &g.input),
                    Source::Node(j) => (out[*j].as_ref().expect("evaluation order"), &g.infos[*j]),
                })
                .unzip();
            let t = m.nodes[i].op.operator().eval(&ts, &infos, &self.decoded[i]);
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
}

/// Runs a model once (convenience wrapper around [`Reference`]).
pub fn run(model: &QuantModel, input: &[i64]) -> Result<RunOutput, ModelError> {
    Reference::new(model)?.run(input)
}
