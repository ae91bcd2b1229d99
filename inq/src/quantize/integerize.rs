//! From an INQ result (a BatchNorm-free float graph whose conv/dense weights are levels) to
//! the integer model graph ([`inq_model::QuantModel`], version 2).
//!
//! * Weight codes: every conv/dense weight, multiplied by its node's gain (the folded input
//!   normalization or global-average-pool gain, [`super::LayerQuant::gain_at`]), is a level of
//!   its channel's set and is stored as a code.
//! * Input: raw 8-bit unsigned pixels, exponent 0. The normalization `(p·scale − mean_c)/std_c`
//!   is folded into every node reading the input: `scale/std_c` into its weights (before
//!   quantization, so they stay powers of two), `−Σ w·mean_c/scale` into its bias, and conv
//!   padding gets `pad_value = round(mean/scale)`. A node reading the input that is not a
//!   conv/dense (through a flatten) is refused earlier ([`super::plan_layers`]).
//! * ReLU is fused into the conv, dense or add node producing its input (which nothing else
//!   may read); a ReLU anywhere else is refused, naming it.
//! * Activations: `act_bits` fixed point with a calibrated power-of-two scale for every
//!   requantizing node (conv, dense, add), unsigned after a fused ReLU, signed otherwise.
//!   Calibration runs the float graph on the calibration images with the already chosen
//!   formats applied (fake quantization), node after node in evaluation order. Pools and
//!   flatten keep their input's format.
//! * Biases: integers at each channel's accumulator scale `in.exp + n2_c`, rounded to nearest.
//! * The output node (a conv or dense) emits logits. Reading a global average pool over a
//!   non-power-of-two plane, they are the float model's logits times the pool's gain
//!   (`H·W/2^S`, [`super::LayerQuant::output_gain`]): its bias is multiplied by the gain, its
//!   weights are not divided by it.
//!
//! Not here: choosing weights ([`super::inq_step`]), the exponent rule ([`crate::calib`]).

use std::collections::HashMap;

use inq_model::ops::{self as qops, Output};
use inq_model::{ActFormat, InputSpec, Node as QNode, Op, QuantModel, Reference, WeightTensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::state::{InqResult, QuantError};
use crate::calib::{self, Calibration};
use crate::data::Dataset;
use crate::graph::ops::Scratch;
use crate::graph::{node_label, FloatModel, FloatOp, Source};
use crate::train;

/// Settings of integerization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntConfig {
    /// Activation width in bits (2..=16).
    pub act_bits: u32,
    /// Exponent choice.
    pub calibration: Calibration,
    /// Number of training images used for calibration (the first ones).
    pub calib_images: usize,
    /// When the integer model's top-1 class differs from the float model's on more than
    /// `refine_tolerance` of the calibration images, search the activation exponents (±1 per
    /// tensor, greedy) for a closer agreement. (Agreement, not accuracy against the labels: on
    /// 1 000 images the integer accuracy moves by several tenths of a point by chance, and a
    /// choice that loses 0.3 points on the test split can score above the float model there.)
    pub refine: bool,
    /// Tolerated disagreement (fraction of the calibration images) before refining.
    pub refine_tolerance: f64,
}

impl Default for IntConfig {
    fn default() -> Self {
        IntConfig {
            act_bits: 8,
            calibration: Calibration::Mse,
            calib_images: 1000,
            refine: true,
            refine_tolerance: 0.003,
        }
    }
}

/// How each float node maps onto the integer graph.
#[derive(Debug, Clone)]
struct Plan {
    /// Per float node: the integer tensor holding its value (a fused ReLU maps to its
    /// producer).
    tensor: Vec<String>,
    /// Per float node: `Some(relu node)` for a conv/dense/add whose ReLU is fused.
    relu: Vec<Option<usize>>,
    /// The requantizing nodes (conv, dense, add except the output), in evaluation order: the
    /// producer and the float node whose output is calibrated (the fused ReLU, or itself).
    points: Vec<(usize, usize)>,
    /// Per float node: the index into [`InqResult::layers`] of a conv/dense.
    layer: Vec<Option<usize>>,
    /// Evaluation order.
    order: Vec<usize>,
    output: usize,
}

