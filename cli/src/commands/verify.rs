//! `inq verify`: the generated RTL under Verilator against the integer reference.

use clap::Args;
use inq_testbenches::{verify, VerifyOptions};
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
    /// Write a VCD waveform of the whole run.
    #[arg(long, value_name = "FILE.vcd")]
    pub trace: Option<PathBuf>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inq verify`; fails (non-zero exit) on any mismatch.
pub fn run(a: &VerifyArgs) -> anyhow::Result<()> {
    let (images, labels) = a.images.load()?;
    let opts = VerifyOptions {
        stall_rate: a.stalls.stall_rate,
        seed: a.stalls.seed,
        trace_vcd: a.trace.clone(),
        labels: Some(labels),
        ..Default::default()
    };
    let report = verify(&a.dir, &images, &opts)?;
    crate::output::emit(a.json, &report, || {
        let mut s = format!(
            "{}: {} images checked under Verilator (stall rate {}, seed {}): {} mismatches\n",
            a.dir.display(),
            report.images,
            a.stalls.stall_rate,
            a.stalls.seed,
            report.mismatch_count
        );
        if let Some(acc) = report.accuracy {
            s += &format!("accuracy {:.2}% (RTL argmax vs labels)\n", 100.0 * acc);
        }
        s += &format!(
            "cycles: total {}, latency {} (first image), interval {}\n",
            report.total_cycles,
            report.latency_cycles,
            report
                .interval_cycles
                .map(|i| format!("{i:.1}"))
                .unwrap_or_else(|| "n/a (one image)".into())
        );
        for m in report.mismatches.iter().take(10) {
            s += &format!("  mismatch: {m:?}\n");
        }
        if let Some(d) = &report.diagnosis {
            s += &format!("{d}\n");
        }
        s.trim_end().to_string()
    })?;
    if !report.passed {
        anyhow::bail!(
            "verification FAILED: {} mismatching output words",
            report.mismatch_count
        );
    }
    Ok(())
}
