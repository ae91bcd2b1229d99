//! Matrix-vector units (`inq_mvu`, `docs/hardware.md` §4, §4.1, §4.2): conv, depthwise conv
//! (parameter `DW`) and dense layers.
//!
//! * ROM variant: the shared modules `inq_mvu` and `inq_rom`, one `inq_rom` instance per PE
//!   (`<instance>_rom<p>`, image `e<i>_w_pe<p>.hex`: `max(2, NF·SF)` words of `SIMD·b` bits)
//!   on the wires `<instance>_waddr` / `<instance>_wen` / `<instance>_wdata`, ports `w_addr` /
//!   `w_en` / `w_data` (read at reset and at each fire, the address one fold ahead).
//! * Constant weights (§4.1): the per-engine module `inq_mvu_e<i>` rendered from the same
//!   template in constant mode: the shared sub-sums (`sh<i>`), then each PE's terms as
//!   wiring summed by its adder tree ([`inq_hdl::Mvu::datapath`]); no ROM.
//!
//! Both get the per-channel tables `e<i>_bias.hex` (`RW` bits, the bias plus the rounding
//! constant) and `e<i>_shift.hex` (`SHW` bits, `min(r, ACC_W) − r_min`), `max(2, OC)` words
//! each, named by the plan's `BIAS_FILE` / `SHIFT_FILE` memory parameters; parameters from
//! the plan plus the input width `A`.

use askama::Template;
use inq_hdl::ops::pipeline::Value;
use inq_hdl::ops::ConstDatapath;
use inq_hdl::{Mvu, Staging, TreeOperand};

use super::{
    int_param, memory_file, param_int, params, simple_instance, single_io, EngineCx, EngineGen,
    EngineOut, Shared,
};
use crate::error::CodegenError;
use crate::hex::{hex_bits, hex_word, image};
use crate::parts::{text, Conn, Instance, OutFile, ParamV, Wire};

#[derive(Template)]
#[template(path = "inq_mvu.v", escape = "none")]
struct MvuT<'a> {
    header: &'a str,
    /// `inq_mvu`, or the per-engine module of a constant-weight engine.
    module_name: String,
    /// Fully unrolled: constant weights, no ROM ports (`pes` holds the datapath).
    constant: bool,
    /// A constant-weight engine with wide beats (`KI` or `KO` ≠ 1, `docs/hardware.md` §2):
    /// the module has the parameters `KI`, `KO` and the beat-wide input side, emission and
    /// per-lane requantizers (generic in both); without, its text is the one-element engine's.
    wide: bool,
    /// Some window element feeds no term (its weight is zero in every PE).
    unused_lanes: bool,
    /// The shared sub-sums (operands and adders), before the PEs.
    shared: Vec<ConstTermV>,
    pes: Vec<ConstPeV>,
    /// Pipeline registers in the adder trees (0: none; always 0 for the ROM variant).
    pipe: u32,
    /// Adder levels per pipeline stage.
    levels_per_stage: u32,
    /// The pipeline's data registers.
    pregs: Vec<PipeRegV>,
    /// The parameter values that the module's declaration takes as defaults: a per-engine
    /// (constant-weight) module has one instance, and its body is written for that
    /// instance's values, so a tool that elaborates the module alone (plain `read_verilog`)
    /// sees the same values; empty for the shared `inq_mvu`, whose defaults are generic.
    defaults: Vec<ParamV>,
}

impl MvuT<'_> {
    /// The default of parameter `name` in the module's declaration: the instance's value in a
    /// per-engine module, else `generic`.
    fn default_of(&self, name: &str, generic: &str) -> String {
        self.defaults
            .iter()
            .find(|p| p.name == name)
            .map_or_else(|| generic.to_string(), |p| p.value.clone())
    }
}

/// One pipeline register of a constant-weight MVU and what it loads.
struct PipeRegV {
    name: String,
    width: u32,
    src: String,
}

#[derive(Template)]
#[template(path = "inq_rom.v", escape = "none")]
struct RomT<'a> {
    header: &'a str,
}

