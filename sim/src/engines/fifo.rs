//! `inq_fifo #(W, D)` (`docs/hardware.md` §3): the FIFO of one stream in the lockstep
//! [`crate::Machine`]. Owns the FIFO's registers, storage and its peak occupancy; not the
//! decoupled run's time-stamped equivalent (`crate::chan::Chan`).

use super::api::copy_beat;

/// One FIFO: `count`, `rd`, `wr` registers and `mem` storage of `depth` beats of `beat`
/// elements (`docs/hardware.md` §2.1; beat `i` is `mem[i·beat ..]`).
#[derive(Debug, Clone)]
pub(crate) struct Fifo {
    pub mem: Vec<i64>,
    pub depth: usize,
    pub beat: usize,
    pub count: usize,
    pub rd: usize,
    pub wr: usize,
    /// Largest `count` after any edge.
    pub peak: usize,
}

impl Fifo {
    pub fn new(depth: usize, beat: usize) -> Self {
        let beat = beat.max(1);
        Fifo {
            mem: vec![0; depth * beat],
            depth,
            beat,
            count: 0,
            rd: 0,
            wr: 0,
            peak: 0,
        }
    }

    /// comb `s_ready`.
    #[inline(always)]
    pub fn s_ready(&self) -> bool {
        self.count != self.depth
    }

    /// comb `m_valid`.
    #[inline(always)]
    pub fn m_valid(&self) -> bool {
        self.count != 0
    }

    /// comb `m_data` (`mem[rd]`, stale when empty, as in the RTL): the beat at `rd`.
    #[inline(always)]
    pub fn m_data(&self) -> &[i64] {
        &self.mem[self.rd * self.beat..(self.rd + 1) * self.beat]
    }

    /// The edge, given the producer's `s_valid`/`s_data` and whether the consumer reads
    /// (`m_fire = m_valid && m_ready`, computed by the caller from pre-edge values).
    #[inline(always)]
    pub fn update(&mut self, s_valid: bool, s_data: &[i64], m_fire: bool) {
        let s_fire = s_valid && self.count != self.depth;
        if s_fire {
            let k = self.beat;
            copy_beat(&mut self.mem[self.wr * k..(self.wr + 1) * k], s_data);
            self.wr = if self.wr + 1 == self.depth {
                0
            } else {
                self.wr + 1
            };
        }
        if m_fire {
            self.rd = if self.rd + 1 == self.depth {
                0
            } else {
                self.rd + 1
            };
        }
        self.count = self.count + usize::from(s_fire) - usize::from(m_fire);
        if self.count > self.peak {
            self.peak = self.count;
        }
    }

    pub fn reset(&mut self) {
        self.count = 0;
        self.rd = 0;
        self.wr = 0;
    }
}
