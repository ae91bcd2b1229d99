//! Seeded, reproducible stall patterns for the stream stress tests.
//!
//! The Verilator harness (C++, `testbenches/templates/harness.cpp`) and this simulator must
//! produce *exactly* the same stall pattern cycle by cycle. This module is the same algorithm
//! as `inq_testbenches::stalls` (which is meant to re-export it), bit for bit:
//!
//! * **PRNG**: SplitMix64 (Steele, Lea, Flood 2014). The state is a `u64` initialised to the
//!   seed. Each call adds `0x9E3779B97F4A7C15` (wrapping) to the state and returns
//!   `z ^ (z >> 31)` where `z = state`, `z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9`,
//!   `z = (z ^ (z >> 27)) * 0x94D049BB133111EB` (wrapping multiplications).
//! * **Decision**: a draw `x` means *stall* iff `(x >> 11) < threshold`, where
//!   `threshold = floor(rate · 2^53)` (exact in `f64`: scaling by a power of two), so
//!   `rate = 0` never stalls. The harness passes the integer threshold to the C++ driver, so no
//!   floating point is involved there.
//! * **Call order**: exactly two draws per clock cycle, for every cycle from cycle 0 (the
//!   first rising edge after the initial reset release) to the last cycle of the run,
//!   *including* cycles spent in a mid-run reset: first the input draw (`input_gap`), then the
//!   output draw (`output_stall`). A draw is made even when its result is not used (see
//!   [`crate::protocol`] for how the driver uses them).

/// The SplitMix64 increment ("golden gamma").
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The stall decisions of one clock cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CycleStalls {
    /// The source does not start presenting a new input beat this cycle (an input `tvalid`
    /// gap). Ignored while a beat is already presented (AXI4-Stream forbids withdrawing it).
    pub input_gap: bool,
    /// The sink holds `m_axis_tready` low this cycle.
    pub output_stall: bool,
}

/// SplitMix64 stall generator (see the module documentation for the exact algorithm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StallGen {
    state: u64,
    threshold: u64,
}

impl StallGen {
    /// A generator for `seed` stalling each side with probability `rate` per cycle.
    ///
    /// `rate` must be in `0.0..1.0` (a rate of 1.0 would never transfer anything); otherwise
    /// returns `None`.
    pub fn new(seed: u64, rate: f64) -> Option<Self> {
        Some(StallGen {
            state: seed,
            threshold: Self::threshold_for(rate)?,
        })
    }

    /// A generator with an explicit integer threshold (`stall iff (draw >> 11) < threshold`).
    pub fn with_threshold(seed: u64, threshold: u64) -> Self {
        StallGen {
            state: seed,
            threshold,
        }
    }

    /// `floor(rate · 2^53)` for `rate` in `0.0..1.0`, `None` otherwise (also for NaN).
    pub fn threshold_for(rate: f64) -> Option<u64> {
        if (0.0..1.0).contains(&rate) {
            Some((rate * (1u64 << 53) as f64) as u64)
        } else {
            None
        }
    }

    /// The decision threshold.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// The next raw SplitMix64 output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// One draw turned into a stall decision.
    pub fn stall(&mut self) -> bool {
        (self.next_u64() >> 11) < self.threshold
    }

    /// The two draws of one clock cycle, in the documented order (input, then output).
    pub fn cycle(&mut self) -> CycleStalls {
        let input_gap = self.stall();
        let output_stall = self.stall();
        CycleStalls {
            input_gap,
            output_stall,
        }
    }
}

/// Random access to the stall decisions of any cycle: SplitMix64 is a counter-based generator
/// (the `n`-th output is a function of `seed + n·GAMMA`), so cycle `c`'s input draw is output
/// `2c + 1` and its output draw output `2c + 2` of [`StallGen`] — the same decisions as
/// calling [`StallGen::cycle`] `c + 1` times, without the calls before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StallsAt {
    seed: u64,
    threshold: u64,
}

impl StallsAt {
    pub fn new(seed: u64, threshold: u64) -> Self {
        StallsAt { seed, threshold }
    }

    #[inline(always)]
    fn draw(&self, n: u64) -> bool {
        if self.threshold == 0 {
            return false;
        }
        let mut z = self.seed.wrapping_add(n.wrapping_mul(GOLDEN_GAMMA));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) < self.threshold
    }

    /// `input_gap` of cycle `c`.
    #[inline(always)]
    pub fn input_gap(&self, c: u64) -> bool {
        self.draw(2 * c + 1)
    }

    /// `output_stall` of cycle `c`.
    #[inline(always)]
    pub fn output_stall(&self, c: u64) -> bool {
        self.draw(2 * c + 2)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_access_equals_sequence() {
        for rate in [0.0, 0.1, 0.5] {
            let mut g = StallGen::new(4242, rate).unwrap();
            let at = StallsAt::new(4242, g.threshold());
            for c in 0..1000 {
                let s = g.cycle();
                assert_eq!(s.input_gap, at.input_gap(c), "rate {rate} cycle {c}");
                assert_eq!(s.output_stall, at.output_stall(c), "rate {rate} cycle {c}");
            }
        }
    }

    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // Reference outputs of SplitMix64 for seed 1234567 (from the public-domain C code by
        // Sebastiano Vigna, splitmix64.c).
        let mut g = StallGen::with_threshold(1_234_567, 0);
        let got: Vec<u64> = (0..5).map(|_| g.next_u64()).collect();
        assert_eq!(
            got,
            vec![
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
    }

    #[test]
    fn rate_bounds_and_frequency() {
        assert!(StallGen::new(0, 1.0).is_none());
        assert!(StallGen::new(0, -0.1).is_none());
        assert!(StallGen::new(0, f64::NAN).is_none());
        assert_eq!(StallGen::threshold_for(0.5), Some(1u64 << 52));
        let mut g = StallGen::new(7, 0.0).unwrap();
        assert!((0..10_000).all(|_| !g.stall()));
        let mut g = StallGen::new(7, 0.3).unwrap();
        let n = (0..100_000).filter(|_| g.stall()).count();
        assert!((29_000..31_000).contains(&n), "{n}");
    }

    #[test]
    fn cycle_draws_input_then_output() {
        let mut a = StallGen::new(99, 0.5).unwrap();
        let mut b = a.clone();
        for _ in 0..100 {
            let c = a.cycle();
            assert_eq!(c.input_gap, b.stall());
            assert_eq!(c.output_stall, b.stall());
        }
    }
}
