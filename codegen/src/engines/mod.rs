//! The engine kinds of the generated top, one file each, and their one dispatch point.
//!
//! Each kind implements [`EngineGen`] for its `inq_hdl` parameter struct: which Verilog module
//! its instance uses, which shared modules it needs (rendered once per design), which extra
//! files it writes (memory images, per-engine modules) and how its ports are wired to the
//! stream wires of the top. [`of`] is the only match over [`EngineKind`]: adding an engine
//! kind means adding its file (and its `mod` line), one arm in [`of`] and its template.
//!
//! The module parameters come from the plan ([`inq_hdl::EngineOp::params`]); [`params`]
//! renders them and names the memory files (`e<engine>_<role>.hex`).

mod add;
mod fork;
mod gap;
mod mvu;
mod pool;

use inq_hdl::{Engine, EngineKind, ParamValue};

use crate::error::CodegenError;
use crate::parts::{Conn, Instance, OutFile, ParamV, Wire, Wires};

/// What an engine's generator knows about its place in the top.
pub(crate) struct EngineCx<'a> {
    /// Engine index.
    pub index: usize,
    /// The engine.
    pub engine: &'a Engine,
    /// The header line of every generated file.
    pub header: &'a str,
    /// Its (sanitized, unique) instance name.
    pub instance: String,
    /// The FIFO output wires (`q<s>_*`) of the streams it reads, one per input port.
    pub inputs: Vec<Wires>,
    /// The producer-side wires (`s<s>_*`) of the streams it writes, one per output port.
    pub outputs: Vec<Wires>,
}

/// A module shared by every engine of a kind: one file per design, rendered from its template
/// with the header only.
#[derive(Clone, Copy)]
pub(crate) struct Shared {
    /// File name under `rtl/` (the module name + `.v`).
    pub file: &'static str,
    /// Renders the file's text from the header.
    pub render: fn(&str) -> Result<String, CodegenError>,
}

/// What an engine contributes to the design.
pub(crate) struct EngineOut {
    /// The module of its main instance (for the manifest).
    pub module: String,
    /// Shared modules it needs.
    pub shared: Vec<Shared>,
    /// Verilog files of its own (a constant-weight MVU's module).
    pub rtl: Vec<OutFile>,
    /// Memory images of its own.
    pub hex: Vec<OutFile>,
    /// Wires it declares in the top (between its own instances).
    pub wires: Vec<Wire>,
    /// Its instances in the top (the main instance last).
    pub insts: Vec<Instance>,
}

/// One engine kind of the generated top.
pub(crate) trait EngineGen {
    /// The engine's module(s), files and instances.
    fn generate(&self, cx: &EngineCx) -> Result<EngineOut, CodegenError>;
    /// `(PE, SIMD, accumulator width)` for the manifest's engine summary.
    fn folding(&self) -> (usize, usize, Option<u32>) {
        (1, 1, None)
    }
}

/// The generator of an engine kind: the one dispatch point.
pub(crate) fn of(kind: &EngineKind) -> &dyn EngineGen {
    match kind {
        EngineKind::Mvu(k) => k,
        EngineKind::Pool(k) => k,
        EngineKind::Gap(k) => k,
        EngineKind::Add(k) => k,
        EngineKind::Fork(k) => k,
    }
}

/// The memory file of role `role` of engine `index` (`docs/hardware.md` §8).
pub(crate) fn memory_file(index: usize, role: &str) -> String {
    format!("e{index}_{role}.hex")
}

/// The engine's module parameters from the plan, in the plan's order; memory roles become
/// quoted file names.
pub(crate) fn params(cx: &EngineCx) -> Vec<ParamV> {
    let e = cx.engine;
    e.op()
        .params(&e.io)
        .into_iter()
        .map(|p| ParamV {
            name: p.name.to_string(),
            value: match p.value {
                ParamValue::Int(v) => v.to_string(),
                ParamValue::Str(s) => quoted(&s),
                ParamValue::Memory(role) => quoted(&memory_file(cx.index, role)),
            },
        })
        .collect()
}

/// A Verilog string literal of `s` (only file names and plan strings reach here; anything
/// but letters, digits and `._-` is replaced by `_`).
fn quoted(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("\"{clean}\"")
}

/// An integer parameter.
pub(crate) fn int_param(name: &str, v: impl ToString) -> ParamV {
    ParamV {
        name: name.to_string(),
        value: v.to_string(),
    }
}

/// The value of the integer parameter `name` in `params` (a width the top needs too).
pub(crate) fn param_int(cx: &EngineCx, params: &[ParamV], name: &str) -> Result<u32, CodegenError> {
    params
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.value.parse().ok())
        .ok_or_else(|| {
            CodegenError::Mismatch(format!(
                "engine {} ({}): the plan gives no parameter {name}",
                cx.index, cx.instance
            ))
        })
}

/// `.clk(clk), .rst(rst)`.
pub(crate) fn clock() -> Vec<Conn> {
    vec![Conn::new("clk", "clk"), Conn::new("rst", "rst")]
}

/// The three connections of a stream port `<prefix>_data/valid/ready` to the wires `w`.
pub(crate) fn stream(prefix: &str, w: &Wires) -> Vec<Conn> {
    vec![
        Conn::new(&format!("{prefix}_data"), &w.data),
        Conn::new(&format!("{prefix}_valid"), &w.valid),
        Conn::new(&format!("{prefix}_ready"), &w.ready),
    ]
}

/// The single input and output wires of a one-in, one-out engine.
pub(crate) fn single_io<'a>(cx: &'a EngineCx) -> Result<(&'a Wires, &'a Wires), CodegenError> {
    match (cx.inputs.as_slice(), cx.outputs.as_slice()) {
        ([i], [o]) => Ok((i, o)),
        _ => Err(CodegenError::Mismatch(format!(
            "engine {} ({}): expected one input and one output stream, found {} and {}",
            cx.index,
            cx.instance,
            cx.inputs.len(),
            cx.outputs.len()
        ))),
    }
}

/// The instance of a one-in, one-out engine with a clock: `clk/rst`, `in_*`, `out_*`.
pub(crate) fn simple_instance(
    cx: &EngineCx,
    module: &str,
    params: Vec<ParamV>,
) -> Result<Instance, CodegenError> {
    let (i, o) = single_io(cx)?;
    Ok(Instance {
        module: module.to_string(),
        name: cx.instance.clone(),
        params,
        lines: vec![clock(), stream("in", i), stream("out", o)],
    })
}
