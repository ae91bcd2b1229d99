//! One recorded transfer on a tap stream ([`TapBeat`]), the small type shared by the report
//! (`report.rs`, which re-exports it), the runs that record taps (`simulation.rs`, the decoupled
//! run's channels in `chan.rs`).
//!
//! A leaf: it depends on no other module of the crate. Not here: which streams are tapped
//! (`inq_hdl::Design::taps`) and the comparison of tapped beats with the reference
//! (`report.rs`).

use serde::{Deserialize, Serialize};

/// One transfer on a tap stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapBeat {
    /// Cycle of the transfer.
    pub cycle: u64,
    /// Value (signed if the stream is signed).
    pub value: i64,
}

/// Initial value of a [`StreamSum`]'s hash.
pub const STREAM_SUM_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// One step of the stream checksum: element `index` (within its image) with value `value`
/// (the sign-extended value as a 64-bit pattern) adds the SplitMix64 finalizer of
/// `value ^ index·φ` to `hash` (wrapping). Each term depends on its element's position, so
/// the sum is order-sensitive; the terms are independent of each other, so a run of elements
/// is summed without a serial chain through the hash. A single wrong element always changes
/// the sum (the finalizer is a bijection). The same in the Verilator harness
/// (`templates/harness.cpp` of `inq-testbenches`).
#[inline(always)]
pub fn stream_sum_step(hash: u64, index: u64, value: u64) -> u64 {
    hash.wrapping_add(stream_sum_term(index.wrapping_mul(STREAM_SUM_PHI), value))
}

/// `index·φ` of [`stream_sum_step`].
const STREAM_SUM_PHI: u64 = 0x9E37_79B9_7F4A_7C15;

/// The term [`stream_sum_step`] adds, with `index·φ` given (a run of elements advances it by
/// `φ`, one multiplication fewer per element).
#[inline(always)]
fn stream_sum_term(index_phi: u64, value: u64) -> u64 {
    let mut z = value ^ index_phi;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `Σ_i` [`stream_sum_term`]`(φ0 + i·φ, value(items[i]))` (wrapping): the terms of a run of
/// elements starting at position `φ0/φ`. The terms are independent, so the loop vectorizes;
/// with AVX-512 (a 64-bit multiply per lane) or AVX2 when the running CPU has them.
#[inline]
fn terms<T>(phi0: u64, items: &[T], value: &impl Fn(&T) -> i64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if items.len() >= 8 {
        if std::arch::is_x86_feature_detected!("avx512dq") {
            // SAFETY: `terms_avx512` only requires AVX-512 F and DQ, which the running CPU
            // has (checked here; DQ implies F).
            return unsafe { terms_avx512(phi0, items, value) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `terms_avx2` only requires AVX2, which the running CPU has.
            return unsafe { terms_avx2(phi0, items, value) };
        }
    }
    terms_body(phi0, items, value)
}

#[inline(always)]
fn terms_body<T>(phi0: u64, items: &[T], value: &impl Fn(&T) -> i64) -> u64 {
    let mut phi = phi0;
    let mut sum = 0u64;
    for item in items {
        sum = sum.wrapping_add(stream_sum_term(phi, value(item) as u64));
        phi = phi.wrapping_add(STREAM_SUM_PHI);
    }
    sum
}

/// [`terms_body`] compiled for AVX-512 (`vpmullq`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn terms_avx512<T>(phi0: u64, items: &[T], value: &impl Fn(&T) -> i64) -> u64 {
    terms_body(phi0, items, value)
}

/// [`terms_body`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn terms_avx2<T>(phi0: u64, items: &[T], value: &impl Fn(&T) -> i64) -> u64 {
    terms_body(phi0, items, value)
}

/// The checksum of one tap stream over one image: how many elements arrived and a hash of
/// their values in order ([`stream_sum_step`]). Lets a run check every element of every
/// stream of every image against the reference with bounded memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSum {
    /// Elements seen.
    pub count: u64,
    /// Hash of their values.
    pub hash: u64,
}

impl Default for StreamSum {
    fn default() -> Self {
        StreamSum {
            count: 0,
            hash: STREAM_SUM_SEED,
        }
    }
}

impl StreamSum {
    /// Adds the next element.
    #[inline(always)]
    pub fn push(&mut self, value: i64) {
        self.hash = stream_sum_step(self.hash, self.count, value as u64);
        self.count += 1;
    }

