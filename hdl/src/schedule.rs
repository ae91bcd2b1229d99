//! The first image's schedule: the plan's latency estimate (`docs/hardware.md` §9).
//!
//! From reset, with the input offered one element per cycle and the output never blocked, when
//! does each element of the first image move on each stream? Every engine kind answers for
//! itself ([`crate::EngineOp::first_image`]: the cycles its inputs' elements become available
//! in, to the cycles its outputs' elements are transferred in); [`crate::Design::first_image`]
//! walks the streams (a FIFO delivers an element the cycle after it was written) and
//! [`crate::Design::latency_estimate`] reads the last output word off it. This module owns
//! only what the engine kinds share: the type, the one-element-per-cycle input side and the
//! row-complete test of an engine with a line buffer.
//!
//! A leaf: it depends on no other module of the crate. What it does not model is
//! back-pressure: a consumer that holds its producer back (a full line buffer or FIFO) delays
//! the producer's later elements, which matters only when the producer also feeds another
//! consumer (a fork) and the first image rarely meets it.

/// The cycle in which each element of one image moves on a stream, in stream order, counted
/// from the cycle the first input element is transferred (cycle 0).
pub type Times = Vec<u64>;

/// The cycles an input port takes the elements in, given the cycles they become available in:
/// one element per cycle at most, in order.
pub fn accept(available: &[u64]) -> Times {
    let mut next = 0u64;
    available
        .iter()
        .map(|&a| {
            let t = a.max(next);
            next = t + 1;
            t
        })
        .collect()
}

/// [`accept`] for beats of `k` elements (`docs/hardware.md` §2.1): one beat per cycle at
/// most, when its last element is available; every element of a beat moves in its cycle.
pub fn accept_beats(available: &[u64], k: usize) -> Times {
    if k <= 1 {
        return accept(available);
    }
    let mut next = 0u64;
    let mut out = Vec::with_capacity(available.len());
    for beat in available.chunks(k) {
        let t = beat.iter().copied().max().unwrap_or(0).max(next);
        next = t + 1;
        out.extend(std::iter::repeat_n(t, beat.len()));
    }
    out
}

/// The first cycle in which the first `rows` rows (of `row_len` elements each) taken in at
/// `taken` are complete (the row counter is updated at the edge of the last element's cycle);
/// 0 when no row is needed.
pub fn rows_complete(taken: &[u64], row_len: usize, rows: usize) -> u64 {
    match (rows * row_len).checked_sub(1) {
        Some(last) if last < taken.len() => taken[last] + 1,
        Some(_) => taken.last().map_or(0, |t| t + 1),
        None => 0,
    }
}

/// Elementwise: output element `k` moves `delay` cycles after every input's element `k` is
/// available and the previous output element has moved (one element per cycle).
pub fn elementwise(inputs: &[&[u64]], delay: u64) -> Times {
    elementwise_beats(inputs, delay, 1)
}

/// [`elementwise`] in beats of `k` elements: a beat moves `delay` cycles after every
/// element of it is available on every input, one beat per cycle.
pub fn elementwise_beats(inputs: &[&[u64]], delay: u64, k: usize) -> Times {
    let n = inputs.iter().map(|i| i.len()).max().unwrap_or(0);
    let ready: Vec<u64> = (0..n)
        .map(|k| {
            inputs
                .iter()
                .map(|i| i.get(k).copied().unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .collect();
    accept_beats(&ready, k)
        .into_iter()
        .map(|t| t + delay)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_takes_one_element_per_cycle() {
        assert_eq!(accept(&[0, 0, 0, 7, 7]), vec![0, 1, 2, 7, 8]);
    }

    #[test]
    fn accept_beats_moves_a_beat_per_cycle() {
        assert_eq!(accept_beats(&[0, 3, 0, 0, 9, 9], 2), vec![3, 3, 4, 4, 9, 9]);
        assert_eq!(accept_beats(&[0, 0, 0], 1), accept(&[0, 0, 0]));
    }

    #[test]
    fn rows_complete_counts_from_the_last_element() {
        let taken: Vec<u64> = (0..12).collect();
        assert_eq!(rows_complete(&taken, 4, 0), 0);
        assert_eq!(rows_complete(&taken, 4, 1), 4);
        assert_eq!(rows_complete(&taken, 4, 3), 12);
    }

    #[test]
    fn elementwise_waits_for_every_input() {
        assert_eq!(elementwise(&[&[0, 1, 2], &[5, 5, 5]], 1), vec![6, 7, 8]);
    }
}
