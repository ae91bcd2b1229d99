//! Analytic resource model (`docs/hardware.md` §10): what yosys `synth_xilinx` (7-series)
//! makes of the generated RTL, engine by engine.
//!
//! The model follows the structure of `inq_mvu.v` / `inq_pool.v` term by term
//! ([`engine_terms`]) and counts 6-LUT sites the way the synthesized netlist uses them
//! (`luts` = logic LUTs + LUTs used as distributed RAM):
//!
//! * **Line buffers** (one write port, asynchronous reads) become distributed RAM, one copy
//!   per group of read ports: 64×3-bit simple-dual-port `RAM64M` (one read port per copy) or
//!   64×1 quad-port `RAM64M` (three read ports per copy), whichever needs fewer cells
//!   (`RAM32M`, 32×6 / 32×2, up to 32 words). A `RAM64M`/`RAM32M` occupies 4 LUT sites.
//!   Deeper buffers add a `ceil(words/64)`:1 read multiplexer per read port and bit and a
//!   write-enable decoder ([`lutram`]).
//! * **ROMs**: weight ROMs (one per PE, synchronous read) go to block RAM when yosys's cost
//!   rule prefers it ([`rom_in_bram`]), else to logic: one LUT per 64 bits plus an output
//!   register ([`rom_logic_luts`]); the bias and shift tables are always logic.
//! * **Lanes**: the product `±(x << k)` and its adder in the PE's chain cost
//!   [`LANE_LUTS_PER_ACC_BIT`] LUTs per accumulator bit plus [`LANE_LUTS_PER_SHIFTED_BIT`] per
//!   input bit and shift position (`A·(k_max+1)`); adders sit on CARRY4 chains.
//! * **Control** (counters, window address arithmetic, comparators, requantizer shifters):
//!   [`CTRL_LUTS_PER_BIT`] LUTs per bit of control register, from the RTL's register list.
//!
//! The fitted constants were calibrated against yosys 0.23 on the designs whose
//! measurements are committed in `hdl/tests/data/resources_xilinx.json` (re-measure with
//! `cargo run -p inq-hdl --example measure_resources -- hdl/tests/data/resources_xilinx.json`);
//! `hdl/tests/resources_model.rs` keeps the estimate within 25 % of them.

use crate::design::{
    AdderCount, Design, Engine, EngineKind, Geometry, MacKind, Mvu, Pool, PoolMode, Resources,
};

/// Kept for compatibility: ROMs up to this many bits always stay in logic (yosys never puts
/// them in block RAM). The full rule is [`rom_in_bram`].
pub const LUTROM_MAX_BITS: u64 = 8192;

/// Logic LUTs per accumulator bit of one shift-add lane (its adder in the PE's chain and the
/// sign-extended, conditionally negated product feeding it), fitted.
pub const LANE_LUTS_PER_ACC_BIT: f64 = 1.4;

/// Logic LUTs per input bit and shift position of one lane (`A·(k_max+1)`: the shift
/// multiplexer and the conditional negate after it), fitted.
pub const LANE_LUTS_PER_SHIFTED_BIT: f64 = 1.25;

/// Logic LUTs per accumulator bit of one multiplier lane when its multiplier is a DSP block
/// (the sign-extended product into the PE's adder chain), fitted.
pub const MUL_LANE_LUTS_PER_ACC_BIT: f64 = 1.0;

/// Soft-multiplier LUTs per `x_bits · w_bits²` (`synth_xilinx -nodsp`, yosys 0.23), fitted on
/// the measured difference between the `-nodsp` and the DSP netlists of multiplier engines
/// (`docs/hardware.md` §10): the cost grows faster than the partial-product count, 1.6 LUTs
/// per partial-product bit at 4-bit weights, 3.3 at 8-bit weights.
pub const SOFT_MUL_LUTS_PER_X_W2: f64 = 0.4;

/// Logic LUTs one `x_bits × w_bits` signed multiplier costs as logic instead of a DSP
/// (`synth_xilinx -nodsp`; `x_bits = A + 1`, the RTL extends the activation by one bit).
pub fn soft_mul_luts(x_bits: u32, w_bits: u32) -> u64 {
    let w = u64::from(w_bits);
    scale(u64::from(x_bits) * w * w, SOFT_MUL_LUTS_PER_X_W2)
}

/// Logic LUTs per bit of MVU control register (increment / wrap / compare logic, the window
/// address arithmetic built on the counters, the requantizer's barrel shifters), fitted.
pub const CTRL_LUTS_PER_BIT: f64 = 2.6;

