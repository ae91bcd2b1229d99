//! Why generation failed.

use thiserror::Error;

/// Why generation failed.
#[derive(Debug, Error)]
pub enum CodegenError {
    /// A template failed to render (a bug).
    #[error("template {template}: {message}")]
    Template {
        /// Template file name.
        template: String,
        /// Message.
        message: String,
    },
    /// The design does not belong to the model, or is inconsistent.
    #[error("design/model mismatch: {0}")]
    Mismatch(String),
    /// Options out of range.
    #[error("bad option: {0}")]
    Option(String),
    /// A file of the output could not be serialized.
    #[error("{path}: {message}")]
    Serialize {
        /// The file (relative to the design folder).
        path: String,
        /// Message.
        message: String,
    },
    /// The design folder could not be written (the error names the file or folder).
    #[error(transparent)]
    Folder(#[from] inq_design::FolderError),
}
