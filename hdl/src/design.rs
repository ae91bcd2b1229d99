//! The `Design` data structure: every engine, width, memory and schedule of a generated
//! pipeline. Pure data (serde), the contract between the planner, the code generator and the
//! simulator. Semantics: `docs/hardware.md`.

use inq_model::numerics::{self, Weight};
use serde::{Deserialize, Serialize};

/// The value of [`Design::format`].
pub const DESIGN_FORMAT: &str = "inq-design";
/// The version of the design structure this build writes.
pub const DESIGN_VERSION: u32 = 1;

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
    /// The engines in stream order.
    pub engines: Vec<Engine>,
    /// The FIFOs: index 0 is `fifo_in` (before engine 0), index `e+1` follows engine `e`.
    pub fifos: Vec<FifoSpec>,
    /// The output stage.
    pub output: OutputStage,
    /// One observable stream per model layer (`docs/hardware.md` §2, "taps").
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

/// A FIFO between two pipeline stages (`docs/hardware.md` §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FifoSpec {
    /// Element width.
    pub width: u32,
    /// Capacity in elements (a power of two, at least 2).
    pub depth: usize,
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
}

/// A stream that can be observed in the generated top.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tap {
    /// Model layer index.
    pub layer: usize,
    /// Model layer name (raw).
    pub name: String,
    /// The stream: `None` for the input stream after `fifo_in`, `Some(e)` for engine `e`'s
    /// output (a flatten layer aliases the stream before it).
    pub engine: Option<usize>,
    /// Element width.
    pub width: u32,
    /// Signedness.
    pub signed: bool,
    /// The model's tensor shape after this layer (`[C,H,W]` or `[N]`).
    pub shape: Vec<usize>,
    /// Elements per image.
    pub elements_per_image: usize,
}

/// One engine of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engine {
    /// Model layer index this engine implements.
    pub layer: usize,
    /// Model layer name (raw; never inserted into RTL unsanitized).
    pub name: String,
    /// Model op (`conv`, `dense`, `max_pool`, `avg_pool`, `global_avg_pool`).
    pub op: String,
    /// Geometry of the sliding window.
    pub geom: Geometry,
    /// Input element width and signedness.
    pub in_width: u32,
    /// Input signedness.
    pub in_signed: bool,
    /// Output element width.
    pub out_width: u32,
    /// Output signedness.
    pub out_signed: bool,
    /// What the engine computes.
    pub kind: EngineKind,
    /// Analytic estimate of the busy cycles per image (`docs/hardware.md` §9); the exact cycle
    /// behaviour is the state machine of §4/§5.
    pub cycles_per_image: u64,
    /// Analytic resource count.
    pub resources: Resources,
}

/// Sliding-window geometry shared by MVU and pooling engines. A dense layer is a 1×1 window on
/// a `[N,1,1]` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// Input channels `C`.
    pub c: usize,
    /// Input height `H`.
    pub h: usize,
    /// Input width `W`.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Padding `[top, left, bottom, right]`.
    pub pad: [usize; 4],
    /// Output channels.
    pub oc: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Line-buffer rows `NR` (`inq_hdl::line_buffer_rows`: at least `kh + sh`, and room for the
    /// next image's first rows while the last output row is computed; `docs/hardware.md` §4).
    pub nr: usize,
}

impl Geometry {
    /// Line-buffer elements `NR·W·C`.
    pub fn lb_elements(&self) -> usize {
        self.nr * self.w * self.c
    }
    /// Input elements per image.
    pub fn in_elements(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Output elements per image.
    pub fn out_elements(&self) -> usize {
        self.oc * self.oh * self.ow
    }
}

/// The kind-specific part of an engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EngineKind {
    /// Matrix-vector unit (conv or dense), `docs/hardware.md` §4.
    Mvu(Mvu),
    /// Pooling unit, `docs/hardware.md` §5.
    Pool(Pool),
}

