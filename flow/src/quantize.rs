//! `inq quantize`: INQ (or the uniform baseline) of a float ONNX model into a quantized-model
//! file, with its accuracies, log and plots beside it. Owns the sequence (data, quantization,
//! outputs); the method is `inq-quant`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use inq_quant::data::{self, Split};
use inq_quant::quantize::{self, InqConfig, IntConfig};
use serde::Serialize;

use crate::error::{stage, Context, FlowError};

/// Which quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Incremental Network Quantization to power-of-two weights (the default).
    #[default]
    Inq,
    /// The multiplier baseline: post-training per-channel symmetric integers (no re-training).
    Uniform,
}

/// What `inq quantize` does.
#[derive(Debug, Clone)]
pub struct QuantizeRequest {
    /// The float model (ONNX).
    pub model: PathBuf,
    /// Its input normalization, if given on the command line (else the file's, else x/255).
    pub norm: Option<String>,
    /// Folder of IDX or npy files (default: the Debian dataset package).
    pub data: Option<PathBuf>,
    /// The quantized model to write (`.json`); log and plots beside it.
    pub out: PathBuf,
    /// INQ or uniform.
    pub method: Method,
    /// Weight bits of the uniform method.
    pub weight_bits: u32,
    /// INQ settings (the checkpoint path is set beside `out`).
    pub inq: InqConfig,
    /// Integerization settings.
    pub int: IntConfig,
    /// Re-train on the first N training images only.
    pub limit: Option<usize>,
    /// Evaluate on the first N test images only.
    pub test_limit: Option<usize>,
    /// Keep the checkpoint after a successful run.
    pub keep_checkpoint: bool,
    /// No progress output.
    pub quiet: bool,
}

/// What `inq quantize` reports.
#[derive(Serialize, Debug, Default)]
pub struct QuantizeReport {
    /// The method.
    pub method: String,
    /// Weight bits (INQ: the default width; uniform: `weight_bits`).
    pub bits: u32,
    /// The quantized model written.
    pub out: String,
    /// Other files written (log, plots).
    pub files: Vec<String>,
    /// Test images evaluated.
    pub images: usize,
    /// Accuracy of the float model.
    pub float_accuracy: Option<f64>,
    /// Accuracy with the quantized weights and float activations.
    pub inq_float_accuracy: Option<f64>,
    /// Accuracy of the integer reference.
    pub integer_accuracy: Option<f64>,
    /// Per INQ step: portion and accuracy.
    pub steps: Vec<quantize::StepLog>,
    /// The fraction of every layer's weights pruned before INQ (`--sparsity`; 0 = none).
    pub sparsity: f64,
    /// Zero weights of every conv/dense node of the written model.
    pub zeros: Vec<quantize::sparsity::LayerZeros>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.2}%", 100.0 * v))
        .unwrap_or_else(|| "n/a".into())
}

impl QuantizeReport {
    /// The human summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}-bit {} on {} test images: float {}, quantized weights (float activations) {}, integer {}\nwrote {}{}{} ({:.0} s)",
            self.bits,
            if self.method == "inq" { "INQ" } else { "uniform" },
            self.images,
            pct(self.float_accuracy),
            pct(self.inq_float_accuracy),
            pct(self.integer_accuracy),
            self.out,
            if self.files.is_empty() { "" } else { " and " },
            self.files.join(", "),
            self.seconds
        );
        if self.sparsity > 0.0 {
            let zeros: Vec<String> = self
                .zeros
                .iter()
                .map(|z| {
                    format!(
                        "{} {:.1}% ({}/{})",
                        z.name,
                        100.0 * z.fraction(),
                        z.zeros,
                        z.weights
                    )
                })
                .collect();
            s += &format!(
                "\nsparsity {}: zero weights {}",
                self.sparsity,
                zeros.join(", ")
            );
        }
        s
    }
}

