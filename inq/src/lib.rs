//! # inq-quant — from a float CNN to an INQ-quantized model
//!
//! Owns everything on the float side of `inq`: reading datasets ([`data`]), ONNX import,
//! float training on the CPU, and Incremental Network Quantization (INQ, Zhou et al. 2017),
//! which turns every conv/dense weight into `±2^e` or `0` and writes an
//! [`inq_model::QuantModel`].

pub mod calib;
pub mod data;
pub mod dequant;
pub mod forward;
pub mod graph;
pub mod onnx;
pub mod quantize;
pub mod train;
