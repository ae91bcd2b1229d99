//! Pipelining to a clock: the pipeline registers of every hard-wired engine's adder trees,
//! and the read, weight and datapath registers or registered schedule flags of every ROM-fed
//! engine, chosen so that its estimated path meets a target clock on an FPGA family
//! (`docs/hardware.md` §4.1, "Pipelined adder trees", §4, "Datapath registers", "The
//! datapath register at the read" and "The line-buffer read in two stages", and §12,
//! "Registered schedule flags").
//!
//! Owns the choice (which stage length `L` each hard-wired engine gets, which ROM-fed engine
//! gets which registers) and the account of what still misses the target.
//! Does not own the path model (each engine's [`crate::ops::EngineOp::logic_path`] and the
//! family delays of [`crate::timing`]), nor the staging itself ([`crate::ops::pipeline`]): it
//! only tries the choices on the plan's own estimate. The other parts of a design (pools,
//! FIFOs, the output stage) have a fixed path in their templates; they are reported, not
//! changed.

use serde::Serialize;

use crate::design::Design;
use crate::ops::{EngineKind, EngineOp, Mvu};
use crate::timing::{self, Multipliers, PartTiming, TimingFamily};

/// The choice for one hard-wired engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeStaging {
    /// The engine's name.
    pub engine: String,
    /// Adder levels per pipeline stage (0: the whole tree in one cycle).
    pub levels_per_stage: u32,
    /// Pipeline registers (stages − 1).
    pub registers: u32,
    /// Its estimated path on the family, in nanoseconds.
    pub ns: f64,
    /// The path meets the period.
    pub meets: bool,
}

/// A ROM-fed engine that got registers: its schedule flags, its datapath, or both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RomRegs {
    /// The engine's name.
    pub engine: String,
    /// Registered schedule flags (same cycles, a few more LUTs).
    pub sched_regs: bool,
    /// Datapath registers (one more cycle of latency, flip-flops).
    pub data_regs: bool,
    /// Read registers (one more cycle of latency, flip-flops; no forwarding).
    pub read_regs: bool,
    /// Weight registers with the read registers (block-RAM weight ROMs read a fold ahead,
    /// their words registered at the read: flip-flops, the same cycles).
    pub weight_regs: bool,
    /// The banks its weight ROMs are read in ([`Mvu::rom_banks`], 1: not in banks).
    pub rom_banks: usize,
    /// The window slots one fire ahead ([`Mvu::slot_regs`]).
    pub slot_regs: bool,
    /// The lanes' tree levels in front of the datapath register ([`Mvu::data_split`]; 0:
    /// the whole tree).
    pub data_split: u32,
    /// The multipliers in registered halves ([`Mvu::mul_regs`]; planned without DSP blocks).
    pub mul_regs: bool,
    /// The groups its line-buffer banks are read in ([`Mvu::lb_groups`], 1: in one stage).
    pub lb_groups: usize,
    /// Its estimated path without the registers, in nanoseconds.
    pub ns_before: f64,
    /// With them.
    pub ns: f64,
    /// The path meets the period.
    pub meets: bool,
}

/// What [`stage_to_clock`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockFit {
    /// The family of the estimate.
    pub family: TimingFamily,
    /// Where the multipliers were planned to go.
    pub multipliers: Multipliers,
    /// The target clock.
    pub mhz: f64,
    /// Its period, `1000 / mhz` nanoseconds.
    pub period_ns: f64,
    /// Every hard-wired engine, in engine order.
    pub trees: Vec<TreeStaging>,
    /// The ROM-fed engines that got registers, in engine order.
    pub rom_regs: Vec<RomRegs>,
    /// The parts of the design whose estimated path is still longer than the period (pools,
    /// FIFOs and the output stage have no stage to add; a ROM-fed engine appears here when
    /// both kinds of register leave it too slow, a hard-wired engine when even one adder
    /// level per stage is).
    pub over: Vec<PartTiming>,
    /// The family's LUT-level target at this clock ([`TimingFamily::level_target`]: on
    /// 7-series the level count `inq report` compares the walked netlist with), if it has one.
    pub level_target: Option<u32>,
    /// The parts whose estimated path is deeper than [`ClockFit::level_target`] (a path of
    /// few carry steps may meet the period in nanoseconds and still be over it).
    pub over_levels: Vec<PartTiming>,
    /// The design's estimated Fmax after the staging.
    pub fmax_mhz: f64,
    /// Every MVU got the row tests from difference registers ([`Mvu::hs_regs`]; on 7-series).
    pub row_diffs: bool,
}

