//! # inq-model — the quantized-model format and the integer golden reference
//!
//! This crate owns two things every other part of `inq` builds on:
//!
//! * the **quantized-model file format** ([`format`]): a versioned, self-describing JSON
//!   document holding layers, shapes, per-layer weight codes (INQ codes, not floats), integer
//!   biases, activation formats and provenance. [`QuantModel::load`] validates everything
//!   ([`validate`]) and rejects a bad file with an error naming the field;
//! * the **integer golden reference** ([`reference`]): the one executable definition of the
//!   arithmetic written down in `docs/numerics.md`. The hardware plan, the cycle-accurate
//!   simulator and the generated RTL are all checked against it bit for bit.
//!
//! The small rules (code layout, level sets, products as shifts, rounding, saturation,
//! accumulator bounds) live in [`numerics`] so that every consumer derives its constants from
//! one place.

pub mod convert;
pub mod error;
pub mod format;
pub mod numerics;
pub mod random;
pub mod reference;
pub mod validate;

pub use error::ModelError;
pub use format::{
    write_atomic, ActFormat, ConvLayer, DenseLayer, InputSpec, Layer, NamedLayer, Output,
    PoolLayer, Provenance, QuantModel, WeightKind, WeightTensor, FORMAT_NAME, FORMAT_VERSION,
};
pub use reference::{run, Reference, RunOutput, Tensor};
