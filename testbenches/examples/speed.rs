//! Times the cycle-accurate simulator against Verilator on the same design, images and stalls,
//! in one run, and prints both speeds in simulated cycles per second.
//!
//! `cargo run --release -p inq-testbenches --example speed -- DIR [IMAGES] [STALL_RATE] [REPS]`
//!
//! The Verilator model is built (or taken from the cache) before timing; its time is the
//! harness process (simulation plus writing the records). Both runs must produce identical
//! output records and cycle counts, or the example fails. With `REPS` > 1 (default 1) the
//! runs are repeated, Verilator and the simulator in turn, and the fastest of each counts:
//! on a shared machine the fastest run is the one least disturbed by others. The ratio of
//! each repetition's pair of runs is printed too.

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
    let reps: usize = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let reps = reps.max(1);
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
    // Each repetition runs Verilator, then the simulator stepping every cycle, then its
    // default run, so that all three meet the machine in the same state.
    let mut rtl_seconds = f64::INFINITY;
    let mut sim_seconds = [f64::INFINITY; 2];
    let mut ratios = Vec::new();
    let mut cycles = 0;
    for _ in 0..reps {
        let rtl = verify(&dir, &images, &vopts)?;
        rtl_seconds = rtl_seconds.min(rtl.sim_seconds);
        cycles = rtl.total_cycles;
        for (i, fast_forward) in [false, true].into_iter().enumerate() {
            let sopts = SimOptions {
                stall_rate: rate,
                seed: 1,
                fast_forward,
                ..Default::default()
            };
            let sim = inq_sim::simulate(&loaded.design, &images, &sopts)?;
            if sim.outputs != rtl.outputs || sim.total_cycles != rtl.total_cycles {
                return Err("simulator and Verilator disagree; run the co-simulation tests".into());
            }
            sim_seconds[i] = sim_seconds[i].min(sim.sim_seconds);
            if fast_forward {
                ratios.push(rtl.sim_seconds / sim.sim_seconds);
            }
        }
    }
    let mcps = |seconds: f64| cycles as f64 / seconds / 1e6;
    for (i, fast_forward) in [false, true].into_iter().enumerate() {
        println!(
            "simulator (fast-forward {fast_forward}): {cycles} cycles in {:.3} s = {:.2} M cycles/s",
            sim_seconds[i],
            mcps(sim_seconds[i])
        );
    }
    println!(
        "verilator: {cycles} cycles in {rtl_seconds:.3} s = {:.2} M cycles/s",
        mcps(rtl_seconds)
    );
    println!(
        "ratio simulator/verilator: {:.1}x (fastest runs of each)",
        rtl_seconds / sim_seconds[1]
    );
    if reps > 1 {
        ratios.sort_by(f64::total_cmp);
        let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.1}x")).collect();
        println!(
            "ratio per repetition (Verilator, then the simulator right after): {}",
            shown.join(" ")
        );
    }
    Ok(())
}
