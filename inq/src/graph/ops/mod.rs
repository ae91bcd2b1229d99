//! The float operators, one file each, and their registry.
//!
//! Each operator is a parameter struct implementing [`FloatOperator`]: its shape rule
//! ([`FloatOperator::infer`]) and its float forward on one image ([`FloatOperator::forward`]).
//! This file is the one dispatch point: [`FloatOp`] names every operator and hands out the
//! trait object. Adding an operator means adding its file and one line in `registry!` below;
//! the other stages (training in [`crate::train::engine`], integerization in
//! [`crate::quantize::integerize()`], ONNX import in `onnx/lower/`, export in `onnx/export.rs`)
//! each have one match arm per operator.
//!
//! Not here: graph structure ([`super::check`]), batching, training, quantization.

pub mod add;
pub mod batchnorm;
pub mod conv;
pub mod dense;
pub mod flatten;
pub mod global_avg_pool;
pub mod pool;
pub mod relu;

use serde::{Deserialize, Serialize};

pub use add::Add;
pub use batchnorm::BatchNorm;
pub use conv::Conv;
pub use dense::Dense;
pub use flatten::Flatten;
pub use global_avg_pool::GlobalAvgPool;
pub use pool::{AvgPool, MaxPool, Window};
pub use relu::Relu;

/// Reusable buffers of the float forward (one per thread).
#[derive(Debug, Default)]
pub struct Scratch {
    /// Padded input of a convolution.
    pub padded: Vec<f32>,
    /// im2col matrix of a convolution.
    pub col: Vec<f32>,
}

/// One float operator: shape rule and float forward.
pub trait FloatOperator: Send + Sync {
    /// The op name used in messages (`Conv`, `Add`, ...: the ONNX spelling).
    fn op_name(&self) -> &'static str;
    /// Number of inputs.
    fn arity(&self) -> usize {
        1
    }
    /// Checks the parameters against the input shapes (`[C, H, W]` or `[N]`, batch excluded)
    /// and returns the output shape, or what is wrong.
    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String>;
    /// The output for one image: `inputs` of the shapes `shapes` (as checked by
    /// [`FloatOperator::infer`]) into `out` (cleared first).
    fn forward(&self, inputs: &[&[f32]], shapes: &[&[usize]], out: &mut Vec<f32>, s: &mut Scratch);
}

/// `[C, H, W]` of a shape, or an error naming what the operator needs.
pub fn chw(shape: &[usize], what: &str) -> Result<[usize; 3], String> {
    match *shape {
        [c, h, w] => Ok([c, h, w]),
        _ => Err(format!(
            "{what} needs a [C, H, W] feature map but receives a vector {shape:?}"
        )),
    }
}

macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident($ty:ty),)*) => {
        /// One float operator with its parameters.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub enum FloatOp {
            $($(#[$doc])* $variant($ty),)*
        }

        impl FloatOp {
            /// The operator behind the variant.
            pub fn operator(&self) -> &dyn FloatOperator {
                match self {
                    $(FloatOp::$variant(o) => o,)*
                }
            }
        }

        $(impl From<$ty> for FloatOp {
            fn from(o: $ty) -> Self {
                FloatOp::$variant(o)
            }
        })*
    };
}

registry! {
    /// 2-D convolution (group 1 or depthwise).
    Conv(Conv),
    /// Fully connected.
    Dense(Dense),
    /// Rectified linear unit.
    Relu(Relu),
    /// Max pooling without padding.
    MaxPool(MaxPool),
    /// Average pooling without padding.
    AvgPool(AvgPool),
    /// Mean over each channel's plane.
    GlobalAvgPool(GlobalAvgPool),
    /// `[C, H, W]` → `[C·H·W]`.
    Flatten(Flatten),
    /// Elementwise sum of two tensors of one shape.
    Add(Add),
    /// Batch normalization (training only; folded before quantization and export).
    BatchNorm(BatchNorm),
}

impl FloatOp {
    /// The op name (`Conv`, `Dense`, ...).
    pub fn op_name(&self) -> &'static str {
        self.operator().op_name()
    }

    /// The trainable tensors `(weight, bias)`: conv and dense weights and biases, batch-norm
    /// scale (`gamma`) and shift (`beta`). `None` for operators without parameters.
    pub fn params(&self) -> Option<(&[f32], &[f32])> {
        match self {
            FloatOp::Conv(c) => Some((&c.weight, &c.bias)),
            FloatOp::Dense(d) => Some((&d.weight, &d.bias)),
            FloatOp::BatchNorm(b) => Some((&b.gamma, &b.beta)),
            _ => None,
        }
    }

    /// [`FloatOp::params`], mutable.
    pub fn params_mut(&mut self) -> Option<(&mut Vec<f32>, &mut Vec<f32>)> {
        match self {
            FloatOp::Conv(c) => Some((&mut c.weight, &mut c.bias)),
            FloatOp::Dense(d) => Some((&mut d.weight, &mut d.bias)),
            FloatOp::BatchNorm(b) => Some((&mut b.gamma, &mut b.beta)),
            _ => None,
        }
    }

    /// Output channels of a conv or dense node.
    pub fn out_channels(&self) -> Option<usize> {
        match self {
            FloatOp::Conv(c) => Some(c.out_channels),
            FloatOp::Dense(d) => Some(d.out_features),
            _ => None,
        }
    }
}
