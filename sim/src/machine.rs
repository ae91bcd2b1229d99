//! The whole pipeline of `docs/hardware.md` §2 as one clocked machine, built from a `Design`.

use inq_hdl::{Design, EngineKind, MvuOutput, PoolMode, DESIGN_FORMAT, DESIGN_VERSION};
use inq_model::numerics::{self, Weight};
use inq_model::ActFormat;
use inq_model::WeightKind;

use crate::engines::{
    multiplier, Engine, Fifo, Mults, Mvu, MvuParams, OutMode, OutStage, Pool, PoolKind, Quiet,
};
use crate::protocol::Fires;
use crate::SimError;

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

/// Busy, stalled and idle cycles of one engine (cycles with `rst = 0` only).
///
/// * **busy**: the engine's compute `fire` is high (an MVU lane cycle, a pooling output);
/// * **stalled**: it has the input rows for its next compute step (`!cdone && (ahead || iy >= need)`)
///   but cannot fire: an MVU at its last synapse fold whose `obuf` is not free, or a pooling
///   unit whose output register is blocked (back-pressure from downstream);
/// * **idle**: anything else: waiting for input rows, or finished with the image's compute
///   and waiting for the rest of its input (`cdone`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Activity {
    /// Cycles with `fire`.
    pub busy: u64,
    /// Cycles blocked by the output side.
    pub stalled: u64,
    /// Cycles waiting for input.
    pub idle: u64,
}

/// A snapshot of one engine's registers and handshake signals (for waveforms and debugging).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineProbe {
    /// Input rows received (`iy`).
    pub iy: u64,
    /// Element in the current row (`ie`).
    pub ie: u64,
    /// Line-buffer write address (`wp`).
    pub wp: u64,
    /// `cdone`.
    pub cdone: bool,
    /// `ahead` (the input side is one image ahead of the compute side).
    pub ahead: bool,
    /// Output row (`oy`).
    pub oy: u64,
    /// Output column (`ox`).
    pub ox: u64,
    /// Neuron fold (`nf`; pooling: 0).
    pub nf: u64,
    /// Synapse fold (`sf`; pooling: 0).
    pub sf: u64,
    /// `pending` (pooling: 0).
    pub pending: u64,
    /// Channel of the next emitted element (`ch`; pooling: `c`).
    pub ch: u64,
    /// Input stream `valid` (the preceding FIFO's `m_valid`).
    pub in_valid: bool,
    /// comb `in_ready`.
    pub in_ready: bool,
    /// comb `fire`.
    pub fire: bool,
    /// `out_valid`.
    pub out_valid: bool,
    /// Output stream `ready` (the next FIFO's `s_ready`).
    pub out_ready: bool,
    /// `out_data`.
    pub out_data: i64,
}

