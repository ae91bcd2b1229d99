//! The checked structure of a float model: names resolved to node indices, an evaluation
//! order, the uses of every tensor and every node's output shape.
//!
//! [`FloatGraph::new`] refuses empty or duplicate names, dangling inputs, wrong input counts,
//! cycles, nodes whose output nobody uses, a missing output, and every shape mismatch an
//! operator reports ([`super::FloatOperator::infer`]); each error names the node. It does not
//! run anything ([`crate::forward`]) or check the normalization ([`crate::data`]).

use std::collections::{BTreeSet, HashMap};

use thiserror::Error;

use super::{FloatModel, Source, Use};

/// What is wrong with a float model's structure.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GraphError {
    /// A node is malformed or does not fit its inputs.
    #[error("node '{name}' (#{index}, {op}): {message}")]
    Node {
        /// Index in [`FloatModel::nodes`].
        index: usize,
        /// The node's name.
        name: String,
        /// The node's op name.
        op: String,
        /// What is wrong.
        message: String,
    },
    /// A model-level problem (input shape, output, empty model).
    #[error("{message}")]
    Model {
        /// What is wrong.
        message: String,
    },
}

/// A validated float model graph.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatGraph {
    /// Node indices in an evaluation order (every node after the nodes it reads).
    pub order: Vec<usize>,
    /// Per node, its resolved inputs.
    pub inputs: Vec<Vec<Source>>,
    /// The uses of the model input.
    pub input_uses: Vec<Use>,
    /// Per node, the uses of its output.
    pub uses: Vec<Vec<Use>>,
    /// The output node.
    pub output: usize,
    /// The input shape `[C, H, W]`.
    pub input_shape: Vec<usize>,
    /// Per node, its output shape (`[C, H, W]` or `[N]`).
    pub shapes: Vec<Vec<usize>>,
}

