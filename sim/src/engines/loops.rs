//! The generic decoupled loops that engines call from their `SimEngine::run`: how one engine
//! advances on its own clock through its channels ([`Chan`]) in the decoupled run.
//!
//! An MVU or a pooling unit ([`run_windowed`], over the [`Windowed`] view of `inside.rs`)
//! applies at once:
//!
//! * runs of cycles in which it only counts ([`Quiet`]: frozen, or an MVU in the middle of a
//!   neuron fold, which with the lazy arithmetic of `engines/mvu.rs` only advances `sf`), as
//!   long as its FIFO signals are known to stay the same (`in_valid` matters only while
//!   `in_ready`, `out_ready` only while `out_valid`; each [`Chan`] tells until which cycle its
//!   answer holds);
//! * the same with input elements arriving (only the input side changes, up to the end of a
//!   row: [`Windowed::absorb`]);
//! * output bursts, a word per edge while no input arrives and the FIFO has room whatever
//!   the consumer does ([`Windowed::burst_len`]);
//! * running ahead of its input side (see [`run_windowed`]).
//!
//! Beats of several elements (`docs/hardware.md` §2.1) go through the same paths: the loop
//! copies the oldest input beat out of the channel ([`Chan::front_beat`]) and the engine's
//! output beat before each edge, and counts rows in beats.
//!
//! Every other engine (GAP, adder, fork) goes through the generic loop [`step`]: one edge at
//! a time from the [`Chan`] answers (an edge may proceed with some answers unknown when the
//! engine does not depend on them, [`SimEngine::decidable`]), and frozen stretches skipped
//! up to the first cycle at which one of its false `valid`/`ready` signals can change.
//!
//! Depends on the engine interface (`api.rs`), the line-buffered engines' view (`inside.rs`,
//! which does not depend back), the channels and clocks (`chan.rs`) and the activity leaf. Not
//! here: the engines' state machines (one file each), the channel semantics (`chan.rs`), the
//! pipeline of source, engines and sink and its rounds (`decoupled.rs`).

use super::api::{RunCx, SimEngine};
use super::inside::Windowed;
use crate::activity::Quiet;
use crate::chan::{Chan, Clock};

/// Two distinct channels mutably.
pub(crate) fn pair_mut(chans: &mut [Chan], a: usize, b: usize) -> (&mut Chan, &mut Chan) {
    debug_assert_ne!(a, b);
    if a < b {
        let (x, y) = chans.split_at_mut(b);
        (&mut x[a], &mut y[0])
    } else {
        let (x, y) = chans.split_at_mut(a);
        (&mut y[0], &mut x[b])
    }
}

