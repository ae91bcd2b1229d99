//! Running a design folder on images: the cycle-accurate simulator ([`simulate`]) and the RTL
//! under Verilator ([`verify`]), both checked against the integer reference, with their human
//! summaries.

use std::path::{Path, PathBuf};

use inq_sim::{SimOptions, SimReport};
use inq_testbenches::{VerifyOptions, VerifyReport};

use crate::error::FlowError;

/// Images, labels and the stimulus of a run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The images (CHW integers).
    pub images: Vec<Vec<i64>>,
    /// Their labels.
    pub labels: Vec<usize>,
    /// Probability per cycle of an input gap and of output back-pressure.
    pub stall_rate: f64,
    /// Seed of the stall pattern.
    pub seed: u64,
    /// Write a VCD waveform here.
    pub vcd: Option<PathBuf>,
    /// Check every inter-engine stream (tap) of every image against the reference's
    /// intermediate tensors, not only the output words (`--outputs-only` turns it off).
    pub check_streams: bool,
    /// Split a run of more images than this into shards run in parallel (`inq_sim::shards`;
    /// 0: one run).
    pub shard_images: usize,
    /// Shards run at once (0: the number of cores).
    pub jobs: usize,
}

/// Default images per shard of [`RunRequest::shard_images`].
pub const DEFAULT_SHARD_IMAGES: usize = inq_sim::DEFAULT_SHARD_IMAGES;

/// Simulates the design folder `dir` on the request's images and checks every output word
/// (and, with `check_streams`, every tap stream).
pub fn simulate(dir: &Path, req: &RunRequest) -> Result<SimReport, FlowError> {
    let loaded = inq_design::load_design(dir)?;
    let model = loaded.model.as_ref().ok_or_else(|| {
        FlowError::Input(format!(
            "{}: no model.json beside the design, so outputs cannot be checked",
            dir.display()
        ))
    })?;
    let opts = SimOptions {
        stall_rate: req.stall_rate,
        seed: req.seed,
        vcd: req.vcd.clone(),
        labels: Some(req.labels.clone()),
        clock_mhz: loaded.clock_mhz.unwrap_or(100.0),
        check_streams: req.check_streams,
        shard_images: req.shard_images,
        jobs: req.jobs,
        ..Default::default()
    };
    Ok(inq_sim::verify(model, &loaded.design, &req.images, &opts)?)
}

/// Runs the RTL of `dir` under Verilator on the request's images against the reference.
pub fn verify(dir: &Path, req: &RunRequest) -> Result<VerifyReport, FlowError> {
    let opts = VerifyOptions {
        stall_rate: req.stall_rate,
        seed: req.seed,
        trace_vcd: req.vcd.clone(),
        labels: Some(req.labels.clone()),
        check_streams: req.check_streams,
        shard_images: req.shard_images,
        jobs: req.jobs,
        ..Default::default()
    };
    let report = inq_testbenches::verify(dir, &req.images, &opts)?;
    keep_build_log(dir, &report.build.cache_entry);
    Ok(report)
}

/// Where `verify` keeps a copy of the Verilator build log, in the design folder.
pub const VERILATOR_LOG: &str = "logs/verilator-build.log";

/// Copies the Verilator build log of the model (from its cache entry) to
/// [`VERILATOR_LOG`] in the design folder and records it as the folder's file (best effort:
/// the log is a convenience, the run's result does not depend on it).
fn keep_build_log(dir: &Path, cache_entry: &Path) {
    let to = dir.join(VERILATOR_LOG);
    if let Some(parent) = to.parent() {
        let _ = inq_model::interrupt::create_dir_all(parent);
    }
    if std::fs::copy(cache_entry.join("build.log"), &to).is_ok() {
        let _ = inq_design::record_files(dir, &[VERILATOR_LOG.to_string()]);
    }
}

/// The plan's figures a simulation is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// `Design::interval_cycles`.
    pub interval_cycles: u64,
    /// `Design::latency_estimate` (the first image).
    pub latency_cycles: u64,
}

impl Planned {
    /// The figures of a design.
    pub fn of(design: &inq_hdl::Design) -> Planned {
        Planned {
            interval_cycles: design.interval_cycles(),
            latency_cycles: design.latency_estimate(),
        }
    }
}

