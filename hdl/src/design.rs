//! The `Design`: every engine, stream, FIFO, width, memory and schedule of a generated
//! pipeline. Pure data (serde, stored in `manifest.json`), the contract between the planner,
//! the code generator and the simulator; the semantics are `docs/hardware.md`.
//!
//! The pipeline is a graph: engines ([`Engine`], one per model node that computes, plus forks)
//! connected by streams ([`Stream`], each through its own FIFO), from the input port to the
//! output stage. This file owns the data types and the whole-design figures (interval,
//! latency estimate, totals, the summary table); the planning is [`crate::graph`] and
//! [`mod@crate::plan`].

use serde::{Deserialize, Serialize};

use crate::ops::{EngineKind, EngineOp, Io, MacKind};
use crate::resources::{add_into, fifo_resources, output_resources, Resources};
use crate::schedule::Times;

/// The value of [`Design::format`].
pub const DESIGN_FORMAT: &str = "inq-design";
/// The version of the design structure this build writes and reads.
pub const DESIGN_VERSION: u32 = 2;

/// A complete streaming pipeline (`docs/hardware.md` §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    /// Always [`DESIGN_FORMAT`].
    pub format: String,
    /// Always [`DESIGN_VERSION`].
    pub version: u32,
    /// Name of the model the design was planned from (raw; sanitize before use in RTL).
    pub model_name: String,
    /// `QuantModel::hash()` of that model.
    pub model_hash: String,
    /// Name of the top module (always `inq_top`).
    pub top: String,
    /// The input stream.
    pub input: InputStream,
    /// The engines, in an order in which every engine comes after the engines it reads from.
    pub engines: Vec<Engine>,
    /// The streams; stream 0 leaves the input port. Each passes through its own FIFO.
    pub streams: Vec<Stream>,
    /// The output stage.
    pub output: OutputStage,
    /// One observable stream per model node, and the input (`docs/hardware.md` §2, "taps").
    pub taps: Vec<Tap>,
}

/// The top-level input stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputStream {
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Element width in bits (`IN_W`).
    pub width: u32,
    /// Two's complement (`true`) or unsigned.
    pub signed: bool,
}

/// One end of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Endpoint {
    /// The top-level input port (`s_axis`).
    Input,
    /// Port `port` of engine `engine` (an output port at a stream's start, an input port at
    /// its end).
    Engine {
        /// Engine index.
        engine: usize,
        /// Port index.
        port: usize,
    },
    /// The output stage (`m_axis`).
    Output,
}

/// A stream between two pipeline stages, through a FIFO (`docs/hardware.md` §2, §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    /// The producer.
    pub from: Endpoint,
    /// The consumer.
    pub to: Endpoint,
    /// Element width.
    pub width: u32,
    /// Signedness.
    pub signed: bool,
    /// Elements per image.
    pub elements_per_image: usize,
    /// Elements per beat `k` (`docs/hardware.md` §2.1): the FIFO is `k·width` bits wide and
    /// an image takes `elements_per_image / k` beats.
    #[serde(
        default = "crate::ops::one",
        skip_serializing_if = "crate::ops::is_one"
    )]
    pub beat: usize,
    /// FIFO capacity in beats (at least 1).
    pub depth: usize,
    /// A fork output whose FIFO depth is sized by the skip rule (`docs/hardware.md` §2.2).
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip: bool,
}

impl Stream {
    /// Whether its FIFO is in block RAM and read synchronously
    /// ([`crate::resources::fifo_in_bram`] of its beat width and depth).
    pub fn fifo_in_bram(&self) -> bool {
        crate::resources::fifo_in_bram(self.width * self.beat as u32, self.depth)
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The output stage (`docs/hardware.md` §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputStage {
    /// Number of logits per image.
    pub count: usize,
    /// Logit width (`OUT_W`, signed).
    pub width: u32,
    /// Width of `m_axis_tuser` (`IDX_W`).
    pub idx_width: u32,
    /// The stream it reads.
    pub stream: usize,
}

/// A stream that can be observed in the generated top: the output of a model node (a flatten
/// aliases the stream it reads) or the input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tap {
    /// The model node (`None`: the model input).
    pub node: Option<usize>,
    /// Its name (raw).
    pub name: String,
    /// The stream observed.
    pub stream: usize,
    /// Observed at the stream's FIFO output (the input tap) rather than at its producer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub at_fifo_output: bool,
    /// Element width.
    pub width: u32,
    /// Signedness.
    pub signed: bool,
    /// The model's tensor shape (`[C,H,W]` or `[N]`).
    pub shape: Vec<usize>,
    /// Elements per image.
    pub elements_per_image: usize,
}

/// One engine of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    /// The model node this engine implements (`None` for a fork).
    pub node: Option<usize>,
    /// Its name (the node's, raw; never inserted into RTL unsanitized).
    pub name: String,
    /// The model op (`conv`, `dense`, `max_pool`, `avg_pool`, `global_avg_pool`, `add`), or
    /// `fork`.
    pub op: String,
    /// The streams it reads, one per input port.
    pub inputs: Vec<usize>,
    /// The streams it writes, one per output port.
    pub outputs: Vec<usize>,
    /// Widths of its first input and its output.
    #[serde(flatten)]
    pub io: Io,
    /// What it computes.
    pub kind: EngineKind,
    /// Analytic estimate of the steady-state cycles per image in isolation
    /// (`docs/hardware.md` §9).
    pub cycles_per_image: u64,
    /// Analytic resource count.
    pub resources: Resources,
}

impl Engine {
    /// The engine kind's interface.
    pub fn op(&self) -> &dyn EngineOp {
        self.kind.op()
    }

