//! The decoupled run: every module of the pipeline (the source, each engine, the sink) keeps
//! its **own clock** and runs ahead as far as what it sees of its neighbours allows, instead
//! of all modules stepping one global cycle at a time. The result (every output word and its
//! cycle, input starts, activity counters, FIFO peaks, taps) is identical to the lockstep
//! [`crate::Machine`] run; the tests below and `tests/fast_forward.rs` compare whole reports
//! on many designs, foldings, stall rates and seeds.
//!
//! # Why this is exact
//!
//! No combinational path crosses a FIFO (§1): what a module does at the edge of cycle `t`
//! depends on its own registers and on two signals of its FIFOs before that edge —
//! `m_valid`/`m_data` of the FIFO it reads, `s_ready` of the FIFO it writes. A [`Chan`] (a
//! FIFO whose writes and reads carry the cycle of their edge) answers these questions for
//! any cycle as soon as they are determined, and says "unknown" otherwise:
//!
//! * `m_valid(t)` for the consumer at `t`: true if the oldest unread element was written at
//!   an edge `< t`; false if it was written at `≥ t`, or if there is none and the producer has
//!   done every edge `< t`; unknown if the producer is behind.
//! * `s_ready(t)` for the producer at `t`: `count(t) != D` with `count(t)` = writes at edges
//!   `< t` − reads at edges `< t`. Exact when the consumer has done the edges `< t`; when it
//!   is behind, reads can only lower the count, so "not full even without those reads" is
//!   already a definite `true`, and only a possibly full FIFO is unknown. A consumer that
//!   stops for want of input may also *promise* that it takes every element of its current
//!   row as soon as it is valid ([`Chan::promise`]); the producer then counts those reads too.
//!
//! A module blocked on "unknown" stops; the module with the smallest clock can always do its
//! next edge (its neighbours have passed it), so the rounds ([`Pipeline::round`]: each
//! producer and its consumer in turn while they move) always progress.
//!
//! # Skipping time inside an engine
//!
//! Besides single edges ([`Stage::update`], the lockstep code), an engine applies at once:
//!
//! * runs of cycles in which it only counts ([`Quiet`]: frozen, or an MVU in the middle of a
//!   neuron fold, which with the lazy arithmetic of [`crate::engines::Mvu`] only advances
//!   `sf`), as long as its FIFO signals are known to stay the same (`in_valid` matters only
//!   while `in_ready`, `out_ready` only while `out_valid`; each [`Chan`] tells until which
//!   cycle its answer holds);
//! * the same with input elements arriving (only the input side changes, up to the end of a
//!   row: [`Stage::absorb`]);
//! * output bursts, a word per edge while no input arrives and the FIFO has room whatever
//!   the consumer does ([`Stage::burst_len`]).
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
//! that end in a timeout or the cycle limit ([`run`] returns `None` when it sees one coming,
//! and the caller re-runs lockstep to report it exactly).

use std::collections::VecDeque;

use crate::engines::{Counters, Engine, Kind, OutStage, Quiet, Stage};
use crate::machine::Machine;
use crate::protocol::{InputStart, OutputRecord, Records};
use crate::report::TapBeat;
use crate::stalls::StallsAt;

/// "Never" (far beyond any run, without overflow in `t + k`).
const NEVER: u64 = u64::MAX / 4;

