//! Simulated outputs equal the integer reference bit for bit, for random models (chains and
//! graphs: residual blocks, projections, depthwise convolutions, GAP of non-power-of-two
//! planes, input fan-out) and foldings, with and without stalls; stalls change cycles but
//! never values; runs are deterministic; every tap carries the reference's tensor.

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

/// Every tap (the input, every node's stream, flatten aliases included) carries exactly the
/// reference's tensor in stream order (`inq_design::tap_values`), and a graph design has the
/// engines it should (forks, adders, GAP units).
#[test]
fn taps_carry_the_reference_tensors() {
    for (name, spec) in specs() {
        let m = model(&spec, 4);
        // three images, taps of two: a pooling remainder lets the last image's output leave
        // before its map is complete
        let imgs = images(&m, 3, 4);
        for (fname, req) in foldings(&m) {
            let d = design(&m, &req);
            let r = simulate(
                &d,
                &imgs,
                &SimOptions {
                    stall_rate: 0.2,
                    seed: 3,
                    tap_images: 2,
                    ..SimOptions::default()
                },
            )
            .unwrap_or_else(|e| panic!("{name}/{fname}: {e}"));
            assert_eq!(r.taps.len(), d.taps.len());
            let reference = inq_model::Reference::new(&m).unwrap();
            for (i, img) in imgs.iter().enumerate().take(2) {
                let run = reference.run(img).unwrap();
                let input = inq_model::Tensor {
                    shape: m.input.shape.to_vec(),
                    data: img.clone(),
                };
                for (t, tap) in d.taps.iter().enumerate() {
                    let exp = inq_design::tap_values(&m, &input, &run, tap.node).unwrap();
                    let e = tap.elements_per_image;
                    let got: Vec<i64> = r.taps[t][i * e..(i + 1) * e]
                        .iter()
                        .map(|b| b.value)
                        .collect();
                    assert_eq!(got, exp, "{name}/{fname} image {i} tap {t} ({})", tap.name);
                }
            }
            let ops: Vec<&str> = d.engines.iter().map(|e| e.op.as_str()).collect();
            if name.contains("residual") || name.contains("fanout") {
                assert!(
                    ops.contains(&"fork") && ops.contains(&"add"),
                    "{name}: {ops:?}"
                );
            }
            if name.contains("gap") || name.contains("depthwise") {
                assert!(ops.contains(&"global_avg_pool"), "{name}: {ops:?}");
            }
        }
    }
}

/// A corrupted weight in one engine of a residual design: `verify` reports the mismatches and
/// names the first tap whose stream differs, the node of that engine (re-running with taps).
#[test]
fn a_corrupted_engine_is_named() {
    let (_, spec) = graph_specs()
        .into_iter()
        .find(|(n, _)| *n == "residual_projection_gap25")
        .unwrap();
    let m = model(&spec, 9);
    let imgs = images(&m, 3, 9);
    let mut d = design(&m, &foldings(&m)[2].1);
    // the main path's second conv (an MVU after the fork): flip a non-zero weight's sign
    let e = d
        .engines
        .iter()
        .enumerate()
        .filter(|(_, en)| en.op == "conv")
        .map(|(i, _)| i)
        .nth(2)
        .unwrap();
    let node = d.engines[e].node;
    let inq_hdl::EngineKind::Mvu(mvu) = &mut d.engines[e].kind else {
        panic!("an MVU")
    };
    use inq_model::numerics::{decode, encode, Weight};
    let bits = mvu.code_bits;
    let (k, negative, index) = mvu
        .weights
        .iter()
        .enumerate()
        .find_map(|(k, &c)| match decode(c, bits) {
            Ok(Weight::Pow2 { negative, index }) => Some((k, negative, index)),
            _ => None,
        })
        .expect("a non-zero weight");
    mvu.weights[k] = encode(
        Weight::Pow2 {
            negative: !negative,
            index,
        },
        bits,
    );
    let r = verify(&m, &d, &imgs, &SimOptions::default()).unwrap();
    assert!(r.mismatch_count > 0, "the corruption shows at the output");
    let bad = r.first_bad.as_ref().expect("a differing tap");
    assert_eq!(bad.node, node, "{:?}", r.diagnosis);
    assert!(r
        .diagnosis
        .as_ref()
        .unwrap()
        .contains("first differing stream"));
    // without taps and without `verify`'s re-run, the diagnosis says what is missing
    let mut plain = simulate(&d, &imgs, &SimOptions::default()).unwrap();
    inq_sim::check_against_reference(&m, &d, &imgs, &mut plain, None, 10).unwrap();
    assert!(plain.first_bad.is_none());
    assert!(plain.diagnosis.unwrap().contains("tap_images"));
}
