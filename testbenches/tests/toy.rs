//! The harness on the hand-written toy design (tests/fixtures/toy_design): bit-exact results
//! under stalls and a mid-run reset, cycle-exact agreement with the Rust protocol driver,
//! caching, fault detection and localization, VCD tracing, and clear errors.
//!
//! The fixture's `manifest.json` is hand-maintained for the toy RTL (top, files, one tap on the
//! conv output, the measured timing) around the `Design` the planner makes of its model (the
//! harness reads the design only to order taps by their streams' producers).
//! `regenerate_toy_manifest` rewrites it after a change of the manifest or design schema:
//! `cargo test -p inq-testbenches --test toy -- --ignored regenerate_toy_manifest`.

mod common;

use common::*;
use inq_design::{EngineDesc, InputDesc, Manifest, Performance, Ports, TapDesc};
use inq_testbenches::mutate::{
    content_hash, copy_design, corrupt_hex_word, refresh_design_hash, replace_once,
};
use inq_testbenches::protocol::Records;
use inq_testbenches::verilator::cache_key;
use inq_testbenches::{verify, BuildOptions, DesignFolder, TbError, VerifyOptions, VerifyReport};
use std::path::Path;

/// The fixture's manifest as it should be: the hand-written parts, and the planner's design
/// of the toy model (minimal folding) with the toy's top name.
fn toy_manifest() -> Manifest {
    let dir = toy_dir();
    let model = inq_model::QuantModel::load(&dir.join("model.json")).expect("toy model");
    let mut design =
        inq_hdl::plan(&model, &inq_hdl::FoldingRequest::Minimal).expect("plan the toy model");
    design.top = "toy_top".into();
    let engine = |i: usize, module: &str, instance: &str| {
        let e = &design.engines[i];
        EngineDesc {
            index: i,
            node: e.node,
            name: e.name.clone(),
            op: e.op.clone(),
            module: module.into(),
            instance: instance.into(),
            pe: 1,
            simd: 1,
            in_width: e.io.in_width,
            out_width: e.io.out_width,
            acc_width: None,
            cycles_per_image: e.cycles_per_image,
            resources: e.resources.clone(),
        }
    };
    let mut m = Manifest {
        format: inq_design::MANIFEST_FORMAT.into(),
        version: inq_design::MANIFEST_VERSION,
        top: "toy_top".into(),
        rtl_files: ["rtl/toy_conv.v", "rtl/toy_fc.v", "rtl/toy_top.v"]
            .map(String::from)
            .to_vec(),
        hex_files: vec!["rtl/toy_fc.hex".into()],
        run_dir: "rtl".into(),
        model_hash: model.hash(),
        design_hash: String::new(),
        clock_mhz: 100.0,
        ports: Ports {
            in_width: 8,
            in_signed: false,
            out_width: 16,
            argmax_width: 2,
        },
        input: InputDesc {
            shape: [2, 1, 2],
            order: "hwc".into(),
            elements: 4,
        },
        outputs: 3,
        taps: vec![TapDesc {
            node: Some(0),
            name: "conv0".into(),
            tdata: "u_conv.m_tdata".into(),
            tvalid: "u_conv.m_tvalid".into(),
            tready: "u_conv.m_tready".into(),
            width: 8,
            signed: false,
            elements_per_image: 4,
            order: "hwc".into(),
            shape: vec![2, 1, 2],
        }],
        engines: vec![engine(0, "toy_conv", "u_conv"), engine(1, "toy_fc", "u_fc")],
        performance: Performance {
            interval_cycles: 9,
            latency_cycles: 10,
            images_per_second: 100e6 / 9.0,
        },
        generator: "hand-written (testbenches/tests/fixtures/toy_design)".into(),
        design,
    };
    m.design_hash = content_hash(&dir, &m).expect("hash the toy files");
    m
}

/// The fixture's manifest is [`toy_manifest`], byte for byte; `INQ_BLESS=1` rewrites it (after
/// a schema change), as for the golden folders.
#[test]
fn toy_manifest_is_current() {
    let text = serde_json::to_string_pretty(&toy_manifest()).unwrap() + "\n";
    let path = toy_dir().join("manifest.json");
    if std::env::var_os("INQ_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == text,
        "{} is not what toy_manifest() writes; after a schema change run INQ_BLESS=1 cargo test -p inq-testbenches --test toy toy_manifest_is_current",
        path.display()
    );
}

