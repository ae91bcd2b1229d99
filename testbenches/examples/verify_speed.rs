//! Benchmark of sharded verification (issue 14, item 4): verifies a design folder on `IMAGES`
//! random images under Verilator, every stream checked, at each `--jobs` value given, and
//! prints wall time, images/s and simulated cycles/s per run.
//!
//! `cargo run --release -p inq-testbenches --example verify_speed -- DIR [IMAGES] [STALL_RATE]
//! [SHARD_IMAGES] [JOBS,...]`
//!
//! Defaults: 2 000 images, stall rate 0.1, shards of 1 000 images, jobs `1,0` (0 = one per
//! core). The Verilator model is built (or taken from the cache) by an untimed warm-up run on
//! one image first. Random images have the timing of real ones: the schedule of a design does
//! not depend on the values it computes. `inq verify DIR --stall-rate 0.1` on the test split is
//! the same run on Fashion-MNIST (`docs/performance.md`).

use inq_design::DesignFolder;
use inq_testbenches::{verify, VerifyOptions};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: verify_speed DIR [IMAGES] [STALL_RATE] [SHARD_IMAGES] [JOBS,...]";
    let dir = PathBuf::from(args.first().ok_or(usage)?);
    let count: usize = args.get(1).map_or(Ok(2000), |s| s.parse())?;
    let rate: f64 = args.get(2).map_or(Ok(0.1), |s| s.parse())?;
    let shard_images: usize = args.get(3).map_or(Ok(1000), |s| s.parse())?;
    let jobs: Vec<usize> = match args.get(4) {
        Some(s) => s
            .split(',')
            .map(|j| j.trim().parse())
            .collect::<Result<_, _>>()?,
        None => vec![1, 0],
    };
    let design = DesignFolder::load(&dir)?;
    let images: Vec<Vec<i64>> = (0..count as u64)
        .map(|i| inq_model::random::random_input(&design.model, i))
        .collect();
    let options = |jobs: usize| VerifyOptions {
        stall_rate: rate,
        seed: 1,
        shard_images,
        jobs,
        ..VerifyOptions::default()
    };
    let warm = verify(&dir, &images[..1], &options(1))?;
    eprintln!(
        "model: {} ({:.1} s to build)",
        if warm.build.cache_hit {
            "from the cache"
        } else {
            "built"
        },
        warm.build.build_seconds
    );
    println!("| images | shard images | jobs | shards | wall s | images/s | Mcycles/s (total) | passed |");
    println!("|---|---|---|---|---|---|---|---|");
    for j in jobs {
        let t0 = Instant::now();
        let report = verify(&dir, &images, &options(j))?;
        let wall = t0.elapsed().as_secs_f64();
        println!(
            "| {count} | {shard_images} | {} | {} | {wall:.1} | {:.0} | {:.2} | {} |",
            if j == 0 {
                "0 (cores)".to_string()
            } else {
                j.to_string()
            },
            report.shards.len().max(1),
            count as f64 / wall,
            report.total_cycles as f64 / wall / 1e6,
            report.passed && report.streams_checked,
        );
        if !report.passed {
            return Err(format!("{}: verification failed", dir.display()).into());
        }
    }
    Ok(())
}
