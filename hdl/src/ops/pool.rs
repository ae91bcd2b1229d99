//! The pooling unit (`docs/hardware.md` §5): max and average pooling over a window. Two
//! implementations, chosen by the plan from the window alone ([`Pool::tiled`]): windows that
//! tile the map go to `inq_pool_tile` (§5.1: one partial result per output column and channel,
//! no line buffer), any other window to `inq_pool` (§5: a line buffer of `NR` rows). Both take
//! beats of `K | C` channels of one pixel (§2.1), and each is then its `K = 1` unit over `C/K`
//! channel groups with `K` lanes side by side. Owns the engine's parameters, beat rule, cycle
//! model, first-image schedule, resource estimate and template parameters of both. (Global
//! average pooling is its own engine, `gap`.)

use serde::{Deserialize, Serialize};

use super::api::{BeatCaps, EngineOp, Io, Param};
use crate::geometry::{engine_cycles_beats, Geometry};
use crate::resources::{
    ceil_div, clog2, common_ctrl_bits, finish, lb_addr_bits, lutram, push_adders, scale, term,
    vclog2, LineBuffer, Resources, Term, POOL_CTRL_LUTS_PER_BIT, POOL_FIXED_LUTS,
};
use crate::schedule::{self, Times};
use crate::timing::{log2_ceil, LogicPath, TimingFamily};

/// Pooling mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// Maximum over the window.
    Max,
    /// Rounded average over a power-of-two window.
    Avg,
}

/// A pooling unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    /// The window (`oc = c`, no padding).
    pub geom: Geometry,
    /// Max or average.
    pub mode: PoolMode,
    /// `log2(kh·kw)` (average only; 0 for max).
    pub shift: u32,
    /// Width of the window sum (`A + shift + 1`, average only).
    pub sum_width: u32,
    /// Elements per beat `K` in and out (`docs/hardware.md` §2.1, §5, §5.1; `K | C`): `K`
    /// channels of one pixel per beat, pooled side by side. Both units are their `K = 1` unit
    /// over `C/K` channel groups ([`Pool::groups`]).
    #[serde(default = "super::one", skip_serializing_if = "super::is_one")]
    pub beat: usize,
}

impl Pool {
    /// A pooling unit over `g` for `bits`-bit inputs.
    pub fn new(g: Geometry, mode: PoolMode, bits: u32) -> Self {
        let shift = match mode {
            PoolMode::Max => 0,
            PoolMode::Avg => inq_model::numerics::gap_shift(g.kh * g.kw),
        };
        Pool {
            geom: g,
            mode,
            shift,
            sum_width: bits + shift + 1,
            beat: 1,
        }
    }

    /// `K` ([`Pool::beat`], at least 1).
    pub fn k(&self) -> usize {
        self.beat.max(1)
    }

    /// The geometry of the `K = 1` unit this one is (`docs/hardware.md` §5, §5.1): `C/K`
    /// channel groups in place of the channels, each position of the line buffer (or of the
    /// tiled unit's partial results) a word of `K` elements.
    pub fn groups(&self) -> Geometry {
        let k = self.k();
        Geometry {
            c: self.geom.c / k,
            oc: self.geom.oc / k,
            ..self.geom
        }
    }

    /// Whether the windows tile the map (`kh = sh`, `kw = sw`, `kh | H`, `kw | W`, e.g. a 2×2
    /// window of stride 2 on an even map): then the unit is `inq_pool_tile` (§5.1), which
    /// keeps one partial result per output column and channel and sends a window's result the
    /// cycle after its last element arrives, instead of a line buffer of `NR` rows.
    pub fn tiled(&self) -> bool {
        let g = &self.geom;
        g.kh >= 1
            && g.kw >= 1
            && g.sh == g.kh
            && g.sw == g.kw
            && g.pad == [0; 4]
            && g.h.is_multiple_of(g.kh)
            && g.w.is_multiple_of(g.kw)
    }

    /// Bits of a partial result of the tiled unit: the running maximum (`A`) or the running
    /// sum (`sum_width`).
    pub fn partial_width(&self, width: u32) -> u32 {
        match self.mode {
            PoolMode::Max => width,
            PoolMode::Avg => self.sum_width,
        }
    }

