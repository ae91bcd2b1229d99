//! `inq sim`: cycle-accurate simulation of a generated design, checked against the integer
//! reference.

use anyhow::Context;
use clap::Args;
use inq_sim::{load_design, SimOptions, SimReport};
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
    /// Write a VCD waveform of the top ports and every engine's state.
    #[arg(long, value_name = "FILE.vcd")]
    pub vcd: Option<PathBuf>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs the simulator on the test images of `a` and checks every output word.
pub fn simulate(a: &SimArgs) -> anyhow::Result<SimReport> {
    let loaded = load_design(&a.dir)?;
    let model = loaded.model.as_ref().with_context(|| {
        format!(
            "{}: no model.json beside the design, so outputs cannot be checked",
            a.dir.display()
        )
    })?;
    let (images, labels) = a.images.load()?;
    let opts = SimOptions {
        stall_rate: a.stalls.stall_rate,
        seed: a.stalls.seed,
        vcd: a.vcd.clone(),
        labels: Some(labels),
        clock_mhz: loaded.clock_mhz.unwrap_or(100.0),
        ..Default::default()
    };
    Ok(inq_sim::verify(model, &loaded.design, &images, &opts)?)
}

/// Human summary of a simulation report.
pub fn summary(r: &SimReport, plan_interval: Option<u64>) -> String {
    let mut s = format!(
        "{} images simulated (stall rate {}, seed {}): {} mismatches against the integer reference\n",
        r.images, r.stall_rate, r.seed, r.mismatch_count
    );
    if let Some(acc) = r.accuracy {
        s += &format!("accuracy {:.2}%\n", 100.0 * acc);
    }
    s += &format!(
        "cycles: total {}, latency {} (first image, mean {:.0}), interval {} → {:.1} images/s at {} MHz\n",
        r.total_cycles,
        r.latency_cycles,
        r.latency_cycles_mean,
        r.interval_cycles.map(|i| format!("{i:.1}")).unwrap_or_else(|| "n/a".into()),
        r.images_per_second,
        r.clock_mhz
    );
    if let (Some(p), Some(i)) = (plan_interval, r.interval_cycles) {
        s += &format!(
            "plan predicted {p} cycles/image ({:+.1}%)\n",
            100.0 * (i - p as f64) / p as f64
        );
    }
    s += &format!(
        "{:>3} {:<16} {:>12} {:>12} {:>12} {:>12} {:>7}\n",
        "#", "engine", "planned/img", "busy", "stalled", "idle", "util"
    );
    for e in &r.engines {
        let a = &e.activity;
        let total = (a.busy + a.stalled + a.idle).max(1);
        s += &format!(
            "{:>3} {:<16} {:>12} {:>12} {:>12} {:>12} {:>6.1}%\n",
            e.engine,
            e.name.chars().take(16).collect::<String>(),
            e.planned_cycles_per_image,
            a.busy,
            a.stalled,
            a.idle,
            100.0 * a.busy as f64 / total as f64
        );
    }
    let peaks: Vec<String> = r
        .fifos
        .iter()
        .map(|f| format!("{}/{}", f.peak, f.depth))
        .collect();
    s += &format!("FIFO peak occupancy (peak/depth): {}\n", peaks.join(" "));
    s += &format!(
        "simulated {:.1} M cycles/s ({:.2} s)",
        r.cycles_per_second / 1e6,
        r.sim_seconds
    );
    s
}

/// Runs `inq sim`; fails on any mismatch.
pub fn run(a: &SimArgs) -> anyhow::Result<()> {
    let r = simulate(a)?;
    let plan = load_design(&a.dir).ok().map(|l| l.design.interval_cycles());
    crate::output::emit(a.json, &r, || summary(&r, plan))?;
    if r.mismatch_count > 0 {
        anyhow::bail!(
            "simulation FAILED: {} output words differ from the integer reference",
            r.mismatch_count
        );
    }
    Ok(())
}