/// A FIFO shared by a producer and a consumer with separate clocks (see the module docs).
#[derive(Debug)]
struct Chan {
    depth: u64,
    /// Written, not yet read elements: `(data, edge of the write)`.
    q: VecDeque<(i64, u64)>,
    written: u64,
    read: u64,
    /// The producer has done every edge `< prod_t`.
    prod_t: u64,
    /// The consumer has done every edge `< cons_t`.
    cons_t: u64,
    /// Edges of reads at or after the producer's clock, oldest first.
    reads: VecDeque<u64>,
    /// Writes whose count-after-edge waits for the consumer: `(edge, writes so far)`.
    pend: VecDeque<(u64, u64)>,
    /// Largest count after an edge known to be before the end of the run.
    peak_safe: u64,
    /// Larger counts after later edges: `(edge, count)`, edges increasing.
    cands: VecDeque<(u64, u64)>,
    /// Tap beats of this channel's writes (or reads, for `tapin`), at most `log_cap`.
    log: Vec<TapBeat>,
    log_cap: usize,
    /// The consumer's promise (see [`Chan::promise`]): it reads an element at every cycle
    /// `c` in `cons_t..=promise_until` where one is valid, for its next `promise_count`
    /// reads (0: no promise).
    promise_until: u64,
    promise_count: u64,
    /// Reads predicted from the promise so far: the first `pred_n` elements of `q`, the
    /// next one not before cycle `pred_next`.
    pred_n: usize,
    pred_next: u64,
}

impl Chan {
    fn new(depth: usize, log_cap: usize) -> Self {
        Chan {
            depth: depth as u64,
            q: VecDeque::with_capacity(depth),
            written: 0,
            read: 0,
            prod_t: 0,
            cons_t: 0,
            reads: VecDeque::new(),
            pend: VecDeque::new(),
            peak_safe: 0,
            cands: VecDeque::new(),
            log: Vec::new(),
            log_cap,
            promise_until: 0,
            promise_count: 0,
            pred_n: 0,
            pred_next: 0,
        }
    }

    /// The consumer, stopped at `cons_t` because its input is not known yet, promises to
    /// read whenever an element is valid in the cycles `cons_t..=until`, for its next
    /// `count` reads (its `in_ready` stays 1 and nothing else decides about its reads). The
    /// producer then knows those reads as soon as it knows its writes, and need not wait for
    /// the consumer to see the FIFO has room.
    #[inline(always)]
    fn promise(&mut self, until: u64, count: u64) {
        self.promise_until = until;
        self.promise_count = count;
        self.pred_n = 0;
        self.pred_next = self.cons_t;
    }

    /// Withdraws the promise (the consumer runs again).
    #[inline(always)]
    fn unpromise(&mut self) {
        self.promise_count = 0;
        self.pred_n = 0;
    }

    /// Reads at edges `< t` that the promise implies, beyond the known ones (`t > cons_t`).
    /// The `j`-th unread element is read at `max(w_j + 1, r_(j-1) + 1, cons_t)` while that
    /// is within the promise.
    #[inline(always)]
    fn predicted_reads(&mut self, t: u64) -> u64 {
        let n = (self.promise_count as usize).min(self.q.len());
        while self.pred_n < n {
            let r = (self.q[self.pred_n].1 + 1).max(self.pred_next);
            if r >= t || r > self.promise_until {
                break;
            }
            self.pred_n += 1;
            self.pred_next = r + 1;
        }
        self.pred_n as u64
    }

    // ----- consumer side -----

    /// `(m_valid, m_data)` before the edge of cycle `t`, `None` while undetermined.
    #[inline(always)]
    fn valid(&self, t: u64) -> Option<(bool, i64)> {
        match self.q.front() {
            Some(&(d, w)) => Some((w < t, d)),
            None if self.prod_t >= t => Some((false, 0)),
            None => None,
        }
    }

    /// The last cycle through which `m_valid` stays false (given it is false at `t`).
    #[inline(always)]
    fn invalid_until(&self) -> u64 {
        match self.q.front() {
            Some(&(_, w)) => w,
            None => self.prod_t,
        }
    }

    /// The consumer reads at edge `t`.
    #[inline(always)]
    fn read(&mut self, t: u64, tap: bool) {
        let e = self.q.pop_front();
        self.read += 1;
        if t >= self.prod_t {
            self.reads.push_back(t);
        }
        if tap && self.log.len() < self.log_cap {
            if let Some((value, _)) = e {
                self.log.push(TapBeat { cycle: t, value });
            }
        }
    }

