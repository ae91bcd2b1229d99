//! The simulation report ([`SimReport`]: every output word and its cycle, timing, per-engine
//! activity, per-stream FIFO peaks, taps) and the bit-exact comparison with the integer
//! reference ([`check_against_reference`]), which on a mismatch names the first tap whose
//! stream differs.
//!
//! Depends on the leaves (`activity.rs`, `tap.rs` whose [`TapBeat`] it re-exports,
//! `error.rs`) and `protocol.rs` only. Not here: running the simulation (`simulation.rs`), the
//! reference itself (`inq_model`), the tensors' stream order (`inq_design::layout`).

use inq_design::tap_values;
use inq_hdl::{Design, Endpoint};
use inq_model::{QuantModel, Reference, RunOutput, Tensor};
use serde::{Deserialize, Serialize};

use crate::activity::Activity;
use crate::error::SimError;
use crate::protocol::{InputStart, OutputRecord, Records, ResetRecord};
pub use crate::tap::TapBeat;
use crate::tap::{StreamMismatch, StreamSum};

/// What differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// A logit value (`m_axis_tdata`).
    Logit,
    /// The argmax (`m_axis_tuser` on the image's last word).
    Argmax,
    /// `m_axis_tlast` (expected 1 on the last word of each image, 0 elsewhere).
    Tlast,
}

/// One output word that differs from the reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// Image index.
    pub image: usize,
    /// Output word (logit index) within the image.
    pub word: usize,
    /// What differs.
    pub kind: MismatchKind,
    /// Reference value (for `tlast`: 1 or 0).
    pub expected: i64,
    /// Simulated value.
    pub actual: i64,
}

/// Activity of one engine over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineReport {
    /// Engine index.
    pub engine: usize,
    /// The model node it implements (`None` for a fork).
    pub node: Option<usize>,
    /// Its name.
    pub name: String,
    /// The op (`conv`, `dense`, `max_pool`, `avg_pool`, `global_avg_pool`, `add`, `fork`).
    pub op: String,
    /// The plan's analytic busy cycles per image (`Engine::cycles_per_image`).
    pub planned_cycles_per_image: u64,
    /// Busy, stalled and idle cycles (see [`Activity`]); their sum is the number of cycles
    /// with `rst = 0`.
    #[serde(flatten)]
    pub activity: Activity,
}

/// Occupancy of one stream's FIFO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FifoReport {
    /// Stream index (0 leaves the input port).
    pub stream: usize,
    /// Capacity.
    pub depth: usize,
    /// Largest occupancy reached.
    pub peak: usize,
    /// A fork output sized by the skip rule (`docs/hardware.md` §2.2).
    #[serde(default)]
    pub skip: bool,
}

/// The first tap whose stream differs from the reference (see [`check_against_reference`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapDiff {
    /// Index into `Design.taps`.
    pub tap: usize,
    /// Its model node (`None`: the input).
    pub node: Option<usize>,
    /// Its name.
    pub name: String,
    /// The stream it observes.
    pub stream: usize,
    /// Image.
    pub image: usize,
    /// Element within the image, in stream (HWC) order.
    pub element: usize,
    /// The reference's value.
    pub expected: i64,
    /// The simulated value (`None`: the stream ended before it).
    pub actual: Option<i64>,
}