/// Edits `dir/manifest.json` as JSON.
fn edit_manifest(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn records_of(r: &VerifyReport) -> Records {
    Records {
        outputs: r.outputs.clone(),
        input_starts: r.input_starts.clone(),
        resets: r.resets.clone(),
        total_cycles: r.total_cycles,
    }
}

fn check_passed(r: &VerifyReport, images: usize) {
    assert!(
        r.passed,
        "mismatches: {:?}\n{:?}",
        r.mismatches, r.diagnosis
    );
    assert_eq!(r.mismatch_count, 0);
    assert!(r.mismatches.is_empty());
    assert_eq!(r.images, images);
    assert_eq!(r.outputs.len(), images * 3);
    assert_eq!(r.total_cycles, r.outputs.last().unwrap().cycle + 1);
}

#[test]
fn fixture_is_consistent() {
    let d = DesignFolder::load(&toy_dir()).unwrap();
    assert_eq!(
        d.manifest.design_hash,
        content_hash(&d.dir, &d.manifest).unwrap()
    );
    assert_eq!(d.manifest.outputs, 3);
    // What the harness relies on: everything but the planner's figures (resources, cycles)
    // and the design's details; of the design, its graph (engines' nodes, streams, taps).
    let stale = "the fixture's manifest is stale: run `cargo test -p inq-testbenches --test toy \
                 -- --ignored regenerate_toy_manifest` and review the diff";
    let want = toy_manifest();
    let strip = |m: &Manifest| {
        let mut v = serde_json::to_value(m).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("design");
        o.remove("engines");
        v
    };
    assert_eq!(strip(&d.manifest), strip(&want), "{stale}");
    let graph = |x: &inq_hdl::Design| {
        (
            x.engines.iter().map(|e| e.node).collect::<Vec<_>>(),
            x.streams.iter().map(|s| (s.from, s.to)).collect::<Vec<_>>(),
            x.taps
                .iter()
                .map(|t| (t.node, t.stream))
                .collect::<Vec<_>>(),
            x.output.stream,
        )
    };
    assert_eq!(graph(d.design()), graph(&want.design), "{stale}");
    // conv0 → (flatten) → fc: the tapped conv stream is written by engine 0.
    assert_eq!(graph(d.design()).0, vec![Some(0), Some(2)]);
}

#[test]
fn no_stalls_back_to_back_matches_reference_and_rust_driver() {
    require_verilator();
    let imgs = images(40, 1);
    // Labels: the reference argmax for even images, a wrong class for odd ones.
    let model = inq_model::QuantModel::load(&toy_dir().join("model.json")).unwrap();
    let labels: Vec<usize> = imgs
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let a = inq_model::run(&model, x).unwrap().argmax;
            if i % 2 == 0 {
                a
            } else {
                (a + 1) % 3
            }
        })
        .collect();
    let o = VerifyOptions {
        labels: Some(labels),
        ..opts()
    };
    let r = verify(&toy_dir(), &imgs, &o).unwrap();
    check_passed(&r, 40);
    assert_eq!(r.accuracy, Some(0.5));
    assert_eq!(r.reference_accuracy, Some(0.5));
    // Back to back: the first beat is offered at cycle 0 and accepted at once.
    assert_eq!(r.input_starts[0].cycle, 0);
    // The same run through the Rust protocol driver and a Rust model of the toy RTL gives
    // identical records, cycle for cycle.
    assert_eq!(records_of(&r), run_model(&imgs, o.seed, 0.0, None));
    // Image 0 by hand: beats at cycles 0,1; conv emits 2,3; beats 4,5; conv emits 6,7 (the
    // dense engine takes its 4th beat at 7); logits at 8,9,10 -> latency 10 - 0.
    assert_eq!(r.latency_cycles, 10);
    // Steady state: the conv engine needs 4 cycles per pixel (8 per image); while the dense
    // engine emits its 3 logits the conv engine can collect the next pixel (2 cycles) but then
    // waits 1 cycle to emit: one image every 9 cycles.
    assert_eq!(r.interval_cycles, Some(9.0));
    // Report keys required by the interface.
    let v = serde_json::to_value(&r).unwrap();
    for k in [
        "images",
        "mismatches",
        "accuracy",
        "total_cycles",
        "latency_cycles",
        "interval_cycles",
    ] {
        assert!(v.get(k).is_some(), "missing key {k}");
    }
}

