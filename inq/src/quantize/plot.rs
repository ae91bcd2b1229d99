//! SVG plots written beside a quantized model (plotters, SVG backend only — no font files
//! needed): weight histograms before and after quantization, and accuracy per INQ step.

use std::path::Path;

use plotters::prelude::*;

use super::state::{InqLog, InqResult, QuantError};
use crate::graph::{fold_batchnorm, FloatModel};

fn perr(path: &Path, e: impl std::fmt::Display) -> QuantError {
    QuantError::Io {
        path: path.display().to_string(),
        message: format!("plot: {e}"),
    }
}

/// Histogram counts of `values` over `bins` equal bins on `[lo, hi]`.
pub fn histogram(values: &[f32], lo: f32, hi: f32, bins: usize) -> Vec<u32> {
    let mut h = vec![0u32; bins.max(1)];
    let width = (hi - lo) / bins.max(1) as f32;
    for &v in values {
        if !v.is_finite() || width <= 0.0 {
            continue;
        }
        let b = (((v - lo) / width).floor().max(0.0) as usize).min(bins.max(1) - 1);
        h[b] += 1;
    }
    h
}

/// The weights of the node called `name` (empty if there is none).
fn weights_of(model: &FloatModel, name: &str) -> Vec<f32> {
    model
        .nodes
        .iter()
        .find(|n| n.name == name)
        .and_then(|n| n.op.params())
        .map(|(w, _)| w.to_vec())
        .unwrap_or_default()
}

/// One row per conv/dense node: the original weights (left; BatchNorm folded) and the
/// quantized weights (right), both in the quantized domain (multiplied by the node's gain).
pub fn weight_histograms(
    path: &Path,
    original: &FloatModel,
    res: &InqResult,
) -> Result<(), QuantError> {
    let folded = fold_batchnorm(original).unwrap_or_else(|_| original.clone());
    let rows = res.layers.len().max(1);
    let root = SVGBackend::new(path, (1000, 260 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(path, e))?;
    let areas = root.split_evenly((rows, 2));
    for (i, lq) in res.layers.iter().enumerate() {
        let before: Vec<f32> = weights_of(&folded, &lq.name)
            .iter()
            .enumerate()
            .map(|(k, &v)| v * lq.gain_at(k))
            .collect();
        let after: Vec<f32> = weights_of(&res.model, &lq.name)
            .iter()
            .enumerate()
            .map(|(k, &v)| v * lq.gain_at(k))
            .collect();
        let m = before
            .iter()
            .chain(&after)
            .fold(0f32, |m, &v| m.max(v.abs()))
            .max(1e-6)
            * 1.05;
        for (j, (vals, what, color)) in [(&before, "float", BLUE), (&after, "INQ", RED)]
            .into_iter()
            .enumerate()
        {
            let bins = 120;
            let h = histogram(vals, -m, m, bins);
            let top = h.iter().copied().max().unwrap_or(1).max(1);
            let area = &areas[2 * i + j];
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "{} {what} ({} bits, n1 {:?})",
                        lq.name,
                        lq.bits,
                        lq.n1.iter().take(4).collect::<Vec<_>>()
                    ),
                    ("sans-serif", 14),
                )
                .margin(8)
                .x_label_area_size(24)
                .y_label_area_size(44)
                .build_cartesian_2d(-m..m, 0u32..top + top / 10 + 1)
                .map_err(|e| perr(path, e))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(7)
                .y_labels(4)
                .draw()
                .map_err(|e| perr(path, e))?;
            let w = 2.0 * m / bins as f32;
            chart
                .draw_series(h.iter().enumerate().filter(|(_, &c)| c > 0).map(|(b, &c)| {
                    let x0 = -m + b as f32 * w;
                    Rectangle::new([(x0, 0), (x0 + w, c)], color.filled())
                }))
                .map_err(|e| perr(path, e))?;
        }
    }
    root.present().map_err(|e| perr(path, e))
}

/// Test accuracy (%) after each INQ step against the accumulated portion, with the float
/// accuracy as a horizontal reference line.
pub fn step_accuracy(path: &Path, log: &InqLog) -> Result<(), QuantError> {
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| perr(path, e))?;
    let pts: Vec<(f64, f64)> = log
        .steps
        .iter()
        .filter_map(|s| s.test_accuracy.map(|a| (s.portion * 100.0, a * 100.0)))
        .collect();
    let all: Vec<f64> = pts
        .iter()
        .map(|p| p.1)
        .chain(log.float_accuracy.map(|a| a * 100.0))
        .collect();
    let (lo, hi) = if all.is_empty() {
        (0.0, 100.0)
    } else {
        let lo = all.iter().copied().fold(f64::MAX, f64::min);
        let hi = all.iter().copied().fold(f64::MIN, f64::max);
        ((lo - 1.0).max(0.0), (hi + 1.0).min(100.0))
    };
    let mut chart = ChartBuilder::on(&root)
        .caption("INQ: test accuracy after each step", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..100f64, lo..hi)
        .map_err(|e| perr(path, e))?;
    chart
        .configure_mesh()
        .x_desc("quantized weights (%)")
        .y_desc("accuracy (%)")
        .draw()
        .map_err(|e| perr(path, e))?;
    if let Some(f) = log.float_accuracy {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, f * 100.0), (100.0, f * 100.0)],
                BLUE.stroke_width(1),
            ))
            .map_err(|e| perr(path, e))?
            .label("float")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    }
    chart
        .draw_series(LineSeries::new(pts.clone(), RED.stroke_width(2)))
        .map_err(|e| perr(path, e))?
        .label("INQ")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    chart
        .draw_series(pts.iter().map(|&p| Circle::new(p, 3, RED.filled())))
        .map_err(|e| perr(path, e))?;
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()
        .map_err(|e| perr(path, e))?;
    root.present().map_err(|e| perr(path, e))
}
