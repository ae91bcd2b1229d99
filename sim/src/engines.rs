//! The state machines of `docs/hardware.md` §3–§7: FIFO, matrix-vector unit, pooling unit and
//! output stage. Each `update` applies one rising edge: every decision is taken from the
//! register values *before* the edge (the two-phase model of §1), then the registers change.

use inq_model::numerics::{self, Weight};
use inq_model::ActFormat;

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

/// How an engine spent one cycle (see [`crate::Activity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Busy,
    Stalled,
    Idle,
}

/// `inq_fifo #(W, D)` (§3).
#[derive(Debug, Clone)]
pub(crate) struct Fifo {
    pub mem: Vec<i64>,
    pub depth: usize,
    pub count: usize,
    pub rd: usize,
    pub wr: usize,
    pub peak: usize,
}

impl Fifo {
    pub fn new(depth: usize) -> Self {
        Fifo {
            mem: vec![0; depth],
            depth,
            count: 0,
            rd: 0,
            wr: 0,
            peak: 0,
        }
    }

    /// comb `s_ready`.
    #[inline(always)]
    pub fn s_ready(&self) -> bool {
        self.count != self.depth
    }

    /// comb `m_valid`.
    #[inline(always)]
    pub fn m_valid(&self) -> bool {
        self.count != 0
    }

    /// comb `m_data` (`mem[rd]`, stale when empty, as in the RTL).
    #[inline(always)]
    pub fn m_data(&self) -> i64 {
        self.mem[self.rd]
    }

    /// The edge, given the producer's `s_valid`/`s_data` and whether the consumer reads
    /// (`m_fire = m_valid && m_ready`, computed by the caller from pre-edge values).
    #[inline(always)]
    pub fn update(&mut self, s_valid: bool, s_data: i64, m_fire: bool) {
        let s_fire = s_valid && self.count != self.depth;
        if s_fire {
            self.mem[self.wr] = s_data;
            self.wr = if self.wr + 1 == self.depth {
                0
            } else {
                self.wr + 1
            };
        }
        if m_fire {
            self.rd = if self.rd + 1 == self.depth {
                0
            } else {
                self.rd + 1
            };
        }
        self.count = self.count + usize::from(s_fire) - usize::from(m_fire);
        if self.count > self.peak {
            self.peak = self.count;
        }
    }

