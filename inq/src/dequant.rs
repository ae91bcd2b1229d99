//! The float view of a quantized model: the same graph with its exact power-of-two weights and
//! float biases but float activations (no requantization), for the "INQ with float
//! activations" accuracy of a quantized-model file.
//!
//! Scales follow `docs/numerics.md`: a weight code `(s, k)` of output channel `c` is
//! `(−1)^s · 2^(n2_c + k)` (a uniform integer code `q` is `q · 2^(n2_c)`); an integer bias is at
//! the accumulator scale `2^(e_x + n2_c)` where `e_x` is the exponent of the node's input
//! format. The network input is the raw integer input times `2^(input.exp)` (normalization was
//! folded into the nodes reading the input). A fused ReLU becomes a `Relu` node after its conv,
//! dense or add (named `<node>_relu`; readers follow it). The integer global average pool over
//! a non-power-of-two plane is the mean times its gain ([`inq_model::ops::GlobalAvgPool::gain`]);
//! the float view multiplies the weights of the conv/dense nodes reading it (possibly through
//! a flatten) by that gain instead. Owns nothing else.

use std::collections::HashMap;

use crate::graph::{
    Add, AvgPool, Conv, Dense, Flatten, FloatModel, FloatOp, GlobalAvgPool, MaxPool, Node,
    Normalization, Relu, Window,
};
use inq_model::numerics::{self, Weight};
use inq_model::{Op, Output, QuantModel, Source, WeightTensor};
use thiserror::Error;

