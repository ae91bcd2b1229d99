//! [`FloatModel`] and [`QuantModel`] → ONNX.

use std::collections::HashSet;
use std::path::Path;

use inq_model::{numerics, ActFormat, Layer, Output, QuantModel};
use prost::Message;

use super::proto::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::tensor::{f32_tensor, i64_tensor, zero_point};
use super::{OnnxError, NORMALIZATION_KEY};
use crate::graph::{FloatLayer, FloatModel};

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

/// Unique, non-empty node names from layer names (duplicates get `_{index}`).
fn unique_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    names
        .enumerate()
        .map(|(i, n)| {
            let mut s = if n.is_empty() {
                format!("layer{i}")
            } else {
                n.to_string()
            };
            if !seen.insert(s.clone()) {
                s = format!("{s}_{i}");
                seen.insert(s.clone());
            }
            s
        })
        .collect()
}

/// Builds the ONNX model of a float model: opset 13, input `input` `[N, C, H, W]`, output
/// `output`, Conv/Gemm(transB=1)/Relu/MaxPool/AveragePool/GlobalAveragePool/Flatten nodes
/// named after the layers, weights as float initializers `<layer>.weight`/`<layer>.bias`,
/// and the normalization as metadata [`NORMALIZATION_KEY`].
pub fn float_model_proto(m: &FloatModel) -> Result<ModelProto, OnnxError> {
    let shapes = crate::forward::shapes(m).map_err(|e| OnnxError::Export {
        message: e.to_string(),
    })?;
    if m.layers.is_empty() {
        return Err(OnnxError::Export {
            message: "the model has no layers".into(),
        });
    }
    let names = unique_names(m.layers.iter().map(crate::forward::layer_name));
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut prev = "input".to_string();
    let last = m.layers.len() - 1;
    for (i, (layer, name)) in m.layers.iter().zip(&names).enumerate() {
        let out = if i == last {
            "output".to_string()
        } else {
            format!("{name}_out")
        };
        let n = match layer {
            FloatLayer::Conv {
                in_channels,
                out_channels,
                kernel,
                stride,
                pad,
                weight,
                bias,
                ..
            } => {
                let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
                inits.push(f32_tensor(
                    &wn,
                    &[*out_channels, *in_channels, kernel[0], kernel[1]],
                    weight,
                ));
                inits.push(f32_tensor(&bn, &[*out_channels], bias));
                node(
                    "Conv",
                    name,
                    &[&prev, &wn, &bn],
                    &out,
                    vec![
                        attr_ints("kernel_shape", kernel),
                        attr_ints("strides", stride),
                        attr_ints("pads", pad),
                    ],
                )
            }
            FloatLayer::Dense {
                in_features,
                out_features,
                weight,
                bias,
                ..
            } => {
                let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
                inits.push(f32_tensor(&wn, &[*out_features, *in_features], weight));
                inits.push(f32_tensor(&bn, &[*out_features], bias));
                node(
                    "Gemm",
                    name,
                    &[&prev, &wn, &bn],
                    &out,
                    vec![attr_int("transB", 1)],
                )
            }
            FloatLayer::Relu { .. } => node("Relu", name, &[&prev], &out, vec![]),
            FloatLayer::MaxPool { kernel, stride, .. } => node(
                "MaxPool",
                name,
                &[&prev],
                &out,
                vec![
                    attr_ints("kernel_shape", kernel),
                    attr_ints("strides", stride),
                ],
            ),
            FloatLayer::AvgPool { kernel, stride, .. } => node(
                "AveragePool",
                name,
                &[&prev],
                &out,
                vec![
                    attr_ints("kernel_shape", kernel),
                    attr_ints("strides", stride),
                ],
            ),
            FloatLayer::GlobalAvgPool { .. } => {
                node("GlobalAveragePool", name, &[&prev], &out, vec![])
            }
            FloatLayer::Flatten { .. } => {
                node("Flatten", name, &[&prev], &out, vec![attr_int("axis", 1)])
            }
        };
        nodes.push(n);
        prev = out;
    }
    let norm = serde_json::to_string(&m.normalization).map_err(|e| OnnxError::Export {
        message: e.to_string(),
    })?;
    let graph = GraphProto {
        name: Some(m.name.clone()),
        node: nodes,
        initializer: inits,
        input: vec![value_info("input", "N", &m.input_shape)],
        output: vec![value_info(
            "output",
            "N",
            shapes.last().map(|s| &s[..]).unwrap_or(&[]),
        )],
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
/// offset where the requantization shift is positive) of a conv/dense layer.
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
        let n2 = numerics::n2_of(w, c);
        for &code in &w.codes[c * per..(c + 1) * per] {
            // ±2^k (INQ) or q (uniform integer), in units of 2^n2_c
            let q = numerics::weight_int(w.decode(code).unwrap_or(numerics::Weight::Zero));
            let v = q as f64 * pow2(n2);
            weight.push(v as f32);
        }
        let acc_exp = in_fmt.exp + n2;
        let mut bv = bias_c as f64 * pow2(acc_exp);
        if let Some(of) = output.act() {
            if numerics::requant_shift(in_fmt, w, c, of) > 0 {
                bv += pow2(acc_exp - 1);
            }
        }
        b.push(bv as f32);
    }
    (weight, b)
}

