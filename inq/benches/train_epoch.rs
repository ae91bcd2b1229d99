//! Criterion benchmarks: one float training epoch of the built-in LeNet on a 2 000-image
//! Fashion-MNIST subset (multiply by 30 for a full 60 000-image epoch), and the 5-bit INQ
//! schedule (4 steps, 1 re-training epoch per step) on the same subset.
//!
//! `cargo bench -p inq-quant --bench train_epoch`

use criterion::{criterion_group, criterion_main, Criterion};
use inq_quant::data::{load_idx, resolve_dir, Dataset, Split};
use inq_quant::quantize::{self, InqConfig};
use inq_quant::train::{self, TrainConfig};

const SUBSET: usize = 2000;

fn subset() -> Option<Dataset> {
    let dir = resolve_dir(None)
        .map_err(|e| eprintln!("skipping benchmarks: {e}"))
        .ok()?;
    let mut d = load_idx(&dir, Split::Train).ok()?;
    d.truncate(SUBSET);
    Some(d)
}

fn benches(c: &mut Criterion) {
    let Some(data) = subset() else { return };
    let cfg = TrainConfig {
        epochs: 1,
        quiet: true,
        ..TrainConfig::default()
    };
    let mut g = c.benchmark_group("lenet");
    g.sample_size(10);
    g.bench_function("float_epoch_2000_images", |b| {
        b.iter(|| {
            let mut m = train::lenet([1, 28, 28], 1);
            train::train(&mut m, &data, &cfg, &mut |_| {})
                .map(|l| l.epochs.len())
                .unwrap_or(0)
        })
    });
    let mut pre = train::lenet([1, 28, 28], 1);
    if train::train(&mut pre, &data, &cfg, &mut |_| {}).is_err() {
        return;
    }
    let icfg = InqConfig {
        bits: 5,
        epochs_per_step: 1,
        train: TrainConfig {
            quiet: true,
            lr: 0.005,
            ..TrainConfig::default()
        },
        ..InqConfig::default()
    };
    g.bench_function("inq_5bit_schedule_2000_images_1_epoch_per_step", |b| {
        b.iter(|| {
            quantize::inq(&pre, &data, None, &icfg, &mut |_| {})
                .map(|r| r.log.steps.len())
                .unwrap_or(0)
        })
    });
    g.finish();
}

criterion_group!(all, benches);
criterion_main!(all);
