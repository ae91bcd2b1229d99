//! The engine kinds of the hardware plan, one file each, and their registry.
//!
//! Each kind is a parameter struct implementing [`EngineOp`] (streams, schedule, resources,
//! template parameters) in its own file. This file is the one dispatch point: [`EngineKind`]
//! names every kind (serialized in the design), [`EngineKind::op`] hands out the trait object,
//! and [`lower`] maps a model node to the engine that implements it. Adding an engine kind
//! means adding its file, one line in `registry!` and, if a model operator lowers to it, one
//! arm in [`lower`].

pub mod add;
pub mod adder_tree;
pub mod api;
pub mod fork;
pub mod gap;
pub mod mvu;
pub mod pipeline;
pub mod pool;
pub mod sharing;

pub use add::AddUnit;
pub use adder_tree::{AdderTree, ConstTerm, TreeNode, TreeOperand};
pub(crate) use api::{is_one, one};
pub use api::{BeatCaps, EngineOp, Io, Param, ParamValue};
pub use fork::Fork;
pub use gap::Gap;
pub use mvu::{MacKind, Mvu, MvuNode, MvuOutput, WeightStorage};
pub use pipeline::{Levels, Staging};
pub use pool::{Pool, PoolMode};
pub use sharing::{ConstDatapath, DatapathCost, SharedNode};

use inq_model::ops::Op;
use inq_model::TensorInfo;
use serde::{Deserialize, Serialize};

use crate::error::PlanError;
use crate::geometry::{line_buffer_rows, Geometry};

macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident($ty:ty) = $tag:literal,)*) => {
        /// The kind-specific part of an engine.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum EngineKind {
            $($(#[$doc])* $variant($ty),)*
        }

        impl EngineKind {
            /// The engine kind behind the tag.
            pub fn op(&self) -> &dyn EngineOp {
                match self {
                    $(EngineKind::$variant(e) => e,)*
                }
            }

            /// The engine kind behind the tag, to change (its beats, [`EngineOp::set_beats`]).
            pub fn op_mut(&mut self) -> &mut dyn EngineOp {
                match self {
                    $(EngineKind::$variant(e) => e,)*
                }
            }

            /// The kind's tag (`mvu`, `pool`, ...), also the stem of its Verilog module
            /// `inq_<tag>`.
            pub fn tag(&self) -> &'static str {
                match self {
                    $(EngineKind::$variant(_) => $tag,)*
                }
            }
        }
    };
}

registry! {
    /// Matrix-vector unit (conv, depthwise conv or dense), `docs/hardware.md` §4.
    Mvu(Mvu) = "mvu",
    /// Windowed max or average pooling, `docs/hardware.md` §5.
    Pool(Pool) = "pool",
    /// Global average pooling, `docs/hardware.md` §5a.
    Gap(Gap) = "gap",
    /// Elementwise add of two streams, `docs/hardware.md` §5b.
    Add(AddUnit) = "add",
    /// Stream fork, `docs/hardware.md` §5c.
    Fork(Fork) = "fork",
}

/// What the planner knows when it lowers one node.
#[derive(Debug, Clone, Copy)]
pub struct LowerCtx<'a> {
    /// The node's label for errors (`node "conv1" (nodes[0])`).
    pub label: &'a str,
    /// Its inputs' shapes and formats.
    pub inputs: &'a [&'a TensorInfo],
    /// Its output's shape and format.
    pub output: &'a TensorInfo,
    /// `(PE, SIMD)` of a conv or dense node.
    pub fold: Option<(usize, usize)>,
    /// For a dense node: the `[C, H, W]` map its input stream was flattened from.
    pub flat_from: Option<[usize; 3]>,
}

/// What a model node becomes in hardware.
#[derive(Debug, Clone)]
pub enum Lowered {
    /// An engine with its stream widths.
    Engine(Box<EngineKind>, Io),
    /// No engine: the node's output is its input's stream (flatten).
    Alias,
}

/// The sliding-window geometry of a conv or dense node (`None` for other ops).
pub fn mvu_geometry(op: &Op, input: &TensorInfo, output: &TensorInfo) -> Option<Geometry> {
    match op {
        Op::Conv(l) => {
            let (c, h, w) = (input.shape[0], input.shape[1], input.shape[2]);
            Some(Geometry {
                c,
                h,
                w,
                kh: l.kernel[0],
                kw: l.kernel[1],
                sh: l.stride[0],
                sw: l.stride[1],
                pad: l.pad,
                oc: l.out_channels,
                oh: output.shape[1],
                ow: output.shape[2],
                nr: line_buffer_rows(h, l.kernel[0], l.stride[0], l.pad[0], output.shape[1]),
            })
        }
        Op::Dense(l) => Some(Geometry {
            c: l.in_features,
            h: 1,
            w: 1,
            kh: 1,
            kw: 1,
            sh: 1,
            sw: 1,
            pad: [0; 4],
            oc: l.out_features,
            oh: 1,
            ow: 1,
            nr: line_buffer_rows(1, 1, 1, 0, 1),
        }),
        _ => None,
    }
}

