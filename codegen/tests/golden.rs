//! Golden-file tests (set INQ_BLESS=1 to rewrite `codegen/tests/golden/`), name sanitization,
//! manifest contents and the output-folder rules (atomic replacement of inq's own folders,
//! user files kept, foreign folders refused).

mod common;
use common::*;
use inq_hdl::{Folding, FoldingRequest, LayerFolding};
use inq_model::Op;
use std::path::{Path, PathBuf};

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn check_golden(name: &str, model: &inq_model::QuantModel, req: &FoldingRequest) {
    check_golden_with(name, model, req, &[]);
}

fn check_golden_with(
    name: &str,
    model: &inq_model::QuantModel,
    req: &FoldingRequest,
    unroll: &[String],
) {
    let design = inq_hdl::plan_unrolled(model, req, unroll).expect("plan");
    check_golden_design(name, model, &design);
}

fn check_golden_design(name: &str, model: &inq_model::QuantModel, design: &inq_hdl::Design) {
    let dir = scratch(&format!("golden-{name}")).join("out");
    inq_codegen::generate(design, model, &dir, &inq_codegen::GenOptions::default())
        .expect("generate");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("INQ_BLESS").as_deref() == Ok("1") {
        let _ = std::fs::remove_dir_all(&golden);
        for f in files_under(&dir) {
            let dst = golden.join(&f);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(dir.join(&f), dst).unwrap();
        }
        eprintln!("blessed {}", golden.display());
        return;
    }
    let got = files_under(&dir);
    let want = files_under(&golden);
    assert_eq!(
        got,
        want,
        "{name}: file list differs from {} (INQ_BLESS=1 to update)",
        golden.display()
    );
    for f in got {
        let a = std::fs::read(dir.join(&f)).unwrap();
        let b = std::fs::read(golden.join(&f)).unwrap();
        assert!(
            a == b,
            "{name}: {} differs from the golden copy (INQ_BLESS=1 to update):\n{}",
            f.display(),
            line_diff(&String::from_utf8_lossy(&b), &String::from_utf8_lossy(&a))
        );
    }
}

