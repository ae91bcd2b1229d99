//! Compensation of each INQ step's quantization error in the weights that stay free (beyond
//! the paper; `inq quantize --compensate`, on by default at 3 bits or fewer: [`default_for`]).
//!
//! When a step freezes a weight at its level it changes by `δ = Q(w) − w`. The paper leaves
//! the re-training to absorb that change. With [`Compensate`] the step first moves the weights
//! that stay free, and the bias, so that every output channel's pre-activation changes as
//! little as possible on sample images: for a row `w` of a conv/dense node with input vectors
//! `x` (the node's receptive fields on the images, as the current model computes them, each
//! extended by the bias's constant 1), the change `Δ` of the free weights and the bias `R`
//! minimizes `E[((δ + Δ)·x)²]`, i.e. solves `(H_RR + λI) Δ_R = −H_RQ δ_Q` with `H = Σ x xᵀ`
//! and a damping `λ` relative to `H`'s mean diagonal (the optimal-brain-surgeon update that GPTQ applies column by column; here for the
//! whole set a step freezes at once, per row, by preconditioned conjugate gradients run on all
//! rows of a node together). The bias takes part at every step, so the last step, which
//! leaves no weight free, still corrects each channel's mean error (the bias correction of
//! data-free quantization work). The re-training then starts from the compensated weights.
//!
//! Owns the settings, the input second moments ([`moments`]) and the update ([`apply`]). Not
//! here: which weights a step freezes and their levels ([`super::inq_step`], [`super::levels`]),
//! the re-training ([`crate::train`]).

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::forward::Forward;
use crate::graph::{FloatModel, FloatOp, Source};
use crate::train::ops::{im2col_to, Window};
use crate::train::rng::SplitMix64;

use super::{LayerQuant, QuantError};

/// Settings of the compensation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compensate {
    /// Training images whose layer inputs give the second moments (a seeded sample, drawn
    /// again at every step).
    pub images: usize,
    /// Damping `λ` as a fraction of the mean diagonal of each `H`.
    pub damping: f64,
}

impl Default for Compensate {
    fn default() -> Self {
        Compensate {
            images: 2048,
            damping: 0.01,
        }
    }
}

/// The largest bit width at which `inq quantize` compensates without being asked: at 3 bits
/// it gained on every network and seed measured, at 4 and 5 bits it did not everywhere
/// (`docs/experiments.md` (e), "Compensating each step's error").
pub const DEFAULT_MAX_BITS: u32 = 3;

/// The compensation a run gets when its settings do not say: the default settings when the
/// smallest bit width in use ([`super::InqConfig::smallest_bits`]) is at most
/// [`DEFAULT_MAX_BITS`], none otherwise (as [`super::default_schedule`] follows it).
pub fn default_for(min_bits: u32) -> Option<Compensate> {
    (min_bits <= DEFAULT_MAX_BITS).then(Compensate::default)
}

impl Compensate {
    /// Refuses no images and a damping that is not a positive number.
    pub fn check(&self) -> Result<(), QuantError> {
        if self.images == 0 {
            return Err(QuantError::Config(
                "compensation: needs at least one image".into(),
            ));
        }
        if !(self.damping.is_finite() && self.damping > 0.0) {
            return Err(QuantError::Config(format!(
                "compensation: the damping {} is not a positive number",
                self.damping
            )));
        }
        Ok(())
    }
}

/// Second moments of one node's row inputs extended by a constant 1 (the bias's input): one
/// `(d+1) × (d+1)` matrix (row-major, `f64`) per group of output channels that read the same
/// inputs (one group for a dense or an ordinary conv, one per channel for a depthwise conv).
#[derive(Debug, Clone)]
pub struct Moments {
    /// Elements of a weight row (`d`).
    pub dim: usize,
    /// Output channels per group.
    pub rows_per_group: usize,
    /// `Σ x xᵀ` per group, `x = (inputs, 1)`.
    pub h: Vec<Vec<f64>>,
}

/// How a node's row inputs are cut from its input tensor.
#[derive(Debug, Clone, Copy)]
enum Rows {
    /// The input vector itself, for `out` output features.
    Dense { dim: usize, out: usize },
    /// The receptive fields of one group of `window.c` input channels (the training's column
    /// matrix, [`im2col_to`]), `group` groups, `out` output channels.
    Conv {
        window: Window,
        group: usize,
        out: usize,
    },
}

