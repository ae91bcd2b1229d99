//! The state and settings of an INQ run shared by its stages: the configuration
//! ([`InqConfig`]), each weighted node's level set and gain ([`LayerQuant`]), the log
//! ([`InqLog`], [`StepLog`]), the result ([`InqResult`]) and the error ([`QuantError`]).
//!
//! A leaf of the `quantize` module: the run (`quantize/mod.rs`), the checkpoint, the
//! integerization and the plots all read these types, none of them is imported here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::graph::{FloatModel, GraphError};
use crate::train::{self, Mask, TrainConfig, TrainError};
use inq_model::WeightKind;

use super::levels::{self, Levels};
use super::partition::Strategy;

/// Errors of quantization.
#[derive(Debug, Error)]
pub enum QuantError {
    /// Training or evaluation failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The model cannot be quantized as asked.
    #[error("model: {node}: {message}")]
    Model {
        /// The offending node or field.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// The configuration is invalid.
    #[error("quantization configuration: {0}")]
    Config(String),
    /// A checkpoint could not be read, written or used.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The integer model failed validation or the reference run.
    #[error(transparent)]
    Format(#[from] inq_model::ModelError),
    /// The float model's graph is malformed or a BatchNorm cannot be folded.
    #[error("model: {0}")]
    Graph(#[from] GraphError),
    /// Writing an output file (plot, log) failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// The paper's accumulated portions for a bit width (ResNet-18 schedules; 5 bits and more use
/// the VGG/ResNet 5-bit schedule).
pub fn default_schedule(bits: u32) -> Vec<f64> {
    match bits {
        0..=2 => vec![0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 1.0],
        3 => vec![0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0],
        4 => vec![0.3, 0.5, 0.8, 0.9, 0.95, 1.0],
        _ => vec![0.5, 0.75, 0.875, 1.0],
    }
}

/// Settings of an INQ run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InqConfig {
    /// Weight code width `b` (2..=8) for every conv/dense layer.
    pub bits: u32,
    /// Per-layer override of `bits`, by layer name.
    pub layer_bits: BTreeMap<String, u32>,
    /// Accumulated portions; `None` = [`default_schedule`] of the smallest bit width used.
    pub schedule: Option<Vec<f64>>,
    /// Partition strategy.
    pub strategy: Strategy,
    /// Choice of `n1`.
    pub levels: Levels,
    /// Re-training epochs after each step (the last step, where no weight is left to train,
    /// re-trains only when `final_epochs > 0`).
    pub epochs_per_step: usize,
    /// Bias-only re-training epochs after the last step (all weights frozen).
    pub final_epochs: usize,
    /// Optimizer settings for the re-training; `epochs` is ignored, `seed` drives shuffling and
    /// random partitions, the learning-rate schedule restarts at every step.
    pub train: TrainConfig,
    /// Checkpoint file written after every step (`None`: no checkpoint).
    pub checkpoint: Option<PathBuf>,
    /// Continue from `checkpoint` if it exists (and matches this configuration).
    pub resume: bool,
    /// Stop after this many steps (the checkpoint allows resuming later); `None` runs the whole
    /// schedule.
    pub stop_after: Option<usize>,
    /// Fraction `S` in `[0, 1)` of every conv/dense node's weights pruned to zero (smallest
    /// magnitudes, per layer) and frozen before the first step ([`super::sparsity`]); 0 prunes
    /// nothing. Left out of the serialized configuration when 0, so checkpoints of runs
    /// without pruning keep their fingerprint.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sparsity: f64,
    /// Distillation from the float model during every re-training step
    /// ([`crate::train::distill`]); `None` trains on the labels alone (the paper's recipe).
    /// Left out of the serialized configuration when `None`, so checkpoints of runs without it
    /// keep their fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<crate::train::distill::Distill>,
    /// Per-step learning-rate search on held-back training images ([`super::lr_search`]);
    /// `None` re-trains every step at `train.lr` (the paper's recipe). Left out of the
    /// serialized configuration when `None`, like `distill`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_search: Option<super::lr_search::LrSearch>,
    /// Compensation of every step's quantization error in the weights left free
    /// ([`super::compensate`]); `None` leaves it to the re-training (the paper's recipe). Left
    /// out of the serialized configuration when `None`, like `distill`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<super::compensate::Compensate>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl InqConfig {
    /// The weight bit width of layer `name`: its `layer_bits` entry, else `bits`.
    pub fn bits_of(&self, name: &str) -> u32 {
        self.layer_bits.get(name).copied().unwrap_or(self.bits)
    }
    /// The smallest bit width the settings name (`bits` and every `layer_bits` entry): what
    /// the bit-width-dependent defaults follow ([`super::compensate::default_for`]).
    pub fn smallest_bits(&self) -> u32 {
        self.layer_bits.values().copied().fold(self.bits, u32::min)
    }
}

impl Default for InqConfig {
    fn default() -> Self {
        InqConfig {
            bits: 5,
            layer_bits: BTreeMap::new(),
            schedule: None,
            strategy: Strategy::Pruning,
            levels: Levels::Paper,
            epochs_per_step: 2,
            final_epochs: 0,
            train: TrainConfig {
                lr: 0.005,
                schedule: train::LrSchedule::Cosine { min_factor: 0.0 },
                ..TrainConfig::default()
            },
            checkpoint: None,
            resume: false,
            stop_after: None,
            sparsity: 0.0,
            distill: None,
            lr_search: None,
            compensate: None,
        }
    }
}

/// One weighted node's quantization state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerQuant {
    /// Index of the conv/dense node in [`FloatModel::nodes`].
    pub layer: usize,
    /// Layer name.
    pub name: String,
    /// Code width.
    pub bits: u32,
    /// Largest exponent: one entry, or one per output channel.
    pub n1: Vec<i32>,
    /// Output channels (rows of the weight matrix).
    pub out: usize,
    /// Multiplier from stored float weights to the quantized domain (see
    /// [`LayerQuant::gain_at`]): one entry for the whole node, or one per input channel (the
    /// input normalization of nodes reading the input). All ones except where the
    /// normalization or a global average pool's gain is folded in.
    pub gain: Vec<f32>,
    /// Elements per input channel group of `gain` (conv: `kh·kw`; dense after flatten: `H·W`).
    pub gain_group: usize,
    /// Per-channel gain indexed by the output channel (depthwise conv: output channel `o`
    /// reads input channel `o` only).
    #[serde(default)]
    pub gain_by_row: bool,
    /// INQ level set (`pow2`, the default) or uniform integers ([`super::uniform`]).
    #[serde(default)]
    pub kind: WeightKind,
    /// Factor by which the integer model's output of this node exceeds the float model's: 1,
    /// except for the node emitting the logits when it reads a global average pool over a
    /// non-power-of-two plane. There the pool's integer gain `H·W/2^S` is kept in the logits
    /// (its bias is multiplied by it, [`super::integerize()`]) instead of being folded into the
    /// weights: a common positive factor of all logits leaves the top-1 class unchanged, and
    /// the weights are quantized on the float model's own level grid (`2^k`, as in the paper)
    /// rather than on `2^k·H·W/2^S`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub output_gain: f32,
}

fn one() -> f32 {
    1.0
}

fn is_one(v: &f32) -> bool {
    *v == 1.0
}

impl LayerQuant {
    /// The multiplier of weight element `i` (row-major over `[out, in, …]`).
    pub fn gain_at(&self, i: usize) -> f32 {
        if self.gain.len() <= 1 {
            return self.gain.first().copied().unwrap_or(1.0);
        }
        if self.gain_by_row {
            let row = self.gain_group.max(1);
            return self.gain.get(i / row).copied().unwrap_or(1.0);
        }
        let row = self.row_len();
        let c = (i % row) / self.gain_group.max(1);
        self.gain.get(c).copied().unwrap_or(1.0)
    }
    pub(crate) fn row_len(&self) -> usize {
        self.gain.len() * self.gain_group.max(1)
    }
    /// `n2` of output channel `c` (kind-aware).
    pub fn n2(&self, c: usize) -> i32 {
        inq_model::numerics::n2_from_n1_kind(self.kind, levels::n1_at(&self.n1, c), self.bits)
    }
    /// The nearest representable value of `w` (already multiplied by the gain) in channel
    /// `c`'s set: Eq. 4 for INQ levels, `clamp(round(w / 2^n2)) · 2^n2` for uniform integers.
    pub fn quantize_value(&self, w: f32, c: usize) -> f32 {
        match self.kind {
            WeightKind::Pow2 => levels::quantize_value(w, levels::n1_at(&self.n1, c), self.bits),
            WeightKind::Int => {
                let s = levels::pow2(self.n2(c));
                (uniform_q(w, self.n2(c), self.bits) as f64 * s) as f32
            }
        }
    }
    /// The code of `w` (a value of channel `c`'s set; other values are rounded first).
    pub fn encode_value(&self, w: f32, c: usize) -> u8 {
        match self.kind {
            WeightKind::Pow2 => levels::encode_value(w, levels::n1_at(&self.n1, c), self.bits),
            WeightKind::Int => match uniform_q(w, self.n2(c), self.bits) {
                0 => 0,
                q => inq_model::numerics::encode(inq_model::numerics::Weight::Int(q), self.bits),
            },
        }
    }
}

/// Log of one INQ step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Step index (0-based).
    pub step: usize,
    /// Accumulated portion of quantized weights after the step.
    pub portion: f64,
    /// Mean training loss of the step's last re-training epoch (None without re-training).
    pub train_loss: Option<f64>,
    /// Training accuracy of the last re-training epoch.
    pub train_accuracy: Option<f64>,
    /// Test accuracy after the step (if a test set was given).
    pub test_accuracy: Option<f64>,
    /// Test loss after the step.
    pub test_loss: Option<f64>,
    /// Wall-clock seconds of the step.
    pub seconds: f64,
    /// With a learning-rate search: the learning rate the step kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// With a learning-rate search: every candidate's held-back accuracy and loss.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lr_trials: Vec<super::lr_search::LrTrial>,
}

/// The log of an INQ run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InqLog {
    /// Test accuracy of the float model before quantization.
    pub float_accuracy: Option<f64>,
    /// One entry per completed step.
    pub steps: Vec<StepLog>,
}

/// The result of an INQ run: every conv/dense weight is a level `±2^k` or 0 (in the quantized
/// domain, i.e. after multiplying by [`LayerQuant::gain_at`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InqResult {
    /// The quantized float model (BatchNorm folded, normalization unchanged).
    pub model: FloatModel,
    /// Quantization state of each conv/dense node, in node order.
    pub layers: Vec<LayerQuant>,
    /// Frozen masks (all true at the end).
    pub frozen: Mask,
    /// Per-step log.
    pub log: InqLog,
    /// The schedule that was used.
    pub schedule: Vec<f64>,
}

/// `clamp(round(w / 2^n2), ±(2^(b-1)-1))` (ties away from zero).
pub(crate) fn uniform_q(w: f32, n2: i32, bits: u32) -> i64 {
    let m = inq_model::numerics::int_max(bits);
    let v = (f64::from(w) / levels::pow2(n2)).round();
    if v.is_nan() {
        0
    } else {
        (v as i64).clamp(-m, m)
    }
}
