//! ONNX → [`FloatModel`].

use std::collections::{HashMap, HashSet};
use std::path::Path;

use prost::Message;

use super::proto::{
    attribute_proto::AttributeType, AttributeProto, ModelProto, NodeProto, TensorProto,
};
use super::tensor::{self, Data, Sym, Value};
use super::{OnnxError, NORMALIZATION_KEY, SUPPORTED_OPSETS};
use crate::graph::{FloatLayer, FloatModel, Normalization};

/// Op types the importer maps onto layers (on the data path). `Softmax`/`LogSoftmax` are
/// accepted only as the final node and dropped. On constants (weights, shape arithmetic) it
/// also evaluates `Constant`, `Identity`, `Dropout`, `Shape`, `Gather`, `Unsqueeze`,
/// `Squeeze`, `Concat`, `Cast`, `Transpose`, `Reshape` and `Slice`.
pub const SUPPORTED_OPS: &[&str] = &[
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Relu",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceMean",
    "BatchNormalization",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Identity",
    "Dropout",
    "Softmax",
    "LogSoftmax",
];

/// The result of [`import_full`].
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The model. Its `normalization` is the one from the metadata when present, otherwise
    /// [`Normalization::default`] (the caller should then supply the right one).
    pub model: FloatModel,
    /// The normalization recorded in the model's metadata (`inq.normalization`), if any.
    pub normalization: Option<Normalization>,
    /// Things the importer did that a user may want to know (folded BatchNormalization,
    /// dropped trailing Softmax, no-op reshapes), one sentence each.
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
///   `C, H, W` (`N` may be symbolic); exactly one graph output, the end of the chain;
/// * the nodes on the data path form a single chain (file order does not matter: the chain
///   is followed from the input by data dependence); every other input of a node must be a
///   constant — an initializer, a `Constant` node, or a constant expression of the ops listed
///   in [`SUPPORTED_OPS`] (including `Shape` of the chain tensor, so that
///   `x.view(x.size(0), -1)` imports as a flatten);
/// * `Conv`: 2-D, `group=1`, dilations 1, any kernel/stride/padding, `auto_pad` resolved from
///   the static input shape; `Gemm`: `transA=0`, `transB` 0 or 1, `alpha`/`beta` folded;
///   `MatMul` with a constant 2-D right operand, optionally followed by `Add` (folded into the
///   bias; `Add` after a Conv/Gemm too); `BatchNormalization` folded into the directly
///   preceding Conv/Gemm/MatMul (`training_mode=0`); `MaxPool`/`AveragePool` without padding
///   or dilation (`ceil_mode=1` only where it changes nothing), average windows of a power
///   of two; `GlobalAveragePool` (or `ReduceMean` over axes 2, 3) over a power-of-two area;
///   `Flatten(axis=1)`, `Reshape` to `[N, C·H·W]` (`[1,-1]`, `[-1,F]`, `[0,-1]`, ...) or to
///   the same shape, `Squeeze` of `[N, C, 1, 1]`; `Identity` and `Dropout` (inference; the
///   mask output must be unused) vanish; a final `Softmax`/`LogSoftmax` is dropped (argmax
///   unchanged) with a note.
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

    let mut imp = Importer::new(origin, &graph.node, opset);
    for t in &graph.initializer {
        imp.init.insert(t.name(), t);
    }
    // The one real input.
    let inputs: Vec<_> = graph
        .input
        .iter()
        .filter(|v| !imp.init.contains_key(v.name()))
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
    imp.batch = batch;
    if let Some(n) = &normalization {
        crate::data::check_normalization(n, chw[0])
            .map_err(|e| merr(format!("metadata `{NORMALIZATION_KEY}`: {e}")))?;
    }
    let end = imp.walk(input.name(), chw)?;
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name()).collect();
    if outputs.len() != 1 {
        return Err(merr(format!(
            "the graph has {} outputs ({}); exactly one is supported",
            outputs.len(),
            outputs.join(", ")
        )));
    }
    if outputs[0] != end {
        return Err(merr(format!(
            "the graph output '{}' is not the end of the chain of nodes from the input (which ends at '{end}')",
            outputs[0]
        )));
    }
    if imp.layers.is_empty() {
        return Err(merr("the graph has no conv/dense/pool layer".into()));
    }
    let producer = format!("{} {}", model.producer_name(), model.producer_version())
        .trim()
        .to_string();
    Ok(Imported {
        model: FloatModel {
            name: graph.name().to_string(),
            input_shape: chw,
            normalization: normalization.clone().unwrap_or_default(),
            layers: imp.layers,
        },
        normalization,
        notes: imp.notes,
        opset,
        producer,
    })
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
    Ok((batch, chw))
}

/// The tensor flowing along the chain.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cur {
    /// `[N, C, H, W]`.
    Map([usize; 3]),
    /// `[N, F]`.
    Vec(usize),
}

/// Shape and values of a constant float input.
type Weights = (Vec<usize>, Vec<f32>);

struct Importer<'a> {
    origin: &'a str,
    nodes: &'a [NodeProto],
    opset: i64,
    init: HashMap<&'a str, &'a TensorProto>,
    producer: HashMap<&'a str, usize>,
    consumers: HashMap<&'a str, Vec<usize>>,
    memo: HashMap<String, Value>,
    data: HashSet<String>,
    shape_of: HashMap<usize, Vec<Sym>>,
    batch: Sym,
    layers: Vec<FloatLayer>,
    notes: Vec<String>,
    names: HashSet<String>,
    /// The last layer is a Conv/Dense with nothing but no-ops after it (BN/Add can fold).
    fusable: bool,
}