/// The result of [`crate::simulate`]. Serialized keys include exactly `images`,
/// `mismatches`, `accuracy`, `total_cycles`, `latency_cycles`, `interval_cycles` (with the
/// same meaning as in `inq_testbenches::VerifyReport`), plus the extra keys below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// Images simulated.
    pub images: usize,
    /// Output words that differ from the reference (at most `max_mismatches`, see
    /// `mismatch_count`); empty unless [`check_against_reference`] ran (`checked`).
    pub mismatches: Vec<Mismatch>,
    /// Fraction of images whose simulated argmax (`m_axis_tuser` on the `tlast` beat) equals
    /// the label, if labels were given.
    pub accuracy: Option<f64>,
    /// Cycle of the last output word + 1, counting cycle 0 as the first rising edge after the
    /// initial reset release (see [`crate::protocol`]).
    pub total_cycles: u64,
    /// Image 0: cycle of its last output word − cycle of its first input beat.
    pub latency_cycles: u64,
    /// Steady-state cycles per image: mean difference between consecutive images'
    /// last-output cycles over the second half of the run (pairs spanning a mid-run reset
    /// excluded); `None` with fewer than two images.
    pub interval_cycles: Option<f64>,
    /// Whether the outputs were compared with the reference.
    pub checked: bool,
    /// Total number of differing words.
    pub mismatch_count: usize,
    /// Mean latency over all images.
    pub latency_cycles_mean: f64,
    /// Largest latency over all images.
    pub latency_cycles_max: u64,
    /// Fraction of images whose reference argmax equals the label (after a check with labels).
    pub reference_accuracy: Option<f64>,
    /// Clock used for `images_per_second` (MHz).
    pub clock_mhz: f64,
    /// Throughput at `clock_mhz`: `f / interval_cycles`, or `images · f / total_cycles` with
    /// a single image.
    pub images_per_second: f64,
    /// Stall rate used.
    pub stall_rate: f64,
    /// Seed used.
    pub seed: u64,
    /// Mid-run reset point used.
    pub reset_after: Option<usize>,
    /// Cycles with `rst = 1` (mid-run resets).
    pub reset_cycles: u64,
    /// Per-engine activity (forks included).
    pub engines: Vec<EngineReport>,
    /// Per-stream FIFO peak occupancy.
    pub fifos: Vec<FifoReport>,
    /// The simulated argmax (`m_axis_tuser` on the `tlast` beat) of each image.
    pub predictions: Vec<u64>,
    /// Every output word with its cycle, `tlast` and `tuser`.
    pub outputs: Vec<OutputRecord>,
    /// First-input-beat cycles (an image restarted after a reset appears twice).
    pub input_starts: Vec<InputStart>,
    /// Mid-run resets.
    pub resets: Vec<ResetRecord>,
    /// Per `Design.taps` entry: its transfers for the first `tap_images` images (after a
    /// mid-run reset the restarted images replace the discarded ones). Empty without
    /// `tap_images`.
    pub taps: Vec<Vec<TapBeat>>,
    /// Per `Design.taps` entry: the checksum of its stream in each image (with
    /// [`crate::SimOptions::check_streams`]; after a mid-run reset the restarted images
    /// replace the discarded ones). Not serialized.
    #[serde(skip)]
    pub stream_sums: Vec<Vec<StreamSum>>,
    /// Whether [`check_against_reference`] checked every tap stream of every image against
    /// the reference (needs `stream_sums`).
    #[serde(default)]
    pub streams_checked: bool,
    /// Number of (tap, image) streams that differ from the reference.
    #[serde(default)]
    pub stream_mismatches: usize,
    /// The first differing (tap, image) stream, by image, then tap in engine order.
    #[serde(default)]
    pub first_stream_mismatch: Option<StreamMismatch>,
    /// After a mismatch: the first tap (in engine order) whose stream differs from the
    /// reference, if the taps were recorded up to the first differing image.
    #[serde(default)]
    pub first_bad: Option<TapDiff>,
    /// After a mismatch: where the difference starts, in words.
    #[serde(default)]
    pub diagnosis: Option<String>,
    /// The shards the run was split into (see `src/shards.rs`); empty for a single run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<crate::shards::Shard>,
    /// Wall-clock seconds of the simulation loop.
    pub sim_seconds: f64,
    /// Simulated cycles per wall-clock second.
    pub cycles_per_second: f64,
}

