//! The top-level run of a design: [`simulate`] (the decoupled run by default, else the
//! lockstep [`Machine`] under the harness's [`Driver`], with VCD tracing and taps), its
//! options ([`SimOptions`]), [`verify`] (simulation plus the comparison with the reference),
//! and [`images_to_beats`] (the input stream of a set of images).
//!
//! The top of the crate: depends on the decoupled run (`decoupled.rs`), the machine, the
//! report, the protocol, the tracer and the leaves; only `fifo_sizing.rs` (and the crate
//! root's re-exports) depend on it. Not here: the clocked model itself (`machine.rs`), the
//! decoupled run's mechanics (`decoupled.rs`, `chan.rs`), the driver's cycle rules
//! (`protocol.rs`), the report's types and the comparison itself (`report.rs`).

use std::path::PathBuf;
use std::time::Instant;

use inq_design::chw_to_hwc;
use inq_hdl::Design;
use inq_model::QuantModel;

use crate::activity::Activity;
use crate::decoupled;
use crate::engines::api::range_of;
use crate::error::SimError;
use crate::machine::{Machine, PortInputs};
use crate::protocol::{Driver, DriverConfig, DutOutputs, Records, DEFAULT_RESET_CYCLES};
use crate::report::{check_against_reference, timing, EngineReport, FifoReport, SimReport};
use crate::stalls::StallGen;
use crate::tap::{TapBeat, TapSums};
use crate::trace;

/// Options of [`simulate`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Probability per cycle of an input `tvalid` gap and (independently drawn) of
    /// `m_axis_tready` low, in `0.0..1.0` (see [`stalls`](crate::stalls)).
    pub stall_rate: f64,
    /// Stall generator seed.
    pub seed: u64,
    /// Write a VCD waveform of the whole run here.
    pub vcd: Option<PathBuf>,
    /// Stop with [`SimError::CycleLimit`] after this many cycles.
    pub max_cycles: Option<u64>,
    /// Stop with [`SimError::Timeout`] after this many cycles without any stream transfer.
    pub idle_limit: u64,
    /// Mid-run reset after this many complete images, then restart from that image (see
    /// [`protocol`](crate::protocol)); must be in `1..images`.
    pub reset_after: Option<usize>,
    /// Length of the mid-run reset in cycles (at least 1).
    pub reset_cycles: u32,
    /// Ground-truth labels, one per image, for [`SimReport::accuracy`].
    pub labels: Option<Vec<usize>>,
    /// Clock for [`SimReport::images_per_second`] in MHz.
    pub clock_mhz: f64,
    /// Record the transfers of every `Design.taps` stream for this many images.
    pub tap_images: usize,
    /// At most this many entries in [`SimReport::mismatches`] (the count is always exact).
    pub max_mismatches: usize,
    /// Simulate event-driven instead of stepping every cycle of the whole [`Machine`]: the
    /// *decoupled run* (each engine, the source and the sink with its own clock, synchronised
    /// through time-stamped FIFOs; runs of cycles in which an engine only folds, waits, takes
    /// input or emits applied at once; see `src/decoupled.rs`), or with a mid-run reset the
    /// lockstep run with runs of globally quiet cycles applied at once
    /// ([`Machine::quiet_cycles`]), which is also what a design whose streams are busy in most
    /// cycles gets (the decoupled run would skip little there and costs more per cycle: a
    /// mean stream occupancy of 0.45 or more, see `decoupled::pays_off`). The report is
    /// identical to stepping every cycle (the tests
    /// check this; runs that end in a timeout or the cycle limit are re-run lockstep to report
    /// it exactly). `false` steps every cycle. Ignored (every cycle stepped) when writing a
    /// VCD.
    pub fast_forward: bool,
    /// When `fast_forward` takes the decoupled run: only where it is expected to pay
    /// ([`Decoupled::WhenItPays`], the default), or on every design (the exactness tests).
    pub decoupled: Decoupled,
    /// Keep a checksum of every tap stream of every image ([`SimReport::stream_sums`]), so that
    /// [`check_against_reference`] checks every inter-engine stream, element by element,
    /// against the reference's tensors (memory: two words per tap and image). `false`: only
    /// the output words are checked.
    pub check_streams: bool,
    /// [`verify`] splits a run of more images than this into shards run in parallel (the
    /// rule is in `src/shards.rs`; 0: never). The figures depend on it, not on `jobs`.
    pub shard_images: usize,
    /// Shards run at once by [`verify`] (0: the available cores).
    pub jobs: usize,
}

