//! Errors of the model crate.

use thiserror::Error;

/// Anything that can go wrong loading, validating, saving or running a model.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// The file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// The text is not JSON of the model schema.
    #[error("{origin}: not a valid model file: {message}")]
    Parse {
        /// The file or source.
        origin: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field has a value the format does not allow.
    #[error("{origin}: invalid model: field `{field}`: {message}")]
    Invalid {
        /// The file or source (empty before [`ModelError::with_origin`]).
        origin: String,
        /// Path of the offending field, e.g. `layers[2].weights.codes[17]`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An input tensor does not fit the model.
    #[error("input: {message}")]
    Input {
        /// What is wrong.
        message: String,
    },
}

impl ModelError {
    /// An [`ModelError::Invalid`] without origin.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ModelError::Invalid {
            origin: "model".into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// Sets the origin (file name) of an `Invalid` error.
    pub fn with_origin(self, origin: &str) -> Self {
        match self {
            ModelError::Invalid { field, message, .. } => ModelError::Invalid {
                origin: origin.to_string(),
                field,
                message,
            },
            other => other,
        }
    }
}
