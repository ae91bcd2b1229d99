//! The plan's clock estimate: the deepest register-to-register path of every engine, in LUT
//! levels and carry steps, and what that costs in nanoseconds on an FPGA family.
//!
//! Owns the path model of the parts of a design that are not engines (FIFOs, the output
//! stage), the family delay models ([`TimingFamily`]) and the whole-design estimate
//! ([`estimate`]). Each engine kind states its own path in its file
//! ([`crate::ops::EngineOp::logic_path`]). Does not own measurement: walking a synthesized
//! netlist and reading nextpnr's report belong to `inq-report`, and the comparison of the
//! two to `inq-flow` (`inq impl`).
//!
//! The model (`docs/hardware.md` §12) counts, per engine, the chain its template evaluates in
//! one cycle — for a matrix-vector unit or a pooling unit: the row-availability comparison,
//! `fire`, the next window counters, the next line-buffer address and the bank's forwarding
//! comparison — as LUT4 levels plus carry steps of its adders and comparators. The level
//! counts were taken from the mapped netlists of the designs in `docs/performance.md`
//! (`synth_ice40`, walked by `inq_report::depth`), and the delays per level and per carry
//! step from nextpnr-ice40's critical paths of the same designs.

use serde::{Deserialize, Serialize};

use crate::design::Design;

/// A register-to-register path: LUT levels and carry steps between two registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogicPath {
    /// LUT levels (LUT4 on iCE40).
    pub levels: u32,
    /// Carry steps (one `SB_CARRY` bit each).
    pub carry: u32,
    /// Wide selects on the path (a window address select feeding a bank's read decoding)
    /// that 7-series maps to LUT6 + MUXF7 + MUXF8, each one level deeper in the walked
    /// netlist than its LUT4 count gives; nothing on iCE40.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub wide_selects: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl LogicPath {
    /// A path of `levels` LUT levels and `carry` carry steps.
    pub const fn new(levels: u32, carry: u32) -> Self {
        LogicPath {
            levels,
            carry,
            wide_selects: 0,
        }
    }
    /// The same path with `n` wide selects ([`LogicPath::wide_selects`]).
    pub const fn with_wide_selects(self, n: u32) -> Self {
        LogicPath {
            wide_selects: n,
            ..self
        }
    }
    /// A path of LUT4 levels (as the engines state them) as it maps on `family`.
    pub fn on(self, family: TimingFamily) -> Self {
        let wide = match family {
            TimingFamily::Xilinx7 => self.wide_selects,
            TimingFamily::Ice40Up | TimingFamily::Ice40Hx => 0,
        };
        LogicPath::new(family.lut_levels(self.levels) + wide, self.carry)
    }
    /// `levels + carry_weight · carry` on `family`: what orders paths by delay.
    pub fn weight(&self, family: TimingFamily) -> f64 {
        f64::from(self.levels) + family.carry_weight() * f64::from(self.carry)
    }
    /// Its delay in nanoseconds on `family`, clock-to-output and setup included.
    pub fn ns(&self, family: TimingFamily) -> f64 {
        let d = family.delays();
        d.clk_to_q + f64::from(self.levels) * d.level + f64::from(self.carry) * d.carry + d.setup
    }
}

/// Delays of one family, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Delays {
    /// Register clock to output.
    pub clk_to_q: f64,
    /// One LUT level with the routing into the next one (an average over routed designs).
    pub level: f64,
    /// One carry step.
    pub carry: f64,
    /// Register setup, with the last net.
    pub setup: f64,
}

/// Where a design's multipliers are mapped (ROM-fed int8 engines, `MacKind::Multiply`):
/// what the clock estimate assumes and the planner pipelines for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Multipliers {
    /// DSP blocks (`synth_xilinx`, `synth_ice40 -dsp`): a product and its add are inside the
    /// block, off the LUT levels.
    #[default]
    DspBlocks,
    /// Logic (`synth_xilinx -nodsp`, or a part without DSP blocks): LUTs and carry chains.
    Logic,
}

