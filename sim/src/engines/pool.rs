//! `inq_pool` (`docs/hardware.md` §5): max and average pooling over a window, with the
//! line-buffer input side of §4. Owns the compute side (window reads, max or rounded mean,
//! output register) and the checks of the parameters of both pooling units; builds the tiled
//! unit (`pool_tile.rs`, §5.1) where the plan chose it. With `K` channels of a pixel per beat
//! (§2.1) a fire computes the windows of `K` channels side by side and emits them as one beat;
//! the counters count channel groups, as the RTL's do.
//!
//! Depends on the engine interface (`api.rs`), `inside.rs`, the decoupled loop (`loops.rs`)
//! and the leaves. Not here: the line-buffer input side (`inside.rs`), global average pooling
//! (`gap.rs`), the decoupled run's loop (`loops.rs`, `run_windowed`).

use inq_hdl::{Pool as PoolParams, PoolMode};
use inq_model::numerics;

use super::api::{clog2, BuildCx, Built, Io, PortSpec, ProbeSignal, RunCx, SimEngine};
use super::inside::{self, check_geometry, InSide, Windowed};
use super::loops::run_windowed;
use super::pool_tile::{PoolKind, PoolTile};
use crate::activity::{Kind, Quiet};
use crate::error::SimError;

/// `inq_pool` (§5), taking and sending beats of `k` channels of one pixel (§2.1; `k | C`).
/// `WIDE` is `k > 1`: the one-element engine is its own type, so that its loops
/// (`run_windowed`) keep the narrow paths without a test of the beat per cycle.
#[derive(Debug, Clone)]
pub(crate) struct Pool<const WIDE: bool> {
    pub c: usize,
    /// Elements per beat `K`, in and out (1 unless `WIDE`).
    k: usize,
    /// `C/K`: the channel groups of a pixel (fires per output pixel).
    pub groups: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub oh: usize,
    pub ow: usize,
    pub nr: usize,
    pub kind: PoolKind,
    /// `oy·sh`, cached
    lo: usize,
    /// per `ky`: line-buffer offset of the window's row `lo + ky` (cached with `oy`)
    rowoff: Vec<usize>,
    pub inp: InSide,
    pub oy: usize,
    pub ox: usize,
    /// The channel group of the next fire (channels `grp·K ..`; the RTL's `c`).
    pub grp: usize,
    pub out_valid: bool,
    /// `out_data`, the output beat's first element.
    pub out_data: i64,
    /// The whole output beat when `K > 1` (empty with one element per beat).
    out_wide: Vec<i64>,
}

impl<const WIDE: bool> Pool<WIDE> {
    /// A unit of `k` elements per beat (`k > 1` exactly when `WIDE`).
    fn new(g: inq_hdl::Geometry, kind: PoolKind, k: usize) -> Self {
        let k = k.max(1);
        debug_assert_eq!(WIDE, k > 1);
        Pool {
            c: g.c,
            k,
            groups: g.c / k,
            w: g.w,
            kh: g.kh,
            kw: g.kw,
            sh: g.sh,
            sw: g.sw,
            oh: g.oh,
            ow: g.ow,
            nr: g.nr,
            kind,
            lo: 0,
            rowoff: (0..g.kh).map(|ky| (ky % g.nr) * g.w * g.c).collect(),
            inp: InSide::new(g.h, g.w * g.c, g.nr),
            oy: 0,
            ox: 0,
            grp: 0,
            out_valid: false,
            out_data: 0,
            out_wide: if k > 1 { vec![0; k] } else { Vec::new() },
        }
    }

    /// comb `lo = oy·sh`.
    #[inline(always)]
    pub fn lo(&self) -> usize {
        self.lo
    }

    /// Sets `oy` and the values derived from it (after any change of `inp.base`).
    fn set_oy(&mut self, oy: usize) {
        self.oy = oy;
        self.lo = oy * self.sh;
        let (base, wc) = (self.inp.base + self.lo, self.w * self.c);
        for (ky, r) in self.rowoff.iter_mut().enumerate() {
            *r = ((base + ky) % self.nr) * wc;
        }
    }

