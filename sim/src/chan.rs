//! The per-module mechanics of the decoupled run: the time-stamped FIFO between two modules
//! with separate clocks ([`Chan`]) and a module's clock with its activity counters and log
//! ([`Clock`]).
//!
//! A [`Chan`] answers what a module sees of its FIFOs before the edge of any cycle `t` as soon
//! as it is determined, and says "unknown" (`None`) otherwise (no combinational path crosses a
//! FIFO, `docs/hardware.md` §1):
//!
//! * `m_valid(t)` for the consumer at `t` ([`Chan::valid`]): true if the oldest unread element
//!   was written at an edge `< t`; false if it was written at `≥ t`, or if there is none and
//!   the producer has done every edge `< t`; unknown if the producer is behind.
//! * `s_ready(t)` for the producer at `t` ([`Chan::ready`]): `count(t) != D` with `count(t)` =
//!   writes at edges `< t` − reads at edges `< t`. Exact when the consumer has done the edges
//!   `< t`; when it is behind, reads can only lower the count, so "not full even without those
//!   reads" is already a definite `true`, and only a possibly full FIFO is unknown. A consumer
//!   that stops for want of input may also *promise* that it takes every element of its
//!   current row as soon as it is valid ([`Chan::promise`]); the producer then counts those
//!   reads too.
//!
//! Both also keep what the end of the run needs, since modules run past it: a [`Clock`] logs
//! its activity segments, a [`Chan`] its FIFO peak candidates and tap beats with their cycles
//! (settled against the sink's clock, `settle`).
//!
//! Depends only on the leaves (`activity.rs`, `tap.rs`). Not here: the engine interface and
//! the context an engine runs in (`engines/api.rs`), the engine loops that drive a [`Chan`]
//! (`engines/loops.rs`), the pipeline of source, engines and sink and its rounds
//! (`decoupled.rs`, which also explains why the whole is exact).

use std::collections::VecDeque;

use crate::activity::{Counters, Kind};
use crate::tap::TapBeat;

