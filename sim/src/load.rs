//! Loading a `Design` from a generated design folder or a JSON file.

use std::path::Path;

use inq_hdl::Design;
use inq_model::QuantModel;

use crate::SimError;

/// A design loaded from disk, with what the folder says about it.
#[derive(Debug, Clone)]
pub struct LoadedDesign {
    /// The hardware plan.
    pub design: Design,
    /// `clock_mhz` of the manifest, if there is one.
    pub clock_mhz: Option<f64>,
    /// The folder's `model.json`, if there is one.
    pub model: Option<QuantModel>,
}

fn read(path: &Path) -> Result<String, SimError> {
    std::fs::read_to_string(path).map_err(|e| SimError::io(path, e))
}

fn parse_design(text: &str, origin: &Path) -> Result<Design, SimError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SimError::io(origin, format!("not JSON: {e}")))?;
    design_from_value(v, origin)
}

fn design_from_value(v: serde_json::Value, origin: &Path) -> Result<Design, SimError> {
    serde_json::from_value(v).map_err(|e| SimError::io(origin, format!("not an inq design: {e}")))
}

/// Loads a design.
///
/// `path` is either
/// * a generated design folder (`inq gen MODEL --out DIR`): the design is read from
///   `DIR/manifest.json` under the key `"design"` (as `inq_hdl::Design::from_json` expects),
///   or else from `DIR/design.json`; `clock_mhz` from the manifest and the model from
///   `DIR/model.json` when present; or
/// * a JSON file holding either a `Design` or a manifest with a `"design"` key.
pub fn load_design(path: &Path) -> Result<LoadedDesign, SimError> {
    if path.is_dir() {
        let manifest_path = path.join("manifest.json");
        let mut clock_mhz = None;
        let mut design = None;
        if manifest_path.is_file() {
            let v: serde_json::Value = serde_json::from_str(&read(&manifest_path)?)
                .map_err(|e| SimError::io(&manifest_path, format!("not JSON: {e}")))?;
            clock_mhz = v.get("clock_mhz").and_then(|c| c.as_f64());
            if let Some(d) = v.get("design") {
                design = Some(design_from_value(d.clone(), &manifest_path)?);
            }
        }
        let design = match design {
            Some(d) => d,
            None => {
                let dj = path.join("design.json");
                if !dj.is_file() {
                    return Err(SimError::io(
                        path,
                        "no design found: neither manifest.json with a \"design\" key nor design.json",
                    ));
                }
                parse_design(&read(&dj)?, &dj)?
            }
        };
        let model_path = path.join("model.json");
        let model = if model_path.is_file() {
            Some(QuantModel::load(&model_path)?)
        } else {
            None
        };
        Ok(LoadedDesign {
            design,
            clock_mhz,
            model,
        })
    } else {
        let text = read(path)?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| SimError::io(path, format!("not JSON: {e}")))?;
        let clock_mhz = v.get("clock_mhz").and_then(|c| c.as_f64());
        let design = match v.get("design") {
            Some(d) => design_from_value(d.clone(), path)?,
            None => design_from_value(v, path)?,
        };
        Ok(LoadedDesign {
            design,
            clock_mhz,
            model: None,
        })
    }
}
