//! `inq_add` (`docs/hardware.md` §5b): the elementwise adder of two streams (a residual
//! join). Both inputs transfer together when both are valid and the output register is free;
//! the sum of the aligned inputs is requantized into the output register. Owns the adder's
//! registers, its arithmetic (`inq_model::numerics`, as `inq_model::ops::AddArith`) and the
//! checks of its parameters.
//!
//! Depends on the engine interface (`api.rs`), the generic loop (`loops.rs`), the channels
//! (`crate::chan`) and the leaves. Not here: the decoupled run steps this engine one cycle at
//! a time through the generic loop (`loops.rs`, `step`), with this file's burst fast path.

use inq_hdl::AddUnit;
use inq_model::numerics;
use inq_model::ActFormat;

use super::api::{
    format_of, range_of, BuildCx, Built, Io, PortSpec, ProbeSignal, RunCx, SimEngine, MAX_ELEMENTS,
};
use super::loops::step;
use crate::activity::{Kind, Quiet};
use crate::chan::{Chan, Clock};
use crate::error::SimError;

/// The adder.
#[derive(Debug, Clone)]
pub(crate) struct Add {
    shift_a: u32,
    shift_b: u32,
    /// Requantization shift `R`.
    shift: i32,
    out: ActFormat,
    /// Elements per beat `K` (`docs/hardware.md` §2.1): `K` lanes side by side.
    beat: usize,
    // registers
    out_valid: bool,
    /// The output register: a beat of `K` sums.
    out_data: Vec<i64>,
}

impl Add {
    /// `y = requant((a << SA) + (b << SB))`: rounding shift, then an unsigned output clamps to
    /// `[0, 2^OUT_W − 1]` (ReLU), a signed one saturates (§5b).
    #[inline(always)]
    fn sum(&self, a: i64, b: i64) -> i64 {
        let s = (a << self.shift_a) + (b << self.shift_b);
        numerics::requantize(s, self.shift, false, self.out)
    }
}

const PROBES: [&str; 2] = ["take", "out_data"];

impl SimEngine for Add {
    fn comb(&self, io: &mut Io) {
        let emit_go = !self.out_valid || io.out_ready[0];
        io.in_ready[0] = emit_go && io.in_valid[1];
        io.in_ready[1] = emit_go && io.in_valid[0];
        io.out_valid[0] = self.out_valid;
        io.out_beat_mut(0).copy_from_slice(&self.out_data);
    }

    fn edge(&mut self, io: &mut Io) -> Kind {
        self.comb(io);
        let both = io.in_valid[0] && io.in_valid[1];
        let emit_go = !self.out_valid || io.out_ready[0];
        let take = both && emit_go;
        if emit_go {
            self.out_valid = take;
        }
        if take {
            for i in 0..self.beat {
                let (a, b) = (io.in_beat(0)[i], io.in_beat(1)[i]);
                self.out_data[i] = self.sum(a, b);
            }
        }
        if take {
            Kind::Busy
        } else if both {
            Kind::Stalled
        } else {
            Kind::Idle
        }
    }

    fn decidable(&self, io: &Io) -> bool {
        let a_false = io.in_known[0] && !io.in_valid[0];
        let b_false = io.in_known[1] && !io.in_valid[1];
        (io.out_known[0] || !self.out_valid)
            && (a_false || b_false || (io.in_known[0] && io.in_known[1]))
    }

    fn quiet(&self, io: &Io) -> Option<Quiet> {
        let both = io.in_valid[0] && io.in_valid[1];
        let emit_go = !self.out_valid || io.out_ready[0];
        if emit_go && (both || self.out_valid) {
            return None;
        }
        Some(Quiet::Frozen { stalled: both })
    }

    fn reset(&mut self) {
        self.out_valid = false;
        self.out_data.fill(0);
    }

    fn probe_signals(&self) -> Vec<ProbeSignal> {
        PROBES.iter().copied().zip([1, 64]).collect()
    }

    fn probe(&self, io: &Io, out: &mut Vec<i64>) {
        let take = io.in_valid[0] && io.in_valid[1] && (!self.out_valid || io.out_ready[0]);
        out.extend([i64::from(take), self.out_data[0]]);
    }