fn model_err(m: &FloatModel, i: usize, message: impl Into<String>) -> QuantError {
    QuantError::Model {
        node: node_label(m, i),
        message: message.into(),
    }
}

fn plan(res: &InqResult) -> Result<Plan, QuantError> {
    let m = &res.model;
    let g = m.graph()?;
    let n = m.nodes.len();
    let mut layer = vec![None; n];
    for (k, lq) in res.layers.iter().enumerate() {
        if let Some(l) = layer.get_mut(lq.layer) {
            *l = Some(k);
        }
    }
    let mut relu = vec![None; n];
    let mut fused_into = vec![None; n];
    for i in 0..n {
        match &m.nodes[i].op {
            FloatOp::Conv(_) | FloatOp::Dense(_) | FloatOp::Add(_) => {
                if layer[i].is_none() && !matches!(m.nodes[i].op, FloatOp::Add(_)) {
                    return Err(model_err(m, i, "has no quantization state"));
                }
                let uses = &g.uses[i];
                let relus: Vec<usize> = uses
                    .iter()
                    .map(|u| u.node)
                    .filter(|&r| matches!(m.nodes[r].op, FloatOp::Relu(_)))
                    .collect();
                if let Some(&r) = relus.first() {
                    if uses.len() != 1 || i == g.output {
                        return Err(model_err(
                            m,
                            r,
                            format!(
                                "cannot be fused into '{}': that node's output is also read by another node; a ReLU must be the only reader of the conv, dense or add node it follows",
                                m.nodes[i].name
                            ),
                        ));
                    }
                    relu[i] = Some(r);
                    fused_into[r] = Some(i);
                }
            }
            FloatOp::BatchNorm(_) => {
                return Err(model_err(
                    m,
                    i,
                    "BatchNorm must be folded before integerization (graph::fold_batchnorm)",
                ))
            }
            _ => {}
        }
    }
    for (i, fused) in fused_into.iter().enumerate() {
        if matches!(m.nodes[i].op, FloatOp::Relu(_)) && fused.is_none() {
            return Err(model_err(
                m,
                i,
                "a ReLU must directly follow a conv, dense or add node (and be its only reader) to be fused into it",
            ));
        }
    }
    let out = g.output;
    if !matches!(m.nodes[out].op, FloatOp::Conv(_) | FloatOp::Dense(_)) {
        return Err(model_err(
            m,
            out,
            "is the model output; the output must be a conv or dense node emitting logits (no ReLU, pooling or flatten after the last conv/dense)",
        ));
    }
    let tensor: Vec<String> = (0..n)
        .map(|i| match fused_into[i] {
            Some(p) => m.nodes[p].name.clone(),
            None => m.nodes[i].name.clone(),
        })
        .collect();
    let points = g
        .order
        .iter()
        .filter(|&&i| {
            i != out
                && matches!(
                    m.nodes[i].op,
                    FloatOp::Conv(_) | FloatOp::Dense(_) | FloatOp::Add(_)
                )
        })
        .map(|&i| (i, relu[i].unwrap_or(i)))
        .collect();
    Ok(Plan {
        tensor,
        relu,
        points,
        layer,
        order: g.order,
        output: out,
    })
}

