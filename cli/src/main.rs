//! # inq — the command-line tool
//!
//! One binary for the whole flow: `train` a float CNN, `quantize` it with INQ, `eval` its
//! accuracy, `gen`erate Verilog, `sim`ulate the design cycle by cycle, `verify` the RTL under
//! Verilator, `report` area and throughput, `compare` two designs, `explore` the design space,
//! and `flow` for all of it in one command. This crate parses arguments and prints; the work
//! is `inq-flow`'s. Every subcommand prints a human summary, or with `--json` one JSON object
//! on stdout.

mod commands;
mod output;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Turn a trained CNN into multiplier-free hardware (INQ: weights ±2^e or 0).
#[derive(Parser, Debug)]
#[command(name = "inq", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a built-in float CNN (LeNet or ResNet-8) and export it as ONNX.
    Train(commands::train::TrainArgs),
    /// Quantize a float ONNX model with INQ into the quantized-model format.
    Quantize(Box<commands::quantize::QuantizeArgs>),
    /// Accuracy of a quantized model (integer reference) or a float ONNX model.
    Eval(commands::eval::EvalArgs),
    /// Generate Verilog for a quantized model.
    Gen(commands::gen::GenArgs),
    /// Cycle-accurate simulation of a generated design.
    Sim(commands::sim::SimArgs),
    /// Prove a generated design equal to the integer reference under Verilator.
    Verify(commands::verify::VerifyArgs),
    /// Area (analytic and yosys) and throughput of a generated design.
    Report(commands::report::ReportArgs),
    /// Place and route on an iCE40 part (yosys, nextpnr-ice40, icepack): utilisation, achieved
    /// Fmax, images/s at that clock, and the bitstream.
    Impl(commands::implement::ImplArgs),
    /// Design-space exploration: sweep lanes (and weight bits), tables and a Pareto plot.
    Explore(Box<commands::explore::ExploreArgs>),
    /// Two designs side by side (e.g. shift-add vs the int8 multiplier baseline): throughput,
    /// synthesized area with and without DSPs, LUTs per lane, integer accuracy.
    Compare(commands::compare::CompareArgs),
    /// The whole flow: quantize, eval, gen, sim, verify, report.
    Flow(Box<commands::flow::FlowArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ctrl-C: let an output swap finish, remove inq's temporaries, exit 130
    // (`inq_model::interrupt`). Without the handler the default (killed at once) still leaves
    // the old or the new output, only perhaps a temporary beside it.
    let _ = ctrlc::set_handler(|| inq_model::interrupt::exit_interrupted(130));
    let result = match cli.command {
        Command::Train(a) => commands::train::run(&a),
        Command::Quantize(a) => commands::quantize::run(&a),
        Command::Eval(a) => commands::eval::run(&a),
        Command::Gen(a) => commands::gen::run(&a),
        Command::Sim(a) => commands::sim::run(&a),
        Command::Verify(a) => commands::verify::run(&a),
        Command::Report(a) => commands::report::run(&a),
        Command::Impl(a) => commands::implement::run(&a),
        Command::Explore(a) => commands::explore::run(&a),
        Command::Compare(a) => commands::compare::run(&a),
        Command::Flow(a) => commands::flow::run(&a),
    };
    // an interrupt arrived: its handler ends the process once the temporaries are gone
    inq_model::interrupt::wait_for_interrupt_handler();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
