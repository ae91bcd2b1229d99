//! Incremental Network Quantization (Zhou et al., ICLR 2017) and integerization to an
//! [`inq_model::QuantModel`].
//!
//! [`inq`] runs the paper's loop on a [`FloatModel`] graph (BatchNorm folded first,
//! [`crate::graph::fold_batchnorm`]): at each step of the accumulated-portion
//! schedule, a partition ([`Strategy`]) picks more weights of every conv/dense node, quantizes
//! them to the layer's level set (Eq. 2–4, with clamping past the top level, [`levels`]) and
//! freezes them; the rest is re-trained with masked SGD (frozen weights, their momentum and
//! their weight decay never move), the learning-rate schedule restarting every step. Biases are
//! never quantized as weights. A checkpoint is written after every step; `resume` continues
//! from it. With [`InqConfig::distill`] the re-training also follows the float model's soft
//! targets ([`crate::train::distill`]); with [`InqConfig::lr_search`] each step keeps the best
//! of several learning rates on held-back training images ([`lr_search`]); with
//! [`InqConfig::compensate`] the weights a step leaves free and the biases first absorb the
//! error of the weights it froze ([`compensate`]). With
//! [`InqConfig::sparsity`] `S > 0`, the smallest `S` of every layer's weights are set to zero
//! and frozen before the first step ([`sparsity`]); the schedule then applies to the weights
//! that remain.
//!
//! Two gains are folded into weights before quantization, so that the stored integer weights
//! are exact powers of two: the input normalization `scale/std_c` (every node reading the
//! input) and the inverse of the integer global average pool's gain `2^S/(H·W)` (every node
//! reading a non-power-of-two global average pool, [`inq_model::ops::GlobalAvgPool::gain`]),
//! except when that reader emits the logits: there the pool's gain stays in the logits
//! ([`LayerQuant::output_gain`]; the top-1 class does not change), so its weights keep the
//! float model's level grid.
//!
//! [`integerize()`] then turns the fully quantized float graph into the integer model format:
//! weight codes, normalization folded in, calibrated power-of-two activation scales for every
//! requantizing node (conv, dense, add; [`crate::calib`]) and integer biases. [`quantize`] does
//! all of it and measures float, INQ-float and integer accuracies.

pub mod checkpoint;
pub mod compensate;
pub mod integerize;
pub mod levels;
pub mod lr_search;
pub mod partition;
pub mod plot;
pub mod refine;
pub mod sparsity;
pub mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::data::Dataset;
use crate::graph::{fold_batchnorm, FloatModel, FloatOp, Source};
use crate::train::distill::Teacher;
use crate::train::rng::SplitMix64;
use crate::train::{self, params_of, store_params, TrainConfig};
use inq_model::WeightKind;
pub use integerize::{evaluate_integer, integerize, IntConfig};
pub use levels::Levels;
pub use partition::Strategy;
pub use state::{default_schedule, InqConfig, InqLog, InqResult, LayerQuant, QuantError, StepLog};

/// Where a gain is folded into a node's weights: per input channel (with the elements per
/// channel of a weight row, and whether the channel is the row, as in a depthwise conv), or
/// one value for the whole node.
#[derive(Debug, Clone, PartialEq)]
struct Gain {
    gain: Vec<f32>,
    group: usize,
    by_row: bool,
}

/// The weight and output gains of the conv/dense nodes.
#[derive(Debug, Default)]
struct Gains {
    /// Folded into the weights (by node index; absent = 1).
    weight: std::collections::HashMap<usize, Gain>,
    /// Left in the node's integer output ([`LayerQuant::output_gain`]; absent = 1).
    output: std::collections::HashMap<usize, f32>,
}

