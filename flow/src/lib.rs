//! # inq-flow — the commands that combine stages
//!
//! Orchestration as a library, so that the `inq` binary only parses arguments and prints:
//!
//! * [`build`]: `inq gen` — plan, size the skip FIFOs by simulation, write the design folder
//!   (and the model a MAC choice needs);
//! * [`float`]: `inq train`, and loading float ONNX models;
//! * [`quantize`]: `inq quantize` (INQ or the uniform baseline) with accuracies and outputs;
//! * [`accuracy`]: accuracy of the integer reference on a dataset, on every core;
//! * [`run`]: `inq sim` and `inq verify` on dataset images, with their summaries;
//! * [`report`]: `inq report` — the analytic estimate beside yosys, per engine;
//! * [`compare`], [`explore`], [`flow`]: the multi-stage commands.
//!
//! No arithmetic or hardware knowledge lives here: every decision is the stage crates'.

pub mod accuracy;
pub mod build;
pub mod clock;
pub mod compare;
pub mod error;
pub mod explore;
pub mod float;
pub mod flow;
pub mod implement;
pub mod progress;
pub mod quantize;
pub mod report;
pub mod run;

pub use error::{Context, FlowError};
