//! `inq gen`: plan the hardware for a quantized model and write its Verilog folder.

use anyhow::Context;
use clap::Args;
use inq_hdl::{Folding, FoldingRequest};
use inq_model::QuantModel;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `inq gen`.
#[derive(Args, Debug, Clone)]
pub struct GenArgs {
    /// The quantized model (`.json`); with `--mac multiply` also a float `.onnx` model, which is
    /// quantized uniformly to `--weight-bits` first.
    pub model: PathBuf,
    #[command(flatten)]
    pub mac: MacArgs,
    /// Output folder (replaced atomically).
    #[arg(long, default_value = "out/design")]
    pub out: PathBuf,
    #[command(flatten)]
    pub fold: FoldArgs,
    /// Target clock in MHz (constraints and throughput figures).
    #[arg(long, default_value_t = 100.0)]
    pub clock_mhz: f64,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Which MAC datapath to generate.
#[derive(Args, Debug, Clone, Default)]
pub struct MacArgs {
    /// `shift` (default: INQ power-of-two weights, shift-add lanes) or `multiply` (the int8
    /// baseline: uniform integer weights, one multiplier per lane). With `multiply`, a
    /// quantized `.json` INQ model is converted losslessly to integer weights; a float `.onnx`
    /// is quantized uniformly (needs the training images for activation calibration).
    #[arg(long, default_value = "shift")]
    pub mac: String,
    /// Weight bits of the uniform quantization of a float `.onnx` model (`--mac multiply`).
    #[arg(long, default_value_t = 8)]
    pub weight_bits: u32,
    /// Folder of IDX files for the calibration of a float model (default: the Debian package
    /// dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Loads the model `inq gen` builds hardware for, per `--mac`.
pub fn load_for_mac(path: &Path, mac: &MacArgs) -> anyhow::Result<QuantModel> {
    let is_onnx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    match mac.mac.as_str() {
        "shift" => {
            if is_onnx {
                anyhow::bail!(
                    "{}: a float model needs quantizing first (`inq quantize`), or use --mac multiply for the uniform int baseline",
                    path.display()
                );
            }
            let model = QuantModel::load(path)?;
            if inq_model::convert::model_weight_kind(&model) != Some(inq_model::WeightKind::Pow2) {
                anyhow::bail!(
                    "{}: the model has uniform integer weights; shift-add lanes need INQ power-of-two weights (use --mac multiply)",
                    path.display()
                );
            }
            Ok(model)
        }
        "multiply" => {
            if is_onnx {
                let float = super::eval::load_float(path, None)?;
                let dir = inq_quant::data::resolve_dir(mac.data.as_deref())?;
                let train = inq_quant::data::load(&dir, inq_quant::data::Split::Train)
                    .with_context(|| {
                        format!("loading the training split from {}", dir.display())
                    })?;
                let out = inq_quant::quantize::quantize_uniform(
                    &float,
                    mac.weight_bits,
                    &train,
                    None,
                    &inq_quant::quantize::IntConfig::default(),
                    &path.display().to_string(),
                )
                .with_context(|| format!("uniform quantization of {}", path.display()))?;
                Ok(out.quant)
            } else {
                let model = QuantModel::load(path)?;
                Ok(inq_model::convert::pow2_to_int(&model)
                    .with_context(|| format!("converting {} to integer weights", path.display()))?)
            }
        }
        other => anyhow::bail!("--mac `{other}`: use shift or multiply"),
    }
}

/// How to fold the layers (at most one of these; default: one lane per layer).
#[derive(Args, Debug, Clone, Default)]
pub struct FoldArgs {
    /// Explicit per-layer PE/SIMD from a TOML or JSON file (`[[layer]] name = .. pe = .. simd = ..`).
    #[arg(long, conflicts_with_all = ["lanes", "target_fps"])]
    pub fold: Option<PathBuf>,
    /// Fastest design within this many shift-add lanes in total.
    #[arg(long, conflicts_with = "target_fps")]
    pub lanes: Option<usize>,
    /// Smallest design reaching this many images per second at --clock-mhz.
    #[arg(long)]
    pub target_fps: Option<f64>,
    /// Fully unroll these conv/dense layers (comma-separated layer names as in a folding
    /// file): PE × SIMD = the whole layer, constant weights wired into the datapath, no ROM.
    /// Only dense layers and 1×1 convolutions. Combines with the options above (a lane budget
    /// or throughput target then applies to the other layers).
    #[arg(long, value_delimiter = ',')]
    pub unroll: Vec<String>,
}

impl FoldArgs {
    /// The folding request these arguments describe.
    pub fn request(&self, clock_mhz: f64) -> anyhow::Result<FoldingRequest> {
        Ok(if let Some(f) = &self.fold {
            FoldingRequest::Explicit(Folding::load(f)?)
        } else if let Some(n) = self.lanes {
            FoldingRequest::LaneBudget(n)
        } else if let Some(fps) = self.target_fps {
            FoldingRequest::Throughput { fps, clock_mhz }
        } else {
            FoldingRequest::Minimal
        })
    }
}

/// What `inq gen` reports.
#[derive(Serialize, Debug)]
pub struct GenReport {
    /// Output folder.
    pub out: String,
    /// The manifest written.
    pub manifest: inq_codegen::Manifest,
    /// Seconds spent planning and generating.
    pub seconds: f64,
}

/// Plans and generates; returns the report and the design.
pub fn generate(
    model_path: &Path,
    out: &Path,
    fold: &FoldArgs,
    clock_mhz: f64,
) -> anyhow::Result<(GenReport, inq_hdl::Design)> {
    generate_mac(model_path, &MacArgs::default_shift(), out, fold, clock_mhz)
}

impl MacArgs {
    /// `--mac shift` with the defaults.
    pub fn default_shift() -> Self {
        MacArgs {
            mac: "shift".into(),
            weight_bits: 8,
            data: None,
        }
    }
}

/// [`generate`] with a MAC choice ([`load_for_mac`]).
pub fn generate_mac(
    model_path: &Path,
    mac: &MacArgs,
    out: &Path,
    fold: &FoldArgs,
    clock_mhz: f64,
) -> anyhow::Result<(GenReport, inq_hdl::Design)> {
    let t0 = Instant::now();
    let model = load_for_mac(model_path, mac)?;
    let design = inq_hdl::plan_unrolled(&model, &fold.request(clock_mhz)?, &fold.unroll)
        .with_context(|| format!("planning hardware for {}", model_path.display()))?;
    let manifest =
        inq_codegen::generate(&design, &model, out, &inq_codegen::GenOptions { clock_mhz })
            .with_context(|| format!("writing {}", out.display()))?;
    Ok((
        GenReport {
            out: out.display().to_string(),
            manifest,
            seconds: t0.elapsed().as_secs_f64(),
        },
        design,
    ))
}

/// Runs `inq gen`.
pub fn run(a: &GenArgs) -> anyhow::Result<()> {
    let (report, design) = generate_mac(&a.model, &a.mac, &a.out, &a.fold, a.clock_mhz)?;
    crate::output::emit(a.json, &report, || {
        format!(
            "{}\nwrote {} ({} files) in {:.2} s",
            design.summary_table(a.clock_mhz).trim_end(),
            report.out,
            report.manifest.rtl_files.len() + report.manifest.hex_files.len(),
            report.seconds
        )
    })
}