#[test]
fn random_stalls_two_seeds() {
    require_verilator();
    let imgs = images(40, 2);
    let base = verify(&toy_dir(), &imgs, &opts()).unwrap();
    check_passed(&base, 40);
    let mut runs = Vec::new();
    for seed in [11, 12] {
        let o = VerifyOptions {
            stall_rate: 0.3,
            seed,
            ..opts()
        };
        let r = verify(&toy_dir(), &imgs, &o).unwrap();
        check_passed(&r, 40);
        assert!(
            r.total_cycles > base.total_cycles,
            "stalls must cost cycles"
        );
        assert_eq!(
            records_of(&r),
            run_model(&imgs, seed, 0.3, None),
            "seed {seed}"
        );
        runs.push(r);
    }
    let cycles = |r: &VerifyReport| r.outputs.iter().map(|o| o.cycle).collect::<Vec<_>>();
    assert_ne!(
        cycles(&runs[0]),
        cycles(&runs[1]),
        "different seeds, different timing"
    );
    // Deterministic per seed.
    let again = verify(
        &toy_dir(),
        &imgs,
        &VerifyOptions {
            stall_rate: 0.3,
            seed: 11,
            ..opts()
        },
    )
    .unwrap();
    assert_eq!(records_of(&again), records_of(&runs[0]));
}

#[test]
fn mid_run_reset_restarts_and_stays_correct() {
    require_verilator();
    let imgs = images(20, 3);
    for rate in [0.0, 0.3] {
        let o = VerifyOptions {
            stall_rate: rate,
            seed: 5,
            reset_after: Some(7),
            ..opts()
        };
        let r = verify(&toy_dir(), &imgs, &o).unwrap();
        check_passed(&r, 20);
        assert_eq!(r.resets.len(), 1);
        let reset = &r.resets[0];
        assert_eq!(reset.restart_image, 7);
        let last_before = r
            .outputs
            .iter()
            .find(|x| x.image == 6 && x.word == 2)
            .unwrap();
        assert_eq!(reset.first_cycle, last_before.cycle + 1);
        let restart = r.input_starts.iter().rev().find(|s| s.image == 7).unwrap();
        assert!(restart.cycle >= reset.first_cycle + u64::from(reset.cycles));
        assert_eq!(records_of(&r), run_model(&imgs, 5, rate, Some(7)));
    }
}

