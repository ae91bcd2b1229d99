//! The checked structure of a model graph: names resolved to node indices, an evaluation
//! order, the uses of every tensor, and every node's output shape and format.
//!
//! [`Graph::new`] refuses duplicate or empty names, dangling inputs (names that are neither a
//! node nor the input), wrong input counts, cycles, nodes whose output nobody uses, a missing
//! or non-logits output, and every shape or format mismatch an operator reports
//! ([`crate::ops::Operator::infer`]); each error names the node. It does not check the file
//! header (that is [`crate::validate`]).

use std::collections::HashMap;

use crate::error::ModelError;
use crate::format::QuantModel;
use crate::ops::api::check_act;
use crate::tensor::{OpError, TensorInfo};

/// Where a node input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The model input.
    Input,
    /// The output of node `i` (index into [`QuantModel::nodes`]).
    Node(usize),
}

/// One use of a tensor: input `port` of node `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Use {
    /// The reading node.
    pub node: usize,
    /// Which of its inputs.
    pub port: usize,
}

/// A validated model graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
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
    /// The model input's shape and format.
    pub input: TensorInfo,
    /// Per node, its output's shape and format.
    pub infos: Vec<TensorInfo>,
}

/// `node "name" (nodes[i])`, for errors.
pub fn node_label(m: &QuantModel, i: usize) -> String {
    let name = m.nodes.get(i).map(|n| n.name.as_str()).unwrap_or("?");
    format!("node \"{}\" (nodes[{i}])", name.escape_debug())
}

fn node_err(m: &QuantModel, i: usize, e: OpError) -> ModelError {
    let label = node_label(m, i);
    let field = if e.field.is_empty() {
        label
    } else {
        format!("{label}.{}", e.field)
    };
    ModelError::invalid(field, e.message)
}

impl Graph {
    /// Checks the structure and every node of `m` (not the header).
    pub fn new(m: &QuantModel) -> Result<Graph, ModelError> {
        let [c0, h0, w0] = m.input.shape;
        if c0 == 0 || h0 == 0 || w0 == 0 {
            return Err(ModelError::invalid(
                "input.shape",
                "every dimension must be at least 1",
            ));
        }
        check_act("input.format", m.input.format)
            .map_err(|e| ModelError::invalid(e.field, e.message))?;
        if m.input.name.is_empty() {
            return Err(ModelError::invalid("input.name", "must not be empty"));
        }
        if m.nodes.is_empty() {
            return Err(ModelError::invalid(
                "nodes",
                "a model needs at least one node",
            ));
        }
        let n = m.nodes.len();
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(n);
        for (i, node) in m.nodes.iter().enumerate() {
            if node.name.is_empty() {
                return Err(ModelError::invalid(
                    format!("nodes[{i}].name"),
                    "must not be empty",
                ));
            }
            if node.name == m.input.name {
                return Err(ModelError::invalid(
                    format!("{}.name", node_label(m, i)),
                    "is the name of the model input",
                ));
            }
            if let Some(j) = index.insert(node.name.as_str(), i) {
                return Err(ModelError::invalid(
                    format!("{}.name", node_label(m, i)),
                    format!("repeats the name of nodes[{j}]"),
                ));
            }
        }
        // resolve inputs
        let mut inputs = Vec::with_capacity(n);
        let mut uses = vec![Vec::new(); n];
        let mut input_uses = Vec::new();
        for (i, node) in m.nodes.iter().enumerate() {
            let arity = node.op.operator().arity();
            if node.inputs.len() != arity {
                return Err(ModelError::invalid(
                    format!("{}.inputs", node_label(m, i)),
                    format!(
                        "has {} entries; a {} node reads {arity}",
                        node.inputs.len(),
                        node.op.name()
                    ),
                ));
            }
            let mut srcs = Vec::with_capacity(arity);
            for (port, name) in node.inputs.iter().enumerate() {
                let s = if *name == m.input.name {
                    input_uses.push(Use { node: i, port });
                    Source::Input
                } else if let Some(&j) = index.get(name.as_str()) {
                    uses[j].push(Use { node: i, port });
                    Source::Node(j)
                } else {
                    return Err(ModelError::invalid(
                        format!("{}.inputs[{port}]", node_label(m, i)),
                        format!(
                            "\"{}\" is neither a node nor the model input \"{}\"",
                            name.escape_debug(),
                            m.input.name.escape_debug()
                        ),
                    ));
                };
                srcs.push(s);
            }
            inputs.push(srcs);
        }
        let output = *index.get(m.output.as_str()).ok_or_else(|| {
            ModelError::invalid(
                "output",
                format!("\"{}\" is not a node", m.output.escape_debug()),
            )
        })?;
        let order = topo_order(m, &inputs, &uses)?;
        for (i, u) in uses.iter().enumerate() {
            if u.is_empty() && i != output {
                return Err(ModelError::invalid(
                    node_label(m, i),
                    "its output is never used (no node reads it and it is not the model output)",
                ));
            }
        }
        if input_uses.is_empty() {
            return Err(ModelError::invalid(
                "input",
                "no node reads the model input",
            ));
        }
        // shapes and formats in evaluation order
        let input = TensorInfo {
            shape: vec![c0, h0, w0],
            format: Some(m.input.format),
        };
        input
            .check_size()
            .map_err(|e| ModelError::invalid("input.shape", e.message))?;
        let mut infos: Vec<Option<TensorInfo>> = vec![None; n];
        for &i in &order {
            let ins: Vec<&TensorInfo> = inputs[i]
                .iter()
                .map(|s| match s {
                    Source::Input => &input,
                    Source::Node(j) => infos[*j].as_ref().expect("evaluation order"),
                })
                .collect();
            let info = m.nodes[i]
                .op
                .operator()
                .infer(&ins)
                .and_then(|info| info.check_size().map(|()| info))
                .map_err(|e| node_err(m, i, e))?;
            infos[i] = Some(info);
        }
        let infos: Vec<TensorInfo> = infos.into_iter().map(|i| i.expect("every node")).collect();
        if infos[output].format.is_some() {
            return Err(ModelError::invalid(
                "output",
                format!(
                    "{} must be a conv or dense layer with a logits output",
                    node_label(m, output)
                ),
            ));
        }
        Ok(Graph {
            order,
            inputs,
            input_uses,
            uses,
            output,
            input,
            infos,
        })
    }

