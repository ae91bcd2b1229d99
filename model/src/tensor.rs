//! Integer tensors and what validation knows about them: [`Tensor`] (values), [`TensorInfo`]
//! (shape and format of an operator's output) and [`OpError`] (an operator's complaint, before
//! the graph names the node).

/// A tensor of integers: `shape` is `[C, H, W]` or `[N]`, `data` row-major (C-major).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    /// Shape.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub data: Vec<i64>,
}

/// Shape and number format of a tensor in a model graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// `[C, H, W]` for feature maps, `[N]` for vectors.
    pub shape: Vec<usize>,
    /// The activation format, or `None` for logits (signed, at accumulator width; only the
    /// model output may be logits).
    pub format: Option<crate::numerics::ActFormat>,
}

/// The most elements a tensor of a model may have (2^31, far above any image network, and
/// small enough that sizes derived from two tensors or from a tensor and a parameter cannot
/// overflow a `usize`). Validation refuses a model input or node output above it.
pub const MAX_ELEMENTS: usize = 1 << 31;

impl TensorInfo {
    /// Elements of the tensor.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Checks the tensor against [`MAX_ELEMENTS`] (with an overflow-free product).
    pub fn check_size(&self) -> Result<(), OpError> {
        match self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) {
            Some(n) if n <= MAX_ELEMENTS => Ok(()),
            _ => Err(OpError::new(
                "",
                format!(
                    "shape {:?} has more than {MAX_ELEMENTS} elements (the most a tensor may have)",
                    self.shape
                ),
            )),
        }
    }

    /// `[C, H, W]`, or an error naming what is expected.
    pub fn chw(&self) -> Result<[usize; 3], OpError> {
        match self.shape.as_slice() {
            [c, h, w] => Ok([*c, *h, *w]),
            s => Err(OpError::new(
                "",
                format!("needs a [C, H, W] feature map; got shape {s:?}"),
            )),
        }
    }

    /// The activation format, or an error: logits can only be the model output.
    pub fn act(&self) -> Result<crate::numerics::ActFormat, OpError> {
        self.format.ok_or_else(|| {
            OpError::new(
                "",
                "its input is a logits tensor, which only the model output may be",
            )
        })
    }
}

/// What is wrong with an operator's parameters or inputs. `field` is relative to the node
/// (`in_channels`, `weights.codes[17]`, empty for the node as a whole); the graph adds the
/// node's name and index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// Field path relative to the node.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl OpError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        OpError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error with `prefix.` in front of its field.
    pub fn under(self, prefix: &str) -> Self {
        let field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        OpError {
            field,
            message: self.message,
        }
    }
}
