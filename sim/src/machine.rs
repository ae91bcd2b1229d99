//! The whole pipeline of `docs/hardware.md` §2 as one clocked machine (the *lockstep* run),
//! built from a `Design` graph: a FIFO per stream, the engines (`src/engines/`), the input
//! port and the output stage. Also the graph-level checks of a design (`validate`): every
//! stream's endpoints, widths and element counts, the engine order, sizes; each engine file
//! checks its own parameters.
//!
//! One cycle ([`Machine::step`]) is the two-phase model of §1: the FIFOs' combinational
//! outputs (`m_valid`, `m_data`, `s_ready`) are taken for every stream, every engine computes
//! its edge from its input FIFOs' values and its output FIFOs' `s_ready` (which inputs it
//! reads, what it writes), then every FIFO updates.
//!
//! Depends on the engine registry (`engines/mod.rs`), the engine interface (`engines/api.rs`),
//! the FIFO and output stage (`engines/fifo.rs`, `engines/out.rs`), `protocol.rs` and the
//! leaves; never on the decoupled run or the report. [`Activity`] is defined in the
//! `activity` leaf and re-exported here.
//!
//! Not here: the engines' state machines and parameter checks (`engines/`), the driver of the
//! ports (`protocol.rs`), the decoupled run (`decoupled.rs`, which takes a fresh machine
//! apart, `Machine::into_parts`), the top-level run and the report (`simulation.rs`,
//! `report.rs`).

use inq_hdl::{Design, Endpoint, DESIGN_FORMAT, DESIGN_VERSION};

pub use crate::activity::Activity;
use crate::activity::{Counters, Quiet};
use crate::engines;
use crate::engines::api::{check, copy_beat, Built, Io, PortSpec, SimEngine, MAX_ELEMENTS};
use crate::engines::fifo::Fifo;
use crate::engines::out::OutStage;
use crate::error::SimError;
use crate::protocol::Fires;

/// The top-level inputs of one cycle (`rst`, `s_axis_*`, `m_axis_tready`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortInputs {
    /// `rst` (synchronous, active high).
    pub rst: bool,
    /// `s_axis_tvalid`.
    pub s_tvalid: bool,
    /// `s_axis_tdata` as an `IN_W`-bit pattern (higher bits are ignored).
    pub s_tdata: u64,
    /// `s_axis_tlast` (ignored by the design, §2).
    pub s_tlast: bool,
    /// `m_axis_tready`.
    pub m_tready: bool,
}

/// The top-level outputs of one cycle, before its rising edge. Every one is a function of
/// registers only (§1), so they can be read before the inputs are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortOutputs {
    /// `s_axis_tready`.
    pub s_tready: bool,
    /// `m_axis_tvalid`.
    pub m_tvalid: bool,
    /// `m_axis_tdata` as a signed value (stale when `m_tvalid` is 0, as in the RTL).
    pub m_tdata: i64,
    /// `m_axis_tdata` as an `OUT_W`-bit pattern.
    pub m_tdata_raw: u64,
    /// `m_axis_tlast`.
    pub m_tlast: bool,
    /// `m_axis_tuser` (`IDX_W` bits).
    pub m_tuser: u64,
}

/// A snapshot of one engine's registers and handshake signals (for waveforms and debugging).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineProbe {
    /// The engine kind's registers and combinational signals, by name (e.g. an MVU's `iy ie
    /// wp cdone ahead oy ox nf sf pending ch fire out_data`).
    pub signals: Vec<(&'static str, i64)>,
    /// Per input port: `(valid, ready)` (the FIFO's `m_valid`, the engine's `in_ready`).
    pub inputs: Vec<(bool, bool)>,
    /// Per output port: `(valid, ready)` (the engine's `out_valid`, the FIFO's `s_ready`).
    pub outputs: Vec<(bool, bool)>,
}

impl EngineProbe {
    /// The value of signal `name`.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.signals.iter().find(|(n, _)| *n == name).map(|s| s.1)
    }
}

