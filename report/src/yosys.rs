//! Runs yosys on a generated design and reads back its cell statistics, per instance of the
//! top module (one instance per engine) and in total.
//!
//! Three flows are supported: generic `synth` (technology-independent gates), `synth_ice40`
//! and `synth_xilinx` (with or without DSP inference). The script elaborates the top,
//! optionally black-boxes every top-level instance not asked for (so a long synthesis can be
//! limited to chosen engines), sets the `ram_style` the caller chose on named memories of
//! named instances ([`RamStyle`]: the plan's per-family memory decisions), synthesizes, and
//! writes `stat -json`; a `dump` of the top's cells maps instance names to (parameterized)
//! module names. Mapped flows (iCE40, Xilinx) also write the flattened netlist, whose deepest
//! path per instance [`crate::depth`] finds.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::depth::NetlistDepth;
use thiserror::Error;

/// Errors running yosys.
#[derive(Debug, Error)]
pub enum YosysError {
    /// yosys is not installed.
    #[error(
        "yosys was not found on PATH: install the Debian package `yosys` (apt-get install yosys)"
    )]
    Missing,
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The message.
        message: String,
    },
    /// yosys failed.
    #[error("yosys {flow} failed on {dir}: {message}")]
    Failed {
        /// The flow.
        flow: String,
        /// The run folder.
        dir: String,
        /// The last lines of its log.
        message: String,
    },
    /// An instance named in `only` does not exist in the top.
    #[error("no engine instance `{0}` in the top module (known: {1})")]
    UnknownInstance(String, String),
}

/// Which synthesis flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Technology-independent `synth`.
    Generic,
    /// Lattice iCE40 (`synth_ice40`).
    Ice40,
    /// Xilinx 7-series (`synth_xilinx`), DSP48 inference on.
    Xilinx,
    /// Xilinx 7-series with `-nodsp`: multipliers built from LUTs.
    XilinxNoDsp,
}

impl Flow {
    /// The yosys command.
    pub fn command(self, top: &str) -> String {
        match self {
            Flow::Generic => format!("synth -top {top}"),
            Flow::Ice40 => format!("synth_ice40 -top {top}"),
            Flow::Xilinx => format!("synth_xilinx -top {top}"),
            Flow::XilinxNoDsp => format!("synth_xilinx -nodsp -top {top}"),
        }
    }
    /// What a carry step (one bit) weighs against a LUT level when choosing a mapped
    /// netlist's deepest path; `None` for the generic flow (not mapped to LUTs).
    pub fn carry_weight(self) -> Option<f64> {
        match self {
            Flow::Generic => None,
            // SB_CARRY 0.3 ns per bit against ≈ 3.45 ns per LUT level (UP5K, nextpnr)
            Flow::Ice40 => Some(0.087),
            // CARRY4 ≈ 0.1–0.3 ns per 4 bits against ≈ 0.5–0.6 ns per LUT6 level and its net
            Flow::Xilinx | Flow::XilinxNoDsp => Some(0.05),
        }
    }
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Flow::Generic => "generic",
            Flow::Ice40 => "ice40",
            Flow::Xilinx => "xilinx",
            Flow::XilinxNoDsp => "xilinx_nodsp",
        }
    }
}

/// Resource counts in one flow's vocabulary (unused categories stay 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Look-up tables (any size for Xilinx, LUT4 for iCE40; 0 for generic).
    pub luts: u64,
    /// Flip-flops.
    pub ffs: u64,
    /// Carry cells (CARRY4/CARRY8, SB_CARRY).
    pub carry: u64,
    /// Block RAM in 18 Kib units (Xilinx) or 4 Kib blocks (iCE40).
    pub bram: u64,
    /// DSP blocks.
    pub dsp: u64,
    /// LUT-based RAM / shift registers.
    pub lutram: u64,
    /// Generic gates (generic flow only).
    pub gates: u64,
    /// Multiplier, divider or modulo cells left in the netlist (must be 0 for shift-add
    /// designs in the generic flow).
    pub arith_cells: u64,
    /// Latches.
    pub latches: u64,
    /// Every cell.
    pub cells: u64,
}

