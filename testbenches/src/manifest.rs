//! `manifest.json` of a generated design (keys fixed in `notes/interfaces.md`) and the loaded
//! design folder.
//!
//! Only the keys the harness relies on are read; any other key is allowed and ignored.
//! [`Design::load`] checks the manifest against `model.json` so that a stale or inconsistent
//! folder is rejected with an error naming the field before anything is built.

use crate::error::TbError;
use inq_model::QuantModel;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The value of the manifest's `format` key.
pub const MANIFEST_FORMAT: &str = "inq-design-manifest";
/// The manifest version this build reads.
pub const MANIFEST_VERSION: u32 = 1;

/// Widths of the top-level ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    /// `IN_W`: width of `s_axis_tdata`.
    pub in_width: u32,
    /// Input elements are two's complement.
    pub in_signed: bool,
    /// `OUT_W`: width of `m_axis_tdata` (two's complement logits).
    pub out_width: u32,
    /// `IDX_W`: width of `m_axis_tuser` (argmax).
    pub argmax_width: u32,
}

/// The input stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDesc {
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Element order of the stream; only `"hwc"` is defined.
    #[serde(default = "hwc")]
    pub order: String,
    /// `C·H·W`.
    pub elements: usize,
}

fn hwc() -> String {
    "hwc".to_string()
}

/// An inter-engine stream the harness observes (the output of model layer `layer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tap {
    /// Index of the model layer whose output the stream carries.
    pub layer: usize,
    /// The layer's name (informational).
    #[serde(default)]
    pub name: String,
    /// Hierarchical name of the data signal, relative to the top (`u_conv0.m_tdata`); a leading
    /// `<top>.` is accepted.
    pub tdata: String,
    /// Hierarchical name of the valid signal.
    pub tvalid: String,
    /// Hierarchical name of the ready signal.
    pub tready: String,
    /// Data width in bits (1..=64).
    pub width: u32,
    /// Data is two's complement.
    pub signed: bool,
    /// Elements per image on this stream.
    pub elements_per_image: usize,
    /// Element order (`"hwc"` or `"chw"`, see [`crate::layout::tap_order`]).
    #[serde(default = "hwc")]
    pub order: String,
}

/// Performance figures the generator claims (optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    /// Steady-state cycles per image.
    #[serde(default)]
    pub interval_cycles: Option<f64>,
    /// Cycles from an image's first input beat to its last output beat.
    #[serde(default)]
    pub latency_cycles: Option<f64>,
}

/// The keys of `manifest.json` the harness uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Always [`MANIFEST_VERSION`].
    pub version: u32,
    /// Top module name.
    pub top: String,
    /// Verilog sources relative to the design folder, in compile order.
    pub rtl_files: Vec<String>,
    /// ROM images relative to the design folder (loaded by the RTL at simulation time).
    #[serde(default)]
    pub hex_files: Vec<String>,
    /// `QuantModel::hash()` of the model the design was built from.
    #[serde(default)]
    pub model_hash: String,
    /// The generator's hash over the RTL and ROM contents.
    #[serde(default)]
    pub design_hash: String,
    /// Target clock (informational).
    #[serde(default)]
    pub clock_mhz: Option<f64>,
    /// Port widths.
    pub ports: Ports,
    /// Input stream.
    pub input: InputDesc,
    /// Logits per image (`N`).
    pub outputs: usize,
    /// Observable inter-engine streams.
    #[serde(default)]
    pub taps: Vec<Tap>,
    /// Claimed performance.
    #[serde(default)]
    pub performance: Option<Performance>,
}

/// A loaded, cross-checked design folder.
#[derive(Debug, Clone)]
pub struct Design {
    /// The folder.
    pub dir: PathBuf,
    /// Its `manifest.json`.
    pub manifest: Manifest,
    /// Its `model.json`.
    pub model: QuantModel,
}

/// Is `s` a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`)?
pub(crate) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Design {
    /// Loads `dir/manifest.json` and `dir/model.json` and checks them against each other.
    pub fn load(dir: &Path) -> Result<Design, TbError> {
        let mpath = dir.join("manifest.json");
        let text = std::fs::read_to_string(&mpath).map_err(|e| TbError::io(&mpath, e))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| TbError::Manifest {
            path: mpath.display().to_string(),
            field: "(schema)".into(),
            message: e.to_string(),
        })?;
        let model = QuantModel::load(&dir.join("model.json"))?;
        check(&manifest, &model, dir, &mpath)?;
        Ok(Design {
            dir: dir.to_path_buf(),
            manifest,
            model,
        })
    }

    /// The folder the simulation runs in (`$readmemh` file names are relative to it).
    pub fn rtl_dir(&self) -> PathBuf {
        self.dir.join("rtl")
    }

    /// Input elements per image.
    pub fn elements_per_image(&self) -> usize {
        self.manifest.input.elements
    }
}

