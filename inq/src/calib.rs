//! Activation calibration: choosing the power-of-two scale `2^exp` of each fixed-point
//! activation tensor from sample values.

use serde::{Deserialize, Serialize};

/// How the activation exponent is chosen from calibration values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Calibration {
    /// The smallest exponent whose range holds the largest calibration value (no clipping).
    Max,
    /// The exponent minimizing the total squared clipping + rounding error over the
    /// calibration values (searched from the `Max` exponent down by 8).
    #[default]
    Mse,
}

impl Calibration {
    /// The name used on the command line and in provenance.
    pub fn name(self) -> &'static str {
        match self {
            Calibration::Max => "max",
            Calibration::Mse => "mse",
        }
    }
}

impl std::str::FromStr for Calibration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "max" => Ok(Calibration::Max),
            "mse" => Ok(Calibration::Mse),
            _ => Err(format!("unknown calibration `{s}` (expected max or mse)")),
        }
    }
}

/// Integer range of a `bits`-bit format.
pub fn range(bits: u32, signed: bool) -> (f64, f64) {
    if signed {
        (
            -(2f64.powi(bits as i32 - 1)),
            2f64.powi(bits as i32 - 1) - 1.0,
        )
    } else {
        (0.0, 2f64.powi(bits as i32) - 1.0)
    }
}

/// Rounds `v / 2^exp` half up (as the hardware's requantization does) and saturates.
pub fn to_int(v: f32, exp: i32, bits: u32, signed: bool) -> f64 {
    let (lo, hi) = range(bits, signed);
    (f64::from(v) * 2f64.powi(-exp) + 0.5).floor().clamp(lo, hi)
}

/// `to_int(v) · 2^exp`: the value the fixed-point format represents.
pub fn fake_quant(v: f32, exp: i32, bits: u32, signed: bool) -> f32 {
    (to_int(v, exp, bits, signed) * 2f64.powi(exp)) as f32
}

/// Squared error of representing `values` in the format.
pub fn error(values: &[f32], exp: i32, bits: u32, signed: bool) -> f64 {
    values
        .iter()
        .map(|&v| {
            let d = f64::from(v) - f64::from(fake_quant(v, exp, bits, signed));
            d * d
        })
        .sum()
}

/// The exponent of the `Max` rule: smallest `e` with `max|v| ≤ hi · 2^e`.
pub fn exp_max(values: &[f32], bits: u32, signed: bool) -> i32 {
    let (lo, hi) = range(bits, signed);
    let m = values.iter().fold(0f64, |m, &v| {
        let v = f64::from(v);
        m.max(if v < 0.0 { v / lo * hi } else { v })
    });
    if m.is_nan() || m <= 0.0 || !m.is_finite() {
        return 0;
    }
    let mut e = (m / hi).log2().ceil() as i32;
    while hi * 2f64.powi(e - 1) >= m {
        e -= 1;
    }
    while hi * 2f64.powi(e) < m {
        e += 1;
    }
    e.clamp(-60, 60)
}

/// Chooses the exponent for `values` (a subsample of at most ~1M values is used).
pub fn choose_exp(values: &[f32], bits: u32, signed: bool, method: Calibration) -> i32 {
    let top = exp_max(values, bits, signed);
    match method {
        Calibration::Max => top,
        Calibration::Mse => {
            let stride = (values.len() / 1_000_000).max(1);
            let sample: Vec<f32> = values.iter().step_by(stride).copied().collect();
            let mut best = (error(&sample, top, bits, signed), top);
            for e in (top - 8..top).rev() {
                let err = error(&sample, e, bits, signed);
                if err < best.0 {
                    best = (err, e);
                }
            }
            best.1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_and_mse() {
        // max 10 in u8 → 255·2^e ≥ 10 → e = -4 (255/16 = 15.9), e=-5 gives 7.97 < 10.
        let v = [0.0, 1.0, 10.0];
        assert_eq!(exp_max(&v, 8, false), -4);
        assert_eq!(fake_quant(10.0, -4, 8, false), 10.0);
        assert_eq!(fake_quant(100.0, -4, 8, false), 255.0 / 16.0);
        assert_eq!(to_int(-3.0, 0, 4, true), -3.0);
        assert_eq!(to_int(-30.0, 0, 4, true), -8.0);
        assert_eq!(to_int(2.5, 0, 8, false), 3.0);
        // One outlier among many small values: MSE clips it.
        let mut w: Vec<f32> = (0..10000).map(|i| (i % 100) as f32 / 100.0).collect();
        w.push(1000.0);
        let e_mse = choose_exp(&w, 8, false, Calibration::Mse);
        assert!(e_mse <= exp_max(&w, 8, false));
        assert!(error(&w, e_mse, 8, false) <= error(&w, exp_max(&w, 8, false), 8, false));
    }
}
