//! The decoupled run: every module of the pipeline graph (the source, each engine, the sink)
//! keeps its **own clock** and runs ahead as far as what it sees of its neighbours allows,
//! instead of all modules stepping one global cycle at a time. The modules are joined by the
//! design's streams, one [`Chan`] per stream. The result (every output word and its cycle,
//! input starts, activity counters, FIFO peaks, taps) is identical to the lockstep
//! machine run (`machine.rs`); `tests/fast_forward.rs` compares whole reports on many designs
//! (chains and graphs), foldings, stall rates and seeds.
//!
//! # Why this is exact
//!
//! No combinational path crosses a FIFO (§1): what a module does at the edge of cycle `t`
//! depends on its own registers and on signals of its FIFOs before that edge — `m_valid`/
//! `m_data` of the FIFOs it reads, `s_ready` of the FIFOs it writes (an adder's and a fork's
//! readies are functions of those too, §5b, §5c). A [`Chan`] (a FIFO whose writes and reads
//! carry the cycle of their edge, `chan.rs`) answers these questions for any cycle as soon as
//! they are determined, and says "unknown" otherwise.
//!
//! A module blocked on "unknown" stops. The module with the smallest clock can always do its
//! next edge (every neighbour has passed it), so the rounds ([`Pipeline::round`]: the modules
//! in topological order, each followed by its consumers while they move) always progress.
//! Inside an engine, runs of cycles are applied at once where its channels determine them
//! (`engines/loops.rs`).
//!
//! # Deadlocks
//!
//! A round without any transfer may mean the pipeline is stuck (e.g. a skip FIFO too small
//! for its residual block). It is, for good, if every engine is frozen even when it sees every
//! element written so far as valid and every read recorded so far as done (the most
//! permissive answers any future cycle can give without a new transfer; a handshake engine
//! frozen under more permissive answers is frozen under less permissive ones), the source
//! cannot write and the sink cannot read. Then [`run`] returns [`End::Stuck`] with the
//! transfers so far, from which the caller derives the lockstep run's timeout exactly,
//! instead of simulating up to the idle limit.
//!
//! # The end of the run
//!
//! The run ends with the last output word, at a cycle nobody knows in advance, so some
//! modules will have run past it. Their activity is kept as a log of segments (cycle where a
//! kind of cycle — busy, stalled, idle — starts) from the sink's clock on, FIFO peak
//! candidates and tap beats carry their cycle, and the part beyond the end is subtracted or
//! dropped at the end; modules still behind are run up to the end.
//!
//! Not handled here (the caller uses the lockstep run): mid-run resets, VCD output, and runs
//! that end in a timeout or the cycle limit without a provable deadlock ([`run`] returns
//! [`End::Lockstep`] when it sees one coming, and the caller re-runs lockstep to report it
//! exactly).
//!
//! This file owns the pipeline run only: the source and the sink with their clocks, an
//! engine with its clock ([`Unit`]), the rounds, the deadlock check and the end of the run. It
//! depends on everything below it (the mechanics in `chan.rs`, the engine interface in
//! `engines/api.rs`, the machine it takes apart); nothing but the callers of [`run`]
//! (`simulation.rs`, `fifo_sizing.rs`) depends on it. Not here: the channel and clock mechanics
//! (`chan.rs`), the engine loops (`engines/loops.rs`), the engines (`engines/`), the lockstep
//! run (`machine.rs`, `simulation.rs`).

use crate::activity::{Counters, Quiet};
use crate::chan::{Chan, Clock};
use crate::engines::api::{Io, RunCx, SimEngine};
use crate::engines::out::OutStage;
use crate::machine::Machine;
use crate::protocol::{InputStart, OutputRecord, Records};
use crate::stalls::StallsAt;
use crate::tap::{TapBeat, TapSums};
use inq_hdl::Design;

/// "Never" (far beyond any run, without overflow in `t + k`).
const NEVER: u64 = u64::MAX / 4;

/// An engine with its clock.
#[derive(Debug)]
struct Unit {
    eng: Box<dyn SimEngine>,
    io: Io,
    clock: Clock,
    ins: Vec<usize>,
    outs: Vec<usize>,
}

