//! The pooling unit (`inq_pool`, `docs/hardware.md` §5): max and average pooling over a
//! window with a line buffer. Owns the engine's parameters, cycle model, resource estimate and
//! template parameters. (Global average pooling is its own engine, `gap`.)

use serde::{Deserialize, Serialize};

use super::api::{EngineOp, Io, Param};
use crate::geometry::{engine_cycles, Geometry};
use crate::resources::{
    ceil_div, common_ctrl_bits, finish, lb_addr_bits, lutram, push_adders, ram_in_bram, scale,
    sync_ram_bram18, term, vclog2, Resources, Term, POOL_CTRL_LUTS_PER_BIT, POOL_FIXED_LUTS,
};

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
        }
    }
}

/// Cycles per image of a pooling unit in isolation: `OW·C` cycles per output row.
pub fn pool_cycles(g: &Geometry) -> u64 {
    engine_cycles(g, (g.ow * g.c) as u64)
}

/// The terms of a pooling engine's estimate.
fn pool_terms(pool: &Pool, width: u32) -> Vec<Term> {
    let g = &pool.geom;
    let a = u64::from(width);
    let taps = (g.kh * g.kw) as u64;
    let lbw = lb_addr_bits(g);
    let cw = vclog2((g.h + g.kh + g.nr + g.sh + 4) as u64) + 2;
    let mut t = Vec::new();
    // control: common part, c, lop, cco.
    let ctrl_bits = common_ctrl_bits(g) + vclog2(g.c as u64 + 1) + cw + lbw;
    t.push(term(
        "control (counters, handshakes)",
        POOL_FIXED_LUTS + scale(ctrl_bits, POOL_CTRL_LUTS_PER_BIT),
        ctrl_bits + a,
        ceil_div(ctrl_bits, 4),
    ));
    // tap addresses: per window row a wrapped row base and `+ oxc`, per tap `+ XOFF + cco`.
    let kh = g.kh as u64;
    t.push(term(
        "window addresses",
        kh * 3 * lbw + taps * lbw,
        0,
        ceil_div(lbw, 4) * (kh * 3 + taps),
    ));
    let depth = g.lb_elements() as u64;
    if ram_in_bram(depth, a) {
        // one block-RAM copy per tap (counted in `bram18`)
        t.push(term(
            "line buffer (a block-RAM copy per tap: forwarding selects)",
            taps * a,
            taps * (a + 1) + a,
            0,
        ));
    } else {
        let lb = lutram(depth, a, taps);
        t.push(Term {
            name: "line buffer (distributed RAM, read muxes, a registered read per tap)",
            luts: lb.logic_luts,
            lutram_luts: lb.sites(),
            ffs: taps * (a + 1) + a,
            carry4: 0,
        });
    }
    let (luts, carry) = match pool.mode {
        // comparator (carry chain) and select per reduction step
        PoolMode::Max => (
            taps.saturating_sub(1) * 2 * a,
            taps.saturating_sub(1) * ceil_div(a, 4),
        ),
        // adder chain of the window sum and the rounding add
        PoolMode::Avg => {
            let s = u64::from(pool.sum_width);
            (taps * s, (taps + 1) * ceil_div(s, 4))
        }
    };
    t.push(term("window reduction", luts, 0, carry));
    t
}

/// Resources of a pooling engine.
fn pool_resources(pool: &Pool, width: u32) -> Resources {
    let g = &pool.geom;
    let mut r = Resources::default();
    let taps = (g.kh * g.kw) as u64;
    match pool.mode {
        PoolMode::Max => push_adders(&mut r.adders, width, taps.saturating_sub(1)),
        PoolMode::Avg => push_adders(&mut r.adders, pool.sum_width, taps),
    }
    r.bram18 = sync_ram_bram18(g.lb_elements() as u64, u64::from(width), taps);
    finish(&pool_terms(pool, width), r)
}

impl EngineOp for Pool {
    fn geometry(&self) -> Option<&Geometry> {
        Some(&self.geom)
    }
    fn in_elements(&self) -> usize {
        self.geom.in_elements()
    }
    fn out_elements(&self) -> usize {
        self.geom.out_elements()
    }
    fn cycles_per_image(&self) -> u64 {
        pool_cycles(&self.geom)
    }
    fn held_elements(&self) -> usize {
        self.geom.lb_elements() + 1
    }
    fn first_output_cycles(&self) -> u64 {
        let g = &self.geom;
        let first = (g.kh.clamp(1, g.h) - 1) * g.w * g.c + g.c * g.kw.max(1);
        first.min(g.in_elements()) as u64 + 1
    }
    fn terms(&self, io: &Io) -> Vec<Term> {
        pool_terms(self, io.in_width)
    }
    fn resources(&self, io: &Io) -> Resources {
        pool_resources(self, io.in_width)
    }
    fn params(&self, io: &Io) -> Vec<Param> {
        let g = &self.geom;
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
        ]
    }
}