    /// comb `in_ready`.
    #[inline(always)]
    pub fn in_ready(&self) -> bool {
        self.inp.in_ready((self.nr + self.lo()) as isize)
    }

    /// `!cdone && (ahead || iy >= need)`.
    #[inline(always)]
    pub fn avail(&self) -> bool {
        !self.inp.cdone && self.inp.rows_ok((self.lo() + self.kh) as isize)
    }

    /// comb `fire` given the downstream `out_ready`.
    #[inline(always)]
    pub fn fire(&self, out_ready: bool) -> bool {
        self.avail() && (!self.out_valid || out_ready)
    }

    /// See `Mvu::quiet` (`mvu.rs`): a pooling unit is either frozen or busy with its
    /// stream.
    #[inline]
    pub fn quiet(&self, in_valid: bool, out_ready: bool) -> Option<Quiet> {
        if (in_valid && self.in_ready()) || self.inp.wraps() {
            return None;
        }
        self.compute_quiet(out_ready)
    }

    /// The window result of channel `grp` (one element per beat).
    fn window(&self) -> i64 {
        let lb = &self.inp.lb;
        let first = self.ox * self.sw * self.c + self.grp;
        let mut max = i64::MIN;
        let mut sum = 0i64;
        for &row in &self.rowoff {
            for kx in 0..self.kw {
                let v = lb[row + first + kx * self.c];
                max = max.max(v);
                sum += v;
            }
        }
        match self.kind {
            PoolKind::Max => max,
            PoolKind::Avg { shift } => numerics::shift_round(sum, shift),
        }
    }

    /// The window results of the `K` channels of group `grp` into `out_wide` (lane `i` is
    /// channel `grp·K + i`; the `K` channels of a tap are consecutive in the line buffer).
    fn window_beat(&mut self) {
        let k = self.k;
        let first = self.ox * self.sw * self.c + self.grp * k;
        let (lb, out) = (&self.inp.lb, &mut self.out_wide);
        match self.kind {
            PoolKind::Max => out.fill(i64::MIN),
            PoolKind::Avg { .. } => out.fill(0),
        }
        for &row in &self.rowoff {
            for kx in 0..self.kw {
                let at = row + first + kx * self.c;
                let tap = &lb[at..at + k];
                match self.kind {
                    PoolKind::Max => {
                        for (o, &v) in out.iter_mut().zip(tap) {
                            *o = (*o).max(v);
                        }
                    }
                    PoolKind::Avg { .. } => {
                        for (o, &v) in out.iter_mut().zip(tap) {
                            *o += v;
                        }
                    }
                }
            }
        }
        if let PoolKind::Avg { shift } = self.kind {
            for o in out.iter_mut() {
                *o = numerics::shift_round(*o, shift);
            }
        }
        self.out_data = self.out_wide[0];
    }

