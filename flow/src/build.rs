//! `inq gen`: from a quantized model to a design folder — plan the hardware, size the skip
//! FIFOs by simulation (`docs/hardware.md` §2.2), write the Verilog. Also loads the model a
//! MAC choice needs (the int8 multiplier baseline from an INQ or a float model).
//!
//! Owns the sequence, not the steps: planning is `inq-hdl`, sizing `inq-sim`, writing
//! `inq-codegen`.

use std::path::Path;
use std::time::Instant;

use inq_design::Manifest;
use inq_hdl::{Design, FoldingRequest};
use inq_model::{QuantModel, WeightKind};
use serde::Serialize;

use crate::error::{stage, Context, FlowError};

/// Which MAC datapath to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mac {
    /// INQ power-of-two weights, shift-add lanes (the default).
    #[default]
    Shift,
    /// The int8 baseline: uniform integer weights, one multiplier per lane.
    Multiply,
}

/// How the skip FIFOs (fork outputs) get their depths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FifoDepths {
    /// The skip rule, then the smallest depths that keep the interval, by simulation.
    #[default]
    Simulated,
    /// The skip rule's depths (an upper bound).
    Rule,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// PE/SIMD of every conv/dense node.
    pub folding: FoldingRequest,
    /// Nodes to unroll fully (constant weights).
    pub unroll: Vec<String>,
    /// Skip-FIFO depths.
    pub fifo_depths: FifoDepths,
    /// Target clock in MHz.
    pub clock_mhz: f64,
    /// Write into a folder `inq` did not write (never deleting anything).
    pub force: bool,
    /// Where the pipeline registers come from.
    pub pipelining: Pipelining,
    /// Elements per beat on the streams (`docs/hardware.md` §2.1, `inq_hdl::choose_beats`).
    pub beats: inq_hdl::BeatChoice,
}

/// How the plan places its pipeline registers (`docs/hardware.md` §12).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pipelining {
    /// The fewest registers that keep every engine's estimated path within the period of
    /// `mhz` on `family` (`inq_hdl::stage_to_clock`): the adder-tree stages of hard-wired
    /// engines, the read, weight and datapath registers or schedule flags of ROM-fed ones,
    /// and on 7-series the row tests from difference registers. The default
    /// ([`Pipelining::default_target`]): 7-series at 200 MHz, the timing proxy's 6-level
    /// target.
    ToClock {
        /// The family whose delays the estimate uses.
        family: inq_hdl::TimingFamily,
        /// The clock to fit, MHz.
        mhz: f64,
        /// Where the multipliers go (int8 engines): DSP blocks, or logic (the planner then
        /// splits them in registered halves).
        multipliers: inq_hdl::Multipliers,
    },
    /// A register after every this many adder levels of the hard-wired engines' trees (0:
    /// none) and no other register: fixed stages without a clock target (`inq gen
    /// --pipeline-for none` takes the plan's
    /// [`inq_hdl::ops::pipeline::ADDER_LEVELS_PER_STAGE`]).
    TreeLevels(u32),
}

impl Pipelining {
    /// The default: pipelining for 7-series at its default clock for a design clocked at
    /// `clock_mhz` (200 MHz, or `clock_mhz` when that is faster).
    pub fn default_target(clock_mhz: f64) -> Self {
        Self::default_for(inq_hdl::TimingFamily::Xilinx7, clock_mhz)
    }
    /// Pipelining for `family` at its default clock for a design clocked at `clock_mhz`
    /// ([`inq_hdl::TimingFamily::default_pipeline_mhz`]: on 7-series at least 200 MHz).
    pub fn default_for(family: inq_hdl::TimingFamily, clock_mhz: f64) -> Self {
        Self::to_clock(family, None, clock_mhz, inq_hdl::Multipliers::DspBlocks)
    }
    /// Pipelining for `family` at `mhz`, or without it at the family's default clock for a
    /// design clocked at `clock_mhz`, with the multipliers where `multipliers` says.
    pub fn to_clock(
        family: inq_hdl::TimingFamily,
        mhz: Option<f64>,
        clock_mhz: f64,
        multipliers: inq_hdl::Multipliers,
    ) -> Self {
        Pipelining::ToClock {
            family,
            mhz: mhz.unwrap_or_else(|| family.default_pipeline_mhz(clock_mhz)),
            multipliers,
        }
    }
}

/// What `inq gen` did.
#[derive(Serialize, Debug)]
pub struct BuildReport {
    /// Output folder.
    pub out: String,
    /// The manifest written.
    pub manifest: Manifest,
    /// The skip-FIFO sizing, when it ran.
    pub sizing: Option<inq_sim::SizingReport>,
    /// The registers chosen for the clock (with [`Pipelining::ToClock`]).
    pub clock_fit: Option<inq_hdl::ClockFit>,
    /// Seconds spent planning, sizing and generating.
    pub seconds: f64,
}

