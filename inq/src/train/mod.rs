//! CPU float training of a [`FloatModel`] graph with autodiff (candle), SGD with momentum and
//! weight decay, learning-rate schedules, seeded shuffling, BatchNorm running statistics and
//! an optional update mask (used by INQ so that frozen weights never move) and optional
//! distillation from a float teacher ([`distill`]).
//!
//! Inputs are the dataset's raw 8-bit pixels, normalized with [`FloatModel::normalization`].
//! The loop is deterministic for a given seed and thread count: shuffling uses
//! [`rng::SplitMix64`] and the kernels do not depend on thread scheduling. The built-in
//! architectures are in [`arch`]; the candle graph in [`engine`].

pub mod arch;
pub mod distill;
pub mod engine;
pub mod ops;
pub mod rng;
pub mod schedule;

use std::io::IsTerminal;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::Dataset;
use crate::graph::FloatModel;
pub use arch::{build_arch, build_arch_init, lenet, resnet8, up5k, Arch, WeightInit};
pub use engine::{params_of, store_params, LayerParams, Net, Params};
use rng::SplitMix64;
pub use schedule::LrSchedule;

/// Errors of training and evaluation.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The model cannot be run (shapes, sizes, normalization).
    #[error("model: {node}: {message}")]
    Model {
        /// The offending node or field.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// The dataset does not fit the model.
    #[error("dataset: {0}")]
    Data(String),
    /// The configuration is invalid.
    #[error("training configuration: {0}")]
    Config(String),
    /// The tensor library failed.
    #[error("tensor engine: {0}")]
    Engine(String),
    /// The loss became NaN or infinite.
    #[error("training diverged (loss {loss}) at epoch {epoch}; lower the learning rate")]
    Diverged {
        /// Epoch (0-based).
        epoch: usize,
        /// The loss value.
        loss: f64,
    },
}

/// Settings of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Number of passes over the data.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay (applied to weights, not biases).
    pub weight_decay: f64,
    /// Learning-rate schedule over the run.
    pub schedule: LrSchedule,
    /// Seed for shuffling.
    pub seed: u64,
    /// Hide the progress bar.
    pub quiet: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 64,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            schedule: LrSchedule::default(),
            seed: 1,
            quiet: false,
        }
    }
}

impl TrainConfig {
    fn check(&self) -> Result<(), TrainError> {
        if self.batch_size == 0 {
            return Err(TrainError::Config("batch size must be at least 1".into()));
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(TrainError::Config(format!(
                "learning rate {} must be finite and non-negative",
                self.lr
            )));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(TrainError::Config(format!(
                "momentum {} must be in [0, 1)",
                self.momentum
            )));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(TrainError::Config(format!(
                "weight decay {} must be finite and non-negative",
                self.weight_decay
            )));
        }
        Ok(())
    }
}

/// What one epoch did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// Epoch index (0-based) within the run.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy over the epoch (fraction, measured during training).
    pub train_accuracy: f64,
    /// Learning rate at the start of the epoch.
    pub lr: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The result of a training run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    /// One entry per epoch.
    pub epochs: Vec<EpochLog>,
}

/// Per-parameter update mask: `true` = frozen (never updated). One entry per [`Params`]
/// entry, each as long as its weights. Biases are never frozen.
pub type Mask = Vec<Vec<bool>>;

fn check_data(net: &Net, data: &Dataset) -> Result<(), TrainError> {
    let [c, h, w] = net.input_shape;
    if data.image_shape() != net.input_shape {
        return Err(TrainError::Data(format!(
            "images are {}×{}×{} but the model expects {c}×{h}×{w}",
            data.channels, data.rows, data.cols
        )));
    }
    if let Some(&l) = data.labels.iter().find(|&&l| usize::from(l) >= net.classes) {
        return Err(TrainError::Data(format!(
            "label {l} but the model has only {} outputs",
            net.classes
        )));
    }
    Ok(())
}

fn bar(total: u64, quiet: bool, what: &str) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{msg:>14} [{bar:30}] {pos}/{len} images ({per_sec}, ETA {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    b.set_style(style);
    b.set_message(what.to_string());
    b
}

/// SGD with momentum and weight decay on host tensors.
#[derive(Debug, Clone)]
pub(crate) struct Sgd {
    velocity: Params,
}

impl Sgd {
    pub(crate) fn new(params: &Params) -> Self {
        let velocity = params
            .iter()
            .map(|p| LayerParams {
                node: p.node,
                weight: vec![0.0; p.weight.len()],
                bias: vec![0.0; p.bias.len()],
            })
            .collect();
        Sgd { velocity }
    }

    /// `v ← μv + (g + λw)`, `w ← w − γv`, skipping frozen weights entirely (their velocity
    /// stays 0 and the weight is not written).
    pub(crate) fn step(
        &mut self,
        params: &mut Params,
        grads: &Params,
        lr: f32,
        mu: f32,
        wd: f32,
        mask: Option<&Mask>,
    ) {
        for (li, ((p, g), v)) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.velocity)
            .enumerate()
        {
            let m = mask.and_then(|m| m.get(li));
            for i in 0..p.weight.len() {
                if m.is_some_and(|m| m[i]) {
                    continue;
                }
                let d = g.weight[i] + wd * p.weight[i];
                v.weight[i] = mu * v.weight[i] + d;
                p.weight[i] -= lr * v.weight[i];
            }
            for i in 0..p.bias.len() {
                v.bias[i] = mu * v.bias[i] + g.bias[i];
                p.bias[i] -= lr * v.bias[i];
            }
        }
    }
}

