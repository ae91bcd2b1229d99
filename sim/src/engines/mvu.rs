//! `inq_mvu` (`docs/hardware.md` §4, depthwise §4.2): conv, depthwise conv and dense layers.
//! Owns the MVU's registers and compute side (window, lanes as one lazy dot product per PE,
//! `obuf`/`pending` emission, requantizer), the checks of its parameters (folding, weight
//! codes, the accumulator bound, shifts and widths) and its conversion from the design's ROM
//! order into per-channel multiplier rows.
//!
//! Depends on the engine interface (`api.rs`), `inside.rs`, the decoupled loop (`loops.rs`)
//! and the leaves. Not here: the line-buffer input side (`inside.rs`), the decoupled run's
//! loop (`loops.rs`, `run_windowed`), the arithmetic rules (`inq_model::numerics`).

use inq_hdl::{Mvu as MvuParams, MvuOutput};
use inq_model::numerics::{self, Weight};
use inq_model::{ActFormat, WeightKind};

use super::api::{clog2, range_of, BuildCx, Built, Io, PortSpec, ProbeSignal, RunCx, SimEngine};
use super::inside::{self, check_geometry, InSide, Windowed};
use super::loops::run_windowed;
use crate::activity::{Kind, Quiet};
use crate::error::SimError;

/// What an MVU emits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OutMode {
    Act { fmt: ActFormat, relu: bool },
    Logits,
}

/// Where a pixel's window lies in an engine's line buffer: `rowbase` per `ky` (−1 for a
/// padding row), `x0 = ox·sw − pl`, the map width `w` and channels `c`, `kw` taps per row.
struct Window<'a> {
    lb: &'a [i64],
    rowbase: &'a [isize],
    x0: isize,
    w: isize,
    c: usize,
    kw: usize,
    pad: i64,
}

impl Window<'_> {
    /// The window in window order `(ky, kx, c)`, each value through `conv`, into `dst`
    /// (`pad` outside the map).
    #[inline(always)]
    fn copy_into<T: Copy>(&self, dst: &mut [T], conv: impl Fn(i64) -> T) {
        let c = self.c;
        let kwc = self.kw * c;
        let pad = conv(self.pad);
        let copy = |d: &mut [T], src: &[i64]| {
            for (d, &v) in d.iter_mut().zip(src) {
                *d = conv(v);
            }
        };
        for (row, &rb) in dst.chunks_exact_mut(kwc).zip(self.rowbase) {
            if rb < 0 {
                row.fill(pad);
                continue;
            }
            if self.x0 >= 0 && self.x0 + (self.kw as isize) <= self.w {
                let src = rb as usize + self.x0 as usize * c;
                copy(row, &self.lb[src..src + kwc]);
                continue;
            }
            for (kx, d) in row.chunks_exact_mut(c).enumerate() {
                let ix = self.x0 + kx as isize;
                if ix < 0 || ix >= self.w {
                    d.fill(pad);
                } else {
                    let src = rb as usize + ix as usize * c;
                    copy(d, &self.lb[src..src + c]);
                }
            }
        }
    }
}

/// One output channel's requantization as one add, two shifts and a clamp:
/// `clamp(((v + add) << left) >> right, lo, hi)` equals `requant(v + bias, ch)` of the model's
/// numerics (`add = bias + 2^(r−1)` and `right = r` for a shift `r > 0`, `add = bias` and
/// `left = −r` otherwise; ReLU folded into `lo`; logits unclamped). Precomputed per channel
/// so that a wide output beat is requantized in one tight loop, without a call per word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requant {
    add: i64,
    left: u32,
    right: u32,
    lo: i64,
    hi: i64,
}

impl Requant {
    /// The table entry of a channel with `bias`, shift `r` (validated: `−62 ≤ r ≤ 62`) and
    /// output `mode`.
    fn new(bias: i64, r: i32, mode: OutMode) -> Self {
        let (add, left, right) = if r > 0 {
            (bias.wrapping_add(1i64 << (r - 1)), 0, r as u32)
        } else {
            (bias, r.unsigned_abs(), 0)
        };
        let (lo, hi) = match mode {
            OutMode::Act { fmt, relu } => {
                let lo = if relu { fmt.min().max(0) } else { fmt.min() };
                (lo, fmt.max())
            }
            OutMode::Logits => (i64::MIN, i64::MAX),
        };
        Requant {
            add,
            left,
            right,
            lo,
            hi,
        }
    }

    /// The output word of accumulator value `v` (before the bias).
    #[inline(always)]
    fn apply(&self, v: i64) -> i64 {
        ((v.wrapping_add(self.add) << self.left) >> self.right).clamp(self.lo, self.hi)
    }
}

/// A decoded weight as the integer it multiplies by: `±2^k`, `q`, or 0. `x · multiplier(w)` equals
/// [`numerics::product`]`(x, w)` whenever the product fits an `i64` (the design validation
/// guarantees that every partial sum fits `ACC_W ≤ 62` bits; tested below).
pub(crate) fn multiplier(w: Weight) -> i64 {
    match w {
        Weight::Zero => 0,
        Weight::Int(q) => q,
        Weight::Pow2 { negative, index } => {
            let m = 1i64 << index.min(62);
            if negative {
                -m
            } else {
                m
            }
        }
    }
}

/// An MVU's weights as multipliers ([`multiplier`]), in the narrowest integer type in which
/// every dot product is exact: `i32` when `ACC_W ≤ 32` (every partial sum, and hence every
/// product and every multiplier met with a non-zero input bound, fits; a lane value that does
/// not fit only ever meets a zero multiplier, and wrapping arithmetic keeps that product 0),
/// `i64` otherwise (`ACC_W ≤ 62`). `i16` operands with `i32` sums (two products per `i32` lane
/// of AVX2's `vpmaddwd`, twice as many per instruction as `i32`) when moreover every input
/// value (and the padding value) and every multiplier lies in `[−2^14, 2^14]`, so that
/// every product and every pair of products fits `i32`: the sums are those of the `i32`
/// path.
#[derive(Debug, Clone)]
pub(crate) enum Mults {
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

/// `Σ w[j]·x[j]` of `i16` operands in wrapping `i32` arithmetic (see [`Mults::I16`]).
#[inline]
fn dot16(w: &[i16], x: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if w.len() >= 32 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `dot16_avx2` only requires AVX2, which the running CPU has (checked above).
        return unsafe { dot16_avx2(w, x) };
    }
    dot16_body(w, x)
}

#[inline(always)]
fn dot16_body(w: &[i16], x: &[i16]) -> i32 {
    w.iter().zip(x).fold(0i32, |s, (&a, &b)| {
        s.wrapping_add(i32::from(a) * i32::from(b))
    })
}

/// [`dot16`] with `vpmaddwd`: 16 products per instruction, summed pairwise into eight `i32`
/// lanes, then across the lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot16_avx2(w: &[i16], x: &[i16]) -> i32 {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_setzero_si256,
        _mm256_storeu_si256,
    };
    let n = w.len().min(x.len());
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut acc0 = _mm256_setzero_si256();
    let mut acc1 = _mm256_setzero_si256();
    let mut i = 0;
    // SAFETY (every load): `i + 16 ≤ n` (resp. `i + 32 ≤ n`) elements are in both slices, and
    // `loadu` takes unaligned addresses.
    while i + 32 <= n {
        let a0 = _mm256_loadu_si256(wp.add(i).cast::<__m256i>());
        let b0 = _mm256_loadu_si256(xp.add(i).cast::<__m256i>());
        let a1 = _mm256_loadu_si256(wp.add(i + 16).cast::<__m256i>());
        let b1 = _mm256_loadu_si256(xp.add(i + 16).cast::<__m256i>());
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, b1));
        i += 32;
    }
    if i + 16 <= n {
        let a0 = _mm256_loadu_si256(wp.add(i).cast::<__m256i>());
        let b0 = _mm256_loadu_si256(xp.add(i).cast::<__m256i>());
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, b0));
        i += 16;
    }
    let mut lanes = [0i32; 8];
    // SAFETY: `lanes` is 32 bytes, `storeu` takes an unaligned address.
    _mm256_storeu_si256(
        lanes.as_mut_ptr().cast::<__m256i>(),
        _mm256_add_epi32(acc0, acc1),
    );
    let s = lanes.iter().fold(0i32, |a, &b| a.wrapping_add(b));
    s.wrapping_add(dot16_body(&w[i..n], &x[i..n]))
}