/// Quantizes `req.model` into `req.out`.
pub fn quantize(req: &QuantizeRequest) -> Result<QuantizeReport, FlowError> {
    let t0 = Instant::now();
    if req.method == Method::Uniform && req.inq.sparsity != 0.0 {
        return Err(FlowError::Input(
            "--sparsity prunes before INQ; it does not apply to --method uniform".into(),
        ));
    }
    let float = crate::float::load_float(&req.model, req.norm.as_deref())?;
    let dir = data::resolve_dir(req.data.as_deref())?;
    let mut train_ds = data::load(&dir, Split::Train)
        .ctx(|| format!("loading the training split from {}", dir.display()))?;
    if let Some(n) = req.limit {
        train_ds.truncate(n);
    }
    let mut test = data::load(&dir, Split::Test)
        .ctx(|| format!("loading the test split from {}", dir.display()))?;
    if let Some(n) = req.test_limit {
        test.truncate(n);
    }
    if let Some(parent) = req.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        inq_model::interrupt::create_dir_all(parent)
            .map_err(|e| FlowError::Input(format!("{}: {e}", parent.display())))?;
    }
    let source = req.model.display().to_string();
    match req.method {
        Method::Uniform => {
            let o = quantize::quantize_uniform(
                &float,
                req.weight_bits,
                &train_ds,
                Some(&test),
                &req.int,
                &source,
            )
            .map_err(stage)
            .ctx(|| format!("uniform quantization of {source}"))?;
            o.quant.save(&req.out)?;
            Ok(QuantizeReport {
                method: "uniform".into(),
                bits: req.weight_bits,
                out: req.out.display().to_string(),
                files: Vec::new(),
                images: test.len(),
                float_accuracy: o.float_accuracy,
                inq_float_accuracy: o.weights_only_accuracy,
                integer_accuracy: o.integer_accuracy,
                steps: Vec::new(),
                sparsity: 0.0,
                zeros: quantize::sparsity::zero_counts(&o.quant),
                seconds: t0.elapsed().as_secs_f64(),
            })
        }
        Method::Inq => {
            let checkpoint = checkpoint_path(&req.out);
            let mut cfg = req.inq.clone();
            cfg.checkpoint = Some(checkpoint.clone());
            cfg.train.quiet = req.quiet;
            let quiet = req.quiet;
            let of = if cfg.sparsity > 0.0 {
                format!(
                    "of the weights left after pruning {:.0}%",
                    100.0 * cfg.sparsity
                )
            } else {
                "of weights".to_string()
            };
            let outcome = quantize::quantize(
                &float,
                &train_ds,
                Some(&test),
                &cfg,
                &req.int,
                &source,
                &mut |s| {
                    if !quiet {
                        let lr =
                            s.lr.map(|lr| format!(", learning rate {lr} chosen"))
                                .unwrap_or_default();
                        eprintln!(
                            "INQ step {}: {:.1}% {of} quantized, test accuracy {}{lr} ({:.1} s)",
                            s.step + 1,
                            100.0 * s.portion,
                            pct(s.test_accuracy),
                            s.seconds
                        );
                    }
                },
            )
            .map_err(stage)
            .ctx(|| format!("INQ of {source}"))?;
            let files = quantize::write_outputs(&req.out, &float, &outcome)
                .map_err(stage)
                .ctx(|| format!("writing {}", req.out.display()))?;
            if !req.keep_checkpoint {
                let _ = std::fs::remove_file(&checkpoint);
            }
            Ok(QuantizeReport {
                method: "inq".into(),
                bits: req.inq.bits,
                out: req.out.display().to_string(),
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
                sparsity: req.inq.sparsity,
                zeros: quantize::sparsity::zero_counts(&outcome.quant),
                seconds: t0.elapsed().as_secs_f64(),
            })
        }
    }
}

/// The checkpoint written beside a quantized model `out`.
pub fn checkpoint_path(out: &Path) -> PathBuf {
    out.with_extension("checkpoint.json")
}

/// One seed's accuracies in a [`SeedsReport`].
#[derive(Serialize, Debug, Clone)]
pub struct SeedRun {
    /// The seed (shuffling and random partitions).
    pub seed: u64,
    /// The quantized model written for this seed.
    pub out: String,
    /// Accuracy with the quantized weights and float activations.
    pub inq_float_accuracy: Option<f64>,
    /// Accuracy of the integer reference.
    pub integer_accuracy: Option<f64>,
    /// Wall-clock seconds of this seed's run.
    pub seconds: f64,
}