fn attr_type(a: &AttributeProto) -> AttributeType {
    match a.r#type {
        Some(t) => AttributeType::try_from(t).unwrap_or(AttributeType::Undefined),
        None if a.f.is_some() => AttributeType::Float,
        None if a.i.is_some() => AttributeType::Int,
        None if a.s.is_some() => AttributeType::String,
        None if a.t.is_some() => AttributeType::Tensor,
        None if !a.ints.is_empty() => AttributeType::Ints,
        None if !a.floats.is_empty() => AttributeType::Floats,
        None => AttributeType::Undefined,
    }
}

impl<'a> Importer<'a> {
    fn new(origin: &'a str, nodes: &'a [NodeProto], opset: i64) -> Self {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for o in &n.output {
                if !o.is_empty() {
                    producer.insert(o.as_str(), i);
                }
            }
            for inp in &n.input {
                if !inp.is_empty() {
                    let c = consumers.entry(inp.as_str()).or_default();
                    if !c.contains(&i) {
                        c.push(i);
                    }
                }
            }
        }
        Importer {
            origin,
            nodes,
            opset,
            init: HashMap::new(),
            producer,
            consumers,
            memo: HashMap::new(),
            data: HashSet::new(),
            shape_of: HashMap::new(),
            batch: Sym::Batch,
            layers: Vec::new(),
            notes: Vec::new(),
            names: HashSet::new(),
            fusable: false,
        }
    }

    fn err(&self, i: usize, message: impl Into<String>) -> OnnxError {
        let n = &self.nodes[i];
        OnnxError::Node {
            origin: self.origin.to_string(),
            node: n.name().to_string(),
            index: i,
            op: n.op_type().to_string(),
            message: message.into(),
        }
    }

    // ---- attributes -------------------------------------------------------------------

    fn check_attrs(&self, i: usize, allowed: &[&str]) -> Result<(), OnnxError> {
        for a in &self.nodes[i].attribute {
            if !allowed.contains(&a.name()) {
                return Err(self.err(
                    i,
                    format!(
                        "attribute '{}' is not supported (supported: {})",
                        a.name(),
                        if allowed.is_empty() {
                            "none".to_string()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    fn attr(
        &self,
        i: usize,
        name: &str,
        ty: AttributeType,
    ) -> Result<Option<&'a AttributeProto>, OnnxError> {
        match self.nodes[i].attribute.iter().find(|a| a.name() == name) {
            None => Ok(None),
            Some(a) if !a.ref_attr_name().is_empty() => Err(self.err(
                i,
                format!("attribute '{name}' refers to a function attribute; not supported"),
            )),
            Some(a) if attr_type(a) == ty => Ok(Some(a)),
            Some(a) => Err(self.err(
                i,
                format!(
                    "attribute '{name}' has type {}, expected {}",
                    attr_type(a).as_str_name(),
                    ty.as_str_name()
                ),
            )),
        }
    }

    fn attr_i(&self, i: usize, name: &str, default: i64) -> Result<i64, OnnxError> {
        Ok(self
            .attr(i, name, AttributeType::Int)?
            .map(|a| a.i())
            .unwrap_or(default))
    }

    fn attr_f(&self, i: usize, name: &str, default: f32) -> Result<f32, OnnxError> {
        Ok(self
            .attr(i, name, AttributeType::Float)?
            .map(|a| a.f())
            .unwrap_or(default))
    }

    fn attr_ints(&self, i: usize, name: &str) -> Result<Option<Vec<i64>>, OnnxError> {
        Ok(self
            .attr(i, name, AttributeType::Ints)?
            .map(|a| a.ints.clone()))
    }

    fn attr_s(&self, i: usize, name: &str) -> Result<Option<String>, OnnxError> {
        Ok(self
            .attr(i, name, AttributeType::String)?
            .map(|a| String::from_utf8_lossy(a.s()).into_owned()))
    }

    // ---- constants ----------------------------------------------------------------------

    /// The constant value of tensor `name`, needed by node `user`.
    fn value(&mut self, name: &str, user: usize, depth: usize) -> Result<Value, OnnxError> {
        if let Some(v) = self.memo.get(name) {
            return Ok(v.clone());
        }
        if self.data.contains(name) {
            return Err(self.err(
                user,
                format!(
                    "input '{name}' is an activation on the data path, not a constant; only a \
                     single chain of nodes with constant weights is supported"
                ),
            ));
        }
        let v = if let Some(t) = self.init.get(name) {
            tensor::decode(t).map_err(|m| self.err(user, format!("initializer '{name}' {m}")))?
        } else if let Some(&p) = self.producer.get(name) {
            if depth > 64 {
                return Err(self.err(
                    user,
                    format!("input '{name}': constant expression too deep"),
                ));
            }
            let pos = self.nodes[p]
                .output
                .iter()
                .position(|o| o == name)
                .unwrap_or(0);
            if pos != 0 {
                return Err(self.err(
                    p,
                    format!(
                        "only the first output can be evaluated as a constant (used: '{name}')"
                    ),
                ));
            }
            self.eval(p, depth + 1)?
        } else {
            return Err(self.err(
                user,
                format!(
                    "input '{name}' is neither an initializer, a graph input nor a node output"
                ),
            ));
        };
        self.memo.insert(name.to_string(), v.clone());
        Ok(v)
    }

    fn input(&mut self, i: usize, k: usize, depth: usize) -> Result<Option<Value>, OnnxError> {
        match self.nodes[i].input.get(k).filter(|s| !s.is_empty()) {
            Some(name) => Ok(Some(self.value(name, i, depth)?)),
            None => Ok(None),
        }
    }

    fn req_input(
        &mut self,
        i: usize,
        k: usize,
        what: &str,
        depth: usize,
    ) -> Result<Value, OnnxError> {
        self.input(i, k, depth)?
            .ok_or_else(|| self.err(i, format!("input #{k} ({what}) is missing")))
    }

    /// Evaluates node `i` on constant inputs.
    fn eval(&mut self, i: usize, depth: usize) -> Result<Value, OnnxError> {
        let node = &self.nodes[i];
        let op = node.op_type();
        if !matches!(node.domain(), "" | "ai.onnx") {
            return Err(self.err(i, format!("domain '{}' is not supported", node.domain())));
        }
        let e = |s: &Self, m: String| s.err(i, m);
        let v = match op {
            "Constant" => {
                self.check_attrs(
                    i,
                    &[
                        "value",
                        "value_float",
                        "value_floats",
                        "value_int",
                        "value_ints",
                    ],
                )?;
                if let Some(a) = self.attr(i, "value", AttributeType::Tensor)? {
                    let t =
                        a.t.as_ref()
                            .ok_or_else(|| e(self, "'value' has no tensor".into()))?;
                    tensor::decode(t).map_err(|m| e(self, format!("value {m}")))?
                } else if let Some(a) = self.attr(i, "value_float", AttributeType::Float)? {
                    Value {
                        dims: vec![],
                        data: Data::F32(vec![a.f()]),
                    }
                } else if let Some(a) = self.attr(i, "value_floats", AttributeType::Floats)? {
                    Value {
                        dims: vec![a.floats.len()],
                        data: Data::F32(a.floats.clone()),
                    }
                } else if let Some(a) = self.attr(i, "value_int", AttributeType::Int)? {
                    Value {
                        dims: vec![],
                        data: Data::Int(vec![Sym::Val(a.i())]),
                    }
                } else if let Some(a) = self.attr(i, "value_ints", AttributeType::Ints)? {
                    Value {
                        dims: vec![a.ints.len()],
                        data: Data::Int(a.ints.iter().map(|&x| Sym::Val(x)).collect()),
                    }
                } else {
                    return Err(e(self, "no supported value attribute".into()));
                }
            }
            "Identity" | "Dropout" => self.req_input(i, 0, "input", depth)?,
            "Shape" => {
                self.check_attrs(i, &["start", "end"])?;
                let full: Vec<Sym> = match self.shape_of.get(&i) {
                    Some(s) => s.clone(),
                    None => {
                        let v = self.req_input(i, 0, "data", depth)?;
                        v.dims.iter().map(|&d| Sym::Val(d as i64)).collect()
                    }
                };
                let all = Value {
                    dims: vec![full.len()],
                    data: Data::Int(full),
                };
                let start = self.attr_i(i, "start", 0)?;
                let end = self.attr_i(i, "end", i64::MAX)?;
                tensor::slice1(&all, start, end).map_err(|m| e(self, m))?
            }
            "Gather" => {
                self.check_attrs(i, &["axis"])?;
                let data = self.req_input(i, 0, "data", depth)?;
                let idx = self.req_input(i, 1, "indices", depth)?;
                let axis = self.attr_i(i, "axis", 0)?;
                tensor::gather(&data, &idx, axis).map_err(|m| e(self, m))?
            }
            "Unsqueeze" | "Squeeze" => {
                self.check_attrs(i, &["axes"])?;
                let data = self.req_input(i, 0, "data", depth)?;
                let axes = match self.attr_ints(i, "axes")? {
                    Some(a) => Some(a),
                    None => match self.input(i, 1, depth)? {
                        Some(v) => Some(v.ints().map_err(|m| e(self, format!("axes {m}")))?),
                        None => None,
                    },
                };
                if op == "Unsqueeze" {
                    let axes = axes.ok_or_else(|| e(self, "Unsqueeze without axes".into()))?;
                    tensor::unsqueeze(&data, &axes).map_err(|m| e(self, m))?
                } else {
                    tensor::squeeze(&data, axes.as_deref()).map_err(|m| e(self, m))?
                }
            }
            "Concat" => {
                self.check_attrs(i, &["axis"])?;
                let axis = self
                    .attr(i, "axis", AttributeType::Int)?
                    .map(|a| a.i())
                    .ok_or_else(|| e(self, "Concat without axis".into()))?;
                let mut vals = Vec::new();
                for k in 0..node.input.len() {
                    if let Some(v) = self.input(i, k, depth)? {
                        vals.push(v);
                    }
                }
                tensor::concat(&vals, axis).map_err(|m| e(self, m))?
            }
            "Cast" => {
                self.check_attrs(i, &["to", "saturate", "round_mode"])?;
                let data = self.req_input(i, 0, "input", depth)?;
                let to = self.attr_i(i, "to", 0)?;
                tensor::cast(&data, to).map_err(|m| e(self, m))?
            }
            "Transpose" => {
                self.check_attrs(i, &["perm"])?;
                let data = self.req_input(i, 0, "data", depth)?;
                let perm = self.attr_ints(i, "perm")?;
                tensor::transpose(&data, perm.as_deref()).map_err(|m| e(self, m))?
            }
            "Reshape" => {
                self.check_attrs(i, &["allowzero"])?;
                let data = self.req_input(i, 0, "data", depth)?;
                let shape = self.req_input(i, 1, "shape", depth)?;
                let target = shape.ints().map_err(|m| e(self, format!("shape {m}")))?;
                let allowzero = self.attr_i(i, "allowzero", 0)? != 0;
                let dims =
                    tensor::reshape_dims(&data.dims, &target, allowzero).map_err(|m| e(self, m))?;
                Value {
                    dims,
                    data: data.data,
                }
            }
            "Slice" => {
                self.check_attrs(i, &[])?;
                let data = self.req_input(i, 0, "data", depth)?;
                let starts = self
                    .req_input(i, 1, "starts", depth)?
                    .ints()
                    .map_err(|m| e(self, m))?;
                let ends = self
                    .req_input(i, 2, "ends", depth)?
                    .ints()
                    .map_err(|m| e(self, m))?;
                let axes = self
                    .input(i, 3, depth)?
                    .map(|v| v.ints())
                    .transpose()
                    .map_err(|m| e(self, m))?;
                let steps = self
                    .input(i, 4, depth)?
                    .map(|v| v.ints())
                    .transpose()
                    .map_err(|m| e(self, m))?;
                if starts.len() != 1
                    || ends.len() != 1
                    || axes.as_ref().is_some_and(|a| a[..] != [0] && a[..] != [-1])
                    || steps.as_ref().is_some_and(|s| s[..] != [1])
                {
                    return Err(e(
                        self,
                        "only a 1-D slice with step 1 is supported on constants".into(),
                    ));
                }
                tensor::slice1(&data, starts[0], ends[0]).map_err(|m| e(self, m))?
            }
            _ => {
                return Err(e(
                    self,
                    format!(
                        "cannot evaluate op '{op}' on constants (constant expressions may use \
                         Constant, Identity, Dropout, Shape, Gather, Unsqueeze, Squeeze, Concat, \
                         Cast, Transpose, Reshape, Slice)"
                    ),
                ))
            }
        };
        Ok(v)
    }

    fn weights(&mut self, i: usize, k: usize, what: &str) -> Result<Option<Weights>, OnnxError> {
        match self.input(i, k, 0)? {
            None => Ok(None),
            Some(v) => {
                let f = v
                    .f32()
                    .map_err(|m| self.err(i, format!("input #{k} ({what}) {m}")))?;
                Ok(Some((v.dims.clone(), f.to_vec())))
            }
        }
    }

    // ---- the chain ----------------------------------------------------------------------

    fn full_shape(&self, cur: Cur) -> Vec<Sym> {
        let mut v = vec![self.batch];
        match cur {
            Cur::Map([c, h, w]) => v.extend([c, h, w].map(|d| Sym::Val(d as i64))),
            Cur::Vec(n) => v.push(Sym::Val(n as i64)),
        }
        v
    }

    fn layer_name(&mut self, i: usize) -> String {
        let n = &self.nodes[i];
        let mut name = if n.name().is_empty() {
            format!("{}_{i}", n.op_type().to_lowercase())
        } else {
            n.name().to_string()
        };
        if self.names.contains(&name) {
            name = format!("{name}_{i}");
        }
        self.names.insert(name.clone());
        name
    }

    /// Follows the chain from `input`; returns the name of its last tensor.
    fn walk(&mut self, input: &str, chw: [usize; 3]) -> Result<String, OnnxError> {
        let mut cur_name = input.to_string();
        let mut cur = Cur::Map(chw);
        self.data.insert(cur_name.clone());
        for (i, n) in self.nodes.iter().enumerate() {
            if n.op_type().is_empty() {
                return Err(self.err(i, "has no op type"));
            }
        }
        loop {
            let cons = self
                .consumers
                .get(cur_name.as_str())
                .cloned()
                .unwrap_or_default();
            let mut next = Vec::new();
            for c in cons {
                if self.nodes[c].op_type() == "Shape"
                    && matches!(self.nodes[c].domain(), "" | "ai.onnx")
                {
                    let s = self.full_shape(cur);
                    self.shape_of.insert(c, s);
                } else {
                    next.push(c);
                }
            }
            let i = match next[..] {
                [] => break,
                [i] => i,
                [a, b, ..] => {
                    let an = &self.nodes[a];
                    return Err(self.err(
                        b,
                        format!(
                            "branching graph: tensor '{cur_name}' feeds this node and node {} (#{a}, {}); \
                             only a single chain of nodes is supported",
                            if an.name().is_empty() { "<unnamed>".to_string() } else { format!("'{}'", an.name()) },
                            an.op_type()
                        ),
                    ));
                }
            };
            let node = &self.nodes[i];
            if !matches!(node.domain(), "" | "ai.onnx") {
                return Err(self.err(i, format!("domain '{}' is not supported", node.domain())));
            }
            let out = node
                .output
                .first()
                .filter(|o| !o.is_empty())
                .ok_or_else(|| self.err(i, "has no output"))?
                .clone();
            for (k, o) in node.output.iter().enumerate().skip(1) {
                if !o.is_empty() && self.consumers.contains_key(o.as_str()) {
                    return Err(self.err(
                        i,
                        format!("output #{k} '{o}' is used by another node; only the first output is supported"),
                    ));
                }
            }
            let pos = node.input.iter().position(|x| *x == cur_name).unwrap_or(0);
            cur = self.lower(i, pos, cur, &out)?;
            self.data.insert(out.clone());
            cur_name = out;
        }
        Ok(cur_name)
    }

    /// Requires the data input at position 0.
    fn data_first(&self, i: usize, pos: usize) -> Result<(), OnnxError> {
        if pos != 0 {
            return Err(self.err(
                i,
                format!("the activation enters as input #{pos}; it must be input #0 (weights must be constants)"),
            ));
        }
        Ok(())
    }

    fn map(&self, i: usize, cur: Cur) -> Result<[usize; 3], OnnxError> {
        match cur {
            Cur::Map(s) => Ok(s),
            Cur::Vec(n) => Err(self.err(
                i,
                format!("needs an [N, C, H, W] feature map but receives a matrix [N, {n}]"),
            )),
        }
    }

    fn vector(&self, i: usize, cur: Cur) -> Result<usize, OnnxError> {
        match cur {
            Cur::Vec(n) => Ok(n),
            Cur::Map([c, h, w]) => Err(self.err(
                i,
                format!("needs a 2-D [N, F] input but receives [N, {c}, {h}, {w}]; flatten first"),
            )),
        }
    }

    fn push(&mut self, layer: FloatLayer, fusable: bool) {
        self.layers.push(layer);
        self.fusable = fusable;
    }

    /// Maps node `i` (whose data input is input #`pos`) onto layers; returns the new shape.
    fn lower(&mut self, i: usize, pos: usize, cur: Cur, out: &str) -> Result<Cur, OnnxError> {
        let node = &self.nodes[i];
        let op = node.op_type().to_string();
        match op.as_str() {
            "Identity" => {
                self.check_attrs(i, &[])?;
                Ok(cur)
            }
            "Dropout" => {
                self.check_attrs(i, &["ratio", "seed"])?;
                self.data_first(i, pos)?;
                if let Some(t) = self.input(i, 2, 0)? {
                    let v = t
                        .ints()
                        .map_err(|m| self.err(i, format!("training_mode {m}")))?;
                    if v.iter().any(|&x| x != 0) {
                        return Err(
                            self.err(i, "training_mode=true is not supported (inference only)")
                        );
                    }
                }
                Ok(cur)
            }
            "Relu" => {
                self.check_attrs(i, &[])?;
                let name = self.layer_name(i);
                self.push(FloatLayer::Relu { name }, false);
                Ok(cur)
            }
            "Conv" => self.conv(i, pos, cur),
            "Gemm" => self.gemm(i, pos, cur),
            "MatMul" => {
                self.check_attrs(i, &[])?;
                self.data_first(i, pos)?;
                let n = self.vector(i, cur)?;
                let (dims, b) = self
                    .weights(i, 1, "B")?
                    .ok_or_else(|| self.err(i, "input #1 (B) is missing"))?;
                if dims.len() != 2 || dims[0] != n {
                    return Err(self.err(
                        i,
                        format!("B has shape {dims:?}; a constant [{n}, out] matrix is needed"),
                    ));
                }
                let m = dims[1];
                let mut weight = vec![0.0; n * m];
                for r in 0..n {
                    for c in 0..m {
                        weight[c * n + r] = b[r * m + c];
                    }
                }
                let name = self.layer_name(i);
                self.push(
                    FloatLayer::Dense {
                        name,
                        in_features: n,
                        out_features: m,
                        weight,
                        bias: vec![0.0; m],
                    },
                    true,
                );
                Ok(Cur::Vec(m))
            }
            "Add" => self.add(i, pos, cur),
            "BatchNormalization" => self.batchnorm(i, pos, cur),
            "MaxPool" | "AveragePool" => self.pool(i, pos, cur, op == "MaxPool"),
            "GlobalAveragePool" => {
                self.check_attrs(i, &[])?;
                self.global_pool(i, cur)
            }
            "ReduceMean" => {
                self.check_attrs(i, &["axes", "keepdims", "noop_with_empty_axes"])?;
                self.data_first(i, pos)?;
                let axes = match self.attr_ints(i, "axes")? {
                    Some(a) => a,
                    None => match self.input(i, 1, 0)? {
                        Some(v) => v.ints().map_err(|m| self.err(i, format!("axes {m}")))?,
                        None => vec![],
                    },
                };
                let mut ax: Vec<i64> = axes
                    .iter()
                    .map(|&a| if a < 0 { a + 4 } else { a })
                    .collect();
                ax.sort_unstable();
                if ax != [2, 3] || !matches!(cur, Cur::Map(_)) {
                    return Err(self.err(
                        i,
                        format!("only a mean over the spatial axes [2, 3] of a feature map is supported (axes {axes:?})"),
                    ));
                }
                let keep = self.attr_i(i, "keepdims", 1)? != 0;
                let c = self.global_pool(i, cur)?;
                if keep {
                    Ok(c)
                } else {
                    let name = format!("{}_flatten", self.layer_name(i));
                    self.push(FloatLayer::Flatten { name }, false);
                    Ok(Cur::Vec(self.map(i, c)?[0]))
                }
            }
            "Flatten" => {
                self.check_attrs(i, &["axis"])?;
                let axis = self.attr_i(i, "axis", 1)?;
                let rank = match cur {
                    Cur::Map(_) => 4,
                    Cur::Vec(_) => 2,
                };
                if axis != 1 && axis != 1 - rank {
                    return Err(self.err(
                        i,
                        format!(
                            "axis={axis} is not supported (only axis=1: keep the batch dimension)"
                        ),
                    ));
                }
                self.flatten(i, cur)
            }
            "Reshape" => {
                self.check_attrs(i, &["allowzero"])?;
                self.data_first(i, pos)?;
                let target = self.req_input(i, 1, "shape", 0)?;
                let syms = target
                    .syms()
                    .map_err(|m| self.err(i, format!("shape {m}")))?
                    .to_vec();
                let b = match self.batch {
                    Sym::Val(b) => b,
                    Sym::Batch => 1,
                };
                let t: Vec<i64> = syms
                    .iter()
                    .map(|s| match s {
                        Sym::Val(v) => *v,
                        Sym::Batch => b,
                    })
                    .collect();
                let allowzero = self.attr_i(i, "allowzero", 0)? != 0;
                let b = b as usize;
                let in_dims: Vec<usize> = match cur {
                    Cur::Map([c, h, w]) => vec![b, c, h, w],
                    Cur::Vec(n) => vec![b, n],
                };
                let got =
                    tensor::reshape_dims(&in_dims, &t, allowzero).map_err(|m| self.err(i, m))?;
                let f: usize = in_dims[1..].iter().product();
                if got == in_dims {
                    self.notes.push(format!(
                        "Reshape node #{i} to {t:?} changes nothing; skipped"
                    ));
                    Ok(cur)
                } else if got == [b, f] {
                    self.flatten(i, cur)
                } else {
                    Err(self.err(
                        i,
                        format!(
                            "reshape of {in_dims:?} to {t:?} gives {got:?}; only a flatten to [N, {f}] (or no change) is supported"
                        ),
                    ))
                }
            }
            "Squeeze" => {
                self.check_attrs(i, &["axes"])?;
                self.data_first(i, pos)?;
                let axes = match self.attr_ints(i, "axes")? {
                    Some(a) => Some(a),
                    None => self
                        .input(i, 1, 0)?
                        .map(|v| v.ints())
                        .transpose()
                        .map_err(|m| self.err(i, format!("axes {m}")))?,
                };
                match (cur, axes.as_deref()) {
                    (Cur::Map([_, 1, 1]), Some([2, 3] | [3, 2] | [-2, -1] | [-1, -2])) => self.flatten(i, cur),
                    _ => Err(self.err(
                        i,
                        format!("only squeezing axes [2, 3] of an [N, C, 1, 1] tensor is supported (axes {axes:?})"),
                    )),
                }
            }
            "Softmax" | "LogSoftmax" => {
                self.check_attrs(i, &["axis"])?;
                let last = !self.consumers.contains_key(out);
                let n = self.vector(i, cur)?;
                let axis = self.attr_i(i, "axis", if self.opset >= 13 { -1 } else { 1 })?;
                if !last || !(axis == 1 || axis == -1) {
                    return Err(self.err(
                        i,
                        format!("{op} is only supported as the final node over the class axis (it is then dropped; the argmax is unchanged)"),
                    ));
                }
                self.notes.push(format!(
                    "dropped the final {op} node #{i}: the imported model outputs the {n} logits before it (argmax unchanged)"
                ));
                Ok(cur)
            }
            _ => Err(self.err(
                i,
                format!(
                    "op type '{op}' is not supported on the data path (supported: {})",
                    SUPPORTED_OPS.join(", ")
                ),
            )),
        }
    }

    fn flatten(&mut self, i: usize, cur: Cur) -> Result<Cur, OnnxError> {
        match cur {
            Cur::Map([c, h, w]) => {
                let name = self.layer_name(i);
                self.push(FloatLayer::Flatten { name }, false);
                Ok(Cur::Vec(c * h * w))
            }
            Cur::Vec(_) => Ok(cur),
        }
    }

    fn global_pool(&mut self, i: usize, cur: Cur) -> Result<Cur, OnnxError> {
        let [c, h, w] = self.map(i, cur)?;
        if !(h * w).is_power_of_two() {
            return Err(self.err(
                i,
                format!("global average over {h}×{w} = {} elements: only power-of-two areas are supported", h * w),
            ));
        }
        let name = self.layer_name(i);
        self.push(FloatLayer::GlobalAvgPool { name }, false);
        Ok(Cur::Map([c, 1, 1]))
    }

    fn spatial(&self, i: usize, name: &str, default: [usize; 2]) -> Result<[usize; 2], OnnxError> {
        match self.attr_ints(i, name)? {
            None => Ok(default),
            Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 1) => {
                Ok([v[0] as usize, v[1] as usize])
            }
            Some(v) => Err(self.err(
                i,
                format!("{name}={v:?} is not supported (two positive values needed)"),
            )),
        }
    }

    /// Padding from `pads`/`auto_pad`, `[top, left, bottom, right]`.
    fn padding(
        &self,
        i: usize,
        hw: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> Result<[usize; 4], OnnxError> {
        let auto = self
            .attr_s(i, "auto_pad")?
            .unwrap_or_else(|| "NOTSET".into());
        match auto.as_str() {
            "NOTSET" | "" => match self.attr_ints(i, "pads")? {
                None => Ok([0; 4]),
                Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => {
                    Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
                }
                Some(p) => Err(self.err(
                    i,
                    format!("pads={p:?} is not supported (4 non-negative values needed)"),
                )),
            },
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut begin = [0; 2];
                let mut end = [0; 2];
                for d in 0..2 {
                    let out = hw[d].div_ceil(stride[d]);
                    let total = ((out - 1) * stride[d] + kernel[d]).saturating_sub(hw[d]);
                    let small = total / 2;
                    let (b, e) = if auto == "SAME_UPPER" {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    begin[d] = b;
                    end[d] = e;
                }
                Ok([begin[0], begin[1], end[0], end[1]])
            }
            other => Err(self.err(i, format!("auto_pad={other} is not supported"))),
        }
    }

    fn conv(&mut self, i: usize, pos: usize, cur: Cur) -> Result<Cur, OnnxError> {
        self.check_attrs(
            i,
            &[
                "auto_pad",
                "dilations",
                "group",
                "kernel_shape",
                "pads",
                "strides",
            ],
        )?;
        self.data_first(i, pos)?;
        let [c, h, w] = self.map(i, cur)?;
        let group = self.attr_i(i, "group", 1)?;
        if group != 1 {
            return Err(self.err(i, format!("group={group} is not supported (only group=1)")));
        }
        if let Some(d) = self.attr_ints(i, "dilations")? {
            if d.iter().any(|&x| x != 1) {
                return Err(self.err(i, format!("dilations={d:?} are not supported (only 1)")));
            }
        }
        let (wd, weight) = self
            .weights(i, 1, "W")?
            .ok_or_else(|| self.err(i, "input #1 (W) is missing"))?;
        if wd.len() != 4 {
            return Err(self.err(
                i,
                format!(
                    "weight shape {wd:?}: only 2-D convolution ([out, in, kh, kw]) is supported"
                ),
            ));
        }
        let (o, kh, kw) = (wd[0], wd[2], wd[3]);
        if wd[1] != c {
            return Err(self.err(
                i,
                format!(
                    "weight shape {wd:?} expects {} input channels but the incoming tensor has {c}",
                    wd[1]
                ),
            ));
        }
        if let Some(k) = self.attr_ints(i, "kernel_shape")? {
            if k.len() != 2 || k[0] as usize != kh || k[1] as usize != kw {
                return Err(self.err(
                    i,
                    format!("kernel_shape={k:?} does not match the weight shape {wd:?}"),
                ));
            }
        }
        let stride = self.spatial(i, "strides", [1, 1])?;
        let pad = self.padding(i, [h, w], [kh, kw], stride)?;
        let (hp, wp) = (h + pad[0] + pad[2], w + pad[1] + pad[3]);
        if hp < kh || wp < kw || kh == 0 || kw == 0 || o == 0 {
            return Err(self.err(
                i,
                format!("kernel {kh}×{kw} does not fit the padded input {hp}×{wp}"),
            ));
        }
        let bias = match self.weights(i, 2, "B")? {
            None => vec![0.0; o],
            Some((bd, b)) if b.len() == o => {
                let _ = bd;
                b
            }
            Some((bd, _)) => return Err(self.err(i, format!("bias shape {bd:?}; expected [{o}]"))),
        };
        let name = self.layer_name(i);
        self.push(
            FloatLayer::Conv {
                name,
                in_channels: c,
                out_channels: o,
                kernel: [kh, kw],
                stride,
                pad,
                weight,
                bias,
            },
            true,
        );
        Ok(Cur::Map([
            o,
            (hp - kh) / stride[0] + 1,
            (wp - kw) / stride[1] + 1,
        ]))
    }

    fn gemm(&mut self, i: usize, pos: usize, cur: Cur) -> Result<Cur, OnnxError> {
        self.check_attrs(i, &["alpha", "beta", "transA", "transB"])?;
        self.data_first(i, pos)?;
        let n = self.vector(i, cur)?;
        if self.attr_i(i, "transA", 0)? != 0 {
            return Err(self.err(i, "transA=1 is not supported"));
        }
        let trans_b = self.attr_i(i, "transB", 0)?;
        let alpha = self.attr_f(i, "alpha", 1.0)?;
        let beta = self.attr_f(i, "beta", 1.0)?;
        let (bd, b) = self
            .weights(i, 1, "B")?
            .ok_or_else(|| self.err(i, "input #1 (B) is missing"))?;
        if bd.len() != 2 {
            return Err(self.err(i, format!("B has shape {bd:?}; a 2-D matrix is needed")));
        }
        let (k, m) = match trans_b {
            0 => (bd[0], bd[1]),
            1 => (bd[1], bd[0]),
            t => return Err(self.err(i, format!("transB={t} is not supported"))),
        };
        if k != n {
            return Err(self.err(
                i,
                format!("B has shape {bd:?} (transB={trans_b}): {k} input features, but the incoming vector has {n}"),
            ));
        }
        let mut weight = vec![0.0f32; m * n];
        for o in 0..m {
            for r in 0..n {
                let v = if trans_b == 1 {
                    b[o * n + r]
                } else {
                    b[r * m + o]
                };
                weight[o * n + r] = alpha * v;
            }
        }
        let bias = match self.weights(i, 2, "C")? {
            None => vec![0.0; m],
            Some((cd, cv)) => {
                let per = if cv.len() == 1 {
                    vec![cv[0]; m]
                } else if cv.len() == m && (cd.len() == 1 || (cd.len() == 2 && cd[0] == 1)) {
                    cv
                } else {
                    return Err(self.err(
                        i,
                        format!("C has shape {cd:?}; expected [{m}], [1, {m}] or a scalar"),
                    ));
                };
                per.iter().map(|&x| beta * x).collect()
            }
        };
        let name = self.layer_name(i);
        self.push(
            FloatLayer::Dense {
                name,
                in_features: n,
                out_features: m,
                weight,
                bias,
            },
            true,
        );
        Ok(Cur::Vec(m))
    }

    fn add(&mut self, i: usize, pos: usize, cur: Cur) -> Result<Cur, OnnxError> {
        self.check_attrs(i, &[])?;
        if self.nodes[i].input.len() != 2 {
            return Err(self.err(i, "needs exactly two inputs"));
        }
        let other = 1 - pos.min(1);
        let (dims, v) = self
            .weights(i, other, "addend")?
            .ok_or_else(|| self.err(i, "the constant addend is missing"))?;
        if !self.fusable {
            return Err(self.err(
                i,
                "Add is only supported as the bias of a directly preceding Conv, Gemm or MatMul",
            ));
        }
        let (channels, ok) = match cur {
            Cur::Vec(m) => (
                m,
                v.len() == 1 || (v.len() == m && dims.iter().rev().skip(1).all(|&d| d == 1)),
            ),
            Cur::Map([c, _, _]) => (
                c,
                v.len() == 1
                    || (v.len() == c
                        && dims.len() >= 3
                        && dims[dims.len() - 1] == 1
                        && dims[dims.len() - 2] == 1
                        && dims.len() <= 4),
            ),
        };
        if !ok {
            return Err(self.err(
                i,
                format!("adding a constant of shape {dims:?} is not a per-channel bias of the {channels} outputs"),
            ));
        }
        match self.layers.last_mut() {
            Some(FloatLayer::Conv { bias, .. }) | Some(FloatLayer::Dense { bias, .. }) => {
                for (o, b) in bias.iter_mut().enumerate() {
                    *b += if v.len() == 1 { v[0] } else { v[o] };
                }
            }
            _ => return Err(self.err(i, "internal: no layer to fold the bias into")),
        }
        Ok(cur)
    }

    fn batchnorm(&mut self, i: usize, pos: usize, cur: Cur) -> Result<Cur, OnnxError> {
        self.check_attrs(i, &["epsilon", "momentum", "training_mode"])?;
        self.data_first(i, pos)?;
        if self.attr_i(i, "training_mode", 0)? != 0 {
            return Err(self.err(i, "training_mode=1 is not supported (inference only)"));
        }
        let eps32 = self.attr_f(i, "epsilon", 1e-5)?;
        let eps = f64::from(eps32);
        let c = match cur {
            Cur::Map([c, _, _]) => c,
            Cur::Vec(n) => n,
        };
        let mut p = Vec::new();
        for (k, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let (d, v) = self
                .weights(i, k, what)?
                .ok_or_else(|| self.err(i, format!("input #{k} ({what}) is missing")))?;
            if v.len() != c {
                return Err(self.err(i, format!("{what} has shape {d:?}; expected [{c}]")));
            }
            p.push(v);
        }
        if !self.fusable {
            return Err(self.err(
                i,
                "BatchNormalization must directly follow a Conv, Gemm or MatMul (it is folded into it)",
            ));
        }
        let (gamma, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
        if let Some(k) = var
            .iter()
            .position(|&v| f64::from(v) + eps <= 0.0 || !v.is_finite())
        {
            return Err(self.err(i, format!("var[{k}] + epsilon is not positive")));
        }
        let scale: Vec<f64> = (0..c)
            .map(|k| f64::from(gamma[k]) / (f64::from(var[k]) + eps).sqrt())
            .collect();
        match self.layers.last_mut() {
            Some(FloatLayer::Conv { weight, bias, .. })
            | Some(FloatLayer::Dense { weight, bias, .. }) => {
                let per = weight.len() / c;
                for k in 0..c {
                    for w in &mut weight[k * per..(k + 1) * per] {
                        *w = (f64::from(*w) * scale[k]) as f32;
                    }
                    bias[k] = ((f64::from(bias[k]) - f64::from(mean[k])) * scale[k]
                        + f64::from(beta[k])) as f32;
                }
            }
            _ => return Err(self.err(i, "internal: no layer to fold into")),
        }
        let into = self
            .layers
            .last()
            .map(crate::forward::layer_name)
            .unwrap_or_default()
            .to_string();
        let bn = self.nodes[i].name().to_string();
        self.notes.push(format!(
            "folded BatchNormalization '{bn}' (#{i}, epsilon {eps32}) into '{into}'"
        ));
        Ok(cur)
    }

    fn pool(&mut self, i: usize, pos: usize, cur: Cur, max: bool) -> Result<Cur, OnnxError> {
        if max {
            self.check_attrs(
                i,
                &[
                    "auto_pad",
                    "ceil_mode",
                    "dilations",
                    "kernel_shape",
                    "pads",
                    "storage_order",
                    "strides",
                ],
            )?;
        } else {
            self.check_attrs(
                i,
                &[
                    "auto_pad",
                    "ceil_mode",
                    "count_include_pad",
                    "dilations",
                    "kernel_shape",
                    "pads",
                    "strides",
                ],
            )?;
        }
        self.data_first(i, pos)?;
        let [c, h, w] = self.map(i, cur)?;
        let kernel = match self.attr_ints(i, "kernel_shape")? {
            Some(k) if k.len() == 2 && k.iter().all(|&x| x >= 1) => [k[0] as usize, k[1] as usize],
            other => {
                return Err(self.err(
                    i,
                    format!("kernel_shape={other:?}: two positive values needed"),
                ))
            }
        };
        let stride = self.spatial(i, "strides", [1, 1])?;
        if let Some(d) = self.attr_ints(i, "dilations")? {
            if d.iter().any(|&x| x != 1) {
                return Err(self.err(i, format!("dilations={d:?} are not supported (only 1)")));
            }
        }
        let pad = self.padding(i, [h, w], kernel, stride)?;
        if pad != [0; 4] {
            return Err(self.err(
                i,
                format!("padding {pad:?} is not supported for pooling (only none)"),
            ));
        }
        if kernel[0] > h || kernel[1] > w {
            return Err(self.err(
                i,
                format!(
                    "window {}×{} larger than the input {h}×{w}",
                    kernel[0], kernel[1]
                ),
            ));
        }
        if self.attr_i(i, "ceil_mode", 0)? != 0 {
            let changes = (h - kernel[0]) % stride[0] != 0 || (w - kernel[1]) % stride[1] != 0;
            if changes {
                return Err(self.err(
                    i,
                    "ceil_mode=1 is not supported where it changes the output size",
                ));
            }
        }
        if !max && !(kernel[0] * kernel[1]).is_power_of_two() {
            return Err(self.err(
                i,
                format!(
                    "average window {}×{} = {} elements: only power-of-two windows are supported",
                    kernel[0],
                    kernel[1],
                    kernel[0] * kernel[1]
                ),
            ));
        }
        let name = self.layer_name(i);
        let layer = if max {
            FloatLayer::MaxPool {
                name,
                kernel,
                stride,
            }
        } else {
            FloatLayer::AvgPool {
                name,
                kernel,
                stride,
            }
        };
        self.push(layer, false);
        Ok(Cur::Map([
            c,
            (h - kernel[0]) / stride[0] + 1,
            (w - kernel[1]) / stride[1] + 1,
        ]))
    }
}