impl Resources {
    fn add_cell(&mut self, ty: &str, n: u64, flow: Flow) {
        let t = ty.trim_start_matches('\\');
        self.cells += n;
        if t.contains("_DLATCH")
            || t.starts_with("$dlatch")
            || t.starts_with("LD") && flow != Flow::Generic
        {
            self.latches += n;
        }
        if matches!(
            t,
            "$mul" | "$div" | "$mod" | "$divfloor" | "$modfloor" | "$pow" | "$__mul" | "$macc"
        ) {
            self.arith_cells += n;
        }
        match flow {
            Flow::Generic => {
                if t.starts_with("$_DFF")
                    || t.starts_with("$_SDFF")
                    || t.starts_with("$_DFFE")
                    || t.starts_with("$_ALDFF")
                {
                    self.ffs += n;
                } else if t.starts_with("$_") {
                    self.gates += n;
                }
            }
            Flow::Ice40 => match t {
                "SB_LUT4" => self.luts += n,
                "SB_CARRY" => self.carry += n,
                "SB_RAM40_4K" => self.bram += n,
                "SB_MAC16" => self.dsp += n,
                _ if t.starts_with("SB_DFF") => self.ffs += n,
                _ => {}
            },
            Flow::Xilinx | Flow::XilinxNoDsp => match t {
                "CARRY4" | "CARRY8" => self.carry += n,
                "RAMB18E1" | "RAMB18E2" => self.bram += n,
                "RAMB36E1" | "RAMB36E2" => self.bram += 2 * n,
                _ if t.starts_with("DSP48") => self.dsp += n,
                _ if t.starts_with("LUT") => self.luts += n,
                _ if t.starts_with("FD") => self.ffs += n,
                _ if t.starts_with("RAM") || t.starts_with("SRL") => self.lutram += n,
                _ => {}
            },
        }
    }

    /// Adds `times` copies of `o` (e.g. the engines of a design, or instances of a module).
    pub fn add(&mut self, o: &Resources, times: u64) {
        self.luts += o.luts * times;
        self.ffs += o.ffs * times;
        self.carry += o.carry * times;
        self.bram += o.bram * times;
        self.dsp += o.dsp * times;
        self.lutram += o.lutram * times;
        self.gates += o.gates * times;
        self.arith_cells += o.arith_cells * times;
        self.latches += o.latches * times;
        self.cells += o.cells * times;
    }
}

/// The result of one synthesis run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthReport {
    /// The flow.
    pub flow: Flow,
    /// The top module.
    pub top: String,
    /// Everything in the design, instances expanded (black-boxed instances count 0).
    pub total: Resources,
    /// Per top-level instance: (module name, resources of that instance and its sub-modules).
    pub instances: BTreeMap<String, InstanceResources>,
    /// Cells of the top module itself (I/O buffers, glue).
    pub top_only: Resources,
    /// Instances that were black-boxed (not synthesized) on request.
    pub skipped: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The full yosys log, when [`SynthOptions::log_dir`] was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// The memory mappings imposed before synthesis ([`SynthOptions::ram_styles`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ram_styles: Vec<RamStyle>,
    /// The deepest path per top-level instance of the mapped netlist (iCE40 and Xilinx flows;
    /// [`crate::depth`] on the flattened netlist, a carry step weighing
    /// [`Flow::carry_weight`] LUT levels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<NetlistDepth>,
}

/// Resources of one top-level instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceResources {
    /// Its module (yosys name, `$paramod…` for parameterized modules).
    pub module: String,
    /// Its resources.
    pub resources: Resources,
}

/// A memory mapping the caller imposes: yosys's `ram_style` attribute (`distributed`,
/// `block`, `logic`, as `memory_libmap` reads it) on the memories named `memories` of the
/// module that implements the top-level instance `instance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RamStyle {
    /// The top-level instance.
    pub instance: String,
    /// The memories in its module, a yosys name pattern (`lb`, `g_bank*`).
    pub memories: String,
    /// The value of `ram_style`.
    pub style: String,
}

