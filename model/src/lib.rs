//! # inq-model — the quantized-model format and the integer golden reference
//!
//! This crate owns what every other part of `inq` builds on:
//!
//! * the **quantized-model file format** ([`mod@format`], version 2): a versioned, self-describing
//!   JSON document holding a graph of named nodes (each an operator with its parameters and
//!   the names of its inputs), the input, the output, integer weight codes (INQ codes, not
//!   floats), integer biases, activation formats and provenance. [`QuantModel::load`]
//!   ([`mod@file`]) reads version 1 files too ([`v1`]: chains, converted on load) and validates
//!   everything ([`validate`], [`graph`]), rejecting a bad file with an error naming the node
//!   and field;
//! * the **operators** ([`ops`]): one file per operator with its shape rule, checks and
//!   reference arithmetic, behind the [`ops::Operator`] trait and one registry;
//! * the **integer golden reference** ([`mod@reference`]): the one executable definition of the
//!   arithmetic written down in `docs/numerics.md`. The hardware plan, the cycle-accurate
//!   simulator and the generated RTL are all checked against it bit for bit.
//!
//! The small rules (code layout, level sets, products as shifts, rounding, saturation,
//! alignment, accumulator bounds) live in [`numerics`] so that every consumer derives its
//! constants from one place. Not here: anything float (training, INQ: `inq-quant`) or hardware
//! (`inq-hdl`).

pub mod convert;
pub mod error;
pub mod file;
pub mod format;
pub mod graph;
pub mod interrupt;
pub mod numerics;
pub mod ops;
pub mod random;
pub mod reference;
pub mod tensor;
pub mod v1;
pub mod validate;
pub mod weights;

pub use error::ModelError;
pub use file::write_atomic;
pub use format::{
    InputSpec, Node, Provenance, QuantModel, DEFAULT_INPUT_NAME, FORMAT_NAME, FORMAT_VERSION,
};
pub use graph::{Graph, Source, Use};
pub use numerics::{ActFormat, WeightKind};
pub use ops::{Op, Operator, Output};
pub use reference::{run, Reference, RunOutput};
pub use tensor::{Tensor, TensorInfo};
pub use weights::WeightTensor;
