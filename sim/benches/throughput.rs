//! Simulated cycles per second on a LeNet-shaped design (criterion reports the throughput in
//! "elements" per second, one element = one simulated clock cycle): three foldings, 4 images,
//! stall rate 0.1 on both streams, the default (decoupled) run and, for comparison, the
//! lockstep run (`fast_forward: false`, every cycle of the `Machine` stepped).
//!
//! Run: `cargo bench -p inq-sim --bench throughput`. Verilator's speed on the same design is
//! measured in the same run by `cargo run --release -p inq-testbenches --example speed`
//! (see `docs/performance.md`, "Simulator speed").

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inq_hdl::{plan, FoldingRequest};
use inq_model::random::{build, lenet_spec, random_input};
use inq_sim::{simulate, SimOptions};

fn lenet() -> inq_model::QuantModel {
    let spec = lenet_spec(-8, false);
    match build(&spec, 42) {
        Ok(m) => m,
        Err(e) => panic!("LeNet model: {e}"),
    }
}

fn bench(c: &mut Criterion) {
    let model = lenet();
    let mut group = c.benchmark_group("lenet");
    group.sample_size(10);
    let images: Vec<Vec<i64>> = (0..4).map(|i| random_input(&model, i)).collect();
    for (name, req, lockstep_too) in [
        ("minimal", FoldingRequest::Minimal, false),
        ("lanes64", FoldingRequest::LaneBudget(64), true),
        ("lanes256", FoldingRequest::LaneBudget(256), false),
    ] {
        let design = match plan(&model, &req) {
            Ok(d) => d,
            Err(e) => panic!("plan {name}: {e}"),
        };
        let opts = SimOptions {
            stall_rate: 0.1,
            ..SimOptions::default()
        };
        let cycles = match simulate(&design, &images, &opts) {
            Ok(r) => r.total_cycles,
            Err(e) => panic!("simulate {name}: {e}"),
        };
        group.throughput(Throughput::Elements(cycles));
        group.bench_function(name, |b| {
            b.iter(|| simulate(&design, &images, &opts).map(|r| r.total_cycles))
        });
        if lockstep_too {
            let lockstep = SimOptions {
                fast_forward: false,
                ..opts.clone()
            };
            group.bench_function(format!("{name}_lockstep"), |b| {
                b.iter(|| simulate(&design, &images, &lockstep).map(|r| r.total_cycles))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
