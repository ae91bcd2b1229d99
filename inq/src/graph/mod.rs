//! The float model: a directed acyclic graph of named nodes, the common currency between ONNX
//! import, training, quantization and export.
//!
//! Owns the data types ([`FloatModel`], [`Node`], [`Normalization`]) and their helpers. The
//! operators (parameters, shape rule and float forward of each) live one per file in [`ops`];
//! the structural check (names, inputs, cycles, shapes) is [`check`]; folding batch
//! normalization into the conv/dense it follows is [`fold`]. Not here: running a whole model
//! ([`crate::forward`]), training ([`crate::train`]), quantization ([`crate::quantize`]).
//!
//! Tensors are `f32`, weights in ONNX layout (`[out, in/group, kh, kw]` for conv, `[out, in]`
//! for dense). A node's output tensor is named by the node's name; the model input by
//! [`FloatModel::input_name`].

pub mod check;
pub mod fold;
pub mod ops;

use serde::{Deserialize, Serialize};

pub use check::{FloatGraph, GraphError};
pub use fold::fold_batchnorm;
pub use inq_model::{Source, Use};
pub use ops::{
    Add, AvgPool, BatchNorm, Conv, Dense, Flatten, FloatOp, FloatOperator, GlobalAvgPool, MaxPool,
    Relu, Window,
};

/// Per-channel input normalization applied to raw data before the first layer:
/// `x = (pixel · scale − mean[c]) / std[c]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Multiplier applied to the raw 8-bit value first (usually `1/255`).
    pub scale: f32,
    /// Per-channel mean (one entry applies to all channels).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (one entry applies to all channels).
    pub std: Vec<f32>,
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.0],
            std: vec![1.0],
        }
    }
}

impl Normalization {
    /// `(scale / std_c, −mean_c / std_c)` for each of `channels` channels (a one-entry list
    /// applies to all; a missing entry counts as mean 0 / std 1).
    pub fn affine(&self, channels: usize) -> Vec<(f32, f32)> {
        let pick = |v: &[f32], c: usize, d: f32| {
            if v.len() == 1 {
                v[0]
            } else {
                v.get(c).copied().unwrap_or(d)
            }
        };
        (0..channels)
            .map(|c| {
                let (m, s) = (pick(&self.mean, c, 0.0), pick(&self.std, c, 1.0));
                (self.scale / s, -m / s)
            })
            .collect()
    }
}

/// The default name of the model input.
pub const INPUT_NAME: &str = "input";

fn default_input_name() -> String {
    INPUT_NAME.to_string()
}

/// One node: an operator applied to named inputs; its output is named by the node's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Unique name (also the name of its output tensor).
    pub name: String,
    /// The tensors it reads: node names or the model input's name, one per operator input.
    pub inputs: Vec<String>,
    /// The operator and its parameters.
    pub op: FloatOp,
}

impl Node {
    /// A node.
    pub fn new(name: impl Into<String>, inputs: &[&str], op: impl Into<FloatOp>) -> Self {
        Node {
            name: name.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            op: op.into(),
        }
    }
}

/// A float CNN as a graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatModel {
    /// Model name.
    pub name: String,
    /// The name nodes use for the model input.
    #[serde(default = "default_input_name")]
    pub input_name: String,
    /// `[C, H, W]` of one input.
    pub input_shape: [usize; 3],
    /// How raw 8-bit data maps onto the input.
    pub normalization: Normalization,
    /// The nodes (any order; [`FloatModel::graph`] computes an evaluation order; builders and
    /// the importer write them in evaluation order).
    pub nodes: Vec<Node>,
    /// The name of the node whose output is the model output (logits).
    pub output: String,
}

impl FloatModel {
    /// A model from nodes.
    pub fn new(
        name: impl Into<String>,
        input_shape: [usize; 3],
        normalization: Normalization,
        nodes: Vec<Node>,
        output: impl Into<String>,
    ) -> Self {
        FloatModel {
            name: name.into(),
            input_name: INPUT_NAME.to_string(),
            input_shape,
            normalization,
            nodes,
            output: output.into(),
        }
    }

    /// A chain: each node reads the previous one (the first reads the input), the last is the
    /// output.
    pub fn chain(
        name: impl Into<String>,
        input_shape: [usize; 3],
        normalization: Normalization,
        ops: Vec<(String, FloatOp)>,
    ) -> Self {
        let mut prev = INPUT_NAME.to_string();
        let mut nodes = Vec::with_capacity(ops.len());
        for (n, op) in ops {
            nodes.push(Node {
                name: n.clone(),
                inputs: vec![prev],
                op,
            });
            prev = n;
        }
        FloatModel::new(name, input_shape, normalization, nodes, prev)
    }

    /// The checked graph (evaluation order, uses, shapes); see [`check`].
    pub fn graph(&self) -> Result<FloatGraph, GraphError> {
        FloatGraph::new(self)
    }

    /// The index of the node called `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Indices of the nodes with trainable parameters (conv, dense, batch norm), in node
    /// order: the order of [`crate::train::Params`].
    pub fn param_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].op.params().is_some())
            .collect()
    }

    /// Indices of the conv and dense nodes, in node order: the layers INQ quantizes.
    pub fn weighted_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].op, FloatOp::Conv(_) | FloatOp::Dense(_)))
            .collect()
    }
}

/// Label of node `i` for errors: `node 'name' (#i, Op)`.
pub fn node_label(m: &FloatModel, i: usize) -> String {
    match m.nodes.get(i) {
        Some(n) => format!("node '{}' (#{i}, {})", n.name, n.op.op_name()),
        None => format!("node #{i}"),
    }
}