/// One constant product of a constant-weight MVU (`inq_mvu.v`, constant mode).
struct ConstTermV {
    name: String,
    width: u32,
    expr: String,
    comment: String,
}

/// One adder of a PE's tree.
struct ConstNodeV {
    name: String,
    width: u32,
    expr: String,
}

/// One PE of a constant-weight MVU.
struct ConstPeV {
    index: usize,
    /// Its non-zero weights (before sharing: a shared sub-sum stands for several).
    nonzero: usize,
    zeros: usize,
    terms: Vec<ConstTermV>,
    nodes: Vec<ConstNodeV>,
    hi: u32,
    lo: u32,
    result: String,
    /// The result's wire when pipeline registers carry it to the last stage (else empty),
    /// and how many.
    carried: String,
    carry: u32,
}

/// The text of a shared ROM-variant module: `inq_mvu`, or `inq_mvu_wide` with wide beats.
fn rom_variant(header: &str, name: &str, wide: bool) -> Result<String, CodegenError> {
    text(
        &MvuT {
            header,
            module_name: name.into(),
            constant: false,
            wide,
            unused_lanes: false,
            shared: Vec::new(),
            pes: Vec::new(),
            pipe: 0,
            levels_per_stage: 0,
            pregs: Vec::new(),
            defaults: Vec::new(),
        },
        "inq_mvu.v",
    )
}

/// `rtl/inq_mvu.v` (the ROM variant, shared by every ROM engine).
const MODULE: Shared = Shared {
    file: "inq_mvu.v",
    render: |header| rom_variant(header, "inq_mvu", false),
};

/// `rtl/inq_mvu_wide.v`: the ROM variant with wide beats (`KI`, `KO`; `docs/hardware.md`
/// §2.1), shared by every ROM engine that takes or emits more than one element per beat.
const WIDE_MODULE: Shared = Shared {
    file: "inq_mvu_wide.v",
    render: |header| rom_variant(header, "inq_mvu_wide", true),
};

/// `rtl/inq_rom.v`.
const ROM: Shared = Shared {
    file: "inq_rom.v",
    render: |header| text(&RomT { header }, "inq_rom.v"),
};

/// `name` (`from` bits) sign-extended to `to` bits.
fn sext(name: &str, from: u32, to: u32) -> String {
    if from >= to {
        name.to_string()
    } else if to - from == 1 {
        format!("{{{name}[{}], {name}}}", from - 1)
    } else {
        format!("{{{{{}{{{name}[{}]}}}}, {name}}}", to - from, from - 1)
    }
}

/// A value `name` read `k` stages after the one it is computed in: `expr` itself, or the
/// last of its pipeline registers `<name>_d1` … `<name>_dk` (declared from
/// [`Staging::carries`], [`pipeline_registers`]).
fn delayed(name: &str, expr: &str, k: u32) -> String {
    if k == 0 {
        expr.to_string()
    } else {
        format!("{name}_d{k}")
    }
}

/// The RTL names of a carried value and of what its first register loads.
fn carried_name(v: Value, in_width: u32) -> (String, String) {
    match v {
        Value::Window(j) => {
            let lo = j as u32 * in_width;
            (format!("x{j}"), format!("xv[{}:{lo}]", lo + in_width - 1))
        }
        Value::Shared(i) => (format!("sh{i}"), format!("sh{i}")),
        Value::Node { pe, node } => (format!("p{pe}_n{node}"), format!("p{pe}_n{node}")),
        Value::Result(pe) => (format!("p{pe}_r"), format!("p{pe}_r")),
    }
}

/// The pipeline registers of a constant-weight engine (`docs/hardware.md` §4.1): every value
/// carried across `k` stage boundaries passes registers `<name>_d1` … `<name>_dk`, each
/// loaded from the one before it (the first from the value) when the stages advance.
fn pipeline_registers(st: &Staging, dp: &ConstDatapath, in_width: u32) -> Vec<PipeRegV> {
    let mut out = Vec::new();
    for c in st.carries(dp, in_width) {
        let (name, expr) = carried_name(c.value, in_width);
        for i in 1..=c.registers {
            out.push(PipeRegV {
                name: format!("{name}_d{i}"),
                width: c.width,
                src: if i == 1 {
                    expr.clone()
                } else {
                    format!("{name}_d{}", i - 1)
                },
            });
        }
    }
    out
}