/// `Σ w[j]·x[j]` in wrapping `i64` arithmetic, exact when every partial sum fits (§6 bound);
/// the order of the additions then does not matter.
#[inline(always)]
fn dot_body<T>(w: &[T], x: &[T]) -> T
where
    T: Copy + Default + WrappingOps,
{
    const L: usize = 16;
    let mut a = [T::default(); L];
    let (wc, xc) = (w.chunks_exact(L), x.chunks_exact(L));
    let (wr, xr) = (wc.remainder(), xc.remainder());
    for (wl, xl) in wc.zip(xc) {
        for l in 0..L {
            a[l] = a[l].wadd(wl[l].wmul(xl[l]));
        }
    }
    let mut s = T::default();
    for v in a {
        s = s.wadd(v);
    }
    for (&wv, &xv) in wr.iter().zip(xr) {
        s = s.wadd(wv.wmul(xv));
    }
    s
}

/// Wrapping `+` and `·` for [`dot_body`].
trait WrappingOps {
    fn wadd(self, o: Self) -> Self;
    fn wmul(self, o: Self) -> Self;
}

impl WrappingOps for i32 {
    #[inline(always)]
    fn wadd(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn wmul(self, o: Self) -> Self {
        self.wrapping_mul(o)
    }
}

impl WrappingOps for i64 {
    #[inline(always)]
    fn wadd(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn wmul(self, o: Self) -> Self {
        self.wrapping_mul(o)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_avx2<T: Copy + Default + WrappingOps>(w: &[T], x: &[T]) -> T {
    dot_body(w, x)
}

/// `Σ w[j]·x[j]` (see [`dot_body`]), vectorized with AVX2 where the CPU has it (and the
/// vectors are long enough for it to pay).
#[inline]
fn dot<T: Copy + Default + WrappingOps>(w: &[T], x: &[T]) -> T {
    #[cfg(target_arch = "x86_64")]
    if w.len() >= 32 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `dot_avx2` only requires AVX2, which the running CPU has (checked above).
        return unsafe { dot_avx2(w, x) };
    }
    dot_body(w, x)
}

/// `out[p] = dot(rows[p], x)` for the `k`-element rows of `rows`; depthwise, against `x`'s own
/// `k` elements at `range` (`x` in channel-major order) instead of the whole window.
#[inline(always)]
fn dots_of<T>(
    out: &mut [i64],
    rows: &[T],
    x: &[T],
    range: std::ops::Range<usize>,
    k: usize,
    depthwise: bool,
    dot: impl Fn(&[T], &[T]) -> i64,
) {
    if depthwise {
        let xs = x[range].chunks_exact(k);
        for ((o, row), x) in out.iter_mut().zip(rows.chunks_exact(k)).zip(xs) {
            *o = dot(row, x);
        }
    } else {
        for (o, row) in out.iter_mut().zip(rows.chunks_exact(k)) {
            *o = dot(row, x);
        }
    }
}

/// `out[r] = Σ_j rows[r·k + j]·x[j]` (wrapping `i32`, see [`Mults::I16`]) for rows of `k`
/// `i16` multipliers: four rows at a time against one load of `x` per 16 taps, their sums
/// reduced together (the last `k mod 16` taps one by one); the rows left over through
/// [`dot16`]. `dots_into` takes it for rows of at least [`SHORT_ROW`] taps.
///
/// # Safety
/// The running CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots16_rows_avx2(out: &mut [i64], rows: &[i16], x: &[i16], k: usize) {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_extracti128_si256,
        _mm256_hadd_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_setzero_si256,
        _mm_add_epi32, _mm_storeu_si128,
    };
    assert!(x.len() >= k && rows.len() >= out.len() * k);
    let body = k / 16 * 16;
    let done = out.len() / 4 * 4;
    let mut quads = out.chunks_exact_mut(4);
    for (q, o4) in (&mut quads).enumerate() {
        let r = &rows[q * 4 * k..][..4 * k];
        let p = [0, 1, 2, 3].map(|j| r[j * k..].as_ptr());
        let xp = x.as_ptr();
        let mut a = [_mm256_setzero_si256(); 4];
        let mut i = 0;
        // SAFETY (every load): `i + 16 ≤ k` elements are in `x` and in each of the four rows
        // (asserted above); `loadu` takes unaligned addresses.
        while i < body {
            let xv = _mm256_loadu_si256(xp.add(i).cast::<__m256i>());
            for (a, p) in a.iter_mut().zip(p) {
                let w = _mm256_loadu_si256(p.add(i).cast::<__m256i>());
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(w, xv));
            }
            i += 16;
        }
        let [a0, a1, a2, a3] = a;
        // lanes of `h`: row 0, 1, 2, 3 sums of each 128-bit half, then the halves added
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        let s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
        let mut lanes = [0i32; 4];
        // SAFETY: `lanes` is 16 bytes, `storeu` takes an unaligned address.
        _mm_storeu_si128(lanes.as_mut_ptr().cast::<__m128i>(), s);
        for (j, o) in o4.iter_mut().enumerate() {
            let tail = dot16_body(&r[j * k + body..(j + 1) * k], &x[body..k]);
            *o = i64::from(lanes[j].wrapping_add(tail));
        }
    }
    for (j, o) in quads.into_remainder().iter_mut().enumerate() {
        let row = &rows[(done + j) * k..][..k];
        *o = i64::from(dot16(row, &x[..k]));
    }
}

/// Rows shorter than this use the transposed `i16` layout ([`Pairs16`]) when AVX2 is there.
#[cfg(target_arch = "x86_64")]
const SHORT_ROW: usize = 32;

/// An engine's `i16` multipliers transposed for rows shorter than [`SHORT_ROW`], where
/// [`dot16`] would take one row at a time without its vector path: for neuron fold `nf`, group
/// `g` of eight PEs and tap pair `t`, the 16 values `w[p][2t], w[p][2t + 1]` for the eight PEs
/// `p` of the group (zero past the row's end or the last PE). One `vpmaddwd` against the
/// broadcast pair `x[2t], x[2t + 1]` adds two taps to eight PEs' sums.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone)]
pub(crate) struct Pairs16 {
    w: Vec<i16>,
    /// Tap pairs per row, `⌈k/2⌉`.
    pairs: usize,
    /// Groups of eight PEs, `⌈PE/8⌉`.
    groups: usize,
}

#[cfg(target_arch = "x86_64")]
impl Pairs16 {
    /// The layout of `w` (rows of `k` multipliers, `nf·PE + p` the row of PE `p` in fold `nf`).
    fn new(w: &[i16], k: usize, pe: usize, nfn: usize) -> Self {
        let pairs = k.div_ceil(2);
        let groups = pe.div_ceil(8);
        let mut t = vec![0i16; nfn * groups * pairs * 16];
        for nf in 0..nfn {
            for p in 0..pe {
                let row = &w[(nf * pe + p) * k..][..k];
                let (g, l) = (p / 8, p % 8);
                for (j, &v) in row.iter().enumerate() {
                    t[((nf * groups + g) * pairs + j / 2) * 16 + 2 * l + j % 2] = v;
                }
            }
        }
        Pairs16 {
            w: t,
            pairs,
            groups,
        }
    }