/// When [`SimOptions::fast_forward`] takes the decoupled run (the lockstep run, with globally
/// quiet cycles applied at once, otherwise; both give the same report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decoupled {
    /// Unless the design's streams carry a beat in most cycles (`decoupled::pays_off`).
    #[default]
    WhenItPays,
    /// On every design.
    Always,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            stall_rate: 0.0,
            seed: 1,
            vcd: None,
            max_cycles: None,
            idle_limit: 5_000_000,
            reset_after: None,
            reset_cycles: DEFAULT_RESET_CYCLES,
            labels: None,
            clock_mhz: 100.0,
            tap_images: 0,
            max_mismatches: 100,
            fast_forward: true,
            decoupled: Decoupled::WhenItPays,
            check_streams: true,
            shard_images: crate::shards::DEFAULT_SHARD_IMAGES,
            jobs: 0,
        }
    }
}

/// Converts images (model CHW order) into the input beat stream (HWC order, `IN_W`-bit
/// patterns), checking each value against the design's input format.
pub fn images_to_beats(design: &Design, images: &[Vec<i64>]) -> Result<Vec<u64>, SimError> {
    let [c, h, w] = design.input.shape;
    if !(1..=62).contains(&design.input.width) {
        return Err(SimError::Design {
            field: "input.width".into(),
            message: format!("width {} outside 1..=62", design.input.width),
        });
    }
    let e = c * h * w;
    let (lo, hi) = range_of(design.input.width, design.input.signed);
    let mask = if design.input.width >= 64 {
        u64::MAX
    } else {
        (1u64 << design.input.width) - 1
    };
    let mut beats = Vec::with_capacity(images.len() * e);
    for (i, img) in images.iter().enumerate() {
        if img.len() != e {
            return Err(SimError::Input(format!(
                "image {i} has {} values; the design's input {c}×{h}×{w} needs {e}",
                img.len()
            )));
        }
        if let Some((j, v)) = img.iter().enumerate().find(|(_, &v)| v < lo || v > hi) {
            return Err(SimError::Input(format!(
                "image {i}, element {j}: value {v} outside the input format's range {lo}..={hi}"
            )));
        }
        beats.extend(
            chw_to_hwc(img, [c, h, w])
                .into_iter()
                .map(|v| (v as u64) & mask),
        );
    }
    Ok(beats)
}