/// What an MVU emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum MvuOutput {
    /// Requantized activations.
    Act {
        /// Width.
        bits: u32,
        /// Signedness.
        signed: bool,
        /// ReLU before saturation.
        relu: bool,
    },
    /// Logits at `ACC_W + max left shift` bits.
    Logits,
}

/// How an MVU lane multiplies an activation by a weight (derived from the layer's
/// [`inq_model::WeightKind`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MacKind {
    /// INQ codes: `±(x << k)` or 0, no multiplier (the default).
    #[default]
    Shift,
    /// Uniform integer codes: a signed multiplier `x · q` per lane.
    Multiply,
}

impl MacKind {
    /// True for [`MacKind::Shift`] (omitted from the JSON so shift-add designs serialize as
    /// before).
    pub fn is_shift(&self) -> bool {
        matches!(self, MacKind::Shift)
    }
    /// The MAC kind of weights of the given kind.
    pub fn of(kind: inq_model::WeightKind) -> Self {
        match kind {
            inq_model::WeightKind::Pow2 => MacKind::Shift,
            inq_model::WeightKind::Int => MacKind::Multiply,
        }
    }
    /// The weight kind this MAC consumes.
    pub fn weight_kind(&self) -> inq_model::WeightKind {
        match self {
            MacKind::Shift => inq_model::WeightKind::Pow2,
            MacKind::Multiply => inq_model::WeightKind::Int,
        }
    }
    /// `shift` or `multiply`.
    pub fn name(&self) -> &'static str {
        match self {
            MacKind::Shift => "shift",
            MacKind::Multiply => "multiply",
        }
    }
}

/// A matrix-vector unit of `PE × SIMD` lanes (shift-add or multiplier lanes, [`MacKind`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mvu {
    /// Shift-add or multiplier lanes.
    #[serde(default, skip_serializing_if = "MacKind::is_shift")]
    pub mac: MacKind,
    /// Value of padded window positions.
    pub pad_value: i64,
    /// Processing elements (output channels in parallel); divides `OC`.
    pub pe: usize,
    /// Lanes per PE (window elements in parallel); divides `C`.
    pub simd: usize,
    /// Neuron folds `OC / PE`.
    pub nf: usize,
    /// Synapse folds `K / SIMD`.
    pub sf: usize,
    /// Weight code width `b`.
    pub code_bits: u32,
    /// Largest exponent index used by a non-zero weight (0 if none, and for multiplier lanes).
    pub k_max: u32,
    /// Product width: `A + k_max + 1` for shift-add lanes, `A + b` for multiplier lanes
    /// (signed product of an `A`-bit activation and a `b`-bit two's-complement weight).
    pub product_width: u32,
    /// Accumulator width: `max(signed_width_for(worst-case bound), product_width + 1)`.
    pub acc_width: u32,
    /// Internal width of the requantizer: `max(ACC_W + 1 + max left shift, OUT_W + 1)`.
    pub requant_width: u32,
    /// Output mode.
    pub output: MvuOutput,
    /// Per output channel bias at accumulator scale.
    pub bias: Vec<i64>,
    /// Per output channel shift `r` (positive: rounding right shift; ≤ 0: left shift).
    pub shift: Vec<i32>,
    /// Weight codes, index `(p · (NF·SF) + addr) · SIMD + s` for PE `p`, ROM word `addr =
    /// nf·SF + sf`, lane `s` (see [`Mvu::code`]). Kept for constant-weight engines too (one
    /// word per PE): the simulator and the code generator read the weights from here.
    pub weights: Vec<u8>,
    /// Where the weights live: per-PE ROMs, or constants wired into the datapath when the
    /// folding makes every lane's weight constant (`NF·SF = 1`, `docs/hardware.md` §4.1).
    #[serde(default)]
    pub weight_storage: WeightStorage,
}

