//! `inq quantize`: Incremental Network Quantization (or the uniform baseline) of a float ONNX
//! model into the quantized-model format.

use anyhow::Context;
use clap::{Args, ValueEnum};
use inq_flow::quantize::{quantize, quantize_seeds, Method, QuantizeRequest};
use inq_quant::calib::Calibration;
use inq_quant::quantize::compensate::{self, Compensate};
use inq_quant::quantize::lr_search::LrSearch;
use inq_quant::quantize::{InqConfig, IntConfig, Levels, Strategy};
use inq_quant::train::distill::Distill;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which quantization.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodArg {
    /// Incremental Network Quantization to power-of-two weights.
    Inq,
    /// The multiplier baseline: post-training per-channel symmetric integers of
    /// `--weight-bits` with power-of-two scales, no re-training.
    Uniform,
}

/// Which weights INQ quantizes first.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyArg {
    /// Largest magnitude first (the paper's pruning-inspired partition).
    Pruning,
    /// A seeded random subset.
    Random,
}

/// The level set of each layer.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelsArg {
    /// The paper's Eq. 2, one `n1` per layer.
    Paper,
    /// Eq. 2 per output channel.
    PerChannel,
    /// Per layer, the `n1` with the smallest squared quantization error.
    MinError,
    /// Per output channel, the `n1` with the smallest squared quantization error.
    MinErrorPerChannel,
}

/// Activation scale calibration.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibrationArg {
    /// The exponent minimizing clipping + rounding error.
    Mse,
    /// The smallest exponent without clipping.
    Max,
}

/// `--sparsity`: a number in `[0, 1)`.
fn parse_sparsity(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number (expected a fraction in [0, 1))"))?;
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{v} is outside [0, 1) (the fraction of each layer's weights pruned to zero)"
        ))
    }
}