/// The constant-mode template data of MVU engine `ei` (`docs/hardware.md` §4.1): per PE, its
/// non-zero terms as wiring and its adder tree, cut into the plan's pipeline stages
/// ([`inq_hdl::Staging`]).
fn const_mvu<'a>(
    ei: usize,
    m: &Mvu,
    in_width: u32,
    in_signed: bool,
    header: &'a str,
) -> Result<MvuT<'a>, CodegenError> {
    let a = in_width;
    let accw = m.acc_width;
    let dp = m.datapath(a);
    let st = Staging::new(&dp, m.pipeline);
    let win = m.window_elements();
    let mut used = vec![false; win];
    // a source (window element, or shared sub-sum `win + i`) read `k` stages after its own as
    // a signed expression, its width, and its name in comments
    let source = |s: usize, k: u32| -> (String, u32, String) {
        if s < win {
            let lo = s as u32 * a;
            let slice = format!("xv[{}:{lo}]", lo + a - 1);
            let x = delayed(&format!("x{s}"), &slice, k);
            let ext = if !in_signed {
                "1'b0".to_string()
            } else if k == 0 {
                format!("xv[{}]", lo + a - 1)
            } else {
                format!("{x}[{}]", a - 1)
            };
            (format!("{{{ext}, {x}}}"), a + 1, format!("x[{s}]"))
        } else {
            let i = s - win;
            let w = dp.source_width(s, a);
            let name = format!("sh{i}");
            (delayed(&name, &name, k), w, name)
        }
    };
    let shifted = |expr: &str, k: u32| {
        if k == 0 {
            expr.to_string()
        } else {
            format!("{{{expr}, {k}'b0}}")
        }
    };
    // the shared sub-sums: each operand shifted into its own wire, then the adder
    let mut shared = Vec::with_capacity(3 * dp.shared.len());
    for (i, n) in dp.shared.iter().enumerate() {
        let at = st.stage(st.levels.shared[i]);
        let mut ops = Vec::with_capacity(2);
        for (tag, src, k) in [("a", n.a, n.a_shift), ("b", n.b, n.b_shift)] {
            if src < win {
                used[src] = true;
            }
            let (expr, w, label) = source(src, at - st.source_stage(&dp, src));
            let name = format!("sh{i}_{tag}");
            shared.push(ConstTermV {
                name: name.clone(),
                width: w + k,
                expr: shifted(&expr, k),
                comment: format!("{label} << {k}"),
            });
            ops.push((name, w + k));
        }
        shared.push(ConstTermV {
            name: format!("sh{i}"),
            width: n.width,
            expr: format!(
                "({} {} {})",
                sext(&ops[0].0, ops[0].1, n.width),
                if n.subtract { "-" } else { "+" },
                sext(&ops[1].0, ops[1].1, n.width)
            ),
            comment: if st.registers > 0 {
                format!("shared by several PEs, stage {at}")
            } else {
                "shared by several PEs".to_string()
            },
        });
    }
    let mut pes = Vec::with_capacity(m.pe);
    for (p, tree) in dp.trees.iter().enumerate() {
        let lv = &st.levels.nodes[p];
        let node_stage: Vec<u32> = lv.iter().map(|&l| st.stage(l)).collect();
        let result_stage = st.stage(st.levels.result[p]);
        // the stage each term is read in (each term has one reader: an adder, or the result)
        let mut term_stage = vec![0u32; tree.terms.len()];
        for (j, n) in tree.nodes.iter().enumerate() {
            for op in [n.a, n.b] {
                if let TreeOperand::Term(i) = op {
                    term_stage[i] = node_stage[j];
                }
            }
        }
        if let Some(TreeOperand::Term(i)) = tree.root {
            term_stage[i] = result_stage;
        }
        let mut terms = Vec::with_capacity(tree.terms.len());
        for (i, (t, &w)) in tree.terms.iter().zip(&tree.term_widths).enumerate() {
            let k = term_stage[i] - st.source_stage(&dp, t.lane);
            let (expr, sw, label) = source(t.lane, k);
            if w != sw + t.shift {
                return Err(CodegenError::Mismatch(format!(
                    "engine {ei}: a product of shift {} does not fit the {accw}-bit accumulator",
                    t.shift
                )));
            }
            if t.lane < win {
                used[t.lane] = true;
            }
            terms.push(ConstTermV {
                name: format!("p{p}_t{i}"),
                width: w,
                expr: shifted(&expr, t.shift),
                comment: format!(
                    "{}{label} << {}",
                    if t.negative { "-" } else { "+" },
                    t.shift
                ),
            });
        }
        let width_of = |op: TreeOperand| match op {
            TreeOperand::Term(i) => tree.term_widths[i],
            TreeOperand::Node(j) => tree.nodes[j].width,
        };
        // an operand read in stage `at`
        let name_of = |op: TreeOperand, at: u32| match op {
            TreeOperand::Term(i) => format!("p{p}_t{i}"),
            TreeOperand::Node(j) => {
                let name = format!("p{p}_n{j}");
                delayed(&name, &name, at - node_stage[j])
            }
        };
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for (j, n) in tree.nodes.iter().enumerate() {
            let at = node_stage[j];
            let (x, y) = (name_of(n.a, at), name_of(n.b, at));
            nodes.push(ConstNodeV {
                name: format!("p{p}_n{j}"),
                width: n.width,
                expr: format!(
                    "({} {} {})",
                    sext(&x, width_of(n.a), n.width),
                    if n.subtract { "-" } else { "+" },
                    sext(&y, width_of(n.b), n.width)
                ),
            });
        }
        let result = match tree.root {
            None => format!("{{{accw}{{1'b0}}}}"),
            Some(r) => {
                let v = sext(&name_of(r, result_stage), width_of(r), accw);
                if tree.root_negated {
                    format!("({{{accw}{{1'b0}}}} - {v})")
                } else {
                    v
                }
            }
        };
        // the result is carried to the last stage, where obuf loads it
        let carry = if tree.root.is_some() {
            st.registers - result_stage
        } else {
            0
        };
        let carried = if carry > 0 {
            format!("p{p}_r")
        } else {
            String::new()
        };
        let nonzero = m.nonzero_weights(p, 0);
        pes.push(ConstPeV {
            index: p,
            nonzero,
            zeros: m.simd - nonzero,
            terms,
            nodes,
            hi: (p as u32 + 1) * accw - 1,
            lo: p as u32 * accw,
            result,
            carried,
            carry,
        });
    }
    Ok(MvuT {
        header,
        module_name: format!("inq_mvu_e{ei}"),
        constant: true,
        wide: m.in_beat != 1 || m.out_beat != 1,
        unused_lanes: used.iter().any(|u| !u),
        shared,
        pes,
        pipe: st.registers,
        levels_per_stage: st.levels_per_stage,
        pregs: pipeline_registers(&st, &dp, a),
        defaults: Vec::new(),
    })
}

