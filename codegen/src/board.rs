//! Board tops: a design's core (`inq_top`) wrapped for a named board, with the pin file the
//! board needs, and the AXI top for Xilinx systems (AXI4-Stream data, AXI4-Lite registers, a
//! Vivado project script). Owns the board descriptions (part, package, oscillator, UART, pins) and
//! rendering the top and the pin file from the design's ports; running the tools on them is
//! `inq_report::nextpnr` (through `inq impl --board`), the UART protocol is in
//! `docs/user-guide.md`.
//!
//! Written by [`crate::generate`]: `board/<name>/` for every design whose input elements fit
//! one UART byte (unsigned, at most 8 bits; others get none), `board/axi/` for every design.

use askama::Template;
use inq_hdl::Design;

use crate::error::CodegenError;
use crate::parts::{text, OutFile};

/// A board `inq` can generate a top for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Board {
    /// The name on the command line and the folder `board/<name>/`.
    pub name: &'static str,
    /// What it is, for messages.
    pub title: &'static str,
    /// The FPGA part (`inq_report::nextpnr::Ice40Part` name).
    pub part: &'static str,
    /// The package.
    pub package: &'static str,
    /// The oscillator that clocks the design, in MHz.
    pub clock_mhz: f64,
    /// UART bit rate.
    pub baud: u32,
    /// The top module's name.
    pub module: &'static str,
    /// Pins: (top-level port, package pin).
    pub pins: &'static [(&'static str, &'static str)],
}

/// The 1BitSquared iCEBreaker (v1.0): iCE40 UP5K-SG48, 12 MHz oscillator, the FTDI UART on
/// pins 6 (RX, into the FPGA) and 9 (TX), user button 10, red LED 11, green LED 37.
pub const ICEBREAKER: Board = Board {
    name: "icebreaker",
    title: "iCEBreaker (iCE40 UP5K-SG48)",
    part: "up5k",
    package: "sg48",
    clock_mhz: 12.0,
    baud: 115_200,
    module: "inq_icebreaker",
    pins: &[
        ("CLK", "35"),
        ("BTN_N", "10"),
        ("RX", "6"),
        ("TX", "9"),
        ("LEDR_N", "11"),
        ("LEDG_N", "37"),
    ],
};

/// Every board.
pub const BOARDS: [Board; 1] = [ICEBREAKER];

impl Board {
    /// The board named `name` (case-insensitive).
    pub fn by_name(name: &str) -> Option<Board> {
        BOARDS
            .into_iter()
            .find(|b| b.name.eq_ignore_ascii_case(name.trim()))
    }

    /// The folder of its files in a design folder.
    pub fn dir(&self) -> String {
        format!("board/{}", self.name)
    }

    /// The top's file, relative to the design folder.
    pub fn top_file(&self) -> String {
        format!("{}/{}.v", self.dir(), self.module)
    }

    /// The pin file, relative to the design folder.
    pub fn pcf_file(&self) -> String {
        format!("{}/{}.pcf", self.dir(), self.name)
    }

    /// Clocks per UART bit (rounded).
    pub fn clks_per_bit(&self) -> u64 {
        (self.clock_mhz * 1e6 / f64::from(self.baud)).round() as u64
    }
}

/// Whether a design can have a UART board top: one input element per byte, and the class
/// (the argmax index) in one byte.
pub fn fits_uart(design: &Design) -> bool {
    !design.input.signed && design.input.width <= 8 && design.output.idx_width <= 7
}

#[derive(Template)]
#[template(path = "board_uart.v", escape = "none")]
struct UartTopT<'a> {
    header: &'a str,
    module: &'a str,
    board: &'a str,
    part: &'a str,
    clock_mhz: String,
    baud: u32,
    clks_per_bit: u64,
    in_w: u32,
    out_w: u32,
    idx_w: u32,
    classes: usize,
    fifo_depth: u64,
    fifo_aw: u32,
}

#[derive(Template)]
#[template(path = "board.pcf", escape = "none")]
struct PcfT<'a> {
    header: &'a str,
    board: &'a str,
    module: &'a str,
    pins: &'a [(&'static str, &'static str)],
}

