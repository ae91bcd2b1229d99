//! The plan's clock estimate set beside what the tools measured: per engine, the estimated
//! deepest path (`inq_hdl::timing`) against the deepest path of the synthesized netlist
//! (`inq_report::depth`), both in LUT levels, carry steps and nanoseconds on the family; for
//! the whole design, the estimated Fmax against nextpnr's, and the engine nextpnr's critical
//! path ends in.
//!
//! The same for a synthesis of `inq report` ([`synth_depth`]): per engine, the estimate
//! against the mapped netlist's deepest path, in LUT levels of the flow's family, and the
//! design's deepest path against the family's level target.
//!
//! Owns the pairing and the tables. Not here: the estimate's model (`inq_hdl::timing`), the
//! netlist walk and nextpnr's report (`inq_report`), running the tools (`crate::implement`).

use std::path::Path;

use inq_codegen::{FIFO_INSTANCE_PREFIX, OUTPUT_INSTANCE};
use inq_design::Manifest;
use inq_hdl::timing::{self, LogicPath, TimedPart, TimingFamily};
use inq_report::depth::{self, NetlistDepth, PathDepth, TOP_GROUP};
use inq_report::nextpnr::CriticalPath;
use inq_report::yosys::{Flow, SynthReport};
use serde::{Deserialize, Serialize};

/// One part of the design: estimate and netlist.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartClock {
    /// The engine name, `fifo` or `output`.
    pub name: String,
    /// Its instance in the top.
    pub instance: String,
    /// The plan's estimate.
    pub estimate: LogicPath,
    /// Its delay on the family.
    pub estimate_ns: f64,
    /// The deepest path ending in the instance in the synthesized netlist, if walked.
    pub netlist: Option<PathDepth>,
    /// That path's delay by the same delay model.
    pub netlist_ns: Option<f64>,
}

/// The clock of a design: estimate against measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockComparison {
    /// The family of the delay model.
    pub family: TimingFamily,
    /// Every engine, the FIFOs and the output stage.
    pub parts: Vec<PartClock>,
    /// The estimated Fmax (the slowest part's estimate).
    pub estimate_fmax_mhz: f64,
    /// nextpnr's Fmax.
    pub nextpnr_fmax_mhz: f64,
    /// `estimate / nextpnr − 1`, in percent.
    pub error_percent: f64,
    /// nextpnr's critical path.
    pub critical_path: Option<CriticalPath>,
    /// The part nextpnr's critical path ends in.
    pub critical_part: Option<String>,
    /// Why the netlist was not walked, if it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netlist_error: Option<String>,
}

/// The instance of a part in the generated top (a prefix for the FIFOs): what the netlist's
/// registers are grouped by. An engine's is the manifest's (its weight ROMs, `<instance>_…`,
/// fall in its group).
fn instance_of(manifest: &Manifest, part: TimedPart, name: &str) -> String {
    match part {
        TimedPart::Engine(i) => manifest
            .engines
            .get(i)
            .map(|e| e.instance.clone())
            .unwrap_or_else(|| name.to_string()),
        TimedPart::Fifos => FIFO_INSTANCE_PREFIX.to_string(),
        TimedPart::Output => OUTPUT_INSTANCE.to_string(),
    }
}

/// The instance names a netlist's paths are grouped by: every part's (`instance_of`).
pub fn depth_groups(manifest: &Manifest) -> Vec<String> {
    timing::parts(&manifest.design)
        .iter()
        .map(|(part, name)| instance_of(manifest, *part, name))
        .collect()
}

/// The deepest walked path of each group, in the order of `groups`.
fn paths_of(walk: Option<&NetlistDepth>, groups: &[String]) -> Vec<Option<PathDepth>> {
    groups
        .iter()
        .map(|g| walk.and_then(|w| w.groups.get(g)).cloned())
        .collect()
}