impl Unit {
    /// Runs the engine up to `horizon` or until blocked. Returns whether its clock moved.
    fn run(&mut self, chans: &mut [Chan], horizon: u64) -> bool {
        let t0 = (self.clock.t, self.clock.t_in);
        let mut cx = RunCx {
            chans,
            ins: &self.ins,
            outs: &self.outs,
            clock: &mut self.clock,
            io: &mut self.io,
            horizon,
        };
        self.eng.run(&mut cx);
        (self.clock.t, self.clock.t_in) != t0
    }

    /// Whether the engine is frozen for good under the most permissive answers its channels
    /// can give without a new transfer (see the module documentation).
    fn frozen(&mut self, chans: &[Chan]) -> bool {
        let io = &mut self.io;
        for (p, &s) in self.ins.iter().enumerate() {
            io.in_known[p] = true;
            io.in_valid[p] = chans[s].final_valid();
            chans[s].front_beat(io.in_beat_mut(p));
        }
        for (k, &s) in self.outs.iter().enumerate() {
            io.out_known[k] = true;
            io.out_ready[k] = chans[s].final_ready();
        }
        matches!(self.eng.quiet(io), Some(Quiet::Frozen { .. }))
    }
}

/// The harness's source (`protocol::Driver`'s input side) with its own clock.
struct Source<'a> {
    t: u64,
    values: &'a [i64],
    e: usize,
    next: usize,
    holding: bool,
    stalls: StallsAt,
    starts: Vec<InputStart>,
    /// Cycles of every input transfer (for the idle-limit check).
    fires: Vec<u64>,
}

impl Source<'_> {
    fn run(&mut self, ch: &mut Chan, horizon: u64) -> bool {
        let t0 = self.t;
        let mut t = self.t;
        while t < horizon {
            if !self.holding {
                if self.next >= self.values.len() {
                    // nothing will ever be presented again
                    t = NEVER;
                    break;
                }
                if self.stalls.input_gap(t) {
                    t += 1;
                    continue;
                }
                self.holding = true;
            }
            match ch.ready(t) {
                None => break,
                Some(true) => {
                    if self.next.is_multiple_of(self.e) {
                        self.starts.push(InputStart {
                            image: self.next / self.e,
                            cycle: t,
                        });
                    }
                    ch.write(t, self.values[self.next]);
                    self.fires.push(t);
                    self.next += 1;
                    self.holding = false;
                    t += 1;
                }
                Some(false) => t = (ch.full_until() + 1).min(horizon),
            }
            ch.prod_t = t;
        }
        ch.prod_t = t;
        self.t = t;
        t != t0
    }
}

/// The harness's sink and the output stage (§7) with their own clock.
struct Sink {
    t: u64,
    out: OutStage,
    out_mask: u64,
    out_width: u32,
    idx_mask: u64,
    n: usize,
    expected: usize,
    stalls: StallsAt,
    outputs: Vec<OutputRecord>,
    done: bool,
}

impl Sink {
    fn run(&mut self, ch: &mut Chan, horizon: u64) -> bool {
        let t0 = self.t;
        let mut t = self.t;
        while t < horizon && !self.done {
            let Some((valid, data)) = ch.valid(t) else {
                break;
            };
            if !valid {
                t = (ch.invalid_until() + 1).min(horizon);
            } else if self.stalls.output_stall(t) {
                t += 1;
            } else {
                let w = self.outputs.len();
                self.outputs.push(OutputRecord {
                    image: w / self.n,
                    word: w % self.n,
                    value: crate::protocol::sign_extend(
                        (data as u64) & self.out_mask,
                        self.out_width,
                    ),
                    cycle: t,
                    tlast: self.out.tlast(),
                    tuser: (self.out.tuser(data) as u64) & self.idx_mask,
                });
                self.out.update(true, data);
                ch.read(t);
                t += 1;
                self.done = self.outputs.len() >= self.expected;
            }
            ch.cons_advance(t);
        }
        self.t = t;
        t != t0
    }
}

/// All modules: the source (module 0, writes stream 0), the engines (module `e + 1`), the
/// sink (module `engines + 1`, reads the output stream); channel `s` is stream `s`.
struct Pipeline<'a> {
    source: Source<'a>,
    units: Vec<Unit>,
    chans: Vec<Chan>,
    sink: Sink,
    out_stream: usize,
    /// Per module: the modules reading its streams.
    succ: Vec<Vec<usize>>,
}

