//! The interface every operator implements ([`Operator`]) and what weighted operators share:
//! the [`Output`] kind and the requantization checks and arithmetic of `docs/numerics.md` § 4–§ 7.
//!
//! Owns no operator. The operators live one per file beside this one and are registered in
//! [`super::Op`].

use serde::{Deserialize, Serialize};

use crate::numerics::{self, ActFormat};
use crate::tensor::{OpError, Tensor, TensorInfo};
use crate::weights::{WeightTensor, MAX_EXP};

/// Largest activation width the format allows.
pub const MAX_ACT_BITS: u32 = 16;
/// Largest accumulator width the format allows (so that every value fits an `i64` with room
/// for the requantization shift).
pub const MAX_ACC_BITS: u32 = 48;

/// One operator kind of the model graph: its shape rule, its checks and its reference
/// arithmetic. An implementation is a plain parameter struct (serialized in the model file);
/// the graph supplies the inputs.
pub trait Operator {
    /// The op name as written in the file (`conv`, `add`, ...).
    fn op_name(&self) -> &'static str;
    /// Number of inputs.
    fn arity(&self) -> usize {
        1
    }
    /// Checks the parameters against the inputs and returns the output's shape and format.
    fn infer(&self, inputs: &[&TensorInfo]) -> Result<TensorInfo, OpError>;
    /// The integer reference: the output for `inputs` (whose infos are `infos`, as checked by
    /// [`Operator::infer`]). `weights` are [`Operator::weights`] decoded to the integers they
    /// stand for ([`numerics::weight_int`]: `±2^k`, `q` or 0; empty without), so that a product
    /// `x · w` is [`numerics::product`]`(x, w)`.
    fn eval(&self, inputs: &[&Tensor], infos: &[&TensorInfo], weights: &[i64]) -> Tensor;
    /// The weight tensor, for operators that have one.
    fn weights(&self) -> Option<&WeightTensor> {
        None
    }
    /// The weight tensor, mutable.
    fn weights_mut(&mut self) -> Option<&mut WeightTensor> {
        None
    }
}

/// What a conv, dense or add node emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Output {
    /// Requantized activations in the given format.
    Act {
        /// Bit width.
        bits: u32,
        /// Signedness.
        signed: bool,
        /// Power-of-two scale.
        exp: i32,
    },
    /// Signed logits at accumulator width, aligned to the layer's smallest exponent (conv and
    /// dense only; the model output only).
    Logits,
}

impl Output {
    /// The activation format, if this output is requantized.
    pub fn act(&self) -> Option<ActFormat> {
        match *self {
            Output::Act { bits, signed, exp } => Some(ActFormat { bits, signed, exp }),
            Output::Logits => None,
        }
    }
    /// Builds an `Act` output from a format.
    pub fn from_act(f: ActFormat) -> Self {
        Output::Act {
            bits: f.bits,
            signed: f.signed,
            exp: f.exp,
        }
    }
}

/// Checks an activation format (`field` names it in errors).
pub fn check_act(field: &str, f: ActFormat) -> Result<(), OpError> {
    if !(2..=MAX_ACT_BITS).contains(&f.bits) {
        return Err(OpError::new(
            format!("{field}.bits"),
            format!("activation width {} outside 2..={MAX_ACT_BITS}", f.bits),
        ));
    }
    if f.exp.abs() > MAX_EXP {
        return Err(OpError::new(
            format!("{field}.exp"),
            format!("exponent {} outside -{MAX_EXP}..={MAX_EXP}", f.exp),
        ));
    }
    Ok(())
}

/// Checks the output of a requantizing node and returns its activation format (`None` for
/// logits): ReLU ⇔ unsigned output.
pub fn check_output(output: &Output, relu: bool) -> Result<Option<ActFormat>, OpError> {
    match output.act() {
        None => {
            if relu {
                return Err(OpError::new("relu", "a logits output cannot have ReLU"));
            }
            Ok(None)
        }
        Some(f) => {
            check_act("output", f)?;
            if relu == f.signed {
                return Err(OpError::new(
                    "output.signed",
                    if relu {
                        "a ReLU layer must have an unsigned output format"
                    } else {
                        "a layer without ReLU must have a signed output format"
                    },
                ));
            }
            Ok(Some(f))
        }
    }
}

