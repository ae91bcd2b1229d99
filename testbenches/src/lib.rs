//! # inq-testbenches — Verilator harnesses and co-simulation
//!
//! Builds a Verilator model of a generated design, streams images through its AXI4-Stream
//! ports under seeded back-pressure, and compares every output word (and the cycle it appears
//! in) against the integer reference.
//!
//! * [`verify()`] — the entry point: loads `DIR/manifest.json` and `DIR/model.json`, builds (or
//!   reuses from the cache) a Verilator model with a C++ driver generated from the manifest,
//!   runs the images, checks every logit bit for bit, the argmax (`tuser`) and `tlast`, and
//!   returns a serde-serializable [`VerifyReport`] with cycle counts, latency, interval and
//!   the raw output records. On a mismatch, the manifest's taps (inter-engine streams) name
//!   the first layer whose stream differs from the reference.
//! * [`protocol`] — the exact cycle-by-cycle behaviour of the harness (cycle numbering,
//!   source/sink stalls, the mid-run reset) as a Rust [`protocol::Driver`] that the
//!   cycle-accurate simulator can run to reproduce a Verilator run cycle for cycle.
//! * [`stalls`] — the seeded SplitMix64 stall generator shared by the C++ driver and Rust.
//! * [`verilator`] — locating Verilator, generating the driver, building and caching.
//! * [`manifest`] — the design folder's `manifest.json` and its cross-checks with the model.
//! * [`layout`] — CHW (model) versus HWC (stream) element order.
//! * [`mutate`] — fault injection for tests (corrupt a ROM word or an RTL constant).

pub mod error;
pub mod layout;
pub mod manifest;
pub mod mutate;
pub mod verify;
pub mod verilator;

/// The stimulus protocol and stall generator are the simulator's: one definition drives both
/// the Rust simulator and (transliterated) the C++ harness.
pub use inq_sim::{protocol, stalls};

pub use error::TbError;
pub use manifest::{Design, Manifest, Tap};
pub use stalls::StallGen;
pub use verify::{
    simulate, verify, verify_design, LayerDiff, Mismatch, MismatchKind, SimRun, SimSettings,
    TapBeat, VerifyOptions, VerifyReport,
};
pub use verilator::{build, BuildInfo, BuildOptions};