    /// The consumer has done every edge `< t` (no read in the edges since the last call but
    /// those passed to [`Chan::read`]).
    #[inline(always)]
    fn cons_advance(&mut self, t: u64) {
        self.cons_t = t;
        while let Some(&(edge, w)) = self.pend.front() {
            if edge >= t {
                break;
            }
            self.pend.pop_front();
            self.candidate(edge, w - self.read);
        }
    }

    // ----- producer side -----

    /// `s_ready` before the edge of cycle `t`, `None` while undetermined.
    #[inline(always)]
    fn ready(&mut self, t: u64) -> Option<bool> {
        while self.reads.front().is_some_and(|&r| r < t) {
            self.reads.pop_front();
        }
        if self.cons_t >= t {
            // reads at edges < t: all known; those in `reads` are at edges >= t
            let count = self.written - (self.read - self.reads.len() as u64);
            Some(count != self.depth)
        } else if self.written - self.read < self.depth
            || self.written - self.read - self.predicted_reads(t) < self.depth
        {
            // not full even without the reads still unknown
            Some(true)
        } else {
            None
        }
    }

    /// The last cycle through which `s_ready` stays false (given it is false at `t`, which
    /// implies the consumer has done the edges `< t`).
    #[inline(always)]
    fn full_until(&self) -> u64 {
        match self.reads.front() {
            Some(&r) => r,
            None => self.cons_t,
        }
    }

    /// Writes the producer can make from edge `t` on, one per edge, without asking
    /// [`Chan::ready`] again (a lower bound: the count before `t`'s edge, later reads ignored).
    #[inline(always)]
    fn space(&mut self, t: u64) -> u64 {
        while self.reads.front().is_some_and(|&r| r < t) {
            self.reads.pop_front();
        }
        let known_reads = if self.cons_t >= t {
            self.read - self.reads.len() as u64
        } else {
            self.read + self.predicted_reads(t)
        };
        self.depth - (self.written - known_reads)
    }

    /// The producer writes at edge `t` (after [`Chan::ready`] or [`Chan::space`] said yes for
    /// `t`).
    #[inline(always)]
    fn write(&mut self, t: u64, data: i64, tap: bool) {
        while self.reads.front().is_some_and(|&r| r < t) {
            self.reads.pop_front();
        }
        self.q.push_back((data, t));
        self.written += 1;
        if self.cons_t > t {
            // reads at edges <= t: all but those in `reads` after t (at most one read per edge)
            let later = self.reads.len() as u64 - u64::from(self.reads.front() == Some(&t));
            let count = self.written - (self.read - later);
            self.candidate(t, count);
        } else {
            self.pend.push_back((t, self.written));
        }
        if tap && self.log.len() < self.log_cap {
            self.log.push(TapBeat {
                cycle: t,
                value: data,
            });
        }
    }

    #[inline(always)]
    fn candidate(&mut self, edge: u64, count: u64) {
        if count > self.peak_safe && self.cands.back().is_none_or(|&(_, c)| count > c) {
            self.cands.push_back((edge, count));
        }
    }

    /// Folds the candidates at edges before `safe` (before the end of the run) into the peak.
    fn settle(&mut self, safe: u64) {
        while let Some(&(edge, c)) = self.cands.front() {
            if edge >= safe {
                break;
            }
            self.peak_safe = self.peak_safe.max(c);
            self.cands.pop_front();
        }
    }
}

/// An engine with its clock and its log of activity segments.
#[derive(Debug)]
struct Unit {
    eng: Engine,
    t: u64,
    /// `(first cycle, kind)` of each run of equal kinds, from before the sink's clock on.
    segs: VecDeque<(u64, Kind)>,
    tap_in: bool,
    tap_out: bool,
}