/// Why a quantized model has no exact float view.
#[derive(Debug, Error)]
pub enum DequantError {
    /// A conv pads with a non-zero value (the float graph pads with zeros).
    #[error("node `{0}`: pad_value {1} ≠ 0 has no float-graph equivalent")]
    PadValue(String, i64),
    /// The model does not validate.
    #[error(transparent)]
    Model(#[from] inq_model::ModelError),
    /// A global average pool with a gain feeds a node its gain cannot be folded into.
    #[error("node `{0}` reads the global average pool `{1}` (integer gain {2}); only conv/dense readers (possibly through a flatten) are supported")]
    Gap(String, String, f64),
}

fn weights(w: &WeightTensor, out: usize, gain: f64) -> Vec<f32> {
    let row = w.codes.len() / out.max(1);
    w.codes
        .iter()
        .enumerate()
        .map(|(i, &code)| {
            // ±2^k (INQ) or q (uniform integer), in units of 2^n2_c
            let q = numerics::weight_int(w.decode(code).unwrap_or(Weight::Zero));
            (q as f64 * 2f64.powi(w.n2_of(i / row.max(1))) * gain) as f32
        })
        .collect()
}

fn bias(w: &WeightTensor, b: &[i64], in_exp: i32) -> Vec<f32> {
    b.iter()
        .enumerate()
        .map(|(c, &v)| (v as f64 * 2f64.powi(in_exp + w.n2_of(c))) as f32)
        .collect()
}

/// The float view of `m`.
pub fn float_view(m: &QuantModel) -> Result<FloatModel, DequantError> {
    let g = m.graph()?;
    // gains of the nodes reading a non-power-of-two global average pool
    let mut gain: HashMap<usize, f64> = HashMap::new();
    for (i, n) in m.nodes.iter().enumerate() {
        if !matches!(n.op, Op::GlobalAvgPool(_)) {
            continue;
        }
        let s = &g.info(g.inputs[i][0]).shape;
        let k = inq_model::ops::GlobalAvgPool::gain(
            s.get(1).copied().unwrap_or(1) * s.get(2).copied().unwrap_or(1),
        );
        if k == 1.0 {
            continue;
        }
        let mut stack: Vec<usize> = g.uses[i].iter().map(|u| u.node).collect();
        while let Some(r) = stack.pop() {
            match m.nodes[r].op {
                Op::Conv(_) | Op::Dense(_) => {
                    gain.insert(r, k);
                }
                Op::Flatten(_) => stack.extend(g.uses[r].iter().map(|u| u.node)),
                _ => {
                    return Err(DequantError::Gap(
                        m.nodes[r].name.clone(),
                        n.name.clone(),
                        k,
                    ))
                }
            }
        }
    }
    // the float tensor name of each integer node's output (after its ReLU)
    let mut tensor: Vec<String> = m.nodes.iter().map(|n| n.name.clone()).collect();
    let mut nodes = Vec::new();
    for &i in &g.order {
        let n = &m.nodes[i];
        let ins: Vec<String> = g.inputs[i]
            .iter()
            .map(|s| match s {
                Source::Input => m.input.name.clone(),
                Source::Node(j) => tensor[*j].clone(),
            })
            .collect();
        let in_exp = g.info(g.inputs[i][0]).format.map(|f| f.exp).unwrap_or(0);
        let k = gain.get(&i).copied().unwrap_or(1.0);
        let (op, relu): (FloatOp, bool) = match &n.op {
            Op::Conv(c) => {
                if c.pad_value != 0 {
                    return Err(DequantError::PadValue(n.name.clone(), c.pad_value));
                }
                (
                    Conv {
                        in_channels: c.in_channels,
                        out_channels: c.out_channels,
                        kernel: c.kernel,
                        stride: c.stride,
                        pad: c.pad,
                        group: c.group,
                        weight: weights(&c.weights, c.out_channels, k),
                        bias: bias(&c.weights, &c.bias, in_exp),
                    }
                    .into(),
                    c.relu,
                )
            }
            Op::Dense(d) => (
                Dense {
                    in_features: d.in_features,
                    out_features: d.out_features,
                    weight: weights(&d.weights, d.out_features, k),
                    bias: bias(&d.weights, &d.bias, in_exp),
                }
                .into(),
                d.relu,
            ),
            Op::Add(a) => (Add {}.into(), a.relu),
            Op::MaxPool(p) => (
                MaxPool(Window {
                    kernel: p.0.kernel,
                    stride: p.0.stride,
                })
                .into(),
                false,
            ),
            Op::AvgPool(p) => (
                AvgPool(Window {
                    kernel: p.0.kernel,
                    stride: p.0.stride,
                })
                .into(),
                false,
            ),
            Op::GlobalAvgPool(_) => (GlobalAvgPool {}.into(), false),
            Op::Flatten(_) => (Flatten {}.into(), false),
        };
        let refs: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
        nodes.push(Node::new(n.name.clone(), &refs, op));
        if relu {
            let r = format!("{}_relu", n.name);
            nodes.push(Node::new(r.clone(), &[&n.name], Relu {}));
            tensor[i] = r;
        }
    }
    let _ = Output::Logits;
    let [c, _, _] = m.input.shape;
    let mut f = FloatModel::new(
        m.name.clone(),
        m.input.shape,
        Normalization {
            scale: 2f32.powi(m.input.format.exp),
            mean: vec![0.0; c.max(1)],
            std: vec![1.0; c.max(1)],
        },
        nodes,
        tensor[g.output].clone(),
    );
    f.input_name.clone_from(&m.input.name);
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use inq_model::random::{build, random_input, LayerSpec, RandomSpec};
    use inq_model::ActFormat;

    /// With activations wide enough that requantization loses nothing, the float view and the
    /// integer reference agree on the argmax.
    #[test]
    fn float_view_matches_reference_argmax_on_random_models() {
        let spec = RandomSpec {
            input: [1, 6, 6],
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
                    act_bits: 16,
                    relu: true,
                    per_channel: true,
                },
                LayerSpec::MaxPool(2),
                LayerSpec::Flatten,
                LayerSpec::Dense {
                    out: 4,
                    bits: 5,
                    act_bits: 16,
                    relu: false,
                    per_channel: true,
                },
            ],
        };
        let mut agree = 0;
        for seed in 0..20 {
            let m = build(&spec, seed).unwrap();
            let f = float_view(&m).unwrap();
            let x = random_input(&m, seed);
            let r = inq_model::run(&m, &x).unwrap();
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let y = crate::forward::forward(&f, &xf).unwrap();
            if crate::forward::argmax(&y) == r.argmax {
                agree += 1;
            }
        }
        assert!(
            agree >= 18,
            "argmax agreed on only {agree}/20 random models"
        );
    }
}
