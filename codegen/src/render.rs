//! The `Design` → the files of a design folder: the top level `inq_top` (one `inq_fifo` per
//! stream, the engines' instances from [`crate::engines`], the output stage, the stream and
//! tap wires), the shared modules each engine kind needs (once per design), the engines' own
//! files, and the constraints.
//!
//! Wire names (`docs/hardware.md` §2): the producer side of stream `s` is `s<s>_tdata`,
//! `s<s>_tvalid`, `s<s>_tready` (stream 0: the `s_axis_*` ports), the FIFO output side
//! `q<s>_*`. A node's tap is the producer side of the stream its engine writes, the input's tap
//! `q0_*`. Instances: FIFOs `u_fifo_<s>`, engines `u_e<e>_<sanitized node name>`, the output
//! stage `u_out`.

use askama::Template;
use inq_hdl::{Design, Endpoint};
use inq_model::QuantModel;

use crate::engines::{self, EngineCx};
use crate::error::CodegenError;
use crate::options::{GenOptions, GENERATOR};
use crate::parts::{text, Conn, Instance, OutFile, Wire, Wires};
use crate::sanitize::sanitize_ident;

/// The instances of the top's FIFOs are `<FIFO_INSTANCE_PREFIX>_<stream>` (`u_fifo_3`).
pub const FIFO_INSTANCE_PREFIX: &str = "u_fifo";
/// The instance of the output stage in the top.
pub const OUTPUT_INSTANCE: &str = "u_out";

/// The manifest's view of one engine.
pub(crate) struct EngineSummary {
    /// Module of the main instance.
    pub module: String,
    /// Instance name.
    pub instance: String,
    /// `PE` (1 without lanes).
    pub pe: usize,
    /// `SIMD` (1 without lanes).
    pub simd: usize,
    /// Accumulator width (MVU).
    pub acc_width: Option<u32>,
}

/// Everything rendered from a design.
pub(crate) struct Rendered {
    /// Verilog files, in the manifest's order.
    pub rtl: Vec<OutFile>,
    /// Memory images.
    pub hex: Vec<OutFile>,
    /// SDC and XDC.
    pub constraints: Vec<OutFile>,
    /// Board tops and pin files (`board/<name>/`).
    pub board: Vec<OutFile>,
    /// Per engine.
    pub engines: Vec<EngineSummary>,
    /// The signals of each of `Design.taps`.
    pub taps: Vec<Wires>,
}

struct StreamV {
    index: usize,
    from: String,
    to: String,
    /// Bits per beat: elements per beat × element width.
    width: u32,
    depth: usize,
    /// Wire stems declared for it (`s<s>` unless stream 0, then `q<s>`).
    wires: Vec<String>,
}

struct EngineV {
    index: usize,
    tag: &'static str,
    wires: Vec<Wire>,
    insts: Vec<Instance>,
}

#[derive(Template)]
#[template(path = "inq_top.v", escape = "none")]
struct TopT<'a> {
    header: &'a str,
    in_w: u32,
    out_w: u32,
    idx_w: u32,
    streams: Vec<StreamV>,
    fifos: Vec<Instance>,
    engines: Vec<EngineV>,
    out: Vec<Instance>,
}

#[derive(Template)]
#[template(path = "inq_fifo.v", escape = "none")]
struct FifoT<'a> {
    header: &'a str,
}

#[derive(Template)]
#[template(path = "inq_out.v", escape = "none")]
struct OutT<'a> {
    header: &'a str,
}

#[derive(Template)]
#[template(path = "top.sdc", escape = "none")]
struct SdcT<'a> {
    header: &'a str,
    clock_mhz: String,
    period_ns: String,
}

#[derive(Template)]
#[template(path = "top.xdc", escape = "none")]
struct XdcT<'a> {
    header: &'a str,
    clock_mhz: String,
    period_ns: String,
}

/// The producer-side wires of stream `s`.
fn producer(s: usize) -> Wires {
    if s == 0 {
        Wires::named("s_axis")
    } else {
        Wires::named(&format!("s{s}"))
    }
}

/// The FIFO-output wires of stream `s`.
fn consumer(s: usize) -> Wires {
    Wires::named(&format!("q{s}"))
}

fn endpoint(e: &Endpoint, output: bool) -> String {
    match e {
        Endpoint::Input => "input port".into(),
        Endpoint::Output => "output stage".into(),
        Endpoint::Engine { engine, port } => format!(
            "engine {engine} {} {port}",
            if output { "output" } else { "input" }
        ),
    }
}

