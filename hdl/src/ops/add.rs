//! The elementwise adder (`inq_add`, `docs/hardware.md` §5b): takes one element from each of
//! its two input streams in the same cycle, aligns them by left shifts, adds, requantizes
//! (rounding shift, ReLU, saturation; `docs/numerics.md` § 6a) into its output register. Owns
//! its parameters, cycle model, resource estimate and template parameters.

use inq_model::ops::AddArith;
use serde::{Deserialize, Serialize};

use super::api::{BeatCaps, EngineOp, Io, Param};
use crate::resources::{ceil_div, push_adders, term, Resources, Term};
use crate::schedule::{self, Times};
use crate::timing::{LogicPath, TimingFamily};

/// An elementwise adder of two streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddUnit {
    /// Elements per image (on each input and the output).
    pub elements: usize,
    /// Width of input `b` (input `a` is the engine's input width).
    pub b_width: u32,
    /// Signedness of input `b`.
    pub b_signed: bool,
    /// Left shift of `a` to the common exponent.
    pub shift_a: u32,
    /// Left shift of `b`.
    pub shift_b: u32,
    /// Requantization shift (positive: rounding right shift; ≤ 0: left shift).
    pub shift: i32,
    /// Width of the aligned sum.
    pub sum_width: u32,
    /// Internal width of the requantizer: `max(SUMW + 1 + max(0, −shift), OUT_W + 1)`.
    pub requant_width: u32,
    /// ReLU before saturation (the output is unsigned).
    pub relu: bool,
    /// Elements per beat `K` on both inputs and the output (`docs/hardware.md` §2.1, §5b):
    /// `K` lanes add side by side.
    #[serde(default = "super::one", skip_serializing_if = "super::is_one")]
    pub beat: usize,
}

impl AddUnit {
    /// The adder for `elements` per image with the arithmetic `ar`, input `b` of
    /// `b_width`/`b_signed`, and an output of `out_bits`.
    pub fn new(elements: usize, ar: &AddArith, b_width: u32, b_signed: bool) -> Self {
        let left = (-ar.shift).max(0) as u32;
        AddUnit {
            elements,
            b_width,
            b_signed,
            shift_a: ar.shift_a,
            shift_b: ar.shift_b,
            shift: ar.shift,
            sum_width: ar.sum_width,
            requant_width: (ar.sum_width + 1 + left).max(ar.output.bits + 1),
            relu: ar.relu,
            beat: 1,
        }
    }
}

impl EngineOp for AddUnit {
    /// The aligned sum (a `SUMW`-bit adder), the rounding add of the requantizer (`RW`
    /// bits) and the saturation check into the output register.
    fn logic_path(&self, _io: &Io, _family: TimingFamily) -> LogicPath {
        LogicPath::new(6, self.sum_width + self.requant_width)
    }
    fn inputs(&self) -> usize {
        2
    }
    fn in_beat(&self) -> usize {
        self.beat
    }
    fn out_beat(&self) -> usize {
        self.beat
    }
    /// `K` lanes side by side: any beat its neighbours give, the same on every port.
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
        (self.beat == 0 || !self.elements.is_multiple_of(self.beat)).then(|| {
            format!(
                "{} elements per beat must divide the {} elements per image",
                self.beat, self.elements
            )
        })
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
        1
    }
    fn first_image(&self, inputs: &[&[u64]]) -> Vec<Times> {
        // both inputs transfer together (`take`), the sum leaves from a register a cycle later;
        // a beat of `K` elements at a time
        vec![schedule::elementwise_beats(inputs, 1, self.beat)]
    }
    fn terms(&self, io: &Io) -> Vec<Term> {
        let s = u64::from(self.sum_width);
        let rw = u64::from(self.requant_width);
        let o = u64::from(io.out_width);
        // one lane per element of a beat
        let k = self.beat.max(1) as u64;
        vec![
            term("aligned sum", s * k, 0, ceil_div(s, 4) * k),
            term(
                "requantizer (rounding add, shift, saturation)",
                (rw + o) * k,
                0,
                ceil_div(rw, 4) * k,
            ),
            term("output register and handshakes", 3, o * k + 1, 0),
        ]
    }
    fn resources(&self, io: &Io) -> Resources {
        let mut r = Resources::default();
        let k = self.beat.max(1) as u64;
        push_adders(&mut r.adders, self.sum_width, k);
        push_adders(&mut r.adders, self.requant_width, k);
        crate::resources::finish(&self.terms(io), r)
    }
    fn params(&self, io: &Io) -> Vec<Param> {
        vec![
            Param::int("AW", io.in_width),
            Param::flag("A_SIGNED", io.in_signed),
            Param::int("BW", self.b_width),
            Param::flag("B_SIGNED", self.b_signed),
            Param::int("SA", self.shift_a),
            Param::int("SB", self.shift_b),
            Param::int("SUMW", self.sum_width),
            Param::int("R", self.shift),
            Param::int("RW", self.requant_width),
            Param::int("OUT_W", io.out_width),
            Param::flag("OUT_SIGNED", io.out_signed),
        ]
        .into_iter()
        .chain((self.beat != 1).then(|| Param::size("K", self.beat)))
        .collect()
    }
}
