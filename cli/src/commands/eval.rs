//! `inq eval`: accuracy on the test split.

use clap::Args;
use inq_model::QuantModel;
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
    #[command(flatten)]
    pub images: super::ImageArgs,
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

/// Runs `inq eval`.
pub fn run(a: &EvalArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let ds = a.images.dataset()?;
    let (float_accuracy, integer_accuracy) = if inq_flow::accuracy::is_onnx(&a.model) {
        let (model, notes) = inq_flow::float::load_float_with_notes(&a.model, a.norm.as_deref())?;
        for n in notes {
            eprintln!("note: {n}");
        }
        (
            Some(inq_quant::forward::accuracy(&model, &ds)?.fraction()),
            None,
        )
    } else {
        let model = QuantModel::load(&a.model)?;
        let float = match inq_quant::dequant::float_view(&model) {
            Ok(f) => Some(inq_quant::forward::accuracy(&f, &ds)?.fraction()),
            Err(_) => None,
        };
        (
            float,
            Some(inq_flow::accuracy::integer_accuracy(&model, &ds)?),
        )
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