impl Unit {
    /// Runs the engine between `inch` and `outch` up to `horizon` or until blocked. Returns
    /// whether its clock moved.
    fn run(&mut self, inch: &mut Chan, outch: &mut Chan, horizon: u64) -> bool {
        let t0 = self.t;
        let mut clock = Clock {
            t: self.t,
            segs: &mut self.segs,
            tap_in: self.tap_in,
            tap_out: self.tap_out,
        };
        match &mut self.eng {
            Engine::Mvu(m) => run_stage(m.as_mut(), &mut clock, inch, outch, horizon),
            Engine::Pool(p) => run_stage(p.as_mut(), &mut clock, inch, outch, horizon),
        }
        self.t = clock.t;
        self.t != t0
    }

    /// The counters as they were after the edge of cycle `end − 1` (the clock is `>= end`).
    fn counters_at(&self, end: u64) -> Counters {
        let mut c = self.eng.counters();
        let mut seg_end = self.t;
        for &(start, kind) in self.segs.iter().rev() {
            if seg_end <= end {
                break;
            }
            c.sub(kind, seg_end - start.max(end));
            seg_end = start;
        }
        c
    }

    /// Drops the segments that end before `safe`.
    fn settle(&mut self, safe: u64) {
        while self.segs.len() >= 2 && self.segs[1].0 <= safe {
            self.segs.pop_front();
        }
    }
}

/// An engine's clock and activity log, borrowed from its [`Unit`] while it runs.
struct Clock<'a> {
    t: u64,
    segs: &'a mut VecDeque<(u64, Kind)>,
    tap_in: bool,
    tap_out: bool,
}

impl Clock<'_> {
    #[inline(always)]
    fn log(&mut self, t: u64, kind: Kind) {
        if self.segs.back().is_none_or(|&(_, k)| k != kind) {
            self.segs.push_back((t, kind));
        }
    }
}

/// The engine loop of [`Unit::run`], for one engine kind.
#[inline(never)]
fn run_stage<S: Stage>(
    eng: &mut S,
    clock: &mut Clock,
    inch: &mut Chan,
    outch: &mut Chan,
    horizon: u64,
) {
    let mut t = clock.t;
    inch.unpromise();
    while t < horizon {
        let in_ready = eng.in_ready();
        let (in_valid, in_data) = if in_ready {
            match inch.valid(t) {
                Some(v) => v,
                None => {
                    promise(eng, inch, outch, t, horizon);
                    break;
                }
            }
        } else {
            (false, 0)
        };
        let out_valid = eng.out_valid();
        let out_ready = if out_valid {
            match outch.ready(t) {
                Some(r) => r,
                None => break,
            }
        } else {
            false // not used by the engine while out_valid is 0
        };
        if let Some(q) = eng.quiet(in_valid, out_ready) {
            // nothing crosses the FIFOs: jump as long as the engine's signals stay
            let mut last = horizon - 1;
            if let Quiet::Folding(r) = q {
                last = last.min(t + r as u64 - 1);
            }
            if in_ready && !in_valid {
                last = last.min(inch.invalid_until());
            }
            if out_valid {
                // quiet with out_valid means out_ready is 0
                last = last.min(outch.full_until());
            }
            let k = last + 1 - t;
            eng.apply_quiet(q, k as usize);
            clock.log(t, q.kind());
            t += k;
        } else if let Some(q) = in_valid.then(|| eng.quiet(false, out_ready)).flatten() {
            // Quiet but for the input: absorb the arriving elements (only the input side
            // changes) until a row completes (which may change `in_ready` and the compute
            // side's `avail`) or the quiet state ends.
            let mut last = horizon - 1;
            if let Quiet::Folding(r) = q {
                last = last.min(t + r as u64 - 1);
            }
            if out_valid {
                last = last.min(outch.full_until());
            }
            let kind = q.kind();
            clock.log(t, kind);
            let mut data = in_data;
            loop {
                // cycle t: one quiet cycle plus the transfer of `data`
                eng.apply_quiet(q, 1);
                let row_done = eng.absorb(data);
                inch.read(t, clock.tap_in);
                t += 1;
                inch.cons_advance(t);
                if row_done || t > last {
                    break;
                }
                // wait (quiet) for the next element: valid from the cycle after its write,
                // or, while none is written, at least until the producer's clock
                let (next, until) = match inch.q.front() {
                    Some(&(d, w)) => (Some(d), (w + 1).max(t) - 1),
                    None => (None, inch.prod_t),
                };
                let until = until.min(last);
                if until >= t {
                    eng.apply_quiet(q, (until + 1 - t) as usize);
                    t = until + 1;
                    inch.cons_advance(t);
                }
                match next {
                    Some(d) if t <= last && inch.q.front().is_some_and(|&(_, w)| w < t) => data = d,
                    _ => break,
                }
            }
        } else if !in_valid && (out_ready || !out_valid) && eng.burst_len() > 1 {
            // An output burst: a word per edge, nothing else crosses a FIFO; as long as no
            // input arrives and the FIFO has room for the writes whatever the consumer does.
            let mut last = (horizon - 1).min(t.saturating_add(eng.burst_len() as u64) - 1);
            if in_ready {
                last = last.min(inch.invalid_until());
            }
            let mut space = outch.space(t);
            while t <= last {
                let out_valid = eng.out_valid();
                if out_valid {
                    if space == 0 {
                        break;
                    }
                    space -= 1;
                }
                let out_data = eng.out_data();
                let (_, kind) = eng.update(false, 0, true);
                clock.log(t, kind);
                if out_valid {
                    outch.write(t, out_data, clock.tap_out);
                }
                t += 1;
                if !eng.out_valid() && eng.burst_len() == 0 {
                    break;
                }
            }
        } else {
            let out_data = eng.out_data();
            let (in_fire, kind) = eng.update(in_valid, in_data, out_ready);
            clock.log(t, kind);
            if in_fire {
                inch.read(t, clock.tap_in);
            }
            if out_valid && out_ready {
                outch.write(t, out_data, clock.tap_out);
            }
            t += 1;
        }
        inch.cons_advance(t);
        outch.prod_t = t;
    }
    clock.t = t;
}

