//! The engine interface: what every engine kind implements and what the lockstep machine and
//! the decoupled run drive ([`SimEngine`]), the wires around an engine in one cycle ([`Io`]),
//! the context of an engine's decoupled run ([`RunCx`]: its channels, clock, wires and
//! horizon), and what an engine file builds ([`Built`], [`PortSpec`]) from what the registry
//! gives it ([`BuildCx`]), with the helpers the parameter checks share ([`check`],
//! [`format_of`], [`range_of`], [`clog2`], [`MAX_ELEMENTS`]).
//!
//! Depends only on the leaves (`activity.rs`, `error.rs`) and the decoupled run's mechanics
//! (`chan.rs`). Not here: the engines themselves (one file each), the registry that maps an
//! engine kind to its file (`engines/mod.rs`), the generic decoupled loops that engines call
//! from [`SimEngine::run`] (`engines/loops.rs`), the machine and the pipeline run that drive
//! engines (`machine.rs`, `decoupled.rs`).

use inq_hdl::Engine;
use inq_model::ActFormat;

use crate::activity::{Kind, Quiet};
use crate::chan::{Chan, Clock};
use crate::error::SimError;

/// The wires around one engine in one cycle, by port (input port `p` reads a stream, output
/// port `k` writes one; `docs/hardware.md` §1: every one is a function of registers).
///
/// The neighbours drive `in_valid`/`in_data` (the input FIFOs' `m_valid`/`m_data`) and
/// `out_ready` (the output FIFOs' `s_ready`); the engine drives `in_ready`, `out_valid` and
/// `out_data` ([`SimEngine::comb`]). In the decoupled run some neighbour signals may not be
/// known yet (`in_known`, `out_known` false; the value is then `false`); the lockstep machine
/// knows all of them.
///
/// The data of a port is a beat of `k` elements (`docs/hardware.md` §2.1): `in_data` holds
/// the beats of all input ports one after the other, port `p`'s at `in_off[p]`
/// ([`Io::in_beat`]), likewise `out_data`. With one element per beat on every port (every
/// engine kind but the wide ones) port `p`'s element is simply `in_data[p]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Io {
    pub in_valid: Vec<bool>,
    pub in_data: Vec<i64>,
    pub in_known: Vec<bool>,
    pub out_ready: Vec<bool>,
    pub out_known: Vec<bool>,
    pub in_ready: Vec<bool>,
    pub out_valid: Vec<bool>,
    pub out_data: Vec<i64>,
    /// Where each input port's beat starts in `in_data` (`in_off[ins]` is its length).
    pub in_off: Vec<usize>,
    /// Where each output port's beat starts in `out_data`.
    pub out_off: Vec<usize>,
}

impl Io {
    /// Wires for ports carrying `in_beats[p]` and `out_beats[k]` elements per beat.
    pub fn with_beats(in_beats: &[usize], out_beats: &[usize]) -> Self {
        let offsets = |beats: &[usize]| -> Vec<usize> {
            let mut off = vec![0];
            for &k in beats {
                off.push(off.last().copied().unwrap_or(0) + k.max(1));
            }
            off
        };
        let (in_off, out_off) = (offsets(in_beats), offsets(out_beats));
        Io {
            in_data: vec![0; in_off.last().copied().unwrap_or(0)],
            out_data: vec![0; out_off.last().copied().unwrap_or(0)],
            in_off,
            out_off,
            ..Io::new(in_beats.len(), out_beats.len())
        }
    }

    /// The beat on input port `p`.
    #[inline(always)]
    pub fn in_beat(&self, p: usize) -> &[i64] {
        &self.in_data[self.in_off[p]..self.in_off[p + 1]]
    }

    /// The input beat of port `p`, to be filled.
    #[inline(always)]
    pub fn in_beat_mut(&mut self, p: usize) -> &mut [i64] {
        &mut self.in_data[self.in_off[p]..self.in_off[p + 1]]
    }

    /// The beat on output port `k`.
    #[inline(always)]
    pub fn out_beat(&self, k: usize) -> &[i64] {
        &self.out_data[self.out_off[k]..self.out_off[k + 1]]
    }

    /// The output beat of port `k`, to be filled.
    #[inline(always)]
    pub fn out_beat_mut(&mut self, k: usize) -> &mut [i64] {
        &mut self.out_data[self.out_off[k]..self.out_off[k + 1]]
    }

