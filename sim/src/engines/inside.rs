//! The line-buffer input side shared by the MVU (`docs/hardware.md` §4) and the pooling unit
//! (§5): rows received, element in row, write address, `cdone`, `ahead`, the circular line
//! buffer shared across images ([`InSide`]); the checks of a sliding-window geometry
//! ([`check_geometry`]); and what the decoupled run's fast path needs of a line-buffered
//! engine ([`Windowed`]) with the [`SimEngine`](super::api::SimEngine) methods derived from
//! it.
//!
//! Depends on the engine interface (`api.rs`) and the leaves only. Not here: the compute
//! sides (window reads, lanes, emission: `mvu.rs`, `pool.rs`) and the fast path's loop
//! itself (`loops.rs`, `run_windowed`, which depends on this file, not the other way).

use inq_hdl::Geometry;

use super::api::{copy_beat, BuildCx, Io, MAX_ELEMENTS};
use crate::activity::{Kind, Quiet};
use crate::error::SimError;

/// The input side shared by both engine kinds (§4 "Input side"): rows received, element in
/// row, line-buffer write address, `cdone`, `ahead`, and the line-buffer slot of the compute
/// image's first row (`base`, a function of the RTL's `rb0`).
#[derive(Debug, Clone)]
pub(crate) struct InSide {
    /// `H`.
    pub h: usize,
    /// `W·C`.
    pub wc: usize,
    /// `NR·W·C`.
    pub lb_len: usize,
    pub iy: usize,
    pub ie: usize,
    pub wp: usize,
    pub cdone: bool,
    /// The input side is in the image after the compute side's (§4).
    pub ahead: bool,
    /// Line-buffer slot (row, `0..NR`) of row 0 of the image being computed.
    pub base: usize,
    /// `NR`.
    pub nr: usize,
    pub lb: Vec<i64>,
}

impl InSide {
    pub fn new(h: usize, wc: usize, nr: usize) -> Self {
        InSide {
            h,
            wc,
            lb_len: nr * wc,
            iy: 0,
            ie: 0,
            wp: 0,
            cdone: false,
            ahead: false,
            base: 0,
            nr,
            lb: vec![0; nr * wc],
        }
    }

    /// comb `in_ready` for the current `lim`.
    #[inline(always)]
    pub fn in_ready(&self, lim: isize) -> bool {
        self.iy < self.h
            && if self.ahead {
                ((self.iy + self.h) as isize) < lim
            } else {
                self.cdone || (self.iy as isize) < lim
            }
    }

    /// `ahead || iy >= need` (the caller adds `!cdone`).
    #[inline(always)]
    pub fn rows_ok(&self, need: isize) -> bool {
        self.ahead || (self.iy as isize) >= need
    }

    /// `img_wrap` as far as it does not depend on `last_fire`: the input side leaves a
    /// complete image this cycle whatever the compute side does.
    #[inline(always)]
    pub fn wraps(&self) -> bool {
        self.iy == self.h && !self.ahead
    }

    /// The input-side edge (`iy` is the pre-edge value captured by the caller).
    #[inline(always)]
    pub fn update(&mut self, in_fire: bool, in_data: &[i64], iy_old: usize, last_fire: bool) {
        if in_fire {
            self.write_beat(in_data);
        }
        if last_fire {
            // the compute side moves to the next image: its row 0 follows this image's rows
            self.base = (self.base + self.h) % self.nr;
        }
        if iy_old == self.h && (!self.ahead || last_fire) {
            // img_wrap (in_fire is impossible in this cycle: in_ready = 0 when iy == H).
            self.iy = 0;
            self.ie = 0;
            self.ahead = self.ahead || !(self.cdone || last_fire);
            self.cdone = false;
        } else if last_fire {
            if self.ahead {
                self.ahead = false;
            } else {
                self.cdone = true;
            }
        }
    }

    /// `update(true, data, iy, false)` for an `in_fire` without `img_wrap` or `last_fire`
    /// (`in_ready` implies `iy < H`). Returns whether the row is complete.
    #[inline(always)]
    pub fn absorb(&mut self, data: i64) -> bool {
        debug_assert!(self.iy < self.h);
        self.write_beat(std::slice::from_ref(&data))
    }

    /// [`InSide::absorb`] of a beat of `k` elements (`k | C`: it never crosses a row).
    #[inline(always)]
    pub fn absorb_beat(&mut self, data: &[i64]) -> bool {
        debug_assert!(self.iy < self.h);
        self.write_beat(data)
    }

