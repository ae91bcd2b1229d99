//! Datapath registers of ROM-fed engines (`Mvu::data_regs`, `docs/hardware.md` §4,
//! "Datapath registers"): the designs compute the reference bit for bit on every stream, with
//! and without stalls; the decoupled run equals stepping every cycle of the lockstep machine;
//! the interval is the one without the registers, the first-image latency at most a cycle
//! longer per ROM-fed engine and the plan follows it.

mod common;

use common::*;
use inq_hdl::{Design, EngineKind, FoldingRequest};
use inq_model::QuantModel;
use inq_sim::{simulate, verify, SimOptions};

/// `d` with datapath registers (and registered schedule flags, when asked) on every ROM-fed
/// engine; how many there are.
fn with_data_regs(d: &Design, sched_regs: bool) -> (Design, usize) {
    let mut d = d.clone();
    let mut n = 0;
    for e in &mut d.engines {
        if let EngineKind::Mvu(m) = &mut e.kind {
            if !m.is_constant() {
                m.data_regs = true;
                m.sched_regs = sched_regs;
                n += 1;
            }
        }
    }
    (d, n)
}

fn foldings_of(m: &QuantModel) -> Vec<FoldingRequest> {
    let mut f: Vec<FoldingRequest> = foldings(m).into_iter().map(|(_, r)| r).collect();
    f.push(FoldingRequest::LaneBudget(12));
    f
}

#[test]
fn datapath_registers_keep_every_stream_exact() {
    let mut checked = 0;
    for (name, spec) in specs() {
        let m = model(&spec, 31);
        let imgs = images(&m, 3, 31);
        for req in foldings_of(&m) {
            let Ok(base) = inq_hdl::plan(&m, &req) else {
                continue;
            };
            let (d, n) = with_data_regs(&base, checked % 2 == 1);
            if n == 0 {
                continue;
            }
            for rate in [0.0, 0.3] {
                let o = SimOptions {
                    stall_rate: rate,
                    seed: 5,
                    ..decoupled()
                };
                let r = verify(&m, &d, &imgs, &o).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(r.checked);
                assert_eq!(
                    r.mismatch_count,
                    0,
                    "{name} {req:?} rate {rate}: {:?}",
                    &r.mismatches[..r.mismatches.len().min(5)]
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} designs");
}

#[test]
fn decoupled_equals_lockstep_with_datapath_registers() {
    for (name, spec) in specs() {
        let m = model(&spec, 32);
        let imgs = images(&m, 4, 32);
        for req in foldings_of(&m) {
            let Ok(base) = inq_hdl::plan(&m, &req) else {
                continue;
            };
            let (d, _) = with_data_regs(&base, false);
            let runs = [(0.0, None), (0.25, None), (0.1, Some(2))];
            assert_fast_forward_exact(&d, &imgs, 11, &runs, &format!("{name} {req:?}"));
        }
    }
}

#[test]
fn datapath_registers_cost_latency_not_throughput() {
    for (name, spec) in specs() {
        let m = model(&spec, 33);
        let imgs = images(&m, 6, 33);
        for req in foldings_of(&m) {
            let Ok(base) = inq_hdl::plan(&m, &req) else {
                continue;
            };
            let (d, n) = with_data_regs(&base, false);
            if n == 0 {
                continue;
            }
            let r0 = simulate(&base, &imgs, &decoupled()).unwrap();
            let r = simulate(&d, &imgs, &decoupled()).unwrap();
            let values = |r: &inq_sim::SimReport| -> Vec<(usize, i64)> {
                r.outputs.iter().map(|o| (o.word, o.value)).collect()
            };
            assert_eq!(values(&r), values(&r0), "{name} {req:?}");
            let (i0, i) = (r0.interval_cycles.unwrap(), r.interval_cycles.unwrap());
            assert!(
                (i - i0).abs() <= 0.01 * i0,
                "{name} {req:?}: interval {i0} → {i}"
            );
            assert!(
                r.latency_cycles >= r0.latency_cycles
                    && r.latency_cycles <= r0.latency_cycles + n as u64,
                "{name} {req:?}: latency {} → {} with {n} registered engines",
                r0.latency_cycles,
                r.latency_cycles
            );
            let (lat, plan) = (r.latency_cycles as f64, d.latency_estimate() as f64);
            assert!(
                (plan - lat).abs() <= 0.05 * lat,
                "{name} {req:?}: plan latency {plan}, simulated {lat}"
            );
            // the plan moves by what the simulator moves, give or take a cycle per engine
            let moved = d.latency_estimate() as i64 - base.latency_estimate() as i64;
            let sim_moved = r.latency_cycles as i64 - r0.latency_cycles as i64;
            assert!(
                (moved - sim_moved).abs() <= n as i64,
                "{name} {req:?}: plan +{moved}, simulator +{sim_moved}"
            );
        }
    }
}
