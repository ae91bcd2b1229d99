//! # inq-codegen — Verilog from a `Design`
//!
//! Turns an [`inq_hdl::Design`] into synthesizable Verilog-2005 (askama templates under
//! `codegen/templates/`, custom delimiters `@{ }@` / `@% %@` configured in `askama.toml` because
//! Verilog concatenations contain `{{`), `$readmemh` weight memories, SDC/XDC constraints filled
//! from the templates in `constraints/`, and a `manifest.json` describing the generated top
//! (keys fixed by `notes/interfaces.md`; the full `Design` is stored under `"design"`).
//!
//! Entry point: [`generate`]. The micro-architecture is specified in `docs/hardware.md`.
//!
//! No text from the model reaches the RTL unsanitized: layer and model names only appear as
//! [`sanitize_ident`] output (ASCII letters, digits and `_`, prefixed by a unique index).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use askama::Template;
use inq_hdl::{Design, EngineKind, MacKind, MvuOutput, PoolMode};
use inq_model::QuantModel;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Version string written into generated file headers.
pub const GENERATOR: &str = concat!("inq-codegen ", env!("CARGO_PKG_VERSION"));

/// Why generation failed.
#[derive(Debug, Error)]
pub enum CodegenError {
    /// A file or folder could not be written.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// A template failed to render (a bug).
    #[error("template {template}: {message}")]
    Template {
        /// Template name.
        template: String,
        /// Message.
        message: String,
    },
    /// The design does not belong to the model, or is inconsistent.
    #[error("design/model mismatch: {0}")]
    Mismatch(String),
    /// Options out of range.
    #[error("bad option: {0}")]
    Option(String),
}

/// Generation options.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    /// Target clock frequency in MHz (constraints, manifest, throughput figures).
    pub clock_mhz: f64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions { clock_mhz: 100.0 }
    }
}

/// `ports` of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ports {
    /// `IN_W`.
    pub in_width: u32,
    /// Input signedness.
    pub in_signed: bool,
    /// `OUT_W`.
    pub out_width: u32,
    /// `IDX_W`.
    pub argmax_width: u32,
}

/// `input` of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputDesc {
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Always `"hwc"`.
    pub order: String,
    /// `C·H·W`.
    pub elements: usize,
}

/// One entry of `taps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapDesc {
    /// Model layer index.
    pub layer: usize,
    /// Model layer name (raw, as in the model; JSON-escaped).
    pub name: String,
    /// Signal name in the top module (`tap0_tdata`, ...).
    pub tdata: String,
    /// Valid signal.
    pub tvalid: String,
    /// Ready signal.
    pub tready: String,
    /// Element width.
    pub width: u32,
    /// Signedness.
    pub signed: bool,
    /// Elements per image.
    pub elements_per_image: usize,
    /// Always `"hwc"` (a flatten/dense vector is in the HWC order of the map it came from).
    pub order: String,
    /// The model's tensor shape after this layer.
    pub shape: Vec<usize>,
}

/// One entry of `engines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineDesc {
    /// Engine index.
    pub index: usize,
    /// Model layer index.
    pub layer: usize,
    /// Model layer name.
    pub name: String,
    /// Verilog module.
    pub module: String,
    /// Instance name in the top.
    pub instance: String,
    /// Processing elements (1 for pooling).
    pub pe: usize,
    /// Lanes per PE (1 for pooling).
    pub simd: usize,
    /// Input width.
    pub in_width: u32,
    /// Output width.
    pub out_width: u32,
    /// Accumulator width (MVU only).
    pub acc_width: Option<u32>,
    /// Busy cycles per image (analytic).
    pub cycles_per_image: u64,
    /// Analytic resources.
    pub resources: inq_hdl::Resources,
}

/// `performance` of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    /// Cycles between images in steady state (analytic: the slowest engine).
    pub interval_cycles: u64,
    /// First input to first output, cycles (analytic estimate).
    pub latency_cycles: u64,
    /// Images per second at `clock_mhz`.
    pub images_per_second: f64,
}