/// Compares the estimate of the design in `manifest` on `family` with the netlist at
/// `netlist` (module `top`, the core under `wrapper` when a board top holds it) and nextpnr's
/// Fmax and critical path.
pub fn compare(
    manifest: &Manifest,
    family: TimingFamily,
    netlist: &Path,
    top: &str,
    wrapper: Option<&str>,
    nextpnr_fmax_mhz: f64,
    critical_path: Option<&CriticalPath>,
) -> ClockComparison {
    let est = timing::estimate(&manifest.design, family);
    let groups = depth_groups(manifest);
    let wrappers: Vec<&str> = wrapper.into_iter().collect();
    let walked = depth::walk(netlist, top, &wrappers, &groups, family.carry_weight());
    let (walk, netlist_error) = match walked {
        Ok(w) => (Some(w), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let parts: Vec<PartClock> = est
        .parts
        .iter()
        .zip(&groups)
        .zip(paths_of(walk.as_ref(), &groups))
        .map(|((p, g), found)| PartClock {
            name: p.name.clone(),
            instance: g.clone(),
            estimate: p.path,
            estimate_ns: p.ns,
            netlist_ns: found
                .as_ref()
                .map(|d| LogicPath::new(d.levels, d.carry).ns(family)),
            netlist: found,
        })
        .collect();
    let critical_part = critical_path.map(|cp| {
        let g = depth::group_of(&cp.to, &wrappers, &groups);
        parts
            .iter()
            .zip(&groups)
            .find(|(_, pg)| **pg == g)
            .map(|(p, _)| p.name.clone())
            .unwrap_or_else(|| TOP_GROUP.to_string())
    });
    ClockComparison {
        family,
        estimate_fmax_mhz: est.fmax_mhz,
        nextpnr_fmax_mhz,
        error_percent: if nextpnr_fmax_mhz > 0.0 {
            100.0 * (est.fmax_mhz / nextpnr_fmax_mhz - 1.0)
        } else {
            0.0
        },
        critical_path: critical_path.cloned(),
        critical_part,
        parts,
        netlist_error,
    }
}

/// The comparison as text: one line per part, then the whole design.
pub fn table(c: &ClockComparison) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "clock estimate ({}: LUT levels + carry steps, ns) against the synthesized netlist:",
        c.family.name()
    );
    let _ = writeln!(
        t,
        "  {:<12} {:>14} {:>9} {:>14} {:>9}",
        "part", "estimate", "ns", "netlist", "ns"
    );
    for p in &c.parts {
        let (n, ns) = match (&p.netlist, p.netlist_ns) {
            (Some(d), Some(ns)) => (format!("{} + {}c", d.levels, d.carry), format!("{ns:.1}")),
            _ => ("-".to_string(), "-".to_string()),
        };
        let _ = writeln!(
            t,
            "  {:<12} {:>14} {:>9.1} {:>14} {:>9}",
            p.name,
            format!("{} + {}c", p.estimate.levels, p.estimate.carry),
            p.estimate_ns,
            n,
            ns
        );
    }
    if let Some(e) = &c.netlist_error {
        let _ = writeln!(t, "  (netlist not walked: {e})");
    }
    let _ = write!(
        t,
        "Fmax estimate {:.2} MHz, nextpnr {:.2} MHz ({:+.1}%)",
        c.estimate_fmax_mhz, c.nextpnr_fmax_mhz, c.error_percent
    );
    if let (Some(cp), Some(part)) = (&c.critical_path, &c.critical_part) {
        let _ = write!(
            t,
            "; nextpnr's critical path: {part}, {} + {}c, {:.1} ns ({:.1} ns routing)",
            cp.levels, cp.carry, cp.ns, cp.routing_ns
        );
    }
    t
}

/// One engine's deepest path after a synthesis: the plan's estimate on the flow's family
/// against the mapped netlist (the engine's instance and its weight ROMs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineDepth {
    /// The engine name.
    pub name: String,
    /// The plan's estimate (LUT levels of the family).
    pub estimate: LogicPath,
    /// The deepest path ending in the engine's instances, if any register of it was found.
    pub netlist: Option<PathDepth>,
}

/// Path depths of one synthesis run (`inq report --flows ice40|xilinx`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DepthComparison {
    /// The yosys flow.
    pub flow: Flow,
    /// The family of the estimate.
    pub family: TimingFamily,
    /// Per engine.
    pub engines: Vec<EngineDepth>,
    /// The design's deepest estimated path (engines, FIFOs, output stage).
    pub estimate: LogicPath,
    /// The netlist's deepest path.
    pub netlist: PathDepth,
    /// `netlist.levels − estimate.levels`.
    pub level_error: i64,
    /// The level target of the family, when it has one ([`timing::XILINX_200MHZ_LEVELS`]).
    pub target_levels: Option<u32>,
    /// The netlist's paths deeper than the target, by shape (the walk's
    /// [`inq_report::depth::NetlistDepth::deep`]; empty without a target or when it is met).
    pub deep: Vec<inq_report::depth::DeepPaths>,
    /// How many register inputs end a path deeper than the target.
    pub deep_inputs: usize,
}