/// Latency and interval figures derived from records.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Latency of image 0.
    pub first_latency: u64,
    /// Mean latency.
    pub mean_latency: f64,
    /// Largest latency.
    pub max_latency: u64,
    /// Steady-state interval (see [`SimReport::interval_cycles`]).
    pub interval: Option<f64>,
}

/// Computes latency (per image: last output cycle − latest first-input-beat cycle) and the
/// steady-state interval from complete records of `images` images with `n` words each (the
/// same definition as `inq_testbenches::verify::timing`).
pub fn timing(r: &Records, images: usize, n: usize) -> Timing {
    let mut last_out = vec![0u64; images];
    for o in r
        .outputs
        .iter()
        .filter(|o| o.word + 1 == n && o.image < images)
    {
        last_out[o.image] = o.cycle;
    }
    let mut first_in = vec![0u64; images];
    for s in r.input_starts.iter().filter(|s| s.image < images) {
        first_in[s.image] = s.cycle; // later entries (restarts) win
    }
    let lat: Vec<u64> = (0..images)
        .map(|i| last_out[i].saturating_sub(first_in[i]))
        .collect();
    let restart: Vec<usize> = r.resets.iter().map(|x| x.restart_image).collect();
    let pairs: Vec<u64> = ((images / 2).max(1)..images)
        .filter(|i| !restart.contains(i))
        .map(|i| last_out[i].saturating_sub(last_out[i - 1]))
        .collect();
    Timing {
        first_latency: lat.first().copied().unwrap_or(0),
        mean_latency: lat.iter().sum::<u64>() as f64 / images.max(1) as f64,
        max_latency: lat.iter().copied().max().unwrap_or(0),
        interval: if pairs.is_empty() {
            None
        } else {
            Some(pairs.iter().sum::<u64>() as f64 / pairs.len() as f64)
        },
    }
}

