//! The state shared by the walk over the graph ([`super::import`]) and the per-op lowerings
//! ([`super::lower`]): the float nodes built so far, the data tensors' shapes and fold
//! targets, constant evaluation, names and notes. Owns no op semantics and no walk; it exists
//! so that those two depend on it and not on each other.

use std::collections::{HashMap, HashSet};

use super::const_eval::{ConstEval, Sym};
use super::proto::NodeProto;
use super::NodeIssue;
use crate::graph::{FloatOp, Node};

/// The tensor flowing along the data path (batch dimension excluded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cur {
    /// `[N, C, H, W]`.
    Map([usize; 3]),
    /// `[N, F]`.
    Vec(usize),
}

/// A data tensor: the float tensor (node or input name) holding it, its shape, and the float
/// conv/dense node a following BatchNormalization or bias `Add` may be folded into (set only
/// while the tensor is that node's output, read by nothing else so far).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Data {
    /// Float tensor name.
    pub name: String,
    /// Shape.
    pub cur: Cur,
    /// Index of the float conv/dense node to fold into.
    pub producer: Option<usize>,
}

/// Dimensions and values of a constant float input.
pub(crate) type Weights = (Vec<usize>, Vec<f32>);

/// The lowering state shared by the walk and the per-op lowerings ([`super::lower`]).
pub(crate) struct Importer<'a> {
    /// The ONNX nodes.
    pub nodes: &'a [NodeProto],
    /// The default-domain opset.
    pub opset: i64,
    /// Constant evaluation.
    pub consts: ConstEval<'a>,
    /// Per ONNX tensor, the nodes reading it (Shape nodes included).
    pub consumers: HashMap<&'a str, Vec<usize>>,
    /// The batch dimension of the graph input.
    pub batch: Sym,
    /// The float nodes built so far.
    pub out: Vec<Node>,
    /// Import notes.
    pub notes: Vec<String>,
    /// The graph output's name.
    pub graph_output: String,
    pub(crate) names: HashSet<String>,
}

impl<'a> Importer<'a> {
    /// An error about node `i`.
    pub fn issue(&self, i: usize, message: impl Into<String>) -> NodeIssue {
        NodeIssue {
            index: i,
            message: message.into(),
        }
    }

    /// A unique float node name from ONNX node `i` (its name, or `<op>_<i>`), with `suffix`.
    pub fn name_for(&mut self, i: usize, suffix: &str) -> String {
        let n = &self.nodes[i];
        let mut name = if n.name().is_empty() {
            format!("{}_{i}", n.op_type().to_lowercase())
        } else {
            n.name().to_string()
        };
        name.push_str(suffix);
        if self.names.contains(&name) {
            name = format!("{name}_{i}");
        }
        self.names.insert(name.clone());
        name
    }

    /// Adds a float node for ONNX node `i` reading `inputs`; returns its index.
    pub fn push(&mut self, i: usize, suffix: &str, inputs: &[&Data], op: FloatOp) -> usize {
        let name = self.name_for(i, suffix);
        self.out.push(Node {
            name,
            inputs: inputs.iter().map(|d| d.name.clone()).collect(),
            op,
        });
        self.out.len() - 1
    }

    /// The data tensor of a new float node `k` with shape `cur`; `fusable` when a following
    /// BatchNormalization or bias Add may be folded into it.
    pub fn data_of(&self, k: usize, cur: Cur, fusable: bool) -> Data {
        Data {
            name: self.out[k].name.clone(),
            cur,
            producer: fusable.then_some(k),
        }
    }

    /// Number of nodes reading ONNX tensor `name` (not counting `Shape` nodes).
    pub fn readers(&self, name: &str) -> usize {
        self.consumers
            .get(name)
            .map(|c| {
                c.iter()
                    .filter(|&&j| self.nodes[j].op_type() != "Shape")
                    .count()
            })
            .unwrap_or(0)
    }

    /// Constant float input `k` of node `i`: `(dims, values)`, `None` when absent.
    pub fn weights(
        &mut self,
        i: usize,
        k: usize,
        what: &str,
    ) -> Result<Option<Weights>, NodeIssue> {
        match self.consts.input(i, k, 0)? {
            None => Ok(None),
            Some(v) => {
                let f = v
                    .f32()
                    .map_err(|m| self.issue(i, format!("input #{k} ({what}) {m}")))?;
                Ok(Some((v.dims.clone(), f.to_vec())))
            }
        }
    }

    /// `[N, C, H, W]` / `[N, F]` with the symbolic batch, for `Shape`.
    pub fn full_shape(&self, cur: Cur) -> Vec<Sym> {
        let mut v = vec![self.batch];
        match cur {
            Cur::Map([c, h, w]) => v.extend([c, h, w].map(|d| Sym::Val(d as i64))),
            Cur::Vec(n) => v.push(Sym::Val(n as i64)),
        }
        v
    }
}
