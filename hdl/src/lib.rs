//! # inq-hdl — the hardware plan
//!
//! From a quantized model and folding choices this crate builds a [`Design`]: a streaming
//! pipeline of one engine per layer (sliding-window matrix-vector units of PE × SIMD
//! shift-add lanes with per-PE weight ROMs and a requantize/ReLU/saturate stage, pooling
//! units, FIFOs, and an output stage with the argmax). The design is pure data
//! (serde-serializable, stored in `manifest.json`): every width, memory depth and schedule is
//! derived from the model, and no Verilog is produced here. The cycle-exact behaviour of every
//! engine is specified in `docs/hardware.md`.
//!
//! A layer folded with `PE × SIMD` = the whole layer (`NF·SF = 1`: dense layers and 1×1
//! convolutions) gets constant weights ([`WeightStorage::Constant`]): no ROM, each product is
//! wiring and zero weights vanish ([`Mvu::adder_tree`]).
//!
//! Entry points: [`plan`]`(&model, &FoldingRequest)`, and [`plan_unrolled`] to fully unroll
//! named layers.

pub mod design;
pub mod folding;
pub mod plan;
pub mod resources;

pub use design::*;
pub use folding::{Folding, FoldingRequest, LayerFolding};
pub use plan::{engine_cycles, line_buffer_rows, mvu_cycles, plan, plan_unrolled, pool_cycles};

use thiserror::Error;

/// Why a design could not be planned.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PlanError {
    /// The model is invalid.
    #[error(transparent)]
    Model(#[from] inq_model::ModelError),
    /// A folding file could not be read or parsed.
    #[error("{origin}: bad folding file: {message}")]
    FoldingFile {
        /// The file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A folding entry does not name a conv/dense layer.
    #[error("folding entry [[layer]] #{entry}: {message}")]
    UnknownLayer {
        /// Entry number (0-based).
        entry: usize,
        /// What is wrong.
        message: String,
    },
    /// PE/SIMD illegal for a layer.
    #[error("illegal folding for {layer}: {message}")]
    IllegalFolding {
        /// The layer (index, name, op).
        layer: String,
        /// What is wrong.
        message: String,
    },
    /// A layer requested fully unrolled cannot be (unknown name, not a conv/dense layer, a
    /// kernel larger than 1×1, or a conflicting folding file entry).
    #[error("cannot unroll: {message}")]
    Unroll {
        /// What is wrong (names the layer).
        message: String,
    },
    /// A throughput target or lane budget cannot be met.
    #[error("folding target cannot be met: {message}")]
    Target {
        /// Why.
        message: String,
    },
    /// An internal inconsistency (a bug).
    #[error("internal planner error: {0}")]
    Internal(String),
}