/// The differing lines of `want` (golden) and `got` (generated): every line where they
/// differ (`-` golden, `+` generated) after a common prefix and before a common suffix,
/// with two lines of context, at most 40 lines.
fn line_diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let pre = w.iter().zip(&g).take_while(|(a, b)| a == b).count();
    let suf = w[pre..]
        .iter()
        .rev()
        .zip(g[pre..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = Vec::new();
    for (i, l) in w.iter().enumerate().take(pre).skip(pre.saturating_sub(2)) {
        out.push(format!("  {:>5} {l}", i + 1));
    }
    for (i, l) in w.iter().enumerate().take(w.len() - suf).skip(pre) {
        out.push(format!("- {:>5} {l}", i + 1));
    }
    for (i, l) in g.iter().enumerate().take(g.len() - suf).skip(pre) {
        out.push(format!("+ {:>5} {l}", i + 1));
    }
    let n = out.len();
    if n > 40 {
        out.truncate(40);
        out.push(format!("... ({} more lines)", n - 40));
    }
    out.join("\n")
}

#[test]
fn golden_tiny() {
    check_golden("tiny", &tiny_model(1), &FoldingRequest::Minimal);
}

#[test]
fn golden_tiny_int() {
    check_golden(
        "tiny_int",
        &int_model(&tiny_model(1), 1),
        &FoldingRequest::Minimal,
    );
}

/// The int8 baseline planned for 7-series without DSP blocks: the planner's read registers
/// and multipliers in registered halves (`MREG`), the datapath register inside fc's tree.
#[test]
fn golden_tiny_int_nodsp() {
    let model = int_model(&tiny_model(5), 5);
    let mut design = inq_hdl::plan(&model, &fold(&[("conv1", 2, 1), ("fc", 3, 8)])).expect("plan");
    let fit = inq_hdl::stage_to_clock(
        &mut design,
        inq_hdl::TimingFamily::Xilinx7,
        300.0,
        inq_hdl::Multipliers::Logic,
    );
    assert!(
        fit.rom_regs.len() == 2 && fit.rom_regs.iter().all(|r| r.mul_regs && r.read_regs),
        "{}",
        fit.summary()
    );
    check_golden_design("tiny_int_nodsp", &model, &design);
}

#[test]
fn golden_mixed() {
    let req = FoldingRequest::Explicit(Folding {
        layer: vec![
            LayerFolding {
                name: Some("c2".into()),
                index: None,
                pe: 4,
                simd: 2,
            },
            LayerFolding {
                name: None,
                index: Some(6),
                pe: 5,
                simd: 3,
            },
        ],
    });
    // c2 with registered schedule flags (docs/hardware.md §12), the row tests from
    // difference registers (§12) and datapath registers (§4),
    // d2 (5 PEs of 3 lanes) with read registers, weight registers and datapath registers
    // (two stages), its datapath register after the first of its lanes' two tree levels
    // (§4, "The register inside the lanes' tree") and its line buffer read in two stages,
    // the other ROM-fed engines without
    let model = mixed_model(3);
    let mut design = inq_hdl::plan(&model, &req).expect("plan");
    for (name, sched, data, read) in [("c2", true, true, false), ("d2", false, true, true)] {
        let e = design
            .engines
            .iter_mut()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("engine {name}"));
        let inq_hdl::EngineKind::Mvu(m) = &mut e.kind else {
            panic!("{name} is not an MVU")
        };
        assert!(!m.is_constant());
        m.sched_regs = sched;
        m.data_regs = data;
        m.read_regs = read;
        m.weight_regs = read;
        m.pad_regs = read;
        m.slot_regs = read;
        m.head_onehot = read && m.pe >= 2;
        m.hs_regs = sched;
        if read {
            m.data_split = 1;
            assert!(m.data_split_allowed() && m.data_split < m.lanes_tree_levels());
            // the line-buffer read in two stages, groups of two words (§4, "The
            // line-buffer read in two stages")
            m.lb_group_words = 2;
            assert!(m.has_read_split() && m.lb_groups() >= 2, "{name}");
        }
    }
    check_golden_design("mixed", &model, &design);
}

#[test]
fn golden_unrolled() {
    // d1 (4→6) fully unrolled by a folding entry, d2 (6→5) by `plan_unrolled`
    let req = FoldingRequest::Explicit(Folding {
        layer: vec![LayerFolding {
            name: Some("d1".into()),
            index: None,
            pe: 6,
            simd: 4,
        }],
    });
    check_golden_with("unrolled", &mixed_model(3), &req, &["d2".to_string()]);
}

#[test]
fn golden_hard_wired() {
    // both convolutions hard-wired (docs/hardware.md §4.1): c1 3×3 stride 2 with asymmetric
    // padding and a pad value, c2 2×2; the dense layers keep their ROMs
    check_golden_with(
        "hard_wired",
        &mixed_model(3),
        &FoldingRequest::Minimal,
        &["c1 stride2".to_string(), "c2".to_string()],
    );
}

/// A residual network (`residual_model`): depthwise conv with 2 PEs, identity and 1×1
/// projection shortcuts (the projection fully unrolled: constant weights), forks, adders,
/// global average pooling over a 3×3 plane.
#[test]
fn golden_residual() {
    check_golden(
        "residual",
        &residual_model(3),
        &fold(&[
            ("l0", 2, 1),
            ("l2", 2, 1),
            ("l3", 2, 2),
            ("l5", 3, 2),
            ("l6", 2, 3),
            ("l7", 6, 4),
            ("l10", 5, 3),
        ]),
    );
}

/// Wide beats (`docs/hardware.md` §2): hard-wired MVUs with 1→2, 2→3 and 3→1 elements per
/// beat and tiled max and average pools of 2 and 3 (`wide_model`, beats set by hand).
#[test]
fn golden_wide() {
    let model = wide_model(5);
    check_golden_design("wide", &model, &wide_design(&model, true));
}