/// The gains of every conv/dense node: the input normalization `scale/std_c` for nodes
/// reading the input (directly, or a dense through a flatten), folded into the weights; for
/// nodes reading a global average pool over a non-power-of-two plane (directly or through a
/// flatten), `2^S/(H·W)` folded into the weights, or, if the node emits the model's logits,
/// the pool's gain `H·W/2^S` left in its output (the logits' common factor). Refuses, naming
/// the node, any other reader of the input or of such a pool.
fn plan_gains(model: &FloatModel) -> Result<Gains, QuantError> {
    let g = model.graph()?;
    let [c, h, w] = model.input_shape;
    let norm: Vec<f32> = model
        .normalization
        .affine(c)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let mut out = Gains::default();
    let label = |i: usize| crate::graph::node_label(model, i);
    // The conv/dense readers of `src` (with whether through a flatten), looking through
    // flattens; `Err` names a reader that is neither.
    let readers = |src: Source| -> Result<Vec<(usize, bool)>, usize> {
        let mut v = Vec::new();
        for u in g.uses_of(src) {
            match &model.nodes[u.node].op {
                FloatOp::Conv(_) | FloatOp::Dense(_) => v.push((u.node, false)),
                FloatOp::Flatten(_) => {
                    for u2 in &g.uses[u.node] {
                        match model.nodes[u2.node].op {
                            FloatOp::Dense(_) => v.push((u2.node, true)),
                            _ => return Err(u2.node),
                        }
                    }
                }
                _ => return Err(u.node),
            }
        }
        Ok(v)
    };
    let rs = readers(Source::Input).map_err(|bad| QuantError::Model {
        node: label(bad),
        message: format!(
            "reads the model input '{}'; the input normalization is folded into the conv/dense nodes reading the input (a dense through a flatten), so no other node may read it",
            model.input_name
        ),
    })?;
    for (r, flat) in rs {
        let gain = match &model.nodes[r].op {
            FloatOp::Conv(cv) => Gain {
                gain: norm.clone(),
                group: cv.kernel[0] * cv.kernel[1],
                by_row: cv.depthwise(),
            },
            _ => Gain {
                gain: norm.clone(),
                group: if flat { h * w } else { 1 },
                by_row: false,
            },
        };
        out.weight.insert(r, gain);
    }
    for (i, n) in model.nodes.iter().enumerate() {
        if !matches!(n.op, FloatOp::GlobalAvgPool(_)) {
            continue;
        }
        let s = g.shape(g.inputs[i][0]);
        let plane = s.get(1).copied().unwrap_or(1) * s.get(2).copied().unwrap_or(1);
        let gain = inq_model::ops::GlobalAvgPool::gain(plane);
        if gain == 1.0 {
            continue;
        }
        let rs = readers(Source::Node(i)).map_err(|bad| QuantError::Model {
            node: label(bad),
            message: format!(
                "reads the global average pool '{}' over {plane} elements, whose integer form is the mean times {gain} (a division by the next power of two); that gain is folded into the weights of the conv/dense nodes reading the pool (a dense through a flatten), so no other node may read it",
                n.name
            ),
        })?;
        for (r, _) in rs {
            if r == g.output {
                out.output.insert(r, gain as f32);
            } else {
                out.weight.insert(
                    r,
                    Gain {
                        gain: vec![(1.0 / gain) as f32],
                        group: 1,
                        by_row: false,
                    },
                );
            }
        }
    }
    Ok(out)
}

fn weight_layers(model: &FloatModel) -> Vec<(usize, String, usize, &Vec<f32>)> {
    model
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.op {
            FloatOp::Conv(c) => Some((i, n.name.clone(), c.out_channels, &c.weight)),
            FloatOp::Dense(d) => Some((i, n.name.clone(), d.out_features, &d.weight)),
            _ => None,
        })
        .collect()
}

/// Refuses, before any training, weight widths whose level set cannot fit the integer format: a
/// `b`-bit code spans `2^(b-2) - 1` binary orders of magnitude between its largest and smallest
/// non-zero weight, so one product of an activation with the top level already needs
/// `act_bits + 2^(b-2)` bits at the accumulator's scale (8-bit codes: 8 + 64 bits, above the
/// format's 48-bit limit). Wider layers with 7-bit codes may still exceed the limit once their
/// fan-in is added; the final validation names the channel.
pub fn check_code_span(
    model: &FloatModel,
    cfg: &InqConfig,
    int_cfg: &IntConfig,
) -> Result<(), QuantError> {
    let model = &fold_batchnorm(model)?;
    let limit = inq_model::validate::MAX_ACC_BITS;
    for (_, name, _, _) in weight_layers(model) {
        let bits = cfg.bits_of(&name);
        if !(2..=8).contains(&bits) {
            continue; // reported by plan_layers
        }
        let span = inq_model::numerics::levels(bits) - 1;
        let act = int_cfg.act_bits.max(8);
        let need = act + span + 1;
        if need > limit {
            let max_bits = (2..=8u32)
                .filter(|&b| act + inq_model::numerics::levels(b) <= limit)
                .max()
                .unwrap_or(2);
            return Err(QuantError::Config(format!(
                "layer {name}: {bits}-bit power-of-two codes span 2^{span} between the largest and the smallest non-zero weight, so one product with a {act}-bit activation needs a {need}-bit accumulator; the integer format allows {limit} bits. Use at most {max_bits} bits for this layer (--bits or --layer-bits {name}=B)"
            )));
        }
    }
    Ok(())
}