/// Simulates `images` (each `C·H·W` integers in the model's CHW order) through `design`,
/// driven exactly like the Verilator harness (see [`protocol`](crate::protocol)).
///
/// The outputs are not compared with anything: see [`check_against_reference`] and
/// [`verify`].
pub fn simulate(
    design: &Design,
    images: &[Vec<i64>],
    opts: &SimOptions,
) -> Result<SimReport, SimError> {
    if images.is_empty() {
        return Err(SimError::Input("no images to simulate".into()));
    }
    let threshold = StallGen::threshold_for(opts.stall_rate).ok_or_else(|| {
        SimError::Options(format!("stall rate {} outside 0.0..1.0", opts.stall_rate))
    })?;
    if let Some(k) = opts.reset_after {
        if k == 0 || k >= images.len() {
            return Err(SimError::Options(format!(
                "reset_after {k} must be in 1..{} (images after the reset are needed)",
                images.len()
            )));
        }
        if opts.reset_cycles == 0 {
            return Err(SimError::Options("reset_cycles must be at least 1".into()));
        }
    }
    if let Some(l) = &opts.labels {
        if l.len() != images.len() {
            return Err(SimError::Options(format!(
                "{} labels for {} images",
                l.len(),
                images.len()
            )));
        }
    }
    if !(opts.clock_mhz.is_finite() && opts.clock_mhz > 0.0) {
        return Err(SimError::Options(format!(
            "clock {} MHz must be positive",
            opts.clock_mhz
        )));
    }
    let mut m = Machine::new(design)?;
    let beats = images_to_beats(design, images)?;
    let values: Vec<i64> = beats.iter().map(|&b| m.input_value(b)).collect();
    let e = beats.len() / images.len();
    let n = design.output.count;
    let expected = images.len() * n;
    let mut driver = Driver::new(
        DriverConfig {
            elements_per_image: e,
            outputs_per_image: n,
            out_width: design.output.width,
            seed: opts.seed,
            threshold,
            reset_after: opts.reset_after,
            reset_cycles: opts.reset_cycles,
            idle_limit: opts.idle_limit.max(1),
        },
        beats,
    );
    let mut tracer = match &opts.vcd {
        Some(p) => Some(trace::Tracer::create(p, design, &m)?),
        None => None,
    };
    let tap_streams: Vec<(usize, bool, usize)> = design
        .taps
        .iter()
        .map(|t| {
            (
                t.stream,
                t.at_fifo_output,
                opts.tap_images.saturating_mul(t.elements_per_image),
            )
        })
        .collect();
    let mut taps: Vec<Vec<TapBeat>> = if opts.tap_images > 0 {
        vec![Vec::new(); design.taps.len()]
    } else {
        Vec::new()
    };
    let sum_streams: Vec<(usize, bool, usize)> = if opts.check_streams {
        design
            .taps
            .iter()
            .map(|t| (t.stream, t.at_fifo_output, t.elements_per_image))
            .collect()
    } else {
        Vec::new()
    };
    let mut sums: Vec<TapSums> = sum_streams
        .iter()
        .map(|&(_, _, epi)| TapSums::new(epi))
        .collect();
    let max_cycles = opts.max_cycles.unwrap_or(u64::MAX);
    let fast_forward = opts.fast_forward && tracer.is_none();
    let decoupled_run = fast_forward
        && opts.reset_after.is_none()
        && match opts.decoupled {
            Decoupled::WhenItPays => decoupled::pays_off(design),
            Decoupled::Always => true,
        };
    if decoupled_run {
        // The decoupled run (see `decoupled`); `None` when the run ends in an error, which
        // the lockstep loop below then reports exactly.
        let t0 = Instant::now();
        let spec = decoupled::RunSpec {
            values: &values,
            elements_per_image: e,
            outputs_per_image: n,
            images: images.len(),
            seed: opts.seed,
            threshold,
            max_cycles,
            idle_limit: opts.idle_limit.max(1),
            taps: if opts.tap_images > 0 {
                &tap_streams
            } else {
                &[]
            },
            sums: &sum_streams,
        };
        match decoupled::run(m, &spec) {
            decoupled::End::Done(out) => {
                let sim_seconds = t0.elapsed().as_secs_f64();
                return Ok(build_report(
                    design,
                    images.len(),
                    opts,
                    out.records,
                    Finish {
                        activity: out.counters.into_iter().map(Activity::from).collect(),
                        peaks: out.peaks,
                        taps: out.taps,
                        sums: out.sums,
                        reset_cycles: 0,
                        sim_seconds,
                    },
                ));
            }
            decoupled::End::Stuck { transfers, outputs } => {
                return Err(stuck_error(
                    &transfers,
                    &outputs,
                    opts.idle_limit.max(1),
                    max_cycles,
                    expected,
                ));
            }
            decoupled::End::Lockstep => {}
        }
        // the lockstep run reports how it fails, from the start
        m = Machine::new(design)?;
    }
    // after a failed look for quiet cycles, wait this long before the next one: twice as
    // long after each failure in a row (a design that is always busy is looked at rarely),
    // at most 2^MAX_BACKOFF_LOG2 = 64 cycles
    const MAX_BACKOFF_LOG2: u32 = 6;
    let mut backoff = 0u32;
    let mut fails = 0u32;
    let t0 = Instant::now();
    while !driver.done() {
        let cycle = driver.cycle();
        if fast_forward {
            if backoff > 0 {
                backoff -= 1;
            } else if let Some(lim) = driver.skippable() {
                let max_k = lim.min(max_cycles.saturating_sub(cycle)).min(1 << 30) as usize;
                let k = m.quiet_cycles(max_k, driver.input_exhausted());
                if k > 0 {
                    m.skip_quiet(k);
                    driver.skip(k as u64);
                    fails = 0;
                    continue;
                }
                fails = (fails + 1).min(MAX_BACKOFF_LOG2);
                backoff = 1 << fails;
            }
        }
        if driver.timed_out() {
            return Err(SimError::Timeout {
                cycle,
                idle_limit: opts.idle_limit.max(1),
                words: driver.words(),
                expected,
            });
        }
        if cycle >= max_cycles {
            return Err(SimError::CycleLimit {
                max_cycles,
                words: driver.words(),
                expected,
            });
        }
        let d = driver.drive();
        let p = m.ports();
        let inp = PortInputs {
            rst: d.rst,
            s_tvalid: d.s_tvalid,
            s_tdata: d.s_tdata,
            s_tlast: d.s_tlast,
            m_tready: d.m_tready,
        };
        if let Some(t) = tracer.as_mut() {
            m.eval(&inp);
            t.cycle(&m, &p, &inp, cycle)?;
        }
        let resets_before = driver.records().resets.len();
        driver.edge(&DutOutputs {
            s_tready: p.s_tready,
            m_tvalid: p.m_tvalid,
            m_tdata: p.m_tdata_raw,
            m_tlast: p.m_tlast,
            m_tuser: p.m_tuser,
        });
        m.step(&inp);
        let sample = |s: usize, at_output: bool| {
            m.signals(s).and_then(|sig| {
                if at_output {
                    sig.popped()
                } else {
                    sig.pushed()
                }
            })
        };
        if !taps.is_empty() && !d.rst {
            for (&(s, at_output, cap), beats) in tap_streams.iter().zip(taps.iter_mut()) {
                if let Some(beat) = sample(s, at_output) {
                    for &value in beat {
                        if beats.len() < cap {
                            beats.push(TapBeat { cycle, value });
                        }
                    }
                }
            }
        }
        if !sums.is_empty() && !d.rst {
            for (&(s, at_output, _), sum) in sum_streams.iter().zip(sums.iter_mut()) {
                if let Some(beat) = sample(s, at_output) {
                    sum.extend(beat);
                }
            }
        }
        if driver.records().resets.len() != resets_before {
            if let Some(k) = opts.reset_after {
                for (t, beats) in design.taps.iter().zip(taps.iter_mut()) {
                    beats.truncate(k.saturating_mul(t.elements_per_image));
                }
                for sum in &mut sums {
                    sum.restart(k);
                }
            }
        }
    }
    let sim_seconds = t0.elapsed().as_secs_f64();
    let cycles = driver.cycle();
    if let Some(t) = tracer.take() {
        m.eval(&PortInputs::default());
        t.finish(&m, cycles)?;
    }
    let engines = m.engine_count();
    let finish = Finish {
        activity: (0..engines)
            .map(|i| m.activity(i).unwrap_or_default())
            .collect(),
        peaks: (0..design.streams.len())
            .map(|i| m.fifo_peak(i).unwrap_or(0))
            .collect(),
        taps,
        sums,
        reset_cycles: m.reset_cycles(),
        sim_seconds,
    };
    Ok(build_report(
        design,
        images.len(),
        opts,
        driver.into_records(),
        finish,
    ))
}

