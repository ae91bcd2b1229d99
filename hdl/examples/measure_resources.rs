//! Re-measures the calibration designs of the resource model with yosys `synth_xilinx` and
//! writes `hdl/tests/data/resources_xilinx.json` (`docs/hardware.md` §10):
//!
//! * `cargo run -p inq-hdl --example measure_resources -- hdl/tests/data/resources_xilinx.json [CASE...]`
//!   synthesizes every case (or the named ones; the others keep their entry in the file) and
//!   prints the estimate beside the measurement (~12 min for all on 2 cores).
//! * `... -- FILE --compare` prints the estimate beside the committed measurement, engine by
//!   engine (no yosys; `INQ_TERMS=1` adds the terms of every estimate).
//! * `... -- DIR --gen CASE...` only generates the design folders `DIR/CASE`.
//!
//! Each case is planned, generated with `inq-codegen` into a temporary folder (kept when
//! `INQ_MEASURE_KEEP` is set) and synthesized whole (`synth_xilinx -top inq_top`, hierarchy
//! kept, so every top-level instance has its own cell counts); an engine's cells are those of
//! its instance and of its weight-ROM instances `<instance>_rom<p>`.

#[path = "../tests/common/resource_cases.rs"]
mod resource_cases;

use std::collections::BTreeMap;
use std::path::Path;

use inq_report::yosys::{self, Flow, SynthOptions};
use resource_cases::*;