/// Chooses bit widths, gains and `n1` for every conv/dense node from the (pre-trained)
/// weights of a model without BatchNorm.
pub fn plan_layers(model: &FloatModel, cfg: &InqConfig) -> Result<Vec<LayerQuant>, QuantError> {
    let gains = plan_gains(model)?;
    let mut out = Vec::new();
    for name in cfg.layer_bits.keys() {
        if !weight_layers(model).iter().any(|(_, n, _, _)| n == name) {
            return Err(QuantError::Config(format!(
                "per-layer bits given for `{name}`, which is not a conv/dense layer of the model"
            )));
        }
    }
    for (i, name, o, w) in weight_layers(model) {
        let bits = cfg.bits_of(&name);
        if !(2..=8).contains(&bits) {
            return Err(QuantError::Config(format!(
                "layer {name}: weight bits {bits} outside 2..=8"
            )));
        }
        let gn = gains.weight.get(&i).cloned().unwrap_or(Gain {
            gain: vec![1.0],
            group: 1,
            by_row: false,
        });
        let mut lq = LayerQuant {
            layer: i,
            name,
            bits,
            n1: Vec::new(),
            out: o,
            gain: gn.gain,
            gain_group: gn.group,
            gain_by_row: gn.by_row,
            kind: WeightKind::Pow2,
            output_gain: gains.output.get(&i).copied().unwrap_or(1.0),
        };
        if lq.gain.len() > 1
            && ((!lq.gain_by_row && lq.row_len() != w.len() / o.max(1))
                || (lq.gain_by_row && lq.gain.len() * lq.gain_group != w.len()))
        {
            return Err(QuantError::Model {
                node: lq.name.clone(),
                message: format!(
                    "weight rows of {} elements do not match {} input channels",
                    w.len() / o.max(1),
                    lq.gain.len()
                ),
            });
        }
        let eff: Vec<f32> = w
            .iter()
            .enumerate()
            .map(|(k, &v)| v * lq.gain_at(k))
            .collect();
        if eff.iter().any(|v| !v.is_finite()) {
            return Err(QuantError::Model {
                node: lq.name.clone(),
                message: "weights contain NaN or infinity".into(),
            });
        }
        lq.n1 = levels::choose_n1(&eff, o, bits, cfg.levels);
        out.push(lq);
    }
    if out.is_empty() {
        return Err(QuantError::Model {
            node: model.name.clone(),
            message: "no conv or dense node to quantize".into(),
        });
    }
    Ok(out)
}

/// Quantizes weight `k` of a layer in place: `w ← Q(w·g)/g`.
fn quantize_weight(lq: &LayerQuant, weights: &mut [f32], k: usize) {
    let row = weights.len() / lq.out.max(1);
    let c = k / row.max(1);
    let g = lq.gain_at(k);
    let q = lq.quantize_value(weights[k] * g, c);
    weights[k] = q / g;
}

/// The smallest `n2` with `round(s / 2^n2) ≤ 2^(b-1) - 1` for `s = max|w|` of a channel: the
/// finest power-of-two step that represents the channel's largest weight without clipping.
pub fn uniform_n2(s: f64, bits: u32) -> i32 {
    let m = inq_model::numerics::int_max(bits) as f64;
    if s.is_nan() || s <= 0.0 || !s.is_finite() {
        return levels::N1_OF_ZERO - (bits as i32 - 2);
    }
    let mut n2 = (s / m).log2().ceil() as i32 - 1;
    while (s / levels::pow2(n2)).round() > m {
        n2 += 1;
    }
    n2.clamp(-60, 60)
}

