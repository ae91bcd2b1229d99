//! # inq-codegen — Verilog from a `Design`
//!
//! Turns an `inq_hdl::Design` into synthesizable Verilog (askama templates under
//! `codegen/templates/`), `$readmemh` weight memories, SDC/XDC constraints filled from the
//! templates in `constraints/`, and a `manifest.json` describing the generated top.
