//! Place and route on a Lattice iCE40 with the open toolchain: yosys `synth_ice40 -json`, then
//! `nextpnr-ice40` for a named part at a target clock, then `icepack` (Debian packages `yosys`,
//! `nextpnr-ice40`, `fpga-icestorm`).
//!
//! Owns running the three tools, their logs, and reading back what nextpnr measured: the
//! utilisation by resource, the achieved Fmax of the clock, and the bitstream. A design that
//! does not fit is an error naming each resource that overflows and by how much. What the
//! figures mean for throughput (images/s at the achieved clock) is the flow's business
//! (`inq_flow::implement`), not this module's.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Instant;
use thiserror::Error;

/// Errors of an implementation run.
#[derive(Debug, Error)]
pub enum ImplError {
    /// A tool is not installed.
    #[error("{tool} was not found on PATH: install the Debian package `{package}` (apt-get install {package})")]
    Missing {
        /// The executable.
        tool: String,
        /// The Debian package providing it.
        package: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The message.
        message: String,
    },
    /// The design needs more of some resource than the part has.
    #[error("the design does not fit the iCE40 {part}: {}", overflow_text(.overflow))]
    DoesNotFit {
        /// The part.
        part: String,
        /// Each overflowing resource.
        overflow: Vec<Utilisation>,
    },
    /// A tool failed.
    #[error("{tool} failed (full log: {log}):\n{tail}")]
    Failed {
        /// The tool.
        tool: String,
        /// Its log file.
        log: String,
        /// The last lines of its log.
        tail: String,
    },
    /// The top level has more ports than the package has pins.
    #[error("the top level `{top}` needs {ios} I/O pins, more than the iCE40 {part} in the {package} package offers: place a board top with a few pins instead (`inq impl DIR --board icebreaker`: UART in and out), or a package with more pins")]
    Pins {
        /// The top module.
        top: String,
        /// The part.
        part: String,
        /// The package.
        package: String,
        /// I/O cells the design uses.
        ios: u64,
    },
    /// An unknown part name.
    #[error("unknown iCE40 part `{0}` (known: {1})")]
    UnknownPart(String, String),
}

