//! Logic depth of a mapped netlist: the deepest register-to-register path of every engine,
//! in LUT levels and carry steps, found by walking the netlist yosys writes (`write_json`
//! after `synth_ice40` or `synth_xilinx` and `flatten`).
//!
//! Owns the netlist walk and the cell vocabulary it needs (which cells are combinational,
//! which ports are outputs). Does not own what a level costs in nanoseconds (the plan's
//! family delay model in `inq_hdl::timing` does) nor running yosys ([`crate::yosys`]).
//!
//! The walk is static and unweighted by placement: every LUT (`SB_LUT4`, `LUT1`…`LUT6`) and
//! wide-function multiplexer (`MUXF7`, `MUXF8`) is one level, every carry cell one carry step
//! (`SB_CARRY` is one bit, `CARRY4` four), an inverter (`INV`, which `synth_xilinx` leaves
//! where a LUT would only invert) no level at all, as a vendor's optimization merges it into
//! the LUT it drives or feeds, every other cell (flip-flops, block RAM, I/O, DSP) starts and
//! ends paths. A path's weight is `levels + carry_weight · carry`, the weight the
//! caller gives for its family (a carry step is much faster than a LUT and its routing); the
//! path of greatest weight ending at each register is kept, and registers are grouped by
//! the engine instance their hierarchical name starts with (`u_e0_conv1`, with its companions
//! `u_e0_conv1_…`).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use thiserror::Error;

/// Errors reading a netlist.
#[derive(Debug, Error)]
pub enum DepthError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The message.
        message: String,
    },
    /// The file is not a yosys JSON netlist with the named module.
    #[error("{path}: not a yosys JSON netlist with module `{module}`: {message}")]
    Format {
        /// The file.
        path: String,
        /// The module looked for.
        module: String,
        /// What was wrong.
        message: String,
    },
}

/// The deepest path found in one group of registers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PathDepth {
    /// LUT levels on the path (LUTs and wide-function multiplexers).
    pub levels: u32,
    /// Carry steps on the path (`SB_CARRY` bits or `CARRY4` cells).
    pub carry: u32,
    /// Of `levels`, the wide-function multiplexers (`MUXF7`, `MUXF8`): a LUT6 → MUXF7 →
    /// MUXF8 cascade is one 8-input function inside a slice, three levels here but with no
    /// net between its cells.
    #[serde(default)]
    pub wide_muxes: u32,
    /// `levels + carry_weight · carry`, what the path was chosen by.
    pub weight: f64,
    /// The net the path starts from (a register, memory or input).
    pub from: String,
    /// The net of the register input (or output) the path ends at.
    pub to: String,
}

/// The register inputs whose walked path is deeper than a level limit and that share one
/// shape: the group, the start and end names with their indices as `[*]`, and the cells on
/// the way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeepPaths {
    /// The group the paths end in (as [`NetlistDepth::groups`]).
    pub group: String,
    /// LUT levels of each (wide-function multiplexers included).
    pub levels: u32,
    /// Carry steps of each.
    pub carry: u32,
    /// Of `levels`, the wide-function multiplexers.
    pub wide_muxes: u32,
    /// The start (a register, memory or input; `(TYPE output)` when unnamed), indices as
    /// `[*]`.
    pub from: String,
    /// The end: a named input net, else the ending cell's output (`… (input)`), else its
    /// type and port (`RAM64M.WE`); indices as `[*]`.
    pub to: String,
    /// The combinational cells in order after the start (`INV` included).
    pub cells: Vec<String>,
    /// How many register inputs end a path of this shape.
    pub count: usize,
}

/// Depths of a netlist, per group and overall.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetlistDepth {
    /// The deepest path ending in each group (an engine instance name, or [`TOP_GROUP`] for
    /// registers outside every instance).
    pub groups: BTreeMap<String, PathDepth>,
    /// The deepest path of the whole netlist.
    pub worst: PathDepth,
    /// Combinational cells left out because they sit on a combinational loop.
    pub loop_cells: usize,
    /// With [`walk_deep`]: the paths deeper than its limit, by shape, deepest first (then
    /// most frequent), at most [`DEEP_SHAPES`] shapes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deep: Vec<DeepPaths>,
    /// With [`walk_deep`]: how many register inputs end a path deeper than its limit (all
    /// shapes, listed or not).
    #[serde(default)]
    pub deep_inputs: usize,
}

