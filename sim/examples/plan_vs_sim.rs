//! Plan versus simulator: steady-state interval of a model at several foldings.
//!
//! `cargo run --release -p inq-sim --example plan_vs_sim -- MODEL.json [images] [request...]`
//! where a request is `minimal`, `lanesN` or `fpsF` (at 100 MHz); default: minimal, lanes16,
//! lanes64, lanes256, lanes1024.

use inq_hdl::{plan, FoldingRequest};
use inq_model::random::random_input;
use inq_model::QuantModel;
use inq_sim::{simulate, SimOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: plan_vs_sim MODEL.json [images] [request...]")?;
    let model = QuantModel::load(std::path::Path::new(path))?;
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(4);
    let mut reqs: Vec<String> = args.iter().skip(3).cloned().collect();
    if reqs.is_empty() {
        reqs = ["minimal", "lanes16", "lanes64", "lanes256", "lanes1024"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    let images: Vec<Vec<i64>> = (0..n as u64).map(|i| random_input(&model, i)).collect();
    for r in &reqs {
        let req = if let Some(k) = r.strip_prefix("lanes") {
            FoldingRequest::LaneBudget(k.parse()?)
        } else if let Some(f) = r.strip_prefix("fps") {
            FoldingRequest::Throughput {
                fps: f.parse()?,
                clock_mhz: 100.0,
                hard_wired: true,
            }
        } else {
            FoldingRequest::Minimal
        };
        let d = plan(&model, &req)?;
        let rep = simulate(&d, &images, &SimOptions::default())?;
        let p = d.interval_cycles() as f64;
        let got = rep.interval_cycles.unwrap_or(f64::NAN);
        let folds: Vec<String> = d
            .engines
            .iter()
            .filter_map(|e| match &e.kind {
                inq_hdl::EngineKind::Mvu(m) => Some(format!("{}x{}", m.pe, m.simd)),
                _ => None,
            })
            .collect();
        let cyc: Vec<u64> = d.engines.iter().map(|e| e.cycles_per_image).collect();
        println!(
            "{r:>10}: lanes {:>5} [{}] plan {p:>9} sim {got:>11.1} err {:+.2}%  per-engine {:?} busy {:?}",
            d.total_lanes(),
            folds.join(" "),
            (got - p) / p * 100.0,
            cyc,
            rep.engines.iter().map(|e| e.activity.busy / n as u64).collect::<Vec<_>>()
        );
    }
    Ok(())
}
