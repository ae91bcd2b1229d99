//! `inq impl`: a design folder placed and routed on an iCE40 part with the open toolchain
//! (yosys `synth_ice40` → `nextpnr-ice40` → `icepack`, run by `inq_report::nextpnr`), and what
//! the achieved clock means for the design: images/s and latency at the Fmax nextpnr measured.
//!
//! Outputs go to `DIR/impl/ice40-synth/` (the netlist and yosys's log, shared by the parts and
//! reused while the RTL is unchanged) and `DIR/impl/ice40-<part>/` (nextpnr's and icepack's
//! logs, nextpnr's JSON report, `<top>.asc` and the bitstream `<top>.bin`), and become files of
//! the design folder (its marker lists them), so a later `inq gen` over the folder replaces
//! them with the design.
//! Not here: the tools themselves and parsing their reports (`inq_report::nextpnr`).

use std::path::PathBuf;

pub use inq_codegen::board::{Board, BOARDS};
use inq_design::DesignFolder;
use inq_hdl::TimingFamily;
use inq_report::nextpnr::{self, Ice40Part, ImplOptions, ImplReport};
use serde::{Deserialize, Serialize};

use crate::clock::{self, ClockComparison};
use crate::error::{Context, FlowError};

/// What to implement.
#[derive(Debug, Clone)]
pub struct ImplRequest {
    /// The design folder.
    pub dir: PathBuf,
    /// The part.
    pub part: Ice40Part,
    /// The package (default: the part's, `Ice40Part::default_package`).
    pub package: Option<String>,
    /// Target clock in MHz (default: the design's `clock_mhz`).
    pub clock_mhz: Option<f64>,
    /// Placer seed.
    pub seed: u64,
    /// Place the board top of this board (`board/<name>/` of the folder, with its pin file)
    /// instead of the bare core.
    pub board: Option<Board>,
}

/// What `inq impl` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImplSummary {
    /// The design folder.
    pub dir: String,
    /// Where the outputs are.
    pub out_dir: String,
    /// The top module placed (`inq_top`, or a board's top).
    pub top: String,
    /// The board, when a board top was placed.
    pub board: Option<String>,
    /// With a board: images/s its UART can carry (10 bits per byte, one byte per input
    /// element in, one class byte out).
    pub uart_images_per_second: Option<f64>,
    /// nextpnr's figures and the files.
    pub implementation: ImplReport,
    /// Whether the achieved Fmax reaches the target clock.
    pub timing_met: bool,
    /// The plan's interval (cycles per image, steady state; equal to the simulated one).
    pub interval_cycles: u64,
    /// First-image latency in cycles (the simulator, 4 random images, no stalls).
    pub latency_cycles: u64,
    /// Images per second at the achieved Fmax.
    pub images_per_second: f64,
    /// First-image latency in microseconds at the achieved Fmax.
    pub latency_us: f64,
    /// The plan's clock estimate against the synthesized netlist and nextpnr.
    pub clock: ClockComparison,
}

/// Implements the design; `progress` gets one short status line at a time.
pub fn run(req: &ImplRequest, progress: impl FnMut(&str)) -> Result<ImplSummary, FlowError> {
    let folder = DesignFolder::load(&req.dir)?;
    let manifest = &folder.manifest;
    // the bare core, or a board's top around it (its own netlist: the top differs)
    let (tag, top, files, pcf, clock) = match &req.board {
        None => (
            String::new(),
            manifest.top.clone(),
            folder.rtl_file_names(),
            None,
            manifest.clock_mhz,
        ),
        Some(b) => {
            let top_file = folder.dir.join(b.top_file());
            if !top_file.is_file() {
                return Err(FlowError::Input(format!(
                    "{}: no {} top in this design folder ({} missing): a board top needs unsigned inputs of at most 8 bits and at most 128 classes",
                    req.dir.display(),
                    b.title,
                    b.top_file()
                )));
            }
            // file names are relative to rtl/, where the tools run
            let mut files = folder.rtl_file_names();
            files.push(format!("../{}", b.top_file()));
            (
                format!("-{}", b.name),
                b.module.to_string(),
                files,
                Some(folder.dir.join(b.pcf_file())),
                b.clock_mhz,
            )
        }
    };
    let rel = PathBuf::from("impl").join(format!("ice40-{}{tag}", req.part.name()));
    let out_dir = folder.dir.join(&rel);
    // the netlist (part-independent) is shared by the parts
    let synth_rel = PathBuf::from("impl").join(format!("ice40-synth{tag}"));
    let opts = ImplOptions {
        part: req.part,
        package: req.package.clone(),
        clock_mhz: req.clock_mhz.unwrap_or(clock),
        seed: req.seed,
        pcf,
        out_dir: out_dir.clone(),
        synth_dir: folder.dir.join(&synth_rel),
    };
    let r = nextpnr::implement(&folder.rtl_dir(), &files, &top, &opts, progress);
    // the files the tools wrote (by their names, never whatever else is in those folders)
    // become the folder's; best effort: one that cannot be recorded stays a file `inq gen` keeps
    let (synth_names, pnr_names) = nextpnr::output_names(&top);
    let written: Vec<String> = synth_names
        .iter()
        .map(|n| synth_rel.join(n))
        .chain(pnr_names.iter().map(|n| rel.join(n)))
        .filter(|p| folder.dir.join(p).is_file())
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect();
    let _ = inq_design::record_files(&folder.dir, &written);
    let implementation = r.ctx(|| {
        format!(
            "implementing {} on iCE40 {}",
            req.dir.display(),
            req.part.name()
        )
    })?;
    let sim = crate::report::simulated_timing(&folder)?;
    let clock = clock::compare(
        manifest,
        TimingFamily::of_ice40_part(req.part.name()),
        &implementation.netlist,
        &top,
        req.board.map(|_| "u_core."),
        implementation.fmax_mhz,
        implementation.critical_path.as_ref(),
    );
    let interval = manifest.performance.interval_cycles;
    let f = implementation.fmax_mhz * 1e6;
    let uart_images_per_second = req
        .board
        .map(|b| f64::from(b.baud) / (10.0 * manifest.input.elements.max(1) as f64));
    Ok(ImplSummary {
        dir: req.dir.display().to_string(),
        out_dir: out_dir.display().to_string(),
        top: top.clone(),
        board: req.board.map(|b| b.name.to_string()),
        uart_images_per_second,
        timing_met: implementation.fmax_mhz >= opts.clock_mhz,
        interval_cycles: interval,
        latency_cycles: sim.latency_cycles,
        images_per_second: f / interval.max(1) as f64,
        latency_us: sim.latency_cycles as f64 / f * 1e6,
        implementation,
        clock,
    })
}