    /// One rising edge. Returns `in_fire` and how the cycle counts.
    #[inline(always)]
    pub fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind) {
        self.update_beat(in_valid, std::slice::from_ref(&in_data), out_ready)
    }

    /// [`Pool::update`] with an input beat of `K` elements.
    #[inline(always)]
    pub fn update_beat(
        &mut self,
        in_valid: bool,
        in_data: &[i64],
        out_ready: bool,
    ) -> (bool, Kind) {
        let iy_old = self.inp.iy;
        let in_fire = in_valid && self.in_ready();
        let emit_go = !self.out_valid || out_ready;
        let avail = self.avail();
        let fire = avail && emit_go;
        if !(in_fire || fire || (emit_go && self.out_valid) || self.inp.wraps()) {
            let kind = if avail { Kind::Stalled } else { Kind::Idle };
            return (false, kind);
        }
        let (kind, last_fire) = self.compute_side(out_ready);
        self.inp.update(in_fire, in_data, iy_old, last_fire);
        if last_fire {
            // after the input side moved `base` to the next image
            self.set_oy(0);
        }
        (in_fire, kind)
    }

    /// The compute and emission side of an edge (the input side is not touched). Returns how
    /// the cycle counts and `last_fire`.
    #[inline(always)]
    fn compute_side(&mut self, out_ready: bool) -> (Kind, bool) {
        let emit_go = !self.out_valid || out_ready;
        let avail = self.avail();
        let fire = avail && emit_go;
        let kind = if fire {
            Kind::Busy
        } else if avail {
            Kind::Stalled
        } else {
            Kind::Idle
        };
        if emit_go {
            self.out_valid = fire;
        }
        let mut last_fire = false;
        if fire {
            if WIDE {
                self.window_beat();
            } else {
                self.out_data = self.window();
            }
            if self.grp + 1 != self.groups {
                self.grp += 1;
            } else {
                self.grp = 0;
                if self.ox + 1 != self.ow {
                    self.ox += 1;
                } else {
                    self.ox = 0;
                    if self.oy + 1 != self.oh {
                        self.set_oy(self.oy + 1);
                    } else {
                        last_fire = true;
                    }
                }
            }
        }
        (kind, last_fire)
    }

    /// [`Pool::quiet`] of the compute and emission side alone (no input, no wrap).
    #[inline]
    fn compute_quiet(&self, out_ready: bool) -> Option<Quiet> {
        let emit_go = !self.out_valid || out_ready;
        let avail = self.avail();
        if emit_go && (avail || self.out_valid) {
            return None;
        }
        Some(Quiet::Frozen { stalled: avail })
    }

    pub fn reset(&mut self) {
        self.inp.reset();
        self.set_oy(0);
        self.ox = 0;
        self.grp = 0;
        self.out_valid = false;
        self.out_data = 0;
        self.out_wide.fill(0);
    }
}

impl<const WIDE: bool> Windowed for Pool<WIDE> {
    #[inline(always)]
    fn in_ready(&self) -> bool {
        Pool::in_ready(self)
    }
    #[inline(always)]
    fn out_valid(&self) -> bool {
        self.out_valid
    }
    #[inline(always)]
    fn out_data(&self) -> i64 {
        self.out_data
    }
    #[inline(always)]
    fn quiet(&self, in_valid: bool, out_ready: bool) -> Option<Quiet> {
        Pool::quiet(self, in_valid, out_ready)
    }
    #[inline(always)]
    fn apply_quiet(&mut self, _q: Quiet, _k: usize) {}
    #[inline(always)]
    fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind) {
        Pool::update(self, in_valid, in_data, out_ready)
    }
    #[inline(always)]
    fn update_beat(&mut self, in_valid: bool, in_data: &[i64], out_ready: bool) -> (bool, Kind) {
        Pool::update_beat(self, in_valid, in_data, out_ready)
    }
    #[inline(always)]
    fn out_beat(&self) -> Option<&[i64]> {
        WIDE.then_some(&self.out_wide[..])
    }
    #[inline(always)]
    fn absorb(&mut self, data: i64) -> bool {
        self.inp.absorb(data)
    }
    #[inline(always)]
    fn in_beat(&self) -> usize {
        if WIDE {
            self.k
        } else {
            1
        }
    }
    #[inline(always)]
    fn absorb_beat(&mut self, data: &[i64]) -> bool {
        self.inp.absorb_beat(data)
    }
    #[inline(always)]
    fn row_left(&self) -> usize {
        if WIDE {
            (self.inp.wc - self.inp.ie) / self.k
        } else {
            self.inp.wc - self.inp.ie
        }
    }
    #[inline(always)]
    fn inside(&mut self) -> &mut InSide {
        &mut self.inp
    }
    #[inline(always)]
    fn can_run_ahead(&self) -> bool {
        self.avail()
    }
    #[inline(always)]
    fn row_end_next(&self, out_ready: bool) -> bool {
        self.grp + 1 == self.groups && self.ox + 1 == self.ow && self.fire(out_ready)
    }
    #[inline(always)]
    fn compute_quiet(&self, out_ready: bool) -> Option<Quiet> {
        Pool::compute_quiet(self, out_ready)
    }
    #[inline(always)]
    fn compute_edge(&mut self, out_ready: bool) -> Kind {
        let (kind, last_fire) = self.compute_side(out_ready);
        debug_assert!(!last_fire);
        kind
    }
    #[inline(always)]
    fn burst_len(&self) -> usize {
        if self.inp.wraps() {
            0
        } else if self.avail() {
            // the fires left in this output row (the last one moves `oy`, maybe `last_fire`)
            (self.ow - self.ox) * self.groups - self.grp
        } else {
            usize::from(self.out_valid)
        }
    }
}