/// Mean, sample standard deviation (0 for one value), minimum and maximum of a set of
/// accuracies.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (`n − 1` in the denominator).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `v`; `None` when `v` is empty.
    pub fn of(v: &[f64]) -> Option<Spread> {
        if v.is_empty() {
            return None;
        }
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = if v.len() > 1 {
            v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Some(Spread {
            mean,
            std: var.sqrt(),
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    fn text(s: Option<Spread>) -> String {
        match s {
            Some(s) => format!(
                "{:.2}% ± {:.2} (min {:.2}, max {:.2})",
                100.0 * s.mean,
                100.0 * s.std,
                100.0 * s.min,
                100.0 * s.max
            ),
            None => "n/a".into(),
        }
    }
}

/// What `inq quantize --seeds` reports: every seed's run and the spread over the seeds.
#[derive(Serialize, Debug)]
pub struct SeedsReport {
    /// Weight bits.
    pub bits: u32,
    /// Test images evaluated.
    pub images: usize,
    /// Accuracy of the float model (the same for every seed).
    pub float_accuracy: Option<f64>,
    /// The runs, in the order of the seeds given.
    pub runs: Vec<SeedRun>,
    /// Spread of the float-activation accuracies.
    pub inq_float: Option<Spread>,
    /// Spread of the integer accuracies.
    pub integer: Option<Spread>,
    /// The summary file written (`<stem>.seeds.json`).
    pub summary_file: String,
    /// Wall-clock seconds of all runs.
    pub seconds: f64,
}

impl SeedsReport {
    /// The human summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}-bit INQ over {} seeds on {} test images: float {}\n  quantized weights (float activations) {}\n  integer {}",
            self.bits,
            self.runs.len(),
            self.images,
            pct(self.float_accuracy),
            Spread::text(self.inq_float),
            Spread::text(self.integer)
        );
        for r in &self.runs {
            s += &format!(
                "\n  seed {}: {} / {} ({:.0} s), {}",
                r.seed,
                pct(r.inq_float_accuracy),
                pct(r.integer_accuracy),
                r.seconds,
                r.out
            );
        }
        s += &format!("\nwrote {} ({:.0} s)", self.summary_file, self.seconds);
        s
    }
}

/// The model file of one seed of a `--seeds` run: `<stem>.seed<S>.<ext>` beside `out`.
pub fn seed_path(out: &Path, seed: u64) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "json".into());
    out.with_file_name(format!("{stem}.seed{seed}.{ext}"))
}

/// Runs [`quantize()`] once per seed (INQ only), each writing `<stem>.seed<S>.json` with its log
/// and plots, then `<stem>.seeds.json` with every run and the spread (mean, sample standard
/// deviation, min, max) of the float-activation and integer accuracies. Nothing is written at
/// `req.out` itself.
pub fn quantize_seeds(req: &QuantizeRequest, seeds: &[u64]) -> Result<SeedsReport, FlowError> {
    if req.method != Method::Inq {
        return Err(FlowError::Input(
            "--seeds repeats the INQ re-training; --method uniform has no seed".into(),
        ));
    }
    if seeds.is_empty() {
        return Err(FlowError::Input("--seeds: no seed given".into()));
    }
    let mut uniq = seeds.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    if uniq.len() != seeds.len() {
        return Err(FlowError::Input(format!(
            "--seeds {}: a seed is repeated",
            seeds
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    let t0 = Instant::now();
    let (mut runs, mut float_accuracy, mut images) = (Vec::new(), None, 0);
    for &seed in seeds {
        let mut r = req.clone();
        r.inq.train.seed = seed;
        r.out = seed_path(&req.out, seed);
        if !req.quiet {
            eprintln!("seed {seed}: {}", r.out.display());
        }
        let rep = quantize(&r)?;
        float_accuracy = rep.float_accuracy;
        images = rep.images;
        runs.push(SeedRun {
            seed,
            out: rep.out,
            inq_float_accuracy: rep.inq_float_accuracy,
            integer_accuracy: rep.integer_accuracy,
            seconds: rep.seconds,
        });
    }
    let all = |f: fn(&SeedRun) -> Option<f64>| -> Option<Spread> {
        let v: Option<Vec<f64>> = runs.iter().map(f).collect();
        v.and_then(|v| Spread::of(&v))
    };
    let summary_path = req.out.with_extension("seeds.json");
    let mut rep = SeedsReport {
        bits: req.inq.bits,
        images,
        float_accuracy,
        inq_float: all(|r| r.inq_float_accuracy),
        integer: all(|r| r.integer_accuracy),
        runs,
        summary_file: summary_path.display().to_string(),
        seconds: 0.0,
    };
    rep.seconds = t0.elapsed().as_secs_f64();
    let text = serde_json::to_string_pretty(&rep)
        .map_err(|e| FlowError::Input(format!("{}: {e}", summary_path.display())))?;
    inq_model::file::write_atomic(&summary_path, text.as_bytes())?;
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_mean_and_sample_deviation() {
        let s = Spread::of(&[0.90, 0.92, 0.94]).unwrap();
        assert!((s.mean - 0.92).abs() < 1e-12);
        assert!((s.std - 0.02).abs() < 1e-12);
        assert_eq!((s.min, s.max), (0.90, 0.94));
        assert_eq!(Spread::of(&[0.5]).unwrap().std, 0.0);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn seed_files_sit_beside_the_output() {
        assert_eq!(
            seed_path(Path::new("out/m.json"), 3),
            PathBuf::from("out/m.seed3.json")
        );
        assert_eq!(seed_path(Path::new("m"), 1), PathBuf::from("m.seed1.json"));
    }
}