fn overflow_text(list: &[Utilisation]) -> String {
    list.iter()
        .map(|u| {
            format!(
                "{} {} used of {} ({} too many, {:.1}× the part)",
                u.resource,
                u.used,
                u.available,
                u.used.saturating_sub(u.available),
                u.used as f64 / u.available.max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// An iCE40 part that `nextpnr-ice40` knows, with the package used when none is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ice40Part {
    /// iCE40 UltraPlus UP5K (5 280 logic cells, 30 RAM4K, 4 SPRAM, 8 DSP); package `sg48`.
    Up5k,
    /// iCE40 UltraPlus UP3K; package `sg48`.
    Up3k,
    /// iCE40 HX8K (7 680 logic cells, 32 RAM4K); package `ct256`.
    Hx8k,
    /// iCE40 HX4K; package `tq144`.
    Hx4k,
    /// iCE40 HX1K (1 280 logic cells, 16 RAM4K); package `tq144`.
    Hx1k,
    /// iCE40 LP8K; package `cm81`.
    Lp8k,
    /// iCE40 LP1K; package `tq144`.
    Lp1k,
    /// iCE40 LP384 (384 logic cells, no RAM4K); package `qn32`.
    Lp384,
}

impl Ice40Part {
    /// Every part.
    pub const ALL: [Ice40Part; 8] = [
        Ice40Part::Up5k,
        Ice40Part::Up3k,
        Ice40Part::Hx8k,
        Ice40Part::Hx4k,
        Ice40Part::Hx1k,
        Ice40Part::Lp8k,
        Ice40Part::Lp1k,
        Ice40Part::Lp384,
    ];

    /// The name (`up5k`, ...), also nextpnr's device flag without `--`.
    pub fn name(self) -> &'static str {
        match self {
            Ice40Part::Up5k => "up5k",
            Ice40Part::Up3k => "up3k",
            Ice40Part::Hx8k => "hx8k",
            Ice40Part::Hx4k => "hx4k",
            Ice40Part::Hx1k => "hx1k",
            Ice40Part::Lp8k => "lp8k",
            Ice40Part::Lp1k => "lp1k",
            Ice40Part::Lp384 => "lp384",
        }
    }

    /// Block RAMs (`SB_RAM40_4K`) of the part, where the datasheet and nextpnr agree (the HX4K
    /// is an HX8K die that nextpnr does not restrict: not checked).
    pub fn ram4k(self) -> Option<u64> {
        match self {
            Ice40Part::Up5k => Some(30),
            Ice40Part::Up3k => Some(20),
            Ice40Part::Hx8k | Ice40Part::Lp8k => Some(32),
            Ice40Part::Hx1k | Ice40Part::Lp1k => Some(16),
            Ice40Part::Lp384 => Some(0),
            Ice40Part::Hx4k => None,
        }
    }

    /// The package used when none is given.
    pub fn default_package(self) -> &'static str {
        match self {
            Ice40Part::Up5k | Ice40Part::Up3k => "sg48",
            Ice40Part::Hx8k => "ct256",
            Ice40Part::Hx4k | Ice40Part::Hx1k | Ice40Part::Lp1k => "tq144",
            Ice40Part::Lp8k => "cm81",
            Ice40Part::Lp384 => "qn32",
        }
    }
}

impl FromStr for Ice40Part {
    type Err = ImplError;
    fn from_str(s: &str) -> Result<Self, ImplError> {
        let l = s.trim().to_ascii_lowercase();
        let l = l.strip_prefix("ice40").unwrap_or(&l);
        Ice40Part::ALL
            .into_iter()
            .find(|p| p.name() == l)
            .ok_or_else(|| {
                ImplError::UnknownPart(s.to_string(), Ice40Part::ALL.map(|p| p.name()).join(", "))
            })
    }
}

impl std::fmt::Display for Ice40Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Options of a run.
#[derive(Debug, Clone)]
pub struct ImplOptions {
    /// The part.
    pub part: Ice40Part,
    /// The package (default [`Ice40Part::default_package`]).
    pub package: Option<String>,
    /// The clock nextpnr's timing-driven placement aims at, in MHz.
    pub clock_mhz: f64,
    /// Placer seed.
    pub seed: u64,
    /// A pin constraint file (`--pcf`), for a board top; none places the pins freely.
    pub pcf: Option<PathBuf>,
    /// Where the place-and-route logs, report and bitstream go (created; files of the same
    /// names are overwritten).
    pub out_dir: PathBuf,
    /// Where the synthesized netlist and its log go. The netlist does not depend on the part,
    /// so a folder shared by several parts synthesizes once: a netlist is reused when its key
    /// (`synth.key`: SHA-256 of the script and every RTL file) matches.
    pub synth_dir: PathBuf,
}

/// One resource's use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utilisation {
    /// nextpnr's name (`ICESTORM_LC`, `ICESTORM_RAM`, `ICESTORM_DSP`, `SB_IO`, ...).
    pub resource: String,
    /// Used.
    pub used: u64,
    /// On the part.
    pub available: u64,
}

/// What an implementation run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImplReport {
    /// The part.
    pub part: Ice40Part,
    /// The package.
    pub package: String,
    /// The target clock in MHz.
    pub target_mhz: f64,
    /// The achieved Fmax of the design's clock after routing, from nextpnr's timing analysis.
    pub fmax_mhz: f64,
    /// Utilisation of every resource nextpnr reports (unused ones included).
    pub utilisation: Vec<Utilisation>,
    /// The bitstream (`icepack` output).
    pub bitstream: PathBuf,
    /// The logs of the three tools.
    pub logs: Vec<PathBuf>,
    /// Wall-clock seconds of synthesis (0 when the netlist was reused).
    pub synth_seconds: f64,
    /// True when the synthesized netlist of an earlier run was reused.
    pub synth_reused: bool,
    /// Seconds of place and route and packing.
    pub pnr_seconds: f64,
    /// The synthesized netlist (yosys JSON, flattened), for a netlist walk
    /// ([`crate::depth`]).
    #[serde(default)]
    pub netlist: PathBuf,
    /// nextpnr's critical path of the design's clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_path: Option<CriticalPath>,
}

/// nextpnr's critical register-to-register path of the clock, in the terms of the plan's
/// clock estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriticalPath {
    /// The cell the path starts at (a register or block RAM).
    pub from: String,
    /// The cell whose input ends the path.
    pub to: String,
    /// Its delay in nanoseconds (clock to output, logic, routing, setup).
    pub ns: f64,
    /// Of which routing.
    pub routing_ns: f64,
    /// LUT levels on it (logic steps ending at a LUT output).
    pub levels: u32,
    /// Carry steps on it (logic steps ending at a carry output).
    pub carry: u32,
}