    /// Writes a beat of `k` elements at `wp` and advances `wp`, `ie` and (at a row's end)
    /// `iy` (`docs/hardware.md` §2.1; `k | C`, so a beat never crosses a row or the buffer's
    /// end). Returns whether the row is complete.
    #[inline(always)]
    fn write_beat(&mut self, data: &[i64]) -> bool {
        let k = data.len();
        if let [d] = data {
            self.lb[self.wp] = *d;
        } else {
            self.lb[self.wp..self.wp + k].copy_from_slice(data);
        }
        self.wp = if self.wp + k == self.lb_len {
            0
        } else {
            self.wp + k
        };
        if self.ie + k == self.wc {
            self.ie = 0;
            self.iy += 1;
            true
        } else {
            self.ie += k;
            false
        }
    }

    pub fn reset(&mut self) {
        self.iy = 0;
        self.ie = 0;
        self.wp = 0;
        self.cdone = false;
        self.ahead = false;
        self.base = 0;
    }
}

/// Checks a sliding-window geometry (`engines[i].kind.geom`): every dimension in `1..=2^24`,
/// the output size following from input, kernel, stride and padding (`pad` must be zero when
/// `padding` is false), `NR ≥ min(kh, H)`, and sizes the simulator can hold.
pub(crate) fn check_geometry(cx: &BuildCx, g: &Geometry, padding: bool) -> Result<(), SimError> {
    for (v, name) in [
        (g.c, "c"),
        (g.h, "h"),
        (g.w, "w"),
        (g.kh, "kh"),
        (g.kw, "kw"),
        (g.sh, "sh"),
        (g.sw, "sw"),
        (g.oc, "oc"),
        (g.oh, "oh"),
        (g.ow, "ow"),
        (g.nr, "nr"),
    ] {
        cx.check(v > 0 && v <= 1 << 24, &format!("kind.geom.{name}"), || {
            format!("{v} outside 1..=2^24")
        })?;
    }
    let [pt, pl, pb, pr] = g.pad;
    cx.check(g.pad.iter().all(|&p| p <= 1 << 24), "kind.geom.pad", || {
        "padding too large".into()
    })?;
    cx.check(padding || g.pad == [0; 4], "kind.geom.pad", || {
        "this engine has no padding".into()
    })?;
    cx.check(
        g.h + pt + pb >= g.kh && g.w + pl + pr >= g.kw,
        "kind.geom",
        || "kernel larger than the padded input".into(),
    )?;
    cx.check(
        (g.h + pt + pb - g.kh) / g.sh + 1 == g.oh && (g.w + pl + pr - g.kw) / g.sw + 1 == g.ow,
        "kind.geom",
        || {
            format!(
                "output {}×{} does not follow from the input, kernel, stride and padding",
                g.oh, g.ow
            )
        },
    )?;
    cx.check(g.nr >= g.kh.min(g.h), "kind.geom.nr", || {
        format!("NR {} is below min(kh, H) = {}", g.nr, g.kh.min(g.h))
    })?;
    let prod = |v: &[usize]| v.iter().map(|&x| x as u128).product::<u128>();
    cx.check(prod(&[g.nr, g.w, g.c]) <= 1 << 26, "kind.geom", || {
        "line buffer too large".into()
    })?;
    cx.check(
        prod(&[g.c, g.h, g.w]) <= MAX_ELEMENTS as u128
            && prod(&[g.oc, g.oh, g.ow]) <= MAX_ELEMENTS as u128
            && prod(&[g.kh, g.kw, g.c]) <= 1 << 26,
        "kind.geom",
        || "too many elements".into(),
    )?;
    Ok(())
}

