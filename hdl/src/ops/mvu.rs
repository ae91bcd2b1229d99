//! The matrix-vector unit (`inq_mvu`, `docs/hardware.md` §4): conv (also depthwise) and
//! dense nodes. Owns the engine's parameters ([`Mvu`]), its planning from a model node
//! (weight reordering, accumulator and requantizer widths, legal foldings), its cycle model,
//! its resource estimate and its template parameters.

use inq_model::numerics::{self, ActFormat, Weight};
use inq_model::ops::Output;
use serde::{Deserialize, Serialize};

use super::adder_tree::{tree_cost, ConstTerm};
use super::api::{BeatCaps, EngineOp, Io, Param};
use super::pipeline::{self, Staging};
use super::sharing::{self, ConstDatapath};
use crate::error::PlanError;
use crate::geometry::Geometry;
use crate::resources::{
    ceil_div, common_ctrl_bits, finish, lb_addr_bits, lutram, mux_luts, push_adders, ram_in_bram,
    rom_bram18, rom_logic_luts, scale, soft_mul_luts, sync_ram_bram18, term, vclog2, LineBuffer,
    Resources, Term, CTRL_LUTS_PER_BIT, LANE_LUTS_PER_ACC_BIT, LANE_LUTS_PER_SHIFTED_BIT,
    MUL_LANE_LUTS_PER_ACC_BIT,
};
use crate::schedule::{self, Times};
use crate::timing::{log2_ceil, LogicPath, TimingFamily};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

/// What an MVU emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum MvuOutput {
    /// Requantized activations.
    Act {
        /// Width.
        bits: u32,
        /// Signedness.
        signed: bool,
        /// ReLU before saturation.
        relu: bool,
    },
    /// Logits at `ACC_W + max left shift` bits.
    Logits,
}

/// The words of one bank of a weight ROM read in banks ([`Mvu::rom_banks`]): what a LUT6
/// with MUXF7 and MUXF8 selects in one slice (64 · 2 · 2).
pub const ROM_BANK_WORDS: usize = 256;

/// The words of one group of a line-buffer bank read in two stages ([`Mvu::lb_group_words`]
/// as the planner sets it): 16 LUT-RAM cells of 64 words, what a LUT6 with MUXF7 and MUXF8
/// selects in one slice.
pub const LB_GROUP_WORDS: usize = 1024;

/// The most `obuf` words (`PE/KO`) whose emitted word the planner leaves to a binary select
/// ([`Mvu::head_onehot`]): a 16:1 select is one LUT6 + MUXF7 + MUXF8 cascade.
pub const HEAD_ONEHOT_WORDS: usize = 16;

/// How an MVU lane multiplies an activation by a weight (derived from the layer's
/// [`inq_model::WeightKind`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MacKind {
    /// INQ codes: `±(x << k)` or 0, no multiplier (the default).
    #[default]
    Shift,
    /// Uniform integer codes: a signed multiplier `x · q` per lane.
    Multiply,
}

impl MacKind {
    /// True for [`MacKind::Shift`] (omitted from the JSON so shift-add designs serialize as
    /// before).
    pub fn is_shift(&self) -> bool {
        matches!(self, MacKind::Shift)
    }
    /// The MAC kind of weights of the given kind.
    pub fn of(kind: inq_model::WeightKind) -> Self {
        match kind {
            inq_model::WeightKind::Pow2 => MacKind::Shift,
            inq_model::WeightKind::Int => MacKind::Multiply,
        }
    }
    /// The weight kind this MAC consumes.
    pub fn weight_kind(&self) -> inq_model::WeightKind {
        match self {
            MacKind::Shift => inq_model::WeightKind::Pow2,
            MacKind::Multiply => inq_model::WeightKind::Int,
        }
    }
    /// `shift` or `multiply`.
    pub fn name(&self) -> &'static str {
        match self {
            MacKind::Shift => "shift",
            MacKind::Multiply => "multiply",
        }
    }
}

/// A matrix-vector unit of `PE × SIMD` lanes (shift-add or multiplier lanes, [`MacKind`]):
/// a conv (also depthwise) or dense node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mvu {
    /// The sliding window (a dense layer is a 1×1 window on a `[N,1,1]` map).
    pub geom: Geometry,
    /// Depthwise convolution: output channel `o` reads input channel `o` only; `SIMD = 1`,
    /// `NF = C/PE`, `SF = kh·kw`, and PE `p` reads channel `nf·PE + p` (`docs/hardware.md`
    /// §4.2).
    #[serde(default, skip_serializing_if = "is_false")]
    pub depthwise: bool,
    /// Shift-add or multiplier lanes.
    #[serde(default, skip_serializing_if = "MacKind::is_shift")]
    pub mac: MacKind,
    /// Value of padded window positions.
    pub pad_value: i64,
    /// Processing elements (output channels in parallel); divides `OC`.
    pub pe: usize,
    /// Lanes per PE (window elements in parallel); divides `C`.
    pub simd: usize,
    /// Neuron folds `OC / PE`.
    pub nf: usize,
    /// Synapse folds `K / SIMD` (`K` the window length: `kh·kw·C`, or `kh·kw` depthwise).
    pub sf: usize,
    /// Weight code width `b`.
    pub code_bits: u32,
    /// Largest exponent index used by a non-zero weight (0 if none, and for multiplier lanes).
    pub k_max: u32,
    /// Product width: `A + k_max + 1` for shift-add lanes, `A + b` for multiplier lanes
    /// (signed product of an `A`-bit activation and a `b`-bit two's-complement weight).
    pub product_width: u32,
    /// Accumulator width: `max(signed_width_for(worst-case bound), product_width + 1)`.
    pub acc_width: u32,
    /// Internal width of the requantizer: `max(ACC_W + 1 + max left shift, OUT_W + 1)`.
    pub requant_width: u32,
    /// Output mode.
    pub output: MvuOutput,
    /// Per output channel bias at accumulator scale.
    pub bias: Vec<i64>,
    /// Per output channel shift `r` (positive: rounding right shift; ≤ 0: left shift).
    pub shift: Vec<i32>,
    /// Weight codes, index `(p · (NF·SF) + addr) · SIMD + s` for PE `p`, ROM word `addr =
    /// nf·SF + sf`, lane `s` (see [`Mvu::code`]). Kept for constant-weight engines too (one
    /// word per PE): the simulator and the code generator read the weights from here.
    pub weights: Vec<u8>,
    /// Where the weights live: per-PE ROMs, or constants wired into the datapath when the
    /// folding makes every lane's weight constant (`NF·SF = 1`, `docs/hardware.md` §4.1).
    #[serde(default)]
    pub weight_storage: WeightStorage,
    /// Pipeline registers in a constant-weight engine's datapath (`docs/hardware.md` §4.1,
    /// "Pipelined adder trees"): the adder trees are cut into `pipeline + 1` stages of equal
    /// adder depth ([`pipeline::Staging`]), each result reaches `obuf` `pipeline` cycles after
    /// its fire. 0 (the only value for ROM-fed engines): the datapath is one cycle.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pipeline: u32,
    /// Registered schedule flags (`docs/hardware.md` §12, "Registered schedule flags"; ROM-fed
    /// engines only): the row test and the tests `pending == 0` and `pending == 1` are
    /// flip-flops whose next values are computed beside `fire`, so `fire` starts from
    /// flip-flops. Same values and cycles; a shorter schedule chain for a few more LUTs.
    /// Chosen by [`crate::clock_target::stage_to_clock`] when the schedule misses the clock.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sched_regs: bool,
    /// The row tests from difference registers (`docs/hardware.md` §12, "The row tests from
    /// differences"; any MVU, template parameter `HREG`): `rl − iy`, `iy − need` and
    /// `iy = H` are registers, each loaded with its value after the edge from one sum of
    /// itself and two steps the edge's events select (a fire that ends an output row or the
    /// image, a completed input row, the image wrap), so `in_ready` and the row test are a
    /// LUT from flip-flops and no comparison of `iy` with a limit is in front of the line
    /// buffer's write enables or the counters; the tests `pending = 0` and `pending = 1`
    /// are flip-flops as with `sched_regs`. The same values and cycles, a few more LUTs.
    /// Set by [`crate::clock_target::stage_to_clock`] on 7-series for every MVU.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hs_regs: bool,
    /// Datapath registers (`docs/hardware.md` §4, "Datapath registers"; ROM-fed engines only,
    /// template parameter `DREG`): the lanes' sum of each PE is registered before the
    /// accumulator (a fold's sum reaches the accumulator, and a pixel's last one `obuf`, a
    /// cycle after its fire), and the word the emission reads next is kept in a register
    /// instead of selected from `obuf` in the emitting cycle. One more cycle of latency, the
    /// same interval; chosen by [`crate::clock_target::stage_to_clock`] when the datapath or
    /// the emission misses the clock.
    #[serde(default, skip_serializing_if = "is_false")]
    pub data_regs: bool,
    /// Where the datapath register sits in the lanes' tree (`docs/hardware.md` §4, "The
    /// register inside the lanes' tree"; with `data_regs`, shift-add lanes and `SIMD ≥ 3`
    /// only, template parameter `DSPL`): 0, after the whole tree; `l > 0`, after its first
    /// `l` adder levels, so that the register holds `⌈SIMD / 2^l⌉` partial sums per PE and
    /// the remaining levels run in front of the accumulator's adder. The same sums and
    /// cycles; flip-flops for a shorter lanes' chain. Set by
    /// [`crate::clock_target::stage_to_clock`] when no choice of registers fits the period
    /// with the register after the whole tree.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub data_split: u32,
    /// Read registers (`docs/hardware.md` §4, "The datapath register at the read"; ROM-fed
    /// engines only, template parameter `RREG`): a stage in front of the lanes. The line
    /// buffer's banks and the weight ROMs are read at a fire's own edge from the current
    /// addresses (registers), enabled when the stages advance, and the fired fold's words and
    /// padding test wait there while the lanes work in the next cycle. One more cycle of
    /// latency (two stages with `data_regs`), the same interval; `fire` is not in front of
    /// the read, and no element written at the same edge needs forwarding. The word emitted
    /// next is kept in a register as with `data_regs`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_regs: bool,
    /// Weight registers (`docs/hardware.md` §4, "The datapath register at the read"; with
    /// `read_regs` only, template parameter `WREG`): the weight ROMs are read one fold ahead
    /// as without read registers (at reset and at each fire, the word of the fold that fire
    /// leads to), and the read stage takes the ROMs' output into a register of its own when
    /// the stages advance. The same cycles; `PE·SIMD·CB` flip-flops that take the ROM's
    /// output select (block RAM cascaded in depth) and its clock-to-output off the lanes'
    /// path. Set by [`crate::clock_target::stage_to_clock`] with the read registers when the
    /// ROMs are block RAM ([`Mvu::rom_in_bram`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub weight_regs: bool,
    /// The padding test selected (`docs/hardware.md` §12, "The ROM-fed padding test
    /// selected, not computed"; ROM-fed engines only, template parameter `PREG`): the window
    /// position's row and column tests are two flip-flops whose values after a fire are
    /// selected from comparisons of the current registers, not compared on the advanced
    /// position. The same values and cycles; no more 7-series LUTs (and no add and compare
    /// in series in front of the test), but about 60 more iCE40 logic cells per engine (its
    /// comparisons are carry chains there). Set by [`crate::clock_target::stage_to_clock`]
    /// with the read registers, which are only offered on 7-series.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pad_regs: bool,
    /// The window slots one fire ahead (`docs/hardware.md` §12, "Window slots one fire
    /// ahead"; ROM-fed engines only, template parameter `SLREG`): the line-buffer slots of
    /// the window's first row and of row `ky` after the next fire are registers of their
    /// own, advanced at each fire by the flags of the position it leads to, so that the wrap
    /// tests that choose the window address's delta compare flip-flops instead of the slots'
    /// sums. The same values and cycles, `2·⌈log2 NR⌉` flip-flops. Set by
    /// [`crate::clock_target::stage_to_clock`] with the read registers (the slot sums of
    /// strided windows were the deepest chain left on the ResNet-8's stride-2 convolutions,
    /// `docs/performance.md`, "The ResNet-8 at the 6-level target").
    #[serde(default, skip_serializing_if = "is_false")]
    pub slot_regs: bool,
    /// The emitted word selected one-hot (`docs/hardware.md` §4, "The emitted word selected
    /// one-hot"; ROM-fed engines with `data_regs` or `read_regs`, template parameter
    /// `HSEL`): the index of the word emitted next is also kept as a one-hot register,
    /// rotated at each emission, and the word loaded into the register of the word emitted
    /// next is an AND-OR of the `obuf` words with it instead of a binary select, whose
    /// wide-multiplexer cascades walked 7 levels at 32 words (the ResNet-8's stages 2 and 3).
    /// The same values and cycles; `PE/KO` flip-flops and about 0.12 more LUTs per word and
    /// bit (77 at 32 words × 20 bits). Set by [`crate::clock_target::stage_to_clock`] on
    /// 7-series with those registers when `obuf` has more than [`HEAD_ONEHOT_WORDS`] words.
    #[serde(default, skip_serializing_if = "is_false")]
    pub head_onehot: bool,
    /// The multipliers in two registered halves (`docs/hardware.md` §4, "The multiplier in
    /// two halves"; ROM-fed multiplier engines (`MacKind::Multiply`) only, template parameter
    /// `MREG`): each lane multiplies the activation by the weight's low `⌊CB/2⌋` bits and by
    /// its high bits, registers both products when the stages advance, and adds them in the
    /// next stage; the lanes' sum is then a balanced tree (which the datapath register may
    /// split, [`Mvu::data_split`]) instead of the chain of plain adds that DSP blocks absorb.
    /// One more cycle of latency, the same interval and values. Set by
    /// [`crate::clock_target::stage_to_clock`] when a design is planned without DSP blocks,
    /// whose multipliers are logic: one `(A+1) × CB` multiplier is 7–8 LUT levels alone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mul_regs: bool,
    /// The line-buffer read in two stages (`docs/hardware.md` §4, "The line-buffer read in
    /// two stages"; with `read_regs` only, template parameters `LBSP` and `LBG`): 0, one
    /// stage; else every bank is groups of this many words (a power of two), each a RAM of
    /// its own whose word at the read address's low bits is registered at the read stage
    /// beside the address's high bits, and the next stage registers the selected group's
    /// word. The weight words and the padding test pass a register of their own in that
    /// stage. One more cycle of latency, the same interval and values. Set by
    /// [`crate::clock_target::stage_to_clock`] to [`LB_GROUP_WORDS`] on 7-series when a
    /// bank in LUT-RAM has more words than that: the select among more than 16 LUT-RAM
    /// cells walked 5 to 7 levels for the same RTL in three netlists.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub lb_group_words: usize,
    /// Elements per input beat `KI` (`docs/hardware.md` §2.1, §4.3; hard-wired engines only,
    /// `KI | C`): a beat writes `KI` channels of one pixel into the line buffer.
    #[serde(default = "super::one", skip_serializing_if = "super::is_one")]
    pub in_beat: usize,
    /// Elements per output beat `KO` (hard-wired engines only, `KO | PE`): the emission sends
    /// `KO` results of `obuf` per beat, `PE/KO` beats per output pixel.
    #[serde(default = "super::one", skip_serializing_if = "super::is_one")]
    pub out_beat: usize,
}

