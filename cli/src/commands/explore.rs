//! `inq explore`: design-space exploration over lane budgets (and weight bits).

use clap::{Args, ValueEnum};
use inq_flow::explore::{explore, markdown, ExploreRequest, SynthPoints};
use std::path::PathBuf;

use super::quantize::{LevelsArg, QuantOptions};

/// Which points get yosys `synth_xilinx`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthArg {
    /// The analytic Pareto front.
    Pareto,
    /// Every point.
    All,
    /// None.
    None,
}

/// Arguments of `inq explore`.
#[derive(Args, Debug, Clone)]
pub struct ExploreArgs {
    /// Models to explore: quantized `.json` files, or a float `.onnx` model that is quantized
    /// with INQ once per `--bits` entry.
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// Folder of IDX or npy files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Lane budgets to sweep (budgets that give the same folding are reported once; a budget
    /// below the minimum of one lane per conv/dense node gives the minimal design).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,8,16,32,64,128,256,512"
    )]
    pub lanes: Vec<usize>,
    /// Throughput targets (images/s at --clock-mhz) to add as design points: the smallest
    /// design the planner finds for each, with hard-wired engines and wide beats where needed
    /// (e.g. `--fps 20000,60000,125000`).
    #[arg(long, value_delimiter = ',')]
    pub fps: Vec<f64>,
    /// Weight bit widths for a float `.onnx` model (each is one INQ run with the defaults of
    /// `inq quantize`, or the settings below).
    #[arg(long, value_delimiter = ',', default_value = "5")]
    pub bits: Vec<u32>,
    /// INQ level set for `.onnx` models.
    #[arg(long, value_enum, default_value_t = LevelsArg::MinErrorPerChannel)]
    pub levels: LevelsArg,
    /// INQ re-training epochs per step for `.onnx` models.
    #[arg(long, default_value_t = 2)]
    pub epochs_per_step: usize,
    /// Output folder (tables, plot, quantized models, synthesized designs).
    #[arg(long, default_value = "out/explore")]
    pub out: PathBuf,
    /// Write into an existing folder inq did not write, deleting nothing.
    #[arg(long)]
    pub force: bool,
    /// Clock in MHz for images/s.
    #[arg(long, default_value_t = 100.0)]
    pub clock_mhz: f64,
    /// Accuracy on the first N test images only (default: the whole test split).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Images the simulator runs per point to confirm the planned interval.
    #[arg(long, default_value_t = 3)]
    pub sim_images: usize,
    /// Which points get yosys `synth_xilinx`.
    #[arg(long, value_enum, default_value_t = SynthArg::Pareto)]
    pub synth: SynthArg,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inq explore`.
pub fn run(a: &ExploreArgs) -> anyhow::Result<()> {
    let quiet = a.json;
    let req = ExploreRequest {
        models: a.models.clone(),
        data: a.data.clone(),
        lanes: a.lanes.clone(),
        fps: a.fps.clone(),
        bits: a.bits.clone(),
        quantize: {
            let mut q = QuantOptions::defaults()?;
            q.levels = a.levels;
            q.epochs_per_step = a.epochs_per_step;
            q.request(PathBuf::new(), PathBuf::new(), a.data.clone(), quiet)?
        },
        out: a.out.clone(),
        clock_mhz: a.clock_mhz,
        limit: a.limit,
        sim_images: a.sim_images,
        synth: match a.synth {
            SynthArg::Pareto => SynthPoints::Pareto,
            SynthArg::All => SynthPoints::All,
            SynthArg::None => SynthPoints::None,
        },
        quiet,
        force: a.force,
    };
    let r = explore(&req, |line| {
        if !quiet {
            eprintln!("{line}");
        }
    })?;
    crate::output::emit(a.json, &r, || {
        format!(
            "{}\nwrote {} ({:.0} s)",
            markdown(&r.points, r.images, r.clock_mhz).trim_end(),
            r.files.join(", "),
            r.seconds
        )
    })
}