const PROBES: [&str; 10] = [
    "iy", "ie", "wp", "cdone", "ahead", "oy", "ox", "c", "fire", "out_data",
];

impl<const WIDE: bool> SimEngine for Pool<WIDE> {
    fn comb(&self, io: &mut Io) {
        inside::comb(self, io);
    }
    fn edge(&mut self, io: &mut Io) -> Kind {
        inside::edge(self, io)
    }
    fn decidable(&self, io: &Io) -> bool {
        inside::decidable(self, io)
    }
    fn quiet(&self, io: &Io) -> Option<Quiet> {
        inside::quiet(self, io)
    }
    fn reset(&mut self) {
        Pool::reset(self);
    }
    fn probe_signals(&self) -> Vec<ProbeSignal> {
        let b = |n: usize| clog2(n as u64 + 1);
        let widths = [
            b(self.inp.h),
            b(self.inp.wc),
            b(self.inp.lb_len),
            1,
            1,
            b(self.oh),
            b(self.ow),
            b(self.groups),
            1,
            64,
        ];
        PROBES.iter().copied().zip(widths).collect()
    }
    fn probe(&self, io: &Io, out: &mut Vec<i64>) {
        let i = &self.inp;
        out.extend([
            i.iy as i64,
            i.ie as i64,
            i.wp as i64,
            i64::from(i.cdone),
            i64::from(i.ahead),
            self.oy as i64,
            self.ox as i64,
            self.grp as i64,
            i64::from(self.fire(io.out_ready[0])),
            self.out_data,
        ]);
    }
    fn run(&mut self, cx: &mut RunCx<'_>) {
        run_windowed(self, cx);
    }
}

/// Checks a pooling engine and builds it.
pub(crate) fn build(cx: &BuildCx, p: &PoolParams) -> Result<Built, SimError> {
    let (in_fmt, out_fmt) = cx.io_formats()?;
    let g = p.geom;
    check_geometry(cx, &g, false)?;
    if let Some(why) = inq_hdl::EngineOp::beat_error(p) {
        return Err(SimError::design(cx.field("kind.beat"), why));
    }
    cx.check(g.oc == g.c, "kind.geom.oc", || {
        "pooling keeps the channel count".into()
    })?;
    cx.check(in_fmt == out_fmt, "out_width", || {
        "pooling keeps the input format".into()
    })?;
    let kind = match p.mode {
        PoolMode::Max => PoolKind::Max,
        PoolMode::Avg => {
            cx.check(
                numerics::log2_exact(g.kh * g.kw) == Some(p.shift),
                "kind.shift",
                || {
                    format!(
                        "shift {} != log2(kh·kw) (the window must hold a power of two elements)",
                        p.shift
                    )
                },
            )?;
            // the window sum must fit an i64 (it fits A + shift + 1 bits)
            cx.check(in_fmt.bits + p.shift < 62, "kind.shift", || {
                "the window sum does not fit 62 bits".into()
            })?;
            PoolKind::Avg {
                shift: p.shift as i32,
            }
        }
    };
    let spec = |elements| PortSpec {
        width: in_fmt.bits,
        signed: in_fmt.signed,
        elements,
        beat: p.beat,
    };
    let engine: Box<dyn SimEngine> = if p.tiled() {
        Box::new(PoolTile::new(g.c, p.beat, g.w, [g.kh, g.kw], g.ow, kind))
    } else if p.beat > 1 {
        Box::new(Pool::<true>::new(g, kind, p.beat))
    } else {
        Box::new(Pool::<false>::new(g, kind, 1))
    };
    Ok(Built {
        engine,
        inputs: vec![spec(g.c * g.h * g.w)],
        outputs: vec![spec(g.oc * g.oh * g.ow)],
    })
}
