//! The weight tensor of a conv or dense operator: codes, level sets, and the per-channel scale
//! rules that follow from them (`docs/numerics.md` § 1, § 5, § 9).
//!
//! Owns [`WeightTensor`] and its checks ([`WeightTensor::check`]). It does not know which
//! operator holds it: the operator passes its output-channel count and fan-in.

use serde::{Deserialize, Serialize};

use crate::numerics::{self, ActFormat, CodeError, Weight, WeightKind};
use crate::tensor::OpError;

/// The weights of a conv or dense layer as codes.
///
/// Code layout for `bits = b` and `kind = pow2` (the default; see `docs/numerics.md`): bit
/// `b-1` is the non-zero flag, bit `b-2` the sign (1 = negative), bits `b-3..0` the exponent
/// index `k`. Code `0` is the weight 0. A non-zero code stands for `±2^(n2_c + k)` where
/// `n2_c = n1_c + 1 - 2^(b-2)`.
///
/// For `kind = int` the code is the low `b` bits of a two's-complement integer `q`
/// (`|q| ≤ 2^(b-1) - 1`) standing for `q · 2^(n2_c)` where `n2_c = n1_c - (b - 2)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightTensor {
    /// How the codes encode weights (absent in the file: [`WeightKind::Pow2`]).
    #[serde(default, skip_serializing_if = "WeightKind::is_pow2")]
    pub kind: WeightKind,
    /// Code width `b` in bits, 2..=8.
    pub bits: u32,
    /// Largest exponent of the level set: one entry for the whole layer, or one per output
    /// channel.
    pub n1: Vec<i32>,
    /// The codes in row-major order of the layer's weight shape (`[out, in/group, kh, kw]`
    /// for conv, `[out, in]` for dense).
    pub codes: Vec<u8>,
}

/// Largest magnitude of an activation or level exponent.
pub const MAX_EXP: i32 = 64;

impl WeightTensor {
    /// Decodes one code of this tensor (kind-aware, see [`numerics::decode_kind`]).
    pub fn decode(&self, code: u8) -> Result<Weight, CodeError> {
        numerics::decode_kind(self.kind, code, self.bits)
    }

    /// Every code decoded (invalid codes, which validation rejects, as zero).
    pub fn decode_all(&self) -> Vec<Weight> {
        self.codes
            .iter()
            .map(|&c| self.decode(c).unwrap_or(Weight::Zero))
            .collect()
    }

    /// `n1` of output channel `c` (a one-element `n1` applies to every channel).
    pub fn n1_of(&self, c: usize) -> i32 {
        if self.n1.len() == 1 {
            self.n1[0]
        } else {
            self.n1[c]
        }
    }

    /// `n2` of output channel `c` (the exponent of one unit of the integer weight, either kind).
    pub fn n2_of(&self, c: usize) -> i32 {
        numerics::n2_from_n1_kind(self.kind, self.n1_of(c), self.bits)
    }

    /// The smallest `n2` over all `out` channels.
    pub fn n2_min(&self, out: usize) -> i32 {
        (0..out).map(|c| self.n2_of(c)).min().unwrap_or(0)
    }

    /// Scale exponent of channel `c`'s accumulator: `in.exp + n2_c`.
    pub fn acc_exp(&self, input: ActFormat, c: usize) -> i32 {
        input.exp + self.n2_of(c)
    }

    /// Requantization shift of channel `c`: `r_c = out.exp - (in.exp + n2_c)`. Positive means
    /// an arithmetic right shift with rounding, zero or negative a left shift.
    pub fn requant_shift(&self, input: ActFormat, c: usize, output: ActFormat) -> i32 {
        output.exp - self.acc_exp(input, c)
    }

    /// The worst-case accumulator bound of output channel `c` whose codes are `row`
    /// ([`numerics::acc_bound_row_kind`]).
    pub fn acc_bound(&self, row: &[u8], bias: i64, x_max_abs: i64) -> i128 {
        numerics::acc_bound_row_kind(self.kind, row, self.bits, bias, x_max_abs)
    }

    /// Checks code width, level sets and every code for a tensor of `out` output channels and
    /// `count` codes. Errors name the field relative to the tensor (`bits`, `n1[3]`,
    /// `codes[17]`).
    pub fn check(&self, out: usize, count: usize) -> Result<(), OpError> {
        if !(2..=8).contains(&self.bits) {
            return Err(OpError::new(
                "bits",
                format!("weight code width {} outside 2..=8", self.bits),
            ));
        }
        if self.n1.len() != 1 && self.n1.len() != out {
            return Err(OpError::new(
                "n1",
                format!(
                    "has {} entries; expected 1 or {out} (one per output channel)",
                    self.n1.len()
                ),
            ));
        }
        for (i, &n1) in self.n1.iter().enumerate() {
            if n1.abs() > MAX_EXP {
                return Err(OpError::new(
                    format!("n1[{i}]"),
                    format!("exponent {n1} outside -{MAX_EXP}..={MAX_EXP}"),
                ));
            }
        }
        if self.codes.len() != count {
            return Err(OpError::new(
                "codes",
                format!(
                    "has {} codes; the layer's weight shape needs {count}",
                    self.codes.len()
                ),
            ));
        }
        for (i, &c) in self.codes.iter().enumerate() {
            if let Err(e) = self.decode(c) {
                let why = match e {
                    CodeError::TooWide => format!("code {c} does not fit {} bits", self.bits),
                    CodeError::DirtyZero => format!(
                        "code {c} has the non-zero flag clear but other bits set (only 0 encodes zero)"
                    ),
                    CodeError::MostNegative => format!(
                        "code {c} is the most negative {}-bit integer; uniform integer weights are symmetric (|q| <= {})",
                        self.bits,
                        numerics::int_max(self.bits)
                    ),
                };
                return Err(OpError::new(format!("codes[{i}]"), why));
            }
        }
        Ok(())
    }
}