/// The LUT-level target of `family`'s timing proxy, when it has one: the family's level
/// target at [`timing::PROXY_TARGET_MHZ`] ([`TimingFamily::level_target`]; 7-series:
/// [`timing::XILINX_200MHZ_LEVELS`]), the one `inq gen` pipelines for by default.
pub fn target_levels(family: TimingFamily) -> Option<u32> {
    family.level_target(timing::PROXY_TARGET_MHZ)
}

/// The family a yosys flow's estimate is made for.
pub fn family_of(flow: Flow) -> Option<TimingFamily> {
    match flow {
        Flow::Generic => None,
        Flow::Ice40 => Some(TimingFamily::Ice40Up),
        Flow::Xilinx | Flow::XilinxNoDsp => Some(TimingFamily::Xilinx7),
    }
}

/// The estimate of the design in `manifest` against the netlist depth of a synthesis run
/// (walked with [`depth_groups`]), if it walked one.
pub fn synth_depth(manifest: &Manifest, synth: &SynthReport) -> Option<DepthComparison> {
    let family = family_of(synth.flow)?;
    let walked = synth.depth.as_ref()?;
    // (`-nodsp`: a multiplier engine's products are logic on the fabric)
    let est = if synth.flow == Flow::XilinxNoDsp {
        timing::estimate_without_dsp(&manifest.design, family)
    } else {
        timing::estimate(&manifest.design, family)
    };
    let groups = depth_groups(manifest);
    // a run limited to some engines (`--engines`, the others black-boxed) compares those only
    let synthesized = |g: &String| !synth.skipped.contains(g);
    let parts: Vec<(&timing::PartTiming, Option<PathDepth>)> = est
        .parts
        .iter()
        .zip(paths_of(Some(walked), &groups))
        .zip(&groups)
        .filter(|((p, _), g)| {
            synth.skipped.is_empty() || (matches!(p.part, TimedPart::Engine(_)) && synthesized(g))
        })
        .map(|(pn, _)| pn)
        .collect();
    let engines = parts
        .iter()
        .filter(|(p, _)| matches!(p.part, TimedPart::Engine(_)))
        .map(|(p, netlist)| EngineDepth {
            name: p.name.clone(),
            estimate: p.path,
            netlist: netlist.clone(),
        })
        .collect();
    let estimate = parts
        .iter()
        .map(|(p, _)| p)
        .max_by(|a, b| a.ns.total_cmp(&b.ns))
        .map(|p| p.path)
        .unwrap_or_default();
    Some(DepthComparison {
        flow: synth.flow,
        family,
        engines,
        estimate,
        netlist: walked.worst.clone(),
        level_error: i64::from(walked.worst.levels) - i64::from(estimate.levels),
        target_levels: target_levels(family),
        deep: walked.deep.clone(),
        deep_inputs: walked.deep_inputs,
    })
}

/// `"[k MUXF7/8] "` when `k` of a walked path's levels are wide-function multiplexers (one
/// function with the LUT in front of them, no net between), else nothing.
fn wide_muxes(p: &PathDepth) -> String {
    if p.wide_muxes == 0 {
        String::new()
    } else {
        format!("[{} MUXF7/8] ", p.wide_muxes)
    }
}

