//! Simulates a random LeNet-shaped design and prints the report summary and the speed.
//!
//! `cargo run --release -p inq-sim --example lenet -- [minimal|lanesN] [images] [stall_rate]`

use inq_hdl::{plan, FoldingRequest};
use inq_model::random::{build, lenet_spec, random_input};
use inq_sim::{verify, SimOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let fold = args.get(1).map(String::as_str).unwrap_or("minimal");
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let rate: f64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(0.0);
    let spec = lenet_spec(-8, false);
    let model = build(&spec, 42)?;
    let req = match fold.strip_prefix("lanes") {
        Some(k) => FoldingRequest::LaneBudget(k.parse()?),
        None => FoldingRequest::Minimal,
    };
    let design = plan(&model, &req)?;
    print!("{}", design.summary_table(100.0));
    let images: Vec<Vec<i64>> = (0..n as u64).map(|i| random_input(&model, i)).collect();
    let r = verify(
        &model,
        &design,
        &images,
        &SimOptions {
            stall_rate: rate,
            ..SimOptions::default()
        },
    )?;
    println!(
        "images {} mismatches {} total_cycles {} latency {} interval {:?} ({:.1} img/s at 100 MHz)",
        r.images,
        r.mismatch_count,
        r.total_cycles,
        r.latency_cycles,
        r.interval_cycles,
        r.images_per_second
    );
    for e in &r.engines {
        println!(
            "  engine {} {:<10} planned {:>8}/img  busy {:>9} stalled {:>9} idle {:>9}",
            e.engine,
            e.op,
            e.planned_cycles_per_image,
            e.activity.busy,
            e.activity.stalled,
            e.activity.idle
        );
    }
    for f in &r.fifos {
        println!(
            "  stream {} depth {} peak {}{}",
            f.stream,
            f.depth,
            f.peak,
            if f.skip { " (skip)" } else { "" }
        );
    }
    println!(
        "{:.3} s, {:.2} M cycles/s",
        r.sim_seconds,
        r.cycles_per_second / 1e6
    );
    Ok(())
}
