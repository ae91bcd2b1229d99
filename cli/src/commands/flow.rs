//! `inq flow`: the main job in one command — quantize → eval → gen → sim → verify → report —
//! with a progress line per stage, a final summary and a markdown report in the output folder.

use super::gen::FoldArgs;
use super::quantize::QuantOptions;
use super::{ImageArgs, StallArgs};
use anyhow::Context;
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The committed float model the flow starts from by default.
pub const DEFAULT_MODEL: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../models/fashion_lenet.onnx");

/// The lane budget of the default design when no folding is given.
pub const DEFAULT_LANES: usize = 64;

/// Arguments of `inq flow` (without a folding option the design gets a budget of
/// [`DEFAULT_LANES`] shift-add lanes).
#[derive(Args, Debug, Clone)]
pub struct FlowArgs {
    /// Float ONNX model to start from (default: the committed Fashion-MNIST LeNet).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Start from an already quantized model instead (skips quantization).
    #[arg(long, conflicts_with = "model")]
    pub quantized: Option<PathBuf>,
    /// Folder of IDX or npy files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "out/flow")]
    pub out: PathBuf,
    #[command(flatten)]
    pub q: QuantOptions,
    #[command(flatten)]
    pub fold: FoldArgs,
    /// Target clock in MHz.
    #[arg(long, default_value_t = 100.0)]
    pub clock_mhz: f64,
    /// Test images for simulation and Verilator verification.
    #[arg(long, default_value_t = 500)]
    pub images: usize,
    /// Back-pressure during simulation and verification.
    #[arg(long, default_value_t = 0.1)]
    pub stall_rate: f64,
    /// Synthesis flows for the report (comma separated: xilinx, ice40, generic, xilinx-nodsp).
    #[arg(long, value_delimiter = ',', default_value = "xilinx")]
    pub flows: Vec<String>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// The flow's summary.
#[derive(Serialize, Debug, Default)]
pub struct FlowSummary {
    /// The float model.
    pub model: String,
    /// The quantized model.
    pub quantized: String,
    /// Float accuracy (test split).
    pub float_accuracy: Option<f64>,
    /// INQ accuracy with float activations.
    pub inq_float_accuracy: Option<f64>,
    /// Integer-reference accuracy.
    pub integer_accuracy: Option<f64>,
    /// Test images of the accuracies.
    pub eval_images: usize,
    /// Design folder.
    pub design: String,
    /// Plan's interval.
    pub plan_interval_cycles: u64,
    /// Simulated steady-state cycles per image.
    pub interval_cycles: Option<f64>,
    /// Simulated latency of the first image.
    pub latency_cycles: u64,
    /// Images/s at the clock.
    pub images_per_second: f64,
    /// Simulation mismatches.
    pub sim_mismatches: usize,
    /// Images simulated / verified.
    pub images: usize,
    /// Verilator result: `passed`, `FAILED`, or why it did not run.
    pub verification: String,
    /// yosys LUTs (first flow).
    pub luts: Option<u64>,
    /// yosys FFs (first flow).
    pub ffs: Option<u64>,
    /// yosys BRAM (first flow).
    pub bram: Option<u64>,
    /// Multiplier cells in the synthesized netlist.
    pub mul_cells: Option<u64>,
    /// The markdown report.
    pub report: String,
    /// Seconds per stage.
    pub stage_seconds: Vec<(String, f64)>,
}

struct Stages {
    quiet: bool,
    n: usize,
    i: usize,
    t: Instant,
    times: Vec<(String, f64)>,
}

impl Stages {
    fn start(&mut self, name: &str, what: &str) {
        self.i += 1;
        self.t = Instant::now();
        self.times.push((name.to_string(), 0.0));
        if !self.quiet {
            eprintln!("[{}/{}] {name}: {what}", self.i, self.n);
        }
    }
    fn done(&mut self, result: &str) {
        let s = self.t.elapsed().as_secs_f64();
        if let Some(last) = self.times.last_mut() {
            last.1 = s;
        }
        if !self.quiet {
            eprintln!("      {result} ({s:.1} s)");
        }
    }
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.2}%", 100.0 * v))
        .unwrap_or_else(|| "n/a".into())
}

