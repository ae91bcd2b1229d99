//! The operators of the model graph, one file each, and their registry.
//!
//! Each operator is a parameter struct implementing [`Operator`] (its shape rule, checks and
//! reference arithmetic) in its own file. This file is the one dispatch point: the [`Op`] enum
//! names every operator, maps the file's `op` tag to its struct ([`Op::from_parts`]) and hands
//! out the trait object ([`Op::operator`]). Adding an operator means adding its file and one
//! line in the `registry!` invocation below.

pub mod add;
pub mod api;
pub mod conv;
pub mod dense;
pub mod flatten;
pub mod global_avg_pool;
pub mod pool;

pub use add::{Add, AddArith};
pub use api::{Operator, Output, MAX_ACC_BITS, MAX_ACT_BITS};
pub use conv::Conv;
pub use dense::Dense;
pub use flatten::Flatten;
pub use global_avg_pool::GlobalAvgPool;
pub use pool::{AvgPool, MaxPool, Window};

use serde_json::Value;

/// Declares [`Op`] and its dispatch from one line per operator: variant, parameter struct and
/// file tag.
macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident($ty:ty) = $tag:literal,)*) => {
        /// One operator with its parameters (the part of a node that is not its name and
        /// inputs).
        #[derive(Debug, Clone, PartialEq)]
        pub enum Op {
            $($(#[$doc])* $variant($ty),)*
        }

        /// The op tags of the file format, in registry order.
        pub const OP_NAMES: &[&str] = &[$($tag),*];

        impl Op {
            /// The operator behind the tag.
            pub fn operator(&self) -> &dyn Operator {
                match self {
                    $(Op::$variant(o) => o,)*
                }
            }

            /// The operator behind the tag, mutable.
            pub fn operator_mut(&mut self) -> &mut dyn Operator {
                match self {
                    $(Op::$variant(o) => o,)*
                }
            }

            /// Parses the parameters `body` (a JSON object without `name`, `inputs` and `op`)
            /// of an operator tagged `op`.
            pub fn from_parts(op: &str, body: Value) -> Result<Op, String> {
                match op {
                    $($tag => serde_json::from_value(body)
                        .map(Op::$variant)
                        .map_err(|e| e.to_string()),)*
                    other => Err(format!(
                        "unknown op \"{}\" (known: {})",
                        other.escape_debug(),
                        OP_NAMES.join(", ")
                    )),
                }
            }

            /// The parameters as a JSON object (without `name`, `inputs` and `op`).
            pub fn to_body(&self) -> Result<Value, serde_json::Error> {
                match self {
                    $(Op::$variant(o) => serde_json::to_value(o),)*
                }
            }
        }
    };
}

registry! {
    /// 2-D convolution (also depthwise).
    Conv(Conv) = "conv",
    /// Fully connected.
    Dense(Dense) = "dense",
    /// Max pooling.
    MaxPool(MaxPool) = "max_pool",
    /// Average pooling with a power-of-two window.
    AvgPool(AvgPool) = "avg_pool",
    /// Average over each channel's plane.
    GlobalAvgPool(GlobalAvgPool) = "global_avg_pool",
    /// `[C, H, W]` → `[C·H·W]`.
    Flatten(Flatten) = "flatten",
    /// Elementwise sum of two tensors.
    Add(Add) = "add",
}

impl Op {
    /// The op tag as written in the file.
    pub fn name(&self) -> &'static str {
        self.operator().op_name()
    }
}
