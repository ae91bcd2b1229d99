//! The INQ level sets: Eq. 2 (`n1`), Eq. 3 (`n2`), Eq. 4 (nearest level, with clamping) and the
//! beyond-the-paper choices of `n1` ([`Levels`]).

use inq_model::numerics::{self, Weight};
use serde::{Deserialize, Serialize};

/// How the largest exponent `n1` of a level set is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Levels {
    /// The paper's Eq. 2, one `n1` per layer: `n1 = floor(log2(4s/3))`, `s = max|W|`.
    #[default]
    Paper,
    /// Eq. 2 applied to each output channel separately (one `n1` per output channel).
    PerChannel,
    /// Per layer, the `n1` that minimizes the squared quantization error of the layer.
    MinError,
    /// Per output channel, the `n1` that minimizes the channel's squared quantization error.
    MinErrorPerChannel,
}

impl Levels {
    /// True when the choice yields one `n1` per output channel.
    pub fn per_channel(self) -> bool {
        matches!(self, Levels::PerChannel | Levels::MinErrorPerChannel)
    }
    /// The name used on the command line and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            Levels::Paper => "paper",
            Levels::PerChannel => "per-channel",
            Levels::MinError => "min-error",
            Levels::MinErrorPerChannel => "min-error-per-channel",
        }
    }
}

impl std::str::FromStr for Levels {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paper" => Ok(Levels::Paper),
            "per-channel" => Ok(Levels::PerChannel),
            "min-error" => Ok(Levels::MinError),
            "min-error-per-channel" => Ok(Levels::MinErrorPerChannel),
            _ => Err(format!(
                "unknown level choice `{s}` (expected paper, per-channel, min-error or min-error-per-channel)"
            )),
        }
    }
}

/// `n1` used for an all-zero weight group (any value is exact there).
pub const N1_OF_ZERO: i32 = 0;

/// Eq. 2: `n1 = floor(log2(4s/3))` for `s = max|W|` (`N1_OF_ZERO` when `s = 0`).
pub fn n1_paper(weights: &[f32]) -> i32 {
    let s = weights.iter().fold(0f64, |m, &w| m.max(f64::from(w).abs()));
    n1_of_max(s)
}

/// Eq. 2 for a given `s = max|W|`.
pub fn n1_of_max(s: f64) -> i32 {
    if s.is_nan() || s <= 0.0 || !s.is_finite() {
        return N1_OF_ZERO;
    }
    let v = 4.0 * s / 3.0;
    let mut n = v.log2().floor() as i32;
    // Guard against rounding of log2 at exact powers of two.
    if pow2(n + 1) <= v {
        n += 1;
    }
    if pow2(n) > v {
        n -= 1;
    }
    n.clamp(-60, 60)
}

/// Eq. 3: `n2 = n1 + 1 − 2^(b−1)/2` (the smallest exponent).
pub fn n2_of(n1: i32, bits: u32) -> i32 {
    numerics::n2_from_n1(n1, bits)
}

/// `2^e` as `f64`.
pub fn pow2(e: i32) -> f64 {
    2f64.powi(e)
}

/// Eq. 4 with clamping: the level exponent of `|w|`, or `None` for zero.
///
/// `|w| < 2^(n2−1)` → 0; otherwise the nearest level `2^k`, `n2 ≤ k ≤ n1`, where ties
/// `(α+β)/2` go to the larger level `β` (as in Eq. 4). Magnitudes past the top level are
/// clamped to `2^n1`, never set to zero.
pub fn level_exponent(w: f32, n1: i32, bits: u32) -> Option<i32> {
    let a = f64::from(w).abs();
    let n2 = n2_of(n1, bits);
    if a.is_nan() || a < pow2(n2 - 1) {
        // Also catches NaN.
        return None;
    }
    // The nearest level: the largest k with 0.75·2^k ≤ a, clamped into [n2, n1].
    let mut k = (a / 0.75).log2().floor() as i32;
    if 0.75 * pow2(k + 1) <= a {
        k += 1;
    }
    if 0.75 * pow2(k) > a {
        k -= 1;
    }
    Some(k.clamp(n2, n1))
}

