//! Re-measures one engine of a small calibration design with yosys `synth_xilinx` and checks
//! the analytic estimate and the committed measurement against it. Skips (with a message)
//! when yosys is not installed. The full re-measurement of every calibration design is
//! `cargo run -p inq-hdl --example measure_resources -- hdl/tests/data/resources_xilinx.json`.

mod common;

use common::resource_cases::*;
use inq_report::yosys::{self, Flow, SynthOptions};

#[test]
fn small_engine_matches_fresh_synthesis() {
    if !yosys::available() {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("SKIP small_engine_matches_fresh_synthesis: yosys is not on PATH");
        return;
    }
    let case = cases()
        .into_iter()
        .find(|c| c.name == "small_a_minimal")
        .expect("case");
    let design = case.design();
    let dir = std::env::temp_dir().join(format!("inq-hdl-resources-yosys-{}", std::process::id()));
    let out = dir.join("design");
    let manifest =
        inq_codegen::generate(&design, &case.model, &out, &Default::default()).expect("generate");
    let engine = &manifest.engines[0];
    let only = vec![engine.instance.clone(), format!("{}_rom0", engine.instance)];
    let files: Vec<String> = manifest
        .rtl_files
        .iter()
        .map(|f| f.trim_start_matches("rtl/").to_string())
        .collect();
    let rep = yosys::synthesize(
        &out.join(&manifest.run_dir),
        &files,
        &manifest.top,
        Flow::Xilinx,
        &SynthOptions {
            only: Some(only.clone()),
            work_dir: None,
            log_dir: None,
            depth_groups: None,
            deep_paths_over: None,
            ram_styles: xilinx_ram_styles(&design, [(engine.index, engine.instance.as_str())]),
        },
        |_| {},
    )
    .expect("synth_xilinx");
    let _ = std::fs::remove_dir_all(&dir);
    // This design's LUT-RAM cells are RAM64M/RAM32M only: 4 LUT sites each.
    let mut luts = 0;
    for inst in &only {
        let r = &rep.instances[inst].resources;
        luts += r.luts + 4 * r.lutram;
    }
    let est = design.engines[0].resources.luts;
    let err = rel_err(est, luts);
    eprintln!(
        "engine 0: estimate {est} LUTs, yosys {luts} ({:+.1}%)",
        100.0 * err
    );
    assert!(err.abs() <= 0.35, "estimate {est} vs yosys {luts}");
    // The committed measurement was made on the same RTL: it should agree closely.
    let data: Measurements = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/resources_xilinx.json"
        ))
        .expect("committed measurements"),
    )
    .expect("parses");
    let m = data
        .cases
        .iter()
        .find(|c| c.name == case.name)
        .expect("measured");
    let committed = summarize(&m.engines[0].cells).luts();
    if m.design_hash != manifest.design_hash {
        eprintln!(
            "note: the RTL changed since the committed measurement (design hash differs): re-run the measure_resources example"
        );
    }
    assert!(
        rel_err(committed, luts).abs() <= 0.15,
        "committed measurement {committed} vs fresh {luts}: re-measure"
    );
}
