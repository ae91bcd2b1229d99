//! The fuzz target bodies: bytes in, one loader called, errors ignored. A body must never
//! panic, hang or allocate more than 1 GiB, whatever the bytes; where a loader accepts its
//! input, the body also checks what the rest of `inq` relies on (e.g. a dataset holds
//! `images × image size` pixels, a model that loads saves and loads again).
//!
//! This file is the one definition of the targets, compiled in two places:
//!
//! * the `inq-fuzz` package (`fuzz/`, outside the workspace) as `inq_fuzz::targets`; each
//!   libFuzzer binary `fuzz/fuzz_targets/<name>.rs` calls one body;
//! * the workspace test `inq/tests/fuzz_replay.rs`, through
//!   `#[path = "../../fuzz/src/targets.rs"] mod targets;`, which replays the committed seeds
//!   and regressions through every body and runs a short deterministic mutation loop (the CI
//!   fuzz run) without libFuzzer.
//!
//! So it may only use crates both have: `inq_quant`, `inq_model`, `inq_hdl`, `inq_design`
//! and `std`.
//!
//! Targets reading two files (images and labels) take one input holding both: see [`split2`].

use std::sync::OnceLock;

use inq_hdl::{Folding, FoldingRequest};
use inq_model::QuantModel;
use inq_quant::data::{self, Dataset};

/// A target body.
pub type Body = fn(&[u8]);

/// Every target: its name (the `[[bin]]`, corpus and regression folder name) and body.
pub const TARGETS: [(&str, Body); 6] = [
    ("onnx", onnx),
    ("idx", idx),
    ("npy", npy),
    ("model", model),
    ("manifest", manifest),
    ("fold", fold),
];

/// The body of target `name`.
pub fn by_name(name: &str) -> Option<Body> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|&(_, b)| b)
}

/// Splits one input into two files: the first two bytes are the length of the first file
/// (little-endian, clamped to what follows), the rest is the first file then the second. An
/// input shorter than two bytes is the first file alone, the second empty.
pub fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    match data {
        [lo, hi, rest @ ..] => {
            rest.split_at(usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len()))
        }
        _ => (data, &[]),
    }
}

/// The input [`split2`] splits into `a` and `b` (`a` at most 65 535 bytes).
pub fn join2(a: &[u8], b: &[u8]) -> Vec<u8> {
    let n = u16::try_from(a.len()).expect("first file of at most 65535 bytes");
    let mut out = n.to_le_bytes().to_vec();
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out
}

/// `inq_quant::onnx::import_bytes` (what `inq import`, `inq quantize` and the flow use to read
/// a `.onnx` file).
pub fn onnx(data: &[u8]) {
    let _ = inq_quant::onnx::import_bytes(data, "fuzz.onnx");
}

/// What every consumer of a [`Dataset`] relies on.
fn check_dataset(ds: &Dataset) {
    let expected = ds.len().checked_mul(ds.image_len());
    assert_eq!(
        Some(ds.pixels.len()),
        expected,
        "dataset of {} images of {:?} holds {} pixels",
        ds.len(),
        ds.image_shape(),
        ds.pixels.len()
    );
    if !ds.is_empty() {
        let _ = ds.image(ds.len() - 1);
    }
}

/// IDX: an image file and a label file ([`split2`]), each gzipped or not, through
/// `data::parse_idx` and `data::idx_dataset` (what `data::load_idx` does with a split's files).
pub fn idx(data: &[u8]) {
    let (a, b) = split2(data);
    let images = data::parse_idx(a, "images");
    let labels = data::parse_idx(b, "labels");
    if let (Ok(im), Ok(lb)) = (images, labels) {
        if let Ok(ds) = data::idx_dataset(im, "images", lb, "labels") {
            check_dataset(&ds);
        }
    }
}

/// NumPy: an image array and a label array ([`split2`]) through `data::parse_npy` and
/// `data::npy_dataset` (what `data::load_npy` does with the two files).
pub fn npy(data: &[u8]) {
    let (a, b) = split2(data);
    let images = data::parse_npy(a, "images.npy");
    let labels = data::parse_npy(b, "labels.npy");
    for arr in [&images, &labels].into_iter().flatten() {
        let count = arr.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        assert_eq!(
            count.and_then(|n| n.checked_mul(arr.dtype.size())),
            Some(arr.data.len()),
            "array of shape {:?} holds {} bytes",
            arr.shape,
            arr.data.len()
        );
        if !arr.is_empty() {
            let _ = arr.get_f64(arr.len() - 1);
        }
    }
    if let (Ok(im), Ok(lb)) = (images, labels) {
        if let Ok(ds) = data::npy_dataset(im, "images.npy", lb, "labels.npy") {
            check_dataset(&ds);
        }
    }
}

/// The model file: `QuantModel::from_json_str` (JSON, version 1 converted, validation); a
/// model that loads must save (`to_json_string` validates again) and load again.
pub fn model(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = QuantModel::from_json_str(text, "fuzz.json") {
        let saved = m.to_json_string().expect("a model that loads can be saved");
        QuantModel::from_json_str(&saved, "saved.json").expect("a saved model loads again");
        let _ = m.hash();
    }
}

/// The design manifest: `inq_design::folder::parse_manifest` (what `read_manifest` and
/// `DesignFolder::load` read) and `parse_design` (the file form of `load_design`); a manifest
/// that parses must serialize and parse again.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = inq_design::folder::parse_manifest(text, "manifest.json") {
        let saved = serde_json::to_string(&m).expect("a manifest that parses serializes");
        inq_design::folder::parse_manifest(&saved, "saved.json")
            .expect("a serialized manifest parses again");
    }
    let _ = inq_design::folder::parse_design(text, "design.json");
}

/// The model a parsed folding file is planned against (a residual network: conv, pool,
/// add, dense), parsed once.
fn fold_model() -> &'static QuantModel {
    static MODEL: OnceLock<QuantModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        QuantModel::from_json_str(
            include_str!("../../codegen/tests/golden/residual/model.json"),
            "codegen/tests/golden/residual/model.json",
        )
        .expect("the golden residual model loads")
    })
}

/// The folding file (`inq gen --fold FILE`): `Folding::from_toml_str` and
/// `Folding::from_json_str` (errors name `file:line:col`); a folding that parses is planned
/// against a small residual model (`inq_hdl::plan`), whose checks must reject what does not
/// fit rather than panic.
pub fn fold(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for f in [
        Folding::from_toml_str(text, "fold.toml"),
        Folding::from_json_str(text, "fold.json"),
    ]
    .into_iter()
    .flatten()
    {
        let _ = inq_hdl::plan(fold_model(), &FoldingRequest::Explicit(f));
    }
}