/// INQ settings shared by `inq quantize`, `inq flow` and `inq explore`.
#[derive(Args, Debug, Clone)]
pub struct QuantOptions {
    /// Weight bits 2..=8 (INQ: one zero flag, one sign bit, 2^(b-2) exponents).
    #[arg(long, default_value_t = 5)]
    pub bits: u32,
    /// Per-node bit width, e.g. `--layer-bits conv1=8,fc2=4`.
    #[arg(long, value_delimiter = ',')]
    pub layer_bits: Vec<String>,
    /// Accumulated portions of quantized weights, e.g. 0.5,0.75,0.875,1 (default: the paper's
    /// schedule for the bit width).
    #[arg(long, value_delimiter = ',')]
    pub schedule: Option<Vec<f64>>,
    /// Which weights to quantize first.
    #[arg(long, value_enum, default_value_t = StrategyArg::Pruning)]
    pub strategy: StrategyArg,
    /// Fraction S in [0, 1) of every conv/dense layer's weights pruned to zero (smallest
    /// magnitudes, per layer) and frozen before the first INQ step; the schedule then
    /// quantizes the rest. 0 = no pruning.
    #[arg(long, default_value_t = 0.0, value_name = "S", value_parser = parse_sparsity)]
    pub sparsity: f64,
    /// Level set.
    #[arg(long, value_enum, default_value_t = LevelsArg::MinErrorPerChannel)]
    pub levels: LevelsArg,
    /// Re-training epochs after each INQ step.
    #[arg(long, default_value_t = 2)]
    pub epochs_per_step: usize,
    /// Bias-only re-training epochs after the last step, when every weight is quantized and
    /// frozen (beyond the paper; 0 = none, the paper's recipe).
    #[arg(long, default_value_t = 0)]
    pub final_epochs: usize,
    /// Learning rate of the re-training (restarted every step).
    #[arg(long, default_value_t = 0.005)]
    pub lr: f64,
    /// Re-train every step once per learning rate listed (e.g. `0.0025,0.005,0.01`) and keep
    /// the one with the best accuracy on the held-back images (`--lr-holdout`); replaces
    /// `--lr` (beyond the paper; costs one re-training per candidate).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LR,...",
        conflicts_with = "lr"
    )]
    pub lr_search: Option<Vec<f64>>,
    /// Images at the end of the training split held back for `--lr-search` (never trained on).
    #[arg(long, default_value_t = 5000, requires = "lr_search", value_name = "N")]
    pub lr_holdout: usize,
    /// Distill from the float model during every re-training step: the loss becomes
    /// `(1 − α)·CE + α·T²·H(teacher, student)` at temperature `T` (beyond the paper).
    #[arg(long)]
    pub distill: bool,
    /// Weight `α` in [0, 1] of the distillation term (with `--distill`).
    #[arg(long, default_value_t = 0.5, requires = "distill")]
    pub distill_alpha: f64,
    /// Temperature `T > 0` of the distillation softmaxes (with `--distill`).
    #[arg(long, default_value_t = 2.0, requires = "distill")]
    pub distill_temperature: f64,
    /// Before each step's re-training, move the weights left free so that every layer's
    /// outputs on sample training images change as little as possible by the weights the
    /// step froze (least squares on the layer inputs' second moments; beyond the paper).
    /// On by default when some layer has 3 bits or fewer.
    #[arg(long)]
    pub compensate: bool,
    /// No compensation, also at 3 bits or fewer.
    #[arg(long, conflicts_with = "compensate")]
    pub no_compensate: bool,
    /// Training images sampled for `--compensate`'s second moments (drawn again every step).
    #[arg(
        long,
        default_value_t = 2048,
        requires = "compensate",
        value_name = "N"
    )]
    pub compensate_images: usize,
    /// Damping of `--compensate`'s least-squares problems, as a fraction of the mean
    /// diagonal of each layer's second-moment matrix.
    #[arg(long, default_value_t = 0.01, requires = "compensate")]
    pub compensate_damping: f64,
    /// Activation bits (fixed point with per-tensor power-of-two scales).
    #[arg(long, default_value_t = 8)]
    pub act_bits: u32,
    /// Activation scale calibration.
    #[arg(long, value_enum, default_value_t = CalibrationArg::Mse)]
    pub calibration: CalibrationArg,
    /// Seed of the shuffling and random partitions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Re-train on the first N training images only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Continue from the checkpoint beside the output, if there is one. With the checkpoint of
    /// a finished run (kept by `--keep-checkpoint`) nothing is re-trained: only the
    /// integerization runs again, e.g. with other `--act-bits`.
    #[arg(long)]
    pub resume: bool,
    /// Keep the checkpoint (`<out>.checkpoint.json`) after a successful run.
    #[arg(long)]
    pub keep_checkpoint: bool,
    /// Input normalization of the float model (default: recorded in the file, else x/255).
    #[arg(long)]
    pub norm: Option<String>,
    /// `inq` or `uniform` (the multiplier baseline).
    #[arg(long, value_enum, default_value_t = MethodArg::Inq)]
    pub method: MethodArg,
    /// Weight bits of `--method uniform`.
    #[arg(long, default_value_t = 8)]
    pub weight_bits: u32,
}

