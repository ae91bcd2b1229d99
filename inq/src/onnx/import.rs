//! ONNX → [`FloatModel`]: the walk over the graph.
//!
//! Owns the model-level checks (opset, the one graph input and output, metadata), finding the
//! data path (every node that depends on the input), visiting it in dependence order, handing
//! each node to its lowering ([`super::lower`], by `op_type`) and pruning dead branches. Does
//! not know any op's semantics (that is `lower/`), attribute parsing ([`super::attrs`]),
//! constant evaluation ([`super::const_eval`]) or the shared state ([`super::state`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use prost::Message;

use super::const_eval::{ConstEval, Sym};
use super::lower;
use super::proto::ModelProto;
use super::state::{Cur, Data, Importer};
use super::{NodeIssue, OnnxError, NORMALIZATION_KEY, SUPPORTED_OPSETS};
use crate::graph::{FloatModel, FloatOp, Normalization};
use inq_model::tensor::MAX_ELEMENTS;

pub use super::lower::SUPPORTED_OPS;

/// The result of [`import_full`].
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The model. Its `normalization` is the one from the metadata when present, otherwise
    /// [`Normalization::default`] (the caller should then supply the right one).
    pub model: FloatModel,
    /// The normalization recorded in the model's metadata (`inq.normalization`), if any.
    pub normalization: Option<Normalization>,
    /// Things the importer did that a user may want to know (folded BatchNormalization,
    /// dropped trailing Softmax, no-op reshapes, pruned branches), one sentence each.
    pub notes: Vec<String>,
    /// The default-domain opset version of the file.
    pub opset: i64,
    /// `producer_name producer_version` of the file.
    pub producer: String,
}

/// Reads an ONNX file into a [`FloatModel`] (see [`import_full`]).
pub fn import(path: &Path) -> Result<FloatModel, OnnxError> {
    Ok(import_full(path)?.model)
}

