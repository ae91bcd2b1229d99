//! The committed models' designs on real Fashion-MNIST test images: the RTL under Verilator
//! equals the integer reference (every output word and every stream) with back-pressure on
//! both sides, and the cycle-accurate simulator reproduces every output word at the same
//! cycle: the default LeNet design on 500 images, the 4-bit ResNet-8 design (forks, skip FIFOs
//! sized by simulation, adders, GAP) on 40.
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

/// The first `n` Fashion-MNIST test images and labels. Fails (does not skip) without the
/// Debian package: `scripts/setup` installs it, CI runs that.
fn fashion_test_images(n: usize) -> (Vec<Vec<i64>>, Vec<usize>) {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    let images = dir.join("t10k-images-idx3-ubyte.gz");
    assert!(
        images.exists(),
        "{} is missing: install the Debian package dataset-fashion-mnist (`scripts/setup`)",
        images.display()
    );
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
    (imgs, labels)
}

#[test]
fn default_design_500_images_rtl_equals_reference_and_simulator() {
    check_committed(
        DEFAULT_QUANTIZED,
        DEFAULT_LANES,
        false,
        500,
        "default-design",
    );
}

/// The committed 4-bit ResNet-8 (`models/README.md`).
const RESNET8_QUANTIZED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/fashion_resnet8_inq4.json"
);

#[test]
fn resnet8_design_rtl_equals_reference_and_simulator() {
    // `inq flow --arch resnet8`'s default folding, skip FIFOs sized by simulation
    check_committed(RESNET8_QUANTIZED, 256, true, 40, "resnet8-design");
}

/// Plans `model_path` within `lanes` lanes (skip FIFOs minimized by simulation if
/// `minimize`), generates it, and checks `n` test images at stall rate 0.1: Verilator =
/// reference (values, every stream, accuracy), simulator = Verilator (every output word's
/// cycle, input starts, total cycles), plan interval = simulated interval within 2 %.
fn check_committed(model_path: &str, lanes: usize, minimize: bool, n: usize, name: &str) {
    common::require_verilator();
    let (images, labels) = fashion_test_images(n);
    let model = QuantModel::load(Path::new(model_path)).expect("the committed model loads");
    let mut design = inq_hdl::plan(&model, &FoldingRequest::LaneBudget(lanes)).expect("plan");
    if minimize {
        design = inq_sim::minimize_skip_fifos(&design, 4)
            .expect("FIFO sizing")
            .0;
    }
    let dir = common::scratch(name);
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
    assert_eq!(rtl.images, n);
    assert!(rtl.streams_checked && rtl.stream_mismatches == 0);

    // The RTL's accuracy is the integer reference's (what `inq eval` reports).
    let reference = Reference::new(&model).expect("reference");
    let correct = images
        .iter()
        .zip(&labels)
        .filter(|(x, &l)| reference.run(x).expect("run").argmax == l)
        .count();
    assert_eq!(rtl.accuracy, Some(correct as f64 / n as f64));

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