/// The engine loop of a line-buffered engine (MVU, pooling unit: one input, one output), with
/// the fast paths of the module documentation and one more: **running ahead**. When the
/// engine needs its input but the producer is behind, and its compute side has the rows of
/// its current output row (which stay whatever arrives, by the `lim` rule of §4), the compute
/// and emission side continue alone up to the edge that ends the output row (the only compute
/// edge that affects the input side: it changes `oy`, hence `lim`, or is `last_fire`). The
/// input side stays behind (`Clock::t_in`, the input channel's consumer clock) and catches up
/// later, with the same `lim`; an input arrival never changes the compute side while it has
/// its rows. This lets tightly coupled loops (a fork whose skip FIFO is full, waiting for the
/// adder, waiting for the main path's MVUs, waiting for the fork) advance by output rows.
#[inline(never)]
pub(crate) fn run_windowed<S: Windowed>(eng: &mut S, cx: &mut RunCx<'_>) {
    let horizon = cx.horizon;
    let (inch, outch) = pair_mut(cx.chans, cx.ins[0], cx.outs[0]);
    let clock = &mut *cx.clock;
    let mut t = clock.t;
    let mut ti = clock.t_in;
    inch.unpromise();
    // wide beats (`docs/hardware.md` §2.1): the input beat and a copy of the output beat,
    // both empty (no allocation: this runs for every engine in every round) with one element
    let ki = eng.in_beat();
    let mut ibuf: Vec<i64> = if ki > 1 { vec![0; ki] } else { Vec::new() };
    let mut obuf: Vec<i64> = eng.out_beat().map_or_else(Vec::new, <[i64]>::to_vec);
    'run: loop {
        // The input side behind the compute side: catch up (same `lim` all the way).
        while ti < t {
            if eng.inside().wraps() {
                let h = eng.inside().h;
                eng.inside().update(false, &[], h, false);
                ti += 1;
            } else if !eng.in_ready() {
                // nothing happens on the input side before the compute side's next row end
                ti = t;
            } else {
                match inch.valid(ti) {
                    None => {
                        // it takes every element of its row as soon as it is valid
                        inch.promise(t - 1, eng.row_left() as u64);
                        break 'run;
                    }
                    Some((false, _)) => ti = (inch.invalid_until() + 1).min(t),
                    Some((true, d)) => {
                        if ki > 1 {
                            inch.front_beat(&mut ibuf);
                        }
                        absorb(eng, d, &ibuf);
                        inch.read(ti);
                        ti += 1;
                    }
                }
            }
            inch.cons_advance(ti);
        }
        if t >= horizon {
            break;
        }
        let in_ready = eng.in_ready();
        let (in_valid, in_data) = if in_ready {
            match inch.valid(t) {
                Some(v) => v,
                None => {
                    if eng.can_run_ahead()
                        && run_ahead(eng, clock, outch, &mut t, horizon, &mut obuf)
                    {
                        continue 'run;
                    }
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
            clock.count(t, q.kind(), k);
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
            if ki > 1 {
                inch.front_beat(&mut ibuf);
            }
            loop {
                // cycle t: one quiet cycle plus the transfer of `data`
                eng.apply_quiet(q, 1);
                clock.counters.add(kind, 1);
                let row_done = absorb(eng, data, &ibuf);
                inch.read(t);
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
                    let n = until + 1 - t;
                    eng.apply_quiet(q, n as usize);
                    clock.counters.add(kind, n);
                    t = until + 1;
                    inch.cons_advance(t);
                }
                match next {
                    Some(d) if t <= last && inch.q.front().is_some_and(|&(_, w)| w < t) => {
                        data = d;
                        if ki > 1 {
                            inch.front_beat(&mut ibuf);
                        }
                    }
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
                let out_data = take_out(eng, &mut obuf);
                let (_, kind) = if ki == 1 {
                    eng.update(false, 0, true)
                } else {
                    eng.update_beat(false, &ibuf, true)
                };
                clock.count(t, kind, 1);
                if out_valid {
                    write_out(outch, t, out_data, &obuf);
                }
                t += 1;
                if !eng.out_valid() && eng.burst_len() == 0 {
                    break;
                }
            }
        } else {
            let out_data = take_out(eng, &mut obuf);
            let (in_fire, kind) = if ki == 1 {
                eng.update(in_valid, in_data, out_ready)
            } else {
                if in_valid {
                    inch.front_beat(&mut ibuf);
                }
                eng.update_beat(in_valid, &ibuf, out_ready)
            };
            clock.count(t, kind, 1);
            if in_fire {
                inch.read(t);
            }
            if out_valid && out_ready {
                write_out(outch, t, out_data, &obuf);
            }
            t += 1;
        }
        ti = t;
        inch.cons_advance(t);
        outch.prod_t = t;
    }
    clock.t = t;
    clock.t_in = ti;
}

/// The compute and emission side of a line-buffered engine alone, from `t` while its input
/// side stays behind (see [`run_windowed`]): up to the edge that ends the output row, the
/// horizon, or an unknown `out_ready`. Returns whether `t` moved.
#[inline(always)]
fn run_ahead<S: Windowed>(
    eng: &mut S,
    clock: &mut Clock,
    outch: &mut Chan,
    t: &mut u64,
    horizon: u64,
    obuf: &mut [i64],
) -> bool {
    let t0 = *t;
    while *t < horizon {
        let out_valid = eng.out_valid();
        let out_ready = if out_valid {
            match outch.ready(*t) {
                Some(r) => r,
                None => break,
            }
        } else {
            false
        };
        if eng.row_end_next(out_ready) {
            break;
        }
        if let Some(q) = eng.compute_quiet(out_ready) {
            let mut last = horizon - 1;
            if let Quiet::Folding(r) = q {
                last = last.min(*t + r as u64 - 1);
            }
            if out_valid {
                // quiet with out_valid means out_ready is 0: until the FIFO has room
                last = last.min(outch.full_until());
            } else if let Quiet::Frozen { .. } = q {
                break; // (not with the rows there)
            }
            let k = last + 1 - *t;
            eng.apply_quiet(q, k as usize);
            clock.count(*t, q.kind(), k);
            *t += k;
        } else {
            let out_data = take_out(eng, obuf);
            let kind = eng.compute_edge(out_ready);
            clock.count(*t, kind, 1);
            if out_valid && out_ready {
                write_out(outch, *t, out_data, obuf);
            }
            *t += 1;
        }
        outch.prod_t = *t;
    }
    *t != t0
}

/// The engine's output before an edge: `out_data`, and a wide output beat copied into `obuf`
/// (left empty for one element per beat).
#[inline(always)]
fn take_out<S: Windowed>(eng: &S, obuf: &mut [i64]) -> i64 {
    if let Some(b) = eng.out_beat() {
        obuf.copy_from_slice(b);
    }
    eng.out_data()
}

/// The input side takes `d`, or the wide beat `beat` (empty with one element per beat).
#[inline(always)]
fn absorb<S: Windowed>(eng: &mut S, d: i64, beat: &[i64]) -> bool {
    if beat.is_empty() {
        eng.absorb(d)
    } else {
        eng.absorb_beat(beat)
    }
}

/// Writes the output beat taken before an edge: `data` alone, or the copied wide beat `wide`
/// (non-empty for an engine with more than one element per output beat).
#[inline(always)]
fn write_out(outch: &mut Chan, t: u64, data: i64, wide: &[i64]) {
    if wide.is_empty() {
        outch.write(t, data);
    } else {
        outch.write_beat(t, wide);
    }
}

/// Called when a line-buffered engine stops at `t` for want of its input: if, whatever
/// arrives, it would only absorb elements until its current row is complete, tell its input
/// channel so ([`Chan::promise`]).
#[inline(always)]
fn promise<S: Windowed>(eng: &S, inch: &mut Chan, outch: &mut Chan, t: u64, horizon: u64) {
    let out_valid = eng.out_valid();
    let out_ready = if out_valid {
        match outch.ready(t) {
            Some(r) => r,
            None => return,
        }
    } else {
        false
    };
    // in_ready is 1 here; quiet but for the input (as in `run_windowed`'s absorbing branch)
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

/// The generic engine loop: an engine's burst fast path ([`SimEngine::burst`]) where it has
/// one, else one edge at a time from the channels' answers ([`SimEngine::edge`]
/// once the known answers decide it), and frozen stretches skipped up to the first cycle at
/// which one of the engine's false `valid`/`ready` signals can change (a true `valid` stays
/// until the engine reads, a true `ready` until it writes).
pub(crate) fn step(eng: &mut dyn SimEngine, cx: &mut RunCx<'_>) {
    let horizon = cx.horizon;
    let mut t = cx.clock.t;
    let io = &mut *cx.io;
    let chans = &mut *cx.chans;
    if let [s] = *cx.ins {
        chans[s].unpromise();
    }
    while t < horizon {
        let b = eng.burst(chans, cx.ins, cx.outs, cx.clock, t, horizon);
        if b != t {
            t = b;
            for &s in cx.ins {
                chans[s].cons_advance(t);
            }
            for &s in cx.outs {
                chans[s].prod_t = t;
            }
            continue;
        }
        for (p, &s) in cx.ins.iter().enumerate() {
            match chans[s].valid(t) {
                Some((v, _)) => {
                    io.in_known[p] = true;
                    io.in_valid[p] = v;
                    chans[s].front_beat(io.in_beat_mut(p));
                }
                None => {
                    io.in_known[p] = false;
                    io.in_valid[p] = false;
                }
            }
        }
        for (k, &s) in cx.outs.iter().enumerate() {
            match chans[s].ready(t) {
                Some(r) => {
                    io.out_known[k] = true;
                    io.out_ready[k] = r;
                }
                None => {
                    io.out_known[k] = false;
                    io.out_ready[k] = false;
                }
            }
        }
        if !eng.decidable(io) {
            // stopped for want of its one input: it may promise the reads it will make
            // whatever else happens ([`SimEngine::promised_reads`])
            if let [s] = *cx.ins {
                let n = if io.in_known[0] {
                    0
                } else {
                    eng.promised_reads()
                };
                if n > 0 {
                    chans[s].promise(horizon - 1, n);
                }
            }
            break;
        }
        if let Some(q) = eng.quiet(io) {
            let mut last = horizon - 1;
            if let Quiet::Folding(r) = q {
                last = last.min(t + r as u64 - 1);
            }
            for (p, &s) in cx.ins.iter().enumerate() {
                if io.in_known[p] && !io.in_valid[p] {
                    last = last.min(chans[s].invalid_until());
                }
            }
            for (k, &s) in cx.outs.iter().enumerate() {
                if io.out_known[k] && !io.out_ready[k] {
                    last = last.min(chans[s].full_until());
                }
            }
            let n = last + 1 - t;
            eng.apply_quiet(q, n as usize);
            cx.clock.count(t, q.kind(), n);
            t = last + 1;
        } else {
            let kind = eng.edge(io);
            cx.clock.count(t, kind, 1);
            for (p, &s) in cx.ins.iter().enumerate() {
                if io.in_fire(p) {
                    chans[s].read(t);
                }
            }
            for (k, &s) in cx.outs.iter().enumerate() {
                if io.out_fire(k) {
                    chans[s].write_beat(t, io.out_beat(k));
                }
            }
            t += 1;
        }
        for &s in cx.ins {
            chans[s].cons_advance(t);
        }
        for &s in cx.outs {
            chans[s].prod_t = t;
        }
    }
    cx.clock.t = t;
    cx.clock.t_in = t;
}