    /// Whether the line buffer is `kh·kw` banks, one per window tap, all read at the same word
    /// (`BANKED = 1` in `inq_pool`): when every window's top row and first column fall on a
    /// multiple of `kh` and `kw` (`kh | sh`, `kw | sw`, `kh | H`, `kw | W`) and the slots group
    /// into whole windows (`kh | NR`), e.g. a 2×2 window of stride 4 on an even map. Otherwise
    /// one copy of the whole buffer per tap. Storage only: no cycle changes. Never for windows
    /// that tile the map: those go to the tiled unit ([`Pool::tiled`]), which has no banks.
    /// Independent of the beat: a bank (or a copy) holds whole beats, the `K` channels of a
    /// group of one pixel, which every tap reads together, so a word of `K` elements never
    /// straddles two banks and the banks' layout is the `K = 1` one over channel groups.
    pub fn banked(&self) -> bool {
        let g = &self.geom;
        !self.tiled()
            && g.kh >= 1
            && g.kw >= 1
            && g.sh.is_multiple_of(g.kh)
            && g.sw.is_multiple_of(g.kw)
            && g.h.is_multiple_of(g.kh)
            && g.w.is_multiple_of(g.kw)
            && g.nr.is_multiple_of(g.kh)
    }

    /// The line buffer's RAMs, in words of `K` elements (one beat): `kh·kw` banks of
    /// `NR·W·C/(K·kh·kw)` words, or `kh·kw` copies of `NR·W·C/K` words, each with one
    /// synchronous read port; for the tiled unit its one RAM of `OW·C/K` words of partial
    /// results.
    pub fn line_buffer(&self, width: u32) -> LineBuffer {
        let g = self.groups();
        let k = self.k() as u64;
        if self.tiled() {
            return LineBuffer {
                memories: "pb",
                depth: (g.ow * g.c) as u64,
                bits: u64::from(self.partial_width(width)) * k,
                copies: 1,
            };
        }
        let taps = (g.kh * g.kw) as u64;
        let words = g.lb_elements() as u64;
        let (memories, depth) = if self.banked() {
            ("g_banked*", words / taps)
        } else {
            ("g_copies*", words)
        };
        LineBuffer {
            memories,
            depth,
            bits: u64::from(width) * k,
            copies: taps,
        }
    }
}

/// Cycles per image of a pooling unit in isolation, with `K` elements per beat: `OW·C/K`
/// fires per output row and `W·C/K` input beats per row (the row model of §9); the tiled unit
/// takes one input beat per cycle (`C·H·W/K`).
pub fn pool_cycles(pool: &Pool) -> u64 {
    let g = &pool.geom;
    let k = pool.k();
    if pool.tiled() {
        (g.c * g.h * g.w / k) as u64
    } else {
        engine_cycles_beats(g, (g.ow * g.c / k) as u64, k)
    }
}

/// The terms of the tiled unit's estimate (§5.1).
fn tile_terms(pool: &Pool, width: u32) -> Vec<Term> {
    let g = &pool.geom;
    let a = u64::from(width);
    // `k` channels side by side per beat (§5.1): `C/k` channel groups, `k` lanes
    let k = pool.beat.max(1) as u64;
    let groups = (g.c as u64 / k).max(1);
    let p = u64::from(pool.partial_width(width)) * k;
    let words = g.ow as u64 * groups;
    let paw = vclog2(words.max(2));
    // counters c, ix, kx, ky, the partial-result address and the output count
    let ctrl_bits = vclog2(groups.max(2))
        + vclog2(g.w.max(2) as u64)
        + u64::from(clog2(g.kw as u64))
        + u64::from(clog2(g.kh as u64))
        + paw
        + 2;
    let mut t = vec![term(
        "control (counters, address, handshakes)",
        scale(ctrl_bits, POOL_CTRL_LUTS_PER_BIT),
        ctrl_bits + 1,
        ceil_div(paw, 4) + ceil_div(ctrl_bits, 4),
    )];
    let ram = lutram(words, p, 1);
    t.push(Term {
        name: "partial results (distributed RAM, a registered read)",
        luts: ram.logic_luts + p,
        lutram_luts: ram.sites(),
        ffs: p,
        carry4: 0,
    });
    let (luts, carry) = match pool.mode {
        // one comparator (carry chain) and the select
        PoolMode::Max => (2 * a * k, ceil_div(a, 4) * k),
        // the running-sum adder and the rounding add (the shift is wiring)
        PoolMode::Avg => (2 * p, 2 * ceil_div(p / k, 4) * k),
    };
    t.push(term("window reduction", luts, 0, carry));
    // two output slots (`out_data`, `hold`) and their select
    t.push(term("output slots", a * k, 2 * a * k, 0));
    t
}

