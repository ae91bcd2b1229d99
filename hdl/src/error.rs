//! Why a design could not be planned.

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
        /// The file (and line, when the parser knows it).
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A folding entry does not name a conv/dense node.
    #[error("folding entry [[layer]] #{entry}: {message}")]
    UnknownLayer {
        /// Entry number (0-based).
        entry: usize,
        /// What is wrong.
        message: String,
    },
    /// PE/SIMD illegal for a node.
    #[error("illegal folding for {layer}: {message}")]
    IllegalFolding {
        /// The node (index, name, op).
        layer: String,
        /// What is wrong.
        message: String,
    },
    /// A node requested fully unrolled cannot be (unknown name, not a conv/dense node, a
    /// kernel larger than 1×1, or a conflicting folding file entry).
    #[error("cannot unroll: {message}")]
    Unroll {
        /// What is wrong (names the node).
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
