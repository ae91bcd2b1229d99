//! # inq-testbenches — Verilator harnesses and co-simulation
//!
//! Builds a Verilator model of a generated design, streams images through its AXI4-Stream
//! ports under seeded back-pressure, and compares every output word (and the cycle it appears
//! in) against the integer reference and the cycle-accurate simulator.
