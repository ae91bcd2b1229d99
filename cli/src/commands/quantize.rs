//! `inq quantize`: Incremental Network Quantization of a float ONNX model into the
//! quantized-model format.

use anyhow::Context;
use clap::Args;
use inq_quant::calib::Calibration;
use inq_quant::data::{self, Split};
use inq_quant::quantize::{self, InqConfig, IntConfig, Levels, Strategy};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    /// `inq` (default: Incremental Network Quantization to power-of-two weights) or `uniform`
    /// (the multiplier baseline: post-training per-channel symmetric integers of
    /// `--weight-bits` with power-of-two scales, no re-training).
    #[arg(long, default_value = "inq")]
    pub method: String,
    /// Weight bits of `--method uniform`.
    #[arg(long, default_value_t = 8)]
    pub weight_bits: u32,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// What `inq quantize --method uniform` reports.
#[derive(Serialize, Debug)]
pub struct UniformReport {
    /// The quantized model written.
    pub out: String,
    /// Weight bits.
    pub weight_bits: u32,
    /// Test images evaluated.
    pub images: usize,
    /// Accuracy of the float model.
    pub float_accuracy: Option<f64>,
    /// Accuracy with the quantized weights and float activations.
    pub weights_only_accuracy: Option<f64>,
    /// Accuracy of the integer reference.
    pub integer_accuracy: Option<f64>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Uniform post-training quantization of `model_path` into `out`.
pub fn quantize_uniform(
    model_path: &Path,
    data_dir: Option<&Path>,
    out: &Path,
    q: &QuantOptions,
    bits: u32,
) -> anyhow::Result<UniformReport> {
    let t0 = Instant::now();
    let float = super::eval::load_float(model_path, q.norm.as_deref())?;
    let dir = data::resolve_dir(data_dir)?;
    let train_ds = data::load(&dir, Split::Train)
        .with_context(|| format!("loading the training split from {}", dir.display()))?;
    let mut test = data::load(&dir, Split::Test)
        .with_context(|| format!("loading the test split from {}", dir.display()))?;
    if let Some(n) = q.test_limit {
        test.truncate(n);
    }
    let (_, int) = q.configs(&out.with_extension("checkpoint.json"))?;
    let o = quantize::quantize_uniform(
        &float,
        bits,
        &train_ds,
        Some(&test),
        &int,
        &model_path.display().to_string(),
    )?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    o.quant.save(out)?;
    Ok(UniformReport {
        out: out.display().to_string(),
        weight_bits: bits,
        images: test.len(),
        float_accuracy: o.float_accuracy,
        weights_only_accuracy: o.weights_only_accuracy,
        integer_accuracy: o.integer_accuracy,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// INQ settings shared by `inq quantize` and `inq flow`.
#[derive(Args, Debug, Clone)]
pub struct QuantOptions {
    /// Weight bits 2..=8 (INQ: one zero flag, one sign bit, 2^(b-2) exponents).
    #[arg(long, default_value_t = 5)]
    pub bits: u32,
    /// Per-layer bit width, e.g. `--layer-bits conv1=8,fc2=4`.
    #[arg(long, value_delimiter = ',')]
    pub layer_bits: Vec<String>,
    /// Accumulated portions of quantized weights, e.g. 0.5,0.75,0.875,1 (default: the paper's
    /// schedule for the bit width).
    #[arg(long, value_delimiter = ',')]
    pub schedule: Option<Vec<f64>>,
    /// Which weights to quantize first: pruning (largest magnitude, the paper's default) or random.
    #[arg(long, default_value = "pruning")]
    pub strategy: String,
    /// Level set: paper (Eq. 2, per layer), per-channel, min-error, min-error-per-channel.
    #[arg(long, default_value = "min-error-per-channel")]
    pub levels: String,
    /// Re-training epochs after each INQ step.
    #[arg(long, default_value_t = 2)]
    pub epochs_per_step: usize,
    /// Learning rate of the re-training (restarted every step).
    #[arg(long, default_value_t = 0.005)]
    pub lr: f64,
    /// Activation bits (fixed point with per-tensor power-of-two scales).
    #[arg(long, default_value_t = 8)]
    pub act_bits: u32,
    /// Activation scale calibration: mse or max.
    #[arg(long, default_value = "mse")]
    pub calibration: String,
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
}

/// What `inq quantize` reports.
#[derive(Serialize, Debug)]
pub struct QuantizeReport {
    /// The quantized model written.
    pub out: String,
    /// Other files written (log, plots).
    pub files: Vec<String>,
    /// Test images evaluated.
    pub images: usize,
    /// Accuracy of the float model.
    pub float_accuracy: Option<f64>,
    /// Accuracy with power-of-two weights and float activations.
    pub inq_float_accuracy: Option<f64>,
    /// Accuracy of the integer reference.
    pub integer_accuracy: Option<f64>,
    /// Per INQ step: portion and accuracy.
    pub steps: Vec<quantize::StepLog>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl QuantOptions {
    fn configs(&self, checkpoint: &Path) -> anyhow::Result<(InqConfig, IntConfig)> {
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
        let mut cfg = InqConfig {
            bits: self.bits,
            layer_bits,
            schedule: self.schedule.clone(),
            strategy: self
                .strategy
                .parse::<Strategy>()
                .map_err(anyhow::Error::msg)
                .context("--strategy")?,
            levels: self
                .levels
                .parse::<Levels>()
                .map_err(anyhow::Error::msg)
                .context("--levels")?,
            epochs_per_step: self.epochs_per_step,
            checkpoint: Some(checkpoint.to_path_buf()),
            resume: self.resume,
            ..InqConfig::default()
        };
        cfg.train.lr = self.lr;
        cfg.train.seed = self.seed;
        let calibration = match self.calibration.as_str() {
            "mse" => Calibration::Mse,
            "max" => Calibration::Max,
            other => anyhow::bail!("--calibration `{other}`: use mse or max"),
        };
        let int = IntConfig {
            act_bits: self.act_bits,
            calibration,
            ..IntConfig::default()
        };
        Ok((cfg, int))
    }
}

/// Quantizes `model_path` into `out`; `quiet` hides progress.
pub fn quantize(
    model_path: &Path,
    data_dir: Option<&Path>,
    out: &Path,
    q: &QuantOptions,
    quiet: bool,
) -> anyhow::Result<QuantizeReport> {
    let t0 = Instant::now();
    let float = super::eval::load_float(model_path, q.norm.as_deref())?;
    let dir = data::resolve_dir(data_dir)?;
    let mut train_ds = data::load(&dir, Split::Train)
        .with_context(|| format!("loading the training split from {}", dir.display()))?;
    if let Some(n) = q.limit {
        train_ds.truncate(n);
    }
    let mut test = data::load(&dir, Split::Test)
        .with_context(|| format!("loading the test split from {}", dir.display()))?;
    if let Some(n) = q.test_limit {
        test.truncate(n);
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let checkpoint = out.with_extension("checkpoint.json");
    let (mut cfg, int) = q.configs(&checkpoint)?;
    cfg.train.quiet = quiet;
    let outcome = quantize::quantize(
        &float,
        &train_ds,
        Some(&test),
        &cfg,
        &int,
        &model_path.display().to_string(),
        &mut |s| {
            if !quiet {
                eprintln!(
                    "INQ step {}: {:.1}% of weights quantized, test accuracy {} ({:.1} s)",
                    s.step + 1,
                    100.0 * s.portion,
                    pct(s.test_accuracy),
                    s.seconds
                );
            }
        },
    )?;
    let files = quantize::write_outputs(out, &float, &outcome)?;
    if !q.keep_checkpoint {
        let _ = std::fs::remove_file(&checkpoint);
    }
    Ok(QuantizeReport {
        out: out.display().to_string(),
        files: files
            .iter()
            .skip(1)
            .map(|p| p.display().to_string())
            .collect(),
        images: test.len(),
        float_accuracy: outcome.float_accuracy,
        inq_float_accuracy: outcome.inq_float_accuracy,
        integer_accuracy: outcome.integer_accuracy,
        steps: outcome.inq.log.steps.clone(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.2}%", 100.0 * v))
        .unwrap_or_else(|| "n/a".into())
}

/// Human summary of a quantization.
pub fn summary(r: &QuantizeReport, bits: u32) -> String {
    format!(
        "{}-bit INQ on {} test images: float {}, INQ (float activations) {}, integer {}\nwrote {} and {} ({:.0} s)",
        bits,
        r.images,
        pct(r.float_accuracy),
        pct(r.inq_float_accuracy),
        pct(r.integer_accuracy),
        r.out,
        r.files.join(", "),
        r.seconds
    )
}

/// Runs `inq quantize`.
pub fn run(a: &QuantizeArgs) -> anyhow::Result<()> {
    match a.method.as_str() {
        "inq" => {}
        "uniform" => {
            let r = quantize_uniform(&a.model, a.data.as_deref(), &a.out, &a.q, a.weight_bits)?;
            return crate::output::emit(a.json, &r, || {
                format!(
                    "{}-bit uniform on {} test images: float {}, quantized weights (float activations) {}, integer {}\nwrote {} ({:.0} s)",
                    r.weight_bits,
                    r.images,
                    pct(r.float_accuracy),
                    pct(r.weights_only_accuracy),
                    pct(r.integer_accuracy),
                    r.out,
                    r.seconds
                )
            });
        }
        other => anyhow::bail!("--method `{other}`: use inq or uniform"),
    }
    let r = quantize(&a.model, a.data.as_deref(), &a.out, &a.q, a.json)?;
    crate::output::emit(a.json, &r, || summary(&r, a.q.bits))
}
