//! The file format: round trip, and rejection of bad files with the field named.

mod common;
use inq_model::*;

fn reject(m: &QuantModel, field: &str, words: &str) {
    let text = serde_json::to_string(m).unwrap();
    let err = QuantModel::from_json_str(&text, "bad.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.json"),
        "error does not name the file: {err}"
    );
    assert!(
        err.contains(&format!("`{field}`")),
        "error does not name `{field}`: {err}"
    );
    assert!(err.contains(words), "error does not say '{words}': {err}");
}

#[test]
fn round_trip_is_exact() {
    let mut m = common::tiny();
    m.provenance.source = "unit test".into();
    m.provenance
        .settings
        .insert("bits".into(), serde_json::json!(4));
    m.provenance.metrics.insert("integer_accuracy".into(), 0.5);
    let dir = std::env::temp_dir().join(format!("inq-model-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("m.json");
    m.save(&p).unwrap();
    let back = QuantModel::load(&p).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.hash(), m.hash());
    // and the text itself is stable
    assert_eq!(
        back.to_json_string().unwrap(),
        std::fs::read_to_string(&p).unwrap()
    );
    // no temp files left behind
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_refuses_invalid_model_and_leaves_no_file() {
    let mut m = common::tiny();
    m.nodes.pop();
    let p = std::env::temp_dir().join(format!("inq-model-bad-{}.json", std::process::id()));
    assert!(m.save(&p).is_err());
    assert!(!p.exists());
}

#[test]
fn rejects_too_wide_code() {
    let mut m = common::tiny();
    common::conv(&mut m, "conv").weights.codes[5] = 0b10000; // bit 4 set in a 4-bit code
    reject(
        &m,
        "node \"conv\" (nodes[0]).weights.codes[5]",
        "does not fit 4 bits",
    );
}

#[test]
fn rejects_dirty_zero_code() {
    let mut m = common::tiny();
    common::dense(&mut m, "fc").weights.codes[2] = 0b001; // nz clear, index bit set
    reject(
        &m,
        "node \"fc\" (nodes[3]).weights.codes[2]",
        "non-zero flag clear",
    );
}

#[test]
fn rejects_wrong_code_count_and_n1() {
    let mut m = common::tiny();
    common::conv(&mut m, "conv").weights.codes.pop();
    reject(&m, "node \"conv\" (nodes[0]).weights.codes", "needs 8");
    let mut m = common::tiny();
    common::conv(&mut m, "conv").weights.n1 = vec![0, 0, 0];
    reject(&m, "node \"conv\" (nodes[0]).weights.n1", "expected 1 or 2");
    let mut m = common::tiny();
    common::conv(&mut m, "conv").weights.bits = 9;
    reject(&m, "node \"conv\" (nodes[0]).weights.bits", "outside 2..=8");
}

#[test]
fn rejects_broken_shape_chain() {
    let mut m = common::tiny();
    common::dense(&mut m, "fc").in_features = 3;
    reject(
        &m,
        "node \"fc\" (nodes[3]).in_features",
        "incoming vector has 2 elements",
    );
    let mut m = common::tiny();
    m.nodes.remove(2); // no flatten before dense
    m.nodes[2].inputs = vec!["pool".into()];
    reject(&m, "node \"fc\" (nodes[2])", "needs a vector input");
    let mut m = common::tiny();
    common::conv(&mut m, "conv").in_channels = 3;
    reject(
        &m,
        "node \"conv\" (nodes[0]).in_channels",
        "incoming tensor has 1 channels",
    );
    let mut m = common::tiny();
    if let Op::MaxPool(p) = &mut m.nodes[1].op {
        p.0.kernel = [3, 3];
    }
    reject(
        &m,
        "node \"pool\" (nodes[1]).kernel",
        "larger than the input 2×2",
    );
}

#[test]
fn rejects_unknown_version_and_format() {
    let m = common::tiny();
    let mut v: serde_json::Value = serde_json::to_value(&m).unwrap();
    v["version"] = serde_json::json!(3);
    let err = QuantModel::from_json_str(&v.to_string(), "v3.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`version`") && err.contains("unsupported format version 3"),
        "{err}"
    );
    v["format"] = serde_json::json!("onnx");
    let err = QuantModel::from_json_str(&v.to_string(), "f.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`format`"), "{err}");
}