/// An FPGA family of the clock estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimingFamily {
    /// iCE40 UltraPlus (`up3k`, `up5k`) and LP parts: the slow, low-power fabric.
    Ice40Up,
    /// iCE40 HX parts (`hx1k`, `hx4k`, `hx8k`).
    Ice40Hx,
    /// Xilinx 7-series (LUT6, CARRY4), as yosys `synth_xilinx` maps it. Levels are measured
    /// on the netlist; the delays are datasheet-order figures for a −1 part, not calibrated
    /// here (no Vivado): use the level count.
    Xilinx7,
}

impl TimingFamily {
    /// The delay model, calibrated on nextpnr-ice40 0.4's critical paths of the designs in
    /// `docs/performance.md` (iCE40 section).
    pub fn delays(self) -> Delays {
        match self {
            // nextpnr's critical paths: 1.4 ns clock to output, LUT 0.9–1.3 ns plus 1.8–4.2 ns
            // of routing per level (3.3–3.8 ns on average), 0.3 ns per carry bit.
            TimingFamily::Ice40Up => Delays {
                clk_to_q: 1.4,
                level: 3.45,
                carry: 0.3,
                setup: 0.0,
            },
            // HX8K: 0.54 ns clock to output, 0.47 ns setup, 1.1–1.6 ns per level, 0.13 ns per
            // carry bit.
            TimingFamily::Ice40Hx => Delays {
                clk_to_q: 0.54,
                level: 1.2,
                carry: 0.13,
                setup: 0.47,
            },
            // LUT6 ≈ 0.12 ns plus ≈ 0.45 ns of net, CARRY4 ≈ 0.1–0.3 ns per 4 bits.
            TimingFamily::Xilinx7 => Delays {
                clk_to_q: 0.46,
                level: 0.58,
                carry: 0.03,
                setup: 0.1,
            },
        }
    }
    /// The LUT levels on this family of a chain of `lut4_levels` LUT4 levels (what the
    /// engines state): the same on iCE40; on Xilinx 7-series `round(0.95 · levels)`: a LUT6
    /// absorbs more of a chain, but the LUT-RAM line buffers' read multiplexers add levels
    /// (fitted on the deepest paths of the four designs in `docs/performance.md`, "Timing
    /// proxy", `synth_xilinx` with the plan's memory mapping).
    pub fn lut_levels(self, lut4_levels: u32) -> u32 {
        match self {
            TimingFamily::Ice40Up | TimingFamily::Ice40Hx => lut4_levels,
            TimingFamily::Xilinx7 => (f64::from(lut4_levels) * 0.95).round() as u32,
        }
    }
    /// The deepest path a design may have on this family to meet `mhz` (the level budget
    /// after clock-to-output, setup and `carry` carry steps).
    pub fn level_budget(self, mhz: f64, carry: u32) -> u32 {
        let d = self.delays();
        let left = 1000.0 / mhz - d.clk_to_q - d.setup - f64::from(carry) * d.carry;
        (left / d.level).floor().max(0.0) as u32
    }
    /// The LUT-level target at `mhz` on this family, when it has one: on 7-series
    /// `level_budget(mhz, XILINX_TARGET_CARRY)` (6 at 200 MHz, what `inq report` compares the
    /// walked netlist with); none on iCE40, whose estimate is checked in nanoseconds only.
    pub fn level_target(self, mhz: f64) -> Option<u32> {
        match self {
            TimingFamily::Xilinx7 => Some(self.level_budget(mhz, XILINX_TARGET_CARRY)),
            TimingFamily::Ice40Up | TimingFamily::Ice40Hx => None,
        }
    }
    /// The clock the planner pipelines for on this family unless told otherwise (`inq gen
    /// --pipeline-for`, default 7-series): on 7-series the proxy's target clock
    /// [`PROXY_TARGET_MHZ`] (the 6-level target), or `clock_mhz` when that is faster; on
    /// iCE40, which has no level target, `clock_mhz`.
    pub fn default_pipeline_mhz(self, clock_mhz: f64) -> f64 {
        match self {
            TimingFamily::Xilinx7 => clock_mhz.max(PROXY_TARGET_MHZ),
            TimingFamily::Ice40Up | TimingFamily::Ice40Hx => clock_mhz,
        }
    }
    /// The family of an iCE40 part name (`up5k`, `hx8k`, `lp1k`, ...).
    pub fn of_ice40_part(part: &str) -> Self {
        if part.starts_with("hx") {
            TimingFamily::Ice40Hx
        } else {
            TimingFamily::Ice40Up
        }
    }
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            TimingFamily::Ice40Up => "iCE40 UP/LP",
            TimingFamily::Ice40Hx => "iCE40 HX",
            TimingFamily::Xilinx7 => "Xilinx 7-series",
        }
    }
    /// How much a carry step weighs against a LUT level (for choosing the deepest path in a
    /// netlist walk).
    pub fn carry_weight(self) -> f64 {
        let d = self.delays();
        d.carry / d.level
    }
}