/// The handshake signals of one stream in one cycle (the last one [`Machine::step`] or
/// [`Machine::eval`] computed): the producer side (into the FIFO) and the consumer side (out
/// of it).
/// The data are beats (`docs/hardware.md` §2.1): as many elements as the stream carries per
/// beat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSignals {
    /// The producer's `valid` (`s<s>_tvalid`).
    pub s_valid: bool,
    /// The FIFO's `s_ready` (`s<s>_tready`).
    pub s_ready: bool,
    /// The producer's data (of the last cycle in which `s_valid` was 1: a beat that is not
    /// valid is not copied).
    pub s_data: Vec<i64>,
    /// The FIFO's `m_valid` (`q<s>_tvalid`).
    pub m_valid: bool,
    /// The consumer's `ready` (`q<s>_tready`).
    pub m_ready: bool,
    /// The FIFO's `m_data` (of the last cycle in which `m_valid` was 1).
    pub m_data: Vec<i64>,
}

impl StreamSignals {
    /// The beat written into the FIFO at the edge, if any.
    pub fn pushed(&self) -> Option<&[i64]> {
        (self.s_valid && self.s_ready).then_some(&self.s_data[..])
    }

    /// The beat read from the FIFO at the edge, if any.
    pub fn popped(&self) -> Option<&[i64]> {
        (self.m_valid && self.m_ready).then_some(&self.m_data[..])
    }
}

pub(crate) fn mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

fn sign_extend(raw: u64, width: u32) -> i64 {
    if width >= 64 {
        raw as i64
    } else {
        let s = 64 - width;
        ((raw << s) as i64) >> s
    }
}

/// The module that produces or consumes a stream, for the decoupled run: 0 is the input port
/// (source), `e + 1` engine `e`, `engines + 1` the output stage (sink).
fn module_of(ep: Endpoint, engines: usize) -> usize {
    match ep {
        Endpoint::Input => 0,
        Endpoint::Engine { engine, .. } => engine + 1,
        Endpoint::Output => engines + 1,
    }
}

/// A [`Machine`]'s parts, for the decoupled run.
pub(crate) struct Parts {
    pub engines: Vec<Box<dyn SimEngine>>,
    pub ios: Vec<Io>,
    pub ins: Vec<Vec<usize>>,
    pub outs: Vec<Vec<usize>>,
    /// FIFO depth per stream.
    pub depths: Vec<usize>,
    /// Elements per beat per stream.
    pub beats: Vec<usize>,
    /// Per stream: producer and consumer module (see `module_of`).
    pub producer: Vec<usize>,
    pub consumer: Vec<usize>,
    pub out: OutStage,
    pub out_stream: usize,
    /// `OUT_W` bits.
    pub out_mask: u64,
    pub out_width: u32,
    pub idx_mask: u64,
}

/// One engine in the [`Machine`]: its simulator, its wires of the current cycle, the streams
/// of its input and output ports, its activity.
#[derive(Debug)]
struct Slot {
    eng: Box<dyn SimEngine>,
    io: Io,
    ins: Vec<usize>,
    outs: Vec<usize>,
    counters: Counters,
}

impl Slot {
    /// The neighbour signals from the FIFOs (before their edge).
    #[inline(always)]
    fn fill(&mut self, fifos: &[Fifo]) {
        for (p, &s) in self.ins.iter().enumerate() {
            let f = &fifos[s];
            let valid = f.m_valid();
            self.io.in_valid[p] = valid;
            // the data of a beat that is not valid is not used (§1): not copied
            if valid {
                copy_beat(self.io.in_beat_mut(p), f.m_data());
            }
        }
        for (k, &s) in self.outs.iter().enumerate() {
            self.io.out_ready[k] = fifos[s].s_ready();
        }
    }