impl QuantOptions {
    /// The defaults, as `inq quantize` would parse them from no options.
    pub fn defaults() -> anyhow::Result<Self> {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            q: QuantOptions,
        }
        Ok(Wrap::try_parse_from(["inq"])?.q)
    }

    /// The flow library's request (`model`, `out`, `data` to be set by the caller).
    pub fn request(
        &self,
        model: PathBuf,
        out: PathBuf,
        data: Option<PathBuf>,
        quiet: bool,
    ) -> anyhow::Result<QuantizeRequest> {
        let mut layer_bits = BTreeMap::new();
        for item in &self.layer_bits {
            let (name, b) = item
                .split_once('=')
                .with_context(|| format!("--layer-bits `{item}`: expected NAME=BITS"))?;
            layer_bits.insert(
                name.to_string(),
                b.parse()
                    .with_context(|| format!("--layer-bits `{item}`: bad bit width"))?,
            );
        }
        let mut inq = InqConfig {
            bits: self.bits,
            layer_bits,
            schedule: self.schedule.clone(),
            strategy: match self.strategy {
                StrategyArg::Pruning => Strategy::Pruning,
                StrategyArg::Random => Strategy::Random,
            },
            levels: match self.levels {
                LevelsArg::Paper => Levels::Paper,
                LevelsArg::PerChannel => Levels::PerChannel,
                LevelsArg::MinError => Levels::MinError,
                LevelsArg::MinErrorPerChannel => Levels::MinErrorPerChannel,
            },
            epochs_per_step: self.epochs_per_step,
            final_epochs: self.final_epochs,
            resume: self.resume,
            sparsity: self.sparsity,
            distill: self.distill.then_some(Distill {
                alpha: self.distill_alpha,
                temperature: self.distill_temperature,
            }),
            lr_search: self.lr_search.clone().map(|candidates| LrSearch {
                candidates,
                holdout: self.lr_holdout,
            }),
            compensate: self.compensate.then_some(Compensate {
                images: self.compensate_images,
                damping: self.compensate_damping,
            }),
            ..InqConfig::default()
        };
        if !self.compensate && !self.no_compensate {
            // the library's default for the smallest bit width in use
            inq.compensate = compensate::default_for(inq.smallest_bits());
        }
        if let Some(c) = &inq.compensate {
            c.check()
                .map_err(|e| anyhow::anyhow!("--compensate-images/--compensate-damping: {e}"))?;
        }
        if let Some(s) = &inq.lr_search {
            s.check_candidates()
                .map_err(|e| anyhow::anyhow!("--lr-search: {e}"))?;
        }
        if let Some(d) = &inq.distill {
            d.check()
                .map_err(|e| anyhow::anyhow!("--distill-alpha/--distill-temperature: {e}"))?;
        }
        inq.train.lr = self.lr;
        inq.train.seed = self.seed;
        let int = IntConfig {
            act_bits: self.act_bits,
            calibration: match self.calibration {
                CalibrationArg::Mse => Calibration::Mse,
                CalibrationArg::Max => Calibration::Max,
            },
            ..IntConfig::default()
        };
        Ok(QuantizeRequest {
            model,
            norm: self.norm.clone(),
            data,
            out,
            method: match self.method {
                MethodArg::Inq => Method::Inq,
                MethodArg::Uniform => Method::Uniform,
            },
            weight_bits: self.weight_bits,
            inq,
            int,
            limit: self.limit,
            test_limit: self.test_limit,
            keep_checkpoint: self.keep_checkpoint,
            quiet,
        })
    }
}

/// Arguments of `inq quantize`.
#[derive(Args, Debug, Clone)]
pub struct QuantizeArgs {
    /// The float model (ONNX).
    pub model: PathBuf,
    /// Folder of IDX or npy files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output quantized model (`.json`); the log and plots are written beside it.
    #[arg(long, default_value = "out/model.json")]
    pub out: PathBuf,
    #[command(flatten)]
    pub q: QuantOptions,
    /// Run INQ once per seed (e.g. `--seeds 1,2,3`) and print the mean and spread of the
    /// accuracies: each seed writes `<stem>.seed<S>.json` (with its log and plots) beside
    /// `--out`, and `<stem>.seeds.json` lists every run and the spread; nothing is written at
    /// `--out` itself.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["seed", "resume"])]
    pub seeds: Option<Vec<u64>>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inq quantize`.
pub fn run(a: &QuantizeArgs) -> anyhow::Result<()> {
    let req =
        a.q.request(a.model.clone(), a.out.clone(), a.data.clone(), a.json)?;
    if let Some(seeds) = &a.seeds {
        let r = quantize_seeds(&req, seeds)?;
        return crate::output::emit(a.json, &r, || r.summary());
    }
    let r = quantize(&req)?;
    crate::output::emit(a.json, &r, || r.summary())
}
