//! Analytic resource model (`docs/hardware.md` §10): what yosys `synth_xilinx` (7-series)
//! makes of the generated RTL. This file holds the [`Resources`] count and the building blocks
//! every engine's estimate is made of (distributed RAM, ROMs, multiplexers, FIFOs, the output
//! stage, the shared control bits); each engine kind adds its own terms in its file under
//! `ops/`, following its template term by term, and counts 6-LUT sites the way the
//! synthesized netlist uses them (`luts` = logic LUTs + LUTs used as distributed RAM):
//!
//! * **Line buffers** (one write port; banks or copies with one synchronous read port each,
//!   [`LineBuffer`]) go to block RAM only when yosys's cost table prefers it and the plan's
//!   Xilinx policy allows it ([`ram_in_bram`], [`XILINX_LB_LUTRAM_MAX_BRAM18`]); otherwise, like
//!   every asynchronously read buffer, they become distributed RAM, one copy per group of read
//!   ports: 64×3-bit simple-dual-port `RAM64M` (one read port per copy) or 64×1 quad-port
//!   `RAM64M` (three read ports per copy), whichever needs fewer cells (`RAM32M`, 32×6 /
//!   32×2, up to 32 words). A `RAM64M`/`RAM32M` occupies 4 LUT sites. Deeper buffers add a
//!   `ceil(words/64)`:1 read multiplexer per read port and bit and a write-enable decoder
//!   ([`lutram`]).
//! * **ROMs**: weight ROMs (one per PE, synchronous read) go to block RAM when yosys's cost
//!   rule prefers it ([`rom_in_bram`]), else to logic: one LUT per 64 bits plus an output
//!   register ([`rom_logic_luts`]); the bias and shift tables are always logic.
//! * **Lanes**: the product `±(x << k)` and its adder in the PE's chain cost
//!   [`LANE_LUTS_PER_ACC_BIT`] LUTs per accumulator bit plus [`LANE_LUTS_PER_SHIFTED_BIT`] per
//!   input bit and shift position (`A·(k_max+1)`); adders sit on CARRY4 chains.
//! * **Control** (counters, window address arithmetic, comparators):
//!   [`CTRL_LUTS_PER_BIT`] LUTs per bit of control register, from the RTL's register list.
//!
//! The fitted constants were calibrated against yosys 0.23 on the designs whose
//! measurements are committed in `hdl/tests/data/resources_xilinx.json` (re-measure with
//! `cargo run -p inq-hdl --example measure_resources -- hdl/tests/data/resources_xilinx.json`);
//! `hdl/tests/resources_model.rs` keeps the estimate within 25 % of them.

use serde::{Deserialize, Serialize};

use crate::geometry::Geometry;

/// Kept for compatibility: ROMs up to this many bits always stay in logic (yosys never puts
/// them in block RAM). The full rule is [`rom_in_bram`].
pub const LUTROM_MAX_BITS: u64 = 8192;

/// Logic LUTs per accumulator bit of one shift-add lane (its adder in the PE's chain, which
/// takes a negative product's +1 as its carry in, and the sign-extended product feeding it),
/// fitted (2026-12-03, with the accumulator read directly by its adder: 0.9 before).
pub const LANE_LUTS_PER_ACC_BIT: f64 = 0.75;

/// Logic LUTs per input bit and shift position of one lane (`A·(k_max+1)`: the shift
/// multiplexer and the conditional inversion after it), fitted (2026-12-03: 0.6 before, when
/// a first-fold select in front of the adder kept the last shift stage out of its LUTs).
pub const LANE_LUTS_PER_SHIFTED_BIT: f64 = 0.45;

/// Logic LUTs per accumulator bit of one multiplier lane when its multiplier is a DSP block
/// (the sign-extended product into the PE's adder chain), fitted.
pub const MUL_LANE_LUTS_PER_ACC_BIT: f64 = 1.0;

