//! From a `QuantModel` and a `FoldingRequest` to a `Design`: choose `PE × SIMD` of every
//! conv/dense node (explicit, a lane budget, a throughput target, unrolled nodes), then build
//! the hardware graph ([`crate::graph::build`]); for a throughput target, choose per node
//! between its ROM-fed folding and the hard-wired engine by their LUT estimates.

use std::collections::HashMap;

use inq_model::graph::node_label;
use inq_model::{Graph, Op, QuantModel};

use crate::beats::{choose_beats, BeatChoice};
use crate::design::Design;
use crate::error::PlanError;
use crate::folding::{Folding, FoldingRequest};
use crate::geometry::Geometry;
use crate::ops::mvu::{check_fold, legal_foldings, mvu_cycles, mvu_cycles_beats, unrolled_fold};
use crate::ops::{is_depthwise, lower, mvu_geometry, LowerCtx, Lowered};

/// A conv or dense node, before folding.
#[derive(Debug, Clone)]
struct Slot {
    node: usize,
    geom: Geometry,
    depthwise: bool,
    dense: bool,
    label: String,
    /// The beats a throughput target with wide beats needs on its input and output streams
    /// (`crate::beats::needed_beats`; 1 and 1 otherwise): its folding must take them.
    need: (usize, usize),
}

/// The cycles per image of an MVU slot folded `PE × SIMD`: with one element per beat, or
/// (`wide`) with the widest beats the folding can take (`docs/hardware.md` §2.1: `KI` up to
/// `C` hard-wired or the lane banks ROM-fed, `KO` up to `PE`).
fn slot_cycles(s: &Slot, pe: usize, simd: usize, wide: bool) -> u64 {
    if !wide {
        return mvu_cycles(&s.geom, pe, simd, s.depthwise);
    }
    mvu_cycles_beats(&s.geom, pe, simd, s.depthwise, s.banks(pe, simd), pe)
}

/// The legal `(PE, SIMD)` of an MVU with the fewest lanes whose cycles are at most `t`
/// (ties: fewer cycles, then smaller SIMD); `wide`: with wide beats, and on ties the larger
/// SIMD (the wider input beat the engine takes, so its producer can be fast too).
fn min_lanes_for(s: &Slot, t: u64, wide: bool) -> Option<(usize, usize)> {
    let mut best: Option<(usize, u64, isize, usize)> = None;
    for (pe, simd) in legal_foldings(&s.geom, s.depthwise) {
        let cyc = slot_cycles(s, pe, simd, wide);
        if cyc > t || (wide && !s.takes(pe, simd)) {
            continue;
        }
        let order = if wide {
            -(simd as isize)
        } else {
            simd as isize
        };
        let key = (pe * simd, cyc, order, pe);
        if best.is_none_or(|b| key < b) {
            best = Some(key);
        }
    }
    best.map(|(_, _, order, pe)| (pe, order.unsigned_abs()))
}

/// The fastest cycles of an MVU slot (`PE = OC`, `SIMD = C`, or 1 depthwise); `wide`: with
/// wide beats, and also the hard-wired engine when `hard` allows it.
fn fastest(s: &Slot, wide: bool, hard: bool) -> u64 {
    let simd = if s.depthwise { 1 } else { s.geom.c };
    let rom = slot_cycles(s, s.geom.oc, simd, wide);
    if wide && hard {
        let (pe, simd) = unrolled_fold(&s.geom, s.depthwise);
        rom.min(slot_cycles(s, pe, simd, true))
    } else {
        rom
    }
}

impl Slot {
    /// Whether folded `PE × SIMD` the engine takes the beats the target needs on its streams
    /// (`KI` into its lane banks, or any `KI | C` hard-wired; `KO | PE`).
    fn takes(&self, pe: usize, simd: usize) -> bool {
        self.banks(pe, simd).is_multiple_of(self.need.0) && pe.is_multiple_of(self.need.1)
    }

    /// The widest input beat of the engine folded `PE × SIMD`: its line buffer's banks (`C`
    /// hard-wired, `SIMD` or `PE` depthwise ROM-fed; `docs/hardware.md` §4.3).
    fn banks(&self, pe: usize, simd: usize) -> usize {
        let (nf, sf) = (self.geom.oc / pe.max(1), self.window() / simd.max(1));
        if nf * sf == 1 {
            self.geom.c
        } else if self.depthwise {
            pe
        } else {
            simd
        }
    }

