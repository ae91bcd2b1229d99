//! The decoupled run: every module of the pipeline (the source, each engine, the sink) keeps
//! its **own clock** and runs ahead as far as what it sees of its neighbours allows, instead
//! of all modules stepping one global cycle at a time. The result (every output word and its
//! cycle, input starts, activity counters, FIFO peaks, taps) is identical to the lockstep
//! [`crate::Machine`] run; `tests/fast_forward.rs` checks that on many designs, stall rates
//! and foldings.
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
//!   already a definite `true`, and only a possibly full FIFO is unknown.
//!
//! A module blocked on "unknown" stops; the module with the smallest clock can always do its
//! next edge (its neighbours have passed it), so the rounds below always progress.
//!
//! # Skipping time inside a module
//!
//! A module also jumps over runs of cycles in which it does nothing but count
//! ([`Quiet`](crate::engines::Quiet): an engine frozen, or an MVU in the middle of a neuron
//! fold, which with the lazy arithmetic of [`crate::engines::Mvu`] only advances `sf`), as far
//! as its FIFO signals are known to stay the same: `in_valid` matters only while `in_ready`,
//! `out_ready` only while `out_valid`, and each [`Chan`] tells until which cycle its answer
//! holds.
//!
//! # The end of the run
//!
//! The run ends with the last output word, at a cycle nobody knows in advance, so some
//! modules will have run past it. Their activity is kept as a log of segments (cycle where a
//! kind of cycle — busy, stalled, idle — starts) from the sink's clock on, FIFO peak
//! candidates and tap beats carry their cycle, and the part beyond the end is subtracted or
//! dropped at the end; modules still behind are run up to the end.
//!
//! Not handled here (the caller falls back to the lockstep run): mid-run resets, VCD output,
//! and runs that would end in a timeout or the cycle limit (detected after the fact).

use std::collections::VecDeque;

use crate::engines::{Counters, Engine, Kind, OutStage};
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
        }
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
        } else if self.written - self.read < self.depth {
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

    /// The producer writes at edge `t` (after [`Chan::ready`] said yes for `t`).
    #[inline(always)]
    fn write(&mut self, t: u64, data: i64, tap: bool) {
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
    #[inline(always)]
    fn log(&mut self, t: u64, kind: Kind) {
        if self.segs.back().is_none_or(|&(_, k)| k != kind) {
            self.segs.push_back((t, kind));
        }
    }

    /// Runs the engine between `inch` and `outch` up to `horizon` or until blocked. Returns
    /// whether its clock moved.
    fn run(&mut self, inch: &mut Chan, outch: &mut Chan, horizon: u64) -> bool {
        let t0 = self.t;
        let mut t = self.t;
        while t < horizon {
            let in_ready = self.eng.in_ready();
            let (in_valid, in_data) = if in_ready {
                match inch.valid(t) {
                    Some(v) => v,
                    None => break,
                }
            } else {
                (false, 0)
            };
            let out_valid = self.eng.out_valid();
            let out_ready = if out_valid {
                match outch.ready(t) {
                    Some(r) => r,
                    None => break,
                }
            } else {
                false // not used by the engine while out_valid is 0
            };
            if let Some(q) = self.eng.quiet(in_valid, out_ready) {
                // nothing crosses the FIFOs: jump as long as the engine's signals stay
                let mut last = horizon - 1;
                if let crate::engines::Quiet::Folding(r) = q {
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
                self.eng.apply_quiet(q, k as usize);
                self.log(t, q.kind());
                t += k;
            } else {
                let out_data = self.eng.out_data();
                let (in_fire, kind) = self.eng.update(in_valid, in_data, out_ready);
                self.log(t, kind);
                if in_fire {
                    inch.read(t, self.tap_in);
                }
                if out_valid && out_ready {
                    outch.write(t, out_data, self.tap_out);
                }
                t += 1;
            }
            inch.cons_advance(t);
            outch.prod_t = t;
        }
        self.t = t;
        t != t0
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
    let mut chans: Vec<Chan> = parts
        .depths
        .iter()
        .enumerate()
        .map(|(i, &d)| Chan::new(d, if i == 0 { tapin_cap } else { caps[i] }))
        .collect();
    let mut units: Vec<Unit> = parts
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
    let mut source = Source {
        t: 0,
        values: spec.values,
        e: spec.elements_per_image,
        next: 0,
        holding: false,
        stalls,
        starts: Vec::new(),
        fires: Vec::new(),
    };
    let mut sink = Sink {
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

    let round = |horizon: u64,
                 source: &mut Source,
                 units: &mut [Unit],
                 chans: &mut [Chan],
                 sink: &mut Sink|
     -> bool {
        let mut progress = source.run(&mut chans[0], horizon);
        for (i, u) in units.iter_mut().enumerate() {
            let (a, b) = chans.split_at_mut(i + 1);
            progress |= u.run(&mut a[i], &mut b[0], horizon);
        }
        progress | sink.run(&mut chans[n], horizon)
    };

    // Phase 1: until the last output word.
    let horizon = spec.max_cycles.min(NEVER);
    while !sink.done {
        if !round(horizon, &mut source, &mut units, &mut chans, &mut sink) {
            return None; // everybody at the cycle limit
        }
        // everything before the sink's clock is before the end of the run
        for u in &mut units {
            u.settle(sink.t);
        }
        for c in &mut chans {
            c.settle(sink.t);
        }
    }
    let total = sink.t;
    // Phase 2: modules still behind run up to the end.
    while source.t.min(units.iter().map(|u| u.t).min().unwrap_or(total)) < total {
        if !round(total, &mut source, &mut units, &mut chans, &mut sink) {
            return None;
        }
    }

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