impl Pipeline<'_> {
    /// Runs module `j` as far as it goes; whether its clock moved.
    fn run_module(&mut self, j: usize, horizon: u64) -> bool {
        let n = self.units.len();
        if j == 0 {
            self.source.run(&mut self.chans[0], horizon)
        } else if j <= n {
            self.units[j - 1].run(&mut self.chans, horizon)
        } else {
            self.sink.run(&mut self.chans[self.out_stream], horizon)
        }
    }

    /// One round: every module in topological order, each followed by its consumers while
    /// they move. Whether any clock moved.
    fn round(&mut self, horizon: u64) -> bool {
        let mut progress = false;
        for j in 0..self.succ.len() {
            let mut first = true;
            loop {
                let a = self.run_module(j, horizon);
                progress |= a;
                if !a && !first {
                    break;
                }
                first = false;
                let mut b = false;
                for k in 0..self.succ[j].len() {
                    let m = self.succ[j][k];
                    b |= self.run_module(m, horizon);
                }
                progress |= b;
                if !b {
                    break;
                }
            }
        }
        progress
    }

    /// Transfers so far on every channel.
    fn transfers(&self) -> u64 {
        self.chans.iter().map(Chan::transfers).sum()
    }

    /// Nothing will ever transfer again (see the module documentation).
    fn frozen(&mut self) -> bool {
        if self.source.t < NEVER && self.chans[0].final_ready() {
            return false;
        }
        if self.chans[self.out_stream].final_valid() {
            return false;
        }
        let chans = &self.chans;
        self.units.iter_mut().all(|u| u.frozen(chans))
    }
}

/// What a decoupled run observed (the lockstep run's equivalents).
pub(crate) struct Outcome {
    pub records: Records,
    pub counters: Vec<Counters>,
    /// Per stream.
    pub peaks: Vec<usize>,
    /// Beats of each tap of [`RunSpec::taps`] (already cut to the requested count).
    pub taps: Vec<Vec<TapBeat>>,
    /// Per-image checksums of each tap of [`RunSpec::sums`].
    pub sums: Vec<TapSums>,
    /// The longest stretch of cycles without a top-level transfer (from cycle 0).
    pub max_gap: u64,
}

/// How a decoupled run ended.
pub(crate) enum End {
    /// Every output word arrived.
    Done(Outcome),
    /// The pipeline is stuck for good: no transfer after these. `transfers`: cycles of every
    /// top-level transfer (input beats and output words), increasing; `outputs`: cycles of the
    /// output words.
    Stuck {
        transfers: Vec<u64>,
        outputs: Vec<u64>,
    },
    /// The run needs the lockstep simulation to report how it ends (it does not complete
    /// within `max_cycles`, or it would trip the idle limit).
    Lockstep,
}

/// Parameters of [`run`] besides the machine.
pub(crate) struct RunSpec<'a> {
    /// Input values (already converted from the beat patterns), all images back to back.
    pub values: &'a [i64],
    pub elements_per_image: usize,
    pub outputs_per_image: usize,
    pub images: usize,
    pub seed: u64,
    pub threshold: u64,
    /// Stop (with [`End::Lockstep`]) if the run is not complete before this cycle.
    pub max_cycles: u64,
    /// The lockstep run's idle limit.
    pub idle_limit: u64,
    /// `(stream, at the FIFO output, beats to record)` of each tap.
    pub taps: &'a [(usize, bool, usize)],
    /// `(stream, at the FIFO output, elements per image)` of each tap to checksum per image
    /// (every beat of the run; see [`TapLogs`]).
    pub sums: &'a [(usize, bool, usize)],
}

/// The tap beats of a run, collected from the channels' logs in bounded chunks: every beat
/// before the sink's clock is before the end of the run, so it is moved out of its channel's
/// log into the taps that want it (the first `cap` beats, [`RunSpec::taps`]) and the per-image
/// checksums ([`RunSpec::sums`]). The logs then only hold the beats in flight.
struct TapLogs {
    /// `(stream, at the FIFO output)` of each channel side logged.
    sides: Vec<(usize, bool)>,
    /// Per [`RunSpec::taps`] entry: its side, its cap and its beats.
    taps: Vec<(usize, usize, Vec<TapBeat>)>,
    /// Per [`RunSpec::sums`] entry: its side and its checksums.
    sums: Vec<(usize, TapSums)>,
}