    /// The window length `K`: `kh·kw·C`, or `kh·kw` depthwise.
    fn window(&self) -> usize {
        let g = &self.geom;
        if self.depthwise {
            g.kh * g.kw
        } else {
            g.kh * g.kw * g.c
        }
    }
}

/// Index into `mvus` of the node called `name` (a node name, or a model node index).
fn find_mvu(model: &QuantModel, mvus: &[Slot], name: &str) -> Result<usize, PlanError> {
    let idx = model.node_index(name).or_else(|| {
        name.parse::<usize>()
            .ok()
            .filter(|&i| i < model.nodes.len())
    });
    let names = || {
        mvus.iter()
            .map(|s| format!("\"{}\"", model.nodes[s.node].name.escape_debug()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(idx) = idx else {
        return Err(PlanError::Unroll {
            message: format!(
                "no node named \"{}\" (conv/dense nodes: {})",
                name.escape_debug(),
                names()
            ),
        });
    };
    mvus.iter()
        .position(|s| s.node == idx)
        .ok_or_else(|| PlanError::Unroll {
            message: format!(
                "{} is not a conv or dense node (conv/dense nodes: {})",
                node_label(model, idx),
                names()
            ),
        })
}

fn explicitly_listed(model: &QuantModel, f: &Folding, node: usize) -> bool {
    f.layer.iter().any(|e| {
        e.index == Some(node) || e.name.as_deref() == Some(model.nodes[node].name.as_str())
    })
}

fn choose_folding(
    model: &QuantModel,
    mvus: &[Slot],
    floor: u64,
    req: &FoldingRequest,
    unroll: &[String],
    wide: bool,
) -> Result<Vec<(usize, usize)>, PlanError> {
    // nodes pinned to their fully unrolled folding
    let mut pinned: Vec<Option<(usize, usize)>> = vec![None; mvus.len()];
    for name in unroll {
        let k = find_mvu(model, mvus, name)?;
        pinned[k] = Some(unrolled_fold(&mvus[k].geom, mvus[k].depthwise));
    }
    let mut folds = choose_free(model, mvus, floor, &pinned, req, wide)?;
    for (k, p) in pinned.iter().enumerate() {
        if let Some(f) = p {
            if let FoldingRequest::Explicit(ex) = req {
                // an explicit entry for an unrolled node must agree with it
                if folds[k] != *f && explicitly_listed(model, ex, mvus[k].node) {
                    return Err(PlanError::Unroll {
                        message: format!(
                            "{} is both unrolled (PE×SIMD = {}×{}) and folded as {}×{} in the folding file",
                            mvus[k].label, f.0, f.1, folds[k].0, folds[k].1
                        ),
                    });
                }
            }
            folds[k] = *f;
        }
    }
    Ok(folds)
}

/// The folding of every MVU chosen by `req`; a `pinned` node's folding is fixed (it is not
/// counted against a lane budget, and a throughput target only applies to the others).
/// `wide`: a throughput target counts on wide beats (`docs/hardware.md` §2.1), and a node
/// that no ROM-fed folding brings to the target becomes the hard-wired engine when that does.
fn choose_free(
    model: &QuantModel,
    mvus: &[Slot],
    floor: u64,
    pinned: &[Option<(usize, usize)>],
    req: &FoldingRequest,
    wide: bool,
) -> Result<Vec<(usize, usize)>, PlanError> {
    let free: Vec<&Slot> = mvus
        .iter()
        .zip(pinned)
        .filter(|(_, p)| p.is_none())
        .map(|(s, _)| s)
        .collect();
    let merge = |chosen: Vec<(usize, usize)>| -> Vec<(usize, usize)> {
        let mut it = chosen.into_iter();
        pinned
            .iter()
            .map(|p| p.unwrap_or_else(|| it.next().unwrap_or((1, 1))))
            .collect()
    };
    match req {
        FoldingRequest::Minimal => Ok(vec![(1, 1); mvus.len()]),
        FoldingRequest::Explicit(f) => explicit(model, mvus, f),
        FoldingRequest::Throughput {
            fps,
            clock_mhz,
            hard_wired,
        } => {
            if !(fps.is_finite() && *fps > 0.0 && clock_mhz.is_finite() && *clock_mhz > 0.0) {
                return Err(PlanError::Target {
                    message: format!("fps {fps} and clock {clock_mhz} MHz must be positive"),
                });
            }
            let t = req.target_cycles().unwrap_or(0);
            if t < floor {
                return Err(PlanError::Target {
                    message: format!(
                        "{fps} images/s at {clock_mhz} MHz needs ≤ {t} cycles per image, but even the fastest folding ({}) needs {floor} cycles: at most {:.1} images/s at this clock",
                        if wide {
                            "the widest beats, hard-wired engines"
                        } else {
                            "one element per beat on every stream"
                        },
                        clock_mhz * 1e6 / floor as f64
                    ),
                });
            }
            let chosen = free
                .iter()
                .map(|s| {
                    let unrolled = unrolled_fold(&s.geom, s.depthwise);
                    let hard = (wide && *hard_wired)
                        .then_some(unrolled)
                        .filter(|&(pe, simd)| {
                            slot_cycles(s, pe, simd, true) <= t && s.takes(pe, simd)
                        });
                    min_lanes_for(s, t, wide)
                        .or(hard)
                        .ok_or_else(|| PlanError::Target {
                            message: format!(
                                "{} cannot reach {t} cycles per image with any folding",
                                s.label
                            ),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(merge(chosen))
        }
        FoldingRequest::LaneBudget(budget) => {
            if *budget < free.len() {
                return Err(PlanError::Target {
                    message: format!(
                        "lane budget {budget} is below the minimum of one lane per conv/dense node ({}{})",
                        free.len(),
                        if free.len() < mvus.len() { ", not counting the unrolled nodes" } else { "" }
                    ),
                });
            }
            let hi = free
                .iter()
                .map(|s| mvu_cycles(&s.geom, 1, 1, s.depthwise))
                .chain(std::iter::once(floor))
                .max()
                .unwrap_or(1);
            let lanes_at = |t: u64| -> Option<usize> {
                free.iter()
                    .map(|s| min_lanes_for(s, t, false).map(|(p, q)| p * q))
                    .sum::<Option<usize>>()
            };
            // smallest t whose minimal lane total fits the budget (monotone in t).
            let (mut lo, mut hi) = (floor, hi);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match lanes_at(mid) {
                    Some(l) if l <= *budget => hi = mid,
                    _ => lo = mid + 1,
                }
            }
            Ok(merge(
                free.iter()
                    .map(|s| min_lanes_for(s, lo, false).unwrap_or((1, 1)))
                    .collect(),
            ))
        }
    }
}

fn explicit(
    model: &QuantModel,
    mvus: &[Slot],
    f: &Folding,
) -> Result<Vec<(usize, usize)>, PlanError> {
    let mut out = vec![(1usize, 1usize); mvus.len()];
    let mut seen = vec![false; mvus.len()];
    for (n, entry) in f.layer.iter().enumerate() {
        let idx = match (&entry.name, entry.index) {
            (Some(name), None) => {
                model
                    .node_index(name)
                    .ok_or_else(|| PlanError::UnknownLayer {
                        entry: n,
                        message: format!("no node named \"{}\"", name.escape_debug()),
                    })?
            }
            (None, Some(i)) => {
                if i >= model.nodes.len() {
                    return Err(PlanError::UnknownLayer {
                        entry: n,
                        message: format!("index {i} but the model has {} nodes", model.nodes.len()),
                    });
                }
                i
            }
            _ => {
                return Err(PlanError::UnknownLayer {
                    entry: n,
                    message: "give exactly one of `name` and `index`".into(),
                })
            }
        };
        let Some(k) = mvus.iter().position(|s| s.node == idx) else {
            return Err(PlanError::UnknownLayer {
                entry: n,
                message: format!("{} is not a conv or dense node", node_label(model, idx)),
            });
        };
        if seen[k] {
            return Err(PlanError::UnknownLayer {
                entry: n,
                message: format!("{} is folded twice", mvus[k].label),
            });
        }
        seen[k] = true;
        let s = &mvus[k];
        check_fold(
            &s.geom,
            s.depthwise,
            s.dense,
            &s.label,
            entry.pe,
            entry.simd,
        )?;
        out[k] = (entry.pe, entry.simd);
    }
    Ok(out)
}

/// The conv/dense nodes of `model` in evaluation order, and the stream floor: the largest
/// cycles per image of any engine at its fastest folding and, with `wide`, its widest beats
/// (pools, adds, forks, GAP), and of the input (one element per beat).
fn slots(
    model: &QuantModel,
    g: &Graph,
    wide: bool,
    hard: bool,
) -> Result<(Vec<Slot>, u64), PlanError> {
    let mut mvus = Vec::new();
    let mut floor = model.input.shape.iter().product::<usize>() as u64;
    for &i in &g.order {
        let node = &model.nodes[i];
        let ins: Vec<&inq_model::TensorInfo> = g.inputs[i].iter().map(|&s| g.info(s)).collect();
        let label = node_label(model, i);
        if let Some(geom) = mvu_geometry(&node.op, ins[0], &g.infos[i]) {
            let s = Slot {
                node: i,
                geom,
                depthwise: is_depthwise(&node.op),
                dense: matches!(node.op, Op::Dense(_)),
                label,
                need: (1, 1),
            };
            floor = floor.max(fastest(&s, wide, hard));
            mvus.push(s);
        } else {
            let cx = LowerCtx {
                label: &label,
                inputs: &ins,
                output: &g.infos[i],
                fold: None,
                flat_from: None,
            };
            if let Lowered::Engine(mut kind, _) = lower(&node.op, &cx)? {
                let c = kind.op().any_beat_caps();
                if wide {
                    // every kind at its widest beats (§2.1)
                    let out = if c.pass { c.input } else { c.out };
                    kind.op_mut().set_beats(c.input, out);
                }
                floor = floor.max(kind.op().cycles_per_image());
            }
        }
    }
    Ok((mvus, floor))
}

/// Plans the hardware for a (valid) model.
pub fn plan(model: &QuantModel, req: &FoldingRequest) -> Result<Design, PlanError> {
    plan_unrolled(model, req, &[])
}

/// Plans the hardware with the conv/dense nodes named in `unroll` (node names, or model node
/// indices as decimal text) fully unrolled ([`unrolled_fold`]: `PE = OC` and `SIMD = kh·kw·C`,
/// or `PE = C` and `SIMD = kh·kw` for a depthwise conv), so `NF·SF = 1` and their weights
/// become constants wired into the datapath: the hard-wired engine (`docs/hardware.md`
/// §4.1). The other nodes are folded by `req`: a lane budget counts only them, a throughput
/// target applies to them (and may hard-wire them too where that is cheaper), and an explicit
/// folding file may list an unrolled node only with the same `PE`/`SIMD`.
///
/// Any MVU whose folding has `NF·SF = 1` (whether from `unroll`, a folding file or a target)
/// gets constant weights.
pub fn plan_unrolled(
    model: &QuantModel,
    req: &FoldingRequest,
    unroll: &[String],
) -> Result<Design, PlanError> {
    plan_with(model, req, unroll, BeatChoice::One)
}

/// [`plan_unrolled`], then the beats of `beats` (`docs/hardware.md` §2.1,
/// [`crate::beats::choose_beats`]). With a throughput target and wide beats allowed, the
/// foldings count on wide beats, a node that no ROM-fed folding brings to the target becomes
/// the hard-wired engine, each stream gets the narrowest beat that meets the target, and a
/// design that still misses it is an error naming the slowest engines.
pub fn plan_with(
    model: &QuantModel,
    req: &FoldingRequest,
    unroll: &[String],
    beats: BeatChoice,
) -> Result<Design, PlanError> {
    let target = req.target_cycles();
    let wide = beats != BeatChoice::One && target.is_some();
    let mut design = plan_folded(model, req, unroll, wide)?;
    choose_beats(&mut design, beats, target);
    if let (true, Some(t)) = (wide, target) {
        let slow: Vec<String> = design
            .engines
            .iter()
            .filter(|e| e.cycles_per_image > t)
            .map(|e| format!("{} ({} cycles)", e.name, e.cycles_per_image))
            .collect();
        if !slow.is_empty() {
            return Err(PlanError::Target {
                message: format!(
                    "the target needs ≤ {t} cycles per image, but with the widest beats its neighbours allow {} still take longer",
                    slow.join(", ")
                ),
            });
        }
    }
    Ok(design)
}

/// The folding and the engine choice of [`plan_with`], before the beats.
fn plan_folded(
    model: &QuantModel,
    req: &FoldingRequest,
    unroll: &[String],
    wide: bool,
) -> Result<Design, PlanError> {
    let g = inq_model::validate::validate(model)?;
    let hard = matches!(
        req,
        FoldingRequest::Throughput {
            hard_wired: true,
            ..
        }
    );
    let (mut mvus, floor) = slots(model, &g, wide, hard)?;
    if let (true, Some(t)) = (wide, req.target_cycles()) {
        // the beats the target needs depend on the graph only: plan it with one lane each
        let minimal: HashMap<usize, (usize, usize)> =
            mvus.iter().map(|s| (s.node, (1, 1))).collect();
        let needs = crate::beats::needed_beats(&crate::graph::build(model, &g, &minimal)?, t);
        for s in &mut mvus {
            if let Some(&(_, ki, ko)) = needs.iter().find(|n| n.0 == s.node) {
                s.need = (ki, ko);
            }
        }
    }
    let folds = choose_folding(model, &mvus, floor, req, unroll, wide)?;
    let mut by_node = HashMap::new();
    for (s, &(pe, simd)) in mvus.iter().zip(&folds) {
        check_fold(&s.geom, s.depthwise, s.dense, &s.label, pe, simd)?;
        by_node.insert(s.node, (pe, simd));
    }
    let design = crate::graph::build(model, &g, &by_node)?;
    match req.target_cycles() {
        Some(t) if hard => prefer_hard_wired(model, &g, &mvus, t, by_node, design, wide),
        _ => Ok(design),
    }
}

/// Re-stages the adder trees of every hard-wired engine of `design` (`docs/hardware.md` §4.1,
/// "Pipelined adder trees") to stages of at most `levels_per_stage` adder levels (0: no
/// pipeline registers) instead of the plan's default
/// ([`crate::ops::pipeline::ADDER_LEVELS_PER_STAGE`]), and updates their estimates.
pub fn stage_adder_trees(design: &mut Design, levels_per_stage: u32) {
    for e in &mut design.engines {
        if let crate::ops::EngineKind::Mvu(m) = &mut e.kind {
            if m.is_constant() {
                m.stage_trees(e.io.in_width, levels_per_stage);
                e.resources = e.kind.op().resources(&e.io);
            }
        }
    }
}

/// The engine choice of a throughput target: every conv/dense node that is not yet
/// hard-wired becomes the hard-wired engine ([`unrolled_fold`], `docs/hardware.md` §4.1)
/// when that reaches `t` cycles per image and its LUT estimate is below the chosen ROM-fed
/// folding's, one node at a time in evaluation order. A node whose hard-wired engine cannot be
/// cheaper — about 0.4·(A + 1) LUTs per non-zero weight even after sharing, against what its
/// engine costs now — is not built.
fn prefer_hard_wired(
    model: &QuantModel,
    g: &Graph,
    mvus: &[Slot],
    t: u64,
    mut by_node: HashMap<usize, (usize, usize)>,
    mut design: Design,
    wide: bool,
) -> Result<Design, PlanError> {
    let luts_of = |d: &Design, node: usize| -> Option<(u64, bool)> {
        d.engines.iter().find(|e| e.node == Some(node)).map(|e| {
            let constant = matches!(&e.kind, crate::ops::EngineKind::Mvu(m) if m.is_constant());
            (e.resources.luts, constant)
        })
    };
    for s in mvus {
        let Some((now, constant)) = luts_of(&design, s.node) else {
            continue;
        };
        let fold = unrolled_fold(&s.geom, s.depthwise);
        if constant || slot_cycles(s, fold.0, fold.1, wide) > t {
            continue;
        }
        let (weights, in_fmt) = match (&model.nodes[s.node].op, g.inputs[s.node].first()) {
            (Op::Conv(c), Some(&src)) => (&c.weights, g.info(src).format),
            (Op::Dense(d), Some(&src)) => (&d.weights, g.info(src).format),
            _ => continue,
        };
        let nonzero = weights
            .decode_all()
            .iter()
            .filter(|w| !matches!(w, inq_model::numerics::Weight::Zero))
            .count();
        let bits = u64::from(in_fmt.map_or(8, |f| f.bits));
        if nonzero as u64 * (bits + 1) * 2 / 5 >= now {
            continue;
        }
        let mut trial = by_node.clone();
        trial.insert(s.node, fold);
        let candidate = crate::graph::build(model, g, &trial)?;
        if luts_of(&candidate, s.node).is_some_and(|(l, c)| c && l < now) {
            by_node = trial;
            design = candidate;
        }
    }
    Ok(design)
}
