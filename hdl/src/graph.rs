//! From a model graph to the hardware graph: one engine per computing node ([`lower`]), a
//! fork wherever a tensor has more than one reader, a stream (with its FIFO) per connection,
//! the FIFO depths (`docs/hardware.md` §2.2, including the skip rule for fork outputs), the
//! taps and the output stage.
//!
//! The folding of each conv/dense node is an input ([`crate::plan()`] chooses it).

use std::collections::HashMap;

use inq_model::graph::node_label;
use inq_model::{Graph, QuantModel, Source};

use crate::design::{
    Design, Endpoint, Engine, InputStream, OutputStage, Stream, Tap, DESIGN_FORMAT, DESIGN_VERSION,
};
use crate::error::PlanError;
use crate::ops::{lower, EngineKind, Fork, Io, LowerCtx, Lowered};
use crate::resources::clog2;

/// Where a node's output (or the input) is read: input `port` of node `node`, or the output
/// stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    Node { node: usize, port: usize },
    Output,
}

/// What produces the stream of a tensor.
#[derive(Debug, Clone, Copy)]
struct Producer {
    /// `None`: the input port; `Some(e)`: engine `e`'s output.
    engine: Option<usize>,
    width: u32,
    signed: bool,
    elements: usize,
    /// The `[C, H, W]` map whose HWC order the stream is in (for a vector after a flatten).
    map: Option<[usize; 3]>,
}

/// The readers of a tensor, through flatten nodes (which have no engine).
fn readers(m: &QuantModel, g: &Graph, src: Source, out: &mut Vec<Reader>) {
    for u in g.uses_of(src) {
        if matches!(m.nodes[u.node].op, inq_model::Op::Flatten(_)) {
            readers(m, g, Source::Node(u.node), out);
        } else {
            out.push(Reader::Node {
                node: u.node,
                port: u.port,
            });
        }
    }
    if src == Source::Node(g.output) {
        out.push(Reader::Output);
    }
}

