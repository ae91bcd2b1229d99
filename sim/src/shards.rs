//! Shards: a long check split into independent runs over consecutive image ranges, run on
//! several cores and merged into one report.
//!
//! Owns the split ([`plan`]), each shard's stall seed ([`shard_seed`]), the worker pool
//! ([`run_parallel`]), how shard figures combine ([`combine_timing`], [`merge_reports`] for
//! the simulator's [`SimReport`]) and [`ShardError`]. Not here: the runs themselves
//! (`simulation.rs`; `inq_testbenches::verify` merges its Verilator reports with the same
//! helpers), the stall algorithm (`stalls.rs`).
//!
//! # The rule (the simulator and the Verilator harness follow it alike)
//!
//! * `N` images with a shard size `S` (`S = 0`: one shard) make `k = ceil(N / S)` shards of
//!   consecutive images whose sizes differ by at most one (the first `N mod k` have one more).
//!   Fewer than `S + 1` images are one shard: such a run is exactly today's single run.
//! * Every shard is a complete run of its own, from the initial reset, with the stall seed
//!   [`shard_seed`]`(seed, index)` (shard 0 keeps `seed`). The figures therefore depend on the
//!   shard size, never on how many shards run at once (`jobs`) or on the machine.
//! * The merged records number images globally and count cycles as if the shards ran one
//!   after another: shard `i`'s cycles are offset by the total cycles of shards `0..i`
//!   ([`Shard::first_cycle`]); the total is their sum.
//! * Latency is image 0's; the mean latency is over all images; the interval pools the
//!   second-half image pairs of every shard (pairs spanning two shards do not exist).
//! * In the last image of every shard a stream may stop short (the run ends with its last
//!   output word), as in the last image of a single run.
//!
//! A mid-run reset, a VCD or recorded taps make the run one shard.

use crate::activity::Activity;
use crate::protocol::{InputStart, OutputRecord};
use crate::report::{Mismatch, SimReport, TapDiff, Timing};
use crate::tap::{StreamMismatch, StreamSum};
use serde::{Deserialize, Serialize};

/// Default images per shard (`--shard-images`).
pub const DEFAULT_SHARD_IMAGES: usize = 1000;

/// One shard of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Position in the run.
    pub index: usize,
    /// Its first image (global index).
    pub first_image: usize,
    /// Its number of images.
    pub images: usize,
    /// Its stall seed ([`shard_seed`]).
    pub seed: u64,
    /// Offset of its cycles in the merged records: the total cycles of the shards before it
    /// (known after the run; 0 before).
    pub first_cycle: u64,
}

impl Shard {
    /// Its images as a range of global indices.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.first_image..self.first_image + self.images
    }
}

/// A shard's run failed.
#[derive(Debug, thiserror::Error)]
#[error("shard {index} (images {first}..{end}, stall seed {seed}): {source}", first = .shard.first_image, end = .shard.first_image + .shard.images, seed = .shard.seed, index = .shard.index)]
pub struct ShardError<E: std::error::Error + 'static> {
    /// The shard.
    pub shard: Shard,
    /// What went wrong (image and cycle numbers in it count from the shard's start).
    #[source]
    pub source: E,
}

/// The SplitMix64 finalizer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stall seed of shard `index` of a run with seed `seed`: `seed` itself for shard 0,
/// else `mix64(seed ^ mix64(index))` (SplitMix64's finalizer), so that the shards' stall
/// patterns are unrelated to each other.
pub fn shard_seed(seed: u64, index: usize) -> u64 {
    if index == 0 {
        seed
    } else {
        mix64(seed ^ mix64(index as u64))
    }
}

/// The shards of `images` images with at most `shard_images` each (0: one shard).
pub fn plan(images: usize, shard_images: usize, seed: u64) -> Vec<Shard> {
    let k = if shard_images == 0 || images <= shard_images {
        1
    } else {
        images.div_ceil(shard_images)
    };
    let (base, extra) = (images / k, images % k);
    let mut first = 0;
    (0..k)
        .map(|i| {
            let n = base + usize::from(i < extra);
            let s = Shard {
                index: i,
                first_image: first,
                images: n,
                seed: shard_seed(seed, i),
                first_cycle: 0,
            };
            first += n;
            s
        })
        .collect()
}

