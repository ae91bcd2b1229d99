//! Wide beats (`docs/hardware.md` §2.1): designs whose hard-wired engines and pools (tiled and
//! line-buffered) pass several channels per beat ([`inq_hdl::widen_beats`]) compute the
//! reference bit for bit on every stream, with and without stalls; the decoupled run and the
//! lockstep machine agree on every cycle; the plan's interval and first-image latency follow
//! the simulator; and the streams move fewer beats per image than the narrow design.

mod common;

use common::*;
use inq_hdl::{plan_unrolled, widen_beats, Design, FoldingRequest};
use inq_model::random::{LayerSpec, RandomSpec};
use inq_model::QuantModel;
use inq_sim::{simulate, verify, SimOptions};

fn specs() -> Vec<(&'static str, RandomSpec)> {
    vec![
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
            "two_channel_stride2_avgpool",
            RandomSpec {
                input: [2, 12, 12],
                input_format: u8_input(),
                layers: vec![
                    conv(6, 3, 2, 1, true),
                    conv(4, 1, 1, 0, true),
                    LayerSpec::AvgPool(2),
                    LayerSpec::Flatten,
                    dense(3, false),
                ],
            },
        ),
        (
            // line-buffered pools (§5): 3×3 stride 2 max, 2×2 stride 1 average of signed values
            "overlapping_pools",
            RandomSpec {
                input: [2, 11, 11],
                input_format: u8_input(),
                layers: vec![
                    conv(4, 3, 1, 1, true),
                    overlapping(3, 2, false),
                    conv(6, 3, 1, 1, false),
                    overlapping(2, 1, true),
                    LayerSpec::Flatten,
                    dense(3, false),
                ],
            },
        ),
        (
            // a banked line buffer (2×2 stride 4: `Pool::banked`), then a 3×3 stride 1 max
            "banked_and_stride1_pools",
            RandomSpec {
                input: [1, 12, 12],
                input_format: u8_input(),
                layers: vec![
                    conv(4, 3, 1, 1, true),
                    overlapping(2, 4, false),
                    conv(6, 1, 1, 0, false),
                    overlapping(3, 1, false),
                    LayerSpec::Flatten,
                    dense(3, false),
                ],
            },
        ),
        (
            "global_average_of_a_wide_conv",
            RandomSpec {
                input: [1, 6, 6],
                input_format: u8_input(),
                layers: vec![
                    conv(8, 3, 1, 1, true),
                    LayerSpec::GlobalAvgPool,
                    LayerSpec::Flatten,
                    dense(3, false),
                ],
            },
        ),
    ]
}

/// A pool of a square `k` window and stride `stride` (line-buffered unless it tiles the map).
fn overlapping(k: usize, stride: usize, avg: bool) -> LayerSpec {
    LayerSpec::Pool { k, stride, avg }
}

/// The line-buffered pools of `d` (`docs/hardware.md` §5) and their beats.
fn line_buffered_beats(d: &Design) -> Vec<usize> {
    d.engines
        .iter()
        .filter_map(|e| match &e.kind {
            inq_hdl::EngineKind::Pool(p) if !p.tiled() => Some(p.beat),
            _ => None,
        })
        .collect()
}

/// Every conv and dense layer hard-wired, then widened.
fn wide_design(m: &QuantModel) -> (Design, Design) {
    let convs: Vec<String> = m
        .nodes
        .iter()
        .filter(|n| matches!(n.op, inq_model::Op::Conv(_) | inq_model::Op::Dense(_)))
        .map(|n| n.name.clone())
        .collect();
    let narrow = plan_unrolled(m, &FoldingRequest::LaneBudget(8), &convs).expect("plan");
    let mut wide = narrow.clone();
    let streams = widen_beats(&mut wide);
    assert!(!streams.is_empty(), "some stream is wide");
    (narrow, wide)
}

