//! Simulated cycles per second on a LeNet-shaped design (criterion reports the throughput in
//! "elements" per second, one element = one simulated clock cycle).
//!
//! Run: `CARGO_TARGET_DIR=/work/target-sim cargo bench -p inq-sim --bench throughput`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inq_hdl::{plan, FoldingRequest};
use inq_model::random::{build, random_input, LayerSpec, RandomSpec};
use inq_model::ActFormat;
use inq_sim::{simulate, SimOptions};

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
    match build(&spec, 42) {
        Ok(m) => m,
        Err(e) => panic!("LeNet model: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    let model = lenet();
    let mut group = c.benchmark_group("lenet");
    group.sample_size(10);
    for (name, req) in [
        ("minimal", FoldingRequest::Minimal),
        ("lanes64", FoldingRequest::LaneBudget(64)),
    ] {
        let design = match plan(&model, &req) {
            Ok(d) => d,
            Err(e) => panic!("plan {name}: {e}"),
        };
        let images: Vec<Vec<i64>> = (0..2).map(|i| random_input(&model, i)).collect();
        let cycles = match simulate(&design, &images, &SimOptions::default()) {
            Ok(r) => r.total_cycles,
            Err(e) => panic!("simulate {name}: {e}"),
        };
        group.throughput(Throughput::Elements(cycles));
        group.bench_function(name, |b| {
            b.iter(|| simulate(&design, &images, &SimOptions::default()).map(|r| r.total_cycles))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
