//! The stimulus protocol: exactly what the Verilator harness does on every clock cycle.
//!
//! This is the same definition as `inq_testbenches::protocol` (the harness's C++ driver in
//! `testbenches/templates/harness.cpp` is a line-by-line transliteration of [`Driver`]); the
//! simulator drives its [`crate::Machine`] with this [`Driver`], so a simulator run and a
//! Verilator run with the same seed, stall threshold and reset settings produce the same
//! [`Records`] (values *and* cycles) when the RTL follows `docs/hardware.md`.
//!
//! # Clock, reset and the cycle count
//!
//! * `clk` starts low. The **initial reset** holds `rst` high for [`INITIAL_RESET_CYCLES`]
//!   rising edges with `s_axis_tvalid = 0` and `m_axis_tready = 0`. These edges are not
//!   counted and draw nothing from the stall generator.
//! * **Cycle `n`** (0-based) is the `(n+1)`-th rising edge after the initial reset release:
//!   cycle 0 is the first rising edge at which `rst` is sampled low. Every later rising edge
//!   counts, including edges during a mid-run reset. The *cycle of a transfer* is the cycle of
//!   the rising edge at which `tvalid && tready` was sampled high.
//! * Per cycle the driver, while `clk` is low: draws the cycle's [`CycleStalls`]
//!   ([`StallGen::cycle`]: input draw, then output draw — always both, in every cycle),
//!   sets the design's inputs ([`Driver::drive`]), lets combinational logic settle, samples
//!   the handshakes (`s_axis_tvalid && s_axis_tready`, `m_axis_tvalid && m_axis_tready`),
//!   then raises `clk` (the edge) and lowers it again ([`Driver::edge`]).
//!
//! # Input side (source)
//!
//! The images' elements are streamed as one sequence of beats (each image in HWC order, see
//! [`crate::chw_to_hwc`]), back to back. In a cycle where no beat is presented yet and beats
//! remain, the source presents the next beat (`tvalid = 1`, `tdata`, `tlast` on the last
//! element of an image) unless the cycle's `input_gap` is true. A presented beat stays
//! presented, unchanged, until it is transferred (`input_gap` is then ignored). With stall rate
//! 0 a new beat is presented in the cycle right after each transfer: images arrive back to
//! back, without gaps, as fast as the design accepts them.
//!
//! # Output side (sink)
//!
//! `m_axis_tready = !output_stall` in every cycle outside a reset. The `w`-th output word
//! overall belongs to image `w / N`, logit `w % N` (`N` = outputs per image); the run ends at
//! the edge that transfers the last word of the last image (`total_cycles` = that cycle + 1).
//!
//! # Mid-run reset
//!
//! With `reset_after = Some(k)` (`1 <= k < images`): at the edge where the last output word of
//! image `k-1` is transferred (cycle `c`), the driver schedules a reset. During cycles
//! `c+1 ..= c+reset_cycles` it drives `rst = 1`, `s_axis_tvalid = 0`, `m_axis_tready = 0`
//! (nothing transfers; stall draws are still made and discarded). Whatever the design had
//! accepted of images `k..` is discarded; from cycle `c+reset_cycles+1` the source restarts
//! with the first element of image `k` (so `k' = k`), and every image is still checked.
//! [`Records::input_starts`] then holds image `k`'s restart cycle.
//!
//! # Idle limit
//!
//! If no transfer (and no reset cycle) happens for `idle_limit` consecutive cycles, the run
//! stops as a timeout.

pub use crate::stalls::{CycleStalls, StallGen};
use serde::{Deserialize, Serialize};

/// Rising edges of the initial reset (not counted as cycles).
pub const INITIAL_RESET_CYCLES: u32 = 4;
/// Default length of a mid-run reset in cycles.
pub const DEFAULT_RESET_CYCLES: u32 = 4;