/// Where an MVU's weights live (`docs/hardware.md` §4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightStorage {
    /// One synchronous-read ROM per PE (`inq_rom`), `NF·SF` words of `SIMD·b` bits.
    #[default]
    Rom,
    /// Fully unrolled (`NF·SF = 1`): every lane's weight is a compile-time constant, so each
    /// product is wiring (a constant shift, a subtraction for a negative weight; an integer
    /// weight one such term per canonical signed digit), zero weights have no hardware, and
    /// there is no ROM.
    Constant,
}

impl Mvu {
    /// ROM depth per PE (`NF·SF`).
    pub fn rom_depth(&self) -> usize {
        self.nf * self.sf
    }
    /// ROM word width per PE (`SIMD·b`).
    pub fn rom_width(&self) -> u32 {
        self.simd as u32 * self.code_bits
    }
    /// Whether the weight ROMs are block RAM after `synth_xilinx`
    /// ([`crate::resources::rom_in_bram`]; never for constant weights).
    pub fn rom_in_bram(&self) -> bool {
        !self.is_constant()
            && crate::resources::rom_in_bram(
                (self.rom_depth() as u64).max(2),
                u64::from(self.rom_width()),
            )
    }
    /// The words of `obuf` the emission reads in turn (`PE/KO`, the template's `PB`; `PE` at
    /// one element per output beat).
    pub fn obuf_words(&self) -> usize {
        self.pe / self.out_beat.max(1)
    }
    /// The banks of 256 words its weight ROMs are read in (`docs/hardware.md` §4, "Weight
    /// ROMs in banks"; template parameter `BANKS` of `inq_rom`): with the weight registers,
    /// a ROM in logic deeper than [`ROM_BANK_WORDS`] words reads every bank into a register
    /// of its own beside the address's upper bits, and the weight register takes the
    /// selected bank, so no read passes more than one 256:1 select (LUT6 + MUXF7 + MUXF8);
    /// else 1, one output register.
    pub fn rom_banks(&self) -> usize {
        if self.weight_regs
            && self.read_regs
            && !self.is_constant()
            && !self.rom_in_bram()
            && self.rom_depth() > ROM_BANK_WORDS
        {
            self.rom_depth().div_ceil(ROM_BANK_WORDS)
        } else {
            1
        }
    }
    /// The code of lane `s` of PE `p` at ROM word `addr`.
    pub fn code(&self, p: usize, addr: usize, s: usize) -> u8 {
        self.weights[(p * self.rom_depth() + addr) * self.simd + s]
    }
    /// Shift-add lanes `PE·SIMD`.
    pub fn lanes(&self) -> usize {
        self.pe * self.simd
    }
    /// Window elements each output channel sums over: `kh·kw·C`, or `kh·kw` depthwise.
    pub fn window_len(&self) -> usize {
        let g = &self.geom;
        if self.depthwise {
            g.kh * g.kw
        } else {
            g.kh * g.kw * g.c
        }
    }
    /// Line-buffer read ports: `SIMD`, or `PE` for a depthwise engine (each PE reads its own
    /// channel).
    pub fn read_ports(&self) -> usize {
        if self.depthwise {
            self.pe
        } else {
            self.simd
        }
    }
    /// Whether the weights are constants wired into the datapath (no ROM).
    pub fn is_constant(&self) -> bool {
        self.weight_storage == WeightStorage::Constant
    }
    /// The requantization shift of output channel `c` as the hardware applies it,
    /// `min(r_c, ACC_W)`: for `r ≥ ACC_W` every accumulator value rounds to 0 either way
    /// (`docs/hardware.md` §6), so the result equals `numerics::requantize`.
    pub fn table_shift(&self, c: usize) -> i32 {
        let r = self.shift.get(c).copied().unwrap_or(0);
        r.min(self.acc_width as i32)
    }
    /// The smallest and largest [`Mvu::table_shift`] over the output channels (`(0, 0)` for
    /// none).
    pub fn table_shift_range(&self) -> (i32, i32) {
        let all = (0..self.geom.oc).map(|c| self.table_shift(c));
        let lo = all.clone().min().unwrap_or(0);
        (lo, all.max().unwrap_or(0))
    }
    /// Bits of a shift-table word, `r_c − r_min` (at least 1): the barrel shifter's stages.
    pub fn shift_table_width(&self) -> u32 {
        let (lo, hi) = self.table_shift_range();
        crate::resources::clog2(u64::from(hi.abs_diff(lo)) + 1).max(1)
    }
    /// Stages of the requantizer's barrel shifter: [`Mvu::shift_table_width`] when the
    /// channels' shifts differ, else 0 (a shift by the constant `r_min` is wiring).
    pub fn shifter_stages(&self) -> u32 {
        let (lo, hi) = self.table_shift_range();
        if hi > lo {
            self.shift_table_width()
        } else {
            0
        }
    }
    /// The bias-table word of output channel `c` (`RW` bits): the bias plus the rounding
    /// constant of its shift, `2^(r−1)` for `r ≥ 1` (0 for a left shift), so the emission
    /// adds one table word (`docs/hardware.md` §4, §6).
    pub fn bias_table_word(&self, c: usize) -> i64 {
        let r = self.table_shift(c);
        let round = if r >= 1 { 1i64 << (r - 1) } else { 0 };
        self.bias.get(c).copied().unwrap_or(0) + round
    }
    /// The datapath of a constant-weight engine for `in_width`-bit inputs: each PE's non-zero
    /// terms (ROM word 0), the sub-sums that recur across PEs computed once and shared
    /// ([`sharing::share`]), one adder tree per PE.
    pub fn datapath(&self, in_width: u32) -> ConstDatapath {
        let c = self.geom.c;
        let per_pe = (0..self.pe)
            .map(|p| {
                let mut terms = self.terms(p, 0);
                if self.depthwise {
                    // tap j of channel p is window element j·C + p
                    for t in &mut terms {
                        t.lane = t.lane * c + p;
                    }
                }
                terms
            })
            .collect();
        sharing::share(
            per_pe,
            self.window_elements(),
            in_width,
            self.acc_width,
            true,
        )
    }
    /// Sets the pipeline registers of a constant-weight engine for `in_width`-bit inputs to
    /// stages of at most `levels_per_stage` adder levels (0: none; [`pipeline::registers_for`]);
    /// a ROM-fed engine keeps none.
    pub fn stage_trees(&mut self, in_width: u32, levels_per_stage: u32) {
        self.pipeline = if self.is_constant() {
            pipeline::registers_for(self.tree_depth(in_width), levels_per_stage)
        } else {
            0
        };
    }
    /// The sums of each PE that its datapath register holds: 1 after the whole lanes' tree,
    /// `⌈SIMD / 2^data_split⌉` with the register inside it ([`Mvu::data_split`]).
    pub fn data_register_sums(&self) -> usize {
        if self.data_split == 0 {
            1
        } else {
            self.simd.div_ceil(1usize << self.data_split.min(31))
        }
    }
    /// The width of the row-test difference registers ([`Mvu::hs_regs`], template parameter
    /// `HBW`, two's complement): room for `±max(H, the largest rl, the largest need)`.
    pub fn row_diff_width(&self) -> u32 {
        let g = &self.geom;
        let top = (g.oh.saturating_sub(1)) * g.sh;
        let rl_max = top.max(g.pad[0]) - g.pad[0] + g.nr;
        let need_max = (top + g.kh).saturating_sub(g.pad[0]);
        let bound = g.h.max(rl_max).max(need_max) as u64;
        crate::resources::clog2(bound + 1) + 1
    }
    /// Whether the datapath register may sit inside the lanes' tree ([`Mvu::data_split`]):
    /// a ROM-fed engine with the register and a balanced tree (`SIMD ≥ 3`; shift-add lanes,
    /// or multipliers in halves, [`Mvu::mul_regs`]).
    pub fn data_split_allowed(&self) -> bool {
        !self.is_constant()
            && self.data_regs
            && (self.mac != MacKind::Multiply || self.mul_regs)
            && self.simd >= 3
    }
    /// Whether the emitted word is selected one-hot ([`Mvu::head_onehot`] on a ROM-fed engine
    /// with the datapath or read registers, which keep the word emitted next in a register).
    pub fn has_head_onehot(&self) -> bool {
        self.head_onehot && (self.data_regs || self.read_regs) && !self.is_constant()
    }
    /// Whether the multipliers are in registered halves ([`Mvu::mul_regs`] on a ROM-fed
    /// multiplier engine).
    pub fn has_mul_regs(&self) -> bool {
        self.mul_regs && !self.is_constant() && self.mac == MacKind::Multiply
    }
    /// Whether the line buffer is read in two stages ([`Mvu::lb_group_words`] on a ROM-fed
    /// engine with the read registers).
    pub fn has_read_split(&self) -> bool {
        self.lb_group_words > 0 && self.read_regs && !self.is_constant()
    }
    /// Words of one bank of a ROM-fed engine's line buffer (one bank per window lane).
    pub fn lb_bank_words(&self) -> usize {
        lb_banks(self).1 as usize
    }
    /// Whether its line-buffer banks (of `in_width`-bit words) select among more cells than
    /// one slice does: in LUT-RAM on Xilinx ([`crate::resources::ram_in_bram`], the plan's
    /// policy) and deeper than [`LB_GROUP_WORDS`]. What the read's estimate in one stage
    /// ([`lb_read_paths`]) and the planner's choice of the read in two stages go by.
    pub fn lb_beyond_one_slice(&self, in_width: u32) -> bool {
        let words = self.lb_bank_words();
        !self.is_constant()
            && words > LB_GROUP_WORDS
            && !ram_in_bram(words as u64, u64::from(in_width))
    }
    /// The groups each bank is read in: `⌈bank words / group words⌉` with the two-stage
    /// read ([`Mvu::has_read_split`]), else 1.
    pub fn lb_groups(&self) -> usize {
        if self.has_read_split() {
            self.lb_bank_words().div_ceil(self.lb_group_words)
        } else {
            1
        }
    }
    /// The adder levels of a ROM-fed engine's lanes' tree, `⌈log2 SIMD⌉`.
    pub fn lanes_tree_levels(&self) -> u32 {
        log2_ceil(self.simd)
    }
    /// Register stages between a fire and `obuf`: a hard-wired engine's adder-tree pipeline
    /// registers, a ROM-fed engine's read registers (`read_regs`), the read's second stage
    /// (`lb_group_words`), multipliers' halves (`mul_regs`) and datapath register
    /// (`data_regs`). A pixel's results reach `obuf` this
    /// many cycles after its last fire at the earliest (§4, §4.1).
    pub fn result_stages(&self) -> u32 {
        if self.is_constant() {
            self.pipeline
        } else {
            u32::from(self.data_regs)
                + u32::from(self.read_regs)
                + u32::from(self.has_read_split())
                + u32::from(self.has_mul_regs())
        }
    }
    /// The adder levels of a constant-weight engine's deepest tree for `in_width`-bit inputs
    /// (shared sub-sums included).
    pub fn tree_depth(&self, in_width: u32) -> u32 {
        pipeline::Levels::of(&self.datapath(in_width)).depth()
    }
    /// The elements of one window position, `kh·kw·C` (what a hard-wired engine reads at
    /// once).
    pub fn window_elements(&self) -> usize {
        self.geom.kh * self.geom.kw * self.geom.c
    }
    /// One line on a constant-weight engine's datapath: its non-zero weights, and the adders
    /// and adder bits with sub-sums shared against one tree per PE without sharing.
    pub fn sharing_line(&self, name: &str, in_width: u32) -> String {
        let dp = self.datapath(in_width);
        let (now, before) = (dp.cost(), dp.unshared);
        let less = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                100.0 * (b as f64 - a as f64) / b as f64
            }
        };
        let nonzero: usize = (0..self.pe).map(|p| self.nonzero_weights(p, 0)).sum();
        let st = Staging::new(&dp, self.pipeline);
        let stages = if self.pipeline == 0 {
            format!("{} adder levels in one cycle", st.levels.depth())
        } else {
            format!(
                "{} adder levels in {} stages of at most {} ({} pipeline register{}, {} flip-flops)",
                st.levels.depth(),
                self.pipeline + 1,
                st.levels_per_stage,
                self.pipeline,
                if self.pipeline == 1 { "" } else { "s" },
                pipeline::register_bits(&dp, &st, in_width)
            )
        };
        if !dp.searched {
            return format!(
                "hard-wired {name}: {nonzero} non-zero weights; {} adders, {} adder bits (one tree per output: too large for the sharing search); {stages}",
                before.adders, before.bits
            );
        }
        format!(
            "hard-wired {name}: {nonzero} non-zero weights; {} shared sub-sums; {} adders, {} adder bits (one tree per output: {}, {}; −{:.1} %, −{:.1} %); {stages}",
            dp.shared.len(),
            now.adders,
            now.bits,
            before.adders,
            before.bits,
            less(now.adders, before.adders),
            less(now.bits, before.bits)
        )
    }
    /// The non-zero products of PE `p` at ROM word `addr` (for a constant-weight engine,
    /// `addr = 0`), in lane order: zero weights give no term.
    ///
    /// A power-of-two weight is one term; a uniform integer weight `q` (a multiplier design,
    /// hard-wired) is one term per non-zero digit of its canonical signed-digit form (the
    /// non-adjacent form: no two adjacent digits non-zero), so `x·q` is a sum of shifts too.
    pub fn terms(&self, p: usize, addr: usize) -> Vec<ConstTerm> {
        let mut out = Vec::new();
        for s in 0..self.simd {
            match self.weight(p, addr, s) {
                Some(Weight::Pow2 { negative, index }) => out.push(ConstTerm {
                    lane: s,
                    shift: index,
                    negative,
                }),
                Some(Weight::Int(q)) => {
                    for (shift, negative) in csd_digits(q) {
                        out.push(ConstTerm {
                            lane: s,
                            shift,
                            negative,
                        });
                    }
                }
                _ => {}
            }
        }
        out
    }
    /// The weight of lane `s` of PE `p` at ROM word `addr` (`None` for an invalid code).
    pub fn weight(&self, p: usize, addr: usize, s: usize) -> Option<Weight> {
        let kind = match self.mac {
            MacKind::Shift => inq_model::WeightKind::Pow2,
            MacKind::Multiply => inq_model::WeightKind::Int,
        };
        numerics::decode_kind(kind, self.code(p, addr, s), self.code_bits).ok()
    }
    /// The non-zero weights of PE `p` at ROM word `addr`.
    pub fn nonzero_weights(&self, p: usize, addr: usize) -> usize {
        (0..self.simd)
            .filter(|&s| !matches!(self.weight(p, addr, s), None | Some(Weight::Zero)))
            .count()
    }
}