/// Post-training uniform quantization (the multiplier baseline): every conv/dense weight
/// (times its gain, i.e. with the first layer's input normalization folded in) becomes a
/// `bits`-bit symmetric integer `q` with one power-of-two scale `2^(n2_c)` per output channel
/// ([`uniform_n2`]), `n1_c = n2_c + bits - 2`. Returns the state [`integerize()`] consumes (the
/// float model with its weights replaced by the quantized values), so biases, activation
/// calibration and the integer format are exactly those of the INQ path.
pub fn uniform(model: &FloatModel, bits: u32) -> Result<InqResult, QuantError> {
    if !(2..=8).contains(&bits) {
        return Err(QuantError::Config(format!(
            "uniform weight bits {bits} outside 2..=8"
        )));
    }
    let cfg = InqConfig {
        bits,
        levels: Levels::PerChannel,
        ..InqConfig::default()
    };
    let mut out = fold_batchnorm(model)?;
    let mut layers = plan_layers(&out, &cfg)?;
    let mut frozen = Vec::new();
    for lq in &mut layers {
        lq.kind = WeightKind::Int;
        let w = match &mut out.nodes[lq.layer].op {
            FloatOp::Conv(c) => &mut c.weight,
            FloatOp::Dense(d) => &mut d.weight,
            _ => {
                return Err(QuantError::Model {
                    node: lq.name.clone(),
                    message: "not a conv/dense layer".into(),
                })
            }
        };
        let row = w.len() / lq.out.max(1);
        lq.n1 = (0..lq.out)
            .map(|c| {
                let s = (0..row).fold(0f64, |m, j| {
                    let k = c * row + j;
                    m.max(f64::from(w[k] * lq.gain_at(k)).abs())
                });
                uniform_n2(s, bits) + bits as i32 - 2
            })
            .collect();
        for k in 0..w.len() {
            quantize_weight(lq, w, k);
        }
        frozen.push(vec![true; w.len()]);
    }
    Ok(InqResult {
        model: out,
        layers,
        frozen,
        log: InqLog::default(),
        schedule: vec![1.0],
    })
}

fn validate_schedule(s: &[f64]) -> Result<(), QuantError> {
    if s.is_empty() {
        return Err(QuantError::Config(
            "the schedule of accumulated portions is empty".into(),
        ));
    }
    let mut prev = 0.0;
    for &p in s {
        if !(p > prev && p <= 1.0) {
            return Err(QuantError::Config(format!(
                "accumulated portions must increase strictly within (0, 1]: {s:?}"
            )));
        }
        prev = p;
    }
    if (s[s.len() - 1] - 1.0).abs() > 0.0 {
        return Err(QuantError::Config(format!(
            "the last accumulated portion must be 1: {s:?}"
        )));
    }
    Ok(())
}

/// The state before the first step: BatchNorm folded, layer plan (`n1` from the pre-trained
/// weights), the schedule resolved; nothing frozen, or with `cfg.sparsity > 0` the pruned
/// weights zero and frozen and `n1` chosen from the weights that remain
/// ([`sparsity::prune`]).
pub fn inq_start(model: &FloatModel, cfg: &InqConfig) -> Result<InqResult, QuantError> {
    sparsity::check(cfg.sparsity)?;
    let mut model = fold_batchnorm(model)?;
    let mut layers = plan_layers(&model, cfg)?;
    let min_bits = layers.iter().map(|l| l.bits).min().unwrap_or(cfg.bits);
    let schedule = cfg
        .schedule
        .clone()
        .unwrap_or_else(|| default_schedule(min_bits));
    validate_schedule(&schedule)?;
    let mut frozen: train::Mask = layers
        .iter()
        .map(|l| vec![false; weight_len(&model, l.layer)])
        .collect();
    if cfg.sparsity > 0.0 {
        sparsity::prune(&mut model, &mut layers, &mut frozen, cfg)?;
    }
    Ok(InqResult {
        model,
        frozen,
        layers,
        log: InqLog::default(),
        schedule,
    })
}

