//! Constant evaluation: decoding `TensorProto`s, the few ops the importer evaluates on
//! constants (shape arithmetic and weight reshuffles exporters leave behind), and
//! [`ConstEval`], which computes the value of any tensor that does not depend on the model
//! input (initializers, `Constant` nodes and expressions of them, `Shape` of a data tensor).
//!
//! Owns no lowering: the importer asks it for weights; it refuses tensors on the data path
//! (those depend on the input) with a message naming the tensor.

use std::collections::{HashMap, HashSet};

use super::attrs::Attrs;
use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, NodeProto, TensorProto,
};
use super::NodeIssue;

/// An integer element that may stand for the (unknown) batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sym {
    /// A known value.
    Val(i64),
    /// The batch dimension of the graph input.
    Batch,
}

/// Elements of a constant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    /// Floating point (float32, or float64 narrowed).
    F32(Vec<f32>),
    /// Integers (int32/int64/uint8/int8/bool widened), possibly symbolic.
    Int(Vec<Sym>),
}

/// A constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Value {
    pub dims: Vec<usize>,
    pub data: Data,
}

impl Value {
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::Int(v) => v.len(),
        }
    }

    pub fn f32(&self) -> Result<&[f32], String> {
        match &self.data {
            Data::F32(v) => Ok(v),
            Data::Int(_) => Err("is an integer tensor where float weights are expected".into()),
        }
    }

    /// Known integers (an error if an element is the symbolic batch size).
    pub fn ints(&self) -> Result<Vec<i64>, String> {
        match &self.data {
            Data::F32(_) => Err("is a float tensor where integers are expected".into()),
            Data::Int(v) => v
                .iter()
                .map(|s| match s {
                    Sym::Val(x) => Ok(*x),
                    Sym::Batch => Err("depends on the batch size".to_string()),
                })
                .collect(),
        }
    }

    pub fn syms(&self) -> Result<&[Sym], String> {
        match &self.data {
            Data::F32(_) => Err("is a float tensor where integers are expected".into()),
            Data::Int(v) => Ok(v),
        }
    }

    fn map_elems(&self, idx: &[usize], dims: Vec<usize>) -> Value {
        let data = match &self.data {
            Data::F32(v) => Data::F32(idx.iter().map(|&i| v[i]).collect()),
            Data::Int(v) => Data::Int(idx.iter().map(|&i| v[i]).collect()),
        };
        Value { dims, data }
    }
}

fn dtype_name(t: i32) -> String {
    DataType::try_from(t)
        .map(|d| d.as_str_name().to_string())
        .unwrap_or_else(|_| format!("#{t}"))
}

fn chunks<const N: usize>(raw: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    raw.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    })
}