/// Logic LUTs per bit of pooling-engine control register, fitted.
pub const POOL_CTRL_LUTS_PER_BIT: f64 = 1.5;

/// Fixed control LUTs of a pooling engine (handshakes), fitted.
pub const POOL_FIXED_LUTS: u64 = 20;

/// LUT sites of one `RAM64M` / `RAM32M` cell.
pub const LUTS_PER_LUTRAM_CELL: u64 = 4;

/// Bits a RAMB18 holds (with parity bits).
const RAMB18_BITS: u64 = 18 * 1024;

/// `ceil(log2(n))`, at least 1.
pub fn clog2(n: u64) -> u32 {
    if n <= 2 {
        1
    } else {
        64 - (n - 1).leading_zeros()
    }
}

/// Verilog `$clog2(n)`: `ceil(log2(n))`, 0 for `n <= 1`.
fn vclog2(n: u64) -> u64 {
    if n <= 1 {
        0
    } else {
        u64::from(64 - (n - 1).leading_zeros())
    }
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

fn scale(n: u64, f: f64) -> u64 {
    (n as f64 * f).round() as u64
}

/// Distributed RAM of `depth` words of `bits` bits with one write port and `ports`
/// asynchronous read ports, as yosys maps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lutram {
    /// `RAM64M` / `RAM32M` cells.
    pub cells: u64,
    /// Logic LUTs of the read multiplexers (deeper than one cell) and the write decoder.
    pub logic_luts: u64,
}

impl Lutram {
    /// LUT sites of the cells.
    pub fn sites(&self) -> u64 {
        self.cells * LUTS_PER_LUTRAM_CELL
    }
}

/// LUTs of an `n`:1 multiplexer of one bit built from LUT6 (4:1) and MUXF7/MUXF8 (which
/// combine up to four LUTs for free); larger trees need a LUT per further level.
pub fn mux_luts(n: u64) -> u64 {
    if n <= 1 {
        0
    } else {
        ceil_div(n, 4) + (n - 1) / 16
    }
}

/// The distributed-RAM mapping of a line buffer.
pub fn lutram(depth: u64, bits: u64, ports: u64) -> Lutram {
    let depth = depth.max(2);
    let ports = ports.max(1);
    let (chunks, sdp_width, qp_width) = if depth <= 32 {
        (1, 6, 2)
    } else {
        (ceil_div(depth, 64), 3, 1)
    };
    let sdp = ports * ceil_div(bits, sdp_width) * chunks;
    let qp = ceil_div(ports, 3) * ceil_div(bits, qp_width) * chunks;
    let decode = if chunks > 1 { chunks } else { 0 };
    Lutram {
        cells: sdp.min(qp),
        logic_luts: ports * bits * mux_luts(chunks) + decode,
    }
}

/// RAMB18 units a ROM of `depth` × `width` bits needs: yosys packs words across the parity
/// bits (about 18 Kibit per RAMB18), and a RAMB18 is at most 36 bits wide (18 bits beyond
/// 512 words).
pub fn rom_bram18(depth: u64, width: u64) -> u64 {
    let max_width = if depth <= 512 { 36 } else { 18 };
    ceil_div(depth * width, RAMB18_BITS).max(ceil_div(width, max_width))
}

/// Whether yosys maps a synchronous-read ROM of `depth` × `width` bits to block RAM: it does
/// when the ROM holds more than 8192 bits per RAMB18 it needs. Checked with yosys 0.23 on
/// single ROMs: 768×5, 1500×5, 640×20 and 256×80 stay in logic; 1800×5, 2000×5, 1024×10,
/// 1280×10, 1024×20 and 512×40 go to block RAM.
pub fn rom_in_bram(depth: u64, width: u64) -> bool {
    let bits = depth * width;
    bits > LUTROM_MAX_BITS * rom_bram18(depth, width)
}

/// Logic LUTs of a ROM of `depth` × `width` bits synthesized as logic (random contents):
/// one LUT6 per 64 bits, at least one per output bit.
pub fn rom_logic_luts(depth: u64, width: u64) -> u64 {
    if depth <= 1 {
        0
    } else {
        ceil_div(depth * width, 64).max(width)
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
    t.lutram_luts += r.lutram_luts;
    t.carry4 += r.carry4;
    t.bram18 += r.bram18;
    t.dsp += r.dsp;
    t.soft_mul_luts += r.soft_mul_luts;
}

/// One named term of an estimate (for explanations and the documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// What it counts.
    pub name: &'static str,
    /// Logic LUTs.
    pub luts: u64,
    /// LUT sites used as distributed RAM.
    pub lutram_luts: u64,
    /// Flip-flops.
    pub ffs: u64,
    /// CARRY4 cells.
    pub carry4: u64,
}