    /// `out[p] = Σ_j w[nf·PE + p][j]·x[j]` in wrapping `i32` arithmetic (see [`Mults::I16`]),
    /// for `x` of at least `2·pairs` values (the last one 0 when `k` is odd).
    ///
    /// # Safety
    /// The running CPU has AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn dots_avx2(&self, out: &mut [i64], nf: usize, x: &[i16]) {
        use std::arch::x86_64::{
            __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_set1_epi32,
            _mm256_setzero_si256, _mm256_storeu_si256,
        };
        let pairs = self.pairs;
        assert!(x.len() >= 2 * pairs);
        for (g, out) in out.chunks_mut(8).enumerate() {
            let w = &self.w[(nf * self.groups + g) * pairs * 16..][..pairs * 16];
            let mut acc = _mm256_setzero_si256();
            for (t, wt) in w.chunks_exact(16).enumerate() {
                let pair = i32::from(x[2 * t] as u16) | (i32::from(x[2 * t + 1] as u16) << 16);
                // SAFETY: `wt` holds 16 `i16` (32 bytes); `loadu` takes an unaligned address.
                let wv = _mm256_loadu_si256(wt.as_ptr().cast::<__m256i>());
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(wv, _mm256_set1_epi32(pair)));
            }
            let mut lanes = [0i32; 8];
            // SAFETY: `lanes` is 32 bytes, `storeu` takes an unaligned address.
            _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), acc);
            for (o, &v) in out.iter_mut().zip(&lanes) {
                *o = i64::from(v);
            }
        }
    }
}

/// How an engine with [`Mults::I16`] computes its dot products, chosen once when it is built:
/// with AVX2 and not depthwise, rows shorter than [`SHORT_ROW`] transposed ([`Pairs16`]) and
/// longer ones four at a time ([`dots16_rows_avx2`]); otherwise row by row ([`dot16`]).
#[derive(Debug, Clone)]
pub(crate) enum Dots16 {
    RowByRow,
    #[cfg(target_arch = "x86_64")]
    Pairs(Pairs16),
    #[cfg(target_arch = "x86_64")]
    FourRows,
}

/// `inq_mvu` (§4, §4.2).
///
/// **Lazy arithmetic.** The lanes' partial sums `acc` are not observable (only `obuf`, through
/// the output stream), so the simulator does not accumulate them cycle by cycle: the cycle of
/// the *last* synapse fold of a neuron fold computes the whole dot products
/// `obuf[p] = Σ_j W[nf·PE + p][j] · x_j` over the window at once, and the other `SF − 1`
/// cycles of the fold only advance `sf`. This is exact because the window of an output pixel
/// cannot change while the pixel is computed: the input side writes only rows `< lim =
/// NR + max(0, lo)` of the compute image (rows `≥ need`, since `iy ≥ need` while computing)
/// or next-image rows `H + r < lim`, and the rows of `[max(0, lo), max(0, lo) + NR)` occupy
/// distinct slots, while the window's rows lie in `[max(0, lo), need)`. So the values every
/// synapse fold of the pixel would have read are still in the line buffer at its last fold.
/// The window is gathered once per pixel (`win`, valid while `(oy, ox)` stays).
///
/// A **depthwise** engine (`NF = C/PE`, `SF = kh·kw`, PE `p` reads channel `nf·PE + p`)
/// computes each PE's dot product over the `kh·kw` taps of its own channel only: the window is
/// gathered once per pixel and transposed to channel-major order.
///
/// A constant-weight engine with **pipeline registers** (`D = Mvu::pipeline > 0`, §4.1)
/// computes its dot products at the fire and carries them through `D` slots (the register
/// stages, all of which advance together when the last one is empty or `obuf` frees) into
/// `obuf`; the intermediate sums of the RTL's stages are not observable, only when each
/// result reaches `obuf`. A ROM-fed engine with **datapath registers** (`Mvu::data_regs`,
/// §4) and with **read registers** (`Mvu::read_regs`) is the same with `D` = the number of
/// them (1 or 2), where only a pixel's last fold occupies a slot (its earlier folds' sums
/// reach the accumulator without holding anything back). Weight registers
/// (`Mvu::weight_regs`) move where the ROM words wait, not when: nothing to simulate.
#[derive(Debug, Clone)]
pub(crate) struct Mvu {
    // parameters
    pub c: usize,
    pub w: usize,
    pub kh: isize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub pt: isize,
    pub pl: isize,
    pub oc: usize,
    pub oh: usize,
    pub ow: usize,
    pub nr: usize,
    pub pe: usize,
    pub nfn: usize,
    pub sfn: usize,
    /// Multipliers per output channel: `kh·kw·C`, or `kh·kw` depthwise.
    pub k: usize,
    pub depthwise: bool,
    /// Weights as multipliers, index `o·k + j`: one contiguous row per output channel `o`,
    /// `j` the window index (`(ky·kw + kx)·C + c`, or `ky·kw + kx` depthwise).
    pub wmul: Mults,
    /// Per output channel: bias, shift and output format as one [`Requant`].
    rq: Vec<Requant>,
    pad_value: i64,
    // functions of `oy` (and `ox`), cached when it changes
    lo: isize,
    need: isize,
    lim: isize,
    /// per `ky`: line-buffer offset of input row `lo + ky`, or -1 when it is padding
    rowbase: Vec<isize>,
    /// `ox·sw − pl`
    x0: isize,
    /// The window of the current pixel in window order `(ky, kx, c)`: the dot products'
    /// operand with [`Mults::I64`], the staging of a depthwise engine's (empty otherwise).
    win: Vec<i64>,
    /// The dot products' operand (valid when `win_valid`): the window as `i16` or `i32` (with
    /// [`Mults::I16`], [`Mults::I32`]); depthwise, in channel-major order `(c, ky, kx)` (as
    /// `i16`, `i32` or `i64`).
    x16: Vec<i16>,
    /// How the `i16` dot products are computed ([`Mults::I16`] only).
    dots16: Dots16,
    x32: Vec<i32>,
    x64: Vec<i64>,
    win_valid: bool,
    // registers
    pub inp: InSide,
    pub oy: usize,
    pub ox: usize,
    pub nf: usize,
    pub sf: usize,
    pub obuf: Vec<i64>,
    pub pending: usize,
    pub ch: usize,
    pub out_valid: bool,
    pub out_data: i64,
    /// Elements per output beat `KO` (§4.3): the emission sends `KO` results per beat,
    /// `pending` counts beats.
    ko: usize,
    /// The output beat when `KO > 1` (`out_data` is its first element).
    out_wide: Vec<i64>,
    /// Elements per input beat `KI`.
    ki: usize,
    /// Pipeline registers `D` (0: `obuf` loads at the fire).
    pipe_len: usize,
    /// The `D` register stages as a ring: stage `i` (1-based) is slot `(pipe_head + i − 1) %
    /// D`; each slot holds a fired window's `PE` results and whether it holds one.
    pipe_valid: Vec<bool>,
    pipe_data: Vec<Vec<i64>>,
    pipe_head: usize,
    /// Slots holding a window.
    pipe_count: usize,
}

impl Mvu {
    /// Sets `oy` and the values derived from it.
    fn set_oy(&mut self, oy: usize) {
        self.oy = oy;
        self.win_valid = false;
        let lo = (oy * self.sh) as isize - self.pt;
        let h = self.inp.h as isize;
        self.lo = lo;
        self.need = h.min(lo + self.kh);
        self.lim = self.nr as isize + lo.max(0);
        let row_len = (self.w * self.c) as isize;
        let base = self.inp.base as isize;
        for (ky, rb) in self.rowbase.iter_mut().enumerate() {
            let r = lo + ky as isize;
            *rb = if r < 0 || r >= h {
                -1
            } else {
                ((base + r) % self.nr as isize) * row_len
            };
        }
    }

