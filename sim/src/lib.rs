//! # inq-sim — cycle-accurate simulation of a `Design`
//!
//! Simulates the generated micro-architecture cycle by cycle from the `inq_hdl::Design`
//! (never from Verilog text): every engine's state machine, line buffer, ROM read, lane,
//! accumulator, FIFO and ready/valid handshake, bit-exact and cycle-exact with the RTL as
//! specified in `docs/hardware.md` (the two-phase model of its §1: all combinational signals
//! are evaluated from the registers and the top-level inputs, then all registers update).
//! The arithmetic is `inq_model::numerics`.
//!
//! * [`simulate`] streams images through a [`Machine`] exactly as the Verilator harness does
//!   ([`protocol`]: cycle numbering, seeded [`stalls`] on both sides, optional mid-run reset)
//!   and returns a serde-serializable [`SimReport`]: every output word with its cycle,
//!   latency, interval, per-engine busy/stalled/idle cycles, FIFO peaks, images/s.
//! * [`check_against_reference`] compares the words bit for bit with
//!   [`inq_model::Reference`], and every tap stream of every image with the reference's
//!   intermediate tensors through per-(tap, image) checksums ([`StreamSum`],
//!   [`SimOptions::check_streams`]); [`verify`] does both.
//! * [`Machine`] is the clocked model itself (`ports()` before an edge, `step()` for the
//!   edge), for callers with their own driver, e.g. the co-simulation tests of
//!   `inq-testbenches`, which can run their `protocol::Driver` against it.
//! * [`SimOptions::vcd`] writes a VCD waveform ([`trace`] describes its signals).
//! * Speed: by default [`simulate`] runs *decoupled* (every pipeline stage with its own clock,
//!   see [`SimOptions::fast_forward`]) and never accumulates lane by lane (an MVU computes a
//!   neuron fold's dot products at its last synapse fold, see `src/engines/mvu.rs`); both are
//!   exact, and [`Machine::step`] remains the cycle-by-cycle reference.
//! * [`fifo_sizing::minimize_skip_fifos`] shrinks the skip FIFOs of a residual design to the
//!   smallest depths that keep its simulated interval (`docs/hardware.md` §2.2).
//! * [`load_design`] (from `inq-design`) reads a design from a generated folder or a JSON file.
//!
//! The design is a graph (`docs/hardware.md` §2): engines (MVU, pooling, GAP, adder, fork;
//! one file each under `src/engines/`, one registry in `engines/mod.rs`) joined by streams,
//! each through its own FIFO.
//!
//! # Layout
//!
//! The files form layers without import cycles; each depends only on layers below it, and
//! none imports through this root's re-exports (this file only declares the modules and
//! re-exports the public API):
//!
//! 1. leaves: `error.rs` ([`SimError`]), `activity.rs` ([`Activity`], the activity counters
//!    and quiet states), `tap.rs` ([`TapBeat`], the stream checksums [`StreamSum`]), `stalls.rs`, then `protocol.rs` (the harness's
//!    driver and records);
//! 2. `chan.rs`: the decoupled run's per-module mechanics (time-stamped channels, clocks);
//! 3. `engines/api.rs`: the engine interface; `engines/inside.rs`: the line-buffer input side;
//!    `engines/loops.rs`: the generic decoupled loops engines call;
//! 4. the engine files (`engines/mvu.rs`, `pool.rs`, `gap.rs`, `add.rs`, `fork.rs`; `fifo.rs`,
//!    `out.rs`) and the registry over them (`engines/mod.rs`);
//! 5. `machine.rs` (the lockstep [`Machine`]), `report.rs` ([`SimReport`] and the comparison),
//!    `trace.rs` (VCD);
//! 6. `decoupled.rs` (the decoupled pipeline run), `shards.rs` (splitting a long check into
//!    shards run in parallel, and merging their reports);
//! 7. `simulation.rs` ([`simulate`], [`verify`], [`SimOptions`]), then `fifo_sizing.rs`.

mod activity;
mod chan;
pub(crate) mod decoupled;
pub(crate) mod engines;
pub mod error;
pub mod fifo_sizing;
pub mod machine;
pub mod protocol;
pub mod report;
pub mod shards;
mod simulation;
pub mod stalls;
mod tap;
pub mod trace;

pub use activity::Activity;
pub use decoupled::{pays_off as decoupled_pays_off, BUSY_STREAMS};
pub use error::SimError;
pub use fifo_sizing::{minimize_skip_fifos, SizedStream, SizingReport};
pub use inq_design::{chw_to_hwc, load_design, LoadedDesign};
pub use machine::{EngineProbe, Machine, PortInputs, PortOutputs, StreamSignals};
pub use protocol::{Driver, DriverConfig, OutputRecord, Records, DEFAULT_RESET_CYCLES};
pub use report::{
    check_against_reference, timing, EngineReport, FifoReport, Mismatch, MismatchKind, SimReport,
    TapDiff, Timing,
};
pub use shards::{Shard, ShardError, DEFAULT_SHARD_IMAGES};
pub use simulation::{images_to_beats, simulate, verify, Decoupled, SimOptions};
pub use stalls::StallGen;
pub use tap::{stream_sum_step, StreamMismatch, StreamSum, TapBeat, TapSums, STREAM_SUM_SEED};