impl TapLogs {
    fn new(spec: &RunSpec) -> Self {
        let mut sides: Vec<(usize, bool)> = Vec::new();
        let mut side = |s: usize, o: bool| match sides.iter().position(|&x| x == (s, o)) {
            Some(i) => i,
            None => {
                sides.push((s, o));
                sides.len() - 1
            }
        };
        let taps = spec
            .taps
            .iter()
            .map(|&(s, o, cap)| (side(s, o), cap, Vec::new()))
            .collect();
        let sums = spec
            .sums
            .iter()
            .map(|&(s, o, epi)| (side(s, o), TapSums::new(epi)))
            .collect();
        TapLogs { sides, taps, sums }
    }

    /// Moves the beats before cycle `safe` out of the channels' logs.
    fn drain(&mut self, chans: &mut [Chan], safe: u64) {
        for (i, &(s, at_output)) in self.sides.iter().enumerate() {
            let log = if at_output {
                &mut chans[s].rlog
            } else {
                &mut chans[s].wlog
            };
            let n = log.partition_point(|b| b.cycle < safe);
            if n == 0 {
                continue;
            }
            for (_, cap, beats) in self.taps.iter_mut().filter(|t| t.0 == i) {
                let k = n.min(cap.saturating_sub(beats.len()));
                beats.extend_from_slice(&log[..k]);
            }
            for (_, sums) in self.sums.iter_mut().filter(|t| t.0 == i) {
                sums.extend_by(&log[..n], |b| b.value);
            }
            log.drain(..n);
        }
    }
}

