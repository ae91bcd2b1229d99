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
    let dir = scratch(&format!("golden-{name}")).join("out");
    gen(model, req, &dir);
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
