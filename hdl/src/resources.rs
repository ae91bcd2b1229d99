//! Analytic resource model (`docs/hardware.md` §9).

use crate::design::{AdderCount, Geometry, Mvu, MvuOutput, Pool, PoolMode, Resources};

/// ROMs up to this many bits are expected in LUTs, larger ones in block RAM.
pub const LUTROM_MAX_BITS: u64 = 1024;

/// `ceil(log2(n))`, at least 1.
pub fn clog2(n: u64) -> u32 {
    if n <= 2 {
        1
    } else {
        64 - (n - 1).leading_zeros()
    }
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// LUTs of a line buffer of `depth` words of `bits` bits with `ports` asynchronous read ports,
/// held in distributed RAM (one 64×1 LUT RAM per bit, per 64 words and per read port).
fn lutram_luts(depth: u64, bits: u64, ports: u64) -> u64 {
    ports * bits * ceil_div(depth, 64)
}

/// LUTs of an `n`:1 multiplexer of `bits` bits.
fn mux_luts(n: u64, bits: u64) -> u64 {
    if n <= 1 {
        0
    } else {
        bits * ceil_div(n, 4)
    }
}

fn push_adders(list: &mut Vec<AdderCount>, width: u32, count: u64) {
    if count == 0 {
        return;
    }
    if let Some(a) = list.iter_mut().find(|a| a.width == width) {
        a.count += count;
    } else {
        list.push(AdderCount { width, count });
        list.sort_by_key(|a| a.width);
    }
}

/// Adds `r` into `t` (adders merged by width).
pub fn add_into(t: &mut Resources, r: &Resources) {
    for a in &r.adders {
        push_adders(&mut t.adders, a.width, a.count);
    }
    t.ff_bits += r.ff_bits;
    t.rom_bits += r.rom_bits;
    t.bram_bits += r.bram_bits;
    t.luts += r.luts;
}

/// Bits of the line-buffer control counters of an engine (iy, ie, wp, loop counters, ...).
fn control_ff_bits(g: &Geometry) -> u64 {
    let w = |n: usize| u64::from(clog2(n as u64 + 1));
    w(g.h) + w(g.w * g.c) + w(g.lb_elements()) + 1 + w(g.oh) + w(g.ow) + w(g.oc) + 2 * w(g.h + 8)
}

/// Resources of an MVU engine.
pub fn mvu_resources(g: &Geometry, m: &Mvu, in_width: u32, out_width: u32) -> Resources {
    let mut r = Resources::default();
    let lanes = (m.pe * m.simd) as u64;
    let a = u64::from(in_width);
    let p = u64::from(m.product_width);
    let acc = u64::from(m.acc_width);
    let rw = u64::from(m.requant_width);
    // lanes: conditional negate (one subtractor each); adder tree + accumulator per PE.
    push_adders(&mut r.adders, m.product_width, lanes);
    push_adders(&mut r.adders, m.acc_width, lanes);
    // requantizer: bias add, rounding add.
    push_adders(&mut r.adders, m.acc_width, 1);
    push_adders(&mut r.adders, m.requant_width, 1);
    let lb = g.lb_elements() as u64;
    r.ff_bits = 2 * m.pe as u64 * acc
        + u64::from(out_width)
        + 1
        + lanes * u64::from(m.code_bits)
        + control_ff_bits(g)
        + u64::from(clog2(m.rom_depth() as u64 + 1))
        + 2 * u64::from(clog2(m.pe as u64 + 1))
        + 3 * 12;
    let rom_per_pe = (m.rom_depth() * m.simd) as u64 * u64::from(m.code_bits);
    let table_bits = g.oc as u64 * (acc + 8);
    r.rom_bits = rom_per_pe * m.pe as u64 + table_bits;
    let mut luts = 0u64;
    if rom_per_pe > LUTROM_MAX_BITS {
        r.bram_bits += rom_per_pe * m.pe as u64;
    } else {
        luts += m.pe as u64 * u64::from(m.rom_width()) * ceil_div(m.rom_depth() as u64, 64);
    }
    luts += (acc + 8) * ceil_div(g.oc as u64, 64);
    // line buffer: one read port per SIMD lane (shared by the PEs), plus the pad mux.
    luts += lutram_luts(lb, a, m.simd as u64) + m.simd as u64 * a;
    // per lane: barrel shifter, negate + zero gating.
    let shift_stages = u64::from(clog2(u64::from(m.k_max) + 1));
    luts += lanes * (p * ceil_div(shift_stages, 2) + p);
    luts += lanes * acc; // adder tree + accumulate
    luts += m.pe as u64 * acc; // obuf load mux
    luts += mux_luts(m.pe as u64, acc); // obuf read mux
    let sat = match m.output {
        MvuOutput::Act { .. } => rw,
        MvuOutput::Logits => 0,
    };
    luts += acc + rw + rw * ceil_div(u64::from(clog2(64)), 2) + sat;
    luts += 120; // counters and control
    r.luts = luts;
    r
}

/// Resources of a pooling engine.
pub fn pool_resources(g: &Geometry, pool: &Pool, width: u32) -> Resources {
    let mut r = Resources::default();
    let a = u64::from(width);
    let taps = (g.kh * g.kw) as u64;
    let lb = g.lb_elements() as u64;
    let mut luts = lutram_luts(lb, a, taps);
    match pool.mode {
        PoolMode::Max => {
            // comparator + select per reduction step
            push_adders(&mut r.adders, width, taps.saturating_sub(1));
            luts += taps.saturating_sub(1) * 2 * a;
        }
        PoolMode::Avg => {
            push_adders(&mut r.adders, pool.sum_width, taps);
            luts += taps * u64::from(pool.sum_width);
        }
    }
    r.ff_bits = a + 1 + control_ff_bits(g);
    luts += 100;
    r.luts = luts;
    r
}
