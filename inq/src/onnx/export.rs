//! [`FloatModel`] and [`QuantModel`] graphs → ONNX (opset 13; 21 for activation formats
//! wider than 8 bits). Owns the encoding of constants and one match arm per operator for
//! each direction; not the import ([`super::import`]).

use inq_model::{numerics, ActFormat, Op, Output, QuantModel, Source};
use prost::Message;
use std::path::Path;

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::{OnnxError, NORMALIZATION_KEY};
use crate::graph::{FloatModel, FloatOp};

/// Metadata key of a quantized export holding the exponent `e` of the output: the ONNX
/// output equals `logits_int · 2^e` (decimal integer).
pub const LOGITS_EXP_KEY: &str = "inq.logits_exp";

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(v),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.iter().map(|&x| x as i64).collect(),
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        attribute,
        ..Default::default()
    }
}

fn value_info(name: &str, batch: &str, dims: &[usize]) -> ValueInfoProto {
    use tensor_shape_proto::{dimension::Value as D, Dimension};
    let mut dim = vec![Dimension {
        value: Some(D::DimParam(batch.into())),
        ..Default::default()
    }];
    dim.extend(dims.iter().map(|&d| Dimension {
        value: Some(D::DimValue(d as i64)),
        ..Default::default()
    }));
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn meta(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto {
        key: Some(key.into()),
        value: Some(value),
    }
}

fn model_proto(
    graph: GraphProto,
    opset: i64,
    ir: i64,
    metadata: Vec<StringStringEntryProto>,
) -> ModelProto {
    ModelProto {
        ir_version: Some(ir),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        producer_name: Some("inq".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        metadata_props: metadata,
        ..Default::default()
    }
}

fn write(path: &Path, m: &ModelProto) -> Result<(), OnnxError> {
    inq_model::write_atomic(path, &m.encode_to_vec()).map_err(|e| OnnxError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// A float32 tensor with raw little-endian data.
pub(crate) fn f32_tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// An int64 tensor with raw little-endian data.
pub(crate) fn i64_tensor(name: &str, dims: &[usize], data: &[i64]) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(DataType::Int64 as i32),
        raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// A scalar (rank 0) tensor of an 8/16-bit integer type holding 0 (a zero point).
pub(crate) fn zero_point(name: &str, dt: DataType) -> TensorProto {
    let bytes = match dt {
        DataType::Uint16 | DataType::Int16 => 2,
        _ => 1,
    };
    TensorProto {
        name: Some(name.to_string()),
        dims: vec![],
        data_type: Some(dt as i32),
        raw_data: Some(vec![0; bytes]),
        ..Default::default()
    }
}

/// Builds the ONNX model of a float model: opset 13, input `[N, C, H, W]` named like the
/// model input, output `output`, one node per graph node in evaluation order
/// (Conv with `group`, Gemm(transB=1), Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten,
/// Add, BatchNormalization) named after it, node `x`'s tensor `x_out`, weights as float
/// initializers `<node>.weight`/`<node>.bias` (BatchNorm: `.scale`, `.bias`, `.mean`, `.var`),
/// and the normalization as metadata [`NORMALIZATION_KEY`].
pub fn float_model_proto(m: &FloatModel) -> Result<ModelProto, OnnxError> {
    let g = m.graph().map_err(|e| OnnxError::Export {
        message: e.to_string(),
    })?;
    let tensor = |s: Source| -> String {
        match s {
            Source::Input => m.input_name.clone(),
            Source::Node(j) if j == g.output => "output".to_string(),
            Source::Node(j) => format!("{}_out", m.nodes[j].name),
        }
    };
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    for &i in &g.order {
        let name = &m.nodes[i].name;
        let ins: Vec<String> = g.inputs[i].iter().map(|&s| tensor(s)).collect();
        let x = ins[0].as_str();
        let out = tensor(Source::Node(i));
        let n = match &m.nodes[i].op {
            FloatOp::Conv(c) => {
                let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
                inits.push(f32_tensor(
                    &wn,
                    &[c.out_channels, c.group_channels(), c.kernel[0], c.kernel[1]],
                    &c.weight,
                ));
                inits.push(f32_tensor(&bn, &[c.out_channels], &c.bias));
                let mut at = vec![
                    attr_ints("kernel_shape", &c.kernel),
                    attr_ints("strides", &c.stride),
                    attr_ints("pads", &c.pad),
                ];
                if c.group != 1 {
                    at.push(attr_int("group", c.group as i64));
                }
                node("Conv", name, &[x, &wn, &bn], &out, at)
            }
            FloatOp::Dense(d) => {
                let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
                inits.push(f32_tensor(&wn, &[d.out_features, d.in_features], &d.weight));
                inits.push(f32_tensor(&bn, &[d.out_features], &d.bias));
                node(
                    "Gemm",
                    name,
                    &[x, &wn, &bn],
                    &out,
                    vec![attr_int("transB", 1)],
                )
            }
            FloatOp::Relu(_) => node("Relu", name, &[x], &out, vec![]),
            FloatOp::MaxPool(p) => node(
                "MaxPool",
                name,
                &[x],
                &out,
                vec![
                    attr_ints("kernel_shape", &p.0.kernel),
                    attr_ints("strides", &p.0.stride),
                ],
            ),
            FloatOp::AvgPool(p) => node(
                "AveragePool",
                name,
                &[x],
                &out,
                vec![
                    attr_ints("kernel_shape", &p.0.kernel),
                    attr_ints("strides", &p.0.stride),
                ],
            ),
            FloatOp::GlobalAvgPool(_) => node("GlobalAveragePool", name, &[x], &out, vec![]),
            FloatOp::Flatten(_) => node("Flatten", name, &[x], &out, vec![attr_int("axis", 1)]),
            FloatOp::Add(_) => node("Add", name, &[x, &ins[1]], &out, vec![]),
            FloatOp::BatchNorm(b) => {
                let names: Vec<String> = ["scale", "bias", "mean", "var"]
                    .iter()
                    .map(|k| format!("{name}.{k}"))
                    .collect();
                for (n, v) in names.iter().zip([&b.gamma, &b.beta, &b.mean, &b.var]) {
                    inits.push(f32_tensor(n, &[b.channels], v));
                }
                node(
                    "BatchNormalization",
                    name,
                    &[x, &names[0], &names[1], &names[2], &names[3]],
                    &out,
                    vec![
                        attr_float("epsilon", b.eps),
                        attr_float("momentum", 1.0 - b.momentum),
                    ],
                )
            }
        };
        nodes.push(n);
    }
    let norm = serde_json::to_string(&m.normalization).map_err(|e| OnnxError::Export {
        message: e.to_string(),
    })?;
    let graph = GraphProto {
        name: Some(m.name.clone()),
        node: nodes,
        initializer: inits,
        input: vec![value_info(&m.input_name, "N", &m.input_shape)],
        output: vec![value_info("output", "N", &g.shapes[g.output])],
        ..Default::default()
    };
    Ok(model_proto(
        graph,
        13,
        7,
        vec![meta(NORMALIZATION_KEY, norm)],
    ))
}

/// Writes a float model as ONNX (see [`float_model_proto`]), atomically.
pub fn export_float(m: &FloatModel, path: &Path) -> Result<(), OnnxError> {
    write(path, &float_model_proto(m)?)
}

/// What [`quantized_model_proto`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantExportInfo {
    /// The ONNX output equals `logits_int · 2^logits_exp`.
    pub logits_exp: i32,
    /// The ONNX input is `q · 2^input_exp` for input integers `q`.
    pub input_exp: i32,
    /// The opset used: 13, or 21 when some activation format is wider than 8 bits.
    pub opset: i64,
}

struct QBuilder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    opset: i64,
    count: usize,
}

fn pow2(e: i32) -> f64 {
    2f64.powi(e)
}

impl QBuilder {
    fn fresh(&mut self, base: &str) -> String {
        self.count += 1;
        format!("{base}_{}", self.count)
    }

    fn scalar(&mut self, base: &str, v: f32) -> String {
        let n = self.fresh(base);
        self.inits.push(f32_tensor(&n, &[], &[v]));
        n
    }

    /// Quantize/dequantize `x` to format `f`, first adding `tie` (half an LSB of the finer
    /// source grid, so that ONNX's round-half-to-even agrees with the reference's round-half-
    /// up) and clipping to the format's range when the container type is wider.
    fn qdq(&mut self, name: &str, x: &str, f: ActFormat, tie: f64) -> String {
        let mut cur = x.to_string();
        if tie != 0.0 {
            let t = self.scalar(&format!("{name}.tie"), tie as f32);
            let out = self.fresh(&format!("{name}_tie"));
            self.nodes
                .push(node("Add", &out, &[&cur, &t], &out, vec![]));
            cur = out;
        }
        let (dt, cbits) = match (f.bits <= 8, f.signed) {
            (true, false) => (DataType::Uint8, 8),
            (true, true) => (DataType::Int8, 8),
            (false, false) => (DataType::Uint16, 16),
            (false, true) => (DataType::Int16, 16),
        };
        let s = pow2(f.exp);
        if f.bits != cbits {
            let lo = self.scalar(&format!("{name}.min"), (f.min() as f64 * s) as f32);
            let hi = self.scalar(&format!("{name}.max"), (f.max() as f64 * s) as f32);
            let out = self.fresh(&format!("{name}_clip"));
            self.nodes
                .push(node("Clip", &out, &[&cur, &lo, &hi], &out, vec![]));
            cur = out;
        }
        let scale = self.scalar(&format!("{name}.scale"), s as f32);
        let zp = self.fresh(&format!("{name}.zero_point"));
        self.inits.push(zero_point(&zp, dt));
        let q = self.fresh(&format!("{name}_q"));
        self.nodes
            .push(node("QuantizeLinear", &q, &[&cur, &scale, &zp], &q, vec![]));
        let dq = self.fresh(&format!("{name}_dq"));
        self.nodes.push(node(
            "DequantizeLinear",
            &dq,
            &[&q, &scale, &zp],
            &dq,
            vec![],
        ));
        if f.bits > 8 {
            self.opset = 21;
        }
        dq
    }
}

/// Float weights `±2^(n2_c + k)` and biases `bias_c · 2^(in.exp + n2_c)` (plus the tie
/// offset where the requantization shift is positive) of a conv/dense node.
fn float_params(
    w: &inq_model::WeightTensor,
    bias: &[i64],
    out: usize,
    in_fmt: ActFormat,
    output: &Output,
) -> (Vec<f32>, Vec<f32>) {
    let per = w.codes.len() / out.max(1);
    let mut weight = Vec::with_capacity(w.codes.len());
    let mut b = Vec::with_capacity(out);
    for (c, &bias_c) in bias.iter().enumerate().take(out) {
        let n2 = w.n2_of(c);
        for &code in &w.codes[c * per..(c + 1) * per] {
            // ±2^k (INQ) or q (uniform integer), in units of 2^n2_c
            let q = numerics::weight_int(w.decode(code).unwrap_or(numerics::Weight::Zero));
            weight.push((q as f64 * pow2(n2)) as f32);
        }
        let acc_exp = in_fmt.exp + n2;
        let mut bv = bias_c as f64 * pow2(acc_exp);
        if let Some(of) = output.act() {
            if w.requant_shift(in_fmt, c, of) > 0 {
                bv += pow2(acc_exp - 1);
            }
        }
        b.push(bv as f32);
    }
    (weight, b)
}

/// Builds a QDQ ONNX model of a quantized model graph whose float evaluation reproduces the
/// integer reference ([`inq_model::reference`]).
///
/// * Input (named like the model input) `[N, C, H, W]` holds the real input values
///   `q · 2^input.exp` (for 8-bit pixels with `exp = 0`, the raw pixels as floats); it passes
///   a QuantizeLinear / DequantizeLinear pair of the input format.
/// * Conv/dense weights are float initializers holding exactly `±2^(n2_c + k)` or 0; biases
///   are `bias_c · 2^(in.exp + n2_c)`. A conv with a non-zero `pad_value` gets an explicit
///   `Pad` node with that value; a depthwise conv keeps its `group`.
/// * Each requantized output (conv, dense, add) passes `Clip` (when the format is narrower
///   than its container) and a QuantizeLinear/DequantizeLinear pair with scale `2^exp`, zero
///   point 0 and type uint8/int8 (uint16/int16 and opset 21 for formats wider than 8 bits).
///   ReLU is the unsigned saturation. An add sums its two dequantized inputs (exact).
/// * Average pools are followed by a QDQ pair of their (unchanged) format; a global average
///   pool is `ReduceSum` times `2^-S` (`S = ceil(log2(H·W))`, the integer operator's shift)
///   and a QDQ pair.
/// * The output `logits` equals `logits_int · 2^logits_exp` ([`QuantExportInfo`], also in
///   metadata [`LOGITS_EXP_KEY`]).
///
/// Rounding: ONNX QuantizeLinear rounds half to even, the reference rounds half up
/// (`numerics::shift_round`). The exporter adds half an LSB of the source grid (half an
/// accumulator LSB to each bias whose requantization shift is positive; `2^(exp-shift-1)`
/// after a pool; half the finer input LSB before an add's requantization) before quantizing.
/// Because every exact value lies on that grid, the offset turns exact ties into round-up and
/// never moves any other value across a rounding boundary, so the ONNX model agrees with the
/// reference exactly whenever the f32 arithmetic is exact — i.e. while every accumulator (and
/// bias) stays below 2^24 in units of its finest scale. Larger accumulators round in f32 and
/// may differ by an LSB.
pub fn quantized_model_proto(m: &QuantModel) -> Result<(ModelProto, QuantExportInfo), OnnxError> {
    let g = m.graph().map_err(|e| OnnxError::Export {
        message: e.to_string(),
    })?;
    let mut b = QBuilder {
        nodes: Vec::new(),
        inits: Vec::new(),
        opset: 13,
        count: 0,
    };
    let input_name = m.input.name.clone();
    let input_q = b.qdq("input", &input_name, m.input.format, 0.0);
    // the ONNX tensor holding each node's (dequantized) output
    let mut tensor: Vec<String> = vec![String::new(); m.nodes.len()];
    let mut logits_exp = m.input.format.exp;
    for &i in &g.order {
        let name = m.nodes[i].name.as_str();
        let src = |s: Source| -> String {
            match s {
                Source::Input => input_q.clone(),
                Source::Node(j) => tensor[j].clone(),
            }
        };
        let mut cur = src(g.inputs[i][0]);
        let in_info = g.info(g.inputs[i][0]);
        let fmt = in_info.format.unwrap_or(m.input.format);
        match &m.nodes[i].op {
            Op::Conv(l) => {
                let (weight, bias) =
                    float_params(&l.weights, &l.bias, l.out_channels, fmt, &l.output);
                let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
                b.inits.push(f32_tensor(
                    &wn,
                    &[l.out_channels, l.group_channels(), l.kernel[0], l.kernel[1]],
                    &weight,
                ));
                b.inits.push(f32_tensor(&bn, &[l.out_channels], &bias));
                let mut pads = l.pad;
                if l.pad_value != 0 && l.pad != [0; 4] {
                    let [pt, pl, pbm, pr] = l.pad;
                    let pn = format!("{name}.pads");
                    b.inits.push(i64_tensor(
                        &pn,
                        &[8],
                        &[0, 0, pt as i64, pl as i64, 0, 0, pbm as i64, pr as i64],
                    ));
                    let vn = b.scalar(
                        &format!("{name}.pad_value"),
                        (l.pad_value as f64 * pow2(fmt.exp)) as f32,
                    );
                    let out = format!("{name}_pad");
                    b.nodes
                        .push(node("Pad", &out, &[&cur, &pn, &vn], &out, vec![]));
                    cur = out;
                    pads = [0; 4];
                }
                let out = format!("{name}_acc");
                let mut at = vec![
                    attr_ints("kernel_shape", &l.kernel),
                    attr_ints("strides", &l.stride),
                    attr_ints("pads", &pads),
                ];
                if l.group != 1 {
                    at.push(attr_int("group", l.group as i64));
                }
                b.nodes
                    .push(node("Conv", name, &[&cur, &wn, &bn], &out, at));
                cur = out;
                match l.output.act() {
                    Some(of) => cur = b.qdq(name, &cur, of, 0.0),
                    None => logits_exp = fmt.exp + l.weights.n2_min(l.out_channels),
                }
            }
            Op::Dense(l) => {
                let (weight, bias) =
                    float_params(&l.weights, &l.bias, l.out_features, fmt, &l.output);
                let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
                b.inits
                    .push(f32_tensor(&wn, &[l.out_features, l.in_features], &weight));
                b.inits.push(f32_tensor(&bn, &[l.out_features], &bias));
                let out = format!("{name}_acc");
                b.nodes.push(node(
                    "Gemm",
                    name,
                    &[&cur, &wn, &bn],
                    &out,
                    vec![attr_int("transB", 1)],
                ));
                cur = out;
                match l.output.act() {
                    Some(of) => cur = b.qdq(name, &cur, of, 0.0),
                    None => logits_exp = fmt.exp + l.weights.n2_min(l.out_features),
                }
            }
            Op::Add(a) => {
                let other = src(g.inputs[i][1]);
                let fb = g.info(g.inputs[i][1]).format.unwrap_or(fmt);
                let of = a.output.act().ok_or_else(|| OnnxError::Export {
                    message: format!("add '{name}' has no activation output"),
                })?;
                let out = format!("{name}_sum");
                b.nodes
                    .push(node("Add", name, &[&cur, &other], &out, vec![]));
                let e = numerics::add_exp(fmt.exp, fb.exp);
                let tie = if of.exp > e { pow2(e - 1) } else { 0.0 };
                cur = b.qdq(name, &out, of, tie);
            }
            Op::MaxPool(p) => {
                let out = format!("{name}_out");
                b.nodes.push(node(
                    "MaxPool",
                    name,
                    &[&cur],
                    &out,
                    vec![
                        attr_ints("kernel_shape", &p.0.kernel),
                        attr_ints("strides", &p.0.stride),
                    ],
                ));
                cur = out;
            }
            Op::AvgPool(p) => {
                let out = format!("{name}_mean");
                b.nodes.push(node(
                    "AveragePool",
                    name,
                    &[&cur],
                    &out,
                    vec![
                        attr_ints("kernel_shape", &p.0.kernel),
                        attr_ints("strides", &p.0.stride),
                    ],
                ));
                let shift = numerics::log2_exact(p.0.kernel[0] * p.0.kernel[1]).unwrap_or(0) as i32;
                let tie = if shift > 0 {
                    pow2(fmt.exp - shift - 1)
                } else {
                    0.0
                };
                cur = b.qdq(name, &out, fmt, tie);
            }
            Op::GlobalAvgPool(_) => {
                let s = &in_info.shape;
                let area = s.get(1).copied().unwrap_or(1) * s.get(2).copied().unwrap_or(1);
                let shift = numerics::gap_shift(area) as i32;
                let axes = format!("{name}.axes");
                b.inits.push(i64_tensor(&axes, &[2], &[2, 3]));
                let sum = format!("{name}_sum");
                b.nodes.push(node(
                    "ReduceSum",
                    name,
                    &[&cur, &axes],
                    &sum,
                    vec![attr_int("keepdims", 1)],
                ));
                let k = b.scalar(&format!("{name}.inv"), pow2(-shift) as f32);
                let out = format!("{name}_mean");
                b.nodes.push(node("Mul", &out, &[&sum, &k], &out, vec![]));
                let tie = if shift > 0 {
                    pow2(fmt.exp - shift - 1)
                } else {
                    0.0
                };
                cur = b.qdq(name, &out, fmt, tie);
            }
            Op::Flatten(_) => {
                let out = format!("{name}_out");
                b.nodes.push(node(
                    "Flatten",
                    name,
                    &[&cur],
                    &out,
                    vec![attr_int("axis", 1)],
                ));
                cur = out;
            }
        }
        tensor[i] = cur;
    }
    // Rename the output tensor to `logits`.
    b.nodes.push(node(
        "Identity",
        "logits",
        &[&tensor[g.output]],
        "logits",
        vec![],
    ));
    let info = QuantExportInfo {
        logits_exp,
        input_exp: m.input.format.exp,
        opset: b.opset,
    };
    let graph = GraphProto {
        name: Some(m.name.clone()),
        node: b.nodes,
        initializer: b.inits,
        input: vec![value_info(&input_name, "N", &m.input.shape)],
        output: vec![value_info("logits", "N", &g.infos[g.output].shape)],
        ..Default::default()
    };
    let metadata = vec![
        meta(LOGITS_EXP_KEY, logits_exp.to_string()),
        meta("inq.input_exp", info.input_exp.to_string()),
        meta("inq.model_hash", m.hash()),
    ];
    let ir = if b.opset >= 21 { 10 } else { 7 };
    Ok((model_proto(graph, b.opset, ir, metadata), info))
}

/// Writes a quantized model as a QDQ ONNX file (see [`quantized_model_proto`]), atomically.
pub fn export_quantized(m: &QuantModel, path: &Path) -> Result<QuantExportInfo, OnnxError> {
    let (proto, info) = quantized_model_proto(m)?;
    write(path, &proto)?;
    Ok(info)
}