    /// The yosys `ram_style` a Xilinx synthesis must set on this engine's line-buffer
    /// memories for the plan's memory mapping to hold, as (memory name pattern in the
    /// engine's module, style); `None` when yosys's own choice is the plan's
    /// ([`crate::resources::LineBuffer::xilinx_ram_style`]).
    pub fn xilinx_ram_style(&self) -> Option<(&'static str, &'static str)> {
        let lb = self.op().line_buffer(&self.io)?;
        Some((lb.memories, lb.xilinx_ram_style()?))
    }
}

impl Design {
    /// Elements of one input image.
    pub fn input_elements(&self) -> usize {
        self.input.shape.iter().product()
    }

    /// The worst engine's busy cycles per image: the pipeline's initiation interval estimate.
    pub fn interval_cycles(&self) -> u64 {
        self.engines
            .iter()
            .map(|e| e.cycles_per_image)
            .chain(std::iter::once(self.input_elements() as u64))
            .max()
            .unwrap_or(0)
    }

    /// The first image's schedule ([`crate::schedule`]): per stream, the cycle in which each
    /// element of the first image after reset is written into the stream's FIFO, counted from
    /// the transfer of the first input element (cycle 0), with the input offered one element
    /// per cycle and the output never blocked. A FIFO delivers an element the cycle after it
    /// was written (§3); each engine maps its inputs to its outputs by
    /// [`EngineOp::first_image`]. A stream whose producer never runs (not possible in a
    /// planned design) stays empty.
    pub fn first_image(&self) -> Vec<Times> {
        let mut sent: Vec<Option<Times>> = self
            .streams
            .iter()
            .map(|s| match s.from {
                Endpoint::Input => Some((0..s.elements_per_image as u64).collect()),
                _ => None,
            })
            .collect();
        let mut done = vec![false; self.engines.len()];
        let mut progress = true;
        while progress {
            progress = false;
            for (i, e) in self.engines.iter().enumerate() {
                if done[i] {
                    continue;
                }
                let available: Option<Vec<Times>> = e
                    .inputs
                    .iter()
                    .map(|&s| {
                        let t = sent.get(s)?.as_ref()?;
                        Some(t.iter().map(|c| c + 1).collect())
                    })
                    .collect();
                let Some(available) = available else {
                    continue;
                };
                let inputs: Vec<&[u64]> = available.iter().map(Vec::as_slice).collect();
                for (port, times) in e.op().first_image(&inputs).into_iter().enumerate() {
                    if let Some(slot) = e.outputs.get(port).and_then(|&s| sent.get_mut(s)) {
                        *slot = Some(times);
                    }
                }
                done[i] = true;
                progress = true;
            }
        }
        sent.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// The first image's latency: cycles from the transfer of its first input element to the
    /// transfer of its last output word, from [`Design::first_image`] (the output stage reads
    /// its FIFO directly, §7). `inq sim` measures the same quantity (`latency_cycles`).
    pub fn latency_estimate(&self) -> u64 {
        self.first_image()
            .get(self.output.stream)
            .and_then(|t| t.last())
            .map_or(0, |&t| t + 1)
    }

    /// The MAC kind of the design's MVUs (`Multiply` if any MVU multiplies).
    pub fn mac(&self) -> MacKind {
        if self
            .engines
            .iter()
            .any(|e| matches!(&e.kind, EngineKind::Mvu(m) if m.mac == MacKind::Multiply))
        {
            MacKind::Multiply
        } else {
            MacKind::Shift
        }
    }

    /// Total lanes (shift-add or multiplier).
    pub fn total_lanes(&self) -> usize {
        self.engines.iter().map(|e| e.op().lanes()).sum()
    }

    /// Sum of every engine's resources (adders merged by width).
    pub fn total_resources(&self) -> Resources {
        let mut t = Resources::default();
        for e in &self.engines {
            add_into(&mut t, &e.resources);
        }
        t
    }

    /// Everything in the generated top: every engine (with its weight ROMs), every FIFO and
    /// the output stage. This is the figure to compare with a whole-design synthesis.
    pub fn design_resources(&self) -> Resources {
        let mut t = self.total_resources();
        for s in &self.streams {
            add_into(&mut t, &fifo_resources(s.width * s.beat as u32, s.depth));
        }
        add_into(
            &mut t,
            &output_resources(self.output.width, self.output.count, self.output.idx_width),
        );
        t
    }

    /// The engines of the MVUs, in engine order.
    pub fn mvu_engines(&self) -> impl Iterator<Item = (usize, &Engine, &crate::ops::Mvu)> {
        self.engines
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.kind {
                EngineKind::Mvu(m) => Some((i, e, m)),
                _ => None,
            })
    }

