//! The integer arithmetic of `docs/numerics.md` as small pure functions on plain values.
//!
//! Owns the activation format ([`ActFormat`]), the weight-code kinds and layouts
//! ([`WeightKind`], [`Weight`], [`decode_kind`], [`encode`]), products, rounding, saturation,
//! the alignment of an elementwise add and the accumulator bounds. It depends on nothing else
//! in the crate: the weight tensor ([`crate::weights`]), the operators ([`crate::ops`]), the
//! reference, the hardware plan, the simulator and the generated RTL all derive their
//! constants from these functions, so each rule is written once.

use serde::{Deserialize, Serialize};

/// A fixed-point activation format: an integer `q` of `bits` bits stands for `q · 2^exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActFormat {
    /// Total bit width including the sign bit when `signed`.
    pub bits: u32,
    /// Two's-complement signed (`true`) or unsigned (`false`).
    pub signed: bool,
    /// Power-of-two scale: the real value is `q · 2^exp`.
    pub exp: i32,
}

impl ActFormat {
    /// Smallest representable integer.
    pub fn min(&self) -> i64 {
        if self.signed {
            -(1i64 << (self.bits - 1))
        } else {
            0
        }
    }
    /// Largest representable integer.
    pub fn max(&self) -> i64 {
        if self.signed {
            (1i64 << (self.bits - 1)) - 1
        } else {
            (1i64 << self.bits) - 1
        }
    }
    /// Largest magnitude an integer of this format can have (`max(|min|, |max|)`).
    pub fn max_abs(&self) -> i64 {
        self.max().max(-self.min())
    }
}

/// How the codes of a weight tensor encode weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightKind {
    /// INQ codes: `0` or `±2^(n2_c + k)`; the hardware multiplies with a shift (the default,
    /// and the only kind of files written before the field existed).
    #[default]
    Pow2,
    /// Uniform integers: the code is a `b`-bit two's-complement integer `q` in
    /// `[-(2^(b-1)-1), 2^(b-1)-1]` (the most negative value is rejected, so the range is
    /// symmetric) standing for `q · 2^(n2_c)` with `n2_c = n1_c - (b - 2)`; the hardware
    /// multiplies with a real multiplier.
    Int,
}

impl WeightKind {
    /// True for [`WeightKind::Pow2`] (used to omit the default from the JSON).
    pub fn is_pow2(&self) -> bool {
        matches!(self, WeightKind::Pow2)
    }
    /// The name used in files and on the command line (`pow2`, `int`).
    pub fn name(&self) -> &'static str {
        match self {
            WeightKind::Pow2 => "pow2",
            WeightKind::Int => "int",
        }
    }
}

/// Number of exponent levels of a `bits`-bit code: `2^(bits-2)`.
pub fn levels(bits: u32) -> u32 {
    1u32 << (bits - 2)
}

/// `n2 = n1 + 1 - 2^(b-2)`: the smallest exponent of the level set (INQ Eq. 3).
pub fn n2_from_n1(n1: i32, bits: u32) -> i32 {
    n1 + 1 - levels(bits) as i32
}

/// `n2` of a tensor of the given kind: [`n2_from_n1`] for INQ codes, `n1 - (b - 2)` for
/// uniform integers (so that `2^n1 ≤ (2^(b-1)-1)·2^n2 < 2^(n1+1)`: `n1` stays the exponent of
/// the largest representable magnitude, rounded down).
pub fn n2_from_n1_kind(kind: WeightKind, n1: i32, bits: u32) -> i32 {
    match kind {
        WeightKind::Pow2 => n2_from_n1(n1, bits),
        WeightKind::Int => n1 - (bits as i32 - 2),
    }
}

/// Largest magnitude `2^(b-1) - 1` of a `bits`-bit uniform integer weight.
pub fn int_max(bits: u32) -> i64 {
    (1i64 << (bits - 1)) - 1
}

/// A decoded weight code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// The weight 0.
    Zero,
    /// A non-zero uniform integer `q` (`|q| ≤ 2^(b-1) - 1`) at the channel's accumulator scale
    /// ([`WeightKind::Int`]).
    Int(i64),
    /// `sign · 2^(n2 + index)`; `negative` is the sign.
    Pow2 {
        /// True for a negative weight.
        negative: bool,
        /// Exponent index `k` in `0..2^(b-2)`: the left shift applied to the activation.
        index: u32,
    },
}

/// Why a code is not a valid `bits`-bit weight code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeError {
    /// The code has bits set above bit `b-1`.
    TooWide,
    /// The non-zero flag is clear but other bits are set.
    DirtyZero,
    /// A uniform integer code holds the most negative value `-2^(b-1)` (the range is
    /// symmetric).
    MostNegative,
}