/// The canonical signed-digit (non-adjacent) form of `q`: `(shift, negative)` per non-zero
/// digit, `q = Σ ±2^shift`.
pub fn csd_digits(q: i64) -> Vec<(u32, bool)> {
    let mut out = Vec::new();
    let mut n = q.unsigned_abs();
    let mut k = 0u32;
    while n != 0 {
        if n & 1 == 1 {
            // n mod 4 = 1: digit +1; n mod 4 = 3: digit −1 (and a carry)
            if n & 3 == 1 {
                out.push((k, q < 0));
                n -= 1;
            } else {
                out.push((k, q >= 0));
                n += 1;
            }
        }
        n >>= 1;
        k += 1;
    }
    out
}

/// Cycles per image of an MVU with this folding in isolation (input offered at one element per
/// cycle, output never blocked): [`crate::engine_cycles`] with `OW·NF·max(SF, PE)` compute cycles
/// per output row (a fold takes `max(SF, PE)` cycles: its `PE` results leave one per cycle).
/// A depthwise engine has `NF = C/PE`, `SF = kh·kw` (`simd` must be 1).
pub fn mvu_cycles(g: &Geometry, pe: usize, simd: usize, depthwise: bool) -> u64 {
    mvu_cycles_beats(g, pe, simd, depthwise, 1, 1)
}