/// Checks the accumulator bound and requantization shifts of a weighted node whose output
/// channel `c` has the codes `w.codes[c·row_len..]` (`docs/numerics.md` § 4, § 5, § 7).
#[allow(clippy::too_many_arguments)]
pub fn check_acc(
    w: &WeightTensor,
    bias: &[i64],
    out: usize,
    row_len: usize,
    x_max_abs: i64,
    input: ActFormat,
    output: Option<ActFormat>,
) -> Result<(), OpError> {
    let n2min = w.n2_min(out);
    for (c, &b) in bias.iter().enumerate().take(out) {
        let row = &w.codes[c * row_len..(c + 1) * row_len];
        let bound = w.acc_bound(row, b, x_max_abs);
        let mut width = numerics::signed_width_for(bound);
        match output {
            Some(f) => {
                let r = w.requant_shift(input, c, f);
                if !(-32..=62).contains(&r) {
                    return Err(OpError::new(
                        "output.exp",
                        format!("requantization shift {r} of channel {c} outside -32..=62"),
                    ));
                }
                if r < 0 {
                    width += (-r) as u32;
                }
            }
            None => width += (w.n2_of(c) - n2min) as u32,
        }
        if width > MAX_ACC_BITS {
            return Err(OpError::new(
                format!("bias[{c}]"),
                format!(
                    "channel {c} needs a {width}-bit accumulator (bound {bound}); at most {MAX_ACC_BITS} allowed"
                ),
            ));
        }
    }
    Ok(())
}

/// Turns channel `c`'s accumulator into the node's output value: requantization (§ 5) or the
/// logit alignment (§ 7).
pub fn finish(
    acc: i64,
    c: usize,
    w: &WeightTensor,
    out_count: usize,
    relu: bool,
    output: &Output,
    in_fmt: ActFormat,
) -> i64 {
    Finish::of(c, w, out_count, relu, output, in_fmt).apply(acc)
}

/// [`finish`] for one channel, its shift worked out once.
#[derive(Debug, Clone, Copy)]
pub enum Finish {
    /// Requantization by `shift`, then ReLU and saturation.
    Requantize {
        /// The rounding right shift.
        shift: i32,
        /// Whether negative values become 0.
        relu: bool,
        /// The output format.
        format: ActFormat,
    },
    /// Logit alignment: a left shift.
    Align(u32),
}

impl Finish {
    /// Channel `c`'s finish (arguments as for [`finish`]).
    pub fn of(
        c: usize,
        w: &WeightTensor,
        out_count: usize,
        relu: bool,
        output: &Output,
        in_fmt: ActFormat,
    ) -> Finish {
        match output.act() {
            Some(format) => Finish::Requantize {
                shift: w.requant_shift(in_fmt, c, format),
                relu,
                format,
            },
            None => Finish::Align((w.n2_of(c) - w.n2_min(out_count)) as u32),
        }
    }

    /// The output value of accumulator `acc`.
    pub fn apply(self, acc: i64) -> i64 {
        match self {
            Finish::Requantize {
                shift,
                relu,
                format,
            } => numerics::requantize(acc, shift, relu, format),
            Finish::Align(s) => acc << s,
        }
    }

    /// `self.apply(bias + s)` into `out` for every sum `s` of `sums` (a channel's outputs),
    /// with the requantization's constants worked out once: the rounding term joins the bias
    /// (the same integer sum, far from overflow: accumulators have at most
    /// [`MAX_ACC_BITS`] bits), and ReLU and saturation are one clamp (`max(v, 0)` then
    /// `clamp(min, max)` is `clamp(max(min, 0), max)` because `max ≥ 0`).
    pub fn apply_each(self, bias: i64, sums: impl IntoIterator<Item = i64>, out: &mut [i64]) {
        match self {
            Finish::Requantize {
                shift,
                relu,
                format,
            } if (1..63).contains(&shift) => {
                let hi = format.max();
                let lo = if relu {
                    format.min().max(0)
                } else {
                    format.min()
                }
                .min(hi);
                let add = bias + (1i64 << (shift - 1));
                for (d, s) in out.iter_mut().zip(sums) {
                    *d = ((add + s) >> shift).clamp(lo, hi);
                }
            }
            _ => {
                for (d, s) in out.iter_mut().zip(sums) {
                    *d = self.apply(bias + s);
                }
            }
        }
    }
}

/// Checks a weighted node's bias length.
pub fn check_bias(bias: &[i64], out: usize) -> Result<(), OpError> {
    if bias.len() != out {
        return Err(OpError::new(
            "bias",
            format!("has {} entries; expected {out}", bias.len()),
        ));
    }
    Ok(())
}

/// A `[C, H, W]` tensor from `data`.
pub fn map_tensor(c: usize, h: usize, w: usize, data: Vec<i64>) -> Tensor {
    Tensor {
        shape: vec![c, h, w],
        data,
    }
}
