//! Loading designs from disk, malformed designs rejected with an error naming the field, and
//! no design, however mangled, makes the simulator panic.

mod common;

use common::*;
use inq_hdl::{Design, Endpoint, EngineKind};
use inq_sim::{load_design, simulate, Machine, SimError, SimOptions};

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("inq-sim-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn loads_a_design_file_or_a_manifest_shaped_file() {
    let (_, spec) = &graph_specs()[1];
    let m = model(spec, 2);
    let d = design(&m, &foldings(&m)[2].1);
    let dir = tmpdir("load");
    let f = dir.join("d.json");
    std::fs::write(&f, d.to_json().unwrap()).unwrap();
    let l = load_design(&f).unwrap();
    assert_eq!(l.design, d);
    assert_eq!(l.clock_mhz, None);
    let wrapped = serde_json::json!({
        "clock_mhz": 125.0,
        "design": serde_json::from_str::<serde_json::Value>(&d.to_json().unwrap()).unwrap(),
    });
    let f2 = dir.join("m.json");
    std::fs::write(&f2, wrapped.to_string()).unwrap();
    let l = load_design(&f2).unwrap();
    assert_eq!(l.design, d);
    assert_eq!(l.clock_mhz, Some(125.0));
    // errors convert into `SimError`
    let run = |p: &std::path::Path| -> Result<Design, SimError> { Ok(load_design(p)?.design) };
    std::fs::write(dir.join("bad.json"), "{\"format\": 3}").unwrap();
    assert!(matches!(
        run(&dir.join("bad.json")),
        Err(SimError::Folder(_))
    ));
    assert!(matches!(
        run(&dir.join("missing.json")),
        Err(SimError::Folder(_))
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

type Edit = Box<dyn Fn(&mut Design)>;

fn mvu(d: &mut Design, e: usize) -> &mut inq_hdl::Mvu {
    match &mut d.engines[e].kind {
        EngineKind::Mvu(x) => x,
        _ => panic!("engine {e} is not an MVU"),
    }
}

fn engine_of(d: &Design, tag: &str) -> usize {
    d.engines
        .iter()
        .position(|e| e.kind.tag() == tag)
        .unwrap_or_else(|| panic!("no {tag} engine"))
}

fn expect_field(d: &Design, cases: Vec<(String, Edit)>) {
    let m = Machine::new(d);
    assert!(m.is_ok(), "{:?}", m.err());
    for (field, f) in cases {
        let mut bad = d.clone();
        f(&mut bad);
        match Machine::new(&bad) {
            Err(SimError::Design { field: got, .. }) => match field.split_once('*') {
                // any index
                Some((pre, post)) => {
                    assert!(
                        got.starts_with(pre) && got.ends_with(post),
                        "{field}: {got}"
                    )
                }
                None => assert_eq!(got, field),
            },
            other => panic!("{field}: {other:?}"),
        }
        let imgs = vec![vec![0; d.input_elements()]];
        assert!(simulate(&bad, &imgs, &SimOptions::default()).is_err());
    }
}

#[test]
fn malformed_chain_designs_are_errors_naming_the_field() {
    let (_, spec) = &chain_specs()[0];
    let m = model(spec, 2);
    let d = design(&m, &foldings(&m)[2].1);
    let out = d.output.stream;
    let cases: Vec<(String, Edit)> = vec![
        ("version".into(), Box::new(|d| d.version = 99)),
        (
            "streams[0].depth".into(),
            Box::new(|d| d.streams[0].depth = 1),
        ),
        (
            "streams[1].width".into(),
            Box::new(|d| d.streams[1].width += 1),
        ),
        (
            "engines[0].kind.sf".into(),
            Box::new(|d| mvu(d, 0).geom.c += 1),
        ),
        (
            "engines[0].kind.geom.nr".into(),
            Box::new(|d| mvu(d, 0).geom.nr = 1),
        ),
        (
            "engines[0].kind.geom".into(),
            Box::new(|d| mvu(d, 0).geom.oh += 1),
        ),
        (
            "engines[2].kind.weights".into(),
            Box::new(|d| {
                mvu(d, 2).weights.pop();
            }),
        ),
        (
            "engines[2].kind.weights".into(),
            Box::new(|d| mvu(d, 2).weights[0] = 0xff),
        ),
        (
            "engines[0].kind.acc_width".into(),
            Box::new(|d| mvu(d, 0).acc_width = 3),
        ),
        ("engines[0].kind.pe".into(), Box::new(|d| mvu(d, 0).pe = 3)),
        (
            "engines[0].kind.shift".into(),
            Box::new(|d| mvu(d, 0).shift[0] = 100),
        ),
        (
            format!("streams[{out}].elements_per_image"),
            Box::new(|d| d.output.count += 1),
        ),
        ("taps[0].stream".into(), Box::new(|d| d.taps[0].stream = 99)),
        (
            "engines[2].inputs[0]".into(),
            Box::new(|d| d.streams[2].to = Endpoint::Output),
        ),
        (
            "engines[1].inputs".into(),
            Box::new(|d| d.engines[1].inputs.clear()),
        ),
        (
            "engines[1].inputs[0]".into(),
            Box::new(|d| d.engines[1].inputs[0] = 0),
        ),
    ];
    expect_field(&d, cases);
}

#[test]
fn malformed_graph_designs_are_errors_naming_the_field() {
    let (_, spec) = graph_specs()
        .into_iter()
        .find(|(n, _)| *n == "residual_projection_gap25")
        .unwrap();
    let m = model(&spec, 2);
    let d = design(&m, &foldings(&m)[2].1);
    let fork = engine_of(&d, "fork");
    let add = engine_of(&d, "add");
    let gap = engine_of(&d, "gap");
    let cases: Vec<(String, Edit)> = vec![
        (
            format!("engines[{fork}].outputs"),
            Box::new(move |d| {
                if let EngineKind::Fork(f) = &mut d.engines[fork].kind {
                    f.outputs += 1;
                }
            }),
        ),
        (
            format!("engines[{add}].kind.sum_width"),
            Box::new(move |d| {
                if let EngineKind::Add(a) = &mut d.engines[add].kind {
                    a.sum_width = 2;
                }
            }),
        ),
        (
            format!("engines[{add}].kind.shift"),
            Box::new(move |d| {
                if let EngineKind::Add(a) = &mut d.engines[add].kind {
                    a.shift = -60;
                }
            }),
        ),
        (
            format!("engines[{gap}].kind.shift"),
            Box::new(move |d| {
                if let EngineKind::Gap(g) = &mut d.engines[gap].kind {
                    g.shift += 1;
                }
            }),
        ),
        (
            // an engine reads an engine listed after it
            "streams[*].to".into(),
            Box::new(move |d| {
                let last = d.engines.len() - 1;
                d.engines.swap(add, last);
                // keep the endpoints consistent with the new indices
                for s in &mut d.streams {
                    for ep in [&mut s.from, &mut s.to] {
                        if let Endpoint::Engine { engine, .. } = ep {
                            if *engine == add {
                                *engine = last;
                            } else if *engine == last {
                                *engine = add;
                            }
                        }
                    }
                }
            }),
        ),
    ];
    expect_field(&d, cases);
}

/// Random mutations of a design's numbers (any field, any value from a small set of edge
/// cases): the simulator either rejects the design or runs it, it never panics or overflows.
#[test]
fn mangled_designs_never_panic() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(77);
    let mut rng = inq_model::random::SplitMix64(seed);
    let picks = [
        0i64,
        1,
        2,
        3,
        7,
        63,
        64,
        1 << 20,
        1 << 24,
        1 << 31,
        i64::MAX,
        -1,
        -62,
        i64::MIN,
    ];
    let mut ran = 0;
    for (name, spec) in specs() {
        let m = model(&spec, 3);
        let d = design(&m, &foldings(&m)[2].1);
        let v = serde_json::to_value(&d).unwrap();
        let imgs = images(&m, 2, 3);
        for _ in 0..std::env::var("FUZZ_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60)
        {
            let mut w = v.clone();
            for _ in 0..1 + rng.range(0, 2) {
                let mut leaves = Vec::new();
                collect_numbers(&w, String::new(), &mut leaves);
                let path = &leaves[rng.range(0, leaves.len() as i64 - 1) as usize];
                let x = picks[rng.range(0, picks.len() as i64 - 1) as usize];
                if let Some(p) = w.pointer_mut(path) {
                    *p = match p {
                        serde_json::Value::Bool(b) => serde_json::json!(!*b),
                        _ => serde_json::json!(x),
                    };
                }
            }
            let Ok(bad) = serde_json::from_value::<Design>(w) else {
                continue;
            };
            if Machine::new(&bad).is_ok() {
                ran += 1;
            }
            let _ = simulate(
                &bad,
                &imgs,
                &SimOptions {
                    max_cycles: Some(200_000),
                    idle_limit: 20_000,
                    ..SimOptions::default()
                },
            );
            let _ = name;
        }
    }
    assert!(ran > 0);
}

fn collect_numbers(v: &serde_json::Value, path: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => out.push(path),
        serde_json::Value::Array(a) => {
            // a few elements of long arrays (weights) are enough
            for (i, x) in a.iter().enumerate().take(4) {
                collect_numbers(x, format!("{path}/{i}"), out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                collect_numbers(x, format!("{path}/{k}"), out);
            }
        }
        _ => {}
    }
}