/// The least gain, in LUT levels of the family, for which a ROM-fed engine that still misses
/// the period gets registers (the path model's resolution, `docs/hardware.md` §12).
pub const MIN_GAIN_LEVELS: f64 = 2.0;

/// One choice of registers for a ROM-fed engine in [`stage_to_clock`]: one of
/// [`rom_reg_choices`] and the lanes' tree levels in front of the datapath register
/// ([`Mvu::data_split`], 0: after the whole tree).
type RegChoice = ((bool, bool, bool), u32);

/// The registers [`stage_to_clock`] tries on a ROM-fed engine for `family`, in order of
/// preference, as (registered schedule flags, datapath register, read registers): a stage of
/// flip-flops before the flags' LUTs, one stage before two. The read registers are offered
/// on 7-series only, where they were measured (`docs/performance.md`, "Three more tries at
/// the 6-level target").
pub fn rom_reg_choices(family: TimingFamily) -> &'static [(bool, bool, bool)] {
    match family {
        TimingFamily::Xilinx7 => &[
            (false, false, true),
            (false, true, false),
            (false, true, true),
            (true, false, false),
            (true, true, false),
        ],
        TimingFamily::Ice40Up | TimingFamily::Ice40Hx => &[
            (false, true, false),
            (true, false, false),
            (true, true, false),
        ],
    }
}