impl ImplReport {
    /// The use of one resource (`ICESTORM_LC`, ...).
    pub fn used(&self, resource: &str) -> Option<&Utilisation> {
        self.utilisation.iter().find(|u| u.resource == resource)
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ImplError + '_ {
    move |e| ImplError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The files [`implement`] writes: (in `synth_dir`, in `out_dir`).
pub fn output_names(top: &str) -> (Vec<String>, Vec<String>) {
    (
        vec![
            "synth.ys".into(),
            "yosys.log".into(),
            format!("{top}.json"),
            "synth.key".into(),
        ],
        vec![
            "nextpnr.log".into(),
            "nextpnr-report.json".into(),
            format!("{top}.asc"),
            format!("{top}.bin"),
            "icepack.log".into(),
        ],
    )
}

/// The count of `cell` in the last `stat` of a yosys log (0 when the design has none).
pub fn synth_cell_count(log: &str, cell: &str) -> Option<u64> {
    let start = log.rfind("Number of cells:")?;
    let mut n = 0;
    for line in log[start..].lines().skip(1) {
        let t = line.trim();
        if t.is_empty() {
            break;
        }
        let mut it = t.split_whitespace();
        if it.next() == Some(cell) {
            n = it.next()?.parse().ok()?;
        }
    }
    Some(n)
}

/// Runs `tool args` in `cwd`, streaming its output into `log`; each output line goes to
/// `progress`. Returns the log's text.
fn run_tool(
    tool: &str,
    package: &str,
    args: &[String],
    cwd: &Path,
    log: &Path,
    progress: &mut impl FnMut(&str),
) -> Result<String, ImplError> {
    let mut child = Command::new(tool)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| ImplError::Missing {
            tool: tool.into(),
            package: package.into(),
        })?;
    let err_thread = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
            s
        })
    });
    let mut text = String::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            progress(&line);
            text.push_str(&line);
            text.push('\n');
        }
    }
    if let Some(t) = err_thread {
        text.push_str(&t.join().unwrap_or_default());
    }
    let status = child.wait().map_err(io_err(log))?;
    std::fs::write(log, &text).map_err(io_err(log))?;
    if !status.success() {
        return Err(ImplError::Failed {
            tool: tool.into(),
            log: log.display().to_string(),
            tail: tail(&text, 12),
        });
    }
    Ok(text)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The key of a synthesis: SHA-256 over the script and the name and contents of every RTL file
/// (and of every `.hex` memory image in the folder, which `$readmemh` reads).
fn synth_key(script: &str, rtl_dir: &Path, files: &[String]) -> Result<String, ImplError> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(script.as_bytes());
    let mut names: Vec<String> = files.to_vec();
    if let Ok(entries) = std::fs::read_dir(rtl_dir) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".hex") && !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names.sort();
    for n in &names {
        let p = rtl_dir.join(n);
        let bytes = std::fs::read(&p).map_err(io_err(&p))?;
        h.update((n.len() as u64).to_le_bytes());
        h.update(n.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Parses nextpnr's `Device utilisation` block (`Info:  ICESTORM_LC:  4850/ 5280  91%`).
pub fn parse_utilisation(log: &str) -> Vec<Utilisation> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in log.lines() {
        let l = line.trim_start_matches("Info:").trim();
        if l.starts_with("Device utilisation") {
            inside = true;
            out.clear();
            continue;
        }
        if !inside {
            continue;
        }
        let parsed = (|| {
            let (name, rest) = l.split_once(':')?;
            let (used, rest) = rest.split_once('/')?;
            let avail = rest.split_whitespace().next()?;
            Some(Utilisation {
                resource: name.trim().to_string(),
                used: used.trim().parse().ok()?,
                available: avail.parse().ok()?,
            })
        })();
        match parsed {
            Some(u) => out.push(u),
            None if out.is_empty() => {}
            None => inside = false,
        }
    }
    out
}

/// What nextpnr's `--report` JSON says.
#[derive(Debug, Clone, PartialEq)]
pub struct NextpnrReport {
    /// The achieved Fmax of the (single) clock.
    pub fmax_mhz: f64,
    /// Utilisation by resource.
    pub utilisation: Vec<Utilisation>,
    /// The clock's critical path, when the report has one.
    pub critical_path: Option<CriticalPath>,
}

/// Reads nextpnr's `--report` JSON: the achieved Fmax of the (single) clock, the utilisation
/// and the critical path.
pub fn parse_report(json: &str) -> Option<NextpnrReport> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let fmax = v
        .get("fmax")?
        .as_object()?
        .values()
        .filter_map(|c| c.get("achieved")?.as_f64())
        .fold(f64::INFINITY, f64::min);
    let util = v
        .get("utilization")?
        .as_object()?
        .iter()
        .filter_map(|(k, u)| {
            Some(Utilisation {
                resource: k.clone(),
                used: u.get("used")?.as_u64()?,
                available: u.get("available")?.as_u64()?,
            })
        })
        .collect();
    fmax.is_finite().then(|| NextpnrReport {
        fmax_mhz: fmax,
        utilisation: util,
        critical_path: critical_path(&v),
    })
}