/// The bias and shift tables (`max(2, OC)` words): the bias plus the rounding constant at
/// `RW` bits ([`Mvu::bias_table_word`]) and the shift above the smallest one, `r − r_min`, at
/// `SHW` bits (the shifts clamped to `ACC_W`, [`Mvu::table_shift`]).
fn tables(ei: usize, m: &Mvu) -> Vec<OutFile> {
    let depth = m.geom.oc.max(2);
    let (lo, _) = m.table_shift_range();
    let oc = m.geom.oc;
    let bias = (0..depth).map(|c| {
        let w = if c < oc { m.bias_table_word(c) } else { 0 };
        hex_word(w, m.requant_width)
    });
    let shift = (0..depth).map(|c| {
        let d = if c < oc { m.table_shift(c) - lo } else { 0 };
        hex_word(i64::from(d), m.shift_table_width())
    });
    vec![
        OutFile::rtl(&memory_file(ei, "bias"), image(bias)),
        OutFile::rtl(&memory_file(ei, "shift"), image(shift)),
    ]
}

/// The weight ROM image of PE `p`: `depth` words of `SIMD·b` bits, lane `s` in bits
/// `[s·b +: b]`, zero beyond `NF·SF`.
fn rom_image(m: &Mvu, p: usize, depth: usize) -> Vec<u8> {
    let dw = m.rom_width() as usize;
    let cb = m.code_bits as usize;
    image((0..depth).map(|addr| {
        let mut bits = vec![false; dw];
        if addr < m.rom_depth() {
            for s in 0..m.simd {
                let code = m.code(p, addr, s);
                for b in 0..cb {
                    bits[s * cb + b] = (code >> b) & 1 == 1;
                }
            }
        }
        hex_bits(&bits)
    }))
}

