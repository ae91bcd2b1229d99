//! `inq train`: train the built-in LeNet-class float CNN and export it as ONNX.

use anyhow::Context;
use clap::Args;
use inq_quant::data::{self, Split};
use inq_quant::train::{self, LrSchedule, TrainConfig};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `inq train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Folder of IDX or npy files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Passes over the training split.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Output ONNX file.
    #[arg(long, default_value = "out/float.onnx")]
    pub out: PathBuf,
    /// Base learning rate (SGD with momentum 0.9, weight decay 5e-4, cosine schedule).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Seed of the initialization and the shuffling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Train on the first N training images only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// What `inq train` reports.
#[derive(Serialize, Debug)]
pub struct TrainReport {
    /// The ONNX file written.
    pub out: String,
    /// Training images.
    pub train_images: usize,
    /// Test accuracy of the trained model (fraction).
    pub float_accuracy: f64,
    /// Per-epoch log.
    pub epochs: Vec<train::EpochLog>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Runs `inq train`.
pub fn run(a: &TrainArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let dir = data::resolve_dir(a.data.as_deref())?;
    let mut train_ds = data::load(&dir, Split::Train)
        .with_context(|| format!("loading the training split from {}", dir.display()))?;
    if let Some(n) = a.limit {
        train_ds.truncate(n);
    }
    let test = data::load(&dir, Split::Test)
        .with_context(|| format!("loading the test split from {}", dir.display()))?;
    let mut model = train::lenet([train_ds.channels, train_ds.rows, train_ds.cols], a.seed);
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        seed: a.seed,
        schedule: LrSchedule::Cosine { min_factor: 0.0 },
        quiet: a.json,
        ..TrainConfig::default()
    };
    let quiet = a.json;
    let log = train::train(&mut model, &train_ds, &cfg, &mut |e| {
        if !quiet {
            eprintln!(
                "epoch {:>3}: loss {:.4}, train accuracy {:.2}%, lr {:.4} ({:.1} s)",
                e.epoch + 1,
                e.loss,
                100.0 * e.train_accuracy,
                e.lr,
                e.seconds
            );
        }
    })?;
    let float_accuracy = inq_quant::forward::accuracy(&model, &test)?.fraction();
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    inq_quant::onnx::export_float(&model, &a.out)?;
    let report = TrainReport {
        out: a.out.display().to_string(),
        train_images: train_ds.len(),
        float_accuracy,
        epochs: log.epochs,
        seconds: t0.elapsed().as_secs_f64(),
    };
    crate::output::emit(a.json, &report, || {
        format!(
            "trained LeNet on {} images for {} epochs: test accuracy {:.2}%; wrote {} ({:.0} s)",
            report.train_images,
            a.epochs,
            100.0 * report.float_accuracy,
            report.out,
            report.seconds
        )
    })
}
