//! Validation of a [`QuantModel`]: the header, then the graph ([`Graph::new`]: names, inputs,
//! cycles, unused nodes, and every node's shapes, codes and widths).
//!
//! Each failure is a [`ModelError::Invalid`] naming the offending field (and the node).

use crate::error::ModelError;
use crate::format::{QuantModel, FORMAT_NAME, FORMAT_VERSION};
use crate::graph::Graph;

pub use crate::ops::{MAX_ACC_BITS, MAX_ACT_BITS};
pub use crate::weights::MAX_EXP;

/// Validates a whole model and returns its checked graph.
pub fn validate(m: &QuantModel) -> Result<Graph, ModelError> {
    if m.format != FORMAT_NAME {
        return Err(ModelError::invalid(
            "format",
            format!("expected \"{FORMAT_NAME}\", found \"{}\"", m.format),
        ));
    }
    if m.version != FORMAT_VERSION {
        return Err(ModelError::invalid(
            "version",
            format!(
                "unsupported format version {}; models in memory are version {FORMAT_VERSION}",
                m.version
            ),
        ));
    }
    Graph::new(m)
}

impl QuantModel {
    /// The checked graph of this model (see [`validate`]).
    pub fn graph(&self) -> Result<Graph, ModelError> {
        validate(self)
    }
}
