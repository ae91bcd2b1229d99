//! `inq report`: a design's resources two ways — the plan's analytic estimate and yosys
//! synthesis of its RTL — per engine and in total, beside the throughput the simulator
//! measures, and the plan's deepest paths beside the netlist's (`crate::clock`). Owns the
//! assembly of the two; yosys itself is `inq-report`, the estimate `inq-hdl`.

use std::collections::BTreeMap;
use std::path::Path;

use inq_design::DesignFolder;
use inq_report::yosys::{self, Flow, RamStyle, Resources, SynthOptions, SynthReport};
use serde::{Deserialize, Serialize};

use crate::error::{Context, FlowError};

/// One engine's figures.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct EngineRow {
    /// Engine index.
    pub index: usize,
    /// Node name (forks: `<node>_fork`).
    pub name: String,
    /// Op (`conv`, `add`, `fork`, ...).
    pub op: String,
    /// Instance in the top.
    pub instance: String,
    /// PE × SIMD (0 without lanes).
    pub lanes: usize,
    /// Analytic cycles per image.
    pub cycles_per_image: u64,
    /// The plan's estimate.
    pub analytic: inq_hdl::Resources,
    /// Synthesis results per flow (absent when the engine was not synthesized).
    pub synth: BTreeMap<String, Resources>,
    /// (analytic LUTs − xilinx LUTs) / xilinx LUTs, when synthesized for xilinx; with only
    /// `xilinx-nodsp`, against that flow and the estimate without DSP blocks.
    pub lut_error: Option<f64>,
}

/// What `inq report` prints.
#[derive(Serialize, Deserialize, Debug)]
pub struct Report {
    /// The design folder.
    pub dir: String,
    /// Clock in MHz.
    pub clock_mhz: f64,
    /// Interval (cycles per image, steady state) predicted by the plan.
    pub plan_interval_cycles: u64,
    /// Steady-state interval measured by the cycle-accurate simulator (4 images, no stalls).
    pub interval_cycles: f64,
    /// First-input-to-last-output latency of the first image, from the simulator.
    pub latency_cycles: u64,
    /// Images per second at the clock (simulated interval).
    pub images_per_second: f64,
    /// Per engine.
    pub engines: Vec<EngineRow>,
    /// Analytic totals (engines, FIFOs and the output stage).
    pub analytic_total: inq_hdl::Resources,
    /// Synthesis per flow (totals, top-level glue, seconds).
    pub synth: Vec<SynthReport>,
    /// Analytic LUTs vs `synth_xilinx` LUTs (logic + 4 per LUT-RAM cell): the whole design when
    /// every engine was synthesized, else over the synthesized engines (with only
    /// `xilinx-nodsp`: against that flow and the estimate without DSP blocks).
    pub lut_error: Option<f64>,
    /// Per mapped flow (iCE40, Xilinx): the plan's deepest paths against the netlist's.
    #[serde(default)]
    pub depth: Vec<crate::clock::DepthComparison>,
}

/// LUTs as the resource model counts them: logic LUTs plus 4 per LUT-RAM cell (RAM64M/RAM32M).
pub fn xilinx_luts(r: &Resources) -> u64 {
    r.luts + 4 * r.lutram
}

/// The flow the LUT estimate is compared with: `synth_xilinx` when it ran, else `synth_xilinx
/// -nodsp` (against the no-DSP estimate, [`estimated_luts`]); none without a Xilinx flow.
fn lut_error_flow(flows: &[Flow]) -> Option<Flow> {
    [Flow::Xilinx, Flow::XilinxNoDsp]
        .into_iter()
        .find(|f| flows.contains(f))
}

/// The plan's LUT estimate for `flow`: with `-nodsp` the multipliers the estimate puts in DSP
/// blocks are logic (`Resources::soft_mul_luts`).
fn estimated_luts(r: &inq_hdl::Resources, flow: Option<Flow>) -> u64 {
    if flow == Some(Flow::XilinxNoDsp) {
        r.luts + r.soft_mul_luts
    } else {
        r.luts
    }
}

/// The plan's memory decisions for the Xilinx flows: `ram_style = "distributed"` on the
/// line-buffer RAMs the plan keeps in LUT-RAM where yosys's cost table would choose block RAM
/// (`inq_hdl::resources::LineBuffer::xilinx_ram_style`, `docs/performance.md`), so that the
/// synthesized block RAM is the plan's. Empty for the other families.
pub fn ram_styles(folder: &DesignFolder, flow: Flow) -> Vec<RamStyle> {
    if !matches!(flow, Flow::Xilinx | Flow::XilinxNoDsp) {
        return Vec::new();
    }
    let design = folder.design();
    folder
        .manifest
        .engines
        .iter()
        .filter_map(|d| {
            let (memories, style) = design.engines.get(d.index)?.xilinx_ram_style()?;
            Some(RamStyle {
                instance: d.instance.clone(),
                memories: memories.to_string(),
                style: style.to_string(),
            })
        })
        .collect()
}