/// The bits of one beat of a stream: `beat` elements of `width` bits (`docs/hardware.md` §2).
fn beat_bits(st: &inq_hdl::Stream) -> u32 {
    st.width * st.beat as u32
}

/// Checks that the graph is wired consistently (every stream's ends agree with the engines'
/// port lists, stream 0 leaves the input, the output stage reads its stream) and that widths
/// agree, so that the rendered top is well-formed.
pub(crate) fn check_graph(d: &Design) -> Result<(), CodegenError> {
    let bad = |m: String| Err(CodegenError::Mismatch(m));
    let ns = d.streams.len();
    if ns == 0 || d.streams[0].from != Endpoint::Input {
        return bad("stream 0 must leave the input port".into());
    }
    if d.engines.is_empty() {
        return bad("the design has no engine".into());
    }
    for (s, st) in d.streams.iter().enumerate() {
        if !(1..=64).contains(&st.width) || st.depth < 2 {
            return bad(format!(
                "stream {s}: width {} and FIFO depth {} (need 1..=64 bits, depth >= 2)",
                st.width, st.depth
            ));
        }
        match st.from {
            Endpoint::Input if s != 0 => return bad(format!("stream {s} also leaves the input")),
            Endpoint::Output => return bad(format!("stream {s} leaves the output stage")),
            Endpoint::Engine { engine, port } => {
                if d.engines.get(engine).and_then(|e| e.outputs.get(port)) != Some(&s) {
                    return bad(format!(
                        "stream {s} leaves engine {engine} port {port}, which does not write it"
                    ));
                }
                if d.engines[engine].io.out_width != st.width {
                    return bad(format!(
                        "stream {s} is {} bits but engine {engine} writes {} bits",
                        st.width, d.engines[engine].io.out_width
                    ));
                }
            }
            _ => {}
        }
        match st.to {
            Endpoint::Input => return bad(format!("stream {s} enters the input port")),
            Endpoint::Output if s != d.output.stream => {
                return bad(format!(
                    "stream {s} enters the output stage, which reads {}",
                    d.output.stream
                ))
            }
            Endpoint::Engine { engine, port }
                if d.engines.get(engine).and_then(|e| e.inputs.get(port)) != Some(&s) =>
            {
                return bad(format!(
                    "stream {s} enters engine {engine} port {port}, which does not read it"
                ))
            }
            _ => {}
        }
    }
    for (e, en) in d.engines.iter().enumerate() {
        let op = en.op();
        if en.inputs.len() != op.inputs() || en.outputs.len() != op.outputs() {
            return bad(format!(
                "engine {e} has {} inputs and {} outputs, its kind {} and {}",
                en.inputs.len(),
                en.outputs.len(),
                op.inputs(),
                op.outputs()
            ));
        }
        for (k, &s) in en.inputs.iter().enumerate() {
            if d.streams.get(s).map(|st| st.to) != Some(Endpoint::Engine { engine: e, port: k }) {
                return bad(format!(
                    "engine {e} input {k} reads stream {s}, which goes elsewhere"
                ));
            }
        }
        for (k, &s) in en.outputs.iter().enumerate() {
            if d.streams.get(s).map(|st| st.from) != Some(Endpoint::Engine { engine: e, port: k }) {
                return bad(format!(
                    "engine {e} output {k} writes stream {s}, which comes from elsewhere"
                ));
            }
        }
        if d.streams[en.inputs[0]].width != en.io.in_width {
            return bad(format!(
                "engine {e} reads {} bits from a {}-bit stream",
                en.io.in_width, d.streams[en.inputs[0]].width
            ));
        }
    }
    check_beats(d)?;
    let o = &d.output;
    match d.streams.get(o.stream) {
        Some(st) if st.to == Endpoint::Output && st.width == o.width => {}
        _ => {
            return bad(format!(
                "the output stage's stream {} does not end there with {} bits",
                o.stream, o.width
            ))
        }
    }
    if d.input.width != d.streams[0].width {
        return bad("the input port and stream 0 differ in width".into());
    }
    if o.count == 0 || o.idx_width == 0 || !(1..=64).contains(&o.width) {
        return bad("the output stage needs a logit count, an index and a width".into());
    }
    if let Some(t) = d.taps.iter().find(|t| t.stream >= ns) {
        return bad(format!(
            "tap {:?} observes stream {}, which does not exist",
            t.name, t.stream
        ));
    }
    Ok(())
}

