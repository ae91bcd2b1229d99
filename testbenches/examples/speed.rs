//! Times the cycle-accurate simulator against Verilator on the same design, images and stalls,
//! in one run, and prints both speeds in simulated cycles per second.
//!
//! `cargo run --release -p inq-testbenches --example speed -- DIR [IMAGES] [STALL_RATE]`
//!
//! The Verilator model is built (or taken from the cache) before timing; its time is the
//! harness process (simulation plus writing the records). Both runs must produce identical
//! output records, or the example fails.

use inq_sim::{load_design, SimOptions};
use inq_testbenches::{verify, VerifyOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .ok_or("usage: speed DIR [IMAGES] [STALL_RATE]")?,
    );
    let count: usize = args.get(1).map_or(Ok(100), |s| s.parse())?;
    let rate: f64 = args.get(2).map_or(Ok(0.0), |s| s.parse())?;
    let loaded = load_design(&dir)?;
    let model = loaded.model.ok_or("no model.json in the design folder")?;
    let images: Vec<Vec<i64>> = (0..count as u64)
        .map(|i| inq_model::random::random_input(&model, i))
        .collect();
    let vopts = VerifyOptions {
        stall_rate: rate,
        seed: 1,
        ..Default::default()
    };
    // Build (or load from cache) first, so that the timed run is simulation only.
    verify(&dir, &images[..1], &vopts)?;
    let rtl = verify(&dir, &images, &vopts)?;
    let mut best = None;
    for fast_forward in [false, true] {
        let sopts = SimOptions {
            stall_rate: rate,
            seed: 1,
            fast_forward,
            ..Default::default()
        };
        let sim = inq_sim::simulate(&loaded.design, &images, &sopts)?;
        if sim.outputs != rtl.outputs {
            return Err("simulator and Verilator disagree; run the co-simulation tests".into());
        }
        let cps = sim.total_cycles as f64 / sim.sim_seconds;
        println!(
            "simulator (fast-forward {fast_forward}): {} cycles in {:.3} s = {:.2} M cycles/s",
            sim.total_cycles,
            sim.sim_seconds,
            cps / 1e6
        );
        best = Some(cps);
    }
    let vcps = rtl.total_cycles as f64 / rtl.sim_seconds;
    println!(
        "verilator: {} cycles in {:.3} s = {:.2} M cycles/s",
        rtl.total_cycles,
        rtl.sim_seconds,
        vcps / 1e6
    );
    if let Some(s) = best {
        println!("ratio simulator/verilator: {:.1}x", s / vcps);
    }
    Ok(())
}