/// Reads an ONNX file: the model plus the metadata normalization and import notes.
///
/// Rules:
/// * default-domain opset in [`SUPPORTED_OPSETS`]; nodes of other domains are rejected;
/// * exactly one graph input that is not an initializer: float, `[N, C, H, W]` with fixed
///   `C, H, W` (`N` may be symbolic); exactly one graph output, on the data path;
/// * the data path is every node that depends on the input, visited in dependence order (file
///   order does not matter); a tensor may feed several nodes (fan-out). Every other input of
///   a node must be a constant — an initializer, a `Constant` node, or a constant expression
///   of `Constant`, `Identity`, `Dropout`, `Shape`, `Gather`, `Unsqueeze`, `Squeeze`,
///   `Concat`, `Cast`, `Transpose`, `Reshape`, `Slice` (including `Shape` of a data tensor, so
///   that `x.view(x.size(0), -1)` imports as a flatten);
/// * `Conv`: 2-D, `group = 1` or depthwise (`group` = input channels = output channels),
///   dilations 1, any kernel/stride/padding, `auto_pad` resolved from the static input shape;
///   `Gemm`: `transA=0`, `transB` 0 or 1, `alpha`/`beta` folded; `MatMul` with a constant 2-D
///   right operand; `Add` of two data tensors of one shape is a residual sum, `Add` of a
///   constant is folded into the bias of the directly preceding Conv/Gemm/MatMul;
///   `BatchNormalization` is folded into the directly preceding Conv/Gemm/MatMul
///   (`training_mode=0`), on any branch; `MaxPool`/`AveragePool` without padding or dilation
///   (`ceil_mode=1` only where it changes nothing); `GlobalAveragePool` (or `ReduceMean` over
///   axes 2, 3); `Flatten(axis=1)`, `Reshape` to `[N, C·H·W]` or to the same shape, `Squeeze`
///   of `[N, C, 1, 1]`; `Identity` and `Dropout` (inference; the mask output must be unused)
///   vanish; a final `Softmax`/`LogSoftmax` is dropped (argmax unchanged) with a note;
/// * nodes whose output does not reach the graph output are dropped with a note.
pub fn import_full(path: &Path) -> Result<Imported, OnnxError> {
    let bytes = std::fs::read(path).map_err(|e| OnnxError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let mut imp = import_bytes(&bytes, &path.display().to_string())?;
    if imp.model.name.is_empty() {
        imp.model.name = stem;
    }
    Ok(imp)
}

/// Imports a model from its protobuf bytes; `origin` names the source in errors.
pub fn import_bytes(bytes: &[u8], origin: &str) -> Result<Imported, OnnxError> {
    let model = ModelProto::decode(bytes).map_err(|e| OnnxError::Decode {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    let merr = |m: String| OnnxError::Model {
        origin: origin.to_string(),
        message: m,
    };
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain(), "" | "ai.onnx"))
        .map(|o| o.version())
        .ok_or_else(|| merr("no opset_import for the default ONNX domain".into()))?;
    if !SUPPORTED_OPSETS.contains(&opset) {
        return Err(merr(format!(
            "opset {opset} is not supported (supported: {}..={})",
            SUPPORTED_OPSETS.start(),
            SUPPORTED_OPSETS.end()
        )));
    }
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| merr("the model has no graph".into()))?;
    let normalization = match model
        .metadata_props
        .iter()
        .find(|p| p.key() == NORMALIZATION_KEY)
    {
        Some(p) => Some(
            serde_json::from_str::<Normalization>(p.value())
                .map_err(|e| merr(format!("metadata `{NORMALIZATION_KEY}`: {e}")))?,
        ),
        None => None,
    };
    let nodes = &graph.node;
    let consts = ConstEval::new(nodes, &graph.initializer);
    // The one real input.
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|v| !consts.is_initializer(v.name()))
        .collect();
    let input = match inputs[..] {
        [one] => one,
        _ => {
            return Err(merr(format!(
                "the graph has {} inputs ({}) besides initializers; exactly one is supported",
                inputs.len(),
                inputs
                    .iter()
                    .map(|v| format!("'{}'", v.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let (batch, chw) =
        input_shape(input).map_err(|m| merr(format!("input '{}': {m}", input.name())))?;
    if let Some(n) = &normalization {
        crate::data::check_normalization(n, chw[0])
            .map_err(|e| merr(format!("metadata `{NORMALIZATION_KEY}`: {e}")))?;
    }
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name()).collect();
    if outputs.len() != 1 {
        return Err(merr(format!(
            "the graph has {} outputs ({}); exactly one is supported",
            outputs.len(),
            outputs.join(", ")
        )));
    }
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for inp in &n.input {
            if !inp.is_empty() {
                let c = consumers.entry(inp.as_str()).or_default();
                if !c.contains(&i) {
                    c.push(i);
                }
            }
        }
    }
    let mut imp = Importer {
        nodes,
        opset,
        consts,
        consumers,
        batch,
        out: Vec::new(),
        notes: Vec::new(),
        graph_output: outputs[0].to_string(),
        names: HashSet::new(),
    };
    let node_err = |imp: &Importer, e: NodeIssue| {
        let n = &imp.nodes[e.index];
        OnnxError::Node {
            origin: origin.to_string(),
            node: n.name().to_string(),
            index: e.index,
            op: n.op_type().to_string(),
            message: e.message,
        }
    };
    let end = walk(&mut imp, input.name(), chw).map_err(|e| node_err(&imp, e))?;
    let Some(end) = end.get(outputs[0]) else {
        return Err(merr(format!(
            "the graph output '{}' does not depend on the input '{}'",
            outputs[0],
            input.name()
        )));
    };
    if end.name == input.name() {
        return Err(merr(format!(
            "the graph output '{}' is the input itself",
            outputs[0]
        )));
    }
    let mut fm = FloatModel::new(
        graph.name().to_string(),
        chw,
        normalization.clone().unwrap_or_default(),
        std::mem::take(&mut imp.out),
        end.name.clone(),
    );
    fm.input_name = input.name().to_string();
    prune(&mut fm, &mut imp.notes);
    if !fm
        .nodes
        .iter()
        .any(|n| !matches!(n.op, FloatOp::Relu(_) | FloatOp::Flatten(_)))
    {
        return Err(merr("the graph has no conv/dense/pool layer".into()));
    }
    fm.graph()
        .map_err(|e| merr(format!("the imported graph is inconsistent: {e}")))?;
    let producer = format!("{} {}", model.producer_name(), model.producer_version())
        .trim()
        .to_string();
    Ok(Imported {
        model: fm,
        normalization,
        notes: imp.notes,
        opset,
        producer,
    })
}

/// Lowers every node on the data path; returns the data tensors by ONNX name.
fn walk(
    imp: &mut Importer,
    input: &str,
    chw: [usize; 3],
) -> Result<HashMap<String, Data>, NodeIssue> {
    let nodes = imp.nodes;
    // Every tensor is assigned once (ONNX graphs are in SSA form): the dependence counts
    // below count each producer once.
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        if n.op_type().is_empty() {
            return Err(imp.issue(i, "has no op type"));
        }
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if o == input || imp.consts.is_initializer(o) {
                return Err(imp.issue(
                    i,
                    format!("output '{o}' is also the graph input or an initializer; an ONNX graph assigns every tensor once"),
                ));
            }
            if let Some(j) = producer.insert(o, i) {
                return Err(imp.issue(
                    i,
                    format!("output '{o}' is also an output of node #{j}; an ONNX graph assigns every tensor once"),
                ));
            }
        }
    }
    // The data path: nodes reachable from the input (through anything but Shape).
    let mut data_nodes = BTreeSet::new();
    let mut stack = vec![input.to_string()];
    imp.consts.data.insert(input.to_string());
    while let Some(t) = stack.pop() {
        for &c in imp
            .consumers
            .get(t.as_str())
            .map(|v| v.as_slice())
            .unwrap_or(&[])
        {
            if nodes[c].op_type() == "Shape" && matches!(nodes[c].domain(), "" | "ai.onnx") {
                continue;
            }
            if data_nodes.insert(c) {
                for o in nodes[c].output.iter().filter(|o| !o.is_empty()) {
                    imp.consts.data.insert(o.clone());
                    stack.push(o.clone());
                }
            }
        }
    }
    let mut tensors: HashMap<String, Data> = HashMap::new();
    tensors.insert(
        input.to_string(),
        Data {
            name: input.to_string(),
            cur: Cur::Map(chw),
            producer: None,
        },
    );
    let record_shapes = |imp: &mut Importer, name: &str, cur: Cur| {
        let shape_users: Vec<usize> = imp
            .consumers
            .get(name)
            .map(|v| {
                v.iter()
                    .copied()
                    .filter(|&c| imp.nodes[c].op_type() == "Shape")
                    .collect()
            })
            .unwrap_or_default();
        for c in shape_users {
            let s = imp.full_shape(cur);
            imp.consts.shape_of.insert(c, s);
        }
    };
    record_shapes(imp, input, Cur::Map(chw));
    // Visit in dependence order (ready nodes in file order).
    let mut pending: HashMap<usize, usize> = data_nodes
        .iter()
        .map(|&i| {
            let k = nodes[i]
                .input
                .iter()
                .filter(|t| {
                    !t.is_empty() && imp.consts.data.contains(t.as_str()) && t.as_str() != input
                })
                .collect::<HashSet<_>>()
                .len();
            (i, k)
        })
        .collect();
    let mut ready: BTreeSet<usize> = pending
        .iter()
        .filter(|(_, &k)| k == 0)
        .map(|(&i, _)| i)
        .collect();
    let mut done = 0;
    while let Some(i) = ready.pop_first() {
        done += 1;
        let node = &nodes[i];
        if !matches!(node.domain(), "" | "ai.onnx") {
            return Err(imp.issue(i, format!("domain '{}' is not supported", node.domain())));
        }
        let out = node
            .output
            .first()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| imp.issue(i, "has no output"))?
            .clone();
        for (k, o) in node.output.iter().enumerate().skip(1) {
            if !o.is_empty() && imp.consumers.contains_key(o.as_str()) {
                return Err(imp.issue(
                    i,
                    format!("output #{k} '{o}' is used by another node; only the first output is supported"),
                ));
            }
        }
        let ins: Vec<Option<Data>> = node
            .input
            .iter()
            .map(|t| tensors.get(t.as_str()).cloned())
            .collect();
        let op = node.op_type();
        let lowering = lower::find(op).ok_or_else(|| {
            imp.issue(
                i,
                format!(
                    "op type '{op}' is not supported on the data path (supported: {})",
                    SUPPORTED_OPS.join(", ")
                ),
            )
        })?;
        let d = lowering(imp, i, &ins)?;
        check_size(d.cur).map_err(|m| imp.issue(i, format!("output {m}")))?;
        record_shapes(imp, &out, d.cur);
        tensors.insert(out.clone(), d);
        // release the readers of this node's output
        let mut seen = HashSet::new();
        for &c in imp
            .consumers
            .get(out.as_str())
            .map(|v| v.as_slice())
            .unwrap_or(&[])
        {
            if let Some(k) = pending.get_mut(&c) {
                if seen.insert(c) {
                    *k -= 1;
                    if *k == 0 {
                        ready.insert(c);
                    }
                }
            }
        }
    }
    if done != data_nodes.len() {
        let i = pending
            .iter()
            .filter(|(_, &k)| k > 0)
            .map(|(&i, _)| i)
            .min()
            .unwrap_or(0);
        return Err(imp.issue(i, "is part of a cycle"));
    }
    Ok(tensors)
}

/// Drops float nodes whose output does not reach the model output (with a note).
fn prune(m: &mut FloatModel, notes: &mut Vec<String>) {
    let index: HashMap<String, usize> = m
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), i))
        .collect();
    let mut live = vec![false; m.nodes.len()];
    let mut stack: Vec<usize> = index.get(&m.output).copied().into_iter().collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut live[i], true) {
            continue;
        }
        for inp in &m.nodes[i].inputs {
            if let Some(&j) = index.get(inp) {
                stack.push(j);
            }
        }
    }
    let dead: Vec<String> = m
        .nodes
        .iter()
        .zip(&live)
        .filter(|(_, &l)| !l)
        .map(|(n, _)| n.name.clone())
        .collect();
    if !dead.is_empty() {
        notes.push(format!(
            "dropped {} node(s) whose output does not reach the graph output: {}",
            dead.len(),
            dead.join(", ")
        ));
        let mut k = 0;
        m.nodes.retain(|_| {
            k += 1;
            live[k - 1]
        });
    }
}

