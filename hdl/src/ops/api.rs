//! The interface every engine kind implements ([`EngineOp`]) and the small types it speaks
//! in: the widths of the streams around an engine ([`Io`]) and Verilog parameters
//! ([`Param`]). A kind's deepest logic path is a [`LogicPath`] of the plan's timing model.
//!
//! Owns no engine kind; those live one per file beside this one and are registered in
//! [`super::EngineKind`].

use serde::{Deserialize, Serialize};

use crate::geometry::Geometry;
use crate::resources::{LineBuffer, Resources, Term};
use crate::schedule::Times;
use crate::timing::{LogicPath, TimingFamily};

/// Widths and signedness of the stream an engine reads (its first input) and of the stream
/// it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Io {
    /// Input element width.
    pub in_width: u32,
    /// Input signedness.
    pub in_signed: bool,
    /// Output element width.
    pub out_width: u32,
    /// Output signedness.
    pub out_signed: bool,
}

/// The value of a Verilog module parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// An integer (rendered in decimal).
    Int(i64),
    /// A string (rendered quoted).
    Str(String),
    /// The name of one of the engine's memory files, by role (`bias`, `shift`): the code
    /// generator names the file (`e<engine>_<role>.hex`) and renders it quoted.
    Memory(&'static str),
}

/// One Verilog module parameter of an engine instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The parameter name in the template.
    pub name: &'static str,
    /// Its value.
    pub value: ParamValue,
}

impl Param {
    /// An integer parameter.
    pub fn int(name: &'static str, v: impl Into<i64>) -> Self {
        Param {
            name,
            value: ParamValue::Int(v.into()),
        }
    }
    /// An integer parameter from a count.
    pub fn size(name: &'static str, v: usize) -> Self {
        Param::int(name, v as i64)
    }
    /// A flag (0 or 1).
    pub fn flag(name: &'static str, v: bool) -> Self {
        Param::int(name, i64::from(v))
    }
    /// A memory file parameter.
    pub fn memory(name: &'static str, role: &'static str) -> Self {
        Param {
            name,
            value: ParamValue::Memory(role),
        }
    }
}

/// What beats an engine can take (`docs/hardware.md` §2.1): an input beat that divides
/// `input`, an output beat that divides `out`; `pass` when its output beats must equal its
/// input beat (the pools, the fork, the adder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatCaps {
    /// The input beat divides this.
    pub input: usize,
    /// The output beat divides this.
    pub out: usize,
    /// Output beats equal the input beat.
    pub pass: bool,
}

impl BeatCaps {
    /// One element per beat in and out.
    pub const ONE: BeatCaps = BeatCaps {
        input: 1,
        out: 1,
        pass: false,
    };
}

/// The default beat: one element per beat (serde default of every `beat` field).
pub(crate) fn one() -> usize {
    1
}

/// Whether a beat is the default one element (serde: then the field is not written).
pub(crate) fn is_one(k: &usize) -> bool {
    *k == 1
}

/// One engine kind of the hardware plan: how many streams it reads and writes, its schedule,
/// its resources and its template parameters (`docs/hardware.md` gives its cycle-exact
/// behaviour).
pub trait EngineOp {
    /// Input streams.
    fn inputs(&self) -> usize {
        1
    }
    /// Output streams.
    fn outputs(&self) -> usize {
        1
    }
    /// Shift-add (or multiplier) lanes.
    fn lanes(&self) -> usize {
        0
    }
    /// `PE×SIMD`, or `-` for engines without lanes.
    fn fold_label(&self) -> String {
        "-".into()
    }
    /// The sliding-window geometry, for engines with a line buffer.
    fn geometry(&self) -> Option<&Geometry> {
        None
    }
    /// Elements per beat on its input streams (`docs/hardware.md` §2.1); 1 unless the kind
    /// takes wide beats.
    fn in_beat(&self) -> usize {
        1
    }
    /// Elements per beat on its output streams.
    fn out_beat(&self) -> usize {
        1
    }
    /// The beats the engine can take as it is folded (`docs/hardware.md` §2.1).
    fn beat_caps(&self) -> BeatCaps {
        BeatCaps::ONE
    }
    /// The beats the engine could take with any folding (the planner's view before folding).
    fn any_beat_caps(&self) -> BeatCaps {
        self.beat_caps()
    }
    /// Sets the engine's input and output beats (within [`EngineOp::beat_caps`]); kinds that
    /// take one element per beat are only ever given 1 and ignore it.
    fn set_beats(&mut self, _in_beat: usize, _out_beat: usize) {}
    /// Why the kind cannot take its beats (`docs/hardware.md` §2.1), or `None` when it can.
    /// By default only one element per beat.
    fn beat_error(&self) -> Option<String> {
        (self.in_beat() != 1 || self.out_beat() != 1)
            .then(|| "this engine kind takes one element per beat".into())
    }
    /// Elements per image on each input stream.
    fn in_elements(&self) -> usize;
    /// Elements per image on each output stream.
    fn out_elements(&self) -> usize;
    /// Steady-state cycles per image in isolation: inputs offered at one element per cycle,
    /// outputs never blocked (`docs/hardware.md` §9).
    fn cycles_per_image(&self) -> u64;
    /// How many input elements the engine can hold (line buffer, output registers) before it
    /// must emit: the "reach" the FIFO rule of `docs/hardware.md` §2.2 adds up.
    fn held_elements(&self) -> usize;
    /// The first image's schedule ([`crate::schedule`], `docs/hardware.md` §9): given the
    /// cycles in which each input element becomes available (one slice per input port), the
    /// cycles in which each output element is transferred (one vector per output port), with
    /// the output never blocked.
    fn first_image(&self, inputs: &[&[u64]]) -> Vec<Times>;
    /// The named terms of the resource estimate (`docs/hardware.md` §10).
    fn terms(&self, io: &Io) -> Vec<Term>;
    /// The resource estimate (the terms plus adders, ROM and block-RAM counts).
    fn resources(&self, io: &Io) -> Resources;
    /// The Verilog module parameters of the instance (without memory file names, which the
    /// code generator adds).
    fn params(&self, io: &Io) -> Vec<Param>;
    /// The engine's line buffer, when it is synchronously read RAM (block RAM or LUT-RAM, as
    /// the plan decides per family: [`LineBuffer::xilinx_ram_style`]); none by default.
    fn line_buffer(&self, _io: &Io) -> Option<LineBuffer> {
        None
    }
    /// The deepest register-to-register path of the instance on `family` (`docs/hardware.md`
    /// §12), for the clock estimate ([`crate::timing`]): stated in LUT4 levels, which
    /// [`LogicPath::on`] converts; a chain that maps differently per family (a wide
    /// multiplexer) states its depth for `family`.
    fn logic_path(&self, io: &Io, family: TimingFamily) -> LogicPath;
    /// [`EngineOp::logic_path`] when the family's multipliers are logic instead of DSP blocks
    /// (`synth_xilinx -nodsp`); the same path for every engine without multipliers.
    fn logic_path_without_dsp(&self, io: &Io, family: TimingFamily) -> LogicPath {
        self.logic_path(io, family)
    }
}