/// Where an MVU's weights live (`docs/hardware.md` §4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightStorage {
    /// One synchronous-read ROM per PE (`inq_rom`), `NF·SF` words of `SIMD·b` bits.
    #[default]
    Rom,
    /// Fully unrolled (`NF·SF = 1`): every lane's weight is a compile-time constant, so each
    /// product is wiring (a constant shift, a subtraction for a negative weight), zero weights
    /// have no hardware, and there is no ROM.
    Constant,
}

/// One non-zero product of a constant-weight PE: `sign · (x_lane << shift)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConstTerm {
    /// The lane (window element) it multiplies.
    pub lane: usize,
    /// The left shift: the weight's exponent index (`|w| = 2^(n2 + shift)`).
    pub shift: u32,
    /// Whether the weight is negative (the term is subtracted).
    pub negative: bool,
}

impl Mvu {
    /// ROM depth per PE (`NF·SF`).
    pub fn rom_depth(&self) -> usize {
        self.nf * self.sf
    }
    /// ROM word width per PE (`SIMD·b`).
    pub fn rom_width(&self) -> u32 {
        self.simd as u32 * self.code_bits
    }
    /// The code of lane `s` of PE `p` at ROM word `addr`.
    pub fn code(&self, p: usize, addr: usize, s: usize) -> u8 {
        self.weights[(p * self.rom_depth() + addr) * self.simd + s]
    }
    /// Shift-add lanes `PE·SIMD`.
    pub fn lanes(&self) -> usize {
        self.pe * self.simd
    }
    /// Whether the weights are constants wired into the datapath (no ROM).
    pub fn is_constant(&self) -> bool {
        self.weight_storage == WeightStorage::Constant
    }
    /// The adder tree of PE `p` of a constant-weight engine (ROM word 0) for `in_width`-bit
    /// inputs.
    pub fn adder_tree(&self, p: usize, in_width: u32) -> AdderTree {
        AdderTree::build(self.terms(p, 0), in_width, self.acc_width)
    }
    /// The non-zero products of PE `p` at ROM word `addr` (for a constant-weight engine,
    /// `addr = 0`), in lane order: zero weights give no term.
    pub fn terms(&self, p: usize, addr: usize) -> Vec<ConstTerm> {
        (0..self.simd)
            .filter_map(
                |s| match numerics::decode(self.code(p, addr, s), self.code_bits) {
                    Ok(Weight::Pow2 { negative, index }) => Some(ConstTerm {
                        lane: s,
                        shift: index,
                        negative,
                    }),
                    _ => None,
                },
            )
            .collect()
    }
}

/// An operand of a constant-weight adder tree ([`AdderTree`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeOperand {
    /// Term `i` of [`AdderTree::terms`]: `x_lane << shift` zero/sign-extended to
    /// `in_width + shift + 1` bits (pure wiring; its sign is applied by the adder using it).
    Term(usize),
    /// The result of node `i` of [`AdderTree::nodes`].
    Node(usize),
}

/// One adder (or subtractor) of an [`AdderTree`]: `a + b` or `a − b`, operands sign-extended
/// to `width` bits (wrapping at the accumulator width, like the accumulator itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeNode {
    /// First operand (the minuend of a subtraction).
    pub a: TreeOperand,
    /// Second operand.
    pub b: TreeOperand,
    /// `a − b` instead of `a + b`.
    pub subtract: bool,
    /// Result width: one bit more than the wider operand, at most `ACC_W`.
    pub width: u32,
}

/// The adder tree computing one PE's dot product from constant weights: the non-zero terms
/// (zero weights have none), a balanced tree of adders/subtractors over them (a negative term
/// is subtracted, never negated on its own), and the root, negated once more if it is the
/// negative of the sum (only when every term of its subtree combination is negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdderTree {
    /// The non-zero products in lane order.
    pub terms: Vec<ConstTerm>,
    /// Width of each term operand (`in_width + shift + 1`, at most `ACC_W`).
    pub term_widths: Vec<u32>,
    /// The adders, in dependency order (a node only uses earlier nodes).
    pub nodes: Vec<TreeNode>,
    /// The root (`None`: every weight is zero and the sum is 0).
    pub root: Option<TreeOperand>,
    /// The root holds the negated sum: the result is `0 − root`.
    pub root_negated: bool,
}