/// The human summary.
pub fn table(s: &ImplSummary) -> String {
    use std::fmt::Write;
    let r = &s.implementation;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "iCE40 {} ({}): {} placed and routed, bitstream {}",
        r.part.name().to_uppercase(),
        r.package,
        s.top,
        r.bitstream.display()
    );
    for u in r.utilisation.iter().filter(|u| u.used > 0) {
        let _ = writeln!(
            t,
            "  {:<14} {:>6} / {:<6} {:>5.1}%",
            u.resource,
            u.used,
            u.available,
            100.0 * u.used as f64 / u.available.max(1) as f64
        );
    }
    let _ = writeln!(
        t,
        "Fmax {:.2} MHz (target {} MHz: {})",
        r.fmax_mhz,
        r.target_mhz,
        if s.timing_met { "met" } else { "NOT met" }
    );
    let _ = writeln!(
        t,
        "at {:.2} MHz: {:.1} images/s ({} cycles/image), first-image latency {:.1} µs ({} cycles)",
        r.fmax_mhz, s.images_per_second, s.interval_cycles, s.latency_us, s.latency_cycles
    );
    let board = s.board.as_deref().and_then(Board::by_name);
    if let (Some(b), Some(u)) = (board, s.uart_images_per_second) {
        let _ = writeln!(
            t,
            "on the {} at its {} MHz clock: the core computes {:.1} images/s, the UART ({} baud) carries {:.2} images/s",
            b.name,
            b.clock_mhz,
            b.clock_mhz * 1e6 / s.interval_cycles.max(1) as f64,
            b.baud,
            u
        );
    }
    let _ = writeln!(t, "{}", clock::table(&s.clock));
    let _ = write!(
        t,
        "synthesis {}, place and route {:.1} s; logs: {}",
        if r.synth_reused {
            "reused".to_string()
        } else {
            format!("{:.1} s", r.synth_seconds)
        },
        r.pnr_seconds,
        r.logs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use inq_report::nextpnr::Utilisation;

    #[test]
    fn summary_names_fmax_throughput_and_logs() {
        let s = ImplSummary {
            dir: "d".into(),
            out_dir: "d/impl/ice40-up5k".into(),
            top: "inq_top".into(),
            board: None,
            uart_images_per_second: None,
            implementation: ImplReport {
                part: Ice40Part::Up5k,
                package: "sg48".into(),
                target_mhz: 12.0,
                fmax_mhz: 20.5,
                utilisation: vec![
                    Utilisation {
                        resource: "ICESTORM_LC".into(),
                        used: 2640,
                        available: 5280,
                    },
                    Utilisation {
                        resource: "ICESTORM_DSP".into(),
                        used: 0,
                        available: 8,
                    },
                ],
                bitstream: "d/impl/ice40-up5k/inq_top.bin".into(),
                logs: vec!["d/impl/ice40-up5k/nextpnr.log".into()],
                synth_seconds: 1.0,
                synth_reused: false,
                pnr_seconds: 2.0,
                netlist: "d/impl/ice40-synth/inq_top.json".into(),
                critical_path: None,
            },
            clock: ClockComparison {
                family: TimingFamily::Ice40Up,
                parts: vec![crate::clock::PartClock {
                    name: "conv1".into(),
                    instance: "u_e0_conv1".into(),
                    estimate: inq_hdl::LogicPath::new(15, 12),
                    estimate_ns: 56.8,
                    netlist: None,
                    netlist_ns: None,
                }],
                estimate_fmax_mhz: 17.6,
                nextpnr_fmax_mhz: 20.5,
                error_percent: -14.1,
                critical_path: None,
                critical_part: None,
                netlist_error: None,
            },
            timing_met: true,
            interval_cycles: 1000,
            latency_cycles: 2050,
            images_per_second: 20500.0,
            latency_us: 100.0,
        };
        let t = table(&s);
        assert!(t.contains("ICESTORM_LC") && t.contains("50.0%"), "{t}");
        assert!(
            !t.contains("ICESTORM_DSP"),
            "unused resources are not listed: {t}"
        );
        assert!(t.contains("Fmax 20.50 MHz (target 12 MHz: met)"), "{t}");
        assert!(
            t.contains("conv1") && t.contains("15 + 12c") && t.contains("(-14.1%)"),
            "{t}"
        );
        assert!(
            t.contains("20500.0 images/s") && t.contains("nextpnr.log"),
            "{t}"
        );
    }
}