    /// [`Slot::fill`], and the FIFO signals and the engine's own into `wires`, around `f`.
    #[inline(always)]
    fn wire(&mut self, fifos: &[Fifo], wires: &mut [StreamSignals], f: impl FnOnce(&mut Slot)) {
        self.fill(fifos);
        f(self);
        let io = &self.io;
        // (the data of a beat that is not valid is not copied: nothing reads it)
        for (p, &s) in self.ins.iter().enumerate() {
            let w = &mut wires[s];
            w.m_valid = io.in_valid[p];
            if w.m_valid {
                copy_beat(&mut w.m_data, io.in_beat(p));
            }
            w.m_ready = io.in_ready[p];
        }
        for (k, &s) in self.outs.iter().enumerate() {
            let w = &mut wires[s];
            w.s_ready = io.out_ready[k];
            w.s_valid = io.out_valid[k];
            if w.s_valid {
                copy_beat(&mut w.s_data, io.out_beat(k));
            }
        }
    }
}

/// The clocked model of a whole `Design`: a FIFO per stream, the engines and the output
/// stage. Registers start at their reset values (the initial reset of the harness is
/// therefore a no-op).
#[derive(Debug)]
pub struct Machine {
    fifos: Vec<Fifo>,
    slots: Vec<Slot>,
    producer: Vec<usize>,
    consumer: Vec<usize>,
    out: OutStage,
    out_stream: usize,
    /// The signals of every stream in the last evaluated cycle.
    wires: Vec<StreamSignals>,
    in_width: u32,
    in_signed: bool,
    out_width: u32,
    idx_mask: u64,
    reset_cycles: u64,
    quiet: Vec<Quiet>,
}

impl Machine {
    /// Checks `design` against the hardware contract and builds its machine.
    pub fn new(design: &Design) -> Result<Self, SimError> {
        let built = validate(design)?;
        let ne = design.engines.len();
        let slots = built
            .into_iter()
            .zip(&design.engines)
            .map(|(b, en)| Slot {
                io: Io::with_beats(
                    &b.inputs.iter().map(|p| p.beat).collect::<Vec<_>>(),
                    &b.outputs.iter().map(|p| p.beat).collect::<Vec<_>>(),
                ),
                eng: b.engine,
                ins: en.inputs.clone(),
                outs: en.outputs.clone(),
                counters: Counters::default(),
            })
            .collect();
        Ok(Machine {
            fifos: design
                .streams
                .iter()
                .map(|s| Fifo::new(s.depth, s.beat))
                .collect(),
            slots,
            producer: design
                .streams
                .iter()
                .map(|s| module_of(s.from, ne))
                .collect(),
            consumer: design.streams.iter().map(|s| module_of(s.to, ne)).collect(),
            out: OutStage::new(design.output.count),
            out_stream: design.output.stream,
            wires: design
                .streams
                .iter()
                .map(|s| StreamSignals {
                    s_data: vec![0; s.beat.max(1)],
                    m_data: vec![0; s.beat.max(1)],
                    ..StreamSignals::default()
                })
                .collect(),
            in_width: design.input.width,
            in_signed: design.input.signed,
            out_width: design.output.width,
            idx_mask: mask(design.output.idx_width),
            reset_cycles: 0,
            quiet: Vec::with_capacity(ne),
        })
    }

    /// The top-level outputs before the next edge (functions of registers only).
    #[inline]
    pub fn ports(&self) -> PortOutputs {
        let f0 = &self.fifos[0];
        let fo = &self.fifos[self.out_stream];
        let data = fo.m_data()[0];
        PortOutputs {
            s_tready: f0.s_ready(),
            m_tvalid: fo.m_valid(),
            m_tdata: data,
            m_tdata_raw: (data as u64) & mask(self.out_width),
            m_tlast: self.out.tlast(),
            m_tuser: (self.out.tuser(data) as u64) & self.idx_mask,
        }
    }

    /// Phase 1 of a cycle: the FIFOs' outputs, the top-level inputs, and every engine's
    /// combinational signals into `wires` (and, with `edge`, every engine's register update).
    fn evaluate(&mut self, inp: &PortInputs, edge: bool) {
        let input = self.input_value(inp.s_tdata);
        let fifos = &self.fifos;
        let w = &mut self.wires;
        // the input port's side of stream 0 and the output stage's side of its stream
        w[0].s_valid = inp.s_tvalid;
        w[0].s_data[0] = input;
        w[0].s_ready = fifos[0].s_ready();
        let o = &mut w[self.out_stream];
        o.m_valid = fifos[self.out_stream].m_valid();
        copy_beat(&mut o.m_data, fifos[self.out_stream].m_data());
        o.m_ready = inp.m_tready;
        for slot in &mut self.slots {
            if edge {
                slot.wire(fifos, w, |slot| {
                    let kind = slot.eng.edge(&mut slot.io);
                    slot.counters.add(kind, 1);
                });
            } else {
                slot.wire(fifos, w, |slot| slot.eng.comb(&mut slot.io));
            }
        }
    }