/// `(batch, [C, H, W])` of the graph input.
fn input_shape(v: &super::proto::ValueInfoProto) -> Result<(Sym, [usize; 3]), String> {
    use super::proto::tensor_shape_proto::dimension::Value as D;
    use super::proto::type_proto::Value as T;
    let tt = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(T::TensorType(t)) => t,
        _ => return Err("is not a tensor".into()),
    };
    if tt.elem_type() != 1 {
        return Err(format!(
            "element type {} is not supported (only float32)",
            super::proto::tensor_proto::DataType::try_from(tt.elem_type())
                .map(|d| d.as_str_name().to_string())
                .unwrap_or_else(|_| tt.elem_type().to_string())
        ));
    }
    let dims = &tt
        .shape
        .as_ref()
        .ok_or("has no shape; an NCHW shape with fixed C, H, W is needed")?
        .dim;
    if dims.len() != 4 {
        return Err(format!(
            "has rank {}; an NCHW (rank 4) image input is needed",
            dims.len()
        ));
    }
    let batch = match dims[0].value {
        Some(D::DimValue(b)) if b > 0 => Sym::Val(b),
        _ => Sym::Batch,
    };
    let mut chw = [0usize; 3];
    for (i, d) in dims[1..].iter().enumerate() {
        chw[i] = match d.value {
            Some(D::DimValue(x)) if x > 0 => x as usize,
            Some(D::DimValue(x)) => return Err(format!("dimension {} is {x}", i + 1)),
            Some(D::DimParam(ref p)) => {
                return Err(format!(
                    "dimension {} is symbolic ('{p}'); C, H and W must be fixed",
                    i + 1
                ))
            }
            None => {
                return Err(format!(
                    "dimension {} is unknown; C, H and W must be fixed",
                    i + 1
                ))
            }
        };
    }
    check_size(Cur::Map(chw))?;
    Ok((batch, chw))
}

/// Refuses a data tensor of more than [`MAX_ELEMENTS`] elements per image (the most a
/// quantized model's tensor may have), so that no size derived from activation shapes
/// overflows.
fn check_size(cur: Cur) -> Result<(), String> {
    let dims: &[usize] = match &cur {
        Cur::Map(chw) => chw,
        Cur::Vec(n) => std::slice::from_ref(n),
    };
    match dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
        Some(n) if n <= MAX_ELEMENTS => Ok(()),
        _ => Err(format!(
            "shape {dims:?} has more than {MAX_ELEMENTS} elements per image (the most supported)"
        )),
    }
}
