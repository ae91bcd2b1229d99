//! Running a design under Verilator and checking it against the integer reference.

use crate::error::TbError;
use crate::protocol::{
    sign_extend, InputStart, OutputRecord, Records, ResetRecord, DEFAULT_RESET_CYCLES,
};
use crate::stalls::StallGen;
use crate::verilator::{build, BuildInfo, BuildOptions};
use inq_design::{chw_to_hwc, tap_values, DesignFolder, TapDesc};
use inq_model::{Reference, Tensor};
use inq_sim::{Mismatch, MismatchKind, StreamMismatch, StreamSum, TapBeat, TapDiff};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Options of [`verify`] (and [`simulate`]).
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Probability per cycle of an input `tvalid` gap and (independently drawn) of
    /// `m_axis_tready` low, in `0.0..1.0` (see [`crate::stalls`]).
    pub stall_rate: f64,
    /// Stall generator seed.
    pub seed: u64,
    /// Write a VCD of the whole run here (builds and caches the `--trace` variant).
    pub trace_vcd: Option<PathBuf>,
    /// Mid-run reset after this many complete images, then restart from that image (see
    /// [`crate::protocol`]); must be in `1..images`.
    pub reset_after: Option<usize>,
    /// Length of the mid-run reset in cycles (at least 1).
    pub reset_cycles: u32,
    /// Ground-truth labels, one per image, for [`VerifyReport::accuracy`].
    pub labels: Option<Vec<usize>>,
    /// Give up after this many cycles without any stream transfer.
    pub idle_limit: u64,
    /// At most this many entries in [`VerifyReport::mismatches`] (the count is always exact).
    pub max_mismatches: usize,
    /// On a mismatch, rerun with the manifest taps recorded to name the first differing stream.
    pub locate_first_bad: bool,
    /// Keep the run files (stimulus, records) in this folder instead of a deleted temp folder.
    pub work_dir: Option<PathBuf>,
    /// Verilator cache folder (default [`crate::verilator::cache_root`]).
    pub cache_dir: Option<PathBuf>,
    /// The Verilator executable (default: `verilator` on `search_path`).
    pub verilator: Option<PathBuf>,
    /// `PATH`-style list searched for `verilator` (default: the process `PATH`).
    pub search_path: Option<OsString>,
    /// Check every manifest tap stream of every image, element by element, against the
    /// reference's tensors (the harness keeps a checksum per tap and image, see
    /// [`inq_sim::StreamSum`]); `false` checks the output words only.
    pub check_streams: bool,
    /// More images than this are split into shards, each a Verilator run of its own with its
    /// own stall seed, merged by the simulator's rule (`inq_sim::shards`; 0: never). A
    /// mid-run reset or a VCD keeps one run.
    pub shard_images: usize,
    /// Shards run at once, each a Verilator process (0: the available cores).
    pub jobs: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            stall_rate: 0.0,
            seed: 1,
            trace_vcd: None,
            reset_after: None,
            reset_cycles: DEFAULT_RESET_CYCLES,
            labels: None,
            idle_limit: 5_000_000,
            max_mismatches: 100,
            locate_first_bad: true,
            work_dir: None,
            cache_dir: None,
            verilator: None,
            search_path: None,
            check_streams: true,
            shard_images: inq_sim::DEFAULT_SHARD_IMAGES,
            jobs: 0,
        }
    }
}

impl VerifyOptions {
    fn build_options(&self, trace: bool) -> BuildOptions {
        BuildOptions {
            trace,
            cache_dir: self.cache_dir.clone(),
            verilator: self.verilator.clone(),
            search_path: self.search_path.clone(),
            cxx: None,
        }
    }
}