/// Everything that determines the driver's behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverConfig {
    /// Input beats per image (`C·H·W`).
    pub elements_per_image: usize,
    /// Output words per image (`N`).
    pub outputs_per_image: usize,
    /// Width of `m_axis_tdata` (for sign extension of the recorded values).
    pub out_width: u32,
    /// Stall generator seed.
    pub seed: u64,
    /// Stall threshold ([`StallGen::threshold_for`]).
    pub threshold: u64,
    /// Mid-run reset after this many complete images (see the module documentation).
    pub reset_after: Option<usize>,
    /// Length of the mid-run reset in cycles (at least 1).
    pub reset_cycles: u32,
    /// Timeout: cycles without any transfer.
    pub idle_limit: u64,
}

/// The design inputs the driver applies in one cycle (before the rising edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drive {
    /// `rst`.
    pub rst: bool,
    /// `s_axis_tvalid`.
    pub s_tvalid: bool,
    /// `s_axis_tdata` (bit pattern; 0 when not valid).
    pub s_tdata: u64,
    /// `s_axis_tlast`.
    pub s_tlast: bool,
    /// `m_axis_tready`.
    pub m_tready: bool,
}

/// The design outputs in one cycle after combinational settling (before the rising edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DutOutputs {
    /// `s_axis_tready`.
    pub s_tready: bool,
    /// `m_axis_tvalid`.
    pub m_tvalid: bool,
    /// `m_axis_tdata` bit pattern (`OUT_W` low bits used).
    pub m_tdata: u64,
    /// `m_axis_tlast`.
    pub m_tlast: bool,
    /// `m_axis_tuser`.
    pub m_tuser: u64,
}

/// Which transfers happened at an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fires {
    /// An input beat was transferred.
    pub input: bool,
    /// An output word was transferred.
    pub output: bool,
}

/// One output word as observed on `m_axis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputRecord {
    /// Image index.
    pub image: usize,
    /// Logit index within the image.
    pub word: usize,
    /// `m_axis_tdata` sign-extended from `OUT_W` bits.
    pub value: i64,
    /// Cycle of the transfer.
    pub cycle: u64,
    /// `m_axis_tlast`.
    pub tlast: bool,
    /// `m_axis_tuser`.
    pub tuser: u64,
}

/// The first input beat of an image was transferred (again, after a mid-run reset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStart {
    /// Image index.
    pub image: usize,
    /// Cycle of the transfer.
    pub cycle: u64,
}

/// A mid-run reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetRecord {
    /// First cycle with `rst = 1`.
    pub first_cycle: u64,
    /// Number of reset cycles.
    pub cycles: u32,
    /// The image the source restarts from.
    pub restart_image: usize,
}

/// Everything a run observed, in the protocol's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Records {
    /// Every output word in transfer order.
    pub outputs: Vec<OutputRecord>,
    /// First-beat transfers of images, in order (an image restarted after a reset appears
    /// twice; the later entry counts).
    pub input_starts: Vec<InputStart>,
    /// Mid-run resets.
    pub resets: Vec<ResetRecord>,
    /// Cycle of the last output word + 1 (0 until the run is complete).
    pub total_cycles: u64,
}

/// Sign-extends the low `width` bits of `raw` (`width` in 1..=64).
pub fn sign_extend(raw: u64, width: u32) -> i64 {
    if width >= 64 {
        raw as i64
    } else {
        let shift = 64 - width;
        ((raw << shift) as i64) >> shift
    }
}

/// The Rust model of the harness's source, sink and reset sequencer (see the module docs).
#[derive(Debug, Clone)]
pub struct Driver {
    cfg: DriverConfig,
    beats: Vec<u64>,
    images: usize,
    gen: StallGen,
    cycle: u64,
    next_beat: usize,
    holding: bool,
    words: usize,
    reset_left: u32,
    reset_done: bool,
    last_activity: u64,
    last_drive: Option<Drive>,
    records: Records,
}