    /// Wires for `ins` input and `outs` output ports, all known.
    pub fn new(ins: usize, outs: usize) -> Self {
        Io {
            in_valid: vec![false; ins],
            in_data: vec![0; ins],
            in_known: vec![true; ins],
            out_ready: vec![false; outs],
            out_known: vec![true; outs],
            in_ready: vec![false; ins],
            out_valid: vec![false; outs],
            out_data: vec![0; outs],
            in_off: (0..=ins).collect(),
            out_off: (0..=outs).collect(),
        }
    }

    /// Input port `p` transfers at the edge (after [`SimEngine::comb`]).
    #[inline(always)]
    pub fn in_fire(&self, p: usize) -> bool {
        self.in_valid[p] && self.in_ready[p]
    }

    /// Output port `k` transfers at the edge (after [`SimEngine::comb`]).
    #[inline(always)]
    pub fn out_fire(&self, k: usize) -> bool {
        self.out_valid[k] && self.out_ready[k]
    }
}

/// `dst.copy_from_slice(src)` for a beat (equal lengths): the common beat sizes as copies of
/// a constant size, which compile to a few vector moves instead of a call to `memcpy` (the
/// lockstep machine copies several beats per simulated cycle).
#[inline(always)]
pub(crate) fn copy_beat(dst: &mut [i64], src: &[i64]) {
    debug_assert_eq!(dst.len(), src.len());
    match src.len() {
        1 => dst[0] = src[0],
        2 => dst[..2].copy_from_slice(&src[..2]),
        4 => dst[..4].copy_from_slice(&src[..4]),
        8 => dst[..8].copy_from_slice(&src[..8]),
        16 => dst[..16].copy_from_slice(&src[..16]),
        _ => dst.copy_from_slice(src),
    }
}

/// One register or combinational signal an engine shows in waveforms: name and width.
pub(crate) type ProbeSignal = (&'static str, u32);

/// A simulated engine kind: the cycle-exact state machine of its `docs/hardware.md` section.
///
/// The lockstep machine (`machine.rs`) calls [`SimEngine::edge`] once per cycle with every
/// neighbour signal known; the decoupled run (`decoupled.rs`) calls [`SimEngine::run`], which
/// advances the engine on its own clock through its FIFOs ([`RunCx`]), usually through one of
/// the loops of `engines/loops.rs`.
pub(crate) trait SimEngine: std::fmt::Debug {
    /// The engine's combinational outputs (`in_ready` per input port, `out_valid`/`out_data`
    /// per output port) from its registers and `io`'s neighbour signals. Changes nothing.
    fn comb(&self, io: &mut Io);
    /// One rising edge (the two-phase model of §1: [`SimEngine::comb`] first, from the
    /// pre-edge values, then every register update). Returns how the cycle counts.
    fn edge(&mut self, io: &mut Io) -> Kind;
    /// Whether the known neighbour signals of `io` determine the next edge and its
    /// [`Kind`] (the unknown ones are irrelevant). Always true when all are known.
    fn decidable(&self, io: &Io) -> bool;
    /// `Some` if the next edge changes nothing but the activity counters ([`Quiet::Frozen`]),
    /// or only an MVU's synapse-fold counter ([`Quiet::Folding`]); such a state lasts while
    /// the relevant neighbour signals stay the same. Only called when [`SimEngine::decidable`].
    fn quiet(&self, io: &Io) -> Option<Quiet>;
    /// Applies `k` cycles of a quiet state returned by [`SimEngine::quiet`] (the counters
    /// are the caller's).
    fn apply_quiet(&mut self, _q: Quiet, _k: usize) {}
    /// A cycle with `rst = 1`: every control register takes its reset value.
    fn reset(&mut self);
    /// The signals of [`SimEngine::probe`] (names and widths, fixed per engine).
    fn probe_signals(&self) -> Vec<ProbeSignal>;
    /// The current values of [`SimEngine::probe_signals`] (after [`SimEngine::comb`] on `io`).
    fn probe(&self, io: &Io, out: &mut Vec<i64>);
    /// Runs the engine in the decoupled run, up to `cx.horizon` or until it needs a neighbour
    /// signal that is not known yet.
    fn run(&mut self, cx: &mut RunCx<'_>);
    /// For an engine with one input that stops for want of it (the generic loop, `step`):
    /// how many of its next input beats it takes, whatever its other neighbours do, in the
    /// cycle each becomes valid (0: no such promise; see [`Chan::promise`]).
    fn promised_reads(&self) -> u64 {
        0
    }
    /// An optional fast path of the generic decoupled loop (`engines/loops.rs`, `step`): from
    /// cycle `t` (the engine's clock, both sides), apply as many edges at once as the
    /// channels of its ports (`ins`, `outs`: stream indices into `chans`) determine, counting
    /// them in `clock`, and return the new clock (`t`: nothing done). Transfers go through
    /// [`Chan::read`] and [`Chan::write`] at their cycles.
    fn burst(
        &mut self,
        _chans: &mut [Chan],
        _ins: &[usize],
        _outs: &[usize],
        _clock: &mut Clock,
        t: u64,
        _horizon: u64,
    ) -> u64 {
        t
    }
}

/// What one port of an engine carries, for the graph checks of `machine.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortSpec {
    pub width: u32,
    pub signed: bool,
    pub elements: usize,
    /// Elements per beat (`docs/hardware.md` §2.1).
    pub beat: usize,
}

/// A simulator built for one engine of a design, with what its ports carry.
#[derive(Debug)]
pub(crate) struct Built {
    pub engine: Box<dyn SimEngine>,
    pub inputs: Vec<PortSpec>,
    pub outputs: Vec<PortSpec>,
}

/// What an engine file needs to check and build its engine.
pub(crate) struct BuildCx<'a> {
    /// Engine index.
    pub index: usize,
    /// The engine.
    pub engine: &'a Engine,
}

