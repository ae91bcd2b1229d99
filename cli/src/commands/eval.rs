//! `inq eval`: accuracy on the test split.

use anyhow::{bail, Context};
use clap::Args;
use inq_model::{QuantModel, Reference};
use inq_quant::data::{self, Dataset, Split};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `inq eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A quantized model (`.json`, inq-quantized-model format).
    pub model: PathBuf,
    /// Folder of IDX files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Evaluate only the first N test images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// The result of `inq eval`.
#[derive(Serialize, Debug)]
pub struct EvalReport {
    /// The model file.
    pub model: String,
    /// Images evaluated.
    pub images: usize,
    /// Accuracy of the integer reference (fraction in 0..1).
    pub integer_accuracy: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Integer-reference accuracy of `model` on `ds`, using all cores.
pub fn integer_accuracy(model: &QuantModel, ds: &Dataset) -> anyhow::Result<f64> {
    let [c, h, w] = model.input.shape;
    let f = model.input.format;
    if c != 1 || h != ds.rows || w != ds.cols || f.bits != 8 || f.signed {
        bail!(
            "model `{}` expects input {c}×{h}×{w} of {}-bit {} integers; the dataset has 1×{}×{} 8-bit pixels",
            model.name,
            f.bits,
            if f.signed { "signed" } else { "unsigned" },
            ds.rows,
            ds.cols
        );
    }
    let reference = Reference::new(model)?;
    let n = ds.len();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(n.max(1));
    let correct = std::thread::scope(|s| -> anyhow::Result<usize> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let reference = &reference;
                s.spawn(move || -> anyhow::Result<usize> {
                    let mut ok = 0;
                    let mut i = t;
                    while i < n {
                        let x: Vec<i64> = ds.image(i).iter().map(|&p| i64::from(p)).collect();
                        let out = reference.run(&x)?;
                        if out.argmax == usize::from(ds.labels[i]) {
                            ok += 1;
                        }
                        i += threads;
                    }
                    Ok(ok)
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h
                .join()
                .map_err(|_| anyhow::anyhow!("evaluation thread panicked"))??;
        }
        Ok(total)
    })?;
    Ok(correct as f64 / n.max(1) as f64)
}

/// Runs `inq eval`.
pub fn run(a: &EvalArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let model = QuantModel::load(&a.model)?;
    let dir = data::resolve_dir(a.data.as_deref())?;
    let mut ds = data::load_idx(&dir, Split::Test)
        .with_context(|| format!("loading the test split from {}", dir.display()))?;
    if let Some(n) = a.limit {
        ds.truncate(n);
    }
    let acc = integer_accuracy(&model, &ds)?;
    let report = EvalReport {
        model: a.model.display().to_string(),
        images: ds.len(),
        integer_accuracy: acc,
        seconds: t0.elapsed().as_secs_f64(),
    };
    crate::output::emit(a.json, &report, || {
        format!(
            "{}: integer accuracy {:.2}% on {} test images ({:.1} s)",
            report.model,
            100.0 * report.integer_accuracy,
            report.images,
            report.seconds
        )
    })
}