/// The result of [`verify`]. Serialized keys include exactly `images`, `mismatches`,
/// `accuracy`, `total_cycles`, `latency_cycles`, `interval_cycles`, plus the extra keys below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Images checked.
    pub images: usize,
    /// Differing output words (at most `max_mismatches`; see `mismatch_count`).
    pub mismatches: Vec<Mismatch>,
    /// Fraction of images whose RTL argmax equals the label (if labels were given).
    pub accuracy: Option<f64>,
    /// Cycles from reset release to the last output word: its cycle + 1 (see
    /// [`crate::protocol`]).
    pub total_cycles: u64,
    /// First image: cycle of its last output word − cycle of its first input beat.
    pub latency_cycles: u64,
    /// Steady-state cycles per image: mean difference between consecutive images' last-output
    /// cycles over the second half of the run (pairs spanning a mid-run reset excluded);
    /// `None` with fewer than two images.
    pub interval_cycles: Option<f64>,
    /// No differing output word and (when checked) no differing stream.
    pub passed: bool,
    /// Total number of differing words.
    pub mismatch_count: usize,
    /// Mean latency over all images.
    pub latency_cycles_mean: f64,
    /// Largest latency over all images.
    pub latency_cycles_max: u64,
    /// Fraction of images whose reference argmax equals the label.
    pub reference_accuracy: Option<f64>,
    /// Whether every manifest tap stream of every image was checked against the reference
    /// ([`VerifyOptions::check_streams`] and a manifest with taps).
    #[serde(default)]
    pub streams_checked: bool,
    /// Number of (tap, image) streams that differ from the reference (a stream of the last
    /// image before the end of the run or a mid-run reset may stop short: only the elements
    /// that arrived are compared there).
    #[serde(default)]
    pub stream_mismatches: usize,
    /// The first differing (tap, image) stream, by image, then tap in engine order (`tap`
    /// indexes the manifest's taps).
    #[serde(default)]
    pub first_stream_mismatch: Option<StreamMismatch>,
    /// On mismatch: the first tap (model node or input) whose stream differs (needs taps).
    pub first_bad: Option<TapDiff>,
    /// On mismatch: a sentence locating the fault (or saying why it cannot).
    pub diagnosis: Option<String>,
    /// Top module.
    pub top: String,
    /// The manifest's design hash.
    pub design_hash: String,
    /// Stall rate used.
    pub stall_rate: f64,
    /// Seed used.
    pub seed: u64,
    /// Mid-run reset point used.
    pub reset_after: Option<usize>,
    /// The Verilator build.
    pub build: BuildInfo,
    /// The shards the run was split into (`inq_sim::shards`); empty for a single run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<inq_sim::Shard>,
    /// Wall-clock seconds of the simulation run.
    pub sim_seconds: f64,
    /// Every output word with its cycle.
    pub outputs: Vec<OutputRecord>,
    /// First-input-beat cycles (see [`Records::input_starts`]).
    pub input_starts: Vec<InputStart>,
    /// Mid-run resets.
    pub resets: Vec<ResetRecord>,
}

/// The outcome of one Verilator run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRun {
    /// The protocol records.
    pub records: Records,
    /// Per manifest tap: its transfers for the first `tap_images` images (after a mid-run
    /// reset, the restarted images replace the discarded ones).
    pub taps: Vec<Vec<TapBeat>>,
    /// Per manifest tap: the checksum of its stream in each image (runs with the stream check,
    /// [`simulate_checked`]; empty otherwise). An image whose stream never started has none
    /// (or a zero count); after a mid-run reset the restarted images replace the discarded
    /// ones.
    pub sums: Vec<Vec<StreamSum>>,
    /// The build used.
    pub build: BuildInfo,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
}

/// Low-level run settings of [`simulate`].
#[derive(Debug, Clone)]
pub struct SimSettings {
    /// Stall threshold ([`StallGen::threshold_for`]).
    pub threshold: u64,
    /// Seed.
    pub seed: u64,
    /// Mid-run reset point.
    pub reset_after: Option<usize>,
    /// Mid-run reset length.
    pub reset_cycles: u32,
    /// Idle limit.
    pub idle_limit: u64,
    /// Record taps for this many images.
    pub tap_images: usize,
    /// VCD output.
    pub vcd: Option<PathBuf>,
}

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

struct WorkDir {
    path: PathBuf,
    remove: bool,
}

