//! `inq_pool_tile` (`docs/hardware.md` §5.1): max and average pooling over windows that tile
//! the map, without a line buffer. One partial result per output column and channel is updated
//! by every element of its window as the map streams in; a window's last element puts the
//! result in one of two output slots. Owns the unit's registers, storage and cycle behaviour.
//!
//! Not here: the choice between this unit and the line-buffered one (`inq_hdl::Pool::tiled`,
//! made by the plan), the parameter checks shared with it (`pool.rs`, which builds this
//! engine and imports this file, never the other way round). The decoupled run drives it
//! through the generic loop (`loops.rs`, `step`), with its own burst of transfers
//! ([`SimEngine::burst`]) and the promise of the reads it makes whatever its output does
//! ([`SimEngine::promised_reads`]). Depends on the engine interface (`api.rs`), `loops.rs`,
//! the channels and the leaves.

use inq_model::numerics;

use super::api::{clog2, copy_beat, Io, ProbeSignal, RunCx, SimEngine};
use super::loops::{pair_mut, step};
use crate::activity::{Kind, Quiet};
use crate::chan::{Chan, Clock};

/// Pooling mode (of both pooling units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolKind {
    Max,
    Avg { shift: i32 },
}

/// The tiled pooling unit, taking and sending beats of `k` channels of one pixel
/// (`docs/hardware.md` §2.1, §5.1; `k | C`): the unit with `C/k` channel groups.
#[derive(Debug, Clone)]
pub(crate) struct PoolTile {
    c: usize,
    k: usize,
    w: usize,
    kh: usize,
    kw: usize,
    kind: PoolKind,
    // registers: the next input element's channel, column, column within its window (kx),
    // row within its window (ky), and its window's column (ox = ix / kw)
    ch: usize,
    ix: usize,
    kx: usize,
    ky: usize,
    ox: usize,
    /// Results in the output slots (0..=2); `out_data` is the head, `hold` the second (a
    /// beat each).
    n: u8,
    out_data: Vec<i64>,
    hold: Vec<i64>,
    /// The beat of results a window's last beat produces.
    res: Vec<i64>,
    /// The input beat being taken (the burst loop's buffer, `k` elements).
    res_in: Vec<i64>,
    // storage: `OW·C` partial results
    pb: Vec<i64>,
}

impl PoolTile {
    /// A unit over a `C × H × W` map (`H` is not needed: an image ends with a window row).
    pub fn new(
        c: usize,
        k: usize,
        w: usize,
        [kh, kw]: [usize; 2],
        ow: usize,
        kind: PoolKind,
    ) -> Self {
        let k = k.max(1);
        PoolTile {
            c,
            k,
            w,
            kh,
            kw,
            kind,
            ch: 0,
            ix: 0,
            kx: 0,
            ky: 0,
            ox: 0,
            n: 0,
            out_data: vec![0; k],
            hold: vec![0; k],
            res: vec![0; k],
            res_in: vec![0; k],
            pb: vec![0; ow * c],
        }
    }

    /// comb `last`: the next element ends its window.
    #[inline(always)]
    fn last(&self) -> bool {
        self.ky + 1 == self.kh && self.kx + 1 == self.kw
    }

    /// comb `in_ready = !last || n < 2`.
    #[inline(always)]
    fn in_ready(&self) -> bool {
        !self.last() || self.n < 2
    }

    /// The windows' values including the beat `vs` (channels `ch ..`): their partial results
    /// (`first` element: the value alone); when the beat is its windows' last, the results go
    /// to `res` and the function returns true.
    #[inline(always)]
    fn take(&mut self, vs: &[i64]) -> bool {
        let first = self.ky == 0 && self.kx == 0;
        let last = self.last();
        let (a, n) = (self.ox * self.c + self.ch, vs.len());
        let pb = &mut self.pb[a..a + n];
        match (first, self.kind) {
            (true, _) => pb.copy_from_slice(vs),
            (false, PoolKind::Max) => {
                for (p, &v) in pb.iter_mut().zip(vs) {
                    *p = (*p).max(v);
                }
            }
            (false, PoolKind::Avg { .. }) => {
                for (p, &v) in pb.iter_mut().zip(vs) {
                    *p += v;
                }
            }
        }
        if !last {
            return false;
        }
        // the windows' results (their partial results are not read again: the next element
        // at these addresses starts a window)
        let res = &mut self.res[..n];
        res.copy_from_slice(pb);
        if let PoolKind::Avg { shift } = self.kind {
            for r in res {
                *r = numerics::shift_round(*r, shift);
            }
        }
        true
    }

    /// The output slots at an edge (§5.1): a pop (`emit`) moves `hold` to the head; a
    /// `result` goes to the first free slot after the pop.
    #[inline(always)]
    fn slots(&mut self, emit: bool, result: bool) {
        if emit {
            self.n -= 1;
            if self.n == 1 {
                copy_beat(&mut self.out_data, &self.hold);
            }
        }
        if result {
            if self.n == 0 {
                copy_beat(&mut self.out_data, &self.res);
            } else {
                copy_beat(&mut self.hold, &self.res);
            }
            self.n += 1;
        }
    }

