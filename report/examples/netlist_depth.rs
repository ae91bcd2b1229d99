//! Prints the deepest path per engine of a yosys JSON netlist:
//! `cargo run -p inq-report --example netlist_depth -- NETLIST.json TOP CARRY_WEIGHT WRAPPER. [GROUP...]`

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err(
            "usage: netlist_depth NETLIST.json TOP CARRY_WEIGHT WRAPPER. [GROUP...]".into(),
        );
    }
    let weight: f64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(0.1);
    let wrappers: Vec<&str> = args.get(4).map(|s| vec![s.as_str()]).unwrap_or_default();
    let groups: Vec<String> = args.iter().skip(5).cloned().collect();
    let d = inq_report::depth::walk(
        std::path::Path::new(&args[1]),
        &args[2],
        &wrappers,
        &groups,
        weight,
    )?;
    println!("{}", serde_json::to_string_pretty(&d)?);
    Ok(())
}