/// Soft-multiplier LUTs per `x_bits · w_bits²` (`synth_xilinx -nodsp`, yosys 0.23), fitted on
/// the measured difference between the `-nodsp` and the DSP netlists of multiplier engines
/// (`docs/hardware.md` §10): the cost grows faster than the partial-product count, about 1.3
/// LUTs per partial-product bit at 4-bit weights, 2.6 at 8-bit weights (refitted 2026-12-04
/// on the int8 LeNet's four engines of one lane per PE: 150–196 LUTs per lane; 0.4 before).
pub const SOFT_MUL_LUTS_PER_X_W2: f64 = 0.32;

/// Logic LUTs one `x_bits × w_bits` signed multiplier costs as logic instead of a DSP
/// (`synth_xilinx -nodsp`; `x_bits = A + 1`, the RTL extends the activation by one bit).
pub fn soft_mul_luts(x_bits: u32, w_bits: u32) -> u64 {
    let w = u64::from(w_bits);
    scale(u64::from(x_bits) * w * w, SOFT_MUL_LUTS_PER_X_W2)
}

/// Logic LUTs per bit of MVU control register (increment / wrap / compare logic, the window
/// address arithmetic built on the counters), fitted: 3.2 until the requantizer read its
/// table words from registers and shifted only over the shifts' span (its 8-bit barrel
/// shifter was counted here; now the requantizer term holds its shifter), refitted on the
/// re-measured calibration designs (`docs/performance.md`, "Requantization from registers").
pub const CTRL_LUTS_PER_BIT: f64 = 1.6;

/// Logic LUTs per bit of pooling-engine control register, fitted.
pub const POOL_CTRL_LUTS_PER_BIT: f64 = 1.5;

/// Fixed control LUTs of a pooling engine (handshakes), fitted.
pub const POOL_FIXED_LUTS: u64 = 20;

/// Count of adders of one width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdderCount {
    /// Bits.
    pub width: u32,
    /// How many.
    pub count: u64,
}

/// Analytic resource count of one engine, in Xilinx 7-series terms as yosys `synth_xilinx`
/// maps the generated RTL (`docs/hardware.md` §10, `crate::resources`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resources {
    /// Adders/subtractors by width.
    pub adders: Vec<AdderCount>,
    /// Flip-flop bits (registers, including ROM output registers of ROMs in logic; line
    /// buffers are distributed RAM, counted in `lutram_luts`).
    pub ff_bits: u64,
    /// ROM bits (weights, bias and shift tables).
    pub rom_bits: u64,
    /// ROM bits expected in block RAM.
    pub bram_bits: u64,
    /// Estimated 6-LUT sites: logic LUTs (LUT1–LUT6) plus the LUTs used as distributed RAM
    /// (`lutram_luts`, 4 per RAM64M/RAM32M).
    pub luts: u64,
    /// The part of `luts` used as distributed RAM (line buffers, FIFO storage).
    #[serde(default)]
    pub lutram_luts: u64,
    /// CARRY4 cells (adders, counters and comparators on carry chains).
    #[serde(default)]
    pub carry4: u64,
    /// Block RAM in RAMB18 units (a RAMB36 counts 2).
    #[serde(default)]
    pub bram18: u64,
    /// DSP blocks (0 for shift-add lanes; one per multiplier lane when DSPs are allowed).
    #[serde(default)]
    pub dsp: u64,
    /// Logic LUTs the multipliers counted in `dsp` cost instead when DSPs are not allowed
    /// (`synth_xilinx -nodsp`): the no-DSP estimate is `luts + soft_mul_luts`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub soft_mul_luts: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

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
pub fn vclog2(n: u64) -> u64 {
    if n <= 1 {
        0
    } else {
        u64::from(64 - (n - 1).leading_zeros())
    }
}

