//! `inq_gap` (`docs/hardware.md` §5a): global average pooling without a line buffer. One
//! running sum per channel as the map streams in; the rounded sums of the last pixel go to a
//! circular result memory and leave in channel order while the next image streams in. Owns
//! the unit's registers, storage and parameter checks.
//!
//! Not here: windowed pooling (`pool.rs`); the decoupled run steps this engine one cycle at a
//! time through the generic loop (`loops.rs`, `step`). Depends on the engine interface
//! (`api.rs`), `loops.rs` and the leaves.

use inq_hdl::Gap as GapParams;
use inq_model::numerics;

use super::api::{
    clog2, BuildCx, Built, Io, PortSpec, ProbeSignal, RunCx, SimEngine, MAX_ELEMENTS,
};
use super::loops::step;
use crate::activity::{Kind, Quiet};
use crate::error::SimError;

/// The GAP unit.
#[derive(Debug, Clone)]
pub(crate) struct Gap {
    /// `C`.
    c: usize,
    /// `H·W`.
    hw: usize,
    /// `S = ceil(log2(H·W))`.
    shift: i32,
    /// Elements per input beat `K` (`docs/hardware.md` §5a): `ci` counts channels in steps
    /// of `K`.
    k: usize,
    // registers
    ci: usize,
    pix: usize,
    pending: usize,
    ch: usize,
    out_valid: bool,
    out_data: i64,
    // storage
    acc: Vec<i64>,
    res: Vec<i64>,
}

impl Gap {
    /// comb `in_ready = !last_pix || pending + K ≤ C`.
    #[inline(always)]
    fn in_ready(&self) -> bool {
        self.pix + 1 != self.hw || self.pending + self.k <= self.c
    }
}

const PROBES: [&str; 5] = ["c", "pix", "pending", "ch", "out_data"];

impl SimEngine for Gap {
    fn comb(&self, io: &mut Io) {
        io.in_ready[0] = self.in_ready();
        io.out_valid[0] = self.out_valid;
        io.out_data[0] = self.out_data;
    }

    fn edge(&mut self, io: &mut Io) -> Kind {
        self.comb(io);
        let in_valid = io.in_valid[0];
        let in_fire = in_valid && io.in_ready[0];
        let emit_go = !self.out_valid || io.out_ready[0];
        let emit = emit_go && self.pending != 0;
        let last_pix = self.pix + 1 == self.hw;
        // emission reads the pre-edge `res[ch]`
        if emit_go {
            self.out_valid = self.pending != 0;
        }
        if emit {
            self.out_data = self.res[self.ch];
            self.ch = if self.ch + 1 == self.c {
                0
            } else {
                self.ch + 1
            };
        }
        if in_fire {
            let c0 = self.ci;
            for i in 0..self.k {
                let c = c0 + i;
                let sum = if self.pix == 0 { 0 } else { self.acc[c] } + io.in_beat(0)[i];
                self.acc[c] = sum;
                if last_pix {
                    self.res[c] = numerics::shift_round(sum, self.shift);
                }
            }
            if c0 + self.k == self.c {
                self.ci = 0;
                self.pix = if last_pix { 0 } else { self.pix + 1 };
            } else {
                self.ci = c0 + self.k;
            }
        }
        self.pending = self.pending + self.k * usize::from(in_fire && last_pix) - usize::from(emit);
        if in_fire {
            Kind::Busy
        } else if in_valid {
            Kind::Stalled
        } else {
            Kind::Idle
        }
    }

    fn decidable(&self, io: &Io) -> bool {
        // `in_valid` decides the activity even when not ready
        io.in_known[0] && (io.out_known[0] || !self.out_valid)
    }

    fn quiet(&self, io: &Io) -> Option<Quiet> {
        let in_valid = io.in_valid[0];
        let emit_go = !self.out_valid || io.out_ready[0];
        if (in_valid && self.in_ready()) || (emit_go && (self.pending != 0 || self.out_valid)) {
            return None;
        }
        Some(Quiet::Frozen { stalled: in_valid })
    }

    fn reset(&mut self) {
        self.ci = 0;
        self.pix = 0;
        self.pending = 0;
        self.ch = 0;
        self.out_valid = false;
        self.out_data = 0;
    }

    fn probe_signals(&self) -> Vec<ProbeSignal> {
        let b = |n: usize| clog2(n as u64 + 1);
        let widths = [b(self.c), b(self.hw), b(self.c), b(self.c), 64];
        PROBES.iter().copied().zip(widths).collect()
    }

    fn probe(&self, _io: &Io, out: &mut Vec<i64>) {
        out.extend([
            self.ci as i64,
            self.pix as i64,
            self.pending as i64,
            self.ch as i64,
            self.out_data,
        ]);
    }

    fn run(&mut self, cx: &mut RunCx<'_>) {
        step(self, cx);
    }
}

/// Checks a GAP engine and builds it.
pub(crate) fn build(cx: &BuildCx, g: &GapParams) -> Result<Built, SimError> {
    let (in_fmt, out_fmt) = cx.io_formats()?;
    for (v, name) in [(g.c, "c"), (g.h, "h"), (g.w, "w")] {
        cx.check(v > 0 && v <= 1 << 24, &format!("kind.{name}"), || {
            format!("{v} outside 1..=2^24")
        })?;
    }
    let hw = g.h * g.w;
    cx.check(
        hw <= 1 << 24 && g.c as u128 * hw as u128 <= MAX_ELEMENTS as u128,
        "kind",
        || "too many elements".into(),
    )?;
    cx.check(g.shift == numerics::gap_shift(hw), "kind.shift", || {
        format!(
            "shift {} != ceil(log2(H·W)) = {}",
            g.shift,
            numerics::gap_shift(hw)
        )
    })?;
    cx.check(
        g.sum_width > in_fmt.bits + g.shift && g.sum_width <= 62,
        "kind.sum_width",
        || {
            format!(
                "{} must hold A + S + 1 = {} bits and be at most 62",
                g.sum_width,
                in_fmt.bits + g.shift + 1
            )
        },
    )?;
    cx.check(in_fmt == out_fmt, "out_width", || {
        "global average pooling keeps the input format".into()
    })?;
    if let Some(why) = inq_hdl::EngineOp::beat_error(g) {
        return Err(SimError::design(cx.field("kind.beat"), why));
    }
    let spec = |elements, beat| PortSpec {
        width: in_fmt.bits,
        signed: in_fmt.signed,
        elements,
        beat,
    };
    Ok(Built {
        engine: Box::new(Gap {
            c: g.c,
            hw,
            shift: g.shift as i32,
            k: g.beat,
            ci: 0,
            pix: 0,
            pending: 0,
            ch: 0,
            out_valid: false,
            out_data: 0,
            acc: vec![0; g.c],
            res: vec![0; g.c],
        }),
        inputs: vec![spec(g.c * hw, g.beat)],
        outputs: vec![spec(g.c, 1)],
    })
}
