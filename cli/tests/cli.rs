//! End-to-end tests of the `inq` binary.

use inq_model::random::{build, LayerSpec, RandomSpec};
use inq_model::ActFormat;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn inq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inq"))
        .args(args)
        .output()
        .expect("run inq")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("inq-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    std::fs::write(path, v).unwrap();
}

/// A 20-image 8×8 dataset and a random model for it.
fn fixture(name: &str) -> (PathBuf, PathBuf) {
    let dir = tmpdir(name);
    let pixels: Vec<u8> = (0..20 * 64).map(|i| ((i * 37) % 256) as u8).collect();
    let labels: Vec<u8> = (0..20).map(|i| (i % 3) as u8).collect();
    write_idx(&dir.join("t10k-images-idx3-ubyte"), &[20, 8, 8], &pixels);
    write_idx(&dir.join("t10k-labels-idx1-ubyte"), &[20], &labels);
    let spec = RandomSpec {
        input: [1, 8, 8],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        },
        layers: vec![
            LayerSpec::Conv {
                out: 2,
                k: 3,
                stride: 1,
                pad: 1,
                bits: 4,
                act_bits: 8,
                relu: true,
                per_channel: false,
            },
            LayerSpec::MaxPool(2),
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 3,
                bits: 3,
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    };
    let m = build(&spec, 7).unwrap();
    let mp = dir.join("model.json");
    m.save(&mp).unwrap();
    (dir, mp)
}

#[test]
fn help_lists_the_eleven_subcommands() {
    let out = inq(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "train", "quantize", "eval", "gen", "sim", "verify", "report", "impl", "explore",
        "compare", "flow",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(cmd)),
            "--help lacks {cmd}:\n{text}"
        );
    }
}

