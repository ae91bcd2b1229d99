//! From an INQ result to the integer model format.
//!
//! * Weight codes: every conv/dense weight, multiplied by its layer gain (the folded input
//!   normalization for the first layer), is a level `±2^k` of its channel's set and is stored
//!   as a code (`numerics::encode`).
//! * Input: raw 8-bit unsigned pixels, exponent 0. The normalization `(p·scale − mean_c)/std_c`
//!   is folded into the first layer: `scale/std_c` into its weights (before quantization, so the
//!   weights stay powers of two), `−Σ w·mean_c/scale` into its bias, and conv padding gets
//!   `pad_value = round(mean/scale)`. Interior outputs are exact; a padded tap contributes
//!   `w·(pad_value − mean_c/scale)` more than in the float model (zero for mean 0).
//! * Activations: `act_bits` fixed point with a calibrated power-of-two scale per tensor,
//!   unsigned after ReLU, signed otherwise. Calibration runs the float model with the already
//!   chosen activation formats applied (fake quantization), layer after layer.
//! * Biases: integers at each channel's accumulator scale `in.exp + n2_c`, rounded to nearest.
//! * The final layer emits logits.

use inq_model::{
    ActFormat, ConvLayer, DenseLayer, InputSpec, Layer, NamedLayer, Output, PoolLayer, QuantModel,
    Reference, WeightTensor,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{layer_name, InqResult, QuantError};
use crate::calib::{self, Calibration};
use crate::data::Dataset;
use crate::graph::FloatLayer;
use crate::train::{self, params_of, Net};

/// Settings of integerization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntConfig {
    /// Activation width in bits (2..=16).
    pub act_bits: u32,
    /// Exponent choice.
    pub calibration: Calibration,
    /// Number of training images used for calibration (the first ones).
    pub calib_images: usize,
    /// When the integer accuracy on the calibration images falls more than `refine_tolerance`
    /// below the float-activation accuracy, search the activation exponents (±1 per tensor,
    /// greedy) for a better integer accuracy.
    pub refine: bool,
    /// Tolerated accuracy gap (fraction) before refining.
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

/// One step of the integer plan.
#[derive(Debug, Clone)]
enum Step {
    /// A conv/dense layer covering float layers `from..to` (ReLU fused), with its INQ index.
    Weighted {
        from: usize,
        to: usize,
        q: usize,
        relu: bool,
        last: bool,
    },
    /// A parameter-free layer.
    Plain { at: usize },
}

fn plan(res: &InqResult) -> Result<Vec<Step>, QuantError> {
    let layers = &res.model.layers;
    let last_w = res.layers.last().map(|l| l.layer).unwrap_or(0);
    let mut steps = Vec::new();
    let mut i = 0;
    let mut q = 0;
    while i < layers.len() {
        match &layers[i] {
            FloatLayer::Conv { .. } | FloatLayer::Dense { .. } => {
                let relu = matches!(layers.get(i + 1), Some(FloatLayer::Relu { .. }));
                let last = i == last_w;
                if last && (relu || i + 1 != layers.len()) {
                    return Err(QuantError::Model {
                        node: format!("layers[{i}] ({})", layer_name(&layers[i])),
                        message: "the final conv/dense layer must be the last layer and emit logits (no ReLU, pooling or flatten after it)".into(),
                    });
                }
                let to = if relu { i + 2 } else { i + 1 };
                steps.push(Step::Weighted {
                    from: i,
                    to,
                    q,
                    relu,
                    last,
                });
                q += 1;
                i = to;
            }
            FloatLayer::Relu { name } => {
                return Err(QuantError::Model {
                    node: format!("layers[{i}] ({name})"),
                    message:
                        "a ReLU must directly follow a conv or dense layer to be fused into it"
                            .into(),
                })
            }
            _ => {
                steps.push(Step::Plain { at: i });
                i += 1;
            }
        }
    }
    Ok(steps)
}

/// Quantized-domain float weights (`w·gain`, exact levels) and folded float biases of layer
/// `q`, plus the conv pad value.
fn folded(res: &InqResult, q: usize) -> (Vec<f32>, Vec<f64>, i64) {
    let lq = &res.layers[q];
    let (w, b) = match &res.model.layers[lq.layer] {
        FloatLayer::Conv { weight, bias, .. } | FloatLayer::Dense { weight, bias, .. } => {
            (weight, bias)
        }
        _ => unreachable!("plan_layers only records conv/dense layers"),
    };
    let eff: Vec<f32> = w
        .iter()
        .enumerate()
        .map(|(k, &v)| v * lq.gain_at(k))
        .collect();
    let mut bias: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
    let mut pad = 0;
    if q == 0 {
        let n = &res.model.normalization;
        let c = lq.gain.len();
        let mean_of = |i: usize| {
            if n.mean.len() == 1 {
                n.mean[0]
            } else {
                n.mean.get(i).copied().unwrap_or(0.0)
            }
        };
        let shift: Vec<f64> = (0..c)
            .map(|i| f64::from(mean_of(i)) / f64::from(n.scale))
            .collect();
        let avg = shift.iter().sum::<f64>() / c.max(1) as f64;
        pad = avg.round() as i64;
        let row = eff.len() / lq.out.max(1);
        for (o, b) in bias.iter_mut().enumerate() {
            for k in 0..row {
                let ch = k / lq.gain_group.max(1);
                let qv = f64::from(lq.quantize_value(eff[o * row + k], o));
                *b -= qv * shift.get(ch).copied().unwrap_or(0.0);
            }
        }
    }
    (eff, bias, pad)
}

/// Builds the integer model for given activation exponents (one per non-final weighted
/// layer).
fn build(
    res: &InqResult,
    steps: &[Step],
    exps: &[i32],
    act_bits: u32,
) -> Result<QuantModel, QuantError> {
    let mut layers = Vec::new();
    let mut in_exp = 0i32;
    let mut ai = 0;
    for s in steps {
        match *s {
            Step::Weighted {
                from,
                q,
                relu,
                last,
                ..
            } => {
                let lq = &res.layers[q];
                let (eff, bias_f, pad) = folded(res, q);
                let row = eff.len() / lq.out.max(1);
                let codes: Vec<u8> = eff
                    .iter()
                    .enumerate()
                    .map(|(k, &v)| lq.encode_value(v, k / row.max(1)))
                    .collect();
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
                let output = if last {
                    Output::Logits
                } else {
                    let e = exps[ai];
                    ai += 1;
                    Output::Act {
                        bits: act_bits,
                        signed: !relu,
                        exp: e,
                    }
                };
                let name = layer_name(&res.model.layers[from]).to_string();
                layers.push(match &res.model.layers[from] {
                    FloatLayer::Conv {
                        in_channels,
                        out_channels,
                        kernel,
                        stride,
                        pad: p,
                        ..
                    } => Layer::Conv(ConvLayer {
                        name,
                        in_channels: *in_channels,
                        out_channels: *out_channels,
                        kernel: *kernel,
                        stride: *stride,
                        pad: *p,
                        pad_value: if q == 0 { pad } else { 0 },
                        weights,
                        bias,
                        relu,
                        output,
                    }),
                    FloatLayer::Dense {
                        in_features,
                        out_features,
                        ..
                    } => Layer::Dense(DenseLayer {
                        name,
                        in_features: *in_features,
                        out_features: *out_features,
                        weights,
                        bias,
                        relu,
                        output,
                    }),
                    _ => unreachable!("weighted steps are conv/dense"),
                });
                if let Some(f) = output.act() {
                    in_exp = f.exp;
                }
            }
            Step::Plain { at } => {
                let l = &res.model.layers[at];
                let name = layer_name(l).to_string();
                layers.push(match l {
                    FloatLayer::MaxPool { kernel, stride, .. } => Layer::MaxPool(PoolLayer {
                        name,
                        kernel: *kernel,
                        stride: *stride,
                    }),
                    FloatLayer::AvgPool { kernel, stride, .. } => Layer::AvgPool(PoolLayer {
                        name,
                        kernel: *kernel,
                        stride: *stride,
                    }),
                    FloatLayer::GlobalAvgPool { .. } => Layer::GlobalAvgPool(NamedLayer { name }),
                    FloatLayer::Flatten { .. } => Layer::Flatten(NamedLayer { name }),
                    _ => unreachable!("plan keeps only parameter-free layers here"),
                });
            }
        }
    }
    let n = &res.model.normalization;
    let input = InputSpec {
        shape: res.model.input_shape,
        format: ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        },
        mapping: format!(
            "raw 8-bit pixels; normalization (p*{} - mean{:?})/std{:?} folded into the first layer",
            n.scale, n.mean, n.std
        ),
    };
    let m = QuantModel::new(res.model.name.clone(), input, layers);
    inq_model::validate::validate(&m)?;
    Ok(m)
}

