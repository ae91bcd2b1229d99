//! Prints the plan's clock estimate (`docs/hardware.md` §12) of a design folder, per engine,
//! on one family, without synthesis:
//! `cargo run --release -p inq-hdl --example timing_estimate -- DIR [xilinx|up5k|hx8k]`
//! (`DIR/manifest.json` holds the design; default family Xilinx 7-series, the LUT levels
//! `inq report --flows xilinx` compares with the netlist).

use inq_hdl::{timing, Design, TimingFamily};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .ok_or("usage: timing_estimate DIR [xilinx|up5k|hx8k]")?;
    let family = match args.get(2).map(String::as_str) {
        None | Some("xilinx") => TimingFamily::Xilinx7,
        Some(part) => TimingFamily::of_ice40_part(part),
    };
    let path = std::path::Path::new(dir).join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&text)?;
    let design = Design::from_json(&manifest["design"].to_string())?;
    let est = timing::estimate(&design, family);
    println!("{} ({}):", dir, family.name());
    for p in &est.parts {
        println!(
            "  {:<12} {:>3} + {:>3}c  {:6.2} ns",
            p.name, p.path.levels, p.path.carry, p.ns
        );
    }
    println!("  Fmax estimate {:.1} MHz", est.fmax_mhz);
    Ok(())
}
