//! Version 1 of the model file (a chain of layers), read and converted to the version 2 graph.
//!
//! Version 1 files list `layers` in execution order; each layer reads the previous one. The
//! conversion gives every layer a node of the same name (made unique if names repeat or are
//! empty) reading its predecessor, and makes the last layer the output. The arithmetic of
//! every layer is unchanged, so a converted model computes exactly what the file did.

use serde::Deserialize;
use std::collections::HashSet;

use crate::format::{InputSpec, Node, Provenance, QuantModel, DEFAULT_INPUT_NAME};
use crate::numerics::ActFormat;
use crate::ops::{self, Op, Output};
use crate::weights::WeightTensor;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputV1 {
    shape: [usize; 3],
    format: ActFormat,
    #[serde(default)]
    mapping: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConvV1 {
    name: String,
    in_channels: usize,
    out_channels: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 4],
    #[serde(default)]
    pad_value: i64,
    weights: WeightTensor,
    bias: Vec<i64>,
    relu: bool,
    output: Output,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseV1 {
    name: String,
    in_features: usize,
    out_features: usize,
    weights: WeightTensor,
    bias: Vec<i64>,
    relu: bool,
    output: Output,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolV1 {
    name: String,
    kernel: [usize; 2],
    stride: [usize; 2],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamedV1 {
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum LayerV1 {
    Conv(ConvV1),
    Dense(DenseV1),
    MaxPool(PoolV1),
    AvgPool(PoolV1),
    GlobalAvgPool(NamedV1),
    Flatten(NamedV1),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelV1 {
    #[allow(dead_code)]
    format: String,
    #[allow(dead_code)]
    version: u32,
    name: String,
    input: InputV1,
    layers: Vec<LayerV1>,
    #[serde(default)]
    provenance: Provenance,
}

/// Parses a version 1 document and converts it (not yet validated).
pub fn convert(value: serde_json::Value) -> Result<QuantModel, String> {
    let m: ModelV1 = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if m.layers.is_empty() {
        return Err("`layers`: a model needs at least one layer".into());
    }
    let mut used: HashSet<String> = HashSet::new();
    used.insert(DEFAULT_INPUT_NAME.to_string());
    let mut nodes = Vec::with_capacity(m.layers.len());
    let mut prev = DEFAULT_INPUT_NAME.to_string();
    for (i, l) in m.layers.into_iter().enumerate() {
        let (name, op) = match l {
            LayerV1::Conv(c) => (
                c.name,
                Op::Conv(ops::Conv {
                    in_channels: c.in_channels,
                    out_channels: c.out_channels,
                    kernel: c.kernel,
                    stride: c.stride,
                    pad: c.pad,
                    pad_value: c.pad_value,
                    group: 1,
                    weights: c.weights,
                    bias: c.bias,
                    relu: c.relu,
                    output: c.output,
                }),
            ),
            LayerV1::Dense(d) => (
                d.name,
                Op::Dense(ops::Dense {
                    in_features: d.in_features,
                    out_features: d.out_features,
                    weights: d.weights,
                    bias: d.bias,
                    relu: d.relu,
                    output: d.output,
                }),
            ),
            LayerV1::MaxPool(p) => (
                p.name,
                Op::MaxPool(ops::MaxPool(ops::Window {
                    kernel: p.kernel,
                    stride: p.stride,
                })),
            ),
            LayerV1::AvgPool(p) => (
                p.name,
                Op::AvgPool(ops::AvgPool(ops::Window {
                    kernel: p.kernel,
                    stride: p.stride,
                })),
            ),
            LayerV1::GlobalAvgPool(n) => (n.name, Op::GlobalAvgPool(ops::GlobalAvgPool {})),
            LayerV1::Flatten(n) => (n.name, Op::Flatten(ops::Flatten {})),
        };
        let name = unique_name(&name, i, &mut used);
        nodes.push(Node {
            name: name.clone(),
            inputs: vec![prev],
            op,
        });
        prev = name;
    }
    let mut q = QuantModel::new(
        m.name,
        InputSpec {
            name: DEFAULT_INPUT_NAME.to_string(),
            shape: m.input.shape,
            format: m.input.format,
            mapping: m.input.mapping,
        },
        nodes,
        prev,
    );
    q.provenance = m.provenance;
    Ok(q)
}

/// `name`, or `layer<i>` when empty, with `_<i>` appended while it is taken.
fn unique_name(name: &str, i: usize, used: &mut HashSet<String>) -> String {
    let mut n = if name.is_empty() {
        format!("layer{i}")
    } else {
        name.to_string()
    };
    while used.contains(&n) {
        n = format!("{n}_{i}");
    }
    used.insert(n.clone());
    n
}
