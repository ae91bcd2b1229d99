//! `inq flow`: the main job in one command — quantize → eval → gen → sim → verify → report —
//! with a progress line per stage, a final summary and `report.md`, for the built-in
//! architectures (`--arch lenet|resnet8`, committed float models) or any supported ONNX model.
//!
//! The output folder is built beside its final place and moved there at the end
//! ([`inq_design::Staging`]): an interrupted flow leaves the previous output untouched.

use std::path::{Path, PathBuf};

use inq_hdl::FoldingRequest;
use inq_quant::data::{self, Split};
use inq_quant::train::Arch;
use inq_report::yosys::Flow;
use serde::Serialize;

use crate::build::BuildRequest;
use crate::error::{Context, FlowError};
use crate::progress::Stages;
use crate::quantize::{Method, QuantizeRequest};
use crate::run::RunRequest;

/// The committed float model of a built-in architecture.
pub fn default_model(arch: Arch) -> PathBuf {
    let name = match arch {
        Arch::Lenet => "fashion_lenet.onnx",
        Arch::Resnet8 => "fashion_resnet8.onnx",
        Arch::Up5k => "fashion_up5k.onnx",
    };
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join(name)
}

/// The lane budget of the default design of an architecture when no folding is given.
pub fn default_lanes(arch: Arch) -> usize {
    match arch {
        Arch::Lenet => 64,
        Arch::Resnet8 => 256,
        Arch::Up5k => 16,
    }
}

/// Where the flow starts.
#[derive(Debug, Clone)]
pub enum Start {
    /// A float ONNX model (quantized by the flow).
    Float(PathBuf),
    /// An already quantized model (quantization skipped).
    Quantized(PathBuf),
}

/// What `inq flow` does.
#[derive(Debug, Clone)]
pub struct FlowRequest {
    /// The starting model.
    pub start: Start,
    /// The quantization (its `model` and `out` are set by the flow).
    pub quantize: QuantizeRequest,
    /// The design (folding, clock, FIFO depths).
    pub build: BuildRequest,
    /// Folder of IDX or npy files.
    pub data: Option<PathBuf>,
    /// Output folder.
    pub out: PathBuf,
    /// Test images for simulation and Verilator verification.
    pub images: usize,
    /// Back-pressure during simulation and verification.
    pub stall_rate: f64,
    /// Synthesis flows of the report.
    pub flows: Vec<Flow>,
    /// No progress output.
    pub quiet: bool,
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
    /// Plan's first-image latency.
    pub plan_latency_cycles: u64,
    /// Skip FIFOs sized by simulation: (stream, rule depth, sized depth).
    pub skip_fifos: Vec<(usize, usize, usize)>,
    /// Simulated steady-state cycles per image.
    pub interval_cycles: Option<f64>,
    /// Simulated latency of the first image.
    pub latency_cycles: u64,
    /// Images/s at the clock.
    pub images_per_second: f64,
    /// Simulation mismatches: differing output words plus differing (tap, image) streams.
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
    /// Whether everything matched.
    pub passed: bool,
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.2}%", 100.0 * v))
        .unwrap_or_else(|| "n/a".into())
}