/// Checks the elements per beat (`docs/hardware.md` §2): every stream's beat is its
/// producer's output beat and its consumer's input beat and divides its elements per image;
/// the input port and the output stage take one element per beat; each engine takes its
/// beats by its kind's rule (`inq_hdl::EngineOp::beat_error`).
fn check_beats(d: &Design) -> Result<(), CodegenError> {
    let bad = |m: String| Err(CodegenError::Mismatch(m));
    for (s, st) in d.streams.iter().enumerate() {
        if st.beat == 0 || st.elements_per_image % st.beat != 0 {
            return bad(format!(
                "stream {s}: {} elements per beat do not divide its {} elements per image",
                st.beat, st.elements_per_image
            ));
        }
        let ends = [
            (st.from, Endpoint::Input, "input port"),
            (st.to, Endpoint::Output, "output stage"),
        ];
        for (end, port, what) in ends {
            if end == port && st.beat != 1 {
                return bad(format!(
                    "stream {s}: the {what} takes one element per beat, not {}",
                    st.beat
                ));
            }
        }
        if let Endpoint::Engine { engine, .. } = st.from {
            let k = d.engines[engine].op().out_beat();
            if k != st.beat {
                return bad(format!(
                    "stream {s} has {} elements per beat, engine {engine} writes {k}",
                    st.beat
                ));
            }
        }
        if let Endpoint::Engine { engine, .. } = st.to {
            let k = d.engines[engine].op().in_beat();
            if k != st.beat {
                return bad(format!(
                    "stream {s} has {} elements per beat, engine {engine} reads {k}",
                    st.beat
                ));
            }
        }
    }
    for (e, en) in d.engines.iter().enumerate() {
        if let Some(why) = en.op().beat_error() {
            return bad(format!("engine {e} ({}): {why}", en.name));
        }
    }
    Ok(())
}