    /// Sets `ox` and `x0 = ox·sw − pl`.
    fn set_ox(&mut self, ox: usize) {
        self.ox = ox;
        self.win_valid = false;
        self.x0 = (ox * self.sw) as isize - self.pl;
    }

    /// comb `in_ready` (`lim = NR + max(0, lo)`, `lo = oy·sh − pt`).
    #[inline(always)]
    pub fn in_ready(&self) -> bool {
        self.inp.in_ready(self.lim)
    }

    /// comb `fire` given the downstream `out_ready`.
    #[inline(always)]
    pub fn fire(&self, out_ready: bool) -> bool {
        if self.pipe_len > 0 {
            self.avail() && self.adv(out_ready)
        } else {
            self.avail() && (self.sf + 1 != self.sfn || self.obuf_free(out_ready))
        }
    }

    /// comb `obuf_free`: `obuf` is empty, or its last word leaves at this edge.
    #[inline(always)]
    fn obuf_free(&self, out_ready: bool) -> bool {
        let emit_go = !self.out_valid || out_ready;
        self.pending == 0 || (self.pending == 1 && emit_go)
    }

    /// comb `adv` (§4.1): the register stages advance, since the last one is empty or `obuf`
    /// frees.
    #[inline(always)]
    fn adv(&self, out_ready: bool) -> bool {
        !self.tail() || self.obuf_free(out_ready)
    }

    /// The ring slot of the last register stage.
    #[inline(always)]
    fn tail_slot(&self) -> usize {
        // `(pipe_head + D − 1) % D` without a division (`pipe_head < D`)
        if self.pipe_head == 0 {
            self.pipe_len - 1
        } else {
            self.pipe_head - 1
        }
    }

    /// `pv[D−1]`: the last register stage holds a window (false without registers).
    #[inline(always)]
    fn tail(&self) -> bool {
        self.pipe_len > 0 && self.pipe_valid[self.tail_slot()]
    }

    /// Whether the register stages advance at the next edge: they hold a window and the last
    /// one is empty or `obuf` frees (`adv`).
    #[inline(always)]
    fn pipe_moves(&self, out_ready: bool) -> bool {
        self.pipe_count > 0 && self.adv(out_ready)
    }

    /// `!cdone && (ahead || iy >= need)`: the engine has the rows for its next compute cycle.
    #[inline(always)]
    pub fn avail(&self) -> bool {
        !self.inp.cdone && self.inp.rows_ok(self.need)
    }

