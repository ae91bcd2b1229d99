//! A ResNet-8-shaped random design: simulator speed and skip-FIFO sizing.
//!
//! `cargo run --release -p inq-sim --example resnet8 -- [lanes] [images] [stall_rate]`
//! (default: 64 lanes, 4 images, no stalls). Prints the plan, a verified run (reference =
//! simulator), the decoupled and the lockstep speed, and the result of
//! `inq_sim::minimize_skip_fifos`.

use inq_hdl::{plan, FoldingRequest};
use inq_model::random::{build, random_input, LayerSpec, RandomSpec};
use inq_model::ActFormat;
use inq_sim::{minimize_skip_fifos, simulate, verify, SimOptions};

fn conv(out: usize, k: usize, stride: usize, pad: usize, relu: bool) -> LayerSpec {
    LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 8,
        relu,
        per_channel: true,
    }
}

/// input [1,28,28] 8-bit; conv16; res(16, identity); res(32, s2, 1×1 projection);
/// res(64, s2, 1×1 projection); GAP (7×7); flatten; dense 10.
pub fn resnet8_spec() -> RandomSpec {
    let block = |c: usize, stride: usize| LayerSpec::Residual {
        main: vec![conv(c, 3, stride, 1, true), conv(c, 3, 1, 1, false)],
        shortcut: if stride == 1 {
            vec![]
        } else {
            vec![conv(c, 1, stride, 0, false)]
        },
        act_bits: 8,
        relu: true,
    };
    RandomSpec {
        input: [1, 28, 28],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: -8,
        },
        layers: vec![
            conv(16, 3, 1, 1, true),
            block(16, 1),
            block(32, 2),
            block(64, 2),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 10,
                bits: 5,
                act_bits: 8,
                relu: false,
                per_channel: false,
            },
        ],
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let lanes: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(4);
    let rate: f64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(0.0);
    let model = build(&resnet8_spec(), 8)?;
    let design = plan(&model, &FoldingRequest::LaneBudget(lanes))?;
    print!("{}", design.summary_table(100.0));
    let images: Vec<Vec<i64>> = (0..n as u64).map(|i| random_input(&model, i)).collect();
    let opts = SimOptions {
        stall_rate: rate,
        ..SimOptions::default()
    };
    let r = verify(&model, &design, &images, &opts)?;
    println!(
        "verified: {} images, {} mismatches, total {} cycles, latency {}, interval {:?} (plan {})",
        r.images,
        r.mismatch_count,
        r.total_cycles,
        r.latency_cycles,
        r.interval_cycles,
        design.interval_cycles()
    );
    for e in &r.engines {
        println!(
            "  engine {:>2} {:<16} {:<16} planned {:>8}/img  busy {:>9} stalled {:>9} idle {:>9}",
            e.engine,
            e.name,
            e.op,
            e.planned_cycles_per_image,
            e.activity.busy,
            e.activity.stalled,
            e.activity.idle
        );
    }
    for f in r.fifos.iter().filter(|f| f.skip) {
        println!(
            "  skip stream {} depth {} peak {}",
            f.stream, f.depth, f.peak
        );
    }
    for fast in [true, false] {
        let o = SimOptions {
            fast_forward: fast,
            ..opts.clone()
        };
        let r = simulate(&design, &images, &o)?;
        println!(
            "{}: {} cycles in {:.3} s = {:.1} M cycles/s",
            if fast { "decoupled" } else { "lockstep" },
            r.total_cycles,
            r.sim_seconds,
            r.cycles_per_second / 1e6
        );
    }
    let (sized, rep) = minimize_skip_fifos(&design, n)?;
    println!(
        "fifo sizing: {} simulations in {:.2} s, interval {} → {}",
        rep.simulations, rep.seconds, rep.interval_cycles, rep.new_interval_cycles
    );
    for s in &rep.streams {
        println!(
            "  stream {} (fork engine {} port {}): depth {} → {} ({} simulations)",
            s.stream, s.fork, s.port, s.old_depth, s.new_depth, s.simulations
        );
    }
    let r2 = verify(&model, &sized, &images, &opts)?;
    println!(
        "sized design: {} mismatches, interval {:?}",
        r2.mismatch_count, r2.interval_cycles
    );
    Ok(())
}