/// What a run leaves besides its [`Records`].
struct Finish {
    activity: Vec<Activity>,
    peaks: Vec<usize>,
    taps: Vec<Vec<TapBeat>>,
    sums: Vec<TapSums>,
    reset_cycles: u64,
    sim_seconds: f64,
}

/// The report of a completed run.
fn build_report(
    design: &Design,
    image_count: usize,
    opts: &SimOptions,
    records: Records,
    finish: Finish,
) -> SimReport {
    let n = design.output.count;
    let tm = timing(&records, image_count, n);
    let predictions: Vec<u64> = records
        .outputs
        .iter()
        .filter(|o| o.word + 1 == n)
        .map(|o| o.tuser)
        .collect();
    let accuracy = opts.labels.as_ref().map(|l| {
        let ok = predictions
            .iter()
            .zip(l)
            .filter(|(&p, &y)| p == y as u64)
            .count();
        ok as f64 / image_count as f64
    });
    let f = opts.clock_mhz * 1e6;
    let images_per_second = match tm.interval {
        Some(i) if i > 0.0 => f / i,
        _ => image_count as f64 * f / records.total_cycles.max(1) as f64,
    };
    // the run ends with the edge of the last output word
    let cycles = records.total_cycles;
    SimReport {
        images: image_count,
        mismatches: Vec::new(),
        accuracy,
        total_cycles: records.total_cycles,
        latency_cycles: tm.first_latency,
        interval_cycles: tm.interval,
        checked: false,
        mismatch_count: 0,
        latency_cycles_mean: tm.mean_latency,
        latency_cycles_max: tm.max_latency,
        reference_accuracy: None,
        clock_mhz: opts.clock_mhz,
        images_per_second,
        stall_rate: opts.stall_rate,
        seed: opts.seed,
        reset_after: opts.reset_after,
        reset_cycles: finish.reset_cycles,
        engines: design
            .engines
            .iter()
            .enumerate()
            .map(|(i, en)| EngineReport {
                engine: i,
                node: en.node,
                name: en.name.clone(),
                op: en.op.clone(),
                planned_cycles_per_image: en.cycles_per_image,
                activity: finish.activity.get(i).copied().unwrap_or_default(),
            })
            .collect(),
        fifos: design
            .streams
            .iter()
            .enumerate()
            .map(|(i, f)| FifoReport {
                stream: i,
                depth: f.depth,
                peak: finish.peaks.get(i).copied().unwrap_or(0),
                skip: f.skip,
            })
            .collect(),
        predictions,
        outputs: records.outputs,
        input_starts: records.input_starts,
        resets: records.resets,
        taps: finish.taps,
        stream_sums: finish.sums.into_iter().map(|t| t.sums).collect(),
        streams_checked: false,
        stream_mismatches: 0,
        first_stream_mismatch: None,
        first_bad: None,
        diagnosis: None,
        shards: Vec::new(),
        sim_seconds: finish.sim_seconds,
        cycles_per_second: cycles as f64 / finish.sim_seconds.max(1e-9),
    }
}

