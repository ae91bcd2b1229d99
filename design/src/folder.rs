//! A design folder on disk: loading `manifest.json` and `model.json` and checking them against
//! each other ([`DesignFolder::load`]), or reading a bare design ([`load_design`]).
//!
//! Layout of a folder `inq gen` writes: `manifest.json`, `model.json`, `rtl/` (Verilog and
//! memory images; every tool runs there, see [`Manifest::run_dir`]), `constraints/` (SDC,
//! XDC) and `logs/` (tool logs of later commands).

use std::path::{Path, PathBuf};

use inq_hdl::Design;
use inq_model::QuantModel;

use crate::error::FolderError;
use crate::manifest::{Manifest, MANIFEST_FORMAT, MANIFEST_VERSION};

/// A loaded, cross-checked design folder.
#[derive(Debug, Clone)]
pub struct DesignFolder {
    /// The folder.
    pub dir: PathBuf,
    /// Its `manifest.json`.
    pub manifest: Manifest,
    /// Its `model.json`.
    pub model: QuantModel,
}

/// Is `s` a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`)?
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads and parses `dir/manifest.json` (format and version checked, nothing else).
pub fn read_manifest(dir: &Path) -> Result<Manifest, FolderError> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).map_err(|e| FolderError::io(&mpath, e))?;
    parse_manifest(&text, &mpath.display().to_string())
}

/// Parses the text of a `manifest.json` (format and version checked, nothing else); `origin`
/// names the file in errors. [`read_manifest`] is this on a folder's file.
pub fn parse_manifest(text: &str, origin: &str) -> Result<Manifest, FolderError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| FolderError::Manifest {
        path: origin.to_string(),
        field: "(schema)".into(),
        message: format!("not JSON: {e}"),
    })?;
    let bad = |field: &str, message: String| FolderError::Manifest {
        path: origin.to_string(),
        field: field.to_string(),
        message,
    };
    if v.get("format").and_then(|f| f.as_str()) != Some(MANIFEST_FORMAT) {
        return Err(bad(
            "format",
            format!(
                "expected \"{MANIFEST_FORMAT}\", found {}",
                v.get("format")
                    .map(|f| f.to_string())
                    .unwrap_or_else(|| "nothing".into())
            ),
        ));
    }
    match v.get("version").and_then(|x| x.as_u64()) {
        Some(x) if x == u64::from(MANIFEST_VERSION) => {}
        other => {
            return Err(bad(
                "version",
                format!(
                    "unsupported version {}; this build reads {MANIFEST_VERSION} (regenerate the folder with `inq gen`)",
                    other.map(|x| x.to_string()).unwrap_or_else(|| "(missing)".into())
                ),
            ))
        }
    }
    serde_json::from_value(v).map_err(|e| bad("(schema)", e.to_string()))
}

impl DesignFolder {
    /// Loads `dir/manifest.json` and `dir/model.json` and checks them against each other, so
    /// that a stale or inconsistent folder is rejected with an error naming the field before
    /// anything is built.
    pub fn load(dir: &Path) -> Result<DesignFolder, FolderError> {
        let manifest = read_manifest(dir)?;
        let model = QuantModel::load(&dir.join("model.json"))?;
        check(&manifest, &model, dir, &dir.join("manifest.json"))?;
        Ok(DesignFolder {
            dir: dir.to_path_buf(),
            manifest,
            model,
        })
    }

    /// The folder every tool runs in (`$readmemh` file names are relative to it).
    pub fn rtl_dir(&self) -> PathBuf {
        self.dir.join(&self.manifest.run_dir)
    }

    /// The RTL files by file name, as tools running in [`DesignFolder::rtl_dir`] read them.
    pub fn rtl_file_names(&self) -> Vec<String> {
        self.manifest
            .rtl_files
            .iter()
            .map(|f| {
                Path::new(f)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| f.clone())
            })
            .collect()
    }

    /// The folder for tool logs (created on demand by the tools' runners).
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// The design.
    pub fn design(&self) -> &Design {
        &self.manifest.design
    }

    /// Input elements per image.
    pub fn elements_per_image(&self) -> usize {
        self.manifest.input.elements
    }
}

