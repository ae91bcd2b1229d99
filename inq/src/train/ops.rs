//! Custom candle operations with hand-written CPU kernels and backward passes: convolution
//! with `group = 1` fused with its bias (`im2col` and one GEMM per image, [`ConvTrain`]),
//! `im2col` on its own (depthwise convolution: a product with the column matrix summed per
//! channel), fully connected layers ([`DenseTrain`]), ReLU, max pooling with any stride, and
//! batch normalization with batch statistics (training mode).
//!
//! candle's built-in CPU convolution backward goes through a naive transposed convolution and
//! was about 12× slower than the forward pass when measured (see `docs/training.md`), and its
//! max-pool backward requires kernel = stride. Beyond that, every intermediate tensor of
//! candle's autodiff gets a gradient buffer that is allocated, zeroed and added into, so the
//! fewer and smaller the tensors between ops, the faster a step: the fused ops keep column
//! matrices, bias broadcasts and ReLU masks inside the op (`docs/experiments.md` (e) has the
//! measurements). They keep candle's autodiff for the graph and call candle's GEMM (`gemm`)
//! directly, single-threaded: the engine runs one shard of the batch per thread. Owns no model
//! structure: [`super::engine`] decides where each op goes.

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

/// Whether every tap of the window reads the input plane at a constant flat offset from the
/// output position (stride 1 and `OW = W`, e.g. a 3×3 convolution with padding 1): a tap's row
/// of the column matrix is then one run of the plane, except the columns that fall into the
/// left or right padding, which wrap to the neighbouring input row and are handled apart.
fn flat(g: &Window) -> bool {
    g.s == [1, 1] && g.ow() == g.w
}

/// For a [`flat`] window and tap `(ky, kx)`: the output rows whose input row is inside the
/// plane, the valid output columns, the flat offset `d` (input index = output index + d) and
/// the output indices `[lo, hi)` (within those rows) whose input index lies inside the plane
/// (`lo = hi` when there are none).
struct FlatTap {
    rows: std::ops::Range<usize>,
    xs: std::ops::Range<usize>,
    d: isize,
    lo: usize,
    hi: usize,
}

fn flat_tap(g: &Window, ky: usize, kx: usize) -> FlatTap {
    let (oh, w, pt) = (g.oh(), g.w, g.pad[0]);
    let y0 = pt.saturating_sub(ky).min(oh);
    let y1 = (g.h + pt).saturating_sub(ky).min(oh).max(y0);
    let d = (ky as isize - pt as isize) * w as isize + kx as isize - g.pad[1] as isize;
    let (lo, hi) = (y0 * w, y1 * w);
    // clamp to the plane (only the first or last row's padding columns are cut off)
    let lo_in = (lo as isize).max(-d) as usize;
    let hi_in = (hi as isize)
        .min((g.h * w) as isize - d)
        .max(lo_in as isize) as usize;
    FlatTap {
        rows: y0..y1,
        xs: valid_x(g, kx, g.ow()),
        d,
        lo: lo_in.min(hi),
        hi: hi_in.min(hi),
    }
}

/// Zeroes the columns outside `t.xs` in the rows `t.rows` of a tap's row of the column matrix
/// (`W` wide): a strided loop per column, since there are only a few.
fn zero_columns(row: &mut [f32], t: &FlatTap, w: usize) {
    if t.rows.is_empty() {
        return;
    }
    for x in (0..t.xs.start).chain(t.xs.end..w) {
        for v in row[t.rows.start * w + x..t.rows.end * w]
            .iter_mut()
            .step_by(w)
        {
            *v = 0.0;
        }
    }
}

/// [`flat_tap`] of every tap, in `(ky, kx)` order.
fn flat_taps(g: &Window) -> Vec<FlatTap> {
    (0..g.k[0])
        .flat_map(|ky| (0..g.k[1]).map(move |kx| flat_tap(g, ky, kx)))
        .collect()
}

/// One image's column matrix (`[C·kh·kw + 1, OH·OW]`, see [`Im2Col`]) appended to `out` in
/// memory order, so that it is written once and never zeroed first. Also used by INQ's
/// compensation ([`crate::quantize::compensate`]) for a layer's receptive fields.
pub(crate) fn im2col_to(g: &Window, img: &[f32], out: &mut Vec<f32>) {
    if flat(g) {
        im2col_flat(g, img, out);
    } else {
        im2col_rows(g, img, out);
    }
}

/// [`im2col_to`] for a [`flat`] window: per tap one copy of the valid rows, then the wrapped
/// padding columns zeroed.
fn im2col_flat(g: &Window, img: &[f32], out: &mut Vec<f32>) {
    let p = g.oh() * g.ow();
    let [kh, kw] = g.k;
    let (hw, w) = (g.h * g.w, g.w);
    let taps = flat_taps(g);
    for ci in 0..g.c {
        let plane = &img[ci * hw..(ci + 1) * hw];
        for ky in 0..kh {
            for kx in 0..kw {
                let t = &taps[ky * kw + kx];
                let start = out.len();
                if t.lo < t.hi {
                    out.resize(start + t.lo, 0.0);
                    let (a, b) = (
                        (t.lo as isize + t.d) as usize,
                        (t.hi as isize + t.d) as usize,
                    );
                    out.extend_from_slice(&plane[a..b]);
                }
                out.resize(start + p, 0.0);
                zero_columns(&mut out[start..], t, w);
            }
        }
    }
    out.resize(out.len() + p, 1.0);
}