/// Called when the engine stops at `t` for want of its input: if, whatever arrives, it
/// would only absorb elements until its current row is complete, tell its input channel so
/// ([`Chan::promise`]).
#[inline(always)]
fn promise<S: Stage>(eng: &S, inch: &mut Chan, outch: &mut Chan, t: u64, horizon: u64) {
    let out_valid = eng.out_valid();
    let out_ready = if out_valid {
        match outch.ready(t) {
            Some(r) => r,
            None => return,
        }
    } else {
        false
    };
    // in_ready is 1 here; quiet but for the input (as in `run_stage`'s absorbing branch)
    if let Some(q) = eng.quiet(false, out_ready) {
        let mut last = horizon - 1;
        if let Quiet::Folding(r) = q {
            last = last.min(t + r as u64 - 1);
        }
        if out_valid {
            last = last.min(outch.full_until());
        }
        inch.promise(last, eng.row_left() as u64);
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
                    ch.write(t, self.values[self.next], false);
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
                ch.read(t, false);
                t += 1;
                self.done = self.outputs.len() >= self.expected;
            }
            ch.cons_advance(t);
        }
        self.t = t;
        t != t0
    }
}

/// All modules: module `j` writes channel `j` and reads channel `j − 1` (module 0 is the
/// source, `1..=n` the engines, `n + 1` the sink).
struct Pipeline<'a> {
    source: Source<'a>,
    units: Vec<Unit>,
    chans: Vec<Chan>,
    sink: Sink,
}

impl Pipeline<'_> {
    /// Runs module `j` as far as it goes; whether its clock moved.
    fn run_module(&mut self, j: usize, horizon: u64) -> bool {
        let n = self.units.len();
        if j == 0 {
            self.source.run(&mut self.chans[0], horizon)
        } else if j <= n {
            let (a, b) = self.chans.split_at_mut(j);
            self.units[j - 1].run(&mut a[j - 1], &mut b[0], horizon)
        } else {
            self.sink.run(&mut self.chans[n], horizon)
        }
    }

    /// One round: every module once, from the source to the sink. Whether any clock moved.
    fn round(&mut self, horizon: u64) -> bool {
        let mut progress = false;
        for j in 0..=self.units.len() {
            let mut first = true;
            loop {
                let a = self.run_module(j, horizon);
                progress |= a;
                if !a && !first {
                    break;
                }
                first = false;
                let b = self.run_module(j + 1, horizon);
                progress |= b;
                if !b {
                    break;
                }
            }
        }
        progress
    }
}