#[test]
fn rejects_unknown_field_and_bad_json() {
    let m = common::tiny();
    let mut v: serde_json::Value = serde_json::to_value(&m).unwrap();
    v["nodes"][0]["dilation"] = serde_json::json!(2);
    let err = QuantModel::from_json_str(&v.to_string(), "u.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("u.json") && err.contains("dilation") && err.contains("node \"conv\""),
        "{err}"
    );
    let err = QuantModel::from_json_str("{\"format\": ", "t.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("t.json"), "{err}");
    let err = QuantModel::load(std::path::Path::new("/nonexistent/m.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/m.json"), "{err}");
}

#[test]
fn rejects_inconsistent_formats() {
    let mut m = common::tiny();
    common::conv(&mut m, "conv").output = Output::Act {
        bits: 8,
        signed: true,
        exp: -1,
    };
    reject(
        &m,
        "node \"conv\" (nodes[0]).output.signed",
        "ReLU layer must have an unsigned output",
    );
    let mut m = common::tiny();
    common::dense(&mut m, "fc").output = Output::Act {
        bits: 8,
        signed: true,
        exp: 0,
    };
    reject(
        &m,
        "output",
        "must be a conv or dense layer with a logits output",
    );
    let mut m = common::tiny();
    let c = common::conv(&mut m, "conv");
    c.output = Output::Logits;
    c.relu = false;
    reject(&m, "node \"pool\" (nodes[1])", "logits tensor");
    let mut m = common::tiny();
    common::conv(&mut m, "conv").output = Output::Act {
        bits: 17,
        signed: false,
        exp: -1,
    };
    reject(&m, "node \"conv\" (nodes[0]).output.bits", "outside 2..=16");
    let mut m = common::tiny();
    common::conv(&mut m, "conv").bias[1] = 1 << 50;
    reject(&m, "node \"conv\" (nodes[0]).bias[1]", "accumulator");
    let mut m = common::tiny();
    common::conv(&mut m, "conv").pad_value = 300;
    reject(
        &m,
        "node \"conv\" (nodes[0]).pad_value",
        "outside the input format's range",
    );
}

#[test]
fn rejects_non_power_of_two_average() {
    let mut m = common::tiny();
    let c = common::conv(&mut m, "conv");
    c.kernel = [1, 1];
    c.weights.codes.truncate(2);
    m.nodes[1].op = Op::AvgPool(inq_model::ops::AvgPool(inq_model::ops::Window {
        kernel: [1, 3],
        stride: [3, 3],
    }));
    reject(&m, "node \"pool\" (nodes[1]).kernel", "power of two");
}

#[test]
fn int_weights_round_trip_and_reject_the_most_negative_code() {
    let spec = random::lenet_spec(-8, true);
    let m = random::build_with_kind(&spec, 2, WeightKind::Int).unwrap();
    let text = m.to_json_string().unwrap();
    assert!(text.contains("\"kind\":\"int\""));
    let back = QuantModel::from_json_str(&text, "int.json").unwrap();
    assert_eq!(back, m);
    // a pow2 model serializes without the field (old files and hashes unchanged)
    let p = common::tiny();
    assert!(!p.to_json_string().unwrap().contains("\"kind\":\"pow2\""));
    let mut bad = m.clone();
    let first = bad.nodes[0].name.clone();
    let c = common::conv(&mut bad, &first);
    c.weights.codes[3] = 1 << (c.weights.bits - 1);
    reject(
        &bad,
        &format!("node \"{first}\" (nodes[0]).weights.codes[3]"),
        "most negative",
    );
}
