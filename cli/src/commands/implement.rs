//! `inq impl`: place and route a design folder on an iCE40 part (yosys, nextpnr-ice40,
//! icepack), with utilisation, the achieved Fmax and images/s at that clock.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `inq impl`.
#[derive(Args, Debug, Clone)]
pub struct ImplArgs {
    /// A folder written by `inq gen`.
    pub dir: PathBuf,
    /// The iCE40 part: up5k, up3k, hx8k, hx4k, hx1k, lp8k, lp1k, lp384.
    #[arg(long, default_value = "up5k")]
    pub part: String,
    /// The package (default: sg48 for UltraPlus parts, ct256 for hx8k, tq144 for hx4k/hx1k/lp1k,
    /// cm81 for lp8k, qn32 for lp384).
    #[arg(long)]
    pub package: Option<String>,
    /// Target clock in MHz for timing-driven placement (default: the design's --clock-mhz).
    #[arg(long)]
    pub clock_mhz: Option<f64>,
    /// Placer seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inq impl`.
pub fn run(a: &ImplArgs) -> anyhow::Result<()> {
    let part: inq_report::nextpnr::Ice40Part = a.part.parse()?;
    if let Some(f) = a.clock_mhz {
        anyhow::ensure!(
            f.is_finite() && f > 0.0,
            "--clock-mhz must be a positive number of MHz, not {f}"
        );
    }
    let req = inq_flow::implement::ImplRequest {
        dir: a.dir.clone(),
        part,
        package: a.package.clone(),
        clock_mhz: a.clock_mhz,
        seed: a.seed,
    };
    // one spinner line with the current tool and step; the logs go to files in the folder
    let pb = inq_flow::progress::spinner("iCE40 implementation", a.json);
    let r = inq_flow::implement::run(&req, |line| pb.set_message(line.to_string()));
    pb.finish_and_clear();
    let r = r?;
    crate::output::emit(a.json, &r, || inq_flow::implement::table(&r))
}