    /// Shape and format of a source.
    pub fn info(&self, s: Source) -> &TensorInfo {
        match s {
            Source::Input => &self.input,
            Source::Node(i) => &self.infos[i],
        }
    }

    /// The uses of a source.
    pub fn uses_of(&self, s: Source) -> &[Use] {
        match s {
            Source::Input => &self.input_uses,
            Source::Node(i) => &self.uses[i],
        }
    }
}

/// Kahn's algorithm; on a cycle, names its nodes.
fn topo_order(
    m: &QuantModel,
    inputs: &[Vec<Source>],
    uses: &[Vec<Use>],
) -> Result<Vec<usize>, ModelError> {
    let n = inputs.len();
    let mut pending: Vec<usize> = inputs
        .iter()
        .map(|s| s.iter().filter(|x| matches!(x, Source::Node(_))).count())
        .collect();
    // stable: ready nodes in file order
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(&i) = ready.iter().next() {
        ready.remove(&i);
        order.push(i);
        for u in &uses[i] {
            pending[u.node] -= 1;
            if pending[u.node] == 0 {
                ready.insert(u.node);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // follow unresolved inputs from an unordered node until a node repeats
    let start = (0..n).find(|&i| pending[i] > 0).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let next = inputs[cur].iter().find_map(|s| match s {
            Source::Node(j) if pending[*j] > 0 => Some(*j),
            _ => None,
        });
        let Some(j) = next else { break };
        if let Some(pos) = path.iter().position(|&p| p == j) {
            let mut cyc: Vec<String> = path[pos..]
                .iter()
                .rev()
                .map(|&k| format!("\"{}\"", m.nodes[k].name.escape_debug()))
                .collect();
            cyc.push(cyc[0].clone());
            return Err(ModelError::invalid(
                node_label(m, j),
                format!("is part of a cycle: {}", cyc.join(" → ")),
            ));
        }
        path.push(j);
        cur = j;
    }
    Err(ModelError::invalid(
        node_label(m, start),
        "is part of a cycle",
    ))
}