fn term(name: &'static str, luts: u64, ffs: u64, carry4: u64) -> Term {
    Term {
        name,
        luts,
        lutram_luts: 0,
        ffs,
        carry4,
    }
}

fn finish(terms: &[Term], mut r: Resources) -> Resources {
    for t in terms {
        r.luts += t.luts + t.lutram_luts;
        r.lutram_luts += t.lutram_luts;
        r.ff_bits += t.ffs;
        r.carry4 += t.carry4;
    }
    r
}

/// Control register bits of the line-buffer input side shared by both engines
/// (`iy`, `ie`, `wp`, `cdone`, `ahead`, `oy`, `ox`, `rb0`, `oxc`, `out_valid`).
fn common_ctrl_bits(g: &Geometry) -> u64 {
    let lbw = lb_addr_bits(g);
    vclog2(g.h as u64 + 1)
        + vclog2((g.w * g.c) as u64 + 1)
        + lbw
        + 2
        + vclog2(g.oh as u64 + 1)
        + vclog2(g.ow as u64 + 1)
        + 2 * lbw
        + 1
}

fn lb_addr_bits(g: &Geometry) -> u64 {
    vclog2((g.lb_elements() as u64).max(2))
}

/// The terms of an MVU engine's estimate.
pub fn mvu_terms(g: &Geometry, m: &Mvu, in_width: u32, out_width: u32) -> Vec<Term> {
    let a = u64::from(in_width);
    let pe = m.pe as u64;
    let simd = m.simd as u64;
    let lanes = pe * simd;
    let acc = u64::from(m.acc_width);
    let rw = u64::from(m.requant_width);
    let ow = u64::from(out_width);
    let oc = g.oc as u64;
    let lbw = lb_addr_bits(g);
    let cw =
        vclog2((g.h + g.pad[0] + g.kh + g.nr + g.sh + g.w + g.pad[1] + g.kw + g.sw + 4) as u64) + 2;
    let depth = (m.rom_depth() as u64).max(2);
    let rom_w = u64::from(m.rom_width());
    let mut t = Vec::new();

    // control registers: common part, sf/nf/ky/kx/icf loop counters, lop/oxs window
    // coordinates, rb/kxc/co buffer offsets, waddr, pending, ch.
    // A constant-weight engine (NF = SF = 1, 1×1 window) keeps sf, nf, ky, kx, icf, kxc and
    // co at 0 (yosys removes them as constant registers) and has no waddr.
    let ctrl_bits = if m.is_constant() {
        common_ctrl_bits(g) + 2 * cw + lbw + vclog2(pe + 1)
    } else {
        common_ctrl_bits(g)
            + vclog2(m.sf as u64 + 1)
            + vclog2(m.nf as u64 + 1)
            + vclog2(g.kh as u64 + 1)
            + vclog2(g.kw as u64 + 1)
            + vclog2((g.c / m.simd.max(1)) as u64 + 1)
            + 2 * cw
            + 3 * lbw
            + vclog2(depth)
            + vclog2(pe + 1)
    } + vclog2(oc.max(2));
    t.push(term(
        "control (counters, window addressing, handshakes, requantizer shifts)",
        scale(ctrl_bits, CTRL_LUTS_PER_BIT),
        ctrl_bits + ow,
        ceil_div(ctrl_bits, 2),
    ));
    // requantizer: bias add, rounding add, shift select / saturation.
    t.push(term(
        "requantizer adders",
        acc + 2 * rw,
        0,
        ceil_div(acc, 4) + ceil_div(rw, 4),
    ));

    // line buffer: one read port per SIMD lane (`lb[rbase + s]`, address adder), padding
    // multiplexer.
    if m.is_constant() && g.ow == 1 {
        // constant-weight engine on a one-column map (dense): every lane reads fixed words
        // (one per slot, selected by the row base), so yosys keeps the buffer in flip-flops
        // with a write-enable decoder per word and an NR:1 select (with the pad mux) per bit.
        let words = (g.lb_elements() as u64).max(2);
        t.push(term(
            "line buffer (flip-flops, fixed-word reads)",
            words * ceil_div(lbw, 4) + simd * a * mux_luts(g.nr as u64).max(1),
            words * a,
            0,
        ));
    } else {
        let lb = lutram(g.lb_elements() as u64, a, simd);
        t.push(Term {
            name: "line buffer (distributed RAM, read muxes)",
            luts: lb.logic_luts + simd * (lbw + a),
            lutram_luts: lb.sites(),
            ffs: 0,
            carry4: simd * ceil_div(lbw, 4),
        });
    }

    if m.is_constant() {
        // constant weights: the products are wiring, zero weights vanish; what remains is one
        // adder tree per PE over its non-zero terms (carry-chain adders of the tree's widths,
        // one LUT per bit) and the obuf registers (no accumulator: NF·SF = 1).
        let (mut bits, mut carry) = (0u64, 0u64);
        for p in 0..m.pe {
            let (b, c) = tree_cost(&m.adder_tree(p, in_width), acc);
            bits += b;
            carry += c;
        }
        t.push(term(
            "constant-weight adder trees (non-zero terms only)",
            bits,
            0,
            carry,
        ));
        t.push(term("output buffers", pe * acc, pe * acc, 0));
    } else {
        match m.mac {
            MacKind::Shift => {
                // lanes: the product `±(x << k)` (every input bit at every shift used, then the
                // conditional negate) sign-extended into its ACC_W-bit adder of the PE's chain.
                let shifted_bits = a * (u64::from(m.k_max) + 1);
                t.push(term(
                    "lanes (shift / negate products and adder chains)",
                    scale(lanes * acc, LANE_LUTS_PER_ACC_BIT)
                        + scale(lanes * shifted_bits, LANE_LUTS_PER_SHIFTED_BIT),
                    0,
                    lanes * ceil_div(acc, 4),
                ));
            }
            MacKind::Multiply => {
                // lanes: one DSP multiplier each (counted in `dsp`), the product sign-extended
                // into its ACC_W-bit adder of the PE's chain.
                t.push(term(
                    "lanes (DSP multipliers and adder chains)",
                    scale(lanes * acc, MUL_LANE_LUTS_PER_ACC_BIT),
                    0,
                    lanes * ceil_div(acc, 4),
                ));
            }
        }
        // per PE: acc and obuf registers, obuf load/shift multiplexer.
        t.push(term(
            "accumulators and output buffers",
            pe * acc,
            2 * pe * acc,
            0,
        ));
    }

    // bias and shift tables: asynchronous ROMs read at `ch` (logic).
    t.push(term(
        "bias and shift tables (logic ROM)",
        rom_logic_luts(oc.max(2), acc + 8),
        0,
        0,
    ));

    // weight ROMs: one per PE, synchronous read (none for constant weights).
    if !m.is_constant() && !rom_in_bram(depth, rom_w) {
        t.push(term(
            "weight ROMs (logic)",
            pe * rom_logic_luts(depth, rom_w),
            pe * rom_w,
            0,
        ));
    }
    t
}

