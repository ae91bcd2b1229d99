//! From a `QuantModel` and a `FoldingRequest` to a `Design`.

use inq_model::numerics::{self, Weight};
use inq_model::{ActFormat, Layer, Output, QuantModel};

use crate::design::*;
use crate::folding::{Folding, FoldingRequest};
use crate::resources::{clog2, mvu_resources, pool_resources};
use crate::PlanError;

/// A layer that becomes an engine, before folding.
#[derive(Debug, Clone)]
struct Slot {
    layer: usize,
    geom: Geometry,
    is_mvu: bool,
}

/// Describes layer `i` for error messages.
fn layer_label(model: &QuantModel, i: usize) -> String {
    let name: String = model.layers[i]
        .name()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    format!("layers[{i}] \"{name}\" ({})", model.layers[i].op())
}

fn next_pow2(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// Cycles per image of an MVU with this folding in isolation (input offered at one element per
/// cycle, output never blocked): [`engine_cycles`] with `OW·NF·max(SF, PE)` compute cycles
/// per output row (a fold takes `max(SF, PE)` cycles: its `PE` results leave one per cycle).
pub fn mvu_cycles(g: &Geometry, pe: usize, simd: usize) -> u64 {
    let nf = (g.oc / pe.max(1)) as u64;
    let sf = ((g.kh * g.kw * g.c) / simd.max(1)) as u64;
    let row = g.ow as u64 * nf * sf.max(pe as u64);
    engine_cycles(g, row)
}

/// Cycles per image of a pooling unit in isolation: `OW·C` cycles per output row.
pub fn pool_cycles(g: &Geometry) -> u64 {
    engine_cycles(g, (g.ow * g.c) as u64)
}

/// Steady-state cycles per image of a sliding-window engine (`docs/hardware.md` §4/§5, §9)
/// whose compute side needs `row_cycles` back-to-back fire cycles per output row, when its
/// input is offered at one element per cycle and its output is never blocked.
///
/// A row-level event model of the state machine, exact at row granularity: input row `r` of
/// image `k` (global row `G = k·H + r`) is received in `W·C` consecutive cycles once
/// `in_ready` allows it, i.e. once `G < kc·H + min(NR + max(0, lo), 2H)` for the compute
/// side's image `kc` and output row (`lo = oy·sh − pt`); after an image's last element the
/// input side spends one cycle in `iy = H` (`img_wrap`). Output row `oy` starts when its
/// `need = min(H, lo + kh)` rows are complete and the previous row's last fire is done. The
/// result is the mean distance of the last fires of images 3..6 of a free-running engine
/// (the schedule is periodic by then). It covers the input bound `C·H·W + 1`, the compute
/// bound `OH·row_cycles`, and the waits between them (rows the line buffer cannot accept
/// ahead, the compute's lag behind the last input row).
pub fn engine_cycles(g: &Geometry, row_cycles: u64) -> u64 {
    const IMAGES: usize = 6;
    const MEASURED: usize = 3;
    let h = g.h.max(1) as i64;
    let oh = g.oh.max(1);
    let wc = (g.w * g.c).max(1) as u64;
    let nr = g.nr.max(1) as i64;
    let lo = |oy: usize| (oy * g.sh) as i64 - g.pad[0] as i64;
    let need = |oy: usize| h.min(lo(oy) + g.kh as i64).max(1);
    // in_ready bound on the global row while the compute side is at (kc, oy)
    let limit = |kc: usize, oy: usize| kc as i64 * h + (nr + lo(oy).max(0)).min(2 * h);
    // completion edge of every input row received so far
    let mut row_done: Vec<u64> = Vec::with_capacity(IMAGES * g.h);
    // compute side: (image, row) of the next output row, cycle its state became visible
    let (mut kc, mut oy, mut c_free) = (0usize, 0usize, 0u64);
    // threshold changes: (cycle from which it applies, limit)
    let mut limits: Vec<(u64, i64)> = vec![(0, limit(0, 0))];
    let mut in_free = 0u64; // first cycle the next input row may start
    let mut last_fire: Vec<u64> = Vec::with_capacity(IMAGES);
    let total_rows = IMAGES as i64 * h;
    while last_fire.len() < IMAGES {
        let next_g = row_done.len() as i64;
        let cur_limit = limits.last().map_or(0, |l| l.1);
        if next_g < total_rows && next_g < cur_limit {
            // the input row can be scheduled: it waits for the first limit above it
            let unblock = limits.iter().find(|l| l.1 > next_g).map_or(0, |l| l.0);
            let start = in_free.max(unblock);
            let done = start + wc - 1;
            row_done.push(done);
            in_free = if (next_g + 1) % h == 0 {
                done + 2
            } else {
                done + 1
            };
            continue;
        }
        // schedule the next output row (its rows are all scheduled: NR ≥ min(kh, H))
        let needed = kc as i64 * h + need(oy) - 1;
        let ready = row_done
            .get(needed.max(0) as usize)
            .map_or(u64::MAX, |&t| t + 1);
        if ready == u64::MAX {
            // cannot happen for a valid geometry; fall back to the closed form
            return (g.in_elements() as u64 + 1).max(oh as u64 * row_cycles);
        }
        let start = c_free.max(ready);
        let fire_end = start + row_cycles.max(1) - 1;
        c_free = fire_end + 1;
        if oy + 1 == oh {
            last_fire.push(fire_end);
            kc += 1;
            oy = 0;
        } else {
            oy += 1;
        }
        limits.push((c_free, limit(kc, oy)));
    }
    let n = last_fire.len();
    (last_fire[n - 1] - last_fire[n - 1 - MEASURED]).div_ceil(MEASURED as u64)
}

/// Line-buffer rows of a sliding-window engine (`docs/hardware.md` §4): `NR = max(kh + sh,
/// held + max(need0, min(sh, H)))`. `kh + sh` rows let the next output row's rows arrive while
/// the current one is computed; `held = H − max(0, lo_last)` rows (`lo_last = (OH−1)·sh − pt`)
/// stay in the buffer during the image's last output row, and the next image's first output
/// row needs `need0 = min(H, kh − pt)` rows, so with this many rows they (and at least one
/// stride of rows) can be received during the last output row, and an engine never waits at
/// the image boundary for rows its producer could have delivered earlier. A dense layer gets
/// 2 (a double buffer), a global pooling `2H`.
pub fn line_buffer_rows(h: usize, kh: usize, sh: usize, pt: usize, oh: usize) -> usize {
    let lo_last = ((oh.max(1) - 1) * sh) as i64 - pt as i64;
    let held = (h as i64 - lo_last.max(0)).max(0) as usize;
    let need0 = kh.saturating_sub(pt).clamp(1, h.max(1));
    (kh + sh).max(held + need0.max(sh.min(h)))
}

fn divisors(n: usize) -> Vec<usize> {
    (1..=n).filter(|&d| n.is_multiple_of(d)).collect()
}

/// The legal `(PE, SIMD)` of an MVU with the fewest lanes whose cycles are at most `t`
/// (ties: fewer cycles, then smaller SIMD).
fn min_lanes_for(g: &Geometry, t: u64) -> Option<(usize, usize)> {
    let mut best: Option<(usize, u64, usize, usize)> = None;
    for pe in divisors(g.oc) {
        for simd in divisors(g.c) {
            let cyc = mvu_cycles(g, pe, simd);
            if cyc > t {
                continue;
            }
            let key = (pe * simd, cyc, simd, pe);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
    }
    best.map(|(_, _, simd, pe)| (pe, simd))
}

fn check_fold(model: &QuantModel, s: &Slot, pe: usize, simd: usize) -> Result<(), PlanError> {
    let g = &s.geom;
    let dense = matches!(model.layers[s.layer], Layer::Dense(_));
    let err = |message: String| PlanError::IllegalFolding {
        layer: layer_label(model, s.layer),
        message,
    };
    if pe == 0 || simd == 0 {
        return Err(err("PE and SIMD must be at least 1".into()));
    }
    if !g.oc.is_multiple_of(pe) {
        return Err(err(format!(
            "PE {pe} does not divide the {} output {}",
            g.oc,
            if dense { "features" } else { "channels" }
        )));
    }
    if !g.c.is_multiple_of(simd) {
        return Err(err(if dense {
            format!("SIMD {simd} does not divide the {} input features", g.c)
        } else {
            format!(
                "SIMD {simd} does not divide the {} input channels (this version requires SIMD | C so that the lanes of a fold share one window position; fan-in K = {})",
                g.c,
                g.c * g.kh * g.kw
            )
        }));
    }
    Ok(())
}

/// The fully unrolled folding `(PE, SIMD) = (OC, K·K·C)` of an MVU, or why this version
/// cannot unroll it: a constant-weight engine needs `NF·SF = 1`, and since the lanes of a fold
/// share one kernel position (`SIMD | C`), only dense layers and 1×1 convolutions qualify.
fn unrolled_fold(model: &QuantModel, s: &Slot) -> Result<(usize, usize), PlanError> {
    let g = &s.geom;
    if g.kh * g.kw != 1 {
        return Err(PlanError::IllegalFolding {
            layer: layer_label(model, s.layer),
            message: format!(
                "cannot be fully unrolled: its {}×{} kernel would need SIMD = K·K·C = {} lanes spanning several kernel positions, but the lanes of a fold share one kernel position (SIMD | C = {}); only dense layers and 1×1 convolutions can have constant weights",
                g.kh,
                g.kw,
                g.kh * g.kw * g.c,
                g.c
            ),
        });
    }
    Ok((g.oc, g.c))
}

/// Index into `mvus` of the layer called `name` (a layer name, or a model layer index).
fn find_mvu(model: &QuantModel, mvus: &[&Slot], name: &str) -> Result<usize, PlanError> {
    let idx = model
        .layers
        .iter()
        .position(|l| l.name() == name)
        .or_else(|| {
            name.parse::<usize>()
                .ok()
                .filter(|&i| i < model.layers.len())
        });
    let names = || {
        mvus.iter()
            .map(|s| format!("\"{}\"", model.layers[s.layer].name().escape_debug()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(idx) = idx else {
        return Err(PlanError::Unroll {
            message: format!(
                "no layer named \"{}\" (conv/dense layers: {})",
                name.escape_debug(),
                names()
            ),
        });
    };
    mvus.iter()
        .position(|s| s.layer == idx)
        .ok_or_else(|| PlanError::Unroll {
            message: format!(
                "{} is not a conv or dense layer (conv/dense layers: {})",
                layer_label(model, idx),
                names()
            ),
        })
}

fn choose_folding(
    model: &QuantModel,
    slots: &[Slot],
    req: &FoldingRequest,
    unroll: &[String],
) -> Result<Vec<(usize, usize)>, PlanError> {
    let mvus: Vec<&Slot> = slots.iter().filter(|s| s.is_mvu).collect();
    // layers pinned to their fully unrolled folding
    let mut pinned: Vec<Option<(usize, usize)>> = vec![None; mvus.len()];
    for name in unroll {
        let k = find_mvu(model, &mvus, name)?;
        pinned[k] = Some(unrolled_fold(model, mvus[k])?);
    }
    let mut folds = choose_free(model, slots, &mvus, &pinned, req)?;
    for (k, p) in pinned.iter().enumerate() {
        if let Some(f) = p {
            if let FoldingRequest::Explicit(ex) = req {
                // an explicit entry for an unrolled layer must agree with it
                if folds[k] != *f && explicitly_listed(model, ex, mvus[k].layer) {
                    return Err(PlanError::Unroll {
                        message: format!(
                            "{} is both unrolled (PE×SIMD = {}×{}) and folded as {}×{} in the folding file",
                            layer_label(model, mvus[k].layer),
                            f.0,
                            f.1,
                            folds[k].0,
                            folds[k].1
                        ),
                    });
                }
            }
            folds[k] = *f;
        }
    }
    Ok(folds)
}

fn explicitly_listed(model: &QuantModel, f: &Folding, layer: usize) -> bool {
    f.layer
        .iter()
        .any(|e| e.index == Some(layer) || e.name.as_deref() == Some(model.layers[layer].name()))
}

/// The folding of every MVU chosen by `req`; a `pinned` layer's folding is fixed (it is not
/// counted against a lane budget, and a throughput target only applies to the others).
fn choose_free(
    model: &QuantModel,
    slots: &[Slot],
    mvus: &[&Slot],
    pinned: &[Option<(usize, usize)>],
    req: &FoldingRequest,
) -> Result<Vec<(usize, usize)>, PlanError> {
    // the layers the request chooses for (pinned ones keep their folding)
    let free: Vec<&Slot> = mvus
        .iter()
        .zip(pinned)
        .filter(|(_, p)| p.is_none())
        .map(|(s, _)| *s)
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
        FoldingRequest::Throughput { fps, clock_mhz } => {
            if !(fps.is_finite() && *fps > 0.0 && clock_mhz.is_finite() && *clock_mhz > 0.0) {
                return Err(PlanError::Target {
                    message: format!("fps {fps} and clock {clock_mhz} MHz must be positive"),
                });
            }
            let t = (clock_mhz * 1e6 / fps).floor() as u64;
            let floor = stream_floor(slots);
            if t < floor {
                return Err(PlanError::Target {
                    message: format!(
                        "{fps} images/s at {clock_mhz} MHz needs ≤ {t} cycles per image, but even the fastest folding (one element per beat on every stream) needs {floor} cycles: at most {:.1} images/s at this clock",
                        clock_mhz * 1e6 / floor as f64
                    ),
                });
            }
            let chosen = free
                .iter()
                .map(|s| {
                    min_lanes_for(&s.geom, t).ok_or_else(|| PlanError::Target {
                        message: format!(
                            "{} cannot reach {t} cycles per image with any folding",
                            layer_label(model, s.layer)
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
                        "lane budget {budget} is below the minimum of one lane per conv/dense layer ({}{})",
                        free.len(),
                        if free.len() < mvus.len() { ", not counting the unrolled layers" } else { "" }
                    ),
                });
            }
            let hi = free
                .iter()
                .map(|s| mvu_cycles(&s.geom, 1, 1))
                .chain(std::iter::once(stream_floor(slots)))
                .max()
                .unwrap_or(1);
            let lanes_at = |t: u64| -> Option<usize> {
                free.iter()
                    .map(|s| min_lanes_for(&s.geom, t).map(|(p, q)| p * q))
                    .sum::<Option<usize>>()
            };
            // smallest t whose minimal lane total fits the budget (monotone in t).
            let (mut lo, mut hi) = (stream_floor(slots), hi);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match lanes_at(mid) {
                    Some(l) if l <= *budget => hi = mid,
                    _ => lo = mid + 1,
                }
            }
            Ok(merge(
                free.iter()
                    .map(|s| min_lanes_for(&s.geom, lo).unwrap_or((1, 1)))
                    .collect(),
            ))
        }
    }
}

/// The lower bound on cycles per image: every engine at its fastest legal folding
/// (`PE = OC`, `SIMD = C`), which includes the one-element-per-beat streams.
fn stream_floor(slots: &[Slot]) -> u64 {
    slots
        .iter()
        .map(|s| {
            let g = &s.geom;
            if s.is_mvu {
                mvu_cycles(g, g.oc, g.c)
            } else {
                pool_cycles(g)
            }
        })
        .max()
        .unwrap_or(1)
}

fn explicit(
    model: &QuantModel,
    mvus: &[&Slot],
    f: &Folding,
) -> Result<Vec<(usize, usize)>, PlanError> {
    let mut out = vec![(1usize, 1usize); mvus.len()];
    let mut seen = vec![false; mvus.len()];
    for (n, entry) in f.layer.iter().enumerate() {
        let idx = match (&entry.name, entry.index) {
            (Some(name), None) => model
                .layers
                .iter()
                .position(|l| l.name() == name)
                .ok_or_else(|| PlanError::UnknownLayer {
                    entry: n,
                    message: format!("no layer named \"{}\"", name.escape_debug()),
                })?,
            (None, Some(i)) => {
                if i >= model.layers.len() {
                    return Err(PlanError::UnknownLayer {
                        entry: n,
                        message: format!(
                            "index {i} but the model has {} layers",
                            model.layers.len()
                        ),
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
        let Some(k) = mvus.iter().position(|s| s.layer == idx) else {
            return Err(PlanError::UnknownLayer {
                entry: n,
                message: format!("{} is not a conv or dense layer", layer_label(model, idx)),
            });
        };
        if seen[k] {
            return Err(PlanError::UnknownLayer {
                entry: n,
                message: format!("{} is folded twice", layer_label(model, idx)),
            });
        }
        seen[k] = true;
        check_fold(model, mvus[k], entry.pe, entry.simd)?;
        out[k] = (entry.pe, entry.simd);
    }
    Ok(out)
}

fn geometry_of(layer: &Layer, shape_in: &[usize], shape_out: &[usize]) -> Option<Geometry> {
    let g = match layer {
        Layer::Conv(l) => {
            let (c, h, w) = (shape_in[0], shape_in[1], shape_in[2]);
            Geometry {
                c,
                h,
                w,
                kh: l.kernel[0],
                kw: l.kernel[1],
                sh: l.stride[0],
                sw: l.stride[1],
                pad: l.pad,
                oc: l.out_channels,
                oh: shape_out[1],
                ow: shape_out[2],
                nr: line_buffer_rows(h, l.kernel[0], l.stride[0], l.pad[0], shape_out[1]),
            }
        }
        Layer::Dense(l) => Geometry {
            c: l.in_features,
            h: 1,
            w: 1,
            kh: 1,
            kw: 1,
            sh: 1,
            sw: 1,
            pad: [0; 4],
            oc: l.out_features,
            oh: 1,
            ow: 1,
            nr: line_buffer_rows(1, 1, 1, 0, 1),
        },
        Layer::MaxPool(p) | Layer::AvgPool(p) => {
            let (c, h, w) = (shape_in[0], shape_in[1], shape_in[2]);
            Geometry {
                c,
                h,
                w,
                kh: p.kernel[0],
                kw: p.kernel[1],
                sh: p.stride[0],
                sw: p.stride[1],
                pad: [0; 4],
                oc: c,
                oh: shape_out[1],
                ow: shape_out[2],
                nr: line_buffer_rows(h, p.kernel[0], p.stride[0], 0, shape_out[1]),
            }
        }
        Layer::GlobalAvgPool(_) => {
            let (c, h, w) = (shape_in[0], shape_in[1], shape_in[2]);
            Geometry {
                c,
                h,
                w,
                kh: h,
                kw: w,
                sh: h,
                sw: w,
                pad: [0; 4],
                oc: c,
                oh: 1,
                ow: 1,
                nr: line_buffer_rows(h, h, h, 0, 1),
            }
        }
        Layer::Flatten(_) => return None,
    };
    Some(g)
}

/// Plans the hardware for a (valid) model.
pub fn plan(model: &QuantModel, req: &FoldingRequest) -> Result<Design, PlanError> {
    plan_unrolled(model, req, &[])
}

/// Plans the hardware with the conv/dense layers named in `unroll` (layer names, or model
/// layer indices as decimal text) fully unrolled: `PE = OC`, `SIMD = C`, so `NF·SF = 1` and
/// their weights become constants wired into the datapath ([`WeightStorage::Constant`],
/// `docs/hardware.md` §4.1). Only dense layers and 1×1 convolutions can be unrolled (the lanes
/// of a fold share one kernel position). The other layers are folded by `req`: a lane budget
/// counts only them, a throughput target applies to them, and an explicit folding file may
/// list an unrolled layer only with the same `PE`/`SIMD`.
///
/// Any MVU whose folding has `NF·SF = 1` (whether from `unroll`, a folding file or a target)
/// gets constant weights.
pub fn plan_unrolled(
    model: &QuantModel,
    req: &FoldingRequest,
    unroll: &[String],
) -> Result<Design, PlanError> {
    inq_model::validate::validate(model)?;
    let shapes = inq_model::validate::shapes(model)?;
    let mut slots = Vec::new();
    for (i, layer) in model.layers.iter().enumerate() {
        if let Some(g) = geometry_of(layer, &shapes[i], &shapes[i + 1]) {
            slots.push(Slot {
                layer: i,
                geom: g,
                is_mvu: matches!(layer, Layer::Conv(_) | Layer::Dense(_)),
            });
        }
    }
    let folds = choose_folding(model, &slots, req, unroll)?;
    let mvu_slots: Vec<&Slot> = slots.iter().filter(|s| s.is_mvu).collect();
    for (s, &(pe, simd)) in mvu_slots.iter().zip(&folds) {
        check_fold(model, s, pe, simd)?;
    }

    let in_fmt0 = model.input.format;
    let mut fmt: ActFormat = in_fmt0;
    // Shape of the map a vector stream was flattened from (for the dense permutation).
    let mut flat_from: Option<[usize; 3]> = None;
    let mut engines: Vec<Engine> = Vec::new();
    let mut taps: Vec<Tap> = Vec::new();
    let mut cur_width = in_fmt0.bits;
    let mut cur_signed = in_fmt0.signed;
    let mut fold_iter = folds.iter();
    let mut slot_iter = slots.iter();
    for (i, layer) in model.layers.iter().enumerate() {
        let shape_in = &shapes[i];
        match layer {
            Layer::Flatten(_) => {
                if shape_in.len() == 3 && flat_from.is_none() {
                    flat_from = Some([shape_in[0], shape_in[1], shape_in[2]]);
                }
            }
            _ => {
                let slot = slot_iter
                    .next()
                    .ok_or_else(|| PlanError::Internal("slot count".into()))?;
                let g = slot.geom;
                let engine = match layer {
                    Layer::Conv(_) | Layer::Dense(_) => {
                        let &(pe, simd) = fold_iter
                            .next()
                            .ok_or_else(|| PlanError::Internal("fold count".into()))?;
                        let perm = if matches!(layer, Layer::Dense(_)) {
                            flat_from
                        } else {
                            None
                        };
                        build_mvu(model, i, g, fmt, pe, simd, perm)?
                    }
                    Layer::MaxPool(_) | Layer::AvgPool(_) | Layer::GlobalAvgPool(_) => {
                        build_pool(model, i, g, fmt)
                    }
                    Layer::Flatten(_) => {
                        return Err(PlanError::Internal("flatten has no engine".into()))
                    }
                };
                let out_act = match layer {
                    Layer::Conv(l) => l.output.act(),
                    Layer::Dense(l) => l.output.act(),
                    _ => None,
                };
                if let Some(f) = out_act {
                    fmt = f;
                }
                flat_from = None;
                cur_width = engine.out_width;
                cur_signed = engine.out_signed;
                engines.push(engine);
            }
        }
        let shape_out = shapes[i + 1].clone();
        taps.push(Tap {
            layer: i,
            name: layer.name().to_string(),
            engine: if engines.is_empty() {
                None
            } else {
                Some(engines.len() - 1)
            },
            width: cur_width,
            signed: cur_signed,
            elements_per_image: shape_out.iter().product(),
            shape: shape_out,
        });
    }
    let last = engines
        .last()
        .ok_or_else(|| PlanError::Internal("no engine".into()))?;
    let count = last.geom.out_elements();
    let output = OutputStage {
        count,
        width: last.out_width,
        idx_width: clog2(count as u64),
    };
    let mut fifos = vec![FifoSpec {
        width: in_fmt0.bits,
        depth: 2,
    }];
    for e in &engines {
        let pe = match &e.kind {
            EngineKind::Mvu(m) => m.pe,
            EngineKind::Pool(_) => 1,
        };
        fifos.push(FifoSpec {
            width: e.out_width,
            depth: next_pow2(pe).max(2),
        });
    }
    Ok(Design {
        format: DESIGN_FORMAT.to_string(),
        version: DESIGN_VERSION,
        model_name: model.name.clone(),
        model_hash: model.hash(),
        top: "inq_top".to_string(),
        input: InputStream {
            shape: model.input.shape,
            width: in_fmt0.bits,
            signed: in_fmt0.signed,
        },
        engines,
        fifos,
        output,
        taps,
    })
}

fn build_pool(model: &QuantModel, i: usize, g: Geometry, fmt: ActFormat) -> Engine {
    let layer = &model.layers[i];
    let mode = if matches!(layer, Layer::MaxPool(_)) {
        PoolMode::Max
    } else {
        PoolMode::Avg
    };
    let shift = match mode {
        PoolMode::Max => 0,
        PoolMode::Avg => numerics::log2_exact(g.kh * g.kw).unwrap_or(0),
    };
    let pool = Pool {
        mode,
        shift,
        sum_width: fmt.bits + shift + 1,
    };
    let resources = pool_resources(&g, &pool, fmt.bits);
    Engine {
        layer: i,
        name: layer.name().to_string(),
        op: layer.op().to_string(),
        geom: g,
        in_width: fmt.bits,
        in_signed: fmt.signed,
        out_width: fmt.bits,
        out_signed: fmt.signed,
        kind: EngineKind::Pool(pool),
        cycles_per_image: pool_cycles(&g),
        resources,
    }
}

fn build_mvu(
    model: &QuantModel,
    i: usize,
    g: Geometry,
    in_fmt: ActFormat,
    pe: usize,
    simd: usize,
    perm: Option<[usize; 3]>,
) -> Result<Engine, PlanError> {
    let layer = &model.layers[i];
    let (wt, bias, relu, output, pad_value) = match layer {
        Layer::Conv(l) => (&l.weights, &l.bias, l.relu, l.output, l.pad_value),
        Layer::Dense(l) => (&l.weights, &l.bias, l.relu, l.output, 0),
        _ => return Err(PlanError::Internal("not an MVU layer".into())),
    };
    let k = g.kh * g.kw * g.c;
    let nf = g.oc / pe;
    let sf = k / simd;
    let b = wt.bits;
    // model index of window index j (ky, kx, c order) for output o.
    let model_index = |o: usize, j: usize| -> usize {
        match layer {
            Layer::Conv(_) => {
                let c = j % g.c;
                let kk = j / g.c;
                let (ky, kx) = (kk / g.kw, kk % g.kw);
                ((o * g.c + c) * g.kh + ky) * g.kw + kx
            }
            _ => {
                let f = match perm {
                    Some([pc, ph, pw]) => {
                        // stream position j = (y·W + x)·C + c  →  feature (c·H + y)·W + x
                        let c = j % pc;
                        let yx = j / pc;
                        let (y, x) = (yx / pw, yx % pw);
                        (c * ph + y) * pw + x
                    }
                    None => j,
                };
                o * g.c + f
            }
        }
    };
    let mut weights = vec![0u8; g.oc * k];
    let mut k_max = 0u32;
    for p in 0..pe {
        for nfi in 0..nf {
            let o = nfi * pe + p;
            for sfi in 0..sf {
                for s in 0..simd {
                    let j = sfi * simd + s;
                    let code = *wt.codes.get(model_index(o, j)).ok_or_else(|| {
                        PlanError::Internal(format!(
                            "weight index out of range in {}",
                            layer_label(model, i)
                        ))
                    })?;
                    if let Ok(Weight::Pow2 { index, .. }) = wt.decode(code) {
                        k_max = k_max.max(index);
                    }
                    weights[(p * nf * sf + nfi * sf + sfi) * simd + s] = code;
                }
            }
        }
    }
    let x_max = in_fmt.max_abs().max(pad_value.abs());
    let mut acc_width = 1u32;
    for (row, &bo) in wt.codes.chunks(k.max(1)).zip(bias.iter()) {
        let bound = numerics::acc_bound_row_kind(wt.kind, row, b, bo, x_max);
        acc_width = acc_width.max(numerics::signed_width_for(bound));
    }
    // The RTL sign-extends products into the accumulator: keep it strictly wider than a product
    // (only matters when the weights are tiny or all zero).
    let mac = MacKind::of(wt.kind);
    let product_width = match mac {
        MacKind::Shift => in_fmt.bits + k_max + 1,
        MacKind::Multiply => in_fmt.bits + b,
    };
    acc_width = acc_width.max(product_width + 1);
    let (mvu_out, shift, out_width, out_signed, left_max) = match output {
        Output::Act { .. } => {
            let of = output
                .act()
                .ok_or_else(|| PlanError::Internal("act".into()))?;
            let shift: Vec<i32> = (0..g.oc)
                .map(|c| numerics::requant_shift(in_fmt, wt, c, of))
                .collect();
            let left = shift.iter().map(|&r| (-r).max(0)).max().unwrap_or(0) as u32;
            (
                MvuOutput::Act {
                    bits: of.bits,
                    signed: of.signed,
                    relu,
                },
                shift,
                of.bits,
                of.signed,
                left,
            )
        }
        Output::Logits => {
            let n2min = numerics::n2_min(wt, g.oc);
            let shift: Vec<i32> = (0..g.oc)
                .map(|c| -(numerics::n2_of(wt, c) - n2min))
                .collect();
            let left = shift.iter().map(|&r| -r).max().unwrap_or(0) as u32;
            (MvuOutput::Logits, shift, acc_width + left, true, left)
        }
    };
    let mvu = Mvu {
        mac,
        pad_value,
        pe,
        simd,
        nf,
        sf,
        code_bits: b,
        k_max,
        product_width,
        acc_width,
        // room for the rounding add and left shifts, and at least one bit above the output
        requant_width: (acc_width + 1 + left_max).max(out_width + 1),
        output: mvu_out,
        bias: bias.clone(),
        shift,
        weights,
        // constant weights are wired shifts: shift-add lanes only (a multiplier design keeps
        // its one-word ROMs when fully unrolled)
        weight_storage: if nf * sf == 1 && mac == MacKind::Shift {
            WeightStorage::Constant
        } else {
            WeightStorage::Rom
        },
    };
    let resources = mvu_resources(&g, &mvu, in_fmt.bits, out_width);
    Ok(Engine {
        layer: i,
        name: layer.name().to_string(),
        op: layer.op().to_string(),
        geom: g,
        in_width: in_fmt.bits,
        in_signed: in_fmt.signed,
        out_width,
        out_signed,
        kind: EngineKind::Mvu(mvu),
        cycles_per_image: mvu_cycles(&g, pe, simd),
        resources,
    })
}
