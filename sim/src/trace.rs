//! VCD waveforms of a simulation (loadable in GTKWave).
//!
//! Time base: `1 ns` units, a 10 ns clock. Cycle `n`'s rising edge is at `10n + 5`; `clk`
//! falls and the harness drives cycle `n`'s inputs (`rst`, `s_axis_tvalid/tdata/tlast`,
//! `m_axis_tready`) at `10n`. Register values and every signal derived from registers
//! (`s_axis_tready`, `m_axis_*`, the engines' counters, `in_ready`, `fire`, `out_valid`, ...)
//! change at the rising edges, as in a Verilator dump. The harness's initial reset edges
//! precede time 0 and are not shown (the registers start at their reset values).
//!
//! Signals: top ports in scope `inq_top`; `fifo<i>.count`; per engine `e<e>_<op>` scope:
//! `iy ie wp cdone ahead oy ox nf sf pending ch in_valid in_ready fire out_valid out_ready
//! out_data` (see [`crate::EngineProbe`]).

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use inq_hdl::Design;
use vcd::{IdCode, TimescaleUnit, Value};

use crate::machine::{Machine, PortInputs, PortOutputs};
use crate::SimError;

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
    fifos: usize,
    engines: usize,
    n_fifos: usize,
    n_engines: usize,
    cycle_sig: usize,
}

const ENGINE_SIGS: [&str; 16] = [
    "iy",
    "ie",
    "wp",
    "cdone",
    "ahead",
    "oy",
    "ox",
    "nf",
    "sf",
    "pending",
    "ch",
    "in_valid",
    "in_ready",
    "fire",
    "out_valid",
    "out_ready",
];

impl Tracer {
    pub fn create(path: &Path, design: &Design) -> Result<Self, SimError> {
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
        let fifos = sigs_len(&mut w, &mut add, design)?;
        let engines = fifos + design.fifos.len();
        for (e, en) in design.engines.iter().enumerate() {
            let g = &en.geom;
            w.add_module(&format!("e{e}_{}", en.op)).map_err(io)?;
            let widths = [
                clog2(g.h as u64 + 1),
                clog2((g.w * g.c) as u64 + 1),
                clog2(g.lb_elements() as u64 + 1),
                1,
                1,
                clog2(g.oh as u64 + 1),
                clog2(g.ow as u64 + 1),
                clog2(g.oc as u64 + 1),
                clog2((g.kh * g.kw * g.c) as u64 + 1),
                clog2(g.oc as u64 + 1),
                clog2(g.oc as u64 + 1),
                1,
                1,
                1,
                1,
                1,
            ];
            for (name, width) in ENGINE_SIGS.iter().zip(widths) {
                add(&mut w, width, name)?;
            }
            add(&mut w, en.out_width, "out_data")?;
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
            fifos,
            engines,
            n_fifos: design.fifos.len(),
            n_engines: design.engines.len(),
            cycle_sig,
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
        for i in 0..self.n_fifos {
            self.set(self.fifos + i, m.fifo_count(i).unwrap_or(0) as u64)?;
        }
        for e in 0..self.n_engines {
            let Some(p) = m.probe(e) else { continue };
            let vals = [
                p.iy,
                p.ie,
                p.wp,
                u64::from(p.cdone),
                u64::from(p.ahead),
                p.oy,
                p.ox,
                p.nf,
                p.sf,
                p.pending,
                p.ch,
                u64::from(p.in_valid),
                u64::from(p.in_ready),
                u64::from(p.fire),
                u64::from(p.out_valid),
                u64::from(p.out_ready),
                p.out_data as u64,
            ];
            let base = self.engines + e * (ENGINE_SIGS.len() + 1);
            for (k, v) in vals.into_iter().enumerate() {
                self.set(base + k, v)?;
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
        self.set(i + 4, u64::from(inp.m_tready))
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

/// Adds `fifo<i>_count` wires; returns the index of the first.
fn sigs_len<F>(
    w: &mut vcd::Writer<BufWriter<std::fs::File>>,
    add: &mut F,
    design: &Design,
) -> Result<usize, SimError>
where
    F: FnMut(&mut vcd::Writer<BufWriter<std::fs::File>>, u32, &str) -> Result<usize, SimError>,
{
    let mut first = None;
    for (i, f) in design.fifos.iter().enumerate() {
        let k = add(w, clog2(f.depth as u64 + 1), &format!("fifo{i}_count"))?;
        first.get_or_insert(k);
    }
    first.ok_or_else(|| SimError::design("fifos", "no FIFO"))
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // On an error path the temporary file is removed (after `finish` it no longer exists).
        let _ = self.w.flush();
        let _ = std::fs::remove_file(&self.tmp);
    }
}
