//! Stream forks (`inq_fork`, `docs/hardware.md` §5c): one input stream, `N` output streams on
//! packed ports (output port `k` is `out_data[k*W +: W]`, `out_valid[k]`, `out_ready[k]`, so
//! the top connects concatenations, highest port first). Purely combinational: no clock.

use askama::Template;
use inq_hdl::Fork;

use super::{params, EngineCx, EngineGen, EngineOut, Shared};
use crate::error::CodegenError;
use crate::parts::{text, Conn, Instance};

#[derive(Template)]
#[template(path = "inq_fork.v", escape = "none")]
struct ForkT<'a> {
    header: &'a str,
}

/// `rtl/inq_fork.v`.
const MODULE: Shared = Shared {
    file: "inq_fork.v",
    render: |header| text(&ForkT { header }, "inq_fork.v"),
};

/// `{w_{N-1}, ..., w_0}`: port `k` at bits `k` of the packed port.
fn concat<'a>(parts: impl DoubleEndedIterator<Item = &'a String>) -> String {
    let v: Vec<&str> = parts.rev().map(String::as_str).collect();
    format!("{{{}}}", v.join(", "))
}

impl EngineGen for Fork {
    fn generate(&self, cx: &EngineCx) -> Result<EngineOut, CodegenError> {
        let ([i], outs) = (cx.inputs.as_slice(), cx.outputs.as_slice()) else {
            return Err(CodegenError::Mismatch(format!(
                "engine {} ({}): a fork reads one stream",
                cx.index, cx.instance
            )));
        };
        if outs.len() != self.outputs || outs.len() < 2 {
            return Err(CodegenError::Mismatch(format!(
                "engine {} ({}): a fork of {} outputs writes {} streams",
                cx.index,
                cx.instance,
                self.outputs,
                outs.len()
            )));
        }
        let lines = vec![
            vec![
                Conn::new("in_data", &i.data),
                Conn::new("in_valid", &i.valid),
                Conn::new("in_ready", &i.ready),
            ],
            vec![Conn::new("out_data", &concat(outs.iter().map(|w| &w.data)))],
            vec![Conn::new(
                "out_valid",
                &concat(outs.iter().map(|w| &w.valid)),
            )],
            vec![Conn::new(
                "out_ready",
                &concat(outs.iter().map(|w| &w.ready)),
            )],
        ];
        Ok(EngineOut {
            module: "inq_fork".into(),
            shared: vec![MODULE],
            rtl: Vec::new(),
            hex: Vec::new(),
            wires: Vec::new(),
            insts: vec![Instance {
                module: "inq_fork".into(),
                name: cx.instance.clone(),
                params: params(cx),
                lines,
            }],
        })
    }
}
