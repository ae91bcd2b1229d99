//! Custom candle operations with hand-written CPU kernels and backward passes: `im2col`
//! (convolution becomes one large matrix multiplication; depthwise convolution a product with
//! the column matrix summed per channel), max pooling with any stride, and batch
//! normalization with batch statistics (training mode).
//!
//! candle's built-in CPU convolution backward goes through a naive transposed convolution and
//! was about 12× slower than the forward pass when measured (see `docs/training.md`), and its
//! max-pool backward requires kernel = stride. These two ops keep candle's autodiff and its
//! GEMM while making the backward pass as cheap as the forward one. Owns no model structure:
//! [`super::engine`] decides where each op goes.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = storage else {
        candle_core::bail!("{op}: only f32 tensors are supported");
    };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// Geometry of a 2-D window operation on `[N, C, H, W]`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel `[kh, kw]`.
    pub k: [usize; 2],
    /// Stride `[sh, sw]`.
    pub s: [usize; 2],
    /// Padding `[top, left, bottom, right]` (zeros).
    pub pad: [usize; 4],
}

impl Window {
    /// Output height.
    pub fn oh(&self) -> usize {
        (self.h + self.pad[0] + self.pad[2] - self.k[0]) / self.s[0] + 1
    }
    /// Output width.
    pub fn ow(&self) -> usize {
        (self.w + self.pad[1] + self.pad[3] - self.k[1]) / self.s[1] + 1
    }
    /// Row length of the column matrix: `C·kh·kw`.
    pub fn ckk(&self) -> usize {
        self.c * self.k[0] * self.k[1]
    }
}

/// `[N, C, H, W]` → `[N, C·kh·kw + 1, OH·OW]`: row `(ci, ky, kx)` of image `n` holds that
/// tap for every output position (zero padding), the last row is all ones, so that a
/// convolution is `[out, C·kh·kw + 1] × [C·kh·kw + 1, OH·OW]` per image (weights with the bias
/// as last column) and comes out in `[N, out, OH, OW]` order with no transpose; the bias
/// gradient comes out of the same product. Rows are contiguous over positions, so both this
/// op and its backward (col2im) copy whole row segments.
#[derive(Debug, Clone, Copy)]
pub struct Im2Col(pub Window);

/// The output columns `x` whose input column `x·sw + kx − pl` lies in `0..w`.
#[inline]
fn valid_x(g: &Window, kx: usize, ow: usize) -> std::ops::Range<usize> {
    let (sw, pl) = (g.s[1], g.pad[1]);
    let x0 = if pl > kx { (pl - kx).div_ceil(sw) } else { 0 };
    let x1 = if g.w + pl > kx {
        ((g.w + pl - kx - 1) / sw + 1).min(ow)
    } else {
        0
    };
    x0.min(x1)..x1
}