/// Eq. 4 with clamping as a value: `±2^k` or `0`.
pub fn quantize_value(w: f32, n1: i32, bits: u32) -> f32 {
    match level_exponent(w, n1, bits) {
        None => 0.0,
        Some(k) => {
            let v = pow2(k) as f32;
            if w < 0.0 {
                -v
            } else {
                v
            }
        }
    }
}

/// The weight code of `w` (which should already be a level of the set; any value is rounded
/// with Eq. 4 first).
pub fn encode_value(w: f32, n1: i32, bits: u32) -> u8 {
    match level_exponent(w, n1, bits) {
        None => 0,
        Some(k) => numerics::encode(
            Weight::Pow2 {
                negative: w < 0.0,
                index: (k - n2_of(n1, bits)) as u32,
            },
            bits,
        ),
    }
}

/// Squared error of quantizing `weights` with level set `(n1, bits)`.
pub fn quant_error(weights: &[f32], n1: i32, bits: u32) -> f64 {
    weights
        .iter()
        .map(|&w| {
            let d = f64::from(w) - f64::from(quantize_value(w, n1, bits));
            d * d
        })
        .sum()
}

/// The `n1` minimizing the squared quantization error, searched from Eq. 2's value down by up
/// to 6 and up by 1 (ties keep the larger `n1`).
pub fn n1_min_error(weights: &[f32], bits: u32) -> i32 {
    let base = n1_paper(weights);
    let mut best = (quant_error(weights, base, bits), base);
    for n1 in (base - 6..=base + 1).rev() {
        let e = quant_error(weights, n1, bits);
        if e < best.0 {
            best = (e, n1);
        }
    }
    best.1
}

/// The `n1` values of a weight tensor with `out` output channels (rows of `weights.len()/out`
/// elements): one entry, or one per output channel.
pub fn choose_n1(weights: &[f32], out: usize, bits: u32, levels: Levels) -> Vec<i32> {
    let row = weights.len().checked_div(out).unwrap_or(0);
    let rows = || weights.chunks(row.max(1)).take(out);
    match levels {
        Levels::Paper => vec![n1_paper(weights)],
        Levels::MinError => vec![n1_min_error(weights, bits)],
        Levels::PerChannel => rows().map(n1_paper).collect(),
        Levels::MinErrorPerChannel => rows().map(|r| n1_min_error(r, bits)).collect(),
    }
}

/// `n1` of output channel `c` in a one-or-per-channel list.
pub fn n1_at(n1: &[i32], c: usize) -> i32 {
    if n1.len() == 1 {
        n1[0]
    } else {
        n1[c]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq2_eq3_hand_values() {
        // s = 0.75 → 4s/3 = 1 → n1 = 0; s = 0.7 → log2(0.933) < 0 → n1 = -1.
        assert_eq!(n1_paper(&[0.1, -0.75]), 0);
        assert_eq!(n1_paper(&[0.7, 0.2]), -1);
        assert_eq!(n1_paper(&[3.0]), 2);
        assert_eq!(n1_paper(&[0.0]), N1_OF_ZERO);
        // Paper: b=3, n1=-1 → n2=-2; b=5 → 8 exponents.
        assert_eq!(n2_of(-1, 3), -2);
        assert_eq!(n2_of(0, 5), -7);
        assert_eq!(n2_of(-3, 2), -3);
    }

    #[test]
    fn eq4_nearest_and_clamp() {
        // b=3, n1=-1: levels {0.5, 0.25}, zero below 0.125.
        let q = |w| quantize_value(w, -1, 3);
        assert_eq!(q(0.12), 0.0);
        assert_eq!(q(0.125), 0.25);
        assert_eq!(q(-0.3), -0.25);
        assert_eq!(q(0.375), 0.5); // tie (0.25+0.5)/2 goes up
        assert_eq!(q(0.374), 0.25);
        assert_eq!(q(0.74), 0.5);
        assert_eq!(q(0.76), 0.5); // past 3β/2: clamped, not zero
        assert_eq!(q(-100.0), -0.5);
        assert_eq!(q(f32::NAN), 0.0);
    }

    #[test]
    fn min_error_not_worse_than_paper() {
        let w: Vec<f32> = (0..200)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 300.0)
            .collect();
        for bits in 2..=6 {
            let a = quant_error(&w, n1_paper(&w), bits);
            let b = quant_error(&w, n1_min_error(&w, bits), bits);
            assert!(b <= a, "bits {bits}: {b} > {a}");
        }
    }
}