fn subset(data: &Dataset, n: usize) -> Dataset {
    let mut d = data.clone();
    d.truncate(n);
    d
}

/// Calibrates activation exponents on the first `calib_images` images of `calib`, builds and
/// validates the integer model, and refines the exponents if the integer accuracy on those
/// images lags the float-activation accuracy (see [`IntConfig`]).
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
    let steps = plan(res)?;
    let cal = subset(calib, cfg.calib_images);
    let net = Net::new(&res.model)?;
    let params = params_of(&res.model);
    let [c, h, w] = res.model.input_shape;
    if cal.image_shape() != res.model.input_shape {
        return Err(QuantError::Train(train::TrainError::Data(format!(
            "calibration images are {}×{}×{}, the model expects {c}×{h}×{w}",
            cal.channels, cal.rows, cal.cols
        ))));
    }
    // Sequential calibration with fake-quantized activations.
    let mut x = Vec::new();
    net.normalize(&cal.pixels, &mut x);
    let mut shape = vec![cal.len(), c, h, w];
    let mut exps = Vec::new();
    for s in &steps {
        match *s {
            Step::Weighted {
                from,
                to,
                relu,
                last,
                ..
            } => {
                if last {
                    break;
                }
                let (y, sh) = net.run_range(&params, &x, &shape, from, to)?;
                let e = calib::choose_exp(&y, cfg.act_bits, !relu, cfg.calibration);
                exps.push(e);
                x = y
                    .iter()
                    .map(|&v| calib::fake_quant(v, e, cfg.act_bits, !relu))
                    .collect();
                shape = sh;
            }
            Step::Plain { at } => {
                let (y, sh) = net.run_range(&params, &x, &shape, at, at + 1)?;
                x = y;
                shape = sh;
            }
        }
    }
    let mut model = build(res, &steps, &exps, cfg.act_bits)?;
    if cfg.refine && !exps.is_empty() {
        let float_acc = train::evaluate(&res.model, &cal)?.accuracy;
        let mut best = evaluate_integer(&model, &cal)?;
        if best < float_acc - cfg.refine_tolerance {
            let mut improved = true;
            let mut rounds = 0;
            while improved && rounds < 3 && best < float_acc - cfg.refine_tolerance {
                improved = false;
                rounds += 1;
                for i in 0..exps.len() {
                    for d in [-1, 1] {
                        let mut e2 = exps.clone();
                        e2[i] += d;
                        let Ok(m2) = build(res, &steps, &e2, cfg.act_bits) else {
                            continue;
                        };
                        let a = evaluate_integer(&m2, &cal)?;
                        if a > best {
                            best = a;
                            exps = e2;
                            model = m2;
                            improved = true;
                        }
                    }
                }
            }
        }
    }
    Ok(model)
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
            let input: Vec<i64> = data.image(i).iter().map(|&p| i64::from(p)).collect();
            r.run(&input)
                .map(|o| usize::from(o.argmax == usize::from(data.labels[i])))
        })
        .sum();
    Ok(correct? as f64 / data.len() as f64)
}
