//! Activity bookkeeping, shared by every layer of the simulator: the public per-engine
//! summary ([`Activity`]: busy, stalled and idle cycles), the counters the engines and runs
//! keep ([`Counters`]), how one cycle counts ([`Kind`]) and the quiet states an engine reports
//! so that runs of cycles can be applied at once ([`Quiet`]).
//!
//! A leaf: it depends on no other module of the crate. Not here: who counts (the lockstep
//! `machine.rs`, the decoupled run's clocks in `chan.rs`), which states are quiet (each engine
//! file), the report (`report.rs`).

/// Busy, stalled and idle cycles of one engine (cycles with `rst = 0` only).
///
/// * MVU and pooling unit: **busy** = the compute `fire` is high (an MVU lane cycle, a pooling
///   output); **stalled** = it has the input rows for its next compute step
///   (`!cdone && (ahead || iy >= need)`) but cannot fire (an MVU at its last synapse fold
///   whose `obuf` is not free, a pooling unit whose output register is blocked);
///   **idle** = anything else (waiting for input rows, or `cdone`).
/// * GAP unit: busy = an input transfer, stalled = input valid but not ready (results not yet
///   emitted), idle otherwise.
/// * Adder: busy = both inputs transfer (`take`), stalled = both valid but the output register
///   is blocked, idle otherwise.
/// * Fork: busy = an element moves, stalled = input valid but an output FIFO full, idle
///   otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Activity {
    /// Cycles with `fire`.
    pub busy: u64,
    /// Cycles blocked by the output side.
    pub stalled: u64,
    /// Cycles waiting for input.
    pub idle: u64,
}

impl From<Counters> for Activity {
    fn from(c: Counters) -> Self {
        Activity {
            busy: c.busy,
            stalled: c.stalled,
            idle: c.idle,
        }
    }
}

/// Per-engine activity counters (one of the three advances in every cycle outside reset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub busy: u64,
    pub stalled: u64,
    pub idle: u64,
}

impl Counters {
    /// Adds `k` cycles of the given kind.
    #[inline(always)]
    pub fn add(&mut self, kind: Kind, k: u64) {
        match kind {
            Kind::Busy => self.busy += k,
            Kind::Stalled => self.stalled += k,
            Kind::Idle => self.idle += k,
        }
    }

    /// Removes `k` cycles of the given kind (the decoupled run's end-of-run correction).
    pub fn sub(&mut self, kind: Kind, k: u64) {
        match kind {
            Kind::Busy => self.busy -= k,
            Kind::Stalled => self.stalled -= k,
            Kind::Idle => self.idle -= k,
        }
    }
}

/// How an engine spent one cycle (see [`Activity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Busy,
    Stalled,
    Idle,
}

/// An engine whose next edges are predictable while its neighbours' signals stay unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quiet {
    /// Nothing but the activity counters changes (`stalled` or idle).
    Frozen { stalled: bool },
    /// An MVU in the middle of a neuron fold: it fires, without touching any stream, for at
    /// most this many cycles.
    Folding(usize),
}

impl Quiet {
    /// How the quiet cycles count in [`Counters`].
    #[inline]
    pub fn kind(self) -> Kind {
        match self {
            Quiet::Folding(_) => Kind::Busy,
            Quiet::Frozen { stalled: true } => Kind::Stalled,
            Quiet::Frozen { stalled: false } => Kind::Idle,
        }
    }
}
