//! The plan's first-image schedule against the simulator, stream by stream.
//!
//! `cargo run --release -p inq-sim --example first_image -- DIR`, where `DIR` is a design
//! folder: simulates one image (random values: the schedule does not depend on them, stall
//! rate 0) and prints the plan's latency (`Design::latency_estimate`) beside the simulated
//! one, and for every tapped stream the first and last transfer of the image and the largest
//! per-element difference between the plan ([`inq_hdl::Design::first_image`]) and the
//! simulator. The model input's tap is taken at its FIFO output, so it shows when the first
//! engine consumed the input, not when it was offered (the plan's figure).

use inq_model::random::random_input;
use inq_sim::{simulate, SimOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: first_image DESIGN_DIR")?;
    let loaded = inq_design::load_design(std::path::Path::new(&dir))?;
    let model = loaded.model.ok_or("the folder has no model.json")?;
    let d = loaded.design;
    let opts = SimOptions {
        tap_images: 1,
        ..SimOptions::default()
    };
    let rep = simulate(&d, &[random_input(&model, 0)], &opts)?;
    let plan = d.first_image();
    let est = d.latency_estimate();
    let err = 100.0 * (est as f64 - rep.latency_cycles as f64) / rep.latency_cycles.max(1) as f64;
    println!(
        "first-image latency: plan {est}, simulated {} ({err:+.2}%)",
        rep.latency_cycles
    );
    // the plan counts from the first input element's transfer into the input FIFO (cycle 0);
    // the input tap sees that element leave the FIFO one cycle later (cycle 1)
    let first_in = rep
        .taps
        .first()
        .and_then(|t| t.first())
        .map_or(1, |b| b.cycle);
    println!(
        "{:<12} {:>6} {:>19} {:>19} {:>12}",
        "stream", "elems", "simulated", "plan", "max |diff|"
    );
    for (t, beats) in d.taps.iter().zip(&rep.taps) {
        let fifo = u64::from(t.at_fifo_output);
        let planned: Vec<u64> = plan
            .get(t.stream)
            .map(|p| p.iter().map(|c| c + fifo).collect())
            .unwrap_or_default();
        let sim: Vec<u64> = beats.iter().map(|b| b.cycle + 1 - first_in).collect();
        let span = |v: &[u64]| match (v.first(), v.last()) {
            (Some(a), Some(b)) => format!("{a}..{b}"),
            _ => "-".into(),
        };
        let diff = sim
            .iter()
            .zip(&planned)
            .map(|(&s, &p)| s.abs_diff(p))
            .max()
            .unwrap_or(0);
        println!(
            "{:<12} {:>6} {:>19} {:>19} {:>12}",
            t.name,
            sim.len(),
            span(&sim),
            span(&planned),
            diff
        );
    }
    Ok(())
}
