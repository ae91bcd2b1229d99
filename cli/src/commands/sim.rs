//! `inq sim`: cycle-accurate simulation of a generated design, checked against the integer
//! reference.

use clap::Args;
use inq_flow::run::{sim_summary, simulate, RunRequest};
use std::path::PathBuf;

/// Arguments of `inq sim`.
#[derive(Args, Debug, Clone)]
pub struct SimArgs {
    /// A folder written by `inq gen` (or a design JSON file).
    pub dir: PathBuf,
    #[command(flatten)]
    pub images: super::ImageArgs,
    #[command(flatten)]
    pub stalls: super::StallArgs,
    #[command(flatten)]
    pub shards: super::ShardArgs,
    /// Write a VCD waveform of the top ports and every engine's state.
    #[arg(long, value_name = "FILE.vcd")]
    pub vcd: Option<PathBuf>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Check the output words only (value, cycle, `tlast`, argmax), not every inter-engine
    /// stream of every image against the reference's intermediate tensors (the default).
    #[arg(long)]
    pub outputs_only: bool,
}

/// Runs `inq sim`; fails on any mismatch.
pub fn run(a: &SimArgs) -> anyhow::Result<()> {
    let ds = a.images.dataset()?;
    let (images, labels) = inq_flow::accuracy::images_and_labels(&ds);
    let pb = inq_flow::progress::spinner(&format!("simulating {} images", images.len()), a.json);
    let r = simulate(
        &a.dir,
        &RunRequest {
            images,
            labels,
            stall_rate: a.stalls.stall_rate,
            seed: a.stalls.seed,
            vcd: a.vcd.clone(),
            check_streams: !a.outputs_only,
            shard_images: a.shards.shard_images,
            jobs: a.shards.jobs,
        },
    );
    pb.finish_and_clear();
    let r = r?;
    let plan = inq_flow::run::planned(&a.dir);
    crate::output::emit(a.json, &r, || sim_summary(&r, plan))?;
    if r.mismatch_count > 0 || r.stream_mismatches > 0 {
        anyhow::bail!(
            "simulation FAILED: {} output words and {} (tap, image) streams differ from the \
             integer reference",
            r.mismatch_count,
            r.stream_mismatches
        );
    }
    Ok(())
}