fn im2col_image(g: &Window, img: &[f32], out: &mut [f32]) {
    let (oh, ow) = (g.oh(), g.ow());
    let p = oh * ow;
    let [kh, kw] = g.k;
    let (sh, sw, pt, pl) = (g.s[0], g.s[1], g.pad[0], g.pad[1]);
    for ci in 0..g.c {
        let plane = &img[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..kh {
            for kx in 0..kw {
                let j = (ci * kh + ky) * kw + kx;
                let row = &mut out[j * p..(j + 1) * p];
                let xs = valid_x(g, kx, ow);
                for y in 0..oh {
                    let dst = &mut row[y * ow..(y + 1) * ow];
                    let Some(iy) = (y * sh + ky).checked_sub(pt).filter(|&v| v < g.h) else {
                        dst.fill(0.0);
                        continue;
                    };
                    dst[..xs.start].fill(0.0);
                    dst[xs.end..].fill(0.0);
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    if sw == 1 {
                        let s0 = xs.start + kx - pl;
                        dst[xs.clone()].copy_from_slice(&src[s0..s0 + xs.len()]);
                    } else {
                        for x in xs.clone() {
                            dst[x] = src[x * sw + kx - pl];
                        }
                    }
                }
            }
        }
    }
    out[g.ckk() * p..(g.ckk() + 1) * p].fill(1.0);
}

fn col2im_image(g: &Window, cols: &[f32], out: &mut [f32]) {
    let (oh, ow) = (g.oh(), g.ow());
    let p = oh * ow;
    let [kh, kw] = g.k;
    let (sh, sw, pt, pl) = (g.s[0], g.s[1], g.pad[0], g.pad[1]);
    out.fill(0.0);
    for ci in 0..g.c {
        let plane = &mut out[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..kh {
            for kx in 0..kw {
                let j = (ci * kh + ky) * kw + kx;
                let row = &cols[j * p..(j + 1) * p];
                let xs = valid_x(g, kx, ow);
                for y in 0..oh {
                    let Some(iy) = (y * sh + ky).checked_sub(pt).filter(|&v| v < g.h) else {
                        continue;
                    };
                    let src = &row[y * ow..(y + 1) * ow];
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    if sw == 1 {
                        let d0 = xs.start + kx - pl;
                        for (d, &v) in dst[d0..d0 + xs.len()].iter_mut().zip(&src[xs.clone()]) {
                            *d += v;
                        }
                    } else {
                        for x in xs.clone() {
                            dst[x * sw + kx - pl] += src[x];
                        }
                    }
                }
            }
        }
    }
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "inq-im2col"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let x = contiguous_f32(storage, layout, "im2col")?;
        let chw = g.c * g.h * g.w;
        let n = x.len() / chw.max(1);
        let p = g.oh() * g.ow();
        let per = p * (g.ckk() + 1);
        let mut out = vec![0f32; n * per];
        out.par_chunks_mut(per.max(1))
            .zip(x.par_chunks(chw.max(1)))
            .for_each(|(o, img)| im2col_image(g, img, o));
        Ok((CpuStorage::F32(out), Shape::from((n, g.ckk() + 1, p))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let g = self.0;
        let grad = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let chw = g.c * g.h * g.w;
        let per = g.oh() * g.ow() * (g.ckk() + 1);
        let n = grad.len() / per.max(1);
        let mut out = vec![0f32; n * chw];
        out.par_chunks_mut(chw.max(1))
            .zip(grad.par_chunks(per.max(1)))
            .for_each(|(o, cols)| col2im_image(&g, cols, o));
        Ok(Some(Tensor::from_vec(out, arg.shape(), arg.device())?))
    }
}

/// Max pooling over `[N, C, H, W]` without padding, any kernel and stride; the gradient goes to
/// the first maximum of each window.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool(pub Window);

fn argmax_window(g: &Window, plane: &[f32], y: usize, x: usize) -> usize {
    let mut best = (y * g.s[0]) * g.w + x * g.s[1];
    for ky in 0..g.k[0] {
        for kx in 0..g.k[1] {
            let i = (y * g.s[0] + ky) * g.w + x * g.s[1] + kx;
            if plane[i] > plane[best] {
                best = i;
            }
        }
    }
    best
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "inq-maxpool"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let x = contiguous_f32(storage, layout, "maxpool")?;
        let hw = g.h * g.w;
        let (oh, ow) = (g.oh(), g.ow());
        let planes = x.len() / hw.max(1);
        let mut out = vec![0f32; planes * oh * ow];
        out.par_chunks_mut((oh * ow).max(1))
            .zip(x.par_chunks(hw.max(1)))
            .for_each(|(o, plane)| {
                for y in 0..oh {
                    for xx in 0..ow {
                        o[y * ow + xx] = plane[argmax_window(g, plane, y, xx)];
                    }
                }
            });
        let n = planes / g.c.max(1);
        Ok((CpuStorage::F32(out), Shape::from((n, g.c, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let g = self.0;
        let x = arg.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let grad = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let hw = g.h * g.w;
        let (oh, ow) = (g.oh(), g.ow());
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(hw.max(1))
            .zip(x.par_chunks(hw.max(1)))
            .zip(grad.par_chunks((oh * ow).max(1)))
            .for_each(|((o, plane), gp)| {
                for y in 0..oh {
                    for xx in 0..ow {
                        o[argmax_window(&g, plane, y, xx)] += gp[y * ow + xx];
                    }
                }
            });
        Ok(Some(Tensor::from_vec(out, arg.shape(), arg.device())?))
    }
}

/// Batch statistics of one [`BatchNormTrain`] application: per-channel mean and biased
/// variance over `count` values per channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BnStats {
    /// Per-channel mean.
    pub mean: Vec<f32>,
    /// Per-channel biased variance (divided by `count`).
    pub var: Vec<f32>,
    /// Values per channel (`N·H·W`).
    pub count: usize,
}

/// Batch normalization in training mode on `[N, C, ...]` with inputs `(x, gamma, beta)`:
/// `y = γ·(x − μ_B)/√(σ²_B + ε) + β` with the batch mean `μ_B` and biased variance `σ²_B` of
/// each channel. The statistics are left in `stats` for the running averages; the backward pass
/// is the exact gradient through the batch statistics.
#[derive(Debug, Clone)]
pub struct BatchNormTrain {
    /// Channels.
    pub c: usize,
    /// `ε`.
    pub eps: f32,
    /// Filled by the forward pass.
    pub stats: Arc<Mutex<BnStats>>,
}

fn bn_geometry(layout: &Layout, c: usize) -> Result<(usize, usize)> {
    let dims = layout.dims();
    if dims.len() < 2 || dims[1] != c {
        candle_core::bail!("batchnorm: input {dims:?} does not have {c} channels");
    }
    Ok((dims[0], dims[2..].iter().product::<usize>().max(1)))
}

impl BatchNormTrain {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BnStats>> {
        self.stats
            .lock()
            .map_err(|_| candle_core::Error::Msg("batchnorm: statistics lock poisoned".into()))
    }
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "inq-batchnorm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s1, l1, "batchnorm")?;
        let gamma = contiguous_f32(s2, l2, "batchnorm")?;
        let beta = contiguous_f32(s3, l3, "batchnorm")?;
        let (n, per) = bn_geometry(l1, self.c)?;
        let c = self.c;
        let count = n * per;
        let mut mean = vec![0f32; c];
        let mut var = vec![0f32; c];
        let mut y = vec![0f32; x.len()];
        for ch in 0..c {
            let mut s = 0f64;
            for ni in 0..n {
                s += x[(ni * c + ch) * per..][..per]
                    .iter()
                    .map(|&v| f64::from(v))
                    .sum::<f64>();
            }
            let m = s / count.max(1) as f64;
            let mut q = 0f64;
            for ni in 0..n {
                q += x[(ni * c + ch) * per..][..per]
                    .iter()
                    .map(|&v| (f64::from(v) - m).powi(2))
                    .sum::<f64>();
            }
            let v = q / count.max(1) as f64;
            mean[ch] = m as f32;
            var[ch] = v as f32;
            let inv = 1.0 / (v + f64::from(self.eps)).sqrt();
            let (a, b) = ((f64::from(gamma[ch]) * inv) as f32, beta[ch]);
            let m = m as f32;
            for ni in 0..n {
                let at = (ni * c + ch) * per;
                for (d, &v) in y[at..at + per].iter_mut().zip(&x[at..at + per]) {
                    *d = (v - m) * a + b;
                }
            }
        }
        *self.lock()? = BnStats { mean, var, count };
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        _arg3: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let st = self.lock()?.clone();
        let x = arg1.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let gamma = arg2.to_vec1::<f32>()?;
        let dy = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let (n, per) = bn_geometry(arg1.layout(), self.c)?;
        let c = self.c;
        let cnt = (n * per).max(1) as f64;
        let mut dx = vec![0f32; x.len()];
        let mut dgamma = vec![0f32; c];
        let mut dbeta = vec![0f32; c];
        for ch in 0..c {
            let m = f64::from(st.mean[ch]);
            let inv = 1.0 / (f64::from(st.var[ch]) + f64::from(self.eps)).sqrt();
            let (mut sdy, mut sdyx) = (0f64, 0f64);
            for ni in 0..n {
                let at = (ni * c + ch) * per;
                for (&g, &v) in dy[at..at + per].iter().zip(&x[at..at + per]) {
                    sdy += f64::from(g);
                    sdyx += f64::from(g) * (f64::from(v) - m) * inv;
                }
            }
            dbeta[ch] = sdy as f32;
            dgamma[ch] = sdyx as f32;
            let k = f64::from(gamma[ch]) * inv / cnt;
            let (a, b) = (sdy / cnt, sdyx / cnt);
            for ni in 0..n {
                let at = (ni * c + ch) * per;
                for ((d, &g), &v) in dx[at..at + per]
                    .iter_mut()
                    .zip(&dy[at..at + per])
                    .zip(&x[at..at + per])
                {
                    let xh = (f64::from(v) - m) * inv;
                    *d = (k * cnt * (f64::from(g) - a - xh * b)) as f32;
                }
            }
        }
        let dev = arg1.device();
        Ok((
            Some(Tensor::from_vec(dx, arg1.shape(), dev)?),
            Some(Tensor::from_vec(dgamma, c, dev)?),
            Some(Tensor::from_vec(dbeta, c, dev)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// im2col against the direct definition, strides and asymmetric pads included; col2im is
    /// its adjoint (⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩).
    #[test]
    fn im2col_matches_definition_and_col2im_is_adjoint() {
        for (k, s, pad) in [
            ([3, 3], [1, 1], [1, 1, 1, 1]),
            ([3, 2], [2, 2], [1, 0, 0, 2]),
            ([1, 1], [2, 2], [0; 4]),
        ] {
            let g = Window {
                c: 2,
                h: 5,
                w: 6,
                k,
                s,
                pad,
            };
            let x: Vec<f32> = (0..60).map(|i| (i as f32 * 0.37).sin()).collect();
            let p = g.oh() * g.ow();
            let mut cols = vec![0f32; (g.ckk() + 1) * p];
            im2col_image(&g, &x, &mut cols);
            for ci in 0..2 {
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let j = (ci * k[0] + ky) * k[1] + kx;
                        for y in 0..g.oh() {
                            for xx in 0..g.ow() {
                                let iy = (y * s[0] + ky) as isize - pad[0] as isize;
                                let ix = (xx * s[1] + kx) as isize - pad[1] as isize;
                                let want = if iy >= 0 && ix >= 0 && iy < 5 && ix < 6 {
                                    x[(ci * 5 + iy as usize) * 6 + ix as usize]
                                } else {
                                    0.0
                                };
                                assert_eq!(cols[j * p + y * g.ow() + xx], want);
                            }
                        }
                    }
                }
            }
            assert!(cols[g.ckk() * p..].iter().all(|&v| v == 1.0));
            let c: Vec<f32> = (0..cols.len()).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut back = vec![0f32; 60];
            col2im_image(&g, &c, &mut back);
            let lhs: f64 = cols[..g.ckk() * p]
                .iter()
                .zip(&c)
                .map(|(a, b)| f64::from(a * b))
                .sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| f64::from(a * b)).sum();
            assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
        }
    }

    /// The custom backward agrees with candle's autodiff of the same formula.
    #[test]
    fn batchnorm_gradients_match_autodiff() -> Result<()> {
        let dev = Device::Cpu;
        let xs: Vec<f32> = (0..2 * 3 * 4)
            .map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.0)
            .collect();
        let x = Var::from_vec(xs, (2, 3, 2, 2), &dev)?;
        let g = Var::from_vec(vec![1.0f32, 0.5, 2.0], 3, &dev)?;
        let b = Var::from_vec(vec![0.1f32, -0.2, 0.3], 3, &dev)?;
        let w = Tensor::from_vec(
            (0..24).map(|i| (i % 5) as f32 - 2.0).collect::<Vec<_>>(),
            (2, 3, 2, 2),
            &dev,
        )?;
        let op = BatchNormTrain {
            c: 3,
            eps: 1e-5,
            stats: Default::default(),
        };
        let y = x
            .as_tensor()
            .apply_op3(g.as_tensor(), b.as_tensor(), op.clone())?;
        let loss = (y * &w)?.sum_all()?;
        let grads = loss.backward()?;
        // reference with candle ops
        let xt = x
            .as_tensor()
            .transpose(0, 1)?
            .contiguous()?
            .reshape((3, 8))?;
        let m = xt.mean_keepdim(1)?;
        let xc = xt.broadcast_sub(&m)?;
        let v = xc.sqr()?.mean_keepdim(1)?;
        let yr = xc
            .broadcast_div(&(v + 1e-5)?.sqrt()?)?
            .broadcast_mul(&g.as_tensor().reshape((3, 1))?)?
            .broadcast_add(&b.as_tensor().reshape((3, 1))?)?;
        let yr = yr.reshape((3, 2, 2, 2))?.transpose(0, 1)?;
        let lr = (yr * &w)?.sum_all()?;
        let gr = lr.backward()?;
        for v in [&x, &g, &b] {
            let a = grads.get(v).unwrap().flatten_all()?.to_vec1::<f32>()?;
            let r = gr.get(v).unwrap().flatten_all()?.to_vec1::<f32>()?;
            for (p, q) in a.iter().zip(&r) {
                assert!((p - q).abs() < 1e-4, "{a:?} vs {r:?}");
            }
        }
        let st = op.stats.lock().unwrap().clone();
        assert_eq!(st.count, 8);
        Ok(())
    }
}
