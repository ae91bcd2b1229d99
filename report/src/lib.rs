//! # inq-report — area and throughput of a generated design
//!
//! Runs yosys (generic `synth`, `synth_ice40`, `synth_xilinx` with and without DSPs) on a
//! generated design folder and reads back its cell statistics per engine instance and in
//! total ([`yosys`]), to be set beside the hardware plan's analytic estimate and the
//! simulator's throughput. Places and routes a design on an iCE40 part with nextpnr and packs
//! its bitstream ([`nextpnr`]): utilisation, achieved Fmax. Walks a mapped netlist for the
//! deepest path of every engine in LUT levels and carry steps ([`depth`]).

pub mod depth;
pub mod nextpnr;
pub mod yosys;