/// Human summary of a simulation report (`plan`: the plan's figures to compare).
pub fn sim_summary(r: &SimReport, plan: Option<Planned>) -> String {
    let mut s = format!(
        "{} images simulated (stall rate {}, seed {}): {} mismatches against the integer reference\n",
        r.images, r.stall_rate, r.seed, r.mismatch_count
    );
    if let Some(acc) = r.accuracy {
        s += &format!("accuracy {:.2}%\n", 100.0 * acc);
    }
    s += &shards_line(&r.shards);
    s += &format!(
        "cycles: total {}, latency {} (first image, mean {:.0}), interval {} → {:.1} images/s at {} MHz\n",
        r.total_cycles,
        r.latency_cycles,
        r.latency_cycles_mean,
        r.interval_cycles.map(|i| format!("{i:.1}")).unwrap_or_else(|| "n/a".into()),
        r.images_per_second,
        r.clock_mhz
    );
    if let Some(p) = plan {
        let vs = |sim: f64, plan: u64| 100.0 * (sim - plan as f64) / (plan.max(1) as f64);
        let interval = r
            .interval_cycles
            .map(|i| format!(" ({:+.1}%)", vs(i, p.interval_cycles)))
            .unwrap_or_default();
        s += &format!(
            "plan predicted {} cycles/image{interval} and a first-image latency of {} cycles ({:+.1}%)\n",
            p.interval_cycles,
            p.latency_cycles,
            vs(r.latency_cycles as f64, p.latency_cycles)
        );
    }
    s += &format!(
        "{:>3} {:<16} {:<8} {:>12} {:>12} {:>12} {:>12} {:>7}\n",
        "#", "engine", "op", "planned/img", "busy", "stalled", "idle", "util"
    );
    for e in &r.engines {
        let a = &e.activity;
        let total = (a.busy + a.stalled + a.idle).max(1);
        s += &format!(
            "{:>3} {:<16} {:<8} {:>12} {:>12} {:>12} {:>12} {:>6.1}%\n",
            e.engine,
            e.name.chars().take(16).collect::<String>(),
            e.op.chars().take(8).collect::<String>(),
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
    s += &streams_line(
        r.streams_checked,
        r.stream_mismatches,
        r.first_stream_mismatch.as_ref(),
    );
    if let Some(d) = &r.diagnosis {
        s += &format!("{d}\n");
    }
    s += &format!(
        "simulated {:.1} M cycles/s ({:.2} s)",
        r.cycles_per_second / 1e6,
        r.sim_seconds
    );
    s
}

/// Human summary of a Verilator verification.
pub fn verify_summary(dir: &Path, r: &VerifyReport) -> String {
    let mut s = format!(
        "{}: {} images checked under Verilator (stall rate {}, seed {}): {} mismatches\n",
        dir.display(),
        r.images,
        r.stall_rate,
        r.seed,
        r.mismatch_count
    );
    if let Some(acc) = r.accuracy {
        s += &format!("accuracy {:.2}% (RTL argmax vs labels)\n", 100.0 * acc);
    }
    s += &shards_line(&r.shards);
    s += &format!(
        "cycles: total {}, latency {} (first image), interval {}\n",
        r.total_cycles,
        r.latency_cycles,
        r.interval_cycles
            .map(|i| format!("{i:.1}"))
            .unwrap_or_else(|| "n/a (one image)".into())
    );
    for m in r.mismatches.iter().take(10) {
        s += &format!("  mismatch: {m:?}\n");
    }
    s += &streams_line(
        r.streams_checked,
        r.stream_mismatches,
        r.first_stream_mismatch.as_ref(),
    );
    if let Some(d) = &r.diagnosis {
        s += &format!("{d}\n");
    }
    let log = dir.join(VERILATOR_LOG);
    if log.is_file() {
        s += &format!(
            "Verilator model {} ({:.1} s to build); build log: {}\n",
            if r.build.cache_hit {
                "from the cache"
            } else {
                "built"
            },
            r.build.build_seconds,
            log.display()
        );
    }
    s.trim_end().to_string()
}

/// The line saying how a sharded run was split (empty for one run).
fn shards_line(shards: &[inq_sim::Shard]) -> String {
    let Some(min) = shards.iter().map(|x| x.images).min() else {
        return String::new();
    };
    let max = shards.iter().map(|x| x.images).max().unwrap_or(min);
    let size = if min == max {
        min.to_string()
    } else {
        format!("{min}–{max}")
    };
    format!(
        "run in {} shards of {size} images, each from reset with its own stall seed (cycles \
         counted as if back to back; `--shard-images 0` for one run)\n",
        shards.len()
    )
}

/// The summary line of the stream check: "every stream checked", the first differing stream,
/// or that only the output words were checked.
fn streams_line(
    checked: bool,
    mismatches: usize,
    first: Option<&inq_sim::StreamMismatch>,
) -> String {
    match (checked, first) {
        (false, _) => "streams not checked (output words only)\n".to_string(),
        (true, None) => "every stream checked: all match the reference\n".to_string(),
        (true, Some(f)) => format!(
            "{mismatches} (tap, image) streams differ from the reference; first: tap {} `{}` ({}), \
             image {} ({} of {} elements arrived)\n",
            f.tap,
            f.name,
            f.node
                .map_or_else(|| "the input".to_string(), |n| format!("node {n}")),
            f.image,
            f.count,
            f.expected_count
        ),
    }
}

/// The plan's figures of the design in `dir`, if it loads.
pub fn planned(dir: &Path) -> Option<Planned> {
    inq_design::load_design(dir)
        .ok()
        .map(|l| Planned::of(&l.design))
}
