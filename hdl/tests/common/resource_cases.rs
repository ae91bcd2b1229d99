//! The designs whose synthesis results calibrate and check the resource model
//! (`docs/hardware.md` §10), shared by `tests/resources_model.rs`, `tests/resources_yosys.rs`
//! and `examples/measure_resources.rs`, and the format of the committed measurements
//! `tests/data/resources_xilinx.json`.

#![allow(dead_code)]

use std::collections::BTreeMap;

use inq_hdl::{Design, Folding, FoldingRequest, LayerFolding};
use inq_model::random::{build, LayerSpec, RandomSpec};
use inq_model::{ActFormat, QuantModel};
use serde::{Deserialize, Serialize};

/// The plan's Xilinx memory decisions for the engines `(index, instance)` of a generated design,
/// as `inq report` applies them (`inq_flow::report::ram_styles`): `ram_style` on the line
/// buffers the plan keeps in LUT-RAM where yosys would choose block RAM.
pub fn xilinx_ram_styles<'a>(
    design: &Design,
    instances: impl IntoIterator<Item = (usize, &'a str)>,
) -> Vec<inq_report::yosys::RamStyle> {
    instances
        .into_iter()
        .filter_map(|(index, instance)| {
            let (memories, style) = design.engines.get(index)?.xilinx_ram_style()?;
            Some(inq_report::yosys::RamStyle {
                instance: instance.to_string(),
                memories: memories.to_string(),
                style: style.to_string(),
            })
        })
        .collect()
}

/// One measured design: a random model and a folding request.
pub struct Case {
    /// Name (key in the measurement file).
    pub name: &'static str,
    /// The model.
    pub model: QuantModel,
    /// The folding.
    pub folding: FoldingRequest,
}

impl Case {
    /// Plans the design.
    pub fn design(&self) -> Design {
        inq_hdl::plan(&self.model, &self.folding)
            .unwrap_or_else(|e| panic!("{}: plan failed: {e}", self.name))
    }
}

fn conv(out: usize, k: usize, stride: usize, pad: usize, bits: u32, relu: bool) -> LayerSpec {
    LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits,
        act_bits: 8,
        relu,
        per_channel: true,
    }
}

fn dense(out: usize, bits: u32, act_bits: u32) -> LayerSpec {
    LayerSpec::Dense {
        out,
        bits,
        act_bits,
        relu: true,
        per_channel: true,
    }
}

fn u8fmt() -> ActFormat {
    ActFormat {
        bits: 8,
        signed: false,
        exp: 0,
    }
}

/// The random LeNet-shaped model of `cargo run -p inq-model --example random_lenet -- OUT 3`.
pub fn lenet(seed: u64) -> QuantModel {
    let spec = RandomSpec {
        input: [1, 28, 28],
        input_format: u8fmt(),
        layers: vec![
            conv(16, 3, 1, 1, 5, true),
            LayerSpec::MaxPool(2),
            conv(32, 3, 1, 1, 5, true),
            LayerSpec::MaxPool(2),
            LayerSpec::Flatten,
            dense(128, 5, 8),
            dense(10, 5, 8),
        ],
    };
    build(&spec, seed).expect("random LeNet")
}

/// Small model A: unsigned input, conv, max pool, conv without padding, dense.
pub fn small_a() -> QuantModel {
    let spec = RandomSpec {
        input: [1, 12, 12],
        input_format: u8fmt(),
        layers: vec![
            conv(8, 3, 1, 1, 4, true),
            LayerSpec::MaxPool(2),
            conv(8, 3, 1, 0, 4, true),
            LayerSpec::Flatten,
            dense(10, 4, 8),
        ],
    };
    build(&spec, 11).expect("small A")
}

/// Small model B: signed input, stride-2 conv without ReLU (signed activations), average pool,
/// 1×1 conv, global average pool, dense.
pub fn small_b() -> QuantModel {
    let spec = RandomSpec {
        input: [3, 16, 16],
        input_format: ActFormat {
            bits: 6,
            signed: true,
            exp: 0,
        },
        layers: vec![
            conv(8, 3, 2, 1, 5, false),
            LayerSpec::AvgPool(2),
            conv(16, 1, 1, 0, 3, true),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            dense(10, 5, 8),
        ],
    };
    build(&spec, 12).expect("small B")
}

/// Small model C: 5×5 conv with 3-bit codes, max pool, two dense layers.
pub fn small_c() -> QuantModel {
    let spec = RandomSpec {
        input: [2, 10, 10],
        input_format: u8fmt(),
        layers: vec![
            conv(4, 5, 1, 2, 3, true),
            LayerSpec::MaxPool(2),
            LayerSpec::Flatten,
            dense(16, 4, 6),
            dense(10, 4, 8),
        ],
    };
    build(&spec, 13).expect("small C")
}

fn explicit(folds: &[(usize, usize, usize)]) -> FoldingRequest {
    FoldingRequest::Explicit(Folding {
        layer: folds
            .iter()
            .map(|&(index, pe, simd)| LayerFolding {
                name: None,
                index: Some(index),
                pe,
                simd,
            })
            .collect(),
    })
}

