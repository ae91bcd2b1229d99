//! `inq explore`: design-space exploration. Sweeps the folding (a lane budget per point, and
//! each budget's interval again as a throughput target with hard-wired engines allowed) and,
//! optionally, the weight bit width; for each point it reports the throughput (the plan's
//! interval, confirmed by the cycle-accurate simulator), the area (the analytic estimate for
//! every point, yosys `synth_xilinx` for the Pareto-front points) and the accuracy (integer
//! reference on the test split). Writes `explore.csv`, `explore.md` and `pareto.svg` (the front
//! with hard-wired engines beside the front of ROM-fed lanes only).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use inq_hdl::FoldingRequest;
use inq_model::QuantModel;
use inq_report::yosys::Flow;
use serde::Serialize;

use crate::error::{Context, FlowError};
use crate::quantize::QuantizeRequest;

/// Which points get yosys `synth_xilinx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SynthPoints {
    /// The analytic Pareto front (the default).
    #[default]
    Pareto,
    /// Every point.
    All,
    /// None.
    None,
}

/// What `inq explore` does.
#[derive(Debug, Clone)]
pub struct ExploreRequest {
    /// Quantized `.json` models, or float `.onnx` models quantized once per `bits` entry.
    pub models: Vec<PathBuf>,
    /// Folder of IDX or npy files.
    pub data: Option<PathBuf>,
    /// Lane budgets to sweep.
    pub lanes: Vec<usize>,
    /// Throughput targets (images/s at `clock_mhz`) to add as points: the planner's smallest
    /// design for each, with hard-wired engines and wide beats where it needs them.
    pub fps: Vec<f64>,
    /// Weight bit widths for float models.
    pub bits: Vec<u32>,
    /// The quantization of float models (its `model`, `out`, bits and test limit are set per
    /// run).
    pub quantize: QuantizeRequest,
    /// Output folder.
    pub out: PathBuf,
    /// Clock in MHz for images/s.
    pub clock_mhz: f64,
    /// Accuracy on the first N test images only.
    pub limit: Option<usize>,
    /// Images the simulator runs per point to confirm the planned interval.
    pub sim_images: usize,
    /// Which points get yosys.
    pub synth: SynthPoints,
    /// No progress output.
    pub quiet: bool,
    /// Write into a folder `inq` did not write (never deleting anything).
    pub force: bool,
}

/// One design point.
#[derive(Serialize, Debug, Clone)]
pub struct Point {
    /// Model label (file stem, or `<bits>bit` for models quantized here).
    pub model: String,
    /// Weight bits (largest over the layers).
    pub bits: u32,
    /// The lane budget asked for.
    pub lane_budget: usize,
    /// Lanes the plan uses.
    pub lanes: usize,
    /// Per MVU engine `name:PExSIMD`.
    pub folding: String,
    /// The hard-wired engines (`docs/hardware.md` §4.1), space-separated; empty for a design
    /// of ROM-fed lanes only.
    pub hard_wired: String,
    /// The streams wider than one element per beat (`docs/hardware.md` §2.1), as
    /// `producer→consumer k`, comma-separated; empty with one element per beat everywhere.
    pub wide_beats: String,
    /// The plan's interval (cycles per image, steady state).
    pub plan_interval_cycles: u64,
    /// The simulator's steady-state interval (stall-free run of `sim_images` images).
    pub sim_interval_cycles: Option<f64>,
    /// Images per second at the clock (plan interval).
    pub images_per_second: f64,
    /// Analytic LUTs.
    pub est_luts: u64,
    /// Analytic flip-flop bits.
    pub est_ffs: u64,
    /// Analytic RAMB18.
    pub est_bram18: u64,
    /// yosys `synth_xilinx` LUTs (logic + 4 per LUT-RAM), when synthesized.
    pub yosys_luts: Option<u64>,
    /// yosys FFs, when synthesized.
    pub yosys_ffs: Option<u64>,
    /// yosys RAMB18 equivalents, when synthesized.
    pub yosys_bram: Option<u64>,
    /// Integer-reference accuracy (fraction).
    pub accuracy: f64,
    /// On the Pareto front of (images/s, analytic LUTs, accuracy) over all models.
    pub pareto: bool,
    /// On the same front over the designs of ROM-fed lanes with one element per beat (the
    /// front without hard-wired engines and wide beats).
    pub pareto_rom: bool,
}