/// Decodes a `TensorProto`. Errors say what is unsupported (without the tensor's name).
pub(crate) fn decode(t: &TensorProto) -> Result<Value, String> {
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(
            "external data (tensor stored in a separate file) is not supported; \
                    save the model with all tensors inside the .onnx file"
                .into(),
        );
    }
    if t.segment.is_some() {
        return Err("segmented tensors are not supported".into());
    }
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
        .collect::<Result<Vec<usize>, _>>()?;
    // Checked over the non-zero dimensions too, so that the product of any subset of the
    // dimensions of a value (empty or not) fits in a usize.
    dims.iter()
        .filter(|&&d| d != 0)
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("dimensions overflow")?;
    let count = elements(&dims).ok_or("dimensions overflow")?;
    let raw = t.raw_data.as_deref();
    let dt = t.data_type();
    let data = match DataType::try_from(dt) {
        Ok(DataType::Float) => Data::F32(match raw {
            Some(r) => chunks::<4>(r).map(f32::from_le_bytes).collect(),
            None => t.float_data.clone(),
        }),
        Ok(DataType::Double) => Data::F32(match raw {
            Some(r) => chunks::<8>(r)
                .map(|b| f64::from_le_bytes(b) as f32)
                .collect(),
            None => t.double_data.iter().map(|&v| v as f32).collect(),
        }),
        Ok(DataType::Int64) => Data::Int(match raw {
            Some(r) => chunks::<8>(r)
                .map(|b| Sym::Val(i64::from_le_bytes(b)))
                .collect(),
            None => t.int64_data.iter().map(|&v| Sym::Val(v)).collect(),
        }),
        Ok(DataType::Int32) => Data::Int(match raw {
            Some(r) => chunks::<4>(r)
                .map(|b| Sym::Val(i64::from(i32::from_le_bytes(b))))
                .collect(),
            None => t
                .int32_data
                .iter()
                .map(|&v| Sym::Val(i64::from(v)))
                .collect(),
        }),
        Ok(DataType::Uint8 | DataType::Bool) => Data::Int(match raw {
            Some(r) => r.iter().map(|&b| Sym::Val(i64::from(b))).collect(),
            None => t
                .int32_data
                .iter()
                .map(|&v| Sym::Val(i64::from(v)))
                .collect(),
        }),
        Ok(DataType::Int8) => Data::Int(match raw {
            Some(r) => r.iter().map(|&b| Sym::Val(i64::from(b as i8))).collect(),
            None => t
                .int32_data
                .iter()
                .map(|&v| Sym::Val(i64::from(v)))
                .collect(),
        }),
        _ => {
            return Err(format!(
                "data type {} is not supported (FLOAT, DOUBLE, INT64, INT32, INT8, UINT8, BOOL)",
                dtype_name(dt)
            ))
        }
    };
    let v = Value { dims, data };
    if v.len() != count {
        return Err(format!(
            "holds {} values but its shape {:?} needs {count}",
            v.len(),
            v.dims
        ));
    }
    Ok(v)
}

/// The elements of a tensor of shape `dims`: 0 when a dimension is 0, `None` when the product
/// overflows.
pub(crate) fn elements(dims: &[usize]) -> Option<usize> {
    if dims.contains(&0) {
        return Some(0);
    }
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// The most elements constant evaluation computes for one model (the sum of the sizes of every
/// evaluated node's output), so that a small file cannot make the importer allocate gigabytes
/// through chains of `Gather`, `Concat` or `Transpose` nodes. Shape expressions and weight
/// reshuffles of real models are far below it.
pub(crate) const MAX_COMPUTED: usize = 1 << 25;

fn too_large(what: &str, n: impl std::fmt::Display) -> String {
    format!(
        "{what} would have {n} elements; constant evaluation computes at most {MAX_COMPUTED} \
         elements per model"
    )
}

fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} out of range for rank {rank}"))
    }
}

/// `Transpose` with permutation `perm` (reversed dims when `None`).
pub(crate) fn transpose(v: &Value, perm: Option<&[i64]>) -> Result<Value, String> {
    let rank = v.dims.len();
    let perm: Vec<usize> = match perm {
        Some(p) => p
            .iter()
            .map(|&a| norm_axis(a, rank))
            .collect::<Result<_, _>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut check = perm.clone();
    check.sort_unstable();
    if check != (0..rank).collect::<Vec<_>>() {
        return Err(format!("perm {perm:?} is not a permutation of 0..{rank}"));
    }
    let out_dims: Vec<usize> = perm.iter().map(|&p| v.dims[p]).collect();
    let n = v.len();
    if n == 0 {
        return Ok(v.map_elems(&[], out_dims));
    }
    let in_strides = strides(&v.dims);
    let mut idx = Vec::with_capacity(n);
    let mut coord = vec![0usize; rank];
    for _ in 0..n {
        idx.push(
            coord
                .iter()
                .zip(&perm)
                .map(|(&c, &p)| c * in_strides[p])
                .sum(),
        );
        for d in (0..rank).rev() {
            coord[d] += 1;
            if coord[d] < out_dims[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    Ok(v.map_elems(&idx, out_dims))
}

/// Resolves an ONNX `Reshape` target (`0` copies, `-1` infers) for an input of `dims`.
pub(crate) fn reshape_dims(
    dims: &[usize],
    target: &[i64],
    allowzero: bool,
) -> Result<Vec<usize>, String> {
    let total = elements(dims).ok_or_else(|| format!("the input shape {dims:?} overflows"))?;
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            -1 => return Err(format!("shape {target:?} has more than one -1")),
            0 if !allowzero => out.push(*dims.get(i).ok_or_else(|| {
                format!("shape {target:?} copies dimension {i} (0) that the input {dims:?} lacks")
            })?),
            t if t >= 0 => out.push(t as usize),
            t => return Err(format!("invalid dimension {t} in shape {target:?}")),
        }
    }
    let known = out
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("shape {target:?} overflows"))?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {dims:?} to {target:?}"));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(format!(
            "cannot reshape {dims:?} ({total} elements) to {target:?}"
        ));
    }
    Ok(out)
}