/// [`im2col_to`] for any window: one copy per output row.
fn im2col_rows(g: &Window, img: &[f32], out: &mut Vec<f32>) {
    let (oh, ow) = (g.oh(), g.ow());
    let p = oh * ow;
    let [kh, kw] = g.k;
    let (sh, sw, pt, pl) = (g.s[0], g.s[1], g.pad[0], g.pad[1]);
    for ci in 0..g.c {
        let plane = &img[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..kh {
            for kx in 0..kw {
                let xs = valid_x(g, kx, ow);
                for y in 0..oh {
                    let Some(iy) = (y * sh + ky).checked_sub(pt).filter(|&v| v < g.h) else {
                        out.resize(out.len() + ow, 0.0);
                        continue;
                    };
                    out.resize(out.len() + xs.start, 0.0);
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    if sw == 1 {
                        let s0 = xs.start + kx - pl;
                        out.extend_from_slice(&src[s0..s0 + xs.len()]);
                    } else {
                        for x in xs.clone() {
                            out.push(src[x * sw + kx - pl]);
                        }
                    }
                    out.resize(out.len() + ow - xs.end, 0.0);
                }
            }
        }
    }
    out.resize(out.len() + p, 1.0);
}

/// The adjoint of [`im2col_to`] (without the row of ones): every tap's row of `cols` added
/// into the input-shaped `out` (zeros from the caller). `cols` is scratch: the flat path
/// zeroes the entries of the padding columns in it.
fn col2im_image(g: &Window, cols: &mut [f32], out: &mut [f32]) {
    if flat(g) {
        col2im_flat(g, cols, out);
    } else {
        col2im_rows(g, cols, out);
    }
}

/// [`col2im_image`] for a [`flat`] window: per tap the padding columns of its row zeroed, then
/// one contiguous run added. Each input element receives the same terms in the same order as
/// in [`col2im_rows`] plus at most some `+0.0`, so the sums are the same.
fn col2im_flat(g: &Window, cols: &mut [f32], out: &mut [f32]) {
    let p = g.oh() * g.ow();
    let [kh, kw] = g.k;
    let (hw, w) = (g.h * g.w, g.w);
    let taps = flat_taps(g);
    for ci in 0..g.c {
        let plane = &mut out[ci * hw..(ci + 1) * hw];
        for ky in 0..kh {
            for kx in 0..kw {
                let j = (ci * kh + ky) * kw + kx;
                let row = &mut cols[j * p..(j + 1) * p];
                let t = &taps[ky * kw + kx];
                zero_columns(row, t, w);
                if t.lo < t.hi {
                    let (a, b) = (
                        (t.lo as isize + t.d) as usize,
                        (t.hi as isize + t.d) as usize,
                    );
                    for (d, &v) in plane[a..b].iter_mut().zip(&row[t.lo..t.hi]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// [`col2im_image`] for any window: one run per output row.
fn col2im_rows(g: &Window, cols: &[f32], out: &mut [f32]) {
    let (oh, ow) = (g.oh(), g.ow());
    let p = oh * ow;
    let [kh, kw] = g.k;
    let (sh, sw, pt, pl) = (g.s[0], g.s[1], g.pad[0], g.pad[1]);
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
        let images: Vec<Vec<f32>> = x
            .par_chunks(chw.max(1))
            .map(|img| {
                let mut cols = Vec::with_capacity(per);
                im2col_to(g, img, &mut cols);
                cols
            })
            .collect();
        let out = images.concat();
        Ok((CpuStorage::F32(out), Shape::from((n, g.ckk() + 1, p))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let g = self.0;
        let mut grad = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let chw = g.c * g.h * g.w;
        let per = g.oh() * g.ow() * (g.ckk() + 1);
        let n = grad.len() / per.max(1);
        let mut out = vec![0f32; n * chw];
        out.par_chunks_mut(chw.max(1))
            .zip(grad.par_chunks_mut(per.max(1)))
            .for_each(|(o, cols)| col2im_image(&g, cols, o));
        Ok(Some(Tensor::from_vec(out, arg.shape(), arg.device())?))
    }
}

/// A read-only matrix view: element `(r, c)` is `data[r·rs + c·cs]`.
#[derive(Clone, Copy)]
struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix.
    fn rows(data: &'a [f32], rows: usize, cols: usize) -> MatRef<'a> {
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose (a view, no copy).
    fn t(self) -> MatRef<'a> {
        MatRef {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Whether every element lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = a × b` (or `dst += a × b` with `accumulate`), `dst` row-major `a.rows × b.cols`,
/// single-threaded (the caller runs one shard per thread).
fn matmul(dst: &mut [f32], a: MatRef<'_>, b: MatRef<'_>, accumulate: bool) -> Result<()> {
    matmul_to(dst, false, a, b, accumulate)
}

/// [`matmul`] with `dst` row-major or, with `col_major`, column-major (element `(i, j)` at
/// `j·a.rows + i`, i.e. the transpose row-major).
///
/// The orientation decides what the `gemm` crate copies: it makes the destination
/// column-major (transposing the whole product if needed) and then packs the left operand
/// unless that is column-major with a multiple of 8 rows. For `dst = W × cols` with `dst`
/// row-major, the left operand becomes `colsᵀ`, copied on every call when `OH·OW` is not a
/// multiple of 8; with `dst` column-major it is the small weight matrix, and the column
/// matrix is read in place.
fn matmul_to(
    dst: &mut [f32],
    col_major: bool,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
) -> Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k || dst.len() < m * n || !a.in_bounds() || !b.in_bounds() {
        candle_core::bail!("matmul: mismatched shapes ({m}×{k} by {}×{n})", b.rows);
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return Ok(());
    }
    let (dst_cs, dst_rs) = if col_major { (m, 1) } else { (1, n) };
    // SAFETY: the shapes and strides were checked above: every element the kernel reads from
    // `a` and `b` lies inside their slices, and it writes the `m × n` block (row- or
    // column-major) at the start of `dst`, which is at least `m·n` long. The three slices
    // cannot overlap (`dst` is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

/// `dst` (`cols × rows`, row-major) = the transpose of `src` (`rows × cols`, row-major).
/// In blocks of 8 source rows, so that each destination row gets 8 consecutive values per
/// block and the source is read in order.
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const B: usize = 8;
    let full = rows / B * B;
    for r0 in (0..full).step_by(B) {
        let block = &src[r0 * cols..(r0 + B) * cols];
        for c in 0..cols {
            let d: &mut [f32; B] = (&mut dst[c * rows + r0..c * rows + r0 + B])
                .try_into()
                .expect("a block of B");
            for (i, v) in d.iter_mut().enumerate() {
                *v = block[i * cols + c];
            }
        }
    }
    for r in full..rows {
        for c in 0..cols {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}

/// The value behind an op's shared state (a panic elsewhere that poisoned it is an error here).
fn locked<'a, T>(m: &'a Mutex<T>, op: &str) -> Result<std::sync::MutexGuard<'a, T>> {
    m.lock()
        .map_err(|_| candle_core::Error::Msg(format!("{op}: state lock poisoned")))
}

/// A tensor's elements as a slice (copied only when the tensor is not contiguous).
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let candle_core::Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("only CPU tensors are supported");
    };
    f(contiguous_f32(cpu, layout, "tensor")?)
}

/// ReLU's gradient from its output: `grad_res` where `res > 0`, else 0.
fn relu_grad(res: &Tensor, grad_res: &Tensor) -> Result<Vec<f32>> {
    with_f32(res, |y| {
        with_f32(grad_res, |dy| {
            Ok(y.iter()
                .zip(dy)
                .map(|(&y, &d)| if y > 0.0 { d } else { 0.0 })
                .collect())
        })
    })
}

/// Convolution with `group = 1` and a fused bias, `[N, C, H, W]` × weights
/// `[out, C, kh, kw]` + bias `[out]` → `[N, out, OH, OW]`, for training.
///
/// Each image is one [`Im2Col`] column matrix (rows `C·kh·kw` taps and a row of ones) and one
/// GEMM with the weights (bias as their last column); the backward pass runs two GEMMs (weight
/// and bias gradient together, then the column gradient, folded back by col2im) on the column
/// matrices the forward pass kept (`cols`, training only) or rebuilds them. The column matrix
/// lives only inside the op: as a candle tensor its gradient was allocated, zeroed and
/// accumulated at every step, which cost as much as the products themselves.
#[derive(Debug, Clone)]
pub struct ConvTrain {
    /// Input geometry.
    pub g: Window,
    /// Output channels.
    pub out: usize,
    /// The forward pass's column matrices, kept for the backward pass when `Some`.
    pub cols: Option<Arc<Mutex<Vec<f32>>>>,
    /// Followed by a ReLU (fused: `max(y, 0)` forward, the gradient passed where the output is
    /// positive; one tensor fewer for candle's autodiff to allocate, zero and add into).
    pub relu: bool,
}

impl ConvTrain {
    /// The weights with the bias as an extra last column: `[out, C·kh·kw + 1]`.
    fn weights_with_bias(&self, w: &[f32], b: &[f32]) -> Result<Vec<f32>> {
        let ckk = self.g.ckk();
        if w.len() != self.out * ckk || b.len() != self.out {
            candle_core::bail!("conv: weights or bias do not match {} outputs", self.out);
        }
        let mut wb = Vec::with_capacity(self.out * (ckk + 1));
        for (row, &bias) in w.chunks_exact(ckk.max(1)).zip(b) {
            wb.extend_from_slice(row);
            wb.push(bias);
        }
        Ok(wb)
    }
}

impl CustomOp3 for ConvTrain {
    fn name(&self) -> &'static str {
        "inq-conv"
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
        let g = &self.g;
        let x = contiguous_f32(s1, l1, "conv")?;
        let wb = self.weights_with_bias(
            contiguous_f32(s2, l2, "conv")?,
            contiguous_f32(s3, l3, "conv")?,
        )?;
        let (k1, p, chw) = (g.ckk() + 1, g.oh() * g.ow(), g.c * g.h * g.w);
        let n = x.len() / chw.max(1);
        let mut y = vec![0f32; n * self.out * p];
        let per = k1 * p;
        // written, not zeroed first: all images' matrices when kept, else one at a time
        let keep = self.cols.is_some();
        let mut cols = Vec::with_capacity(if keep { n * per } else { per });
        let wm = MatRef::rows(&wb, self.out, k1);
        // the product column-major (`[P, out]`), transposed into `y` (see `matmul_to`)
        let mut yt = vec![0f32; self.out * p];
        for (img, yi) in x
            .chunks_exact(chw.max(1))
            .zip(y.chunks_exact_mut((self.out * p).max(1)))
        {
            if !keep {
                cols.clear();
            }
            let at = cols.len();
            im2col_to(g, img, &mut cols);
            matmul_to(
                &mut yt,
                true,
                wm,
                MatRef::rows(&cols[at..at + per], k1, p),
                false,
            )?;
            transpose(&yt, p, self.out, yi);
            if self.relu {
                for v in yi.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        }
        if let Some(keep) = &self.cols {
            *locked(keep, "conv")? = cols;
        }
        Ok((
            CpuStorage::F32(y),
            Shape::from((n, self.out, g.oh(), g.ow())),
        ))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        arg3: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if self.relu {
            // the gradient where the (ReLU'd) output is positive, as `Relu::bwd`
            let masked = relu_grad(res, grad_res)?;
            let dy = Tensor::from_vec(masked, res.shape(), res.device())?;
            return self.bwd_linear(arg1, arg2, arg3, &dy);
        }
        self.bwd_linear(arg1, arg2, arg3, grad_res)
    }
}

impl ConvTrain {
    /// The backward pass of the convolution itself, `grad_res` the gradient of its output
    /// before any fused ReLU.
    fn bwd_linear(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        arg3: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = &self.g;
        let (ckk, p, chw) = (g.ckk(), g.oh() * g.ow(), g.c * g.h * g.w);
        let k1 = ckk + 1;
        let wb = with_f32(arg2, |w| with_f32(arg3, |b| self.weights_with_bias(w, b)))?;
        // `[k1, out]`: the weight and bias gradient transposed
        let mut dwbt = vec![0f32; self.out * k1];
        let per = k1 * p;
        let kept = match &self.cols {
            Some(c) => std::mem::take(&mut *locked(c, "conv")?),
            None => Vec::new(),
        };
        // no input gradient where nothing upstream needs it (the first layer, on the images)
        let need_dx = arg1.track_op();
        let dx = with_f32(arg1, |x| {
            with_f32(grad_res, |dy| {
                let n = x.len() / chw.max(1);
                let have = kept.len() == n * per;
                let mut dx = if need_dx {
                    vec![0f32; x.len()]
                } else {
                    Vec::new()
                };
                let mut cols = Vec::with_capacity(if have { 0 } else { per });
                let mut dcols = vec![0f32; if need_dx { ckk * p } else { 0 }];
                // the weights without their bias column, transposed: `[C·kh·kw, out]`
                let wt = MatRef {
                    data: &wb,
                    rows: ckk,
                    cols: self.out,
                    rs: 1,
                    cs: k1,
                };
                for i in 0..n {
                    let dyi =
                        MatRef::rows(&dy[i * self.out * p..(i + 1) * self.out * p], self.out, p);
                    let ci = if have {
                        &kept[i * per..(i + 1) * per]
                    } else {
                        cols.clear();
                        im2col_to(g, &x[i * chw..(i + 1) * chw], &mut cols);
                        &cols
                    };
                    // [out, k1] += dy [out, P] × colsᵀ [P, k1], column-major (see
                    // `matmul_to`: the column matrix is then read in place)
                    matmul_to(&mut dwbt, true, dyi, MatRef::rows(ci, k1, p).t(), true)?;
                    if need_dx {
                        // [C·kh·kw, P] = Wᵀ [C·kh·kw, out] × dy [out, P]
                        matmul(&mut dcols, wt, dyi, false)?;
                        col2im_image(g, &mut dcols, &mut dx[i * chw..(i + 1) * chw]);
                    }
                }
                Ok(need_dx.then_some(dx))
            })
        })?;
        let mut dwb = vec![0f32; self.out * k1];
        transpose(&dwbt, k1, self.out, &mut dwb);
        let (dw, db): (Vec<f32>, Vec<f32>) = (
            dwb.chunks_exact(k1)
                .flat_map(|r| r[..ckk].to_vec())
                .collect(),
            dwb.chunks_exact(k1).map(|r| r[ckk]).collect(),
        );
        let dev = arg1.device();
        Ok((
            dx.map(|dx| Tensor::from_vec(dx, arg1.shape(), dev))
                .transpose()?,
            Some(Tensor::from_vec(dw, arg2.shape(), dev)?),
            Some(Tensor::from_vec(db, arg3.shape(), dev)?),
        ))
    }
}

/// `max(x, 0)` with the gradient passed where the output is positive, in one pass each way
/// (candle's own ReLU backward builds a mask tensor, converts it and multiplies).
#[derive(Debug, Clone, Copy)]
pub struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "inq-relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, "relu")?;
        let y = x.iter().map(|&v| v.max(0.0)).collect();
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let dx = relu_grad(res, grad_res)?;
        Ok(Some(Tensor::from_vec(dx, arg.shape(), arg.device())?))
    }
}

/// A fully connected layer `[N, in]` × weights `[out, in]` + bias `[out]` → `[N, out]`: one
/// GEMM forward, two backward (candle's version transposes, broadcasts the bias and sums it
/// back, each a tensor of its own).
#[derive(Debug, Clone, Copy)]
pub struct DenseTrain;

impl CustomOp3 for DenseTrain {
    fn name(&self) -> &'static str {
        "inq-dense"
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
        let x = contiguous_f32(s1, l1, "dense")?;
        let w = contiguous_f32(s2, l2, "dense")?;
        let b = contiguous_f32(s3, l3, "dense")?;
        let (out, fin) = l2.shape().dims2()?;
        let n = l1.shape().dims2()?.0;
        if b.len() != out || l1.shape().dims2()?.1 != fin {
            candle_core::bail!("dense: input, weights and bias do not match");
        }
        let mut y: Vec<f32> = (0..n).flat_map(|_| b.iter().copied()).collect();
        // [n, out] += x [n, in] × wᵀ [in, out]
        matmul(
            &mut y,
            MatRef::rows(x, n, fin),
            MatRef::rows(w, out, fin).t(),
            true,
        )?;
        Ok((CpuStorage::F32(y), Shape::from((n, out))))
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        arg3: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, fin) = arg1.dims2()?;
        let out = arg2.dims2()?.0;
        let (dx, dw, db) = with_f32(arg1, |x| {
            with_f32(arg2, |w| {
                with_f32(grad_res, |dy| {
                    let dym = MatRef::rows(dy, n, out);
                    let mut dx = vec![0f32; n * fin];
                    // [n, in] = dy [n, out] × w [out, in]
                    matmul(&mut dx, dym, MatRef::rows(w, out, fin), false)?;
                    let mut dw = vec![0f32; out * fin];
                    // [out, in] = dyᵀ [out, n] × x [n, in]
                    matmul(&mut dw, dym.t(), MatRef::rows(x, n, fin), false)?;
                    let mut db = vec![0f32; out];
                    for row in dy.chunks_exact(out.max(1)) {
                        db.iter_mut().zip(row).for_each(|(a, &g)| *a += g);
                    }
                    Ok((dx, dw, db))
                })
            })
        })?;
        let dev = arg1.device();
        Ok((
            Some(Tensor::from_vec(dx, arg1.shape(), dev)?),
            Some(Tensor::from_vec(dw, arg2.shape(), dev)?),
            Some(Tensor::from_vec(db, arg3.shape(), dev)?),
        ))
    }
}

/// Max pooling over `[N, C, H, W]` without padding, any kernel and stride; the gradient goes to
/// the first maximum of each window. In training the forward pass records where each maximum
/// was (`argmax`, one index per output into its input plane), so the backward pass is a
/// scatter.
#[derive(Debug, Clone)]
pub struct MaxPool {
    /// The window.
    pub g: Window,
    /// Filled by the forward pass when `Some` (training).
    pub argmax: Option<Arc<Mutex<Vec<u32>>>>,
}

impl MaxPool {
    /// A max pool over `g`; `train` keeps the argmax for the backward pass.
    pub fn new(g: Window, train: bool) -> MaxPool {
        MaxPool {
            g,
            argmax: train.then(Arc::default),
        }
    }
}

/// For every output position of one `[H, W]` plane (in row-major order), the index of the
/// first maximum of its window, handed to `visit(output index, input index)`. The running
/// maximum is kept in registers and updated by selects, not branches: window maxima of
/// activations are unpredictable and a branch per comparison was the op's main cost.
fn for_each_argmax(g: &Window, plane: &[f32], mut visit: impl FnMut(usize, usize)) {
    let (oh, ow) = (g.oh(), g.ow());
    let [kh, kw] = g.k;
    let [sh, sw] = g.s;
    if g.k == [2, 2] && g.s == [2, 2] {
        // the common case, unrolled
        for y in 0..oh {
            let r0 = 2 * y * g.w;
            let (top, bottom) = (&plane[r0..r0 + 2 * ow], &plane[r0 + g.w..r0 + g.w + 2 * ow]);
            for x in 0..ow {
                let (mut best, mut best_v) = (r0 + 2 * x, top[2 * x]);
                for (i, v) in [
                    (r0 + 2 * x + 1, top[2 * x + 1]),
                    (r0 + g.w + 2 * x, bottom[2 * x]),
                    (r0 + g.w + 2 * x + 1, bottom[2 * x + 1]),
                ] {
                    let gt = v > best_v;
                    best = if gt { i } else { best };
                    best_v = if gt { v } else { best_v };
                }
                visit(y * ow + x, best);
            }
        }
        return;
    }
    for y in 0..oh {
        for x in 0..ow {
            let start = y * sh * g.w + x * sw;
            let (mut best, mut best_v) = (start, plane[start]);
            for ky in 0..kh {
                let row = start + ky * g.w;
                for (kx, &v) in plane[row..row + kw].iter().enumerate() {
                    let gt = v > best_v;
                    best = if gt { row + kx } else { best };
                    best_v = if gt { v } else { best_v };
                }
            }
            visit(y * ow + x, best);
        }
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "inq-maxpool"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.g;
        let x = contiguous_f32(storage, layout, "maxpool")?;
        let hw = g.h * g.w;
        let (oh, ow) = (g.oh(), g.ow());
        let planes = x.len() / hw.max(1);
        let mut out = vec![0f32; planes * oh * ow];
        if hw > u32::MAX as usize {
            candle_core::bail!("maxpool: planes of {hw} elements are too large");
        }
        let n = planes / g.c.max(1);
        let planes_out = out
            .chunks_exact_mut((oh * ow).max(1))
            .zip(x.chunks_exact(hw.max(1)));
        let Some(keep) = &self.argmax else {
            for (o, plane) in planes_out {
                for_each_argmax(g, plane, |i, j| o[i] = plane[j]);
            }
            return Ok((CpuStorage::F32(out), Shape::from((n, g.c, oh, ow))));
        };
        let mut argmax = vec![0u32; planes * oh * ow];
        for ((o, plane), idx) in planes_out.zip(argmax.chunks_exact_mut((oh * ow).max(1))) {
            for_each_argmax(g, plane, |i, j| {
                o[i] = plane[j];
                idx[i] = j as u32;
            });
        }
        *locked(keep, "maxpool")? = argmax;
        Ok((CpuStorage::F32(out), Shape::from((n, g.c, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let g = self.g;
        let hw = g.h * g.w;
        let per = g.oh() * g.ow();
        let Some(keep) = &self.argmax else {
            candle_core::bail!("maxpool: backward of an evaluation-mode pool");
        };
        let argmax = locked(keep, "maxpool")?;
        let out = with_f32(grad_res, |grad| {
            if argmax.len() != grad.len() {
                candle_core::bail!("maxpool: backward without a forward pass");
            }
            let mut out = vec![0f32; arg.elem_count()];
            for ((o, gp), idx) in out
                .chunks_exact_mut(hw.max(1))
                .zip(grad.chunks_exact(per.max(1)))
                .zip(argmax.chunks_exact(per.max(1)))
            {
                for (&d, &j) in gp.iter().zip(idx) {
                    o[j as usize] += d;
                }
            }
            Ok(out)
        })?;
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
        locked(&self.stats, "batchnorm")
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
            let mut appended = vec![7.0f32];
            im2col_to(&g, &x, &mut appended);
            assert_eq!(appended[0], 7.0, "appends after what is there");
            let cols = appended.split_off(1);
            assert_eq!(cols.len(), (g.ckk() + 1) * p);
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
            col2im_image(&g, &mut c.clone(), &mut back);
            let lhs: f64 = cols[..g.ckk() * p]
                .iter()
                .zip(&c)
                .map(|(a, b)| f64::from(a * b))
                .sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| f64::from(a * b)).sum();
            assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
        }
    }

    #[test]
    fn transpose_is_the_transpose() {
        for (rows, cols) in [
            (0, 3),
            (1, 1),
            (7, 3),
            (8, 16),
            (49, 32),
            (196, 16),
            (17, 5),
        ] {
            let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let mut dst = vec![-1f32; rows * cols];
            transpose(&src, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * rows + r], src[r * cols + c], "{rows}×{cols}");
                }
            }
        }
    }

    /// The flat im2col and col2im (stride 1, `OW = W`) equal the row-by-row ones exactly,
    /// for symmetric and one-sided pads, kernels larger than the plane and 1×1 planes.
    #[test]
    fn flat_paths_equal_the_row_paths() {
        for (c, h, w, k, pad) in [
            (2, 5, 6, [3, 3], [1, 1, 1, 1]),
            (1, 4, 4, [3, 3], [0, 0, 2, 2]),
            (2, 4, 5, [3, 3], [2, 2, 0, 0]),
            (1, 2, 3, [5, 5], [2, 2, 2, 2]),
            (3, 3, 3, [1, 1], [0; 4]),
            (2, 4, 3, [3, 1], [1, 0, 1, 0]),
            (2, 3, 4, [2, 3], [1, 1, 0, 1]),
            (1, 1, 1, [3, 3], [1, 1, 1, 1]),
            (2, 1, 4, [3, 3], [2, 1, 0, 1]),
        ] {
            let g = Window {
                c,
                h,
                w,
                k,
                s: [1, 1],
                pad,
            };
            assert!(flat(&g), "{k:?} {pad:?}");
            let x: Vec<f32> = (0..c * h * w).map(|i| (i as f32 * 0.37).sin()).collect();
            let (mut a, mut b) = (vec![5.0f32], vec![5.0f32]);
            im2col_flat(&g, &x, &mut a);
            im2col_rows(&g, &x, &mut b);
            assert_eq!(a, b, "im2col {c}×{h}×{w} {k:?} {pad:?}");
            let n = g.ckk() * g.oh() * g.ow();
            let cols: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let (mut da, mut db) = (vec![9.0f32; x.len()], vec![9.0f32; x.len()]);
            col2im_flat(&g, &mut cols.clone(), &mut da);
            col2im_rows(&g, &cols, &mut db);
            assert_eq!(da, db, "col2im {c}×{h}×{w} {k:?} {pad:?}");
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

    /// Gradients of `loss = Σ y · probe` through `op_y(x, w, b)` and through the reference
    /// `ref_y(x, w, b)` made of candle's own ops, for x, w and b.
    fn compare_grads(
        x: Vec<f32>,
        xs: &[usize],
        w: Vec<f32>,
        ws: &[usize],
        bias: Vec<f32>,
        op_y: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>,
        ref_y: impl Fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>,
    ) -> Result<()> {
        let dev = Device::Cpu;
        let bn = bias.len();
        let x = Var::from_vec(x, xs, &dev)?;
        let w = Var::from_vec(w, ws, &dev)?;
        let b = Var::from_vec(bias, bn, &dev)?;
        let y = op_y(x.as_tensor(), w.as_tensor(), b.as_tensor())?;
        let yr = ref_y(x.as_tensor(), w.as_tensor(), b.as_tensor())?;
        assert_eq!(y.dims(), yr.dims());
        let count = y.elem_count();
        let probe = Tensor::from_vec(
            (0..count)
                .map(|i| ((i * 13) % 7) as f32 * 0.25 - 0.7)
                .collect::<Vec<_>>(),
            y.dims(),
            &dev,
        )?;
        let (yv, yrv) = (
            y.flatten_all()?.to_vec1::<f32>()?,
            yr.flatten_all()?.to_vec1::<f32>()?,
        );
        for (p, q) in yv.iter().zip(&yrv) {
            assert!((p - q).abs() < 1e-4, "forward {p} vs {q}");
        }
        let g = (y * &probe)?.sum_all()?.backward()?;
        let gr = (yr * &probe)?.sum_all()?.backward()?;
        for (name, v) in [("x", &x), ("w", &w), ("b", &b)] {
            let a = g.get(v).unwrap().flatten_all()?.to_vec1::<f32>()?;
            let r = gr.get(v).unwrap().flatten_all()?.to_vec1::<f32>()?;
            assert_eq!(a.len(), r.len());
            for (p, q) in a.iter().zip(&r) {
                assert!(
                    (p - q).abs() < 1e-4 * (1.0 + q.abs()),
                    "d{name}: {a:?} vs {r:?}"
                );
            }
        }
        Ok(())
    }

    fn ramp(n: usize, k: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * k) % 11) as f32 * 0.2 - 1.0).collect()
    }

    /// The fused convolution against im2col and a batched product through candle's autodiff,
    /// with strides and asymmetric padding.
    #[test]
    fn conv_gradients_match_autodiff() -> Result<()> {
        for (k, s, pad) in [
            ([3, 3], [1, 1], [1, 1, 1, 1]),
            ([3, 2], [2, 1], [1, 0, 0, 2]),
            ([1, 1], [2, 2], [0; 4]),
        ] {
            let (n, c, h, wd, out) = (2, 3, 5, 6, 4);
            let g = Window {
                c,
                h,
                w: wd,
                k,
                s,
                pad,
            };
            let ckk = g.ckk();
            for keep in [false, true] {
                compare_grads(
                    ramp(n * c * h * wd, 7),
                    &[n, c, h, wd],
                    ramp(out * ckk, 5),
                    &[out, c, k[0], k[1]],
                    ramp(out, 3),
                    |x, w, b| {
                        let cols = keep.then(Arc::default);
                        x.apply_op3(
                            w,
                            b,
                            ConvTrain {
                                g,
                                out,
                                cols,
                                relu: false,
                            },
                        )
                    },
                    |x, w, b| {
                        let cols = x.apply_op1(Im2Col(g))?;
                        let wm = Tensor::cat(&[&w.reshape((out, ckk))?, &b.reshape((out, 1))?], 1)?;
                        wm.broadcast_as((n, out, ckk + 1))?.matmul(&cols)?.reshape((
                            n,
                            out,
                            g.oh(),
                            g.ow(),
                        ))
                    },
                )?;
            }
        }
        Ok(())
    }

    /// A convolution with a fused ReLU against the convolution followed by the ReLU op:
    /// the same outputs and gradients, exactly.
    #[test]
    fn fused_relu_equals_conv_then_relu() -> Result<()> {
        let (n, c, h, wd, out) = (2, 3, 5, 6, 4);
        let g = Window {
            c,
            h,
            w: wd,
            k: [3, 3],
            s: [1, 1],
            pad: [1, 1, 1, 1],
        };
        let dev = Device::Cpu;
        // weights of both signs, so that about half of the outputs are clamped
        let w0: Vec<f32> = (0..out * g.ckk())
            .map(|i| ((i * 7) % 11) as f32 * 0.1 - 0.5)
            .collect();
        let x0 = ramp(n * c * h * wd, 7);
        let mut outs = Vec::new();
        for fused in [true, false] {
            let x = Var::from_vec(x0.clone(), (n, c, h, wd), &dev)?;
            let w = Var::from_vec(w0.clone(), (out, c, 3, 3), &dev)?;
            let b = Var::from_vec(vec![0.1f32, -0.2, 0.05, 0.0], out, &dev)?;
            let op = |relu| ConvTrain {
                g,
                out,
                cols: Some(Arc::default()),
                relu,
            };
            let y = if fused {
                x.as_tensor()
                    .apply_op3(w.as_tensor(), b.as_tensor(), op(true))?
            } else {
                x.as_tensor()
                    .apply_op3(w.as_tensor(), b.as_tensor(), op(false))?
                    .apply_op1(Relu)?
            };
            let probe = Tensor::from_vec(
                (0..y.elem_count())
                    .map(|i| ((i * 13) % 7) as f32 * 0.25 - 0.7)
                    .collect::<Vec<_>>(),
                y.dims(),
                &dev,
            )?;
            let grads = (&y * &probe)?.sum_all()?.backward()?;
            let mut all = vec![y.flatten_all()?.to_vec1::<f32>()?];
            for v in [&x, &w, &b] {
                all.push(grads.get(v).unwrap().flatten_all()?.to_vec1::<f32>()?);
            }
            outs.push(all);
        }
        assert!(outs[0][0].contains(&0.0) && outs[0][0].iter().any(|&v| v > 0.0));
        assert_eq!(outs[0], outs[1]);
        Ok(())
    }

    #[test]
    fn dense_gradients_match_autodiff() -> Result<()> {
        let (n, fin, out) = (3, 7, 5);
        compare_grads(
            ramp(n * fin, 7),
            &[n, fin],
            ramp(out * fin, 5),
            &[out, fin],
            ramp(out, 3),
            |x, w, b| x.apply_op3(w, b, DenseTrain),
            |x, w, b| x.matmul(&w.t()?)?.broadcast_add(b),
        )
    }

    /// ReLU passes the gradient where the output is positive (as PyTorch does; at exactly 0
    /// the gradient is 0).
    #[test]
    fn relu_forward_and_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_vec(vec![-1.0f32, 0.0, 0.5, 2.0], 4, &dev)?;
        let y = x.as_tensor().apply_op1(Relu)?;
        assert_eq!(y.to_vec1::<f32>()?, vec![0.0, 0.0, 0.5, 2.0]);
        let probe = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], 4, &dev)?;
        let g = (y * probe)?.sum_all()?.backward()?;
        assert_eq!(
            g.get(&x).unwrap().to_vec1::<f32>()?,
            vec![0.0, 0.0, 3.0, 4.0]
        );
        Ok(())
    }

    /// Max pooling against the definition, for adjacent and overlapping windows: each output
    /// is its window's maximum, and its gradient goes to that maximum's input.
    #[test]
    fn maxpool_forward_and_gradient() -> Result<()> {
        let dev = Device::Cpu;
        let (n, c, h, w) = (2, 3, 6, 7);
        let xs: Vec<f32> = (0..n * c * h * w)
            .map(|i| ((i * 37) % 101) as f32 * 0.1 - 5.0)
            .collect();
        let x = Var::from_vec(xs.clone(), (n, c, h, w), &dev)?;
        for (k, st) in [([2, 2], [2, 2]), ([3, 3], [2, 2]), ([2, 3], [1, 2])] {
            let g = Window {
                c,
                h,
                w,
                k,
                s: st,
                pad: [0; 4],
            };
            let y = x.as_tensor().apply_op1(MaxPool::new(g, true))?;
            let yv = y.flatten_all()?.to_vec1::<f32>()?;
            let probe: Vec<f32> = (0..yv.len()).map(|i| i as f32 + 1.0).collect();
            let pt = Tensor::from_vec(probe.clone(), y.dims(), &dev)?;
            let d = (y * pt)?.sum_all()?.backward()?;
            let dv = d.get(&x).unwrap().flatten_all()?.to_vec1::<f32>()?;
            let (oh, ow) = (g.oh(), g.ow());
            let mut want = vec![0f32; xs.len()];
            for p in 0..n * c {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut best = p * h * w + oy * st[0] * w + ox * st[1];
                        for ky in 0..k[0] {
                            for kx in 0..k[1] {
                                let i = p * h * w + (oy * st[0] + ky) * w + ox * st[1] + kx;
                                if xs[i] > xs[best] {
                                    best = i;
                                }
                            }
                        }
                        let o = (p * oh + oy) * ow + ox;
                        assert_eq!(yv[o], xs[best], "{k:?}/{st:?} output {o}");
                        want[best] += probe[o];
                    }
                }
            }
            assert_eq!(dv, want, "{k:?}/{st:?}");
        }
        Ok(())
    }
}
