//! The VCD waveform parses, names the top ports and every engine, and its handshakes at the
//! rising edges reproduce the recorded output transfers and their cycles.

mod common;

use common::*;
use inq_sim::{simulate, SimOptions};
use std::collections::HashMap;
use vcd::{Command, Value};

#[test]
fn vcd_matches_the_records() {
    let (_, spec) = &specs()[0];
    let m = model(spec, 5);
    let d = design(&m, &foldings(&m)[2].1);
    let imgs = images(&m, 2, 5);
    let dir = std::env::temp_dir().join(format!("inq-sim-vcd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.vcd");
    let o = SimOptions {
        stall_rate: 0.3,
        seed: 4,
        vcd: Some(path.clone()),
        ..SimOptions::default()
    };
    let r = simulate(&d, &imgs, &o).unwrap();
    let plain = simulate(&d, &imgs, &SimOptions { vcd: None, ..o }).unwrap();
    assert_eq!(r.outputs, plain.outputs, "tracing does not change the run");

    let mut p = vcd::Parser::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let h = p.parse_header().unwrap();
    let id = |path: &[&str]| h.find_var(path).unwrap_or_else(|| panic!("{path:?}")).code;
    let clk = id(&["inq_top", "clk"]);
    let tvalid = id(&["inq_top", "m_axis_tvalid"]);
    let tready = id(&["inq_top", "m_axis_tready"]);
    for (e, en) in d.engines.iter().enumerate() {
        let scope = format!("e{e}_{}", en.op);
        for s in ["iy", "sf", "fire", "out_valid", "out_data"] {
            id(&["inq_top", &scope, s]);
        }
    }
    // Replay: at each rising edge of clk, a transfer happened if tvalid && tready.
    let mut val: HashMap<vcd::IdCode, bool> = HashMap::new();
    let mut time = 0u64;
    let mut fires = Vec::new();
    for cmd in p {
        match cmd.unwrap() {
            Command::Timestamp(t) => time = t,
            Command::ChangeScalar(i, v) => {
                let b = v == Value::V1;
                if i == clk && b && !val.get(&clk).copied().unwrap_or(false) {
                    // values in effect just before this edge
                    if val.get(&tvalid).copied().unwrap_or(false)
                        && val.get(&tready).copied().unwrap_or(false)
                    {
                        fires.push((time - 5) / 10);
                    }
                }
                val.insert(i, b);
            }
            _ => {}
        }
    }
    let cycles: Vec<u64> = r.outputs.iter().map(|o| o.cycle).collect();
    assert_eq!(fires, cycles);
    std::fs::remove_dir_all(&dir).unwrap();
}