    pub fn reset(&mut self) {
        self.count = 0;
        self.rd = 0;
        self.wr = 0;
    }
}

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
    fn new(h: usize, wc: usize, nr: usize) -> Self {
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
    fn in_ready(&self, lim: isize) -> bool {
        self.iy < self.h
            && if self.ahead {
                ((self.iy + self.h) as isize) < lim
            } else {
                self.cdone || (self.iy as isize) < lim
            }
    }

    /// `ahead || iy >= need` (the caller adds `!cdone`).
    #[inline(always)]
    fn rows_ok(&self, need: isize) -> bool {
        self.ahead || (self.iy as isize) >= need
    }

    /// `img_wrap` as far as it does not depend on `last_fire`: the input side leaves a
    /// complete image this cycle whatever the compute side does.
    #[inline(always)]
    fn wraps(&self) -> bool {
        self.iy == self.h && !self.ahead
    }

    /// The input-side edge (`iy` is the pre-edge value captured by the caller).
    #[inline(always)]
    fn update(&mut self, in_fire: bool, in_data: i64, iy_old: usize, last_fire: bool) {
        if in_fire {
            self.lb[self.wp] = in_data;
            self.wp = if self.wp + 1 == self.lb_len {
                0
            } else {
                self.wp + 1
            };
            if self.ie + 1 == self.wc {
                self.ie = 0;
                self.iy += 1;
            } else {
                self.ie += 1;
            }
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
    fn absorb(&mut self, data: i64) -> bool {
        debug_assert!(self.iy < self.h);
        self.lb[self.wp] = data;
        self.wp = if self.wp + 1 == self.lb_len {
            0
        } else {
            self.wp + 1
        };
        if self.ie + 1 == self.wc {
            self.ie = 0;
            self.iy += 1;
            true
        } else {
            self.ie += 1;
            false
        }
    }

    fn reset(&mut self) {
        self.iy = 0;
        self.ie = 0;
        self.wp = 0;
        self.cdone = false;
        self.ahead = false;
        self.base = 0;
    }
}

/// What an MVU emits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OutMode {
    Act { fmt: ActFormat, relu: bool },
    Logits,
}

/// A decoded weight as the integer it multiplies by: `±2^k`, `q`, or 0. `x · multiplier(w)` equals
/// [`numerics::product`]`(x, w)` whenever the product fits an `i64` (the design validation
/// guarantees that every partial sum fits `ACC_W ≤ 62` bits; tested below).
pub(crate) fn multiplier(w: Weight) -> i64 {
    match w {
        Weight::Zero => 0,
        Weight::Int(q) => q,
        Weight::Pow2 { negative, index } => {
            let m = 1i64 << index.min(62);
            if negative {
                -m
            } else {
                m
            }
        }
    }
}

/// An MVU's weights as multipliers ([`multiplier`]), in the narrowest integer type in which
/// every dot product is exact: `i32` when `ACC_W ≤ 32` (every partial sum, and hence every
/// product and every multiplier met with a non-zero input bound, fits; a lane value that does
/// not fit only ever meets a zero multiplier, and wrapping arithmetic keeps that product 0),
/// `i64` otherwise (`ACC_W ≤ 62`).
#[derive(Debug, Clone)]
pub(crate) enum Mults {
    I32(Vec<i32>),
    I64(Vec<i64>),
}

/// `Σ w[j]·x[j]` in wrapping `i64` arithmetic, exact when every partial sum fits (§6 bound);
/// the order of the additions then does not matter.
#[inline(always)]
fn dot_body<T>(w: &[T], x: &[T]) -> T
where
    T: Copy + Default + WrappingOps,
{
    const L: usize = 16;
    let mut a = [T::default(); L];
    let (wc, xc) = (w.chunks_exact(L), x.chunks_exact(L));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    for (wl, xl) in wc.zip(xc) {
        for l in 0..L {
            a[l] = a[l].wadd(wl[l].wmul(xl[l]));
        }
    }
    let mut s = T::default();
    for v in a {
        s = s.wadd(v);
    }
    for (&wv, &xv) in wr.iter().zip(xr) {
        s = s.wadd(wv.wmul(xv));
    }
    s
}

/// Wrapping `+` and `·` for [`dot_body`].
trait WrappingOps {
    fn wadd(self, o: Self) -> Self;
    fn wmul(self, o: Self) -> Self;
}

impl WrappingOps for i32 {
    #[inline(always)]
    fn wadd(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn wmul(self, o: Self) -> Self {
        self.wrapping_mul(o)
    }
}

impl WrappingOps for i64 {
    #[inline(always)]
    fn wadd(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn wmul(self, o: Self) -> Self {
        self.wrapping_mul(o)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_avx2<T: Copy + Default + WrappingOps>(w: &[T], x: &[T]) -> T {
    dot_body(w, x)
}

/// `Σ w[j]·x[j]` (see [`dot_body`]), vectorized with AVX2 where the CPU has it (and the
/// vectors are long enough for it to pay).
#[inline]
fn dot<T: Copy + Default + WrappingOps>(w: &[T], x: &[T]) -> T {
    #[cfg(target_arch = "x86_64")]
    if w.len() >= 32 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `dot_avx2` only requires AVX2, which the running CPU has (checked above).
        return unsafe { dot_avx2(w, x) };
    }
    dot_body(w, x)
}

/// `inq_mvu` (§4).
///
/// **Lazy arithmetic.** The lanes' partial sums `acc` are not observable (only `obuf`, through
/// the output stream), so the simulator does not accumulate them cycle by cycle: the cycle of
/// the *last* synapse fold of a neuron fold computes the whole dot products
/// `obuf[p] = Σ_j W[nf·PE + p][j] · x_j` over the window at once, and the other `SF − 1`
/// cycles of the fold only advance `sf`. This is exact because the window of an output pixel
/// cannot change while the pixel is computed: the input side writes only rows `< lim =
/// NR + max(0, lo)` of the compute image (rows `≥ need`, since `iy ≥ need` while computing)
/// or next-image rows `H + r < lim`, and the rows of `[max(0, lo), max(0, lo) + NR)` occupy
/// distinct slots, while the window's rows lie in `[max(0, lo), need)`. So the values every
/// synapse fold of the pixel would have read are still in the line buffer at its last fold.
/// The window is gathered once per pixel (`win`, valid while `(oy, ox)` stays).
#[derive(Debug, Clone)]
pub(crate) struct Mvu {
    // parameters
    pub c: usize,
    pub w: usize,
    pub kh: isize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub pt: isize,
    pub pl: isize,
    pub oc: usize,
    pub oh: usize,
    pub ow: usize,
    pub nr: usize,
    pub pe: usize,
    pub nfn: usize,
    pub sfn: usize,
    /// `K = kh·kw·C`.
    pub k: usize,
    /// Weights as multipliers, index `(nf·PE + p)·K + j` with the window index
    /// `j = (ky·kw + kx)·C + c = sf·SIMD + s`: one contiguous row per output channel.
    pub wmul: Mults,
    pub bias: Vec<i64>,
    pub shift: Vec<i32>,
    pub mode: OutMode,
    pad_value: i64,
    // functions of `oy` (and `ox`), cached when it changes
    lo: isize,
    need: isize,
    lim: isize,
    /// per `ky`: line-buffer offset of input row `lo + ky`, or -1 when it is padding
    rowbase: Vec<isize>,
    /// `ox·sw − pl`
    x0: isize,
    /// The window of the current pixel in window order (valid when `win_valid`).
    win: Vec<i64>,
    /// `win` as `i32` (with [`Mults::I32`]).
    win32: Vec<i32>,
    win_valid: bool,
    // registers
    pub inp: InSide,
    pub oy: usize,
    pub ox: usize,
    pub nf: usize,
    pub sf: usize,
    pub obuf: Vec<i64>,
    pub pending: usize,
    pub ch: usize,
    pub out_valid: bool,
    pub out_data: i64,
    pub counters: Counters,
}

/// Parameters of [`Mvu::new`].
pub(crate) struct MvuParams {
    pub geom: inq_hdl::Geometry,
    pub pe: usize,
    pub simd: usize,
    pub pad_value: i64,
    /// Weights as [`multiplier`]s in [`Mvu::wmul`] order (`I32` only if `ACC_W ≤ 32`).
    pub weights: Mults,
    pub bias: Vec<i64>,
    pub shift: Vec<i32>,
    pub mode: OutMode,
}

impl Mvu {
    pub fn new(p: MvuParams) -> Self {
        let g = p.geom;
        let k = g.kh * g.kw * g.c;
        let mut m = Mvu {
            c: g.c,
            w: g.w,
            kh: g.kh as isize,
            kw: g.kw,
            sh: g.sh,
            sw: g.sw,
            pt: g.pad[0] as isize,
            pl: g.pad[1] as isize,
            oc: g.oc,
            oh: g.oh,
            ow: g.ow,
            nr: g.nr,
            pe: p.pe,
            nfn: g.oc / p.pe,
            sfn: k / p.simd,
            k,
            wmul: p.weights,
            bias: p.bias,
            shift: p.shift,
            mode: p.mode,
            pad_value: p.pad_value,
            lo: 0,
            need: 0,
            lim: 0,
            rowbase: vec![-1; g.kh],
            x0: 0,
            win: vec![0; k],
            win32: vec![0; k],
            win_valid: false,
            inp: InSide::new(g.h, g.w * g.c, g.nr),
            oy: 0,
            ox: 0,
            nf: 0,
            sf: 0,
            obuf: vec![0; p.pe],
            pending: 0,
            ch: 0,
            out_valid: false,
            out_data: 0,
            counters: Counters::default(),
        };
        m.set_oy(0);
        m.set_ox(0);
        m
    }

    /// Sets `oy` and the values derived from it.
    fn set_oy(&mut self, oy: usize) {
        self.oy = oy;
        self.win_valid = false;
        let lo = (oy * self.sh) as isize - self.pt;
        let h = self.inp.h as isize;
        self.lo = lo;
        self.need = h.min(lo + self.kh);
        self.lim = self.nr as isize + lo.max(0);
        let row_len = (self.w * self.c) as isize;
        let base = self.inp.base as isize;
        for (ky, rb) in self.rowbase.iter_mut().enumerate() {
            let r = lo + ky as isize;
            *rb = if r < 0 || r >= h {
                -1
            } else {
                ((base + r) % self.nr as isize) * row_len
            };
        }
    }

    /// Sets `ox` and `x0 = ox·sw − pl`.
    fn set_ox(&mut self, ox: usize) {
        self.ox = ox;
        self.win_valid = false;
        self.x0 = (ox * self.sw) as isize - self.pl;
    }

    /// comb `in_ready` (`lim = NR + max(0, lo)`, `lo = oy·sh − pt`).
    #[inline(always)]
    pub fn in_ready(&self) -> bool {
        self.inp.in_ready(self.lim)
    }

    /// comb `fire` given the downstream `out_ready`.
    #[inline(always)]
    pub fn fire(&self, out_ready: bool) -> bool {
        let emit_go = !self.out_valid || out_ready;
        let obuf_free = self.pending == 0 || (self.pending == 1 && emit_go);
        self.avail() && (self.sf + 1 != self.sfn || obuf_free)
    }

    /// `!cdone && (ahead || iy >= need)`: the engine has the rows for its next compute cycle.
    #[inline(always)]
    pub fn avail(&self) -> bool {
        !self.inp.cdone && self.inp.rows_ok(self.need)
    }

    /// `requant(v, ch)`.
    #[inline(always)]
    fn requant(&self, v: i64, ch: usize) -> i64 {
        let r = self.shift[ch];
        match self.mode {
            OutMode::Act { fmt, relu } => numerics::requantize(v, r, relu, fmt),
            OutMode::Logits => numerics::shift_round(v, r),
        }
    }

    /// One rising edge. Returns `in_fire` and how the cycle counts.
    #[inline(always)]
    pub fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind) {
        let iy_old = self.inp.iy;
        let in_fire = in_valid && self.inp.in_ready(self.lim);
        let emit_go = !self.out_valid || out_ready;
        let last_sf = self.sf + 1 == self.sfn;
        let pending = self.pending;
        let obuf_free = pending == 0 || (pending == 1 && emit_go);
        let avail = self.avail();
        let fire = avail && (!last_sf || obuf_free);
        let kind = if fire {
            Kind::Busy
        } else if avail {
            Kind::Stalled
        } else {
            Kind::Idle
        };
        self.counters.add(kind, 1);
        // Nothing changes this cycle: no transfer in, no compute, no emission, no wrap.
        let emit_work = emit_go && (pending != 0 || self.out_valid);
        if !(in_fire || fire || emit_work || self.inp.wraps()) {
            return (false, kind);
        }

        // Emission side (reads the pre-edge obuf and pending).
        if emit_go {
            self.out_valid = pending != 0;
            if pending != 0 {
                let ch = self.ch;
                let v = self.obuf[self.pe - pending] + self.bias[ch];
                self.out_data = self.requant(v, ch);
                self.ch = if ch + 1 == self.oc { 0 } else { ch + 1 };
                self.pending = pending - 1;
            }
        }

        // Compute side.
        let mut last_fire = false;
        if fire {
            // advance sf, nf, ox, oy
            if !last_sf {
                self.sf += 1;
            } else {
                self.finish_fold();
                self.pending = self.pe;
                self.sf = 0;
                if self.nf + 1 != self.nfn {
                    self.nf += 1;
                } else {
                    self.nf = 0;
                    if self.ox + 1 != self.ow {
                        self.set_ox(self.ox + 1);
                    } else {
                        self.set_ox(0);
                        if self.oy + 1 != self.oh {
                            self.set_oy(self.oy + 1);
                        } else {
                            last_fire = true;
                        }
                    }
                }
            }
        }

        self.inp.update(in_fire, in_data, iy_old, last_fire);
        if last_fire {
            // after the input side moved `base` to the next image
            self.set_oy(0);
        }
        (in_fire, kind)
    }

    /// How this engine would behave at the next edge if its neighbours' signals stayed
    /// constant: [`Quiet::Frozen`] (no register but the counters changes), [`Quiet::Folding`]
    /// (only `sf` advances, for the returned number of cycles at most), or `None`. In both
    /// quiet states `in_ready` stays constant.
    #[inline]
    pub fn quiet(&self, in_valid: bool, out_ready: bool) -> Option<Quiet> {
        let in_fire = in_valid && self.in_ready();
        let emit_go = !self.out_valid || out_ready;
        let emit_work = emit_go && (self.pending != 0 || self.out_valid);
        if in_fire || emit_work || self.inp.wraps() {
            return None;
        }
        let avail = self.avail();
        let last_sf = self.sf + 1 == self.sfn;
        if !avail {
            return Some(Quiet::Frozen { stalled: false });
        }
        if last_sf {
            // fire needs obuf_free; with no emission work, pending == 0 unless blocked.
            let obuf_free = self.pending == 0 || (self.pending == 1 && emit_go);
            return if obuf_free {
                None
            } else {
                Some(Quiet::Frozen { stalled: true })
            };
        }
        Some(Quiet::Folding(self.sfn - 1 - self.sf))
    }

    /// Applies `k` cycles of [`Quiet::Folding`]: `k` non-final synapse folds (with the lazy
    /// arithmetic, only `sf` moves).
    #[inline]
    pub fn fold_burst(&mut self, k: usize) {
        self.sf += k;
        self.counters.busy += k as u64;
    }

    /// The last synapse fold of neuron fold `nf`: `obuf[p] ← S_p` summed over the whole
    /// window (see the type's documentation).
    #[inline]
    fn finish_fold(&mut self) {
        if !self.win_valid {
            self.gather();
        }
        let k = self.k;
        let range = self.nf * self.pe * k..(self.nf + 1) * self.pe * k;
        match &self.wmul {
            Mults::I32(w) => {
                for (o, row) in self.obuf.iter_mut().zip(w[range].chunks_exact(k)) {
                    *o = i64::from(dot(row, &self.win32));
                }
            }
            Mults::I64(w) => {
                for (o, row) in self.obuf.iter_mut().zip(w[range].chunks_exact(k)) {
                    *o = dot(row, &self.win);
                }
            }
        }
    }

    /// Copies the current pixel's window (lane values `x_j`, `pad_value` outside the map)
    /// into `win`.
    fn gather(&mut self) {
        let c = self.c;
        let kwc = self.kw * c;
        let w = self.w as isize;
        for (ky, &rb) in self.rowbase.iter().enumerate() {
            let dst = &mut self.win[ky * kwc..(ky + 1) * kwc];
            if rb < 0 {
                dst.fill(self.pad_value);
                continue;
            }
            if self.x0 >= 0 && self.x0 + (self.kw as isize) <= w {
                let src = rb as usize + self.x0 as usize * c;
                dst.copy_from_slice(&self.inp.lb[src..src + kwc]);
                continue;
            }
            for (kx, d) in dst.chunks_exact_mut(c).enumerate() {
                let ix = self.x0 + kx as isize;
                if ix < 0 || ix >= w {
                    d.fill(self.pad_value);
                } else {
                    let src = rb as usize + ix as usize * c;
                    d.copy_from_slice(&self.inp.lb[src..src + c]);
                }
            }
        }
        if matches!(self.wmul, Mults::I32(_)) {
            // wrapping: see `Mults`
            for (d, &v) in self.win32.iter_mut().zip(&self.win) {
                *d = v as i32;
            }
        }
        self.win_valid = true;
    }

    pub fn reset(&mut self) {
        self.inp.reset();
        self.set_oy(0);
        self.set_ox(0);
        self.nf = 0;
        self.sf = 0;
        self.pending = 0;
        self.ch = 0;
        self.out_valid = false;
        self.out_data = 0;
    }
}

/// Pooling mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolKind {
    Max,
    Avg { shift: i32 },
}

/// `inq_pool` (§5).
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    pub c: usize,
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
    pub ch: usize,
    pub out_valid: bool,
    pub out_data: i64,
    pub counters: Counters,
}

impl Pool {
    pub fn new(g: inq_hdl::Geometry, kind: PoolKind) -> Self {
        Pool {
            c: g.c,
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
            ch: 0,
            out_valid: false,
            out_data: 0,
            counters: Counters::default(),
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

    /// See [`Mvu::quiet`]: a pooling unit is either frozen or busy with its stream.
    #[inline]
    pub fn quiet(&self, in_valid: bool, out_ready: bool) -> Option<Quiet> {
        let in_fire = in_valid && self.in_ready();
        let emit_go = !self.out_valid || out_ready;
        let avail = self.avail();
        if in_fire || (avail && emit_go) || (emit_go && self.out_valid) || self.inp.wraps() {
            return None;
        }
        Some(Quiet::Frozen { stalled: avail })
    }

    fn window(&self) -> i64 {
        let lb = &self.inp.lb;
        let first = self.ox * self.sw * self.c + self.ch;
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

    /// One rising edge. Returns `in_fire` and how the cycle counts.
    #[inline(always)]
    pub fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind) {
        let iy_old = self.inp.iy;
        let in_fire = in_valid && self.in_ready();
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
        self.counters.add(kind, 1);
        if !(in_fire || fire || (emit_go && self.out_valid) || self.inp.wraps()) {
            return (false, kind);
        }
        if emit_go {
            self.out_valid = fire;
        }
        let mut last_fire = false;
        if fire {
            self.out_data = self.window();
            if self.ch + 1 != self.c {
                self.ch += 1;
            } else {
                self.ch = 0;
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
        self.inp.update(in_fire, in_data, iy_old, last_fire);
        if last_fire {
            // after the input side moved `base` to the next image
            self.set_oy(0);
        }
        (in_fire, kind)
    }

    pub fn reset(&mut self) {
        self.inp.reset();
        self.set_oy(0);
        self.ox = 0;
        self.ch = 0;
        self.out_valid = false;
        self.out_data = 0;
    }
}

/// An engine whose next edges are predictable while its neighbours stay unchanged.
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

/// What the decoupled run needs of an engine kind (statically dispatched there).
pub(crate) trait Stage {
    /// comb `in_ready`.
    fn in_ready(&self) -> bool;
    /// `out_valid`.
    fn out_valid(&self) -> bool;
    /// `out_data`.
    fn out_data(&self) -> i64;
    /// See [`Mvu::quiet`].
    fn quiet(&self, in_valid: bool, out_ready: bool) -> Option<Quiet>;
    /// Applies `k` quiet cycles.
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
    /// Input elements until the current row is complete (`W·C − ie`).
    fn row_left(&self) -> usize;
}

impl Stage for Mvu {
    #[inline(always)]
    fn in_ready(&self) -> bool {
        Mvu::in_ready(self)
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
        Mvu::quiet(self, in_valid, out_ready)
    }
    #[inline(always)]
    fn apply_quiet(&mut self, q: Quiet, k: usize) {
        match q {
            Quiet::Folding(_) => self.fold_burst(k),
            q => self.counters.add(q.kind(), k as u64),
        }
    }
    #[inline(always)]
    fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind) {
        Mvu::update(self, in_valid, in_data, out_ready)
    }
    #[inline(always)]
    fn absorb(&mut self, data: i64) -> bool {
        self.inp.absorb(data)
    }
    #[inline(always)]
    fn row_left(&self) -> usize {
        self.inp.wc - self.inp.ie
    }
    #[inline(always)]
    fn burst_len(&self) -> usize {
        if !(self.out_valid || self.pending != 0) || self.inp.wraps() {
            return 0;
        }
        if !self.avail() {
            usize::MAX // the emission ends by itself
        } else if self.sf + 1 != self.sfn {
            self.sfn - 1 - self.sf // non-final synapse folds
        } else {
            // stalled on `obuf` while `pending >= 2`; it fires at `pending == 1`
            self.pending.saturating_sub(1)
        }
    }
}

impl Stage for Pool {
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
    fn apply_quiet(&mut self, q: Quiet, k: usize) {
        self.counters.add(q.kind(), k as u64);
    }
    #[inline(always)]
    fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind) {
        Pool::update(self, in_valid, in_data, out_ready)
    }
    #[inline(always)]
    fn absorb(&mut self, data: i64) -> bool {
        self.inp.absorb(data)
    }
    #[inline(always)]
    fn row_left(&self) -> usize {
        self.inp.wc - self.inp.ie
    }
    #[inline(always)]
    fn burst_len(&self) -> usize {
        if self.inp.wraps() {
            0
        } else if self.avail() {
            // the fires left in this output row (the last one moves `oy`, maybe `last_fire`)
            (self.ow - self.ox) * self.c - self.ch
        } else {
            usize::from(self.out_valid)
        }
    }
}

/// One engine.
#[derive(Debug, Clone)]
pub(crate) enum Engine {
    Mvu(Box<Mvu>),
    Pool(Box<Pool>),
}

impl Engine {
    #[inline(always)]
    pub fn out_valid(&self) -> bool {
        match self {
            Engine::Mvu(m) => m.out_valid,
            Engine::Pool(p) => p.out_valid,
        }
    }

    #[inline(always)]
    pub fn out_data(&self) -> i64 {
        match self {
            Engine::Mvu(m) => m.out_data,
            Engine::Pool(p) => p.out_data,
        }
    }

    #[inline(always)]
    pub fn in_ready(&self) -> bool {
        match self {
            Engine::Mvu(m) => m.in_ready(),
            Engine::Pool(p) => p.in_ready(),
        }
    }

    /// One rising edge: `(in_fire, kind of the cycle)`.
    #[inline(always)]
    pub fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind) {
        match self {
            Engine::Mvu(m) => m.update(in_valid, in_data, out_ready),
            Engine::Pool(p) => p.update(in_valid, in_data, out_ready),
        }
    }

    pub fn reset(&mut self) {
        match self {
            Engine::Mvu(m) => m.reset(),
            Engine::Pool(p) => p.reset(),
        }
    }

    #[inline]
    pub fn quiet(&self, in_valid: bool, out_ready: bool) -> Option<Quiet> {
        match self {
            Engine::Mvu(m) => m.quiet(in_valid, out_ready),
            Engine::Pool(p) => p.quiet(in_valid, out_ready),
        }
    }

    /// Applies `k` quiet cycles of the given kind.
    #[inline]
    pub fn apply_quiet(&mut self, q: Quiet, k: usize) {
        match self {
            Engine::Mvu(m) => Stage::apply_quiet(m.as_mut(), q, k),
            Engine::Pool(p) => Stage::apply_quiet(p.as_mut(), q, k),
        }
    }

    pub fn counters(&self) -> Counters {
        match self {
            Engine::Mvu(m) => m.counters,
            Engine::Pool(p) => p.counters,
        }
    }

    pub fn inside(&self) -> &InSide {
        match self {
            Engine::Mvu(m) => &m.inp,
            Engine::Pool(p) => &p.inp,
        }
    }
}

/// `inq_out` (§7).
#[derive(Debug, Clone)]
pub(crate) struct OutStage {
    pub n: usize,
    pub idx: usize,
    pub best: i64,
    pub best_idx: usize,
}

impl OutStage {
    /// comb `take` for the word currently presented.
    #[inline(always)]
    pub fn take(&self, data: i64) -> bool {
        self.idx == 0 || data > self.best
    }

    /// comb `m_axis_tuser`.
    #[inline(always)]
    pub fn tuser(&self, data: i64) -> usize {
        if self.take(data) {
            self.idx
        } else {
            self.best_idx
        }
    }

    /// comb `m_axis_tlast`.
    #[inline(always)]
    pub fn tlast(&self) -> bool {
        self.idx + 1 == self.n
    }

    #[inline(always)]
    pub fn update(&mut self, fire: bool, data: i64) {
        if fire {
            if self.take(data) {
                self.best = data;
                self.best_idx = self.idx;
            }
            self.idx = if self.idx + 1 == self.n {
                0
            } else {
                self.idx + 1
            };
        }
    }

    pub fn reset(&mut self) {
        self.idx = 0;
        self.best = 0;
        self.best_idx = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplier_equals_numerics_product() {
        // (validation keeps every product far below 2^62)
        let xs: Vec<i64> = (-300..=300).chain([1 << 20, -(1 << 20)]).collect();
        for bits in 2..=8u32 {
            for code in 0..=255u8 {
                let Ok(w) = numerics::decode(code, bits) else {
                    continue;
                };
                if matches!(w, Weight::Pow2 { index, .. } if index > 40) {
                    continue;
                }
                let m = multiplier(w);
                for &x in &xs {
                    assert_eq!(
                        x * m,
                        numerics::product(x, w),
                        "code {code} bits {bits} x {x}"
                    );
                }
            }
        }
    }

    #[test]
    fn dot_equals_naive_sum() {
        for n in 0..70usize {
            let w: Vec<i64> = (0..n as i64).map(|i| (i * 7 % 5) - 2).collect();
            let x: Vec<i64> = (0..n as i64).map(|i| i * i - 20).collect();
            let naive: i64 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
            assert_eq!(dot(&w, &x), naive, "n {n}");
            let w32: Vec<i32> = w.iter().map(|&v| v as i32).collect();
            let x32: Vec<i32> = x.iter().map(|&v| v as i32).collect();
            assert_eq!(i64::from(dot(&w32, &x32)), naive, "n {n}");
            assert_eq!(i64::from(dot_body(&w32, &x32)), naive, "n {n}");
        }
    }
}
