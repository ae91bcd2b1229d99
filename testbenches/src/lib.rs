//! # inq-testbenches — Verilator harnesses and co-simulation
//!
//! Builds a Verilator model of a generated design, streams images through its AXI4-Stream
//! ports under seeded back-pressure, and compares every output word (and the cycle it appears
//! in) against the integer reference.
//!
//! * [`verify()`] — the entry point: loads the design folder ([`inq_design::DesignFolder`]),
//!   builds (or reuses from the cache) a Verilator model with a C++ driver generated from the
//!   manifest, runs the images, checks every logit bit for bit, the argmax (`tuser`) and
//!   `tlast`, and returns a serde-serializable [`VerifyReport`] with cycle counts, latency,
//!   interval and the raw output records. By default it also checks every manifest tap stream
//!   (one per model node, and the input) of every image element by element against the
//!   reference's intermediate tensors, through a per-(tap, image) checksum the harness keeps
//!   ([`inq_sim::StreamSum`]); [`VerifyOptions::check_streams`] `= false` checks the outputs
//!   only. On a mismatch, the taps name the first stream that differs from the reference.
//! * [`protocol`] — the exact cycle-by-cycle behaviour of the harness (cycle numbering,
//!   source/sink stalls, the mid-run reset) as a Rust [`protocol::Driver`] that the
//!   cycle-accurate simulator can run to reproduce a Verilator run cycle for cycle.
//! * [`stalls`] — the seeded SplitMix64 stall generator shared by the C++ driver and Rust.
//! * [`verilator`] — locating Verilator, generating the driver, building and caching.
//! * [`mutate`] — fault injection for tests (corrupt a ROM word or an RTL constant).

pub mod error;
pub mod mutate;
pub mod verify;
pub mod verilator;

/// The stimulus protocol and stall generator are the simulator's: one definition drives both
/// the Rust simulator and (transliterated) the C++ harness.
pub use inq_sim::{protocol, stalls};

pub use error::TbError;
pub use inq_design::DesignFolder;
/// The mismatch and tap types are the simulator's: one definition for both checks.
pub use inq_sim::{Mismatch, MismatchKind, TapBeat, TapDiff};
pub use stalls::StallGen;
pub use verify::{
    simulate, simulate_checked, verify, verify_design, SimRun, SimSettings, VerifyOptions,
    VerifyReport,
};
pub use verilator::{build, BuildInfo, BuildOptions};
