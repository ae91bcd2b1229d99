//! `inq compare`: two designs side by side at the same cycle model — throughput, synthesized
//! area with and without DSPs, lanes, LUTs per lane, and the integer accuracy of each design's
//! model. Made for the headline comparison of the project: shift-add (INQ) against the int8
//! multiplier baseline (`inq gen --mac multiply`) at equal folding.

use std::path::Path;

use inq_report::yosys::Flow;
use serde::Serialize;

use crate::error::FlowError;
use crate::report::{self, xilinx_luts, Report};

/// One design's figures.
#[derive(Serialize, Debug, Clone)]
pub struct Side {
    /// The design folder.
    pub dir: String,
    /// `shift` or `multiply`.
    pub mac: String,
    /// Total lanes.
    pub lanes: usize,
    /// Simulated steady-state cycles per image.
    pub interval_cycles: f64,
    /// Images per second at the design's clock.
    pub images_per_second: f64,
    /// Clock in MHz.
    pub clock_mhz: f64,
    /// `synth_xilinx` totals (LUT counts logic LUTs + 4 per LUT-RAM cell).
    pub xilinx: Option<Totals>,
    /// `synth_xilinx -nodsp` totals.
    pub xilinx_nodsp: Option<Totals>,
    /// `synth_xilinx` LUTs of the MVU engines (with their weight ROMs) per lane.
    pub mvu_luts_per_lane: Option<f64>,
    /// `synth_xilinx -nodsp` LUTs of the MVU engines per lane.
    pub mvu_luts_per_lane_nodsp: Option<f64>,
    /// Top-1 accuracy of the design's model (integer reference).
    pub accuracy: f64,
    /// Test images used.
    pub images: usize,
}

/// Synthesized totals of one flow.
#[derive(Serialize, Debug, Clone)]
pub struct Totals {
    /// LUTs (logic + 4 per LUT-RAM cell).
    pub luts: u64,
    /// Flip-flops.
    pub ffs: u64,
    /// CARRY4 cells.
    pub carry: u64,
    /// Block RAM (RAMB18 units as yosys counts them).
    pub bram: u64,
    /// DSP48E1 cells.
    pub dsp: u64,
}

/// What `inq compare` prints.
#[derive(Serialize, Debug)]
pub struct Comparison {
    /// The first design.
    pub a: Side,
    /// The second design.
    pub b: Side,
}