/// What a decoupled run observed (the lockstep run's equivalents).
pub(crate) struct Outcome {
    pub records: Records,
    pub counters: Vec<Counters>,
    pub peaks: Vec<usize>,
    /// Beats of each `Design.taps` stream (already cut to the requested count).
    pub taps: Vec<Vec<TapBeat>>,
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
    /// Stop (and return `None`) if the run is not complete before this cycle.
    pub max_cycles: u64,
    /// The lockstep run's idle limit; `None` is returned if it would trip.
    pub idle_limit: u64,
    /// `(stream, beats to record)` of each tap (`None` = after `fifo_in`).
    pub taps: &'a [(Option<usize>, usize)],
}

/// Runs `m` (fresh, in its reset state) decoupled. `None`: the run needs the lockstep
/// simulation (it does not complete within `max_cycles`, or it would trip the idle limit);
/// the caller reruns it that way to get the same error as without the decoupled run.
pub(crate) fn run(m: Machine, spec: &RunSpec) -> Option<Outcome> {
    let parts = m.into_parts();
    let n = parts.engines.len();
    let stalls = StallsAt::new(spec.seed, spec.threshold);
    // tap capacity per channel: writes of chan e+1 for engine e, reads of chan 0 for tapin
    let mut caps = vec![0usize; n + 1];
    let mut tapin_cap = 0usize;
    for &(stream, cap) in spec.taps {
        match stream {
            Some(e) => caps[e + 1] = caps[e + 1].max(cap),
            None => tapin_cap = tapin_cap.max(cap),
        }
    }
    let chans: Vec<Chan> = parts
        .depths
        .iter()
        .enumerate()
        .map(|(i, &d)| Chan::new(d, if i == 0 { tapin_cap } else { caps[i] }))
        .collect();
    let units: Vec<Unit> = parts
        .engines
        .into_iter()
        .enumerate()
        .map(|(i, eng)| Unit {
            eng,
            t: 0,
            segs: VecDeque::new(),
            tap_in: i == 0 && tapin_cap > 0,
            tap_out: caps[i + 1] > 0,
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
    };
    // Phase 1: until the last output word.
    let horizon = spec.max_cycles.min(NEVER);
    while !p.sink.done {
        if !p.round(horizon) {
            return None; // everybody at the cycle limit
        }
        // everything before the sink's clock is before the end of the run
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
            return None;
        }
        let safe = p.sink.t;
        for u in &mut p.units {
            u.settle(safe);
        }
        for c in &mut p.chans {
            c.settle(safe);
        }
    }
    let total = p.sink.t;
    // Phase 2: modules still behind run up to the end.
    while p
        .source
        .t
        .min(p.units.iter().map(|u| u.t).min().unwrap_or(total))
        < total
    {
        if !p.round(total) {
            return None;
        }
    }
    let Pipeline {
        source,
        units,
        mut chans,
        sink,
    } = p;

    // The idle limit of the lockstep run: no cycle may be `idle_limit` after the last
    // transfer (or cycle 0) before the next one.
    let mut last = 0u64;
    let (mut i, mut o) = (0usize, 0usize);
    let outs = &sink.outputs;
    while i < source.fires.len() || o < outs.len() {
        let next = match (source.fires.get(i), outs.get(o)) {
            (Some(&a), Some(b)) if a <= b.cycle => {
                i += 1;
                a
            }
            (Some(&a), None) => {
                i += 1;
                a
            }
            (_, Some(b)) => {
                o += 1;
                b.cycle
            }
            (None, None) => break,
        };
        if next.saturating_sub(last) >= spec.idle_limit {
            return None;
        }
        last = next;
    }

    let counters = units.iter().map(|u| u.counters_at(total)).collect();
    let peaks = chans
        .iter_mut()
        .map(|c| {
            c.settle(total);
            c.peak_safe as usize
        })
        .collect();
    let taps = spec
        .taps
        .iter()
        .map(|&(stream, cap)| {
            let ch = match stream {
                Some(e) => &chans[e + 1],
                None => &chans[0],
            };
            ch.log
                .iter()
                .filter(|b| b.cycle < total)
                .take(cap)
                .copied()
                .collect()
        })
        .collect();
    Some(Outcome {
        records: Records {
            outputs: sink.outputs,
            input_starts: source.starts,
            resets: Vec::new(),
            total_cycles: total,
        },
        counters,
        peaks,
        taps,
    })
}