/// One INQ step: grow the frozen set of every layer to `round(portion·n)` weights (chosen by
/// the strategy among the unfrozen ones; with pruning, the `p` pruned weights plus
/// `round(portion·(n − p))`, [`sparsity::remaining_target`]), quantize the newly frozen
/// weights with Eq. 4 (clamped), then re-train the rest with masked SGD (fresh momentum,
/// learning-rate schedule restarted). The step index seeds shuffling and random partitions.
/// With a `teacher` (its soft targets for `train_data`), the re-training distills from it.
pub fn inq_step(
    state: &mut InqResult,
    step: usize,
    train_data: &Dataset,
    test: Option<&Dataset>,
    cfg: &InqConfig,
    teacher: Option<&Teacher>,
) -> Result<StepLog, QuantError> {
    let t0 = Instant::now();
    let portion = *state
        .schedule
        .get(step)
        .ok_or_else(|| QuantError::Config(format!("step {step} is past the schedule")))?;
    let mut params = params_of(&state.model);
    if params.len() != state.layers.len() {
        return Err(QuantError::Config(
            "the model's parameters do not match the quantization state (BatchNorm left in?)"
                .into(),
        ));
    }
    // the layer inputs' second moments, from the model as the previous step left it, on
    // images the re-training may learn from (never the learning-rate search's held-back ones)
    let pool = lr_search::fit_len(
        train_data.len(),
        cfg.lr_search.as_ref().map_or(0, |s| s.holdout),
    );
    let moments = match &cfg.compensate {
        Some(c) => Some(compensate::moments(
            &state.model,
            &state.layers,
            train_data,
            pool,
            c,
            &[cfg.train.seed, step as u64],
        )?),
        None => None,
    };
    for (li, lq) in state.layers.iter().enumerate() {
        let p = &mut params[li];
        let n = p.weight.len();
        let old = moments.as_ref().map(|_| p.weight.clone());
        let target = sparsity::remaining_target(portion, n, sparsity::prune_count(cfg.sparsity, n));
        let mut rng = SplitMix64::derive(cfg.train.seed, &[0x9a27, step as u64, li as u64]);
        // Rank by magnitude in the quantized domain (the gain is per input channel).
        let eff: Vec<f32> = p
            .weight
            .iter()
            .enumerate()
            .map(|(k, &v)| v * lq.gain_at(k))
            .collect();
        let chosen = partition::choose(&eff, &state.frozen[li], target, cfg.strategy, &mut rng);
        for k in chosen {
            quantize_weight(lq, &mut p.weight, k);
            state.frozen[li][k] = true;
        }
        if let (Some(m), Some(old), Some(c)) = (&moments, &old, &cfg.compensate) {
            compensate::apply(
                &mut p.weight,
                &mut p.bias,
                old,
                &state.frozen[li],
                &m[li],
                c.damping,
            );
        }
    }
    store_params(&mut state.model, &params);
    let last = step + 1 == state.schedule.len();
    let epochs = if last {
        cfg.final_epochs
    } else {
        cfg.epochs_per_step
    };
    let mut tl = None;
    let (mut lr, mut lr_trials) = (None, Vec::new());
    if epochs > 0 {
        let tc = TrainConfig {
            epochs,
            ..cfg.train.clone()
        };
        let seed_parts = [step as u64 + 1];
        let log = match &cfg.lr_search {
            None => train::train_masked_with(
                &mut state.model,
                train_data,
                &tc,
                Some(&state.frozen),
                teacher,
                &seed_parts,
                &mut |_| {},
            )?,
            Some(s) => {
                let c = lr_search::search(
                    s,
                    &state.model,
                    train_data,
                    &tc,
                    Some(&state.frozen),
                    teacher,
                    &seed_parts,
                )?;
                state.model = c.model;
                lr = Some(s.candidates[c.chosen]);
                lr_trials = c.trials;
                c.log
            }
        };
        tl = log.epochs.last().cloned();
    }
    let ev = match test {
        Some(t) => Some(train::evaluate(&state.model, t)?),
        None => None,
    };
    let sl = StepLog {
        step,
        portion,
        train_loss: tl.as_ref().map(|e| e.loss),
        train_accuracy: tl.as_ref().map(|e| e.train_accuracy),
        test_accuracy: ev.map(|e| e.accuracy),
        test_loss: ev.map(|e| e.loss),
        seconds: t0.elapsed().as_secs_f64(),
        lr,
        lr_trials,
    };
    state.log.steps.push(sl.clone());
    Ok(sl)
}