/// The `manifest.json` of a generated design folder (`notes/interfaces.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `"inq-design-manifest"`.
    pub format: String,
    /// 1.
    pub version: u32,
    /// Top module name.
    pub top: String,
    /// Verilog files relative to the design folder, in compile order.
    pub rtl_files: Vec<String>,
    /// Hex files relative to the design folder.
    pub hex_files: Vec<String>,
    /// Working directory (relative to the design folder) every tool must run in, so that
    /// `$readmemh` finds the hex files by name.
    pub run_dir: String,
    /// `QuantModel::hash()`.
    pub model_hash: String,
    /// SHA-256 over, for each file of `rtl_files` then `hex_files` in that order, its path,
    /// a NUL byte, its contents and a NUL byte.
    pub design_hash: String,
    /// Target clock.
    pub clock_mhz: f64,
    /// Port widths.
    pub ports: Ports,
    /// Input stream.
    pub input: InputDesc,
    /// Number of logits per image.
    pub outputs: usize,
    /// Observable streams.
    pub taps: Vec<TapDesc>,
    /// Per-engine summary.
    pub engines: Vec<EngineDesc>,
    /// Throughput and latency.
    pub performance: Performance,
    /// The generator.
    pub generator: String,
    /// The complete design (read back by `inq-sim`).
    pub design: Design,
}