/// `Concat` along `axis`; an error if the result would have more than `limit` elements.
pub(crate) fn concat(vals: &[Value], axis: i64, limit: usize) -> Result<Value, String> {
    let first = vals.first().ok_or("no inputs")?;
    let rank = first.dims.len();
    let ax = norm_axis(axis, rank)?;
    for v in vals {
        if v.dims.len() != rank
            || v.dims
                .iter()
                .enumerate()
                .any(|(i, &d)| i != ax && d != first.dims[i])
        {
            return Err(format!(
                "inputs of shapes {:?} and {:?} do not concatenate",
                first.dims, v.dims
            ));
        }
    }
    let float = matches!(first.data, Data::F32(_));
    if vals.iter().any(|v| matches!(v.data, Data::F32(_)) != float) {
        return Err("inputs of different element types".into());
    }
    let mut dims = first.dims.clone();
    dims[ax] = vals
        .iter()
        .try_fold(0usize, |a, v| a.checked_add(v.dims[ax]))
        .ok_or("the concatenated dimension overflows")?;
    let total = vals
        .iter()
        .try_fold(0usize, |a, v| a.checked_add(v.len()))
        .filter(|&n| n <= limit)
        .ok_or_else(|| too_large("the concatenation", "too many"))?;
    let mut fdata = Vec::new();
    let mut idata = Vec::new();
    // `outer` is only computed for a non-empty result, where every dimension is non-zero.
    let outer: usize = if total == 0 {
        0
    } else {
        first.dims[..ax].iter().product()
    };
    for o in 0..outer {
        for v in vals {
            let inner: usize = v.dims[ax..].iter().product();
            match (&v.data, float) {
                (Data::F32(d), true) => fdata.extend_from_slice(&d[o * inner..(o + 1) * inner]),
                (Data::Int(d), false) => idata.extend_from_slice(&d[o * inner..(o + 1) * inner]),
                _ => return Err("inputs of different element types".into()),
            }
        }
    }
    Ok(Value {
        dims,
        data: if float {
            Data::F32(fdata)
        } else {
            Data::Int(idata)
        },
    })
}

/// `Gather` along `axis` with integer `indices`; an error if the result would have more than
/// `limit` elements.
pub(crate) fn gather(v: &Value, indices: &Value, axis: i64, limit: usize) -> Result<Value, String> {
    let rank = v.dims.len();
    let ax = norm_axis(axis, rank)?;
    let ind = indices.ints()?;
    let n = v.dims[ax] as i64;
    let mut dims = v.dims[..ax].to_vec();
    dims.extend_from_slice(&indices.dims);
    dims.extend_from_slice(&v.dims[ax + 1..]);
    let total = elements(&dims)
        .filter(|&t| t <= limit)
        .ok_or_else(|| too_large(&format!("the gathered tensor {dims:?}"), "too many"))?;
    if total == 0 {
        // Still check the indices (none is valid for an empty axis).
        if let Some(&i) = ind.iter().find(|&&i| !(-n..n).contains(&i)) {
            return Err(format!("index {i} out of range 0..{n}"));
        }
        return Ok(v.map_elems(&[], dims));
    }
    let outer: usize = v.dims[..ax].iter().product();
    let inner: usize = v.dims[ax + 1..].iter().product();
    let mut idx = Vec::with_capacity(total);
    for o in 0..outer {
        for &i in &ind {
            let i = if i < 0 { i + n } else { i };
            if !(0..n).contains(&i) {
                return Err(format!("index {i} out of range 0..{n}"));
            }
            let base = (o * v.dims[ax] + i as usize) * inner;
            idx.extend(base..base + inner);
        }
    }
    Ok(v.map_elems(&idx, dims))
}