#[test]
fn second_run_is_a_cache_hit() {
    require_verilator();
    let d = DesignFolder::load(&toy_dir()).unwrap();
    let bo = BuildOptions {
        cache_dir: Some(shared_cache()),
        ..BuildOptions::default()
    };
    let first = inq_testbenches::build(&d, &bo).unwrap();
    let mtime = std::fs::metadata(&first.binary)
        .unwrap()
        .modified()
        .unwrap();
    let r = verify(&toy_dir(), &images(5, 4), &opts()).unwrap();
    check_passed(&r, 5);
    assert!(r.build.cache_hit, "second use must not rebuild");
    assert_eq!(r.build.binary, first.binary);
    assert_eq!(
        std::fs::metadata(&r.build.binary)
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
}

/// Verilator's run-time library is compiled by the first build of a cache only: a second design
/// (another RTL, so another model) starts from the kept objects, and its model works.
#[test]
fn runtime_library_is_compiled_once_per_cache() {
    require_verilator();
    let cache = scratch("runtime-cache");
    let bo = BuildOptions {
        cache_dir: Some(cache.clone()),
        ..BuildOptions::default()
    };
    let log = |b: &inq_testbenches::BuildInfo| {
        std::fs::read_to_string(b.cache_entry.join("build.log")).unwrap()
    };
    let first = inq_testbenches::build(&DesignFolder::load(&toy_dir()).unwrap(), &bo).unwrap();
    assert!(!first.cache_hit);
    assert!(log(&first).contains("verilated.cpp"), "{}", log(&first));
    let dir = scratch("runtime-other");
    copy_design(&toy_dir(), &dir).unwrap();
    // the same circuit in another source text: another cache key
    let conv = dir.join("rtl/toy_conv.v");
    let text = std::fs::read_to_string(&conv).unwrap();
    std::fs::write(&conv, format!("{text}// a second design\n")).unwrap();
    let second = inq_testbenches::build(&DesignFolder::load(&dir).unwrap(), &bo).unwrap();
    assert!(!second.cache_hit);
    assert_ne!(first.key, second.key);
    assert!(!log(&second).contains("verilated.cpp"), "{}", log(&second));
    let r = verify(
        &dir,
        &images(6, 2),
        &VerifyOptions {
            cache_dir: Some(cache.clone()),
            ..opts()
        },
    )
    .unwrap();
    check_passed(&r, 6);
    assert!(r.build.cache_hit, "verify uses the second build");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn corrupted_rom_word_is_detected_and_localized() {
    require_verilator();
    let dir = scratch("rom-mutant");
    copy_design(&toy_dir(), &dir).unwrap();
    // Word 0 of toy_fc.hex is code 5 (+2^1) of logit 0 for stream beat 0: flip its sign bit.
    let c = corrupt_hex_word(&dir, "rtl/toy_fc.hex", 0, 0b010).unwrap();
    assert_eq!((c.line, c.old, c.new), (1, 5, 7));
    let mutant = DesignFolder::load(&dir).unwrap();
    let orig = DesignFolder::load(&toy_dir()).unwrap();
    assert_ne!(mutant.manifest.design_hash, orig.manifest.design_hash);
    // Only the ROM changed: the compiled model is reused ($readmemh runs at simulation time).
    assert_eq!(
        cache_key(&mutant, false, None).unwrap(),
        cache_key(&orig, false, None).unwrap()
    );
    let r = verify(&dir, &images(12, 5), &opts()).unwrap();
    assert!(!r.passed);
    assert!(r.mismatch_count > 0);
    // Only logit 0 depends on the corrupted weight.
    assert!(r
        .mismatches
        .iter()
        .all(|m| m.word == 0 || m.kind != inq_testbenches::MismatchKind::Logit));
    // The conv tap matches; the output words differ, and they are the stream of the untapped
    // output node `fc` (node 2; node 1 is the flatten).
    let bad = r.first_bad.clone().unwrap();
    assert_eq!(bad.node, Some(2), "{:?}", r.diagnosis);
    assert_eq!(bad.name, "fc");
    let design = orig.design();
    assert_eq!(bad.stream, design.output.stream);
    assert_eq!(design.taps[bad.tap].node, Some(2), "{bad:?}");
    let diagnosis = r.diagnosis.unwrap();
    assert!(
        diagnosis.contains("untapped output node 2 `fc`"),
        "{diagnosis}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupted_rtl_constant_is_localized_to_the_conv_layer() {
    require_verilator();
    let dir = scratch("rtl-mutant");
    copy_design(&toy_dir(), &dir).unwrap();
    // conv0 output 0: weight +2^1 on channel 0 becomes +2^0.
    replace_once(
        &dir,
        "rtl/toy_conv.v",
        "{3'b000, x0, 1'b0}",
        "{4'b0000, x0}",
    )
    .unwrap();
    let r = verify(&dir, &images(12, 6), &opts()).unwrap();
    assert!(!r.passed);
    let bad = r.first_bad.clone().unwrap();
    assert_eq!(
        (bad.node, bad.name.as_str()),
        (Some(0), "conv0"),
        "{:?}",
        r.diagnosis
    );
    // `tap` and `stream` are the design's: the conv output is stream 1 (stream 0 is the input)
    let d = DesignFolder::load(&toy_dir()).unwrap();
    assert_eq!(d.design().taps[bad.tap].node, Some(0));
    assert_eq!(bad.stream, 1);
    assert!(bad.actual != Some(bad.expected));
    assert!(r.diagnosis.unwrap().contains("node 0 `conv0` (conv)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mismatch_without_taps_says_so() {
    require_verilator();
    let dir = scratch("no-taps");
    copy_design(&toy_dir(), &dir).unwrap();
    edit_manifest(&dir, |v| v["taps"] = serde_json::json!([]));
    corrupt_hex_word(&dir, "rtl/toy_fc.hex", 4, 0b010).unwrap();
    let r = verify(&dir, &images(8, 7), &opts()).unwrap();
    assert!(!r.passed);
    assert!(r.first_bad.is_none());
    assert!(r.diagnosis.unwrap().contains("no taps"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vcd_trace_is_written() {
    require_verilator();
    let dir = scratch("vcd");
    std::fs::create_dir_all(&dir).unwrap();
    let vcd = dir.join("toy.vcd");
    let o = VerifyOptions {
        trace_vcd: Some(vcd.clone()),
        stall_rate: 0.2,
        ..opts()
    };
    let r = verify(&toy_dir(), &images(4, 8), &o).unwrap();
    check_passed(&r, 4);
    assert!(r.build.trace);
    let text = std::fs::read_to_string(&vcd).unwrap();
    assert!(text.contains("$enddefinitions"));
    assert!(text.contains("m_axis_tdata"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A relative path (from the current directory) to `name` in the temp folder.
fn relative_temp(name: &str) -> std::path::PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let mut p = std::path::PathBuf::new();
    for _ in cwd.components().skip(1) {
        p.push("..");
    }
    let tmp = std::env::temp_dir().canonicalize().unwrap();
    p.push(tmp.strip_prefix("/").unwrap_or(&tmp));
    p.push(name);
    assert!(p.is_relative());
    p
}

#[test]
fn deadlocked_design_times_out() {
    require_verilator();
    let dir = scratch("deadlock");
    copy_design(&toy_dir(), &dir).unwrap();
    // The dense engine never offers its logits.
    replace_once(
        &dir,
        "rtl/toy_fc.v",
        "assign m_tvalid = emit;",
        "assign m_tvalid = 1'b0;",
    )
    .unwrap();
    let o = VerifyOptions {
        idle_limit: 500,
        // A relative work folder (the binary runs in rtl/: paths must be made absolute).
        work_dir: Some(relative_temp(&format!(
            "inq-tb-work-{}",
            std::process::id()
        ))),
        ..opts()
    };
    match verify(&dir, &images(3, 10), &o).unwrap_err() {
        TbError::Timeout {
            words,
            expected,
            idle_limit,
            cycle,
            ..
        } => {
            assert_eq!((words, expected, idle_limit), (0, 9, 500));
            assert!(cycle >= 500);
        }
        e => panic!("{e}"),
    }
    let _ = std::fs::remove_dir_all(o.work_dir.unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_verilator_is_a_clear_error() {
    // Runs everywhere: a PATH without verilator and an empty cache.
    let empty = scratch("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let o = VerifyOptions {
        search_path: Some(empty.clone().into_os_string()),
        cache_dir: Some(empty.join("cache")),
        ..VerifyOptions::default()
    };
    let e = verify(&toy_dir(), &images(2, 9), &o).unwrap_err();
    assert!(matches!(e, TbError::VerilatorMissing { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("Debian package `verilator`"), "{msg}");
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn bad_folders_and_options_are_rejected() {
    let field_of = |e: inq_design::FolderError| match e {
        inq_design::FolderError::Manifest { field, .. } => field,
        e => panic!("{e}"),
    };
    let dir = scratch("bad-manifest");
    copy_design(&toy_dir(), &dir).unwrap();
    edit_manifest(&dir, |v| v["outputs"] = 4.into());
    assert_eq!(field_of(DesignFolder::load(&dir).unwrap_err()), "outputs");
    let _ = std::fs::remove_dir_all(&dir);
    copy_design(&toy_dir(), &dir).unwrap();
    edit_manifest(&dir, |v| v["taps"][0]["elements_per_image"] = 5.into());
    assert_eq!(
        field_of(DesignFolder::load(&dir).unwrap_err()),
        "taps[0].elements_per_image"
    );
    let _ = std::fs::remove_dir_all(&dir);
    copy_design(&toy_dir(), &dir).unwrap();
    edit_manifest(&dir, |v| v["version"] = 1.into());
    assert_eq!(field_of(DesignFolder::load(&dir).unwrap_err()), "version");
    let _ = std::fs::remove_dir_all(&dir);
    copy_design(&toy_dir(), &dir).unwrap();
    replace_once(&dir, "model.json", "\"bias\": [3, -5]", "\"bias\": [4, -5]").unwrap();
    assert_eq!(
        field_of(DesignFolder::load(&dir).unwrap_err()),
        "model_hash"
    );
    // the harness reports the folder error as such
    assert!(matches!(
        verify(&dir, &images(2, 1), &opts()),
        Err(TbError::Folder(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
    // refreshing the hash keeps a mutated folder consistent with its definition
    copy_design(&toy_dir(), &dir).unwrap();
    corrupt_hex_word(&dir, "rtl/toy_fc.hex", 1, 0b001).unwrap();
    refresh_design_hash(&dir).unwrap();
    let d = DesignFolder::load(&dir).unwrap();
    assert_eq!(
        d.manifest.design_hash,
        content_hash(&d.dir, &d.manifest).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
    // Options and images are checked before anything is built.
    let o = VerifyOptions {
        search_path: Some("/nonexistent".into()),
        ..opts()
    };
    let bad_rate = VerifyOptions {
        stall_rate: 1.0,
        ..o.clone()
    };
    assert!(matches!(
        verify(&toy_dir(), &images(2, 1), &bad_rate),
        Err(TbError::Input(_))
    ));
    let bad_reset = VerifyOptions {
        reset_after: Some(2),
        ..o.clone()
    };
    assert!(matches!(
        verify(&toy_dir(), &images(2, 1), &bad_reset),
        Err(TbError::Input(_))
    ));
    let e = verify(&toy_dir(), &[vec![0, 0, 256, 0]], &o).unwrap_err();
    assert!(e.to_string().contains("image 0, element 2"), "{e}");
    let e = verify(&toy_dir(), &[vec![0, 0, 0]], &o).unwrap_err();
    assert!(e.to_string().contains("image 0 has 3 values"), "{e}");
}