#[cfg(test)]
mod tests {
    //! The decoupled run against the lockstep run (`fast_forward: false` steps every cycle
    //! of the [`Machine`]): whole reports must be identical.

    use crate::{simulate, SimError, SimOptions, SimReport};
    use inq_hdl::{plan, FoldingRequest};
    use inq_model::random::{build, random_input, LayerSpec, RandomSpec};
    use inq_model::{ActFormat, QuantModel};

    fn conv(out: usize, k: usize, stride: usize, pad: usize, relu: bool) -> LayerSpec {
        LayerSpec::Conv {
            out,
            k,
            stride,
            pad,
            bits: 4,
            act_bits: 6,
            relu,
            per_channel: true,
        }
    }

    fn dense(out: usize, relu: bool) -> LayerSpec {
        LayerSpec::Dense {
            out,
            bits: 5,
            act_bits: 8,
            relu,
            per_channel: false,
        }
    }

    fn models() -> Vec<QuantModel> {
        let u8in = ActFormat {
            bits: 8,
            signed: false,
            exp: -8,
        };
        let specs = [
            RandomSpec {
                input: [2, 8, 8],
                input_format: u8in,
                layers: vec![
                    conv(4, 3, 1, 1, true),
                    LayerSpec::MaxPool(2),
                    conv(6, 3, 1, 0, false),
                    LayerSpec::Flatten,
                    dense(5, false),
                ],
            },
            RandomSpec {
                input: [3, 9, 9],
                input_format: ActFormat {
                    bits: 6,
                    signed: true,
                    exp: -4,
                },
                layers: vec![
                    conv(4, 3, 2, 1, true),
                    LayerSpec::AvgPool(1),
                    conv(8, 1, 1, 0, true),
                    LayerSpec::AvgPool(2),
                    LayerSpec::GlobalAvgPool,
                    LayerSpec::Flatten,
                    dense(4, false),
                ],
            },
            RandomSpec {
                input: [1, 6, 6],
                input_format: u8in,
                layers: vec![conv(3, 3, 1, 1, true), conv(2, 1, 1, 0, false)],
            },
            RandomSpec {
                input: [12, 1, 1],
                input_format: u8in,
                layers: vec![LayerSpec::Flatten, dense(8, true), dense(3, false)],
            },
        ];
        specs
            .iter()
            .enumerate()
            .map(|(i, s)| match build(s, 7 + i as u64) {
                Ok(m) => m,
                Err(e) => panic!("model {i}: {e}"),
            })
            .collect()
    }

    fn strip(mut r: SimReport) -> SimReport {
        r.sim_seconds = 0.0;
        r.cycles_per_second = 0.0;
        r
    }

    fn run(
        d: &inq_hdl::Design,
        imgs: &[Vec<i64>],
        o: &SimOptions,
        fast: bool,
    ) -> Result<SimReport, SimError> {
        simulate(
            d,
            imgs,
            &SimOptions {
                fast_forward: fast,
                ..o.clone()
            },
        )
        .map(strip)
    }