    /// A readable plan table (one row per engine) and the expected throughput at `clock_mhz`.
    pub fn summary_table(&self, clock_mhz: f64) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:>3} {:<16} {:<16} {:<18} {:>9} {:>12} {:>6} {:>10} {:>6} {:>9}",
            "#",
            "node",
            "op",
            "shape in→out",
            "PE×SIMD",
            "cycles/img",
            "lanes",
            "ROM bits",
            "acc",
            "LUT est"
        );
        for (i, e) in self.engines.iter().enumerate() {
            let op = e.op();
            let (lanes, acc) = match &e.kind {
                EngineKind::Mvu(m) => (m.lanes().to_string(), m.acc_width.to_string()),
                _ => ("-".into(), "-".into()),
            };
            let shape = match op.geometry() {
                Some(g) => format!("{}x{}x{}→{}x{}x{}", g.c, g.h, g.w, g.oc, g.oh, g.ow),
                None => format!("{}→{}", op.in_elements(), op.out_elements()),
            };
            let name: String = e
                .name
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .take(16)
                .collect();
            let _ = writeln!(
                s,
                "{:>3} {:<16} {:<16} {:<18} {:>9} {:>12} {:>6} {:>10} {:>6} {:>9}",
                i,
                name,
                e.op,
                shape,
                op.fold_label(),
                e.cycles_per_image,
                lanes,
                e.resources.rom_bits,
                acc,
                e.resources.luts
            );
        }
        for e in &self.engines {
            if let EngineKind::Mvu(m) = &e.kind {
                if m.is_constant() {
                    let _ = writeln!(s, "{}", m.sharing_line(&e.name, e.io.in_width));
                }
            }
        }
        let wide = self.wide_streams();
        if !wide.is_empty() {
            let _ = writeln!(
                s,
                "wide beats (elements per beat, docs/hardware.md §2.1): {}",
                wide.join(", ")
            );
        }
        let skip: Vec<String> = self
            .streams
            .iter()
            .filter(|s| s.skip)
            .map(|s| {
                if s.beat > 1 {
                    format!("{}×{}", s.depth, s.beat)
                } else {
                    s.depth.to_string()
                }
            })
            .collect();
        let t = self.total_resources();
        let interval = self.interval_cycles().max(1);
        let fps = clock_mhz * 1e6 / interval as f64;
        // a design with multipliers: its LUTs with them in DSP blocks and in logic
        // (`synth_xilinx -nodsp`, a part without DSP blocks)
        let multipliers = if t.dsp > 0 {
            format!(
                " and {} DSP blocks (~{} LUTs without DSP blocks)",
                t.dsp,
                t.luts + t.soft_mul_luts
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "total: {} lanes, {} ROM bits ({} in block RAM), {} FF bits, ~{} LUTs{multipliers}{}",
            self.total_lanes(),
            t.rom_bits,
            t.bram_bits,
            t.ff_bits,
            t.luts,
            if skip.is_empty() {
                String::new()
            } else {
                format!(
                    "; skip FIFOs {} {}",
                    skip.join(", "),
                    if self.streams.iter().any(|s| s.skip && s.beat > 1) {
                        "(depth × elements per beat)"
                    } else {
                        "elements"
                    }
                )
            }
        );
        let _ = writeln!(
            s,
            "interval {} cycles/image → {:.1} images/s at {} MHz (latency of the first image: {} cycles)",
            interval,
            fps,
            clock_mhz,
            self.latency_estimate()
        );
        s
    }

    /// The streams of more than one element per beat (`docs/hardware.md` §2.1), each as
    /// `producer→consumer k` (engine names, `input`, `output`).
    pub fn wide_streams(&self) -> Vec<String> {
        let end = |p: Endpoint| match p {
            Endpoint::Input => "input".to_string(),
            Endpoint::Output => "output".to_string(),
            Endpoint::Engine { engine, .. } => self
                .engines
                .get(engine)
                .map_or_else(|| format!("engine {engine}"), |e| e.name.clone()),
        };
        self.streams
            .iter()
            .filter(|s| s.beat > 1)
            .map(|s| format!("{}→{} {}", end(s.from), end(s.to), s.beat))
            .collect()
    }

    /// JSON text of the design.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Parses a design from JSON text (as stored in `manifest.json` under `"design"`).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}
