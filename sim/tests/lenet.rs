//! The LeNet-shaped designs: bit-exact with the reference, and their cycles pinned to the
//! figures recorded before the move to graph designs (chains behave exactly as before: the
//! same output cycles, latencies and intervals; `docs/performance.md`).

use inq_hdl::{plan, FoldingRequest};
use inq_model::random::{build, lenet_spec, random_input};
use inq_model::QuantModel;
use inq_sim::{simulate, verify, SimOptions};

fn lenet() -> QuantModel {
    let spec = lenet_spec(-8, false);
    build(&spec, 42).unwrap()
}

/// With a 64-lane budget the stages are balanced at 28 224 planned cycles per image, and the
/// simulator measures exactly that. (Before the line buffers were shared across images and
/// the dense layers double-buffered, it measured 45 330: the dense layer did not overlap
/// receiving a vector with computing it, and during its 25 088 compute cycles the small FIFOs
/// and the pooling line buffer filled up and blocked conv2.)
#[test]
fn lenet_lanes64_is_exact_and_its_interval_is_pinned() {
    let m = lenet();
    let d = plan(&m, &FoldingRequest::LaneBudget(64)).unwrap();
    assert_eq!(d.interval_cycles(), 28_224);
    let imgs: Vec<Vec<i64>> = (0..4).map(|i| random_input(&m, i)).collect();
    let r = verify(&m, &d, &imgs, &SimOptions::default()).unwrap();
    assert_eq!(r.mismatch_count, 0, "{:?}", r.mismatches);
    assert_eq!(r.interval_cycles, Some(28_224.0));
    assert_eq!(r.latency_cycles, 58_737);
    let r2 = verify(
        &m,
        &d,
        &imgs[..2],
        &SimOptions {
            stall_rate: 0.2,
            seed: 3,
            ..SimOptions::default()
        },
    )
    .unwrap();
    assert_eq!(r2.mismatch_count, 0);
}

/// The default model (`models/fashion_lenet_inq5.json`, a version-1 chain file) at
/// `LaneBudget(64)`: 45 lanes, 28 224 cycles per image planned and simulated, first-image
/// latency 58 737 cycles (58 742 with stall rate 0.1), and the total cycles for three images.
/// (Until the tiled pooling unit of `docs/hardware.md` §5.1, whose results leave as soon as a
/// window is complete, the chain simulator's figures were 59 185 and 59 190 cycles.)
#[test]
fn default_model_cycles_are_unchanged() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fashion_lenet_inq5.json");
    let m = QuantModel::load(&path).unwrap();
    let d = plan(&m, &FoldingRequest::LaneBudget(64)).unwrap();
    assert_eq!(d.total_lanes(), 45);
    assert_eq!(d.interval_cycles(), 28_224);
    assert_eq!(d.streams.len(), d.engines.len() + 1, "a chain");
    let imgs: Vec<Vec<i64>> = (0..3).map(|i| random_input(&m, 100 + i)).collect();
    let r = verify(&m, &d, &imgs, &SimOptions::default()).unwrap();
    assert_eq!(r.mismatch_count, 0);
    assert_eq!(
        (r.total_cycles, r.latency_cycles, r.interval_cycles),
        (115_186, 58_737, Some(28_224.0))
    );
    let r = simulate(
        &d,
        &imgs,
        &SimOptions {
            stall_rate: 0.1,
            seed: 1,
            ..SimOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (r.total_cycles, r.latency_cycles, r.interval_cycles),
        (115_191, 58_742, Some(28_224.0))
    );
    // 256 lanes: bound by conv1's output stream (12 544 elements; 12 545 before the tiled
    // pooling unit, whose input side has no wrap cycle)
    let d = plan(&m, &FoldingRequest::LaneBudget(256)).unwrap();
    let r = simulate(
        &d,
        &imgs[..2],
        &SimOptions {
            stall_rate: 0.1,
            seed: 2,
            ..SimOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (r.total_cycles, r.latency_cycles, r.interval_cycles),
        (40_052, 27_507, Some(12_544.0))
    );
}