impl AdderTree {
    /// Builds the tree of the `terms` of one PE for `in_width`-bit inputs and an `acc_width`
    /// accumulator.
    pub fn build(terms: Vec<ConstTerm>, in_width: u32, acc_width: u32) -> Self {
        let term_widths: Vec<u32> = terms
            .iter()
            .map(|t| (in_width + t.shift + 1).min(acc_width))
            .collect();
        // (operand, holds the negated value, width)
        let mut level: Vec<(TreeOperand, bool, u32)> = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (TreeOperand::Term(i), t.negative, term_widths[i]))
            .collect();
        let mut nodes = Vec::new();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            for pair in level.chunks(2) {
                match pair {
                    [(a, na, wa), (b, nb, wb)] => {
                        let width = ((*wa).max(*wb) + 1).min(acc_width);
                        // +a+b, +a−b, +b−a, −(a+b)
                        let (x, y, subtract, neg) = match (na, nb) {
                            (false, false) => (*a, *b, false, false),
                            (false, true) => (*a, *b, true, false),
                            (true, false) => (*b, *a, true, false),
                            (true, true) => (*a, *b, false, true),
                        };
                        nodes.push(TreeNode {
                            a: x,
                            b: y,
                            subtract,
                            width,
                        });
                        next.push((TreeOperand::Node(nodes.len() - 1), neg, width));
                    }
                    [one] => next.push(*one),
                    _ => {}
                }
            }
            level = next;
        }
        let (root, root_negated) = match level.first() {
            Some(&(op, neg, _)) => (Some(op), neg),
            None => (None, false),
        };
        AdderTree {
            terms,
            term_widths,
            nodes,
            root,
            root_negated,
        }
    }

    /// Adders and subtractors of the tree, including the final negation if any.
    pub fn adder_count(&self) -> usize {
        self.nodes.len() + usize::from(self.root_negated)
    }
}

/// Pooling mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// Maximum over the window.
    Max,
    /// Rounded average over a power-of-two window.
    Avg,
}

/// A pooling unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    /// Max or average.
    pub mode: PoolMode,
    /// `log2(kh·kw)` (average only; 0 for max).
    pub shift: u32,
    /// Width of the window sum (`A + shift + 1`, average only).
    pub sum_width: u32,
}

/// Count of adders of one width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdderCount {
    /// Bits.
    pub width: u32,
    /// How many.
    pub count: u64,
}