/// [`mvu_cycles`] with input beats of `in_beat` elements and output beats of `out_beat`
/// (`docs/hardware.md` §2.1, §4.3): a fold's results leave in `PE/out_beat` cycles and an
/// input row takes `W·C/in_beat` cycles.
pub fn mvu_cycles_beats(
    g: &Geometry,
    pe: usize,
    simd: usize,
    depthwise: bool,
    in_beat: usize,
    out_beat: usize,
) -> u64 {
    let nf = (g.oc / pe.max(1)) as u64;
    let k = if depthwise {
        g.kh * g.kw
    } else {
        g.kh * g.kw * g.c
    };
    let sf = (k / simd.max(1)) as u64;
    let row = g.ow as u64 * nf * sf.max((pe / out_beat.max(1)) as u64);
    crate::geometry::engine_cycles_beats(g, row, in_beat)
}

/// The legal `(PE, SIMD)` pairs of an MVU: `PE | OC` and `SIMD | C` (the lanes of a fold
/// share one window position), or for a depthwise engine `PE | C` and `SIMD = 1`.
pub fn legal_foldings(g: &Geometry, depthwise: bool) -> Vec<(usize, usize)> {
    let divisors = |n: usize| (1..=n).filter(move |&d| n.is_multiple_of(d));
    let simds: Vec<usize> = if depthwise {
        vec![1]
    } else {
        divisors(g.c).collect()
    };
    divisors(g.oc)
        .flat_map(|pe| simds.iter().map(move |&s| (pe, s)))
        .collect()
}

/// Why `(pe, simd)` is not a legal folding of this MVU (`label` names the node).
pub fn check_fold(
    g: &Geometry,
    depthwise: bool,
    dense: bool,
    label: &str,
    pe: usize,
    simd: usize,
) -> Result<(), PlanError> {
    let err = |message: String| PlanError::IllegalFolding {
        layer: label.to_string(),
        message,
    };
    if pe == 0 || simd == 0 {
        return Err(err("PE and SIMD must be at least 1".into()));
    }
    if !g.oc.is_multiple_of(pe) {
        return Err(err(format!(
            "PE {pe} does not divide the {} output {}",
            g.oc,
            if dense { "features" } else { "channels" }
        )));
    }
    // the hard-wired engine (docs/hardware.md §4.1) is legal whatever its SIMD; its SIMD with
    // another PE is not (the weights are wired constants, one set per PE)
    let hard_wired = unrolled_fold(g, depthwise);
    if (pe, simd) == hard_wired {
        return Ok(());
    }
    let regular = if depthwise {
        simd == 1
    } else {
        g.c.is_multiple_of(simd)
    };
    if simd == hard_wired.1 && !regular {
        return Err(err(format!(
            "SIMD {simd} covers the whole {}×{} window, which only the hard-wired engine does: it needs PE = OC = {}, not {pe}",
            g.kh, g.kw, hard_wired.0
        )));
    }
    if depthwise {
        if simd != 1 {
            return Err(err(format!(
                "a depthwise convolution is folded over channels only: SIMD must be 1, not {simd} (PE {pe} channels in parallel), or SIMD = kh·kw = {} with PE = C = {} (hard-wired)",
                g.kh * g.kw,
                g.oc
            )));
        }
        return Ok(());
    }
    if !g.c.is_multiple_of(simd) {
        return Err(err(if dense {
            format!("SIMD {simd} does not divide the {} input features", g.c)
        } else {
            format!(
                "SIMD {simd} does not divide the {} input channels (this version requires SIMD | C so that the lanes of a fold share one window position; fan-in K = {})",
                g.c,
                g.c * g.kh * g.kw
            )
        }));
    }
    Ok(())
}

/// The fully unrolled folding of an MVU: `(PE, SIMD) = (OC, K)` with `K = kh·kw·C` (`(OC, C)`
/// for a dense layer or a 1×1 convolution), or `(C, kh·kw)` for a depthwise convolution: the
/// hard-wired engine (`NF·SF = 1`, `docs/hardware.md` §4.1).
pub fn unrolled_fold(g: &Geometry, depthwise: bool) -> (usize, usize) {
    if depthwise {
        (g.oc, g.kh * g.kw)
    } else {
        (g.oc, g.kh * g.kw * g.c)
    }
}

/// What [`plan_mvu`] needs of a conv or dense node.
#[derive(Debug, Clone, Copy)]
pub struct MvuNode<'a> {
    /// The weights.
    pub weights: &'a inq_model::WeightTensor,
    /// The bias per output channel.
    pub bias: &'a [i64],
    /// ReLU before saturation.
    pub relu: bool,
    /// What the node emits.
    pub output: Output,
    /// Padding value (0 for dense).
    pub pad_value: i64,
    /// Depthwise conv.
    pub depthwise: bool,
    /// A conv (weights `[out, in/group, kh, kw]`) or a dense node (`[out, in]`).
    pub conv: bool,
    /// For a dense node reading a flattened `[C, H, W]` map: that map (its stream is in HWC
    /// order, so the weights are permuted from the model's CHW flatten order).
    pub flat_from: Option<[usize; 3]>,
}

/// Plans an MVU: reorders the weights into ROM order, derives the widths and the
/// requantization shifts. `label` names the node in errors; the output width is the node's
/// output format (or the logit width).
pub fn plan_mvu(
    n: &MvuNode,
    g: Geometry,
    in_fmt: ActFormat,
    pe: usize,
    simd: usize,
    label: &str,
) -> Result<(Mvu, Io), PlanError> {
    let wt = n.weights;
    let k = if n.depthwise {
        g.kh * g.kw
    } else {
        g.kh * g.kw * g.c
    };
    let nf = g.oc / pe;
    let sf = k / simd;
    let b = wt.bits;
    // model index of window index j for output o: (ky, kx, c) order, or (ky, kx) depthwise
    let model_index = |o: usize, j: usize| -> usize {
        if n.depthwise {
            o * k + j
        } else if n.conv {
            let c = j % g.c;
            let kk = j / g.c;
            let (ky, kx) = (kk / g.kw, kk % g.kw);
            ((o * g.c + c) * g.kh + ky) * g.kw + kx
        } else {
            let f = match n.flat_from {
                Some([pc, ph, pw]) => {
                    // stream position j = (y·W + x)·C + c  →  feature (c·H + y)·W + x
                    let c = j % pc;
                    let yx = j / pc;
                    let (y, x) = (yx / pw, yx % pw);
                    (c * ph + y) * pw + x
                }
                None => j,
            };
            o * g.c + f
        }
    };
    let mut weights = vec![0u8; g.oc * k];
    let mut k_max = 0u32;
    for p in 0..pe {
        for nfi in 0..nf {
            let o = nfi * pe + p;
            for sfi in 0..sf {
                for s in 0..simd {
                    let j = sfi * simd + s;
                    let code = *wt.codes.get(model_index(o, j)).ok_or_else(|| {
                        PlanError::Internal(format!("weight index out of range in {label}"))
                    })?;
                    if let Ok(Weight::Pow2 { index, .. }) = wt.decode(code) {
                        k_max = k_max.max(index);
                    }
                    weights[(p * nf * sf + nfi * sf + sfi) * simd + s] = code;
                }
            }
        }
    }
    let x_max = in_fmt.max_abs().max(n.pad_value.abs());
    let mut acc_width = 1u32;
    for (row, &bo) in wt.codes.chunks(k.max(1)).zip(n.bias.iter()) {
        let bound = wt.acc_bound(row, bo, x_max);
        acc_width = acc_width.max(numerics::signed_width_for(bound));
    }
    // The RTL sign-extends products into the accumulator: keep it strictly wider than a product
    // (only matters when the weights are tiny or all zero).
    let mac = MacKind::of(wt.kind);
    let product_width = match mac {
        MacKind::Shift => in_fmt.bits + k_max + 1,
        MacKind::Multiply => in_fmt.bits + b,
    };
    acc_width = acc_width.max(product_width + 1);
    let (mvu_out, shift, out_width, out_signed, left_max) = match n.output {
        Output::Act { .. } => {
            let of = n
                .output
                .act()
                .ok_or_else(|| PlanError::Internal("act".into()))?;
            let shift: Vec<i32> = (0..g.oc).map(|c| wt.requant_shift(in_fmt, c, of)).collect();
            let left = shift.iter().map(|&r| (-r).max(0)).max().unwrap_or(0) as u32;
            (
                MvuOutput::Act {
                    bits: of.bits,
                    signed: of.signed,
                    relu: n.relu,
                },
                shift,
                of.bits,
                of.signed,
                left,
            )
        }
        Output::Logits => {
            let n2min = wt.n2_min(g.oc);
            let shift: Vec<i32> = (0..g.oc).map(|c| -(wt.n2_of(c) - n2min)).collect();
            let left = shift.iter().map(|&r| -r).max().unwrap_or(0) as u32;
            (MvuOutput::Logits, shift, acc_width + left, true, left)
        }
    };
    let mut mvu = Mvu {
        geom: g,
        depthwise: n.depthwise,
        mac,
        pad_value: n.pad_value,
        pe,
        simd,
        nf,
        sf,
        code_bits: b,
        k_max,
        product_width,
        acc_width,
        // room for the rounding add and left shifts, and at least one bit above the output
        requant_width: (acc_width + 1 + left_max).max(out_width + 1),
        output: mvu_out,
        bias: n.bias.to_vec(),
        shift,
        weights,
        // constant weights are wired shifts (a multiplier design's integer weights as their
        // canonical signed digits)
        weight_storage: if nf * sf == 1 {
            WeightStorage::Constant
        } else {
            WeightStorage::Rom
        },
        pipeline: 0,
        sched_regs: false,
        hs_regs: false,
        data_regs: false,
        data_split: 0,
        read_regs: false,
        weight_regs: false,
        pad_regs: false,
        slot_regs: false,
        head_onehot: false,
        mul_regs: false,
        lb_group_words: 0,
        in_beat: 1,
        out_beat: 1,
    };
    mvu.stage_trees(in_fmt.bits, pipeline::ADDER_LEVELS_PER_STAGE);
    let io = Io {
        in_width: in_fmt.bits,
        in_signed: in_fmt.signed,
        out_width,
        out_signed,
    };
    Ok((mvu, io))
}