fn mask(width: u32) -> u64 {
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

/// Smallest and largest value of a `bits`-bit stream.
pub(crate) fn range_of(bits: u32, signed: bool) -> (i64, i64) {
    let f = ActFormat {
        bits,
        signed,
        exp: 0,
    };
    (f.min(), f.max())
}

/// A [`Machine`]'s modules, for the decoupled run.
pub(crate) struct Parts {
    pub engines: Vec<Engine>,
    /// FIFO depths (index 0 is `fifo_in`).
    pub depths: Vec<usize>,
    pub out: OutStage,
    /// `OUT_W` bits.
    pub out_mask: u64,
    pub out_width: u32,
    pub idx_mask: u64,
}

/// The clocked model of a whole `Design`: FIFOs, engines and the output stage. Registers
/// start at their reset values (the initial reset of the harness is therefore a no-op).
#[derive(Debug, Clone)]
pub struct Machine {
    pub(crate) fifos: Vec<Fifo>,
    pub(crate) engines: Vec<Engine>,
    pub(crate) out: OutStage,
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
        validate(design)?;
        let mut engines = Vec::with_capacity(design.engines.len());
        for e in &design.engines {
            let g = e.geom;
            engines.push(match &e.kind {
                EngineKind::Mvu(m) => {
                    // ROM order (p, (nf, sf), s) → simulation order ((nf, p), (sf, s)): one
                    // row of K multipliers per output channel, in window order. (`validate`
                    // checked every code.)
                    let table: Vec<i64> = decode_table(m.mac.weight_kind(), m.code_bits)
                        .into_iter()
                        .map(|w| w.map_or(0, multiplier))
                        .collect();
                    let rom = m.rom_depth();
                    let k = m.sf * m.simd;
                    let reorder = |put: &mut dyn FnMut(usize, i64)| {
                        for p in 0..m.pe {
                            for nf in 0..m.nf {
                                let src = &m.weights[(p * rom + nf * m.sf) * m.simd..][..k];
                                let base = (nf * m.pe + p) * k;
                                for (j, &code) in src.iter().enumerate() {
                                    put(base + j, table[usize::from(code)]);
                                }
                            }
                        }
                    };
                    let weights = if m.acc_width <= 32 {
                        let mut w = vec![0i32; m.weights.len()];
                        // exact or irrelevant: see `Mults`
                        reorder(&mut |i, v| w[i] = v as i32);
                        Mults::I32(w)
                    } else {
                        let mut w = vec![0i64; m.weights.len()];
                        reorder(&mut |i, v| w[i] = v);
                        Mults::I64(w)
                    };
                    let mode = match m.output {
                        MvuOutput::Act { bits, signed, relu } => OutMode::Act {
                            fmt: ActFormat {
                                bits,
                                signed,
                                exp: 0,
                            },
                            relu,
                        },
                        MvuOutput::Logits => OutMode::Logits,
                    };
                    Engine::Mvu(Box::new(Mvu::new(MvuParams {
                        geom: g,
                        pe: m.pe,
                        simd: m.simd,
                        pad_value: m.pad_value,
                        weights,
                        bias: m.bias.clone(),
                        shift: m.shift.clone(),
                        mode,
                    })))
                }
                EngineKind::Pool(p) => Engine::Pool(Box::new(Pool::new(
                    g,
                    match p.mode {
                        PoolMode::Max => PoolKind::Max,
                        PoolMode::Avg => PoolKind::Avg {
                            shift: p.shift as i32,
                        },
                    },
                ))),
            });
        }
        Ok(Machine {
            fifos: design.fifos.iter().map(|f| Fifo::new(f.depth)).collect(),
            engines,
            out: OutStage {
                n: design.output.count,
                idx: 0,
                best: 0,
                best_idx: 0,
            },
            in_width: design.input.width,
            in_signed: design.input.signed,
            out_width: design.output.width,
            idx_mask: mask(design.output.idx_width),
            reset_cycles: 0,
            quiet: Vec::with_capacity(design.engines.len()),
        })
    }

    /// The top-level outputs before the next edge (functions of registers only).
    #[inline]
    pub fn ports(&self) -> PortOutputs {
        let f0 = &self.fifos[0];
        let fl = &self.fifos[self.fifos.len() - 1];
        let data = fl.m_data();
        PortOutputs {
            s_tready: f0.s_ready(),
            m_tvalid: fl.m_valid(),
            m_tdata: data,
            m_tdata_raw: (data as u64) & mask(self.out_width),
            m_tlast: self.out.tlast(),
            m_tuser: (self.out.tuser(data) as u64) & self.idx_mask,
        }
    }

    /// One rising edge with the given inputs (two-phase model of §1). Returns the top-level
    /// transfers of the edge.
    #[inline]
    pub fn step(&mut self, inp: &PortInputs) -> Fires {
        if inp.rst {
            self.reset();
            return Fires::default();
        }
        let n = self.engines.len();
        // Sweep from the output end: when a module is updated, every module whose pre-edge
        // signals it needs has not been updated yet, or those signals were saved first.
        let (m_fire, m_data) = {
            let f = &self.fifos[n];
            (f.m_valid() && inp.m_tready, f.m_data())
        };
        self.out.update(m_fire, m_data);
        // old s_ready of the FIFO after the engine being updated
        let mut down_ready = self.fifos[n].s_ready();
        {
            let (sv, sd) = (
                self.engines[n - 1].out_valid(),
                self.engines[n - 1].out_data(),
            );
            self.fifos[n].update(sv, sd, m_fire);
        }
        let mut s_fire = false;
        for i in (0..n).rev() {
            let (m_valid, m_data, s_ready) = {
                let f = &self.fifos[i];
                (f.m_valid(), f.m_data(), f.s_ready())
            };
            let (sv, sd) = if i == 0 {
                let v = if self.in_signed {
                    sign_extend(inp.s_tdata, self.in_width)
                } else {
                    (inp.s_tdata & mask(self.in_width)) as i64
                };
                s_fire = inp.s_tvalid && s_ready;
                (inp.s_tvalid, v)
            } else {
                (
                    self.engines[i - 1].out_valid(),
                    self.engines[i - 1].out_data(),
                )
            };
            let (in_fire, _) = self.engines[i].update(m_valid, m_data, down_ready);
            self.fifos[i].update(sv, sd, in_fire);
            down_ready = s_ready;
        }
        Fires {
            input: s_fire,
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
    /// 0, and `s_axis_tvalid` is 0 or `s_axis_tready` is 0 (then fifo_in stays full), and
    /// `m_axis_tvalid` is 0 — this function returns 0 unless `fifo_in` is full or
    /// `input_idle`, and `m_axis_tvalid` is 0. Returns 0 if no engine is folding (an idle
    /// machine is never skipped).
    pub fn quiet_cycles(&mut self, max: usize, input_idle: bool) -> usize {
        let n = self.engines.len();
        let input_may_fire = !input_idle && self.fifos[0].s_ready();
        if self.fifos[n].m_valid() || input_may_fire || max < 2 {
            return 0;
        }
        self.quiet.clear();
        let mut k = usize::MAX;
        for i in 0..n {
            let in_valid = self.fifos[i].m_valid();
            let out_ready = self.fifos[i + 1].s_ready();
            match self.engines[i].quiet(in_valid, out_ready) {
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
        for (e, &q) in self.engines.iter_mut().zip(&self.quiet) {
            e.apply_quiet(q, k);
        }
        self.quiet.clear();
    }

    /// A cycle with `rst = 1`: every control register takes its reset value.
    pub fn reset(&mut self) {
        for f in &mut self.fifos {
            f.reset();
        }
        for e in &mut self.engines {
            e.reset();
        }
        self.out.reset();
        self.reset_cycles += 1;
    }

    /// Takes the machine apart for [`crate::decoupled::run`].
    pub(crate) fn into_parts(self) -> Parts {
        Parts {
            engines: self.engines,
            depths: self.fifos.iter().map(|f| f.depth).collect(),
            out: self.out,
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

    /// Number of engines.
    pub fn engine_count(&self) -> usize {
        self.engines.len()
    }

    /// Busy/stalled/idle cycles of engine `e` so far.
    pub fn activity(&self, e: usize) -> Option<Activity> {
        self.engines.get(e).map(|en| {
            let c = en.counters();
            Activity {
                busy: c.busy,
                stalled: c.stalled,
                idle: c.idle,
            }
        })
    }

    /// Largest occupancy FIFO `i` reached so far (index 0 is `fifo_in`).
    pub fn fifo_peak(&self, i: usize) -> Option<usize> {
        self.fifos.get(i).map(|f| f.peak)
    }

    /// Current occupancy (`count`) of FIFO `i`.
    pub fn fifo_count(&self, i: usize) -> Option<usize> {
        self.fifos.get(i).map(|f| f.count)
    }

    /// Cycles spent in reset so far (each [`Machine::reset`] or `step` with `rst`).
    pub fn reset_cycles(&self) -> u64 {
        self.reset_cycles
    }

    /// The stream of engine `e` before the next edge: `(valid, ready, data)`; a transfer
    /// happens at the edge if `valid && ready`. `None` is the input stream after `fifo_in`
    /// (`tapin`).
    #[inline]
    pub fn stream(&self, e: Option<usize>) -> (bool, bool, i64) {
        match e {
            None => {
                let f = &self.fifos[0];
                (f.m_valid(), self.engines[0].in_ready(), f.m_data())
            }
            Some(e) => {
                let en = &self.engines[e];
                (en.out_valid(), self.fifos[e + 1].s_ready(), en.out_data())
            }
        }
    }

    /// Registers and handshake signals of engine `e` before the next edge.
    pub fn probe(&self, e: usize) -> Option<EngineProbe> {
        let en = self.engines.get(e)?;
        let out_ready = self.fifos[e + 1].s_ready();
        let ins = en.inside();
        let mut p = EngineProbe {
            iy: ins.iy as u64,
            ie: ins.ie as u64,
            wp: ins.wp as u64,
            cdone: ins.cdone,
            ahead: ins.ahead,
            in_valid: self.fifos[e].m_valid(),
            in_ready: en.in_ready(),
            out_valid: en.out_valid(),
            out_ready,
            out_data: en.out_data(),
            ..EngineProbe::default()
        };
        match en {
            Engine::Mvu(m) => {
                p.oy = m.oy as u64;
                p.ox = m.ox as u64;
                p.nf = m.nf as u64;
                p.sf = m.sf as u64;
                p.pending = m.pending as u64;
                p.ch = m.ch as u64;
                p.fire = m.fire(out_ready);
            }
            Engine::Pool(pl) => {
                p.oy = pl.oy as u64;
                p.ox = pl.ox as u64;
                p.ch = pl.ch as u64;
                p.fire = pl.fire(out_ready);
            }
        }
        Some(p)
    }
}

/// `numerics::decode_kind(kind, code, bits)` for every `u8` code (`None`: not a valid code).
fn decode_table(kind: WeightKind, bits: u32) -> Vec<Option<Weight>> {
    (0..=255u8)
        .map(|code| numerics::decode_kind(kind, code, bits).ok())
        .collect()
}

fn check(
    ok: bool,
    field: impl FnOnce() -> String,
    message: impl FnOnce() -> String,
) -> Result<(), SimError> {
    if ok {
        Ok(())
    } else {
        Err(SimError::design(field(), message()))
    }
}

/// Checks every field the simulator relies on, so that no user-supplied design can make it
/// panic or compute with overflowing integers.
pub(crate) fn validate(d: &Design) -> Result<(), SimError> {
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
    let n = d.engines.len();
    check(n > 0, || "engines".into(), || "no engine".into())?;
    check(
        d.fifos.len() == n + 1,
        || "fifos".into(),
        || format!("{} FIFOs for {n} engines (need engines + 1)", d.fifos.len()),
    )?;
    for (i, f) in d.fifos.iter().enumerate() {
        check(
            f.depth >= 1 && f.depth <= 1 << 20,
            || format!("fifos[{i}].depth"),
            || format!("depth {} outside 1..=2^20", f.depth),
        )?;
    }
    let [c0, h0, w0] = d.input.shape;
    check(
        c0 > 0 && h0 > 0 && w0 > 0,
        || "input.shape".into(),
        || format!("{:?} has a zero dimension", d.input.shape),
    )?;
    check(
        (1..=63).contains(&d.input.width),
        || "input.width".into(),
        || format!("width {} outside 1..=63", d.input.width),
    )?;
    check(
        c0.checked_mul(h0)
            .and_then(|x| x.checked_mul(w0))
            .is_some_and(|x| x <= 1 << 32),
        || "input.shape".into(),
        || "too many elements".into(),
    )?;

    // (shape, width, signed) of the stream entering each engine
    let mut shape = [c0, h0, w0];
    let mut width = d.input.width;
    let mut signed = d.input.signed;
    for (ei, e) in d.engines.iter().enumerate() {
        let f = |name: &str| format!("engines[{ei}].{name}");
        let g = &e.geom;
        for (v, name) in [
            (g.c, "c"),
            (g.h, "h"),
            (g.w, "w"),
            (g.kh, "kh"),
            (g.kw, "kw"),
            (g.sh, "sh"),
            (g.sw, "sw"),
            (g.oc, "oc"),
            (g.oh, "oh"),
            (g.ow, "ow"),
            (g.nr, "nr"),
        ] {
            check(
                v > 0 && v <= 1 << 24,
                || f(&format!("geom.{name}")),
                || format!("{v} outside 1..=2^24"),
            )?;
        }
        let [pt, pl, pb, pr] = g.pad;
        check(
            g.pad.iter().all(|&p| p <= 1 << 24),
            || f("geom.pad"),
            || "padding too large".into(),
        )?;
        let same = [g.c, g.h, g.w] == shape;
        let flat = g.h == 1 && g.w == 1 && g.c == shape[0] * shape[1] * shape[2];
        check(
            same || flat,
            || f("geom"),
            || {
                format!(
                    "input {}×{}×{} does not match the incoming stream {:?}",
                    g.c, g.h, g.w, shape
                )
            },
        )?;
        check(
            e.in_width == width && e.in_signed == signed,
            || f("in_width"),
            || {
                format!("input {} bits signed={} but the incoming stream has {width} bits signed={signed}", e.in_width, e.in_signed)
            },
        )?;
        check(
            g.h + pt + pb >= g.kh && g.w + pl + pr >= g.kw,
            || f("geom"),
            || "kernel larger than the padded input".into(),
        )?;
        check(
            (g.h + pt + pb - g.kh) / g.sh + 1 == g.oh && (g.w + pl + pr - g.kw) / g.sw + 1 == g.ow,
            || f("geom"),
            || {
                format!(
                    "output {}×{} does not follow from the input, kernel, stride and padding",
                    g.oh, g.ow
                )
            },
        )?;
        check(
            g.nr >= g.kh.min(g.h),
            || f("geom.nr"),
            || format!("NR {} is below min(kh, H) = {}", g.nr, g.kh.min(g.h)),
        )?;
        check(
            g.lb_elements() <= 1 << 26,
            || f("geom"),
            || "line buffer too large".into(),
        )?;
        check(
            (1..=63).contains(&e.out_width),
            || f("out_width"),
            || format!("width {} outside 1..=63", e.out_width),
        )?;
        let (xmin, xmax) = range_of(e.in_width, e.in_signed);
        match &e.kind {
            EngineKind::Mvu(m) => {
                check(
                    m.pe > 0 && g.oc % m.pe == 0,
                    || f("pe"),
                    || format!("PE {} does not divide OC {}", m.pe, g.oc),
                )?;
                check(
                    m.simd > 0 && g.c % m.simd == 0,
                    || f("simd"),
                    || format!("SIMD {} does not divide C {}", m.simd, g.c),
                )?;
                let k = g.kh * g.kw * g.c;
                check(
                    m.nf == g.oc / m.pe,
                    || f("nf"),
                    || format!("NF {} != OC/PE", m.nf),
                )?;
                check(
                    m.sf == k / m.simd,
                    || f("sf"),
                    || format!("SF {} != K/SIMD", m.sf),
                )?;
                check(
                    (2..=8).contains(&m.code_bits),
                    || f("code_bits"),
                    || format!("{} outside 2..=8", m.code_bits),
                )?;
                check(
                    m.weights.len() == g.oc * k,
                    || f("weights"),
                    || format!("{} codes, need OC·K = {}", m.weights.len(), g.oc * k),
                )?;
                check(
                    m.bias.len() == g.oc,
                    || f("bias"),
                    || format!("{} entries, need OC = {}", m.bias.len(), g.oc),
                )?;
                check(
                    m.shift.len() == g.oc,
                    || f("shift"),
                    || format!("{} entries, need OC = {}", m.shift.len(), g.oc),
                )?;
                check(
                    (xmin..=xmax).contains(&m.pad_value),
                    || f("pad_value"),
                    || format!("{} outside the input range {xmin}..={xmax}", m.pad_value),
                )?;
                check(
                    (1..=62).contains(&m.acc_width),
                    || f("acc_width"),
                    || format!("{} outside 1..=62", m.acc_width),
                )?;
                // The accumulator bound (§6): every partial sum fits ACC_W, so i64 arithmetic
                // is exact and equals the RTL's.
                let x_abs = i128::from(xmax.max(-xmin).max(m.pad_value.abs()));
                let rom = m.nf * m.sf;
                let table = decode_table(m.mac.weight_kind(), m.code_bits);
                // Σ |weight| over a channel's weights, per code
                let magnitude: Vec<i128> = table
                    .iter()
                    .map(|w| match w {
                        Some(Weight::Pow2 { index, .. }) => 1i128 << (*index).min(126),
                        Some(Weight::Int(q)) => i128::from(q.abs()),
                        _ => 0,
                    })
                    .collect();
                for o in 0..g.oc {
                    let (p, nf) = (o % m.pe, o / m.pe);
                    let codes = &m.weights[(p * rom + nf * m.sf) * m.simd..][..m.sf * m.simd];
                    let mut sum: i128 = 0;
                    for (j, &code) in codes.iter().enumerate() {
                        match table[usize::from(code)] {
                            Some(Weight::Pow2 { index, .. }) if index >= 62 => {
                                return Err(SimError::design(
                                    f("weights"),
                                    format!("code {code} of output channel {o}: 2^{index} does not fit 62 accumulator bits"),
                                ))
                            }
                            Some(_) => sum = sum.saturating_add(magnitude[usize::from(code)]),
                            None => {
                                let err = numerics::decode_kind(m.mac.weight_kind(), code, m.code_bits).err();
                                return Err(SimError::design(
                                    f("weights"),
                                    format!(
                                        "code {code} of output channel {o} (PE {p}, word {}, lane {}): {err:?}",
                                        nf * m.sf + j / m.simd,
                                        j % m.simd
                                    ),
                                ));
                            }
                        }
                    }
                    let bound = i128::from(m.bias[o])
                        .abs()
                        .saturating_add(x_abs.saturating_mul(sum));
                    let need = numerics::signed_width_for(bound);
                    check(
                        need <= m.acc_width,
                        || f("acc_width"),
                        || {
                            format!("output channel {o} needs {need} accumulator bits (worst-case bound {bound}), ACC_W is {}", m.acc_width)
                        },
                    )?;
                }
                match m.output {
                    MvuOutput::Act {
                        bits, signed: s, ..
                    } => {
                        check(
                            e.out_width == bits && e.out_signed == s,
                            || f("out_width"),
                            || "output width/signedness differ from the output format".into(),
                        )?;
                        for (o, &r) in m.shift.iter().enumerate() {
                            check(
                                (-62..=62).contains(&r)
                                    && m.acc_width as i64 + i64::from((-r).max(0)) <= 62,
                                || f("shift"),
                                || format!("shift {r} of channel {o} out of range"),
                            )?;
                        }
                    }
                    MvuOutput::Logits => {
                        for (o, &r) in m.shift.iter().enumerate() {
                            check(
                                r <= 0
                                    && m.acc_width as i64 - i64::from(r) <= i64::from(e.out_width),
                                || f("shift"),
                                || {
                                    format!("logit shift {r} of channel {o} must be ≤ 0 and fit OUT_W {}", e.out_width)
                                },
                            )?;
                        }
                        check(
                            e.out_signed,
                            || f("out_signed"),
                            || "logits are signed".into(),
                        )?;
                        check(
                            ei + 1 == n,
                            || f("kind"),
                            || "only the last engine may emit logits".into(),
                        )?;
                    }
                }
            }
            EngineKind::Pool(p) => {
                check(
                    g.pad == [0; 4],
                    || f("geom.pad"),
                    || "pooling has no padding".into(),
                )?;
                check(
                    g.oc == g.c,
                    || f("geom.oc"),
                    || "pooling keeps the channel count".into(),
                )?;
                check(
                    e.out_width == e.in_width && e.out_signed == e.in_signed,
                    || f("out_width"),
                    || "pooling keeps the input format".into(),
                )?;
                if p.mode == PoolMode::Avg {
                    check(
                        numerics::log2_exact(g.kh * g.kw) == Some(p.shift),
                        || f("shift"),
                        || {
                            format!("shift {} != log2(kh·kw) (the window must hold a power of two elements)", p.shift)
                        },
                    )?;
                }
            }
        }
        shape = [g.oc, g.oh, g.ow];
        width = e.out_width;
        signed = e.out_signed;
        check(
            d.fifos[ei + 1].width == e.out_width,
            || format!("fifos[{}].width", ei + 1),
            || "differs from the engine's output width".into(),
        )?;
    }
    let last = &d.engines[n - 1];
    check(
        d.output.count == last.geom.out_elements() && d.output.count > 0,
        || "output.count".into(),
        || {
            format!(
                "{} but the last engine emits {}",
                d.output.count,
                last.geom.out_elements()
            )
        },
    )?;
    check(
        d.output.width == last.out_width,
        || "output.width".into(),
        || {
            format!(
                "{} but the last engine emits {} bits",
                d.output.width, last.out_width
            )
        },
    )?;
    check(
        (1..=64).contains(&d.output.idx_width),
        || "output.idx_width".into(),
        || "outside 1..=64".into(),
    )?;
    for (i, t) in d.taps.iter().enumerate() {
        check(
            t.engine.is_none_or(|e| e < n),
            || format!("taps[{i}].engine"),
            || "no such engine".into(),
        )?;
    }
    Ok(())
}