/// What `inq explore` reports.
#[derive(Serialize, Debug)]
pub struct ExploreReport {
    /// Every point.
    pub points: Vec<Point>,
    /// Test images behind the accuracies.
    pub images: usize,
    /// Clock in MHz.
    pub clock_mhz: f64,
    /// Files written.
    pub files: Vec<String>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}

/// Loads (or, for ONNX, quantizes into `work/models`) the models to explore: `(label, model)`.
fn models(a: &ExploreRequest, work: &Path) -> Result<Vec<(String, QuantModel)>, FlowError> {
    let mut out = Vec::new();
    for path in &a.models {
        if crate::accuracy::is_onnx(path) {
            for &bits in &a.bits {
                let label = format!("{}-{bits}bit", stem(path));
                let file = work.join("models").join(format!("{label}.json"));
                if !a.quiet {
                    eprintln!("quantizing {} to {bits} bits", path.display());
                }
                let mut q = a.quantize.clone();
                q.model = path.clone();
                q.out = file.clone();
                q.data = a.data.clone();
                q.inq.bits = bits;
                q.test_limit = a.limit;
                q.quiet = a.quiet;
                crate::quantize::quantize(&q)?;
                out.push((label, QuantModel::load(&file)?));
            }
        } else {
            let m = QuantModel::load(path)?;
            out.push((stem(path), m));
        }
    }
    Ok(out)
}

fn max_bits(m: &QuantModel) -> u32 {
    m.nodes
        .iter()
        .filter_map(|n| n.op.operator().weights().map(|w| w.bits))
        .max()
        .unwrap_or(0)
}

/// Marks the points no other point dominates: at least as fast, at most as many LUTs and at
/// least as accurate, and strictly better in one of the three (so a cheaper design with fewer
/// weight bits does not hide a more accurate one).
fn mark_pareto(points: &mut [Point]) {
    let keys: Vec<(f64, u64, f64, bool)> = points
        .iter()
        .map(|p| {
            (
                p.images_per_second,
                p.est_luts,
                p.accuracy,
                p.hard_wired.is_empty() && p.wide_beats.is_empty(),
            )
        })
        .collect();
    let dominated = |i: usize, rom_only: bool| {
        let (f, l, a, _) = keys[i];
        keys.iter().enumerate().any(|(j, &(g, m, b, rom))| {
            j != i && (rom || !rom_only) && g >= f && m <= l && b >= a && (g > f || m < l || b > a)
        })
    };
    for i in 0..points.len() {
        points[i].pareto = !dominated(i, false);
        points[i].pareto_rom = keys[i].3 && !dominated(i, true);
    }
}

