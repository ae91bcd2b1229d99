//! # inq-hdl — the hardware plan
//!
//! From a quantized model and folding choices this crate builds a [`Design`]: a streaming
//! dataflow graph of engines — sliding-window matrix-vector units of PE × SIMD shift-add
//! lanes with per-PE weight ROMs and a requantize/ReLU/saturate stage (conv, depthwise conv,
//! dense), pooling units, global average pooling, elementwise adders, stream forks — joined by
//! FIFOs, and an output stage with the argmax. The design is pure data (serde-serializable,
//! stored in `manifest.json`): every width, memory depth, FIFO depth and schedule is derived
//! from the model here, and no Verilog is produced. The cycle-exact behaviour of every engine
//! is specified in `docs/hardware.md`.
//!
//! * [`ops`]: one file per engine kind (its parameters, cycle model, resource estimate and
//!   template parameters) behind the [`ops::EngineOp`] trait, and [`ops::lower`] from model
//!   nodes;
//! * [`graph`]: the hardware graph (engines, forks, streams, FIFO depths, taps);
//! * [`beats`]: wide beats, the elements each stream carries per beat ([`widen_beats`]);
//! * [`mod@plan`]: folding choice and the entry points [`plan()`]`(&model, &FoldingRequest)` and
//!   [`plan_unrolled`];
//! * [`geometry`], [`resources`]: the sliding-window schedule model and the resource model's
//!   building blocks;
//! * [`schedule`]: the first image's schedule (when each element of each stream moves),
//!   behind [`Design::latency_estimate`];
//! * [`timing`]: the clock estimate (each engine's deepest path in LUT levels and carry
//!   steps, and a family's delays).
//!
//! A layer folded with `PE × SIMD` = the whole layer (`NF·SF = 1`: dense layers and
//! convolutions of any kernel, depthwise ones too) gets constant weights ([`ops::WeightStorage::Constant`]): no ROM, each product
//! is wiring, zero weights vanish and recurring sub-sums are shared ([`ops::Mvu::datapath`]);
//! its adder trees are cut by pipeline registers ([`ops::pipeline`], [`stage_adder_trees`]).

pub mod beats;
pub mod clock_target;
pub mod design;
pub mod error;
pub mod folding;
pub mod geometry;
pub mod graph;
pub mod ops;
pub mod plan;
pub mod resources;
pub mod schedule;
pub mod timing;

pub use beats::{choose_beats, widen_beats, widen_beats_to, BeatChoice, StreamBeat};
pub use clock_target::{stage_to_clock, ClockFit, RomRegs, TreeStaging};
pub use design::{
    Design, Endpoint, Engine, InputStream, OutputStage, Stream, Tap, DESIGN_FORMAT, DESIGN_VERSION,
};
pub use error::PlanError;
pub use folding::{Folding, FoldingRequest, LayerFolding};
pub use geometry::{engine_cycles, engine_cycles_beats, line_buffer_rows, Geometry};
pub use ops::{
    AddUnit, AdderTree, ConstTerm, EngineKind, EngineOp, Fork, Gap, Io, MacKind, Mvu, MvuOutput,
    Param, ParamValue, Pool, PoolMode, Staging, TreeNode, TreeOperand, WeightStorage,
};
pub use plan::{plan, plan_unrolled, plan_with, stage_adder_trees};
pub use resources::{AdderCount, Resources};
pub use timing::{LogicPath, Multipliers, TimedPart, TimingEstimate, TimingFamily};
