//! `inq compare`: two designs side by side (e.g. shift-add vs the int8 multiplier baseline):
//! throughput, synthesized area with and without DSPs, LUTs per lane, integer accuracy.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `inq compare`.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// First design: a folder written by `inq gen`, or the saved output of `inq report --json`
    /// (a `.json` file; its synthesis results are reused).
    pub a: PathBuf,
    /// Second design, like the first.
    pub b: PathBuf,
    /// Synthesis flows for designs given as folders.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [super::FlowArg::Xilinx, super::FlowArg::XilinxNodsp])]
    pub flows: Vec<super::FlowArg>,
    #[command(flatten)]
    pub images: super::ImageArgs,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inq compare`.
pub fn run(a: &CompareArgs) -> anyhow::Result<()> {
    let test = a.images.dataset()?;
    let c = inq_flow::compare::build(&a.a, &a.b, &super::flows(&a.flows), &test, a.json)?;
    crate::output::emit(a.json, &c, || inq_flow::compare::table(&c))
}