/// `Unsqueeze` at `axes` (positions in the output).
pub(crate) fn unsqueeze(v: &Value, axes: &[i64]) -> Result<Value, String> {
    let out_rank = v.dims.len() + axes.len();
    let mut ax: Vec<usize> = axes
        .iter()
        .map(|&a| norm_axis(a, out_rank))
        .collect::<Result<_, _>>()?;
    ax.sort_unstable();
    ax.dedup();
    if ax.len() != axes.len() {
        return Err(format!("repeated axis in {axes:?}"));
    }
    let mut dims = v.dims.clone();
    for &a in &ax {
        dims.insert(a, 1);
    }
    Ok(Value {
        dims,
        data: v.data.clone(),
    })
}

/// `Squeeze` at `axes` (all size-1 axes when `None`).
pub(crate) fn squeeze(v: &Value, axes: Option<&[i64]>) -> Result<Value, String> {
    let rank = v.dims.len();
    let ax: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|&x| norm_axis(x, rank))
            .collect::<Result<_, _>>()?,
        None => (0..rank).filter(|&i| v.dims[i] == 1).collect(),
    };
    if let Some(&a) = ax.iter().find(|&&a| v.dims[a] != 1) {
        return Err(format!("axis {a} has size {}, not 1", v.dims[a]));
    }
    let dims = v
        .dims
        .iter()
        .enumerate()
        .filter(|(i, _)| !ax.contains(i))
        .map(|(_, &d)| d)
        .collect();
    Ok(Value {
        dims,
        data: v.data.clone(),
    })
}

/// `Slice` of a 1-D tensor (steps of 1 only).
pub(crate) fn slice1(v: &Value, start: i64, end: i64) -> Result<Value, String> {
    if v.dims.len() != 1 {
        return Err(format!(
            "slicing a tensor of rank {} is not supported (rank 1 only)",
            v.dims.len()
        ));
    }
    let n = v.dims[0] as i64;
    let clampi = |x: i64| if x < 0 { (x + n).max(0) } else { x.min(n) };
    let (s, e) = (clampi(start), clampi(end));
    let idx: Vec<usize> = (s..e.max(s)).map(|i| i as usize).collect();
    let len = idx.len();
    Ok(v.map_elems(&idx, vec![len]))
}

/// `Cast` to ONNX data type `to`.
pub(crate) fn cast(v: &Value, to: i64) -> Result<Value, String> {
    let data = match (DataType::try_from(to as i32), &v.data) {
        (Ok(DataType::Float | DataType::Double), Data::F32(d)) => Data::F32(d.clone()),
        (Ok(DataType::Float | DataType::Double), Data::Int(_)) => {
            Data::F32(v.ints()?.iter().map(|&x| x as f32).collect())
        }
        (Ok(DataType::Int64 | DataType::Int32), Data::Int(d)) => Data::Int(d.clone()),
        (Ok(DataType::Int64 | DataType::Int32), Data::F32(d)) => {
            Data::Int(d.iter().map(|&x| Sym::Val(x.trunc() as i64)).collect())
        }
        _ => {
            return Err(format!(
                "cast to {} is not supported",
                dtype_name(to as i32)
            ))
        }
    };
    Ok(Value {
        dims: v.dims.clone(),
        data,
    })
}

