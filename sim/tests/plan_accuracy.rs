//! The plan's pipeline interval (`Design::interval_cycles`, from the per-engine
//! `cycles_per_image`) is within 2% of the steady-state interval the simulator measures, for
//! the LeNet-shaped model at minimal folding, several lane budgets and throughput targets, and
//! for small random models at explicit, budgeted and targeted foldings.

mod common;

use common::*;
use inq_hdl::{plan, FoldingRequest};
use inq_model::random::{LayerSpec, RandomSpec};
use inq_model::QuantModel;
use inq_sim::{simulate, SimOptions};

/// Simulated steady-state interval over `n` images, and the plan's interval.
fn measure(m: &QuantModel, req: &FoldingRequest, n: usize) -> Option<(f64, f64, usize)> {
    let d = plan(m, req).ok()?;
    let r = simulate(&d, &images(m, n, 5), &SimOptions::default()).expect("simulate");
    Some((r.interval_cycles.unwrap(), d.interval_cycles() as f64, d.total_lanes()))
}

fn extra_specs() -> Vec<(&'static str, RandomSpec)> {
    vec![
        (
            "nopad_convs_odd_pool",
            RandomSpec {
                input: [1, 11, 11],
                input_format: u8_input(),
                layers: vec![
                    conv(6, 3, 1, 0, true),
                    LayerSpec::MaxPool(2),
                    conv(8, 2, 1, 0, true),
                    LayerSpec::Flatten,
                    dense(12, true),
                    dense(3, false),
                ],
            },
        ),
        (
            "small_lenet",
            RandomSpec {
                input: [1, 12, 12],
                input_format: u8_input(),
                layers: vec![
                    conv(4, 3, 1, 1, true),
                    LayerSpec::MaxPool(2),
                    conv(8, 3, 1, 1, true),
                    LayerSpec::MaxPool(2),
                    LayerSpec::Flatten,
                    dense(16, true),
                    dense(4, false),
                ],
            },
        ),
        (
            "stride2_k5",
            RandomSpec {
                input: [2, 14, 14],
                input_format: u8_input(),
                layers: vec![
                    conv(8, 5, 2, 2, true),
                    conv(8, 3, 1, 1, true),
                    LayerSpec::GlobalAvgPool,
                    LayerSpec::Flatten,
                    dense(4, false),
                ],
            },
        ),
    ]
}

#[test]
fn explore() {
    let mut all = specs();
    all.extend(extra_specs());
    let mut worst = 0.0f64;
    for (name, spec) in &all {
        let m = model(spec, 7);
        let mut reqs: Vec<(String, FoldingRequest)> = foldings(&m)
            .into_iter()
            .map(|(n, r)| (n.to_string(), r))
            .collect();
        for b in [4usize, 8, 16, 32, 64, 128] {
            reqs.push((format!("lanes{b}"), FoldingRequest::LaneBudget(b)));
        }
        for f in [2_000.0, 10_000.0, 50_000.0, 200_000.0] {
            reqs.push((
                format!("fps{f}"),
                FoldingRequest::Throughput {
                    fps: f,
                    clock_mhz: 100.0,
                },
            ));
        }
        for (rn, req) in &reqs {
            let Some((got, p, lanes)) = measure(&m, req, 8) else {
                continue;
            };
            let err = (got - p) / p;
            worst = worst.max(err.abs());
            println!("{name:>22} {rn:>10} lanes {lanes:>4} plan {p:>8} sim {got:>10.1} err {:+.2}%", err * 100.0);
        }
    }
    println!("worst {:.2}%", worst * 100.0);
}