/// A design read from disk, with what came with it.
#[derive(Debug, Clone)]
pub struct LoadedDesign {
    /// The hardware plan.
    pub design: Design,
    /// `clock_mhz` of the manifest, if there is one.
    pub clock_mhz: Option<f64>,
    /// The folder's `model.json`, if there is one.
    pub model: Option<QuantModel>,
}

/// Loads a design from a generated design folder (its manifest and model, checked) or from a
/// JSON file holding a `Design` or a manifest.
pub fn load_design(path: &Path) -> Result<LoadedDesign, FolderError> {
    if path.is_dir() {
        let f = DesignFolder::load(path)?;
        return Ok(LoadedDesign {
            clock_mhz: Some(f.manifest.clock_mhz),
            design: f.manifest.design,
            model: Some(f.model),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| FolderError::io(path, e))?;
    parse_design(&text, &path.display().to_string())
}

/// Parses JSON text holding a `Design` or a manifest (the file form of [`load_design`], which
/// is this on the file's contents); `origin` names the file in errors.
pub fn parse_design(text: &str, origin: &str) -> Result<LoadedDesign, FolderError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| FolderError::Io {
        path: origin.to_string(),
        message: format!("not JSON: {e}"),
    })?;
    let clock_mhz = v.get("clock_mhz").and_then(|c| c.as_f64());
    let d = v.get("design").cloned().unwrap_or(v);
    let design = serde_json::from_value(d).map_err(|e| FolderError::Io {
        path: origin.to_string(),
        message: format!("not an inq design: {e}"),
    })?;
    Ok(LoadedDesign {
        design,
        clock_mhz,
        model: None,
    })
}

fn check(m: &Manifest, model: &QuantModel, dir: &Path, mpath: &Path) -> Result<(), FolderError> {
    let bad = |field: &str, message: String| FolderError::Manifest {
        path: mpath.display().to_string(),
        field: field.to_string(),
        message,
    };
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
        let field = || {
            if i < m.rtl_files.len() {
                format!("rtl_files[{i}]")
            } else {
                format!("hex_files[{}]", i - m.rtl_files.len())
            }
        };
        let rel = Path::new(f);
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(bad(
                &field(),
                format!("`{f}` must be a relative path inside the folder"),
            ));
        }
        let p = dir.join(f);
        if !p.is_file() {
            return Err(bad(&field(), format!("{} does not exist", p.display())));
        }
    }
    if m.model_hash != model.hash() {
        return Err(bad(
            "model_hash",
            format!(
                "{} does not match model.json (hash {}): the folder is stale or mixed",
                m.model_hash,
                model.hash()
            ),
        ));
    }
    if m.design.model_hash != m.model_hash {
        return Err(bad(
            "design.model_hash",
            "differs from the manifest's model_hash".into(),
        ));
    }
    let p = &m.ports;
    let f = model.input.format;
    if p.in_width != f.bits || p.in_signed != f.signed {
        return Err(bad(
            "ports.in_width",
            format!(
                "is {} bits (signed {}) but the model's input has {} bits (signed {})",
                p.in_width, p.in_signed, f.bits, f.signed
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
    let g = model.graph()?;
    let n = g.infos[g.output].elements();
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
        let size = match t.node {
            None => c * h * w,
            Some(k) => match g.infos.get(k) {
                Some(info) => info.elements(),
                None => {
                    return Err(bad(
                        &fld("node"),
                        format!("{k} but the model has {} nodes", model.nodes.len()),
                    ))
                }
            },
        };
        if t.elements_per_image != size {
            return Err(bad(
                &fld("elements_per_image"),
                format!(
                    "{} but the tensor has {size} elements",
                    t.elements_per_image
                ),
            ));
        }
        if !(1..=64).contains(&t.width) {
            return Err(bad(&fld("width"), format!("{} outside 1..=64", t.width)));
        }
        if t.order != "hwc" {
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
