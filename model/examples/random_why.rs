//! Writes a random (untrained) 5-bit model of the small network in issue 13's "Why" — conv 8
//! 5×5, ReLU; conv 16 3×3 stride 2, ReLU; dense 144→10 (2 792 weights) — for checking what an
//! iCE40 holds without training: `cargo run -p inq-model --example random_why -- OUT.json
//! [SEED]`. A dense layer of 144 = 16·3·3 inputs after these two unpadded convolutions means a
//! 12×12 single-channel input (`docs/performance.md`, iCE40 section).

use inq_model::random::{build, LayerSpec, RandomSpec};
use inq_model::ActFormat;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: random_why OUT.json [SEED]")?;
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let conv = |out, k, stride| LayerSpec::Conv {
        out,
        k,
        stride,
        pad: 0,
        bits: 5,
        act_bits: 8,
        relu: true,
        per_channel: true,
    };
    let spec = RandomSpec {
        input: [1, 12, 12],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        },
        layers: vec![
            conv(8, 5, 1),
            conv(16, 3, 2),
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 10,
                bits: 5,
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    };
    build(&spec, seed)?.save(std::path::Path::new(&out))?;
    Ok(())
}