/// `ceil(a / b)`.
pub fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// `round(n · f)`.
pub fn scale(n: u64, f: f64) -> u64 {
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

/// yosys 0.23's cost of one LUT-RAM cell (`lutrams_xc5v.txt`) and of one RAMB18
/// (`brams_xc4v.txt`, `cost 129`): `memory_libmap` takes the cheaper mapping.
const LUTRAM_CELL_COST: u64 = 8;
const RAMB18_COST: u64 = 129;

/// The plan's Xilinx memory policy: a line-buffer RAM (one write port, one synchronous read
/// port: an MVU bank, a pooling unit's bank or per-tap copy) that needs at most this many
/// RAMB18s goes to LUT-RAM even where yosys's cost table would pick block RAM; the Xilinx flow
/// of `inq report` then sets `ram_style = "distributed"` on it ([`LineBuffer::xilinx_ram_style`]).
///
/// Why: yosys prices a RAMB18 like 16 LUT-RAM cells (64 LUT sites), so on its own it spends a
/// whole 18 Kib block on a few Kib of line buffer (a LeNet pooling bank of 448×8 bits fills 19 %
/// of one). Block RAM is what the weight ROMs of a CNN exhaust first (the default LeNet's fc1
/// needs 56 RAMB18), while a line-buffer RAM of at most one RAMB36 (36 Kib) costs at most
/// ~1 000 LUT sites in LUT-RAM (192 `RAM64M` and its read multiplexer). Larger line buffers
/// (maps over ~100 columns) keep yosys's choice, so LUT-RAM never grows without bound. The
/// iCE40 flow has no LUT-RAM and is not affected: the RTL is the same for every family.
pub const XILINX_LB_LUTRAM_MAX_BRAM18: u64 = 2;

/// Whether yosys's own cost table (`memory_libmap`, yosys 0.23) maps a RAM of `depth` ×
/// `bits` with one synchronous read port to block RAM: when its LUT-RAM cells cost more than
/// the RAMB18s it needs (checked against the calibration designs: a 1 792×8 pool copy and a
/// 448×8 bank go to block RAM, a 112×8 bank stays in LUT-RAM).
pub fn yosys_prefers_bram(depth: u64, bits: u64) -> bool {
    lutram(depth, bits, 1).cells * LUTRAM_CELL_COST > RAMB18_COST * rom_bram18(depth, bits)
}

/// Whether a line-buffer RAM of `depth` × `bits` (one synchronous read port) is in block RAM
/// in the plan for Xilinx: where yosys would put it ([`yosys_prefers_bram`]), unless the
/// policy [`XILINX_LB_LUTRAM_MAX_BRAM18`] keeps it in LUT-RAM.
pub fn ram_in_bram(depth: u64, bits: u64) -> bool {
    yosys_prefers_bram(depth, bits) && rom_bram18(depth, bits) > XILINX_LB_LUTRAM_MAX_BRAM18
}

/// Whether the Xilinx flow must tell yosys to put a line-buffer RAM of `depth` × `bits` in
/// LUT-RAM: yosys would choose block RAM, the plan ([`ram_in_bram`]) does not.
pub fn ram_forced_to_lutram(depth: u64, bits: u64) -> bool {
    yosys_prefers_bram(depth, bits) && !ram_in_bram(depth, bits)
}

/// RAMB18s of `copies` RAMs of `depth` × `bits` with one synchronous read port each: 0 when
/// the plan keeps them in LUT-RAM ([`ram_in_bram`]).
pub fn sync_ram_bram18(depth: u64, bits: u64, copies: u64) -> u64 {
    if ram_in_bram(depth, bits) {
        copies * rom_bram18(depth, bits)
    } else {
        0
    }
}

/// An engine's line buffer as its RTL declares it: `copies` RAMs of `depth` words of `bits`
/// bits, each with one write port and one synchronous read port (an MVU's banks, a pooling
/// unit's banks or per-tap copies). The plan decides per RAM where it goes on Xilinx
/// ([`ram_in_bram`]); [`LineBuffer::xilinx_ram_style`] is what the Xilinx flow applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineBuffer {
    /// The names of its memories in the engine's module, as a yosys pattern (`lb`,
    /// `g_bank*` for the memories of the generate blocks `g_bank[i]`).
    pub memories: &'static str,
    /// Words of each RAM.
    pub depth: u64,
    /// Bits of a word.
    pub bits: u64,
    /// How many RAMs.
    pub copies: u64,
}

