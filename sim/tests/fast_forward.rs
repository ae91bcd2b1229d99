//! The fast paths (the decoupled run; with a mid-run reset, the lockstep run with quiet cycles
//! applied at once) give exactly the same report as stepping every cycle of the `Machine`:
//! chain and graph models (residual blocks, depthwise convolutions, GAP, input fan-out), three
//! foldings, stalls and resets.

mod common;

use common::*;
use inq_sim::{simulate, SimOptions};

#[test]
fn fast_forward_is_exact() {
    for (name, spec) in specs() {
        let m = model(&spec, 21);
        let imgs = images(&m, 4, 21);
        for (fname, req) in foldings(&m) {
            let d = design(&m, &req);
            let runs = [(0.0, None), (0.25, None), (0.1, Some(2))];
            assert_fast_forward_exact(&d, &imgs, 9, &runs, &format!("{name}/{fname}"));
        }
    }
}

#[test]
fn limits_are_errors_not_hangs() {
    let (_, spec) = &chain_specs()[0];
    let m = model(spec, 1);
    let d = design(&m, &inq_hdl::FoldingRequest::Minimal);
    let imgs = images(&m, 2, 1);
    let e = simulate(
        &d,
        &imgs,
        &SimOptions {
            max_cycles: Some(100),
            ..decoupled()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            inq_sim::SimError::CycleLimit {
                max_cycles: 100,
                ..
            }
        ),
        "{e}"
    );
    // An idle limit shorter than one neuron fold of the slowest engine trips the timeout
    // (the design is busy but nothing crosses a stream).
    for ff in [true, false] {
        let e = simulate(
            &d,
            &imgs,
            &SimOptions {
                idle_limit: 20,
                fast_forward: ff,
                ..decoupled()
            },
        )
        .unwrap_err();
        match e {
            inq_sim::SimError::Timeout {
                idle_limit: 20,
                words,
                ..
            } => assert_eq!(words, 0),
            other => panic!("{other}"),
        }
    }
    let e = simulate(
        &d,
        &imgs,
        &SimOptions {
            stall_rate: 1.0,
            ..decoupled()
        },
    )
    .unwrap_err();
    assert!(matches!(e, inq_sim::SimError::Options(_)));
    let e = simulate(&d, &[vec![0; 3]], &decoupled()).unwrap_err();
    assert!(matches!(e, inq_sim::SimError::Input(_)));
    let mut bad = imgs[0].clone();
    bad[5] = 256;
    let e = simulate(&d, &[bad], &decoupled()).unwrap_err();
    assert!(e.to_string().contains("element 5"), "{e}");
}

/// The decoupled run against the lockstep run on every spec at six foldings and six stall
/// rates (two seeds each), taps recorded: whole reports identical.
#[test]
fn decoupled_equals_lockstep_on_graphs() {
    use inq_hdl::FoldingRequest;
    let mut runs = 0;
    for (name, spec) in specs() {
        let m = model(&spec, 7);
        let imgs = images(&m, 5, 7);
        for req in [
            FoldingRequest::Minimal,
            FoldingRequest::LaneBudget(3),
            FoldingRequest::LaneBudget(6),
            FoldingRequest::LaneBudget(12),
            FoldingRequest::LaneBudget(40),
            FoldingRequest::LaneBudget(1 << 20),
        ] {
            let Ok(d) = inq_hdl::plan(&m, &req) else {
                continue; // a budget below the minimal folding
            };
            for seed in 0..12u64 {
                let rate = [0.0, 0.02, 0.1, 0.3, 0.5, 0.8][seed as usize % 6];
                let o = SimOptions {
                    stall_rate: rate,
                    seed,
                    tap_images: 2,
                    ..decoupled()
                };
                let slow = simulate(
                    &d,
                    &imgs,
                    &SimOptions {
                        fast_forward: false,
                        ..o.clone()
                    },
                )
                .map(strip);
                let fast = simulate(&d, &imgs, &o).map(strip);
                match (&slow, &fast) {
                    (Ok(a), Ok(b)) => {
                        assert!(!a.taps.is_empty() && !a.taps[0].is_empty());
                        assert_eq!(a, b, "{name} {req:?} rate {rate} seed {seed}");
                    }
                    _ => panic!("{name} {req:?} rate {rate}: {slow:?} / {fast:?}"),
                }
                runs += 1;
            }
        }
    }
    assert!(runs >= 500, "{runs} runs");
}