fn check(m: &Manifest, model: &QuantModel, dir: &Path, mpath: &Path) -> Result<(), TbError> {
    let bad = |field: &str, message: String| TbError::Manifest {
        path: mpath.display().to_string(),
        field: field.to_string(),
        message,
    };
    if m.format != MANIFEST_FORMAT {
        return Err(bad(
            "format",
            format!("expected \"{MANIFEST_FORMAT}\", found \"{}\"", m.format),
        ));
    }
    if m.version != MANIFEST_VERSION {
        return Err(bad(
            "version",
            format!(
                "unsupported version {}; this build reads {MANIFEST_VERSION}",
                m.version
            ),
        ));
    }
    if !is_ident(&m.top) {
        return Err(bad(
            "top",
            format!("`{}` is not a plain Verilog identifier", m.top),
        ));
    }
    if m.rtl_files.is_empty() {
        return Err(bad("rtl_files", "lists no files".into()));
    }
    for (i, f) in m.rtl_files.iter().chain(&m.hex_files).enumerate() {
        let p = dir.join(f);
        if !p.is_file() {
            let field = if i < m.rtl_files.len() {
                format!("rtl_files[{i}]")
            } else {
                format!("hex_files[{}]", i - m.rtl_files.len())
            };
            return Err(bad(&field, format!("{} does not exist", p.display())));
        }
    }
    if !m.model_hash.is_empty() && m.model_hash != model.hash() {
        return Err(bad(
            "model_hash",
            format!(
                "{} does not match model.json (hash {}): the folder is stale or mixed",
                m.model_hash,
                model.hash()
            ),
        ));
    }
    let p = &m.ports;
    let f = model.input.format;
    if p.in_width != f.bits {
        return Err(bad(
            "ports.in_width",
            format!(
                "is {} but the model's input has {} bits",
                p.in_width, f.bits
            ),
        ));
    }
    if p.in_signed != f.signed {
        return Err(bad(
            "ports.in_signed",
            format!(
                "is {} but the model's input signedness is {}",
                p.in_signed, f.signed
            ),
        ));
    }
    if !(1..=64).contains(&p.out_width) {
        return Err(bad(
            "ports.out_width",
            format!("{} outside 1..=64", p.out_width),
        ));
    }
    if !(1..=64).contains(&p.argmax_width) {
        return Err(bad(
            "ports.argmax_width",
            format!("{} outside 1..=64", p.argmax_width),
        ));
    }
    if m.input.shape != model.input.shape {
        return Err(bad(
            "input.shape",
            format!(
                "{:?} but the model's input is {:?}",
                m.input.shape, model.input.shape
            ),
        ));
    }
    let [c, h, w] = m.input.shape;
    if m.input.elements != c * h * w {
        return Err(bad(
            "input.elements",
            format!("{} but C·H·W = {}", m.input.elements, c * h * w),
        ));
    }
    if m.input.order != "hwc" {
        return Err(bad(
            "input.order",
            format!("\"{}\"; only \"hwc\" is defined", m.input.order),
        ));
    }
    let shapes = model.shapes();
    let n: usize = shapes.last().map(|s| s.iter().product()).unwrap_or(0);
    if m.outputs != n {
        return Err(bad(
            "outputs",
            format!("{} but the model has {n} logits", m.outputs),
        ));
    }
    if p.argmax_width < 64 && (1u128 << p.argmax_width) < n as u128 {
        return Err(bad(
            "ports.argmax_width",
            format!(
                "{} bits cannot hold argmax indices up to {}",
                p.argmax_width,
                n - 1
            ),
        ));
    }
    for (i, t) in m.taps.iter().enumerate() {
        let fld = |k: &str| format!("taps[{i}].{k}");
        let Some(shape) = shapes.get(t.layer + 1) else {
            return Err(bad(
                &fld("layer"),
                format!(
                    "{} but the model has {} layers",
                    t.layer,
                    model.layers.len()
                ),
            ));
        };
        let size: usize = shape.iter().product();
        if t.elements_per_image != size {
            return Err(bad(
                &fld("elements_per_image"),
                format!(
                    "{} but layer {} outputs {size} elements",
                    t.elements_per_image, t.layer
                ),
            ));
        }
        if !(1..=64).contains(&t.width) {
            return Err(bad(&fld("width"), format!("{} outside 1..=64", t.width)));
        }
        if !matches!(t.order.as_str(), "hwc" | "chw" | "c_major") {
            return Err(bad(&fld("order"), format!("unknown order \"{}\"", t.order)));
        }
        for (k, s) in [
            ("tdata", &t.tdata),
            ("tvalid", &t.tvalid),
            ("tready", &t.tready),
        ] {
            if s.is_empty() || !s.split('.').all(is_ident) {
                return Err(bad(
                    &fld(k),
                    format!("`{s}` is not a hierarchical name of plain identifiers (a.b.c)"),
                ));
            }
        }
    }
    Ok(())
}
