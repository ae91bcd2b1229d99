//! The float model: a small sequential CNN graph, the common currency between ONNX import,
//! training, quantization and export.
//!
//! Batch normalization never appears here: the importer folds it into the preceding conv or
//! dense layer. Tensors are `f32`, weights in ONNX layout (`[out, in, kh, kw]` for conv,
//! `[out, in]` for dense).

use serde::{Deserialize, Serialize};

/// Per-channel input normalization applied to raw data before the first layer:
/// `x = (pixel · scale − mean[c]) / std[c]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Multiplier applied to the raw 8-bit value first (usually `1/255`).
    pub scale: f32,
    /// Per-channel mean (one entry applies to all channels).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (one entry applies to all channels).
    pub std: Vec<f32>,
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.0],
            std: vec![1.0],
        }
    }
}

/// One layer of a float model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FloatLayer {
    /// 2-D convolution (group 1).
    Conv {
        /// Node name from the source model.
        name: String,
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// `[kh, kw]`.
        kernel: [usize; 2],
        /// `[sh, sw]`.
        stride: [usize; 2],
        /// `[top, left, bottom, right]`.
        pad: [usize; 4],
        /// `[out, in, kh, kw]` row-major.
        weight: Vec<f32>,
        /// `[out]`.
        bias: Vec<f32>,
    },
    /// Fully connected: `y = W x + b`.
    Dense {
        /// Node name from the source model.
        name: String,
        /// Input features.
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// `[out, in]` row-major.
        weight: Vec<f32>,
        /// `[out]`.
        bias: Vec<f32>,
    },
    /// Rectified linear unit.
    Relu {
        /// Node name.
        name: String,
    },
    /// Max pooling without padding.
    MaxPool {
        /// Node name.
        name: String,
        /// `[kh, kw]`.
        kernel: [usize; 2],
        /// `[sh, sw]`.
        stride: [usize; 2],
    },
    /// Average pooling without padding, power-of-two window.
    AvgPool {
        /// Node name.
        name: String,
        /// `[kh, kw]`.
        kernel: [usize; 2],
        /// `[sh, sw]`.
        stride: [usize; 2],
    },
    /// Mean over the spatial extent.
    GlobalAvgPool {
        /// Node name.
        name: String,
    },
    /// `[C, H, W]` → `[C·H·W]`.
    Flatten {
        /// Node name.
        name: String,
    },
}

/// A sequential float CNN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatModel {
    /// Model name.
    pub name: String,
    /// `[C, H, W]` of one input.
    pub input_shape: [usize; 3],
    /// How raw 8-bit data maps onto the first layer's input.
    pub normalization: Normalization,
    /// The layers in order.
    pub layers: Vec<FloatLayer>,
}
