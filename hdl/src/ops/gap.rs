//! The global average pooling unit (`inq_gap`, `docs/hardware.md` §5a): one running sum per
//! channel as the map streams in (no line buffer), the rounded results of the last pixel
//! emitted in channel order. Owns its parameters, cycle model, resource estimate and template
//! parameters.

use serde::{Deserialize, Serialize};

use super::api::{BeatCaps, EngineOp, Io, Param};
use crate::resources::{
    ceil_div, lutram, push_adders, term, vclog2, Resources, Term, LUTS_PER_LUTRAM_CELL,
};
use crate::schedule::{self, Times};
use crate::timing::{LogicPath, TimingFamily};

/// A global average pooling unit over a `C×H×W` map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Right shift of the sum: `ceil(log2(H·W))` (`inq_model::numerics::gap_shift`).
    pub shift: u32,
    /// Width of a channel's running sum (`A + shift + 1`).
    pub sum_width: u32,
    /// Elements per input beat `K` (`docs/hardware.md` §2.1, §5a; `K | C`): `K` channels'
    /// running sums are updated side by side. The results leave one per beat.
    #[serde(default = "super::one", skip_serializing_if = "super::is_one")]
    pub beat: usize,
}

impl Gap {
    /// The unit for a `[c, h, w]` map of `bits`-bit elements.
    pub fn new(c: usize, h: usize, w: usize, bits: u32) -> Self {
        let shift = inq_model::numerics::gap_shift(h * w);
        Gap {
            c,
            h,
            w,
            shift,
            sum_width: bits + shift + 1,
            beat: 1,
        }
    }
}

impl EngineOp for Gap {
    /// The running sum read from its channel memory, the add (`sum_width` bits), and the
    /// rounding of the result: 5 levels and about half the sum's bits in carry steps, fitted
    /// on the walked 7-series netlist of the ResNet-8 (`models/fashion_resnet8_inq4.json`,
    /// 5 + 8c from the pixel count into `pending` at a 15-bit sum; 8 + 2·SUMW before, never
    /// walked, which made the GAP the design's deepest estimate; docs/performance.md, "The
    /// ResNet-8 at the 6-level target").
    fn logic_path(&self, _io: &Io, _family: TimingFamily) -> LogicPath {
        LogicPath::new(5, self.sum_width.div_ceil(2))
    }
    fn in_beat(&self) -> usize {
        self.beat
    }
    /// Up to `C` channels per input beat; the results leave one per beat.
    fn beat_caps(&self) -> BeatCaps {
        BeatCaps {
            input: self.c,
            out: 1,
            pass: false,
        }
    }
    fn set_beats(&mut self, in_beat: usize, _out_beat: usize) {
        self.beat = in_beat;
    }
    fn beat_error(&self) -> Option<String> {
        (self.beat == 0 || !self.c.is_multiple_of(self.beat)).then(|| {
            format!(
                "{} input elements per beat must divide C = {}",
                self.beat, self.c
            )
        })
    }
    fn in_elements(&self) -> usize {
        self.c * self.h * self.w
    }
    fn out_elements(&self) -> usize {
        self.c
    }
    /// One input element per cycle; the `C` results of an image leave while the next image
    /// streams in.
    fn cycles_per_image(&self) -> u64 {
        ((self.c * self.h * self.w) / self.beat.max(1)).max(self.c) as u64
    }
    fn held_elements(&self) -> usize {
        self.c * self.h * self.w + self.c
    }
    fn first_image(&self, inputs: &[&[u64]]) -> Vec<Times> {
        // channel `c`'s result is counted as pending at the edge of its last-pixel element,
        // loaded into `out_data` the cycle after and transferred the cycle after that; one
        // result per cycle
        let taken = schedule::accept_beats(inputs.first().copied().unwrap_or(&[]), self.beat);
        let last_pixel = taken.len().saturating_sub(self.c);
        let mut next = 0u64;
        let out = taken[last_pixel..]
            .iter()
            .map(|&t| {
                let o = (t + 2).max(next);
                next = o + 1;
                o
            })
            .collect();
        vec![out]
    }
    fn terms(&self, io: &Io) -> Vec<Term> {
        let a = u64::from(io.in_width);
        // `k` lanes: the sums and results are `C/k` words of `k` channels
        let k = self.beat.max(1) as u64;
        let s = u64::from(self.sum_width) * k;
        let c = self.c as u64 / k;
        let cw = vclog2(c.max(2));
        let pw = vclog2((self.h * self.w) as u64 + 1);
        let sums = lutram(c.max(2), s, 1);
        let res = lutram(c.max(2), a * k, 1);
        let cells = |l: &crate::resources::Lutram| l.cells * LUTS_PER_LUTRAM_CELL;
        // calibrated on yosys 0.23 synth_xilinx of `small_b` (C = 16, 4×4 plane): 48 logic
        // LUTs and 4 RAM32M against 47 and 5 estimated
        let mut t = vec![
            term(
                "control (channel, pixel, pending counters, handshakes)",
                2 * cw + pw + 8,
                2 * cw + pw + cw + 1 + a + 1,
                ceil_div(2 * cw + pw, 4),
            ),
            term("running-sum adder", s, 0, ceil_div(s, 4)),
            term("rounding add (the shift is wiring)", s, 0, ceil_div(s, 4)),
        ];
        t.push(Term {
            name: "running sums and results (distributed RAM)",
            luts: sums.logic_luts + res.logic_luts,
            lutram_luts: cells(&sums) + cells(&res),
            ffs: 0,
            carry4: 0,
        });
        t
    }
    fn resources(&self, io: &Io) -> Resources {
        let mut r = Resources::default();
        push_adders(&mut r.adders, self.sum_width, 2 * self.beat.max(1) as u64);
        crate::resources::finish(&self.terms(io), r)
    }
    fn params(&self, io: &Io) -> Vec<Param> {
        vec![
            Param::size("C", self.c),
            Param::size("HW", self.h * self.w),
            Param::flag("IN_SIGNED", io.in_signed),
            Param::int("S", self.shift),
            Param::int("SUMW", self.sum_width),
        ]
        .into_iter()
        .chain((self.beat != 1).then(|| Param::size("K", self.beat)))
        .collect()
    }
}