impl Rows {
    fn of(model: &FloatModel, node: usize, shape: &[usize]) -> Result<Rows, QuantError> {
        let bad = |message: String| QuantError::Model {
            node: model.nodes[node].name.clone(),
            message,
        };
        match &model.nodes[node].op {
            FloatOp::Dense(d) => Ok(Rows::Dense {
                dim: d.in_features,
                out: d.out_features,
            }),
            FloatOp::Conv(cv) => match shape {
                &[c, h, w] if cv.group >= 1 && c % cv.group == 0 => Ok(Rows::Conv {
                    window: Window {
                        c: c / cv.group,
                        h,
                        w,
                        k: cv.kernel,
                        s: cv.stride,
                        pad: cv.pad,
                    },
                    group: cv.group,
                    out: cv.out_channels,
                }),
                _ => Err(bad(format!(
                    "compensation: input shape {shape:?} does not fit the convolution"
                ))),
            },
            _ => Err(bad("compensation: not a conv or dense node".into())),
        }
    }

    fn groups(&self) -> usize {
        match *self {
            Rows::Dense { .. } => 1,
            Rows::Conv { group, .. } => group,
        }
    }

    fn dim(&self) -> usize {
        match *self {
            Rows::Dense { dim, .. } => dim,
            Rows::Conv { window, .. } => window.ckk(),
        }
    }

    fn rows_per_group(&self) -> usize {
        match *self {
            Rows::Dense { out, .. } => out,
            Rows::Conv { out, group, .. } => out / group,
        }
    }

    /// Elements of an input vector with the bias's constant 1.
    fn width(&self) -> usize {
        self.dim() + 1
    }

    /// Appends the input vectors of group `g` (one per output position), each followed by the
    /// bias's constant 1, to `buf`; `cols` is scratch.
    fn push(&self, x: &[f32], g: usize, cols: &mut Vec<f32>, buf: &mut Vec<f64>) {
        match *self {
            Rows::Dense { dim, .. } => {
                buf.extend(x[..dim].iter().map(|&v| f64::from(v)));
                buf.push(1.0);
            }
            Rows::Conv { window, .. } => {
                // the column matrix `[C·kh·kw + 1, OH·OW]` (its last row all ones), transposed
                let plane = window.c * window.h * window.w;
                cols.clear();
                im2col_to(&window, &x[g * plane..(g + 1) * plane], cols);
                let positions = window.oh() * window.ow();
                for p in 0..positions {
                    buf.extend(cols[p..].iter().step_by(positions).map(|&v| f64::from(v)));
                }
            }
        }
    }
}