impl RamStyle {
    /// The yosys command that sets it in the elaborated design with top module `top`: the
    /// module of `top/instance` (`%M`) intersected with the memories of that name.
    pub fn command(&self, top: &str) -> String {
        format!(
            "setattr -set ram_style \"{}\" {top}/{} %M */m:{} %i",
            yosys_quote(&self.style),
            yosys_quote(&self.instance),
            yosys_quote(&self.memories)
        )
    }
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct SynthOptions {
    /// Only synthesize these top-level instances and their `<name>_…` companions (others are
    /// black-boxed); all when `None`.
    pub only: Option<Vec<String>>,
    /// Where to keep the script, log and statistics (default: a temp folder).
    pub work_dir: Option<PathBuf>,
    /// Where to copy the full yosys log of each run (`yosys-<flow>.log`, and
    /// `yosys-elaborate.log` when limiting), kept after success and failure; none by default.
    pub log_dir: Option<PathBuf>,
    /// Memory mappings to impose before synthesis (none by default: yosys's own choice).
    pub ram_styles: Vec<RamStyle>,
    /// The instance names the netlist's path depth is grouped by ([`crate::depth::walk`]);
    /// by default the top's instances of user modules (none after a flattening flow such as
    /// `synth_ice40`, so give the engines' instance names there).
    pub depth_groups: Option<Vec<String>>,
    /// List the register inputs whose walked path has more LUT levels than this, by shape
    /// ([`crate::depth::walk_deep`]); none by default.
    pub deep_paths_over: Option<u32>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> YosysError + '_ {
    move |e| YosysError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn yosys_quote(s: &str) -> String {
    // File names come from the manifest; yosys reads them as one word.
    s.replace([' ', ';'], "_")
}

/// Checks that yosys is on PATH.
pub fn available() -> bool {
    Command::new("yosys")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Synthesizes `files` (paths relative to `run_dir`, where `$readmemh` files are found) with
/// top module `top` in `flow`. `progress` receives one line per yosys pass as it starts.
pub fn synthesize(
    run_dir: &Path,
    files: &[String],
    top: &str,
    flow: Flow,
    opts: &SynthOptions,
    mut progress: impl FnMut(&str),
) -> Result<SynthReport, YosysError> {
    if !available() {
        return Err(YosysError::Missing);
    }
    let t0 = Instant::now();
    let work = match &opts.work_dir {
        Some(w) => w.clone(),
        None => std::env::temp_dir().join(format!(
            "inq-yosys-{}-{}-{}",
            std::process::id(),
            flow.name(),
            t0.elapsed().as_nanos()
        )),
    };
    std::fs::create_dir_all(&work).map_err(io_err(&work))?;
    let cells_path = work.join("top_cells.il");
    let stat_path = work.join("stat.json");
    let read: Vec<String> = files
        .iter()
        .map(|f| format!("read_verilog -defer {}", yosys_quote(f)))
        .collect();

    // Pass 1 (only when limiting): elaborate to learn instance → module names.
    let mut skipped = Vec::new();
    let mut blackbox = String::new();
    if let Some(only) = &opts.only {
        let script = format!(
            "{}\nhierarchy -top {top}\ntee -q -o {} dump {top}/c:*\n",
            read.join("\n"),
            cells_path.display()
        );
        run(
            run_dir,
            &work,
            "elaborate",
            &script,
            flow,
            opts.log_dir.as_deref(),
            &mut progress,
        )?;
        let map = parse_cells(&read_file(&cells_path)?);
        // A requested name selects that instance and its sub-instances `<name>_…` (an engine
        // and its weight ROMs).
        let selected = |inst: &str| {
            only.iter()
                .any(|k| inst == k || inst.starts_with(&format!("{k}_")))
        };
        for name in only {
            if !map
                .keys()
                .any(|inst| inst == name || inst.starts_with(&format!("{name}_")))
            {
                return Err(YosysError::UnknownInstance(
                    name.clone(),
                    map.keys().cloned().collect::<Vec<_>>().join(", "),
                ));
            }
        }
        let kept_modules: Vec<&String> = map
            .iter()
            .filter(|(i, _)| selected(i))
            .map(|(_, m)| m)
            .collect();
        let mut boxed: Vec<&String> = Vec::new();
        for (inst, module) in &map {
            if selected(inst) || kept_modules.contains(&module) || !is_submodule(module) {
                continue;
            }
            skipped.push(inst.clone());
            if !boxed.contains(&module) {
                boxed.push(module);
                blackbox.push_str(&format!("blackbox {}\n", module.trim_start_matches('\\')));
            }
        }
    }
    let ram_styles: String = opts
        .ram_styles
        .iter()
        .map(|r| format!("{}\n", r.command(top)))
        .collect();
    // the mapped netlist, flattened, for the path depth of every instance
    let netlist_path = work.join("netlist.json");
    let write_netlist = match flow.carry_weight() {
        Some(_) => format!("flatten\nwrite_json {}\n", netlist_path.display()),
        None => String::new(),
    };
    let script = format!(
        "{}\nhierarchy -top {top}\n{blackbox}{ram_styles}{}\ntee -q -o {} dump {top}/c:*\ntee -q -o {} stat -json\n{write_netlist}",
        read.join("\n"),
        flow.command(top),
        cells_path.display(),
        stat_path.display()
    );
    let log = run(
        run_dir,
        &work,
        flow.name(),
        &script,
        flow,
        opts.log_dir.as_deref(),
        &mut progress,
    )?;
    let cells = parse_cells(&read_file(&cells_path)?);
    let stat: serde_json::Value =
        serde_json::from_str(&read_file(&stat_path)?).map_err(|e| YosysError::Io {
            path: stat_path.display().to_string(),
            message: e.to_string(),
        })?;
    let modules = stat_modules(&stat);
    let mut memo = BTreeMap::new();
    let top_key = format!("\\{top}");
    let total = expand(&top_key, &modules, flow, &mut memo);
    let mut top_only = Resources::default();
    if let Some(own) = modules.get(&top_key) {
        for (ty, n) in own {
            if !modules.contains_key(ty) {
                top_only.add_cell(ty, *n, flow);
            }
        }
    }
    let depth = flow.carry_weight().and_then(|w| {
        let groups: Vec<String> = opts.depth_groups.clone().unwrap_or_else(|| {
            cells
                .iter()
                .filter(|(_, m)| is_submodule(m))
                .map(|(i, _)| i.clone())
                .collect()
        });
        crate::depth::walk_deep(&netlist_path, top, &[], &groups, w, opts.deep_paths_over).ok()
    });
    let instances = cells
        .into_iter()
        .filter(|(_, m)| modules.contains_key(m))
        .map(|(inst, module)| {
            let resources = expand(&module, &modules, flow, &mut memo);
            (inst, InstanceResources { module, resources })
        })
        .collect();
    if opts.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(SynthReport {
        flow,
        top: top.to_string(),
        total,
        instances,
        top_only,
        skipped,
        seconds: t0.elapsed().as_secs_f64(),
        log,
        ram_styles: opts.ram_styles.clone(),
        depth,
    })
}

/// True for cells that are user modules (not yosys internal cells or vendor primitives, which
/// are never instantiated by the generator's top).
fn is_submodule(module: &str) -> bool {
    module.starts_with("$paramod")
        || (module.starts_with('\\')
            && module
                .chars()
                .nth(1)
                .is_some_and(|c| c.is_ascii_lowercase()))
}

fn read_file(p: &Path) -> Result<String, YosysError> {
    std::fs::read_to_string(p).map_err(io_err(p))
}

/// The pass a line of yosys's output starts, for a progress line: `2.3. Executing PROC pass
/// (...).` gives `PROC pass (...)`; only passes up to the second level.
pub(crate) fn progress_pass(line: &str) -> Option<&str> {
    let (num, pass) = line.split_once(". Executing ")?;
    (num.matches('.').count() <= 1).then(|| pass.trim_end_matches('.'))
}

/// The logs [`synthesize`] may copy into [`SynthOptions::log_dir`] for `flow` (relative to it):
/// the flow's run and, when limited to some instances, the elaboration.
pub fn log_names(flow: Flow) -> [String; 2] {
    [log_name(flow.name()), log_name("elaborate")]
}

fn log_name(stage: &str) -> String {
    format!("yosys-{stage}.log")
}

/// Runs one yosys script; returns where its log was copied (`log_dir/yosys-<stage>.log`).
fn run(
    run_dir: &Path,
    work: &Path,
    stage: &str,
    script: &str,
    flow: Flow,
    log_dir: Option<&Path>,
    progress: &mut impl FnMut(&str),
) -> Result<Option<PathBuf>, YosysError> {
    let script_path = work.join(format!("{stage}.ys"));
    std::fs::write(&script_path, script).map_err(io_err(&script_path))?;
    let log_path = work.join(format!("{stage}.log"));
    let mut child = Command::new("yosys")
        .arg("-s")
        .arg(&script_path)
        .current_dir(run_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| YosysError::Missing)?;
    let mut log = Vec::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(pass) = progress_pass(&line) {
                progress(&format!("{}: {pass}", flow.name()));
            }
            log.push(line);
        }
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let status = child.wait().map_err(io_err(&script_path))?;
    let _ = std::fs::write(&log_path, log.join("\n"));
    let kept = match log_dir {
        Some(d) => {
            // one level only: the folder above (a design folder, perhaps one being built) must
            // exist; an interrupt may have removed it, and it is not created again here
            match std::fs::create_dir(d) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(io_err(d)(e));
                }
                _ => {}
            }
            let p = d.join(log_name(stage));
            std::fs::copy(&log_path, &p).map_err(io_err(&p))?;
            Some(p)
        }
        None => None,
    };
    if !status.success() {
        let tail: Vec<&str> = log
            .iter()
            .rev()
            .take(8)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let whole = match &kept {
            Some(p) => format!("\n(full log: {})", p.display()),
            None => String::new(),
        };
        return Err(YosysError::Failed {
            flow: flow.name().into(),
            dir: run_dir.display().to_string(),
            message: format!("{}\n{}{whole}", tail.join("\n"), err.trim()),
        });
    }
    Ok(kept)
}

