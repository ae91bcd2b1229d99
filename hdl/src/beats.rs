//! Wide beats (`docs/hardware.md` §2.1): how many elements each stream carries per beat.
//!
//! [`widen_beats`] gives every stream the widest beat both of its ends can take and updates
//! the engines and FIFOs that follow from it; [`widen_beats_to`] the narrowest that meet a
//! throughput target; [`choose_beats`] picks between them (`inq gen --beats`). Which beats a
//! kind can take is the kind's own business ([`EngineOp::beat_caps`], in its file: MVUs,
//! pools — tiled or line-buffered —, forks, adders and the GAP unit's input take wide beats);
//! the input port and the output stage take one element per beat.
//!
//! Owns only the choice; not here: what a beat is on the wires (the contract in
//! `docs/hardware.md`), each kind's cycles with its beats (`ops/*.rs`), the FIFO rule
//! ([`crate::graph`]).

use crate::design::{Design, Endpoint};
use crate::graph::{base_depth, size_skip_fifos};
use crate::ops::{BeatCaps, EngineOp};

/// The beats an engine takes as folded ([`EngineOp::beat_caps`]).
const CAPS: fn(&dyn EngineOp) -> BeatCaps = |op| op.beat_caps();

/// The beats an engine could take with any folding ([`EngineOp::any_beat_caps`]).
const ANY_CAPS: fn(&dyn EngineOp) -> BeatCaps = |op| op.any_beat_caps();

