//! Folding requests: explicit per-layer PE/SIMD (TOML or JSON), a lane budget, or a throughput
//! target.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::PlanError;

/// One `[[layer]]` entry of a folding file. Exactly one of `name` and `index` selects the
/// layer (a model layer index, counting every layer including pooling and flatten).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFolding {
    /// Layer name.
    #[serde(default)]
    pub name: Option<String>,
    /// Model layer index.
    #[serde(default)]
    pub index: Option<usize>,
    /// Processing elements (must divide the output channels / features).
    pub pe: usize,
    /// Lanes per PE (must divide the input channels of a conv, the input features of a dense).
    pub simd: usize,
}

/// Explicit folding: layers not listed get `PE = SIMD = 1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Folding {
    /// The `[[layer]]` entries.
    #[serde(default)]
    pub layer: Vec<LayerFolding>,
}

impl Folding {
    /// Parses TOML text (`[[layer]]` tables). `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, PlanError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let (line, col) = match e.span() {
                Some(sp) => line_col(text, sp.start),
                None => (0, 0),
            };
            PlanError::FoldingFile {
                origin: if line > 0 {
                    format!("{origin}:{line}:{col}")
                } else {
                    origin.to_string()
                },
                message: e.message().trim().to_string(),
            }
        })
    }

    /// Parses JSON text (`{"layer": [{...}]}`).
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, PlanError> {
        serde_json::from_str(text).map_err(|e| PlanError::FoldingFile {
            origin: if e.line() > 0 {
                format!("{origin}:{}:{}", e.line(), e.column())
            } else {
                origin.to_string()
            },
            message: e.to_string(),
        })
    }

    /// Loads a folding file: JSON if the name ends in `.json`, TOML otherwise.
    pub fn load(path: &Path) -> Result<Self, PlanError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PlanError::FoldingFile {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json_str(&text, &origin)
        } else {
            Self::from_toml_str(&text, &origin)
        }
    }
}

/// 1-based line and column of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// How to choose PE and SIMD of every conv/dense layer.
#[derive(Debug, Clone, PartialEq)]
pub enum FoldingRequest {
    /// `PE = SIMD = 1` everywhere (smallest design).
    Minimal,
    /// Per-layer explicit values.
    Explicit(Folding),
    /// The fastest design whose total shift-add lanes (`Σ PE·SIMD`) is at most this.
    LaneBudget(usize),
    /// The smallest design reaching `fps` images per second at `clock_mhz`: per conv/dense
    /// node the ROM-fed folding with the fewest lanes that is fast enough, or, when
    /// `hard_wired`, the hard-wired engine (`docs/hardware.md` §4.1) where its LUT estimate is
    /// lower.
    Throughput {
        /// Images per second.
        fps: f64,
        /// Clock in MHz.
        clock_mhz: f64,
        /// Also consider hard-wired engines.
        hard_wired: bool,
    },
}

impl FoldingRequest {
    /// A throughput target's cycles per image (`⌊clock / fps⌋`); `None` for the other
    /// requests.
    pub fn target_cycles(&self) -> Option<u64> {
        match self {
            FoldingRequest::Throughput { fps, clock_mhz, .. } => {
                Some((clock_mhz * 1e6 / fps).floor() as u64)
            }
            _ => None,
        }
    }
}