/// Images simulated when sizing the skip FIFOs.
pub const SIZING_IMAGES: usize = 4;

/// Plans the design of `model` and, when asked and the design has skip FIFOs, minimizes their
/// depths by simulation.
pub fn plan(model: &QuantModel, req: &BuildRequest) -> Result<Planned, FlowError> {
    let mut design = inq_hdl::plan_with(model, &req.folding, &req.unroll, req.beats)?;
    let mut clock_fit = None;
    match req.pipelining {
        Pipelining::TreeLevels(l) => inq_hdl::stage_adder_trees(&mut design, l),
        Pipelining::ToClock {
            family,
            mhz,
            multipliers,
        } => {
            if !(mhz.is_finite() && mhz > 0.0) {
                return Err(FlowError::Input(format!(
                    "clock {mhz} MHz: must be positive to pipeline for it"
                )));
            }
            clock_fit = Some(inq_hdl::stage_to_clock(
                &mut design,
                family,
                mhz,
                multipliers,
            ));
        }
    }
    if req.fifo_depths == FifoDepths::Rule || !design.streams.iter().any(|s| s.skip) {
        return Ok(Planned {
            design,
            sizing: None,
            clock_fit,
        });
    }
    let (sized, report) = inq_sim::minimize_skip_fifos(&design, SIZING_IMAGES)
        .ctx(|| "sizing the skip FIFOs by simulation".to_string())?;
    Ok(Planned {
        design: sized,
        sizing: Some(report),
        clock_fit,
    })
}

/// A planned design and how it was planned.
pub struct Planned {
    /// The design.
    pub design: Design,
    /// The skip-FIFO sizing, when it ran.
    pub sizing: Option<inq_sim::SizingReport>,
    /// The registers chosen for the clock (with [`Pipelining::ToClock`]).
    pub clock_fit: Option<inq_hdl::ClockFit>,
}

/// Plans, sizes and writes the design folder `out` for `model`.
pub fn build(
    model: &QuantModel,
    out: &Path,
    req: &BuildRequest,
) -> Result<(BuildReport, Design), FlowError> {
    let t0 = Instant::now();
    let Planned {
        design,
        sizing,
        clock_fit,
    } = plan(model, req)?;
    let manifest = inq_codegen::generate(
        &design,
        model,
        out,
        &inq_codegen::GenOptions {
            clock_mhz: req.clock_mhz,
            force: req.force,
        },
    )
    .ctx(|| format!("writing {}", out.display()))?;
    Ok((
        BuildReport {
            out: out.display().to_string(),
            manifest,
            sizing,
            clock_fit,
            seconds: t0.elapsed().as_secs_f64(),
        },
        design,
    ))
}

/// The model to build hardware for from `path`, per `mac`: a quantized model as is (shift-add
/// needs power-of-two weights); for the multiplier baseline, an INQ model converted losslessly
/// to integer weights, or a float ONNX model quantized uniformly to `weight_bits` (calibrated
/// on the training split of `data`).
pub fn load_for_mac(
    path: &Path,
    mac: Mac,
    weight_bits: u32,
    data: Option<&Path>,
) -> Result<QuantModel, FlowError> {
    let is_onnx = crate::accuracy::is_onnx(path);
    match mac {
        Mac::Shift => {
            if is_onnx {
                return Err(FlowError::Input(format!(
                    "{}: a float model needs quantizing first (`inq quantize`), or use --mac multiply for the uniform int baseline",
                    path.display()
                )));
            }
            let model = QuantModel::load(path)?;
            if inq_model::convert::model_weight_kind(&model) != Some(WeightKind::Pow2) {
                return Err(FlowError::Input(format!(
                    "{}: the model has uniform integer weights; shift-add lanes need INQ power-of-two weights (use --mac multiply)",
                    path.display()
                )));
            }
            Ok(model)
        }
        Mac::Multiply => {
            if is_onnx {
                let float = crate::float::load_float(path, None)?;
                let dir = inq_quant::data::resolve_dir(data)?;
                let train = inq_quant::data::load(&dir, inq_quant::data::Split::Train)
                    .ctx(|| format!("loading the training split from {}", dir.display()))?;
                let out = inq_quant::quantize::quantize_uniform(
                    &float,
                    weight_bits,
                    &train,
                    None,
                    &inq_quant::quantize::IntConfig::default(),
                    &path.display().to_string(),
                )
                .map_err(stage)
                .ctx(|| format!("uniform quantization of {}", path.display()))?;
                Ok(out.quant)
            } else {
                let model = QuantModel::load(path)?;
                inq_model::convert::pow2_to_int(&model)
                    .ctx(|| format!("converting {} to integer weights", path.display()))
            }
        }
    }
}