/// Runs `inq flow`.
pub fn run(a: &FlowArgs) -> anyhow::Result<()> {
    let mut st = Stages {
        quiet: a.json,
        n: 6,
        i: 0,
        t: Instant::now(),
        times: Vec::new(),
    };
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut s = FlowSummary::default();

    // 1. quantize
    let qpath = a.out.join("model.json");
    let mut plots = Vec::new();
    match &a.quantized {
        Some(q) => {
            st.start(
                "quantize",
                &format!("using the quantized model {}", q.display()),
            );
            let m = inq_model::QuantModel::load(q)?;
            m.save(&qpath)?;
            s.model = m.provenance.source.clone();
            st.done("copied");
        }
        None => {
            let model = a
                .model
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL));
            if !model.exists() {
                anyhow::bail!("{}: the float model does not exist (pass --model FLOAT.onnx, or train one with `inq train`)", model.display());
            }
            st.start(
                "quantize",
                &format!("{}-bit INQ of {}", a.q.bits, model.display()),
            );
            let r = super::quantize::quantize(&model, a.data.as_deref(), &qpath, &a.q, a.json)?;
            s.model = model.display().to_string();
            s.float_accuracy = r.float_accuracy;
            s.inq_float_accuracy = r.inq_float_accuracy;
            s.integer_accuracy = r.integer_accuracy;
            s.eval_images = r.images;
            plots = r
                .files
                .iter()
                .filter(|f| f.ends_with(".svg"))
                .cloned()
                .collect();
            st.done(&format!(
                "float {}, INQ {}, integer {}",
                pct(r.float_accuracy),
                pct(r.inq_float_accuracy),
                pct(r.integer_accuracy)
            ));
        }
    }
    s.quantized = qpath.display().to_string();

    // 2. eval (integer reference on the whole test split)
    st.start("eval", "integer reference on the test split");
    let model = inq_model::QuantModel::load(&qpath)?;
    let dir = inq_quant::data::resolve_dir(a.data.as_deref())?;
    let test = inq_quant::data::load(&dir, inq_quant::data::Split::Test)?;
    let acc = super::eval::integer_accuracy(&model, &test)?;
    s.integer_accuracy = Some(acc);
    if s.inq_float_accuracy.is_none() {
        // Power-of-two weights with float activations, from the quantized model itself.
        if let Ok(f) = inq_quant::dequant::float_view(&model) {
            s.inq_float_accuracy = Some(inq_quant::forward::accuracy(&f, &test)?.fraction());
        }
    }
    s.eval_images = test.len();
    st.done(&format!(
        "integer accuracy {} on {} images",
        pct(Some(acc)),
        test.len()
    ));

    // 3. gen
    let ddir = a.out.join("design");
    st.start("gen", "planning and writing Verilog");
    let mut fold = a.fold.clone();
    if fold.fold.is_none() && fold.lanes.is_none() && fold.target_fps.is_none() {
        fold.lanes = Some(DEFAULT_LANES);
    }
    let (g, design) = super::gen::generate(&qpath, &ddir, &fold, a.clock_mhz)?;
    s.design = ddir.display().to_string();
    s.plan_interval_cycles = design.interval_cycles();
    st.done(&format!(
        "{} engines, {} lanes, plan: {} cycles/image; {} files in {}",
        design.engines.len(),
        design.total_lanes(),
        s.plan_interval_cycles,
        g.manifest.rtl_files.len() + g.manifest.hex_files.len(),
        s.design
    ));

    // 4. sim
    let images = ImageArgs {
        data: a.data.clone(),
        limit: Some(a.images),
    };
    let stalls = StallArgs {
        stall_rate: a.stall_rate,
        seed: 1,
    };
    st.start(
        "sim",
        &format!("{} images, stall rate {}", a.images, a.stall_rate),
    );
    let sim = super::sim::simulate(&super::sim::SimArgs {
        dir: ddir.clone(),
        images: images.clone(),
        stalls: stalls.clone(),
        vcd: None,
        json: true,
    })?;
    s.images = sim.images;
    s.interval_cycles = sim.interval_cycles;
    s.latency_cycles = sim.latency_cycles;
    s.images_per_second = sim.images_per_second;
    s.sim_mismatches = sim.mismatch_count;
    st.done(&format!(
        "{} mismatches; interval {} cycles → {:.0} images/s at {} MHz; latency {} cycles",
        sim.mismatch_count,
        sim.interval_cycles
            .map(|i| format!("{i:.0}"))
            .unwrap_or_else(|| "n/a".into()),
        sim.images_per_second,
        a.clock_mhz,
        sim.latency_cycles
    ));
    let sim_table = super::sim::summary(&sim, Some(s.plan_interval_cycles));

    // 5. verify
    st.start(
        "verify",
        &format!("RTL under Verilator, {} images", a.images),
    );
    match inq_testbenches::verilator::locate_verilator(None, None) {
        Err(e) => {
            s.verification = format!("not run: {e}");
            st.done(&s.verification.clone());
        }
        Ok(_) => {
            let (imgs, labels) = images.load()?;
            let opts = inq_testbenches::VerifyOptions {
                stall_rate: a.stall_rate,
                seed: 1,
                labels: Some(labels),
                ..Default::default()
            };
            let v = inq_testbenches::verify(&ddir, &imgs, &opts)?;
            let same_cycles = v.total_cycles == sim.total_cycles && v.outputs == sim.outputs;
            s.verification = if v.passed {
                format!(
                    "passed: {} images bit-exact{}",
                    v.images,
                    if same_cycles {
                        ", every output word at the simulator's cycle"
                    } else {
                        " (cycle counts differ from the simulator!)"
                    }
                )
            } else {
                format!(
                    "FAILED: {} mismatching words; {}",
                    v.mismatch_count,
                    v.diagnosis.clone().unwrap_or_default()
                )
            };
            st.done(&s.verification.clone());
        }
    }

    // 6. report
    st.start("report", &format!("yosys {}", a.flows.join(", ")));
    let quiet = a.json;
    let rep = super::report::build(&ddir, &a.flows, None, |line| {
        if !quiet && line.matches('.').count() == 0 {
            eprintln!("      {line}");
        }
    });
    let report_table = match &rep {
        Ok(r) => {
            if let Some(x) = r.synth.first() {
                s.luts = Some(super::report::xilinx_luts(&x.total));
                s.ffs = Some(x.total.ffs);
                s.bram = Some(x.total.bram);
                s.mul_cells = Some(x.total.dsp + x.total.arith_cells);
            }
            st.done(&format!(
                "{} LUT, {} FF, {} BRAM18, {} DSP/multiplier cells",
                s.luts.unwrap_or(0),
                s.ffs.unwrap_or(0),
                s.bram.unwrap_or(0),
                s.mul_cells.unwrap_or(0)
            ));
            super::report::table(r)
        }
        Err(e) => {
            st.done(&format!("not run: {e:#}"));
            format!("yosys report not run: {e:#}")
        }
    };
    s.stage_seconds = st.times.clone();
    let md = a.out.join("report.md");
    write_markdown(
        &md,
        &s,
        &design.summary_table(a.clock_mhz),
        &sim_table,
        &report_table,
        &plots,
    )?;
    s.report = md.display().to_string();
    let failed = s.sim_mismatches > 0 || s.verification.starts_with("FAILED");
    crate::output::emit(a.json, &s, || {
        format!(
            "\nsummary\n  accuracy: float {}, INQ {}, integer {} ({} test images)\n  throughput: {} cycles/image (plan {}), {:.0} images/s at {} MHz, latency {} cycles\n  area (yosys {}): {} LUT, {} FF, {} BRAM18, {} multipliers\n  verification: {}\n  report: {}",
            pct(s.float_accuracy),
            pct(s.inq_float_accuracy),
            pct(s.integer_accuracy),
            s.eval_images,
            s.interval_cycles.map(|i| format!("{i:.0}")).unwrap_or_else(|| "n/a".into()),
            s.plan_interval_cycles,
            s.images_per_second,
            a.clock_mhz,
            s.latency_cycles,
            a.flows.first().map(String::as_str).unwrap_or("-"),
            s.luts.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            s.ffs.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            s.bram.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            s.mul_cells.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            s.verification,
            s.report
        )
    })?;
    if failed {
        anyhow::bail!("the flow found mismatches (see {})", md.display());
    }
    Ok(())
}

