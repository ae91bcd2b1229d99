//! `inq explore`: design-space exploration. Sweeps the folding (a lane budget per point) and,
//! optionally, the weight bit width; for each point it reports the throughput (the plan's
//! interval, confirmed by the cycle-accurate simulator), the area (the analytic estimate for
//! every point, yosys `synth_xilinx` for the Pareto-front points) and the accuracy (integer
//! reference on the test split). Writes `explore.csv`, `explore.md` and `pareto.svg`.

use super::quantize::QuantOptions;
use anyhow::{bail, Context};
use clap::{Args, Parser};
use inq_hdl::FoldingRequest;
use inq_model::QuantModel;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `inq explore`.
#[derive(Args, Debug, Clone)]
pub struct ExploreArgs {
    /// Models to explore: quantized `.json` files, or a float `.onnx` model that is quantized
    /// with INQ once per `--bits` entry.
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// Folder of IDX or npy files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Lane budgets to sweep (budgets that give the same folding are reported once; a budget
    /// below the minimum of one lane per conv/dense layer gives the minimal design).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,8,16,32,64,128,256,512"
    )]
    pub lanes: Vec<usize>,
    /// Weight bit widths for a float `.onnx` model (each is one INQ run with the defaults of
    /// `inq quantize`, or the settings below).
    #[arg(long, value_delimiter = ',', default_value = "5")]
    pub bits: Vec<u32>,
    /// INQ levels for `.onnx` models.
    #[arg(long, default_value = "min-error-per-channel")]
    pub levels: String,
    /// INQ re-training epochs per step for `.onnx` models.
    #[arg(long, default_value_t = 2)]
    pub epochs_per_step: usize,
    /// Output folder (tables, plot, quantized models, synthesized designs).
    #[arg(long, default_value = "out/explore")]
    pub out: PathBuf,
    /// Clock in MHz for images/s.
    #[arg(long, default_value_t = 100.0)]
    pub clock_mhz: f64,
    /// Accuracy on the first N test images only (default: the whole test split).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Images the simulator runs per point to confirm the planned interval.
    #[arg(long, default_value_t = 3)]
    pub sim_images: usize,
    /// Which points get yosys `synth_xilinx`: pareto (the analytic Pareto front), all, none.
    #[arg(long, default_value = "pareto")]
    pub synth: String,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
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

/// INQ defaults of `inq quantize`, taken from its own argument definitions.
fn quant_defaults() -> anyhow::Result<QuantOptions> {
    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        q: QuantOptions,
    }
    Ok(Wrap::try_parse_from(["inq"])?.q)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
}

/// Loads (or, for ONNX, quantizes) the models to explore: `(label, model)`.
fn models(a: &ExploreArgs, quiet: bool) -> anyhow::Result<Vec<(String, QuantModel)>> {
    let mut out = Vec::new();
    for path in &a.models {
        if super::eval::is_onnx(path) {
            for &bits in &a.bits {
                let label = format!("{}-{bits}bit", stem(path));
                let file = a.out.join("models").join(format!("{label}.json"));
                if !quiet {
                    eprintln!(
                        "quantizing {} to {bits} bits → {}",
                        path.display(),
                        file.display()
                    );
                }
                let mut q = quant_defaults()?;
                q.bits = bits;
                q.levels = a.levels.clone();
                q.epochs_per_step = a.epochs_per_step;
                q.test_limit = a.limit;
                super::quantize::quantize(path, a.data.as_deref(), &file, &q, quiet)?;
                out.push((label, QuantModel::load(&file)?));
            }
        } else {
            let m =
                QuantModel::load(path).with_context(|| format!("loading {}", path.display()))?;
            out.push((stem(path), m));
        }
    }
    Ok(out)
}

