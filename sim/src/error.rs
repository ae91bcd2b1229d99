//! Errors of the simulator.

use thiserror::Error;

/// Why a simulation could not be carried out.
///
/// A *functional* difference from the reference is not an error: it is reported in
/// [`crate::SimReport::mismatches`].
#[derive(Debug, Error)]
pub enum SimError {
    /// The `Design` is inconsistent (a field contradicts another or the hardware contract).
    #[error("invalid design: {field}: {message}")]
    Design {
        /// The offending field, e.g. `engines[2].kind.weights`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The input images do not fit the design.
    #[error("bad input: {0}")]
    Input(String),
    /// Bad simulation options.
    #[error("bad options: {0}")]
    Options(String),
    /// No stream transfer happened for `idle_limit` cycles (a deadlock or a far too small
    /// limit).
    #[error("timeout: no transfer for {idle_limit} cycles (at cycle {cycle}, {words} of {expected} output words received)")]
    Timeout {
        /// Cycle at which the run was stopped.
        cycle: u64,
        /// The idle limit.
        idle_limit: u64,
        /// Output words received.
        words: usize,
        /// Output words expected.
        expected: usize,
    },
    /// The run needed more than `max_cycles` cycles.
    #[error("cycle limit {max_cycles} reached ({words} of {expected} output words received)")]
    CycleLimit {
        /// The limit.
        max_cycles: u64,
        /// Output words received.
        words: usize,
        /// Output words expected.
        expected: usize,
    },
    /// The model does not belong to the design, or the reference failed.
    #[error("model: {0}")]
    Model(String),
    /// A design folder or file could not be loaded.
    #[error(transparent)]
    Folder(#[from] inq_design::FolderError),
    /// One shard of a sharded run failed (see `src/shards.rs`); image and cycle numbers in
    /// `source` count from the shard's start.
    #[error("shard {index} (images {first_image}..{end}, stall seed {seed}): {source}", end = first_image + images)]
    Shard {
        /// The shard's position.
        index: usize,
        /// Its first image.
        first_image: usize,
        /// Its images.
        images: usize,
        /// Its stall seed.
        seed: u64,
        /// What went wrong.
        source: Box<SimError>,
    },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl SimError {
    pub(crate) fn design(field: impl Into<String>, message: impl Into<String>) -> Self {
        SimError::Design {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        SimError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}

impl From<inq_model::ModelError> for SimError {
    fn from(e: inq_model::ModelError) -> Self {
        SimError::Model(e.to_string())
    }
}