/// [`simulate`] and [`check_against_reference`] in one call, after checking that `design` was
/// planned from `model` (`Design::model_hash == QuantModel::hash()`). With
/// [`SimOptions::check_streams`] (the default) every tap stream of every image is checked
/// too; on any difference the run is repeated with the taps recorded up to the first
/// differing image to name the first differing stream.
///
/// More than [`SimOptions::shard_images`] images are split into shards, each simulated and
/// checked on its own with its own stall seed, [`SimOptions::jobs`] at a time, and merged
/// (the rule is in `src/shards.rs`, shared with `inq_testbenches::verify`; a mid-run reset, a
/// VCD or recorded taps keep one run).
pub fn verify(
    model: &QuantModel,
    design: &Design,
    images: &[Vec<i64>],
    opts: &SimOptions,
) -> Result<SimReport, SimError> {
    let hash = model.hash();
    if design.model_hash != hash {
        return Err(SimError::Model(format!(
            "the design was planned from model {} but this model hashes to {hash}",
            design.model_hash
        )));
    }
    let one_run = opts.reset_after.is_some() || opts.vcd.is_some() || opts.tap_images > 0;
    let mut shards = crate::shards::plan(
        images.len(),
        if one_run { 0 } else { opts.shard_images },
        opts.seed,
    );
    if shards.len() <= 1 {
        return verify_one(model, design, images, opts);
    }
    if let Some(l) = &opts.labels {
        if l.len() != images.len() {
            return Err(SimError::Options(format!(
                "{} labels for {} images",
                l.len(),
                images.len()
            )));
        }
    }
    let t0 = std::time::Instant::now();
    let parts = crate::shards::run_parallel(&shards, opts.jobs, |s| {
        let sub = SimOptions {
            seed: s.seed,
            labels: opts.labels.as_ref().map(|l| l[s.range()].to_vec()),
            ..opts.clone()
        };
        verify_one(model, design, &images[s.range()], &sub)
    })
    .map_err(|e| SimError::Shard {
        index: e.shard.index,
        first_image: e.shard.first_image,
        images: e.shard.images,
        seed: e.shard.seed,
        source: Box::new(e.source),
    })?;
    Ok(crate::shards::merge_reports(
        parts,
        &mut shards,
        opts.seed,
        opts.max_mismatches,
        t0.elapsed().as_secs_f64(),
    ))
}