/// The depth comparison as text.
pub fn depth_table(d: &DepthComparison) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "deepest path after {} (LUT levels + carry steps; estimate / netlist):",
        d.flow.name()
    );
    for e in &d.engines {
        let (n, ends) = e.netlist.as_ref().map_or_else(
            || ("-".to_string(), String::new()),
            |p| {
                (
                    format!("{} + {}c", p.levels, p.carry),
                    format!("{}{} → {}", wide_muxes(p), p.from, p.to),
                )
            },
        );
        let _ = writeln!(
            t,
            "  {:<14} {:>10} / {:<10} {ends}",
            e.name,
            format!("{} + {}c", e.estimate.levels, e.estimate.carry),
            n
        );
    }
    let _ = write!(
        t,
        "  design: {} + {}c / {} + {}c ({:+} levels; {}{} → {})",
        d.estimate.levels,
        d.estimate.carry,
        d.netlist.levels,
        d.netlist.carry,
        d.level_error,
        wide_muxes(&d.netlist),
        d.netlist.from,
        d.netlist.to
    );
    if let Some(target) = d.target_levels {
        let _ = write!(
            t,
            "; 200 MHz target {target} levels: {}",
            if d.netlist.levels <= target {
                "met"
            } else {
                "NOT met (`inq gen` pipelines for it unless given `--pipeline-for none`, `--tree-levels` or another family: adder-tree stages of hard-wired engines, read, weight and datapath registers or registered schedule flags of ROM-fed ones; pools, FIFOs and the output stage have no stage to add)"
            }
        );
        if !d.deep.is_empty() {
            let _ = write!(
                t,
                "\n  register inputs deeper than {target} levels: {}, by shape (levels + carry, how many, engine, start → end, the cells on the way){}:",
                d.deep_inputs,
                if d.deep.iter().map(|p| p.count).sum::<usize>() < d.deep_inputs {
                    format!(", the {} deepest shapes", d.deep.len())
                } else {
                    String::new()
                }
            );
            for p in &d.deep {
                let _ = write!(
                    t,
                    "\n    {:>3} + {:<3} ×{:<5} {:<10} {} → {}: {}",
                    p.levels,
                    format!("{}c", p.carry),
                    p.count,
                    p.group,
                    p.from,
                    p.to,
                    p.cells.join(" ")
                );
            }
            if let Some(hint) = wide_function_hint(&d.deep, d.deep_inputs, target) {
                let _ = write!(t, "\n  {hint}");
            }
        }
    }
    t
}

/// When every path over the level target (all `deep_inputs` of them in the listed shapes)
/// goes through wide functions that a mapping without them would make shallow enough, says
/// so. ABC's LUT library in `synth_xilinx`
/// gives LUT7 and LUT8 the unit delay of a LUT6, so it builds 20- to 40-input control cones
/// from them; each LUT8 is LUT6 → MUXF7 → MUXF8, three cells in the walk, where a mapping
/// without wide functions (`synth_xilinx -nowidelut`) needs two LUT levels for its eight
/// inputs. So a path is estimated at one level less per MUXF8 (on the 200 MHz LeNet: 7
/// levels with two MUXF8 walked, 5 measured with `-nowidelut`; docs/performance.md, "The
/// ROM-fed padding test selected, not computed").
pub fn wide_function_hint(
    deep: &[inq_report::depth::DeepPaths],
    deep_inputs: usize,
    target: u32,
) -> Option<String> {
    let muxf8 = |p: &inq_report::depth::DeepPaths| {
        p.cells.iter().filter(|c| c.as_str() == "MUXF8").count() as u32
    };
    let without = deep
        .iter()
        .map(|p| p.levels.saturating_sub(muxf8(p)))
        .max()?;
    let all_listed = deep.iter().map(|p| p.count).sum::<usize>() == deep_inputs;
    (all_listed && deep.iter().all(|p| muxf8(p) > 0) && without <= target).then(|| {
        format!(
            "each of these paths has LUT8s built from MUXF7 and MUXF8 (one level in ABC's delay \
             model, three cells here); mapped without them (`synth_xilinx -nowidelut`, more \
             LUTs) they would be about {without} levels, within the target (estimated: one \
             level less per MUXF8)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use inq_report::depth::DeepPaths;

    fn shape(levels: u32, cells: &[&str]) -> DeepPaths {
        DeepPaths {
            levels,
            cells: cells.iter().map(|c| c.to_string()).collect(),
            count: 1,
            ..DeepPaths::default()
        }
    }

    #[test]
    fn the_wide_function_hint_needs_every_deep_path_to_fit_without_them() {
        let lut8x2 = ["LUT6", "MUXF7", "MUXF8", "LUT6", "MUXF7", "MUXF8", "LUT5"];
        // 7 cells with two MUXF8: about 5 levels without wide functions
        let hint = wide_function_hint(&[shape(7, &lut8x2)], 1, 6).expect("a hint");
        assert!(hint.contains("about 5 levels"), "{hint}");
        // a path without MUXF8 gets no such promise, nor one that stays too deep
        let plain = ["LUT6", "LUT6", "LUT6", "LUT6", "LUT6", "LUT6", "LUT6"];
        assert_eq!(
            wide_function_hint(&[shape(7, &lut8x2), shape(7, &plain)], 2, 6),
            None
        );
        assert_eq!(wide_function_hint(&[shape(7, &lut8x2)], 1, 4), None);
        assert_eq!(wide_function_hint(&[], 0, 6), None);
        // nor when shapes were left out of the listing
        assert_eq!(wide_function_hint(&[shape(7, &lut8x2)], 2, 6), None);
    }
}
