//! `add`: the elementwise sum of two tensors of the same shape (a residual connection), both
//! aligned to the finer exponent by left shifts, then requantized to the output format with
//! rounding, optional ReLU and saturation (`docs/numerics.md` § 6a).

use serde::{Deserialize, Serialize};

use super::api::{check_output, Operator, Output, MAX_ACC_BITS};
use crate::numerics::{self, ActFormat};
use crate::tensor::{OpError, Tensor, TensorInfo};

/// Largest alignment shift between the two inputs of an add.
pub const MAX_ALIGN: i32 = 24;

/// Elementwise addition of two tensors with requantization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Add {
    /// Clamp negative sums to zero (requires an unsigned output format).
    pub relu: bool,
    /// The output format (an add never emits logits).
    pub output: Output,
}

/// The integer arithmetic of an add, derived from its input and output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddArith {
    /// Left shift of input `a` to the common exponent.
    pub shift_a: u32,
    /// Left shift of input `b`.
    pub shift_b: u32,
    /// Requantization shift `r = out.exp − min(a.exp, b.exp)` (positive: rounding right shift).
    pub shift: i32,
    /// Width of the aligned sum (two's complement).
    pub sum_width: u32,
    /// The output format.
    pub output: ActFormat,
    /// ReLU before saturation.
    pub relu: bool,
}

impl AddArith {
    /// The arithmetic of an add of `a` and `b` into `out`.
    pub fn new(a: ActFormat, b: ActFormat, out: ActFormat, relu: bool) -> Self {
        let e = numerics::add_exp(a.exp, b.exp);
        let (shift_a, shift_b) = ((a.exp - e) as u32, (b.exp - e) as u32);
        let bound = (i128::from(a.max_abs()) << shift_a) + (i128::from(b.max_abs()) << shift_b);
        AddArith {
            shift_a,
            shift_b,
            shift: out.exp - e,
            sum_width: numerics::signed_width_for(bound),
            output: out,
            relu,
        }
    }

    /// One output value.
    pub fn apply(&self, a: i64, b: i64) -> i64 {
        let s = (a << self.shift_a) + (b << self.shift_b);
        numerics::requantize(s, self.shift, self.relu, self.output)
    }
}

impl Add {
    /// The arithmetic for inputs of formats `a` and `b` (the output must be an activation
    /// format: checked by [`Operator::infer`]).
    pub fn arith(&self, a: ActFormat, b: ActFormat) -> Option<AddArith> {
        self.output.act().map(|o| AddArith::new(a, b, o, self.relu))
    }
}

impl Operator for Add {
    fn op_name(&self) -> &'static str {
        "add"
    }

    fn arity(&self) -> usize {
        2
    }

    fn infer(&self, inputs: &[&TensorInfo]) -> Result<TensorInfo, OpError> {
        let (a, b) = (inputs[0], inputs[1]);
        let fa = a.act().map_err(|e| e.under("inputs[0]"))?;
        let fb = b.act().map_err(|e| e.under("inputs[1]"))?;
        if a.shape != b.shape {
            return Err(OpError::new(
                "inputs",
                format!(
                    "the two inputs have different shapes {:?} and {:?}",
                    a.shape, b.shape
                ),
            ));
        }
        let Some(of) = check_output(&self.output, self.relu)? else {
            return Err(OpError::new("output", "an add cannot output logits"));
        };
        let d = (fa.exp - fb.exp).abs();
        if d > MAX_ALIGN {
            return Err(OpError::new(
                "inputs",
                format!(
                    "the inputs' exponents {} and {} are more than {MAX_ALIGN} apart",
                    fa.exp, fb.exp
                ),
            ));
        }
        let ar = AddArith::new(fa, fb, of, self.relu);
        if !(-32..=62).contains(&ar.shift) {
            return Err(OpError::new(
                "output.exp",
                format!("requantization shift {} outside -32..=62", ar.shift),
            ));
        }
        let width = ar.sum_width + (-ar.shift).max(0) as u32;
        if width > MAX_ACC_BITS {
            return Err(OpError::new(
                "output.exp",
                format!("the sum needs {width} bits; at most {MAX_ACC_BITS} allowed"),
            ));
        }
        Ok(TensorInfo {
            shape: a.shape.clone(),
            format: Some(of),
        })
    }

    fn eval(&self, inputs: &[&Tensor], infos: &[&TensorInfo], _: &[i64]) -> Tensor {
        let (a, b) = (inputs[0], inputs[1]);
        let data = match (infos[0].format, infos[1].format, self.output.act()) {
            (Some(fa), Some(fb), Some(of)) => {
                let ar = AddArith::new(fa, fb, of, self.relu);
                a.data
                    .iter()
                    .zip(&b.data)
                    .map(|(&x, &y)| ar.apply(x, y))
                    .collect()
            }
            _ => vec![0; a.data.len()],
        };
        Tensor {
            shape: a.shape.clone(),
            data,
        }
    }
}