/// LUTs and CARRY4 cells of a constant-weight adder tree: one LUT per result bit on a carry
/// chain, except the low bits where one operand is known zero (a term `x << k` has `k` zero
/// low bits), which are the other operand's bits wired through; plus the final negation.
pub fn tree_cost(tree: &crate::design::AdderTree, acc_width: u64) -> (u64, u64) {
    use crate::design::TreeOperand;
    let mut zeros: Vec<u32> = Vec::with_capacity(tree.nodes.len());
    let (mut luts, mut carry) = (0u64, 0u64);
    for n in &tree.nodes {
        let z = |op: TreeOperand| match op {
            TreeOperand::Term(i) => tree.terms[i].shift,
            TreeOperand::Node(j) => zeros[j],
        };
        let (za, zb) = (z(n.a), z(n.b));
        let active = u64::from(n.width.saturating_sub(za.max(zb)));
        luts += active;
        carry += ceil_div(active, 4);
        zeros.push(za.min(zb));
    }
    if tree.root_negated {
        luts += acc_width;
        carry += ceil_div(acc_width, 4);
    }
    (luts, carry)
}

/// Resources of an MVU engine (its `inq_mvu` instance and its `inq_rom` weight ROMs, or its
/// specialised constant-weight module: `rom_bits` then counts only the bias/shift tables).
pub fn mvu_resources(g: &Geometry, m: &Mvu, in_width: u32, out_width: u32) -> Resources {
    let mut r = Resources::default();
    let lanes = (m.pe * m.simd) as u64;
    let acc = u64::from(m.acc_width);
    let table_bits = g.oc as u64 * (acc + 8);
    if m.is_constant() {
        // constant weights: only the adder trees over the non-zero terms; no weight ROM.
        for p in 0..m.pe {
            let tree = m.adder_tree(p, in_width);
            for n in &tree.nodes {
                push_adders(&mut r.adders, n.width, 1);
            }
            if tree.root_negated {
                push_adders(&mut r.adders, m.acc_width, 1);
            }
        }
        push_adders(&mut r.adders, m.acc_width, 1);
        push_adders(&mut r.adders, m.requant_width, 1);
        r.rom_bits = table_bits;
        return finish(&mvu_terms(g, m, in_width, out_width), r);
    }
    // lanes: conditional negate (one subtractor each); adder chain per PE.
    push_adders(&mut r.adders, m.product_width, lanes);
    push_adders(&mut r.adders, m.acc_width, lanes);
    // requantizer: bias add, rounding add.
    push_adders(&mut r.adders, m.acc_width, 1);
    push_adders(&mut r.adders, m.requant_width, 1);
    let depth = (m.rom_depth() as u64).max(2);
    let rom_w = u64::from(m.rom_width());
    let rom_per_pe = m.rom_depth() as u64 * rom_w;
    r.rom_bits = rom_per_pe * m.pe as u64 + table_bits;
    if rom_in_bram(depth, rom_w) {
        r.bram_bits = rom_per_pe * m.pe as u64;
        r.bram18 = m.pe as u64 * rom_bram18(depth, rom_w);
    }
    if m.mac == MacKind::Multiply {
        r.dsp = lanes;
        r.soft_mul_luts = lanes * soft_mul_luts(in_width + 1, m.code_bits);
    }
    finish(&mvu_terms(g, m, in_width, out_width), r)
}