/// Decodes one code of a tensor of the given kind (layouts in `crate::weights::WeightTensor`).
pub fn decode_kind(kind: WeightKind, code: u8, bits: u32) -> Result<Weight, CodeError> {
    match kind {
        WeightKind::Pow2 => decode(code, bits),
        WeightKind::Int => {
            let c = i64::from(code);
            if c >> bits != 0 {
                return Err(CodeError::TooWide);
            }
            let q = if c >> (bits - 1) & 1 == 1 {
                c - (1i64 << bits)
            } else {
                c
            };
            if q == -(1i64 << (bits - 1)) {
                Err(CodeError::MostNegative)
            } else if q == 0 {
                Ok(Weight::Zero)
            } else {
                Ok(Weight::Int(q))
            }
        }
    }
}

/// Decodes one INQ code (layout in `crate::weights::WeightTensor`, kind `pow2`). A code of a uniform-integer
/// tensor must go through [`decode_kind`].
pub fn decode(code: u8, bits: u32) -> Result<Weight, CodeError> {
    let code = u32::from(code);
    if code >> bits != 0 {
        return Err(CodeError::TooWide);
    }
    let nz = (code >> (bits - 1)) & 1;
    if nz == 0 {
        return if code == 0 {
            Ok(Weight::Zero)
        } else {
            Err(CodeError::DirtyZero)
        };
    }
    let negative = (code >> (bits - 2)) & 1 == 1;
    let index = code & (levels(bits) - 1);
    Ok(Weight::Pow2 { negative, index })
}

/// Encodes a weight as a `bits`-bit code. `index` must be below `2^(bits-2)`; an `Int` must
/// satisfy `|q| ≤ 2^(bits-1) - 1` (its code is the low `bits` bits of `q`).
pub fn encode(w: Weight, bits: u32) -> u8 {
    match w {
        Weight::Zero => 0,
        Weight::Int(q) => {
            debug_assert!(q.abs() <= int_max(bits));
            (q & ((1i64 << bits) - 1)) as u8
        }
        Weight::Pow2 { negative, index } => {
            debug_assert!(index < levels(bits));
            ((1u32 << (bits - 1)) | (u32::from(negative) << (bits - 2)) | index) as u8
        }
    }
}

/// The signed integer weight at the channel's accumulator scale: `±2^index`, `q` or 0.
pub fn weight_int(w: Weight) -> i64 {
    match w {
        Weight::Zero => 0,
        Weight::Int(q) => q,
        Weight::Pow2 { negative, index } => {
            let m = 1i64 << index;
            if negative {
                -m
            } else {
                m
            }
        }
    }
}

/// The product of an activation and a weight, computed as the hardware does: for an INQ weight
/// a left shift by the exponent index and a conditional negation (no multiplication); for a
/// uniform integer weight a multiplication `x · q`.
pub fn product(x: i64, w: Weight) -> i64 {
    match w {
        Weight::Zero => 0,
        Weight::Int(q) => x * q,
        Weight::Pow2 { negative, index } => {
            let s = x << index;
            if negative {
                -s
            } else {
                s
            }
        }
    }
}

/// Arithmetic right shift by `r > 0` with round-half-up (towards +∞ on ties):
/// `(v + 2^(r-1)) >> r`. For `r <= 0` a left shift by `-r`.
pub fn shift_round(v: i64, r: i32) -> i64 {
    if r > 0 {
        let r = r as u32;
        if r >= 63 {
            // Every representable value rounds to 0 or -1 ... except that +2^(r-1) does not
            // fit; values are bounded far below that by validation.
            return if v < 0 { -1 } else { 0 };
        }
        (v + (1i64 << (r - 1))) >> r
    } else {
        v << (-r) as u32
    }
}

/// Clamps to the format's range, with ReLU first if `relu`.
pub fn saturate(v: i64, relu: bool, f: ActFormat) -> i64 {
    let v = if relu { v.max(0) } else { v };
    v.clamp(f.min(), f.max())
}

/// Full requantization of one accumulator value: shift with rounding, ReLU, saturate.
pub fn requantize(acc: i64, r: i32, relu: bool, f: ActFormat) -> i64 {
    saturate(shift_round(acc, r), relu, f)
}