fn max_bits(m: &QuantModel) -> u32 {
    m.layers
        .iter()
        .filter_map(|l| match l {
            inq_model::Layer::Conv(c) => Some(c.weights.bits),
            inq_model::Layer::Dense(d) => Some(d.weights.bits),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Marks the points no other point dominates: at least as fast, at most as many LUTs and at
/// least as accurate, and strictly better in one of the three (so a cheaper design with fewer
/// weight bits does not hide a more accurate one).
fn mark_pareto(points: &mut [Point]) {
    let keys: Vec<(f64, u64, f64)> = points
        .iter()
        .map(|p| (p.images_per_second, p.est_luts, p.accuracy))
        .collect();
    for (i, p) in points.iter_mut().enumerate() {
        let (f, l, a) = keys[i];
        p.pareto = !keys.iter().enumerate().any(|(j, &(g, m, b))| {
            j != i && g >= f && m <= l && b >= a && (g > f || m < l || b > a)
        });
    }
}

/// Runs the sweep.
pub fn explore(a: &ExploreArgs, mut log: impl FnMut(&str)) -> anyhow::Result<ExploreReport> {
    let t0 = Instant::now();
    let synth_mode = a.synth.as_str();
    if !matches!(synth_mode, "pareto" | "all" | "none") {
        bail!("--synth {synth_mode}: use pareto, all or none");
    }
    if a.lanes.is_empty() || a.lanes.contains(&0) {
        bail!("--lanes needs budgets of at least 1 lane");
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let models = models(a, a.json)?;
    let test = super::ImageArgs {
        data: a.data.clone(),
        limit: a.limit,
    }
    .dataset()?;
    let mut points = Vec::new();
    let mut designs = Vec::new();
    for (label, model) in &models {
        log(&format!("{label}: accuracy on {} test images", test.len()));
        let accuracy = super::eval::integer_accuracy(model, &test)?;
        let mut seen = std::collections::BTreeSet::new();
        let minimal = inq_hdl::plan(model, &FoldingRequest::Minimal)
            .with_context(|| format!("planning {label}"))?;
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
                    .with_context(|| format!("planning {label} with {budget} lanes"))?
            };
            let folding = design
                .engines
                .iter()
                .filter_map(|e| match &e.kind {
                    inq_hdl::EngineKind::Mvu(m) => Some(format!("{}:{}x{}", e.name, m.pe, m.simd)),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(" ");
            if !seen.insert(folding.clone()) {
                continue;
            }
            let images: Vec<Vec<i64>> = (0..a.sim_images.max(2))
                .map(|i| inq_model::random::random_input(model, i as u64))
                .collect();
            let sim = inq_sim::simulate(&design, &images, &inq_sim::SimOptions::default())
                .with_context(|| format!("simulating {label} with {budget} lanes"))?;
            let plan_interval = design.interval_cycles();
            if let Some(iv) = sim.interval_cycles {
                if (iv - plan_interval as f64).abs() > 0.5 {
                    bail!(
                        "{label}, {budget} lanes: the simulator measured {iv} cycles per image, the plan says {plan_interval}"
                    );
                }
            }
            let r = design.total_resources();
            log(&format!(
                "{label}: {budget:>4} lanes → {} lanes, {plan_interval} cycles/image, ~{} LUT",
                design.total_lanes(),
                r.luts
            ));
            points.push(Point {
                model: label.clone(),
                bits: max_bits(model),
                lane_budget: budget,
                lanes: design.total_lanes(),
                folding,
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
            });
            designs.push((model, design));
        }
    }
    mark_pareto(&mut points);
    if synth_mode != "none" {
        if !inq_report::yosys::available() {
            log("yosys not found: no synthesis (install it with `apt-get install yosys`)");
        } else {
            for (p, (model, design)) in points.iter_mut().zip(&designs) {
                if synth_mode == "pareto" && !p.pareto {
                    continue;
                }
                let ddir = a
                    .out
                    .join("designs")
                    .join(format!("{}-l{}", p.model, p.lanes));
                inq_codegen::generate(
                    design,
                    model,
                    &ddir,
                    &inq_codegen::GenOptions {
                        clock_mhz: a.clock_mhz,
                    },
                )
                .with_context(|| format!("writing {}", ddir.display()))?;
                log(&format!("synth_xilinx {} ({} lanes)", p.model, p.lanes));
                let r = super::report::build(&ddir, &["xilinx".to_string()], None, |_| {})?;
                if let Some(s) = r.synth.first() {
                    p.yosys_luts = Some(super::report::xilinx_luts(&s.total));
                    p.yosys_ffs = Some(s.total.ffs);
                    p.yosys_bram = Some(s.total.bram);
                }
            }
        }
    }
    let csv = a.out.join("explore.csv");
    let md = a.out.join("explore.md");
    let svg = a.out.join("pareto.svg");
    inq_model::write_atomic(&csv, csv_text(&points).as_bytes())?;
    inq_model::write_atomic(&md, markdown(&points, test.len(), a.clock_mhz).as_bytes())?;
    plot(&svg, &points)?;
    Ok(ExploreReport {
        points,
        images: test.len(),
        clock_mhz: a.clock_mhz,
        files: [csv, md, svg]
            .iter()
            .map(|p| p.display().to_string())
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
        "model,bits,lane_budget,lanes,folding,plan_interval_cycles,sim_interval_cycles,images_per_second,est_luts,est_ffs,est_bram18,yosys_luts,yosys_ffs,yosys_bram,accuracy,pareto\n",
    );
    for p in points {
        let _ = writeln!(
            s,
            "{},{},{},{},\"{}\",{},{},{:.1},{},{},{},{},{},{},{:.4},{}",
            p.model,
            p.bits,
            p.lane_budget,
            p.lanes,
            p.folding,
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
            p.pareto
        );
    }
    s
}

/// The markdown table.
pub fn markdown(points: &[Point], images: usize, clock_mhz: f64) -> String {
    let mut s = format!(
        "Design points (accuracy: integer reference on {images} test images; images/s at {clock_mhz} MHz from the plan, confirmed by the simulator; LUT est = analytic, yosys = synth_xilinx LUT + 4·LUTRAM; * = Pareto front of images/s, LUTs and accuracy)\n\n| model | bits | lanes | folding (PE×SIMD) | cycles/image | images/s | LUT est | LUT yosys | FF yosys | BRAM18 yosys | accuracy |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for p in points {
        let _ = writeln!(
            s,
            "| {}{} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.2}% |",
            p.model,
            if p.pareto { " *" } else { "" },
            p.bits,
            p.lanes,
            p.folding,
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

/// Pareto plot: images/s against LUTs (log–log), one series per model; synthesized points are
/// drawn at their yosys LUT count (filled), the others at the estimate (hollow).
fn plot(path: &Path, points: &[Point]) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let e = |x: &dyn std::fmt::Display| anyhow::anyhow!("plot {}: {x}", path.display());
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
            chart
                .draw_series(LineSeries::new(
                    series.iter().map(|p| (luts(p), p.images_per_second)),
                    color.stroke_width(1),
                ))
                .map_err(|x| e(&x))?
                .label(*label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
            chart
                .draw_series(series.iter().map(|p| {
                    let style = if p.yosys_luts.is_some() {
                        color.filled()
                    } else {
                        color.stroke_width(2)
                    };
                    Circle::new((luts(p), p.images_per_second), 5, style)
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
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Runs `inq explore`.
pub fn run(a: &ExploreArgs) -> anyhow::Result<()> {
    let quiet = a.json;
    let r = explore(a, |line| {
        if !quiet {
            eprintln!("{line}");
        }
    })?;
    crate::output::emit(a.json, &r, || {
        format!(
            "{}\nwrote {} ({:.0} s)",
            markdown(&r.points, r.images, r.clock_mhz).trim_end(),
            r.files.join(", "),
            r.seconds
        )
    })
}
