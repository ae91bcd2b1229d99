//! The simulation report and the bit-exact comparison with the integer reference.

use inq_model::{QuantModel, Reference};
use serde::{Deserialize, Serialize};

use crate::machine::Activity;
use crate::protocol::{InputStart, OutputRecord, Records, ResetRecord};
use crate::SimError;

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
    /// Model layer index.
    pub layer: usize,
    /// Layer name.
    pub name: String,
    /// Layer op.
    pub op: String,
    /// The plan's analytic busy cycles per image (`Engine::cycles_per_image`).
    pub planned_cycles_per_image: u64,
    /// Busy, stalled and idle cycles (see [`Activity`]); their sum is the number of cycles
    /// with `rst = 0`.
    #[serde(flatten)]
    pub activity: Activity,
}

/// Occupancy of one FIFO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FifoReport {
    /// FIFO index (0 is `fifo_in`, `e+1` follows engine `e`).
    pub fifo: usize,
    /// Capacity.
    pub depth: usize,
    /// Largest occupancy reached.
    pub peak: usize,
}

/// One transfer on a tap stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapBeat {
    /// Cycle of the transfer.
    pub cycle: u64,
    /// Value (signed if the stream is signed).
    pub value: i64,
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
    /// Per-engine activity.
    pub engines: Vec<EngineReport>,
    /// Per-FIFO peak occupancy.
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

/// Reorders a C-major `[C, H, W]` tensor into HWC stream order (element `(c, y, x)` at
/// `(y·W + x)·C + c`).
pub fn chw_to_hwc<T: Copy>(data: &[T], [c, h, w]: [usize; 3]) -> Vec<T> {
    let mut out = Vec::with_capacity(data.len());
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                out.push(data[(ch * h + y) * w + x]);
            }
        }
    }
    out
}

/// Compares every simulated output word of `report` bit for bit with the integer reference of
/// `model` on the same `images` (CHW order): each logit, `tlast` (1 exactly on the last word of
/// an image) and the argmax in `tuser` on the last word. When the model's last layer is a
/// convolution with a spatial extent (`[C,H,W]` logits, `H·W > 1`), the hardware emits them in
/// stream (HWC) order, so the reference logits are compared in that order and the expected
/// argmax is the stream position of the largest (lowest position on ties). Fills `mismatches` (at most
/// `max_mismatches` entries), `mismatch_count`, `checked`, and `reference_accuracy` when
/// `labels` are given.
pub fn check_against_reference(
    model: &QuantModel,
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
    // A final conv with a spatial extent emits its `[C,H,W]` logits in stream (HWC) order.
    let final_shape = model.shapes().last().cloned().unwrap_or_default();
    let mut mismatches = Vec::new();
    let mut count = 0usize;
    let mut push = |m: Mismatch| {
        count += 1;
        if mismatches.len() < max_mismatches {
            mismatches.push(m);
        }
    };
    let mut ref_correct = 0usize;
    for (i, img) in images.iter().enumerate() {
        let mut out = reference.run(img)?;
        if let Some(l) = labels {
            ref_correct += usize::from(out.argmax == l[i]);
        }
        if let [c, h, w] = final_shape[..] {
            if h * w > 1 && out.logits.len() == c * h * w {
                out.logits = chw_to_hwc(&out.logits, [c, h, w]);
                out.argmax = inq_model::numerics::argmax(&out.logits);
            }
        }
        let words = &report.outputs
            [(i * n).min(report.outputs.len())..((i + 1) * n).min(report.outputs.len())];
        if out.logits.len() != n || words.len() != n {
            return Err(SimError::Model(format!(
                "image {i}: the reference has {} logits, the simulation {} words per image",
                out.logits.len(),
                words.len()
            )));
        }
        for (w, (rec, &exp)) in words.iter().zip(&out.logits).enumerate() {
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
            if want_last && rec.tuser != out.argmax as u64 {
                push(Mismatch {
                    image: i,
                    word: w,
                    kind: MismatchKind::Argmax,
                    expected: out.argmax as i64,
                    actual: rec.tuser as i64,
                });
            }
        }
    }
    report.mismatches = mismatches;
    report.mismatch_count = count;
    report.checked = true;
    report.reference_accuracy = labels.map(|_| ref_correct as f64 / images.len().max(1) as f64);
    Ok(())
}