/// The path of a FIFO between engines (`inq_fifo`): the producer's `out_valid` and the
/// consumer's `in_ready` (a comparison with a registered row limit in `inq_mvu`) into the
/// FIFO's write and count logic (5–7 levels in the walked netlists of the default LeNet, the
/// `up5k` preset and the dense test design; 9 + 10c before the registered row limits).
pub const FIFO_PATH: LogicPath = LogicPath::new(6, 6);
/// The carry steps a 7-series level target allows for (about four CARRY4 cells on a path).
pub const XILINX_TARGET_CARRY: u32 = 16;
/// The clock `inq report`'s timing proxy checks every design against.
pub const PROXY_TARGET_MHZ: f64 = 200.0;
/// The level target of `inq report`'s Xilinx timing proxy: what a 7-series −1 part meets at
/// 200 MHz by [`TimingFamily::Xilinx7`]'s delays with [`XILINX_TARGET_CARRY`] carry steps on
/// the path (`level_budget(200.0, 16)` = 6).
pub const XILINX_200MHZ_LEVELS: u32 = 6;
/// The path of the output stage (`inq_out`) for output words of `width` bits: the argmax
/// comparison, a carry chain over the word, into the best value's enable (the `up5k` preset
/// on iCE40, 20-bit words: 4 + 20c walked, and nextpnr's critical path once its engines
/// were pipelined, 5 + 20c; docs/performance.md, "Pipelined by default").
pub fn output_path(width: u32) -> LogicPath {
    LogicPath::new(3, width)
}

/// A part of a design with a clock estimate of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimedPart {
    /// The engine of this index.
    Engine(usize),
    /// The FIFOs between engines (one estimate for all).
    Fifos,
    /// The output stage.
    Output,
}

/// One part of a design and its estimated path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartTiming {
    /// The engine name (`conv1`), `fifo` for the FIFOs or `output` for the output stage.
    pub name: String,
    /// Which part.
    pub part: TimedPart,
    /// The estimated path.
    pub path: LogicPath,
    /// Its delay on the family.
    pub ns: f64,
}

/// The clock estimate of a design on one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingEstimate {
    /// The family.
    pub family: TimingFamily,
    /// Every engine, then the FIFOs and the output stage.
    pub parts: Vec<PartTiming>,
    /// The slowest part's delay.
    pub worst_ns: f64,
    /// `1000 / worst_ns`.
    pub fmax_mhz: f64,
}

/// The parts of `design` that have an estimate, with their display names: every engine, the
/// FIFOs (when there are streams) and the output stage.
pub fn parts(design: &Design) -> Vec<(TimedPart, String)> {
    let engines = design
        .engines
        .iter()
        .enumerate()
        .map(|(i, e)| (TimedPart::Engine(i), e.name.clone()));
    let fifos = (!design.streams.is_empty()).then(|| (TimedPart::Fifos, "fifo".to_string()));
    engines
        .chain(fifos)
        .chain(std::iter::once((TimedPart::Output, "output".to_string())))
        .collect()
}