/// Runs the whole flow; the summary's `passed` is false when the simulator or the RTL
/// disagreed with the reference.
pub fn run(req: &FlowRequest) -> Result<FlowSummary, FlowError> {
    let stage_dir = inq_design::Staging::begin(&req.out, "flow", req.build.force)?;
    let work = stage_dir.path().to_path_buf();
    let mut st = Stages::new(6, req.quiet);
    let mut s = FlowSummary::default();

    // 1. quantize
    let qpath = work.join("model.json");
    let mut plots = Vec::new();
    match &req.start {
        Start::Quantized(q) => {
            st.start(
                "quantize",
                &format!("using the quantized model {}", q.display()),
            );
            let m = inq_model::QuantModel::load(q)?;
            m.save(&qpath)?;
            s.model = m.provenance.source.clone();
            st.done("copied");
        }
        Start::Float(model) => {
            if !model.exists() {
                return Err(FlowError::Input(format!(
                    "{}: the float model does not exist (pass --model FLOAT.onnx, or train one with `inq train --arch ... --out FILE`)",
                    model.display()
                )));
            }
            let mut q = req.quantize.clone();
            q.model = model.clone();
            q.out = qpath.clone();
            q.data = req.data.clone();
            q.quiet = req.quiet;
            st.start(
                "quantize",
                &format!(
                    "{}-bit {} of {}",
                    if q.method == Method::Inq {
                        q.inq.bits
                    } else {
                        q.weight_bits
                    },
                    if q.method == Method::Inq {
                        "INQ"
                    } else {
                        "uniform quantization"
                    },
                    model.display()
                ),
            );
            let r = crate::quantize::quantize(&q)?;
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
    s.quantized = req.out.join("model.json").display().to_string();

    // 2. eval (integer reference on the whole test split)
    st.start("eval", "integer reference on the test split");
    let model = inq_model::QuantModel::load(&qpath)?;
    let dir = data::resolve_dir(req.data.as_deref())?;
    let test = data::load(&dir, Split::Test)
        .ctx(|| format!("loading the test split from {}", dir.display()))?;
    let acc = crate::accuracy::integer_accuracy(&model, &test)?;
    s.integer_accuracy = Some(acc);
    if s.inq_float_accuracy.is_none() {
        if let Ok(f) = inq_quant::dequant::float_view(&model) {
            s.inq_float_accuracy = inq_quant::forward::accuracy(&f, &test)
                .ok()
                .map(|a| a.fraction());
        }
    }
    s.eval_images = test.len();
    st.done(&format!(
        "integer accuracy {} on {} images",
        pct(Some(acc)),
        test.len()
    ));

    // 3. gen
    let ddir = work.join("design");
    st.start("gen", "planning, sizing the skip FIFOs and writing Verilog");
    let (g, design) = crate::build::build(&model, &ddir, &req.build)?;
    s.design = req.out.join("design").display().to_string();
    s.plan_interval_cycles = design.interval_cycles();
    s.plan_latency_cycles = design.latency_estimate();
    if let Some(z) = &g.sizing {
        s.skip_fifos = z
            .streams
            .iter()
            .map(|x| (x.stream, x.old_depth, x.new_depth))
            .collect();
    }
    st.done(&format!(
        "{} engines, {} lanes, plan: {} cycles/image; {} files",
        design.engines.len(),
        design.total_lanes(),
        s.plan_interval_cycles,
        g.manifest.rtl_files.len() + g.manifest.hex_files.len(),
    ));

    // 4. sim
    let mut part = test.clone();
    part.truncate(req.images);
    let (images, labels) = crate::accuracy::images_and_labels(&part);
    let run = RunRequest {
        images,
        labels,
        stall_rate: req.stall_rate,
        seed: 1,
        vcd: None,
        check_streams: true,
        shard_images: crate::run::DEFAULT_SHARD_IMAGES,
        jobs: 0,
    };
    st.start(
        "sim",
        &format!("{} images, stall rate {}", run.images.len(), req.stall_rate),
    );
    let sim = crate::run::simulate(&ddir, &run)?;
    s.images = sim.images;
    s.interval_cycles = sim.interval_cycles;
    s.latency_cycles = sim.latency_cycles;
    s.images_per_second = sim.images_per_second;
    // a differing intermediate stream counts like a differing output word
    s.sim_mismatches = sim.mismatch_count + sim.stream_mismatches;
    st.done(&format!(
        "{} mismatching words, {} differing streams; interval {} cycles → {:.0} images/s at {} MHz; latency {} cycles",
        sim.mismatch_count,
        sim.stream_mismatches,
        sim.interval_cycles
            .map(|i| format!("{i:.0}"))
            .unwrap_or_else(|| "n/a".into()),
        sim.images_per_second,
        req.build.clock_mhz,
        sim.latency_cycles
    ));
    let sim_table = crate::run::sim_summary(&sim, Some(crate::run::Planned::of(&design)));

    // 5. verify
    st.start(
        "verify",
        &format!("RTL under Verilator, {} images", run.images.len()),
    );
    let mut verified = true;
    match inq_testbenches::verilator::locate_verilator(None, None) {
        Err(e) => {
            s.verification = format!("not run: {e}");
            st.done(&s.verification.clone());
        }
        Ok(_) => {
            let v = crate::run::verify(&ddir, &run)?;
            let same_cycles = v.total_cycles == sim.total_cycles && v.outputs == sim.outputs;
            verified = v.passed && same_cycles;
            s.verification = if v.passed {
                format!(
                    "passed: {} images bit-exact{}{}",
                    v.images,
                    if v.streams_checked {
                        ", every stream checked"
                    } else {
                        ""
                    },
                    if same_cycles {
                        ", every output word at the simulator's cycle"
                    } else {
                        " (cycle counts differ from the simulator!)"
                    }
                )
            } else {
                format!(
                    "FAILED: {} mismatching words, {} differing streams; {}",
                    v.mismatch_count,
                    v.stream_mismatches,
                    v.diagnosis.clone().unwrap_or_default()
                )
            };
            st.done(&s.verification.clone());
        }
    }

    // 6. report
    let names: Vec<&str> = req.flows.iter().map(|f| f.name()).collect();
    st.start("report", &format!("yosys {}", names.join(", ")));
    // one spinner line with the current pass; the full yosys logs go to files in the folder
    let pb = crate::progress::spinner("yosys", req.quiet);
    let rep = if req.flows.is_empty() {
        Err(FlowError::Input("no synthesis flow asked for".into()))
    } else {
        crate::report::build(&ddir, &req.flows, None, |line| {
            pb.set_message(line.to_string());
        })
    };
    pb.finish_and_clear();
    let report_table = match &rep {
        Ok(r) => {
            if let Some(x) = r.synth.first() {
                s.luts = Some(crate::report::xilinx_luts(&x.total));
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
            crate::report::table(r)
        }
        Err(e) => {
            st.done(&format!("not run: {e}"));
            format!("yosys report not run: {e}")
        }
    };
    s.stage_seconds = st.times.clone();
    s.passed = s.sim_mismatches == 0 && verified;
    let md = work.join("report.md");
    let mut plan_table = design.summary_table(req.build.clock_mhz);
    if let Some(f) = &g.clock_fit {
        // pipelined for a clock (the default): the registers chosen and what misses it
        plan_table.push_str(&f.summary());
    }
    write_markdown(&md, &s, &plan_table, &sim_table, &report_table, &plots)?;
    s.report = req.out.join("report.md").display().to_string();
    stage_dir.commit()?;
    Ok(s)
}

impl FlowSummary {
    /// The human summary.
    pub fn summary(&self, clock_mhz: f64, flow: &str) -> String {
        format!(
            "\nsummary\n  accuracy: float {}, INQ {}, integer {} ({} test images)\n  throughput: {} cycles/image (plan {}), {:.0} images/s at {} MHz, latency {} cycles (plan {})\n  area (yosys {}): {} LUT, {} FF, {} BRAM18, {} multipliers\n  verification: {}\n  report: {}",
            pct(self.float_accuracy),
            pct(self.inq_float_accuracy),
            pct(self.integer_accuracy),
            self.eval_images,
            self.interval_cycles
                .map(|i| format!("{i:.0}"))
                .unwrap_or_else(|| "n/a".into()),
            self.plan_interval_cycles,
            self.images_per_second,
            clock_mhz,
            self.latency_cycles,
            self.plan_latency_cycles,
            flow,
            self.luts.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            self.ffs.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            self.bram.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            self.mul_cells
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into()),
            self.verification,
            self.report
        )
    }
}

fn write_markdown(
    path: &Path,
    s: &FlowSummary,
    plan: &str,
    sim: &str,
    report: &str,
    plots: &[String],
) -> Result<(), FlowError> {
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
    if !s.skip_fifos.is_empty() {
        md += "Skip FIFOs (stream: rule depth → simulated depth): ";
        md += &s
            .skip_fifos
            .iter()
            .map(|(st, a, b)| format!("{st}: {a} → {b}"))
            .collect::<Vec<_>>()
            .join(", ");
        md += "\n\n";
    }
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

/// The default folding of an architecture's flow: its lane budget.
pub fn default_folding(arch: Arch) -> FoldingRequest {
    FoldingRequest::LaneBudget(default_lanes(arch))
}
