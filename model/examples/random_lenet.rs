//! Writes a random (untrained) LeNet-shaped quantized model, for trying the hardware flow
//! without training: `cargo run -p inq-model --example random_lenet -- OUT.json [SEED]`.

use inq_model::random::{build, LayerSpec, RandomSpec};
use inq_model::ActFormat;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: random_lenet OUT.json [SEED]")?;
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let conv = |out| LayerSpec::Conv {
        out,
        k: 3,
        stride: 1,
        pad: 1,
        bits: 5,
        act_bits: 8,
        relu: true,
        per_channel: true,
    };
    let spec = RandomSpec {
        input: [1, 28, 28],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        },
        layers: vec![
            conv(16),
            LayerSpec::MaxPool(2),
            conv(32),
            LayerSpec::MaxPool(2),
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 128,
                bits: 5,
                act_bits: 8,
                relu: true,
                per_channel: true,
            },
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
