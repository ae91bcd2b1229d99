//! The committed default model's design on real Fashion-MNIST test images: the RTL under
//! Verilator equals the integer reference for 500 images with back-pressure on both sides, and
//! the cycle-accurate simulator reproduces every output word at the same cycle.
//!
//! Needs the Debian packages `verilator` and `dataset-fashion-mnist` (CI installs both).

mod common;

use inq_hdl::FoldingRequest;
use inq_model::{QuantModel, Reference};
use inq_sim::SimOptions;
use inq_testbenches::{verify, VerifyOptions};
use std::path::Path;

/// The committed quantized default model (`models/README.md` says how it was made).
const DEFAULT_QUANTIZED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/fashion_lenet_inq5.json"
);
/// The folding of the default design (`inq flow`'s default).
pub const DEFAULT_LANES: usize = 64;

fn fashion_test_images(n: usize) -> Option<(Vec<Vec<i64>>, Vec<usize>)> {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    let images = dir.join("t10k-images-idx3-ubyte.gz");
    if !images.exists() {
        eprintln!("skipping: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist); CI installs it");
        return None;
    }
    let read = |p: &Path| -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(p).expect("open"))
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    };
    let px = read(&images);
    let lb = read(&dir.join("t10k-labels-idx1-ubyte.gz"));
    let imgs = (0..n)
        .map(|i| {
            px[16 + i * 784..16 + (i + 1) * 784]
                .iter()
                .map(|&p| i64::from(p))
                .collect()
        })
        .collect();
    let labels = (0..n).map(|i| usize::from(lb[8 + i])).collect();
    Some((imgs, labels))
}

#[test]
fn default_design_500_images_rtl_equals_reference_and_simulator() {
    if !common::have_verilator("default_design_500_images_rtl_equals_reference_and_simulator") {
        return;
    }
    let Some((images, labels)) = fashion_test_images(500) else {
        return;
    };
    let model =
        QuantModel::load(Path::new(DEFAULT_QUANTIZED)).expect("the committed default model loads");
    let design = inq_hdl::plan(&model, &FoldingRequest::LaneBudget(DEFAULT_LANES)).expect("plan");
    let dir = common::scratch("default-design");
    inq_codegen::generate(&design, &model, &dir, &inq_codegen::GenOptions::default())
        .expect("generate");

    let stall_rate = 0.1;
    let rtl = verify(
        &dir,
        &images,
        &VerifyOptions {
            stall_rate,
            seed: 42,
            labels: Some(labels.clone()),
            ..common::opts()
        },
    )
    .expect("verilator run");
    assert!(
        rtl.passed,
        "RTL differs from the reference: {:?} {:?}",
        &rtl.mismatches[..rtl.mismatches.len().min(5)],
        rtl.diagnosis
    );
    assert_eq!(rtl.images, 500);

    // The RTL's accuracy is the integer reference's (what `inq eval` reports).
    let reference = Reference::new(&model).expect("reference");
    let correct = images
        .iter()
        .zip(&labels)
        .filter(|(x, &l)| reference.run(x).expect("run").argmax == l)
        .count();
    assert_eq!(rtl.accuracy, Some(correct as f64 / 500.0));

    let sim = inq_sim::verify(
        &model,
        &design,
        &images,
        &SimOptions {
            stall_rate,
            seed: 42,
            labels: Some(labels),
            ..Default::default()
        },
    )
    .expect("simulator run");
    assert_eq!(sim.mismatch_count, 0);
    assert_eq!(
        sim.total_cycles, rtl.total_cycles,
        "total cycles: simulator vs Verilator"
    );
    assert_eq!(sim.input_starts, rtl.input_starts);
    if let Some((i, (s, r))) = sim
        .outputs
        .iter()
        .zip(&rtl.outputs)
        .enumerate()
        .find(|(_, (s, r))| s != r)
    {
        panic!("output word {i}: simulator {s:?}, Verilator {r:?}");
    }
    assert_eq!(sim.outputs.len(), rtl.outputs.len());
    // The plan's steady-state interval is what the hardware does (within 2%).
    let plan = design.interval_cycles() as f64;
    let stall_free =
        inq_sim::simulate(&design, &images[..20], &SimOptions::default()).expect("sim");
    let measured = stall_free.interval_cycles.expect("interval");
    assert!(
        (measured - plan).abs() / plan <= 0.02,
        "plan {plan} vs simulated {measured}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