impl Driver {
    /// A driver streaming `beats` (all images' elements, each image in HWC order, as bit
    /// patterns). `beats.len()` must be a multiple of `elements_per_image`.
    pub fn new(cfg: DriverConfig, beats: Vec<u64>) -> Self {
        let images = beats.len() / cfg.elements_per_image.max(1);
        Driver {
            gen: StallGen::with_threshold(cfg.seed, cfg.threshold),
            beats,
            images,
            cfg,
            cycle: 0,
            next_beat: 0,
            holding: false,
            words: 0,
            reset_left: 0,
            reset_done: false,
            last_activity: 0,
            last_drive: None,
            records: Records::default(),
        }
    }

    /// The current cycle number (of the next edge).
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// All output words received.
    pub fn done(&self) -> bool {
        self.words >= self.images * self.cfg.outputs_per_image
    }

    /// No transfer for `idle_limit` cycles.
    pub fn timed_out(&self) -> bool {
        self.cycle.saturating_sub(self.last_activity) >= self.cfg.idle_limit
    }

    /// Output words received so far.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Draws this cycle's stalls and returns the inputs to apply before the edge.
    pub fn drive(&mut self) -> Drive {
        // With a zero threshold no draw can stall and the generator's state is never
        // observed, so the draws are skipped (same decisions, faster).
        let st = if self.gen.threshold() == 0 {
            CycleStalls::default()
        } else {
            self.gen.cycle()
        };
        let d = if self.reset_left > 0 {
            self.holding = false;
            Drive {
                rst: true,
                ..Drive::default()
            }
        } else {
            if !self.holding && self.next_beat < self.beats.len() && !st.input_gap {
                self.holding = true;
            }
            let e = self.cfg.elements_per_image;
            Drive {
                rst: false,
                s_tvalid: self.holding,
                s_tdata: if self.holding {
                    self.beats[self.next_beat]
                } else {
                    0
                },
                s_tlast: self.holding && self.next_beat % e == e - 1,
                m_tready: !st.output_stall,
            }
        };
        self.last_drive = Some(d);
        d
    }

    /// Applies the rising edge: given the design's outputs sampled after settling with the
    /// last [`Driver::drive`] inputs, records the transfers and advances to the next cycle.
    pub fn edge(&mut self, dut: &DutOutputs) -> Fires {
        let d = self.last_drive.take().unwrap_or_default();
        let cycle = self.cycle;
        self.cycle += 1;
        if d.rst {
            self.reset_left = self.reset_left.saturating_sub(1);
            self.last_activity = cycle;
            return Fires::default();
        }
        let fires = Fires {
            input: d.s_tvalid && dut.s_tready,
            output: dut.m_tvalid && d.m_tready,
        };
        let e = self.cfg.elements_per_image;
        let n = self.cfg.outputs_per_image;
        if fires.input {
            if self.next_beat.is_multiple_of(e) {
                self.records.input_starts.push(InputStart {
                    image: self.next_beat / e,
                    cycle,
                });
            }
            self.holding = false;
            self.next_beat += 1;
        }
        if fires.output {
            self.records.outputs.push(OutputRecord {
                image: self.words / n,
                word: self.words % n,
                value: sign_extend(dut.m_tdata, self.cfg.out_width),
                cycle,
                tlast: dut.m_tlast,
                tuser: dut.m_tuser,
            });
            self.words += 1;
            if let Some(k) = self.cfg.reset_after {
                if !self.reset_done && self.words == k * n {
                    self.reset_done = true;
                    self.reset_left = self.cfg.reset_cycles;
                    self.next_beat = k * e;
                    self.holding = false;
                    self.records.resets.push(ResetRecord {
                        first_cycle: cycle + 1,
                        cycles: self.cfg.reset_cycles,
                        restart_image: k,
                    });
                }
            }
            if self.done() {
                self.records.total_cycles = cycle + 1;
            }
        }
        if fires.input || fires.output {
            self.last_activity = cycle;
        }
        fires
    }

    /// Whether the source will present no beat in any future cycle before the next output
    /// transfer (all beats sent, none held, no reset pending).
    pub fn input_exhausted(&self) -> bool {
        !self.holding && self.next_beat >= self.beats.len() && self.reset_left == 0
    }