impl FloatGraph {
    /// Checks `m` (structure and shapes).
    pub fn new(m: &FloatModel) -> Result<FloatGraph, GraphError> {
        let model = |message: String| GraphError::Model { message };
        let [c0, h0, w0] = m.input_shape;
        if c0 == 0 || h0 == 0 || w0 == 0 {
            return Err(model(format!(
                "input shape {:?} has a zero dimension",
                m.input_shape
            )));
        }
        if m.nodes.is_empty() {
            return Err(model("the model has no nodes".into()));
        }
        let err = |i: usize, message: String| {
            let n = &m.nodes[i];
            GraphError::Node {
                index: i,
                name: n.name.clone(),
                op: n.op.op_name().to_string(),
                message,
            }
        };
        let n = m.nodes.len();
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(n);
        for (i, node) in m.nodes.iter().enumerate() {
            if node.name.is_empty() {
                return Err(err(i, "has an empty name".into()));
            }
            if node.name == m.input_name {
                return Err(err(i, "has the name of the model input".into()));
            }
            if let Some(j) = index.insert(node.name.as_str(), i) {
                return Err(err(i, format!("repeats the name of node #{j}")));
            }
        }
        let mut inputs = Vec::with_capacity(n);
        let mut uses = vec![Vec::new(); n];
        let mut input_uses = Vec::new();
        for (i, node) in m.nodes.iter().enumerate() {
            let arity = node.op.operator().arity();
            if node.inputs.len() != arity {
                return Err(err(
                    i,
                    format!("has {} inputs; it reads {arity}", node.inputs.len()),
                ));
            }
            let mut srcs = Vec::with_capacity(arity);
            for (port, name) in node.inputs.iter().enumerate() {
                let s = if *name == m.input_name {
                    input_uses.push(Use { node: i, port });
                    Source::Input
                } else if let Some(&j) = index.get(name.as_str()) {
                    uses[j].push(Use { node: i, port });
                    Source::Node(j)
                } else {
                    return Err(err(
                        i,
                        format!("input '{name}' is neither a node nor the model input"),
                    ));
                };
                srcs.push(s);
            }
            inputs.push(srcs);
        }
        let output = *index
            .get(m.output.as_str())
            .ok_or_else(|| model(format!("the output '{}' is not a node", m.output)))?;
        // Kahn's algorithm, ready nodes in file order.
        let mut pending: Vec<usize> = inputs
            .iter()
            .map(|s: &Vec<Source>| s.iter().filter(|x| matches!(x, Source::Node(_))).count())
            .collect();
        let mut ready: BTreeSet<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for u in &uses[i] {
                pending[u.node] -= 1;
                if pending[u.node] == 0 {
                    ready.insert(u.node);
                }
            }
        }
        if order.len() != n {
            let i = (0..n).find(|&i| pending[i] > 0).unwrap_or(0);
            return Err(err(i, "is part of a cycle".into()));
        }
        for (i, u) in uses.iter().enumerate() {
            if u.is_empty() && i != output {
                return Err(err(
                    i,
                    "its output is never used (no node reads it and it is not the model output)"
                        .into(),
                ));
            }
        }
        if input_uses.is_empty() {
            return Err(model(format!(
                "no node reads the model input '{}'",
                m.input_name
            )));
        }
        let input_shape = vec![c0, h0, w0];
        let mut shapes: Vec<Vec<usize>> = vec![Vec::new(); n];
        for &i in &order {
            let ins: Vec<&[usize]> = inputs[i]
                .iter()
                .map(|s| match s {
                    Source::Input => input_shape.as_slice(),
                    Source::Node(j) => shapes[*j].as_slice(),
                })
                .collect();
            shapes[i] = m.nodes[i]
                .op
                .operator()
                .infer(&ins)
                .map_err(|e| err(i, e))?;
        }
        Ok(FloatGraph {
            order,
            inputs,
            input_uses,
            uses,
            output,
            input_shape,
            shapes,
        })
    }

    /// The shape of a source.
    pub fn shape(&self, s: Source) -> &[usize] {
        match s {
            Source::Input => &self.input_shape,
            Source::Node(i) => &self.shapes[i],
        }
    }

    /// The uses of a source.
    pub fn uses_of(&self, s: Source) -> &[Use] {
        match s {
            Source::Input => &self.input_uses,
            Source::Node(i) => &self.uses[i],
        }
    }

    /// For each position in [`FloatGraph::order`], the nodes whose outputs are read for the
    /// last time there (so an evaluator can free them); the output node is never freed.
    pub fn last_reads(&self) -> Vec<Vec<usize>> {
        let mut pos = vec![0; self.order.len()];
        for (p, &i) in self.order.iter().enumerate() {
            pos[i] = p;
        }
        let mut out = vec![Vec::new(); self.order.len()];
        for (j, u) in self.uses.iter().enumerate() {
            if j == self.output {
                continue;
            }
            if let Some(last) = u.iter().map(|u| pos[u.node]).max() {
                out[last].push(j);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Add, Flatten, FloatOp, Node, Normalization, Relu};

    #[test]
    fn errors_name_the_node() {
        let mut m = FloatModel::new(
            "t",
            [1, 2, 2],
            Normalization::default(),
            vec![
                Node::new("r", &["input"], Relu {}),
                Node::new("a", &["r", "input"], Add {}),
                Node::new("f", &["a"], Flatten {}),
            ],
            "f",
        );
        let g = m.graph().unwrap();
        assert_eq!(g.order, vec![0, 1, 2]);
        assert_eq!(g.input_uses.len(), 2);
        assert_eq!(g.shapes[2], vec![4]);
        m.nodes[1].inputs[1] = "nope".into();
        let e = m.graph().unwrap_err().to_string();
        assert!(
            e.contains("node 'a' (#1, Add)") && e.contains("'nope'"),
            "{e}"
        );
        m.nodes[1].inputs = vec!["r".into(), "f".into()];
        let e = m.graph().unwrap_err().to_string();
        assert!(e.contains("cycle"), "{e}");
        m.nodes[1].op = FloatOp::Relu(Relu {});
        let e = m.graph().unwrap_err().to_string();
        assert!(e.contains("has 2 inputs; it reads 1"), "{e}");
    }
}