/// Trains `model` in place on `data`. `progress` is called after every epoch.
pub fn train(
    model: &mut FloatModel,
    data: &Dataset,
    cfg: &TrainConfig,
    progress: &mut dyn FnMut(&EpochLog),
) -> Result<TrainLog, TrainError> {
    train_masked(model, data, cfg, None, &[], progress)
}

/// [`train`] with an update mask (frozen weights never move) and extra seed parts (so that
/// every INQ step shuffles differently but reproducibly).
pub fn train_masked(
    model: &mut FloatModel,
    data: &Dataset,
    cfg: &TrainConfig,
    mask: Option<&Mask>,
    seed_parts: &[u64],
    progress: &mut dyn FnMut(&EpochLog),
) -> Result<TrainLog, TrainError> {
    train_masked_with(model, data, cfg, mask, None, seed_parts, progress)
}

/// [`train_masked`] with an optional teacher: its soft targets for `data` (same images, same
/// order) join the labels in the loss ([`distill`]).
pub fn train_masked_with(
    model: &mut FloatModel,
    data: &Dataset,
    cfg: &TrainConfig,
    mask: Option<&Mask>,
    teacher: Option<&distill::Teacher>,
    seed_parts: &[u64],
    progress: &mut dyn FnMut(&EpochLog),
) -> Result<TrainLog, TrainError> {
    let guide = Guide {
        mask,
        teacher,
        seed_parts,
        snapshots: false,
    };
    run(model, data, cfg, &guide, &mut |e, _| progress(e))
}

/// [`train`] that also hands `observe` the model as it is after every epoch (parameters and
/// BatchNorm running statistics), e.g. to measure the test accuracy per epoch. The training
/// itself is identical to [`train`]'s.
pub fn train_observed(
    model: &mut FloatModel,
    data: &Dataset,
    cfg: &TrainConfig,
    observe: &mut dyn FnMut(&EpochLog, &FloatModel),
) -> Result<TrainLog, TrainError> {
    let guide = Guide {
        mask: None,
        teacher: None,
        seed_parts: &[],
        snapshots: true,
    };
    run(model, data, cfg, &guide, &mut |e, m| {
        if let Some(m) = m {
            observe(e, m)
        }
    })
}

/// What steers one training run besides its configuration: the update mask, the teacher,
/// the extra seed parts, and whether `progress` gets a snapshot of the model every epoch.
struct Guide<'a> {
    mask: Option<&'a Mask>,
    teacher: Option<&'a distill::Teacher>,
    seed_parts: &'a [u64],
    snapshots: bool,
}