    /// The combinational signals of the next cycle with the given inputs, without the edge
    /// (see [`Machine::signals`], [`Machine::probe`]).
    pub fn eval(&mut self, inp: &PortInputs) {
        self.evaluate(inp, false);
    }

    /// One rising edge with the given inputs (two-phase model of §1). Returns the top-level
    /// transfers of the edge.
    #[inline]
    pub fn step(&mut self, inp: &PortInputs) -> Fires {
        if inp.rst {
            self.reset();
            return Fires::default();
        }
        self.evaluate(inp, true);
        let o = &self.wires[self.out_stream];
        let m_fire = o.m_valid && o.m_ready;
        self.out.update(m_fire, o.m_data[0]);
        for (f, w) in self.fifos.iter_mut().zip(&self.wires) {
            f.update(w.s_valid, &w.s_data, w.m_valid && w.m_ready);
        }
        Fires {
            input: self.wires[0].s_valid && self.wires[0].s_ready,
            output: m_fire,
        }
    }

    /// The number of upcoming cycles (at most `max`) that are *quiet*, provided no top-level
    /// transfer can happen in them: every engine either changes nothing but its activity
    /// counters, or is an MVU in the middle of a neuron fold (it fires without touching any
    /// stream). Nothing crosses an engine boundary in such cycles, so they can be applied at
    /// once by [`Machine::skip_quiet`] with exactly the effect of stepping them one by one.
    ///
    /// The caller must guarantee that no top-level transfer happens in these cycles: `rst` is
    /// 0, and `s_axis_tvalid` is 0 or `s_axis_tready` is 0 (then the input FIFO stays full),
    /// and `m_axis_tvalid` is 0 — this function returns 0 unless the input FIFO is full or
    /// `input_idle`, and `m_axis_tvalid` is 0. Returns 0 if no engine is folding (an idle
    /// machine is never skipped).
    pub fn quiet_cycles(&mut self, max: usize, input_idle: bool) -> usize {
        let input_may_fire = !input_idle && self.fifos[0].s_ready();
        if self.fifos[self.out_stream].m_valid() || input_may_fire || max < 2 {
            return 0;
        }
        self.quiet.clear();
        let mut k = usize::MAX;
        for slot in &mut self.slots {
            slot.fill(&self.fifos);
            match slot.eng.quiet(&slot.io) {
                None => return 0,
                Some(q) => {
                    if let Quiet::Folding(r) = q {
                        k = k.min(r);
                    }
                    self.quiet.push(q);
                }
            }
        }
        if k == usize::MAX {
            return 0;
        }
        k.min(max)
    }

    /// Applies `k` quiet cycles found by [`Machine::quiet_cycles`] (call it right before,
    /// with no change to the machine in between).
    pub fn skip_quiet(&mut self, k: usize) {
        for (slot, &q) in self.slots.iter_mut().zip(&self.quiet) {
            slot.eng.apply_quiet(q, k);
            slot.counters.add(q.kind(), k as u64);
        }
        self.quiet.clear();
    }

    /// A cycle with `rst = 1`: every control register takes its reset value.
    pub fn reset(&mut self) {
        for f in &mut self.fifos {
            f.reset();
        }
        for slot in &mut self.slots {
            slot.eng.reset();
        }
        self.out.reset();
        self.reset_cycles += 1;
    }

