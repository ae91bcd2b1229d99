//! # inq-quant — from a float CNN to an INQ-quantized model
//!
//! Owns everything on the float side of `inq`: reading datasets ([`data`]), the float graph
//! IR ([`graph`]: one file per operator), the float reference ([`forward`]), ONNX import and
//! export ([`onnx`]), float training on the CPU ([`train`]), and Incremental Network
//! Quantization (INQ, Zhou et al. 2017, [`quantize`]), which turns every conv/dense weight
//! into `±2^e` or `0` and writes an [`inq_model::QuantModel`] graph. [`dequant`] goes back
//! from a quantized model to a float one; [`calib`] chooses activation scales.
//!
//! Module dependencies point one way: `graph` ← `forward` ← `train` ← `quantize`, `onnx`
//! depends on `graph` and `forward` only, `dequant` on `graph`.

pub mod calib;
pub mod data;
pub mod dequant;
pub mod forward;
pub mod graph;
pub mod onnx;
pub mod quantize;
pub mod train;
