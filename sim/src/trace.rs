//! VCD waveforms of a simulation (loadable in GTKWave).
//!
//! Time base: `1 ns` units, a 10 ns clock. Cycle `n`'s rising edge is at `10n + 5`; `clk`
//! falls and the harness drives cycle `n`'s inputs (`rst`, `s_axis_tvalid/tdata/tlast`,
//! `m_axis_tready`) at `10n`. Register values and every signal derived from registers
//! (`s_axis_tready`, `m_axis_*`, the engines' counters, `in_ready`, `fire`, `out_valid`, ...)
//! change at the rising edges, as in a Verilator dump. The harness's initial reset edges
//! precede time 0 and are not shown (the registers start at their reset values).
//!
//! Signals, in scope `inq_top`: the top ports; `cycle`; per stream `s` the FIFO occupancy
//! `fifo<s>_count`, its producer side `s<s>_tvalid/tready/tdata` (not for stream 0, whose
//! producer side is `s_axis_*`) and its FIFO output `q<s>_tvalid/tready/tdata` (the wire names
//! of `docs/hardware.md` §2; on a stream of several elements per beat, §2.1, `tdata` shows the
//! beat's first element); per engine a scope `e<e>_<op>` with the engine kind's registers
//! and signals ([`crate::EngineProbe`]: an MVU's `iy ie wp cdone ahead oy ox nf sf pending ch
//! fire out_data`, a pool's, a GAP unit's `c pix pending ch out_data`, an adder's `take
//! out_data`, a fork's `fire`). Every signal but the top-level inputs and `q<s>_tready` of the
//! output stream (`m_axis_tready`) is a function of registers (§1) and changes at the edges.

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use inq_hdl::Design;
use vcd::{IdCode, TimescaleUnit, Value};

use crate::error::SimError;
use crate::machine::{Machine, PortInputs, PortOutputs};

fn clog2(n: u64) -> u32 {
    if n <= 2 {
        1
    } else {
        64 - (n - 1).leading_zeros()
    }
}

struct Sig {
    id: IdCode,
    width: u32,
    last: Option<u64>,
}

/// Writes a VCD file while the simulation runs (to a temporary file renamed at the end).
pub(crate) struct Tracer {
    w: vcd::Writer<BufWriter<std::fs::File>>,
    path: PathBuf,
    tmp: PathBuf,
    sigs: Vec<Sig>,
    // indices into sigs
    clk: usize,
    inputs: usize,  // rst, s_tvalid, s_tdata, s_tlast, m_tready
    outputs: usize, // s_tready, m_tvalid, m_tdata, m_tlast, m_tuser
    cycle_sig: usize,
    /// Per stream: `fifo_count`, then `s_tvalid s_tready s_tdata` (streams ≥ 1), then
    /// `q_tvalid q_tready q_tdata`.
    streams: Vec<usize>,
    out_stream: usize,
    /// Per engine: index of its first probe signal, and how many.
    engines: Vec<(usize, usize)>,
    values: Vec<i64>,
}