#[test]
fn hostile_names_never_reach_the_rtl() {
    let mut m = tiny_model(5);
    let evil = [
        "x; endmodule module evil(",
        "\\",
        "$display(\"pwn\")",
        "*/ // \n`define A",
    ];
    for (i, e) in evil.iter().enumerate() {
        rename(&mut m, i, e);
    }
    m.name = "model */ endmodule `include \"/etc/passwd\"".into();
    let dir = scratch("hostile").join("out");
    let manifest = gen(&m, &FoldingRequest::Minimal, &dir);
    for f in files_under(&dir.join("rtl")) {
        let text = std::fs::read_to_string(dir.join("rtl").join(&f)).unwrap();
        // Sanitized fragments (letters/digits) may appear; the raw text, and any character
        // that could end an identifier, a comment or start a directive, may not.
        for bad in evil
            .iter()
            .copied()
            .chain(["module evil", "`", "\\", "pwn\"", "/etc/"])
        {
            assert!(!text.contains(bad), "{} contains {bad:?}", f.display());
        }
        let ends = text.lines().filter(|l| l.trim() == "endmodule").count();
        let starts = text.lines().filter(|l| l.starts_with("module ")).count();
        if f.extension().is_some_and(|e| e == "v") {
            assert_eq!((ends, starts), (1, 1), "{}", f.display());
        }
    }
    // instance names are sanitized and unique
    let insts: Vec<&str> = manifest
        .engines
        .iter()
        .map(|e| e.instance.as_str())
        .collect();
    for i in &insts {
        assert!(
            i.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{i}"
        );
    }
    assert_eq!(
        inq_codegen::sanitize_ident("u_e0_", "x; endmodule module evil("),
        "u_e0_x_endmodule_module_evil"
    );
    assert_eq!(inq_codegen::sanitize_ident("u_e1_", "\\$"), "u_e1_");
    // lint still clean
    if have("verilator") {
        let (ok, out, err) = run(std::process::Command::new("verilator")
            .current_dir(dir.join("rtl"))
            .args(["--lint-only", "-Wall", "--top-module", "inq_top"])
            .args(rtl_files(&manifest)));
        assert!(ok && err.trim().is_empty(), "{out}{err}");
    } else {
        eprintln!("skipping verilator lint: verilator not installed");
    }
}