/// Merges two increasing lists of cycles.
fn merge(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if j >= b.len() || (i < a.len() && a[i] <= b[j]) {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out
}

/// Mean stream occupancy (beats per image over the design's interval, averaged over its
/// streams) from which [`pays_off`] prefers the lockstep run.
pub const BUSY_STREAMS: f64 = 0.45;

/// Whether the decoupled run is expected to be faster than the lockstep machine on `design`.
/// It skips the cycles in which a module moves nothing across its FIFOs and pays a round of
/// bookkeeping for every run of cycles it applies; when the streams carry a beat in most
/// cycles (a pixel-rate design: input, conv and pool streams one beat per cycle) there is
/// little to skip and the bookkeeping costs more (measured 2026-12-03 on the LeNet designs of
/// `docs/performance.md`, "Simulator speed": mean occupancy 0.52 lockstep 23 % faster, 0.44
/// 5 % faster, 0.40 and below the decoupled run 21 % … 2.6× faster).
pub fn pays_off(design: &Design) -> bool {
    if design.streams.is_empty() {
        return true;
    }
    let interval = design.interval_cycles().max(1) as f64;
    let occupancy: f64 = design
        .streams
        .iter()
        .map(|s| (s.elements_per_image / s.beat.max(1)) as f64 / interval)
        .sum::<f64>()
        / design.streams.len() as f64;
    occupancy < BUSY_STREAMS
}

/// Runs `m` (fresh, in its reset state) decoupled.
pub(crate) fn run(m: Machine, spec: &RunSpec) -> End {
    let parts = m.into_parts();
    let n = parts.engines.len();
    let ns = parts.depths.len();
    let stalls = StallsAt::new(spec.seed, spec.threshold);
    // The channels log every beat of a tapped side; [`TapLogs::drain`] keeps the logs short.
    let mut wcap = vec![0usize; ns];
    let mut rcap = vec![0usize; ns];
    for &(s, at_output, _) in spec.taps.iter().chain(spec.sums) {
        if at_output {
            rcap[s] = usize::MAX;
        } else {
            wcap[s] = usize::MAX;
        }
    }
    let mut logs = TapLogs::new(spec);
    let chans: Vec<Chan> = parts
        .depths
        .iter()
        .enumerate()
        .map(|(s, &d)| Chan::new(d, parts.beats[s], wcap[s], rcap[s]))
        .collect();
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n + 2];
    for s in 0..ns {
        let (p, c) = (parts.producer[s], parts.consumer[s]);
        if !succ[p].contains(&c) {
            succ[p].push(c);
        }
    }
    let units: Vec<Unit> = parts
        .engines
        .into_iter()
        .zip(parts.ios)
        .zip(parts.ins.into_iter().zip(parts.outs))
        .map(|((eng, io), (ins, outs))| Unit {
            eng,
            io,
            clock: Clock::default(),
            ins,
            outs,
        })
        .collect();
    let source = Source {
        t: 0,
        values: spec.values,
        e: spec.elements_per_image,
        next: 0,
        holding: false,
        stalls,
        starts: Vec::new(),
        fires: Vec::new(),
    };
    let sink = Sink {
        t: 0,
        out: parts.out,
        out_mask: parts.out_mask,
        out_width: parts.out_width,
        idx_mask: parts.idx_mask,
        n: spec.outputs_per_image,
        expected: spec.images * spec.outputs_per_image,
        stalls,
        outputs: Vec::new(),
        done: false,
    };

    let mut p = Pipeline {
        source,
        units,
        chans,
        sink,
        out_stream: parts.out_stream,
        succ,
    };
    // Phase 1: until the last output word.
    let horizon = spec.max_cycles.min(NEVER);
    while !p.sink.done {
        let before = p.transfers();
        if !p.round(horizon) {
            return End::Lockstep; // everybody at the cycle limit
        }
        if p.transfers() == before && p.frozen() {
            let outputs: Vec<u64> = p.sink.outputs.iter().map(|o| o.cycle).collect();
            return End::Stuck {
                transfers: merge(&p.source.fires, &outputs),
                outputs,
            };
        }
        // Both ends passed `idle_limit` cycles without a transfer: the lockstep run times
        // out there (don't simulate a stuck design up to the cycle limit).
        let last_transfer = p
            .source
            .fires
            .last()
            .copied()
            .max(p.sink.outputs.last().map(|o| o.cycle))
            .unwrap_or(0);
        if p.source.t.min(p.sink.t) > last_transfer.saturating_add(spec.idle_limit) {
            return End::Lockstep;
        }
        // everything before the sink's clock is before the end of the run
        let safe = p.sink.t;
        for u in &mut p.units {
            u.clock.settle(safe);
        }
        for c in &mut p.chans {
            c.settle(safe);
        }
        logs.drain(&mut p.chans, safe);
    }
    let total = p.sink.t;
    // Phase 2: modules still behind run up to the end.
    while p.source.t.min(
        p.units
            .iter()
            .map(|u| u.clock.t.min(u.clock.t_in))
            .min()
            .unwrap_or(total),
    ) < total
    {
        if !p.round(total) {
            return End::Lockstep;
        }
    }
    let Pipeline {
        source,
        units,
        mut chans,
        sink,
        ..
    } = p;

    // The idle limit of the lockstep run: no cycle may be `idle_limit` after the last
    // transfer (or cycle 0) before the next one.
    let outputs: Vec<u64> = sink.outputs.iter().map(|o| o.cycle).collect();
    let mut last = 0u64;
    let mut max_gap = 0u64;
    for next in merge(&source.fires, &outputs) {
        if next.saturating_sub(last) >= spec.idle_limit {
            return End::Lockstep;
        }
        max_gap = max_gap.max(next.saturating_sub(last));
        last = next;
    }

    let counters = units.iter().map(|u| u.clock.counters_at(total)).collect();
    let peaks = chans
        .iter_mut()
        .map(|c| {
            c.settle(total);
            c.peak_safe as usize
        })
        .collect();
    logs.drain(&mut chans, total);
    let taps = logs.taps.into_iter().map(|(_, _, beats)| beats).collect();
    let sums = logs.sums.into_iter().map(|(_, sums)| sums).collect();
    End::Done(Outcome {
        records: Records {
            outputs: sink.outputs,
            input_starts: source.starts,
            resets: Vec::new(),
            total_cycles: total,
        },
        counters,
        peaks,
        taps,
        sums,
        max_gap,
    })
}
