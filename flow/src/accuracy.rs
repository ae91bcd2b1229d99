//! Accuracy on a dataset: the integer reference of a quantized model (every core), and the
//! float model or the float view of a quantized one.

use inq_model::{QuantModel, Reference};
use inq_quant::data::Dataset;

use crate::error::{stage, FlowError};

/// Integer-reference accuracy of `model` on `ds`, using every core.
pub fn integer_accuracy(model: &QuantModel, ds: &Dataset) -> Result<f64, FlowError> {
    let [c, h, w] = model.input.shape;
    let f = model.input.format;
    if c != ds.channels || h != ds.rows || w != ds.cols || f.bits != 8 || f.signed {
        return Err(FlowError::Input(format!(
            "model `{}` expects input {c}×{h}×{w} of {}-bit {} integers; the dataset has {}×{}×{} 8-bit pixels",
            model.name,
            f.bits,
            if f.signed { "signed" } else { "unsigned" },
            ds.channels,
            ds.rows,
            ds.cols
        )));
    }
    let reference = Reference::new(model)?;
    let n = ds.len();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(n.max(1));
    let correct = std::thread::scope(|s| -> Result<usize, FlowError> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let reference = &reference;
                s.spawn(move || -> Result<usize, FlowError> {
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
                .map_err(|_| stage("an evaluation thread panicked"))??;
        }
        Ok(total)
    })?;
    Ok(correct as f64 / n.max(1) as f64)
}

/// The test images of `ds` as integers in CHW order, and their labels.
pub fn images_and_labels(ds: &Dataset) -> (Vec<Vec<i64>>, Vec<usize>) {
    let images = (0..ds.len())
        .map(|i| ds.image(i).iter().map(|&p| i64::from(p)).collect())
        .collect();
    let labels = ds.labels.iter().map(|&l| usize::from(l)).collect();
    (images, labels)
}

/// True when `path` holds a float ONNX model rather than a quantized-model JSON file (by
/// extension, else by content: a model file starts with `{`).
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