/// Tight FIFOs (every stream at depth 2, skip streams at a fraction of the rule): much
/// back-pressure, stalled and deadlocked pipelines. The decoupled run gives the lockstep
/// run's report, or its error at the same cycle.
#[test]
fn decoupled_equals_lockstep_with_tight_fifos() {
    use inq_hdl::FoldingRequest;
    let (mut ok, mut failed) = (0, 0);
    for (name, spec) in specs() {
        let m = model(&spec, 11);
        let imgs = images(&m, 4, 11);
        for req in [
            FoldingRequest::LaneBudget(6),
            FoldingRequest::LaneBudget(40),
        ] {
            let Ok(d) = inq_hdl::plan(&m, &req) else {
                continue;
            };
            for frac in [1usize, 3, 8] {
                let mut t = d.clone();
                for s in &mut t.streams {
                    s.depth = if s.skip { (s.depth / frac).max(2) } else { 2 };
                }
                for (rate, seed) in [(0.0, 1), (0.2, 2)] {
                    let o = SimOptions {
                        stall_rate: rate,
                        seed,
                        tap_images: 1,
                        idle_limit: 20_000,
                        max_cycles: Some(150_000),
                        ..decoupled()
                    };
                    let slow = simulate(
                        &t,
                        &imgs,
                        &SimOptions {
                            fast_forward: false,
                            ..o.clone()
                        },
                    )
                    .map(strip);
                    let fast = simulate(&t, &imgs, &o).map(strip);
                    assert_eq!(
                        format!("{slow:?}"),
                        format!("{fast:?}"),
                        "{name} {req:?} 1/{frac} rate {rate}"
                    );
                    if fast.is_ok() {
                        ok += 1;
                    } else {
                        failed += 1;
                    }
                }
            }
        }
    }
    assert!(ok > 40 && failed > 0, "{ok} complete, {failed} stuck");
}

/// The idle-limit and cycle-limit errors at their boundaries: the decoupled run (which hands a
/// run that would end in one of them to the lockstep run, or proves a deadlock) reports
/// exactly what the lockstep run reports.
#[test]
fn limits_at_the_boundary_match_lockstep() {
    use inq_sim::SimError;
    for (name, spec) in [&chain_specs()[0], &graph_specs()[0]] {
        let m = model(spec, 7);
        let imgs = images(&m, 3, 7);
        let d = design(&m, &inq_hdl::FoldingRequest::LaneBudget(6));
        let base = SimOptions {
            stall_rate: 0.2,
            seed: 5,
            ..decoupled()
        };
        let r = simulate(
            &d,
            &imgs,
            &SimOptions {
                fast_forward: false,
                ..base.clone()
            },
        )
        .unwrap();
        let t = r.total_cycles;
        let mut kinds = Vec::new();
        for (max_cycles, idle_limit) in [
            (Some(t), 5_000_000),
            (Some(t - 1), 5_000_000),
            (None, 3),
            (None, 40),
            (None, 5000),
        ] {
            let o = SimOptions {
                max_cycles,
                idle_limit,
                ..base.clone()
            };
            let slow = simulate(
                &d,
                &imgs,
                &SimOptions {
                    fast_forward: false,
                    ..o.clone()
                },
            )
            .map(strip);
            let fast = simulate(&d, &imgs, &o).map(strip);
            kinds.push(match &fast {
                Ok(_) => "ok",
                Err(SimError::CycleLimit { .. }) => "cycle limit",
                Err(SimError::Timeout { .. }) => "timeout",
                Err(_) => "other",
            });
            assert_eq!(
                format!("{slow:?}"),
                format!("{fast:?}"),
                "{name}: max_cycles {max_cycles:?} idle_limit {idle_limit}"
            );
        }
        assert_eq!(
            kinds,
            ["ok", "cycle limit", "timeout", "timeout", "ok"],
            "{name}"
        );
    }
}

#[test]
fn the_decoupled_run_is_left_to_designs_whose_streams_rest() {
    let (_, spec) = chain_specs().remove(0);
    let m = model(&spec, 3);
    let d = design(&m, &inq_hdl::FoldingRequest::LaneBudget(4));
    let interval = d.interval_cycles() as usize;
    // every stream one beat per cycle of the interval: the lockstep run
    let mut busy = d.clone();
    for s in &mut busy.streams {
        s.beat = 1;
        s.elements_per_image = interval;
    }
    assert!(!inq_sim::decoupled_pays_off(&busy));
    // one beat per image each: the decoupled run
    let mut rest = d.clone();
    for s in &mut rest.streams {
        s.beat = s.elements_per_image.max(1);
    }
    assert!(inq_sim::decoupled_pays_off(&rest));
    // at the threshold: a mean occupancy just under BUSY_STREAMS pays off
    let mut edge = busy.clone();
    let n = edge.streams.len();
    let below = ((inq_sim::BUSY_STREAMS * n as f64).ceil() as usize).saturating_sub(1);
    for (i, s) in edge.streams.iter_mut().enumerate() {
        if i >= below {
            s.beat = s.elements_per_image;
        }
    }
    assert!(inq_sim::decoupled_pays_off(&edge));
}
