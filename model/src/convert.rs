//! Conversions between weight kinds.
//!
//! [`pow2_to_int`] rewrites every INQ-coded weight tensor of a model as uniform integers
//! (`q = ±2^k` or 0) at the same accumulator scale: biases, shifts and every accumulator value
//! are unchanged, so the converted model computes exactly the same logits. It isolates the
//! cost of a multiplier datapath at identical accuracy.

use crate::error::ModelError;
use crate::format::QuantModel;
use crate::numerics::{self, Weight, WeightKind};
use crate::weights::WeightTensor;

/// The uniform-integer form of one INQ tensor: `q = ±2^k`, code width `k_max + 2` (at least 2),
/// same `n2` per channel. `field` names the tensor in errors.
pub fn tensor_pow2_to_int(w: &WeightTensor, field: &str) -> Result<WeightTensor, ModelError> {
    if w.kind == WeightKind::Int {
        return Ok(w.clone());
    }
    let mut k_max = 0u32;
    let mut decoded = Vec::with_capacity(w.codes.len());
    for (i, &c) in w.codes.iter().enumerate() {
        let d = w
            .decode(c)
            .map_err(|e| ModelError::invalid(format!("{field}.codes[{i}]"), format!("{e:?}")))?;
        if let Weight::Pow2 { index, .. } = d {
            k_max = k_max.max(index);
        }
        decoded.push(numerics::weight_int(d));
    }
    let bits = k_max + 2;
    if bits > 8 {
        return Err(ModelError::invalid(
            format!("{field}.codes"),
            format!(
                "exponent index {k_max} needs {bits}-bit integers for a lossless conversion; integer codes hold at most 8 bits (quantize the float model uniformly instead)"
            ),
        ));
    }
    let n1 = (0..w.n1.len())
        .map(|c| w.n2_of(c) + bits as i32 - 2)
        .collect();
    Ok(WeightTensor {
        kind: WeightKind::Int,
        bits,
        n1,
        codes: decoded
            .into_iter()
            .map(|q| numerics::encode(if q == 0 { Weight::Zero } else { Weight::Int(q) }, bits))
            .collect(),
    })
}

/// Converts every weighted node of `model` to uniform integer weights losslessly
/// ([`tensor_pow2_to_int`]); the result is validated.
pub fn pow2_to_int(model: &QuantModel) -> Result<QuantModel, ModelError> {
    if model_weight_kind(model) == Some(WeightKind::Int) {
        return Ok(model.clone());
    }
    let mut m = model.clone();
    for (i, n) in m.nodes.iter_mut().enumerate() {
        if let Some(w) = n.op.operator_mut().weights_mut() {
            *w = tensor_pow2_to_int(w, &format!("nodes[{i}].weights"))?;
        }
    }
    m.provenance.settings.insert(
        "weight_kind".into(),
        serde_json::Value::String("int (lossless from pow2)".into()),
    );
    crate::validate::validate(&m)?;
    Ok(m)
}

/// The weight kind of a model's weighted nodes: `Some(kind)` when every such node has the same
/// kind, `None` when they differ or there is none.
pub fn model_weight_kind(model: &QuantModel) -> Option<WeightKind> {
    let mut kind = None;
    for n in &model.nodes {
        let Some(w) = n.op.operator().weights() else {
            continue;
        };
        match kind {
            None => kind = Some(w.kind),
            Some(p) if p != w.kind => return None,
            _ => {}
        }
    }
    kind
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::ActFormat;
    use crate::random::{build, LayerSpec, RandomSpec};

    #[test]
    fn conversion_is_exact() {
        let spec = RandomSpec {
            input: [2, 6, 6],
            input_format: ActFormat {
                bits: 8,
                signed: false,
                exp: 0,
            },
            layers: vec![
                LayerSpec::Conv {
                    out: 3,
                    k: 3,
                    stride: 1,
                    pad: 1,
                    bits: 4,
                    act_bits: 6,
                    relu: true,
                    per_channel: true,
                },
                LayerSpec::Flatten,
                LayerSpec::Dense {
                    out: 4,
                    bits: 3,
                    act_bits: 8,
                    relu: false,
                    per_channel: false,
                },
            ],
        };
        for seed in 0..8 {
            let m = build(&spec, seed).unwrap();
            let mi = pow2_to_int(&m).unwrap();
            assert_eq!(model_weight_kind(&mi), Some(WeightKind::Int));
            let x = crate::random::random_input(&m, seed);
            let a = crate::reference::run(&m, &x).unwrap();
            let b = crate::reference::run(&mi, &x).unwrap();
            assert_eq!(a.logits, b.logits);
        }
    }
}