/// Compares every simulated output word of `report` bit for bit with the integer reference of
/// `model` on the same `images` (CHW order): each logit, `tlast` (1 exactly on the last word of
/// an image) and the argmax in `tuser` on the last word. When the model's output is a map with
/// a spatial extent (`[C,H,W]` logits, `H·W > 1`), the hardware emits it in stream (HWC)
/// order, so the reference logits are compared in that order and the expected argmax is the
/// stream position of the largest (lowest position on ties). Fills `mismatches` (at most
/// `max_mismatches` entries), `mismatch_count`, `checked`, and `reference_accuracy` when
/// `labels` are given.
///
/// With the report's per-image stream checksums ([`SimReport::stream_sums`], recorded with
/// [`crate::SimOptions::check_streams`]) it also checks every tap stream of every image, element
/// by element, against the reference's tensor ([`inq_design::tap_values`], stream order):
/// [`SimReport::streams_checked`], [`SimReport::stream_mismatches`] and
/// [`SimReport::first_stream_mismatch`]. The run ends with the last output word (and a
/// mid-run reset ends its first segment), so in the last image before such an end a stream
/// may stop short by elements nothing consumed before it: there the elements that arrived
/// must match the reference's first ones; every other image must be complete.
///
/// On a mismatch (output word or stream) it also names the first tap of `design` (in engine order: the input first,
/// then by the engine writing the tap's stream) whose recorded stream differs from the
/// reference's tensor ([`inq_design::tap_values`]) in the images up to the first differing
/// one: [`SimReport::first_bad`] and [`SimReport::diagnosis`]. That needs the taps recorded
/// for those images ([`crate::SimOptions::tap_images`]; [`crate::verify`] re-runs with them).
pub fn check_against_reference(
    model: &QuantModel,
    design: &Design,
    images: &[Vec<i64>],
    report: &mut SimReport,
    labels: Option<&[usize]>,
    max_mismatches: usize,
) -> Result<(), SimError> {
    if images.len() != report.images {
        return Err(SimError::Input(format!(
            "{} images given but the report holds {}",
            images.len(),
            report.images
        )));
    }
    if let Some(l) = labels {
        if l.len() != images.len() {
            return Err(SimError::Input(format!(
                "{} labels for {} images",
                l.len(),
                images.len()
            )));
        }
    }
    let reference = Reference::new(model)?;
    let n = report.outputs.len() / images.len().max(1);
    // An output map with a spatial extent leaves in stream (HWC) order.
    let g = reference.graph();
    let final_shape = g.infos[g.output].shape.clone();
    let mut mismatches = Vec::new();
    let mut count = 0usize;
    let mut first_image: Option<usize> = None;
    let mut ref_correct = 0usize;
    let check_streams = !design.taps.is_empty() && report.stream_sums.len() == design.taps.len();
    let mut order: Vec<usize> = (0..design.taps.len()).collect();
    order.sort_by_key(|&t| tap_order(design, t));
    // the last image before the end of the run or of a segment ended by a mid-run reset
    let mut may_be_short: Vec<usize> = report
        .resets
        .iter()
        .filter_map(|r| r.restart_image.checked_sub(1))
        .collect();
    may_be_short.push(images.len().saturating_sub(1));
    let [c, h, w] = model.input.shape;
    let mut stream_bad = 0usize;
    let mut first_stream: Option<StreamMismatch> = None;
    for (i, img) in images.iter().enumerate() {
        let out = reference.run(img)?;
        if let Some(l) = labels {
            ref_correct += usize::from(out.argmax == l[i]);
        }
        let (mut logits, mut argmax) = (out.logits.clone(), out.argmax);
        if let [c, h, w] = final_shape[..] {
            if h * w > 1 && logits.len() == c * h * w {
                logits = inq_design::chw_to_hwc(&logits, [c, h, w]);
                argmax = inq_model::numerics::argmax(&logits);
            }
        }
        let words = &report.outputs
            [(i * n).min(report.outputs.len())..((i + 1) * n).min(report.outputs.len())];
        if logits.len() != n || words.len() != n {
            return Err(SimError::Model(format!(
                "image {i}: the reference has {} logits, the simulation {} words per image",
                logits.len(),
                words.len()
            )));
        }
        let before = count;
        let mut push = |m: Mismatch| {
            count += 1;
            if mismatches.len() < max_mismatches {
                mismatches.push(m);
            }
        };
        for (w, (rec, &exp)) in words.iter().zip(&logits).enumerate() {
            if rec.value != exp {
                push(Mismatch {
                    image: i,
                    word: w,
                    kind: MismatchKind::Logit,
                    expected: exp,
                    actual: rec.value,
                });
            }
            let want_last = w + 1 == n;
            if rec.tlast != want_last {
                push(Mismatch {
                    image: i,
                    word: w,
                    kind: MismatchKind::Tlast,
                    expected: i64::from(want_last),
                    actual: i64::from(rec.tlast),
                });
            }
            if want_last && rec.tuser != argmax as u64 {
                push(Mismatch {
                    image: i,
                    word: w,
                    kind: MismatchKind::Argmax,
                    expected: argmax as i64,
                    actual: rec.tuser as i64,
                });
            }
        }
        let streams_before = stream_bad;
        if check_streams {
            let input = Tensor {
                shape: vec![c, h, w],
                data: img.clone(),
            };
            let short = may_be_short.contains(&i);
            for &ti in &order {
                let tap = &design.taps[ti];
                let Some(exp) = tap_values(model, &input, &out, tap.node) else {
                    continue;
                };
                let got = report.stream_sums[ti].get(i).copied().unwrap_or_default();
                if !got.matches(&exp, short) {
                    stream_bad += 1;
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
        if first_image.is_none() && (count > before || stream_bad > streams_before) {
            first_image = Some(i);
        }
    }
    report.mismatches = mismatches;
    report.mismatch_count = count;
    report.checked = true;
    report.streams_checked = check_streams;
    report.stream_mismatches = stream_bad;
    report.first_stream_mismatch = first_stream;
    report.reference_accuracy = labels.map(|_| ref_correct as f64 / images.len().max(1) as f64);
    report.first_bad = None;
    report.diagnosis = None;
    if let Some(b) = first_image {
        // the reference's tensors of the images up to the first differing one, for the taps
        // (recomputed here rather than kept for every image: a ResNet's are ~1 MB each)
        let runs = images[..=b]
            .iter()
            .map(|x| reference.run(x))
            .collect::<Result<Vec<RunOutput>, _>>()?;
        let (bad, text) = locate(model, design, images, &runs, &report.taps, b);
        report.first_bad = bad;
        report.diagnosis = Some(text);
    }
    Ok(())
}

/// The engine-order key of a tap: its stream's producer (the input first).
fn tap_order(design: &Design, tap: usize) -> (usize, usize) {
    let s = design.taps[tap].stream;
    let producer = match design.streams.get(s).map(|s| s.from) {
        Some(Endpoint::Input) => 0,
        Some(Endpoint::Engine { engine, .. }) => engine + 1,
        _ => usize::MAX,
    };
    (producer, tap)
}

/// Names the first tap whose stream differs from the reference in images `0..=b`, given the
/// reference's runs of those images and the recorded taps.
fn locate(
    model: &QuantModel,
    design: &Design,
    images: &[Vec<i64>],
    runs: &[RunOutput],
    taps: &[Vec<TapBeat>],
    b: usize,
) -> (Option<TapDiff>, String) {
    // The run ends with the last output word: in the last image a stream may stop short by
    // elements nothing consumed before that (e.g. rows a strided conv never reads). Those are
    // not differences; every earlier image must be complete.
    let last = b + 1 == images.len();
    let needed = |epi: usize| if last { b * epi } else { (b + 1) * epi };
    let complete = taps.len() == design.taps.len()
        && design
            .taps
            .iter()
            .zip(taps)
            .all(|(t, beats)| beats.len() >= needed(t.elements_per_image));
    if design.taps.is_empty() {
        return (
            None,
            "the design lists no taps: the first differing stream cannot be named".into(),
        );
    }
    if !complete || runs.len() <= b {
        return (
            None,
            format!("the taps were not recorded up to image {b}: simulate with tap_images ≥ {} to name the first differing stream", b + 1),
        );
    }
    let mut order: Vec<usize> = (0..design.taps.len()).collect();
    order.sort_by_key(|&t| tap_order(design, t));
    let [c, h, w] = model.input.shape;
    for &ti in &order {
        let tap = &design.taps[ti];
        for (img, run) in runs.iter().enumerate().take(b + 1) {
            let input = Tensor {
                shape: vec![c, h, w],
                data: images[img].clone(),
            };
            let Some(exp) = tap_values(model, &input, run, tap.node) else {
                continue;
            };
            let got = &taps[ti];
            for (j, &e) in exp.iter().enumerate() {
                let actual = got.get(img * tap.elements_per_image + j).map(|t| t.value);
                if actual.is_none() && img + 1 == images.len() {
                    break; // the run ended first (see above)
                }
                if actual != Some(e) {
                    let got_s = actual.map_or("nothing".to_string(), |v| v.to_string());
                    let text = format!(
                        "first differing stream: tap {ti} `{}` ({}, stream {}), image {img}, element {j} (stream order): expected {e}, got {got_s}",
                        tap.name.escape_debug(),
                        match tap.node {
                            Some(k) => format!("node {k}"),
                            None => "the input".into(),
                        },
                        tap.stream
                    );
                    return (
                        Some(TapDiff {
                            tap: ti,
                            node: tap.node,
                            name: tap.name.clone(),
                            stream: tap.stream,
                            image: img,
                            element: j,
                            expected: e,
                            actual,
                        }),
                        text,
                    );
                }
            }
        }
    }
    (
        None,
        format!("every tap matches the reference up to image {b}; the difference is in the output stage or after the last tap"),
    )
}