impl LineBuffer {
    /// Whether the plan puts its RAMs in block RAM on Xilinx ([`ram_in_bram`]).
    pub fn in_bram(&self) -> bool {
        ram_in_bram(self.depth, self.bits)
    }
    /// RAMB18s of all its RAMs (0 in LUT-RAM).
    pub fn bram18(&self) -> u64 {
        sync_ram_bram18(self.depth, self.bits, self.copies)
    }
    /// The yosys `ram_style` the Xilinx flow sets on its memories: `distributed` where the plan
    /// keeps in LUT-RAM what yosys would put in block RAM ([`ram_forced_to_lutram`]), else
    /// none (yosys's own choice is the plan's).
    pub fn xilinx_ram_style(&self) -> Option<&'static str> {
        ram_forced_to_lutram(self.depth, self.bits).then_some("distributed")
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

/// Adds `count` adders of `width` bits to `list` (merged by width).
pub fn push_adders(list: &mut Vec<AdderCount>, width: u32, count: u64) {
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

/// A term without LUT-RAM.
pub fn term(name: &'static str, luts: u64, ffs: u64, carry4: u64) -> Term {
    Term {
        name,
        luts,
        lutram_luts: 0,
        ffs,
        carry4,
    }
}

/// `r` plus every term.
pub fn finish(terms: &[Term], mut r: Resources) -> Resources {
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
pub fn common_ctrl_bits(g: &Geometry) -> u64 {
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

/// Line-buffer address bits.
pub fn lb_addr_bits(g: &Geometry) -> u64 {
    vclog2((g.lb_elements() as u64).max(2))
}

/// Whether a FIFO of `depth` elements of `width` bits is in block RAM: where yosys's cost
/// table prefers it ([`yosys_prefers_bram`]; the skip FIFOs of a residual network, a ResNet-8's
/// 1 809 × 8 bits). Its RTL then reads the storage synchronously (`inq_fifo`'s `SRD`,
/// `docs/hardware.md` §3), so that no address comparison of the next read address is left
/// for yosys to build: the forwarding of a word written to the word being read comes from the
/// count flags.
pub fn fifo_in_bram(width: u32, depth: usize) -> bool {
    depth > 2 && yosys_prefers_bram(depth as u64, u64::from(width))
}

/// Resources of a FIFO of `depth` elements of `width` bits (`inq_fifo`): two-element FIFOs
/// keep their storage in flip-flops, deeper ones in distributed RAM (`RAM32M` 32×6 up to 32
/// words, `RAM64M` 64×3 with a read multiplexer beyond), the deepest in block RAM
/// ([`fifo_in_bram`]: the pointers, the count and its flags, the forwarding register; 58
/// LUTs, 45 flip-flops and one RAMB18 at 1 809 × 8 bits, yosys 0.23).
pub fn fifo_resources(width: u32, depth: usize) -> Resources {
    let w = u64::from(width);
    let d = depth.max(2) as u64;
    let ptr = 2 * vclog2(d) + vclog2(d + 1);
    let mut r = Resources::default();
    if fifo_in_bram(width, depth) {
        r.bram18 = rom_bram18(d, w);
        r.ff_bits = ptr + 3 + w;
        r.luts = 2 * ptr + w;
    } else if d <= 2 {
        r.ff_bits = w * d + ptr;
        r.luts = w + 8;
    } else if d <= 32 {
        let cells = ceil_div(w, 6);
        r.lutram_luts = cells * LUTS_PER_LUTRAM_CELL;
        r.ff_bits = ptr;
        r.luts = r.lutram_luts + 10;
    } else {
        let ram = lutram(d, w, 1);
        r.lutram_luts = ram.sites();
        r.ff_bits = ptr;
        r.luts = r.lutram_luts + ram.logic_luts + 10 + vclog2(d);
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
