//! # inq-report — area and throughput of a generated design
//!
//! Runs yosys (generic `synth`, `synth_ice40`, `synth_xilinx` with and without DSPs) on a
//! generated design folder and reads back its cell statistics per engine instance and in
//! total ([`yosys`]), to be set beside the hardware plan's analytic estimate and the
//! simulator's throughput.

pub mod yosys;