/// The terms of a line-buffered pooling engine's estimate (§5): the `K = 1` unit over channel
/// groups ([`Pool::groups`]) for the counters and addresses, `K·A`-bit words in the line
/// buffer, the forwarding selects and the output register, and `K` lanes of the reduction.
fn pool_terms(pool: &Pool, width: u32) -> Vec<Term> {
    let g = pool.groups();
    let a = u64::from(width);
    let k = pool.k() as u64;
    // a beat: a word of the line buffer, the forwarded word, the output register
    let ka = a * k;
    let taps = (g.kh * g.kw) as u64;
    let cw = vclog2((g.h + g.kh + g.nr + g.sh + 4) as u64) + 2;
    let banked = pool.banked();
    let lbuf = pool.line_buffer(width);
    // the address registers count the words of one RAM (a bank, or the whole buffer)
    let lbw = vclog2(lbuf.depth.max(2));
    let mut t = Vec::new();
    // control: common part (with `wp`, `rb0`, `oxc` at the word width), c, lop, cco; banked:
    // the write position's channel group and bank (`wc`, `wx`, `wy`; its word `ww` replaces
    // `wp`). Every counter counts channel groups.
    let mut ctrl_bits =
        common_ctrl_bits(&g) - 3 * (lb_addr_bits(&g) - lbw) + vclog2(g.c as u64 + 1) + cw + lbw;
    if banked {
        ctrl_bits +=
            vclog2(g.c as u64 + 1) + u64::from(clog2(g.kw as u64)) + u64::from(clog2(g.kh as u64));
    }
    t.push(term(
        "control (counters, handshakes)",
        POOL_FIXED_LUTS + scale(ctrl_bits, POOL_CTRL_LUTS_PER_BIT),
        ctrl_bits + ka,
        ceil_div(ctrl_bits, 4),
    ));
    let kh = g.kh as u64;
    if banked {
        // one read address for every bank: `rb0 + oxc + cco`, and its forwarding comparison
        t.push(term(
            "window address (shared by the banks)",
            3 * lbw,
            0,
            ceil_div(lbw, 4) * 2,
        ));
    } else {
        // tap addresses: per window row a wrapped row base and `+ oxc`, per tap `+ XOFF + cco`.
        t.push(term(
            "window addresses",
            kh * 3 * lbw + taps * lbw,
            0,
            ceil_div(lbw, 4) * (kh * 3 + taps),
        ));
    }
    if lbuf.in_bram() {
        // one block RAM per bank or copy (counted in `bram18`)
        t.push(term(
            "line buffer (block RAM per bank or copy: forwarding selects)",
            taps * ka,
            taps * (ka + 1) + ka,
            0,
        ));
    } else if banked {
        let bank = lutram(lbuf.depth, ka, 1);
        t.push(Term {
            name: "line buffer (a distributed-RAM bank per tap, a registered read each)",
            luts: taps * (bank.logic_luts + ka),
            lutram_luts: taps * bank.sites(),
            ffs: taps * (ka + 1) + ka,
            carry4: 0,
        });
    } else {
        let lb = lutram(lbuf.depth, ka, taps);
        t.push(Term {
            name: "line buffer (distributed RAM, read muxes, a registered read per tap)",
            luts: lb.logic_luts,
            lutram_luts: lb.sites(),
            ffs: taps * (ka + 1) + ka,
            carry4: 0,
        });
    }
    let (luts, carry) = match pool.mode {
        // comparator (carry chain) and select per reduction step, per lane
        PoolMode::Max => (
            taps.saturating_sub(1) * 2 * a * k,
            taps.saturating_sub(1) * ceil_div(a, 4) * k,
        ),
        // adder chain of the window sum and the rounding add, per lane
        PoolMode::Avg => {
            let s = u64::from(pool.sum_width);
            (taps * s * k, (taps + 1) * ceil_div(s, 4) * k)
        }
    };
    t.push(term("window reduction", luts, 0, carry));
    t
}

