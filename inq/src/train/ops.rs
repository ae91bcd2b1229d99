//! Custom candle operations with hand-written CPU kernels and backward passes: `im2col`
//! (convolution becomes one large matrix multiplication) and max pooling with any stride.
//!
//! candle's built-in CPU convolution backward goes through a naive transposed convolution and
//! was about 12× slower than the forward pass when measured (see `docs/training.md`), and its
//! max-pool backward requires kernel = stride. These two ops keep candle's autodiff and its
//! GEMM while making the backward pass as cheap as the forward one.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
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
    /// Input position of output `(y, x)` and kernel tap `(ky, kx)`, if inside the image.
    #[inline]
    fn src(&self, y: usize, x: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (y * self.s[0] + ky).checked_sub(self.pad[0])?;
        let ix = (x * self.s[1] + kx).checked_sub(self.pad[1])?;
        (iy < self.h && ix < self.w).then_some((iy, ix))
    }
}

/// `[N, C, H, W]` → `[N·OH·OW, C·kh·kw + 1]`: each row holds one receptive field (zero
/// padding) followed by a constant 1, so that the bias joins the weight matrix and its gradient
/// comes out of the same matrix product.
#[derive(Debug, Clone, Copy)]
pub struct Im2Col(pub Window);

fn im2col_image(g: &Window, img: &[f32], out: &mut [f32]) {
    let (oh, ow, ckk) = (g.oh(), g.ow(), g.ckk() + 1);
    let [kh, kw] = g.k;
    for y in 0..oh {
        for x in 0..ow {
            let row = &mut out[(y * ow + x) * ckk..(y * ow + x + 1) * ckk];
            row[ckk - 1] = 1.0;
            let mut j = 0;
            for ci in 0..g.c {
                let plane = &img[ci * g.h * g.w..(ci + 1) * g.h * g.w];
                for ky in 0..kh {
                    for kx in 0..kw {
                        row[j] = match g.src(y, x, ky, kx) {
                            Some((iy, ix)) => plane[iy * g.w + ix],
                            None => 0.0,
                        };
                        j += 1;
                    }
                }
            }
        }
    }
}

fn col2im_image(g: &Window, cols: &[f32], out: &mut [f32]) {
    let (oh, ow, ckk) = (g.oh(), g.ow(), g.ckk() + 1);
    let [kh, kw] = g.k;
    out.fill(0.0);
    for y in 0..oh {
        for x in 0..ow {
            let row = &cols[(y * ow + x) * ckk..(y * ow + x + 1) * ckk];
            let mut j = 0;
            for ci in 0..g.c {
                for ky in 0..kh {
                    for kx in 0..kw {
                        if let Some((iy, ix)) = g.src(y, x, ky, kx) {
                            out[(ci * g.h + iy) * g.w + ix] += row[j];
                        }
                        j += 1;
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
        let rows = g.oh() * g.ow();
        let per = rows * (g.ckk() + 1);
        let mut out = vec![0f32; n * per];
        out.par_chunks_mut(per.max(1))
            .zip(x.par_chunks(chw.max(1)))
            .for_each(|(o, img)| im2col_image(g, img, o));
        Ok((CpuStorage::F32(out), Shape::from((n * rows, g.ckk() + 1))))
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
