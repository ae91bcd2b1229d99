//! `inq report`: resources two ways (the plan's analytic estimate and yosys synthesis of the
//! generated RTL), per engine and in total, and throughput at the design's clock.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `inq report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// A folder written by `inq gen`.
    pub dir: PathBuf,
    /// Synthesis flows to run (generic maps large ROMs to logic and is slow on big designs).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [super::FlowArg::Xilinx, super::FlowArg::Ice40])]
    pub flows: Vec<super::FlowArg>,
    /// Synthesize only these engines (engine names such as `conv1`, instance names or engine
    /// indices, comma separated); the others are black-boxed.
    #[arg(long, value_delimiter = ',')]
    pub engines: Option<Vec<String>>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inq report`.
pub fn run(a: &ReportArgs) -> anyhow::Result<()> {
    // one spinner line with the current yosys pass; the logs go to files in the folder
    let pb = inq_flow::progress::spinner("yosys", a.json);
    let r = inq_flow::report::build(
        &a.dir,
        &super::flows(&a.flows),
        a.engines.as_deref(),
        |line| pb.set_message(line.to_string()),
    );
    pb.finish_and_clear();
    let r = r?;
    crate::output::emit(a.json, &r, || inq_flow::report::table(&r))
}
