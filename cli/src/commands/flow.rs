//! `inq flow`: the main job in one command — quantize → eval → gen → sim → verify → report.

use clap::Args;
use inq_flow::flow::{default_folding, default_model, run as run_flow, FlowRequest, Start};
use std::path::PathBuf;

use super::gen::FoldArgs;
use super::quantize::QuantOptions;
use super::train::ArchArg;

/// Arguments of `inq flow` (without a folding option the design gets the architecture's
/// default lane budget: 64 for LeNet, 256 for ResNet-8).
#[derive(Args, Debug, Clone)]
pub struct FlowArgs {
    /// Built-in architecture whose committed float model the flow starts from
    /// (`models/fashion_<arch>.onnx`).
    #[arg(long, value_enum, default_value_t = ArchArg::Lenet)]
    pub arch: ArchArg,
    /// Float ONNX model to start from instead (any supported network).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Start from an already quantized model instead (skips quantization).
    #[arg(long, conflicts_with = "model")]
    pub quantized: Option<PathBuf>,
    /// Folder of IDX or npy files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output folder: created, or replaced atomically at the end if inq wrote it.
    #[arg(long, default_value = "out/flow")]
    pub out: PathBuf,
    /// Write into an existing folder inq did not write, deleting nothing.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub q: QuantOptions,
    #[command(flatten)]
    pub fold: FoldArgs,
    /// Target clock in MHz.
    #[arg(long, default_value_t = 100.0)]
    pub clock_mhz: f64,
    /// Test images for simulation and Verilator verification.
    #[arg(long, default_value_t = 500)]
    pub images: usize,
    /// Back-pressure during simulation and verification.
    #[arg(long, default_value_t = 0.1)]
    pub stall_rate: f64,
    /// Synthesis flows for the report.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [super::FlowArg::Xilinx])]
    pub flows: Vec<super::FlowArg>,
    /// Skip the yosys report (stage 6).
    #[arg(long, conflicts_with = "flows")]
    pub no_report: bool,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inq flow`.
pub fn run(a: &FlowArgs) -> anyhow::Result<()> {
    let arch = a.arch.arch();
    let start = match (&a.quantized, &a.model) {
        (Some(q), _) => Start::Quantized(q.clone()),
        (None, Some(m)) => Start::Float(m.clone()),
        (None, None) => Start::Float(default_model(arch)),
    };
    // every option of `inq gen` (folding, unrolling, pipelining, beats, FIFO depths)
    let build = a.fold.build(a.clock_mhz, default_folding(arch), a.force)?;
    let req = FlowRequest {
        start,
        quantize: a
            .q
            .request(PathBuf::new(), PathBuf::new(), a.data.clone(), a.json)?,
        build,
        data: a.data.clone(),
        out: a.out.clone(),
        images: a.images,
        stall_rate: a.stall_rate,
        flows: if a.no_report {
            Vec::new()
        } else {
            super::flows(&a.flows)
        },
        quiet: a.json,
    };
    let s = run_flow(&req)?;
    let first = a.flows.first().map(|f| f.flow().name()).unwrap_or("-");
    crate::output::emit(a.json, &s, || s.summary(a.clock_mhz, first))?;
    if !s.passed {
        anyhow::bail!("the flow found mismatches (see {})", s.report);
    }
    Ok(())
}
