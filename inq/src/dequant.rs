//! The float view of a quantized model: the same network with its exact power-of-two weights
//! and float biases but float activations (no requantization), for the "INQ with float
//! activations" accuracy of a quantized-model file.
//!
//! Scales follow `docs/numerics.md`: a weight code `(s, k)` of output channel `c` is
//! `(−1)^s · 2^(n2_c + k)` (a uniform integer code `q` is `q · 2^(n2_c)`); an integer bias is at the accumulator scale `2^(e_x + n2_c)` where
//! `e_x` is the exponent of the layer's input format. The network input is the raw integer
//! input times `2^(input.exp)` (normalization was folded into the first layer).

use crate::graph::{FloatLayer, FloatModel, Normalization};
use inq_model::numerics::{self, Weight};
use inq_model::{Layer, Output, QuantModel, WeightTensor};
use thiserror::Error;

/// Why a quantized model has no exact float view.
#[derive(Debug, Error)]
pub enum DequantError {
    /// A conv pads with a non-zero value (the float graph pads with zeros).
    #[error("layer `{0}`: pad_value {1} ≠ 0 has no float-graph equivalent")]
    PadValue(String, i64),
}

fn weights(w: &WeightTensor, out: usize) -> Vec<f32> {
    let row = w.codes.len() / out.max(1);
    w.codes
        .iter()
        .enumerate()
        .map(|(i, &code)| {
            // ±2^k (INQ) or q (uniform integer), in units of 2^n2_c
            let q = numerics::weight_int(w.decode(code).unwrap_or(Weight::Zero));
            (q as f64 * 2f64.powi(numerics::n2_of(w, i / row))) as f32
        })
        .collect()
}

fn bias(w: &WeightTensor, b: &[i64], in_exp: i32) -> Vec<f32> {
    b.iter()
        .enumerate()
        .map(|(c, &v)| (v as f64 * 2f64.powi(in_exp + numerics::n2_of(w, c))) as f32)
        .collect()
}

/// The ReLU after a conv/dense layer (when it has one), and the exponent of its output
/// activations for the next layer's bias.
fn activation(layers: &mut Vec<FloatLayer>, name: &str, relu: bool, out: &Output, e_x: &mut i32) {
    if relu {
        layers.push(FloatLayer::Relu {
            name: format!("{name}_relu"),
        });
    }
    if let Some(f) = out.act() {
        *e_x = f.exp;
    }
}

/// The float view of `m`.
pub fn float_view(m: &QuantModel) -> Result<FloatModel, DequantError> {
    let mut layers = Vec::new();
    let mut e_x = m.input.format.exp;
    for l in &m.layers {
        match l {
            Layer::Conv(c) => {
                if c.pad_value != 0 {
                    return Err(DequantError::PadValue(c.name.clone(), c.pad_value));
                }
                layers.push(FloatLayer::Conv {
                    name: c.name.clone(),
                    in_channels: c.in_channels,
                    out_channels: c.out_channels,
                    kernel: c.kernel,
                    stride: c.stride,
                    pad: c.pad,
                    weight: weights(&c.weights, c.out_channels),
                    bias: bias(&c.weights, &c.bias, e_x),
                });
                activation(&mut layers, &c.name, c.relu, &c.output, &mut e_x);
            }
            Layer::Dense(d) => {
                layers.push(FloatLayer::Dense {
                    name: d.name.clone(),
                    in_features: d.in_features,
                    out_features: d.out_features,
                    weight: weights(&d.weights, d.out_features),
                    bias: bias(&d.weights, &d.bias, e_x),
                });
                activation(&mut layers, &d.name, d.relu, &d.output, &mut e_x);
            }
            Layer::MaxPool(p) => layers.push(FloatLayer::MaxPool {
                name: p.name.clone(),
                kernel: p.kernel,
                stride: p.stride,
            }),
            Layer::AvgPool(p) => layers.push(FloatLayer::AvgPool {
                name: p.name.clone(),
                kernel: p.kernel,
                stride: p.stride,
            }),
            Layer::GlobalAvgPool(n) => layers.push(FloatLayer::GlobalAvgPool {
                name: n.name.clone(),
            }),
            Layer::Flatten(n) => layers.push(FloatLayer::Flatten {
                name: n.name.clone(),
            }),
        }
    }
    let [c, _, _] = m.input.shape;
    Ok(FloatModel {
        name: m.name.clone(),
        input_shape: m.input.shape,
        normalization: Normalization {
            scale: 2f32.powi(m.input.format.exp),
            mean: vec![0.0; c.max(1)],
            std: vec![1.0; c.max(1)],
        },
        layers,
    })
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