#[test]
fn manifest_keys_and_folder_rules() {
    let m = tiny_model(8);
    let dir = scratch("manifest").join("out");
    // an inq folder of another design: its files go, a user's file stays
    let unrolled =
        inq_hdl::plan_unrolled(&m, &FoldingRequest::Minimal, &["fc".to_string()]).unwrap();
    inq_codegen::generate(&unrolled, &m, &dir, &inq_codegen::GenOptions::default()).unwrap();
    assert!(dir.join("rtl/inq_mvu_e2.v").is_file());
    std::fs::write(dir.join("rtl/notes.txt"), "mine").unwrap();
    let man = gen(&m, &FoldingRequest::Minimal, &dir);
    assert!(
        !dir.join("rtl/inq_mvu_e2.v").exists(),
        "files of the previous design must be replaced"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("rtl/notes.txt")).unwrap(),
        "mine",
        "a user's file survives a regeneration"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    for k in [
        "format",
        "version",
        "top",
        "rtl_files",
        "hex_files",
        "model_hash",
        "design_hash",
        "clock_mhz",
        "ports",
        "input",
        "outputs",
        "taps",
        "engines",
        "performance",
        "design",
    ] {
        assert!(v.get(k).is_some(), "manifest lacks {k}");
    }
    assert_eq!(v["format"], "inq-design-manifest");
    assert_eq!(v["version"], 2);
    assert_eq!(v["top"], "inq_top");
    assert_eq!(v["input"]["order"], "hwc");
    assert_eq!(v["ports"]["argmax_width"], 2);
    // the input tap (FIFO output of stream 0), then one per node; a flatten aliases its input
    assert_eq!(man.taps.len(), m.nodes.len() + 1);
    assert_eq!(man.taps[0].node, None);
    assert_eq!(man.taps[0].tdata, "q0_tdata");
    assert_eq!(
        (man.taps[1].tdata.as_str(), man.taps[1].tvalid.as_str()),
        ("s1_tdata", "s1_tvalid")
    );
    assert_eq!(man.taps[2].tready, "s2_tready");
    assert_eq!(
        man.taps[3].tdata, man.taps[2].tdata,
        "flatten aliases the pool stream"
    );
    let top = std::fs::read_to_string(dir.join("rtl/inq_top.v")).unwrap();
    for t in &man.taps {
        for sig in [&t.tdata, &t.tvalid, &t.tready] {
            assert!(
                top.contains(&format!(" {sig} /* verilator public_flat_rd */;")),
                "{sig} is not a public wire of inq_top"
            );
        }
    }
    assert_eq!(man.model_hash, m.hash());
    for f in man.rtl_files.iter().chain(&man.hex_files) {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert!(dir.join("constraints/top.sdc").is_file() && dir.join("constraints/top.xdc").is_file());
    let sdc = std::fs::read_to_string(dir.join("constraints/top.sdc")).unwrap();
    assert!(sdc.contains("-period 10.000"), "{sdc}");
    // the folder loads and checks (manifest against model.json)
    let back = inq_design::DesignFolder::load(&dir).unwrap();
    assert_eq!(back.manifest, man);
    assert_eq!(
        back.manifest.design,
        inq_hdl::plan(&m, &FoldingRequest::Minimal).unwrap()
    );
    assert_eq!(back.model.hash(), m.hash());
    // a mismatched model is refused, and the folder is untouched
    let other = tiny_model(9);
    let d = inq_hdl::plan(&m, &FoldingRequest::Minimal).unwrap();
    let e = inq_codegen::generate(&d, &other, &dir, &inq_codegen::GenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("model hash"), "{e}");
    assert_eq!(inq_design::read_manifest(&dir).unwrap(), man);
    // a folder inq did not write is refused; with force only inq's files are added
    let foreign = scratch("manifest-foreign").join("out");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.v"), "// mine").unwrap();
    let e = inq_codegen::generate(&d, &m, &foreign, &inq_codegen::GenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a folder inq wrote"), "{e}");
    assert!(!foreign.join("manifest.json").exists());
    let opts = inq_codegen::GenOptions {
        force: true,
        ..Default::default()
    };
    inq_codegen::generate(&d, &m, &foreign, &opts).unwrap();
    assert!(foreign.join("manifest.json").is_file());
    assert_eq!(
        std::fs::read_to_string(foreign.join("keep.v")).unwrap(),
        "// mine"
    );
    // a bad clock is an option error
    let opts = inq_codegen::GenOptions {
        clock_mhz: 0.0,
        ..Default::default()
    };
    let e = inq_codegen::generate(&d, &m, &dir, &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("clock"), "{e}");
}

#[test]
fn unrolled_engine_emits_no_term_for_zero_weights() {
    // tiny: fc is 32 → 3 after a [2,4,4] map; make output 1 all-zero and output 0 a single
    // non-zero weight, output 2 keeps its random codes (about 30 % zero)
    let mut m = tiny_model(9);
    let fc = m.nodes.len() - 1;
    if let Op::Dense(d) = &mut m.nodes[fc].op {
        for f in 0..32 {
            d.weights.codes[32 + f] = 0;
            if f != 5 {
                d.weights.codes[f] = 0;
            }
        }
        if d.weights.codes[5] == 0 {
            d.weights.codes[5] = 1 << (d.weights.bits - 1);
        }
    }
    let codes = match &m.nodes[fc].op {
        Op::Dense(d) => d.weights.codes.clone(),
        _ => unreachable!(),
    };
    let dir = scratch("zero-terms").join("out");
    let design =
        inq_hdl::plan_unrolled(&m, &FoldingRequest::Minimal, &["fc".to_string()]).expect("plan");
    let manifest = inq_codegen::generate(&design, &m, &dir, &inq_codegen::GenOptions::default())
        .expect("generate");
    let ei = design.engines.len() - 1;
    let text = std::fs::read_to_string(dir.join(format!("rtl/inq_mvu_e{ei}.v"))).unwrap();
    // (PE, lane) of every emitted term, from the `// ±x[lane] << k` comments
    let mut got = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let (Some(rest), Some(c)) = (l.strip_prefix("wire ["), l.find("// ")) {
            let name = rest.split_whitespace().nth(1).unwrap_or("");
            if let Some((p, _)) = name.strip_prefix('p').and_then(|n| n.split_once("_t")) {
                let lane: usize = l[c + 6..].split(']').next().unwrap().parse().unwrap();
                got.push((p.parse::<usize>().unwrap(), lane));
            }
        }
    }
    // expected from the model: stream position j = (y·4 + x)·2 + c is feature (c·4 + y)·4 + x
    let mut want = Vec::new();
    for o in 0..3 {
        for j in 0..32 {
            let (c, yx) = (j % 2, j / 2);
            let f = (c * 4 + yx / 4) * 4 + yx % 4;
            if codes[o * 32 + f] != 0 {
                want.push((o, j));
            }
        }
    }
    assert_eq!(got, want, "terms emitted = non-zero weights");
    assert!(
        text.contains("PE 1: 0 non-zero weights in 0 terms, 32 zero weights"),
        "an all-zero PE has no terms"
    );
    assert!(!manifest
        .hex_files
        .iter()
        .any(|f| f.contains(&format!("e{ei}_w"))));
    if have("verilator") {
        let (ok, out, err) = run(std::process::Command::new("verilator")
            .current_dir(dir.join("rtl"))
            .args(["--lint-only", "-Wall", "--top-module", "inq_top"])
            .args(rtl_files(&manifest)));
        assert!(ok && err.trim().is_empty(), "{out}{err}");
    } else {
        eprintln!("skipping verilator lint: verilator not installed");
    }
}

#[test]
fn unroll_errors_name_the_layer() {
    let m = tiny_model(1);
    let e = inq_hdl::plan_unrolled(&m, &FoldingRequest::Minimal, &["pool1".to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pool1") && e.contains("not a conv or dense"),
        "{e}"
    );
    let e = inq_hdl::plan_unrolled(&m, &FoldingRequest::Minimal, &["nope".to_string()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope") && e.contains("\"fc\""), "{e}");
    // a folding entry contradicting the unroll request
    let req = FoldingRequest::Explicit(Folding {
        layer: vec![LayerFolding {
            name: Some("fc".into()),
            index: None,
            pe: 1,
            simd: 4,
        }],
    });
    let e = inq_hdl::plan_unrolled(&m, &req, &["fc".to_string()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("fc") && e.contains("3×32"), "{e}");
}

#[test]
fn inconsistent_design_is_refused_before_writing() {
    let m = tiny_model(8);
    let good = inq_hdl::plan(&m, &FoldingRequest::Minimal).unwrap();
    let dir = scratch("inconsistent").join("out");
    type Corrupt = Box<dyn Fn(&mut inq_hdl::Design)>;
    let cases: Vec<(&str, Corrupt)> = vec![
        (
            "stream 1 enters engine 2",
            Box::new(|d| d.streams[1].to = inq_hdl::Endpoint::Engine { engine: 2, port: 0 }),
        ),
        ("output stage", Box::new(|d| d.output.stream = 0)),
        ("width", Box::new(|d| d.streams[2].width += 1)),
        ("depth", Box::new(|d| d.streams[1].depth = 1)),
        ("tap", Box::new(|d| d.taps[1].stream = 99)),
    ];
    for (what, corrupt) in cases {
        let mut d = good.clone();
        corrupt(&mut d);
        let e = inq_codegen::generate(&d, &m, &dir, &inq_codegen::GenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("mismatch"), "{what}: {e}");
        assert!(!dir.exists(), "{what}: nothing is written");
    }
}
