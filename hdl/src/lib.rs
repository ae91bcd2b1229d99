//! # inq-hdl — the hardware plan
//!
//! From a quantized model and folding choices this crate builds a `Design`: a streaming
//! pipeline of one engine per layer (sliding-window units, PE × SIMD shift-add matrix-vector
//! units with per-lane weight ROMs, requantize/ReLU/saturate stages, pooling units, FIFOs, and
//! an output stage). The design is pure data: every width, memory depth and schedule is stated
//! and derived from the model, and no text (Verilog) is produced here.
