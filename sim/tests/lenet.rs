//! The LeNet-shaped design of the benchmark: bit-exact with the reference, and its measured
//! interval compared with the plan.

use inq_hdl::{plan, FoldingRequest};
use inq_model::random::{build, random_input, LayerSpec, RandomSpec};
use inq_model::ActFormat;
use inq_sim::{verify, SimOptions};

fn lenet() -> inq_model::QuantModel {
    let conv = |out| LayerSpec::Conv {
        out,
        k: 3,
        stride: 1,
        pad: 1,
        bits: 5,
        act_bits: 8,
        relu: true,
        per_channel: true,
    };
    let spec = RandomSpec {
        input: [1, 28, 28],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: -8,
        },
        layers: vec![
            conv(16),
            LayerSpec::MaxPool(2),
            conv(32),
            LayerSpec::MaxPool(2),
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 128,
                bits: 5,
                act_bits: 8,
                relu: true,
                per_channel: false,
            },
            LayerSpec::Dense {
                out: 10,
                bits: 5,
                act_bits: 8,
                relu: false,
                per_channel: false,
            },
        ],
    };
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
