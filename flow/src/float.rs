//! The float side of a command: loading a float ONNX model with its normalization, and
//! `inq train` (train a built-in architecture, evaluate, export ONNX).

use std::path::{Path, PathBuf};
use std::time::Instant;

use inq_quant::data::{self, Split};
use inq_quant::graph::{FloatModel, Normalization};
use inq_quant::train::{self, Arch, LrSchedule, TrainConfig};
use serde::Serialize;

use crate::error::{stage, Context, FlowError};

/// Loads a float ONNX model with its normalization: `norm` (e.g. `mean=0.2860,std=0.3530`)
/// when given, else the one recorded in the file, else `x/255`. Import notes are returned.
pub fn load_float_with_notes(
    path: &Path,
    norm: Option<&str>,
) -> Result<(FloatModel, Vec<String>), FlowError> {
    let imp = inq_quant::onnx::import_full(path).map_err(stage)?;
    let mut model = imp.model;
    model.normalization = match norm {
        Some(s) => Normalization::parse(s).ctx(|| format!("--norm {s}"))?,
        None => imp.normalization.unwrap_or_default(),
    };
    Ok((model, imp.notes))
}

/// [`load_float_with_notes`] without the notes.
pub fn load_float(path: &Path, norm: Option<&str>) -> Result<FloatModel, FlowError> {
    load_float_with_notes(path, norm).map(|(m, _)| m)
}

/// What `inq train` does.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// The architecture.
    pub arch: Arch,
    /// Folder of IDX or npy files (default: the Debian dataset package).
    pub data: Option<PathBuf>,
    /// Passes over the training split.
    pub epochs: usize,
    /// Base learning rate (SGD momentum 0.9, weight decay 5e-4, cosine schedule).
    pub lr: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Seed of the initialization and the shuffling.
    pub seed: u64,
    /// How the weights start.
    pub init: train::WeightInit,
    /// Train on the first N training images only.
    pub limit: Option<usize>,
    /// The ONNX file to write.
    pub out: PathBuf,
    /// No progress output.
    pub quiet: bool,
}

/// What `inq train` reports.
#[derive(Serialize, Debug)]
pub struct TrainReport {
    /// The architecture.
    pub arch: String,
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

/// Trains `req.arch` on the training split, evaluates it on the test split and exports it.
pub fn train(req: &TrainRequest) -> Result<TrainReport, FlowError> {
    let t0 = Instant::now();
    let dir = data::resolve_dir(req.data.as_deref())?;
    let mut train_ds = data::load(&dir, Split::Train)
        .ctx(|| format!("loading the training split from {}", dir.display()))?;
    if let Some(n) = req.limit {
        train_ds.truncate(n);
    }
    let test = data::load(&dir, Split::Test)
        .ctx(|| format!("loading the test split from {}", dir.display()))?;
    let classes = train_ds
        .labels
        .iter()
        .map(|&l| usize::from(l) + 1)
        .max()
        .unwrap_or(10)
        .max(
            test.labels
                .iter()
                .map(|&l| usize::from(l) + 1)
                .max()
                .unwrap_or(0),
        );
    let mut model = train::build_arch_init(
        req.arch,
        [train_ds.channels, train_ds.rows, train_ds.cols],
        classes,
        req.seed,
        req.init,
    );
    let cfg = TrainConfig {
        epochs: req.epochs,
        batch_size: req.batch_size,
        lr: req.lr,
        seed: req.seed,
        schedule: LrSchedule::Cosine { min_factor: 0.0 },
        quiet: req.quiet,
        ..TrainConfig::default()
    };
    let quiet = req.quiet;
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
    })
    .map_err(stage)
    .ctx(|| format!("training {}", req.arch))?;
    let exported = inq_quant::graph::fold_batchnorm(&model)
        .map_err(stage)
        .ctx(|| "folding batch normalization".to_string())?;
    let float_accuracy = inq_quant::forward::accuracy(&exported, &test)
        .map_err(stage)?
        .fraction();
    if let Some(parent) = req.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        inq_model::interrupt::create_dir_all(parent)
            .map_err(|e| FlowError::Input(format!("{}: {e}", parent.display())))?;
    }
    inq_quant::onnx::export_float(&exported, &req.out)
        .map_err(stage)
        .ctx(|| format!("writing {}", req.out.display()))?;
    Ok(TrainReport {
        arch: req.arch.to_string(),
        out: req.out.display().to_string(),
        train_images: train_ds.len(),
        float_accuracy,
        epochs: log.epochs,
        seconds: t0.elapsed().as_secs_f64(),
    })
}