/// Builds the report for a design folder; `engines` limits synthesis to these engines
/// (instance names, engine names or engine indices, the others black-boxed); `progress` gets
/// one line per synthesis pass.
pub fn build(
    dir: &Path,
    flows: &[Flow],
    engines: Option<&[String]>,
    mut progress: impl FnMut(&str),
) -> Result<Report, FlowError> {
    let folder = DesignFolder::load(dir)?;
    let manifest = &folder.manifest;
    let only: Option<Vec<String>> = engines.map(|list| {
        list.iter()
            .map(|e| match e.parse::<usize>() {
                Ok(i) => manifest
                    .engines
                    .get(i)
                    .map(|d| d.instance.clone())
                    .unwrap_or_else(|| e.clone()),
                // an engine's name (`conv1`) stands for its instance (`u_e0_conv1`)
                Err(_) => manifest
                    .engines
                    .iter()
                    .find(|d| &d.name == e)
                    .map(|d| d.instance.clone())
                    .unwrap_or_else(|| e.clone()),
            })
            .collect()
    });
    let run_dir = folder.rtl_dir();
    let files = folder.rtl_file_names();
    let mut synth = Vec::new();
    let logs = folder.logs_dir();
    for &flow in flows {
        let opts = SynthOptions {
            only: only.clone(),
            work_dir: None,
            log_dir: Some(logs.clone()),
            ram_styles: ram_styles(&folder, flow),
            depth_groups: Some(crate::clock::depth_groups(manifest)),
            // the paths that miss the family's level target, when it has one
            deep_paths_over: crate::clock::family_of(flow).and_then(crate::clock::target_levels),
        };
        let r = yosys::synthesize(&run_dir, &files, &manifest.top, flow, &opts, &mut progress);
        // the logs it wrote (kept after a failure too) become the folder's files (best effort:
        // a log that cannot be recorded stays a file the next `inq gen` keeps)
        let written: Vec<String> = yosys::log_names(flow)
            .iter()
            .map(|name| format!("logs/{name}"))
            .filter(|rel| folder.dir.join(rel).is_file())
            .collect();
        let _ = inq_design::record_files(&folder.dir, &written);
        synth.push(r.ctx(|| format!("synthesizing {} for {}", dir.display(), flow.name()))?);
    }
    let mut rows = Vec::new();
    let (mut est_sum, mut syn_sum) = (0u64, 0u64);
    let error_flow = lut_error_flow(flows);
    for e in &manifest.engines {
        // An engine is its instance plus its weight-ROM instances `<instance>_rom<p>`.
        let rom_prefix = format!("{}_rom", e.instance);
        let mut per_flow = BTreeMap::new();
        for r in &synth {
            let mut sum: Option<Resources> = None;
            for (name, i) in &r.instances {
                if *name == e.instance || name.starts_with(&rom_prefix) {
                    sum.get_or_insert_with(Resources::default)
                        .add(&i.resources, 1);
                }
            }
            if let Some(x) = sum {
                per_flow.insert(r.flow.name().to_string(), x);
            }
        }
        let est = estimated_luts(&e.resources, error_flow);
        let lut_error = error_flow
            .and_then(|f| per_flow.get(f.name()))
            .map(xilinx_luts)
            .filter(|&l| l > 0)
            .map(|l| {
                est_sum += est;
                syn_sum += l;
                (est as f64 - l as f64) / l as f64
            });
        rows.push(EngineRow {
            index: e.index,
            name: e.name.clone(),
            op: e.op.clone(),
            instance: e.instance.clone(),
            lanes: e.pe * e.simd,
            cycles_per_image: e.cycles_per_image,
            analytic: e.resources.clone(),
            synth: per_flow,
            lut_error,
        });
    }
    let design = folder.design();
    let analytic_total = design.design_resources();
    // Whole design: every engine, FIFO and the output stage, against the synthesized total.
    let total_est = estimated_luts(&analytic_total, error_flow);
    let total_error = synth
        .iter()
        .find(|r| Some(r.flow) == error_flow)
        .filter(|r| r.skipped.is_empty())
        .map(|r| xilinx_luts(&r.total))
        .filter(|&l| l > 0)
        .map(|l| (total_est as f64 - l as f64) / l as f64);
    // (also of a run limited to some engines: then of those engines only)
    let depth = synth
        .iter()
        .filter_map(|r| crate::clock::synth_depth(manifest, r))
        .collect();
    let sim = simulated_timing(&folder)?;
    let interval = sim.interval_cycles.unwrap_or(sim.total_cycles as f64);
    Ok(Report {
        dir: dir.display().to_string(),
        clock_mhz: manifest.clock_mhz,
        plan_interval_cycles: manifest.performance.interval_cycles,
        interval_cycles: interval,
        latency_cycles: sim.latency_cycles,
        images_per_second: manifest.clock_mhz * 1e6 / interval.max(1.0),
        engines: rows,
        analytic_total,
        synth,
        lut_error: total_error
            .or((syn_sum > 0).then(|| (est_sum as f64 - syn_sum as f64) / syn_sum as f64)),
        depth,
    })
}