/// Runs INQ on `model` (not modified) with re-training on `train_data`; `test` (optional) is
/// evaluated before the first step and after every step. `progress` receives each step's log.
/// Writes `cfg.checkpoint` after every step; with `cfg.resume` continues from it.
pub fn inq(
    model: &FloatModel,
    train_data: &Dataset,
    test: Option<&Dataset>,
    cfg: &InqConfig,
    progress: &mut dyn FnMut(&StepLog),
) -> Result<InqResult, QuantError> {
    if let Some(s) = &cfg.lr_search {
        s.check(train_data.len())?;
    }
    if let Some(c) = &cfg.compensate {
        c.check()?;
    }
    let mut state = inq_start(model, cfg)?;
    let fingerprint = checkpoint::fingerprint(model, cfg, &state.schedule);
    let mut start = 0;
    if cfg.resume {
        if let Some(path) = &cfg.checkpoint {
            if path.exists() {
                let ck = checkpoint::load(path)?;
                if ck.fingerprint != fingerprint {
                    return Err(QuantError::Checkpoint {
                        path: path.display().to_string(),
                        message: "was written for a different model or configuration (bits, schedule, strategy, levels, seed or training settings differ); delete it or drop --resume".into(),
                    });
                }
                start = ck.steps_done;
                state = ck.state;
                for s in &state.log.steps {
                    progress(s);
                }
            }
        }
    }
    if start == 0 && state.log.float_accuracy.is_none() {
        if let Some(t) = test {
            state.log.float_accuracy = Some(train::evaluate(model, t)?.accuracy);
        }
    }
    let end = cfg
        .stop_after
        .map_or(state.schedule.len(), |n| n.min(state.schedule.len()));
    // The teacher is the model as given (BatchNorm, if any, with its running statistics).
    let teacher = match cfg.distill {
        Some(d) if start < end => Some(Teacher::of(model, train_data, d)?),
        _ => None,
    };
    for step in start..end {
        let sl = inq_step(&mut state, step, train_data, test, cfg, teacher.as_ref())?;
        progress(&sl);
        if let Some(path) = &cfg.checkpoint {
            checkpoint::save(
                path,
                &checkpoint::Checkpoint {
                    fingerprint: fingerprint.clone(),
                    steps_done: step + 1,
                    state: state.clone(),
                },
            )?;
        }
    }
    Ok(state)
}

fn weight_len(model: &FloatModel, node: usize) -> usize {
    match model.nodes.get(node).and_then(|n| n.op.params()) {
        Some((w, _)) => w.len(),
        None => 0,
    }
}

/// Everything [`quantize`] produces.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The integer model (validated, with provenance and metrics).
    pub quant: inq_model::QuantModel,
    /// The INQ result (quantized float model, log).
    pub inq: InqResult,
    /// Test accuracy of the original float model.
    pub float_accuracy: Option<f64>,
    /// Test accuracy of the quantized model with float activations.
    pub inq_float_accuracy: Option<f64>,
    /// Test accuracy of the integer model (reference arithmetic).
    pub integer_accuracy: Option<f64>,
}