/// Quantized-domain weights (`w·gain`, exact levels) and the float bias of conv/dense node
/// `i` (layer `q`), with the input normalization folded in when the node reads the input and
/// times the node's output gain; returns the conv pad value too.
fn folded(res: &InqResult, i: usize, q: usize, reads_input: bool) -> (Vec<f32>, Vec<f64>, i64) {
    let lq = &res.layers[q];
    let (w, b) = res.model.nodes[i].op.params().unwrap_or((&[], &[]));
    let eff: Vec<f32> = w
        .iter()
        .enumerate()
        .map(|(k, &v)| v * lq.gain_at(k))
        .collect();
    let mut bias: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
    let mut pad = 0;
    if reads_input {
        let nm = &res.model.normalization;
        let c = res.model.input_shape[0];
        let mean_of = |i: usize| {
            if nm.mean.len() == 1 {
                nm.mean[0]
            } else {
                nm.mean.get(i).copied().unwrap_or(0.0)
            }
        };
        let shift: Vec<f64> = (0..c)
            .map(|i| f64::from(mean_of(i)) / f64::from(nm.scale))
            .collect();
        let avg = shift.iter().sum::<f64>() / c.max(1) as f64;
        pad = avg.round() as i64;
        let row = eff.len() / lq.out.max(1);
        let group = lq.gain_group.max(1);
        for (o, b) in bias.iter_mut().enumerate() {
            for k in 0..row {
                let ch = if lq.gain_by_row { o } else { k / group };
                let qv = f64::from(lq.quantize_value(eff[o * row + k], o));
                *b -= qv * shift.get(ch).copied().unwrap_or(0.0);
            }
        }
    }
    for b in &mut bias {
        *b *= f64::from(lq.output_gain);
    }
    (eff, bias, pad)
}

/// Builds the integer model for given activation exponents (one per requantizing node, in
/// [`Plan::points`] order).
fn build(res: &InqResult, p: &Plan, exps: &[i32], act_bits: u32) -> Result<QuantModel, QuantError> {
    let m = &res.model;
    let g = m.graph()?;
    let exp_of: HashMap<usize, i32> = p
        .points
        .iter()
        .map(|&(i, _)| i)
        .zip(exps.iter().copied())
        .collect();
    let input_fmt = ActFormat {
        bits: 8,
        signed: false,
        exp: 0,
    };
    // Output format of every float node (fused ReLUs: their producer's).
    let mut fmt: Vec<Option<ActFormat>> = vec![None; m.nodes.len()];
    let src_fmt = |fmt: &[Option<ActFormat>], s: Source| match s {
        Source::Input => Some(input_fmt),
        Source::Node(j) => fmt[j],
    };
    let mut nodes: Vec<(usize, QNode)> = Vec::new();
    for &i in &p.order {
        let node = &m.nodes[i];
        let ins: Vec<String> = g.inputs[i]
            .iter()
            .map(|s| match s {
                Source::Input => m.input_name.clone(),
                Source::Node(j) => p.tensor[*j].clone(),
            })
            .collect();
        let in_fmt = src_fmt(&fmt, g.inputs[i][0]);
        let relu = p.relu[i].is_some();
        let act = |i: usize| -> Result<Output, QuantError> {
            let e = *exp_of
                .get(&i)
                .ok_or_else(|| model_err(m, i, "no activation exponent (internal)"))?;
            Ok(Output::Act {
                bits: act_bits,
                signed: !relu,
                exp: e,
            })
        };
        let op = match &node.op {
            FloatOp::Conv(_) | FloatOp::Dense(_) => {
                let q = p.layer[i].ok_or_else(|| model_err(m, i, "no quantization state"))?;
                let lq = &res.layers[q];
                let reads_input = g.inputs[i][0] == Source::Input;
                let (eff, bias_f, pad) = folded(res, i, q, reads_input);
                let row = eff.len() / lq.out.max(1);
                let codes: Vec<u8> = eff
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| lq.encode_value(v, k / row.max(1)))
                    .collect();
                let in_exp = in_fmt.map(|f| f.exp).unwrap_or(0);
                let bias: Vec<i64> = bias_f
                    .iter()
                    .enumerate()
                    .map(|(o, &b)| {
                        let e = in_exp + lq.n2(o);
                        (b * 2f64.powi(-e)).round() as i64
                    })
                    .collect();
                let weights = WeightTensor {
                    kind: lq.kind,
                    bits: lq.bits,
                    n1: lq.n1.clone(),
                    codes,
                };
                let output = if i == p.output {
                    Output::Logits
                } else {
                    act(i)?
                };
                match &node.op {
                    FloatOp::Conv(c) => Op::Conv(qops::Conv {
                        in_channels: c.in_channels,
                        out_channels: c.out_channels,
                        kernel: c.kernel,
                        stride: c.stride,
                        pad: c.pad,
                        pad_value: if reads_input { pad } else { 0 },
                        group: c.group,
                        weights,
                        bias,
                        relu,
                        output,
                    }),
                    FloatOp::Dense(d) => Op::Dense(qops::Dense {
                        in_features: d.in_features,
                        out_features: d.out_features,
                        weights,
                        bias,
                        relu,
                        output,
                    }),
                    _ => unreachable!("matched above"),
                }
            }
            FloatOp::Add(_) => Op::Add(qops::Add {
                relu,
                output: act(i)?,
            }),
            FloatOp::MaxPool(w) => Op::MaxPool(qops::MaxPool(qops::Window {
                kernel: w.0.kernel,
                stride: w.0.stride,
            })),
            FloatOp::AvgPool(w) => Op::AvgPool(qops::AvgPool(qops::Window {
                kernel: w.0.kernel,
                stride: w.0.stride,
            })),
            FloatOp::GlobalAvgPool(_) => Op::GlobalAvgPool(qops::GlobalAvgPool {}),
            FloatOp::Flatten(_) => Op::Flatten(qops::Flatten {}),
            FloatOp::Relu(_) => {
                // fused: the producer's tensor and format
                fmt[i] = in_fmt;
                continue;
            }
            FloatOp::BatchNorm(_) => return Err(model_err(m, i, "BatchNorm left in the graph")),
        };
        fmt[i] = match &op {
            Op::Conv(c) => c.output.act(),
            Op::Dense(d) => d.output.act(),
            Op::Add(a) => a.output.act(),
            _ => in_fmt,
        };
        nodes.push((
            i,
            QNode {
                name: node.name.clone(),
                inputs: ins,
                op,
            },
        ));
    }
    nodes.sort_by_key(|(i, _)| *i);
    let nm = &m.normalization;
    let input = InputSpec {
        name: m.input_name.clone(),
        shape: m.input_shape,
        format: input_fmt,
        mapping: format!(
            "raw 8-bit pixels; normalization (p*{} - mean{:?})/std{:?} folded into the nodes reading the input",
            nm.scale, nm.mean, nm.std
        ),
    };
    let q = QuantModel::new(
        m.name.clone(),
        input,
        nodes.into_iter().map(|(_, n)| n).collect(),
        m.nodes[p.output].name.clone(),
    );
    inq_model::validate::validate(&q)?;
    Ok(q)
}