    #[test]
    fn decoupled_equals_lockstep() {
        for (mi, m) in models().iter().enumerate() {
            let imgs: Vec<Vec<i64>> = (0..6).map(|i| random_input(m, 100 + i)).collect();
            for req in [
                FoldingRequest::Minimal,
                FoldingRequest::LaneBudget(3),
                FoldingRequest::LaneBudget(6),
                FoldingRequest::LaneBudget(12),
                FoldingRequest::LaneBudget(40),
                FoldingRequest::LaneBudget(1 << 20),
            ] {
                let d = match plan(m, &req) {
                    Ok(d) => d,
                    Err(e) => panic!("plan {mi} {req:?}: {e}"),
                };
                for seed in 0..12u64 {
                    let rate = [0.0, 0.02, 0.1, 0.3, 0.5, 0.8][seed as usize % 6];
                    let o = SimOptions {
                        stall_rate: rate,
                        seed,
                        tap_images: 2,
                        ..SimOptions::default()
                    };
                    let slow = run(&d, &imgs, &o, false);
                    let fast = run(&d, &imgs, &o, true);
                    match (&slow, &fast) {
                        (Ok(a), Ok(b)) => {
                            assert!(!a.taps.is_empty() && !a.taps[0].is_empty());
                            assert_eq!(a, b, "model {mi} {req:?} rate {rate}");
                        }
                        _ => panic!("model {mi} {req:?} rate {rate}: {slow:?} / {fast:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn lenet_shaped_decoupled_equals_lockstep() {
        let spec = inq_model::random::lenet_spec(-8, false);
        let m = match build(&spec, 3) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        let imgs: Vec<Vec<i64>> = (0..2).map(|i| random_input(&m, i)).collect();
        for req in [
            FoldingRequest::LaneBudget(64),
            FoldingRequest::LaneBudget(256),
        ] {
            let d = match plan(&m, &req) {
                Ok(d) => d,
                Err(e) => panic!("{e}"),
            };
            for (rate, seed) in [(0.0, 1), (0.1, 2), (0.5, 3)] {
                let o = SimOptions {
                    stall_rate: rate,
                    seed,
                    tap_images: 1,
                    ..SimOptions::default()
                };
                let slow = run(&d, &imgs, &o, false);
                let fast = run(&d, &imgs, &o, true);
                match (&slow, &fast) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{req:?} rate {rate}"),
                    _ => panic!("{req:?} rate {rate}: {slow:?} / {fast:?}"),
                }
            }
        }
    }

    #[test]
    fn limits_at_the_boundary_match_lockstep() {
        let m = &models()[0];
        let imgs: Vec<Vec<i64>> = (0..3).map(|i| random_input(m, i)).collect();
        let d = match plan(m, &FoldingRequest::LaneBudget(6)) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let base = SimOptions {
            stall_rate: 0.2,
            seed: 5,
            ..SimOptions::default()
        };
        let r = match run(&d, &imgs, &base, false) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let t = r.total_cycles;
        let mut kinds = Vec::new();
        for (max_cycles, idle_limit) in [
            (Some(t), 5_000_000),
            (Some(t - 1), 5_000_000),
            (None, 3),
            (None, 40),
            (None, 5000),
        ] {
            let o = SimOptions {
                max_cycles,
                idle_limit,
                ..base.clone()
            };
            let slow = run(&d, &imgs, &o, false);
            let fast = run(&d, &imgs, &o, true);
            kinds.push(match &fast {
                Ok(_) => "ok",
                Err(SimError::CycleLimit { .. }) => "cycle limit",
                Err(SimError::Timeout { .. }) => "timeout",
                Err(_) => "other",
            });
            assert_eq!(
                format!("{slow:?}"),
                format!("{fast:?}"),
                "max_cycles {max_cycles:?} idle_limit {idle_limit}"
            );
        }
        assert_eq!(kinds, ["ok", "cycle limit", "timeout", "timeout", "ok"]);
    }
}