/// Stages the adder trees of every hard-wired engine of `design` for `mhz` on `family`: per
/// engine the fewest pipeline registers whose estimated path (clock to output, levels, carry,
/// setup) fits in the period — no register when the whole tree fits, at most one adder level
/// per stage when nothing longer does — and updates its resource estimate. A ROM-fed engine
/// whose path misses the period gets the first of [`rom_reg_choices`] that fits (read
/// registers, datapath registers, both: flip-flops and a cycle of latency each; registered
/// schedule flags: LUTs); when none fits, the choices with the datapath register are tried
/// with that register inside the lanes' tree ([`Mvu::data_split`]), and the first that fits
/// of all of them, or the fastest, is taken if it is at least [`MIN_GAIN_LEVELS`] LUT
/// levels' delay faster (else nothing); with read registers, weight registers too when its
/// weight ROMs are block RAM, and on 7-series the line-buffer read in two stages when a bank
/// in LUT-RAM is deeper than [`crate::ops::mvu::LB_GROUP_WORDS`] ([`Mvu::lb_group_words`]).
/// On 7-series every MVU gets the row tests from difference registers ([`Mvu::hs_regs`]).
///
/// With `multipliers` [`Multipliers::Logic`] every path is the one without DSP blocks
/// ([`crate::ops::EngineOp::logic_path_without_dsp`]), and a multiplier engine's choices
/// with read registers have its multipliers in registered halves ([`Mvu::mul_regs`]).
pub fn stage_to_clock(
    design: &mut Design,
    family: TimingFamily,
    mhz: f64,
    multipliers: Multipliers,
) -> ClockFit {
    let period_ns = 1000.0 / mhz;
    let dsp = multipliers == Multipliers::DspBlocks;
    let row_diffs = family == TimingFamily::Xilinx7;
    let mut trees = Vec::new();
    let mut rom_regs = Vec::new();
    for e in &mut design.engines {
        let EngineKind::Mvu(m) = &mut e.kind else {
            continue;
        };
        let io = e.io;
        // the row tests from difference registers: on 7-series they take the comparisons of
        // the row count with the limits out of the input handshake at no cost in cycles and
        // a few LUTs (docs/performance.md, "The row tests from differences"); not measured
        // on iCE40, where their sums are carry chains
        m.hs_regs = row_diffs;
        if !m.is_constant() {
            // a weight ROM in logic whose one-cycle read is over the period or the level
            // target ([`crate::ops::mvu::rom_read_path`], 7-series)
            let deep_rom = family == TimingFamily::Xilinx7 && !m.rom_in_bram() && {
                let p = crate::ops::mvu::rom_read_path(m.rom_depth()).on(family);
                p.ns(family) > period_ns || family.level_target(mhz).is_some_and(|t| p.levels > t)
            };
            // a line-buffer bank in LUT-RAM wider than one slice's select: read in two
            // stages with the read registers (7-series; §4, "The line-buffer read in two
            // stages")
            let deep_lb = family == TimingFamily::Xilinx7 && m.lb_beyond_one_slice(io.in_width);
            // planned without DSP blocks, a multiplier engine's multipliers are split in
            // registered halves with the read registers (the halves take the read words)
            let soft_muls = !dsp && m.mac == crate::ops::MacKind::Multiply;
            let ns_at = |m: &mut Mvu, (sched, data, read): (bool, bool, bool), split: u32| {
                m.mul_regs = soft_muls && read;
                m.sched_regs = sched;
                m.data_regs = data;
                m.data_split = split;
                m.read_regs = read;
                m.lb_group_words = if read && deep_lb {
                    crate::ops::mvu::LB_GROUP_WORDS
                } else {
                    0
                };
                // block-RAM ROMs: their output select and clock-to-output stay off the lanes;
                // ROMs in logic whose read misses the target: read in banks, the bank select
                // in front of the weight register (§4, "Weight ROMs in banks")
                m.weight_regs = read && (m.rom_in_bram() || deep_rom);
                // the padding test selected, not computed (free in 7-series LUTs; read
                // registers are only offered there)
                m.pad_regs = read;
                // the window slots one fire ahead (same cycles, flip-flops; with the read
                // registers only, like the padding test)
                m.slot_regs = read;
                // more than 16 words to emit from: the word selected one-hot (7-series)
                m.head_onehot = (read || data)
                    && family == TimingFamily::Xilinx7
                    && m.obuf_words() > crate::ops::mvu::HEAD_ONEHOT_WORDS;
                let path = if dsp {
                    m.logic_path(&io, family)
                } else {
                    m.logic_path_without_dsp(&io, family)
                };
                path.on(family).ns(family)
            };
            let ns_before = ns_at(m, (false, false, false), 0);
            let mut tried: Vec<(RegChoice, f64)> = rom_reg_choices(family)
                .iter()
                .map(|&c| ((c, 0), ns_at(m, c, 0)))
                .collect();
            // when no choice fits with the datapath register after the whole lanes' tree,
            // the choices with it are tried again with the register inside the tree, after
            // each number of its levels (flip-flops: one register per partial sum)
            if !tried.iter().any(|(_, ns)| *ns <= period_ns) {
                // (every choice tried here has the datapath register; `ns_at` sets each;
                // the split is allowed when the lanes' sum is a tree: shift-add lanes, or
                // multipliers in halves, which only come with the read registers)
                m.data_regs = true;
                m.mul_regs = soft_muls;
                let splits = if m.data_split_allowed() {
                    1..m.lanes_tree_levels()
                } else {
                    1..1
                };
                for &c in rom_reg_choices(family)
                    .iter()
                    .filter(|c| c.1 && (!soft_muls || c.2))
                {
                    for l in splits.clone() {
                        tried.push(((c, l), ns_at(m, c, l)));
                    }
                }
            }
            let fit = tried
                .iter()
                .find(|(_, ns)| *ns <= period_ns)
                .or_else(|| tried.iter().min_by(|a, b| a.1.total_cmp(&b.1)));
            match fit {
                // registers that leave the engine too slow must gain at least two LUT
                // levels' delay: the chains are estimated within one or two levels of the
                // walked netlists, so a smaller gain may be none (the `up5k` preset on
                // iCE40: an estimated gain of one level moved nextpnr's Fmax by −2 %,
                // docs/performance.md "Datapath registers")
                Some(&((c, split), ns))
                    if ns_before > period_ns
                        && (ns <= period_ns
                            || ns_before - ns >= MIN_GAIN_LEVELS * family.delays().level) =>
                {
                    ns_at(m, c, split);
                    let weight_regs = m.weight_regs;
                    let rom_banks = m.rom_banks();
                    let slot_regs = m.slot_regs;
                    let data_split = m.data_split;
                    let mul_regs = m.mul_regs;
                    let lb_groups = m.lb_groups();
                    e.resources = e.kind.op().resources(&e.io);
                    rom_regs.push(RomRegs {
                        engine: e.name.clone(),
                        sched_regs: c.0,
                        data_regs: c.1,
                        read_regs: c.2,
                        weight_regs,
                        rom_banks,
                        slot_regs,
                        data_split,
                        mul_regs,
                        lb_groups,
                        ns_before,
                        ns,
                        meets: ns <= period_ns,
                    });
                }
                _ => {
                    ns_at(m, (false, false, false), 0);
                    e.resources = e.kind.op().resources(&e.io);
                }
            }
            continue;
        }
        // the engine's estimated path with stages of `l` adder levels (0: none)
        let ns_at = |m: &mut Mvu, l: u32| {
            m.stage_trees(io.in_width, l);
            m.logic_path(&io, family).on(family).ns(family)
        };
        // 0 (no register) first, then stages of depth − 1, …, 1 levels: the first that fits;
        // one level per stage when none does
        let depth = m.tree_depth(io.in_width);
        let fit = std::iter::once(0)
            .chain((1..depth.max(1)).rev())
            .map(|l| (l, ns_at(m, l)))
            .find(|&(_, ns)| ns <= period_ns);
        let (levels_per_stage, ns, meets) = match fit {
            Some((l, ns)) => (l, ns, true),
            None => (1, ns_at(m, 1), false),
        };
        let registers = m.pipeline;
        e.resources = e.kind.op().resources(&e.io);
        trees.push(TreeStaging {
            engine: e.name.clone(),
            levels_per_stage,
            registers,
            ns,
            meets,
        });
    }
    let est = timing::estimate_for(design, family, multipliers);
    let level_target = family.level_target(mhz);
    let over_levels = est
        .parts
        .iter()
        .filter(|p| level_target.is_some_and(|t| p.path.levels > t))
        .cloned()
        .collect();
    ClockFit {
        family,
        multipliers,
        mhz,
        period_ns,
        trees,
        rom_regs,
        over: est.parts.into_iter().filter(|p| p.ns > period_ns).collect(),
        level_target,
        over_levels,
        fmax_mhz: est.fmax_mhz,
        row_diffs,
    }
}