fn subset(data: &Dataset, n: usize) -> Dataset {
    let mut d = data.clone();
    d.truncate(n);
    d
}

/// Runs the float graph on every calibration image with fake quantization at the
/// requantizing nodes; returns the chosen exponents (one per [`Plan::points`] entry).
fn calibrate(
    res: &InqResult,
    p: &Plan,
    cal: &Dataset,
    cfg: &IntConfig,
) -> Result<Vec<i32>, QuantError> {
    let m = &res.model;
    let g = m.graph()?;
    let n = cal.len();
    let in_len: usize = m.input_shape.iter().product();
    let mut input = Vec::with_capacity(n * in_len);
    let mut x = Vec::new();
    for i in 0..n {
        m.normalization
            .apply_into(cal.image(i), cal.channels, &mut x);
        input.extend_from_slice(&x);
    }
    let last_reads = g.last_reads();
    let point_of: HashMap<usize, (usize, bool)> = p
        .points
        .iter()
        .enumerate()
        .map(|(k, &(prod, at))| (at, (k, p.relu[prod].is_none())))
        .collect();
    let mut exps = vec![0i32; p.points.len()];
    let mut vals: Vec<Vec<f32>> = vec![Vec::new(); m.nodes.len()];
    for (pos, &i) in g.order.iter().enumerate() {
        let shapes: Vec<&[usize]> = g.inputs[i].iter().map(|&s| g.shape(s)).collect();
        let lens: Vec<usize> = shapes.iter().map(|s| s.iter().product()).collect();
        let out_len: usize = g.shapes[i].iter().product();
        let op = m.nodes[i].op.operator();
        let mut out = vec![0f32; n * out_len];
        {
            let srcs: Vec<&[f32]> = g.inputs[i]
                .iter()
                .map(|s| match s {
                    Source::Input => input.as_slice(),
                    Source::Node(j) => vals[*j].as_slice(),
                })
                .collect();
            out.par_chunks_mut(out_len.max(1))
                .enumerate()
                .for_each_init(
                    || (Scratch::default(), Vec::new()),
                    |(s, buf), (k, dst)| {
                        let ins: Vec<&[f32]> = srcs
                            .iter()
                            .zip(&lens)
                            .map(|(v, &l)| &v[k * l..(k + 1) * l])
                            .collect();
                        op.forward(&ins, &shapes, buf, s);
                        dst.copy_from_slice(buf);
                    },
                );
        }
        if let Some(&(k, signed)) = point_of.get(&i) {
            let e = calib::choose_exp(&out, cfg.act_bits, signed, cfg.calibration);
            exps[k] = e;
            out.par_iter_mut()
                .for_each(|v| *v = calib::fake_quant(*v, e, cfg.act_bits, signed));
        }
        vals[i] = out;
        for &j in &last_reads[pos] {
            vals[j] = Vec::new();
        }
    }
    Ok(exps)
}

