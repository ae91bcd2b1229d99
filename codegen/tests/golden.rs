//! Golden-file tests (set INQ_BLESS=1 to rewrite `codegen/tests/golden/`), name sanitization,
//! manifest contents and atomic replacement of the output folder.

mod common;
use common::*;
use inq_hdl::{Folding, FoldingRequest, LayerFolding};
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
    let dir = scratch(&format!("golden-{name}")).join("out");
    let design = inq_hdl::plan_unrolled(model, req, unroll).expect("plan");
    inq_codegen::generate(&design, model, &dir, &inq_codegen::GenOptions::default())
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
            "{name}: {} differs from the golden copy (INQ_BLESS=1 to update)",
            f.display()
        );
    }
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
    check_golden("mixed", &mixed_model(3), &req);
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
fn hostile_names_never_reach_the_rtl() {
    let mut m = tiny_model(5);
    let evil = [
        "x; endmodule module evil(",
        "\\",
        "$display(\"pwn\")",
        "*/ // \n`define A",
    ];
    let names: Vec<&mut String> = m
        .layers
        .iter_mut()
        .map(|l| match l {
            inq_model::Layer::Conv(c) => &mut c.name,
            inq_model::Layer::Dense(d) => &mut d.name,
            inq_model::Layer::MaxPool(p) | inq_model::Layer::AvgPool(p) => &mut p.name,
            inq_model::Layer::GlobalAvgPool(n) | inq_model::Layer::Flatten(n) => &mut n.name,
        })
        .collect();
    for (n, e) in names.into_iter().zip(evil) {
        *n = e.to_string();
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
fn manifest_keys_and_atomic_replace() {
    let m = tiny_model(8);
    let dir = scratch("manifest").join("out");
    std::fs::create_dir_all(dir.join("rtl")).unwrap();
    std::fs::write(dir.join("rtl/stale.v"), "stale").unwrap();
    let man = gen(&m, &FoldingRequest::Minimal, &dir);
    assert!(
        !dir.join("rtl/stale.v").exists(),
        "old folder contents must be replaced"
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
    assert_eq!(v["top"], "inq_top");
    assert_eq!(v["input"]["order"], "hwc");
    assert_eq!(v["ports"]["argmax_width"], 2);
    assert_eq!(man.taps.len(), m.layers.len());
    assert_eq!(
        man.taps[2].tdata, man.taps[1].tdata,
        "flatten aliases the pool stream"
    );
    assert_eq!(man.model_hash, m.hash());
    for f in man.rtl_files.iter().chain(&man.hex_files) {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert!(dir.join("constraints/top.sdc").is_file() && dir.join("constraints/top.xdc").is_file());
    let sdc = std::fs::read_to_string(dir.join("constraints/top.sdc")).unwrap();
    assert!(sdc.contains("-period 10.000"), "{sdc}");
    let back = inq_codegen::Manifest::load(&dir.join("manifest.json")).unwrap();
    assert_eq!(
        back.design,
        inq_hdl::plan(&m, &FoldingRequest::Minimal).unwrap()
    );
    // model.json is a loadable copy
    let copy = inq_model::QuantModel::load(&dir.join("model.json")).unwrap();
    assert_eq!(copy.hash(), m.hash());
    // a mismatched model is refused
    let other = tiny_model(9);
    let d = inq_hdl::plan(&m, &FoldingRequest::Minimal).unwrap();
    assert!(inq_codegen::generate(&d, &other, &dir, &inq_codegen::GenOptions::default()).is_err());
}

#[test]
fn unrolled_engine_emits_no_term_for_zero_weights() {
    // tiny: fc is 32 → 3 after a [2,4,4] map; make output 1 all-zero and output 0 a single
    // non-zero weight, output 2 keeps its random codes (about 30 % zero)
    let mut m = tiny_model(9);
    let fc = m.layers.len() - 1;
    if let inq_model::Layer::Dense(d) = &mut m.layers[fc] {
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
    let codes = match &m.layers[fc] {
        inq_model::Layer::Dense(d) => d.weights.codes.clone(),
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
        text.contains("PE 1: 0 non-zero terms, 32 zero weights"),
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
    let e = inq_hdl::plan_unrolled(&m, &FoldingRequest::Minimal, &["conv1".to_string()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv1") && e.contains("3×3"), "{e}");
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