/// [`verify`] as one run.
fn verify_one(
    model: &QuantModel,
    design: &Design,
    images: &[Vec<i64>],
    opts: &SimOptions,
) -> Result<SimReport, SimError> {
    let mut report = simulate(design, images, opts)?;
    check_against_reference(
        model,
        design,
        images,
        &mut report,
        opts.labels.as_deref(),
        opts.max_mismatches,
    )?;
    // the first image with a differing output word or stream
    let first = report
        .mismatches
        .first()
        .map(|m| m.image)
        .into_iter()
        .chain(report.first_stream_mismatch.as_ref().map(|m| m.image))
        .min();
    if let Some(b) = first {
        if report.first_bad.is_none() && opts.tap_images <= b && !design.taps.is_empty() {
            // re-run with the taps of the images up to the first differing one
            let tapped = simulate(
                design,
                images,
                &SimOptions {
                    tap_images: b + 1,
                    vcd: None,
                    ..opts.clone()
                },
            )?;
            let mut probe = report.clone();
            probe.taps = tapped.taps;
            check_against_reference(
                model,
                design,
                images,
                &mut probe,
                opts.labels.as_deref(),
                opts.max_mismatches,
            )?;
            report.first_bad = probe.first_bad;
            report.diagnosis = probe.diagnosis;
        }
    }
    Ok(report)
}

/// The lockstep run's error for a run that is stuck for good after the top-level transfers at
/// `transfers` (increasing; `outputs`: the output words' cycles): the first cycle `idle_limit`
/// cycles after a transfer (or cycle 0) without the next one, unless `max_cycles` comes first.
fn stuck_error(
    transfers: &[u64],
    outputs: &[u64],
    idle_limit: u64,
    max_cycles: u64,
    expected: usize,
) -> SimError {
    let mut prev = 0u64;
    let mut stop = None;
    for &x in transfers {
        if x.saturating_sub(prev) >= idle_limit {
            stop = Some(prev.saturating_add(idle_limit));
            break;
        }
        prev = x;
    }
    let stop = stop.unwrap_or(prev.saturating_add(idle_limit));
    if stop <= max_cycles {
        SimError::Timeout {
            cycle: stop,
            idle_limit,
            words: outputs.iter().filter(|&&c| c < stop).count(),
            expected,
        }
    } else {
        SimError::CycleLimit {
            max_cycles,
            words: outputs.iter().filter(|&&c| c < max_cycles).count(),
            expected,
        }
    }
}
