//! Applying quiet cycles at once gives exactly the same run as stepping every cycle.

mod common;

use common::*;
use inq_sim::{simulate, SimOptions, SimReport};

fn strip(mut r: SimReport) -> SimReport {
    r.sim_seconds = 0.0;
    r.cycles_per_second = 0.0;
    r
}

#[test]
fn fast_forward_is_exact() {
    for (name, spec) in specs() {
        let m = model(&spec, 21);
        let imgs = images(&m, 4, 21);
        for (fname, req) in foldings(&m) {
            let d = design(&m, &req);
            for (rate, reset) in [(0.0, None), (0.25, None), (0.1, Some(2))] {
                let o = SimOptions {
                    stall_rate: rate,
                    seed: 9,
                    reset_after: reset,
                    tap_images: 2,
                    ..SimOptions::default()
                };
                let fast = strip(simulate(&d, &imgs, &o).unwrap());
                let slow = strip(
                    simulate(
                        &d,
                        &imgs,
                        &SimOptions {
                            fast_forward: false,
                            ..o
                        },
                    )
                    .unwrap(),
                );
                assert_eq!(fast, slow, "{name}/{fname} rate {rate} reset {reset:?}");
            }
        }
    }
}

#[test]
fn limits_are_errors_not_hangs() {
    let (_, spec) = &specs()[0];
    let m = model(spec, 1);
    let d = design(&m, &inq_hdl::FoldingRequest::Minimal);
    let imgs = images(&m, 2, 1);
    let e = simulate(
        &d,
        &imgs,
        &SimOptions {
            max_cycles: Some(100),
            ..SimOptions::default()
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
                ..SimOptions::default()
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
            ..SimOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, inq_sim::SimError::Options(_)));
    let e = simulate(&d, &[vec![0; 3]], &SimOptions::default()).unwrap_err();
    assert!(matches!(e, inq_sim::SimError::Input(_)));
    let mut bad = imgs[0].clone();
    bad[5] = 256;
    let e = simulate(&d, &[bad], &SimOptions::default()).unwrap_err();
    assert!(e.to_string().contains("element 5"), "{e}");
}