/// Builds a QDQ ONNX model of a quantized model whose float evaluation reproduces the integer
/// reference ([`inq_model::reference`]).
///
/// * Input `input` `[N, C, H, W]` holds the real input values `q · 2^input.exp` (for 8-bit
///   pixels with `exp = 0`, the raw pixels as floats); it passes a QuantizeLinear /
///   DequantizeLinear pair of the input format.
/// * Conv/dense weights are float initializers holding exactly `±2^(n2_c + k)` or 0; biases
///   are `bias_c · 2^(in.exp + n2_c)`. A conv with a non-zero `pad_value` gets an explicit
///   `Pad` node with that value.
/// * Each requantized output passes `Clip` (when the format is narrower than its container)
///   and a QuantizeLinear/DequantizeLinear pair with scale `2^exp`, zero point 0 and type
///   uint8/int8 (uint16/int16 and opset 21 for formats wider than 8 bits). ReLU is the
///   unsigned saturation.
/// * Average pools are followed by a QDQ pair of their (unchanged) format.
/// * The output `logits` equals `logits_int · 2^logits_exp` ([`QuantExportInfo`], also in
///   metadata [`LOGITS_EXP_KEY`]).
///
/// Rounding: ONNX QuantizeLinear rounds half to even, the reference rounds half up
/// (`numerics::shift_round`). The exporter adds half an LSB of the source grid (half an
/// accumulator LSB to each bias whose requantization shift is positive; `2^(exp-shift-1)`
/// after an average pool) before quantizing. Because every exact value lies on that grid,
/// the offset turns exact ties into round-up and never moves any other value across a
/// rounding boundary, so the ONNX model agrees with the reference exactly whenever the f32
/// arithmetic is exact — i.e. while every accumulator (and bias) stays below 2^24 in units of
/// its finest scale. Larger accumulators round in f32 and may differ by an LSB.
pub fn quantized_model_proto(m: &QuantModel) -> Result<(ModelProto, QuantExportInfo), OnnxError> {
    let shapes = inq_model::validate::shapes(m).map_err(|e| OnnxError::Export {
        message: e.to_string(),
    })?;
    let mut b = QBuilder {
        nodes: Vec::new(),
        inits: Vec::new(),
        opset: 13,
        count: 0,
    };
    let names = unique_names(m.layers.iter().map(|l| l.name()));
    let mut fmt = m.input.format;
    let mut cur = b.qdq("input", "input", fmt, 0.0);
    let mut logits_exp = fmt.exp;
    for (i, (layer, name)) in m.layers.iter().zip(&names).enumerate() {
        let in_shape = &shapes[i];
        match layer {
            Layer::Conv(l) => {
                let (weight, bias) =
                    float_params(&l.weights, &l.bias, l.out_channels, fmt, &l.output);
                let (wn, bn) = (format!("{name}.weight"), format!("{name}.bias"));
                b.inits.push(f32_tensor(
                    &wn,
                    &[l.out_channels, l.in_channels, l.kernel[0], l.kernel[1]],
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
                b.nodes.push(node(
                    "Conv",
                    name,
                    &[&cur, &wn, &bn],
                    &out,
                    vec![
                        attr_ints("kernel_shape", &l.kernel),
                        attr_ints("strides", &l.stride),
                        attr_ints("pads", &pads),
                    ],
                ));
                cur = out;
                match l.output.act() {
                    Some(of) => {
                        cur = b.qdq(name, &cur, of, 0.0);
                        fmt = of;
                    }
                    None => logits_exp = fmt.exp + numerics::n2_min(&l.weights, l.out_channels),
                }
            }
            Layer::Dense(l) => {
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
                    Some(of) => {
                        cur = b.qdq(name, &cur, of, 0.0);
                        fmt = of;
                    }
                    None => logits_exp = fmt.exp + numerics::n2_min(&l.weights, l.out_features),
                }
            }
            Layer::MaxPool(p) => {
                let out = format!("{name}_out");
                b.nodes.push(node(
                    "MaxPool",
                    name,
                    &[&cur],
                    &out,
                    vec![
                        attr_ints("kernel_shape", &p.kernel),
                        attr_ints("strides", &p.stride),
                    ],
                ));
                cur = out;
            }
            Layer::AvgPool(p) => {
                let out = format!("{name}_mean");
                b.nodes.push(node(
                    "AveragePool",
                    name,
                    &[&cur],
                    &out,
                    vec![
                        attr_ints("kernel_shape", &p.kernel),
                        attr_ints("strides", &p.stride),
                    ],
                ));
                let shift = numerics::log2_exact(p.kernel[0] * p.kernel[1]).unwrap_or(0) as i32;
                let tie = if shift > 0 {
                    pow2(fmt.exp - shift - 1)
                } else {
                    0.0
                };
                cur = b.qdq(name, &out, fmt, tie);
            }
            Layer::GlobalAvgPool(_) => {
                let out = format!("{name}_mean");
                b.nodes
                    .push(node("GlobalAveragePool", name, &[&cur], &out, vec![]));
                let area =
                    in_shape.get(1).copied().unwrap_or(1) * in_shape.get(2).copied().unwrap_or(1);
                let shift = numerics::log2_exact(area).unwrap_or(0) as i32;
                let tie = if shift > 0 {
                    pow2(fmt.exp - shift - 1)
                } else {
                    0.0
                };
                cur = b.qdq(name, &out, fmt, tie);
            }
            Layer::Flatten(_) => {
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
    }
    // Rename the last tensor to `logits`.
    b.nodes
        .push(node("Identity", "logits", &[&cur], "logits", vec![]));
    let info = QuantExportInfo {
        logits_exp,
        input_exp: m.input.format.exp,
        opset: b.opset,
    };
    let graph = GraphProto {
        name: Some(m.name.clone()),
        node: b.nodes,
        initializer: b.inits,
        input: vec![value_info("input", "N", &m.input.shape)],
        output: vec![value_info(
            "logits",
            "N",
            shapes.last().map(|s| &s[..]).unwrap_or(&[]),
        )],
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