/// Analytic resource count of one engine, in Xilinx 7-series terms as yosys `synth_xilinx`
/// maps the generated RTL (`docs/hardware.md` §10, `crate::resources`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resources {
    /// Adders/subtractors by width.
    pub adders: Vec<AdderCount>,
    /// Flip-flop bits (registers, including ROM output registers of ROMs in logic; line
    /// buffers are distributed RAM, counted in `lutram_luts`).
    pub ff_bits: u64,
    /// ROM bits (weights, bias and shift tables).
    pub rom_bits: u64,
    /// ROM bits expected in block RAM.
    pub bram_bits: u64,
    /// Estimated 6-LUT sites: logic LUTs (LUT1–LUT6) plus the LUTs used as distributed RAM
    /// (`lutram_luts`, 4 per RAM64M/RAM32M).
    pub luts: u64,
    /// The part of `luts` used as distributed RAM (line buffers, FIFO storage).
    #[serde(default)]
    pub lutram_luts: u64,
    /// CARRY4 cells (adders, counters and comparators on carry chains).
    #[serde(default)]
    pub carry4: u64,
    /// Block RAM in RAMB18 units (a RAMB36 counts 2).
    #[serde(default)]
    pub bram18: u64,
    /// DSP blocks (0 for shift-add lanes; one per multiplier lane when DSPs are allowed).
    #[serde(default)]
    pub dsp: u64,
    /// Logic LUTs the multipliers counted in `dsp` cost instead when DSPs are not allowed
    /// (`synth_xilinx -nodsp`): the no-DSP estimate is `luts + soft_mul_luts`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub soft_mul_luts: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Design {
    /// The worst engine's busy cycles per image: the pipeline's initiation interval estimate.
    pub fn interval_cycles(&self) -> u64 {
        self.engines
            .iter()
            .map(|e| e.cycles_per_image)
            .chain(std::iter::once(
                (self.input.shape[0] * self.input.shape[1] * self.input.shape[2]) as u64,
            ))
            .max()
            .unwrap_or(0)
    }

    /// Rough estimate of the cycles from the first input element to the first logit: for each
    /// engine, the input elements it must receive before its first output (rows needed by the
    /// first output row, or the whole vector for a dense layer) plus one fold, plus one cycle
    /// per FIFO.
    pub fn latency_estimate(&self) -> u64 {
        let mut lat = 0u64;
        for e in &self.engines {
            let g = &e.geom;
            let rows = (g.kh.saturating_sub(g.pad[0])).clamp(1, g.h);
            let first = (rows - 1) * g.w * g.c + g.c * g.kw.saturating_sub(g.pad[1]).max(1);
            let fold = match &e.kind {
                EngineKind::Mvu(m) => m.sf as u64 + 1,
                EngineKind::Pool(_) => 1,
            };
            lat += first.min(g.in_elements()) as u64 + fold + 1;
        }
        lat + self.output.count as u64
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
        self.engines
            .iter()
            .map(|e| match &e.kind {
                EngineKind::Mvu(m) => m.lanes(),
                EngineKind::Pool(_) => 0,
            })
            .sum()
    }

    /// Sum of every engine's resources (adders merged by width).
    pub fn total_resources(&self) -> Resources {
        let mut t = Resources::default();
        for e in &self.engines {
            crate::resources::add_into(&mut t, &e.resources);
        }
        t
    }

    /// A readable plan table (one row per engine) and the expected throughput at `clock_mhz`.
    pub fn summary_table(&self, clock_mhz: f64) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:>3} {:<16} {:<16} {:<18} {:>9} {:>12} {:>6} {:>10} {:>6} {:>9}",
            "#",
            "layer",
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
            let g = &e.geom;
            let (fold, lanes, acc) = match &e.kind {
                EngineKind::Mvu(m) => (
                    format!("{}×{}", m.pe, m.simd),
                    m.lanes().to_string(),
                    m.acc_width.to_string(),
                ),
                EngineKind::Pool(_) => ("-".into(), "-".into(), "-".into()),
            };
            let shape = format!("{}x{}x{}→{}x{}x{}", g.c, g.h, g.w, g.oc, g.oh, g.ow);
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
                fold,
                e.cycles_per_image,
                lanes,
                e.resources.rom_bits,
                acc,
                e.resources.luts
            );
        }
        let t = self.total_resources();
        let interval = self.interval_cycles().max(1);
        let fps = clock_mhz * 1e6 / interval as f64;
        let _ = writeln!(
            s,
            "total: {} lanes, {} ROM bits ({} in block RAM), {} FF bits, ~{} LUTs",
            self.total_lanes(),
            t.rom_bits,
            t.bram_bits,
            t.ff_bits,
            t.luts
        );
        let _ = writeln!(
            s,
            "interval {} cycles/image → {:.1} images/s at {} MHz (latency: a rough lower bound of {} cycles; `inq sim` measures it)",
            interval,
            fps,
            clock_mhz,
            self.latency_estimate()
        );
        s
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