    /// Cycles that may be skipped with [`Driver::skip`] without passing the idle limit:
    /// `None` while a reset is in progress.
    pub fn skippable(&self) -> Option<u64> {
        if self.reset_left > 0 {
            return None;
        }
        let idle = self.cycle.saturating_sub(self.last_activity);
        Some(self.cfg.idle_limit.saturating_sub(idle + 1))
    }

    /// Advances `k` cycles in which the caller guarantees that no transfer happens and `rst`
    /// is 0: exactly the effect of `k` pairs of [`Driver::drive`] and [`Driver::edge`] with
    /// no fire (the stall draws are made, a beat may start being presented).
    pub fn skip(&mut self, k: u64) {
        if self.gen.threshold() == 0 {
            if k > 0 && self.next_beat < self.beats.len() {
                self.holding = true;
            }
        } else {
            for _ in 0..k {
                let st = self.gen.cycle();
                if !self.holding && self.next_beat < self.beats.len() && !st.input_gap {
                    self.holding = true;
                }
            }
        }
        if k > 0 {
            self.last_drive = None;
        }
        self.cycle += k;
    }

    /// The records so far.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// Consumes the driver and returns its records.
    pub fn into_records(self) -> Records {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(threshold: u64, reset_after: Option<usize>) -> DriverConfig {
        DriverConfig {
            elements_per_image: 2,
            outputs_per_image: 1,
            out_width: 8,
            seed: 5,
            threshold,
            reset_after,
            reset_cycles: 3,
            idle_limit: 100,
        }
    }

    /// A one-cycle-latency "design": always ready; emits the sum of an image's two beats one
    /// cycle after the second beat, holding it until accepted.
    fn run(mut d: Driver) -> Records {
        let mut acc: Option<u64> = None;
        let mut pending: Option<u64> = None;
        let mut second = false;
        while !d.done() && !d.timed_out() {
            let drv = d.drive();
            let out = DutOutputs {
                s_tready: pending.is_none(),
                m_tvalid: pending.is_some(),
                m_tdata: pending.unwrap_or(0),
                m_tlast: true,
                m_tuser: 0,
            };
            let f = d.edge(&out);
            if drv.rst {
                acc = None;
                pending = None;
                second = false;
                continue;
            }
            if f.output {
                pending = None;
            }
            if f.input {
                if second {
                    pending = Some(acc.take().unwrap_or(0) + drv.s_tdata);
                } else {
                    acc = Some(drv.s_tdata);
                }
                second = !second;
            }
        }
        d.into_records()
    }

    #[test]
    fn back_to_back_without_stalls() {
        let r = run(Driver::new(cfg(0, None), vec![1, 2, 3, 4, 5, 6]));
        let v: Vec<(i64, u64)> = r.outputs.iter().map(|o| (o.value, o.cycle)).collect();
        // beats at cycles 0,1 -> out valid from cycle 2 (input blocked while pending)
        assert_eq!(v, vec![(3, 2), (7, 5), (11, 8)]);
        assert_eq!(r.input_starts[1].cycle, 3);
        assert_eq!(r.total_cycles, 9);
    }

    #[test]
    fn sign_extension() {
        assert_eq!(sign_extend(0xff, 8), -1);
        assert_eq!(sign_extend(0x7f, 8), 127);
        assert_eq!(sign_extend(u64::MAX, 64), -1);
        assert_eq!(sign_extend(0x1_0005, 16), 5);
    }

    #[test]
    fn reset_restarts_from_image_k() {
        let r = run(Driver::new(
            cfg(StallGen::threshold_for(0.3).unwrap(), Some(1)),
            vec![1, 2, 3, 4, 5, 6],
        ));
        assert_eq!(r.resets.len(), 1);
        assert_eq!(r.resets[0].restart_image, 1);
        let vals: Vec<i64> = r.outputs.iter().map(|o| o.value).collect();
        assert_eq!(vals, vec![3, 7, 11]);
        let reset_end = r.resets[0].first_cycle + 3;
        let restart = r.input_starts.iter().rev().find(|s| s.image == 1).unwrap();
        assert!(restart.cycle >= reset_end);
    }
}
