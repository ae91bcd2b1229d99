//! Elementwise adders (`inq_add`, `docs/hardware.md` §5b): two input streams, input port 0 on
//! `a_*` and port 1 on `b_*`, one output `out_*`. One shared module; every width, shift and
//! signedness is a parameter from the plan.

use askama::Template;
use inq_hdl::AddUnit;

use super::{clock, params, stream, EngineCx, EngineGen, EngineOut, Shared};
use crate::error::CodegenError;
use crate::parts::{text, Instance};

#[derive(Template)]
#[template(path = "inq_add.v", escape = "none")]
struct AddT<'a> {
    header: &'a str,
}

/// `rtl/inq_add.v`.
const MODULE: Shared = Shared {
    file: "inq_add.v",
    render: |header| text(&AddT { header }, "inq_add.v"),
};

impl EngineGen for AddUnit {
    fn generate(&self, cx: &EngineCx) -> Result<EngineOut, CodegenError> {
        let ([a, b], [o]) = (cx.inputs.as_slice(), cx.outputs.as_slice()) else {
            return Err(CodegenError::Mismatch(format!(
                "engine {} ({}): an adder needs two input streams and one output stream",
                cx.index, cx.instance
            )));
        };
        Ok(EngineOut {
            module: "inq_add".into(),
            shared: vec![MODULE],
            rtl: Vec::new(),
            hex: Vec::new(),
            wires: Vec::new(),
            insts: vec![Instance {
                module: "inq_add".into(),
                name: cx.instance.clone(),
                params: params(cx),
                lines: vec![clock(), stream("a", a), stream("b", b), stream("out", o)],
            }],
        })
    }
}