fn measure(case: &Case) -> Result<MeasuredCase, Box<dyn std::error::Error>> {
    let design = case.design();
    let tmp =
        std::env::temp_dir().join(format!("inq-measure-{}-{}", std::process::id(), case.name));
    let out = tmp.join("design");
    let manifest = inq_codegen::generate(&design, &case.model, &out, &Default::default())?;
    let run_dir = out.join(&manifest.run_dir);
    let files: Vec<String> = manifest
        .rtl_files
        .iter()
        .map(|f| f.strip_prefix("rtl/").unwrap_or(f).to_string())
        .collect();
    let work = tmp.join("yosys");
    let rep = yosys::synthesize(
        &run_dir,
        &files,
        &manifest.top,
        Flow::Xilinx,
        &SynthOptions {
            only: None,
            work_dir: Some(work.clone()),
            log_dir: None,
            depth_groups: None,
            deep_paths_over: None,
            ram_styles: xilinx_ram_styles(
                &design,
                manifest
                    .engines
                    .iter()
                    .map(|e| (e.index, e.instance.as_str())),
            ),
        },
        |_| {},
    )?;
    let stat: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("stat.json"))?)?;
    let mods = yosys::stat_modules(&stat);
    let mut per_inst: BTreeMap<String, Cells> = rep
        .instances
        .iter()
        .map(|(inst, ir)| (inst.clone(), yosys::primitive_cells(&ir.module, &mods)))
        .collect();
    let mut engines = Vec::new();
    for ed in &manifest.engines {
        let mut cells = Cells::new();
        let rom_prefix = format!("{}_rom", ed.instance);
        let names: Vec<String> = per_inst
            .keys()
            .filter(|k| {
                **k == ed.instance
                    || k.strip_prefix(&rom_prefix)
                        .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
            })
            .cloned()
            .collect();
        for n in names {
            if let Some(c) = per_inst.remove(&n) {
                for (t, v) in c {
                    *cells.entry(t).or_default() += v;
                }
            }
        }
        engines.push(MeasuredEngine {
            index: ed.index,
            instance: ed.instance.clone(),
            cells,
        });
    }
    if std::env::var_os("INQ_MEASURE_KEEP").is_some() {
        eprintln!("  kept {}", tmp.display());
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(MeasuredCase {
        name: case.name.to_string(),
        design_hash: manifest.design_hash,
        seconds: (rep.seconds * 10.0).round() / 10.0,
        engines,
        other: per_inst,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: measure_resources OUT.json [CASE...]")?;
    let wanted: Vec<String> = args.collect();
    if wanted.first().map(String::as_str) == Some("--gen") {
        // measure_resources OUT_DIR --gen CASE: only generate the design folder.
        for case in cases() {
            if wanted[1..].iter().any(|w| w == case.name) {
                inq_codegen::generate(
                    &case.design(),
                    &case.model,
                    Path::new(&out).join(case.name).as_path(),
                    &Default::default(),
                )?;
            }
        }
        return Ok(());
    }
    if wanted.first().map(String::as_str) == Some("--compare") {
        let data: Measurements = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
        compare(&data);
        return Ok(());
    }
    let version = std::process::Command::new("yosys").arg("-V").output()?;
    let mut data = match std::fs::read_to_string(&out) {
        Ok(t) => serde_json::from_str::<Measurements>(&t)?,
        Err(_) => Measurements {
            yosys: String::new(),
            command: String::new(),
            cases: Vec::new(),
        },
    };
    data.yosys = String::from_utf8_lossy(&version.stdout).trim().to_string();
    data.command = "read_verilog -defer <rtl_files>; hierarchy -top inq_top; synth_xilinx -top inq_top; stat -json (run in the design's rtl folder)".into();
    for case in cases() {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == case.name) {
            continue;
        }
        eprintln!("{}: synthesizing ...", case.name);
        let m = measure(&case)?;
        let design = case.design();
        let mut tot_m = Summary::default();
        for (e, me) in design.engines.iter().zip(&m.engines) {
            let s = summarize(&me.cells);
            tot_m.add(&s);
            eprintln!(
                "  e{} {:<10} est {:>6} LUTs | yosys {:>6} logic + {:>5} ram = {:>6} ({:+.0}%), ff {} est {}, carry4 {}, bram18 {}",
                me.index,
                e.op,
                e.resources.luts,
                s.logic_luts,
                s.lutram_luts,
                s.luts(),
                100.0 * rel_err(e.resources.luts, s.luts()),
                s.ffs,
                e.resources.ff_bits,
                s.carry4,
                s.bram18
            );
        }
        eprintln!("  engines total {} LUTs ({:.0} s)", tot_m.luts(), m.seconds);
        data.cases.retain(|c| c.name != m.name);
        data.cases.push(m);
        let order: Vec<&str> = cases().iter().map(|c| c.name).collect();
        data.cases.sort_by_key(|c| {
            order
                .iter()
                .position(|n| *n == c.name)
                .unwrap_or(usize::MAX)
        });
        let text = serde_json::to_string_pretty(&data)? + "\n";
        let tmp = format!("{out}.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, Path::new(&out))?;
    }
    Ok(())
}

/// Prints the estimate beside the measurement, engine by engine and in total.
fn compare(data: &Measurements) {
    for case in cases() {
        let Some(m) = data.cases.iter().find(|c| c.name == case.name) else {
            continue;
        };
        let design = case.design();
        println!("{}", case.name);
        let (mut est, mut meas) = (0u64, 0u64);
        for (e, me) in design.engines.iter().zip(&m.engines) {
            let s = summarize(&me.cells);
            let r = &e.resources;
            est += r.luts;
            meas += s.luts();
            let fold = e.op().fold_label();
            println!(
                "  e{:<2} {:<16} {:>6} | LUT est {:>6} = {:>6} + {:>5} ram | yosys {:>6} = {:>6} + {:>5} ram ({:+4.0}%) | FF {:>5} / {:>5} | CARRY4 {:>4} / {:>4} | BRAM18 {:>3} / {:>3}",
                me.index,
                e.op,
                fold,
                r.luts,
                r.luts - r.lutram_luts,
                r.lutram_luts,
                s.luts(),
                s.logic_luts,
                s.lutram_luts,
                100.0 * rel_err(r.luts, s.luts()),
                r.ff_bits,
                s.ffs,
                r.carry4,
                s.carry4,
                r.bram18,
                s.bram18
            );
            if std::env::var_os("INQ_TERMS").is_some() {
                for t in e.op().terms(&e.io) {
                    println!(
                        "        {:>6} {:>6} {:>5} {}",
                        t.luts, t.lutram_luts, t.ffs, t.name
                    );
                }
            }
        }
        let mut other = Summary::default();
        for c in m.other.values() {
            other.add(&summarize(c));
        }
        let all = design.design_resources();
        println!(
            "  engines: est {} vs {} ({:+.1}%); whole design: est {} vs {} ({:+.1}%)",
            est,
            meas,
            100.0 * rel_err(est, meas),
            all.luts,
            meas + other.luts(),
            100.0 * rel_err(all.luts, meas + other.luts())
        );
    }
}
