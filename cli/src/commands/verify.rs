//! `inq verify`: the generated RTL under Verilator against the integer reference.

use clap::Args;
use inq_flow::run::{verify, verify_summary, RunRequest};
use std::path::PathBuf;

/// Arguments of `inq verify`.
#[derive(Args, Debug, Clone)]
pub struct VerifyArgs {
    /// A folder written by `inq gen`.
    pub dir: PathBuf,
    #[command(flatten)]
    pub images: super::ImageArgs,
    #[command(flatten)]
    pub stalls: super::StallArgs,
    #[command(flatten)]
    pub shards: super::ShardArgs,
    /// Write a VCD waveform of the whole run.
    #[arg(long, value_name = "FILE.vcd")]
    pub trace: Option<PathBuf>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Check the output words only (value, cycle, `tlast`, argmax), not every inter-engine
    /// stream of every image against the reference's intermediate tensors (the default).
    #[arg(long)]
    pub outputs_only: bool,
}

/// Runs `inq verify`; fails (non-zero exit) on any mismatch.
pub fn run(a: &VerifyArgs) -> anyhow::Result<()> {
    let ds = a.images.dataset()?;
    let (images, labels) = inq_flow::accuracy::images_and_labels(&ds);
    // one spinner line while Verilator builds (its log goes to `build.log` in the build
    // cache) and runs
    let pb = inq_flow::progress::spinner(
        &format!(
            "Verilator: build (or cached) and run {} images",
            images.len()
        ),
        a.json,
    );
    let report = verify(
        &a.dir,
        &RunRequest {
            images,
            labels,
            stall_rate: a.stalls.stall_rate,
            seed: a.stalls.seed,
            vcd: a.trace.clone(),
            check_streams: !a.outputs_only,
            shard_images: a.shards.shard_images,
            jobs: a.shards.jobs,
        },
    );
    pb.finish_and_clear();
    let report = report?;
    crate::output::emit(a.json, &report, || verify_summary(&a.dir, &report))?;
    if !report.passed {
        anyhow::bail!(
            "verification FAILED: {} mismatching output words, {} mismatching (tap, image) \
             streams",
            report.mismatch_count,
            report.stream_mismatches
        );
    }
    Ok(())
}