    /// The checksum of `values` in order.
    pub fn of(values: &[i64]) -> Self {
        let mut s = StreamSum::default();
        for &v in values {
            s.push(v);
        }
        s
    }

    /// Whether this checksum matches the reference's `expected` values of the stream. With
    /// `may_be_short` (the last image before the end of the run or a mid-run reset, whose
    /// stream may stop short by elements nothing consumed before that end) a prefix of them
    /// matches too; otherwise every element must have arrived.
    pub fn matches(&self, expected: &[i64], may_be_short: bool) -> bool {
        let n = self.count as usize;
        if n > expected.len() || (n < expected.len() && !may_be_short) {
            return false;
        }
        StreamSum::of(&expected[..n]) == *self
    }
}

/// Per-image [`StreamSum`]s of one tap stream as its beats arrive (`elements_per_image` beats
/// per image, images back to back).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TapSums {
    epi: u64,
    /// Beats the current (last) image still takes; 0: the next beat starts a new image.
    left: u64,
    /// The checksum of each image seen so far.
    pub sums: Vec<StreamSum>,
}

impl TapSums {
    /// An empty log for a stream of `elements_per_image` elements per image.
    pub fn new(elements_per_image: usize) -> Self {
        TapSums {
            epi: elements_per_image.max(1) as u64,
            left: 0,
            sums: Vec::new(),
        }
    }

    /// The image the next beat belongs to (started if needed).
    #[inline]
    fn current(&mut self) -> &mut StreamSum {
        if self.left == 0 {
            self.sums.push(StreamSum::default());
            self.left = self.epi;
        }
        let last = self.sums.len() - 1;
        &mut self.sums[last]
    }

    /// Adds the next beat.
    #[inline]
    pub fn push(&mut self, value: i64) {
        self.current().push(value);
        self.left -= 1;
    }

    /// Adds the next beats, in order: per image a run of [`StreamSum::push`] whose terms are
    /// summed apart from the hash (the simulator checks every element of every stream, tens
    /// per simulated cycle on a pixel-rate design).
    pub fn extend(&mut self, values: &[i64]) {
        self.extend_by(values, |&v| v);
    }

    /// [`TapSums::extend`] with the values `value(item)` of `items`.
    #[inline]
    pub fn extend_by<T>(&mut self, mut items: &[T], value: impl Fn(&T) -> i64) {
        while !items.is_empty() {
            let s = self.current();
            let (mut hash, count) = (s.hash, s.count);
            let n = items.len().min(self.left as usize);
            let phi = count.wrapping_mul(STREAM_SUM_PHI);
            hash = hash.wrapping_add(terms(phi, &items[..n], &value));
            let last = self.sums.len() - 1;
            self.sums[last] = StreamSum {
                count: count + n as u64,
                hash,
            };
            self.left -= n as u64;
            items = &items[n..];
        }
    }

    /// A mid-run reset restarting from image `k`: images from `k` on are discarded, and the
    /// next beat starts image `k` (even if image `k − 1` stopped short).
    pub fn restart(&mut self, k: usize) {
        self.sums.resize(k, StreamSum::default());
        self.left = 0;
    }
}

/// The first tap stream of an image whose checksum differs from the reference's (see
/// [`StreamSum::matches`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMismatch {
    /// Index into the taps (`Design.taps` for the simulator, the manifest's `taps` for
    /// Verilator).
    pub tap: usize,
    /// Its model node (`None`: the input).
    pub node: Option<usize>,
    /// Its name.
    pub name: String,
    /// Image.
    pub image: usize,
    /// Elements that arrived.
    pub count: u64,
    /// Elements of the reference's tensor.
    pub expected_count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_split_the_beats_into_images() {
        let values: Vec<i64> = (0..23).map(|i| (i * 7919) % 41 - 20).collect();
        // in pieces of every length, across the image boundaries (5 elements per image)
        for piece in 1..=values.len() {
            let mut s = TapSums::new(5);
            for chunk in values.chunks(piece) {
                s.extend(chunk);
            }
            let expected: Vec<StreamSum> = values.chunks(5).map(StreamSum::of).collect();
            assert_eq!(s.sums, expected, "pieces of {piece}");
        }
        let mut one = TapSums::new(5);
        for &v in &values {
            one.push(v);
        }
        assert_eq!(one.sums.len(), 5);
        one.restart(2);
        one.push(3);
        assert_eq!(
            one.sums,
            vec![
                StreamSum::of(&values[..5]),
                StreamSum::of(&values[5..10]),
                StreamSum::of(&[3])
            ]
        );
    }
}