fn write_markdown(
    path: &Path,
    s: &FlowSummary,
    plan: &str,
    sim: &str,
    report: &str,
    plots: &[String],
) -> anyhow::Result<()> {
    let mut md = String::new();
    md += "# inq flow report\n\n";
    md += &format!(
        "Float model: `{}`; quantized model: `{}`; design: `{}`.\n\n",
        s.model, s.quantized, s.design
    );
    md += "## Accuracy\n\n| model | accuracy |\n|---|---|\n";
    md += &format!(
        "| float | {} |\n| INQ, float activations | {} |\n| integer reference | {} |\n\n",
        pct(s.float_accuracy),
        pct(s.inq_float_accuracy),
        pct(s.integer_accuracy)
    );
    md += &format!("On {} test images.\n\n", s.eval_images);
    for p in plots {
        let name = Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        md += &format!("![{name}]({name})\n\n");
    }
    md += &format!("## Hardware plan\n\n```\n{}\n```\n\n", plan.trim_end());
    md += &format!(
        "## Simulation ({} images)\n\n```\n{}\n```\n\n",
        s.images,
        sim.trim_end()
    );
    md += &format!("## Verification\n\n{}\n\n", s.verification);
    md += &format!("## Area (yosys)\n\n```\n{}\n```\n\n", report.trim_end());
    md += "## Time per stage\n\n| stage | seconds |\n|---|---|\n";
    for (n, t) in &s.stage_seconds {
        md += &format!("| {n} | {t:.1} |\n");
    }
    inq_model::write_atomic(path, md.as_bytes())?;
    Ok(())
}