fn next_pow2(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// The default FIFO depth after a producer: `max(2, next_pow2(PE))` after an MVU (its `PE`
/// results leave back to back), 2 otherwise.
pub(crate) fn base_depth(kind: Option<&EngineKind>) -> usize {
    match kind {
        Some(EngineKind::Mvu(mv)) => next_pow2(mv.pe / mv.out_beat.max(1)).max(2),
        _ => 2,
    }
}

/// Builds the design of `m` (validated as `g`) with `folds[node] = (PE, SIMD)` for every
/// conv/dense node.
pub fn build(
    m: &QuantModel,
    g: &Graph,
    folds: &HashMap<usize, (usize, usize)>,
) -> Result<Design, PlanError> {
    let mut engines: Vec<Engine> = Vec::new();
    // producer of every tensor: index 0..n for nodes, n for the input
    let n = m.nodes.len();
    let mut prod: Vec<Option<Producer>> = vec![None; n + 1];
    let idx = |s: Source| match s {
        Source::Input => n,
        Source::Node(i) => i,
    };
    let in_fmt = m.input.format;
    prod[n] = Some(Producer {
        engine: None,
        width: in_fmt.bits,
        signed: in_fmt.signed,
        elements: m.input.shape.iter().product(),
        map: Some(m.input.shape),
    });
    let mut node_engine: HashMap<usize, usize> = HashMap::new();
    // forks: producer tensor → fork engine
    let mut fork_of: HashMap<usize, usize> = HashMap::new();
    let make_fork = |src: Source,
                     p: &Producer,
                     count: usize,
                     engines: &mut Vec<Engine>,
                     fork_of: &mut HashMap<usize, usize>| {
        let name = match src {
            Source::Input => format!("{}_fork", m.input.name),
            Source::Node(i) => format!("{}_fork", m.nodes[i].name),
        };
        let kind = EngineKind::Fork(Fork {
            outputs: count,
            elements: p.elements,
            beat: 1,
        });
        let io = Io {
            in_width: p.width,
            in_signed: p.signed,
            out_width: p.width,
            out_signed: p.signed,
        };
        let cycles = kind.op().cycles_per_image();
        let resources = kind.op().resources(&io);
        engines.push(Engine {
            node: None,
            name,
            op: "fork".into(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            io,
            kind,
            cycles_per_image: cycles,
            resources,
        });
        fork_of.insert(idx(src), engines.len() - 1);
    };
    let mut input_readers = Vec::new();
    readers(m, g, Source::Input, &mut input_readers);
    if input_readers.len() > 1 {
        let p = prod[n].expect("input producer");
        make_fork(
            Source::Input,
            &p,
            input_readers.len(),
            &mut engines,
            &mut fork_of,
        );
    }
    for &i in &g.order {
        let node = &m.nodes[i];
        let label = node_label(m, i);
        let ins: Vec<&inq_model::TensorInfo> = g.inputs[i].iter().map(|&s| g.info(s)).collect();
        let first = prod[idx(g.inputs[i][0])]
            .ok_or_else(|| PlanError::Internal(format!("{label}: input not planned")))?;
        let flat_from = if ins[0].shape.len() == 1 {
            first.map
        } else {
            None
        };
        let cx = LowerCtx {
            label: &label,
            inputs: &ins,
            output: &g.infos[i],
            fold: folds.get(&i).copied(),
            flat_from,
        };
        match lower(&node.op, &cx)? {
            Lowered::Alias => {
                // the stream stays; it now stands for a vector in the HWC order of its map
                prod[i] = Some(Producer {
                    map: if ins[0].shape.len() == 3 {
                        Some([ins[0].shape[0], ins[0].shape[1], ins[0].shape[2]])
                    } else {
                        first.map
                    },
                    ..first
                });
                continue;
            }
            Lowered::Engine(kind, io) => {
                let kind = *kind;
                let op = kind.op();
                let cycles = op.cycles_per_image();
                let resources = op.resources(&io);
                let info = &g.infos[i];
                engines.push(Engine {
                    node: Some(i),
                    name: node.name.clone(),
                    op: node.op.name().to_string(),
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    io,
                    kind,
                    cycles_per_image: cycles,
                    resources,
                });
                let e = engines.len() - 1;
                node_engine.insert(i, e);
                let p = Producer {
                    engine: Some(e),
                    width: io.out_width,
                    signed: io.out_signed,
                    elements: info.elements(),
                    map: match info.shape.as_slice() {
                        [c, h, w] => Some([*c, *h, *w]),
                        _ => None,
                    },
                };
                prod[i] = Some(p);
                let mut r = Vec::new();
                readers(m, g, Source::Node(i), &mut r);
                if r.len() > 1 {
                    make_fork(Source::Node(i), &p, r.len(), &mut engines, &mut fork_of);
                }
            }
        }
    }

    // streams: the input's first, then every producer's in engine order
    let mut streams: Vec<Stream> = Vec::new();
    let mut producers: Vec<Source> = vec![Source::Input];
    producers.extend(
        g.order
            .iter()
            .copied()
            .filter(|i| node_engine.contains_key(i))
            .map(Source::Node),
    );
    let mut output_stream = None;
    for src in producers {
        let p = prod[idx(src)].ok_or_else(|| PlanError::Internal("producer".into()))?;
        let mut rs = Vec::new();
        readers(m, g, src, &mut rs);
        let from = match p.engine {
            None => Endpoint::Input,
            Some(e) => Endpoint::Engine { engine: e, port: 0 },
        };
        let depth = match p.engine {
            None => 2,
            Some(e) => base_depth(Some(&engines[e].kind)),
        };
        let mut connect = |from: Endpoint,
                           r: Reader,
                           depth: usize,
                           skip: bool,
                           engines: &mut Vec<Engine>,
                           streams: &mut Vec<Stream>|
         -> Result<(), PlanError> {
            let s = streams.len();
            let to = match r {
                Reader::Node { node, port } => {
                    let e = *node_engine.get(&node).ok_or_else(|| {
                        PlanError::Internal(format!("{}: no engine", node_label(m, node)))
                    })?;
                    let ins = &mut engines[e].inputs;
                    if ins.len() <= port {
                        ins.resize(port + 1, usize::MAX);
                    }
                    ins[port] = s;
                    Endpoint::Engine { engine: e, port }
                }
                Reader::Output => {
                    output_stream = Some(s);
                    Endpoint::Output
                }
            };
            if let Endpoint::Engine { engine, port } = from {
                let outs = &mut engines[engine].outputs;
                if outs.len() <= port {
                    outs.resize(port + 1, usize::MAX);
                }
                outs[port] = s;
            }
            streams.push(Stream {
                from,
                to,
                width: p.width,
                signed: p.signed,
                elements_per_image: p.elements,
                beat: 1,
                depth,
                skip,
            });
            Ok(())
        };
        if rs.len() == 1 {
            connect(from, rs[0], depth, false, &mut engines, &mut streams)?;
        } else {
            let f = *fork_of
                .get(&idx(src))
                .ok_or_else(|| PlanError::Internal("fork".into()))?;
            // producer → fork
            let s = streams.len();
            if let Endpoint::Engine { engine, .. } = from {
                engines[engine].outputs = vec![s];
            }
            engines[f].inputs = vec![s];
            streams.push(Stream {
                from,
                to: Endpoint::Engine { engine: f, port: 0 },
                width: p.width,
                signed: p.signed,
                elements_per_image: p.elements,
                beat: 1,
                depth,
                skip: false,
            });
            for (k, r) in rs.iter().enumerate() {
                connect(
                    Endpoint::Engine { engine: f, port: k },
                    *r,
                    2,
                    true,
                    &mut engines,
                    &mut streams,
                )?;
            }
        }
    }
    for (e, en) in engines.iter().enumerate() {
        if en.inputs.contains(&usize::MAX)
            || en.inputs.len() != en.op().inputs()
            || en.outputs.len() != en.op().outputs()
        {
            return Err(PlanError::Internal(format!(
                "engine {e} ({}) is not fully connected",
                en.name
            )));
        }
    }
    size_skip_fifos(&engines, &mut streams);

    // taps: the input, then every node's stream
    let mut taps = vec![Tap {
        node: None,
        name: m.input.name.clone(),
        stream: 0,
        at_fifo_output: true,
        width: in_fmt.bits,
        signed: in_fmt.signed,
        shape: m.input.shape.to_vec(),
        elements_per_image: m.input.shape.iter().product(),
    }];
    for (i, node) in m.nodes.iter().enumerate() {
        let p = prod[i].ok_or_else(|| PlanError::Internal("tap producer".into()))?;
        let stream = match p.engine {
            None => 0,
            Some(e) => engines[e].outputs[0],
        };
        let info = &g.infos[i];
        taps.push(Tap {
            node: Some(i),
            name: node.name.clone(),
            stream,
            at_fifo_output: p.engine.is_none(),
            width: p.width,
            signed: p.signed,
            shape: info.shape.clone(),
            elements_per_image: info.elements(),
        });
    }
    let out_s = output_stream.ok_or_else(|| PlanError::Internal("no output stream".into()))?;
    let count = streams[out_s].elements_per_image;
    let output = OutputStage {
        count,
        width: streams[out_s].width,
        idx_width: clog2(count as u64),
        stream: out_s,
    };
    Ok(Design {
        format: DESIGN_FORMAT.to_string(),
        version: DESIGN_VERSION,
        model_name: m.name.clone(),
        model_hash: m.hash(),
        top: "inq_top".to_string(),
        input: InputStream {
            shape: m.input.shape,
            width: in_fmt.bits,
            signed: in_fmt.signed,
        },
        engines,
        streams,
        output,
        taps,
    })
}

/// The skip rule (`docs/hardware.md` §2.2): the FIFO of each fork output must hold what every
/// other branch can absorb before the branches meet again, so that the fork never waits for
/// room on one branch while another needs more input to produce what the join waits for.
///
/// A branch's reach is the longest path through the engines only it reaches (up to the
/// engine where it meets another branch), adding each engine's held elements
/// ([`crate::ops::EngineOp::held_elements`], converted to elements of the forked stream by the ratio of
/// the stream's elements per image to the engine's input elements) and the depth of each
/// FIFO on the way. Output `k` gets `max(2, max_{j≠k} reach_j + 2)`. Forks are sized from the
/// output end so that nested forks' depths are known.
pub fn size_skip_fifos(engines: &[Engine], streams: &mut [Stream]) {
    let ne = engines.len();
    for f in (0..ne).rev() {
        let EngineKind::Fork(_) = &engines[f].kind else {
            continue;
        };
        let forked = engines[f].op().in_elements().max(1) as f64;
        let outs = engines[f].outputs.clone();
        // engines reachable from each branch
        let reach_sets: Vec<Vec<bool>> = outs
            .iter()
            .map(|&s| {
                let mut seen = vec![false; ne];
                let mut stack: Vec<usize> = match streams[s].to {
                    Endpoint::Engine { engine, .. } => vec![engine],
                    _ => Vec::new(),
                };
                while let Some(e) = stack.pop() {
                    if seen[e] {
                        continue;
                    }
                    seen[e] = true;
                    for &o in &engines[e].outputs {
                        if let Endpoint::Engine { engine, .. } = streams[o].to {
                            stack.push(engine);
                        }
                    }
                }
                seen
            })
            .collect();
        let reach: Vec<f64> = outs
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let exclusive = |e: usize| {
                    reach_sets[k][e] && reach_sets.iter().enumerate().all(|(j, r)| j == k || !r[e])
                };
                // longest path over exclusive engines, in reverse engine order (topological)
                let mut best = vec![0f64; ne];
                for e in (0..ne).rev() {
                    if !exclusive(e) {
                        continue;
                    }
                    let en = &engines[e];
                    let ratio = forked / en.op().in_elements().max(1) as f64;
                    let own = en.op().held_elements() as f64 * ratio;
                    let after = en
                        .outputs
                        .iter()
                        .map(|&o| {
                            let next = match streams[o].to {
                                Endpoint::Engine { engine, .. } if exclusive(engine) => {
                                    best[engine]
                                }
                                _ => 0.0,
                            };
                            (streams[o].depth * streams[o].beat) as f64 * ratio + next
                        })
                        .fold(0.0, f64::max);
                    best[e] = own + after;
                }
                match streams[s].to {
                    Endpoint::Engine { engine, .. } if exclusive(engine) => best[engine],
                    _ => 0.0,
                }
            })
            .collect();
        for (k, &s) in outs.iter().enumerate() {
            let other = reach
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, &r)| r)
                .fold(0.0, f64::max);
            // in beats of the forked stream (`docs/hardware.md` §2.1)
            let k = streams[s].beat.max(1);
            streams[s].depth = ((other.ceil() as usize).div_ceil(k) + 2).max(2);
            streams[s].skip = true;
        }
    }
}