impl Manifest {
    /// Loads a manifest.
    pub fn load(path: &Path) -> Result<Self, CodegenError> {
        let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
        serde_json::from_str(&text).map_err(|e| CodegenError::Io {
            path: path.display().to_string(),
            message: format!("not a design manifest: {e}"),
        })
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> CodegenError {
    CodegenError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A legal, unique Verilog identifier from untrusted text: `prefix` (which must itself be a
/// legal identifier start, e.g. `e3_`) followed by the ASCII letters and digits of `raw`
/// (lower-cased, at most 32 of them), every other run of characters becoming one `_`.
pub fn sanitize_ident(prefix: &str, raw: &str) -> String {
    let mut s = String::from(prefix);
    let mut last_us = prefix.ends_with('_');
    let mut n = 0;
    for ch in raw.chars() {
        if n >= 32 {
            break;
        }
        if ch.is_ascii_alphanumeric() {
            s.push(ch.to_ascii_lowercase());
            last_us = false;
            n += 1;
        } else if !last_us {
            s.push('_');
            last_us = true;
        }
    }
    while s.ends_with('_') && s.len() > prefix.len() {
        s.pop();
    }
    s
}

// ---------------------------------------------------------------- templates

#[derive(Template)]
#[template(path = "inq_fifo.v", escape = "none")]
struct FifoT<'a> {
    header: &'a str,
}

#[derive(Template)]
#[template(path = "inq_rom.v", escape = "none")]
struct RomT<'a> {
    header: &'a str,
}

#[derive(Template)]
#[template(path = "inq_mvu.v", escape = "none")]
struct MvuT<'a> {
    header: &'a str,
    /// `inq_mvu`, or the per-engine module of a constant-weight engine.
    module_name: String,
    /// Fully unrolled: constant weights, no ROM ports (`pes` holds the datapath).
    constant: bool,
    /// Some window element feeds no term (its weight is zero in every PE).
    unused_lanes: bool,
    pes: Vec<ConstPeV>,
}

/// One constant product of a constant-weight MVU (`inq_mvu.v`, constant mode).
struct ConstTermV {
    name: String,
    width: u32,
    expr: String,
    comment: String,
}

/// One adder of a PE's tree.
struct ConstNodeV {
    name: String,
    width: u32,
    expr: String,
}

/// One PE of a constant-weight MVU.
struct ConstPeV {
    index: usize,
    zeros: usize,
    terms: Vec<ConstTermV>,
    nodes: Vec<ConstNodeV>,
    hi: u32,
    lo: u32,
    result: String,
}

/// `name` (`from` bits) sign-extended to `to` bits.
fn sext(name: &str, from: u32, to: u32) -> String {
    if from >= to {
        name.to_string()
    } else if to - from == 1 {
        format!("{{{name}[{}], {name}}}", from - 1)
    } else {
        format!("{{{{{}{{{name}[{}]}}}}, {name}}}", to - from, from - 1)
    }
}

/// The constant-mode template data of MVU engine `ei` (`docs/hardware.md` §4.1): per PE, its
/// non-zero terms as wiring and its adder tree.
fn const_mvu<'a>(
    ei: usize,
    m: &inq_hdl::Mvu,
    in_width: u32,
    in_signed: bool,
    header: &'a str,
) -> Result<MvuT<'a>, CodegenError> {
    use inq_hdl::TreeOperand;
    let a = in_width;
    let accw = m.acc_width;
    let mut used = vec![false; m.simd];
    let mut pes = Vec::with_capacity(m.pe);
    for p in 0..m.pe {
        let tree = m.adder_tree(p, a);
        let mut terms = Vec::with_capacity(tree.terms.len());
        for (i, (t, &w)) in tree.terms.iter().zip(&tree.term_widths).enumerate() {
            if w != a + t.shift + 1 {
                return Err(CodegenError::Mismatch(format!(
                    "engine {ei}: a product of shift {} does not fit the {accw}-bit accumulator",
                    t.shift
                )));
            }
            used[t.lane] = true;
            let lo = t.lane as u32 * a;
            let x = format!("xv[{}:{lo}]", lo + a - 1);
            let ext = if in_signed {
                format!("xv[{}]", lo + a - 1)
            } else {
                "1'b0".to_string()
            };
            let expr = if t.shift == 0 {
                format!("{{{ext}, {x}}}")
            } else {
                format!("{{{ext}, {x}, {}'b0}}", t.shift)
            };
            terms.push(ConstTermV {
                name: format!("p{p}_t{i}"),
                width: w,
                expr,
                comment: format!(
                    "{}x[{}] << {}",
                    if t.negative { "-" } else { "+" },
                    t.lane,
                    t.shift
                ),
            });
        }
        let width_of = |op: TreeOperand| match op {
            TreeOperand::Term(i) => tree.term_widths[i],
            TreeOperand::Node(j) => tree.nodes[j].width,
        };
        let name_of = |op: TreeOperand| match op {
            TreeOperand::Term(i) => format!("p{p}_t{i}"),
            TreeOperand::Node(j) => format!("p{p}_n{j}"),
        };
        let nodes = tree
            .nodes
            .iter()
            .enumerate()
            .map(|(j, n)| ConstNodeV {
                name: format!("p{p}_n{j}"),
                width: n.width,
                expr: format!(
                    "({} {} {})",
                    sext(&name_of(n.a), width_of(n.a), n.width),
                    if n.subtract { "-" } else { "+" },
                    sext(&name_of(n.b), width_of(n.b), n.width)
                ),
            })
            .collect();
        let result = match tree.root {
            None => format!("{{{accw}{{1'b0}}}}"),
            Some(r) => {
                let v = sext(&name_of(r), width_of(r), accw);
                if tree.root_negated {
                    format!("({{{accw}{{1'b0}}}} - {v})")
                } else {
                    v
                }
            }
        };
        pes.push(ConstPeV {
            index: p,
            zeros: m.simd - tree.terms.len(),
            terms,
            nodes,
            hi: (p as u32 + 1) * accw - 1,
            lo: p as u32 * accw,
            result,
        });
    }
    Ok(MvuT {
        header,
        module_name: format!("inq_mvu_e{ei}"),
        constant: true,
        unused_lanes: used.iter().any(|u| !u),
        pes,
    })
}

#[derive(Template)]
#[template(path = "inq_pool.v", escape = "none")]
struct PoolT<'a> {
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

struct StreamV {
    name: String,
    width: u32,
}

struct RomV {
    inst: String,
    dw: u32,
    depth: usize,
    file: String,
    lo: u32,
    hi: u32,
}

struct EngV {
    index: usize,
    inst: String,
    module: String,
    has_rom: bool,
    params: Vec<(&'static str, String)>,
    in_w: u32,
    out_w: u32,
    waw: u32,
    wdw: u32,
    roms: Vec<RomV>,
    src: String,
    dst: String,
    fo: String,
    fifo_depth: usize,
}

#[derive(Template)]
#[template(path = "inq_top.v", escape = "none")]
struct TopT<'a> {
    header: &'a str,
    in_w: u32,
    out_w: u32,
    idx_w: u32,
    n_out: usize,
    in_depth: usize,
    streams: Vec<StreamV>,
    engines: Vec<EngV>,
    last_fo: String,
}

