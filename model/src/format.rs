//! The quantized-model file format, version 2: a graph of named nodes (data types and their
//! JSON form).
//!
//! A model file is one JSON object (see `docs/numerics.md` § 8): the input, the nodes (each
//! with a name, the names of its inputs and an operator with its parameters) and the name of
//! the output. Weight codes are stored as codes (small integers), never as floats; biases are
//! integers at the accumulator's scale.
//!
//! This module owns the types and their (de)serialization only. Loading and saving with
//! validation is [`crate::file`]; the checks are [`crate::validate`]; version 1 files are read
//! by [`crate::v1`].

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

use crate::numerics::ActFormat;
use crate::ops::Op;

/// The value of the `format` field of every model file.
pub const FORMAT_NAME: &str = "inq-quantized-model";
/// The format version this build writes (version 1 files are converted on load).
pub const FORMAT_VERSION: u32 = 2;
/// The default name of the model input.
pub const DEFAULT_INPUT_NAME: &str = "input";

fn default_input_name() -> String {
    DEFAULT_INPUT_NAME.to_string()
}

/// Description of the network input: name, shape and integer format of each element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// The name nodes use to refer to the input (default `input`).
    #[serde(default = "default_input_name")]
    pub name: String,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Integer format of the input elements (8-bit unsigned pixels for image data).
    pub format: ActFormat,
    /// How raw data maps onto the input integers, for documentation and tools
    /// (e.g. "raw 8-bit pixels; normalization x/255 folded into the first layer").
    #[serde(default)]
    pub mapping: String,
}

/// One node of the graph: an operator applied to named inputs. Its output tensor is named by
/// the node's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's name (unique; also the name of its output tensor; informational elsewhere,
    /// sanitized before it reaches RTL).
    pub name: String,
    /// The names of the tensors it reads (node names or the input's name), one per operator
    /// input.
    pub inputs: Vec<String>,
    /// The operator and its parameters.
    pub op: Op,
}

impl Node {
    /// A node.
    pub fn new(name: impl Into<String>, inputs: &[&str], op: Op) -> Self {
        Node {
            name: name.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            op,
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut body = match self.op.to_body().map_err(S::Error::custom)? {
            serde_json::Value::Object(m) => m,
            other => {
                let mut m = serde_json::Map::new();
                m.insert("params".into(), other);
                m
            }
        };
        body.insert("name".into(), serde_json::Value::String(self.name.clone()));
        body.insert(
            "inputs".into(),
            serde_json::Value::Array(
                self.inputs
                    .iter()
                    .map(|i| serde_json::Value::String(i.clone()))
                    .collect(),
            ),
        );
        body.insert(
            "op".into(),
            serde_json::Value::String(self.op.name().to_string()),
        );
        body.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let name = match map.remove("name") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(D::Error::custom("node field `name` must be a string")),
            None => return Err(D::Error::custom("a node is missing the field `name`")),
        };
        let label = format!("node \"{}\"", name.escape_debug());
        let inputs = match map.remove("inputs") {
            Some(v) => Vec::<String>::deserialize(v).map_err(|e| {
                D::Error::custom(format!("{label}: `inputs` must be a list of names ({e})"))
            })?,
            None => return Err(D::Error::custom(format!("{label}: missing field `inputs`"))),
        };
        let op = match map.remove("op") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(D::Error::custom(format!("{label}: `op` must be a string"))),
            None => return Err(D::Error::custom(format!("{label}: missing field `op`"))),
        };
        let op = Op::from_parts(&op, serde_json::Value::Object(map))
            .map_err(|e| D::Error::custom(format!("{label}: {e}")))?;
        Ok(Node { name, inputs, op })
    }
}

/// Where a model came from and how it was quantized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The source float model (path or description).
    #[serde(default)]
    pub source: String,
    /// SHA-256 of the source file, hex, if known.
    #[serde(default)]
    pub source_sha256: String,
    /// The tool and version that wrote the file.
    #[serde(default)]
    pub tool: String,
    /// Quantization settings (bits, schedule, strategy, seed, ...), free-form.
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Accuracies measured at quantization time (fractions), free-form keys.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// A complete quantized network: a directed acyclic graph of nodes from the input to the
/// output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantModel {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] for files this build writes.
    pub version: u32,
    /// Model name.
    pub name: String,
    /// The input tensor.
    pub input: InputSpec,
    /// The nodes (any order; validation computes the evaluation order).
    pub nodes: Vec<Node>,
    /// The name of the node whose output (logits) is the model's output.
    pub output: String,
    /// Where the model came from.
    #[serde(default)]
    pub provenance: Provenance,
}

impl QuantModel {
    /// A new model with the current format name and version.
    pub fn new(
        name: impl Into<String>,
        input: InputSpec,
        nodes: Vec<Node>,
        output: impl Into<String>,
    ) -> Self {
        QuantModel {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            name: name.into(),
            input,
            nodes,
            output: output.into(),
            provenance: Provenance::default(),
        }
    }

    /// A chain: each node reads the previous one (the first reads the input), the last is the
    /// output. `nodes` are `(name, op)`.
    pub fn chain(name: impl Into<String>, input: InputSpec, nodes: Vec<(String, Op)>) -> Self {
        let mut prev = input.name.clone();
        let mut out = Vec::with_capacity(nodes.len());
        for (n, op) in nodes {
            out.push(Node {
                name: n.clone(),
                inputs: vec![prev],
                op,
            });
            prev = n;
        }
        QuantModel::new(name, input, out, prev)
    }

    /// The index of the node called `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// SHA-256 of the canonical JSON serialization, hex: identifies a model in manifests.
    pub fn hash(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        hex(&Sha256::digest(text.as_bytes()))
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
