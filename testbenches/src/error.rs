//! Errors of the testbench crate.

use thiserror::Error;

/// Anything that can go wrong building or running a testbench.
///
/// Every variant names the file, field or tool involved. A functional mismatch between the RTL
/// and the reference is *not* an error: it is reported in
/// [`VerifyReport::mismatches`](crate::VerifyReport::mismatches).
#[derive(Debug, Error)]
pub enum TbError {
    /// Verilator is not installed (or not on the search path).
    #[error(
        "verilator not found (searched PATH: {searched}); install the Debian package `verilator` \
         (apt-get install verilator) or set VerifyOptions::verilator to the binary"
    )]
    VerilatorMissing {
        /// The directories searched.
        searched: String,
    },
    /// A file could not be read, written or created.
    #[error("{path}: {message}")]
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// The design folder (`manifest.json`, `model.json`) is missing, stale or inconsistent.
    #[error(transparent)]
    Folder(#[from] inq_design::FolderError),
    /// The reference rejected an input, or the model is invalid.
    #[error(transparent)]
    Model(#[from] inq_model::ModelError),
    /// An input image or option does not fit the design.
    #[error("{0}")]
    Input(String),
    /// The Verilator build failed (log kept at `log`).
    #[error("verilator build of `{top}` failed (full log: {log}):\n{tail}")]
    Build {
        /// The top module.
        top: String,
        /// Path of the full build log.
        log: String,
        /// The last lines of the log.
        tail: String,
    },
    /// One shard of a sharded run failed (`inq_sim::shards`); image and cycle numbers in
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
        source: Box<TbError>,
    },
    /// The simulation binary exited with an error.
    #[error("simulation of `{top}` failed (exit status {status}): {message}")]
    Sim {
        /// The top module.
        top: String,
        /// Exit status as text.
        status: String,
        /// The binary's error output.
        message: String,
    },
    /// The design stopped making progress: no transfer on either stream for `idle_limit` cycles.
    #[error(
        "simulation of `{top}` timed out at cycle {cycle}: no stream transfer for {idle_limit} \
         cycles; received {words} of {expected} output words"
    )]
    Timeout {
        /// The top module.
        top: String,
        /// The cycle at which the harness gave up.
        cycle: u64,
        /// The idle limit in cycles.
        idle_limit: u64,
        /// Output words received.
        words: u64,
        /// Output words expected.
        expected: u64,
    },
    /// The simulation's record file is malformed (a harness bug or a crashed run).
    #[error("{path}:{line}: malformed record: {message}")]
    Records {
        /// The record file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl TbError {
    /// An [`TbError::Io`] for `path`.
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        TbError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}