/// Resources of a pooling engine.
fn pool_resources(pool: &Pool, width: u32) -> Resources {
    let g = &pool.geom;
    let k = pool.k() as u64;
    let mut r = Resources::default();
    if pool.tiled() {
        // one partial-result adder or comparator per lane of a beat (§5.1)
        push_adders(&mut r.adders, pool.partial_width(width), k);
        r.bram18 = pool.line_buffer(width).bram18();
        return finish(&tile_terms(pool, width), r);
    }
    // `K` lanes of the reduction (§5)
    let taps = (g.kh * g.kw) as u64;
    match pool.mode {
        PoolMode::Max => push_adders(&mut r.adders, width, taps.saturating_sub(1) * k),
        PoolMode::Avg => push_adders(&mut r.adders, pool.sum_width, taps * k),
    }
    r.bram18 = pool.line_buffer(width).bram18();
    finish(&pool_terms(pool, width), r)
}

impl EngineOp for Pool {
    /// The schedule's chain (`docs/hardware.md` §12): the row comparison, `fire`, the next
    /// window position, each tap's next read address and its forwarding comparison. The
    /// address decode grows with the words of a row: `W·C/K` for a copy per tap (11 + ⌈log2
    /// W·C⌉ levels, 8 carry steps, as measured at `K = 1`), `W·C/(K·kh·kw)` per bank when
    /// banked (13 + 6 on the one banked design measured). The `K` lanes of the reduction sit
    /// side by side after the registered reads, not in this chain.
    fn logic_path(&self, io: &Io, _family: TimingFamily) -> LogicPath {
        let g = self.groups();
        if self.tiled() {
            // the partial result's registered read, the comparison (or the add) and the
            // select into the partial RAM's write data and the output slots (4 + 4c on both
            // pools of the default design, 8-bit maxima)
            let p = self.partial_width(io.in_width);
            return LogicPath::new(4, p.div_ceil(2));
        }
        // the read address after a fire (or reset) is computed from registers beside `fire`,
        // which only selects it: the chain is the address arithmetic (fitted on the banked
        // pool of the tiny golden design, 9 + 4c in its netlist; the copy-per-tap variant
        // takes the same four levels off its earlier fit)
        if self.banked() {
            LogicPath::new(7 + log2_ceil(g.w * g.c / (g.kh * g.kw).max(1)), 4)
        } else {
            LogicPath::new(7 + log2_ceil(g.w * g.c), 6)
        }
    }
    fn geometry(&self) -> Option<&Geometry> {
        Some(&self.geom)
    }
    fn in_beat(&self) -> usize {
        self.beat
    }
    /// Both units pass up to `C` channels of a pixel per beat, the same beat in and out (§5,
    /// §5.1).
    fn beat_caps(&self) -> BeatCaps {
        BeatCaps {
            input: self.geom.c,
            out: self.geom.c,
            pass: true,
        }
    }
    /// The input beat is the unit's `K`; its output beat is the same by [`BeatCaps::pass`].
    fn set_beats(&mut self, in_beat: usize, _out_beat: usize) {
        self.beat = in_beat;
    }
    /// `K | C` for both units (§5, §5.1): a beat never spans two pixels, and the line buffer
    /// (or the partial results) holds whole beats. Nothing else: the banks of the
    /// line-buffered unit hold whole beats whatever `K` is ([`Pool::banked`]).
    fn beat_error(&self) -> Option<String> {
        let k = self.beat;
        (k == 0 || !self.geom.c.is_multiple_of(k)).then(|| {
            format!(
                "{k} elements per beat: a pooling unit's beat must divide C = {}",
                self.geom.c
            )
        })
    }
    fn out_beat(&self) -> usize {
        self.beat
    }
    fn in_elements(&self) -> usize {
        self.geom.in_elements()
    }
    fn out_elements(&self) -> usize {
        self.geom.out_elements()
    }
    fn cycles_per_image(&self) -> u64 {
        pool_cycles(self)
    }
    fn held_elements(&self) -> usize {
        let g = &self.geom;
        if self.tiled() {
            // a row of windows in progress and the two output slots
            g.kh * g.w * g.c + 2
        } else {
            // the line buffer and the output register (a beat)
            g.lb_elements() + self.k()
        }
    }
    fn first_image(&self, inputs: &[&[u64]]) -> Vec<Times> {
        if self.tiled() {
            // every input element is taken the cycle it is available (the output is never
            // blocked, so at most one slot is in use); a window's last element is pushed at
            // its edge and moves the cycle after
            let g = &self.geom;
            let taken = schedule::accept_beats(inputs.first().copied().unwrap_or(&[]), self.beat);
            let wc = g.w * g.c;
            let out = taken
                .iter()
                .enumerate()
                .filter(|&(k, _)| {
                    let (y, x) = (k / wc, (k % wc) / g.c);
                    y % g.kh == g.kh - 1 && x % g.kw == g.kw - 1
                })
                .map(|(_, &t)| t + 1)
                .collect();
            return vec![out];
        }
        // one output beat per cycle (`fire`) once output row `oy`'s `need` rows are
        // complete; `out_valid` is registered, so the beat's `K` elements move the cycle after
        // its fire. The input side takes a beat per cycle once its last element is there.
        let g = &self.geom;
        let k = self.k();
        let taken = schedule::accept_beats(inputs.first().copied().unwrap_or(&[]), k);
        let mut out = Vec::with_capacity(g.oh * g.ow * g.c);
        let mut next = 0u64;
        for oy in 0..g.oh {
            let need = (oy * g.sh + g.kh).min(g.h);
            let ready = schedule::rows_complete(&taken, g.w * g.c, need);
            for _ in 0..g.ow * g.c / k {
                let fire = next.max(ready);
                out.extend(std::iter::repeat_n(fire + 1, k));
                next = fire + 1;
            }
        }
        vec![out]
    }
    fn terms(&self, io: &Io) -> Vec<Term> {
        if self.tiled() {
            tile_terms(self, io.in_width)
        } else {
            pool_terms(self, io.in_width)
        }
    }
    fn resources(&self, io: &Io) -> Resources {
        pool_resources(self, io.in_width)
    }
    fn line_buffer(&self, io: &Io) -> Option<LineBuffer> {
        Some(Pool::line_buffer(self, io.in_width))
    }
    fn params(&self, io: &Io) -> Vec<Param> {
        let g = &self.geom;
        if self.tiled() {
            return vec![
                Param::size("C", g.c),
                Param::size("W", g.w),
                Param::size("KH", g.kh),
                Param::size("KW", g.kw),
                Param::size("OW", g.ow),
                Param::flag("IN_SIGNED", io.in_signed),
                Param::flag("AVG", self.mode == PoolMode::Avg),
                Param::int("S", self.shift),
                Param::int("SUMW", self.sum_width),
            ]
            .into_iter()
            .chain((self.beat != 1).then(|| Param::size("K", self.beat)))
            .collect();
        }
        vec![
            Param::size("C", g.c),
            Param::size("H", g.h),
            Param::size("W", g.w),
            Param::size("KH", g.kh),
            Param::size("KW", g.kw),
            Param::size("SH", g.sh),
            Param::size("SW", g.sw),
            Param::size("OH", g.oh),
            Param::size("OW", g.ow),
            Param::size("NR", g.nr),
            Param::flag("IN_SIGNED", io.in_signed),
            Param::flag("AVG", self.mode == PoolMode::Avg),
            Param::int("S", self.shift),
            Param::int("SUMW", self.sum_width),
            Param::flag("BANKED", self.banked()),
        ]
        .into_iter()
        .chain((self.beat != 1).then(|| Param::size("K", self.beat)))
        .collect()
    }
}