    /// One rising edge. Returns `in_fire` and how the cycle counts.
    #[inline(always)]
    pub fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind) {
        self.update_beat(in_valid, std::slice::from_ref(&in_data), out_ready)
    }

    /// [`Mvu::update`] with an input beat of `KI` elements.
    #[inline(always)]
    pub fn update_beat(
        &mut self,
        in_valid: bool,
        in_data: &[i64],
        out_ready: bool,
    ) -> (bool, Kind) {
        let iy_old = self.inp.iy;
        let in_fire = in_valid && self.inp.in_ready(self.lim);
        let emit_go = !self.out_valid || out_ready;
        let emit_work = emit_go && (self.pending != 0 || self.out_valid);
        if !(in_fire
            || emit_work
            || self.inp.wraps()
            || self.fire(out_ready)
            || self.pipe_moves(out_ready))
        {
            // Nothing changes this cycle: no transfer in, no compute, no emission, no wrap,
            // no pipeline register moves.
            return (false, self.kind(out_ready));
        }
        let (kind, last_fire) = self.compute_side(out_ready);
        self.inp.update(in_fire, in_data, iy_old, last_fire);
        if last_fire {
            // after the input side moved `base` to the next image
            self.set_oy(0);
        }
        (in_fire, kind)
    }

    /// How the cycle counts: busy (`fire`), stalled (rows there, no fire) or idle.
    #[inline(always)]
    fn kind(&self, out_ready: bool) -> Kind {
        if self.fire(out_ready) {
            Kind::Busy
        } else if self.avail() {
            Kind::Stalled
        } else {
            Kind::Idle
        }
    }

    /// The compute and emission side of an edge (from the pre-edge registers of both sides;
    /// the input side is not touched). Returns how the cycle counts and `last_fire`.
    #[inline(always)]
    fn compute_side(&mut self, out_ready: bool) -> (Kind, bool) {
        let emit_go = !self.out_valid || out_ready;
        let last_sf = self.sf + 1 == self.sfn;
        let pending = self.pending;
        let avail = self.avail();
        let tail = self.tail();
        let adv = self.adv(out_ready);
        let fire = self.fire(out_ready);
        let kind = if fire {
            Kind::Busy
        } else if avail {
            Kind::Stalled
        } else {
            Kind::Idle
        };

        // Emission side (reads the pre-edge obuf and pending).
        if emit_go {
            self.out_valid = pending != 0;
            if pending != 0 && self.ko == 1 {
                let ch = self.ch;
                self.out_data = self.rq[ch].apply(self.obuf[self.pe - pending]);
                self.ch = if ch + 1 == self.oc { 0 } else { ch + 1 };
                self.pending = pending - 1;
            } else if pending != 0 {
                // a beat of `KO` words: `(PE/KO − pending)·KO + i`, channels `ch + i`
                let ko = self.ko;
                let first = (self.pe / ko - pending) * ko;
                let sums = &self.obuf[first..first + ko];
                let rq = &self.rq[self.ch..self.ch + ko];
                for ((o, &v), q) in self.out_wide.iter_mut().zip(sums).zip(rq) {
                    *o = q.apply(v);
                }
                self.out_data = self.out_wide[0];
                self.ch = if self.ch + ko == self.oc {
                    0
                } else {
                    self.ch + ko
                };
                self.pending = pending - 1;
            }
        }

        // The pipeline registers (§4.1) or the datapath register (§4): when they advance, the
        // last stage's pixel loads `obuf` (it holds one only when `obuf` frees) and the first
        // takes the fired one. Only a pixel's last fold is tracked: the other folds' sums
        // are not observable, and they never hold the stages back.
        let into = fire && last_sf;
        if self.pipe_len > 0 && adv && (into || self.pipe_count > 0) {
            let slot = self.tail_slot();
            if tail {
                std::mem::swap(&mut self.obuf, &mut self.pipe_data[slot]);
                self.pending = self.pe / self.ko;
                self.pipe_count -= 1;
            }
            if into {
                let mut buf = std::mem::take(&mut self.pipe_data[slot]);
                self.dots_into(&mut buf);
                self.pipe_data[slot] = buf;
                self.pipe_count += 1;
            }
            self.pipe_valid[slot] = into;
            self.pipe_head = slot;
        }

        // Compute side.
        let mut last_fire = false;
        if fire {
            // advance sf, nf, ox, oy
            if !last_sf {
                self.sf += 1;
            } else {
                if self.pipe_len == 0 {
                    let mut buf = std::mem::take(&mut self.obuf);
                    self.dots_into(&mut buf);
                    self.obuf = buf;
                    self.pending = self.pe / self.ko;
                }
                self.sf = 0;
                if self.nf + 1 != self.nfn {
                    self.nf += 1;
                } else {
                    self.nf = 0;
                    if self.ox + 1 != self.ow {
                        self.set_ox(self.ox + 1);
                    } else {
                        self.set_ox(0);
                        if self.oy + 1 != self.oh {
                            self.set_oy(self.oy + 1);
                        } else {
                            last_fire = true;
                        }
                    }
                }
            }
        }
        (kind, last_fire)
    }

    /// Whether the next edge's fire ends an output row (it changes `oy`, hence `lim`, or is
    /// `last_fire`): the compute side's only effect on the input side.
    #[inline(always)]
    fn row_end_next(&self, out_ready: bool) -> bool {
        self.sf + 1 == self.sfn
            && self.nf + 1 == self.nfn
            && self.ox + 1 == self.ow
            && self.fire(out_ready)
    }

    /// [`Mvu::quiet`] of the compute and emission side alone (no input, no wrap).
    #[inline]
    fn compute_quiet(&self, out_ready: bool) -> Option<Quiet> {
        let emit_go = !self.out_valid || out_ready;
        if emit_go && (self.pending != 0 || self.out_valid) {
            return None;
        }
        if self.pipe_len > 0 {
            // no emission work: the registers move (and a fire may come) unless the last
            // stage waits for `obuf`
            return if !self.adv(out_ready) {
                Some(Quiet::Frozen {
                    stalled: self.avail(),
                })
            } else if self.pipe_count == 0 && !self.avail() {
                Some(Quiet::Frozen { stalled: false })
            } else if self.pipe_count == 0 && self.sf + 1 != self.sfn {
                // a ROM-fed engine's non-final folds pass its empty datapath register
                Some(Quiet::Folding(self.sfn - 1 - self.sf))
            } else {
                None
            };
        }
        if !self.avail() {
            return Some(Quiet::Frozen { stalled: false });
        }
        if self.sf + 1 == self.sfn {
            // fire needs obuf_free; with no emission work, pending == 0 unless blocked.
            return if self.obuf_free(out_ready) {
                None
            } else {
                Some(Quiet::Frozen { stalled: true })
            };
        }
        Some(Quiet::Folding(self.sfn - 1 - self.sf))
    }

    /// How this engine would behave at the next edge if its neighbours' signals stayed
    /// constant: [`Quiet::Frozen`] (no register but the counters changes), [`Quiet::Folding`]
    /// (only `sf` advances, for the returned number of cycles at most), or `None`. In both
    /// quiet states `in_ready` stays constant.
    #[inline]
    pub fn quiet(&self, in_valid: bool, out_ready: bool) -> Option<Quiet> {
        if (in_valid && self.in_ready()) || self.inp.wraps() {
            return None;
        }
        self.compute_quiet(out_ready)
    }

    /// Applies `k` cycles of [`Quiet::Folding`]: `k` non-final synapse folds (with the lazy
    /// arithmetic, only `sf` moves).
    #[inline]
    pub fn fold_burst(&mut self, k: usize) {
        self.sf += k;
    }

    /// The last synapse fold of neuron fold `nf`: `out[p] ← S_p` summed over the whole
    /// window (see the type's documentation); `out` is `obuf`, or a pipeline slot.
    #[inline]
    fn dots_into(&mut self, out: &mut [i64]) {
        if !self.win_valid {
            self.gather();
        }
        let k = self.k;
        let first = self.nf * self.pe;
        let range = first * k..(first + self.pe) * k;
        #[cfg(target_arch = "x86_64")]
        match (&self.dots16, &self.wmul) {
            // SAFETY (both): `Dots16` other than `RowByRow` is only chosen when the running
            // CPU has AVX2.
            (Dots16::Pairs(t), _) => return unsafe { t.dots_avx2(out, self.nf, &self.x16) },
            (Dots16::FourRows, Mults::I16(w)) => {
                return unsafe { dots16_rows_avx2(out, &w[range], &self.x16, k) };
            }
            _ => {}
        }
        // PE p's row of multipliers against the window (depthwise: its channel's taps)
        let depthwise = self.depthwise;
        match &self.wmul {
            Mults::I16(w) => dots_of(
                out,
                &w[range.clone()],
                &self.x16,
                range,
                k,
                depthwise,
                |a, b| i64::from(dot16(a, b)),
            ),
            Mults::I32(w) => dots_of(
                out,
                &w[range.clone()],
                &self.x32,
                range,
                k,
                depthwise,
                |a, b| i64::from(dot(a, b)),
            ),
            Mults::I64(w) => {
                let x = if depthwise { &self.x64 } else { &self.win };
                dots_of(out, &w[range.clone()], x, range, k, depthwise, dot)
            }
        }
    }

    /// Copies the current pixel's window (lane values `x_j`, `pad_value` outside the map)
    /// into the dot products' operand: `x16` or `x32` (with [`Mults::I16`], [`Mults::I32`])
    /// or `win`; depthwise, through `win` into `x16`, `x32` or `x64` in channel-major order.
    fn gather(&mut self) {
        let i16s = matches!(self.wmul, Mults::I16(_));
        let i32s = matches!(self.wmul, Mults::I32(_));
        let at = Window {
            lb: &self.inp.lb,
            rowbase: &self.rowbase,
            x0: self.x0,
            w: self.w as isize,
            c: self.c,
            kw: self.kw,
            pad: self.pad_value,
        };
        if !self.depthwise {
            // (wrapping to i32: see `Mults`; every value fits i16 with `Mults::I16`)
            if i16s {
                at.copy_into(&mut self.x16, |v| v as i16);
            } else if i32s {
                at.copy_into(&mut self.x32, |v| v as i32);
            } else {
                at.copy_into(&mut self.win, |v| v);
            }
            self.win_valid = true;
            return;
        }
        at.copy_into(&mut self.win, |v| v);
        // channel-major: x[c·k + j] = win[j·C + c]
        let (c, k) = (self.c, self.k);
        for (j, taps) in self.win.chunks_exact(c).enumerate() {
            for (ch, &v) in taps.iter().enumerate() {
                if i16s {
                    self.x16[ch * k + j] = v as i16;
                } else if i32s {
                    self.x32[ch * k + j] = v as i32;
                } else {
                    self.x64[ch * k + j] = v;
                }
            }
        }
        self.win_valid = true;
    }

    pub fn reset(&mut self) {
        self.inp.reset();
        self.set_oy(0);
        self.set_ox(0);
        self.nf = 0;
        self.sf = 0;
        self.pending = 0;
        self.ch = 0;
        self.out_valid = false;
        self.out_data = 0;
        self.out_wide.fill(0);
        self.pipe_valid.fill(false);
        self.pipe_head = 0;
        self.pipe_count = 0;
    }
}

impl Windowed for Mvu {
    #[inline(always)]
    fn in_ready(&self) -> bool {
        Mvu::in_ready(self)
    }
    #[inline(always)]
    fn out_valid(&self) -> bool {
        self.out_valid
    }
    #[inline(always)]
    fn out_data(&self) -> i64 {
        self.out_data
    }
    #[inline(always)]
    fn quiet(&self, in_valid: bool, out_ready: bool) -> Option<Quiet> {
        Mvu::quiet(self, in_valid, out_ready)
    }
    #[inline(always)]
    fn apply_quiet(&mut self, q: Quiet, k: usize) {
        if let Quiet::Folding(_) = q {
            self.fold_burst(k);
        }
    }
    #[inline(always)]
    fn update(&mut self, in_valid: bool, in_data: i64, out_ready: bool) -> (bool, Kind) {
        Mvu::update(self, in_valid, in_data, out_ready)
    }
    #[inline(always)]
    fn update_beat(&mut self, in_valid: bool, in_data: &[i64], out_ready: bool) -> (bool, Kind) {
        Mvu::update_beat(self, in_valid, in_data, out_ready)
    }
    #[inline(always)]
    fn out_beat(&self) -> Option<&[i64]> {
        (self.ko > 1).then_some(&self.out_wide[..])
    }
    #[inline(always)]
    fn absorb(&mut self, data: i64) -> bool {
        self.inp.absorb(data)
    }
    #[inline(always)]
    fn in_beat(&self) -> usize {
        self.ki
    }
    #[inline(always)]
    fn absorb_beat(&mut self, data: &[i64]) -> bool {
        self.inp.absorb_beat(data)
    }
    #[inline(always)]
    fn row_left(&self) -> usize {
        (self.inp.wc - self.inp.ie) / self.ki
    }
    #[inline(always)]
    fn inside(&mut self) -> &mut InSide {
        &mut self.inp
    }
    #[inline(always)]
    fn can_run_ahead(&self) -> bool {
        self.avail()
    }
    #[inline(always)]
    fn row_end_next(&self, out_ready: bool) -> bool {
        Mvu::row_end_next(self, out_ready)
    }
    #[inline(always)]
    fn compute_quiet(&self, out_ready: bool) -> Option<Quiet> {
        Mvu::compute_quiet(self, out_ready)
    }
    #[inline(always)]
    fn compute_edge(&mut self, out_ready: bool) -> Kind {
        let (kind, last_fire) = self.compute_side(out_ready);
        debug_assert!(!last_fire);
        kind
    }
    #[inline(always)]
    fn burst_len(&self) -> usize {
        if !(self.out_valid || self.pending != 0) || self.inp.wraps() {
            return 0;
        }
        if self.pipe_len > 0 {
            // with pipeline registers: a fire can only come once the last stage loads `obuf`
            // (at `pending == 1`), or right away when that stage is empty
            return if !self.avail() {
                usize::MAX // no fire: the registers only drain into `obuf`
            } else if self.tail() {
                self.pending.saturating_sub(1)
            } else {
                self.sfn - 1 - self.sf // a ROM-fed engine's non-final folds
            };
        }
        if !self.avail() {
            usize::MAX // the emission ends by itself
        } else if self.sf + 1 != self.sfn {
            self.sfn - 1 - self.sf // non-final synapse folds
        } else {
            // stalled on `obuf` while `pending >= 2`; it fires at `pending == 1`
            self.pending.saturating_sub(1)
        }
    }
}