fn run(
    model: &mut FloatModel,
    data: &Dataset,
    cfg: &TrainConfig,
    guide: &Guide,
    progress: &mut dyn FnMut(&EpochLog, Option<&FloatModel>),
) -> Result<TrainLog, TrainError> {
    let Guide {
        mask,
        teacher,
        seed_parts,
        snapshots,
    } = *guide;
    cfg.check()?;
    let net = Net::new(model)?;
    check_data(&net, data)?;
    if let Some(t) = teacher {
        t.distill.check()?;
        if t.classes != net.classes || t.probs.len() != data.len() * t.classes {
            return Err(TrainError::Config(format!(
                "the teacher's soft targets ({} values of {} classes) do not match {} images of a {}-class model",
                t.probs.len(),
                t.classes,
                data.len(),
                net.classes
            )));
        }
    }
    let mut soft = Vec::new();
    if data.is_empty() {
        return Err(TrainError::Data("no training images".into()));
    }
    let mut params = params_of(model);
    if let Some(m) = mask {
        if m.len() != params.len()
            || m.iter()
                .zip(&params)
                .any(|(m, p)| m.len() != p.weight.len())
        {
            return Err(TrainError::Config(
                "the update mask does not match the model's weights".into(),
            ));
        }
    }
    let mut running = engine::running_of(model);
    let mut sgd = Sgd::new(&params);
    let n = data.len();
    let px = data.image_len();
    let bs = cfg.batch_size.min(n);
    let batches = n.div_ceil(bs);
    let total_batches = (batches * cfg.epochs).max(1);
    let mut log = TrainLog::default();
    let mut x = Vec::new();
    let mut pix = Vec::with_capacity(bs * px);
    let mut lab = Vec::with_capacity(bs);
    for epoch in 0..cfg.epochs {
        let t0 = Instant::now();
        let mut parts = seed_parts.to_vec();
        parts.push(epoch as u64);
        let order = SplitMix64::derive(cfg.seed, &parts).permutation(n);
        let pb = bar(
            n as u64,
            cfg.quiet,
            &format!("epoch {}/{}", epoch + 1, cfg.epochs),
        );
        let (mut loss_sum, mut correct) = (0f64, 0usize);
        let lr0 = cfg.schedule.rate(
            cfg.lr,
            epoch,
            (epoch * batches) as f64 / total_batches as f64,
        );
        for b in 0..batches {
            let idx = &order[b * bs..((b + 1) * bs).min(n)];
            pix.clear();
            lab.clear();
            soft.clear();
            for &i in idx {
                pix.extend_from_slice(data.image(i));
                lab.push(data.labels[i]);
                if let Some(t) = teacher {
                    soft.extend_from_slice(t.row(i));
                }
            }
            net.normalize(&pix, &mut x);
            let (loss, c, grads, stats) = net.loss_and_grads(
                &params,
                &x,
                &lab,
                teacher.map(|t| (soft.as_slice(), t.distill)),
            )?;
            for (r, s) in running.iter_mut().zip(&stats) {
                r.update(s);
            }
            if !loss.is_finite() {
                return Err(TrainError::Diverged { epoch, loss });
            }
            loss_sum += loss * idx.len() as f64;
            correct += c;
            let lr = cfg.schedule.rate(
                cfg.lr,
                epoch,
                (epoch * batches + b) as f64 / total_batches as f64,
            );
            sgd.step(
                &mut params,
                &grads,
                lr as f32,
                cfg.momentum as f32,
                cfg.weight_decay as f32,
                mask,
            );
            pb.inc(idx.len() as u64);
        }
        pb.finish_and_clear();
        let e = EpochLog {
            epoch,
            loss: loss_sum / n as f64,
            train_accuracy: correct as f64 / n as f64,
            lr: lr0,
            seconds: t0.elapsed().as_secs_f64(),
        };
        if snapshots {
            let mut snap = model.clone();
            store_params(&mut snap, &params);
            engine::store_running(&mut snap, &running);
            progress(&e, Some(&snap));
        } else {
            progress(&e, None);
        }
        log.epochs.push(e);
    }
    store_params(model, &params);
    engine::store_running(model, &running);
    Ok(log)
}

/// Accuracy and mean loss of a float model on a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    /// Fraction of correct top-1 predictions.
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
}

/// Runs a float model over `data` in batches (float activations, BatchNorm with its running
/// statistics) and hands `f` each image's logits with its index.
fn for_each_logits(
    model: &FloatModel,
    data: &Dataset,
    mut f: impl FnMut(usize, &[f32]),
) -> Result<(), TrainError> {
    let net = Net::new(model)?;
    check_data(&net, data)?;
    let params = params_of(model);
    let n = data.len();
    let bs = 500;
    let mut x = Vec::new();
    for start in (0..n).step_by(bs) {
        let end = (start + bs).min(n);
        net.normalize(
            &data.pixels[start * data.image_len()..end * data.image_len()],
            &mut x,
        );
        let logits = net.logits(&params, &x)?;
        for (k, row) in logits.chunks(net.classes).enumerate() {
            f(start + k, row);
        }
    }
    Ok(())
}

/// Evaluates a float model (batched, float activations, BatchNorm with its running
/// statistics).
pub fn evaluate(model: &FloatModel, data: &Dataset) -> Result<Eval, TrainError> {
    let n = data.len();
    let (mut correct, mut loss) = (0usize, 0f64);
    for_each_logits(model, data, |i, row| {
        let l = usize::from(data.labels[i]);
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let lse = f64::from(m)
            + row
                .iter()
                .map(|&v| f64::from(v - m).exp())
                .sum::<f64>()
                .ln();
        loss += lse - f64::from(row[l]);
        correct += usize::from(crate::forward::argmax(row) == l);
    })?;
    if n == 0 {
        return Err(TrainError::Data("no evaluation images".into()));
    }
    Ok(Eval {
        accuracy: correct as f64 / n as f64,
        loss: loss / n as f64,
    })
}

/// The top-1 class of a float model (as [`evaluate`] counts it: the first largest logit,
/// [`crate::forward::argmax`]) for every image of `data`.
pub fn predictions(model: &FloatModel, data: &Dataset) -> Result<Vec<u8>, TrainError> {
    let mut out = Vec::with_capacity(data.len());
    let mut wide = None;
    for_each_logits(model, data, |_, row| {
        let c = crate::forward::argmax(row);
        match u8::try_from(c) {
            Ok(b) => out.push(b),
            Err(_) => wide = Some(row.len()),
        }
    })?;
    if let Some(classes) = wide {
        return Err(TrainError::Data(format!(
            "{classes} classes: predictions are kept as bytes"
        )));
    }
    Ok(out)
}
