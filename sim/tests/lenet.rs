//! The LeNet-shaped design of the benchmark: bit-exact with the reference, and its measured
//! interval compared with the plan.

use inq_hdl::{plan, FoldingRequest};
use inq_model::random::{build, lenet_spec, random_input};
use inq_sim::{verify, SimOptions};

fn lenet() -> inq_model::QuantModel {
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