/// A FIFO shared by a producer and a consumer with separate clocks (see the module documentation).
#[derive(Debug)]
pub(crate) struct Chan {
    depth: u64,
    /// Elements per beat (`docs/hardware.md` §2.1); depth, writes and reads count beats.
    beat: usize,
    /// Written, not yet read elements: `(data, edge of the write)`, `beat` per beat (all with
    /// the same edge).
    pub(crate) q: VecDeque<(i64, u64)>,
    written: u64,
    read: u64,
    /// The producer has done every edge `< prod_t`.
    pub(crate) prod_t: u64,
    /// The consumer has done every edge `< cons_t`.
    cons_t: u64,
    /// Edges of reads at or after the producer's clock, oldest first.
    reads: VecDeque<u64>,
    /// Writes whose count-after-edge waits for the consumer: `(edge, writes so far)`.
    pend: VecDeque<(u64, u64)>,
    /// Largest count after an edge known to be before the end of the run.
    pub(crate) peak_safe: u64,
    /// Larger counts after later edges: `(edge, count)`, edges increasing.
    cands: VecDeque<(u64, u64)>,
    /// Tap beats of this channel's writes (the producer side), at most `wcap`.
    pub(crate) wlog: Vec<TapBeat>,
    wcap: usize,
    /// Tap beats of its reads (the FIFO output), at most `rcap`.
    pub(crate) rlog: Vec<TapBeat>,
    rcap: usize,
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
    pub(crate) fn new(depth: usize, beat: usize, wcap: usize, rcap: usize) -> Self {
        let beat = beat.max(1);
        Chan {
            depth: depth as u64,
            beat,
            q: VecDeque::with_capacity(depth * beat),
            written: 0,
            read: 0,
            prod_t: 0,
            cons_t: 0,
            reads: VecDeque::new(),
            pend: VecDeque::new(),
            peak_safe: 0,
            cands: VecDeque::new(),
            wlog: Vec::new(),
            wcap,
            rlog: Vec::new(),
            rcap,
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
    pub(crate) fn promise(&mut self, until: u64, count: u64) {
        self.promise_until = until;
        self.promise_count = count;
        self.pred_n = 0;
        self.pred_next = self.cons_t;
    }

    /// Withdraws the promise (the consumer runs again).
    #[inline(always)]
    pub(crate) fn unpromise(&mut self) {
        self.promise_count = 0;
        self.pred_n = 0;
    }

    /// Reads at edges `< t` that the promise implies, beyond the known ones (`t > cons_t`).
    /// The `j`-th unread element is read at `max(w_j + 1, r_(j-1) + 1, cons_t)` while that
    /// is within the promise.
    #[inline(always)]
    fn predicted_reads(&mut self, t: u64) -> u64 {
        let n = (self.promise_count as usize).min(self.q.len() / self.beat);
        while self.pred_n < n {
            let r = (self.q[self.pred_n * self.beat].1 + 1).max(self.pred_next);
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
    pub(crate) fn valid(&self, t: u64) -> Option<(bool, i64)> {
        match self.q.front() {
            Some(&(d, w)) => Some((w < t, d)),
            None if self.prod_t >= t => Some((false, 0)),
            None => None,
        }
    }

    /// The last cycle through which `m_valid` stays false (given it is false at `t`).
    #[inline(always)]
    pub(crate) fn invalid_until(&self) -> u64 {
        match self.q.front() {
            Some(&(_, w)) => w,
            None => self.prod_t,
        }
    }

    /// The elements of the oldest unread beat into `out` (its length is the beat; call
    /// when [`Chan::valid`] said valid).
    #[inline(always)]
    pub(crate) fn front_beat(&self, out: &mut [i64]) {
        if let [o] = out {
            *o = self.q.front().map_or(0, |e| e.0);
            return;
        }
        for (o, e) in out.iter_mut().zip(self.q.iter()) {
            *o = e.0;
        }
    }

    /// The consumer reads a beat at edge `t`.
    #[inline(always)]
    pub(crate) fn read(&mut self, t: u64) {
        self.read += 1;
        if t >= self.prod_t {
            self.reads.push_back(t);
        }
        if self.beat == 1 {
            let e = self.q.pop_front();
            if self.rlog.len() < self.rcap {
                if let Some((value, _)) = e {
                    self.rlog.push(TapBeat { cycle: t, value });
                }
            }
            return;
        }
        for _ in 0..self.beat {
            let e = self.q.pop_front();
            if self.rlog.len() < self.rcap {
                if let Some((value, _)) = e {
                    self.rlog.push(TapBeat { cycle: t, value });
                }
            }
        }
    }

    /// The consumer has done every edge `< t` (no read in the edges since the last call but
    /// those passed to [`Chan::read`]).
    #[inline(always)]
    pub(crate) fn cons_advance(&mut self, t: u64) {
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
    pub(crate) fn ready(&mut self, t: u64) -> Option<bool> {
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
    pub(crate) fn full_until(&self) -> u64 {
        match self.reads.front() {
            Some(&r) => r,
            None => self.cons_t,
        }
    }

    /// Writes the producer can make from edge `t` on, one per edge, without asking
    /// [`Chan::ready`] again (a lower bound: the count before `t`'s edge, later reads ignored).
    #[inline(always)]
    pub(crate) fn space(&mut self, t: u64) -> u64 {
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
    pub(crate) fn write(&mut self, t: u64, data: i64) {
        debug_assert_eq!(self.beat, 1);
        while self.reads.front().is_some_and(|&r| r < t) {
            self.reads.pop_front();
        }
        self.q.push_back((data, t));
        self.wrote(t);
        if self.wlog.len() < self.wcap {
            self.wlog.push(TapBeat {
                cycle: t,
                value: data,
            });
        }
    }

    /// The producer writes the beat `data` (its `beat` elements) at edge `t` (as
    /// [`Chan::write`]).
    #[inline(always)]
    pub(crate) fn write_beat(&mut self, t: u64, data: &[i64]) {
        debug_assert_eq!(data.len(), self.beat);
        if let [d] = data {
            return self.write(t, *d);
        }
        while self.reads.front().is_some_and(|&r| r < t) {
            self.reads.pop_front();
        }
        for &d in data {
            self.q.push_back((d, t));
        }
        self.wrote(t);
        for &value in data {
            if self.wlog.len() < self.wcap {
                self.wlog.push(TapBeat { cycle: t, value });
            }
        }
    }

    /// The count bookkeeping of a write at edge `t`.
    #[inline(always)]
    fn wrote(&mut self, t: u64) {
        self.written += 1;
        if self.cons_t > t {
            // reads at edges <= t: all but those in `reads` after t (at most one read per edge)
            let later = self.reads.len() as u64 - u64::from(self.reads.front() == Some(&t));
            let count = self.written - (self.read - later);
            self.candidate(t, count);
        } else {
            self.pend.push_back((t, self.written));
        }
    }

    #[inline(always)]
    fn candidate(&mut self, edge: u64, count: u64) {
        if count > self.peak_safe && self.cands.back().is_none_or(|&(_, c)| count > c) {
            self.cands.push_back((edge, count));
        }
    }

    /// `m_valid` once every element written so far is visible (for the freeze check).
    pub(crate) fn final_valid(&self) -> bool {
        !self.q.is_empty()
    }

    /// `s_ready` once every read recorded so far is counted (for the freeze check).
    pub(crate) fn final_ready(&self) -> bool {
        self.written - self.read < self.depth
    }

    /// Transfers so far.
    pub(crate) fn transfers(&self) -> u64 {
        self.written + self.read
    }

    /// Folds the candidates at edges before `safe` (before the end of the run) into the peak.
    pub(crate) fn settle(&mut self, safe: u64) {
        while let Some(&(edge, c)) = self.cands.front() {
            if edge >= safe {
                break;
            }
            self.peak_safe = self.peak_safe.max(c);
            self.cands.pop_front();
        }
    }
}

/// An engine's clock, activity counters and log of activity segments.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// The engine has done every edge `< t`.
    pub t: u64,
    /// Its input side has done every edge `< t_in` (`t_in ≤ t`; a line-buffered engine's
    /// compute side may run ahead of its input side, see `engines/loops.rs`; else `t_in = t`).
    pub t_in: u64,
    /// `(first cycle, kind)` of each run of equal kinds, from before the sink's clock on.
    segs: VecDeque<(u64, Kind)>,
    pub counters: Counters,
}

impl Clock {
    /// A run of cycles of `kind` starts at `t` (a new segment if the kind changes).
    #[inline(always)]
    pub fn log(&mut self, t: u64, kind: Kind) {
        if self.segs.back().is_none_or(|&(_, k)| k != kind) {
            self.segs.push_back((t, kind));
        }
    }

    /// `k` cycles of `kind` from `t` on.
    #[inline(always)]
    pub fn count(&mut self, t: u64, kind: Kind, k: u64) {
        self.counters.add(kind, k);
        self.log(t, kind);
    }

    /// The counters as they were after the edge of cycle `end − 1` (the clock is `>= end`).
    pub(crate) fn counters_at(&self, end: u64) -> Counters {
        let mut c = self.counters;
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
    pub(crate) fn settle(&mut self, safe: u64) {
        while self.segs.len() >= 2 && self.segs[1].0 <= safe {
            self.segs.pop_front();
        }
    }
}
