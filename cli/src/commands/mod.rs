//! One module per subcommand: its arguments (clap) and how its result is printed. The work is
//! `inq-flow`'s.

pub mod compare;
pub mod eval;
pub mod explore;
pub mod flow;
pub mod gen;
pub mod implement;
pub mod quantize;
pub mod report;
pub mod sim;
pub mod train;
pub mod verify;

use anyhow::Context;
use clap::{Args, ValueEnum};
use inq_quant::data::{self, Split};
use std::path::PathBuf;

/// Which test images to run.
#[derive(Args, Debug, Clone)]
pub struct ImageArgs {
    /// Folder of IDX or npy files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use only the first N test images.
    #[arg(long)]
    pub limit: Option<usize>,
}

impl ImageArgs {
    /// The test split (IDX or npy), truncated to `--limit`.
    pub fn dataset(&self) -> anyhow::Result<data::Dataset> {
        let dir = data::resolve_dir(self.data.as_deref())?;
        let mut ds = data::load(&dir, Split::Test)
            .with_context(|| format!("loading the test split from {}", dir.display()))?;
        if let Some(n) = self.limit {
            ds.truncate(n);
        }
        Ok(ds)
    }
}

/// Seeded random back-pressure on both sides of the design.
#[derive(Args, Debug, Clone)]
pub struct StallArgs {
    /// Probability per cycle that the input side withholds data and, independently, that the
    /// output side is not ready (0 = back-to-back images, no stalls).
    #[arg(long, default_value_t = 0.0)]
    pub stall_rate: f64,
    /// Seed of the stall pattern.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// How a long run is split over the cores (`inq sim`, `inq verify`).
#[derive(Args, Debug, Clone)]
pub struct ShardArgs {
    /// Split a run of more images than this into shards of consecutive images, each a run of
    /// its own from reset with its own stall seed, merged into one report (0: one run). The
    /// words and cycles depend on this, not on `--jobs`; `inq sim` and `inq verify` with the
    /// same value report the same cycles.
    #[arg(long, default_value_t = inq_flow::run::DEFAULT_SHARD_IMAGES, value_name = "N")]
    pub shard_images: usize,
    /// Shards run at once (0: the number of cores).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub jobs: usize,
}

/// A yosys synthesis flow.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowArg {
    /// Xilinx 7-series (`synth_xilinx`).
    Xilinx,
    /// Xilinx 7-series without DSP blocks (`synth_xilinx -nodsp`).
    XilinxNodsp,
    /// Lattice iCE40 (`synth_ice40`).
    Ice40,
    /// Generic gates (`synth`; slow on large ROMs).
    Generic,
}

impl FlowArg {
    /// The report crate's flow.
    pub fn flow(self) -> inq_report::yosys::Flow {
        use inq_report::yosys::Flow;
        match self {
            FlowArg::Xilinx => Flow::Xilinx,
            FlowArg::XilinxNodsp => Flow::XilinxNoDsp,
            FlowArg::Ice40 => Flow::Ice40,
            FlowArg::Generic => Flow::Generic,
        }
    }
}

/// The flows of a list of arguments.
pub fn flows(list: &[FlowArg]) -> Vec<inq_report::yosys::Flow> {
    list.iter().map(|f| f.flow()).collect()
}