/// How many shapes of deep paths [`walk_deep`] keeps.
pub const DEEP_SHAPES: usize = 24;

/// `name` with every index (`[3]`) as `[*]`, so that the bits of a bus and the copies of a
/// generate loop share one shape (`g_pe[7].pv[4]` → `g_pe[*].pv[*]`).
fn shape_of(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        match rest.find(']') {
            Some(j) if j > 0 && rest[..j].chars().all(|c| c.is_ascii_digit()) => {
                out.push('*');
                rest = &rest[j..];
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out
}

/// Whether a cell type is a wide-function multiplexer (one LUT level, no net in front).
fn is_wide_mux(ty: &str) -> bool {
    ty == "MUXF7" || ty == "MUXF8"
}

/// Whether a cell type is one LUT level.
fn is_lut(ty: &str) -> bool {
    ty == "SB_LUT4" || (ty.starts_with("LUT") && ty.len() == 4) || ty == "MUXF7" || ty == "MUXF8"
}

/// Carry steps of a carry cell type, if it is one.
fn carry_steps(ty: &str) -> Option<u32> {
    match ty {
        "SB_CARRY" => Some(1),
        "CARRY4" => Some(4),
        "CARRY8" => Some(8),
        _ => None,
    }
}

/// Output ports of a cell (from `port_directions`, or by name for cells written without).
fn is_output(dirs: Option<&serde_json::Map<String, serde_json::Value>>, port: &str) -> bool {
    match dirs.and_then(|d| d.get(port)).and_then(|v| v.as_str()) {
        Some(d) => d == "output",
        None => matches!(
            port,
            "O" | "Q" | "CO" | "RDATA" | "DOUT" | "D_IN_0" | "D_IN_1"
        ),
    }
}

struct Cell<'a> {
    ty: &'a str,
    levels: u32,
    carry: u32,
    ins: Vec<usize>,
    outs: Vec<usize>,
}

/// The group of registers outside every named group.
pub const TOP_GROUP: &str = "(top)";

/// The group a cell or net name belongs to: the longest of `groups` it starts with (after
/// stripping one of `wrappers`), followed by `.`, `_` or `[`; [`TOP_GROUP`] if none.
pub fn group_of(name: &str, wrappers: &[&str], groups: &[String]) -> String {
    let mut n = name;
    for w in wrappers {
        if let Some(rest) = n.strip_prefix(w) {
            n = rest;
        }
    }
    groups
        .iter()
        .filter(|g| {
            n.strip_prefix(g.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '_', '[']))
        })
        .max_by_key(|g| g.len())
        .cloned()
        .unwrap_or_else(|| TOP_GROUP.to_string())
}

/// Walks module `top` of the yosys JSON netlist at `path`. A path belongs to the group
/// ([`group_of`]: the longest of `groups`, engine instance names, that the name starts with,
/// followed by `.`, `_` or `[`, after stripping `wrappers` such as a board top's `u_core.`) of
/// the register or memory it ends in, named by its cell, else its output net (a register's Q),
/// else the input net; so `u_e0_conv1.acc` and the weight ROM `u_e0_conv1_rom0.q` both
/// belong to `u_e0_conv1`. Others belong to [`TOP_GROUP`]. `carry_weight` is the cost of one carry step in LUT
/// levels.
pub fn walk(
    path: &Path,
    top: &str,
    wrappers: &[&str],
    groups: &[String],
    carry_weight: f64,
) -> Result<NetlistDepth, DepthError> {
    walk_deep(path, top, wrappers, groups, carry_weight, None)
}

