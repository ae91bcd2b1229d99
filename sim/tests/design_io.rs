//! Loading designs from disk, and malformed designs rejected with an error naming the field.

mod common;

use common::*;
use inq_hdl::EngineKind;
use inq_sim::{load_design, simulate, Machine, SimError, SimOptions};

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("inq-sim-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn loads_from_manifest_design_json_and_plain_file() {
    let (_, spec) = &specs()[0];
    let m = model(spec, 2);
    let d = design(&m, &foldings(&m)[2].1);
    let dir = tmpdir("load");
    let manifest = serde_json::json!({
        "format": "inq-design-manifest", "version": 1, "top": "inq_top", "clock_mhz": 125.0,
        "design": serde_json::from_str::<serde_json::Value>(&d.to_json().unwrap()).unwrap(),
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    m.save(&dir.join("model.json")).unwrap();
    let l = load_design(&dir).unwrap();
    assert_eq!(l.design, d);
    assert_eq!(l.clock_mhz, Some(125.0));
    assert_eq!(l.model.as_ref(), Some(&m));
    // a bare design file
    let f = dir.join("d.json");
    std::fs::write(&f, d.to_json().unwrap()).unwrap();
    assert_eq!(load_design(&f).unwrap().design, d);
    // a folder with design.json and no manifest design
    let dir2 = tmpdir("load2");
    std::fs::write(dir2.join("design.json"), d.to_json().unwrap()).unwrap();
    assert_eq!(load_design(&dir2).unwrap().design, d);
    // nothing there
    let dir3 = tmpdir("load3");
    let e = load_design(&dir3).unwrap_err();
    assert!(e.to_string().contains("no design found"), "{e}");
    std::fs::write(dir3.join("design.json"), "{\"format\": 3}").unwrap();
    assert!(matches!(
        load_design(&dir3).unwrap_err(),
        SimError::Io { .. }
    ));
    for p in [dir, dir2, dir3] {
        std::fs::remove_dir_all(p).unwrap();
    }
}

#[test]
fn malformed_designs_are_errors_naming_the_field() {
    let (_, spec) = &specs()[0];
    let m = model(spec, 2);
    let d = design(&m, &foldings(&m)[2].1);
    type Edit = Box<dyn Fn(&mut inq_hdl::Design)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "fifos",
            Box::new(|d| {
                d.fifos.pop();
            }),
        ),
        ("engines[0].geom", Box::new(|d| d.engines[0].geom.c += 1)),
        ("engines[0].geom.nr", Box::new(|d| d.engines[0].geom.nr = 1)),
        (
            "engines[2].weights",
            Box::new(|d| {
                if let EngineKind::Mvu(x) = &mut d.engines[2].kind {
                    x.weights.pop();
                }
            }),
        ),
        (
            "engines[2].weights",
            Box::new(|d| {
                if let EngineKind::Mvu(x) = &mut d.engines[2].kind {
                    x.weights[0] = 1;
                }
            }),
        ),
        (
            "engines[0].acc_width",
            Box::new(|d| {
                if let EngineKind::Mvu(x) = &mut d.engines[0].kind {
                    x.acc_width = 3;
                }
            }),
        ),
        (
            "engines[0].pe",
            Box::new(|d| {
                if let EngineKind::Mvu(x) = &mut d.engines[0].kind {
                    x.pe = 3;
                }
            }),
        ),
        (
            "engines[0].shift",
            Box::new(|d| {
                if let EngineKind::Mvu(x) = &mut d.engines[0].kind {
                    x.shift[0] = 100;
                }
            }),
        ),
        ("output.count", Box::new(|d| d.output.count += 1)),
        ("taps[0].engine", Box::new(|d| d.taps[0].engine = Some(99))),
        ("version", Box::new(|d| d.version = 99)),
    ];
    for (field, f) in cases {
        let mut bad = d.clone();
        f(&mut bad);
        match Machine::new(&bad) {
            Err(SimError::Design { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
        assert!(simulate(&bad, &images(&m, 1, 1), &SimOptions::default()).is_err());
    }
}