/// Whether a node is a depthwise conv.
pub fn is_depthwise(op: &Op) -> bool {
    matches!(op, Op::Conv(c) if c.depthwise())
}

/// Lowers one model node to its engine.
pub fn lower(op: &Op, cx: &LowerCtx) -> Result<Lowered, PlanError> {
    let x = cx.inputs[0];
    let in_fmt = x
        .format
        .ok_or_else(|| PlanError::Internal(format!("{}: logits input", cx.label)))?;
    let same = |f: inq_model::ActFormat| Io {
        in_width: f.bits,
        in_signed: f.signed,
        out_width: f.bits,
        out_signed: f.signed,
    };
    Ok(match op {
        Op::Conv(_) | Op::Dense(_) => {
            let g = mvu_geometry(op, x, cx.output)
                .ok_or_else(|| PlanError::Internal("mvu geometry".into()))?;
            let (pe, simd) = cx
                .fold
                .ok_or_else(|| PlanError::Internal(format!("{}: no folding", cx.label)))?;
            let node = match op {
                Op::Conv(c) => MvuNode {
                    weights: &c.weights,
                    bias: &c.bias,
                    relu: c.relu,
                    output: c.output,
                    pad_value: c.pad_value,
                    depthwise: c.depthwise(),
                    conv: true,
                    flat_from: None,
                },
                Op::Dense(d) => MvuNode {
                    weights: &d.weights,
                    bias: &d.bias,
                    relu: d.relu,
                    output: d.output,
                    pad_value: 0,
                    depthwise: false,
                    conv: false,
                    flat_from: cx.flat_from,
                },
                _ => return Err(PlanError::Internal("not an MVU node".into())),
            };
            let (m, io) = mvu::plan_mvu(&node, g, in_fmt, pe, simd, cx.label)?;
            Lowered::Engine(Box::new(EngineKind::Mvu(m)), io)
        }
        Op::MaxPool(_) | Op::AvgPool(_) => {
            let (w, mode) = match op {
                Op::MaxPool(p) => (&p.0, PoolMode::Max),
                Op::AvgPool(p) => (&p.0, PoolMode::Avg),
                _ => return Err(PlanError::Internal("not a pool".into())),
            };
            let (c, h, wd) = (x.shape[0], x.shape[1], x.shape[2]);
            let (oh, ow) = (cx.output.shape[1], cx.output.shape[2]);
            let g = Geometry {
                c,
                h,
                w: wd,
                kh: w.kernel[0],
                kw: w.kernel[1],
                sh: w.stride[0],
                sw: w.stride[1],
                pad: [0; 4],
                oc: c,
                oh,
                ow,
                nr: line_buffer_rows(h, w.kernel[0], w.stride[0], 0, oh),
            };
            Lowered::Engine(
                Box::new(EngineKind::Pool(Pool::new(g, mode, in_fmt.bits))),
                same(in_fmt),
            )
        }
        Op::GlobalAvgPool(_) => {
            let (c, h, w) = (x.shape[0], x.shape[1], x.shape[2]);
            Lowered::Engine(
                Box::new(EngineKind::Gap(Gap::new(c, h, w, in_fmt.bits))),
                same(in_fmt),
            )
        }
        Op::Add(a) => {
            let fb = cx.inputs[1]
                .format
                .ok_or_else(|| PlanError::Internal(format!("{}: logits input", cx.label)))?;
            let ar = a
                .arith(in_fmt, fb)
                .ok_or_else(|| PlanError::Internal(format!("{}: add without format", cx.label)))?;
            let unit = AddUnit::new(x.elements(), &ar, fb.bits, fb.signed);
            Lowered::Engine(
                Box::new(EngineKind::Add(unit)),
                Io {
                    in_width: in_fmt.bits,
                    in_signed: in_fmt.signed,
                    out_width: ar.output.bits,
                    out_signed: ar.output.signed,
                },
            )
        }
        Op::Flatten(_) => Lowered::Alias,
    })
}
