//! Global average pooling engines (`inq_gap`, `docs/hardware.md` §5a): a running sum per
//! channel, no line buffer. One shared module; parameters from the plan plus the element
//! width `A`; ports `clk/rst`, `in_*`, `out_*`.

use askama::Template;
use inq_hdl::Gap;

use super::{int_param, params, simple_instance, EngineCx, EngineGen, EngineOut, Shared};
use crate::error::CodegenError;
use crate::parts::text;

#[derive(Template)]
#[template(path = "inq_gap.v", escape = "none")]
struct GapT<'a> {
    header: &'a str,
}

/// `rtl/inq_gap.v`.
const MODULE: Shared = Shared {
    file: "inq_gap.v",
    render: |header| text(&GapT { header }, "inq_gap.v"),
};

impl EngineGen for Gap {
    fn generate(&self, cx: &EngineCx) -> Result<EngineOut, CodegenError> {
        let mut p = params(cx);
        p.push(int_param("A", cx.engine.io.in_width));
        Ok(EngineOut {
            module: "inq_gap".into(),
            shared: vec![MODULE],
            rtl: Vec::new(),
            hex: Vec::new(),
            wires: Vec::new(),
            insts: vec![simple_instance(cx, "inq_gap", p)?],
        })
    }
}