/// Parses `dump` output: `cell <type> <name>` lines → instance name → module name.
fn parse_cells(il: &str) -> BTreeMap<String, String> {
    il.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("cell ")?;
            let (ty, name) = rest.rsplit_once(' ')?;
            Some((name.trim_start_matches('\\').to_string(), ty.to_string()))
        })
        .collect()
}

/// Cell counts of every module of a netlist: module name → cell type → count.
pub type Modules = BTreeMap<String, BTreeMap<String, u64>>;

/// `stat -json` → module name → cell type → count.
pub fn stat_modules(stat: &serde_json::Value) -> Modules {
    let mut out = BTreeMap::new();
    if let Some(mods) = stat.get("modules").and_then(|m| m.as_object()) {
        for (name, m) in mods {
            let cells = m
                .get("num_cells_by_type")
                .and_then(|c| c.as_object())
                .map(|c| {
                    c.iter()
                        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default();
            out.insert(name.clone(), cells);
        }
    }
    out
}

/// The primitive cells of `module` with its sub-modules expanded (each counted as often as it
/// is instantiated); cell type names without yosys's leading `\`.
pub fn primitive_cells(module: &str, modules: &Modules) -> BTreeMap<String, u64> {
    fn walk(module: &str, modules: &Modules, times: u64, into: &mut BTreeMap<String, u64>) {
        let Some(cells) = modules.get(module) else {
            return;
        };
        for (ty, &n) in cells {
            let escaped = format!("\\{ty}");
            if modules.contains_key(ty) {
                walk(ty, modules, times * n, into);
            } else if modules.contains_key(&escaped) {
                walk(&escaped, modules, times * n, into);
            } else {
                *into
                    .entry(ty.trim_start_matches('\\').to_string())
                    .or_default() += times * n;
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(module, modules, 1, &mut out);
    out
}

/// The resources of `module` (sub-modules expanded), categorized for `flow`; memoized per
/// module.
fn expand(
    module: &str,
    modules: &Modules,
    flow: Flow,
    memo: &mut BTreeMap<String, Resources>,
) -> Resources {
    if let Some(r) = memo.get(module) {
        return r.clone();
    }
    let mut r = Resources::default();
    for (ty, n) in primitive_cells(module, modules) {
        r.add_cell(&ty, n, flow);
    }
    memo.insert(module.to_string(), r.clone());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dump_cells() {
        let il = "module \\top\n  cell \\IBUF $iopadmap$top.a\n  cell $paramod\\sub\\W=s32'1000 \\u_e0\nend\n";
        let m = parse_cells(il);
        assert_eq!(
            m.get("u_e0").map(String::as_str),
            Some("$paramod\\sub\\W=s32'1000")
        );
        assert_eq!(m.get("$iopadmap$top.a").map(String::as_str), Some("\\IBUF"));
    }

    #[test]
    fn ram_style_command_selects_the_instance_memories() {
        let r = RamStyle {
            instance: "u_e1_pool1".into(),
            memories: "g_banked*".into(),
            style: "distributed".into(),
        };
        assert_eq!(
            r.command("inq_top"),
            "setattr -set ram_style \"distributed\" inq_top/u_e1_pool1 %M */m:g_banked* %i"
        );
    }

    #[test]
    fn expands_hierarchy_and_categorizes() {
        let stat = serde_json::json!({"modules": {
            "\\top": {"num_cells_by_type": {"\\sub": 2, "IBUF": 3}},
            "\\sub": {"num_cells_by_type": {"LUT6": 4, "FDRE": 2, "CARRY4": 1, "RAMB36E1": 1, "DSP48E1": 1}}
        }});
        let mods = stat_modules(&stat);
        let mut memo = BTreeMap::new();
        let r = expand("\\top", &mods, Flow::Xilinx, &mut memo);
        assert_eq!((r.luts, r.ffs, r.carry, r.bram, r.dsp), (8, 4, 2, 4, 2));
        assert_eq!(r.cells, 2 * 9 + 3);
    }
}