/// The number of parallel workers for `jobs` (0: the machine's available parallelism).
pub fn workers(jobs: usize) -> usize {
    if jobs > 0 {
        jobs
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Runs `f` on every shard with at most [`workers`]`(jobs)` at once (shards taken in order)
/// and returns the results in shard order, or the error of the lowest-numbered shard that
/// failed (later shards are not started after a failure).
pub fn run_parallel<T, E, F>(shards: &[Shard], jobs: usize, f: F) -> Result<Vec<T>, ShardError<E>>
where
    T: Send,
    E: std::error::Error + Send + 'static,
    F: Fn(&Shard) -> Result<T, E> + Sync,
{
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<T, E>>>> =
        Mutex::new((0..shards.len()).map(|_| None).collect());
    let n = workers(jobs).min(shards.len()).max(1);
    std::thread::scope(|scope| {
        for _ in 0..n {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= shards.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                let r = f(&shards[i]);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                if let Ok(mut g) = results.lock() {
                    g[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut out = Vec::with_capacity(shards.len());
    for (s, r) in shards.iter().zip(results) {
        match r {
            Some(Ok(t)) => out.push(t),
            Some(Err(source)) => {
                return Err(ShardError {
                    shard: s.clone(),
                    source,
                })
            }
            // not started because an earlier-started shard failed: that error is reported
            None => continue,
        }
    }
    Ok(out)
}

/// Number of image pairs [`crate::timing`] averages for the interval of a run of `images`
/// images without a mid-run reset.
fn interval_pairs(images: usize) -> usize {
    images.saturating_sub((images / 2).max(1))
}

/// Combines the timing of consecutive shards (`(timing, images)` in shard order, no mid-run
/// reset): image 0's latency, the mean over all images, the largest, and the interval pooled
/// over every shard's second-half pairs.
pub fn combine_timing(parts: &[(Timing, usize)]) -> Timing {
    let images: usize = parts.iter().map(|(_, n)| n).sum();
    let (mut sum, mut pairs) = (0.0f64, 0usize);
    for (t, n) in parts {
        if let Some(i) = t.interval {
            let p = interval_pairs(*n);
            sum += i * p as f64;
            pairs += p;
        }
    }
    Timing {
        first_latency: parts.first().map_or(0, |(t, _)| t.first_latency),
        mean_latency: parts
            .iter()
            .map(|(t, n)| t.mean_latency * *n as f64)
            .sum::<f64>()
            / images.max(1) as f64,
        max_latency: parts.iter().map(|(t, _)| t.max_latency).max().unwrap_or(0),
        interval: (pairs > 0).then(|| sum / pairs as f64),
    }
}

/// A fraction over shards, weighted by their images.
fn weighted(parts: &[(Option<f64>, usize)]) -> Option<f64> {
    let images: usize = parts.iter().map(|(_, n)| n).sum();
    let mut sum = 0.0;
    for (v, n) in parts {
        sum += (*v)? * *n as f64;
    }
    Some(sum / images.max(1) as f64)
}

/// Says in which shard a diagnosis was made: its image numbers count from the shard's start.
pub fn shard_diagnosis(shard: &Shard, text: &str) -> String {
    format!(
        "shard {} (images {}..{}, stall seed {}; image numbers in this sentence count from \
         image {}): {text}",
        shard.index,
        shard.first_image,
        shard.first_image + shard.images,
        shard.seed,
        shard.first_image
    )
}

/// Merges the reports of consecutive shards (in shard order, each checked against the
/// reference on its own images) into the report of the whole run, by the module's rule;
/// fills each shard's [`Shard::first_cycle`]. `wall_seconds`: the whole run's wall time.
pub fn merge_reports(
    parts: Vec<SimReport>,
    shards: &mut [Shard],
    seed: u64,
    max_mismatches: usize,
    wall_seconds: f64,
) -> SimReport {
    let mut it = parts.into_iter().zip(shards.iter_mut());
    let Some((mut m, s0)) = it.next() else {
        unreachable!("merge_reports needs at least one shard")
    };
    s0.first_cycle = 0;
    let mut timings = vec![(timing_of(&m), m.images)];
    let mut accuracies = vec![(m.accuracy, m.images)];
    let mut ref_accuracies = vec![(m.reference_accuracy, m.images)];
    let mut sums_len = m.images;
    pad_sums(&mut m.stream_sums, sums_len);
    if let Some(d) = m.diagnosis.take() {
        m.diagnosis = Some(shard_diagnosis(s0, &d));
    }
    let mut shard_list = vec![s0.clone()];
    for (p, s) in it {
        let offset = m.total_cycles;
        let first = m.images;
        s.first_cycle = offset;
        shard_list.push(s.clone());
        timings.push((timing_of(&p), p.images));
        accuracies.push((p.accuracy, p.images));
        ref_accuracies.push((p.reference_accuracy, p.images));
        for mm in p.mismatches {
            if m.mismatches.len() < max_mismatches {
                m.mismatches.push(Mismatch {
                    image: mm.image + first,
                    ..mm
                });
            }
        }
        m.mismatch_count += p.mismatch_count;
        m.total_cycles += p.total_cycles;
        m.checked &= p.checked;
        m.reset_cycles += p.reset_cycles;
        for (a, b) in m.engines.iter_mut().zip(&p.engines) {
            a.activity = Activity {
                busy: a.activity.busy + b.activity.busy,
                stalled: a.activity.stalled + b.activity.stalled,
                idle: a.activity.idle + b.activity.idle,
            };
        }
        for (a, b) in m.fifos.iter_mut().zip(&p.fifos) {
            a.peak = a.peak.max(b.peak);
        }
        m.predictions.extend(p.predictions);
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
        let mut sums = p.stream_sums;
        pad_sums(&mut sums, p.images);
        if m.stream_sums.is_empty() && !sums.is_empty() {
            m.stream_sums = vec![vec![Default::default(); sums_len]; sums.len()];
        }
        for (a, b) in m.stream_sums.iter_mut().zip(sums) {
            a.extend(b);
        }
        sums_len += p.images;
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
        m.sim_seconds += p.sim_seconds;
        m.images += p.images;
    }
    let t = combine_timing(&timings);
    m.latency_cycles = t.first_latency;
    m.latency_cycles_mean = t.mean_latency;
    m.latency_cycles_max = t.max_latency;
    m.interval_cycles = t.interval;
    m.accuracy = weighted(&accuracies);
    m.reference_accuracy = weighted(&ref_accuracies);
    let f = m.clock_mhz * 1e6;
    m.images_per_second = match t.interval {
        Some(i) if i > 0.0 => f / i,
        _ => m.images as f64 * f / m.total_cycles.max(1) as f64,
    };
    m.seed = seed;
    m.cycles_per_second = m.total_cycles as f64 / wall_seconds.max(1e-9);
    m.sim_seconds = wall_seconds;
    m.shards = shard_list;
    m
}

/// A shard report's timing figures.
fn timing_of(r: &SimReport) -> Timing {
    Timing {
        first_latency: r.latency_cycles,
        mean_latency: r.latency_cycles_mean,
        max_latency: r.latency_cycles_max,
        interval: r.interval_cycles,
    }
}

/// Stream sums padded to one entry per image (an image whose stream never started has none).
fn pad_sums(sums: &mut [Vec<StreamSum>], images: usize) {
    for s in sums {
        s.resize(images, Default::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_balances_and_keeps_small_runs_whole() {
        assert_eq!(plan(500, 1000, 7).len(), 1);
        assert_eq!(plan(500, 1000, 7)[0].seed, 7);
        assert_eq!(plan(1000, 1000, 7).len(), 1);
        assert_eq!(plan(5, 0, 7).len(), 1);
        let p = plan(10_001, 1000, 7);
        assert_eq!(p.len(), 11);
        assert_eq!(p.iter().map(|s| s.images).sum::<usize>(), 10_001);
        assert!(p.iter().all(|s| s.images == 909 || s.images == 910));
        for w in p.windows(2) {
            assert_eq!(w[0].first_image + w[0].images, w[1].first_image);
            assert_ne!(w[0].seed, w[1].seed);
        }
    }

    #[test]
    fn combined_interval_pools_the_pairs() {
        let t = |i| Timing {
            first_latency: 10,
            mean_latency: 10.0,
            max_latency: 12,
            interval: Some(i),
        };
        // 4 images: pairs 2..4 (2 pairs); 6 images: pairs 3..6 (3 pairs)
        let c = combine_timing(&[(t(100.0), 4), (t(200.0), 6)]);
        assert_eq!(c.interval, Some((2.0 * 100.0 + 3.0 * 200.0) / 5.0));
        assert_eq!(c.first_latency, 10);
    }

    #[test]
    fn parallel_runs_keep_shard_order_and_report_the_first_failure() {
        let shards = plan(10, 2, 1);
        let r: Result<Vec<usize>, ShardError<std::fmt::Error>> =
            run_parallel(&shards, 3, |s| Ok(s.first_image));
        assert_eq!(r.unwrap(), vec![0, 2, 4, 6, 8]);
        let e = run_parallel(&shards, 1, |s| {
            if s.index >= 2 {
                Err(std::fmt::Error)
            } else {
                Ok(s.index)
            }
        })
        .unwrap_err();
        assert_eq!(e.shard.index, 2);
        assert!(e.to_string().starts_with("shard 2 (images 4..6"), "{e}");
    }
}
