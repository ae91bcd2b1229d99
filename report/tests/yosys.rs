//! yosys runs on small hand-written designs: per-instance statistics, engine limiting and
//! imposed memory mappings.

use inq_report::yosys::{available, synthesize, Flow, RamStyle, SynthOptions};
use std::path::Path;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

#[test]
fn per_instance_statistics_in_every_flow() {
    if !available() {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("SKIPPED: yosys not installed (apt-get install yosys); CI runs this test");
        return;
    }
    let files = vec!["two_adders.v".to_string()];
    let mut lines = 0;
    let x = synthesize(
        fixtures(),
        &files,
        "toy_top",
        Flow::Xilinx,
        &SynthOptions::default(),
        |_| lines += 1,
    )
    .unwrap();
    assert!(lines > 3, "progress lines: {lines}");
    assert_eq!(x.instances.len(), 2);
    let e0 = &x.instances["u_e0"].resources; // 8-bit adder, 9 output flops
    let e1 = &x.instances["u_e1"].resources; // 4-bit adder, 5 output flops
    assert_eq!((e0.ffs, e1.ffs), (9, 5));
    assert!(
        e0.luts >= 8 && e1.luts >= 4 && e0.carry >= 2,
        "{e0:?} {e1:?}"
    );
    assert_eq!(x.total.ffs, 14);
    assert_eq!(x.total.luts, e0.luts + e1.luts);
    let i = synthesize(
        fixtures(),
        &files,
        "toy_top",
        Flow::Ice40,
        &SynthOptions::default(),
        |_| {},
    )
    .unwrap();
    assert_eq!(i.total.ffs, 14);
    assert!(i.total.luts > 0);
    let g = synthesize(
        fixtures(),
        &files,
        "toy_top",
        Flow::Generic,
        &SynthOptions::default(),
        |_| {},
    )
    .unwrap();
    assert_eq!(
        (g.total.ffs, g.total.arith_cells, g.total.latches),
        (14, 0, 0)
    );
    assert!(g.total.gates > 0);
}

#[test]
fn limiting_to_one_engine_black_boxes_the_others() {
    if !available() {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("SKIPPED: yosys not installed (apt-get install yosys); CI runs this test");
        return;
    }
    let files = vec!["two_adders.v".to_string()];
    let logs = std::env::temp_dir().join(format!("inq-yosys-logs-{}", std::process::id()));
    let opts = SynthOptions {
        only: Some(vec!["u_e1".into()]),
        work_dir: None,
        log_dir: Some(logs.clone()),
        ..Default::default()
    };
    let r = synthesize(fixtures(), &files, "toy_top", Flow::Xilinx, &opts, |_| {}).unwrap();
    assert_eq!(r.skipped, vec!["u_e0".to_string()]);
    // the full logs are kept where asked, and the report names the synthesis log
    assert_eq!(
        r.log.as_deref(),
        Some(logs.join("yosys-xilinx.log").as_path())
    );
    let text = std::fs::read_to_string(logs.join("yosys-xilinx.log")).unwrap();
    assert!(
        text.contains("synth_xilinx"),
        "{}",
        &text[..text.len().min(300)]
    );
    assert!(logs.join("yosys-elaborate.log").is_file());
    let _ = std::fs::remove_dir_all(&logs);
    assert_eq!(r.total.ffs, 5);
    let bad = SynthOptions {
        only: Some(vec!["nope".into()]),
        work_dir: None,
        log_dir: None,
        ..Default::default()
    };
    let e = synthesize(fixtures(), &files, "toy_top", Flow::Xilinx, &bad, |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope") && e.contains("u_e0"), "{e}");
}

#[test]
fn ram_style_moves_one_instance_memory_to_lutram() {
    if !available() {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("SKIPPED: yosys not installed (apt-get install yosys); CI runs this test");
        return;
    }
    let files = vec!["two_rams.v".to_string()];
    let run = |ram_styles: Vec<RamStyle>| {
        let opts = SynthOptions {
            ram_styles,
            ..Default::default()
        };
        synthesize(fixtures(), &files, "toy_rams", Flow::Xilinx, &opts, |_| {}).unwrap()
    };
    // yosys's own choice: both 896×8 and 1024×8 in one RAMB18 each
    let own = run(Vec::new());
    for inst in ["u_r0", "u_r1"] {
        let r = &own.instances[inst].resources;
        assert_eq!((r.bram, r.lutram), (1, 0), "{inst}: {r:?}");
    }
    // the imposed style reaches u_r0's memory only: 14 × 3 RAM64M (64×3 bits each)
    let styled = run(vec![RamStyle {
        instance: "u_r0".into(),
        memories: "mem".into(),
        style: "distributed".into(),
    }]);
    let r0 = &styled.instances["u_r0"].resources;
    let r1 = &styled.instances["u_r1"].resources;
    assert_eq!((r0.bram, r0.lutram), (0, 42), "{r0:?}");
    assert_eq!((r1.bram, r1.lutram), (1, 0), "{r1:?}");
}

#[test]
fn lists_the_register_inputs_deeper_than_a_limit() {
    if !available() {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("SKIPPED: yosys not installed (apt-get install yosys); CI runs this test");
        return;
    }
    let files = vec!["two_adders.v".to_string()];
    let run = |deep_paths_over| {
        let opts = SynthOptions {
            deep_paths_over,
            ..Default::default()
        };
        synthesize(fixtures(), &files, "toy_top", Flow::Xilinx, &opts, |_| {})
            .unwrap()
            .depth
            .expect("a walked netlist")
    };
    // every output flop of both adders is behind at least one LUT
    let all = run(Some(0));
    assert!(all.deep_inputs >= 14, "{}", all.deep_inputs);
    assert_eq!(
        all.deep.iter().map(|d| d.count).sum::<usize>(),
        all.deep_inputs
    );
    for d in &all.deep {
        assert!(d.levels >= 1 && !d.cells.is_empty(), "{d:?}");
        assert!(d.group == "u_e0" || d.group == "u_e1", "{d:?}");
        assert!(!d.to.contains("[0]") && !d.from.contains("[1]"), "{d:?}");
    }
    // deepest first
    assert!(all.deep.windows(2).all(|w| w[0].levels >= w[1].levels));
    // none over the deepest path, none without a limit
    let worst = all.worst.levels;
    assert!(run(Some(worst)).deep.is_empty());
    assert!(run(None).deep.is_empty());
}
