//! The harness on the hand-written toy design (tests/fixtures/toy_design): bit-exact results
//! under stalls and a mid-run reset, cycle-exact agreement with the Rust protocol driver,
//! caching, fault detection and localization, VCD tracing, and clear errors.

mod common;

use common::*;
use inq_testbenches::mutate::{content_hash, copy_design, corrupt_hex_word, replace_once};
use inq_testbenches::protocol::Records;
use inq_testbenches::verilator::cache_key;
use inq_testbenches::{verify, BuildOptions, Design, TbError, VerifyOptions, VerifyReport};

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
    let d = Design::load(&toy_dir()).unwrap();
    assert_eq!(
        d.manifest.design_hash,
        content_hash(&d.dir, &d.manifest).unwrap()
    );
    assert_eq!(d.manifest.outputs, 3);
}

#[test]
fn no_stalls_back_to_back_matches_reference_and_rust_driver() {
    if !have_verilator("no_stalls") {
        return;
    }
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
    if !have_verilator("random_stalls") {
        return;
    }
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
    if !have_verilator("mid_run_reset") {
        return;
    }
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
    if !have_verilator("cache_hit") {
        return;
    }
    let d = Design::load(&toy_dir()).unwrap();
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

#[test]
fn corrupted_rom_word_is_detected_and_localized() {
    if !have_verilator("rom_mutation") {
        return;
    }
    let dir = scratch("rom-mutant");
    copy_design(&toy_dir(), &dir).unwrap();
    // Word 0 of toy_fc.hex is code 5 (+2^1) of logit 0 for stream beat 0: flip its sign bit.
    let c = corrupt_hex_word(&dir, "rtl/toy_fc.hex", 0, 0b010).unwrap();
    assert_eq!((c.line, c.old, c.new), (1, 5, 7));
    let mutant = Design::load(&dir).unwrap();
    let orig = Design::load(&toy_dir()).unwrap();
    assert_ne!(mutant.manifest.design_hash, orig.manifest.design_hash);
    // Only the ROM changed: the compiled model is reused ($readmemh runs at simulation time).
    assert_eq!(
        cache_key(&mutant, false).unwrap(),
        cache_key(&orig, false).unwrap()
    );
    let r = verify(&dir, &images(12, 5), &opts()).unwrap();
    assert!(!r.passed);
    assert!(r.mismatch_count > 0);
    // Only logit 0 depends on the corrupted weight.
    assert!(r
        .mismatches
        .iter()
        .all(|m| m.word == 0 || m.kind != inq_testbenches::MismatchKind::Logit));
    let bad = r.first_bad_layer.clone().unwrap();
    assert_eq!(bad.layer, 2, "{:?}", r.diagnosis);
    assert_eq!(bad.name, "fc");
    assert_eq!(
        bad.tap, None,
        "the conv tap matches; the output stream differs"
    );
    assert!(r.diagnosis.unwrap().contains("layers 0"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupted_rtl_constant_is_localized_to_the_conv_layer() {
    if !have_verilator("rtl_mutation") {
        return;
    }
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
    let bad = r.first_bad_layer.clone().unwrap();
    assert_eq!(
        (bad.layer, bad.tap, bad.name.as_str()),
        (0, Some(0), "conv0"),
        "{:?}",
        r.diagnosis
    );
    assert!(bad.actual != Some(bad.expected));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mismatch_without_taps_says_so() {
    if !have_verilator("no_taps") {
        return;
    }
    let dir = scratch("no-taps");
    copy_design(&toy_dir(), &dir).unwrap();
    replace_once(
        &dir,
        "manifest.json",
        "\"taps\": [",
        "\"taps\": [], \"unused_taps\": [",
    )
    .unwrap();
    corrupt_hex_word(&dir, "rtl/toy_fc.hex", 4, 0b010).unwrap();
    let r = verify(&dir, &images(8, 7), &opts()).unwrap();
    assert!(!r.passed);
    assert!(r.first_bad_layer.is_none());
    assert!(r.diagnosis.unwrap().contains("no taps"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vcd_trace_is_written() {
    if !have_verilator("vcd_trace") {
        return;
    }
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
    if !have_verilator("timeout") {
        return;
    }
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
    let dir = scratch("bad-manifest");
    copy_design(&toy_dir(), &dir).unwrap();
    replace_once(&dir, "manifest.json", "\"outputs\": 3", "\"outputs\": 4").unwrap();
    match Design::load(&dir).unwrap_err() {
        TbError::Manifest { field, .. } => assert_eq!(field, "outputs"),
        e => panic!("{e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    copy_design(&toy_dir(), &dir).unwrap();
    replace_once(
        &dir,
        "manifest.json",
        "\"elements_per_image\": 4",
        "\"elements_per_image\": 5",
    )
    .unwrap();
    match Design::load(&dir).unwrap_err() {
        TbError::Manifest { field, .. } => assert_eq!(field, "taps[0].elements_per_image"),
        e => panic!("{e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    copy_design(&toy_dir(), &dir).unwrap();
    replace_once(&dir, "model.json", "\"bias\": [3, -5]", "\"bias\": [4, -5]").unwrap();
    match Design::load(&dir).unwrap_err() {
        TbError::Manifest { field, .. } => assert_eq!(field, "model_hash"),
        e => panic!("{e}"),
    }
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