/// Throughput and latency from the simulator: four random images, no stalls.
pub(crate) fn simulated_timing(folder: &DesignFolder) -> Result<inq_sim::SimReport, FlowError> {
    let images: Vec<Vec<i64>> = (0..4)
        .map(|i| inq_model::random::random_input(&folder.model, i))
        .collect();
    Ok(inq_sim::simulate(
        folder.design(),
        &images,
        &inq_sim::SimOptions::default(),
    )?)
}

/// The human table of a report.
pub fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let flows: Vec<&str> = r.synth.iter().map(|x| x.flow.name()).collect();
    // (the estimate of the flow `LUT err` compares with)
    let error_flow = lut_error_flow(&r.synth.iter().map(|x| x.flow).collect::<Vec<_>>());
    let _ = write!(
        s,
        "{:>3} {:<14} {:<8} {:>6} {:>11} {:>9} {:>9}",
        "#", "node", "op", "lanes", "cycles/img", "LUT est", "FF est"
    );
    for f in &flows {
        let _ = write!(s, " {:>22}", format!("{f} LUT/FF/BRAM/DSP"));
    }
    let _ = writeln!(s, " {:>8}", "LUT err");
    for e in &r.engines {
        let _ = write!(
            s,
            "{:>3} {:<14} {:<8} {:>6} {:>11} {:>9} {:>9}",
            e.index,
            e.name.chars().take(14).collect::<String>(),
            e.op.chars().take(8).collect::<String>(),
            e.lanes,
            e.cycles_per_image,
            estimated_luts(&e.analytic, error_flow),
            e.analytic.ff_bits
        );
        for f in &flows {
            let cell = e
                .synth
                .get(*f)
                .map(|x| format!("{}/{}/{}/{}", xilinx_luts(x), x.ffs, x.bram, x.dsp))
                .unwrap_or_else(|| "-".into());
            let _ = write!(s, " {cell:>22}");
        }
        let err = e
            .lut_error
            .map(|x| format!("{:+.0}%", 100.0 * x))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(s, " {err:>8}");
    }
    for x in &r.synth {
        let _ = writeln!(
            s,
            "{}: total {} LUT, {} FF, {} carry, {} BRAM, {} DSP, {} LUTRAM; {} mul/div cells, {} latches ({:.1} s)",
            x.flow.name(),
            x.total.luts,
            x.total.ffs,
            x.total.carry,
            x.total.bram,
            x.total.dsp,
            x.total.lutram,
            x.total.arith_cells,
            x.total.latches,
            x.seconds
        );
        if !x.ram_styles.is_empty() {
            let list: Vec<String> = x
                .ram_styles
                .iter()
                .map(|m| format!("{}/{} {}", m.instance, m.memories, m.style))
                .collect();
            let _ = writeln!(s, "  ram_style from the plan: {}", list.join(", "));
        }
        if let Some(log) = &x.log {
            let _ = writeln!(s, "  full log: {}", log.display());
        }
    }
    if let Some(e) = r.lut_error {
        let (name, what) = match error_flow {
            Some(Flow::XilinxNoDsp) => (
                "synth_xilinx -nodsp",
                "analytic LUT estimate without DSP blocks",
            ),
            _ => ("synth_xilinx", "analytic LUT estimate"),
        };
        let _ = writeln!(s, "{what} vs {name}: {:+.1}%", 100.0 * e);
    }
    for d in &r.depth {
        let _ = writeln!(s, "{}", crate::clock::depth_table(d));
    }
    let _ = write!(
        s,
        "throughput (simulated): {:.0} cycles/image (plan {}) → {:.1} images/s at {} MHz; latency {} cycles",
        r.interval_cycles, r.plan_interval_cycles, r.images_per_second, r.clock_mhz, r.latency_cycles
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lut_error_compares_the_estimate_of_the_flow_it_is_taken_against() {
        assert_eq!(
            lut_error_flow(&[Flow::Ice40, Flow::XilinxNoDsp, Flow::Xilinx]),
            Some(Flow::Xilinx)
        );
        assert_eq!(
            lut_error_flow(&[Flow::XilinxNoDsp]),
            Some(Flow::XilinxNoDsp)
        );
        assert_eq!(lut_error_flow(&[Flow::Ice40, Flow::Generic]), None);
        let r = inq_hdl::Resources {
            luts: 100,
            soft_mul_luts: 40,
            ..Default::default()
        };
        assert_eq!(estimated_luts(&r, Some(Flow::Xilinx)), 100);
        assert_eq!(estimated_luts(&r, Some(Flow::XilinxNoDsp)), 140);
        assert_eq!(estimated_luts(&r, None), 100);
    }
}
