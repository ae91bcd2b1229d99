//! The stream fork (`inq_fork`, `docs/hardware.md` §5c): copies one stream to `N` streams.
//! Purely combinational: an element leaves its input FIFO and enters every output FIFO in the
//! same cycle, when all of them have room. Inserted by the graph planner wherever a tensor has
//! more than one reader.

use serde::{Deserialize, Serialize};

use super::api::{BeatCaps, EngineOp, Io, Param};
use crate::resources::{term, Resources, Term};
use crate::schedule::{self, Times};
use crate::timing::{LogicPath, TimingFamily};

/// A fork of one stream into `outputs` copies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fork {
    /// Number of output streams (at least 2).
    pub outputs: usize,
    /// Elements per image.
    pub elements: usize,
    /// Elements per beat, in and out (`docs/hardware.md` §2.1): the fork copies beats.
    #[serde(default = "super::one", skip_serializing_if = "super::is_one")]
    pub beat: usize,
}

impl EngineOp for Fork {
    /// The joined `ready` of the outputs into the input handshake.
    fn logic_path(&self, _io: &Io, _family: TimingFamily) -> LogicPath {
        LogicPath::new(2, 0)
    }
    fn outputs(&self) -> usize {
        self.outputs
    }
    fn in_beat(&self) -> usize {
        self.beat
    }
    /// A fork copies beats of any width.
    fn beat_caps(&self) -> BeatCaps {
        BeatCaps {
            input: self.elements,
            out: self.elements,
            pass: true,
        }
    }
    fn set_beats(&mut self, in_beat: usize, _out_beat: usize) {
        self.beat = in_beat;
    }
    fn beat_error(&self) -> Option<String> {
        (self.beat == 0).then(|| "0 elements per beat".into())
    }
    fn out_beat(&self) -> usize {
        self.beat
    }
    fn in_elements(&self) -> usize {
        self.elements
    }
    fn out_elements(&self) -> usize {
        self.elements
    }
    fn cycles_per_image(&self) -> u64 {
        (self.elements / self.beat.max(1)) as u64
    }
    fn held_elements(&self) -> usize {
        0
    }
    fn first_image(&self, inputs: &[&[u64]]) -> Vec<Times> {
        // combinational: an element (a beat of `beat` elements) moves into every output FIFO in
        // the cycle it is taken
        let moved = schedule::accept_beats(inputs.first().copied().unwrap_or(&[]), self.beat);
        vec![moved; self.outputs]
    }
    fn terms(&self, _io: &Io) -> Vec<Term> {
        // the ready AND and one valid gate per output
        vec![term("handshake gates", self.outputs as u64 + 1, 0, 0)]
    }
    fn resources(&self, io: &Io) -> Resources {
        crate::resources::finish(&self.terms(io), Resources::default())
    }
    fn params(&self, io: &Io) -> Vec<Param> {
        vec![
            Param::int("W", io.in_width * self.beat as u32),
            Param::size("N", self.outputs),
        ]
    }
}