/// The critical path of the clock (from a posedge to a posedge) in nextpnr's report.
fn critical_path(v: &serde_json::Value) -> Option<CriticalPath> {
    let path = v.get("critical_paths")?.as_array()?.iter().find(|p| {
        let edge = |k: &str| {
            p.get(k)
                .and_then(|e| e.as_str())
                .is_some_and(|e| e.starts_with("posedge"))
        };
        edge("from") && edge("to")
    })?;
    let steps = path.get("path")?.as_array()?;
    let cell = |s: &serde_json::Value, end: &str| -> Option<String> {
        Some(s.get(end)?.get("cell")?.as_str()?.to_string())
    };
    let mut cp = CriticalPath {
        from: cell(steps.first()?, "to")?,
        to: cell(steps.last()?, "to")?,
        ns: 0.0,
        routing_ns: 0.0,
        levels: 0,
        carry: 0,
    };
    for s in steps {
        let delay = s.get("delay").and_then(|d| d.as_f64()).unwrap_or(0.0);
        cp.ns += delay;
        let port = s
            .get("to")
            .and_then(|t| t.get("port"))
            .and_then(|p| p.as_str());
        match (s.get("type").and_then(|t| t.as_str()), port) {
            (Some("routing"), _) => cp.routing_ns += delay,
            (Some("logic"), Some("COUT")) => cp.carry += 1,
            (Some("logic"), _) => cp.levels += 1,
            _ => {}
        }
    }
    Some(cp)
}

