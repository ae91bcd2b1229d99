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

/// A decoded weight in branch-free form: `product(x) = (((x << k) & nz) ^ neg) − neg`, i.e.
/// `x << k`, negated when `neg = −1`, zero when `nz = 0`; equal to
/// [`numerics::product`]`(x, w)` for every decoded `w` (tested exhaustively below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lane {
    k: u32,
    neg: i64,
    nz: i64,
}

impl Lane {
    pub fn from_weight(w: Weight) -> Self {
        match w {
            Weight::Zero => Lane {
                k: 0,
                neg: 0,
                nz: 0,
            },
            Weight::Pow2 { negative, index } => Lane {
                k: index,
                neg: if negative { -1 } else { 0 },
                nz: -1,
            },
        }
    }

    #[inline(always)]
    pub fn product(self, x: i64) -> i64 {
        (((x << self.k) & self.nz) ^ self.neg).wrapping_sub(self.neg)
    }
}

/// One synapse fold's window position: `(ky, kx)` and the first channel `icf·SIMD`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SfEntry {
    pub ky: isize,
    pub kx: isize,
    pub coff: usize,
}

/// `inq_mvu` (§4).
#[derive(Debug, Clone)]
pub(crate) struct Mvu {
    // parameters
    pub c: usize,
    pub w: usize,
    pub kh: isize,
    pub sh: usize,
    pub sw: usize,
    pub pt: isize,
    pub pl: isize,
    pub oc: usize,
    pub oh: usize,
    pub ow: usize,
    pub nr: usize,
    pub pe: usize,
    pub simd: usize,
    pub nfn: usize,
    pub sfn: usize,
    pub sf_tab: Vec<SfEntry>,
    /// Decoded weights, index `((nf·SF + sf)·PE + p)·SIMD + s`.
    pub weights: Vec<Lane>,
    pub bias: Vec<i64>,
    pub shift: Vec<i32>,
    pub mode: OutMode,
    pad_lanes: Vec<i64>,
    // functions of `oy` (and `ox`), cached when it changes
    lo: isize,
    need: isize,
    lim: isize,
    /// per `ky`: line-buffer offset of input row `lo + ky`, or -1 when it is padding
    rowbase: Vec<isize>,
    /// `ox·sw − pl`
    x0: isize,
    // registers
    pub inp: InSide,
    pub oy: usize,
    pub ox: usize,
    pub nf: usize,
    pub sf: usize,
    pub acc: Vec<i64>,
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
    pub weights: Vec<Weight>,
    pub bias: Vec<i64>,
    pub shift: Vec<i32>,
    pub mode: OutMode,
}