impl BuildCx<'_> {
    /// The path of a field of this engine (`engines[2].kind.weights`).
    pub fn field(&self, name: &str) -> String {
        format!("engines[{}].{name}", self.index)
    }

    /// `Ok` if `ok`, else [`SimError::Design`] naming `engines[i].<name>`.
    pub fn check(
        &self,
        ok: bool,
        name: &str,
        message: impl FnOnce() -> String,
    ) -> Result<(), SimError> {
        check(ok, || self.field(name), message)
    }

    /// Checks the stream widths of `io` (1..=62 bits) and returns the input and output
    /// formats.
    pub fn io_formats(&self) -> Result<(ActFormat, ActFormat), SimError> {
        let io = &self.engine.io;
        self.check((1..=62).contains(&io.in_width), "in_width", || {
            format!("width {} outside 1..=62", io.in_width)
        })?;
        self.check((1..=62).contains(&io.out_width), "out_width", || {
            format!("width {} outside 1..=62", io.out_width)
        })?;
        Ok((
            format_of(io.in_width, io.in_signed),
            format_of(io.out_width, io.out_signed),
        ))
    }
}

/// `Ok` if `ok`, else [`SimError::Design`] with the field and message.
pub(crate) fn check(
    ok: bool,
    field: impl FnOnce() -> String,
    message: impl FnOnce() -> String,
) -> Result<(), SimError> {
    if ok {
        Ok(())
    } else {
        Err(SimError::design(field(), message()))
    }
}

/// The activation format of a `bits`-bit stream (exponent irrelevant here).
pub(crate) fn format_of(bits: u32, signed: bool) -> ActFormat {
    ActFormat {
        bits,
        signed,
        exp: 0,
    }
}

/// Smallest and largest value of a `bits`-bit stream.
pub(crate) fn range_of(bits: u32, signed: bool) -> (i64, i64) {
    let f = format_of(bits, signed);
    (f.min(), f.max())
}

/// Largest element count per image, line buffer or memory the simulator accepts.
pub(crate) const MAX_ELEMENTS: usize = 1 << 32;

/// `ceil(log2(n))`, at least 1: the width of a counter up to `n − 1`.
pub(crate) fn clog2(n: u64) -> u32 {
    if n <= 2 {
        1
    } else {
        64 - (n - 1).leading_zeros()
    }
}

/// What an engine's [`SimEngine::run`] works with: every channel, the streams of its ports,
/// its clock and wires, and the cycle it must not reach.
pub(crate) struct RunCx<'a> {
    pub chans: &'a mut [Chan],
    pub ins: &'a [usize],
    pub outs: &'a [usize],
    pub clock: &'a mut Clock,
    pub io: &'a mut Io,
    pub horizon: u64,
}
