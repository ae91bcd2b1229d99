//! `inq gen`: plan the hardware for a quantized model and write its design folder.

use clap::{Args, ValueEnum};
use inq_flow::build::{build, load_for_mac, BuildRequest, FifoDepths, Mac, Pipelining};
use inq_hdl::{Folding, FoldingRequest};
use std::path::PathBuf;

/// Which MAC datapath to generate.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MacArg {
    /// INQ power-of-two weights, shift-add lanes.
    #[default]
    Shift,
    /// The int8 baseline: uniform integer weights, one multiplier per lane (an INQ `.json` is
    /// converted losslessly; a float `.onnx` is quantized uniformly to `--weight-bits`).
    Multiply,
}

/// The FPGA family the planner pipelines for.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FamilyArg {
    /// Xilinx 7-series (LUT6), as yosys `synth_xilinx` maps it.
    #[default]
    Xilinx7,
    /// Xilinx 7-series without DSP blocks (`synth_xilinx -nodsp`): an int8 design's
    /// multipliers are logic, split in registered halves.
    Xilinx7Nodsp,
    /// iCE40 UltraPlus and LP parts (`up5k`, …).
    Ice40Up,
    /// iCE40 HX parts (`hx8k`, …).
    Ice40Hx,
    /// No clock target: only the hard-wired engines' adder trees get registers, two adder
    /// levels per stage (see --tree-levels).
    None,
}

impl FamilyArg {
    /// The family of the clock estimate (`None` for `none`).
    fn family(self) -> Option<inq_hdl::TimingFamily> {
        match self {
            FamilyArg::Xilinx7 | FamilyArg::Xilinx7Nodsp => Some(inq_hdl::TimingFamily::Xilinx7),
            FamilyArg::Ice40Up => Some(inq_hdl::TimingFamily::Ice40Up),
            FamilyArg::Ice40Hx => Some(inq_hdl::TimingFamily::Ice40Hx),
            FamilyArg::None => None,
        }
    }
    /// Where the multipliers go.
    fn multipliers(self) -> inq_hdl::Multipliers {
        match self {
            FamilyArg::Xilinx7Nodsp => inq_hdl::Multipliers::Logic,
            _ => inq_hdl::Multipliers::DspBlocks,
        }
    }
}

/// How wide the streams' beats are.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BeatsArg {
    /// With --target-fps, the narrowest beats that meet it (hard-wiring the nodes no ROM-fed
    /// folding brings there); otherwise one element per beat.
    #[default]
    Auto,
    /// One element per beat on every stream.
    One,
    /// The widest beats each stream's two ends take (a hard-wired engine emits a whole pixel
    /// per beat).
    Widest,
}

/// How the skip FIFOs get their depths.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FifoDepthsArg {
    /// The skip rule, then the smallest depths that keep the interval, by simulation.
    #[default]
    Simulated,
    /// The skip rule's depths (an upper bound; no simulation).
    Rule,
}

/// How to fold the conv/dense nodes (at most one of these; default: one lane per node).
#[derive(Args, Debug, Clone, Default)]
pub struct FoldArgs {
    /// Explicit per-node PE/SIMD from a TOML or JSON file (`[[layer]] name = .. pe = .. simd = ..`).
    #[arg(long, conflicts_with_all = ["lanes", "target_fps"])]
    pub fold: Option<PathBuf>,
    /// Fastest design within this many shift-add lanes in total.
    #[arg(long, conflicts_with = "target_fps")]
    pub lanes: Option<usize>,
    /// Smallest design reaching this many images per second at --clock-mhz: per conv/dense
    /// node the fewest ROM-fed lanes fast enough, or the hard-wired engine where its LUT
    /// estimate is lower.
    #[arg(long)]
    pub target_fps: Option<f64>,
    /// With --target-fps: ROM-fed lanes only, no hard-wired engine (except --unroll).
    #[arg(long, requires = "target_fps")]
    pub no_hard_wired: bool,
    /// Fully unroll these conv/dense nodes (comma-separated names as in a folding file):
    /// PE × SIMD = the whole node (a conv's whole window: SIMD = kh·kw·C), constant weights
    /// wired into the datapath, no ROM. Dense layers and convolutions of any kernel,
    /// depthwise ones too. Combines with the options above (a lane budget or throughput
    /// target then applies to the other nodes).
    #[arg(long, value_delimiter = ',')]
    pub unroll: Vec<String>,
    /// Adder levels per pipeline stage in the adder trees of hard-wired engines (a register
    /// after every L levels; 0: none, the whole tree in one cycle) and no other register,
    /// instead of pipelining for a clock.
    #[arg(long, value_name = "L", conflicts_with_all = ["pipeline_for", "pipeline_mhz"])]
    pub tree_levels: Option<u32>,
    /// Pipeline for a clock on this FPGA family (default: 7-series at 200 MHz, the timing
    /// proxy's 6-level target): per hard-wired engine the fewest adder tree registers whose
    /// estimated path fits in the period; per ROM-fed engine whose path misses it read,
    /// weight or datapath registers (the datapath register inside the lanes' tree when
    /// nothing else fits) or registered schedule flags; on xilinx7 also the row tests of
    /// every conv and dense engine from difference registers. No register changes a value
    /// or the interval (some add a cycle of first-image latency). The plan's clock estimate
    /// decides; `inq report --flows`/`inq impl` compare it with the tools. Prints what still
    /// misses. `xilinx7-nodsp`: 7-series without DSP blocks, an int8 design's multipliers in
    /// logic, split in registered halves. `none`: no clock target.
    #[arg(long, value_enum, value_name = "FAMILY", default_value_t)]
    pub pipeline_for: FamilyArg,
    /// The clock to pipeline for, in MHz (default: on xilinx7 200 MHz, or --clock-mhz when
    /// that is faster; on iCE40 --clock-mhz).
    #[arg(long, value_name = "MHZ")]
    pub pipeline_mhz: Option<f64>,
    /// How the skip FIFOs of residual connections get their depths.
    #[arg(long, value_enum, default_value_t = FifoDepthsArg::Simulated)]
    pub fifo_depths: FifoDepthsArg,
    /// Elements per beat on the streams (wide beats carry several channels of a pixel:
    /// hard-wired engines, ROM-fed engines' inputs, tiled pools and forks take them).
    #[arg(long, value_enum, default_value_t = BeatsArg::Auto)]
    pub beats: BeatsArg,
}