/// Every calibration design, smallest first.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "small_a_minimal",
            model: small_a(),
            folding: FoldingRequest::Minimal,
        },
        Case {
            name: "small_a_lanes16",
            model: small_a(),
            folding: FoldingRequest::LaneBudget(16),
        },
        Case {
            name: "small_a_simd",
            model: small_a(),
            folding: explicit(&[(0, 2, 1), (2, 1, 8), (4, 2, 8)]),
        },
        Case {
            name: "small_b_minimal",
            model: small_b(),
            folding: FoldingRequest::Minimal,
        },
        Case {
            name: "small_b_lanes24",
            model: small_b(),
            folding: FoldingRequest::LaneBudget(24),
        },
        Case {
            name: "small_c_lanes12",
            model: small_c(),
            folding: FoldingRequest::LaneBudget(12),
        },
        Case {
            name: "lenet_minimal",
            model: lenet(3),
            folding: FoldingRequest::Minimal,
        },
        Case {
            name: "lenet_lanes64",
            model: lenet(3),
            folding: FoldingRequest::LaneBudget(64),
        },
        Case {
            name: "lenet_explicit",
            model: lenet(3),
            folding: explicit(&[(0, 4, 1), (2, 8, 4), (5, 8, 8), (6, 2, 8)]),
        },
        Case {
            name: "lenet_lanes256",
            model: lenet(3),
            folding: FoldingRequest::LaneBudget(256),
        },
    ]
}

/// Yosys cell counts by cell type (`LUT6`, `RAM64M`, `FDRE`, ...).
pub type Cells = BTreeMap<String, u64>;

/// The committed measurements (`tests/data/resources_xilinx.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurements {
    /// `yosys -V`.
    pub yosys: String,
    /// The yosys command (after `read_verilog -defer` of the RTL files and `hierarchy`).
    pub command: String,
    /// One entry per case.
    pub cases: Vec<MeasuredCase>,
}

/// The synthesis result of one case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasuredCase {
    /// [`Case::name`].
    pub name: String,
    /// The manifest's `design_hash` of the synthesized RTL.
    pub design_hash: String,
    /// Wall-clock seconds of the synthesis run.
    pub seconds: f64,
    /// Per engine: the engine instance and its weight-ROM instances.
    pub engines: Vec<MeasuredEngine>,
    /// FIFOs and output stage, per instance.
    pub other: BTreeMap<String, Cells>,
}

/// The cells of one engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasuredEngine {
    /// Engine index.
    pub index: usize,
    /// Instance name in the top.
    pub instance: String,
    /// Cells of the engine instance and its ROM instances.
    pub cells: Cells,
}

/// 6-LUT sites a LUT-RAM / SRL cell occupies (7-series SLICEM).
pub fn lutram_sites(cell: &str) -> Option<u64> {
    Some(match cell {
        "RAM32X1S" | "RAM64X1S" | "SRL16E" | "SRLC16E" | "SRLC32E" => 1,
        "RAM32X1D" | "RAM64X1D" | "RAM128X1S" => 2,
        "RAM32M" | "RAM64M" | "RAM128X1D" | "RAM256X1S" => 4,
        _ => return None,
    })
}

/// Summary of a cell map in the model's units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// LUT1..LUT6 cells.
    pub logic_luts: u64,
    /// LUT sites used as distributed RAM / shift registers.
    pub lutram_luts: u64,
    /// Flip-flops.
    pub ffs: u64,
    /// CARRY4 cells.
    pub carry4: u64,
    /// Block RAM in RAMB18 units.
    pub bram18: u64,
    /// DSP48 cells.
    pub dsp: u64,
    /// MUXF7/MUXF8 cells.
    pub muxf: u64,
}

impl Summary {
    /// Logic LUTs plus LUT-RAM sites: the figure compared with the model's `luts`.
    pub fn luts(&self) -> u64 {
        self.logic_luts + self.lutram_luts
    }
    /// Adds another summary.
    pub fn add(&mut self, o: &Summary) {
        self.logic_luts += o.logic_luts;
        self.lutram_luts += o.lutram_luts;
        self.ffs += o.ffs;
        self.carry4 += o.carry4;
        self.bram18 += o.bram18;
        self.dsp += o.dsp;
        self.muxf += o.muxf;
    }
}

/// Summarizes a cell map.
pub fn summarize(cells: &Cells) -> Summary {
    let mut s = Summary::default();
    for (ty, &n) in cells {
        let t = ty.trim_start_matches('\\');
        if let Some(k) = lutram_sites(t) {
            s.lutram_luts += k * n;
        } else if t.starts_with("LUT") {
            s.logic_luts += n;
        } else if t.starts_with("FD") {
            s.ffs += n;
        } else if t == "CARRY4" {
            s.carry4 += n;
        } else if t.starts_with("RAMB18") {
            s.bram18 += n;
        } else if t.starts_with("RAMB36") {
            s.bram18 += 2 * n;
        } else if t.starts_with("DSP48") {
            s.dsp += n;
        } else if t.starts_with("MUXF") {
            s.muxf += n;
        }
    }
    s
}

/// Relative error of `est` against `meas` (0.1 = 10 % high).
pub fn rel_err(est: u64, meas: u64) -> f64 {
    (est as f64 - meas as f64) / (meas.max(1) as f64)
}