impl WorkDir {
    fn new(keep: Option<&Path>) -> Result<Self, TbError> {
        let (path, remove) = match keep {
            Some(p) => (p.to_path_buf(), false),
            None => (
                std::env::temp_dir().join(format!(
                    "inq-tb-{}-{}",
                    std::process::id(),
                    RUN_COUNTER.fetch_add(1, Ordering::Relaxed)
                )),
                true,
            ),
        };
        std::fs::create_dir_all(&path).map_err(|e| TbError::io(&path, e))?;
        // The binary runs in the design's rtl/ folder: pass it absolute paths.
        let path = path.canonicalize().map_err(|e| TbError::io(&path, e))?;
        Ok(WorkDir { path, remove })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Converts images (model CHW order) to the input beat stream (HWC order, `IN_W`-bit
/// patterns), checking each value against the model's input format.
pub fn images_to_beats(design: &DesignFolder, images: &[Vec<i64>]) -> Result<Vec<u64>, TbError> {
    let shape = design.model.input.shape;
    let e = design.elements_per_image();
    let f = design.model.input.format;
    let mask = if f.bits >= 64 {
        u64::MAX
    } else {
        (1u64 << f.bits) - 1
    };
    let mut beats = Vec::with_capacity(images.len() * e);
    for (i, img) in images.iter().enumerate() {
        if img.len() != e {
            return Err(TbError::Input(format!(
                "image {i} has {} values; the design's input {:?} needs {e}",
                img.len(),
                shape
            )));
        }
        if let Some((j, v)) = img
            .iter()
            .enumerate()
            .find(|(_, &v)| v < f.min() || v > f.max())
        {
            return Err(TbError::Input(format!(
                "image {i}, element {j}: value {v} outside the input format's range {}..={}",
                f.min(),
                f.max()
            )));
        }
        beats.extend(
            chw_to_hwc(img, shape)
                .into_iter()
                .map(|v| (v as u64) & mask),
        );
    }
    Ok(beats)
}

/// Builds (or reuses) the design's model and runs it once on `beats` (HWC bit patterns, whole
/// images). Lower level than [`verify`]: no reference, no comparison.
pub fn simulate(
    design: &DesignFolder,
    beats: &[u64],
    settings: &SimSettings,
    build_opts: &BuildOptions,
    work_dir: Option<&Path>,
) -> Result<SimRun, TbError> {
    simulate_checked(design, beats, settings, build_opts, work_dir, false)
}

/// [`simulate`], with `check_streams` also the per-image checksum of every manifest tap
/// stream ([`SimRun::sums`], the harness's `--tap-check`).
pub fn simulate_checked(
    design: &DesignFolder,
    beats: &[u64],
    settings: &SimSettings,
    build_opts: &BuildOptions,
    work_dir: Option<&Path>,
    check_streams: bool,
) -> Result<SimRun, TbError> {
    let e = design.elements_per_image();
    if beats.is_empty() || !beats.len().is_multiple_of(e) {
        return Err(TbError::Input(format!(
            "{} input beats is not a positive whole number of {e}-element images",
            beats.len()
        )));
    }
    let build_info = build(design, build_opts)?;
    let wd = WorkDir::new(work_dir)?;
    let stim = wd.path.join("stimulus.bin");
    let bytes: Vec<u8> = beats.iter().flat_map(|b| b.to_le_bytes()).collect();
    std::fs::write(&stim, bytes).map_err(|er| TbError::io(&stim, er))?;
    let rec = wd.path.join("records.txt");
    let mut cmd = Command::new(&build_info.binary);
    cmd.current_dir(design.rtl_dir())
        .arg("--in")
        .arg(&stim)
        .arg("--out")
        .arg(&rec)
        .args(["--seed", &settings.seed.to_string()])
        .args(["--threshold", &settings.threshold.to_string()])
        .args(["--idle-limit", &settings.idle_limit.max(1).to_string()])
        .args(["--tap-images", &settings.tap_images.to_string()]);
    if check_streams && !design.manifest.taps.is_empty() {
        cmd.args(["--tap-check", "1"]);
    }
    if let Some(k) = settings.reset_after {
        cmd.args(["--reset-after", &k.to_string()])
            .args(["--reset-cycles", &settings.reset_cycles.to_string()]);
    }
    if let Some(v) = &settings.vcd {
        let abs = if v.is_absolute() {
            v.clone()
        } else {
            std::env::current_dir()
                .map(|d| d.join(v))
                .unwrap_or_else(|_| v.clone())
        };
        cmd.arg("--vcd").arg(abs);
    }
    let t0 = Instant::now();
    let out = cmd
        .output()
        .map_err(|er| TbError::io(&build_info.binary, er))?;
    let seconds = t0.elapsed().as_secs_f64();
    let top = design.manifest.top.clone();
    let expected_words = (beats.len() / e * design.manifest.outputs) as u64;
    if !out.status.success() {
        if out.status.code() == Some(3) {
            let text = std::fs::read_to_string(&rec).unwrap_or_default();
            let (cycle, words) = text
                .lines()
                .rev()
                .find_map(|l| {
                    let mut it = l.strip_prefix("X ")?.split_whitespace();
                    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
                })
                .unwrap_or((0, 0));
            return Err(TbError::Timeout {
                top,
                cycle,
                idle_limit: settings.idle_limit,
                words,
                expected: expected_words,
            });
        }
        return Err(TbError::Sim {
            top,
            status: out.status.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let (records, taps, sums) = parse_records(design, &rec)?;
    if records.outputs.len() as u64 != expected_words || records.total_cycles == 0 {
        return Err(TbError::Records {
            path: rec.display().to_string(),
            line: 0,
            message: format!(
                "run ended with {} of {expected_words} output words",
                records.outputs.len()
            ),
        });
    }
    Ok(SimRun {
        records,
        taps,
        sums,
        build: build_info,
        seconds,
    })
}

/// Parses the harness's record file (format in `templates/harness.cpp`).
#[allow(clippy::type_complexity)]
fn parse_records(
    design: &DesignFolder,
    path: &Path,
) -> Result<(Records, Vec<Vec<TapBeat>>, Vec<Vec<StreamSum>>), TbError> {
    let text = std::fs::read_to_string(path).map_err(|e| TbError::io(path, e))?;
    let m = &design.manifest;
    let n = m.outputs;
    let mut r = Records::default();
    let mut taps: Vec<Vec<TapBeat>> = vec![Vec::new(); m.taps.len()];
    let mut sums: Vec<Vec<StreamSum>> = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let bad = |msg: &str| TbError::Records {
            path: path.display().to_string(),
            line: ln + 1,
            message: format!("{msg}: `{line}`"),
        };
        let mut it = line.split_whitespace();
        let tag = it.next().unwrap_or("");
        let nums: Vec<u64> = it
            .map(|s| s.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("non-numeric field"))?;
        let want = match tag {
            "I" | "T" => 2 + usize::from(tag == "T"),
            "C" => 4,
            "O" => 4,
            "R" => 3,
            "E" | "X" => 1 + usize::from(tag == "X"),
            _ => return Err(bad("unknown record type")),
        };
        if nums.len() != want {
            return Err(bad("wrong number of fields"));
        }
        match tag {
            "I" => r.input_starts.push(InputStart {
                image: nums[0] as usize,
                cycle: nums[1],
            }),
            "O" => {
                let w = r.outputs.len();
                r.outputs.push(OutputRecord {
                    image: w / n,
                    word: w % n,
                    value: sign_extend(nums[1], m.ports.out_width),
                    cycle: nums[0],
                    tlast: nums[2] != 0,
                    tuser: nums[3],
                });
            }
            "T" => {
                let t: &TapDesc = m
                    .taps
                    .get(nums[0] as usize)
                    .ok_or_else(|| bad("unknown tap"))?;
                let value = if t.signed {
                    sign_extend(nums[2], t.width)
                } else {
                    nums[2] as i64
                };
                taps[nums[0] as usize].push(TapBeat {
                    cycle: nums[1],
                    value,
                });
            }
            "C" => {
                let t = nums[0] as usize;
                if t >= m.taps.len() {
                    return Err(bad("unknown tap"));
                }
                if sums.is_empty() {
                    sums = vec![Vec::new(); m.taps.len()];
                }
                let img = usize::try_from(nums[1]).map_err(|_| bad("image out of range"))?;
                if img > 1 << 40 {
                    return Err(bad("image out of range"));
                }
                let s = &mut sums[t];
                if s.len() <= img {
                    s.resize(img + 1, StreamSum::default());
                }
                s[img] = StreamSum {
                    count: nums[2],
                    hash: nums[3],
                };
            }
            "R" => {
                let k = nums[2] as usize;
                r.resets.push(ResetRecord {
                    first_cycle: nums[0],
                    cycles: nums[1] as u32,
                    restart_image: k,
                });
                for (t, beats) in m.taps.iter().zip(taps.iter_mut()) {
                    beats.truncate(k * t.elements_per_image);
                }
                for s in &mut sums {
                    s.truncate(k);
                }
            }
            "E" => r.total_cycles = nums[0],
            _ => return Err(bad("timeout record in a completed run")),
        }
    }
    Ok((r, taps, sums))
}

/// Runs `images` (each `C·H·W` integers in the model's CHW order) through the design in
/// `design_dir` under Verilator and compares every output word, bit for bit, with the integer
/// reference of `design_dir/model.json`, and (with [`VerifyOptions::check_streams`], the
/// default) every manifest tap stream of every image with the reference's intermediate tensor
/// ([`inq_design::tap_values`]) through the harness's per-(tap, image) checksums. In the last
/// image before the end of the run or a mid-run reset a stream may stop short by elements
/// nothing consumed before that end: there the elements that arrived are compared.
///
/// A functional difference is reported in [`VerifyReport::mismatches`] and
/// [`VerifyReport::stream_mismatches`] (with [`VerifyReport::first_bad`] when the manifest has
/// taps, from a re-run recording the taps up to the first differing image); `Err` means the
/// check could not be carried out (no Verilator, bad folder, build failure, timeout, ...).
pub fn verify(
    design_dir: &Path,
    images: &[Vec<i64>],
    opts: &VerifyOptions,
) -> Result<VerifyReport, TbError> {
    let design = DesignFolder::load(design_dir)?;
    verify_design(&design, images, opts)
}

/// [`verify`] on an already loaded design. More than [`VerifyOptions::shard_images`] images
/// are split into shards run [`VerifyOptions::jobs`] at a time, each a Verilator process with
/// its own stall seed checked on its own, and merged by the simulator's rule
/// (`inq_sim::shards`), so that `inq sim` with the same shard size reports the same words at
/// the same cycles.
pub fn verify_design(
    design: &DesignFolder,
    images: &[Vec<i64>],
    opts: &VerifyOptions,
) -> Result<VerifyReport, TbError> {
    let one_run = opts.reset_after.is_some() || opts.trace_vcd.is_some();
    let mut shards = inq_sim::shards::plan(
        images.len(),
        if one_run { 0 } else { opts.shard_images },
        opts.seed,
    );
    if shards.len() <= 1 {
        return verify_one(design, images, opts);
    }
    if let Some(l) = &opts.labels {
        if l.len() != images.len() {
            return Err(TbError::Input(format!(
                "{} labels for {} images",
                l.len(),
                images.len()
            )));
        }
    }
    // build once, before the shards ask for the model
    let built = build(design, &opts.build_options(false))?;
    let t0 = Instant::now();
    let parts = inq_sim::shards::run_parallel(&shards, opts.jobs, |s| {
        let sub = VerifyOptions {
            seed: s.seed,
            labels: opts.labels.as_ref().map(|l| l[s.range()].to_vec()),
            work_dir: opts
                .work_dir
                .as_ref()
                .map(|w| w.join(format!("shard-{}", s.index))),
            ..opts.clone()
        };
        verify_one(design, &images[s.range()], &sub)
    })
    .map_err(|e| TbError::Shard {
        index: e.shard.index,
        first_image: e.shard.first_image,
        images: e.shard.images,
        seed: e.shard.seed,
        source: Box::new(e.source),
    })?;
    let mut report = merge(parts, &mut shards, opts, t0.elapsed().as_secs_f64());
    report.build = built;
    Ok(report)
}

/// Merges the shards' reports by the simulator's rule (`inq_sim::shards`).
fn merge(
    parts: Vec<VerifyReport>,
    shards: &mut [inq_sim::Shard],
    opts: &VerifyOptions,
    wall_seconds: f64,
) -> VerifyReport {
    use inq_sim::shards::{combine_timing, shard_diagnosis};
    let mut it = parts.into_iter().zip(shards.iter_mut());
    let Some((mut m, s0)) = it.next() else {
        unreachable!("merge needs at least one shard")
    };
    let timing_of = |r: &VerifyReport| inq_sim::Timing {
        first_latency: r.latency_cycles,
        mean_latency: r.latency_cycles_mean,
        max_latency: r.latency_cycles_max,
        interval: r.interval_cycles,
    };
    let mut timings = vec![(timing_of(&m), m.images)];
    let mut correct = m.accuracy.map(|a| a * m.images as f64);
    let mut ref_correct = m.reference_accuracy.map(|a| a * m.images as f64);
    if let Some(d) = m.diagnosis.take() {
        m.diagnosis = Some(shard_diagnosis(s0, &d));
    }
    let mut list = vec![s0.clone()];
    for (p, s) in it {
        let offset = m.total_cycles;
        let first = m.images;
        s.first_cycle = offset;
        list.push(s.clone());
        timings.push((timing_of(&p), p.images));
        correct = correct
            .zip(p.accuracy)
            .map(|(a, b)| a + b * p.images as f64);
        ref_correct = ref_correct
            .zip(p.reference_accuracy)
            .map(|(a, b)| a + b * p.images as f64);
        for mm in p.mismatches {
            if m.mismatches.len() < opts.max_mismatches {
                m.mismatches.push(Mismatch {
                    image: mm.image + first,
                    ..mm
                });
            }
        }
        m.mismatch_count += p.mismatch_count;
        m.passed &= p.passed;
        m.streams_checked &= p.streams_checked;
        m.stream_mismatches += p.stream_mismatches;
        if m.first_stream_mismatch.is_none() {
            m.first_stream_mismatch = p.first_stream_mismatch.map(|x| StreamMismatch {
                image: x.image + first,
                ..x
            });
        }
        if m.first_bad.is_none() && m.diagnosis.is_none() {
            m.first_bad = p.first_bad.map(|x| TapDiff {
                image: x.image + first,
                ..x
            });
            m.diagnosis = p.diagnosis.map(|d| shard_diagnosis(s, &d));
        }
        m.total_cycles += p.total_cycles;
        m.outputs
            .extend(p.outputs.into_iter().map(|o| OutputRecord {
                image: o.image + first,
                cycle: o.cycle + offset,
                ..o
            }));
        m.input_starts
            .extend(p.input_starts.into_iter().map(|x| InputStart {
                image: x.image + first,
                cycle: x.cycle + offset,
            }));
        m.images += p.images;
    }
    let t = combine_timing(&timings);
    m.latency_cycles = t.first_latency;
    m.latency_cycles_mean = t.mean_latency;
    m.latency_cycles_max = t.max_latency;
    m.interval_cycles = t.interval;
    m.accuracy = correct.map(|c| c / m.images.max(1) as f64);
    m.reference_accuracy = ref_correct.map(|c| c / m.images.max(1) as f64);
    m.seed = opts.seed;
    m.sim_seconds = wall_seconds;
    m.shards = list;
    m
}

/// [`verify_design`] as one Verilator run.
fn verify_one(
    design: &DesignFolder,
    images: &[Vec<i64>],
    opts: &VerifyOptions,
) -> Result<VerifyReport, TbError> {
    if images.is_empty() {
        return Err(TbError::Input("no images to verify".into()));
    }
    let threshold = StallGen::threshold_for(opts.stall_rate).ok_or_else(|| {
        TbError::Input(format!("stall rate {} outside 0.0..1.0", opts.stall_rate))
    })?;
    if let Some(k) = opts.reset_after {
        if k == 0 || k >= images.len() {
            return Err(TbError::Input(format!(
                "reset_after {k} must be in 1..{} (images after the reset are needed)",
                images.len()
            )));
        }
        if opts.reset_cycles == 0 {
            return Err(TbError::Input("reset_cycles must be at least 1".into()));
        }
    }
    if let Some(l) = &opts.labels {
        if l.len() != images.len() {
            return Err(TbError::Input(format!(
                "{} labels for {} images",
                l.len(),
                images.len()
            )));
        }
    }
    let beats = images_to_beats(design, images)?;
    let reference = Reference::new(&design.model)?;
    let mut settings = SimSettings {
        threshold,
        seed: opts.seed,
        reset_after: opts.reset_after,
        reset_cycles: opts.reset_cycles,
        idle_limit: opts.idle_limit,
        tap_images: 0,
        vcd: opts.trace_vcd.clone(),
    };
    let taps = &design.manifest.taps;
    let check_streams = opts.check_streams && !taps.is_empty();
    let run = simulate_checked(
        design,
        &beats,
        &settings,
        &opts.build_options(opts.trace_vcd.is_some()),
        opts.work_dir.as_deref(),
        check_streams,
    )?;
    // An output map with a spatial extent (`[C,H,W]` logits, `H·W > 1`) leaves in stream
    // (HWC) order: compare in that order, and the argmax is the stream position of the largest
    // (as the simulator's `check_against_reference` does).
    let out_shape = {
        let g = reference.graph();
        g.infos[g.output].shape.clone()
    };
    // Streams: the taps in engine order; the last image before the end of the run or of the
    // segment a mid-run reset ends may stop short (see `StreamSum::matches`).
    let mut order: Vec<usize> = (0..taps.len()).collect();
    order.sort_by_key(|&i| tap_order(design, &taps[i]));
    let mut may_be_short: Vec<usize> = run
        .records
        .resets
        .iter()
        .filter_map(|r| r.restart_image.checked_sub(1))
        .collect();
    may_be_short.push(images.len() - 1);
    let mut stream_mismatches = 0usize;
    let mut first_stream: Option<StreamMismatch> = None;
    let mut expected = Vec::with_capacity(images.len());
    for (i, img) in images.iter().enumerate() {
        let out = reference
            .run(img)
            .map_err(|e| TbError::Input(format!("image {i}: {e}")))?;
        if check_streams {
            let input = Tensor {
                shape: design.model.input.shape.to_vec(),
                data: img.clone(),
            };
            let short = may_be_short.contains(&i);
            for &ti in &order {
                let tap = &taps[ti];
                let Some(exp) = tap_values(&design.model, &input, &out, tap.node) else {
                    continue;
                };
                let got = run
                    .sums
                    .get(ti)
                    .and_then(|s| s.get(i))
                    .copied()
                    .unwrap_or_default();
                if !got.matches(&exp, short) {
                    stream_mismatches += 1;
                    first_stream.get_or_insert_with(|| StreamMismatch {
                        tap: ti,
                        node: tap.node,
                        name: tap.name.clone(),
                        image: i,
                        count: got.count,
                        expected_count: exp.len() as u64,
                    });
                }
            }
        }
        let (mut logits, mut argmax) = (out.logits, out.argmax);
        if let [c, h, w] = out_shape[..] {
            if h * w > 1 && logits.len() == c * h * w {
                logits = chw_to_hwc(&logits, [c, h, w]);
                argmax = inq_model::numerics::argmax(&logits);
            }
        }
        expected.push((logits, argmax));
    }
    let n = design.manifest.outputs;
    let mut mismatches = Vec::new();
    let mut count = 0usize;
    let mut push = |m: Mismatch| {
        count += 1;
        if mismatches.len() < opts.max_mismatches {
            mismatches.push(m);
        }
    };
    for o in &run.records.outputs {
        let (logits, argmax) = &expected[o.image];
        let exp = logits[o.word];
        if o.value != exp {
            push(Mismatch {
                image: o.image,
                word: o.word,
                kind: MismatchKind::Logit,
                expected: exp,
                actual: o.value,
            });
        }
        let last = o.word + 1 == n;
        if o.tlast != last {
            push(Mismatch {
                image: o.image,
                word: o.word,
                kind: MismatchKind::Tlast,
                expected: i64::from(last),
                actual: i64::from(o.tlast),
            });
        }
        if last && o.tuser != *argmax as u64 {
            push(Mismatch {
                image: o.image,
                word: o.word,
                kind: MismatchKind::Argmax,
                expected: *argmax as i64,
                actual: o.tuser as i64,
            });
        }
    }
    let hw_argmax: Vec<u64> = run
        .records
        .outputs
        .iter()
        .filter(|o| o.word + 1 == n)
        .map(|o| o.tuser)
        .collect();
    let accuracy = opts.labels.as_ref().map(|l| {
        let ok = l
            .iter()
            .zip(&hw_argmax)
            .filter(|(a, b)| **a as u64 == **b)
            .count();
        ok as f64 / l.len() as f64
    });
    let reference_accuracy = opts.labels.as_ref().map(|l| {
        let ok = l
            .iter()
            .zip(&expected)
            .filter(|(a, (_, b))| *a == b)
            .count();
        ok as f64 / l.len() as f64
    });
    let timing = timing(&run.records, images.len(), n);

    // the first image with a differing output word or stream
    let first_image = mismatches
        .first()
        .map(|m| m.image)
        .into_iter()
        .chain(first_stream.as_ref().map(|m| m.image))
        .min();
    let (first_bad, diagnosis) = match first_image {
        None => (None, None),
        Some(_) if taps.is_empty() => (
            None,
            Some(
                "the manifest lists no taps: the first differing stream cannot be named"
                    .to_string(),
            ),
        ),
        Some(_) if !opts.locate_first_bad => (None, None),
        Some(b) => {
            settings.tap_images = b + 1;
            settings.vcd = None;
            let tapped = simulate(
                design,
                &beats,
                &settings,
                &opts.build_options(false),
                opts.work_dir.as_deref(),
            )?;
            let first = mismatches.first().filter(|m| m.image == b);
            let (d, s) = locate(design, &reference, images, &tapped, b, first)?;
            (d, Some(s))
        }
    };

    Ok(VerifyReport {
        images: images.len(),
        passed: count == 0 && stream_mismatches == 0,
        mismatch_count: count,
        streams_checked: check_streams,
        stream_mismatches,
        first_stream_mismatch: first_stream,
        mismatches,
        accuracy,
        reference_accuracy,
        total_cycles: run.records.total_cycles,
        latency_cycles: timing.first_latency,
        latency_cycles_mean: timing.mean_latency,
        latency_cycles_max: timing.max_latency,
        interval_cycles: timing.interval,
        first_bad,
        diagnosis,
        top: design.manifest.top.clone(),
        design_hash: design.manifest.design_hash.clone(),
        stall_rate: opts.stall_rate,
        seed: opts.seed,
        reset_after: opts.reset_after,
        build: run.build,
        shards: Vec::new(),
        sim_seconds: run.seconds,
        outputs: run.records.outputs,
        input_starts: run.records.input_starts,
        resets: run.records.resets,
    })
}

/// Latency and interval from records: the simulator's definition, so that `inq verify` and
/// `inq sim` report the same figures for the same records.
pub use inq_sim::{timing, Timing};

/// The `Design.taps` entry a manifest tap observes: the one of the same node (the input's for
/// `None`). A generated folder lists the design's taps in order; a hand-written manifest may
/// list fewer (or none), so the match is by node, not by position.
fn design_tap(design: &DesignFolder, t: &TapDesc) -> Option<usize> {
    design.design().taps.iter().position(|x| x.node == t.node)
}

/// The engine-order key of a manifest tap: the producer of the stream it observes (the input
/// first, then engines in the design's topological order), then the node. Every stream that
/// depends on a faulty one comes after it in this order, so the first tap that differs is the
/// stream where the fault starts (or one of several independent faults).
fn tap_order(design: &DesignFolder, t: &TapDesc) -> (usize, usize) {
    let d = design.design();
    let producer = design_tap(design, t)
        .and_then(|x| d.streams.get(d.taps[x].stream))
        .map_or(usize::MAX, |s| match s.from {
            inq_hdl::Endpoint::Input => 0,
            inq_hdl::Endpoint::Engine { engine, .. } => engine + 1,
            inq_hdl::Endpoint::Output => usize::MAX,
        });
    (producer, t.node.map_or(0, |n| n + 1))
}

/// `node N `name` (op)`, or `the input`.
fn node_label(model: &inq_model::QuantModel, node: Option<usize>) -> String {
    match node.and_then(|n| model.nodes.get(n).map(|x| (n, x))) {
        Some((n, x)) => format!("node {n} `{}` ({})", x.name, x.op.name()),
        None => "the input".to_string(),
    }
}

/// Names the first tap whose stream differs, from a run with taps recorded for images
/// `0..=b` (`b`: the first image with a differing output word or stream checksum; `first`:
/// its first differing output word, if any): the taps in engine order ([`tap_order`]), each
/// over those images. When every tap matches, the output words are the first difference: they
/// are the output node's stream if the manifest does not tap that node (named then), else the
/// fault is in the output stage (nothing is named).
fn locate(
    design: &DesignFolder,
    reference: &Reference<'_>,
    images: &[Vec<i64>],
    run: &SimRun,
    b: usize,
    first: Option<&Mismatch>,
) -> Result<(Option<TapDiff>, String), TbError> {
    let model = &design.model;
    let taps = &design.manifest.taps;
    let mut order: Vec<usize> = (0..taps.len()).collect();
    order.sort_by_key(|&i| tap_order(design, &taps[i]));
    let mut per_image = Vec::with_capacity(b + 1);
    for img in &images[..=b] {
        let out = reference.run(img)?;
        let input = Tensor {
            shape: model.input.shape.to_vec(),
            data: img.clone(),
        };
        per_image.push((input, out));
    }
    let d = design.design();
    for &ti in &order {
        let tap = &taps[ti];
        let got = &run.taps[ti];
        for (img, (input, out)) in per_image.iter().enumerate() {
            let exp = tap_values(model, input, out, tap.node).unwrap_or_default();
            for (j, &e) in exp.iter().enumerate() {
                let actual = got.get(img * tap.elements_per_image + j).map(|t| t.value);
                if actual.is_none() && img + 1 == images.len() {
                    // The run ends with the last output word: the last image's stream may
                    // stop short by elements nothing consumed before that.
                    break;
                }
                if actual != Some(e) {
                    let dt = design_tap(design, tap);
                    let stream = dt.map(|x| d.taps[x].stream);
                    let diff = TapDiff {
                        tap: dt.unwrap_or(ti),
                        node: tap.node,
                        name: tap.name.clone(),
                        stream: stream.unwrap_or(usize::MAX),
                        image: img,
                        element: j,
                        expected: e,
                        actual,
                    };
                    let got_s =
                        actual.map_or("nothing (stream ended)".to_string(), |v| v.to_string());
                    let s = format!(
                        "first differing stream: {} at tap `{}`{}, image {img}, element {j} \
                         (stream order {}): expected {e}, got {got_s}",
                        node_label(model, tap.node),
                        tap.tdata,
                        stream.map_or(String::new(), |s| format!(" (stream {s})")),
                        tap.order
                    );
                    return Ok((Some(diff), s));
                }
            }
        }
    }
    let Some(first) = first else {
        return Ok((
            None,
            format!(
                "a stream checksum of image {b} differs from the reference, but every tapped \
                 stream recorded up to image {b} matches it (a mid-run reset may have shifted \
                 the recorded beats)"
            ),
        ));
    };
    let out_node = model.node_index(&model.output);
    let out_tapped = taps.iter().any(|t| t.node.is_some() && t.node == out_node);
    if !out_tapped && first.kind == MismatchKind::Logit {
        // The output words are the output node's stream (through the output FIFO).
        let name = out_node.map_or_else(String::new, |n| model.nodes[n].name.clone());
        let diff = TapDiff {
            tap: d
                .taps
                .iter()
                .position(|t| t.node.is_some() && t.node == out_node)
                .unwrap_or(usize::MAX),
            node: out_node,
            name,
            stream: d.output.stream,
            image: first.image,
            element: first.word,
            expected: first.expected,
            actual: Some(first.actual),
        };
        let s = format!(
            "every tapped stream matches the reference up to image {b}; the first difference is \
             on the output words, the stream of the untapped output {} (stream {}), image {}, \
             word {}: expected {}, got {}",
            node_label(model, out_node),
            d.output.stream,
            first.image,
            first.word,
            first.expected,
            first.actual
        );
        return Ok((Some(diff), s));
    }
    let s = format!(
        "every tapped stream matches the reference up to image {b}; the difference is in the \
         output stage (stream {} to m_axis), image {}, word {}: expected {}, got {} ({:?})",
        d.output.stream, first.image, first.word, first.expected, first.actual, first.kind
    );
    Ok((None, s))
}
