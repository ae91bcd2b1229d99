//! Skip-FIFO sizing by simulation (`docs/hardware.md` §2.2, `inq_sim::minimize_skip_fifos`):
//! the sized depths keep the rule's interval, one element less on a sized stream stalls the
//! pipeline (a longer interval) or deadlocks it (a timeout), and the tightly coupled sized
//! designs and the deadlocks run the same decoupled and lockstep.

mod common;

use common::*;
use inq_hdl::{Design, FoldingRequest};
use inq_model::random::{LayerSpec, RandomSpec};
use inq_sim::{minimize_skip_fifos, simulate, verify, SimError, SimOptions, SimReport};

/// Two residual blocks (identity, then a strided 1×1 projection) on a 12×12 map.
fn residual_spec() -> RandomSpec {
    RandomSpec {
        input: [2, 12, 12],
        input_format: u8_input(),
        layers: vec![
            conv(6, 3, 1, 1, true),
            residual(
                vec![conv(6, 3, 1, 1, true), conv(6, 3, 1, 1, false)],
                vec![],
            ),
            residual(
                vec![conv(8, 3, 2, 1, true), conv(8, 3, 1, 1, false)],
                vec![conv(8, 1, 2, 0, false)],
            ),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            dense(4, false),
        ],
    }
}

fn run(d: &Design, imgs: &[Vec<i64>], fast: bool) -> Result<SimReport, SimError> {
    simulate(
        d,
        imgs,
        &SimOptions {
            fast_forward: fast,
            idle_limit: 300_000,
            ..decoupled()
        },
    )
    .map(strip)
}

#[test]
fn sized_depths_keep_the_interval_and_one_less_does_not() {
    let m = model(&residual_spec(), 5);
    let imgs = images(&m, 4, 5);
    for req in [
        FoldingRequest::LaneBudget(8),
        FoldingRequest::LaneBudget(40),
    ] {
        let d = design(&m, &req);
        let rule = verify(&m, &d, &imgs, &decoupled()).unwrap();
        assert_eq!(rule.mismatch_count, 0);
        let reference = rule.interval_cycles.unwrap();
        let (sized, rep) = minimize_skip_fifos(&d, 4).unwrap();
        assert_eq!(rep.interval_cycles, reference, "{req:?}");
        assert!(rep.new_interval_cycles <= reference);
        assert_eq!(
            rep.streams.len(),
            d.streams.iter().filter(|s| s.skip).count()
        );
        assert!(
            rep.streams.iter().any(|s| s.new_depth < s.old_depth),
            "{req:?}: {rep:?}"
        );
        let r = verify(&m, &sized, &imgs, &decoupled()).unwrap();
        assert_eq!(r.mismatch_count, 0);
        assert!(r.interval_cycles.unwrap() <= reference, "{req:?}");
        // decoupled = lockstep on the tightly coupled sized design, with stalls too
        assert_eq!(
            run(&sized, &imgs, true).unwrap(),
            run(&sized, &imgs, false).unwrap()
        );
        let stalled = SimOptions {
            stall_rate: 0.3,
            seed: 8,
            tap_images: 2,
            ..decoupled()
        };
        assert_eq!(
            strip(simulate(&sized, &imgs, &stalled).unwrap()),
            strip(
                simulate(
                    &sized,
                    &imgs,
                    &SimOptions {
                        fast_forward: false,
                        ..stalled.clone()
                    }
                )
                .unwrap()
            )
        );
        let mut tighter = 0;
        for s in rep.streams.iter().filter(|s| s.new_depth > 2) {
            let mut less = sized.clone();
            less.streams[s.stream].depth = s.new_depth - 1;
            let fast = run(&less, &imgs, true);
            let slow = run(&less, &imgs, false);
            match &fast {
                Ok(r) => assert!(
                    r.interval_cycles.unwrap() > reference,
                    "{req:?} stream {}: depth {} keeps the interval",
                    s.stream,
                    s.new_depth - 1
                ),
                Err(SimError::Timeout { .. }) => {}
                Err(e) => panic!("{e}"),
            }
            // the same report, or the same error at the same cycle
            assert_eq!(
                format!("{fast:?}"),
                format!("{slow:?}"),
                "stream {}",
                s.stream
            );
            tighter += 1;
        }
        assert!(tighter > 0, "{req:?}: {rep:?}");
    }
}