/// The top and the pin file of `board` for `design` (nothing when [`fits_uart`] is false).
pub(crate) fn render(
    board: &Board,
    design: &Design,
    header: &str,
) -> Result<Vec<OutFile>, CodegenError> {
    if !fits_uart(design) {
        return Ok(Vec::new());
    }
    let elements = design.input_elements() as u64;
    let fifo_aw = elements.max(2).next_power_of_two().trailing_zeros();
    let top = UartTopT {
        header,
        module: board.module,
        board: board.title,
        part: board.part,
        clock_mhz: format!("{}", board.clock_mhz),
        baud: board.baud,
        clks_per_bit: board.clks_per_bit(),
        in_w: design.input.width,
        out_w: design.output.width,
        idx_w: design.output.idx_width,
        classes: design.output.count,
        fifo_depth: 1u64 << fifo_aw,
        fifo_aw,
    };
    let pcf = PcfT {
        header,
        board: board.title,
        module: board.module,
        pins: board.pins,
    };
    Ok(vec![
        OutFile {
            rel: board.top_file(),
            contents: text(&top, "board_uart.v")?.into_bytes(),
        },
        OutFile {
            rel: board.pcf_file(),
            contents: text(&pcf, "board.pcf")?.into_bytes(),
        },
    ])
}

/// The AXI top's folder in a design folder.
pub const AXI_DIR: &str = "board/axi";
/// The AXI top's module.
pub const AXI_MODULE: &str = "inq_axi";

#[derive(Template)]
#[template(path = "board_axi.v", escape = "none")]
struct AxiTopT<'a> {
    header: &'a str,
    in_w: u32,
    in_bytes: u32,
    out_w: u32,
    out_bytes: u32,
    idx_w: u32,
    elements: usize,
    classes: usize,
    out_ext: String,
    class_ext: String,
}

#[derive(Template)]
#[template(path = "board_vivado.tcl", escape = "none")]
struct VivadoT<'a> {
    header: &'a str,
    rtl_files: &'a [String],
    hex_files: &'a [String],
}

#[derive(Template)]
#[template(path = "board_axi.xdc", escape = "none")]
struct AxiXdcT<'a> {
    header: &'a str,
    clock_mhz: String,
    period_ns: String,
}

/// The AXI top (AXI4-Stream in and out with `tkeep`/`tlast`, an AXI4-Lite register block),
/// its clock constraint and a Vivado project script: `board/axi/`. `rtl_files` and
/// `hex_files` are the design folder's (relative to it).
pub(crate) fn render_axi(
    design: &Design,
    header: &str,
    clock_mhz: f64,
    rtl_files: &[String],
    hex_files: &[String],
) -> Result<Vec<OutFile>, CodegenError> {
    let in_w = design.input.width;
    let out_w = design.output.width;
    let idx_w = design.output.idx_width;
    let out_bytes = out_w.div_ceil(8);
    let out_ext = if out_bytes * 8 == out_w {
        "logit".to_string()
    } else {
        format!(
            "{{{{{}{{logit[{}]}}}}, logit}}",
            out_bytes * 8 - out_w,
            out_w - 1
        )
    };
    let class_ext = format!("{{{}'d0, cls}}", 32 - idx_w);
    let top = AxiTopT {
        header,
        in_w,
        in_bytes: in_w.div_ceil(8),
        out_w,
        out_bytes,
        idx_w,
        elements: design.input_elements(),
        classes: design.output.count,
        out_ext,
        class_ext,
    };
    let tcl = VivadoT {
        header,
        rtl_files,
        hex_files,
    };
    let xdc = AxiXdcT {
        header,
        clock_mhz: format!("{clock_mhz}"),
        period_ns: format!("{:.3}", 1000.0 / clock_mhz),
    };
    Ok(vec![
        OutFile {
            rel: format!("{AXI_DIR}/{AXI_MODULE}.v"),
            contents: text(&top, "board_axi.v")?.into_bytes(),
        },
        OutFile {
            rel: format!("{AXI_DIR}/{AXI_MODULE}.xdc"),
            contents: text(&xdc, "board_axi.xdc")?.into_bytes(),
        },
        OutFile {
            rel: format!("{AXI_DIR}/vivado.tcl"),
            contents: text(&tcl, "board_vivado.tcl")?.into_bytes(),
        },
    ])
}