/// Full pipeline: [`inq`], [`integerize()`] (calibrating on the training data), accuracies on
/// `test` and provenance. `source` names the float model (path) for the provenance.
pub fn quantize(
    model: &FloatModel,
    train_data: &Dataset,
    test: Option<&Dataset>,
    cfg: &InqConfig,
    int_cfg: &IntConfig,
    source: &str,
    progress: &mut dyn FnMut(&StepLog),
) -> Result<Outcome, QuantError> {
    check_code_span(model, cfg, int_cfg)?;
    let res = inq(model, train_data, test, cfg, progress)?;
    let mut quant = integerize(&res, train_data, int_cfg)?;
    let float_accuracy = res.log.float_accuracy;
    let (mut inq_float_accuracy, mut integer_accuracy) = (None, None);
    if let Some(t) = test {
        inq_float_accuracy = Some(train::evaluate(&res.model, t)?.accuracy);
        integer_accuracy = Some(evaluate_integer(&quant, t)?);
    }
    let p = &mut quant.provenance;
    p.source = source.to_string();
    p.tool = format!("inq-quant {}", env!("CARGO_PKG_VERSION"));
    let set = &mut p.settings;
    let mut put = |k: &str, v: serde_json::Value| {
        set.insert(k.to_string(), v);
    };
    put("method", "INQ (Zhou et al. 2017)".into());
    put("bits", serde_json::json!(cfg.bits));
    put(
        "layer_bits",
        serde_json::json!(res
            .layers
            .iter()
            .map(|l| (l.name.clone(), l.bits))
            .collect::<BTreeMap<_, _>>()),
    );
    put("schedule", serde_json::json!(&res.schedule));
    put("strategy", serde_json::json!(cfg.strategy.name()));
    put("levels", serde_json::json!(cfg.levels.name()));
    put("seed", serde_json::json!(cfg.train.seed));
    put("epochs_per_step", serde_json::json!(cfg.epochs_per_step));
    put("final_epochs", serde_json::json!(cfg.final_epochs));
    put("lr", serde_json::json!(cfg.train.lr));
    put("lr_schedule", serde_json::json!(&cfg.train.schedule));
    put("momentum", serde_json::json!(cfg.train.momentum));
    put("weight_decay", serde_json::json!(cfg.train.weight_decay));
    put("batch_size", serde_json::json!(cfg.train.batch_size));
    put("act_bits", serde_json::json!(int_cfg.act_bits));
    put("calibration", serde_json::json!(int_cfg.calibration.name()));
    put("calib_images", serde_json::json!(int_cfg.calib_images));
    put("train_images", serde_json::json!(train_data.len()));
    if let Some(s) = &cfg.lr_search {
        put("lr_search", serde_json::json!(&s.candidates));
        put("lr_search_holdout", serde_json::json!(s.holdout));
    }
    if let Some(c) = &cfg.compensate {
        put("compensate_images", serde_json::json!(c.images));
        put("compensate_damping", serde_json::json!(c.damping));
    }
    if let Some(d) = cfg.distill {
        put("distill_alpha", serde_json::json!(d.alpha));
        put("distill_temperature", serde_json::json!(d.temperature));
    }
    if cfg.sparsity > 0.0 {
        put("sparsity", serde_json::json!(cfg.sparsity));
        put("sparsity_scope", "per-layer".into());
    }
    let m = &mut p.metrics;
    for (k, v) in [
        ("float_accuracy", float_accuracy),
        ("inq_float_accuracy", inq_float_accuracy),
        ("integer_accuracy", integer_accuracy),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    }
    if let Some(t) = test {
        m.insert("test_images".into(), t.len() as f64);
    }
    Ok(Outcome {
        quant,
        inq: res,
        float_accuracy,
        inq_float_accuracy,
        integer_accuracy,
    })
}

/// Writes the outcome beside `out` (the model file path): the model itself, `<stem>.log.json`
/// (per-step log and accuracies), `<stem>.hist.svg` (weight histograms before/after per layer)
/// and `<stem>.steps.svg` (accuracy per step). Returns the written paths.
pub fn write_outputs(
    out: &Path,
    original: &FloatModel,
    outcome: &Outcome,
) -> Result<Vec<PathBuf>, QuantError> {
    // the four files as one step: an interrupt waits for all of them, so it leaves the old set
    // or the new one, never a new model beside an old log (`inq_model::interrupt`)
    inq_model::interrupt::critical(|| write_output_files(out, original, outcome))
}

fn write_output_files(
    out: &Path,
    original: &FloatModel,
    outcome: &Outcome,
) -> Result<Vec<PathBuf>, QuantError> {
    outcome.quant.save(out)?;
    let stem = out.with_extension("");
    let side = |suffix: &str| PathBuf::from(format!("{}.{suffix}", stem.display()));
    let log_path = side("log.json");
    let mut log = serde_json::json!({
        "float_accuracy": outcome.float_accuracy,
        "inq_float_accuracy": outcome.inq_float_accuracy,
        "integer_accuracy": outcome.integer_accuracy,
        "schedule": outcome.inq.schedule,
        "steps": outcome.inq.log.steps,
        "layers": outcome.inq.layers.iter().map(|l| serde_json::json!({"name": l.name, "bits": l.bits, "n1": l.n1})).collect::<Vec<_>>(),
    });
    if let Some(s) = outcome.quant.provenance.settings.get("sparsity") {
        log["sparsity"] = s.clone();
        log["zeros"] = serde_json::json!(sparsity::zero_counts(&outcome.quant));
    }
    let text = serde_json::to_string_pretty(&log).map_err(|e| QuantError::Io {
        path: log_path.display().to_string(),
        message: e.to_string(),
    })?;
    inq_model::write_atomic(&log_path, text.as_bytes())?;
    let hist = side("hist.svg");
    plot::weight_histograms(&hist, original, &outcome.inq)?;
    let steps = side("steps.svg");
    plot::step_accuracy(&steps, &outcome.inq.log)?;
    Ok(vec![out.to_path_buf(), log_path, hist, steps])
}