/// Estimates every part's deepest path and the design's Fmax on `family`.
pub fn estimate(design: &Design, family: TimingFamily) -> TimingEstimate {
    estimate_with(design, family, true)
}

/// [`estimate`] with the multipliers in logic instead of DSP blocks (`synth_xilinx -nodsp`;
/// [`crate::ops::EngineOp::logic_path_without_dsp`]).
pub fn estimate_without_dsp(design: &Design, family: TimingFamily) -> TimingEstimate {
    estimate_with(design, family, false)
}

/// [`estimate`] or [`estimate_without_dsp`], as `multipliers` says.
pub fn estimate_for(
    design: &Design,
    family: TimingFamily,
    multipliers: Multipliers,
) -> TimingEstimate {
    estimate_with(design, family, multipliers == Multipliers::DspBlocks)
}

fn estimate_with(design: &Design, family: TimingFamily, dsp: bool) -> TimingEstimate {
    let parts: Vec<PartTiming> = parts(design)
        .into_iter()
        .map(|(part, name)| {
            let lut4 = match part {
                TimedPart::Engine(i) => {
                    let e = &design.engines[i];
                    if dsp {
                        e.op().logic_path(&e.io, family)
                    } else {
                        e.op().logic_path_without_dsp(&e.io, family)
                    }
                }
                TimedPart::Fifos => FIFO_PATH,
                TimedPart::Output => output_path(design.output.width),
            };
            let path = lut4.on(family);
            PartTiming {
                name,
                part,
                path,
                ns: path.ns(family),
            }
        })
        .collect();
    let worst_ns = parts.iter().map(|p| p.ns).fold(0.0, f64::max);
    TimingEstimate {
        family,
        parts,
        worst_ns,
        fmax_mhz: if worst_ns > 0.0 {
            1000.0 / worst_ns
        } else {
            0.0
        },
    }
}

impl TimingEstimate {
    /// The slowest part.
    pub fn worst(&self) -> Option<&PartTiming> {
        self.parts.iter().max_by(|a, b| a.ns.total_cmp(&b.ns))
    }
}

/// `⌈log2(n)⌉` for `n ≥ 1` (0 for 1).
pub(crate) fn log2_ceil(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_with_levels_and_carry() {
        let f = TimingFamily::Ice40Up;
        let a = LogicPath::new(10, 0).ns(f);
        let b = LogicPath::new(11, 0).ns(f);
        let c = LogicPath::new(10, 10).ns(f);
        assert!((b - a - f.delays().level).abs() < 1e-9);
        assert!((c - a - 10.0 * f.delays().carry).abs() < 1e-9);
        assert!(TimingFamily::Ice40Hx.delays().level < f.delays().level);
        assert_eq!(TimingFamily::of_ice40_part("hx8k"), TimingFamily::Ice40Hx);
        assert_eq!(TimingFamily::of_ice40_part("up5k"), TimingFamily::Ice40Up);
        assert_eq!(log2_ceil(1), 0);
        assert_eq!(log2_ceil(2), 1);
        assert_eq!(log2_ceil(33), 6);
        assert_eq!(TimingFamily::Xilinx7.lut_levels(16), 15);
        assert_eq!(TimingFamily::Ice40Up.lut_levels(16), 16);
        assert_eq!(
            TimingFamily::Xilinx7.level_budget(200.0, XILINX_TARGET_CARRY),
            XILINX_200MHZ_LEVELS
        );
        assert_eq!(
            TimingFamily::Xilinx7.level_target(PROXY_TARGET_MHZ),
            Some(XILINX_200MHZ_LEVELS)
        );
        assert_eq!(TimingFamily::Ice40Up.level_target(200.0), None);
        assert_eq!(
            TimingFamily::Xilinx7.default_pipeline_mhz(100.0),
            PROXY_TARGET_MHZ
        );
        assert_eq!(TimingFamily::Xilinx7.default_pipeline_mhz(250.0), 250.0);
        assert_eq!(TimingFamily::Ice40Up.default_pipeline_mhz(40.0), 40.0);
    }
}
