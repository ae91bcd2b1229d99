//! `inq_fork #(W, N)` (`docs/hardware.md` §5c): `N` copies of one stream, purely
//! combinational. An element leaves the input FIFO and enters every output FIFO at an edge
//! where the input is valid and every output FIFO has room. Owns the fork's handshake logic
//! and its parameter checks; it has no registers.
//!
//! Not here: the skip-FIFO depths of its outputs (`inq_hdl::graph`, `crate::fifo_sizing`);
//! the decoupled run steps this engine through the generic loop (`loops.rs`, `step`), with
//! this file's burst fast path. Depends on the engine interface (`api.rs`), `loops.rs`, the
//! channels (`crate::chan`) and the leaves.

use inq_hdl::Fork as ForkParams;

use super::api::{BuildCx, Built, Io, PortSpec, ProbeSignal, RunCx, SimEngine, MAX_ELEMENTS};
use super::loops::step;
use crate::activity::{Kind, Quiet};
use crate::chan::{Chan, Clock};
use crate::error::SimError;

/// The fork (no state).
#[derive(Debug, Clone)]
pub(crate) struct Fork {
    outputs: usize,
    /// Elements per beat (`docs/hardware.md` §2.1): the fork copies beats.
    beat: usize,
}

impl SimEngine for Fork {
    fn comb(&self, io: &mut Io) {
        // out_valid[k] = in_valid && AND_{j≠k} out_ready[j]: count the outputs not ready
        let blocked = io.out_ready.iter().filter(|r| !**r).count();
        let all = blocked == 0;
        io.in_ready[0] = all;
        for k in 0..self.outputs {
            let others = blocked - usize::from(!io.out_ready[k]) == 0;
            io.out_valid[k] = io.in_valid[0] && others;
        }
        if self.beat == 1 {
            for k in 0..self.outputs {
                io.out_data[k] = io.in_data[0];
            }
        } else {
            for k in 0..self.outputs {
                let (i0, i1) = (io.in_off[0], io.in_off[1]);
                let o0 = io.out_off[k];
                io.out_data[o0..o0 + (i1 - i0)].copy_from_slice(&io.in_data[i0..i1]);
            }
        }
    }

    fn edge(&mut self, io: &mut Io) -> Kind {
        self.comb(io);
        match (io.in_valid[0], io.in_ready[0]) {
            (true, true) => Kind::Busy,
            (true, false) => Kind::Stalled,
            _ => Kind::Idle,
        }
    }

    fn decidable(&self, io: &Io) -> bool {
        io.in_known[0]
            && (!io.in_valid[0]
                || io.out_known.iter().all(|&k| k)
                || io
                    .out_known
                    .iter()
                    .zip(&io.out_ready)
                    .any(|(&k, &r)| k && !r))
    }

    fn quiet(&self, io: &Io) -> Option<Quiet> {
        let in_valid = io.in_valid[0];
        let all = io.out_ready.iter().all(|&r| r);
        if in_valid && all {
            None
        } else {
            Some(Quiet::Frozen { stalled: in_valid })
        }
    }

    fn reset(&mut self) {}

    fn probe_signals(&self) -> Vec<ProbeSignal> {
        vec![("fire", 1)]
    }

    fn probe(&self, io: &Io, out: &mut Vec<i64>) {
        out.push(i64::from(io.in_valid[0] && io.in_ready[0]));
    }

    fn run(&mut self, cx: &mut RunCx<'_>) {
        step(self, cx);
    }

    /// Moves the input elements already written, each at the first cycle it is valid, while
    /// every output FIFO is sure to have room (its room before `t`, whatever the consumers do
    /// later): idle until the element is valid, then busy for one cycle.
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
        let mut room = u64::MAX;
        for &o in outs {
            room = room.min(chans[o].space(t));
        }
        let mut t = t;
        while room > 0 {
            let Some(&(d, w)) = chans[ins[0]].q.front() else {
                break;
            };
            let c = t.max(w + 1);
            if c >= horizon {
                break;
            }
            if c > t {
                clock.count(t, Kind::Idle, c - t);
            }
            clock.count(c, Kind::Busy, 1);
            let inch = &mut chans[ins[0]];
            inch.cons_advance(c);
            inch.read(c);
            for &o in outs {
                chans[o].write(c, d);
            }
            t = c + 1;
            room -= 1;
        }
        t
    }
}

/// Checks a fork and builds it.
pub(crate) fn build(cx: &BuildCx, f: &ForkParams) -> Result<Built, SimError> {
    let (in_fmt, out_fmt) = cx.io_formats()?;
    cx.check(
        f.outputs >= 1 && f.outputs <= 1 << 10,
        "kind.outputs",
        || format!("{} outside 1..=1024", f.outputs),
    )?;
    cx.check(
        f.elements > 0 && f.elements <= MAX_ELEMENTS,
        "kind.elements",
        || format!("{} outside 1..=2^32", f.elements),
    )?;
    if let Some(why) = inq_hdl::EngineOp::beat_error(f) {
        return Err(SimError::design(cx.field("kind.beat"), why));
    }
    cx.check(in_fmt == out_fmt, "out_width", || {
        "a fork copies its input".into()
    })?;
    let spec = PortSpec {
        width: in_fmt.bits,
        signed: in_fmt.signed,
        elements: f.elements,
        beat: f.beat,
    };
    Ok(Built {
        engine: Box::new(Fork {
            outputs: f.outputs,
            beat: f.beat,
        }),
        inputs: vec![spec],
        outputs: vec![spec; f.outputs],
    })
}
