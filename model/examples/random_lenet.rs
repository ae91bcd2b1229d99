//! Writes a random (untrained) LeNet-shaped quantized model, for trying the hardware flow
//! without training: `cargo run -p inq-model --example random_lenet -- OUT.json [SEED]`.

use inq_model::random::{build, lenet_spec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or("usage: random_lenet OUT.json [SEED]")?;
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let spec = lenet_spec(0, true);
    build(&spec, seed)?.save(std::path::Path::new(&out))?;
    Ok(())
}