/// Computes constant tensors on demand (memoized).
pub(crate) struct ConstEval<'a> {
    nodes: &'a [NodeProto],
    init: HashMap<&'a str, &'a TensorProto>,
    producer: HashMap<&'a str, usize>,
    memo: HashMap<String, Value>,
    /// The tensors being evaluated (on the recursion's path): one requested again depends on
    /// itself, a cycle, refused before each level of the recursion holds copies of its inputs.
    active: HashSet<String>,
    /// Elements computed so far (bounded by [`MAX_COMPUTED`]).
    computed: usize,
    /// Tensors on the data path (they depend on the model input and are never constants).
    pub data: HashSet<String>,
    /// For `Shape` nodes reading a data tensor: the shape of that tensor (batch symbolic).
    pub shape_of: HashMap<usize, Vec<Sym>>,
}

fn issue(index: usize, message: impl Into<String>) -> NodeIssue {
    NodeIssue {
        index,
        message: message.into(),
    }
}

impl<'a> ConstEval<'a> {
    /// An evaluator over `nodes` with the given initializers.
    pub fn new(nodes: &'a [NodeProto], initializers: &'a [TensorProto]) -> Self {
        let mut producer = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for o in &n.output {
                if !o.is_empty() {
                    producer.insert(o.as_str(), i);
                }
            }
        }
        ConstEval {
            nodes,
            init: initializers.iter().map(|t| (t.name(), t)).collect(),
            producer,
            memo: HashMap::new(),
            active: HashSet::new(),
            computed: 0,
            data: HashSet::new(),
            shape_of: HashMap::new(),
        }
    }

    /// Whether `name` is an initializer.
    pub fn is_initializer(&self, name: &str) -> bool {
        self.init.contains_key(name)
    }

    /// The constant value of tensor `name`, needed by node `user`.
    pub fn value(&mut self, name: &str, user: usize, depth: usize) -> Result<Value, NodeIssue> {
        if let Some(v) = self.memo.get(name) {
            return Ok(v.clone());
        }
        if self.data.contains(name) {
            return Err(issue(
                user,
                format!(
                    "input '{name}' is an activation on the data path, not a constant; weights, \
                     shapes and bias addends must be constants"
                ),
            ));
        }
        let v = if let Some(t) = self.init.get(name) {
            decode(t).map_err(|m| issue(user, format!("initializer '{name}' {m}")))?
        } else if let Some(&p) = self.producer.get(name) {
            if depth > 64 {
                return Err(issue(
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
                return Err(issue(
                    p,
                    format!(
                        "only the first output can be evaluated as a constant (used: '{name}')"
                    ),
                ));
            }
            if !self.active.insert(name.to_string()) {
                return Err(issue(
                    p,
                    format!("'{name}' depends on itself: the graph has a cycle"),
                ));
            }
            let v = self.eval(p, depth + 1);
            self.active.remove(name);
            let v = v?;
            self.computed = self.computed.saturating_add(v.len());
            if self.computed > MAX_COMPUTED {
                return Err(issue(
                    p,
                    too_large(
                        &format!("'{name}' and the constants before it"),
                        self.computed,
                    ),
                ));
            }
            v
        } else {
            return Err(issue(
                user,
                format!(
                    "input '{name}' is neither an initializer, a graph input nor a node output"
                ),
            ));
        };
        self.memo.insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// Input `k` of node `i` as a constant (`None` when absent).
    pub fn input(&mut self, i: usize, k: usize, depth: usize) -> Result<Option<Value>, NodeIssue> {
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
    ) -> Result<Value, NodeIssue> {
        self.input(i, k, depth)?
            .ok_or_else(|| issue(i, format!("input #{k} ({what}) is missing")))
    }

    /// Evaluates node `i` on constant inputs.
    fn eval(&mut self, i: usize, depth: usize) -> Result<Value, NodeIssue> {
        let node = &self.nodes[i];
        let op = node.op_type();
        if !matches!(node.domain(), "" | "ai.onnx") {
            return Err(issue(
                i,
                format!("domain '{}' is not supported", node.domain()),
            ));
        }
        let at = Attrs::of(node);
        let e = |m: String| issue(i, m);
        let v = match op {
            "Constant" => {
                at.check(&[
                    "value",
                    "value_float",
                    "value_floats",
                    "value_int",
                    "value_ints",
                ])
                .map_err(e)?;
                if let Some(a) = at.get("value", AttributeType::Tensor).map_err(e)? {
                    let t =
                        a.t.as_ref()
                            .ok_or_else(|| e("'value' has no tensor".into()))?;
                    decode(t).map_err(|m| e(format!("value {m}")))?
                } else if let Some(a) = at.get("value_float", AttributeType::Float).map_err(e)? {
                    Value {
                        dims: vec![],
                        data: Data::F32(vec![a.f()]),
                    }
                } else if let Some(a) = at.get("value_floats", AttributeType::Floats).map_err(e)? {
                    Value {
                        dims: vec![a.floats.len()],
                        data: Data::F32(a.floats.clone()),
                    }
                } else if let Some(a) = at.get("value_int", AttributeType::Int).map_err(e)? {
                    Value {
                        dims: vec![],
                        data: Data::Int(vec![Sym::Val(a.i())]),
                    }
                } else if let Some(a) = at.get("value_ints", AttributeType::Ints).map_err(e)? {
                    Value {
                        dims: vec![a.ints.len()],
                        data: Data::Int(a.ints.iter().map(|&x| Sym::Val(x)).collect()),
                    }
                } else {
                    return Err(e("no supported value attribute".into()));
                }
            }
            "Identity" | "Dropout" => self.req_input(i, 0, "input", depth)?,
            "Shape" => {
                at.check(&["start", "end"]).map_err(e)?;
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
                let start = at.int("start", 0).map_err(e)?;
                let end = at.int("end", i64::MAX).map_err(e)?;
                slice1(&all, start, end).map_err(e)?
            }
            "Gather" => {
                at.check(&["axis"]).map_err(e)?;
                let data = self.req_input(i, 0, "data", depth)?;
                let idx = self.req_input(i, 1, "indices", depth)?;
                let axis = at.int("axis", 0).map_err(e)?;
                gather(&data, &idx, axis, MAX_COMPUTED - self.computed).map_err(e)?
            }
            "Unsqueeze" | "Squeeze" => {
                at.check(&["axes"]).map_err(e)?;
                let data = self.req_input(i, 0, "data", depth)?;
                let axes = match at.ints("axes").map_err(e)? {
                    Some(a) => Some(a),
                    None => match self.input(i, 1, depth)? {
                        Some(v) => Some(v.ints().map_err(|m| e(format!("axes {m}")))?),
                        None => None,
                    },
                };
                if op == "Unsqueeze" {
                    let axes = axes.ok_or_else(|| e("Unsqueeze without axes".into()))?;
                    unsqueeze(&data, &axes).map_err(e)?
                } else {
                    squeeze(&data, axes.as_deref()).map_err(e)?
                }
            }
            "Concat" => {
                at.check(&["axis"]).map_err(e)?;
                let axis = at
                    .get("axis", AttributeType::Int)
                    .map_err(e)?
                    .map(|a| a.i())
                    .ok_or_else(|| e("Concat without axis".into()))?;
                let mut vals = Vec::new();
                let mut total = 0usize;
                for k in 0..node.input.len() {
                    if let Some(v) = self.input(i, k, depth)? {
                        total = total.saturating_add(v.len());
                        if total > MAX_COMPUTED - self.computed {
                            return Err(e(too_large("the concatenation", "too many")));
                        }
                        vals.push(v);
                    }
                }
                concat(&vals, axis, MAX_COMPUTED - self.computed).map_err(e)?
            }
            "Cast" => {
                at.check(&["to", "saturate", "round_mode"]).map_err(e)?;
                let data = self.req_input(i, 0, "input", depth)?;
                let to = at.int("to", 0).map_err(e)?;
                cast(&data, to).map_err(e)?
            }
            "Transpose" => {
                at.check(&["perm"]).map_err(e)?;
                let data = self.req_input(i, 0, "data", depth)?;
                let perm = at.ints("perm").map_err(e)?;
                transpose(&data, perm.as_deref()).map_err(e)?
            }
            "Reshape" => {
                at.check(&["allowzero"]).map_err(e)?;
                let data = self.req_input(i, 0, "data", depth)?;
                let shape = self.req_input(i, 1, "shape", depth)?;
                let target = shape.ints().map_err(|m| e(format!("shape {m}")))?;
                let allowzero = at.int("allowzero", 0).map_err(e)? != 0;
                let dims = reshape_dims(&data.dims, &target, allowzero).map_err(e)?;
                Value {
                    dims,
                    data: data.data,
                }
            }
            "Slice" => {
                at.check(&[]).map_err(e)?;
                let data = self.req_input(i, 0, "data", depth)?;
                let starts = self.req_input(i, 1, "starts", depth)?.ints().map_err(e)?;
                let ends = self.req_input(i, 2, "ends", depth)?.ints().map_err(e)?;
                let axes = self
                    .input(i, 3, depth)?
                    .map(|v| v.ints())
                    .transpose()
                    .map_err(e)?;
                let steps = self
                    .input(i, 4, depth)?
                    .map(|v| v.ints())
                    .transpose()
                    .map_err(e)?;
                if starts.len() != 1
                    || ends.len() != 1
                    || axes.as_ref().is_some_and(|a| a[..] != [0] && a[..] != [-1])
                    || steps.as_ref().is_some_and(|s| s[..] != [1])
                {
                    return Err(e(
                        "only a 1-D slice with step 1 is supported on constants".into()
                    ));
                }
                slice1(&data, starts[0], ends[0]).map_err(e)?
            }
            _ => {
                return Err(e(format!(
                    "cannot evaluate op '{op}' on constants (constant expressions may use \
                     Constant, Identity, Dropout, Shape, Gather, Unsqueeze, Squeeze, Concat, \
                     Cast, Transpose, Reshape, Slice)"
                )))
            }
        };
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(dims: &[usize], v: &[f32]) -> Value {
        Value {
            dims: dims.to_vec(),
            data: Data::F32(v.to_vec()),
        }
    }

    #[test]
    fn transpose_2d_and_3d() {
        let v = f(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let t = transpose(&v, None).unwrap();
        assert_eq!(t, f(&[3, 2], &[1., 4., 2., 5., 3., 6.]));
        let v = f(&[2, 1, 2], &[1., 2., 3., 4.]);
        let t = transpose(&v, Some(&[2, 0, 1])).unwrap();
        assert_eq!(t, f(&[2, 2, 1], &[1., 3., 2., 4.]));
        assert!(transpose(&v, Some(&[0, 0, 1])).is_err());
    }

    #[test]
    fn reshape_gather_concat() {
        assert_eq!(
            reshape_dims(&[1, 4, 2, 2], &[0, -1], false).unwrap(),
            vec![1, 16]
        );
        assert_eq!(
            reshape_dims(&[1, 4, 2, 2], &[-1, 16], false).unwrap(),
            vec![1, 16]
        );
        assert!(reshape_dims(&[1, 4, 2, 2], &[-1, 5], false).is_err());
        let shape = Value {
            dims: vec![4],
            data: Data::Int(vec![Sym::Batch, Sym::Val(4), Sym::Val(2), Sym::Val(2)]),
        };
        let i0 = Value {
            dims: vec![],
            data: Data::Int(vec![Sym::Val(0)]),
        };
        let g = gather(&shape, &i0, 0, MAX_COMPUTED).unwrap();
        assert_eq!(g.dims, Vec::<usize>::new());
        let u = unsqueeze(&g, &[0]).unwrap();
        let m1 = Value {
            dims: vec![1],
            data: Data::Int(vec![Sym::Val(-1)]),
        };
        let c = concat(&[u, m1], 0, MAX_COMPUTED).unwrap();
        assert_eq!(c.syms().unwrap(), &[Sym::Batch, Sym::Val(-1)]);
        assert_eq!(
            slice1(&shape, 1, 100).unwrap().ints().unwrap(),
            vec![4, 2, 2]
        );
    }
}
