//! `manifest.json`: what a generated design folder holds and how to drive it (file lists, the
//! folder to run tools in, port widths, the input stream, the observable streams, the
//! per-engine summary, the claimed performance) and the complete [`Design`].
//!
//! Owns the types and their JSON; the checks against `model.json` are [`crate::folder`].

use inq_hdl::{Design, Resources};
use serde::{Deserialize, Serialize};

/// The value of the manifest's `format` key.
pub const MANIFEST_FORMAT: &str = "inq-design-manifest";
/// The manifest version this build writes and reads.
pub const MANIFEST_VERSION: u32 = 2;

/// `ports` of the manifest: widths of the top-level ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// `IN_W`: width of `s_axis_tdata`.
    pub in_width: u32,
    /// Input elements are two's complement.
    pub in_signed: bool,
    /// `OUT_W`: width of `m_axis_tdata` (two's complement logits).
    pub out_width: u32,
    /// `IDX_W`: width of `m_axis_tuser` (argmax).
    pub argmax_width: u32,
}

/// `input` of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDesc {
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Element order of the stream; only `"hwc"` is defined.
    pub order: String,
    /// `C·H·W`.
    pub elements: usize,
}

/// One observable stream of the generated top (`docs/hardware.md` §2, "taps").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapDesc {
    /// The model node whose output the stream carries (`None`: the model input).
    pub node: Option<usize>,
    /// The node's name (raw, as in the model; JSON-escaped).
    pub name: String,
    /// Name of the data signal in the top module (`s3_tdata`, ...).
    pub tdata: String,
    /// Valid signal.
    pub tvalid: String,
    /// Ready signal.
    pub tready: String,
    /// Element width (1..=64).
    pub width: u32,
    /// Signedness.
    pub signed: bool,
    /// Elements per image.
    pub elements_per_image: usize,
    /// Always `"hwc"` (a flatten's vector is in the HWC order of the map it came from).
    pub order: String,
    /// The model's tensor shape.
    pub shape: Vec<usize>,
}

/// One entry of `engines`: the summary of an engine instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineDesc {
    /// Engine index.
    pub index: usize,
    /// Model node index (`None` for a fork).
    pub node: Option<usize>,
    /// Name (the node's, raw).
    pub name: String,
    /// The op (`conv`, `dense`, `max_pool`, `avg_pool`, `global_avg_pool`, `add`, `fork`).
    pub op: String,
    /// Verilog module.
    pub module: String,
    /// Instance name in the top.
    pub instance: String,
    /// Processing elements (1 without lanes).
    pub pe: usize,
    /// Lanes per PE (1 without lanes).
    pub simd: usize,
    /// Input width.
    pub in_width: u32,
    /// Output width.
    pub out_width: u32,
    /// Accumulator width (MVU only).
    pub acc_width: Option<u32>,
    /// Busy cycles per image (analytic).
    pub cycles_per_image: u64,
    /// Analytic resources.
    pub resources: Resources,
}

/// `performance` of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    /// Cycles between images in steady state (analytic: the slowest engine).
    pub interval_cycles: u64,
    /// The first image's latency in cycles, from its first input element to its last output
    /// word (the plan's schedule, `Design::latency_estimate`).
    pub latency_cycles: u64,
    /// Images per second at `clock_mhz`.
    pub images_per_second: f64,
}

/// The `manifest.json` of a generated design folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// Top module name.
    pub top: String,
    /// Verilog files relative to the design folder (any order elaborates).
    pub rtl_files: Vec<String>,
    /// Memory images relative to the design folder.
    pub hex_files: Vec<String>,
    /// Working directory (relative to the design folder) every tool must run in, so that
    /// `$readmemh` finds the memory files by name.
    pub run_dir: String,
    /// `QuantModel::hash()` of `model.json`.
    pub model_hash: String,
    /// SHA-256 over, for each file of `rtl_files` then `hex_files` in that order, its path,
    /// a NUL byte, its contents and a NUL byte.
    pub design_hash: String,
    /// Target clock.
    pub clock_mhz: f64,
    /// Port widths.
    pub ports: Ports,
    /// Input stream.
    pub input: InputDesc,
    /// Number of logits per image.
    pub outputs: usize,
    /// Observable streams.
    pub taps: Vec<TapDesc>,
    /// Per-engine summary.
    pub engines: Vec<EngineDesc>,
    /// Throughput and latency.
    pub performance: Performance,
    /// The generator.
    pub generator: String,
    /// The complete design (read back by the simulator).
    pub design: Design,
}