fn render<T: Template>(t: &T, name: &str) -> Result<String, CodegenError> {
    let mut s = t.render().map_err(|e| CodegenError::Template {
        template: name.to_string(),
        message: e.to_string(),
    })?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

// ---------------------------------------------------------------- hex

fn clog2(n: usize) -> u32 {
    inq_hdl::resources::clog2(n as u64)
}

/// Lower-case hex of a `width`-bit word given as little-endian bits.
fn hex_bits(bits: &[bool]) -> String {
    let digits = bits.len().div_ceil(4);
    let mut s = String::with_capacity(digits + 1);
    for d in (0..digits).rev() {
        let mut v = 0u8;
        for b in 0..4 {
            if bits.get(d * 4 + b).copied().unwrap_or(false) {
                v |= 1 << b;
            }
        }
        s.push(char::from_digit(u32::from(v), 16).unwrap_or('0'));
    }
    s
}

/// `value` as a `width`-bit two's-complement hex word (width ≤ 64).
fn hex_word(value: i64, width: u32) -> String {
    let bits: Vec<bool> = (0..width)
        .map(|i| {
            if i < 64 {
                (value >> i) & 1 == 1
            } else {
                value < 0
            }
        })
        .collect();
    hex_bits(&bits)
}

/// The path of an output file, as a manifest entry and a file to write.
struct OutFile {
    rel: String,
    contents: Vec<u8>,
}

/// Generates the design folder `out_dir` (replacing it atomically: everything is written to a
/// temporary sibling folder which is then renamed into place).
pub fn generate(
    design: &Design,
    model: &QuantModel,
    out_dir: &Path,
    opts: &GenOptions,
) -> Result<Manifest, CodegenError> {
    if !(opts.clock_mhz.is_finite() && opts.clock_mhz > 0.0) {
        return Err(CodegenError::Option(format!(
            "clock {} MHz must be a positive number",
            opts.clock_mhz
        )));
    }
    if design.model_hash != model.hash() {
        return Err(CodegenError::Mismatch(
            "the design was planned from a different model (model hash differs)".into(),
        ));
    }
    let (files, manifest_wo_hash) = render_all(design, model, opts)?;
    let mut manifest = manifest_wo_hash;
    manifest.design_hash = design_hash(&files);
    write_folder(out_dir, &files, &manifest, model)?;
    Ok(manifest)
}

fn design_hash(files: &[OutFile]) -> String {
    let mut h = Sha256::new();
    for f in files.iter().filter(|f| f.rel.starts_with("rtl/")) {
        h.update(f.rel.as_bytes());
        h.update([0u8]);
        h.update(&f.contents);
        h.update([0u8]);
    }
    inq_model::format::hex(&h.finalize())
}

fn write_folder(
    out_dir: &Path,
    files: &[OutFile],
    manifest: &Manifest,
    model: &QuantModel,
) -> Result<(), CodegenError> {
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = out_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| CodegenError::Option(format!("{}: not a folder name", out_dir.display())))?;
    std::fs::create_dir_all(&parent).map_err(|e| io_err(&parent, e))?;
    let tmp = parent.join(format!(".{base}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    let result = (|| {
        for sub in ["rtl", "constraints"] {
            let d = tmp.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| io_err(&d, e))?;
        }
        for f in files {
            let p = tmp.join(&f.rel);
            std::fs::write(&p, &f.contents).map_err(|e| io_err(&p, e))?;
        }
        let mj = model
            .to_json_string()
            .map_err(|e| CodegenError::Mismatch(e.to_string()))?;
        let p = tmp.join("model.json");
        std::fs::write(&p, mj).map_err(|e| io_err(&p, e))?;
        let text = serde_json::to_string_pretty(manifest)
            .map_err(|e| CodegenError::Mismatch(e.to_string()))?;
        let p = tmp.join("manifest.json");
        std::fs::write(&p, text).map_err(|e| io_err(&p, e))?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = parent.join(format!(".{base}.old-{}", std::process::id()));
    let had_old = out_dir.exists();
    if had_old {
        std::fs::rename(out_dir, &old).map_err(|e| io_err(out_dir, e))?;
    }
    if let Err(e) = std::fs::rename(&tmp, out_dir) {
        if had_old {
            let _ = std::fs::rename(&old, out_dir);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(io_err(out_dir, e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

fn lit_i(v: i64) -> String {
    v.to_string()
}

/// Renders every RTL, hex and constraint file, and the manifest (without `design_hash`).
fn render_all(
    design: &Design,
    model: &QuantModel,
    opts: &GenOptions,
) -> Result<(Vec<OutFile>, Manifest), CodegenError> {
    let header = format!(
        "Generated by {GENERATOR} from model {}. Do not edit.",
        sanitize_ident("m_", &model.name)
    );
    let h = header.as_str();
    let mut rtl: Vec<OutFile> = Vec::new();
    let mut hex: Vec<OutFile> = Vec::new();
    let has_mvu = design
        .engines
        .iter()
        .any(|e| matches!(e.kind, EngineKind::Mvu(_)));
    let has_pool = design
        .engines
        .iter()
        .any(|e| matches!(e.kind, EngineKind::Pool(_)));
    rtl.push(OutFile {
        rel: "rtl/inq_fifo.v".into(),
        contents: render(&FifoT { header: h }, "inq_fifo.v")?.into_bytes(),
    });
    if has_mvu {
        rtl.push(OutFile {
            rel: "rtl/inq_rom.v".into(),
            contents: render(&RomT { header: h }, "inq_rom.v")?.into_bytes(),
        });
        rtl.push(OutFile {
            rel: "rtl/inq_mvu.v".into(),
            contents: render(
                &MvuT {
                    header: h,
                    module_name: "inq_mvu".into(),
                    constant: false,
                    unused_lanes: false,
                    pes: Vec::new(),
                },
                "inq_mvu.v",
            )?
            .into_bytes(),
        });
    }
    // constant-weight engines: one specialised module each
    for (ei, e) in design.engines.iter().enumerate() {
        if let EngineKind::Mvu(m) = &e.kind {
            if m.is_constant() {
                let t = const_mvu(ei, m, e.in_width, e.in_signed, h)?;
                rtl.push(OutFile {
                    rel: format!("rtl/inq_mvu_e{ei}.v"),
                    contents: render(&t, "inq_mvu.v")?.into_bytes(),
                });
            }
        }
    }
    if has_pool {
        rtl.push(OutFile {
            rel: "rtl/inq_pool.v".into(),
            contents: render(&PoolT { header: h }, "inq_pool.v")?.into_bytes(),
        });
    }
    rtl.push(OutFile {
        rel: "rtl/inq_out.v".into(),
        contents: render(&OutT { header: h }, "inq_out.v")?.into_bytes(),
    });

    let n = design.engines.len();
    if n == 0 || design.fifos.len() != n + 1 {
        return Err(CodegenError::Mismatch("engine/FIFO count".into()));
    }
    let mut streams = vec![StreamV {
        name: "tapin".into(),
        width: design.input.width,
    }];
    let mut engines = Vec::new();
    let mut engine_descs = Vec::new();
    for (ei, e) in design.engines.iter().enumerate() {
        let inst = sanitize_ident(&format!("u_e{ei}_"), &e.name);
        let src = if ei == 0 {
            "tapin".to_string()
        } else {
            format!("fo{}", ei - 1)
        };
        let dst = format!("tap{ei}");
        let fo = format!("fo{ei}");
        streams.push(StreamV {
            name: dst.clone(),
            width: e.out_width,
        });
        streams.push(StreamV {
            name: fo.clone(),
            width: e.out_width,
        });
        let g = &e.geom;
        let mut params: Vec<(&'static str, String)> = vec![
            ("C", g.c.to_string()),
            ("H", g.h.to_string()),
            ("W", g.w.to_string()),
            ("KH", g.kh.to_string()),
            ("KW", g.kw.to_string()),
            ("SH", g.sh.to_string()),
            ("SW", g.sw.to_string()),
        ];
        let (module, has_rom, waw, wdw, roms, pe, simd, accw) = match &e.kind {
            EngineKind::Mvu(m) => {
                let depth = m.rom_depth().max(2);
                let waw = clog2(depth);
                let dw = m.rom_width();
                let constant = m.is_constant();
                params.extend([
                    ("PT", g.pad[0].to_string()),
                    ("PL", g.pad[1].to_string()),
                    ("OC", g.oc.to_string()),
                    ("OH", g.oh.to_string()),
                    ("OW", g.ow.to_string()),
                    ("NR", g.nr.to_string()),
                    ("PE", m.pe.to_string()),
                    ("SIMD", m.simd.to_string()),
                    ("IN_SIGNED", u32::from(e.in_signed).to_string()),
                    ("PAD", lit_i(m.pad_value)),
                    ("CB", m.code_bits.to_string()),
                    ("PW", m.product_width.to_string()),
                    ("ACC_W", m.acc_width.to_string()),
                    ("RW", m.requant_width.to_string()),
                    ("OUT_W", e.out_width.to_string()),
                    (
                        "LOGITS",
                        u32::from(matches!(m.output, MvuOutput::Logits)).to_string(),
                    ),
                    ("OUT_SIGNED", u32::from(e.out_signed).to_string()),
                    ("WAW", waw.to_string()),
                    ("BIAS_FILE", format!("\"e{ei}_bias.hex\"")),
                    ("SHIFT_FILE", format!("\"e{ei}_shift.hex\"")),
                ]);
                if m.mac == MacKind::Multiply {
                    params.push(("MUL", "1".into()));
                }
                if constant {
                    // the specialised module has no ROM port; widths and signs are wired in
                    params.retain(|(k, _)| !matches!(*k, "CB" | "PW" | "WAW" | "IN_SIGNED"));
                }
                // tables
                let tbd = g.oc.max(2);
                let mut bias_txt = String::new();
                let mut shift_txt = String::new();
                for c in 0..tbd {
                    let b = m.bias.get(c).copied().unwrap_or(0);
                    let r = m.shift.get(c).copied().unwrap_or(0);
                    // r >= ACC_W rounds every accumulator value to 0 exactly like r = ACC_W.
                    let r_hw = r.min(m.acc_width as i32);
                    let _ = writeln!(bias_txt, "{}", hex_word(b, m.acc_width));
                    let _ = writeln!(shift_txt, "{}", hex_word(i64::from(r_hw), 8));
                }
                hex.push(OutFile {
                    rel: format!("rtl/e{ei}_bias.hex"),
                    contents: bias_txt.into_bytes(),
                });
                hex.push(OutFile {
                    rel: format!("rtl/e{ei}_shift.hex"),
                    contents: shift_txt.into_bytes(),
                });
                let mut roms = Vec::new();
                let cb = m.code_bits as usize;
                for p in (0..m.pe).filter(|_| !constant) {
                    let mut txt = String::with_capacity(depth * (dw as usize / 4 + 2));
                    for addr in 0..depth {
                        let mut bits = vec![false; dw as usize];
                        if addr < m.rom_depth() {
                            for s in 0..m.simd {
                                let code = m.code(p, addr, s);
                                for b in 0..cb {
                                    bits[s * cb + b] = (code >> b) & 1 == 1;
                                }
                            }
                        }
                        txt.push_str(&hex_bits(&bits));
                        txt.push('\n');
                    }
                    let file = format!("e{ei}_w_pe{p}.hex");
                    hex.push(OutFile {
                        rel: format!("rtl/{file}"),
                        contents: txt.into_bytes(),
                    });
                    roms.push(RomV {
                        inst: format!("{inst}_rom{p}"),
                        dw,
                        depth,
                        file,
                        lo: p as u32 * dw,
                        hi: (p as u32 + 1) * dw - 1,
                    });
                }
                (
                    if constant {
                        format!("inq_mvu_e{ei}")
                    } else {
                        "inq_mvu".to_string()
                    },
                    !constant,
                    waw,
                    dw * m.pe as u32,
                    roms,
                    m.pe,
                    m.simd,
                    Some(m.acc_width),
                )
            }
            EngineKind::Pool(pl) => {
                params.extend([
                    ("OH", g.oh.to_string()),
                    ("OW", g.ow.to_string()),
                    ("NR", g.nr.to_string()),
                    ("IN_SIGNED", u32::from(e.in_signed).to_string()),
                    ("AVG", u32::from(pl.mode == PoolMode::Avg).to_string()),
                    ("S", pl.shift.to_string()),
                    ("SUMW", pl.sum_width.to_string()),
                ]);
                ("inq_pool".to_string(), false, 1, 1, Vec::new(), 1, 1, None)
            }
        };
        engine_descs.push(EngineDesc {
            index: ei,
            layer: e.layer,
            name: e.name.clone(),
            module: module.clone(),
            instance: inst.clone(),
            pe,
            simd,
            in_width: e.in_width,
            out_width: e.out_width,
            acc_width: accw,
            cycles_per_image: e.cycles_per_image,
            resources: e.resources.clone(),
        });
        engines.push(EngV {
            index: ei,
            inst,
            module,
            has_rom,
            params,
            in_w: e.in_width,
            out_w: e.out_width,
            waw,
            wdw,
            roms,
            src,
            dst,
            fo,
            fifo_depth: design.fifos[ei + 1].depth,
        });
    }
    let top = TopT {
        header: h,
        in_w: design.input.width,
        out_w: design.output.width,
        idx_w: design.output.idx_width,
        n_out: design.output.count,
        in_depth: design.fifos[0].depth,
        streams,
        engines,
        last_fo: format!("fo{}", n - 1),
    };
    rtl.push(OutFile {
        rel: "rtl/inq_top.v".into(),
        contents: render(&top, "inq_top.v")?.into_bytes(),
    });

    let period = 1000.0 / opts.clock_mhz;
    let clock_mhz = format!("{}", opts.clock_mhz);
    let period_ns = format!("{period:.3}");
    let sdc = render(
        &SdcT {
            header: h,
            clock_mhz: clock_mhz.clone(),
            period_ns: period_ns.clone(),
        },
        "top.sdc",
    )?;
    let xdc = render(
        &XdcT {
            header: h,
            clock_mhz,
            period_ns,
        },
        "top.xdc",
    )?;

    let taps = design
        .taps
        .iter()
        .map(|t| {
            let s = match t.engine {
                None => "tapin".to_string(),
                Some(e) => format!("tap{e}"),
            };
            TapDesc {
                layer: t.layer,
                name: t.name.clone(),
                tdata: format!("{s}_tdata"),
                tvalid: format!("{s}_tvalid"),
                tready: format!("{s}_tready"),
                width: t.width,
                signed: t.signed,
                elements_per_image: t.elements_per_image,
                order: "hwc".into(),
                shape: t.shape.clone(),
            }
        })
        .collect();
    let interval = design.interval_cycles();
    let manifest = Manifest {
        format: "inq-design-manifest".into(),
        version: 1,
        top: design.top.clone(),
        rtl_files: rtl.iter().map(|f| f.rel.clone()).collect(),
        hex_files: hex.iter().map(|f| f.rel.clone()).collect(),
        run_dir: "rtl".into(),
        model_hash: design.model_hash.clone(),
        design_hash: String::new(),
        clock_mhz: opts.clock_mhz,
        ports: Ports {
            in_width: design.input.width,
            in_signed: design.input.signed,
            out_width: design.output.width,
            argmax_width: design.output.idx_width,
        },
        input: InputDesc {
            shape: design.input.shape,
            order: "hwc".into(),
            elements: design.input.shape.iter().product(),
        },
        outputs: design.output.count,
        taps,
        engines: engine_descs,
        performance: Performance {
            interval_cycles: interval,
            latency_cycles: design.latency_estimate(),
            images_per_second: opts.clock_mhz * 1e6 / interval.max(1) as f64,
        },
        generator: GENERATOR.into(),
        design: design.clone(),
    };
    let mut files = rtl;
    files.extend(hex);
    files.push(OutFile {
        rel: "constraints/top.sdc".into(),
        contents: sdc.into_bytes(),
    });
    files.push(OutFile {
        rel: "constraints/top.xdc".into(),
        contents: xdc.into_bytes(),
    });
    Ok((files, manifest))
}
