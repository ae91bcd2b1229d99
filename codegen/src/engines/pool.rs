//! Pooling engines (`inq_pool`, `docs/hardware.md` §5): max and average pooling over a window.
//! One shared module; parameters from the plan plus the element width `A`; ports `clk/rst`,
//! `in_*`, `out_*`.

use askama::Template;
use inq_hdl::Pool;

use super::{int_param, params, simple_instance, EngineCx, EngineGen, EngineOut, Shared};
use crate::error::CodegenError;
use crate::parts::text;

#[derive(Template)]
#[template(path = "inq_pool.v", escape = "none")]
struct PoolT<'a> {
    header: &'a str,
}

/// `rtl/inq_pool.v`.
const MODULE: Shared = Shared {
    file: "inq_pool.v",
    render: |header| text(&PoolT { header }, "inq_pool.v"),
};

impl EngineGen for Pool {
    fn generate(&self, cx: &EngineCx) -> Result<EngineOut, CodegenError> {
        let mut p = params(cx);
        p.push(int_param("A", cx.engine.io.in_width));
        Ok(EngineOut {
            module: "inq_pool".into(),
            shared: vec![MODULE],
            rtl: Vec::new(),
            hex: Vec::new(),
            wires: Vec::new(),
            insts: vec![simple_instance(cx, "inq_pool", p)?],
        })
    }
}
