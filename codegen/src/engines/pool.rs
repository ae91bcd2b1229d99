//! Pooling engines (`docs/hardware.md` §5): max and average pooling over a window. Two shared
//! modules, chosen by the plan ([`inq_hdl::Pool::tiled`]): `inq_pool_tile` for windows that
//! tile the map (§5.1), `inq_pool` for any other (§5). Parameters from the plan (with `K`,
//! the channels per beat, where the plan widens the streams) plus the element width `A`;
//! ports `clk/rst`, `in_*`, `out_*` (`K·A` bits wide).

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

#[derive(Template)]
#[template(path = "inq_pool_tile.v", escape = "none")]
struct PoolTileT<'a> {
    header: &'a str,
}

/// `rtl/inq_pool.v`.
const MODULE: Shared = Shared {
    file: "inq_pool.v",
    render: |header| text(&PoolT { header }, "inq_pool.v"),
};

/// `rtl/inq_pool_tile.v`.
const TILE_MODULE: Shared = Shared {
    file: "inq_pool_tile.v",
    render: |header| text(&PoolTileT { header }, "inq_pool_tile.v"),
};

impl EngineGen for Pool {
    fn generate(&self, cx: &EngineCx) -> Result<EngineOut, CodegenError> {
        let mut p = params(cx);
        p.push(int_param("A", cx.engine.io.in_width));
        let (module, shared) = if self.tiled() {
            ("inq_pool_tile", TILE_MODULE)
        } else {
            ("inq_pool", MODULE)
        };
        Ok(EngineOut {
            module: module.into(),
            shared: vec![shared],
            rtl: Vec::new(),
            hex: Vec::new(),
            wires: Vec::new(),
            insts: vec![simple_instance(cx, module, p)?],
        })
    }
}