impl EngineGen for Mvu {
    fn generate(&self, cx: &EngineCx) -> Result<EngineOut, CodegenError> {
        let ei = cx.index;
        let io = cx.engine.io;
        let mut p = params(cx);
        p.push(int_param("A", io.in_width));
        let mut hex = tables(ei, self);
        if self.is_constant() {
            let module = format!("inq_mvu_e{ei}");
            let mut t = const_mvu(ei, self, io.in_width, io.in_signed, cx.header)?;
            t.defaults = p.clone();
            return Ok(EngineOut {
                rtl: vec![OutFile::rtl(
                    &format!("{module}.v"),
                    text(&t, "inq_mvu.v")?.into_bytes(),
                )],
                insts: vec![simple_instance(cx, &module, p)?],
                module,
                shared: Vec::new(),
                hex,
                wires: Vec::new(),
            });
        }
        let (i, o) = single_io(cx)?;
        let waw = param_int(cx, &p, "WAW")?;
        let depth = self.rom_depth().max(2);
        let dw = self.rom_width();
        let waddr = format!("{}_waddr", cx.instance);
        let wdata = format!("{}_wdata", cx.instance);
        let wen = format!("{}_wen", cx.instance);
        let mut insts = Vec::with_capacity(self.pe + 1);
        for pe in 0..self.pe {
            let file = memory_file(ei, &format!("w_pe{pe}"));
            hex.push(OutFile::rtl(&file, rom_image(self, pe, depth)));
            insts.push(Instance {
                module: "inq_rom".into(),
                name: format!("{}_rom{pe}", cx.instance),
                // BANKS only where the plan reads the ROM in banks
                params: [
                    Some(int_param("DW", dw)),
                    Some(int_param("DEPTH", depth)),
                    Some(int_param("AW", waw)),
                    (self.rom_banks() > 1).then(|| int_param("BANKS", self.rom_banks())),
                    Some(int_param("FILE", format!("\"{file}\""))),
                ]
                .into_iter()
                .flatten()
                .collect(),
                lines: vec![vec![
                    Conn::new("clk", "clk"),
                    Conn::new("addr", &waddr),
                    Conn::new("en", &wen),
                    Conn::new(
                        "q",
                        &format!("{wdata}[{}:{}]", (pe as u32 + 1) * dw - 1, pe as u32 * dw),
                    ),
                ]],
            });
        }
        let (module, shared) = if self.in_beat != 1 || self.out_beat != 1 {
            ("inq_mvu_wide", WIDE_MODULE)
        } else {
            ("inq_mvu", MODULE)
        };
        insts.push(Instance {
            module: module.into(),
            name: cx.instance.clone(),
            params: p,
            lines: vec![
                super::clock(),
                super::stream("in", i),
                vec![
                    Conn::new("w_addr", &waddr),
                    Conn::new("w_en", &wen),
                    Conn::new("w_data", &wdata),
                ],
                super::stream("out", o),
            ],
        });
        Ok(EngineOut {
            module: module.into(),
            shared: vec![ROM, shared],
            rtl: Vec::new(),
            hex,
            wires: vec![
                Wire {
                    name: waddr,
                    width: waw,
                },
                Wire {
                    name: wen,
                    width: 1,
                },
                Wire {
                    name: wdata,
                    width: dw * self.pe as u32,
                },
            ],
            insts,
        })
    }

    fn folding(&self) -> (usize, usize, Option<u32>) {
        (self.pe, self.simd, Some(self.acc_width))
    }
}
