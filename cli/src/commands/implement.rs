//! `inq impl`: place and route a design folder on an iCE40 part (yosys, nextpnr-ice40,
//! icepack), with utilisation, the achieved Fmax and images/s at that clock.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `inq impl`.
#[derive(Args, Debug, Clone)]
pub struct ImplArgs {
    /// A folder written by `inq gen`.
    pub dir: PathBuf,
    /// The iCE40 part: up5k, up3k, hx8k, hx4k, hx1k, lp8k, lp1k, lp384 (default: the
    /// board's part with --board, else up5k).
    #[arg(long)]
    pub part: Option<String>,
    /// Place the folder's board top instead of the bare core: icebreaker (iCE40 UP5K-SG48,
    /// 12 MHz, UART image loader; its pin file fixes the pins). The clock target defaults to
    /// the board's oscillator.
    #[arg(long)]
    pub board: Option<String>,
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
    let board = match &a.board {
        None => None,
        Some(name) => Some(inq_flow::implement::Board::by_name(name).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown board `{name}` (known: {})",
                inq_flow::implement::BOARDS.map(|b| b.name).join(", ")
            )
        })?),
    };
    let part_name = a
        .part
        .clone()
        .unwrap_or_else(|| board.map_or("up5k", |b| b.part).to_string());
    let part: inq_report::nextpnr::Ice40Part = part_name.parse()?;
    let package = a
        .package
        .clone()
        .or_else(|| board.map(|b| b.package.to_string()));
    if let Some(f) = a.clock_mhz {
        anyhow::ensure!(
            f.is_finite() && f > 0.0,
            "--clock-mhz must be a positive number of MHz, not {f}"
        );
    }
    let req = inq_flow::implement::ImplRequest {
        dir: a.dir.clone(),
        part,
        package,
        clock_mhz: a.clock_mhz,
        seed: a.seed,
        board,
    };
    // one spinner line with the current tool and step; the logs go to files in the folder
    let pb = inq_flow::progress::spinner("iCE40 implementation", a.json);
    let r = inq_flow::implement::run(&req, |line| pb.set_message(line.to_string()));
    pb.finish_and_clear();
    let r = r?;
    crate::output::emit(a.json, &r, || inq_flow::implement::table(&r))
}
