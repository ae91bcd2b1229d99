//! Simulated cycles per second (criterion reports the throughput in "elements" per second,
//! one element = one simulated clock cycle), 4 images, stall rate 0.1 on both streams, the
//! default (decoupled) run and, for comparison, the lockstep run (`fast_forward: false`,
//! every cycle of the `Machine` stepped): a LeNet-shaped design at three foldings, and a
//! ResNet-8-shaped graph design (three residual blocks, GAP) at 64 lanes with the planner's
//! skip-FIFO depths and with the depths of `inq_sim::minimize_skip_fifos`.
//!
//! Run: `cargo bench -p inq-sim --bench throughput`. Verilator's speed on the same design is
//! measured in the same run by `cargo run --release -p inq-testbenches --example speed`
//! (see `docs/performance.md`, "Simulator speed").

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inq_hdl::{plan, FoldingRequest};
use inq_model::random::{build, lenet_spec, random_input, LayerSpec, RandomSpec};
use inq_model::ActFormat;
use inq_sim::{minimize_skip_fifos, simulate, SimOptions};

fn lenet() -> inq_model::QuantModel {
    let spec = lenet_spec(-8, false);
    match build(&spec, 42) {
        Ok(m) => m,
        Err(e) => panic!("LeNet model: {e}"),
    }
}

/// input [1,28,28] 8-bit; conv 16; residual(16, identity); residual(32, stride 2, 1×1
/// projection); residual(64, stride 2, 1×1 projection); GAP (7×7); flatten; dense 10.
fn resnet8() -> inq_model::QuantModel {
    let conv = |out, k, stride, pad, relu| LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 8,
        relu,
        per_channel: true,
    };
    let block = |c: usize, stride: usize| LayerSpec::Residual {
        main: vec![conv(c, 3, stride, 1, true), conv(c, 3, 1, 1, false)],
        shortcut: if stride == 1 {
            vec![]
        } else {
            vec![conv(c, 1, stride, 0, false)]
        },
        act_bits: 8,
        relu: true,
    };
    let spec = RandomSpec {
        input: [1, 28, 28],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: -8,
        },
        layers: vec![
            conv(16, 3, 1, 1, true),
            block(16, 1),
            block(32, 2),
            block(64, 2),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 10,
                bits: 5,
                act_bits: 8,
                relu: false,
                per_channel: false,
            },
        ],
    };
    match build(&spec, 8) {
        Ok(m) => m,
        Err(e) => panic!("ResNet-8 model: {e}"),
    }
}

fn bench_resnet(c: &mut Criterion) {
    let model = resnet8();
    let mut group = c.benchmark_group("resnet8");
    group.sample_size(10);
    let images: Vec<Vec<i64>> = (0..4).map(|i| random_input(&model, i)).collect();
    let rule = match plan(&model, &FoldingRequest::LaneBudget(64)) {
        Ok(d) => d,
        Err(e) => panic!("plan: {e}"),
    };
    let sized = match minimize_skip_fifos(&rule, 4) {
        Ok((d, _)) => d,
        Err(e) => panic!("sizing: {e}"),
    };
    let opts = SimOptions {
        stall_rate: 0.1,
        ..SimOptions::default()
    };
    for (name, design) in [("lanes64_rule", &rule), ("lanes64_sized", &sized)] {
        let cycles = match simulate(design, &images, &opts) {
            Ok(r) => r.total_cycles,
            Err(e) => panic!("simulate {name}: {e}"),
        };
        group.throughput(Throughput::Elements(cycles));
        group.bench_function(name, |b| {
            b.iter(|| simulate(design, &images, &opts).map(|r| r.total_cycles))
        });
    }
    let lockstep = SimOptions {
        fast_forward: false,
        ..opts.clone()
    };
    group.bench_function("lanes64_sized_lockstep", |b| {
        b.iter(|| simulate(&sized, &images, &lockstep).map(|r| r.total_cycles))
    });
    group.bench_function("lanes64_sizing", |b| {
        b.iter(|| minimize_skip_fifos(&rule, 4).map(|(d, _)| d.streams.len()))
    });
    group.finish();
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

criterion_group!(benches, bench, bench_resnet);
criterion_main!(benches);