/// The terms of an MVU engine's estimate.
/// `dp` is the engine's datapath when its weights are constant ([`Mvu::datapath`], computed
/// once by the caller: the sharing search is the costly part of an estimate).
fn mvu_terms(m: &Mvu, in_width: u32, out_width: u32, dp: Option<&ConstDatapath>) -> Vec<Term> {
    let g = &m.geom;
    let a = u64::from(in_width);
    let pe = m.pe as u64;
    let simd = m.simd as u64;
    let lanes = pe * simd;
    let acc = u64::from(m.acc_width);
    let rw = u64::from(m.requant_width);
    let ow = u64::from(out_width);
    let oc = g.oc as u64;
    // elements per output beat: the requantizers and table reads are per element (§4.3)
    let ko = m.out_beat.max(1) as u64;
    let lbw = lb_addr_bits(g);
    let cw =
        vclog2((g.h + g.pad[0] + g.kh + g.nr + g.sh + g.w + g.pad[1] + g.kw + g.sw + 4) as u64) + 2;
    let depth = (m.rom_depth() as u64).max(2);
    let rom_w = u64::from(m.rom_width());
    let mut t = Vec::new();

    // control registers: common part, sf/nf/ky/kx/icf loop counters, lop/oxs window
    // coordinates, the window address (ROM-fed: `ra_q` and `ra_a` one fire ahead, with the
    // row slots, row limits and flags about one more address's worth, `3·LBW` in all;
    // constant weights: the rb/kxc/co buffer offsets), waddr, pending, the obuf read index
    // oi, ch.
    // A constant-weight engine (NF = SF = 1, 1×1 window) keeps sf, nf, ky, kx, icf, kxc and
    // co at 0 (yosys removes them as constant registers) and has no waddr.
    let ctrl_bits = if m.is_constant() {
        common_ctrl_bits(g) + 2 * cw + lbw + vclog2(pe + 1) + vclog2(pe)
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
            + vclog2(pe)
            // the registered schedule flags: rok, pz, p1
            + if m.sched_regs { 3 } else { 0 }
    } + vclog2(oc.max(2));
    t.push(term(
        "control (counters, window addressing, handshakes, requantizer shifts)",
        scale(ctrl_bits, CTRL_LUTS_PER_BIT),
        ctrl_bits + ow * ko,
        ceil_div(ctrl_bits, 2),
    ));
    if m.hs_regs {
        // the row tests' difference registers dr and dq (a three-term sum each, a LUT per
        // bit and term), iy = H, the row step dlt, pz and p1; the limits' own registers and
        // comparisons stay (the registered schedule flags read them)
        let w = u64::from(m.row_diff_width());
        t.push(term(
            "row tests from differences (dr, dq and their sums)",
            4 * w + 8,
            2 * w + 1 + w + 2,
            ceil_div(w, 4) * 4,
        ));
    }
    // requantizer: the add of the bias-and-rounding word, the barrel shifter over the
    // shifts' span (two 2:1 stages per LUT), saturation; one per element of an output beat.
    let stages = u64::from(m.shifter_stages());
    t.push(term(
        "requantizer adders",
        (rw + rw * stages.div_ceil(2) + ow) * ko,
        0,
        ceil_div(rw, 4) * ko,
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
    } else if m.is_constant() {
        // hard-wired conv (§4.1): NR·C banks of W words (one per slot and channel), each with
        // one asynchronous read port per kernel column (distributed RAM); per window element
        // an NR:1 slot select and the padding multiplexer; the column addresses.
        let banks = (g.nr * g.c) as u64;
        let bank = lutram(g.w as u64, a, g.kw as u64);
        let elements = (g.kh * g.kw * g.c) as u64;
        t.push(Term {
            name: "line buffer (slot × channel banks, column reads, slot selects)",
            luts: banks * (bank.logic_luts + 1)
                + elements * a * (mux_luts(g.nr as u64) + 1)
                + g.kw as u64 * cw,
            lutram_luts: banks * bank.sites(),
            ffs: 0,
            carry4: g.kw as u64 * ceil_div(cw, 4),
        });
    } else {
        // banked line buffer (docs/hardware.md §4): one bank of `D/NL` words per window lane,
        // each with one registered read port; one shared address adder, per lane the padding
        // and forwarding select and the read and forwarding registers.
        let (ports, depth) = lb_banks(m);
        // with the read registers no element is forwarded: no address comparison, no
        // forwarding flags and no copy of the written element; the padding test waits in
        // one more flip-flop
        let (cmp, fwd_ffs) = if m.read_regs {
            (0, 1)
        } else {
            (lbw, ports + a)
        };
        if ram_in_bram(depth, a) {
            // block RAM (counted in `bram18`, `lb_bram18`)
            t.push(term(
                "line buffer (banks in block RAM: pad and forwarding selects)",
                ports * a + cmp,
                ports * a + fwd_ffs,
                ceil_div(lbw, 4),
            ));
        } else {
            // read in two stages: each group a RAM of its own (its cells and their select)
            let groups = m.lb_groups() as u64;
            let words = if groups > 1 {
                m.lb_group_words as u64
            } else {
                depth
            };
            let full = lutram(words, a, 1);
            let last = lutram(depth - (groups - 1) * words, a, 1);
            t.push(Term {
                name: "line buffer (banks with a registered read, distributed RAM)",
                luts: ports * ((groups - 1) * full.logic_luts + last.logic_luts + a) + cmp,
                lutram_luts: ports * ((groups - 1) * full.sites() + last.sites()),
                ffs: ports * a + fwd_ffs,
                carry4: ceil_div(lbw, 4),
            });
        }
        if m.has_read_split() {
            // the second stage: per bank the groups' words and the group (first stage), the
            // selected word and the padding test (second); the weight words' register
            let groups = m.lb_groups() as u64;
            t.push(term(
                "line-buffer read's second stage (group select, weight words' register)",
                ports * a * mux_luts(groups),
                ports * ((groups - 1) * a + vclog2(groups) + a + 1)
                    + lanes * u64::from(m.code_bits),
                0,
            ));
        }
    }

    if let Some(dp) = dp {
        // constant weights: the products are wiring, zero weights vanish; what remains is one
        // adder tree per PE over its non-zero terms (carry-chain adders of the tree's widths,
        // one LUT per bit) and the obuf registers (no accumulator: NF·SF = 1).
        let (mut bits, mut carry) = (0u64, 0u64);
        for n in &dp.shared {
            // below the larger shift one operand is zero: the other is wired through
            let active = u64::from(n.width.saturating_sub(n.a_shift.max(n.b_shift)));
            bits += active;
            carry += active.div_ceil(4);
        }
        for tree in &dp.trees {
            let (b, c) = tree_cost(tree, acc);
            bits += b;
            carry += c;
        }
        t.push(term(
            "constant-weight adder trees (non-zero terms only, shared sub-sums)",
            bits,
            0,
            carry,
        ));
        // the output buffer: PE registers loaded in parallel, read by a PE:1 multiplexer
        t.push(term(
            "output buffers (registers and their read multiplexer)",
            acc * mux_luts(pe),
            pe * acc,
            0,
        ));
        if m.pipeline > 0 {
            // flip-flops beside the adders' LUTs (a 7-series slice has two per LUT)
            let st = Staging::new(dp, m.pipeline);
            t.push(term(
                "pipeline registers of the adder trees",
                0,
                pipeline::register_bits(dp, &st, in_width),
                0,
            ));
        }
    } else {
        match m.mac {
            MacKind::Shift => {
                // lanes: the product `x << k` (every input bit at every shift used), inverted
                // for a negative weight, sign-extended into its ACC_W-bit adder of the PE's
                // chain, which takes the negation's +1 as its carry in.
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
                if m.has_mul_regs() {
                    // the halves' registers: (A+1+⌊CB/2⌋) + (A+⌈CB/2⌉) bits per lane
                    t.push(term(
                        "multiplier halves' registers",
                        0,
                        lanes * (2 * a + u64::from(m.code_bits) + 1),
                        0,
                    ));
                }
            }
        }
        // per PE: acc and obuf registers (loaded in parallel), and the obuf's PE:1 read
        // multiplexer.
        t.push(term(
            "accumulators and output buffers",
            acc * mux_luts(pe),
            2 * pe * acc,
            0,
        ));
        if m.data_regs {
            // each PE's lanes' sum and its carry (with the register inside the tree, its
            // partial sums and their carries), the stage's two flags, and the emitted word
            // kept ahead (its load-or-next select, a LUT per bit)
            let sums = m.data_register_sums() as u64;
            t.push(term(
                "datapath registers (lanes' sums, the emitted word)",
                ko * acc,
                pe * sums * (acc + 1) + 2 + ko * acc,
                0,
            ));
        }
        if m.read_regs {
            // the stage's two flags and the current fold's weight address (the words wait
            // in the banks' and ROMs' read registers, counted with them); without the
            // datapath register, the emitted word kept ahead
            let word = if m.data_regs { 0 } else { ko * acc };
            // with the weight registers the ROMs are read one fold ahead (no address
            // register) and the stage holds the weight words in flip-flops of its own
            let wreg = if m.weight_regs {
                pe * u64::from(m.rom_width())
            } else {
                u64::from(crate::resources::clog2(m.rom_depth().max(2) as u64))
            };
            t.push(term(
                "read registers (stage flags, weight address or words, the emitted word)",
                word,
                2 + wreg + word,
                0,
            ));
        }
    }

    if m.has_head_onehot() {
        // the one-hot index and the AND-OR beside the binary select it replaces (77 LUTs
        // and 27 flip-flops more at 32 words × 20 bits, one such select alone, yosys 0.23)
        let words = m.obuf_words() as u64;
        t.push(term(
            "emitted word selected one-hot (index and AND-OR)",
            (words * ko * acc * 12).div_ceil(100),
            words,
            0,
        ));
    }

    // bias and shift tables: logic ROMs read one emission ahead into `bb` and `dd`.
    let shw = u64::from(m.shift_table_width());
    t.push(term(
        "bias and shift tables (logic ROM)",
        rom_logic_luts(oc.max(2), rw + shw) * ko,
        (rw + shw) * ko,
        0,
    ));

    // weight ROMs: one per PE, synchronous read (none for constant weights); read in banks,
    // a register per bank and the address's upper bits
    if !m.is_constant() && !m.rom_in_bram() {
        let banks = m.rom_banks() as u64;
        let regs = if banks > 1 {
            banks * rom_w + u64::from(crate::resources::clog2(banks))
        } else {
            rom_w
        };
        t.push(term(
            "weight ROMs (logic)",
            pe * rom_logic_luts(depth, rom_w),
            pe * regs,
            0,
        ));
    }
    t
}

/// The datapath of a ROM-fed multiplier engine (`MacKind::Multiply`) whose multipliers are
/// logic (`synth_xilinx -nodsp`), `None` for every other engine: the weight word, the
/// signed `(A+1) × CB` multiplier yosys builds from LUTs and carry chains, the lanes' sum
/// (plain adds, which yosys merges with the products into one multiply-accumulate
/// structure: about two and a half levels per halving of `SIMD`) and the accumulator add —
/// 9 + ⌈5·⌈log2 SIMD⌉ / 2⌉ LUT4 levels and `ACC_W + 5` carry steps. Fitted on the walked
/// `-nodsp` netlists of the int8 LeNet at `--lanes 64` (four engines of one lane per PE:
/// 10–11 levels, 8 since the one-hot emission and the registered last-value tests of
/// 2026-12-05) and at the pixel rate (fc1 8×32: 19, 20 since; fc2 1×2: 12),
/// docs/performance.md "The timing proxy without DSP blocks" and "The ResNet-8 at the 6-level
/// target" (11 + 2·⌈log2 SIMD⌉ before: 10 against 8 on the former); none with datapath
/// registers (which would end the chain at the lanes' sum, not measured). With DSP blocks the
/// multiplier is inside the DSP and this chain is not on the fabric.
///
/// With the multipliers in registered halves ([`Mvu::mul_regs`]) the chain ends at the
/// halves' registers: from the read registers, the padding select and an `(A+1) × (CB/2+1)`
/// multiplier, 5 levels and `A + 4` carry steps (4 + 12c walked on one 9 × 5 half alone,
/// yosys 0.23 `-nodsp`); their add and the lanes' tree are the datapath's.
fn soft_multiplier_path(m: &Mvu, in_width: u32) -> Option<LogicPath> {
    if m.is_constant() || m.mac != MacKind::Multiply {
        return None;
    }
    if m.has_mul_regs() {
        return Some(LogicPath::new(5, in_width + 4));
    }
    let tree = log2_ceil(m.simd);
    Some(LogicPath::new(9 + (5 * tree).div_ceil(2), m.acc_width + 5))
}

/// The deepest of the engine's one-cycle chains (`docs/hardware.md` §12):
///
/// * the schedule: the row test (`iy` against the registered `need`) and the output-buffer
///   test make `fire`, which selects between the current window address and the one after
///   the next fire (both registers, the latter advanced by a delta of the instance's
///   constants), then the bank's read address and forwarding comparison. 7 + ⌈LBW/4⌉
///   levels and ⌈LBW/2⌉ carry steps, fitted to the walked netlists of the default LeNet and
///   the `up5k` preset (`docs/performance.md`, "Window addresses one fire ahead");
/// * the datapath: the registered padding test of the window position, the padded value, the shift
///   (or the constant terms' adder tree), the sum over SIMD lanes and the accumulator add —
///   7 + ⌈log2 SIMD⌉ levels and `ACC_W + 5` carry steps plus half a product per tree level
///   (refitted with the schedule on the same netlists; 10 + ⌈log2 SIMD⌉ before);
/// * ROM-fed only, the emission: the output buffer's word select, the add of the registered
///   bias-and-rounding word, the per-channel shift above the smallest and the saturation —
///   per family, with `SHW` barrel-shifter stages when the shifts differ: iCE40 1 + 2·⌈log2
///   PE⌉ + SHW levels, 7-series 2 + ⌈log2 PE⌉ + ⌈SHW/2⌉, and `RW` carry steps.
///
/// With the datapath registers (`data_regs`) the datapath ends at the lanes' sum register
/// (5 + ⌈log2 SIMD⌉ levels) and the accumulator add is a chain of its own (3 levels, `ACC_W`
/// carry steps); the emission starts from the register holding its word and the word
/// select is a chain of its own. Not fitted beyond the default LeNet's and the `up5k`
/// preset's netlists, where these chains no longer are the deepest (docs/performance.md,
/// "Datapath registers").
///
/// Without DSP blocks (`dsp` false) a multiplier engine's soft multiplier chain
/// ([`soft_multiplier_path`]) is one more candidate.
fn mvu_logic_path(m: &Mvu, in_width: u32, family: TimingFamily, dsp: bool) -> LogicPath {
    let g = &m.geom;
    let lu = if m.is_constant() { 1 } else { m.read_ports() };
    let lbw = log2_ceil((g.nr * g.w * g.c / lu.max(1)).max(2));
    // both window addresses a fire selects between are registers (docs/hardware.md §12): the
    // chain is the row test and `fire`, the selection and the bank's address decoding, which
    // grows with the address width; the address select is one wide select, a level deeper on
    // 7-series (refitted with the registered FIFO flags on the walked netlists of the four
    // designs in docs/performance.md, "Requantization from registers": 7–11 levels on
    // 7-series, 8–10 on iCE40)
    let sched_regs = m.sched_regs && !m.is_constant();
    // with the registered schedule flags `fire` is two levels from flip-flops, and the
    // flags' own next values are a chain of their own: the row completion, the image wrap
    // and `fire` selecting among comparisons of registers, which LUT6es absorb and LUT4s do
    // not (fitted on the walked netlists of the default LeNet on 7-series and of the `up5k`
    // preset on iCE40, docs/performance.md, "Registered schedule flags": 12–13 levels on
    // iCE40; on 7-series refitted 2026-12-03 to the LeNet's later runs with the flags, 7 to
    // 9 levels from `iy`, `ox` or `nf` to `rok`, "Datapath registers": 8, was 6)
    let flag_levels = match family {
        TimingFamily::Xilinx7 => 8,
        TimingFamily::Ice40Up | TimingFamily::Ice40Hx => 12,
    };
    let (mut schedule, flags) = if sched_regs {
        (
            LogicPath::new(3 + lbw.div_ceil(4), lbw.div_ceil(2)).with_wide_selects(1),
            LogicPath::new(flag_levels, lbw.div_ceil(2)),
        )
    } else {
        // (on 7-series two wide selects: the address select and the forwarding compare's,
        // refitted 2026-12-04 to the netlists of the RTL with the read registers, where this
        // chain of the same logic measured 9 to 12 levels: the default LeNet's conv2 10, fc1
        // 9, fc2 11, the int8 LeNet's conv2 12; docs/performance.md "Three more tries at the
        // 6-level target")
        (
            LogicPath::new(6 + lbw.div_ceil(4), lbw.div_ceil(2)).with_wide_selects(2),
            LogicPath::default(),
        )
    };
    // With DSP blocks a multiplier engine's products and their plain adds map into DSP48E1s
    // (yosys packs a product's add into the block's post-adder and chains the blocks), where
    // a walked path ends and starts: its lanes' sum adds no LUT level, as with one lane
    // (measured on the pixel-rate int8 LeNet, fc1 with 32 lanes per PE: 10 levels estimated
    // with the sum's five, 7 in the netlist, none of them in the datapath;
    // docs/performance.md, "Pipelined by default"). The blocks' own delay is not a LUT level
    // and not in this proxy.
    let tree = if dsp && m.mac == MacKind::Multiply && !m.has_mul_regs() {
        0
    } else {
        log2_ceil(m.simd)
    };
    let data_regs = m.data_regs && !m.is_constant();
    let mut datapath = LogicPath::new(
        7 + tree,
        m.acc_width + 5 + tree * m.product_width.div_ceil(2),
    );
    // with the datapath registers (§4, "Datapath registers") the chain ends at the lanes'
    // sum, and the accumulator add is a chain of its own from that register: the add and
    // the select into the accumulator, `obuf` and the emitted word
    // With the register inside the tree (§4, "The register inside the lanes' tree") the
    // first chain ends after `data_split` of its levels, and the rest of the tree is in
    // front of the accumulator's add, a level and about half an operand's carry steps each.
    // the lanes' tree levels in front of the datapath register and behind it
    let (before, after) = match m.data_split.min(tree) {
        0 => (tree, 0),
        split => (split, tree - split),
    };
    let accumulate = if data_regs {
        datapath = LogicPath::new(5 + before, 5 + before * m.product_width.div_ceil(2));
        LogicPath::new(3 + after, m.acc_width + after * m.product_width.div_ceil(2))
    } else {
        LogicPath::default()
    };
    // the read registers (§4, "The datapath register at the read"): the schedule ends at the
    // registers a fire selects (the row test, `fire`, the select; no read behind it), the
    // read is a chain of its own from the current address (the bank's decoding, one wide
    // select), and the datapath starts at the read registers: up to the lanes' sum register
    // with `data_regs` (as above), else through the lanes and the accumulator add into the
    // accumulator, `obuf` and the register of the word emitted next (fitted on the 200 MHz
    // LeNet with the read registers alone on every ROM-fed engine, docs/performance.md
    // "Three more tries at the 6-level target": 6 to 8 levels, the schedule never deepest)
    // On iCE40 that schedule is two LUT4 levels deeper: 7 + 6c walked on conv1 and conv2 of
    // the `up5k` preset pipelined for 7-series (docs/performance.md, "Pipelined by default").
    // a strided window's slots (§12, "Window slots one fire ahead"): the slots after the next
    // fire are sums of the current ones (a row step of SH % NR slots, wrapped), whose wrap
    // tests choose the delta of the window address after the next fire (two wide selects):
    // 8 levels and 8–12 carry steps walked on the stride-2 convolutions of the ResNet-8 with
    // the read registers (docs/performance.md, "The ResNet-8 at the 6-level target"); with
    // the slots kept one fire ahead the tests compare flip-flops and the chain is the
    // schedule's
    let slots = if !m.is_constant() && g.sh > 1 && !m.slot_regs {
        LogicPath::new(6, lbw.div_ceil(2)).with_wide_selects(2)
    } else {
        LogicPath::default()
    };
    // a weight ROM in logic (7-series; iCE40 has no read registers to offer, and its ROM
    // chains were never walked): the address select → 256:1 (LUT6 + MUXF7 + MUXF8) → the
    // selects among the 256-word parts, ⌈log2 parts⌉ levels, into its output register (7
    // levels walked on the 1 152-word ROMs of the ResNet-8's stage 3, docs/performance.md,
    // "The ResNet-8 at the 6-level target"); read in banks, one 256:1 select into the bank
    // registers ([`Mvu::rom_banks`]), and the bank select is in front of the weight register
    let rom = if family == TimingFamily::Xilinx7 && !m.is_constant() && !m.rom_in_bram() {
        rom_read_path(if m.rom_banks() > 1 {
            ROM_BANK_WORDS
        } else {
            m.rom_depth()
        })
    } else {
        LogicPath::default()
    };
    let mut read = LogicPath::default();
    let mut read_select = LogicPath::default();
    if m.read_regs && !m.is_constant() {
        if !sched_regs {
            let levels = match family {
                TimingFamily::Xilinx7 => 5,
                TimingFamily::Ice40Up | TimingFamily::Ice40Hx => 7,
            };
            schedule = LogicPath::new(levels, lbw.div_ceil(2));
        }
        (read, read_select) = lb_read_paths(m, in_width);
        if !data_regs {
            datapath = LogicPath::new(
                8 + tree,
                m.acc_width + 5 + tree * m.product_width.div_ceil(2),
            );
        }
    }
    if m.is_constant() {
        // a hard-wired engine (fitted on the walked 7-series netlists of conv1, conv2 and fc2
        // of the default LeNet with 0 to 5 pipeline registers, docs/performance.md
        // "Pipelined adder trees"): the first stage is the row base's slot compare, the slot
        // select of the column reads and the padding (3 + ⌈LBW/4⌉ levels), then its `L`
        // adder levels, one level and about two carry steps each; without registers the
        // whole tree of `M` levels and the obuf load. Its schedule has no window address
        // sum: the row test and the write counters, 3 + ⌈LBW/4⌉ levels.
        // Its line buffer has a bank per slot and channel (§4.1), so the read selects among
        // `NR·W` words, whatever the channels: wide beats of many channels (conv2 of the
        // pixel-rate LeNet, 16 channels) no longer count their channels into the select
        // (refitted 2026-12-04 on the walked netlists of the pixel-rate LeNets, shift-add and
        // int8, at one adder level per stage: conv2 7 estimated against 4, now 6; conv1 6
        // against 5, unchanged; docs/performance.md, "Pipelined by default").
        let st = Staging::new(&m.datapath(in_width), m.pipeline);
        let read = 3 + log2_ceil((g.nr * g.w).max(2)).div_ceil(4);
        let (levels, tree) = if m.pipeline == 0 {
            (read + st.levels.depth() + 1, st.levels.depth())
        } else {
            (read + st.levels_per_stage, st.levels_per_stage)
        };
        datapath = LogicPath::new(levels, m.acc_width + 2 * tree);
        schedule = LogicPath::new(read, lbw.div_ceil(2));
    }
    // the emission: the obuf word select (PE:1) → one add of the registered bias-and-rounding
    // word → the shift above the smallest (a barrel shifter of SHW stages, only when the
    // shifts differ) → saturation → out_data. Its selects map differently per family: a LUT4
    // is a 2:1 multiplexer (iCE40: the PE:1 select about two levels per halving with its
    // saturation, a level per shifter stage), a LUT6 with MUXF7/MUXF8 a 4:1 to 16:1 one
    // (7-series: a level per halving, one per two stages). Fitted on the walked netlists of
    // the four designs in docs/performance.md, "Requantization from registers" (iCE40 2–10
    // levels, 7-series 1–7, 14–26 carry steps).
    let stages = m.shifter_stages();
    let sel = log2_ceil(m.pe);
    // iCE40: refitted 2026-12-03 on the walked netlists of the `up5k` preset, the issue-13
    // small network and the tiny golden design (eight engines, PE 1–8, one to three shifter
    // stages: 2 + 14c … 11 + 14c, every one within one level but the small network's l1,
    // two above), where the earlier 2 + 2·⌈log2 PE⌉ + SHW was one to two levels too deep
    let emission_levels = match family {
        TimingFamily::Xilinx7 => 2 + sel + stages.div_ceil(2),
        TimingFamily::Ice40Up | TimingFamily::Ice40Hx => 1 + 2 * sel + stages,
    };
    // (a hard-wired engine's model above was fitted with its emission in the netlist, which
    // its pipelined trees do not shorten: not added there)
    // With the datapath registers the word select is a chain of its own, into the register
    // that holds the word emitted next (the read index's increment, the select, the load),
    // and the emission starts from that register.
    let (emission, preselect) = if m.is_constant() {
        (LogicPath::default(), LogicPath::default())
    } else if data_regs || m.read_regs {
        // (iCE40, refitted with the emission: from the register 4 + 14c and 4 + 17c with two
        // shifter stages, into it 2 + 14c and 6 + 1c, the `up5k` preset with the registers)
        let (from_register, select) = match family {
            TimingFamily::Xilinx7 => (emission_levels - sel, 2 + sel),
            TimingFamily::Ice40Up | TimingFamily::Ice40Hx => {
                ((2 + stages).min(emission_levels), 3 + sel)
            }
        };
        (
            LogicPath::new(from_register, m.requant_width),
            // 7-series, one-hot (`head_onehot`): the AND-OR and its load, 3 + ⌈log2 words⌉/4
            // levels (4–5 walked at 32 words × 20 bits, one such select alone, yosys 0.23)
            if m.has_head_onehot() && family == TimingFamily::Xilinx7 {
                LogicPath::new(3 + sel.div_ceil(4), 0)
            } else {
                LogicPath::new(select, 0)
            },
        )
    } else {
        (
            LogicPath::new(emission_levels, m.requant_width),
            LogicPath::default(),
        )
    };
    // the multipliers in registered halves (§4, "The multiplier in two halves"): the
    // datapath starts at the halves' registers with their add (two levels and a product's
    // carry steps), then the lanes' balanced tree, to the datapath register (split as
    // above) or through the accumulator's add
    if m.has_mul_regs() {
        let pw = m.product_width;
        datapath = if data_regs {
            LogicPath::new(2 + before, pw + before * pw.div_ceil(2))
        } else {
            LogicPath::new(4 + tree, m.acc_width + pw + tree * pw.div_ceil(2))
        };
    }
    // the deepest chain as it maps on `family`
    // without DSP blocks, a multiplier engine's products are logic on the datapath
    let soft = if dsp {
        None
    } else {
        soft_multiplier_path(m, in_width)
    };
    [
        schedule,
        flags,
        slots,
        rom,
        read,
        read_select,
        datapath,
        accumulate,
        emission,
        preselect,
    ]
    .into_iter()
    .chain(soft)
    .fold(LogicPath::default(), |a, b| {
        if b.on(family).weight(family) > a.on(family).weight(family) {
            b
        } else {
            a
        }
    })
}

/// The read of a weight ROM of `words` words in logic on 7-series, from its address to its
/// output register (one chain of the MVU's logic path): the address select, a 256:1 select
/// (LUT6 + MUXF7 + MUXF8) and ⌈log2⌉ of its 256-word parts levels of select among them.
pub fn rom_read_path(words: usize) -> LogicPath {
    LogicPath::new(2 + log2_ceil(words.max(2).div_ceil(ROM_BANK_WORDS)), 0).with_wide_selects(2)
}

/// The line-buffer read of a ROM-fed engine with the read registers, as two chains: the one
/// into the read register and the one of the read's second stage (none without it).
///
/// In one stage the first is from the read address (a register) through a LUT-RAM cell and
/// the select among the cells: a level per four address bits and one wide select, two for
/// a bank in LUT-RAM beyond [`LB_GROUP_WORDS`] words of `in_width` bits
/// ([`Mvu::lb_beyond_one_slice`]; a select among more than 16 cells walked 5, 6 and 7
/// levels for the same RTL in three netlists of fc1's 3 136-word bank, docs/performance.md
/// "The line-buffer read in two stages"). Read in two stages ([`Mvu::has_read_split`]) the
/// first chain ends at the groups' registers (a group's cells) and the second selects among
/// the groups: one LUT6 for up to 4, a LUT6 + MUXF7 + MUXF8 for up to 16.
pub fn lb_read_paths(m: &Mvu, in_width: u32) -> (LogicPath, LogicPath) {
    // the bank's address bits
    let lbw = log2_ceil(m.lb_bank_words().max(2));
    if m.has_read_split() {
        let gw = log2_ceil(m.lb_group_words.max(2));
        let group = LogicPath::new(1 + gw.div_ceil(4), 0).with_wide_selects(1);
        let select = LogicPath::new(1, 0).with_wide_selects(if m.lb_groups() > 4 { 2 } else { 0 });
        (group, select)
    } else {
        let wide = if m.lb_beyond_one_slice(in_width) {
            2
        } else {
            1
        };
        (
            LogicPath::new(1 + lbw.div_ceil(4), 0).with_wide_selects(wide),
            LogicPath::default(),
        )
    }
}

/// The banks of a (non-constant) MVU's line buffer: one per window lane, and the words of each.
fn lb_banks(m: &Mvu) -> (u64, u64) {
    let ports = m.read_ports() as u64;
    (ports, ceil_div(m.geom.lb_elements() as u64, ports))
}

/// Resources of an MVU engine (its `inq_mvu` instance and its `inq_rom` weight ROMs, or its
/// specialised constant-weight module: `rom_bits` then counts only the bias/shift tables).
fn mvu_resources(m: &Mvu, in_width: u32, out_width: u32) -> Resources {
    let g = &m.geom;
    let mut r = Resources::default();
    let lanes = (m.pe * m.simd) as u64;
    let table_bits = g.oc as u64 * u64::from(m.requant_width + m.shift_table_width());
    if m.is_constant() {
        // constant weights: only the adder trees over the non-zero terms; no weight ROM.
        let dp = m.datapath(in_width);
        for n in &dp.shared {
            push_adders(&mut r.adders, n.width, 1);
        }
        for tree in &dp.trees {
            for n in &tree.nodes {
                push_adders(&mut r.adders, n.width, 1);
            }
            if tree.root_negated {
                push_adders(&mut r.adders, m.acc_width, 1);
            }
        }
        push_adders(&mut r.adders, m.acc_width, m.out_beat.max(1) as u64);
        push_adders(&mut r.adders, m.requant_width, m.out_beat.max(1) as u64);
        r.rom_bits = table_bits;
        return finish(&mvu_terms(m, in_width, out_width, Some(&dp)), r);
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
    if m.rom_in_bram() {
        r.bram_bits = rom_per_pe * m.pe as u64;
        r.bram18 = m.pe as u64 * rom_bram18(depth, rom_w);
    }
    // the banked line buffer (a constant-weight engine's is read asynchronously: never BRAM)
    let (banks, depth) = lb_banks(m);
    r.bram18 += sync_ram_bram18(depth, u64::from(in_width), banks);
    if m.mac == MacKind::Multiply {
        r.dsp = lanes;
        r.soft_mul_luts = if m.has_mul_regs() {
            // two halves and their add (one LUT per product bit)
            let lo = m.code_bits / 2;
            lanes
                * (soft_mul_luts(in_width + 1, lo + 1)
                    + soft_mul_luts(in_width + 1, m.code_bits - lo)
                    + u64::from(m.product_width))
        } else {
            lanes * soft_mul_luts(in_width + 1, m.code_bits)
        };
    }
    finish(&mvu_terms(m, in_width, out_width, None), r)
}

impl EngineOp for Mvu {
    fn lanes(&self) -> usize {
        Mvu::lanes(self)
    }
    fn fold_label(&self) -> String {
        format!("{}×{}", self.pe, self.simd)
    }
    fn geometry(&self) -> Option<&Geometry> {
        Some(&self.geom)
    }
    fn in_beat(&self) -> usize {
        self.in_beat
    }
    /// Hard-wired: up to `C` channels in (a bank per channel), up to `PE` results out;
    /// ROM-fed: a beat goes into as many lane banks (§4.3).
    fn beat_caps(&self) -> BeatCaps {
        BeatCaps {
            input: if self.is_constant() {
                self.geom.c
            } else {
                self.read_ports()
            },
            out: self.pe,
            pass: false,
        }
    }
    fn any_beat_caps(&self) -> BeatCaps {
        BeatCaps {
            input: self.geom.c,
            out: self.geom.oc,
            pass: false,
        }
    }
    fn set_beats(&mut self, in_beat: usize, out_beat: usize) {
        self.in_beat = in_beat;
        self.out_beat = out_beat;
    }
    /// `KI` divides `C` and the line buffer's banks (§4.3: a beat writes `KI` banks at once;
    /// a hard-wired engine has a bank per channel, a ROM-fed one a bank per window lane);
    /// `KO` divides `PE`.
    fn beat_error(&self) -> Option<String> {
        let (ki, ko) = (self.in_beat, self.out_beat);
        let banks = if self.is_constant() {
            self.geom.c
        } else {
            self.read_ports()
        };
        if ki == 0 || !self.geom.c.is_multiple_of(ki) || !banks.is_multiple_of(ki) {
            Some(format!(
                "{ki} input elements per beat must divide C = {} and the {banks} line-buffer banks",
                self.geom.c
            ))
        } else if ko == 0 || !self.pe.is_multiple_of(ko) {
            Some(format!(
                "{ko} output elements per beat must divide PE = {}",
                self.pe
            ))
        } else {
            None
        }
    }
    fn out_beat(&self) -> usize {
        self.out_beat
    }
    fn in_elements(&self) -> usize {
        self.geom.in_elements()
    }
    fn out_elements(&self) -> usize {
        self.geom.out_elements()
    }
    fn cycles_per_image(&self) -> u64 {
        mvu_cycles_beats(
            &self.geom,
            self.pe,
            self.simd,
            self.depthwise,
            self.in_beat,
            self.out_beat,
        )
    }
    fn held_elements(&self) -> usize {
        self.geom.lb_elements() + self.pe + 1
    }
    fn first_image(&self, inputs: &[&[u64]]) -> Vec<Times> {
        // §4: a fold takes `SF` fire cycles once output row `oy`'s `need` rows are complete;
        // its last fire waits for `obuf` (the previous fold's `PE` results leave one per
        // cycle, so last fires are at least `PE` apart); result `p` is loaded into `out_data`
        // the cycle after the last fire and moves `p + 2` cycles after it
        // With `D` pipeline registers (§4.1) the results of a fire reach `obuf` `D` cycles
        // later, or when `obuf` frees; a fire needs the window `D` fires back to have left
        // the pipeline.
        let g = &self.geom;
        // With output beats of `KO` the `PE` results leave `KO` per cycle (§4.3).
        let taken = schedule::accept_beats(inputs.first().copied().unwrap_or(&[]), self.in_beat);
        let ko = self.out_beat.max(1);
        let (sf, pe) = (self.sf.max(1) as u64, self.obuf_words().max(1) as u64);
        // A ROM-fed engine's datapath register is one such stage: while it holds a pixel's
        // last fold that waits for `obuf`, nothing fires, so the next pixel's first fire waits
        // for that load (§4, "Datapath registers").
        let d = self.result_stages() as usize;
        let mut out = Vec::with_capacity(g.oc * g.oh * g.ow);
        let mut next = 0u64;
        let mut loads: Vec<u64> = Vec::new();
        for oy in 0..g.oh {
            let lo = (oy * g.sh) as i64 - g.pad[0] as i64;
            let need = (lo + g.kh as i64).clamp(0, g.h as i64) as usize;
            let ready = schedule::rows_complete(&taken, g.w * g.c, need);
            for _ in 0..g.ow * self.nf {
                let mut first = next.max(ready);
                if d > 0 && loads.len() >= d {
                    first = first.max(loads[loads.len() - d]);
                }
                let mut last = first + sf - 1;
                let prev = loads.last().copied();
                if d == 0 {
                    if let Some(prev) = prev {
                        last = last.max(prev + pe);
                    }
                }
                let load = prev.map_or(last + d as u64, |l| (last + d as u64).max(l + pe));
                out.extend((0..self.pe.max(1)).map(|p| load + 2 + (p / ko) as u64));
                loads.push(load);
                next = last + 1;
            }
        }
        vec![out]
    }
    fn terms(&self, io: &Io) -> Vec<Term> {
        let dp = self.is_constant().then(|| self.datapath(io.in_width));
        mvu_terms(self, io.in_width, io.out_width, dp.as_ref())
    }
    fn logic_path(&self, io: &Io, family: TimingFamily) -> LogicPath {
        mvu_logic_path(self, io.in_width, family, true)
    }
    fn logic_path_without_dsp(&self, io: &Io, family: TimingFamily) -> LogicPath {
        mvu_logic_path(self, io.in_width, family, false)
    }
    fn resources(&self, io: &Io) -> Resources {
        mvu_resources(self, io.in_width, io.out_width)
    }
    fn line_buffer(&self, io: &Io) -> Option<LineBuffer> {
        // the banks `g_bank[s].mem` (a constant-weight engine's buffer is read asynchronously)
        let (banks, depth) = lb_banks(self);
        (!self.is_constant()).then_some(LineBuffer {
            memories: "g_bank*",
            depth,
            bits: u64::from(io.in_width),
            copies: banks,
        })
    }
    fn params(&self, io: &Io) -> Vec<Param> {
        let g = &self.geom;
        let mut p = vec![
            Param::size("C", g.c),
            Param::size("H", g.h),
            Param::size("W", g.w),
            Param::size("KH", g.kh),
            Param::size("KW", g.kw),
            Param::size("SH", g.sh),
            Param::size("SW", g.sw),
            Param::size("PT", g.pad[0]),
            Param::size("PL", g.pad[1]),
            Param::size("OC", g.oc),
            Param::size("OH", g.oh),
            Param::size("OW", g.ow),
            Param::size("NR", g.nr),
            Param::size("PE", self.pe),
            Param::size("SIMD", self.simd),
        ];
        if self.depthwise && !self.is_constant() {
            p.push(Param::flag("DW", true));
        }
        if !self.is_constant() {
            p.push(Param::flag("IN_SIGNED", io.in_signed));
        }
        p.push(Param::int("PAD", self.pad_value));
        if !self.is_constant() {
            p.push(Param::int("CB", self.code_bits));
            p.push(Param::int("PW", self.product_width));
        }
        let (r_min, _) = self.table_shift_range();
        p.extend([
            Param::int("ACC_W", self.acc_width),
            Param::int("RW", self.requant_width),
            Param::int("RMIN_R", r_min.max(0)),
            Param::int("RMIN_L", (-r_min).max(0)),
            Param::int("SHW", self.shift_table_width()),
            Param::int("OUT_W", io.out_width),
            Param::flag("LOGITS", matches!(self.output, MvuOutput::Logits)),
            Param::flag("OUT_SIGNED", io.out_signed),
        ]);
        if !self.is_constant() {
            p.push(Param::int(
                "WAW",
                crate::resources::clog2(self.rom_depth().max(2) as u64),
            ));
        }
        p.push(Param::memory("BIAS_FILE", "bias"));
        p.push(Param::memory("SHIFT_FILE", "shift"));
        if self.mac == MacKind::Multiply && !self.is_constant() {
            p.push(Param::flag("MUL", true));
        }
        if self.has_mul_regs() {
            p.push(Param::flag("MREG", true));
        }
        if self.sched_regs && !self.is_constant() {
            p.push(Param::flag("SREG", true));
        }
        if self.hs_regs {
            p.push(Param::flag("HREG", true));
            p.push(Param::int("HBW", self.row_diff_width()));
        }
        if self.data_regs && !self.is_constant() {
            p.push(Param::flag("DREG", true));
        }
        if self.data_split > 0 && self.data_regs && !self.is_constant() {
            p.push(Param::int("DSPL", self.data_split));
        }
        if self.read_regs && !self.is_constant() {
            p.push(Param::flag("RREG", true));
        }
        if self.weight_regs && self.read_regs && !self.is_constant() {
            p.push(Param::flag("WREG", true));
        }
        if self.has_read_split() {
            p.push(Param::flag("LBSP", true));
            p.push(Param::size("LBG", self.lb_group_words));
        }
        if self.pad_regs && !self.is_constant() {
            p.push(Param::flag("PREG", true));
        }
        if self.slot_regs && !self.is_constant() {
            p.push(Param::flag("SLREG", true));
        }
        if self.has_head_onehot() {
            p.push(Param::flag("HSEL", true));
        }
        if self.in_beat != 1 {
            p.push(Param::size("KI", self.in_beat));
        }
        if self.out_beat != 1 {
            p.push(Param::size("KO", self.out_beat));
        }
        p
    }
}