    /// Takes the machine apart for the decoupled run (`decoupled.rs`).
    pub(crate) fn into_parts(self) -> Parts {
        let (mut engines, mut ios, mut ins, mut outs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for slot in self.slots {
            engines.push(slot.eng);
            ios.push(slot.io);
            ins.push(slot.ins);
            outs.push(slot.outs);
        }
        Parts {
            engines,
            ios,
            ins,
            outs,
            depths: self.fifos.iter().map(|f| f.depth).collect(),
            beats: self.fifos.iter().map(|f| f.beat).collect(),
            producer: self.producer,
            consumer: self.consumer,
            out: self.out,
            out_stream: self.out_stream,
            out_mask: mask(self.out_width),
            out_width: self.out_width,
            idx_mask: self.idx_mask,
        }
    }

    /// The value an `IN_W`-bit input pattern stands for (as `step` reads `s_axis_tdata`).
    pub(crate) fn input_value(&self, raw: u64) -> i64 {
        if self.in_signed {
            sign_extend(raw, self.in_width)
        } else {
            (raw & mask(self.in_width)) as i64
        }
    }

    /// Number of engines (forks included).
    pub fn engine_count(&self) -> usize {
        self.slots.len()
    }

    /// Number of streams (= FIFOs).
    pub fn stream_count(&self) -> usize {
        self.fifos.len()
    }

    /// Busy/stalled/idle cycles of engine `e` so far.
    pub fn activity(&self, e: usize) -> Option<Activity> {
        self.slots.get(e).map(|s| s.counters.into())
    }

    /// Largest occupancy the FIFO of stream `s` reached so far.
    pub fn fifo_peak(&self, s: usize) -> Option<usize> {
        self.fifos.get(s).map(|f| f.peak)
    }

    /// Current occupancy (`count`) of the FIFO of stream `s`.
    pub fn fifo_count(&self, s: usize) -> Option<usize> {
        self.fifos.get(s).map(|f| f.count)
    }

    /// Cycles spent in reset so far (each [`Machine::reset`] or `step` with `rst`).
    pub fn reset_cycles(&self) -> u64 {
        self.reset_cycles
    }

    /// The handshake signals of stream `s` in the last cycle [`Machine::step`] (without
    /// `rst`) or [`Machine::eval`] computed: a tap on the producer side observes
    /// [`StreamSignals::pushed`], one at the FIFO output [`StreamSignals::popped`].
    pub fn signals(&self, s: usize) -> Option<&StreamSignals> {
        self.wires.get(s)
    }

    /// Names and widths of engine `e`'s [`EngineProbe::signals`].
    pub fn probe_signals(&self, e: usize) -> Option<Vec<(&'static str, u32)>> {
        self.slots.get(e).map(|s| s.eng.probe_signals())
    }

    /// Registers and handshake signals of engine `e` before the next edge (every engine's
    /// signals are functions of registers, §1).
    pub fn probe(&self, e: usize) -> Option<EngineProbe> {
        let slot = self.slots.get(e)?;
        let en = &slot.eng;
        let mut io = slot.io.clone();
        for (p, &s) in slot.ins.iter().enumerate() {
            io.in_valid[p] = self.fifos[s].m_valid();
            io.in_beat_mut(p).copy_from_slice(self.fifos[s].m_data());
        }
        for (k, &s) in slot.outs.iter().enumerate() {
            io.out_ready[k] = self.fifos[s].s_ready();
        }
        en.comb(&mut io);
        let mut values = Vec::new();
        en.probe(&io, &mut values);
        let names = en.probe_signals();
        Some(EngineProbe {
            signals: names.iter().map(|n| n.0).zip(values).collect(),
            inputs: io
                .in_valid
                .iter()
                .copied()
                .zip(io.in_ready.iter().copied())
                .collect(),
            outputs: io
                .out_valid
                .iter()
                .copied()
                .zip(io.out_ready.iter().copied())
                .collect(),
        })
    }
}

/// Checks every field the simulator relies on, so that no user-supplied design can make it
/// panic or compute with overflowing integers, and builds the engines' simulators.
pub(crate) fn validate(d: &Design) -> Result<Vec<Built>, SimError> {
    check(
        d.format == DESIGN_FORMAT,
        || "format".into(),
        || format!("expected \"{DESIGN_FORMAT}\", found {:?}", d.format),
    )?;
    check(
        d.version == DESIGN_VERSION,
        || "version".into(),
        || {
            format!(
                "unsupported version {}; this build reads {DESIGN_VERSION}",
                d.version
            )
        },
    )?;
    let ne = d.engines.len();
    let ns = d.streams.len();
    check(
        ne > 0 && ne <= 1 << 16,
        || "engines".into(),
        || format!("{ne} engines, need 1..=65536"),
    )?;
    check(
        ns > 0 && ns <= 1 << 20,
        || "streams".into(),
        || format!("{ns} streams, need 1..=2^20"),
    )?;
    let [c0, h0, w0] = d.input.shape;
    check(
        c0 > 0 && h0 > 0 && w0 > 0,
        || "input.shape".into(),
        || format!("{:?} has a zero dimension", d.input.shape),
    )?;
    check(
        (1..=62).contains(&d.input.width),
        || "input.width".into(),
        || format!("width {} outside 1..=62", d.input.width),
    )?;
    let in_elements = (c0 as u128) * (h0 as u128) * (w0 as u128);
    check(
        in_elements <= MAX_ELEMENTS as u128,
        || "input.shape".into(),
        || "too many elements".into(),
    )?;
    let mut total_depth = 0usize;
    for (i, s) in d.streams.iter().enumerate() {
        check(
            (2..=1 << 20).contains(&s.depth),
            || format!("streams[{i}].depth"),
            || format!("depth {} outside 2..=2^20", s.depth),
        )?;
        total_depth += s.depth * s.beat.max(1);
        check(
            s.beat >= 1 && s.elements_per_image.is_multiple_of(s.beat),
            || format!("streams[{i}].beat"),
            || {
                format!(
                    "{} elements per beat must be at least 1 and divide its {} elements per image",
                    s.beat, s.elements_per_image
                )
            },
        )?;
        check(
            (1..=62).contains(&s.width),
            || format!("streams[{i}].width"),
            || format!("width {} outside 1..=62", s.width),
        )?;
    }
    check(
        total_depth <= 1 << 26,
        || "streams".into(),
        || "the FIFOs hold too many elements".into(),
    )?;

    // every engine's own parameters
    let built: Vec<Built> = (0..ne)
        .map(|e| engines::build(d, e))
        .collect::<Result<_, _>>()?;

    // ports ↔ streams, both ways
    for (e, (en, b)) in d.engines.iter().zip(&built).enumerate() {
        check(
            en.inputs.len() == b.inputs.len(),
            || format!("engines[{e}].inputs"),
            || {
                format!(
                    "{} streams, but a {} engine reads {}",
                    en.inputs.len(),
                    en.kind.tag(),
                    b.inputs.len()
                )
            },
        )?;
        check(
            en.outputs.len() == b.outputs.len(),
            || format!("engines[{e}].outputs"),
            || {
                format!(
                    "{} streams, but this {} engine writes {}",
                    en.outputs.len(),
                    en.kind.tag(),
                    b.outputs.len()
                )
            },
        )?;
        for (port, &s) in en.inputs.iter().enumerate() {
            check(
                d.streams
                    .get(s)
                    .is_some_and(|st| st.to == Endpoint::Engine { engine: e, port }),
                || format!("engines[{e}].inputs[{port}]"),
                || format!("stream {s} does not end at input port {port} of engine {e}"),
            )?;
        }
        for (port, &s) in en.outputs.iter().enumerate() {
            check(
                d.streams
                    .get(s)
                    .is_some_and(|st| st.from == Endpoint::Engine { engine: e, port }),
                || format!("engines[{e}].outputs[{port}]"),
                || format!("stream {s} does not start at output port {port} of engine {e}"),
            )?;
        }
    }
    check(
        d.output.stream < ns,
        || "output.stream".into(),
        || format!("no stream {}", d.output.stream),
    )?;
    let input_spec = PortSpec {
        width: d.input.width,
        signed: d.input.signed,
        elements: in_elements as usize,
        beat: 1,
    };
    for (i, s) in d.streams.iter().enumerate() {
        let f = |k: &str| format!("streams[{i}].{k}");
        let producer = match s.from {
            Endpoint::Input => {
                check(
                    i == 0,
                    || f("from"),
                    || "only stream 0 leaves the input port".into(),
                )?;
                input_spec
            }
            Endpoint::Engine { engine, port } => {
                let spec = built
                    .get(engine)
                    .and_then(|b| b.outputs.get(port))
                    .filter(|_| d.engines[engine].outputs.get(port) == Some(&i));
                match spec {
                    Some(p) => *p,
                    None => {
                        return Err(SimError::design(
                            f("from"),
                            format!(
                                "engine {engine} has no output port {port} writing this stream"
                            ),
                        ))
                    }
                }
            }
            Endpoint::Output => {
                return Err(SimError::design(
                    f("from"),
                    "a stream cannot start at the output stage",
                ))
            }
        };
        check(
            i != 0 || s.from == Endpoint::Input,
            || f("from"),
            || "stream 0 must leave the input port".into(),
        )?;
        let consumer = match s.to {
            Endpoint::Engine { engine, port } => {
                let spec = built
                    .get(engine)
                    .and_then(|b| b.inputs.get(port))
                    .filter(|_| d.engines[engine].inputs.get(port) == Some(&i));
                let Some(p) = spec else {
                    return Err(SimError::design(
                        f("to"),
                        format!("engine {engine} has no input port {port} reading this stream"),
                    ));
                };
                // the engine order is topological: producers come first
                if let Endpoint::Engine { engine: from, .. } = s.from {
                    check(
                        from < engine,
                        || f("to"),
                        || {
                            format!("engine {engine} reads engine {from}, which is listed after it (the engines must be in topological order)")
                        },
                    )?;
                }
                *p
            }
            Endpoint::Output => {
                check(
                    i == d.output.stream,
                    || f("to"),
                    || {
                        format!(
                            "ends at the output stage, which reads stream {}",
                            d.output.stream
                        )
                    },
                )?;
                check(
                    d.output.count > 0 && d.output.count as u128 <= 1 << 32,
                    || "output.count".into(),
                    || format!("{} outside 1..=2^32", d.output.count),
                )?;
                PortSpec {
                    width: d.output.width,
                    signed: s.signed,
                    elements: d.output.count,
                    beat: 1,
                }
            }
            Endpoint::Input => {
                return Err(SimError::design(
                    f("to"),
                    "a stream cannot end at the input port",
                ))
            }
        };
        for (who, p) in [("producer", producer), ("consumer", consumer)] {
            check(
                s.width == p.width && s.signed == p.signed,
                || f("width"),
                || {
                    format!(
                        "{} bits signed={}, but its {who} has {} bits signed={}",
                        s.width, s.signed, p.width, p.signed
                    )
                },
            )?;
            check(
                s.beat == p.beat,
                || f("beat"),
                || format!("{} elements per beat, but its {who} has {}", s.beat, p.beat),
            )?;
            check(
                s.elements_per_image == p.elements,
                || f("elements_per_image"),
                || {
                    format!(
                        "{}, but its {who} has {} elements per image",
                        s.elements_per_image, p.elements
                    )
                },
            )?;
        }
    }
    check(
        d.streams[d.output.stream].to == Endpoint::Output,
        || "output.stream".into(),
        || {
            format!(
                "stream {} does not end at the output stage",
                d.output.stream
            )
        },
    )?;
    check(
        (1..=64).contains(&d.output.idx_width),
        || "output.idx_width".into(),
        || "outside 1..=64".into(),
    )?;
    for (i, t) in d.taps.iter().enumerate() {
        let s = d.streams.get(t.stream);
        check(
            s.is_some(),
            || format!("taps[{i}].stream"),
            || format!("no stream {}", t.stream),
        )?;
        check(
            s.is_some_and(|s| s.elements_per_image == t.elements_per_image),
            || format!("taps[{i}].elements_per_image"),
            || "differs from its stream's".into(),
        )?;
    }
    Ok(built)
}
