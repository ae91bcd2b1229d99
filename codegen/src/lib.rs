//! # inq-codegen — Verilog from a `Design`
//!
//! Turns an [`inq_hdl::Design`] (a graph of engines joined by streams, `docs/hardware.md` §2)
//! into synthesizable Verilog-2005, `$readmemh` memory images, SDC/XDC constraints (from the
//! templates in `constraints/`) and a `manifest.json` ([`inq_design::Manifest`]), written as
//! one design folder with [`inq_design::write_folder`] (never half-written).
//!
//! Entry point: [`generate`]. The micro-architecture every template implements is specified in
//! `docs/hardware.md`; every width, depth, shift and parameter comes from the `Design`, the
//! templates (askama, under `codegen/templates/`, custom delimiters `@{ }@` / `@% %@` set in
//! `askama.toml` because Verilog concatenations contain `{{`) hold only text.
//!
//! Layout of the crate:
//!
//! * `render`: the `Design` → the top level (`inq_top`: one `inq_fifo` per stream, the
//!   engine instances, the output stage, the stream and tap wires) and the list of files;
//! * `engines`: one file per engine kind (`mvu`, `pool`, `gap`, `add`, `fork`) saying which
//!   modules it needs, which extra files it writes (weight ROMs, tables, per-engine modules)
//!   and how its ports are wired in the top, behind one dispatch point over
//!   [`inq_hdl::EngineKind`];
//! * `manifest`: the `manifest.json` contents;
//! * [`board`]: board tops (UART image loader around `inq_top`) and their pin files;
//! * [`hex`]: memory-image words; [`sanitize`]: identifiers from untrusted text.
//!
//! Every generated module elaborates on its own with its default parameters (memory-file
//! parameters default to an empty name and `$readmemh` is only called for a non-empty one), so
//! the RTL files can be read in any order by yosys (plain `read_verilog`), Icarus and
//! Verilator. No text from the model reaches the RTL unsanitized: node and model names only
//! appear as [`sanitize_ident`] output.

pub mod board;
mod engines;
pub mod error;
pub mod hex;
mod manifest;
pub mod options;
mod parts;
mod render;
pub mod sanitize;

use std::path::Path;

use inq_design::Manifest;
use inq_hdl::Design;
use inq_model::QuantModel;

pub use error::CodegenError;
pub use options::{GenOptions, GENERATOR};
pub use render::{FIFO_INSTANCE_PREFIX, OUTPUT_INSTANCE};
pub use sanitize::sanitize_ident;

/// Generates the design folder `out_dir`: `rtl/` (Verilog and memory images), `constraints/`,
/// `board/<name>/` (a board top and its pin file, [`board`]),
/// `model.json` and `manifest.json`. An existing folder `inq` wrote is replaced atomically
/// (files the user added are kept); any other existing path is refused unless
/// [`GenOptions::force`] (`docs/user-guide.md`, "Output folders").
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
    let out = render::render(design, model, opts)?;
    let manifest = manifest::build(design, opts, &out);
    let mut files: Vec<(String, Vec<u8>)> = out
        .rtl
        .into_iter()
        .chain(out.hex)
        .chain(out.constraints)
        .chain(out.board)
        .map(|f| (f.rel, f.contents))
        .collect();
    let model_json = model
        .to_json_string()
        .map_err(|e| CodegenError::Serialize {
            path: "model.json".into(),
            message: e.to_string(),
        })?;
    files.push(("model.json".into(), model_json.into_bytes()));
    let manifest_json =
        serde_json::to_string_pretty(&manifest).map_err(|e| CodegenError::Serialize {
            path: "manifest.json".into(),
            message: e.to_string(),
        })?;
    files.push(("manifest.json".into(), manifest_json.into_bytes()));
    inq_design::write_folder(out_dir, "design", &files, opts.force)?;
    Ok(manifest)
}