/// Per MVU engine `name:PExSIMD`.
fn folding_of(design: &inq_hdl::Design) -> String {
    design
        .engines
        .iter()
        .filter_map(|e| match &e.kind {
            inq_hdl::EngineKind::Mvu(m) => Some(format!("{}:{}x{}", e.name, m.pe, m.simd)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The names of the hard-wired engines, space-separated.
fn hard_wired_of(design: &inq_hdl::Design) -> String {
    design
        .engines
        .iter()
        .filter(|e| matches!(&e.kind, inq_hdl::EngineKind::Mvu(m) if m.is_constant()))
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Plans one point as `inq gen` does (skip FIFOs sized by simulation), confirms its interval
/// with the simulator and measures it.
fn evaluate(
    a: &ExploreRequest,
    label: &str,
    model: &QuantModel,
    accuracy: f64,
    budget: usize,
    folding: FoldingRequest,
    log: &mut impl FnMut(&str),
) -> Result<(Point, inq_hdl::Design), FlowError> {
    let crate::build::Planned { design, .. } = crate::build::plan(
        model,
        &crate::build::BuildRequest {
            folding,
            unroll: Vec::new(),
            fifo_depths: crate::build::FifoDepths::Simulated,
            clock_mhz: a.clock_mhz,
            force: false,
            pipelining: crate::build::Pipelining::default_target(a.clock_mhz),
            beats: inq_hdl::BeatChoice::Auto,
        },
    )
    .ctx(|| format!("planning {label} with {budget} lanes"))?;
    let images: Vec<Vec<i64>> = (0..a.sim_images.max(2))
        .map(|i| inq_model::random::random_input(model, i as u64))
        .collect();
    let sim = inq_sim::simulate(&design, &images, &inq_sim::SimOptions::default())
        .ctx(|| format!("simulating {label} with {budget} lanes"))?;
    let plan_interval = design.interval_cycles();
    if let Some(iv) = sim.interval_cycles {
        if (iv - plan_interval as f64).abs() > 0.02 * plan_interval as f64 + 0.5 {
            return Err(FlowError::Stage(format!(
                "{label}, {budget} lanes: the simulator measured {iv} cycles per image, the plan says {plan_interval}"
            )));
        }
    }
    let r = design.total_resources();
    let hard_wired = hard_wired_of(&design);
    log(&format!(
        "{label}: {budget:>4} lanes → {} lanes, {plan_interval} cycles/image, ~{} LUT{}",
        design.total_lanes(),
        r.luts,
        if hard_wired.is_empty() {
            String::new()
        } else {
            format!(" (hard-wired: {hard_wired})")
        }
    ));
    let point = Point {
        model: label.to_string(),
        bits: max_bits(model),
        lane_budget: budget,
        lanes: design.total_lanes(),
        folding: folding_of(&design),
        hard_wired,
        wide_beats: design.wide_streams().join(", "),
        plan_interval_cycles: plan_interval,
        sim_interval_cycles: sim.interval_cycles,
        images_per_second: a.clock_mhz * 1e6 / plan_interval.max(1) as f64,
        est_luts: r.luts,
        est_ffs: r.ff_bits,
        est_bram18: r.bram18,
        yosys_luts: None,
        yosys_ffs: None,
        yosys_bram: None,
        accuracy,
        pareto: false,
        pareto_rom: false,
    };
    Ok((point, design))
}

/// Runs the sweep; the output folder is built beside its place and moved there at the end.
pub fn explore(a: &ExploreRequest, mut log: impl FnMut(&str)) -> Result<ExploreReport, FlowError> {
    let t0 = Instant::now();
    if a.lanes.is_empty() || a.lanes.contains(&0) {
        return Err(FlowError::Input(
            "--lanes needs budgets of at least 1 lane".into(),
        ));
    }
    let staging = inq_design::Staging::begin(&a.out, "explore", a.force)?;
    let work = staging.path().to_path_buf();
    let models = models(a, &work)?;
    let dir = inq_quant::data::resolve_dir(a.data.as_deref())?;
    let mut test = inq_quant::data::load(&dir, inq_quant::data::Split::Test)
        .ctx(|| format!("loading the test split from {}", dir.display()))?;
    if let Some(n) = a.limit {
        test.truncate(n);
    }
    let mut points = Vec::new();
    let mut designs = Vec::new();
    for (label, model) in &models {
        log(&format!("{label}: accuracy on {} test images", test.len()));
        let accuracy = crate::accuracy::integer_accuracy(model, &test)?;
        let mut seen = std::collections::BTreeSet::new();
        let minimal =
            inq_hdl::plan(model, &FoldingRequest::Minimal).ctx(|| format!("planning {label}"))?;
        let min_lanes = minimal.total_lanes();
        for &budget in &a.lanes {
            let design = if budget <= min_lanes {
                if budget < min_lanes {
                    log(&format!(
                        "{label}: budget {budget} is below the minimum of {min_lanes} lanes (one per conv/dense layer); using the minimal design"
                    ));
                }
                minimal.clone()
            } else {
                inq_hdl::plan(model, &FoldingRequest::LaneBudget(budget))
                    .ctx(|| format!("planning {label} with {budget} lanes"))?
            };
            if !seen.insert(folding_of(&design)) {
                continue;
            }
            let request = if budget <= min_lanes {
                FoldingRequest::Minimal
            } else {
                FoldingRequest::LaneBudget(budget)
            };
            let point = evaluate(a, label, model, accuracy, budget, request, &mut log)?;
            // the same interval with hard-wired engines where the plan finds them cheaper
            let interval = point.0.plan_interval_cycles;
            points.push(point.0);
            designs.push((model, point.1));
            let hard = FoldingRequest::Throughput {
                fps: a.clock_mhz * 1e6 / (interval as f64 + 0.5),
                clock_mhz: a.clock_mhz,
                hard_wired: true,
            };
            let with = inq_hdl::plan(model, &hard)
                .ctx(|| format!("planning {label} at {interval} cycles per image"))?;
            let folding = folding_of(&with);
            if hard_wired_of(&with).is_empty() || !seen.insert(folding) {
                continue;
            }
            let point = evaluate(a, label, model, accuracy, budget, hard, &mut log)?;
            points.push(point.0);
            designs.push((model, point.1));
        }
        for &fps in &a.fps {
            let target = FoldingRequest::Throughput {
                fps,
                clock_mhz: a.clock_mhz,
                hard_wired: true,
            };
            // a target beyond every design's reach is reported and skipped
            if let Err(e) = inq_hdl::plan_with(model, &target, &[], inq_hdl::BeatChoice::Auto) {
                log(&format!("{label}: {fps} images/s: {e}"));
                continue;
            }
            let point = evaluate(a, label, model, accuracy, 0, target, &mut log)?;
            if !seen.insert(format!("{} {}", point.0.folding, point.0.wide_beats)) {
                continue;
            }
            points.push(point.0);
            designs.push((model, point.1));
        }
    }
    mark_pareto(&mut points);
    if a.synth != SynthPoints::None {
        if !inq_report::yosys::available() {
            log("yosys not found: no synthesis (install it with `apt-get install yosys`)");
        } else {
            for (p, (model, design)) in points.iter_mut().zip(&designs) {
                if a.synth == SynthPoints::Pareto && !p.pareto {
                    continue;
                }
                let ddir = work
                    .join("designs")
                    .join(format!("{}-l{}", p.model, p.lanes));
                inq_codegen::generate(
                    design,
                    model,
                    &ddir,
                    &inq_codegen::GenOptions {
                        clock_mhz: a.clock_mhz,
                        force: false,
                    },
                )
                .ctx(|| format!("writing {}", ddir.display()))?;
                log(&format!("synth_xilinx {} ({} lanes)", p.model, p.lanes));
                let r = crate::report::build(&ddir, &[Flow::Xilinx], None, |_| {})?;
                if let Some(s) = r.synth.first() {
                    p.yosys_luts = Some(crate::report::xilinx_luts(&s.total));
                    p.yosys_ffs = Some(s.total.ffs);
                    p.yosys_bram = Some(s.total.bram);
                }
            }
        }
    }
    inq_model::write_atomic(&work.join("explore.csv"), csv_text(&points).as_bytes())?;
    inq_model::write_atomic(
        &work.join("explore.md"),
        markdown(&points, test.len(), a.clock_mhz).as_bytes(),
    )?;
    plot(&work.join("pareto.svg"), &points)?;
    staging.commit()?;
    Ok(ExploreReport {
        points,
        images: test.len(),
        clock_mhz: a.clock_mhz,
        files: ["explore.csv", "explore.md", "pareto.svg"]
            .iter()
            .map(|p| a.out.join(p).display().to_string())
            .collect(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn opt<T: std::fmt::Display>(x: &Option<T>) -> String {
    x.as_ref().map(|v| v.to_string()).unwrap_or_default()
}

/// The CSV table (one header line, one line per point).
pub fn csv_text(points: &[Point]) -> String {
    let mut s = String::from(
        "model,bits,lane_budget,lanes,folding,hard_wired,wide_beats,plan_interval_cycles,sim_interval_cycles,images_per_second,est_luts,est_ffs,est_bram18,yosys_luts,yosys_ffs,yosys_bram,accuracy,pareto,pareto_rom\n",
    );
    for p in points {
        let _ = writeln!(
            s,
            "{},{},{},{},\"{}\",\"{}\",\"{}\",{},{},{:.1},{},{},{},{},{},{},{:.4},{},{}",
            p.model,
            p.bits,
            p.lane_budget,
            p.lanes,
            p.folding,
            p.hard_wired,
            p.wide_beats,
            p.plan_interval_cycles,
            opt(&p.sim_interval_cycles),
            p.images_per_second,
            p.est_luts,
            p.est_ffs,
            p.est_bram18,
            opt(&p.yosys_luts),
            opt(&p.yosys_ffs),
            opt(&p.yosys_bram),
            p.accuracy,
            p.pareto,
            p.pareto_rom
        );
    }
    s
}

/// The markdown table.
pub fn markdown(points: &[Point], images: usize, clock_mhz: f64) -> String {
    let mut s = format!(
        "Design points (accuracy: integer reference on {images} test images; images/s at {clock_mhz} MHz from the plan, confirmed by the simulator; LUT est = analytic, yosys = synth_xilinx LUT + 4·LUTRAM; * = Pareto front of images/s, LUTs and accuracy; (rom) = on the front of the designs without hard-wired engines and wide beats)\n\n| model | bits | lanes | folding (PE×SIMD) | hard-wired | wide beats | cycles/image | images/s | LUT est | LUT yosys | FF yosys | BRAM18 yosys | accuracy |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for p in points {
        let _ = writeln!(
            s,
            "| {}{}{} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.2}% |",
            p.model,
            if p.pareto { " *" } else { "" },
            if p.pareto_rom { " (rom)" } else { "" },
            p.bits,
            p.lanes,
            p.folding,
            p.hard_wired,
            p.wide_beats,
            p.plan_interval_cycles,
            p.images_per_second,
            p.est_luts,
            opt(&p.yosys_luts),
            opt(&p.yosys_ffs),
            opt(&p.yosys_bram),
            100.0 * p.accuracy
        );
    }
    s
}

/// Pareto plot: images/s against LUTs (log–log), per model its front with hard-wired engines
/// (solid) beside the front of ROM-fed lanes only (thin); circles are designs of ROM-fed
/// lanes, triangles designs with hard-wired engines; synthesized points are drawn at their
/// yosys LUT count (filled), the others at the estimate (hollow).
fn plot(path: &Path, points: &[Point]) -> Result<(), FlowError> {
    use plotters::prelude::*;
    let e = |x: &dyn std::fmt::Display| FlowError::Stage(format!("plot {}: {x}", path.display()));
    let luts = |p: &Point| p.yosys_luts.unwrap_or(p.est_luts).max(1) as f64;
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, 1.0f64, f64::MAX, 1.0f64);
    for p in points {
        x0 = x0.min(luts(p));
        x1 = x1.max(luts(p));
        y0 = y0.min(p.images_per_second.max(1e-3));
        y1 = y1.max(p.images_per_second);
    }
    if points.is_empty() {
        (x0, y0) = (1.0, 1e-3);
    }
    let tmp = path.with_extension("svg.tmp");
    {
        let root = SVGBackend::new(&tmp, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("images/s against LUTs (log-log)", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(
                ((x0 * 0.8)..(x1 * 1.25)).log_scale(),
                ((y0 * 0.8)..(y1 * 1.25)).log_scale(),
            )
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("LUTs (yosys synth_xilinx where filled, else analytic)")
            .y_desc("images/s")
            .draw()
            .map_err(|x| e(&x))?;
        let mut labels: Vec<&str> = points.iter().map(|p| p.model.as_str()).collect();
        labels.dedup();
        for (i, label) in labels.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let mut series: Vec<&Point> = points.iter().filter(|p| p.model == *label).collect();
            series.sort_by(|a, b| luts(a).total_cmp(&luts(b)));
            // the fronts: with hard-wired engines (solid), ROM-fed lanes only (thin)
            let front = |rom: bool| -> Vec<(f64, f64)> {
                let mut v: Vec<(f64, f64)> = series
                    .iter()
                    .filter(|p| if rom { p.pareto_rom } else { p.pareto })
                    .map(|p| (luts(p), p.images_per_second))
                    .collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                v
            };
            chart
                .draw_series(LineSeries::new(front(false), color.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(format!("{label}: front with hard-wired engines"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(LineSeries::new(front(true), color.mix(0.5).stroke_width(1)))
                .map_err(|x| e(&x))?
                .label(format!(
                    "{label}: front of ROM-fed lanes, one element per beat"
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.mix(0.5).stroke_width(1))
                });
            chart
                .draw_series(series.iter().filter(|p| p.hard_wired.is_empty()).map(|p| {
                    let style = if p.yosys_luts.is_some() {
                        color.filled()
                    } else {
                        color.stroke_width(2)
                    };
                    Circle::new((luts(p), p.images_per_second), 5, style)
                }))
                .map_err(|x| e(&x))?;
            chart
                .draw_series(series.iter().filter(|p| !p.hard_wired.is_empty()).map(|p| {
                    let style = if p.yosys_luts.is_some() {
                        color.filled()
                    } else {
                        color.stroke_width(2)
                    };
                    TriangleMarker::new((luts(p), p.images_per_second), 7, style)
                }))
                .map_err(|x| e(&x))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    std::fs::rename(&tmp, path)
        .map_err(|x| FlowError::Input(format!("{}: {x}", path.display())))?;
    Ok(())
}
