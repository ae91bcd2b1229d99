//! The VCD waveform parses, names the top ports, every stream's wires and every engine's
//! signals, and its handshakes at the rising edges reproduce the recorded output transfers
//! and tap beats with their cycles (a residual design: forks, adders, GAP).

mod common;

use common::*;
use inq_sim::{simulate, Machine, SimOptions};
use std::collections::HashMap;
use vcd::{Command, IdCode, Value};

#[test]
fn vcd_matches_the_records() {
    let (_, spec) = graph_specs()
        .into_iter()
        .find(|(n, _)| *n == "residual_projection_gap25")
        .unwrap();
    let m = model(&spec, 5);
    let d = design(&m, &foldings(&m)[2].1);
    let imgs = images(&m, 2, 5);
    let dir = std::env::temp_dir().join(format!("inq-sim-vcd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.vcd");
    let o = SimOptions {
        stall_rate: 0.3,
        seed: 4,
        vcd: Some(path.clone()),
        tap_images: 1,
        ..SimOptions::default()
    };
    let r = simulate(&d, &imgs, &o).unwrap();
    let plain = simulate(&d, &imgs, &SimOptions { vcd: None, ..o }).unwrap();
    assert_eq!(r.outputs, plain.outputs, "tracing does not change the run");
    assert_eq!(r.taps, plain.taps);

    let mut p = vcd::Parser::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let h = p.parse_header().unwrap();
    let id = |path: &[&str]| h.find_var(path).unwrap_or_else(|| panic!("{path:?}")).code;
    let clk = id(&["inq_top", "clk"]);
    let tvalid = id(&["inq_top", "m_axis_tvalid"]);
    let tready = id(&["inq_top", "m_axis_tready"]);
    for s in 0..d.streams.len() {
        id(&["inq_top", &format!("fifo{s}_count")]);
        id(&["inq_top", &format!("q{s}_tvalid")]);
        id(&["inq_top", &format!("q{s}_tdata")]);
        if s > 0 {
            id(&["inq_top", &format!("s{s}_tready")]);
        }
    }
    let mach = Machine::new(&d).unwrap();
    for (e, en) in d.engines.iter().enumerate() {
        let scope = format!("e{e}_{}", en.op);
        let names = mach.probe_signals(e).unwrap();
        assert!(!names.is_empty());
        for (s, _) in names {
            id(&["inq_top", &scope, s]);
        }
    }
    // a tap on the producer side of a node's stream (the adder's output)
    let (ti, tap) = d
        .taps
        .iter()
        .enumerate()
        .find(|(_, t)| {
            t.node
                .is_some_and(|n| matches!(m.nodes[n].op, inq_model::Op::Add(_)))
        })
        .unwrap();
    let sv = id(&["inq_top", &format!("s{}_tvalid", tap.stream)]);
    let sr = id(&["inq_top", &format!("s{}_tready", tap.stream)]);

    // Replay: at each rising edge of clk, a transfer happened if tvalid && tready.
    let mut val: HashMap<IdCode, bool> = HashMap::new();
    let mut time = 0u64;
    let mut fires = Vec::new();
    let mut tap_fires = Vec::new();
    let on = |val: &HashMap<IdCode, bool>, i: IdCode| val.get(&i).copied().unwrap_or(false);
    for cmd in p {
        match cmd.unwrap() {
            Command::Timestamp(t) => time = t,
            Command::ChangeScalar(i, v) => {
                let b = v == Value::V1;
                if i == clk && b && !on(&val, clk) {
                    // values in effect just before this edge
                    let cycle = (time - 5) / 10;
                    if on(&val, tvalid) && on(&val, tready) {
                        fires.push(cycle);
                    }
                    if on(&val, sv) && on(&val, sr) {
                        tap_fires.push(cycle);
                    }
                }
                val.insert(i, b);
            }
            _ => {}
        }
    }
    let cycles: Vec<u64> = r.outputs.iter().map(|o| o.cycle).collect();
    assert_eq!(fires, cycles);
    let tap_cycles: Vec<u64> = r.taps[ti].iter().map(|b| b.cycle).collect();
    assert_eq!(tap_fires[..tap_cycles.len()], tap_cycles[..]);
    std::fs::remove_dir_all(&dir).unwrap();
}