#[test]
fn eval_reports_integer_accuracy_as_json() {
    let (dir, mp) = fixture("eval");
    let out = inq(&[
        "eval",
        mp.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["images"], 20);
    let acc = v["integer_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    // the same figure computed here with the reference
    let m = inq_model::QuantModel::load(&mp).unwrap();
    let r = inq_model::Reference::new(&m).unwrap();
    let pixels: Vec<u8> = (0..20 * 64).map(|i| ((i * 37) % 256) as u8).collect();
    let correct = (0..20)
        .filter(|&i| {
            let x: Vec<i64> = pixels[i * 64..(i + 1) * 64]
                .iter()
                .map(|&p| p as i64)
                .collect();
            r.run(&x).unwrap().argmax == i % 3
        })
        .count();
    assert_eq!(acc, correct as f64 / 20.0);
    let out = inq(&[
        "eval",
        mp.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "--limit",
        "5",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["images"], 5);
}

#[test]
fn eval_rejects_a_bad_model_naming_file_and_field() {
    let (dir, mp) = fixture("bad");
    let text = std::fs::read_to_string(&mp).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["nodes"][0]["weights"]["codes"][3] = serde_json::json!(255);
    let bad = dir.join("bad.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    let out = inq(&[
        "eval",
        bad.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.json") && err.contains("node \"l0\" (nodes[0]).weights.codes[3]"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn eval_reports_missing_data_files() {
    let (dir, mp) = fixture("nodata");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = inq(&[
        "eval",
        mp.to_str().unwrap(),
        "--data",
        empty.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("t10k-images-idx3-ubyte"), "{err}");
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "inq failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

/// Whether `tool` runs. The tests need verilator and yosys (`scripts/setup` installs them):
/// a missing tool fails the test instead of skipping part of it, unless
/// `INQ_ALLOW_MISSING_TOOLS=1` says so explicitly.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg(if tool == "yosys" { "-V" } else { "--version" })
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(),
            "{tool} is not installed: run scripts/setup (or set INQ_ALLOW_MISSING_TOOLS=1 to skip the parts that need it)"
        );
        eprintln!("SKIPPED part of this test: {tool} is not installed (INQ_ALLOW_MISSING_TOOLS)");
    }
    ok
}

#[test]
fn gen_sim_verify_report_agree() {
    let (dir, mp) = fixture("hw");
    let design = dir.join("design");
    let d = design.to_str().unwrap();
    let data = dir.to_str().unwrap();
    let g = json_of(&inq(&[
        "gen",
        mp.to_str().unwrap(),
        "--out",
        d,
        "--lanes",
        "4",
        "--json",
    ]));
    assert_eq!(g["manifest"]["top"], "inq_top");
    assert!(design.join("rtl/inq_top.v").exists() && design.join("model.json").exists());
    let s = json_of(&inq(&[
        "sim",
        d,
        "--data",
        data,
        "--stall-rate",
        "0.2",
        "--seed",
        "5",
        "--json",
    ]));
    for key in [
        "images",
        "mismatches",
        "accuracy",
        "total_cycles",
        "latency_cycles",
        "interval_cycles",
    ] {
        assert!(s.get(key).is_some(), "inq sim --json lacks {key}");
    }
    assert_eq!(s["images"], 20);
    assert_eq!(s["mismatches"].as_array().unwrap().len(), 0);
    let e = json_of(&inq(&[
        "eval",
        mp.to_str().unwrap(),
        "--data",
        data,
        "--json",
    ]));
    assert_eq!(s["accuracy"], e["integer_accuracy"]);
    if have("verilator") {
        let v = json_of(&inq(&[
            "verify",
            d,
            "--data",
            data,
            "--stall-rate",
            "0.2",
            "--seed",
            "5",
            "--json",
        ]));
        for key in [
            "images",
            "mismatches",
            "accuracy",
            "total_cycles",
            "latency_cycles",
            "interval_cycles",
        ] {
            assert_eq!(v[key], s[key], "inq verify and inq sim disagree on {key}");
        }
        // the Verilator build log is kept in the folder, recorded as inq's, and named
        let log = design.join("logs/verilator-build.log");
        assert!(log.is_file(), "no {}", log.display());
        let out = inq(&["verify", d, "--data", data, "--limit", "2"]);
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("logs/verilator-build.log"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    if have("yosys") {
        let r = json_of(&inq(&["report", d, "--flows", "xilinx,generic", "--json"]));
        // the full yosys logs are in the folder, named in the report
        for (i, flow) in ["xilinx", "generic"].iter().enumerate() {
            let log = r["synth"][i]["log"].as_str().unwrap();
            assert!(log.ends_with(&format!("logs/yosys-{flow}.log")), "{log}");
            assert!(std::fs::metadata(log).unwrap().len() > 1000);
        }
        let marker = std::fs::read_to_string(design.join(".inq-folder.json")).unwrap();
        assert!(marker.contains("logs/yosys-generic.log"), "{marker}");
        let synth = r["synth"].as_array().unwrap();
        assert_eq!(synth.len(), 2);
        assert_eq!(
            synth[1]["total"]["arith_cells"], 0,
            "a multiplier in a shift-add design"
        );
        assert_eq!(synth[1]["total"]["latches"], 0);
        assert!(synth[0]["total"]["luts"].as_u64().unwrap() > 0);
        assert_eq!(r["engines"].as_array().unwrap().len(), 3);
        // the deepest path of the mapped netlist (Xilinx only: the generic flow maps no
        // LUTs), per engine beside the plan's estimate, and the 200 MHz level target
        let depth = r["depth"].as_array().unwrap();
        assert_eq!(depth.len(), 1, "{depth:?}");
        let x = &depth[0];
        assert_eq!(x["flow"], "xilinx");
        assert_eq!(x["target_levels"], 6);
        let engines = x["engines"].as_array().unwrap();
        assert_eq!(engines.len(), 3);
        for e in engines {
            let est = e["estimate"]["levels"].as_i64().unwrap();
            let got = e["netlist"]["levels"].as_i64().unwrap();
            assert!(est > 0 && got > 0, "{e}");
        }
        let err = x["level_error"].as_i64().unwrap();
        assert!(
            err.abs() <= 3,
            "design depth estimate off by {err} levels: {x}"
        );
    }
}

#[test]
fn gen_rejects_illegal_folding_and_leaves_no_folder() {
    let (dir, mp) = fixture("badfold");
    let fold = dir.join("fold.toml");
    std::fs::write(&fold, "[[layer]]\nindex = 0\npe = 3\nsimd = 1\n").unwrap();
    let out_dir = dir.join("design");
    let out = inq(&[
        "gen",
        mp.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--fold",
        fold.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("l0") || err.contains("layer 0") || err.contains("layers[0]"),
        "{err}"
    );
    assert!(err.contains('3'), "{err}");
    assert!(!out_dir.exists(), "a failed gen left {}", out_dir.display());
}

#[test]
fn gen_target_fps_chooses_engines_and_no_hard_wired_keeps_rom_lanes() {
    let (dir, mp) = fixture("hardwired");
    let m = mp.to_str().unwrap();
    // --no-hard-wired only with a throughput target
    let bad = inq(&[
        "gen",
        m,
        "--no-hard-wired",
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--target-fps"));
    assert!(!dir.join("x").exists());
    // the fastest target of ROM-fed lanes: with the option every engine stays ROM-fed, and
    // the design is at least as large as the planner's own choice at the same target (which
    // may hard-wire engines; with them and wide beats it reaches further)
    let lut_est = |out: &Output| -> u64 {
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.starts_with("total:")).unwrap();
        let est = line.split("~").nth(1).unwrap().split(' ').next().unwrap();
        est.parse().unwrap()
    };
    let mut est = Vec::new();
    let mut maxima = Vec::new();
    for (name, extra) in [("hw", None), ("rom", Some("--no-hard-wired"))] {
        let out_dir = dir.join(name);
        let mut args = vec!["gen", m, "--target-fps", "1e9", "--out"];
        args.push(out_dir.to_str().unwrap());
        args.extend(extra);
        let fail = inq(&args);
        // 1e9 images/s is out of reach: the error names the bound
        assert!(!fail.status.success());
        let err = String::from_utf8_lossy(&fail.stderr);
        let max: f64 = err
            .split("at most ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{err}"));
        maxima.push(max);
    }
    assert!(maxima[0] >= maxima[1], "{maxima:?}");
    // the bound the error names is reached (with wide beats where needed)
    let top = format!("{}", (maxima[0] * 0.999).floor());
    let fastest = dir.join("fastest");
    let out = inq(&[
        "gen",
        m,
        "--target-fps",
        &top,
        "--out",
        fastest.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fps = format!("{}", (maxima[1] * 0.999).floor());
    for (name, extra) in [("hw", None), ("rom", Some("--no-hard-wired"))] {
        let out_dir = dir.join(name);
        let mut args = vec!["gen", m, "--target-fps", &fps, "--out"];
        args.push(out_dir.to_str().unwrap());
        args.extend(extra);
        let out = inq(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if extra.is_some() {
            assert!(!String::from_utf8_lossy(&out.stdout).contains("hard-wired"));
        }
        est.push(lut_est(&out));
    }
    assert!(est[0] <= est[1], "{est:?}");
}

/// The pipeline registers the manifest of design folder `dir` records for its (first)
/// hard-wired engine.
fn hard_wired_registers(dir: &std::path::Path) -> u64 {
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    v["design"]["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"]["weight_storage"] == "constant")
        .map(|e| e["kind"]["pipeline"].as_u64().unwrap_or(0))
        .unwrap()
}

/// `inq gen MODEL --unroll 3 --out OUT EXTRA…`: the fixture's hard-wired dense layer.
fn gen_unrolled(model: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "gen",
        model,
        "--unroll",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    inq(&args)
}

/// `--tree-levels`: the hard-wired dense layer's adder tree (32 terms) gets the plan's
/// registers without a clock target (`--pipeline-for none`), none with 0, one per adder level
/// with 1; the design records them. The default, pipelined for 7-series at 200 MHz, keeps the
/// engine within the 6-level target in the mapped netlist.
#[test]
fn gen_tree_levels_sets_the_pipeline_registers() {
    let (dir, mp) = fixture("treelevels");
    let m = mp.to_str().unwrap();
    let mut registers = Vec::new();
    for (name, extra) in [
        ("plan", ["--pipeline-for", "none"]),
        ("none", ["--tree-levels", "0"]),
        ("every", ["--tree-levels", "1"]),
        ("default", ["--beats", "auto"]),
    ] {
        let out_dir = dir.join(name);
        let out = gen_unrolled(m, &out_dir, &extra);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let line = text
            .lines()
            .find(|l| l.starts_with("hard-wired"))
            .unwrap_or_else(|| panic!("{text}"))
            .to_string();
        let d = hard_wired_registers(&out_dir);
        registers.push((line, d));
    }
    assert!(
        registers[0].0.contains("pipeline register"),
        "{registers:?}"
    );
    assert!(registers[1].0.contains("in one cycle"), "{registers:?}");
    assert_eq!(registers[1].1, 0);
    assert!(
        registers[0].1 >= 1 && registers[2].1 > registers[0].1,
        "{registers:?}"
    );
    // the default: a clock target of 200 MHz on 7-series, at least the plan's registers
    assert!(
        registers[3].0.contains("pipeline register") && registers[3].1 >= registers[0].1,
        "{registers:?}"
    );
    // which keep the hard-wired engine within the 200 MHz 7-series target in the mapped
    // netlist, and its estimate within two levels of it
    if have("yosys") {
        let d = dir.join("default");
        let r = json_of(&inq(&[
            "report",
            d.to_str().unwrap(),
            "--flows",
            "xilinx",
            "--engines",
            "2",
            "--json",
        ]));
        let x = &r["depth"][0];
        let engines = x["engines"].as_array().unwrap();
        assert_eq!(engines.len(), 1, "only the synthesized engine: {x}");
        let est = engines[0]["estimate"]["levels"].as_i64().unwrap();
        let got = engines[0]["netlist"]["levels"].as_i64().unwrap();
        assert!(got <= 6, "{x}");
        assert!((est - got).abs() <= 2, "{x}");
    }
}

/// `--pipeline-for FAMILY --pipeline-mhz F`: the hard-wired engine's registers come from the
/// clock (none at a slow clock, more at a fast one), the summary says what meets; the default
/// is 7-series at 200 MHz, or at `--clock-mhz` when that is faster; a fixed `--tree-levels`
/// beside a family, or a clock without one, is refused.
#[test]
fn gen_pipeline_for_a_clock_chooses_the_registers() {
    let (dir, mp) = fixture("pipelinefor");
    let m = mp.to_str().unwrap();
    let mut registers = Vec::new();
    for mhz in ["20", "450"] {
        let out_dir = dir.join(mhz);
        let out = gen_unrolled(
            m,
            &out_dir,
            &["--pipeline-for", "xilinx7", "--pipeline-mhz", mhz],
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("clock target {mhz}.0 MHz on Xilinx 7-series")),
            "{text}"
        );
        let d = hard_wired_registers(&out_dir);
        registers.push((text, d));
    }
    assert_eq!(registers[0].1, 0, "{}", registers[0].0);
    assert!(
        registers[0].0.contains("the whole tree in one cycle"),
        "{}",
        registers[0].0
    );
    assert!(registers[1].1 >= 1, "{}", registers[1].0);
    // the ROM-fed l0: at 20 MHz it meets the period and gets no register; at 450 MHz no
    // choice fits, and the read registers with the datapath register gain more than the two
    // LUT levels a miss needs (its schedule chain, `fire` into the read, is cut;
    // docs/hardware.md §4, §12), which the summary says
    let regs = |mhz: &str, key: &str| {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(mhz).join("manifest.json")).unwrap(),
        )
        .unwrap();
        v["design"]["engines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"][key].as_bool() == Some(true))
            .count()
    };
    assert_eq!(regs("20", "data_regs"), 0, "{}", registers[0].0);
    assert_eq!(regs("20", "read_regs"), 0, "{}", registers[0].0);
    assert_eq!(regs("450", "data_regs"), 1, "{}", registers[1].0);
    assert_eq!(regs("450", "read_regs"), 1, "{}", registers[1].0);
    assert!(
        registers[1]
            .0
            .contains("l0: read registers and registered datapath"),
        "{}",
        registers[1].0
    );
    assert!(
        registers[1]
            .0
            .contains("over the target (no further stage, or none that gains 2 LUT levels): l0"),
        "{}",
        registers[1].0
    );
    // the default clock target: 200 MHz on 7-series below it, --clock-mhz above it; none
    // with `--pipeline-for none`
    for (clock, target) in [
        ("100", Some("200.0")),
        ("250", Some("250.0")),
        ("none", None),
    ] {
        let out_dir = dir.join(format!("default{clock}"));
        let extra = if clock == "none" {
            ["--pipeline-for", "none"]
        } else {
            ["--clock-mhz", clock]
        };
        let out = gen_unrolled(m, &out_dir, &extra);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{text}");
        match target {
            Some(t) => assert!(
                text.contains(&format!("clock target {t} MHz on Xilinx 7-series")),
                "{text}"
            ),
            None => assert!(!text.contains("clock target"), "{text}"),
        }
    }
    for (name, extra) in [
        ("both", ["--pipeline-for", "xilinx7", "--tree-levels", "2"]),
        (
            "levels_mhz",
            ["--pipeline-mhz", "200", "--tree-levels", "2"],
        ),
    ] {
        let out_dir = dir.join(name);
        let out = gen_unrolled(m, &out_dir, &extra);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out_dir.exists());
    }
    let out_dir = dir.join("none_mhz");
    let out = inq(&[
        "gen",
        m,
        "--pipeline-for",
        "none",
        "--pipeline-mhz",
        "200",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--pipeline-mhz needs a family"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out_dir.exists());
}

#[test]
fn explore_sweeps_lanes_and_writes_tables_and_plot() {
    let (dir, mp) = fixture("explore");
    let out_dir = dir.join("ex");
    let synth = if have("yosys") { "pareto" } else { "none" };
    let out = inq(&[
        "explore",
        mp.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "--lanes",
        "1,2,100",
        "--synth",
        synth,
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    let v = json_of(&out);
    let points = v["points"].as_array().unwrap();
    // Budgets 1 and 2 both give the minimal design (2 lanes): reported once.
    let lanes: Vec<u64> = points
        .iter()
        .map(|p| p["lanes"].as_u64().unwrap())
        .collect();
    assert_eq!(lanes.first(), Some(&2), "{lanes:?}");
    let mut sorted = lanes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), lanes.len(), "duplicate foldings: {lanes:?}");
    for p in points {
        let plan = p["plan_interval_cycles"].as_f64().unwrap();
        assert_eq!(p["sim_interval_cycles"].as_f64(), Some(plan), "{p}");
        assert!(
            (p["accuracy"].as_f64().unwrap() - v["points"][0]["accuracy"].as_f64().unwrap()).abs()
                < 1e-12
        );
    }
    // More lanes never slow the design down (the designs of ROM-fed lanes, in budget order;
    // a design with hard-wired engines follows the one whose interval it was planned for),
    // and the fastest point is on the front.
    let ips: Vec<f64> = points
        .iter()
        .filter(|p| p["hard_wired"] == "")
        .map(|p| p["images_per_second"].as_f64().unwrap())
        .collect();
    for p in points.iter().filter(|p| p["hard_wired"] != "") {
        assert_eq!(p["pareto_rom"], false, "{p}");
    }
    assert!(ips.windows(2).all(|w| w[1] >= w[0]), "{ips:?}");
    let best = points
        .iter()
        .max_by(|a, b| {
            a["images_per_second"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["images_per_second"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(best["pareto"], true);
    if synth == "pareto" {
        for p in points {
            assert_eq!(
                p["pareto"] == true,
                p["yosys_luts"].as_u64().is_some(),
                "{p}"
            );
        }
    }
    let csv = std::fs::read_to_string(out_dir.join("explore.csv")).unwrap();
    assert_eq!(csv.lines().count(), points.len() + 1);
    let md = std::fs::read_to_string(out_dir.join("explore.md")).unwrap();
    assert!(md.contains("| model | bits | lanes |"));
    let svg = std::fs::read_to_string(out_dir.join("pareto.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("circle"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    // A zero budget is a clear error.
    let bad = inq(&[
        "explore",
        mp.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "--lanes",
        "0",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--lanes"));
}

#[test]
fn multiplier_baseline_gen_sim_and_compare() {
    let (dir, mp) = fixture("mac");
    let data = dir.to_str().unwrap();
    let shift = dir.join("shift");
    let mul = dir.join("mul");
    let g1 = json_of(&inq(&[
        "gen",
        mp.to_str().unwrap(),
        "--lanes",
        "4",
        "--out",
        shift.to_str().unwrap(),
        "--json",
    ]));
    // The INQ model converted losslessly to integer weights, one multiplier per lane.
    let g2 = json_of(&inq(&[
        "gen",
        mp.to_str().unwrap(),
        "--mac",
        "multiply",
        "--lanes",
        "4",
        "--out",
        mul.to_str().unwrap(),
        "--json",
    ]));
    let interval = |g: &serde_json::Value| g["manifest"]["performance"]["interval_cycles"].clone();
    assert_eq!(interval(&g1), interval(&g2), "equal folding, equal cycles");
    let rtl = std::fs::read_to_string(mul.join("rtl/inq_top.v")).unwrap();
    assert!(
        rtl.contains(".MUL("),
        "multiplier lanes requested in the top"
    );
    // The simulator checks the multiplier design against the integer reference.
    let s = json_of(&inq(&[
        "sim",
        mul.to_str().unwrap(),
        "--data",
        data,
        "--json",
    ]));
    assert_eq!(s["mismatch_count"], 0);
    assert_eq!(s["images"], 20);
    // Side by side: same throughput, DSPs only on the multiplier side, same accuracy (the
    // conversion is exact).
    if have("yosys") {
        let c = json_of(&inq(&[
            "compare",
            shift.to_str().unwrap(),
            mul.to_str().unwrap(),
            "--flows",
            "xilinx",
            "--data",
            data,
            "--json",
        ]));
        let (a, b) = (&c["a"], &c["b"]);
        assert_eq!(a["mac"], "shift");
        assert_eq!(b["mac"], "multiply");
        assert_eq!(a["images_per_second"], b["images_per_second"]);
        assert_eq!(a["accuracy"], b["accuracy"]);
        assert_eq!(a["xilinx"]["dsp"], 0);
        assert!(b["xilinx"]["dsp"].as_u64().unwrap() > 0, "{c}");
    }
    // `--mac shift` refuses an integer-weight model with a clear error.
    let int_model = mul.join("model.json");
    let bad = inq(&[
        "gen",
        int_model.to_str().unwrap(),
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("multiply"), "{err}");
}

#[test]
fn gen_never_deletes_files_it_did_not_write() {
    let (dir, mp) = fixture("safe-out");
    // a folder of the user's: refused, untouched
    let mine = dir.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "keep").unwrap();
    let out = inq(&["gen", mp.to_str().unwrap(), "--out", mine.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a folder inq wrote") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);
    // --force adds inq's files and keeps the user's
    let out = inq(&[
        "gen",
        mp.to_str().unwrap(),
        "--out",
        mine.to_str().unwrap(),
        "--force",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(mine.join("notes.txt")).unwrap(),
        "keep"
    );
    assert!(mine.join("manifest.json").is_file());
    // an existing regular file is never replaced by a folder
    let file = dir.join("file.txt");
    std::fs::write(&file, "x").unwrap();
    for force in [false, true] {
        let mut args = vec!["gen", mp.to_str().unwrap(), "--out", file.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        let out = inq(&args);
        assert!(!out.status.success());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }
    // a design folder inq wrote is replaced, and a file the user put there survives
    let d = dir.join("design");
    let ok = inq(&["gen", mp.to_str().unwrap(), "--out", d.to_str().unwrap()]);
    assert!(ok.status.success());
    std::fs::write(d.join("notes.txt"), "mine").unwrap();
    let ok = inq(&[
        "gen",
        mp.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--lanes",
        "4",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("notes.txt")).unwrap(),
        "mine"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The state of a design folder after a run: its design hash, once every file the marker
/// lists is present and the user's file is intact.
fn design_state(d: &Path) -> String {
    let marker: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(".inq-folder.json")).unwrap())
            .unwrap();
    for f in marker["files"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        assert!(
            d.join(f).is_file(),
            "{} lists {f}, which is missing",
            d.display()
        );
    }
    assert_eq!(
        std::fs::read_to_string(d.join("notes.txt")).unwrap(),
        "mine"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("manifest.json")).unwrap()).unwrap();
    m["design_hash"].as_str().unwrap().to_string()
}

/// Nothing of inq's is left beside the output (staging folders, temporary files).
fn no_temporaries(parent: &Path) {
    let stray: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "left beside the output: {stray:?}");
}

/// SIGINT at any moment of `inq gen` over an existing design folder leaves the old design or
/// the new one (complete, with the user's file), and no temporary; a SIGINT during the swap
/// waits for the swap and exits 130 with the new design.
#[test]
fn interrupt_leaves_the_old_or_the_new_output() {
    let (dir, mp) = fixture("sigint");
    let parent = dir.join("out");
    std::fs::create_dir_all(&parent).unwrap();
    let d = parent.join("design");
    let gen = |lanes: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_inq"));
        c.args(["gen", mp.to_str().unwrap(), "--out", d.to_str().unwrap()])
            .args(["--lanes", lanes])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let sigint = |pid: u32| {
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("run kill");
    };
    assert!(gen("2").status().unwrap().success());
    std::fs::write(d.join("notes.txt"), "mine").unwrap();
    let mut hashes = std::collections::HashMap::new();
    hashes.insert("2", design_state(&d));
    assert!(gen("100").status().unwrap().success());
    hashes.insert("100", design_state(&d));
    assert_ne!(hashes["2"], hashes["100"]);
    let mut state = "100";
    let (mut old_kept, mut new_written) = (0, 0);
    for step in 0..60u64 {
        let want = if state == "2" { "100" } else { "2" };
        let mut child = gen(want).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_micros(step * 250));
        sigint(child.id());
        let status = child.wait().unwrap();
        let now = design_state(&d);
        if now == hashes[want] {
            state = want;
            new_written += 1;
        } else {
            assert_eq!(
                now, hashes[state],
                "step {step}: neither the old nor the new design"
            );
            assert!(
                !status.success(),
                "step {step}: success without the new design"
            );
            old_kept += 1;
        }
        no_temporaries(&parent);
    }
    eprintln!("{old_kept} interrupts kept the old design, {new_written} came after the new one");
    // an interrupt inside the swap waits for it: the new design, exit 130
    let want = if state == "2" { "100" } else { "2" };
    let t0 = std::time::Instant::now();
    let mut child = gen(want)
        .env("INQ_TEST_SWAP_SLEEP_MS", "4000")
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2000));
    sigint(child.id());
    let status = child.wait().unwrap();
    assert!(
        t0.elapsed().as_millis() >= 4000,
        "the interrupt did not wait"
    );
    assert_eq!(status.code(), Some(130));
    assert_eq!(design_state(&d), hashes[want]);
    no_temporaries(&parent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGINT at any moment of `inq explore` over an existing output folder leaves the old tables
/// or the new ones (every file the folder's marker lists, the user's file), and no temporary.
#[test]
fn interrupted_explore_leaves_the_old_or_the_new_output() {
    let (dir, mp) = fixture("sigint-explore");
    let parent = dir.join("out");
    std::fs::create_dir_all(&parent).unwrap();
    let out = parent.join("explore");
    let explore = |lanes: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_inq"));
        c.args(["explore", mp.to_str().unwrap(), "--synth", "none"])
            .args(["--data", dir.to_str().unwrap(), "--lanes", lanes])
            .args(["--out", out.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    // the listed files exist, the user's file is intact; the state is the table
    let state = || -> String {
        let marker: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(".inq-folder.json")).unwrap())
                .unwrap();
        for f in marker["files"].as_array().unwrap() {
            let f = f.as_str().unwrap();
            assert!(
                out.join(f).is_file(),
                "the marker lists {f}, which is missing"
            );
        }
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "mine"
        );
        std::fs::read_to_string(out.join("explore.csv")).unwrap()
    };
    assert!(explore("1").status().unwrap().success());
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let old = state();
    let t0 = std::time::Instant::now();
    assert!(explore("1,100").status().unwrap().success());
    let full = t0.elapsed();
    let new = state();
    assert_ne!(old, new);
    let mut current = new.clone();
    let (mut kept, mut replaced) = (0, 0);
    for step in 0..16u32 {
        let want = if current == old { "1,100" } else { "1" };
        let mut child = explore(want).spawn().unwrap();
        std::thread::sleep(full * step / 12);
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("run kill");
        let status = child.wait().unwrap();
        let now = state();
        let target = if want == "1" { &old } else { &new };
        if &now == target {
            replaced += 1;
        } else {
            assert_eq!(
                now, current,
                "step {step}: neither the old nor the new output"
            );
            assert!(
                !status.success(),
                "step {step}: success without the new output"
            );
            kept += 1;
        }
        current = now;
        no_temporaries(&parent);
    }
    eprintln!("{kept} interrupts kept the old output, {replaced} came after the new one");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGINT at any moment of `inq flow` (from a quantized model: plan, generate, simulate, verify
/// under Verilator) over an earlier flow's output leaves the old output or the new one, with the
/// user's file, and no temporary beside it.
#[test]
fn interrupted_flow_leaves_the_old_or_the_new_output() {
    let (dir, mp) = fixture("sigint-flow");
    let parent = dir.join("out");
    std::fs::create_dir_all(&parent).unwrap();
    let out = parent.join("flow");
    let flow = |lanes: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_inq"));
        c.args(["flow", "--quantized", mp.to_str().unwrap(), "--no-report"])
            .args(["--data", dir.to_str().unwrap(), "--images", "4"])
            .args(["--lanes", lanes, "--out", out.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    // the listed files exist, the user's file is intact
    let state = || -> String {
        let marker: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(".inq-folder.json")).unwrap())
                .unwrap();
        for f in marker["files"].as_array().unwrap() {
            let f = f.as_str().unwrap();
            assert!(
                out.join(f).is_file(),
                "the marker lists {f}, which is missing"
            );
        }
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "mine"
        );
        // (the report's text has timings; the design's hash says which run wrote the output)
        assert!(out.join("report.md").is_file());
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("design/manifest.json")).unwrap(),
        )
        .unwrap();
        m["design_hash"].as_str().unwrap().to_string()
    };
    assert!(flow("2").status().unwrap().success());
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let old = state();
    assert!(flow("8").status().unwrap().success());
    let new = state();
    assert_ne!(old, new);
    // the time of a run once both Verilator models are in the cache
    let t0 = std::time::Instant::now();
    assert!(flow("8").status().unwrap().success());
    let full = t0.elapsed();
    assert_eq!(state(), new);
    let mut current = new.clone();
    let (mut kept, mut replaced) = (0, 0);
    for step in 0..12u32 {
        let want = if current == old { "8" } else { "2" };
        let mut child = flow(want).spawn().unwrap();
        std::thread::sleep(full * step / 9);
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("run kill");
        let status = child.wait().unwrap();
        let now = state();
        let target = if want == "2" { &old } else { &new };
        if &now == target {
            replaced += 1;
        } else {
            assert_eq!(
                now, current,
                "step {step}: neither the old nor the new output"
            );
            assert!(
                !status.success(),
                "step {step}: success without the new output"
            );
            kept += 1;
        }
        current = now;
        no_temporaries(&parent);
    }
    eprintln!("{kept} interrupts kept the old output, {replaced} came after the new one");
    assert!(kept > 0, "no interrupt landed before the end");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn choice_options_are_checked_by_the_parser_and_fold_file_errors_name_the_line() {
    let (dir, mp) = fixture("choices");
    let out = inq(&["gen", mp.to_str().unwrap(), "--mac", "divide"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("divide") && err.contains("shift") && err.contains("multiply"),
        "{err}"
    );
    let out = inq(&["train", "--arch", "vgg"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lenet") && err.contains("resnet8"), "{err}");
    let fold = dir.join("fold.toml");
    std::fs::write(&fold, "[[layer]]\nname = \"l0\"\npe\nsimd = 1\n").unwrap();
    let out = inq(&[
        "gen",
        mp.to_str().unwrap(),
        "--fold",
        fold.to_str().unwrap(),
        "--out",
        dir.join("d").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fold.toml:3:"), "{err}");
    assert!(!dir.join("d").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tiny 3-class IDX dataset (train and test splits) of `hw`×`hw` images.
fn tiny_dataset(name: &str, hw: usize, train: usize, test: usize) -> PathBuf {
    let dir = tmpdir(name);
    for (split, n) in [("train", train), ("t10k", test)] {
        let pixels: Vec<u8> = (0..n * hw * hw)
            .map(|i| ((i * 37 + 11 * (i / (hw * hw))) % 256) as u8)
            .collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        let dims = [n as u32, hw as u32, hw as u32];
        write_idx(
            &dir.join(format!("{split}-images-idx3-ubyte")),
            &dims,
            &pixels,
        );
        write_idx(
            &dir.join(format!("{split}-labels-idx1-ubyte")),
            &[n as u32],
            &labels,
        );
    }
    dir
}

/// Real PyTorch exports (`inq/scripts/make_torch_fixtures.py`: a residual network with
/// identity and strided 1×1 projection shortcuts, BatchNorm on both branches, from the dynamo
/// exporter; a depthwise-separable network from the classic exporter) run through the whole
/// flow: import, INQ with re-training, integerization, plan with simulated skip-FIFO depths,
/// codegen, simulation, Verilator against the reference (every output word and stream). The
/// yosys stage is skipped (`--no-report`): synthesis of such designs is covered by
/// `codegen/tests/tools.rs`.
#[test]
fn flow_runs_pytorch_residual_and_depthwise_exports() {
    assert!(have("verilator"), "this test runs the whole flow");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../inq/tests/fixtures");
    // the first pipelined for the default clock target, the second told not to be: `inq flow`
    // takes `inq gen`'s pipelining options
    for (name, hw, adds, dw, pipelining) in [
        ("torch_resnet_dynamo", 8, 2, 0, "xilinx7"),
        ("torch_dwsep_classic", 6, 0, 2, "none"),
    ] {
        let data = tiny_dataset(&format!("flow-{name}"), hw, 48, 12);
        let out = data.join("out");
        let onnx = fixtures.join(format!("{name}.onnx"));
        let o = inq(&[
            "flow",
            "--model",
            onnx.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--bits",
            "4",
            "--epochs-per-step",
            "1",
            "--images",
            "6",
            "--no-report",
            "--pipeline-for",
            pipelining,
            "--json",
        ]);
        let s = json_of(&o);
        assert_eq!(s["sim_mismatches"], 0, "{name}: {s}");
        assert!(
            s["verification"].as_str().unwrap().starts_with("passed"),
            "{name}: {s}"
        );
        assert_eq!(s["images"], 6);
        assert_eq!(
            s["interval_cycles"].as_f64().unwrap().round() as u64,
            s["plan_interval_cycles"].as_u64().unwrap(),
            "{name}"
        );
        // the graph made it to the hardware: adders and depthwise engines in the plan
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("design/manifest.json")).unwrap(),
        )
        .unwrap();
        let engines = manifest["design"]["engines"].as_array().unwrap();
        let kind = |k: &str| engines.iter().filter(|e| e["kind"]["kind"] == k).count();
        assert_eq!(kind("add"), adds, "{name}: add engines");
        // on 7-series every conv and dense engine takes its row tests from differences
        let row_diffs = engines
            .iter()
            .filter(|e| e["kind"]["hs_regs"] == true)
            .count();
        if pipelining == "none" {
            assert_eq!(row_diffs, 0, "{name}");
        } else {
            assert_eq!(row_diffs, kind("mvu"), "{name}");
            assert!(row_diffs > 0, "{name}");
        }
        let model = inq_model::QuantModel::load(&out.join("model.json")).unwrap();
        let count =
            |f: &dyn Fn(&inq_model::Op) -> bool| model.nodes.iter().filter(|n| f(&n.op)).count();
        assert_eq!(
            count(&|op| matches!(op, inq_model::Op::Add(_))),
            adds,
            "{name}: adds"
        );
        let groups = count(&|op| matches!(op, inq_model::Op::Conv(c) if c.depthwise()));
        assert_eq!(groups, dw, "{name}: depthwise convs");
        let _ = std::fs::remove_dir_all(&data);
    }
}

/// `inq impl` places and routes a small design on an iCE40 UP5K: utilisation, the achieved
/// Fmax, images/s at that clock, the bitstream and the logs in the design folder (recorded in
/// its marker); a part the design does not fit is an error naming the resource and the excess.
#[test]
fn impl_places_and_routes_on_an_ice40() {
    if !have("yosys") || !have("nextpnr-ice40") {
        return;
    }
    // one dense layer on a 4×4 input: small enough for a quick place and route
    let dir = tmpdir("impl");
    let spec = RandomSpec {
        input: [1, 4, 4],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        },
        layers: vec![
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 2,
                bits: 4,
                act_bits: 8,
                relu: false,
                per_channel: false,
            },
        ],
    };
    let mp = dir.join("model.json");
    build(&spec, 3).unwrap().save(&mp).unwrap();
    let d = dir.join("design");
    json_of(&inq(&[
        "gen",
        mp.to_str().unwrap(),
        "--out",
        d.to_str().unwrap(),
        "--json",
    ]));
    // a user's file where the tools write: never recorded as inq's
    std::fs::create_dir_all(d.join("impl/ice40-up5k")).unwrap();
    std::fs::write(d.join("impl/ice40-up5k/notes.txt"), "mine").unwrap();
    let v = json_of(&inq(&[
        "impl",
        d.to_str().unwrap(),
        "--part",
        "up5k",
        "--clock-mhz",
        "12",
        "--json",
    ]));
    let r = &v["implementation"];
    assert_eq!(r["part"], "up5k");
    assert_eq!(r["package"], "sg48");
    let fmax = r["fmax_mhz"].as_f64().unwrap();
    assert!(fmax > 1.0 && fmax < 1000.0, "{fmax}");
    let util = r["utilisation"].as_array().unwrap();
    let lc = util
        .iter()
        .find(|u| u["resource"] == "ICESTORM_LC")
        .expect("logic cells reported");
    let (used, avail) = (
        lc["used"].as_u64().unwrap(),
        lc["available"].as_u64().unwrap(),
    );
    assert!(used > 0 && used <= avail && avail == 5280, "{lc}");
    let dsp = util
        .iter()
        .find(|u| u["resource"] == "ICESTORM_DSP")
        .unwrap();
    assert_eq!(dsp["used"], 0, "no multipliers");
    let interval = v["interval_cycles"].as_f64().unwrap();
    let ips = v["images_per_second"].as_f64().unwrap();
    assert!((ips - fmax * 1e6 / interval).abs() < 1e-6 * ips, "{v}");
    assert_eq!(v["timing_met"], fmax >= 12.0);
    // the plan's clock estimate beside the netlist walk and nextpnr (docs/hardware.md §12)
    let clock = &v["clock"];
    let est = clock["estimate_fmax_mhz"].as_f64().unwrap();
    assert_eq!(clock["nextpnr_fmax_mhz"].as_f64().unwrap(), fmax);
    assert!(
        (est / fmax - 1.0).abs() < 0.2,
        "estimate {est} MHz, nextpnr {fmax}: {clock}"
    );
    let parts = clock["parts"].as_array().unwrap();
    assert_eq!(parts[0]["instance"], "u_e0_l1", "{clock}");
    assert!(
        parts[0]["netlist"]["levels"].as_u64().unwrap() > 0,
        "the engine's registers were found in the netlist: {clock}"
    );
    assert!(
        clock["critical_path"]["levels"].as_u64().unwrap() > 0,
        "{clock}"
    );
    let bin = std::path::PathBuf::from(r["bitstream"].as_str().unwrap());
    assert!(
        bin.starts_with(d.canonicalize().unwrap()),
        "{}",
        bin.display()
    );
    assert!(std::fs::metadata(&bin).unwrap().len() > 1000);
    let marker = std::fs::read_to_string(d.join(".inq-folder.json")).unwrap();
    assert_eq!(r["synth_reused"], false);
    for f in [
        "impl/ice40-up5k/inq_top.bin",
        "impl/ice40-up5k/nextpnr.log",
        "impl/ice40-synth/inq_top.json",
        "impl/ice40-synth/yosys.log",
    ] {
        assert!(marker.contains(f), "{f} not recorded: {marker}");
    }
    assert!(
        !marker.contains("notes.txt"),
        "a user's file recorded: {marker}"
    );
    eprintln!("{used} logic cells, Fmax {fmax:.2} MHz");
    // an unknown part, and one the design does not fit
    let out = inq(&["impl", d.to_str().unwrap(), "--part", "xc7a35t"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("up5k"));
    assert!(
        used > 384,
        "the fixture now fits an LP384: pick a smaller part below"
    );
    let out = inq(&["impl", d.to_str().unwrap(), "--part", "lp384"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not fit the iCE40 lp384") && err.contains("too many"),
        "{err}"
    );
    assert_eq!(err.matches("does not fit").count(), 1, "{err}");
    // the LP384 has no block RAM, which the line buffer needs: checked on the netlist, before
    // nextpnr (which fails an assertion on it); the second part reused the netlist
    assert!(err.contains("ICESTORM_RAM 1 used of 0"), "{err}");
    assert!(!d.join("impl/ice40-lp384/inq_top.json").exists());
    // the bare core's ports need more pins than the UP5K's 30-ball package has: a clear error
    // pointing at the board top
    let out = inq(&["impl", d.to_str().unwrap(), "--package", "uwg30"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("I/O pins") && err.contains("uwg30") && err.contains("--board icebreaker"),
        "{err}"
    );
    // the iCEBreaker top: six pins fixed by its pin file, the board's part and 12 MHz clock
    let v = json_of(&inq(&[
        "impl",
        d.to_str().unwrap(),
        "--board",
        "icebreaker",
        "--json",
    ]));
    assert_eq!(v["top"], "inq_icebreaker");
    assert_eq!(v["board"], "icebreaker");
    let r = &v["implementation"];
    assert_eq!(r["part"], "up5k");
    assert_eq!(r["target_mhz"], 12.0);
    let io = r["utilisation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["resource"] == "SB_IO")
        .expect("I/O reported")
        .clone();
    assert_eq!(io["used"], 6, "{io}");
    let bin = d.join("impl/ice40-up5k-icebreaker/inq_icebreaker.bin");
    assert!(std::fs::metadata(&bin).unwrap().len() > 1000);
    let uart = v["uart_images_per_second"].as_f64().unwrap();
    assert!((uart - 115_200.0 / (10.0 * 16.0)).abs() < 1e-9, "{uart}");
    let out = inq(&["impl", d.to_str().unwrap(), "--board", "nexys"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("icebreaker"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `inq quantize --sparsity S`: a value outside [0, 1) (or not a number) is refused by the
/// parser naming the option, for `inq flow` too; with `--method uniform` it is refused; a tiny
/// INQ run of a real PyTorch export prunes at least S of every layer, reports the zeros per
/// layer and writes a model that loads.
#[test]
fn quantize_sparsity_prunes_every_layer_and_rejects_bad_values() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../inq/tests/fixtures");
    let onnx = fixtures.join("torch_resnet_dynamo.onnx");
    let onnx = onnx.to_str().unwrap();
    for bad in ["1", "1.5", "-0.1", "abc", "NaN"] {
        let opt = format!("--sparsity={bad}");
        for cmd in [vec!["quantize", onnx, &opt], vec!["flow", &opt]] {
            let out = inq(&cmd);
            assert!(!out.status.success(), "{cmd:?} accepted");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("--sparsity") && err.contains("[0, 1)"),
                "{cmd:?}: {err}"
            );
        }
    }
    let data = tiny_dataset("sparsity", 8, 48, 12);
    let d = data.to_str().unwrap();
    let out = inq(&[
        "quantize",
        onnx,
        "--data",
        d,
        "--method",
        "uniform",
        "--sparsity",
        "0.5",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sparsity") && err.contains("uniform"),
        "{err}"
    );
    let q = data.join("q.json");
    let s = json_of(&inq(&[
        "quantize",
        onnx,
        "--data",
        d,
        "--out",
        q.to_str().unwrap(),
        "--bits",
        "4",
        "--epochs-per-step",
        "1",
        "--sparsity",
        "0.75",
        "--json",
    ]));
    assert_eq!(s["sparsity"], 0.75);
    let zeros = s["zeros"].as_array().unwrap();
    let model = inq_model::QuantModel::load(&q).unwrap();
    let layers = model
        .nodes
        .iter()
        .filter(|n| matches!(n.op, inq_model::Op::Conv(_) | inq_model::Op::Dense(_)))
        .count();
    assert_eq!(zeros.len(), layers);
    for z in zeros {
        let (n, w) = (z["zeros"].as_f64().unwrap(), z["weights"].as_f64().unwrap());
        assert!(n >= 0.75 * w, "{z}");
    }
    assert_eq!(model.provenance.settings["sparsity"], 0.75);
    let _ = std::fs::remove_dir_all(&data);
}

/// `inq quantize BASE… BAD…` fails for each `(BAD, SAYS)` with `SAYS` in its error.
fn assert_quantize_refuses(base: &[&str], cases: &[(&[&str], &str)]) {
    for (bad, says) in cases {
        let mut cmd = vec!["quantize"];
        cmd.extend_from_slice(base);
        cmd.extend_from_slice(bad);
        let out = inq(&cmd);
        assert!(!out.status.success(), "{bad:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{bad:?}: {err}");
    }
}

/// `inq quantize --seeds 1,2`: one model per seed beside `--out` (each loads and records its
/// seed), nothing at `--out` itself, and a summary whose mean and spread are those of the runs;
/// a repeated seed, `--seed` beside `--seeds` and `--method uniform` are refused.
#[test]
fn quantize_seeds_runs_every_seed_and_reports_the_spread() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../inq/tests/fixtures");
    let onnx = fixtures.join("torch_resnet_dynamo.onnx");
    let onnx = onnx.to_str().unwrap();
    let data = tiny_dataset("seeds", 8, 48, 12);
    let d = data.to_str().unwrap();
    let q = data.join("q.json");
    let qs = q.to_str().unwrap();
    assert_quantize_refuses(
        &[onnx, "--data", d, "--out", qs],
        &[
            (&["--seeds", "1,1"], "repeated"),
            (&["--seeds", "1,2", "--seed", "3"], "--seed"),
            (&["--seeds", "1,2", "--method", "uniform"], "uniform"),
        ],
    );
    let s = json_of(&inq(&[
        "quantize",
        onnx,
        "--data",
        d,
        "--out",
        qs,
        "--bits",
        "4",
        "--epochs-per-step",
        "1",
        "--seeds",
        "1,2",
        "--json",
    ]));
    assert!(!q.exists(), "--seeds wrote --out itself");
    let runs = s["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    let mut acc = Vec::new();
    for (r, seed) in runs.iter().zip([1u64, 2]) {
        assert_eq!(r["seed"], seed);
        let path = data.join(format!("q.seed{seed}.json"));
        assert_eq!(r["out"].as_str().unwrap(), path.to_str().unwrap());
        let m = inq_model::QuantModel::load(&path).unwrap();
        assert_eq!(m.provenance.settings["seed"], seed);
        acc.push(r["integer_accuracy"].as_f64().unwrap());
    }
    let mean = (acc[0] + acc[1]) / 2.0;
    assert!((s["integer"]["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    let std = (acc[0] - acc[1]).abs() / 2f64.sqrt();
    assert!((s["integer"]["std"].as_f64().unwrap() - std).abs() < 1e-12);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("q.seeds.json")).unwrap()).unwrap();
    assert_eq!(summary["runs"], s["runs"]);
    let _ = std::fs::remove_dir_all(&data);
}

/// `inq quantize --lr-search`: bad candidate lists and a hold-out larger than half the
/// training images are refused naming the option; a tiny run logs the rate each step kept
/// and records the candidates and the hold-out in the model's provenance.
#[test]
fn quantize_lr_search_logs_its_choice_and_rejects_bad_values() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../inq/tests/fixtures");
    let onnx = fixtures.join("torch_resnet_dynamo.onnx");
    let onnx = onnx.to_str().unwrap();
    let data = tiny_dataset("lr_search", 8, 48, 12);
    let d = data.to_str().unwrap();
    let q = data.join("q.json");
    let qs = q.to_str().unwrap();
    assert_quantize_refuses(
        &[onnx, "--data", d, "--out", qs],
        &[
            (&["--lr-search", "0.01,abc"], "--lr-search"),
            (&["--lr-search", "0.01,0"], "--lr-search"),
            (&["--lr-search", "0.01,0.01"], "twice"),
            (&["--lr-search", "0.01", "--lr", "0.1"], "--lr"),
            (&["--lr-search", "0.01", "--lr-holdout", "30"], "hold-out"),
        ],
    );
    assert!(!q.exists(), "a refused run wrote a model");
    let s = json_of(&inq(&[
        "quantize",
        onnx,
        "--data",
        d,
        "--out",
        qs,
        "--bits",
        "4",
        "--schedule",
        "0.5,1",
        "--epochs-per-step",
        "1",
        "--final-epochs",
        "1",
        "--lr-search",
        "0.001,0.01",
        "--lr-holdout",
        "16",
        "--json",
    ]));
    let steps = s["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    for st in steps {
        let lr = st["lr"].as_f64().unwrap();
        assert!(lr == 0.001 || lr == 0.01, "{st}");
        assert_eq!(st["lr_trials"].as_array().unwrap().len(), 2, "{st}");
    }
    let model = inq_model::QuantModel::load(&q).unwrap();
    let set = &model.provenance.settings;
    assert_eq!(set["lr_search"], serde_json::json!([0.001, 0.01]));
    assert_eq!(set["lr_search_holdout"], 16);
    assert_eq!(set["final_epochs"], 1);
    let _ = std::fs::remove_dir_all(&data);
}

/// `inq quantize --compensate`: a zero image count, a non-positive damping and the settings
/// without the switch are refused naming the option; a tiny run on an imported residual
/// network records the settings in the model's provenance.
#[test]
fn quantize_compensate_records_its_settings_and_rejects_bad_values() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../inq/tests/fixtures");
    let onnx = fixtures.join("torch_resnet_dynamo.onnx");
    let onnx = onnx.to_str().unwrap();
    let data = tiny_dataset("compensate", 8, 48, 12);
    let d = data.to_str().unwrap();
    let q = data.join("q.json");
    let qs = q.to_str().unwrap();
    assert_quantize_refuses(
        &[onnx, "--data", d, "--out", qs],
        &[
            (
                &["--compensate", "--compensate-images", "0"],
                "--compensate",
            ),
            (
                &["--compensate", "--compensate-damping", "0"],
                "--compensate",
            ),
            (
                &["--compensate", "--compensate-damping", "nan"],
                "--compensate",
            ),
            (&["--compensate-images", "10"], "--compensate"),
        ],
    );
    assert!(!q.exists(), "a refused run wrote a model");
    let s = json_of(&inq(&[
        "quantize",
        onnx,
        "--data",
        d,
        "--out",
        qs,
        "--bits",
        "4",
        "--schedule",
        "0.5,1",
        "--epochs-per-step",
        "1",
        "--compensate",
        "--compensate-images",
        "16",
        "--json",
    ]));
    assert_eq!(s["steps"].as_array().unwrap().len(), 2);
    let model = inq_model::QuantModel::load(&q).unwrap();
    let set = &model.provenance.settings;
    assert_eq!(set["compensate_images"], 16);
    assert_eq!(set["compensate_damping"], 0.01);
    // the default: on at 3 bits or fewer (also when only one layer has them), off above;
    // `--no-compensate` turns it off
    let run = |extra: &[&str]| {
        let mut args = vec![
            "quantize",
            onnx,
            "--data",
            d,
            "--out",
            qs,
            "--schedule",
            "1",
            "--epochs-per-step",
            "0",
        ];
        args.extend_from_slice(extra);
        let out = inq(&args);
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        inq_model::QuantModel::load(&q).unwrap().provenance.settings
    };
    let set = run(&["--bits", "3"]);
    assert_eq!(set["compensate_images"], 2048, "{set:?}");
    assert!(!run(&["--bits", "3", "--no-compensate"]).contains_key("compensate_images"));
    assert!(!run(&["--bits", "4"]).contains_key("compensate_images"));
    let first = model
        .nodes
        .iter()
        .find(|n| n.op.operator().weights().is_some())
        .map(|n| n.name.clone())
        .expect("a weighted node");
    let lb = format!("{first}=3");
    assert_eq!(
        run(&["--bits", "4", "--layer-bits", &lb])["compensate_images"],
        2048
    );
    assert_quantize_refuses(
        &[onnx, "--data", d, "--out", qs],
        &[(&["--compensate", "--no-compensate"], "--no-compensate")],
    );
    let _ = std::fs::remove_dir_all(&data);
}