/// What the decoupled run's fast path (`loops.rs`, `run_windowed`) needs of a
/// line-buffered engine (one input, one output), besides the single edge.
pub(crate) trait Windowed {
    /// comb `in_ready`.
    fn in_ready(&self) -> bool;
    /// `out_valid`.
    fn out_valid(&self) -> bool;
    /// `out_data`.
    fn out_data(&self) -> i64;
    /// How the engine would behave at the next edge if its neighbours' signals stayed
    /// constant (see [`SimEngine::quiet`](super::api::SimEngine::quiet)); in both quiet
    /// states `in_ready` stays constant.
    fn quiet(&self, in_valid: bool, out_ready: bool) -> Option<Quiet>;
    /// Applies `k` quiet cycles (only [`Quiet::Folding`] changes a register).
    fn apply_quiet(&mut self, q: Quiet, k: usize);
    /// One rising edge: `(in_fire, kind of the cycle)`.
    fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind);
    /// The input side of an edge with `in_fire` in a cycle that is otherwise quiet
    /// (`quiet(false, ..)` is `Some`, applied separately). Returns whether `iy` moved (a row
    /// is complete), after which the engine must be looked at again.
    fn absorb(&mut self, data: i64) -> bool;
    /// The number of upcoming edges that, without an input transfer and with the output never
    /// blocked, only emit (a word enters or leaves the output register at each) and fold or
    /// wait: `update(false, _, true)` applied to each changes nothing else until the last of
    /// them. 0 when the output side is idle.
    fn burst_len(&self) -> usize;
    /// Input beats until the current row is complete (`(W·C − ie)/KI`).
    fn row_left(&self) -> usize;
    /// The input side (for the decoupled run's catch-up of the input side).
    fn inside(&mut self) -> &mut InSide;
    /// Elements per input beat (`docs/hardware.md` §2.1).
    fn in_beat(&self) -> usize {
        1
    }
    /// [`Windowed::absorb`] of a beat (engines that take one element per beat need not
    /// override it).
    fn absorb_beat(&mut self, data: &[i64]) -> bool {
        self.absorb(data[0])
    }
    /// [`Windowed::update`] with a beat of input elements (`docs/hardware.md` §2.1); engines
    /// that take one element per beat need not override it.
    fn update_beat(&mut self, in_valid: bool, in_data: &[i64], out_ready: bool) -> (bool, Kind) {
        self.update(in_valid, in_data[0], out_ready)
    }
    /// The output beat, for engines that emit more than one element per beat (`None`: the
    /// beat is [`Windowed::out_data`]).
    fn out_beat(&self) -> Option<&[i64]> {
        None
    }
    /// Whether the compute side may run ahead of the input side: it has the rows of its
    /// current output row (`avail`), and they stay whatever arrives until the row ends.
    fn can_run_ahead(&self) -> bool;
    /// Whether the next edge's compute fire ends an output row (it changes `oy`, hence `lim`,
    /// or is `last_fire`): the only way the compute side affects the input side.
    fn row_end_next(&self, out_ready: bool) -> bool;
    /// [`Windowed::quiet`] of the compute and emission side alone.
    fn compute_quiet(&self, out_ready: bool) -> Option<Quiet>;
    /// The compute and emission side of one edge alone (not a row end); how it counts.
    fn compute_edge(&mut self, out_ready: bool) -> Kind;
}

/// [`SimEngine::comb`](super::api::SimEngine::comb) of a line-buffered engine: all three
/// signals are registers.
#[inline(always)]
pub(crate) fn comb<S: Windowed>(s: &S, io: &mut Io) {
    io.in_ready[0] = s.in_ready();
    let valid = s.out_valid();
    io.out_valid[0] = valid;
    match s.out_beat() {
        // (the beat of a cycle that is not valid is not read: not copied)
        Some(b) if valid => copy_beat(io.out_beat_mut(0), b),
        Some(_) => {}
        None => io.out_data[0] = s.out_data(),
    }
}

/// [`SimEngine::edge`](super::api::SimEngine::edge) of a line-buffered engine.
#[inline(always)]
pub(crate) fn edge<S: Windowed>(s: &mut S, io: &mut Io) -> Kind {
    comb(s, io);
    s.update_beat(io.in_valid[0], io.in_beat(0), io.out_ready[0])
        .1
}

/// [`SimEngine::decidable`](super::api::SimEngine::decidable) of a line-buffered engine:
/// `in_valid` matters only while `in_ready`, `out_ready` only while `out_valid`.
#[inline(always)]
pub(crate) fn decidable<S: Windowed>(s: &S, io: &Io) -> bool {
    (io.in_known[0] || !s.in_ready()) && (io.out_known[0] || !s.out_valid())
}

/// [`SimEngine::quiet`](super::api::SimEngine::quiet) of a line-buffered engine.
#[inline(always)]
pub(crate) fn quiet<S: Windowed>(s: &S, io: &Io) -> Option<Quiet> {
    s.quiet(io.in_valid[0], io.out_ready[0])
}