/// A skip FIFO far too small (2 elements on an identity shortcut) deadlocks the block: the decoupled run proves the deadlock at
/// once and reports the lockstep run's timeout (cycle and words), or its cycle limit.
#[test]
fn a_deadlock_reports_the_lockstep_timeout() {
    let m = model(&residual_spec(), 6);
    let imgs = images(&m, 3, 6);
    let mut d = design(&m, &FoldingRequest::LaneBudget(8));
    // the identity block's skip stream (fork → adder)
    let skip = (0..d.streams.len())
        .find(|&s| {
            d.streams[s].skip
                && matches!(d.streams[s].to, inq_hdl::Endpoint::Engine { engine, .. }
                    if d.engines[engine].op == "add")
        })
        .unwrap();
    d.streams[skip].depth = 2;
    for (idle_limit, max_cycles) in [(20_000, None), (3_000, None), (20_000, Some(5_000))] {
        let o = SimOptions {
            idle_limit,
            max_cycles,
            ..decoupled()
        };
        let fast = simulate(&d, &imgs, &o);
        let slow = simulate(
            &d,
            &imgs,
            &SimOptions {
                fast_forward: false,
                ..o.clone()
            },
        );
        assert!(
            matches!(
                fast,
                Err(SimError::Timeout { .. } | SimError::CycleLimit { .. })
            ),
            "{fast:?}"
        );
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    }
    // sizing refuses a design that deadlocks as given
    assert!(minimize_skip_fifos(&d, 3).is_err());
}

/// The ResNet-8-shaped design at 64 lanes: sized in a handful of simulations, identity and
/// projection skip FIFOs shrink, the interval stays.
#[test]
fn resnet8_sizing() {
    let m = model(&resnet8_spec(), 8);
    let d = design(&m, &FoldingRequest::LaneBudget(64));
    let (sized, rep) = minimize_skip_fifos(&d, 3).unwrap();
    assert_eq!(rep.new_interval_cycles, rep.interval_cycles);
    assert_eq!(rep.streams.len(), 6);
    for s in &rep.streams {
        assert!(s.new_depth <= s.old_depth);
        assert_eq!(sized.streams[s.stream].depth, s.new_depth);
    }
    let total = |d: &Design| {
        d.streams
            .iter()
            .filter(|s| s.skip)
            .map(|s| s.depth)
            .sum::<usize>()
    };
    assert!(total(&sized) * 2 < total(&d), "{rep:?}");
}

/// Every graph spec at three foldings: sized, then every sized stream one element smaller;
/// the decoupled run equals the lockstep run on all of them (tightly coupled residual blocks
/// are where the decoupled run's engines run ahead of their inputs), with and without stalls.
#[test]
fn sized_designs_run_the_same_decoupled_and_lockstep() {
    let mut compared = 0;
    for (name, spec) in graph_specs() {
        let m = model(&spec, 12);
        let imgs = images(&m, 4, 12);
        for req in [
            FoldingRequest::Minimal,
            FoldingRequest::LaneBudget(6),
            FoldingRequest::LaneBudget(40),
        ] {
            let Ok(d) = inq_hdl::plan(&m, &req) else {
                continue;
            };
            let Ok((sized, rep)) = minimize_skip_fifos(&d, 4) else {
                panic!("{name} {req:?}: sizing failed");
            };
            let mut variants = vec![sized.clone()];
            for s in rep.streams.iter().filter(|s| s.new_depth > 2) {
                let mut less = sized.clone();
                less.streams[s.stream].depth = s.new_depth - 1;
                variants.push(less);
            }
            for v in &variants {
                for (rate, seed) in [(0.0, 1), (0.15, 4)] {
                    let o = SimOptions {
                        stall_rate: rate,
                        seed,
                        tap_images: 2,
                        idle_limit: 100_000,
                        ..decoupled()
                    };
                    let fast = simulate(v, &imgs, &o).map(strip);
                    let slow = simulate(
                        v,
                        &imgs,
                        &SimOptions {
                            fast_forward: false,
                            ..o.clone()
                        },
                    )
                    .map(strip);
                    assert_eq!(
                        format!("{fast:?}"),
                        format!("{slow:?}"),
                        "{name} {req:?} rate {rate}"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared >= 30, "{compared}");
}
