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
    /// A quantized model (`.json`, inq-quantized-model format) or a float ONNX model (`.onnx`).
    pub model: PathBuf,
    /// Input normalization of a float ONNX model, e.g. `mean=0.2860,std=0.3530` or
    /// `scale=1/255` (default: the one recorded in the file, else x/255).
    #[arg(long)]
    pub norm: Option<String>,
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
    /// Accuracy of the float model (ONNX: the model itself; quantized: power-of-two weights
    /// with float activations), fraction in 0..1, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub float_accuracy: Option<f64>,
    /// Accuracy of the integer reference (quantized models only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integer_accuracy: Option<f64>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Integer-reference accuracy of `model` on `ds`, using all cores.
pub fn integer_accuracy(model: &QuantModel, ds: &Dataset) -> anyhow::Result<f64> {
    let [c, h, w] = model.input.shape;
    let f = model.input.format;
    if c != ds.channels || h != ds.rows || w != ds.cols || f.bits != 8 || f.signed {
        bail!(
            "model `{}` expects input {c}×{h}×{w} of {}-bit {} integers; the dataset has {}×{}×{} 8-bit pixels",
            model.name,
            f.bits,
            if f.signed { "signed" } else { "unsigned" },
            ds.channels,
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

/// True when `path` holds a float ONNX model rather than a quantized-model JSON file.
pub fn is_onnx(path: &std::path::Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    {
        return true;
    }
    std::fs::read(path)
        .map(|b| b.iter().find(|c| !c.is_ascii_whitespace()) != Some(&b'{'))
        .unwrap_or(false)
}

/// Loads a float ONNX model with its normalization (command line, then file, then x/255).
pub fn load_float(
    path: &std::path::Path,
    norm: Option<&str>,
) -> anyhow::Result<inq_quant::graph::FloatModel> {
    let imp = inq_quant::onnx::import_full(path)?;
    for n in &imp.notes {
        eprintln!("note: {n}");
    }
    let mut model = imp.model;
    model.normalization = match norm {
        Some(s) => {
            inq_quant::graph::Normalization::parse(s).with_context(|| format!("--norm {s}"))?
        }
        None => imp.normalization.unwrap_or_default(),
    };
    Ok(model)
}

/// Runs `inq eval`.
pub fn run(a: &EvalArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let dir = data::resolve_dir(a.data.as_deref())?;
    let mut ds = data::load(&dir, Split::Test)
        .with_context(|| format!("loading the test split from {}", dir.display()))?;
    if let Some(n) = a.limit {
        ds.truncate(n);
    }
    let (float_accuracy, integer_accuracy) = if is_onnx(&a.model) {
        let model = load_float(&a.model, a.norm.as_deref())?;
        (
            Some(inq_quant::forward::accuracy(&model, &ds)?.fraction()),
            None,
        )
    } else {
        let model = QuantModel::load(&a.model)?;
        let float = inq_quant::dequant::float_view(&model)
            .ok()
            .map(|f| inq_quant::forward::accuracy(&f, &ds).map(|a| a.fraction()))
            .transpose()?;
        (float, Some(integer_accuracy(&model, &ds)?))
    };
    let report = EvalReport {
        model: a.model.display().to_string(),
        images: ds.len(),
        float_accuracy,
        integer_accuracy,
        seconds: t0.elapsed().as_secs_f64(),
    };
    crate::output::emit(a.json, &report, || {
        let mut parts = Vec::new();
        if let Some(f) = report.float_accuracy {
            let what = if report.integer_accuracy.is_some() {
                "float-activation accuracy"
            } else {
                "float accuracy"
            };
            parts.push(format!("{what} {:.2}%", 100.0 * f));
        }
        if let Some(i) = report.integer_accuracy {
            parts.push(format!("integer accuracy {:.2}%", 100.0 * i));
        }
        format!(
            "{}: {} on {} test images ({:.1} s)",
            report.model,
            parts.join(", "),
            report.images,
            report.seconds
        )
    })
}