/// Synthesizes the design in `rtl_dir` (`files`, top `top`) for iCE40, places and routes it
/// for the part at the clock, and packs the bitstream: `synth.ys`, `yosys.log`, `<top>.json`
/// and `synth.key` in `opts.synth_dir` (reused when the key matches), `nextpnr.log`,
/// `nextpnr-report.json`, `<top>.asc`, `<top>.bin` and `icepack.log` in `opts.out_dir`.
/// `progress` gets short status lines.
pub fn implement(
    rtl_dir: &Path,
    files: &[String],
    top: &str,
    opts: &ImplOptions,
    mut progress: impl FnMut(&str),
) -> Result<ImplReport, ImplError> {
    let out = &opts.out_dir;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let out_abs = out.canonicalize().map_err(io_err(out))?;
    let sd = &opts.synth_dir;
    std::fs::create_dir_all(sd).map_err(io_err(sd))?;
    let synth_abs = sd.canonicalize().map_err(io_err(sd))?;
    let package = opts
        .package
        .clone()
        .unwrap_or_else(|| opts.part.default_package().to_string());
    let t0 = Instant::now();
    // synthesis: plain read_verilog of every file (the RTL elaborates standalone)
    let netlist = synth_abs.join(format!("{top}.json"));
    let mut script: String = files
        .iter()
        .map(|f| format!("read_verilog {}\n", f.replace([' ', ';'], "_")))
        .collect();
    script.push_str(&format!(
        "synth_ice40 -top {top} -json {}\n",
        netlist.display()
    ));
    let ys = synth_abs.join("synth.ys");
    let ylog = synth_abs.join("yosys.log");
    let key_path = synth_abs.join("synth.key");
    let key = synth_key(&script, rtl_dir, files)?;
    let synth_reused =
        netlist.is_file() && std::fs::read_to_string(&key_path).is_ok_and(|k| k.trim() == key);
    if !synth_reused {
        // a stale key must not survive a failed run
        let _ = std::fs::remove_file(&key_path);
        std::fs::write(&ys, &script).map_err(io_err(&ys))?;
        progress("yosys synth_ice40");
        run_tool(
            "yosys",
            "yosys",
            &["-s".into(), ys.display().to_string()],
            rtl_dir,
            &ylog,
            &mut |line: &str| {
                if let Some(pass) = crate::yosys::progress_pass(line) {
                    progress(&format!("yosys: {pass}"));
                }
            },
        )?;
        std::fs::write(&key_path, &key).map_err(io_err(&key_path))?;
    }
    // block RAMs are checked before place and route: nextpnr fails an assertion, with no
    // utilisation, on a design with block RAM for a part without any
    let rams = std::fs::read_to_string(&ylog)
        .ok()
        .and_then(|log| synth_cell_count(&log, "SB_RAM40_4K"));
    if let (Some(used), Some(available)) = (rams, opts.part.ram4k()) {
        if used > available {
            return Err(ImplError::DoesNotFit {
                part: opts.part.name().into(),
                overflow: vec![Utilisation {
                    resource: "ICESTORM_RAM".into(),
                    used,
                    available,
                }],
            });
        }
    }
    let synth_seconds = if synth_reused {
        0.0
    } else {
        t0.elapsed().as_secs_f64()
    };
    // place and route
    let t1 = Instant::now();
    let asc = out_abs.join(format!("{top}.asc"));
    let report = out_abs.join("nextpnr-report.json");
    let nlog = out_abs.join("nextpnr.log");
    let mut args: Vec<String> = vec![
        format!("--{}", opts.part.name()),
        "--package".into(),
        package.clone(),
        "--json".into(),
        netlist.display().to_string(),
        "--asc".into(),
        asc.display().to_string(),
        "--freq".into(),
        format!("{}", opts.clock_mhz),
        "--seed".into(),
        opts.seed.to_string(),
        "--report".into(),
        report.display().to_string(),
        // report the achieved clock even when it misses the target
        "--timing-allow-fail".into(),
    ];
    if let Some(pcf) = &opts.pcf {
        let abs = pcf.canonicalize().map_err(io_err(pcf))?;
        args.push("--pcf".into());
        args.push(abs.display().to_string());
    }
    progress("nextpnr-ice40: placing");
    let pnr = run_tool(
        "nextpnr-ice40",
        "nextpnr-ice40",
        &args,
        &out_abs,
        &nlog,
        &mut |line: &str| {
            if line.starts_with("Info: Routing") || line.starts_with("Info: Placed") {
                progress(&format!(
                    "nextpnr-ice40: {}",
                    line.trim_start_matches("Info: ")
                ));
            }
        },
    );
    let text = match pnr {
        Ok(t) => t,
        Err(e) => {
            let log = std::fs::read_to_string(&nlog).unwrap_or_default();
            let overflow: Vec<Utilisation> = parse_utilisation(&log)
                .into_iter()
                .filter(|u| u.used > u.available)
                .collect();
            if !overflow.is_empty() {
                return Err(ImplError::DoesNotFit {
                    part: opts.part.name().into(),
                    overflow,
                });
            }
            // the die has the I/O cells, the package not the pins
            if log.contains("Unable to find a placement location for cell")
                && log.contains("$sb_io'")
            {
                let ios = parse_utilisation(&log)
                    .iter()
                    .find(|u| u.resource == "SB_IO")
                    .map_or(0, |u| u.used);
                return Err(ImplError::Pins {
                    top: top.into(),
                    part: opts.part.name().into(),
                    package,
                    ios,
                });
            }
            return Err(e);
        }
    };
    let json = std::fs::read_to_string(&report).map_err(io_err(&report))?;
    let NextpnrReport {
        fmax_mhz,
        mut utilisation,
        critical_path,
    } = parse_report(&json).ok_or_else(|| ImplError::Io {
        path: report.display().to_string(),
        message: "no achieved Fmax or utilisation in nextpnr's report".into(),
    })?;
    if utilisation.is_empty() {
        utilisation = parse_utilisation(&text);
    }
    utilisation.sort_by(|a, b| a.resource.cmp(&b.resource));
    // bitstream
    progress("icepack");
    let bin = out_abs.join(format!("{top}.bin"));
    let plog = out_abs.join("icepack.log");
    run_tool(
        "icepack",
        "fpga-icestorm",
        &[asc.display().to_string(), bin.display().to_string()],
        &out_abs,
        &plog,
        &mut |_| {},
    )?;
    Ok(ImplReport {
        part: opts.part,
        package,
        target_mhz: opts.clock_mhz,
        fmax_mhz,
        utilisation,
        bitstream: bin,
        logs: vec![ylog, nlog, plog],
        synth_seconds,
        synth_reused,
        pnr_seconds: t1.elapsed().as_secs_f64(),
        netlist: netlist.clone(),
        critical_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_counts_from_the_last_stat() {
        let log = "Number of cells: 9\n  SB_RAM40_4K 3\n\n=== top ===\n   Number of cells:   12\n     SB_LUT4    10\n     SB_RAM40_4K     2\n\nEnd";
        assert_eq!(synth_cell_count(log, "SB_RAM40_4K"), Some(2));
        assert_eq!(synth_cell_count(log, "SB_LUT4"), Some(10));
        assert_eq!(synth_cell_count(log, "SB_DFF"), Some(0));
        assert_eq!(synth_cell_count("nothing", "SB_LUT4"), None);
    }

    #[test]
    fn parts_parse_by_name() {
        assert_eq!("up5k".parse::<Ice40Part>().unwrap(), Ice40Part::Up5k);
        assert_eq!("iCE40HX8K".parse::<Ice40Part>().unwrap(), Ice40Part::Hx8k);
        let e = "xc7a35t".parse::<Ice40Part>().unwrap_err().to_string();
        assert!(e.contains("xc7a35t") && e.contains("up5k"), "{e}");
    }

    #[test]
    fn utilisation_block_and_overflow_message() {
        let log = "Info: Device utilisation:\nInfo: \t         ICESTORM_LC: 39012/ 5280   738%\n\
                   Info: \t        ICESTORM_RAM:     6/   30    20%\nInfo: \t               SB_IO:    39/   96    40%\n\
                   \nInfo: Placed 0 cells\n";
        let u = parse_utilisation(log);
        assert_eq!(u.len(), 3);
        assert_eq!(
            u[0],
            Utilisation {
                resource: "ICESTORM_LC".into(),
                used: 39012,
                available: 5280
            }
        );
        let e = ImplError::DoesNotFit {
            part: "up5k".into(),
            overflow: vec![u[0].clone()],
        }
        .to_string();
        assert!(
            e.contains("ICESTORM_LC 39012 used of 5280 (33732 too many, 7.4× the part)"),
            "{e}"
        );
    }

    #[test]
    fn report_json_gives_fmax_and_utilisation() {
        let j = r#"{"fmax": {"clk$glb": {"achieved": 16.68, "constraint": 100}},
                    "utilization": {"ICESTORM_LC": {"available": 5280, "used": 4850}}}"#;
        let r = parse_report(j).unwrap();
        assert!((r.fmax_mhz - 16.68).abs() < 1e-9);
        assert_eq!(r.utilisation[0].used, 4850);
        assert_eq!(r.critical_path, None);
        assert!(parse_report("{}").is_none());
        let cp = parse_report(
            r#"{"fmax": {"clk": {"achieved": 20.0}}, "utilization": {},
              "critical_paths": [
              {"from": "<async>", "to": "posedge clk", "path": []},
              {"from": "posedge clk", "to": "posedge clk", "path": [
                {"type": "clk-to-q", "delay": 1.4, "from": {"cell": "a", "port": "CLK"}, "to": {"cell": "a", "port": "O"}},
                {"type": "routing", "delay": 1.8, "from": {"cell": "a", "port": "O"}, "to": {"cell": "b", "port": "I1"}},
                {"type": "logic", "delay": 0.7, "from": {"cell": "b", "port": "I1"}, "to": {"cell": "b", "port": "COUT"}},
                {"type": "routing", "delay": 0.0, "from": {"cell": "b", "port": "COUT"}, "to": {"cell": "c", "port": "CIN"}},
                {"type": "logic", "delay": 0.9, "from": {"cell": "c", "port": "CIN"}, "to": {"cell": "c", "port": "O"}},
                {"type": "setup", "delay": 0.5, "from": {"cell": "d", "port": "I0"}, "to": {"cell": "d", "port": "I0"}}
              ]}]}"#,
        )
        .and_then(|r| r.critical_path)
        .unwrap();
        assert_eq!((cp.from.as_str(), cp.to.as_str()), ("a", "d"));
        assert_eq!((cp.levels, cp.carry), (1, 1));
        assert!((cp.ns - 5.3).abs() < 1e-9 && (cp.routing_ns - 1.8).abs() < 1e-9);
        assert!(critical_path(&serde_json::json!({})).is_none());
    }
}
