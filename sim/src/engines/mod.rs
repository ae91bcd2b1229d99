//! The simulated engines, one file each, and **the registry**: the one dispatch point from an
//! [`inq_hdl::EngineKind`] to its simulator ([`build`]). Adding an engine kind means adding
//! its file (state machine, parameter checks, `SimEngine` implementation) and one line in
//! [`build`].
//!
//! The files below, from the bottom layer up:
//!
//! * `api.rs`: the engine interface (`SimEngine`, `Io`, `RunCx`, `Built`, `PortSpec`,
//!   `BuildCx` and the shared parameter checks);
//! * `inside.rs`: the line-buffer input side shared by MVU and pool, and the `Windowed` view
//!   of a line-buffered engine;
//! * `loops.rs`: the generic decoupled loops engines call from `SimEngine::run` (`step`,
//!   `run_windowed`);
//! * one file per engine kind: `mvu.rs`, `pool.rs` (with the tiled pooling unit in
//!   `pool_tile.rs`), `gap.rs`, `add.rs`, `fork.rs`;
//! * outside the registry (built by `machine.rs` itself): the FIFO in `fifo.rs`, the output
//!   stage in `out.rs`.
//!
//! Only this file knows every engine kind; no engine file imports it. Not here: the engine
//! interface itself (`api.rs`), activity bookkeeping (`crate::activity`), the graph-level
//! checks of a design (streams, endpoints, widths: `machine.rs`), and the scheduling of
//! engines (`machine.rs`, `decoupled.rs`).

use inq_hdl::{Design, EngineKind};

use self::api::{BuildCx, Built};
use crate::error::SimError;

pub(crate) mod add;
pub(crate) mod api;
pub(crate) mod fifo;
pub(crate) mod fork;
pub(crate) mod gap;
pub(crate) mod inside;
pub(crate) mod loops;
pub(crate) mod mvu;
pub(crate) mod out;
pub(crate) mod pool;
pub(crate) mod pool_tile;

/// The registry: checks engine `index` of `design` and builds its simulator. The one place
/// that maps an [`EngineKind`] to a simulator engine.
pub(crate) fn build(design: &Design, index: usize) -> Result<Built, SimError> {
    let engine = &design.engines[index];
    let cx = BuildCx { index, engine };
    match &engine.kind {
        EngineKind::Mvu(k) => mvu::build(&cx, k),
        EngineKind::Pool(k) => pool::build(&cx, k),
        EngineKind::Gap(k) => gap::build(&cx, k),
        EngineKind::Add(k) => add::build(&cx, k),
        EngineKind::Fork(k) => fork::build(&cx, k),
    }
}