/// The widest beats of [`widen_beats`] under the capabilities `caps_of` (without changing the
/// design).
fn widest_under(design: &Design, caps_of: fn(&dyn EngineOp) -> BeatCaps) -> Vec<usize> {
    let ns = design.streams.len();
    let mut in_cap: Vec<usize> = design
        .engines
        .iter()
        .map(|e| caps_of(e.op()).input)
        .collect();
    let mut beat = vec![1usize; ns];
    // every round that changes something lowers an `in_cap` to a proper divisor, so this ends
    loop {
        for s in 0..ns {
            let st = &design.streams[s];
            let produce = match st.from {
                Endpoint::Engine { engine, .. } => {
                    let c = caps_of(design.engines[engine].op());
                    if c.pass {
                        design.engines[engine]
                            .inputs
                            .first()
                            .map_or(1, |&i| beat[i])
                    } else {
                        c.out
                    }
                }
                _ => 1,
            };
            let accept = match st.to {
                Endpoint::Engine { engine, .. } => in_cap[engine],
                _ => 1,
            };
            beat[s] = gcd(produce, accept);
        }
        // a pass-through engine whose ports differ (an output narrower than its input, or
        // two inputs of an adder) narrows its inputs to what every port has
        let mut changed = false;
        for (e, en) in design.engines.iter().enumerate() {
            if !caps_of(en.op()).pass {
                continue;
            }
            let ports: Vec<usize> = en.inputs.iter().chain(&en.outputs).copied().collect();
            if ports.iter().any(|&s| beat[s] != beat[ports[0]]) {
                let common = ports.iter().fold(in_cap[e], |a, &s| gcd(a, beat[s]));
                if common != in_cap[e] {
                    in_cap[e] = common;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    beat
}

/// The beats a throughput target of `t` cycles per image needs on every stream of `design`
/// (any folding: only the graph matters): per stream the narrowest divisor of the widest beat
/// its ends could take with which an image is at most `t` beats, made equal on the streams of
/// a pass-through engine (their least common multiple). Per model node with an engine, the
/// beats its (first) input and output streams need: an MVU's folding must take them (`KI`
/// dividing its lane banks, `KO` dividing `PE`).
pub(crate) fn needed_beats(design: &Design, t: u64) -> Vec<(usize, usize, usize)> {
    let widest = widest_under(design, ANY_CAPS);
    let mut need: Vec<usize> = design
        .streams
        .iter()
        .zip(&widest)
        .map(|(st, &w)| narrowest(w, st.elements_per_image, t))
        .collect();
    loop {
        let mut changed = false;
        for en in &design.engines {
            if !ANY_CAPS(en.op()).pass {
                continue;
            }
            let ports: Vec<usize> = en.inputs.iter().chain(&en.outputs).copied().collect();
            let l = ports.iter().fold(1, |a, &s| lcm(a, need[s]));
            for &s in &ports {
                if need[s] != l {
                    need[s] = l;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    design
        .engines
        .iter()
        .filter_map(|e| {
            e.node.map(|node| {
                (
                    node,
                    e.inputs.first().map_or(1, |&i| need[i]),
                    e.outputs.first().map_or(1, |&o| need[o]),
                )
            })
        })
        .collect()
}

/// The narrowest divisor of `widest` with which `elements` take at most `t` beats (`widest`
/// when none does).
fn narrowest(widest: usize, elements: usize, t: u64) -> usize {
    (1..=widest)
        .find(|&k| widest.is_multiple_of(k) && (elements as u64).div_ceil(k as u64) <= t)
        .unwrap_or(widest)
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

/// How wide the plan makes the beats (`inq gen --beats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BeatChoice {
    /// One element per beat everywhere.
    One,
    /// The widest beats every stream's ends take ([`widen_beats`]).
    Widest,
    /// With a throughput target, the narrowest beats (among those the ends take) with which
    /// every stream moves an image in at most the target interval ([`widen_beats_to`]); one
    /// element per beat without a target.
    #[default]
    Auto,
}

/// Applies `choice` to `design`, whose throughput target is `target` cycles per image (when
/// it has one). Returns the streams wider than one element.
pub fn choose_beats(
    design: &mut Design,
    choice: BeatChoice,
    target: Option<u64>,
) -> Vec<StreamBeat> {
    match (choice, target) {
        (BeatChoice::One, _) | (BeatChoice::Auto, None) => Vec::new(),
        (BeatChoice::Widest, _) => widen_beats(design),
        (BeatChoice::Auto, Some(t)) => widen_beats_to(design, Some(t)),
    }
}

/// One stream's beat summarised for `inq gen`'s report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamBeat {
    /// Stream index.
    pub stream: usize,
    /// Elements per beat.
    pub beat: usize,
    /// Beats per image.
    pub beats_per_image: usize,
}

/// Gives every stream of `design` the widest beat that both of its ends take (`docs/hardware.md`
/// §2.1): a hard-wired MVU emits up to all `PE` results of a pixel per beat and takes up to
/// `C` channels of a pixel per beat, a pooling unit (tiled or line-buffered) passes up to `C`
/// channels per beat (the same in and out), and so on per kind ([`EngineOp::beat_caps`]); the
/// input port and the output stage take one element per beat. Then it updates each
/// engine's beats, cycles and resources, the FIFO depths after an MVU (in beats) and the skip
/// FIFOs. Returns the streams wider than one element.
pub fn widen_beats(design: &mut Design) -> Vec<StreamBeat> {
    widen_beats_to(design, None)
}

/// [`widen_beats`], but with `target` (cycles per image) each stream takes the narrowest beat
/// that divides its widest one and moves an image in at most `target` beats (the widest when
/// none does); a pass-through engine's outputs take its input's beat. `None`: the widest.
pub fn widen_beats_to(design: &mut Design, target: Option<u64>) -> Vec<StreamBeat> {
    let ns = design.streams.len();
    let mut beat = widest_under(design, CAPS);
    if let Some(t) = target {
        // streams are listed producer by producer in engine (topological) order, so a
        // pass-through engine's input stream is decided before its outputs
        for s in 0..ns {
            let st = &design.streams[s];
            let pass_input = match st.from {
                Endpoint::Engine { engine, .. } if CAPS(design.engines[engine].op()).pass => {
                    design.engines[engine].inputs.first().copied()
                }
                _ => None,
            };
            beat[s] = match pass_input {
                Some(i) => beat[i],
                None => narrowest(beat[s], st.elements_per_image, t),
            };
        }
    }
    apply_beats(design, &beat);
    design
        .streams
        .iter()
        .enumerate()
        .filter(|(_, s)| s.beat > 1)
        .map(|(i, s)| StreamBeat {
            stream: i,
            beat: s.beat,
            beats_per_image: s.elements_per_image / s.beat,
        })
        .collect()
}

/// Sets the beats of every stream and of the engines at its ends, then the cycles, resources
/// and FIFO depths that follow.
fn apply_beats(design: &mut Design, beat: &[usize]) {
    for (s, &k) in beat.iter().enumerate() {
        design.streams[s].beat = k;
    }
    for e in 0..design.engines.len() {
        let kin = design.engines[e].inputs.first().map_or(1, |&i| beat[i]);
        let kout = design.engines[e].outputs.first().map_or(1, |&o| beat[o]);
        let en = &mut design.engines[e];
        en.kind.op_mut().set_beats(kin, kout);
        en.cycles_per_image = en.kind.op().cycles_per_image();
        en.resources = en.kind.op().resources(&en.io);
    }
    for s in 0..design.streams.len() {
        if let Endpoint::Engine { engine, .. } = design.streams[s].from {
            if !design.streams[s].skip {
                design.streams[s].depth = base_depth(Some(&design.engines[engine].kind));
            }
        }
    }
    size_skip_fifos(&design.engines, &mut design.streams);
}