    fn run(&mut self, cx: &mut RunCx<'_>) {
        step(self, cx);
    }

    /// Takes the input pairs already written, each at the first cycle both are valid, while
    /// the output FIFO is sure to have room for the output register's word (its room before
    /// `t`, whatever the consumer does later, so `emit_go` holds throughout): that word leaves
    /// the cycle after its take.
    fn burst(
        &mut self,
        chans: &mut [Chan],
        ins: &[usize],
        outs: &[usize],
        clock: &mut Clock,
        t: u64,
        horizon: u64,
    ) -> u64 {
        if self.beat != 1 {
            // wide beats go one edge at a time through the generic loop
            return t;
        }
        let mut room = chans[outs[0]].space(t);
        let mut t = t;
        while let (Some(&(a, wa)), Some(&(b, wb))) =
            (chans[ins[0]].q.front(), chans[ins[1]].q.front())
        {
            let c = t.max(wa + 1).max(wb + 1);
            // the pending word (if any) leaves at t or c: it needs room; the take itself
            // needs `emit_go`, which then holds
            if c >= horizon || (self.out_valid && room == 0) {
                break;
            }
            if c > t {
                // not both valid before c: the pending word (if any) leaves at t
                if self.out_valid {
                    chans[outs[0]].write(t, self.out_data[0]);
                    self.out_valid = false;
                    room -= 1;
                }
                clock.count(t, Kind::Idle, c - t);
            } else if self.out_valid {
                chans[outs[0]].write(c, self.out_data[0]);
                room -= 1;
            }
            clock.count(c, Kind::Busy, 1);
            for &i in ins {
                chans[i].cons_advance(c);
                chans[i].read(c);
            }
            self.out_data[0] = self.sum(a, b);
            self.out_valid = true;
            t = c + 1;
        }
        t
    }
}

/// Checks an adder and builds it.
pub(crate) fn build(cx: &BuildCx, a: &AddUnit) -> Result<Built, SimError> {
    let (a_fmt, out_fmt) = cx.io_formats()?;
    cx.check((1..=62).contains(&a.b_width), "kind.b_width", || {
        format!("width {} outside 1..=62", a.b_width)
    })?;
    let b_fmt = format_of(a.b_width, a.b_signed);
    cx.check(
        a.elements > 0 && a.elements <= MAX_ELEMENTS,
        "kind.elements",
        || format!("{} outside 1..=2^32", a.elements),
    )?;
    cx.check(a.shift_a <= 62 && a.shift_b <= 62, "kind.shift_a", || {
        format!("alignment shifts {} and {} exceed 62", a.shift_a, a.shift_b)
    })?;
    // The aligned sum fits SUMW bits (as the RTL computes it), and SUMW plus a left shift
    // fits an i64.
    let abs = |f: ActFormat| {
        let (lo, hi) = range_of(f.bits, f.signed);
        i128::from(hi.max(-lo))
    };
    let bound = (abs(a_fmt) << a.shift_a) + (abs(b_fmt) << a.shift_b);
    let need = numerics::signed_width_for(bound);
    cx.check(
        need <= a.sum_width && a.sum_width <= 62,
        "kind.sum_width",
        || {
            format!(
                "{} bits; the aligned sum needs {need} (bound {bound}), at most 62",
                a.sum_width
            )
        },
    )?;
    cx.check(
        (-62..=62).contains(&a.shift) && a.sum_width as i64 + i64::from((-a.shift).max(0)) <= 62,
        "kind.shift",
        || format!("requantization shift {} out of range", a.shift),
    )?;
    if let Some(why) = inq_hdl::EngineOp::beat_error(a) {
        return Err(SimError::design(cx.field("kind.beat"), why));
    }
    let spec = |f: ActFormat| PortSpec {
        width: f.bits,
        signed: f.signed,
        elements: a.elements,
        beat: a.beat,
    };
    Ok(Built {
        engine: Box::new(Add {
            shift_a: a.shift_a,
            shift_b: a.shift_b,
            shift: a.shift,
            out: out_fmt,
            beat: a.beat,
            out_valid: false,
            out_data: vec![0; a.beat],
        }),
        inputs: vec![spec(a_fmt), spec(b_fmt)],
        outputs: vec![spec(out_fmt)],
    })
}