const PROBES: [&str; 13] = [
    "iy", "ie", "wp", "cdone", "ahead", "oy", "ox", "nf", "sf", "pending", "ch", "fire", "out_data",
];

impl SimEngine for Mvu {
    fn comb(&self, io: &mut Io) {
        inside::comb(self, io);
    }
    fn edge(&mut self, io: &mut Io) -> Kind {
        inside::edge(self, io)
    }
    fn decidable(&self, io: &Io) -> bool {
        inside::decidable(self, io)
    }
    fn quiet(&self, io: &Io) -> Option<Quiet> {
        inside::quiet(self, io)
    }
    fn apply_quiet(&mut self, q: Quiet, k: usize) {
        Windowed::apply_quiet(self, q, k);
    }
    fn reset(&mut self) {
        Mvu::reset(self);
    }
    fn probe_signals(&self) -> Vec<ProbeSignal> {
        let b = |n: usize| clog2(n as u64 + 1);
        let widths = [
            b(self.inp.h),
            b(self.inp.wc),
            b(self.inp.lb_len),
            1,
            1,
            b(self.oh),
            b(self.ow),
            b(self.nfn),
            b(self.sfn),
            b(self.pe),
            b(self.oc),
            1,
            64,
        ];
        PROBES.iter().copied().zip(widths).collect()
    }
    fn probe(&self, io: &Io, out: &mut Vec<i64>) {
        let i = &self.inp;
        out.extend([
            i.iy as i64,
            i.ie as i64,
            i.wp as i64,
            i64::from(i.cdone),
            i64::from(i.ahead),
            self.oy as i64,
            self.ox as i64,
            self.nf as i64,
            self.sf as i64,
            self.pending as i64,
            self.ch as i64,
            i64::from(self.fire(io.out_ready[0])),
            self.out_data,
        ]);
    }
    fn run(&mut self, cx: &mut RunCx<'_>) {
        run_windowed(self, cx);
    }
}

/// `numerics::decode_kind(kind, code, bits)` for every `u8` code (`None`: not a valid code).
fn decode_table(kind: WeightKind, bits: u32) -> Vec<Option<Weight>> {
    (0..=255u8)
        .map(|code| numerics::decode_kind(kind, code, bits).ok())
        .collect()
}