/// Calibrates activation exponents on the first `calib_images` images of `calib`, builds and
/// validates the integer model, and refines the exponents if its predictions on those images
/// differ from the float model's too often (see [`IntConfig`]).
pub fn integerize(
    res: &InqResult,
    calib: &Dataset,
    cfg: &IntConfig,
) -> Result<QuantModel, QuantError> {
    if !(2..=16).contains(&cfg.act_bits) {
        return Err(QuantError::Config(format!(
            "activation bits {} outside 2..=16",
            cfg.act_bits
        )));
    }
    if calib.is_empty() || cfg.calib_images == 0 {
        return Err(QuantError::Config(
            "calibration needs at least one image".into(),
        ));
    }
    let p = plan(res)?;
    let cal = subset(calib, cfg.calib_images);
    let [c, h, w] = res.model.input_shape;
    if cal.image_shape() != res.model.input_shape {
        return Err(QuantError::Train(train::TrainError::Data(format!(
            "calibration images are {}×{}×{}, the model expects {c}×{h}×{w}",
            cal.channels, cal.rows, cal.cols
        ))));
    }
    let exps = calibrate(res, &p, &cal, cfg)?;
    let mut model = build(res, &p, &exps, cfg.act_bits)?;
    if cfg.refine && !exps.is_empty() {
        // the search scores the integer model against the float model's own predictions
        let mut agree = cal.clone();
        agree.labels = train::predictions(&res.model, &cal)?;
        let target = 1.0 - cfg.refine_tolerance;
        (_, model) = super::refine::search(exps, model, &agree, target, |e| {
            build(res, &p, e, cfg.act_bits)
        })?;
    }
    Ok(model)
}

/// Image `i` of `data` as the reference's integer input.
pub(crate) fn pixels(data: &Dataset, i: usize) -> Vec<i64> {
    data.image(i).iter().map(|&p| i64::from(p)).collect()
}

/// Top-1 accuracy of the integer model (golden reference arithmetic) on a dataset.
pub fn evaluate_integer(model: &QuantModel, data: &Dataset) -> Result<f64, QuantError> {
    let r = Reference::new(model)?;
    let [c, h, w] = model.input.shape;
    if data.image_shape() != model.input.shape {
        return Err(QuantError::Train(train::TrainError::Data(format!(
            "images are {}×{}×{} but the model expects {c}×{h}×{w}",
            data.channels, data.rows, data.cols
        ))));
    }
    if data.is_empty() {
        return Err(QuantError::Train(train::TrainError::Data(
            "no evaluation images".into(),
        )));
    }
    let correct: Result<usize, inq_model::ModelError> = (0..data.len())
        .into_par_iter()
        .map(|i| {
            r.run(&pixels(data, i))
                .map(|o| usize::from(o.argmax == usize::from(data.labels[i])))
        })
        .sum();
    Ok(correct? as f64 / data.len() as f64)
}
