//! ONNX import into a [`FloatModel`](crate::graph::FloatModel) graph and ONNX export of float
//! and INQ-quantized models.
//!
//! * [`import`] / [`import_full`] read a float model exported by `torch.onnx.export` (the
//!   classic TorchScript exporter and the dynamo exporter), tf2onnx or `onnx.helper`: a graph
//!   (fan-out and residual `Add`s allowed) of Conv (group 1 or depthwise), Gemm, MatMul(+Add),
//!   Add, Relu, MaxPool, AveragePool, GlobalAveragePool/ReduceMean, BatchNormalization (folded
//!   into the preceding Conv/Gemm/MatMul), Flatten, Reshape-as-flatten, Squeeze, Identity and
//!   Dropout nodes, weights as initializers or Constant nodes. See [`import_full`] for the
//!   exact rules. Anything else is an [`OnnxError::Node`] naming the file, the node, its index,
//!   its op type and what is not supported.
//!
//! Split by concern: `attrs` (attribute access), `const_eval` (constant tensors and
//! expressions), `import` (the walk over the graph), `state` (what the walk and the
//! lowerings share), `lower/` (one file per op family, found by `op_type` in
//! `lower::TABLE`), `export`.
//! * [`export_float`] writes a [`FloatModel`](crate::graph::FloatModel) as an opset-13 ONNX
//!   file that onnxruntime runs and [`import`] reads back identically.
//! * [`export_quantized`] writes an [`inq_model::QuantModel`] as a QDQ ONNX file (exact
//!   power-of-two float weights, QuantizeLinear/DequantizeLinear pairs on activations) whose
//!   float evaluation reproduces the integer reference; see its documentation for the rounding
//!   details.
//!
//! Protobuf decoding and encoding use `prost` with types generated at build time from the
//! committed `proto/onnx.proto` by `protox` (no system `protoc`).

pub(crate) mod attrs;
pub(crate) mod const_eval;
mod export;
mod import;
pub(crate) mod lower;
pub(crate) mod state;

pub use export::{
    export_float, export_quantized, float_model_proto, quantized_model_proto, QuantExportInfo,
    LOGITS_EXP_KEY,
};
pub use import::{import, import_bytes, import_full, Imported, SUPPORTED_OPS};

use thiserror::Error;

/// The ONNX protobuf types, generated from `proto/onnx.proto` by `prost-build`.
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

/// Metadata key (in `ModelProto.metadata_props`) holding the input normalization as JSON
/// `{"scale": .., "mean": [..], "std": [..]}`.
pub const NORMALIZATION_KEY: &str = "inq.normalization";

/// The default-domain opset versions the importer accepts. The supported ops did not change
/// meaning over this range (later versions only added element types).
pub const SUPPORTED_OPSETS: std::ops::RangeInclusive<i64> = 9..=25;

/// Errors of ONNX import and export.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OnnxError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// The bytes are not a protobuf-encoded ONNX model.
    #[error("{origin}: not a valid ONNX model: {message}")]
    Decode {
        /// The file or source.
        origin: String,
        /// The decoder's message.
        message: String,
    },
    /// A model-level problem (opset, graph inputs/outputs, metadata).
    #[error("{origin}: {message}")]
    Model {
        /// The file or source.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// A node is not supported or malformed.
    #[error("{origin}: node {} (#{index}, {op}): {message}", display_name(.node))]
    Node {
        /// The file or source.
        origin: String,
        /// The node's name (empty when unnamed).
        node: String,
        /// The node's index in `graph.node` (file order, from 0).
        index: usize,
        /// The node's op type.
        op: String,
        /// What is not supported or wrong.
        message: String,
    },
    /// The model to export is not exportable.
    #[error("export: {message}")]
    Export {
        /// What is wrong.
        message: String,
    },
}

/// A problem with node `index` of the file being imported (the importer turns it into an
/// [`OnnxError::Node`] with the file, the node's name and op type).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeIssue {
    /// The node's index in `graph.node`.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

fn display_name(name: &str) -> String {
    if name.is_empty() {
        "<unnamed>".to_string()
    } else {
        format!("'{name}'")
    }
}
