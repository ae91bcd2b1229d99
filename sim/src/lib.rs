//! # inq-sim — cycle-accurate simulation of a `Design`
//!
//! Simulates the generated micro-architecture cycle by cycle from the `inq_hdl::Design`
//! (never from Verilog text): every engine's state machine, line buffer, ROM read, lane,
//! accumulator, FIFO and ready/valid handshake, bit-exact and cycle-exact with the RTL.
