//! Simulated outputs equal the integer reference bit for bit, for random models and foldings,
//! with and without stalls; stalls change cycles but never values; runs are deterministic.

mod common;

use common::*;
use inq_sim::{simulate, verify, SimOptions};

#[test]
fn random_models_match_reference_every_folding() {
    for (name, spec) in specs() {
        for seed in [1u64, 2] {
            let m = model(&spec, seed);
            let imgs = images(&m, 3, seed);
            for (fname, req) in foldings(&m) {
                let d = design(&m, &req);
                for rate in [0.0, 0.3] {
                    let opts = SimOptions {
                        stall_rate: rate,
                        seed: seed + 10,
                        ..SimOptions::default()
                    };
                    let r = verify(&m, &d, &imgs, &opts)
                        .unwrap_or_else(|e| panic!("{name}/{fname}: {e}"));
                    assert!(r.checked);
                    assert_eq!(
                        r.mismatch_count,
                        0,
                        "{name} seed {seed} folding {fname} rate {rate}: {:?}",
                        &r.mismatches[..r.mismatches.len().min(5)]
                    );
                    assert_eq!(r.outputs.len(), 3 * d.output.count);
                }
            }
        }
    }
}

#[test]
fn stalls_change_cycles_not_values_and_runs_are_deterministic() {
    let (_, spec) = &specs()[0];
    let m = model(spec, 7);
    let d = design(&m, &foldings(&m)[2].1);
    let imgs = images(&m, 4, 7);
    let base = simulate(&d, &imgs, &SimOptions::default()).unwrap();
    let values = |r: &inq_sim::SimReport| {
        r.outputs
            .iter()
            .map(|o| (o.value, o.tlast, o.tuser))
            .collect::<Vec<_>>()
    };
    let cycles = |r: &inq_sim::SimReport| r.outputs.iter().map(|o| o.cycle).collect::<Vec<_>>();
    let mut seen = Vec::new();
    for seed in [1u64, 2, 3] {
        let o = SimOptions {
            stall_rate: 0.4,
            seed,
            ..SimOptions::default()
        };
        let a = simulate(&d, &imgs, &o).unwrap();
        let b = simulate(&d, &imgs, &o).unwrap();
        assert_eq!(values(&a), values(&base));
        assert_eq!(cycles(&a), cycles(&b), "same seed, same cycles");
        assert_eq!(a.engines, b.engines);
        assert!(a.total_cycles > base.total_cycles, "stalls cost cycles");
        seen.push(cycles(&a));
    }
    assert_ne!(seen[0], seen[1], "different seeds give different timing");
}

#[test]
fn mid_run_reset_restarts_and_keeps_values() {
    for (name, spec) in specs() {
        let m = model(&spec, 3);
        let d = design(&m, &foldings(&m)[2].1);
        let imgs = images(&m, 4, 3);
        let o = SimOptions {
            stall_rate: 0.2,
            seed: 5,
            reset_after: Some(2),
            reset_cycles: 3,
            ..SimOptions::default()
        };
        let r = verify(&m, &d, &imgs, &o).unwrap();
        assert_eq!(r.mismatch_count, 0, "{name}: {:?}", r.mismatches);
        assert_eq!(r.resets.len(), 1);
        assert_eq!(r.reset_cycles, 3);
        assert_eq!(r.resets[0].restart_image, 2);
        let restart = r.input_starts.iter().rev().find(|s| s.image == 2).unwrap();
        assert!(restart.cycle >= r.resets[0].first_cycle + 3);
    }
}