#[test]
fn wide_designs_match_the_reference_on_every_stream() {
    for (name, spec) in specs() {
        for seed in [1u64, 2] {
            let m = model(&spec, seed);
            let (_, d) = wide_design(&m);
            let imgs = images(&m, 3, seed);
            for rate in [0.0, 0.3] {
                let opts = SimOptions {
                    stall_rate: rate,
                    seed: seed + 10,
                    ..decoupled()
                };
                let r = verify(&m, &d, &imgs, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(r.checked);
                assert_eq!(
                    r.mismatch_count,
                    0,
                    "{name} seed {seed} rate {rate}: {:?}",
                    &r.mismatches[..r.mismatches.len().min(5)]
                );
            }
        }
    }
}

#[test]
fn decoupled_and_lockstep_runs_agree_on_wide_designs() {
    let dir = std::env::temp_dir().join(format!("inq-wide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, spec) in specs() {
        let m = model(&spec, 3);
        let (_, d) = wide_design(&m);
        let imgs = images(&m, 3, 3);
        for rate in [0.0, 0.25] {
            let fast = SimOptions {
                stall_rate: rate,
                seed: 4,
                ..decoupled()
            };
            // a waveform makes the run cycle by cycle on the lockstep machine
            let slow = SimOptions {
                vcd: Some(dir.join(format!("{name}.vcd"))),
                ..fast.clone()
            };
            let a = strip(simulate(&d, &imgs, &fast).unwrap());
            let b = strip(simulate(&d, &imgs, &slow).unwrap());
            assert_eq!(a.outputs, b.outputs, "{name} rate {rate}");
            assert_eq!(a.total_cycles, b.total_cycles, "{name} rate {rate}");
            assert_eq!(a.engines, b.engines, "{name} rate {rate}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_plan_follows_the_simulator_and_wide_beats_shorten_the_interval() {
    for (name, spec) in specs() {
        let m = model(&spec, 5);
        let (narrow, d) = wide_design(&m);
        let imgs = images(&m, 8, 5);
        let r = simulate(&d, &imgs, &decoupled()).unwrap();
        let rn = simulate(&narrow, &imgs, &decoupled()).unwrap();
        let interval = r.interval_cycles.unwrap();
        let plan = d.interval_cycles() as f64;
        assert!(
            (plan - interval).abs() <= 0.02 * interval,
            "{name}: plan interval {plan}, simulated {interval}"
        );
        let (lat, plan_lat) = (r.latency_cycles as f64, d.latency_estimate() as f64);
        assert!(
            (plan_lat - lat).abs() <= 0.05 * lat,
            "{name}: plan latency {plan_lat}, simulated {lat}"
        );
        // one input element per beat: nothing beats the input's rate
        let input_bound = (d.input_elements() + 1) as f64;
        let narrow_interval = rn.interval_cycles.unwrap();
        assert!(
            interval < narrow_interval || narrow_interval <= input_bound,
            "{name}: wide {interval}, narrow {narrow_interval}"
        );
        assert!(interval <= narrow_interval);
    }
}

/// A residual network planned for a throughput target beyond one element per beat
/// (`inq_hdl::plan_with`, `BeatChoice::Auto`): the forks, adders and the GAP unit take wide
/// beats; the simulator equals the reference on every stream, and the plan's interval and
/// latency follow the simulator.
#[test]
fn a_residual_network_at_a_target_beyond_one_element_per_beat() {
    let spec = RandomSpec {
        input: [1, 12, 12],
        input_format: u8_input(),
        layers: vec![
            conv(8, 3, 1, 1, true),
            residual(
                vec![conv(8, 3, 1, 1, true), conv(8, 3, 1, 1, false)],
                vec![],
            ),
            residual(
                vec![conv(16, 3, 2, 1, true), conv(16, 3, 1, 1, false)],
                vec![conv(16, 1, 2, 0, false)],
            ),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            dense(4, false),
        ],
    };
    let m = model(&spec, 9);
    let narrow = design(&m, &FoldingRequest::LaneBudget(1 << 20));
    let t = narrow.interval_cycles() / 3;
    let req = FoldingRequest::Throughput {
        fps: 100e6 / t as f64,
        clock_mhz: 100.0,
        hard_wired: true,
    };
    let d = inq_hdl::plan_with(&m, &req, &[], inq_hdl::BeatChoice::Auto).expect("plan");
    assert!(d.interval_cycles() <= t);
    let wide = |tag: &str| {
        d.engines
            .iter()
            .any(|e| e.kind.tag() == tag && e.op().in_beat() > 1)
    };
    assert!(wide("fork") && wide("add"), "{:?}", d.wide_streams());
    let imgs = images(&m, 6, 9);
    for rate in [0.0, 0.3] {
        let opts = SimOptions {
            stall_rate: rate,
            seed: 3,
            ..decoupled()
        };
        let r = verify(&m, &d, &imgs, &opts).unwrap();
        assert_eq!(r.mismatch_count, 0, "rate {rate}: {:?}", r.mismatches);
    }
    let r = simulate(&d, &imgs, &decoupled()).unwrap();
    let interval = r.interval_cycles.unwrap();
    assert!((d.interval_cycles() as f64 - interval).abs() <= 0.02 * interval);
    let lat = r.latency_cycles as f64;
    assert!((d.latency_estimate() as f64 - lat).abs() <= 0.05 * lat);
}

/// The line-buffered pools of the overlapping specs take their producer's whole pixel per
/// beat (`K = C`), the banked one too, and their cycles per image fall by `K`.
#[test]
fn line_buffered_pools_take_wide_beats() {
    for (name, spec) in specs().into_iter().filter(|(n, _)| n.contains("pools")) {
        let m = model(&spec, 7);
        let (narrow, d) = wide_design(&m);
        let beats = line_buffered_beats(&d);
        assert_eq!(beats.len(), 2, "{name}: two line-buffered pools");
        assert!(beats.iter().all(|&k| k > 1), "{name}: {beats:?}");
        let banked = d
            .engines
            .iter()
            .any(|e| matches!(&e.kind, inq_hdl::EngineKind::Pool(p) if p.banked()));
        assert_eq!(banked, name.starts_with("banked"), "{name}");
        for (e, en) in d.engines.iter().enumerate() {
            if let inq_hdl::EngineKind::Pool(p) = &en.kind {
                // every row of both sides takes 1/K of the cycles (but the wrap cycle)
                let k = p.beat as u64;
                let (wide, narrow) = (en.cycles_per_image, narrow.engines[e].cycles_per_image);
                assert!(
                    wide * k <= narrow + k,
                    "{name} {}: {wide} cycles at K = {}, {narrow} at 1",
                    en.name,
                    p.beat
                );
                assert!(wide < narrow, "{name} {}", en.name);
            }
        }
    }
}

/// Overlapping pools planned for a throughput target beyond one element per beat
/// (`inq_hdl::plan_with`, `BeatChoice::Auto`): the planner widens the line-buffered pools'
/// streams by itself, to a beat that may be narrower than `C`; the simulator equals the
/// reference with and without stalls, decoupled equals lockstep, and the plan's interval and
/// latency follow the simulator.
#[test]
fn overlapping_pools_at_a_target_beyond_one_element_per_beat() {
    let spec = RandomSpec {
        input: [1, 12, 12],
        input_format: u8_input(),
        layers: vec![
            conv(8, 3, 1, 1, true),
            overlapping(3, 1, false),
            conv(8, 3, 1, 1, true),
            overlapping(2, 1, true),
            overlapping(3, 2, false),
            LayerSpec::Flatten,
            dense(4, false),
        ],
    };
    let m = model(&spec, 11);
    let narrow = design(&m, &FoldingRequest::LaneBudget(1 << 20));
    assert_eq!(line_buffered_beats(&narrow), vec![1, 1, 1]);
    let mut seen_partial = false;
    for div in [2u64, 4] {
        let t = narrow.interval_cycles() / div;
        let req = FoldingRequest::Throughput {
            fps: 100e6 / t as f64,
            clock_mhz: 100.0,
            hard_wired: true,
        };
        let d = inq_hdl::plan_with(&m, &req, &[], inq_hdl::BeatChoice::Auto).expect("plan");
        assert!(d.interval_cycles() <= t, "÷{div}: {}", d.interval_cycles());
        let beats = line_buffered_beats(&d);
        assert!(beats.iter().all(|&k| k > 1), "÷{div}: {beats:?}");
        seen_partial |= beats.iter().any(|&k| k < 8);
        let imgs = images(&m, 5, div);
        for rate in [0.0, 0.3] {
            let opts = SimOptions {
                stall_rate: rate,
                seed: 3 + div,
                ..decoupled()
            };
            let r = verify(&m, &d, &imgs, &opts).unwrap();
            assert_eq!(
                r.mismatch_count, 0,
                "÷{div} rate {rate}: {:?}",
                r.mismatches
            );
            let lockstep = SimOptions {
                fast_forward: false,
                ..opts.clone()
            };
            let a = strip(simulate(&d, &imgs, &opts).unwrap());
            let b = strip(simulate(&d, &imgs, &lockstep).unwrap());
            assert_eq!(a.outputs, b.outputs, "÷{div} rate {rate}");
            assert_eq!(a.total_cycles, b.total_cycles, "÷{div} rate {rate}");
            assert_eq!(a.engines, b.engines, "÷{div} rate {rate}");
        }
        let r = simulate(&d, &imgs, &decoupled()).unwrap();
        let interval = r.interval_cycles.unwrap();
        assert!(
            (d.interval_cycles() as f64 - interval).abs() <= 0.02 * interval,
            "÷{div}: plan {}, simulated {interval}",
            d.interval_cycles()
        );
        let lat = r.latency_cycles as f64;
        assert!(
            (d.latency_estimate() as f64 - lat).abs() <= 0.05 * lat,
            "÷{div}: plan latency {}, simulated {lat}",
            d.latency_estimate()
        );
    }
    assert!(seen_partial, "some target needs a beat narrower than C");
}