/// Checks an MVU engine against the hardware contract (so that no design can make the
/// simulator panic or compute with overflowing integers) and builds it.
pub(crate) fn build(cx: &BuildCx, m: &MvuParams) -> Result<Built, SimError> {
    let (in_fmt, out_fmt) = cx.io_formats()?;
    let g = m.geom;
    check_geometry(cx, &g, true)?;
    cx.check(m.pe > 0 && g.oc.is_multiple_of(m.pe), "kind.pe", || {
        format!("PE {} does not divide OC {}", m.pe, g.oc)
    })?;
    if let Some(why) = inq_hdl::EngineOp::beat_error(m) {
        return Err(SimError::design(cx.field("kind.in_beat"), why));
    }
    let klen = if m.depthwise {
        // SIMD 1, or every tap at once (the hard-wired engine, PE = C)
        let whole = m.simd == g.kh * g.kw && m.pe == g.c;
        cx.check(m.simd == 1 || whole, "kind.simd", || {
            format!(
                "a depthwise engine has SIMD 1 (or kh·kw with PE = C), not {}",
                m.simd
            )
        })?;
        cx.check(g.c == g.oc, "kind.geom.oc", || {
            format!(
                "a depthwise engine keeps the channel count ({} → {})",
                g.c, g.oc
            )
        })?;
        g.kh * g.kw
    } else {
        // SIMD | C, or the whole window in one fold (the hard-wired engine, PE = OC)
        let whole = m.simd == g.kh * g.kw * g.c && m.pe == g.oc;
        cx.check(
            m.simd > 0 && (g.c.is_multiple_of(m.simd) || whole),
            "kind.simd",
            || {
                format!(
                    "SIMD {} does not divide C {} (nor is it the whole window with PE = OC)",
                    m.simd, g.c
                )
            },
        )?;
        g.kh * g.kw * g.c
    };
    cx.check(m.nf == g.oc / m.pe, "kind.nf", || {
        format!("NF {} != OC/PE", m.nf)
    })?;
    cx.check(m.sf == klen / m.simd, "kind.sf", || {
        format!(
            "SF {} != {}/SIMD",
            m.sf,
            if m.depthwise { "kh·kw" } else { "K" }
        )
    })?;
    cx.check((2..=8).contains(&m.code_bits), "kind.code_bits", || {
        format!("{} outside 2..=8", m.code_bits)
    })?;
    cx.check(
        m.pipeline == 0 || (m.is_constant() && m.nf * m.sf == 1),
        "kind.pipeline",
        || {
            format!(
                "{} pipeline registers in an engine whose weights are not constant",
                m.pipeline
            )
        },
    )?;
    cx.check(!(m.data_regs && m.is_constant()), "kind.data_regs", || {
        "datapath registers in an engine whose weights are constant (its pipeline registers \
         stage the adder trees)"
            .to_string()
    })?;
    cx.check(
        m.data_split == 0 || (m.data_split_allowed() && m.data_split < m.lanes_tree_levels()),
        "kind.data_split",
        || {
            format!(
                "the datapath register after {} of the lanes' {} tree levels: it needs the \
                 datapath register, shift-add lanes or multipliers in halves, SIMD ≥ 3, and \
                 fewer levels than the tree",
                m.data_split,
                m.lanes_tree_levels()
            )
        },
    )?;
    cx.check(!m.mul_regs || m.has_mul_regs(), "kind.mul_regs", || {
        "multipliers in registered halves in an engine without multipliers (a \
             shift-add or constant-weight engine)"
            .to_string()
    })?;
    cx.check(
        m.lb_group_words == 0
            || (m.has_read_split()
                && m.lb_group_words.is_power_of_two()
                && m.lb_group_words >= 2
                && m.lb_group_words < m.lb_bank_words()),
        "kind.lb_group_words",
        || {
            format!(
                "the line-buffer read in groups of {} words: it needs the read registers, a \
                 ROM-fed engine, and a power of two of at least 2 below the bank's {} words",
                m.lb_group_words,
                m.lb_bank_words()
            )
        },
    )?;
    cx.check(!(m.read_regs && m.is_constant()), "kind.read_regs", || {
        "read registers in an engine whose weights are constant (its pipeline registers \
         stage the adder trees)"
            .to_string()
    })?;
    cx.check(
        !m.weight_regs || (m.read_regs && !m.is_constant()),
        "kind.weight_regs",
        || {
            "weight registers without read registers, or in an engine whose weights are \
             constant (they hold the ROMs' words at the read stage)"
                .to_string()
        },
    )?;
    cx.check(
        m.pipeline <= inq_hdl::ops::pipeline::MAX_PIPELINE,
        "kind.pipeline",
        || {
            format!(
                "{} pipeline registers, at most {}",
                m.pipeline,
                inq_hdl::ops::pipeline::MAX_PIPELINE
            )
        },
    )?;
    cx.check(
        m.weights.len() as u128 == g.oc as u128 * klen as u128,
        "kind.weights",
        || {
            format!(
                "{} codes, need {}",
                m.weights.len(),
                g.oc as u128 * klen as u128
            )
        },
    )?;
    cx.check(m.bias.len() == g.oc, "kind.bias", || {
        format!("{} entries, need OC = {}", m.bias.len(), g.oc)
    })?;
    cx.check(m.shift.len() == g.oc, "kind.shift", || {
        format!("{} entries, need OC = {}", m.shift.len(), g.oc)
    })?;
    let (xmin, xmax) = range_of(in_fmt.bits, in_fmt.signed);
    cx.check(
        (xmin..=xmax).contains(&m.pad_value),
        "kind.pad_value",
        || format!("{} outside the input range {xmin}..={xmax}", m.pad_value),
    )?;
    cx.check((1..=62).contains(&m.acc_width), "kind.acc_width", || {
        format!("{} outside 1..=62", m.acc_width)
    })?;
    // The accumulator bound (§6): every partial sum fits ACC_W, so i64 arithmetic is exact
    // and equals the RTL's.
    let x_abs = i128::from(xmax.max(-xmin).max(m.pad_value.abs()));
    let rom = m.nf * m.sf;
    let wkind = m.mac.weight_kind();
    let table = decode_table(wkind, m.code_bits);
    let magnitude: Vec<i128> = table
        .iter()
        .map(|w| match w {
            Some(Weight::Pow2 { index, .. }) => 1i128 << (*index).min(126),
            Some(Weight::Int(q)) => i128::from(q.abs()),
            _ => 0,
        })
        .collect();
    for o in 0..g.oc {
        let (p, nf) = (o % m.pe, o / m.pe);
        let codes = &m.weights[(p * rom + nf * m.sf) * m.simd..][..klen];
        let mut sum: i128 = 0;
        for (j, &code) in codes.iter().enumerate() {
            match table[usize::from(code)] {
                Some(Weight::Pow2 { index, .. }) if index >= 62 => {
                    return Err(SimError::design(
                        cx.field("kind.weights"),
                        format!("code {code} of output channel {o}: 2^{index} does not fit 62 accumulator bits"),
                    ))
                }
                Some(_) => sum = sum.saturating_add(magnitude[usize::from(code)]),
                None => {
                    let err = numerics::decode_kind(wkind, code, m.code_bits).err();
                    return Err(SimError::design(
                        cx.field("kind.weights"),
                        format!(
                            "code {code} of output channel {o} (PE {p}, word {}, lane {}): {err:?}",
                            nf * m.sf + j / m.simd,
                            j % m.simd
                        ),
                    ));
                }
            }
        }
        let bound = i128::from(m.bias[o])
            .abs()
            .saturating_add(x_abs.saturating_mul(sum));
        let need = numerics::signed_width_for(bound);
        cx.check(need <= m.acc_width, "kind.acc_width", || {
            format!(
                "output channel {o} needs {need} accumulator bits (worst-case bound {bound}), ACC_W is {}",
                m.acc_width
            )
        })?;
    }
    let mode = match m.output {
        MvuOutput::Act { bits, signed, relu } => {
            cx.check(
                out_fmt.bits == bits && out_fmt.signed == signed,
                "out_width",
                || "output width/signedness differ from the output format".into(),
            )?;
            for (o, &r) in m.shift.iter().enumerate() {
                cx.check(
                    (-62..=62).contains(&r) && m.acc_width as i64 + i64::from((-r).max(0)) <= 62,
                    "kind.shift",
                    || format!("shift {r} of channel {o} out of range"),
                )?;
            }
            OutMode::Act {
                fmt: ActFormat {
                    bits,
                    signed,
                    exp: 0,
                },
                relu,
            }
        }
        MvuOutput::Logits => {
            for (o, &r) in m.shift.iter().enumerate() {
                cx.check(
                    r <= 0 && m.acc_width as i64 - i64::from(r) <= i64::from(out_fmt.bits),
                    "kind.shift",
                    || {
                        format!(
                            "logit shift {r} of channel {o} must be ≤ 0 and fit OUT_W {}",
                            out_fmt.bits
                        )
                    },
                )?;
            }
            cx.check(out_fmt.signed, "out_signed", || "logits are signed".into())?;
            OutMode::Logits
        }
    };

    // ROM order (p, (nf, sf), s) → simulation order (o = nf·PE + p, j = sf·SIMD + s): one row
    // of `klen` multipliers per output channel, in window order.
    let mults: Vec<i64> = table.iter().map(|w| w.map_or(0, multiplier)).collect();
    let reorder = |put: &mut dyn FnMut(usize, i64)| {
        for p in 0..m.pe {
            for nf in 0..m.nf {
                let src = &m.weights[(p * rom + nf * m.sf) * m.simd..][..klen];
                let base = (nf * m.pe + p) * klen;
                for (j, &code) in src.iter().enumerate() {
                    put(base + j, mults[usize::from(code)]);
                }
            }
        }
    };
    // the i16 operands of `Mults::I16`: every input value, the padding value and every
    // multiplier of a code the engine uses within ±2^14
    const I16_BOUND: i64 = 1 << 14;
    let fits16 = |v: i64| (-I16_BOUND..=I16_BOUND).contains(&v);
    let i16s = m.acc_width <= 32
        && fits16(xmin)
        && fits16(xmax)
        && fits16(m.pad_value)
        && m.weights
            .iter()
            .all(|&code| fits16(mults[usize::from(code)]));
    let wmul = if i16s {
        let mut w = vec![0i16; m.weights.len()];
        reorder(&mut |i, v| w[i] = v as i16);
        Mults::I16(w)
    } else if m.acc_width <= 32 {
        let mut w = vec![0i32; m.weights.len()];
        // exact or irrelevant: see `Mults`
        reorder(&mut |i, v| w[i] = v as i32);
        Mults::I32(w)
    } else {
        let mut w = vec![0i64; m.weights.len()];
        reorder(&mut |i, v| w[i] = v);
        Mults::I64(w)
    };
    let win_len = g.kh * g.kw * g.c;
    let dots16 = match &wmul {
        #[cfg(target_arch = "x86_64")]
        Mults::I16(w) if !m.depthwise && std::arch::is_x86_feature_detected!("avx2") => {
            if klen < SHORT_ROW {
                Dots16::Pairs(Pairs16::new(w, klen, m.pe, m.nf))
            } else {
                Dots16::FourRows
            }
        }
        _ => Dots16::RowByRow,
    };
    let win = if m.depthwise || matches!(wmul, Mults::I64(_)) {
        vec![0; win_len]
    } else {
        Vec::new()
    };
    let (x16, x32, x64) = match (&wmul, m.depthwise) {
        // (one more value, 0, for the tap pairs of `Pairs16` when the window is odd)
        (Mults::I16(_), _) => (vec![0; win_len + 1], Vec::new(), Vec::new()),
        (Mults::I32(_), _) => (Vec::new(), vec![0; win_len], Vec::new()),
        (Mults::I64(_), true) => (Vec::new(), Vec::new(), vec![0; win_len]),
        (Mults::I64(_), false) => (Vec::new(), Vec::new(), Vec::new()),
    };
    // register stages between a fire and `obuf` (§4, §4.1)
    let stages = m.result_stages() as usize;
    let mut mvu = Mvu {
        c: g.c,
        w: g.w,
        kh: g.kh as isize,
        kw: g.kw,
        sh: g.sh,
        sw: g.sw,
        pt: g.pad[0] as isize,
        pl: g.pad[1] as isize,
        oc: g.oc,
        oh: g.oh,
        ow: g.ow,
        nr: g.nr,
        pe: m.pe,
        nfn: m.nf,
        sfn: m.sf,
        k: klen,
        depthwise: m.depthwise,
        wmul,
        rq: m
            .bias
            .iter()
            .zip(&m.shift)
            .map(|(&b, &r)| Requant::new(b, r, mode))
            .collect(),
        pad_value: m.pad_value,
        lo: 0,
        need: 0,
        lim: 0,
        rowbase: vec![-1; g.kh],
        x0: 0,
        win,
        x16,
        dots16,
        x32,
        x64,
        win_valid: false,
        inp: InSide::new(g.h, g.w * g.c, g.nr),
        oy: 0,
        ox: 0,
        nf: 0,
        sf: 0,
        obuf: vec![0; m.pe],
        pending: 0,
        ch: 0,
        out_valid: false,
        out_data: 0,
        ko: m.out_beat.max(1),
        out_wide: vec![0; m.out_beat.max(1)],
        ki: m.in_beat.max(1),
        pipe_len: stages,
        pipe_valid: vec![false; stages],
        pipe_data: vec![vec![0; m.pe]; stages],
        pipe_head: 0,
        pipe_count: 0,
    };
    mvu.set_oy(0);
    mvu.set_ox(0);
    Ok(Built {
        engine: Box::new(mvu),
        inputs: vec![PortSpec {
            width: in_fmt.bits,
            signed: in_fmt.signed,
            elements: g.c * g.h * g.w,
            beat: m.in_beat,
        }],
        outputs: vec![PortSpec {
            width: out_fmt.bits,
            signed: out_fmt.signed,
            elements: g.oc * g.oh * g.ow,
            beat: m.out_beat,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precomputed_requantization_equals_the_models() {
        let values = [
            0i64,
            1,
            -1,
            7,
            -8,
            255,
            -256,
            1 << 20,
            -(1 << 20),
            (1 << 40) + 12_345,
            -(1 << 40) - 777,
        ];
        for bias in [0i64, 5, -37, 1 << 18] {
            for (bits, signed) in [(8, false), (8, true), (4, true), (16, false)] {
                let fmt = ActFormat {
                    bits,
                    signed,
                    exp: 0,
                };
                for relu in [false, true] {
                    let mode = OutMode::Act { fmt, relu };
                    for r in -12..=62 {
                        let q = Requant::new(bias, r, mode);
                        for &v in &values {
                            let v = if r < 0 { v >> 20 } else { v };
                            let want = numerics::requantize(v + bias, r, relu, fmt);
                            assert_eq!(q.apply(v), want, "v {v} bias {bias} r {r} {fmt:?} {relu}");
                        }
                    }
                }
            }
            for r in -12..=0 {
                let q = Requant::new(bias, r, OutMode::Logits);
                for &v in &values {
                    let v = v >> 20;
                    assert_eq!(
                        q.apply(v),
                        numerics::shift_round(v + bias, r),
                        "logits v {v} r {r}"
                    );
                }
            }
        }
    }

    #[test]
    fn multiplier_equals_numerics_product() {
        // (validation keeps every product far below 2^62)
        let xs: Vec<i64> = (-300..=300).chain([1 << 20, -(1 << 20)]).collect();
        for bits in 2..=8u32 {
            for code in 0..=255u8 {
                let Ok(w) = numerics::decode(code, bits) else {
                    continue;
                };
                if matches!(w, Weight::Pow2 { index, .. } if index > 40) {
                    continue;
                }
                let m = multiplier(w);
                for &x in &xs {
                    assert_eq!(
                        x * m,
                        numerics::product(x, w),
                        "code {code} bits {bits} x {x}"
                    );
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn transposed_short_rows_equal_naive_sums() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return; // the layout is only built with AVX2 (`dots_into` falls back to `dot16`)
        }
        for k in 1..SHORT_ROW {
            for pe in [1usize, 7, 8, 9, 16, 19] {
                let nfn = 3;
                let w: Vec<i16> = (0..(nfn * pe * k) as i64)
                    .map(|i| ((i * 7919 % 61) - 30) as i16 * 256)
                    .collect();
                let mut x: Vec<i16> = (0..k as i64).map(|i| (i * i % 41 - 20) as i16).collect();
                x.push(0);
                let t = Pairs16::new(&w, k, pe, nfn);
                for nf in 0..nfn {
                    let mut out = vec![0i64; pe];
                    // SAFETY: AVX2 checked above.
                    unsafe { t.dots_avx2(&mut out, nf, &x) };
                    for (p, &o) in out.iter().enumerate() {
                        let row = &w[(nf * pe + p) * k..][..k];
                        let naive: i64 = row
                            .iter()
                            .zip(&x)
                            .map(|(&a, &b)| i64::from(a) * i64::from(b))
                            .sum();
                        assert_eq!(o, naive, "k {k} pe {pe} nf {nf} p {p}");
                    }
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn four_rows_at_a_time_equal_naive_sums() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return; // `dots_into` takes `dot16` row by row without AVX2
        }
        for k in 16..90usize {
            for n in 1..10usize {
                let rows: Vec<i16> = (0..(n * k) as i64)
                    .map(|i| ((i * 7919 % 61) - 30) as i16 * 256)
                    .collect();
                let x: Vec<i16> = (0..k as i64).map(|i| (i * i % 41 - 20) as i16).collect();
                let mut out = vec![0i64; n];
                // SAFETY: AVX2 checked above.
                unsafe { dots16_rows_avx2(&mut out, &rows, &x, k) };
                for (r, &o) in out.iter().enumerate() {
                    let naive: i64 = rows[r * k..][..k]
                        .iter()
                        .zip(&x)
                        .map(|(&a, &b)| i64::from(a) * i64::from(b))
                        .sum();
                    assert_eq!(o, naive, "k {k} rows {n} row {r}");
                }
            }
        }
    }

    #[test]
    fn dot_equals_naive_sum() {
        for n in 0..200usize {
            let w: Vec<i64> = (0..n as i64).map(|i| (i * 7 % 5) - 2).collect();
            let x: Vec<i64> = (0..n as i64).map(|i| i * i % 4001 - 2000).collect();
            let naive: i64 = w.iter().zip(&x).map(|(a, b)| a * b).sum();
            assert_eq!(dot(&w, &x), naive, "n {n}");
            let w32: Vec<i32> = w.iter().map(|&v| v as i32).collect();
            let x32: Vec<i32> = x.iter().map(|&v| v as i32).collect();
            assert_eq!(i64::from(dot(&w32, &x32)), naive, "n {n}");
            assert_eq!(i64::from(dot_body(&w32, &x32)), naive, "n {n}");
            let w16: Vec<i16> = w.iter().map(|&v| v as i16).collect();
            let x16: Vec<i16> = x.iter().map(|&v| v as i16).collect();
            assert_eq!(i64::from(dot16(&w16, &x16)), naive, "n {n}");
            assert_eq!(i64::from(dot16_body(&w16, &x16)), naive, "n {n}");
        }
    }
}