/// Renders every RTL, memory and constraint file of `design`.
pub(crate) fn render(
    design: &Design,
    model: &QuantModel,
    opts: &GenOptions,
) -> Result<Rendered, CodegenError> {
    check_graph(design)?;
    let header = format!(
        "Generated by {GENERATOR} from model {}. Do not edit.",
        sanitize_ident("m_", &model.name)
    );
    let h = header.as_str();
    let mut rtl = vec![OutFile::rtl(
        "inq_fifo.v",
        text(&FifoT { header: h }, "inq_fifo.v")?.into_bytes(),
    )];
    let mut hex = Vec::new();
    let mut shared_done: Vec<&'static str> = Vec::new();
    let mut engines_v = Vec::with_capacity(design.engines.len());
    let mut summaries = Vec::with_capacity(design.engines.len());
    for (ei, e) in design.engines.iter().enumerate() {
        let cx = EngineCx {
            index: ei,
            engine: e,
            header: h,
            instance: sanitize_ident(&format!("u_e{ei}_"), &e.name),
            inputs: e.inputs.iter().map(|&s| consumer(s)).collect(),
            outputs: e.outputs.iter().map(|&s| producer(s)).collect(),
        };
        let gen = engines::of(&e.kind);
        let out = gen.generate(&cx)?;
        // every memory file the plan's parameters name is written by the engine
        for p in e.op().params(&e.io) {
            if let inq_hdl::ParamValue::Memory(role) = p.value {
                let f = format!("rtl/{}", engines::memory_file(ei, role));
                if !out.hex.iter().any(|x| x.rel == f) {
                    return Err(CodegenError::Mismatch(format!(
                        "engine {ei} ({}): parameter {} names {f}, which its generator does not write",
                        cx.instance, p.name
                    )));
                }
            }
        }
        for sh in &out.shared {
            if !shared_done.contains(&sh.file) {
                shared_done.push(sh.file);
                rtl.push(OutFile::rtl(sh.file, (sh.render)(h)?.into_bytes()));
            }
        }
        let (pe, simd, acc_width) = gen.folding();
        summaries.push(EngineSummary {
            module: out.module,
            instance: cx.instance.clone(),
            pe,
            simd,
            acc_width,
        });
        rtl.extend(out.rtl);
        hex.extend(out.hex);
        engines_v.push(EngineV {
            index: ei,
            tag: e.kind.tag(),
            wires: out.wires,
            insts: out.insts,
        });
    }
    rtl.push(OutFile::rtl(
        "inq_out.v",
        text(&OutT { header: h }, "inq_out.v")?.into_bytes(),
    ));

    let streams = design
        .streams
        .iter()
        .enumerate()
        .map(|(s, st)| StreamV {
            index: s,
            from: endpoint(&st.from, true),
            to: endpoint(&st.to, false),
            width: beat_bits(st),
            depth: st.depth,
            wires: if s == 0 {
                vec![format!("q{s}")]
            } else {
                vec![format!("s{s}"), format!("q{s}")]
            },
        })
        .collect();
    let fifos = design
        .streams
        .iter()
        .enumerate()
        .map(|(s, st)| {
            let (p, c) = (producer(s), consumer(s));
            Instance {
                module: "inq_fifo".into(),
                name: format!("{FIFO_INSTANCE_PREFIX}_{s}"),
                // SRD only where it is set: the FIFOs in block RAM (the plan's choice)
                params: [
                    Some(engines::int_param("W", beat_bits(st))),
                    Some(engines::int_param("D", st.depth)),
                    st.fifo_in_bram().then(|| engines::int_param("SRD", 1)),
                ]
                .into_iter()
                .flatten()
                .collect(),
                lines: vec![
                    engines::clock(),
                    vec![
                        Conn::new("s_data", &p.data),
                        Conn::new("s_valid", &p.valid),
                        Conn::new("s_ready", &p.ready),
                    ],
                    vec![
                        Conn::new("m_data", &c.data),
                        Conn::new("m_valid", &c.valid),
                        Conn::new("m_ready", &c.ready),
                    ],
                ],
            }
        })
        .collect();
    let o = &design.output;
    let q = consumer(o.stream);
    let out = Instance {
        module: "inq_out".into(),
        name: OUTPUT_INSTANCE.into(),
        params: vec![
            engines::int_param("W", o.width),
            engines::int_param("N", o.count),
            engines::int_param("IDXW", o.idx_width),
        ],
        lines: vec![
            engines::clock(),
            vec![
                Conn::new("s_data", &q.data),
                Conn::new("s_valid", &q.valid),
                Conn::new("s_ready", &q.ready),
            ],
            vec![
                Conn::new("m_axis_tdata", "m_axis_tdata"),
                Conn::new("m_axis_tvalid", "m_axis_tvalid"),
                Conn::new("m_axis_tready", "m_axis_tready"),
            ],
            vec![
                Conn::new("m_axis_tlast", "m_axis_tlast"),
                Conn::new("m_axis_tuser", "m_axis_tuser"),
            ],
        ],
    };
    let top = TopT {
        header: h,
        in_w: design.input.width,
        out_w: o.width,
        idx_w: o.idx_width,
        streams,
        fifos,
        engines: engines_v,
        out: vec![out],
    };
    rtl.push(OutFile::rtl(
        "inq_top.v",
        text(&top, "inq_top.v")?.into_bytes(),
    ));

    let period = 1000.0 / opts.clock_mhz;
    let clock_mhz = format!("{}", opts.clock_mhz);
    let period_ns = format!("{period:.3}");
    let constraints = vec![
        OutFile {
            rel: "constraints/top.sdc".into(),
            contents: text(
                &SdcT {
                    header: h,
                    clock_mhz: clock_mhz.clone(),
                    period_ns: period_ns.clone(),
                },
                "top.sdc",
            )?
            .into_bytes(),
        },
        OutFile {
            rel: "constraints/top.xdc".into(),
            contents: text(
                &XdcT {
                    header: h,
                    clock_mhz,
                    period_ns,
                },
                "top.xdc",
            )?
            .into_bytes(),
        },
    ];
    let taps = design
        .taps
        .iter()
        .map(|t| {
            if t.at_fifo_output {
                consumer(t.stream)
            } else {
                producer(t.stream)
            }
        })
        .collect();
    let mut board = Vec::new();
    for b in crate::board::BOARDS {
        board.extend(crate::board::render(&b, design, h)?);
    }
    let names = |v: &[OutFile]| v.iter().map(|f| f.rel.clone()).collect::<Vec<_>>();
    board.extend(crate::board::render_axi(
        design,
        h,
        opts.clock_mhz,
        &names(&rtl),
        &names(&hex),
    )?);
    Ok(Rendered {
        rtl,
        hex,
        constraints,
        board,
        engines: summaries,
        taps,
    })
}
