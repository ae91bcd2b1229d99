//! Verifies a design folder on random images and prints the report as JSON (without the raw
//! output records).
//!
//! `cargo run -p inq-testbenches --example verify -- DIR [IMAGES] [STALL_RATE] [SEED] [RESET_AFTER]`

use inq_design::DesignFolder;
use inq_testbenches::{verify, StallGen, VerifyOptions};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .ok_or("usage: verify DIR [IMAGES] [RATE] [SEED] [RESET_AFTER]")?,
    );
    let count: usize = args.get(1).map_or(Ok(100), |s| s.parse())?;
    let rate: f64 = args.get(2).map_or(Ok(0.0), |s| s.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let reset_after: Option<usize> = args.get(4).map(|s| s.parse()).transpose()?;
    let design = DesignFolder::load(&dir)?;
    let f = design.model.input.format;
    let mut g = StallGen::with_threshold(seed ^ 0x5eed, 0);
    let span = (f.max() - f.min() + 1) as u64;
    let images: Vec<Vec<i64>> = (0..count)
        .map(|_| {
            (0..design.elements_per_image())
                .map(|_| f.min() + (g.next_u64() % span) as i64)
                .collect()
        })
        .collect();
    let opts = VerifyOptions {
        stall_rate: rate,
        seed,
        reset_after,
        ..VerifyOptions::default()
    };
    let mut report = verify(&dir, &images, &opts)?;
    let words = report.outputs.len();
    report.outputs.clear();
    report.input_starts.clear();
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "{words} output words, {} cycles in {:.3} s of simulation ({:.2} Mcycles/s)",
        report.total_cycles,
        report.sim_seconds,
        report.total_cycles as f64 / report.sim_seconds / 1e6
    );
    Ok(())
}