impl Tracer {
    pub fn create(path: &Path, design: &Design, m: &Machine) -> Result<Self, SimError> {
        let file_name = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "trace.vcd".into());
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(|e| SimError::io(&tmp, e))?;
        let mut w = vcd::Writer::new(BufWriter::with_capacity(1 << 20, file));
        let io = |e: std::io::Error| SimError::io(&tmp, e);
        let mut sigs = Vec::new();
        let mut add = |w: &mut vcd::Writer<_>, width: u32, name: &str| -> Result<usize, SimError> {
            let id = w.add_wire(width, name).map_err(io)?;
            sigs.push(Sig {
                id,
                width,
                last: None,
            });
            Ok(sigs.len() - 1)
        };
        w.timescale(1, TimescaleUnit::NS).map_err(io)?;
        w.add_module("inq_top").map_err(io)?;
        let clk = add(&mut w, 1, "clk")?;
        let inputs = add(&mut w, 1, "rst")?;
        add(&mut w, 1, "s_axis_tvalid")?;
        add(&mut w, design.input.width, "s_axis_tdata")?;
        add(&mut w, 1, "s_axis_tlast")?;
        add(&mut w, 1, "m_axis_tready")?;
        let outputs = add(&mut w, 1, "s_axis_tready")?;
        add(&mut w, 1, "m_axis_tvalid")?;
        add(&mut w, design.output.width, "m_axis_tdata")?;
        add(&mut w, 1, "m_axis_tlast")?;
        add(&mut w, design.output.idx_width, "m_axis_tuser")?;
        let cycle_sig = add(&mut w, 64, "cycle")?;
        let mut streams = Vec::with_capacity(design.streams.len());
        for (i, st) in design.streams.iter().enumerate() {
            let first = add(
                &mut w,
                clog2(st.depth as u64 + 1),
                &format!("fifo{i}_count"),
            )?;
            if i > 0 {
                add(&mut w, 1, &format!("s{i}_tvalid"))?;
                add(&mut w, 1, &format!("s{i}_tready"))?;
                add(&mut w, st.width, &format!("s{i}_tdata"))?;
            }
            add(&mut w, 1, &format!("q{i}_tvalid"))?;
            add(&mut w, 1, &format!("q{i}_tready"))?;
            add(&mut w, st.width, &format!("q{i}_tdata"))?;
            streams.push(first);
        }
        let mut engines = Vec::with_capacity(design.engines.len());
        for (e, en) in design.engines.iter().enumerate() {
            let scope: String = format!("e{e}_{}", en.op)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            w.add_module(&scope).map_err(io)?;
            let names = m.probe_signals(e).unwrap_or_default();
            let mut first = None;
            for (name, width) in &names {
                let width = if *name == "out_data" {
                    en.io.out_width
                } else {
                    *width
                };
                let k = add(&mut w, width, name)?;
                first.get_or_insert(k);
            }
            engines.push((first.unwrap_or(0), names.len()));
            w.upscope().map_err(io)?;
        }
        w.upscope().map_err(io)?;
        w.enddefinitions().map_err(io)?;
        Ok(Tracer {
            w,
            path: path.to_path_buf(),
            tmp,
            sigs,
            clk,
            inputs,
            outputs,
            cycle_sig,
            streams,
            out_stream: design.output.stream,
            engines,
            values: Vec::new(),
        })
    }

    fn set(&mut self, i: usize, v: u64) -> std::io::Result<()> {
        let s = &mut self.sigs[i];
        let v = if s.width >= 64 {
            v
        } else {
            v & ((1u64 << s.width) - 1)
        };
        if s.last == Some(v) {
            return Ok(());
        }
        s.last = Some(v);
        if s.width == 1 {
            self.w
                .change_scalar(s.id, if v != 0 { Value::V1 } else { Value::V0 })
        } else {
            let width = s.width;
            self.w.change_vector(
                s.id,
                (0..width).rev().map(|b| {
                    if (v >> b) & 1 == 1 {
                        Value::V1
                    } else {
                        Value::V0
                    }
                }),
            )
        }
    }

    fn registers(&mut self, m: &Machine, ports: &PortOutputs, cycle: u64) -> std::io::Result<()> {
        let o = self.outputs;
        self.set(o, u64::from(ports.s_tready))?;
        self.set(o + 1, u64::from(ports.m_tvalid))?;
        self.set(o + 2, ports.m_tdata_raw)?;
        self.set(o + 3, u64::from(ports.m_tlast))?;
        self.set(o + 4, ports.m_tuser)?;
        self.set(self.cycle_sig, cycle)?;
        for i in 0..self.streams.len() {
            let mut k = self.streams[i];
            self.set(k, m.fifo_count(i).unwrap_or(0) as u64)?;
            k += 1;
            let Some(sig) = m.signals(i) else { continue };
            if i > 0 {
                self.set(k, u64::from(sig.s_valid))?;
                self.set(k + 1, u64::from(sig.s_ready))?;
                self.set(k + 2, sig.s_data[0] as u64)?;
                k += 3;
            }
            self.set(k, u64::from(sig.m_valid))?;
            if i != self.out_stream {
                self.set(k + 1, u64::from(sig.m_ready))?;
            }
            self.set(k + 2, sig.m_data[0] as u64)?;
        }
        for e in 0..self.engines.len() {
            let Some(p) = m.probe(e) else { continue };
            let (first, count) = self.engines[e];
            self.values.clear();
            self.values.extend(p.signals.iter().map(|s| s.1));
            for k in 0..count.min(self.values.len()) {
                let v = self.values[k];
                self.set(first + k, v as u64)?;
            }
        }
        Ok(())
    }

    /// Dumps cycle `cycle`: the register-derived signals (valid since the previous edge) and
    /// the inputs driven for this cycle.
    pub fn cycle(
        &mut self,
        m: &Machine,
        ports: &PortOutputs,
        inp: &PortInputs,
        cycle: u64,
    ) -> Result<(), SimError> {
        self.cycle_io(m, ports, inp, cycle)
            .map_err(|e| SimError::io(&self.tmp, e))
    }

    fn cycle_io(
        &mut self,
        m: &Machine,
        ports: &PortOutputs,
        inp: &PortInputs,
        cycle: u64,
    ) -> std::io::Result<()> {
        if cycle > 0 {
            self.w.timestamp(10 * cycle - 5)?;
            self.set(self.clk, 1)?;
        } else {
            self.w.timestamp(0)?;
        }
        self.registers(m, ports, cycle)?;
        if cycle > 0 {
            self.w.timestamp(10 * cycle)?;
        }
        self.set(self.clk, 0)?;
        let i = self.inputs;
        self.set(i, u64::from(inp.rst))?;
        self.set(i + 1, u64::from(inp.s_tvalid))?;
        self.set(i + 2, inp.s_tdata)?;
        self.set(i + 3, u64::from(inp.s_tlast))?;
        self.set(i + 4, u64::from(inp.m_tready))?;
        // `q<out>_tready` is `m_axis_tready`
        let k = self.streams[self.out_stream] + if self.out_stream > 0 { 4 } else { 1 } + 1;
        self.set(k, u64::from(inp.m_tready))
    }

    /// Writes the state after the last edge (`cycles` edges in all) and renames the file into
    /// place.
    pub fn finish(mut self, m: &Machine, cycles: u64) -> Result<(), SimError> {
        let tmp = self.tmp.clone();
        let io = |e: std::io::Error| SimError::io(&tmp, e);
        let ports = m.ports();
        // the last edge (cycle `cycles − 1`) is at 10·cycles − 5
        self.w
            .timestamp((10 * cycles).saturating_sub(5))
            .map_err(io)?;
        self.set(self.clk, 1).map_err(io)?;
        self.registers(m, &ports, cycles).map_err(io)?;
        self.w.timestamp(10 * cycles).map_err(io)?;
        self.set(self.clk, 0).map_err(io)?;
        self.w.flush().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(|e| SimError::io(&self.path, e))
        // Drop then finds no temporary file left to remove.
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // On an error path the temporary file is removed (after `finish` it no longer exists).
        let _ = self.w.flush();
        let _ = std::fs::remove_file(&self.tmp);
    }
}