/// The terms of a pooling engine's estimate.
pub fn pool_terms(g: &Geometry, pool: &Pool, width: u32) -> Vec<Term> {
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
    let lb = lutram(g.lb_elements() as u64, a, taps);
    t.push(Term {
        name: "line buffer (distributed RAM, read muxes)",
        luts: lb.logic_luts,
        lutram_luts: lb.sites(),
        ffs: 0,
        carry4: 0,
    });
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
pub fn pool_resources(g: &Geometry, pool: &Pool, width: u32) -> Resources {
    let mut r = Resources::default();
    let taps = (g.kh * g.kw) as u64;
    match pool.mode {
        PoolMode::Max => push_adders(&mut r.adders, width, taps.saturating_sub(1)),
        PoolMode::Avg => push_adders(&mut r.adders, pool.sum_width, taps),
    }
    finish(&pool_terms(g, pool, width), r)
}

/// The terms of an engine's estimate (what its `resources` adds up).
pub fn engine_terms(e: &Engine) -> Vec<Term> {
    match &e.kind {
        EngineKind::Mvu(m) => mvu_terms(&e.geom, m, e.in_width, e.out_width),
        EngineKind::Pool(p) => pool_terms(&e.geom, p, e.in_width),
    }
}

/// Resources of a FIFO of `depth` elements of `width` bits (`inq_fifo`): two-element FIFOs
/// keep their storage in flip-flops, deeper ones in `RAM32M` (32×6) distributed RAM.
pub fn fifo_resources(width: u32, depth: usize) -> Resources {
    let w = u64::from(width);
    let d = depth.max(2) as u64;
    let ptr = 2 * vclog2(d) + vclog2(d + 1);
    let mut r = Resources::default();
    if d <= 2 {
        r.ff_bits = w * d + ptr;
        r.luts = w + 8;
    } else {
        let cells = ceil_div(w, 6) * ceil_div(d, 32);
        r.lutram_luts = cells * LUTS_PER_LUTRAM_CELL;
        r.ff_bits = ptr;
        r.luts = r.lutram_luts + 10;
    }
    r
}

/// Resources of the output stage (`inq_out`: running argmax over `count` logits of `width`
/// bits).
pub fn output_resources(width: u32, count: usize, idx_width: u32) -> Resources {
    let w = u64::from(width);
    let i = u64::from(idx_width);
    Resources {
        ff_bits: w + 2 * i,
        luts: w + 2 * i + 4 + (count as u64 > 1) as u64,
        carry4: ceil_div(w, 4),
        ..Resources::default()
    }
}

/// Everything in the generated top: every engine (with its weight ROMs), every FIFO and the
/// output stage. This is the figure to compare with a whole-design synthesis.
pub fn design_resources(d: &Design) -> Resources {
    let mut t = d.total_resources();
    for f in &d.fifos {
        add_into(&mut t, &fifo_resources(f.width, f.depth));
    }
    add_into(
        &mut t,
        &output_resources(d.output.width, d.output.count, d.output.idx_width),
    );
    t
}