    /// Advances the input position past one beat.
    #[inline(always)]
    fn advance(&mut self) {
        if self.ch + self.k != self.c {
            self.ch += self.k;
            return;
        }
        self.ch = 0;
        if self.kx + 1 != self.kw {
            self.kx += 1;
        } else {
            self.kx = 0;
            self.ox += 1;
        }
        if self.ix + 1 != self.w {
            self.ix += 1;
        } else {
            self.ix = 0;
            self.ox = 0;
            self.ky = if self.ky + 1 == self.kh {
                0
            } else {
                self.ky + 1
            };
        }
    }
}

const PROBES: [&str; 7] = ["c", "ix", "kx", "ky", "n", "out_data", "hold"];

impl SimEngine for PoolTile {
    fn comb(&self, io: &mut Io) {
        io.in_ready[0] = self.in_ready();
        io.out_valid[0] = self.n != 0;
        // (the beat of a cycle that is not valid is not read: not copied)
        if self.n != 0 {
            copy_beat(io.out_beat_mut(0), &self.out_data);
        }
    }

    fn edge(&mut self, io: &mut Io) -> Kind {
        self.comb(io);
        let in_valid = io.in_valid[0];
        let in_fire = in_valid && io.in_ready[0];
        let emit = self.n != 0 && io.out_ready[0];
        let result = if in_fire {
            let r = self.take(io.in_beat(0));
            self.advance();
            r
        } else {
            false
        };
        self.slots(emit, result);
        if in_fire {
            Kind::Busy
        } else if in_valid {
            Kind::Stalled
        } else {
            Kind::Idle
        }
    }

    fn decidable(&self, io: &Io) -> bool {
        // `in_valid` decides the activity even when not ready
        io.in_known[0] && (io.out_known[0] || self.n == 0)
    }

    fn quiet(&self, io: &Io) -> Option<Quiet> {
        let in_valid = io.in_valid[0];
        if (in_valid && self.in_ready()) || (self.n != 0 && io.out_ready[0]) {
            return None;
        }
        Some(Quiet::Frozen { stalled: in_valid })
    }

    fn reset(&mut self) {
        self.ch = 0;
        self.ix = 0;
        self.kx = 0;
        self.ky = 0;
        self.ox = 0;
        self.n = 0;
        self.out_data.fill(0);
    }

    fn probe_signals(&self) -> Vec<ProbeSignal> {
        let b = |n: usize| clog2(n as u64);
        let widths = [b(self.c), b(self.w), b(self.kw), b(self.kh), 2, 64, 64];
        PROBES.iter().copied().zip(widths).collect()
    }

    fn probe(&self, _io: &Io, out: &mut Vec<i64>) {
        out.extend([
            self.ch as i64,
            self.ix as i64,
            self.kx as i64,
            self.ky as i64,
            i64::from(self.n),
            self.out_data[0],
            self.hold[0],
        ]);
    }

    fn run(&mut self, cx: &mut RunCx<'_>) {
        step(self, cx);
    }

    /// The edges in which a beat moves in or out (or both), one after the other for as long
    /// as the channels answer: [`SimEngine::edge`] without the generic loop's per-cycle
    /// port bookkeeping. It stops at the first cycle in which nothing moves (the generic loop
    /// skips those stretches) or whose answer is unknown.
    fn burst(
        &mut self,
        chans: &mut [Chan],
        ins: &[usize],
        outs: &[usize],
        clock: &mut Clock,
        t0: u64,
        horizon: u64,
    ) -> u64 {
        let (inch, outch) = pair_mut(chans, ins[0], outs[0]);
        let mut t = t0;
        let mut beat = std::mem::take(&mut self.res_in);
        while t < horizon {
            let Some((in_valid, d)) = inch.valid(t) else {
                break;
            };
            let out_ready = if self.n != 0 {
                match outch.ready(t) {
                    Some(r) => r,
                    None => break,
                }
            } else {
                false
            };
            let in_fire = in_valid && self.in_ready();
            let emit = self.n != 0 && out_ready;
            if !in_fire && !emit {
                break;
            }
            if emit {
                outch.write_beat(t, &self.out_data);
            }
            let result = if in_fire {
                let r = if self.k == 1 {
                    self.take(&[d])
                } else {
                    inch.front_beat(&mut beat);
                    self.take(&beat)
                };
                self.advance();
                inch.read(t);
                r
            } else {
                false
            };
            self.slots(emit, result);
            let kind = if in_fire {
                Kind::Busy
            } else if in_valid {
                Kind::Stalled
            } else {
                Kind::Idle
            };
            clock.count(t, kind, 1);
            t += 1;
            inch.cons_advance(t);
            outch.prod_t = t;
        }
        self.res_in = beat;
        t
    }

    /// `in_ready` is 1 but at a beat of a window's last pixel (each ends its channels'
    /// windows) with both output slots full (§5.1): the beats before the next such beat are
    /// taken as they come, and that one too when a slot is free now (emissions only free
    /// slots; only such a beat fills one).
    fn promised_reads(&self) -> u64 {
        let before_last = if self.ky + 1 != self.kh {
            // no last pixel in the rest of this row
            ((self.w - self.ix) * self.c - self.ch) / self.k
        } else if self.kx + 1 != self.kw {
            // up to the window's last pixel
            ((self.kw - 1 - self.kx) * self.c - self.ch) / self.k
        } else {
            0
        };
        before_last as u64 + u64::from(self.n < 2 && self.ky + 1 == self.kh)
    }
}