impl Mvu {
    pub fn new(p: MvuParams) -> Self {
        let g = p.geom;
        let nfn = g.oc / p.pe;
        let sfn = g.kh * g.kw * g.c / p.simd;
        let cf = g.c / p.simd;
        let sf_tab = (0..sfn)
            .map(|sf| {
                let kk = sf / cf;
                SfEntry {
                    ky: (kk / g.kw) as isize,
                    kx: (kk % g.kw) as isize,
                    coff: (sf % cf) * p.simd,
                }
            })
            .collect();
        let mut m = Mvu {
            c: g.c,
            w: g.w,
            kh: g.kh as isize,
            sh: g.sh,
            sw: g.sw,
            pt: g.pad[0] as isize,
            pl: g.pad[1] as isize,
            oc: g.oc,
            oh: g.oh,
            ow: g.ow,
            nr: g.nr,
            pe: p.pe,
            simd: p.simd,
            nfn,
            sfn,
            sf_tab,
            weights: p.weights.into_iter().map(Lane::from_weight).collect(),
            bias: p.bias,
            shift: p.shift,
            mode: p.mode,
            pad_lanes: vec![p.pad_value; p.simd],
            lo: 0,
            need: 0,
            lim: 0,
            rowbase: vec![-1; g.kh],
            x0: 0,
            inp: InSide::new(g.h, g.w * g.c, g.nr),
            oy: 0,
            ox: 0,
            nf: 0,
            sf: 0,
            acc: vec![0; p.pe],
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

    /// One rising edge. Returns `in_fire`.
    #[inline(always)]
    pub fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> bool {
        let iy_old = self.inp.iy;
        let in_fire = in_valid && self.inp.in_ready(self.lim);
        let emit_go = !self.out_valid || out_ready;
        let last_sf = self.sf + 1 == self.sfn;
        let pending = self.pending;
        let obuf_free = pending == 0 || (pending == 1 && emit_go);
        let avail = self.avail();
        let fire = avail && (!last_sf || obuf_free);
        if fire {
            self.counters.busy += 1;
        } else if avail {
            self.counters.stalled += 1;
        } else {
            self.counters.idle += 1;
        }
        // Nothing changes this cycle: no transfer in, no compute, no emission, no wrap.
        let emit_work = emit_go && (pending != 0 || self.out_valid);
        if !(in_fire || fire || emit_work || self.inp.wraps()) {
            return false;
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
            self.compute(last_sf);
            if last_sf {
                self.pending = self.pe;
            }
            // advance sf, nf, ox, oy
            if !last_sf {
                self.sf += 1;
            } else {
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
        in_fire
    }

    /// How this engine would behave at the next edge if its neighbours' signals stayed
    /// constant: [`Quiet::Frozen`] (no register but the counters changes), [`Quiet::Folding`]
    /// (only `acc`/`sf` advance, for the returned number of cycles at most), or `None`.
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

    /// Applies `k` cycles of [`Quiet::Folding`]: `k` non-final synapse folds.
    #[inline]
    pub fn fold_burst(&mut self, k: usize) {
        for _ in 0..k {
            self.compute(false);
            self.sf += 1;
        }
        self.counters.busy += k as u64;
    }

    /// `acc[p] ← (sf == 0 ? 0 : acc[p]) + S_p`, and `obuf` on the last fold.
    #[inline(always)]
    fn compute(&mut self, last_sf: bool) {
        let e = self.sf_tab[self.sf];
        let rb = self.rowbase[e.ky as usize];
        let ix2 = self.x0 + e.kx;
        let simd = self.simd;
        let x: &[i64] = if rb < 0 || ix2 < 0 || ix2 >= self.w as isize {
            &self.pad_lanes
        } else {
            let base = rb as usize + ix2 as usize * self.c + e.coff;
            &self.inp.lb[base..base + simd]
        };
        let addr = self.nf * self.sfn + self.sf;
        let wrow = &self.weights[addr * self.pe * simd..(addr + 1) * self.pe * simd];
        let first = self.sf == 0;
        if simd == 1 {
            let xv = x[0];
            for (p, &w) in wrow.iter().enumerate() {
                let s_p = w.product(xv);
                let a = if first { s_p } else { self.acc[p] + s_p };
                self.acc[p] = a;
                if last_sf {
                    self.obuf[p] = a;
                }
            }
            return;
        }
        for (p, wp) in wrow.chunks_exact(simd).enumerate() {
            let mut s_p = 0i64;
            for (&xv, &wv) in x.iter().zip(wp) {
                s_p += wv.product(xv);
            }
            let a = if first { s_p } else { self.acc[p] + s_p };
            self.acc[p] = a;
            if last_sf {
                self.obuf[p] = a;
            }
        }
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

    fn set_oy(&mut self, oy: usize) {
        self.oy = oy;
        self.lo = oy * self.sh;
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
        let lo = self.lo();
        let lb = &self.inp.lb;
        let x0 = self.ox * self.sw;
        let mut max = i64::MIN;
        let mut sum = 0i64;
        let base = self.inp.base;
        for ky in 0..self.kh {
            let row = ((base + lo + ky) % self.nr) * self.w;
            for kx in 0..self.kw {
                let v = lb[(row + x0 + kx) * self.c + self.ch];
                max = max.max(v);
                sum += v;
            }
        }
        match self.kind {
            PoolKind::Max => max,
            PoolKind::Avg { shift } => numerics::shift_round(sum, shift),
        }
    }

    /// One rising edge. Returns `in_fire`.
    #[inline(always)]
    pub fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> bool {
        let iy_old = self.inp.iy;
        let in_fire = in_valid && self.in_ready();
        let emit_go = !self.out_valid || out_ready;
        let avail = self.avail();
        let fire = avail && emit_go;
        if fire {
            self.counters.busy += 1;
        } else if avail {
            self.counters.stalled += 1;
        } else {
            self.counters.idle += 1;
        }
        if !(in_fire || fire || (emit_go && self.out_valid) || self.inp.wraps()) {
            return false;
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
                        self.set_oy(0);
                        last_fire = true;
                    }
                }
            }
        }
        self.inp.update(in_fire, in_data, iy_old, last_fire);
        in_fire
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

    #[inline(always)]
    pub fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> bool {
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
        let k64 = k as u64;
        match (self, q) {
            (Engine::Mvu(m), Quiet::Folding(_)) => m.fold_burst(k),
            (Engine::Mvu(m), Quiet::Frozen { stalled }) => {
                if stalled {
                    m.counters.stalled += k64
                } else {
                    m.counters.idle += k64
                }
            }
            (Engine::Pool(p), Quiet::Frozen { stalled }) => {
                if stalled {
                    p.counters.stalled += k64
                } else {
                    p.counters.idle += k64
                }
            }
            (Engine::Pool(_), Quiet::Folding(_)) => {}
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
    fn lane_product_equals_numerics_product() {
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
                let lane = Lane::from_weight(w);
                for &x in &xs {
                    assert_eq!(
                        lane.product(x),
                        numerics::product(x, w),
                        "code {code} bits {bits} x {x}"
                    );
                }
            }
        }
    }
}
