//! INQ checkpoints: the complete state after a step, written atomically beside the output, so
//! that an interrupted run can `resume` and end exactly where an uninterrupted run would.
//!
//! Weights are stored as IEEE bit patterns (not decimal text) so a resumed run is bit-exact.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::state::{InqConfig, InqResult, QuantError};
use crate::graph::FloatModel;

/// Format tag of checkpoint files.
pub const CHECKPOINT_FORMAT: &str = "inq-checkpoint-1";

/// The state after `steps_done` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Hash of the source model and every setting that influences the result.
    pub fingerprint: String,
    /// Number of completed steps.
    pub steps_done: usize,
    /// The state.
    pub state: InqResult,
}

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    fingerprint: String,
    steps_done: usize,
    state: InqResult,
    /// Bit patterns of every conv/dense weight and bias, in node order.
    weight_bits: Vec<Vec<u32>>,
    bias_bits: Vec<Vec<u32>>,
    /// Frozen masks as strings of '0'/'1'.
    frozen: Vec<String>,
}

/// Hash of the source model's parameters and the settings that determine the run (not
/// `quiet`, `checkpoint` or `resume`).
pub fn fingerprint(model: &FloatModel, cfg: &InqConfig, schedule: &[f64]) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_string(&model.normalization).unwrap_or_default());
    h.update(format!("{:?}", model.input_shape));
    for n in &model.nodes {
        h.update(format!("{n:?}").len().to_le_bytes());
        h.update(n.name.as_bytes());
        if let Some((weight, bias)) = n.op.params() {
            for v in weight.iter().chain(bias) {
                h.update(v.to_bits().to_le_bytes());
            }
        }
    }
    let mut c = cfg.clone();
    c.train.quiet = false;
    c.checkpoint = None;
    c.resume = false;
    c.stop_after = None;
    h.update(serde_json::to_string(&c).unwrap_or_default());
    h.update(serde_json::to_string(schedule).unwrap_or_default());
    inq_model::format::hex(&h.finalize())
}

fn err(path: &Path, m: impl Into<String>) -> QuantError {
    QuantError::Checkpoint {
        path: path.display().to_string(),
        message: m.into(),
    }
}

/// Writes a checkpoint atomically.
pub fn save(path: &Path, ck: &Checkpoint) -> Result<(), QuantError> {
    let mut state = ck.state.clone();
    let mut weight_bits = Vec::new();
    let mut bias_bits = Vec::new();
    for n in &mut state.model.nodes {
        if let Some((weight, bias)) = n.op.params_mut() {
            weight_bits.push(weight.iter().map(|v| v.to_bits()).collect());
            bias_bits.push(bias.iter().map(|v| v.to_bits()).collect());
            weight.clear();
            bias.clear();
        }
    }
    let frozen = state
        .frozen
        .iter()
        .map(|m| m.iter().map(|&f| if f { '1' } else { '0' }).collect())
        .collect();
    state.frozen.clear();
    let file = File {
        format: CHECKPOINT_FORMAT.into(),
        fingerprint: ck.fingerprint.clone(),
        steps_done: ck.steps_done,
        state,
        weight_bits,
        bias_bits,
        frozen,
    };
    let text = serde_json::to_string(&file).map_err(|e| err(path, e.to_string()))?;
    inq_model::write_atomic(path, text.as_bytes()).map_err(|e| err(path, e.to_string()))
}

/// Reads a checkpoint.
pub fn load(path: &Path) -> Result<Checkpoint, QuantError> {
    let text = std::fs::read_to_string(path).map_err(|e| err(path, e.to_string()))?;
    let file: File = serde_json::from_str(&text)
        .map_err(|e| err(path, format!("not a valid checkpoint: {e}")))?;
    if file.format != CHECKPOINT_FORMAT {
        return Err(err(
            path,
            format!("format `{}` is not `{CHECKPOINT_FORMAT}`", file.format),
        ));
    }
    let mut state = file.state;
    let mut wi = file.weight_bits.into_iter();
    let mut bi = file.bias_bits.into_iter();
    for n in &mut state.model.nodes {
        if let Some((weight, bias)) = n.op.params_mut() {
            let (Some(w), Some(b)) = (wi.next(), bi.next()) else {
                return Err(err(path, "fewer weight tensors than conv/dense layers"));
            };
            *weight = w.into_iter().map(f32::from_bits).collect();
            *bias = b.into_iter().map(f32::from_bits).collect();
        }
    }
    state.frozen = file
        .frozen
        .iter()
        .map(|s| s.chars().map(|c| c == '1').collect())
        .collect();
    if state.frozen.len() != state.layers.len() {
        return Err(err(path, "frozen masks do not match the layers"));
    }
    if let Err(e) = crate::train::Net::new(&state.model) {
        return Err(err(path, format!("stored model is inconsistent: {e}")));
    }
    Ok(Checkpoint {
        fingerprint: file.fingerprint,
        steps_done: file.steps_done,
        state,
    })
}