/// `dst (m × n, row-major) (+)= a (m × k, strides) × b (k × n, strides)`, `f64`.
#[allow(clippy::too_many_arguments)]
fn gemm64(
    dst: &mut [f64],
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    a: &[f64],
    (a_rs, a_cs): (usize, usize),
    b: &[f64],
    (b_rs, b_cs): (usize, usize),
) {
    let fits = |s: &[f64], r: usize, c: usize, rs: usize, cs: usize| {
        r == 0 || c == 0 || (r - 1) * rs + (c - 1) * cs < s.len()
    };
    assert!(
        dst.len() >= m * n && fits(a, m, k, a_rs, a_cs) && fits(b, k, n, b_rs, b_cs),
        "gemm64: shapes do not fit their slices"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: the assertion above checks that every element the kernel reads from `a` and
    // `b` lies inside their slices and that `dst` holds the `m × n` row-major block it writes;
    // the three slices cannot overlap (`dst` is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `h += Pᵀ P` for the `rows × d` row-major block `p`.
fn add_gram(h: &mut [f64], p: &[f64], d: usize) {
    let rows = p.len() / d;
    gemm64(h, (d, d, rows), true, p, (1, d), p, (d, 1));
}

/// The second moments of the row inputs of every layer in `layers`, over a sample of
/// `cfg.images` images drawn (with `seed`) from the first `pool` images of `data` (the ones
/// the re-training may learn from: not the learning-rate search's held-back images), run
/// through `model` with float activations, on every available core.
pub fn moments(
    model: &FloatModel,
    layers: &[LayerQuant],
    data: &Dataset,
    pool: usize,
    cfg: &Compensate,
    seed: &[u64],
) -> Result<Vec<Moments>, QuantError> {
    let fwd = Forward::new(model).map_err(|e| QuantError::Model {
        node: model.name.clone(),
        message: e.to_string(),
    })?;
    let g = fwd.graph();
    let mut plan = Vec::with_capacity(layers.len());
    for lq in layers {
        let src = *g.inputs[lq.layer]
            .first()
            .ok_or_else(|| QuantError::Model {
                node: lq.name.clone(),
                message: "compensation: the node has no input".into(),
            })?;
        plan.push((src, Rows::of(model, lq.layer, g.shape(src))?));
    }
    let n = data.len().min(pool);
    if n == 0 {
        return Err(QuantError::Config(
            "compensation: no training images".into(),
        ));
    }
    let take = cfg.images.min(n);
    let mut rng = SplitMix64::derive(0xc0e5, seed);
    let mut pick = rng.permutation(n);
    pick.truncate(take);
    let threads = crate::forward::worker_threads(take, 8);
    let per = take.div_ceil(threads);
    let empty = || -> Vec<Vec<Vec<f64>>> {
        plan.iter()
            .map(|(_, r)| vec![vec![0.0; r.width() * r.width()]; r.groups()])
            .collect()
    };
    let parts: Vec<Vec<Vec<Vec<f64>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = pick
            .chunks(per.max(1))
            .map(|chunk| {
                let (fwd, plan) = (&fwd, &plan);
                scope.spawn(move || {
                    let mut h = empty();
                    // pending input vectors per layer and group, flushed into `h` by GEMM
                    let mut pending: Vec<Vec<Vec<f64>>> = plan
                        .iter()
                        .map(|(_, r)| vec![Vec::new(); r.groups()])
                        .collect();
                    let (mut x, mut cols) = (Vec::new(), Vec::new());
                    let flush = |h: &mut [Vec<f64>], p: &mut [Vec<f64>], d: usize, at: usize| {
                        for (hg, pg) in h.iter_mut().zip(p.iter_mut()) {
                            if pg.len() >= at * d && !pg.is_empty() {
                                add_gram(hg, pg, d);
                                pg.clear();
                            }
                        }
                    };
                    for &i in chunk {
                        model
                            .normalization
                            .apply_into(data.image(i), data.channels, &mut x);
                        let vals = fwd.run_nodes(&x).map_err(|e| e.to_string())?;
                        for (li, (src, rows)) in plan.iter().enumerate() {
                            let input = match src {
                                Source::Input => x.as_slice(),
                                Source::Node(j) => vals[*j].as_slice(),
                            };
                            for (gi, buf) in pending[li].iter_mut().enumerate() {
                                rows.push(input, gi, &mut cols, buf);
                            }
                            flush(&mut h[li], &mut pending[li], rows.width(), 512);
                        }
                    }
                    for (li, (_, rows)) in plan.iter().enumerate() {
                        flush(&mut h[li], &mut pending[li], rows.width(), 1);
                    }
                    Ok::<_, String>(h)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("a worker thread panicked".into()))
            })
            .collect::<Result<Vec<_>, String>>()
    })
    .map_err(|message| QuantError::Model {
        node: model.name.clone(),
        message: format!("compensation: {message}"),
    })?;
    let mut total = empty();
    for part in parts {
        for (tl, pl) in total.iter_mut().zip(part) {
            for (tg, pg) in tl.iter_mut().zip(pl) {
                for (t, p) in tg.iter_mut().zip(pg) {
                    *t += p;
                }
            }
        }
    }
    Ok(plan
        .iter()
        .zip(total)
        .map(|((_, rows), h)| Moments {
            dim: rows.dim(),
            rows_per_group: rows.rows_per_group(),
            h,
        })
        .collect())
}

/// Iterations of the conjugate-gradient solve at most, and its relative residual target.
const CG_ITERATIONS: usize = 200;
const CG_TOLERANCE: f64 = 1e-6;

/// Moves the free weights (`!frozen`) of every row of `weights` (`[out, d]`) and the row's
/// bias (always free) so that the row's output on the sampled inputs changes as little as
/// possible by the step's change `weights − old` (non-zero only on the weights the step
/// froze). A row whose weights are all frozen still gets its bias corrected by the mean change
/// `−E[δ·x]`. Returns the number of rows changed.
pub fn apply(
    weights: &mut [f32],
    bias: &mut [f32],
    old: &[f32],
    frozen: &[bool],
    m: &Moments,
    damping: f64,
) -> usize {
    let d = m.dim;
    if d == 0
        || !weights.len().is_multiple_of(d)
        || old.len() != weights.len()
        || frozen.len() != weights.len()
        || bias.len() != weights.len() / d
    {
        return 0;
    }
    // the unknowns of a row: its d weights and its bias (the constant input, last)
    let n = d + 1;
    let out = weights.len() / d;
    let rpg = m.rows_per_group.max(1);
    let mut changed = 0;
    for (gi, h) in m.h.iter().enumerate() {
        let first = gi * rpg;
        if first >= out || h.len() != n * n {
            break;
        }
        let rows: Vec<usize> = (first..(first + rpg).min(out))
            .filter(|&r| weights[r * d..(r + 1) * d] != old[r * d..(r + 1) * d])
            .collect();
        if rows.is_empty() {
            continue;
        }
        let diag_mean = (0..d).map(|i| h[i * n + i]).sum::<f64>() / d as f64;
        if !(diag_mean.is_finite() && diag_mean > 0.0) {
            continue;
        }
        let lambda = damping * diag_mean;
        let k = rows.len();
        // per selected row: the change δ and the free mask (the bias always free)
        let mut delta = vec![0.0f64; k * n];
        let mut free = vec![1.0f64; k * n];
        for (s, &r) in rows.iter().enumerate() {
            for i in 0..d {
                let at = r * d + i;
                delta[s * n + i] = f64::from(weights[at]) - f64::from(old[at]);
                free[s * n + i] = if frozen[at] { 0.0 } else { 1.0 };
            }
        }
        let inv_diag: Vec<f64> = (0..n).map(|i| 1.0 / (h[i * n + i] + lambda)).collect();
        // b = −mask ⊙ (δ H)   (H symmetric)
        let mut b = vec![0.0f64; k * n];
        gemm64(&mut b, (k, n, n), false, &delta, (n, 1), h, (n, 1));
        for (v, f) in b.iter_mut().zip(&free) {
            *v = -*v * f;
        }
        let x = solve(h, &b, &free, &inv_diag, lambda, (k, n));
        for (s, &r) in rows.iter().enumerate() {
            let mut moved = false;
            for i in 0..n {
                let v = x[s * n + i];
                if free[s * n + i] > 0.0 && v != 0.0 && v.is_finite() {
                    if i < d {
                        weights[r * d + i] += v as f32;
                    } else {
                        bias[r] += v as f32;
                    }
                    moved = true;
                }
            }
            changed += usize::from(moved);
        }
    }
    changed
}

/// Solves `mask ⊙ ((H + λI) x) = b` for the `k` rows of `b` (`k × n`), each with `x` zero
/// outside its mask, by Jacobi-preconditioned conjugate gradients run on all rows at once (one
/// GEMM per iteration).
fn solve(
    h: &[f64],
    b: &[f64],
    free: &[f64],
    inv_diag: &[f64],
    lambda: f64,
    (k, n): (usize, usize),
) -> Vec<f64> {
    let bnorm: Vec<f64> = b.chunks(n).map(|r| r.iter().map(|v| v * v).sum()).collect();
    let mut x = vec![0.0f64; k * n];
    let mut res = b.to_vec();
    let mut z: Vec<f64> = res
        .iter()
        .enumerate()
        .map(|(j, v)| v * inv_diag[j % n])
        .collect();
    let mut p = z.clone();
    let mut rz: Vec<f64> = (0..k).map(|s| dot(&res, &z, s, n)).collect();
    let mut active: Vec<bool> = bnorm.iter().map(|&v| v > 0.0).collect();
    let mut ap = vec![0.0f64; k * n];
    for _ in 0..CG_ITERATIONS {
        if !active.iter().any(|&a| a) {
            break;
        }
        gemm64(&mut ap, (k, n, n), false, &p, (n, 1), h, (n, 1));
        for j in 0..k * n {
            ap[j] = (ap[j] + lambda * p[j]) * free[j];
        }
        for s in 0..k {
            if !active[s] {
                continue;
            }
            let pap = dot(&p, &ap, s, n);
            if pap.is_nan() || pap <= 0.0 {
                active[s] = false;
                continue;
            }
            let alpha = rz[s] / pap;
            let row = s * n..(s + 1) * n;
            for j in row.clone() {
                x[j] += alpha * p[j];
                res[j] -= alpha * ap[j];
            }
            let rnorm: f64 = res[row.clone()].iter().map(|v| v * v).sum();
            if rnorm <= CG_TOLERANCE * CG_TOLERANCE * bnorm[s] {
                active[s] = false;
                continue;
            }
            for j in row.clone() {
                z[j] = res[j] * inv_diag[j - s * n];
            }
            let rz_new = dot(&res, &z, s, n);
            let beta = rz_new / rz[s];
            rz[s] = rz_new;
            for j in row {
                p[j] = z[j] + beta * p[j];
            }
        }
    }
    x
}

fn dot(a: &[f64], b: &[f64], s: usize, d: usize) -> f64 {
    a[s * d..(s + 1) * d]
        .iter()
        .zip(&b[s * d..(s + 1) * d])
        .map(|(x, y)| x * y)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Σ x xᵀ` of `samples` extended by the constant 1, for `rows` output channels.
    fn moments_of(samples: &[Vec<f64>], rows: usize) -> Moments {
        let d = samples[0].len();
        let n = d + 1;
        let mut h = vec![0.0; n * n];
        for s in samples {
            let x: Vec<f64> = s.iter().copied().chain([1.0]).collect();
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] += x[i] * x[j];
                }
            }
        }
        Moments {
            dim: d,
            rows_per_group: rows,
            h: vec![h],
        }
    }

    fn out(w: &[f32], b: f32, s: &[f64]) -> f64 {
        w.iter().zip(s).map(|(&a, x)| f64::from(a) * x).sum::<f64>() + f64::from(b)
    }

    /// With inputs whose second moments are known, the update is the exact least-squares
    /// compensation: the row's output on those inputs is restored as far as the free weights
    /// and the bias allow.
    #[test]
    fn free_weights_absorb_the_frozen_change_on_correlated_inputs() {
        // inputs x = (a, a, b): weights 0 and 1 see the same input, so a change of weight 0
        // is undone exactly by weight 1; weight 2 (independent input) and the bias stay.
        let samples = [
            vec![1.0, 1.0, 0.5],
            vec![2.0, 2.0, -1.0],
            vec![-1.0, -1.0, 2.0],
            vec![0.5, 0.5, 1.0],
        ];
        let m = moments_of(&samples, 1);
        let old = [0.75f32, 0.2, 0.3];
        let mut w = [1.0f32, 0.2, 0.3]; // weight 0 frozen at its level 1.0 (δ = 0.25)
        let mut b = [0.5f32];
        let frozen = [true, false, false];
        assert_eq!(apply(&mut w, &mut b, &old, &frozen, &m, 1e-9), 1);
        assert_eq!(w[0], 1.0);
        assert!((w[1] - (0.2 - 0.25)).abs() < 1e-4, "{w:?}");
        assert!((w[2] - 0.3).abs() < 1e-4, "{w:?}");
        assert!((b[0] - 0.5).abs() < 1e-4, "{b:?}");
        for s in &samples {
            assert!((out(&w, b[0], s) - out(&old, 0.5, s)).abs() < 1e-3);
        }
    }

    /// A row that did not change stays; a changed row with every weight frozen has its mean
    /// error removed by its bias (`−δ·E[x]`).
    #[test]
    fn a_fully_frozen_row_gets_its_bias_corrected() {
        let samples = [vec![1.0, 2.0], vec![3.0, 0.0], vec![2.0, 1.0]];
        let m = moments_of(&samples, 2);
        let old = [0.5f32, 0.5, 0.25, 0.25];
        let mut w = [0.5f32, 0.5, 0.5, 0.25]; // row 1: δ = (0.25, 0), E[x0] = 2
        let mut b = [0.1f32, 0.2];
        assert_eq!(
            apply(&mut w, &mut b, &old, &[true, false, true, true], &m, 1e-9),
            1
        );
        assert_eq!(w, [0.5, 0.5, 0.5, 0.25]);
        assert_eq!(b[0], 0.1);
        assert!((b[1] - (0.2 - 0.25 * 2.0)).abs() < 1e-4, "{b:?}");
        let mean_err: f64 = samples
            .iter()
            .map(|s| out(&w[2..], b[1], s) - out(&old[2..], 0.2, s))
            .sum();
        assert!(mean_err.abs() < 1e-3, "{mean_err}");
    }

    #[test]
    fn conv_rows_are_the_receptive_fields_in_weight_order() {
        // 2 channels of 2×2, 2×2 kernel, pad 1 on the right/bottom only, stride 1
        let conv = |group, out| Rows::Conv {
            window: Window {
                c: 2 / group,
                h: 2,
                w: 2,
                k: [2, 2],
                s: [1, 1],
                pad: [0, 0, 1, 1],
            },
            group,
            out,
        };
        let r = conv(1, 1);
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let (mut buf, mut cols) = (Vec::new(), Vec::new());
        r.push(&x, 0, &mut cols, &mut buf);
        assert_eq!((r.dim(), r.width()), (8, 9));
        assert_eq!(buf.len(), 4 * 9);
        assert_eq!(&buf[..9], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0]);
        // position (1, 1): only the top-left tap of each channel is inside
        assert_eq!(&buf[27..], &[4.0, 0.0, 0.0, 0.0, 8.0, 0.0, 0.0, 0.0, 1.0]);
        // depthwise: group 1 reads channel 1 only
        let dw = conv(2, 2);
        let mut b = Vec::new();
        dw.push(&x, 1, &mut cols, &mut b);
        assert_eq!(dw.dim(), 4);
        assert_eq!(&b[..5], &[5.0, 6.0, 7.0, 8.0, 1.0]);
    }
}
