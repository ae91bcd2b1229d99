//! Errors of the design-folder crate.

use thiserror::Error;

/// Anything that can go wrong reading or writing a design folder. Every variant names the file
/// (and the field).
#[derive(Debug, Error)]
pub enum FolderError {
    /// A file could not be read, written or created.
    #[error("{path}: {message}")]
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// `manifest.json` is not valid JSON of the manifest schema, or a field is wrong.
    #[error("{path}: manifest field `{field}`: {message}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// The offending key, e.g. `taps[1].width` (`(schema)` for a parse error).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// `model.json` could not be loaded.
    #[error(transparent)]
    Model(#[from] inq_model::ModelError),
    /// The output path exists and is not a design folder `inq` wrote.
    #[error("{path}: {message}")]
    Refused {
        /// The path.
        path: String,
        /// Why (and what to do).
        message: String,
    },
}

impl FolderError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        FolderError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}