/// [`walk`], and with `deeper_than = Some(n)` every register input whose path has more than
/// `n` LUT levels, grouped by shape in [`NetlistDepth::deep`].
pub fn walk_deep(
    path: &Path,
    top: &str,
    wrappers: &[&str],
    groups: &[String],
    carry_weight: f64,
    deeper_than: Option<u32>,
) -> Result<NetlistDepth, DepthError> {
    let text = std::fs::read_to_string(path).map_err(|e| DepthError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let fmt = |message: String| DepthError::Format {
        path: path.display().to_string(),
        module: top.to_string(),
        message,
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| fmt(e.to_string()))?;
    let module = json
        .get("modules")
        .and_then(|m| m.get(top))
        .ok_or_else(|| fmt("no such module".into()))?;
    let cells = module
        .get("cells")
        .and_then(|c| c.as_object())
        .ok_or_else(|| fmt("no `cells`".into()))?;

    // A readable name per net bit (the shortest public name).
    let mut names: HashMap<usize, String> = HashMap::new();
    if let Some(nets) = module.get("netnames").and_then(|n| n.as_object()) {
        for (name, net) in nets {
            let hidden = net.get("hide_name").and_then(|h| h.as_u64()) == Some(1);
            if hidden {
                continue;
            }
            let Some(bits) = net.get("bits").and_then(|b| b.as_array()) else {
                continue;
            };
            for (i, b) in bits.iter().enumerate() {
                let Some(b) = b.as_u64() else { continue };
                let label = if bits.len() > 1 {
                    format!("{name}[{i}]")
                } else {
                    name.clone()
                };
                let e = names.entry(b as usize).or_insert_with(|| label.clone());
                if label.len() < e.len() {
                    *e = label;
                }
            }
        }
    }

    // Combinational cells as nodes; every other cell's inputs are path ends.
    let mut comb: Vec<Cell> = Vec::new();
    // (net bit, the cell whose input it is, that cell's index in `end_cells`, its type and
    // the port)
    let mut ends: Vec<(usize, &str, usize, &str, &str)> = Vec::new();
    // the output bits of every path-ending cell (a register's Q names it)
    let mut end_cells: Vec<Vec<usize>> = Vec::new();
    // the type of the path-ending cell driving a bit (a start without a public name)
    let mut start_ty: HashMap<usize, &str> = HashMap::new();
    for (cell_name, cell) in cells {
        let ty = cell.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let dirs = cell.get("port_directions").and_then(|d| d.as_object());
        let Some(conns) = cell.get("connections").and_then(|c| c.as_object()) else {
            continue;
        };
        let mut ins = Vec::new();
        let mut in_ports = Vec::new();
        let mut outs = Vec::new();
        for (port, bits) in conns {
            let out = is_output(dirs, port);
            for b in bits.as_array().into_iter().flatten() {
                if let Some(b) = b.as_u64() {
                    if out {
                        outs.push(b as usize);
                    } else {
                        ins.push(b as usize);
                        in_ports.push(port.as_str());
                    }
                }
            }
        }
        let (levels, carry) = if is_lut(ty) {
            (1, 0)
        } else if ty == "INV" {
            // a path through an inverter goes on (it once ended and restarted there, which
            // hid the flags' chain from a FIFO's registered `full` into an engine's counters)
            (0, 0)
        } else if let Some(c) = carry_steps(ty) {
            (0, c)
        } else {
            // Clock and enable inputs end paths too; that is what a timing tool does.
            let k = end_cells.len();
            ends.extend(
                ins.into_iter()
                    .zip(in_ports)
                    .map(|(b, port)| (b, cell_name.as_str(), k, ty, port)),
            );
            for &o in &outs {
                start_ty.insert(o, ty);
            }
            end_cells.push(outs);
            continue;
        };
        comb.push(Cell {
            ty,
            levels,
            carry,
            ins,
            outs,
        });
    }

    // Topological order over combinational cells (Kahn), bits driven by them as edges.
    let mut driver: HashMap<usize, usize> = HashMap::new();
    for (i, c) in comb.iter().enumerate() {
        for &o in &c.outs {
            driver.insert(o, i);
        }
    }
    let mut fanout: Vec<Vec<usize>> = vec![Vec::new(); comb.len()];
    let mut indeg = vec![0usize; comb.len()];
    for (i, c) in comb.iter().enumerate() {
        let mut preds: Vec<usize> = c
            .ins
            .iter()
            .filter_map(|b| driver.get(b).copied())
            .collect();
        preds.sort_unstable();
        preds.dedup();
        indeg[i] = preds.len();
        for p in preds {
            fanout[p].push(i);
        }
    }
    #[derive(Clone, Copy, Default)]
    struct Arr {
        levels: u32,
        carry: u32,
        muxes: u32,
        weight: f64,
        from: usize,
        // the cell that drives the bit (its index + 1; 0: the start) and its input on the path
        cell: usize,
        prev: usize,
    }
    let mut arrival: HashMap<usize, Arr> = HashMap::new();
    let start = |b: usize| Arr {
        from: b,
        ..Arr::default()
    };
    let mut queue: Vec<usize> = (0..comb.len()).filter(|&i| indeg[i] == 0).collect();
    let mut done = 0usize;
    while let Some(i) = queue.pop() {
        done += 1;
        let c = &comb[i];
        let (prev, best) = c
            .ins
            .iter()
            .map(|&b| (b, arrival.get(&b).copied().unwrap_or_else(|| start(b))))
            .max_by(|x, y| x.1.weight.total_cmp(&y.1.weight))
            .unwrap_or_default();
        let out = Arr {
            levels: best.levels + c.levels,
            carry: best.carry + c.carry,
            muxes: best.muxes + u32::from(is_wide_mux(c.ty)),
            weight: best.weight + f64::from(c.levels) + carry_weight * f64::from(c.carry),
            from: best.from,
            cell: i + 1,
            prev,
        };
        for &o in &c.outs {
            arrival.insert(o, out);
        }
        for &n in &fanout[i] {
            indeg[n] -= 1;
            if indeg[n] == 0 {
                queue.push(n);
            }
        }
    }

    // yosys numbers net bits from 2; a path of constant-fed cells starts at "bit 0"
    let name_of = |b: usize| match names.get(&b) {
        Some(n) => n.clone(),
        None if b < 2 => "(constant)".to_string(),
        None => format!("<net {b}>"),
    };
    let group_of = |name: &str| group_of(name, wrappers, groups);
    let mut out = NetlistDepth {
        loop_cells: comb.len() - done,
        ..NetlistDepth::default()
    };
    // (group, levels, carry, start, end, cells) → (wide multiplexers, register inputs)
    type Shape = (String, u32, u32, String, String, Vec<String>);
    let mut deep: BTreeMap<Shape, (u32, usize)> = BTreeMap::new();
    for &(b, cell, k, cell_ty, port) in &ends {
        let Some(a) = arrival.get(&b) else { continue };
        let to = name_of(b);
        // the end cell's hierarchical name (cells flattened keep their instance's prefix,
        // cells made later do not), else its outputs' net names (a register's), else the
        // input net's
        let group = std::iter::once(cell.to_string())
            .chain(end_cells[k].iter().filter_map(|o| names.get(o).cloned()))
            .chain(std::iter::once(to.clone()))
            .map(|n| group_of(&n))
            .find(|g| g != TOP_GROUP)
            .unwrap_or_else(|| TOP_GROUP.to_string());
        // a hidden input net is named by the register it feeds
        let to = if names.contains_key(&b) {
            to
        } else {
            end_cells[k]
                .iter()
                .find_map(|o| names.get(o))
                .map(|q| format!("{q} (input)"))
                .unwrap_or(to)
        };
        if deeper_than.is_some_and(|n| a.levels > n) {
            // the cells back from the end, then in order
            let mut cells = Vec::new();
            let mut at = *a;
            while at.cell != 0 {
                cells.push(comb[at.cell - 1].ty.to_string());
                match arrival.get(&at.prev) {
                    Some(p) => at = *p,
                    None => break,
                }
            }
            cells.reverse();
            let end =
                if names.contains_key(&b) || end_cells[k].iter().any(|o| names.contains_key(o)) {
                    shape_of(&to)
                } else {
                    format!("{cell_ty}.{port}")
                };
            let from = match (names.get(&a.from), start_ty.get(&a.from)) {
                (Some(n), _) => shape_of(n),
                (None, Some(ty)) => format!("({ty} output)"),
                (None, None) => name_of(a.from),
            };
            let key = (group.clone(), a.levels, a.carry, from, end, cells);
            deep.entry(key).or_insert((a.muxes, 0)).1 += 1;
        }
        let d = PathDepth {
            levels: a.levels,
            carry: a.carry,
            wide_muxes: a.muxes,
            weight: a.weight,
            from: name_of(a.from),
            to,
        };
        let g = out.groups.entry(group).or_default();
        if d.weight > g.weight {
            *g = d.clone();
        }
        if d.weight > out.worst.weight {
            out.worst = d;
        }
    }
    out.deep = deep
        .into_iter()
        .map(
            |((group, levels, carry, from, to, cells), (wide_muxes, count))| DeepPaths {
                group,
                levels,
                carry,
                wide_muxes,
                from,
                to,
                cells,
                count,
            },
        )
        .collect();
    out.deep.sort_by(|a, b| {
        (b.levels, b.carry, b.count, &a.group).cmp(&(a.levels, a.carry, a.count, &b.group))
    });
    out.deep_inputs = out.deep.iter().map(|d| d.count).sum();
    out.deep.truncate(DEEP_SHAPES);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two registers joined by LUT → carry → carry → LUT, and one register fed by a single
    /// LUT in another instance.
    const NETLIST: &str = r#"{"modules": {"top": {
      "netnames": {
        "u_a.q": {"hide_name": 0, "bits": [2]},
        "u_a.n1": {"hide_name": 0, "bits": [3]},
        "u_a.c1": {"hide_name": 0, "bits": [4]},
        "u_a.c2": {"hide_name": 0, "bits": [5]},
        "u_a.d": {"hide_name": 0, "bits": [6]},
        "u_b.d": {"hide_name": 0, "bits": [7]}
      },
      "cells": {
        "ff0": {"type": "SB_DFF", "port_directions": {"C": "input", "D": "input", "Q": "output"},
                "connections": {"C": [1], "D": [6], "Q": [2]}},
        "l1": {"type": "SB_LUT4", "connections": {"I0": [2], "I1": ["0"], "I2": ["0"], "I3": ["0"], "O": [3]}},
        "c1": {"type": "SB_CARRY", "connections": {"I0": [3], "I1": [2], "CI": ["0"], "CO": [4]}},
        "c2": {"type": "SB_CARRY", "connections": {"I0": [2], "I1": [2], "CI": [4], "CO": [5]}},
        "l2": {"type": "SB_LUT4", "connections": {"I0": [5], "I1": [2], "I2": ["0"], "I3": ["0"], "O": [6]}},
        "l3": {"type": "SB_LUT4", "connections": {"I0": [2], "I1": ["0"], "I2": ["0"], "I3": ["0"], "O": [7]}},
        "ff1": {"type": "SB_DFF", "port_directions": {"C": "input", "D": "input", "Q": "output"},
                "connections": {"C": [1], "D": [7], "Q": [8]}}
      }}}}"#;

    /// A register → inverter → LUT → MUXF7 → register path: the inverter neither ends the
    /// path nor adds a level, the wide multiplexer is a level and counted as one.
    const NETLIST_INV: &str = r#"{"modules": {"top": {
      "netnames": {
        "u_c.q": {"hide_name": 0, "bits": [2]},
        "u_c.nq": {"hide_name": 0, "bits": [3]},
        "u_c.l": {"hide_name": 0, "bits": [4]},
        "u_c.d": {"hide_name": 0, "bits": [5]}
      },
      "cells": {
        "ff0": {"type": "FDRE", "port_directions": {"C": "input", "D": "input", "Q": "output"},
                "connections": {"C": [1], "D": [5], "Q": [2]}},
        "i0": {"type": "INV", "port_directions": {"I": "input", "O": "output"},
               "connections": {"I": [2], "O": [3]}},
        "l0": {"type": "LUT1", "port_directions": {"I0": "input", "O": "output"},
               "connections": {"I0": [3], "O": [4]}},
        "m0": {"type": "MUXF7", "port_directions": {"I0": "input", "I1": "input", "S": "input", "O": "output"},
               "connections": {"I0": [4], "I1": ["0"], "S": [1], "O": [5]}}
      }}}}"#;

    /// `text` written to `n.json` in a fresh temp folder named after `tag`: (folder, file).
    fn netlist_file(tag: &str, text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("inq-depth-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("n.json");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn inverters_are_no_level_and_no_path_end() {
        let (dir, p) = netlist_file("inv", NETLIST_INV);
        let d = walk(&p, "top", &[], &["u_c".to_string()], 0.25).unwrap();
        let c = &d.groups["u_c"];
        assert_eq!((c.levels, c.carry, c.wide_muxes), (2, 0, 1));
        assert_eq!(c.from, "u_c.q");
        assert_eq!(c.to, "u_c.d");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn lists_the_paths_deeper_than_a_limit_by_shape() {
        let (dir, p) = netlist_file("deep", NETLIST);
        let groups = vec!["u_a".to_string(), "u_b".to_string()];
        let d = walk_deep(&p, "top", &[], &groups, 0.25, Some(1)).unwrap();
        assert_eq!(
            d.deep,
            vec![DeepPaths {
                group: "u_a".into(),
                levels: 2,
                carry: 2,
                wide_muxes: 0,
                from: "u_a.q".into(),
                to: "u_a.d".into(),
                cells: ["SB_LUT4", "SB_CARRY", "SB_CARRY", "SB_LUT4"]
                    .map(String::from)
                    .to_vec(),
                count: 1,
            }]
        );
        // the plain walk lists none, and a limit above every path none either
        assert!(walk(&p, "top", &[], &groups, 0.25).unwrap().deep.is_empty());
        assert!(walk_deep(&p, "top", &[], &groups, 0.25, Some(2))
            .unwrap()
            .deep
            .is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(shape_of("u.g_pe[7].pv[4]"), "u.g_pe[*].pv[*]");
        assert_eq!(shape_of("u.hq[20:0] (input)"), "u.hq[20:0] (input)");
        assert_eq!(shape_of("a[]b[x]"), "a[]b[x]");
    }

    #[test]
    fn finds_the_deepest_path_per_instance() {
        let (dir, p) = netlist_file("walk", NETLIST);
        let groups = vec!["u_a".to_string(), "u_b".to_string()];
        let d = walk(&p, "top", &[], &groups, 0.25).unwrap();
        let a = &d.groups["u_a"];
        assert_eq!((a.levels, a.carry), (2, 2));
        assert!((a.weight - 2.5).abs() < 1e-9);
        assert_eq!(a.from, "u_a.q");
        assert_eq!(a.to, "u_a.d");
        let b = &d.groups["u_b"];
        assert_eq!((b.levels, b.carry), (1, 0));
        assert_eq!(d.worst, *a);
        assert_eq!(d.loop_cells, 0);
        let gs = vec!["u_e1_c".to_string(), "u_e1_c_rom0x".to_string()];
        assert_eq!(
            group_of("u_core.u_e1_c_rom0.q", &["u_core."], &gs),
            "u_e1_c"
        );
        assert_eq!(group_of("u_e1_c.acc[3]", &[], &gs), "u_e1_c");
        assert_eq!(group_of("u_e1_cx.acc", &[], &gs), TOP_GROUP);
        assert!(walk(&p, "nope", &[], &groups, 0.25).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
