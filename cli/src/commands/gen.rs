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
    /// The quantized model (`.json`).
    pub model: PathBuf,
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
    let t0 = Instant::now();
    let model = QuantModel::load(model_path)?;
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
    let (report, design) = generate(&a.model, &a.out, &a.fold, a.clock_mhz)?;
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