/// The worst-case bound `B_c = |bias_c| + max|x| · Σ_i |w_i|` over the weights of output
/// channel `c` (`|w_i| = 2^k_i` for INQ codes, `|q_i|` for uniform integers); every
/// accumulator value of the channel satisfies `|acc| ≤ B_c`. `row` are the channel's codes of
/// INQ kind, `pad_value` is included in `max|x|`.
pub fn acc_bound_row(row: &[u8], bits: u32, bias: i64, x_max_abs: i64) -> i128 {
    acc_bound_row_kind(WeightKind::Pow2, row, bits, bias, x_max_abs)
}

/// [`acc_bound_row`] for codes of either kind.
pub fn acc_bound_row_kind(
    kind: WeightKind,
    row: &[u8],
    bits: u32,
    bias: i64,
    x_max_abs: i64,
) -> i128 {
    let mut sum: i128 = 0;
    for &code in row {
        match decode_kind(kind, code, bits) {
            Ok(Weight::Pow2 { index, .. }) => sum += 1i128 << index.min(126),
            Ok(Weight::Int(q)) => sum += i128::from(q.abs()),
            _ => {}
        }
    }
    i128::from(bias).abs() + i128::from(x_max_abs) * sum
}

/// Bits of a two's-complement integer that holds every value in `[-b, b]`.
pub fn signed_width_for(b: i128) -> u32 {
    // smallest w with 2^(w-1) - 1 >= b
    let mut w = 1u32;
    while w < 127 && ((1i128 << (w - 1)) - 1) < b {
        w += 1;
    }
    w
}

/// The common exponent of an elementwise add of tensors with exponents `ea` and `eb`: the
/// finer of the two (`docs/numerics.md` § 6a).
pub fn add_exp(ea: i32, eb: i32) -> i32 {
    ea.min(eb)
}

/// The exact sum of `a · 2^ea` and `b · 2^eb` as an integer at the scale `2^add_exp(ea, eb)`:
/// each operand is shifted left by its distance to the common exponent.
pub fn add_aligned(a: i64, ea: i32, b: i64, eb: i32) -> i64 {
    let e = add_exp(ea, eb);
    (a << (ea - e) as u32) + (b << (eb - e) as u32)
}