/// Result of [`quantize_uniform`].
#[derive(Debug, Clone)]
pub struct UniformOutcome {
    /// The integer model (uniform integer weights).
    pub quant: inq_model::QuantModel,
    /// Test accuracy of the float model.
    pub float_accuracy: Option<f64>,
    /// Test accuracy with the quantized weights and float activations.
    pub weights_only_accuracy: Option<f64>,
    /// Test accuracy of the integer model (reference arithmetic).
    pub integer_accuracy: Option<f64>,
}

/// The multiplier baseline: [`uniform`] post-training quantization of `model` to `bits`-bit
/// per-output-channel symmetric integers with power-of-two scales, then [`integerize()`]
/// (activation calibration on `calib`, exactly as the INQ path), accuracies on `test` and
/// provenance. No re-training.
pub fn quantize_uniform(
    model: &FloatModel,
    bits: u32,
    calib: &Dataset,
    test: Option<&Dataset>,
    int_cfg: &IntConfig,
    source: &str,
) -> Result<UniformOutcome, QuantError> {
    let res = uniform(model, bits)?;
    let mut quant = integerize(&res, calib, int_cfg)?;
    let (mut float_accuracy, mut weights_only_accuracy, mut integer_accuracy) = (None, None, None);
    if let Some(t) = test {
        float_accuracy = Some(train::evaluate(model, t)?.accuracy);
        weights_only_accuracy = Some(train::evaluate(&res.model, t)?.accuracy);
        integer_accuracy = Some(evaluate_integer(&quant, t)?);
    }
    let p = &mut quant.provenance;
    p.source = source.to_string();
    p.tool = format!("inq-quant {}", env!("CARGO_PKG_VERSION"));
    let set = &mut p.settings;
    set.insert(
        "method".into(),
        "uniform post-training (per-channel symmetric, power-of-two scales)".into(),
    );
    set.insert("weight_kind".into(), "int".into());
    set.insert("bits".into(), serde_json::json!(bits));
    set.insert("act_bits".into(), serde_json::json!(int_cfg.act_bits));
    set.insert(
        "calibration".into(),
        serde_json::json!(int_cfg.calibration.name()),
    );
    set.insert(
        "calib_images".into(),
        serde_json::json!(int_cfg.calib_images),
    );
    for (k, v) in [
        ("float_accuracy", float_accuracy),
        ("weights_only_accuracy", weights_only_accuracy),
        ("integer_accuracy", integer_accuracy),
    ] {
        if let Some(v) = v {
            p.metrics.insert(k.into(), v);
        }
    }
    if let Some(t) = test {
        p.metrics.insert("test_images".into(), t.len() as f64);
    }
    Ok(UniformOutcome {
        quant,
        float_accuracy,
        weights_only_accuracy,
        integer_accuracy,
    })
}

#[cfg(test)]
mod uniform_tests {
    use super::state::uniform_q;
    use super::*;

    #[test]
    fn uniform_step_is_the_finest_without_clipping() {
        // max 1.0 at 8 bits: 2^-6 gives 64 levels, 2^-7 would need 128 > 127.
        assert_eq!(uniform_n2(1.0, 8), -6);
        assert_eq!(uniform_n2(0.99, 8), -7); // 0.99·128 = 126.7 → 127
        assert_eq!(uniform_q(0.99, -7, 8), 127);
        assert_eq!(uniform_q(-5.0, -7, 8), -127);
        assert_eq!(uniform_q(0.3, -2, 3), 1);
        for s in [0.001f64, 0.37, 3.0, 100.0] {
            let n2 = uniform_n2(s, 8);
            assert!((s / 2f64.powi(n2)).round() <= 127.0);
            assert!((s / 2f64.powi(n2 - 1)).round() > 127.0);
        }
    }
}