impl FoldArgs {
    /// The folding request these arguments describe (`default` when none is given).
    pub fn request(
        &self,
        clock_mhz: f64,
        default: FoldingRequest,
    ) -> anyhow::Result<FoldingRequest> {
        Ok(if let Some(f) = &self.fold {
            FoldingRequest::Explicit(Folding::load(f)?)
        } else if let Some(n) = self.lanes {
            FoldingRequest::LaneBudget(n)
        } else if let Some(fps) = self.target_fps {
            FoldingRequest::Throughput {
                fps,
                clock_mhz,
                hard_wired: !self.no_hard_wired,
            }
        } else {
            default
        })
    }

    /// Where the pipeline registers come from: `--tree-levels`, else `--pipeline-for` at
    /// `--pipeline-mhz` or the family's default clock for `clock_mhz`.
    pub fn pipelining(&self, clock_mhz: f64) -> anyhow::Result<Pipelining> {
        if let Some(l) = self.tree_levels {
            return Ok(Pipelining::TreeLevels(l));
        }
        match (self.pipeline_for.family(), self.pipeline_mhz) {
            (None, Some(_)) => {
                anyhow::bail!(
                    "--pipeline-mhz needs a family to pipeline for, not --pipeline-for none"
                )
            }
            (None, None) => Ok(Pipelining::TreeLevels(
                inq_hdl::ops::pipeline::ADDER_LEVELS_PER_STAGE,
            )),
            (Some(family), mhz) => Ok(Pipelining::to_clock(
                family,
                mhz,
                clock_mhz,
                self.pipeline_for.multipliers(),
            )),
        }
    }

    /// The build request.
    pub fn build(
        &self,
        clock_mhz: f64,
        default: FoldingRequest,
        force: bool,
    ) -> anyhow::Result<BuildRequest> {
        Ok(BuildRequest {
            folding: self.request(clock_mhz, default)?,
            unroll: self.unroll.clone(),
            fifo_depths: match self.fifo_depths {
                FifoDepthsArg::Simulated => FifoDepths::Simulated,
                FifoDepthsArg::Rule => FifoDepths::Rule,
            },
            clock_mhz,
            force,
            pipelining: self.pipelining(clock_mhz)?,
            beats: match self.beats {
                BeatsArg::Auto => inq_hdl::BeatChoice::Auto,
                BeatsArg::One => inq_hdl::BeatChoice::One,
                BeatsArg::Widest => inq_hdl::BeatChoice::Widest,
            },
        })
    }
}

/// Arguments of `inq gen`.
#[derive(Args, Debug, Clone)]
pub struct GenArgs {
    /// The quantized model (`.json`); with `--mac multiply` also a float `.onnx` model, which is
    /// quantized uniformly to `--weight-bits` first.
    pub model: PathBuf,
    /// Shift-add lanes or the multiplier baseline.
    #[arg(long, value_enum, default_value_t = MacArg::Shift)]
    pub mac: MacArg,
    /// Weight bits of the uniform quantization of a float `.onnx` model (`--mac multiply`).
    #[arg(long, default_value_t = 8)]
    pub weight_bits: u32,
    /// Folder of IDX files for the calibration of a float model (default: the Debian package
    /// dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output folder: created, or replaced atomically if inq wrote it (files inq did not write
    /// are kept); any other existing path is refused.
    #[arg(long, default_value = "out/design")]
    pub out: PathBuf,
    /// Write into an existing folder inq did not write, adding inq's files and deleting none.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub fold: FoldArgs,
    /// Target clock in MHz (constraints and throughput figures).
    #[arg(long, default_value_t = 100.0)]
    pub clock_mhz: f64,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inq gen`.
pub fn run(a: &GenArgs) -> anyhow::Result<()> {
    let mac = match a.mac {
        MacArg::Shift => Mac::Shift,
        MacArg::Multiply => Mac::Multiply,
    };
    let model = load_for_mac(&a.model, mac, a.weight_bits, a.data.as_deref())?;
    let req = a
        .fold
        .build(a.clock_mhz, FoldingRequest::Minimal, a.force)?;
    let (report, design) = build(&model, &a.out, &req)?;
    crate::output::emit(a.json, &report, || {
        let mut s = design.summary_table(a.clock_mhz).trim_end().to_string();
        if let Some(z) = &report.sizing {
            s += &format!(
                "\nskip FIFOs sized by simulation ({} runs, {:.1} s): {}",
                z.simulations,
                z.seconds,
                z.streams
                    .iter()
                    .map(|x| format!("stream {}: {} → {}", x.stream, x.old_depth, x.new_depth))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(f) = &report.clock_fit {
            s += &format!("\n{}", f.summary().trim_end());
        }
        s += &format!(
            "\nwrote {} ({} files) in {:.2} s",
            report.out,
            report.manifest.rtl_files.len() + report.manifest.hex_files.len(),
            report.seconds
        );
        s
    })
}