impl ClockFit {
    /// A readable account: the target, each hard-wired engine's stages, and what misses.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "clock target {:.1} MHz on {}{} ({:.2} ns): estimated Fmax {:.1} MHz\n",
            self.mhz,
            self.family.name(),
            if self.multipliers == Multipliers::Logic {
                " without DSP blocks"
            } else {
                ""
            },
            self.period_ns,
            self.fmax_mhz
        );
        for t in &self.trees {
            let stages = if t.levels_per_stage == 0 {
                "the whole tree in one cycle".to_string()
            } else {
                format!(
                    "{} adder level(s) per stage, {} pipeline register(s)",
                    t.levels_per_stage, t.registers
                )
            };
            s.push_str(&format!(
                "  {}: {stages}, {:.2} ns{}\n",
                t.engine,
                t.ns,
                if t.meets { "" } else { " (misses the target)" }
            ));
        }
        for r in &self.rom_regs {
            let what = match (r.sched_regs, r.data_regs, r.read_regs) {
                (true, true, _) => "registered schedule flags and datapath",
                (true, false, _) => "registered schedule flags",
                (false, true, true) => "read registers and registered datapath",
                (false, false, true) => "read registers",
                _ => "registered datapath",
            };
            let mut what = if r.rom_banks > 1 {
                format!(
                    "{what} (weight ROMs read in {} banks, registered at the read)",
                    r.rom_banks
                )
            } else if r.weight_regs {
                format!("{what} (block-RAM weights registered at the read)")
            } else {
                what.to_string()
            };
            if r.slot_regs {
                what.push_str(", window slots one fire ahead");
            }
            if r.lb_groups > 1 {
                what.push_str(&format!(
                    ", line buffer read in two stages ({} groups)",
                    r.lb_groups
                ));
            }
            if r.mul_regs {
                what.push_str(", multipliers in registered halves");
            }
            if r.data_split > 0 {
                what.push_str(&format!(
                    ", its register after {} level(s) of the lanes' tree",
                    r.data_split
                ));
            }
            s.push_str(&format!(
                "  {}: {what}, {:.2} → {:.2} ns{}\n",
                r.engine,
                r.ns_before,
                r.ns,
                if r.meets { "" } else { " (misses the target)" }
            ));
        }
        if self.row_diffs {
            s.push_str(
                "  every conv and dense engine: row tests from difference registers (same cycles)\n",
            );
        }
        if self.over.is_empty() {
            s.push_str("  every part meets the period\n");
        } else {
            let names: Vec<String> = self
                .over
                .iter()
                .map(|p| {
                    format!(
                        "{} {:.2} ns ({} levels, {} carry)",
                        p.name, p.ns, p.path.levels, p.path.carry
                    )
                })
                .collect();
            s.push_str(&format!(
                "  over the target (no further stage, or none that gains {MIN_GAIN_LEVELS} LUT levels): {}\n",
                names.join(", ")
            ));
        }
        if let Some(t) = self.level_target {
            if self.over_levels.is_empty() {
                s.push_str(&format!(
                    "  every part within the {t}-level target (`inq report` walks the netlist against it)\n"
                ));
            } else {
                let names: Vec<String> = self
                    .over_levels
                    .iter()
                    .map(|p| format!("{} {} levels", p.name, p.path.levels))
                    .collect();
                s.push_str(&format!(
                    "  over the {t}-level target (estimated; `inq report` walks the netlist): {}\n",
                    names.join(", ")
                ));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_what_misses() {
        let fit = ClockFit {
            family: TimingFamily::Xilinx7,
            multipliers: Multipliers::DspBlocks,
            mhz: 200.0,
            period_ns: 5.0,
            trees: vec![TreeStaging {
                engine: "fc".into(),
                levels_per_stage: 3,
                registers: 2,
                ns: 4.5,
                meets: true,
            }],
            rom_regs: vec![RomRegs {
                engine: "conv".into(),
                sched_regs: true,
                data_regs: false,
                read_regs: false,
                weight_regs: false,
                rom_banks: 1,
                slot_regs: false,
                data_split: 0,
                mul_regs: false,
                lb_groups: 1,
                ns_before: 6.1,
                ns: 4.9,
                meets: true,
            }],
            over: vec![],
            level_target: Some(6),
            over_levels: vec![PartTiming {
                name: "conv".into(),
                part: crate::timing::TimedPart::Engine(0),
                path: crate::timing::LogicPath::new(7, 0),
                ns: 4.62,
            }],
            fmax_mhz: 222.2,
            row_diffs: true,
        };
        let s = fit.summary();
        assert!(
            s.contains("fc: 3 adder level(s) per stage, 2 pipeline register(s)"),
            "{s}"
        );
        assert!(
            s.contains("conv: registered schedule flags, 6.10 → 4.90 ns"),
            "{s}"
        );
        assert!(s.contains("every part meets the period"), "{s}");
        assert!(
            s.contains("over the 6-level target (estimated; `inq report` walks the netlist): conv 7 levels"),
            "{s}"
        );
        let banked = ClockFit {
            rom_regs: vec![RomRegs {
                engine: "s3".into(),
                sched_regs: false,
                data_regs: true,
                read_regs: true,
                weight_regs: true,
                rom_banks: 5,
                slot_regs: true,
                data_split: 0,
                mul_regs: false,
                lb_groups: 1,
                ns_before: 7.12,
                ns: 4.04,
                meets: true,
            }],
            ..fit.clone()
        };
        assert!(
            banked.summary().contains(
                "s3: read registers and registered datapath (weight ROMs read in 5 banks, \
                 registered at the read), window slots one fire ahead, 7.12 → 4.04 ns"
            ),
            "{}",
            banked.summary()
        );
        let within = ClockFit {
            over_levels: vec![],
            ..fit
        };
        assert!(
            within
                .summary()
                .contains("every part within the 6-level target"),
            "{}",
            within.summary()
        );
    }
}
