//! `inq_out` (`docs/hardware.md` §7): the output stage on the FIFO output of
//! `Design.output.stream`, with the running argmax in `m_axis_tuser` and `tlast` on the last
//! word of an image. Owns its registers (`idx`, `best`, `best_idx`); not the port masking
//! (`machine.rs`) nor the harness's sink (`protocol.rs`, `decoupled.rs`).

/// The output stage's registers.
#[derive(Debug, Clone)]
pub(crate) struct OutStage {
    /// Words per image `N`.
    pub n: usize,
    pub idx: usize,
    pub best: i64,
    pub best_idx: usize,
}

impl OutStage {
    pub fn new(n: usize) -> Self {
        OutStage {
            n,
            idx: 0,
            best: 0,
            best_idx: 0,
        }
    }

    /// comb `take` for the word currently presented.
    #[inline(always)]
    pub fn take(&self, data: i64) -> bool {
        self.idx == 0 || data > self.best
    }

    /// comb `m_axis_tuser`.
    #[inline(always)]
    pub fn tuser(&self, data: i64) -> usize {
        if self.take(data) {
            self.idx
        } else {
            self.best_idx
        }
    }

    /// comb `m_axis_tlast`.
    #[inline(always)]
    pub fn tlast(&self) -> bool {
        self.idx + 1 == self.n
    }

    /// The edge: `fire` = `m_axis_tvalid && m_axis_tready`.
    #[inline(always)]
    pub fn update(&mut self, fire: bool, data: i64) {
        if fire {
            if self.take(data) {
                self.best = data;
                self.best_idx = self.idx;
            }
            self.idx = if self.idx + 1 == self.n {
                0
            } else {
                self.idx + 1
            };
        }
    }

    pub fn reset(&mut self) {
        self.idx = 0;
        self.best = 0;
        self.best_idx = 0;
    }
}
