//! Reading and writing model files: JSON text with the version dispatched (version 1 files
//! are converted by [`crate::v1`]), validation on every load and save, atomic writes.

use std::path::Path;

use crate::error::ModelError;
use crate::format::{QuantModel, FORMAT_NAME, FORMAT_VERSION};
use crate::validate::validate;

impl QuantModel {
    /// Parses and validates a model from JSON text (version 1 or 2). `origin` names the source
    /// in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, ModelError> {
        // Check the header first so that a future version gets a version error rather than a
        // confusing schema error.
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::Parse {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        let format = value.get("format").and_then(|v| v.as_str());
        if format != Some(FORMAT_NAME) {
            return Err(ModelError::Invalid {
                origin: origin.to_string(),
                field: "format".into(),
                message: format!(
                    "expected \"{FORMAT_NAME}\", found {}",
                    value
                        .get("format")
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "nothing".into())
                ),
            });
        }
        let parse_err = |message: String| ModelError::Parse {
            origin: origin.to_string(),
            message,
        };
        let model = match value.get("version").and_then(|v| v.as_u64()) {
            Some(1) => crate::v1::convert(value).map_err(parse_err)?,
            Some(v) if v == u64::from(FORMAT_VERSION) => {
                serde_json::from_value(value).map_err(|e| parse_err(e.to_string()))?
            }
            other => {
                return Err(ModelError::Invalid {
                    origin: origin.to_string(),
                    field: "version".into(),
                    message: format!(
                        "unsupported format version {}; this build reads versions 1 and {FORMAT_VERSION}",
                        other
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "(missing)".into())
                    ),
                })
            }
        };
        validate(&model).map_err(|e| e.with_origin(origin))?;
        Ok(model)
    }

    /// Loads and validates a model file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Serializes to JSON text (validating first).
    pub fn to_json_string(&self) -> Result<String, ModelError> {
        validate(self)?;
        serde_json::to_string(self).map_err(|e| ModelError::Parse {
            origin: "<serialize>".into(),
            message: e.to_string(),
        })
    }

    /// Validates and writes the model atomically (temp file in the same folder, then rename).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let text = self.to_json_string()?;
        write_atomic(path, text.as_bytes())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that a
/// failed write never leaves a partial file at `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let io = |e: std::io::Error| ModelError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    // an interrupt removes it (`crate::interrupt`)
    let _temp = crate::interrupt::Temp::register(&tmp);
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}