/// Right shift of a global average pool over `n` elements: `ceil(log2(n))` (exact for a
/// power of two; otherwise the result is the mean times `n / 2^shift`, a gain the quantizer
/// folds into the consumer's weights, `docs/numerics.md` § 6).
pub fn gap_shift(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// `ceil(log2(n))` for a power of two `n`, or `None` if `n` is not a power of two.
pub fn log2_exact(n: usize) -> Option<u32> {
    if n.is_power_of_two() {
        Some(n.trailing_zeros())
    } else {
        None
    }
}

/// Argmax with ties broken towards the lowest index.
pub fn argmax(v: &[i64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_set_matches_paper() {
        // b=5: 8 exponents; b=3, n1=-1 gives n2=-2; b=2 ternary n2 = n1.
        assert_eq!(levels(5), 8);
        assert_eq!(n2_from_n1(-1, 3), -2);
        assert_eq!(n2_from_n1(-3, 2), -3);
        assert_eq!(n2_from_n1(0, 5), -7);
    }

    #[test]
    fn code_layout() {
        // 5-bit: nz=1, sign=1, index=3 -> 0b11011
        assert_eq!(
            decode(0b11011, 5),
            Ok(Weight::Pow2 {
                negative: true,
                index: 3
            })
        );
        assert_eq!(decode(0, 5), Ok(Weight::Zero));
        assert_eq!(decode(0b00001, 5), Err(CodeError::DirtyZero));
        assert_eq!(decode(0b100000, 5), Err(CodeError::TooWide));
        // 2-bit ternary: 0, 2 (+), 3 (-); 1 invalid.
        assert_eq!(
            decode(2, 2),
            Ok(Weight::Pow2 {
                negative: false,
                index: 0
            })
        );
        assert_eq!(
            decode(3, 2),
            Ok(Weight::Pow2 {
                negative: true,
                index: 0
            })
        );
        assert_eq!(decode(1, 2), Err(CodeError::DirtyZero));
        for bits in 2..=8 {
            for code in 0..=255u8 {
                if let Ok(w) = decode(code, bits) {
                    assert_eq!(encode(w, bits), code);
                }
            }
        }
    }

    #[test]
    fn product_is_shift_and_negate() {
        let w = Weight::Pow2 {
            negative: true,
            index: 3,
        };
        assert_eq!(product(5, w), -40);
        assert_eq!(product(-7, w), 56);
        assert_eq!(product(9, Weight::Zero), 0);
        assert_eq!(weight_int(w), -8);
    }

    /// The reference multiplies by [`weight_int`]; that is the shift-and-negate product for
    /// every code of every width and kind, over activations up to 16 bits, wherever the product
    /// fits an `i64` (validation bounds every accumulator to 48 bits).
    #[test]
    fn product_is_the_weight_as_an_integer_times_x() {
        for kind in [WeightKind::Pow2, WeightKind::Int] {
            for bits in 2..=8u32 {
                for code in 0..(1u16 << bits) {
                    let Ok(w) = decode_kind(kind, code as u8, bits) else {
                        continue;
                    };
                    // a shift of 48 or more cannot pass validation (48-bit accumulators)
                    if matches!(w, Weight::Pow2 { index, .. } if index >= 48) {
                        continue;
                    }
                    for x in [-65535i64, -32768, -129, -1, 0, 1, 3, 127, 255, 32767, 65535] {
                        if let Some(p) = x.checked_mul(weight_int(w)) {
                            assert_eq!(p, product(x, w), "{w:?} x {x}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn int_codes() {
        let k = WeightKind::Int;
        assert_eq!(decode_kind(k, 0, 8), Ok(Weight::Zero));
        assert_eq!(decode_kind(k, 127, 8), Ok(Weight::Int(127)));
        assert_eq!(decode_kind(k, 0x81, 8), Ok(Weight::Int(-127)));
        assert_eq!(decode_kind(k, 0x80, 8), Err(CodeError::MostNegative));
        assert_eq!(decode_kind(k, 0b111, 3), Ok(Weight::Int(-1)));
        assert_eq!(decode_kind(k, 0b1000, 3), Err(CodeError::TooWide));
        for bits in 2..=8 {
            for code in 0..=255u8 {
                if let Ok(w) = decode_kind(k, code, bits) {
                    assert_eq!(encode(w, bits), code);
                    assert!(weight_int(w).abs() <= int_max(bits));
                }
            }
        }
        assert_eq!(product(-5, Weight::Int(-7)), 35);
        assert_eq!(n2_from_n1_kind(k, 0, 8), -6);
        assert_eq!(
            acc_bound_row_kind(k, &[0x81, 3, 0], 8, -2, 10),
            2 + 10 * 130
        );
    }

    #[test]
    fn add_alignment_and_gap_shift() {
        // 3·2^-2 + 5·2^-4 = 12·2^-4 + 5·2^-4 = 17·2^-4
        assert_eq!(add_exp(-2, -4), -4);
        assert_eq!(add_aligned(3, -2, 5, -4), 17);
        assert_eq!(add_aligned(-3, 0, 5, 0), 2);
        assert_eq!(gap_shift(1), 0);
        assert_eq!(gap_shift(4), 2);
        assert_eq!(gap_shift(49), 6);
        assert_eq!(gap_shift(64), 6);
        assert_eq!(gap_shift(65), 7);
    }

    #[test]
    fn rounding_is_half_up() {
        assert_eq!(shift_round(5, 1), 3); // 2.5 -> 3
        assert_eq!(shift_round(-5, 1), -2); // -2.5 -> -2
        assert_eq!(shift_round(-6, 2), -1); // -1.5 -> -1
        assert_eq!(shift_round(6, 2), 2); // 1.5 -> 2
        assert_eq!(shift_round(7, 2), 2); // 1.75 -> 2
        assert_eq!(shift_round(-7, 2), -2); // -1.75 -> -2
        assert_eq!(shift_round(3, 0), 3);
        assert_eq!(shift_round(3, -2), 12);
    }

    #[test]
    fn saturation_and_relu() {
        let u8f = ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        };
        let s4 = ActFormat {
            bits: 4,
            signed: true,
            exp: 0,
        };
        assert_eq!(saturate(300, true, u8f), 255);
        assert_eq!(saturate(-3, true, u8f), 0);
        assert_eq!(saturate(-30, false, s4), -8);
        assert_eq!(saturate(30, false, s4), 7);
        assert_eq!(requantize(1000, 2, true, u8f), 250);
        assert_eq!(requantize(1022, 2, true, u8f), 255);
    }

    #[test]
    fn bound_and_width() {
        // codes: +2^0, -2^2, 0  (bits 4: levels 4, index in 0..4)
        let row = [
            encode(
                Weight::Pow2 {
                    negative: false,
                    index: 0,
                },
                4,
            ),
            encode(
                Weight::Pow2 {
                    negative: true,
                    index: 2,
                },
                4,
            ),
            0,
        ];
        assert_eq!(acc_bound_row(&row, 4, -3, 255), 3 + 255 * 5);
        assert_eq!(signed_width_for(127), 8);
        assert_eq!(signed_width_for(128), 9);
        assert_eq!(signed_width_for(0), 1);
        assert_eq!(argmax(&[1, 5, 5, 2]), 1);
    }
}