fn load_report(p: &Path, flows: &[Flow], quiet: bool) -> Result<Report, FlowError> {
    if p.is_file() {
        let text = std::fs::read_to_string(p)
            .map_err(|e| FlowError::Input(format!("{}: {e}", p.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            FlowError::Input(format!(
                "{}: not the output of `inq report --json` ({e})",
                p.display()
            ))
        })
    } else {
        let pb = crate::progress::spinner("yosys", quiet);
        let r = report::build(p, flows, None, |line| pb.set_message(line.to_string()));
        pb.finish_and_clear();
        r
    }
}

fn side(r: &Report, test: &inq_quant::data::Dataset) -> Result<Side, FlowError> {
    let dir = Path::new(&r.dir);
    let loaded = inq_design::load_design(dir)?;
    let model = loaded
        .model
        .as_ref()
        .ok_or_else(|| FlowError::Input(format!("no model.json in {}", dir.display())))?;
    let accuracy = crate::accuracy::integer_accuracy(model, test)?;
    let totals = |flow: Flow| {
        r.synth.iter().find(|s| s.flow == flow).map(|s| Totals {
            luts: xilinx_luts(&s.total),
            ffs: s.total.ffs,
            carry: s.total.carry,
            bram: s.total.bram,
            dsp: s.total.dsp,
        })
    };
    let is_mvu = |index: usize| {
        matches!(
            loaded.design.engines.get(index).map(|d| &d.kind),
            Some(inq_hdl::EngineKind::Mvu(_))
        )
    };
    let mvu_lanes: usize = r
        .engines
        .iter()
        .filter(|e| is_mvu(e.index))
        .map(|e| e.lanes)
        .sum();
    let per_lane = |flow: &str| -> Option<f64> {
        let mut sum = 0u64;
        for e in r.engines.iter().filter(|e| is_mvu(e.index)) {
            sum += xilinx_luts(e.synth.get(flow)?);
        }
        (mvu_lanes > 0).then(|| sum as f64 / mvu_lanes as f64)
    };
    Ok(Side {
        dir: r.dir.clone(),
        mac: loaded.design.mac().name().to_string(),
        lanes: loaded.design.total_lanes(),
        interval_cycles: r.interval_cycles,
        images_per_second: r.images_per_second,
        clock_mhz: r.clock_mhz,
        xilinx: totals(Flow::Xilinx),
        xilinx_nodsp: totals(Flow::XilinxNoDsp),
        mvu_luts_per_lane: per_lane(Flow::Xilinx.name()),
        mvu_luts_per_lane_nodsp: per_lane(Flow::XilinxNoDsp.name()),
        accuracy,
        images: test.len(),
    })
}

/// Builds the comparison of designs `a` and `b` (folders, synthesized with `flows`, or saved
/// `inq report --json` outputs), with the integer accuracy of each on `test`.
pub fn build(
    a: &Path,
    b: &Path,
    flows: &[Flow],
    test: &inq_quant::data::Dataset,
    quiet: bool,
) -> Result<Comparison, FlowError> {
    let ra = load_report(a, flows, quiet)?;
    let rb = load_report(b, flows, quiet)?;
    Ok(Comparison {
        a: side(&ra, test)?,
        b: side(&rb, test)?,
    })
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

/// One row of the table: a label and how to print it for one design.
type Row = (&'static str, Box<dyn Fn(&Side) -> String>);

/// The human table.
pub fn table(c: &Comparison) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let rows: Vec<Row> = vec![
        ("design", Box::new(|x: &Side| x.dir.clone())),
        ("MAC", Box::new(|x: &Side| x.mac.clone())),
        ("lanes", Box::new(|x: &Side| x.lanes.to_string())),
        (
            "cycles/image (simulated)",
            Box::new(|x: &Side| format!("{:.0}", x.interval_cycles)),
        ),
        (
            "images/s",
            Box::new(|x: &Side| format!("{:.1} @ {} MHz", x.images_per_second, x.clock_mhz)),
        ),
        (
            "synth_xilinx LUT",
            Box::new(|x: &Side| opt(x.xilinx.as_ref(), |t| t.luts.to_string())),
        ),
        (
            "synth_xilinx FF",
            Box::new(|x: &Side| opt(x.xilinx.as_ref(), |t| t.ffs.to_string())),
        ),
        (
            "synth_xilinx CARRY4",
            Box::new(|x: &Side| opt(x.xilinx.as_ref(), |t| t.carry.to_string())),
        ),
        (
            "synth_xilinx BRAM",
            Box::new(|x: &Side| opt(x.xilinx.as_ref(), |t| t.bram.to_string())),
        ),
        (
            "synth_xilinx DSP",
            Box::new(|x: &Side| opt(x.xilinx.as_ref(), |t| t.dsp.to_string())),
        ),
        (
            "-nodsp LUT",
            Box::new(|x: &Side| opt(x.xilinx_nodsp.as_ref(), |t| t.luts.to_string())),
        ),
        (
            "-nodsp FF",
            Box::new(|x: &Side| opt(x.xilinx_nodsp.as_ref(), |t| t.ffs.to_string())),
        ),
        (
            "MVU LUT/lane",
            Box::new(|x: &Side| opt(x.mvu_luts_per_lane, |v| format!("{v:.1}"))),
        ),
        (
            "MVU LUT/lane -nodsp",
            Box::new(|x: &Side| opt(x.mvu_luts_per_lane_nodsp, |v| format!("{v:.1}"))),
        ),
        (
            "accuracy (integer)",
            Box::new(|x: &Side| format!("{:.2}% of {}", 100.0 * x.accuracy, x.images)),
        ),
    ];
    for (name, f) in rows {
        let _ = writeln!(s, "{:<26} {:>28} {:>28}", name, f(&c.a), f(&c.b));
    }
    s.trim_end().to_string()
}
