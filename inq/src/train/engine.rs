//! The autodiff engine: a [`FloatModel`] graph as a candle graph (CPU).
//!
//! Parameters live on the host as plain `Vec<f32>` ([`Params`]: conv/dense weights and
//! biases, batch-norm `γ`/`β`, in node order); each mini-batch wraps them in candle variables,
//! runs forward and backward, and hands the gradients back as `Vec<f32>`. The optimizer (and
//! the INQ mask) therefore work on plain slices, which makes "frozen weights never move" an
//! exact, easily tested property.
//!
//! The graph is evaluated in the checked order; a tensor read by several nodes (fan-out, a
//! residual) is one candle tensor, so its gradient is the sum over its readers. One match arm
//! per operator (`Net::forward`) maps it onto candle: conv through the `im2col` custom op and
//! one GEMM (depthwise: the column matrix times the weights, summed per channel), BatchNorm
//! through [`BatchNormTrain`] (batch statistics, training) or its running statistics
//! (evaluation). Not here: the SGD loop and schedules ([`super`]).

use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor, Var, D};
use rayon::prelude::*;

use super::distill::Distill;
use super::ops::{BatchNormTrain, BnStats, ConvTrain, DenseTrain, Im2Col, MaxPool, Relu, Window};
use super::TrainError;
use crate::graph::{FloatModel, FloatOp, Source};

/// The trainable tensors of one node (conv/dense weight and bias, batch-norm `γ` and `β`).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerParams {
    /// Index of the node in [`FloatModel::nodes`].
    pub node: usize,
    /// Weights in ONNX layout (batch norm: `γ`).
    pub weight: Vec<f32>,
    /// Bias (batch norm: `β`).
    pub bias: Vec<f32>,
}

/// All trainable tensors of a model, in node order ([`FloatModel::param_nodes`]).
pub type Params = Vec<LayerParams>;

/// Copies the parameters out of a model.
pub fn params_of(model: &FloatModel) -> Params {
    model
        .param_nodes()
        .into_iter()
        .filter_map(|i| {
            model.nodes[i].op.params().map(|(w, b)| LayerParams {
                node: i,
                weight: w.to_vec(),
                bias: b.to_vec(),
            })
        })
        .collect()
}

/// Writes parameters back into a model.
pub fn store_params(model: &mut FloatModel, params: &Params) {
    for p in params {
        if let Some((w, b)) = model.nodes.get_mut(p.node).and_then(|n| n.op.params_mut()) {
            w.clone_from(&p.weight);
            b.clone_from(&p.bias);
        }
    }
}

/// Running statistics of one BatchNorm node.
#[derive(Debug, Clone, PartialEq)]
pub struct Running {
    /// Node index.
    pub node: usize,
    /// Running mean.
    pub mean: Vec<f32>,
    /// Running (unbiased) variance.
    pub var: Vec<f32>,
    /// Momentum of the running averages.
    pub momentum: f32,
}

impl Running {
    /// Folds the statistics of one training batch (the combined shards) into the averages:
    /// `r ← (1 − m)·r + m·s`, the variance unbiased (`·count/(count − 1)`) as in PyTorch.
    pub fn update(&mut self, s: &BnStats) {
        let m = self.momentum;
        let unbias = if s.count > 1 {
            s.count as f32 / (s.count - 1) as f32
        } else {
            1.0
        };
        for c in 0..self.mean.len().min(s.mean.len()) {
            self.mean[c] = (1.0 - m) * self.mean[c] + m * s.mean[c];
            self.var[c] = (1.0 - m) * self.var[c] + m * s.var[c] * unbias;
        }
    }
}

/// The running statistics of every BatchNorm node of a model, in node order.
pub fn running_of(model: &FloatModel) -> Vec<Running> {
    model
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.op {
            FloatOp::BatchNorm(b) => Some(Running {
                node: i,
                mean: b.mean.clone(),
                var: b.var.clone(),
                momentum: b.momentum,
            }),
            _ => None,
        })
        .collect()
}

/// Writes running statistics back into a model.
pub fn store_running(model: &mut FloatModel, running: &[Running]) {
    for r in running {
        if let Some(FloatOp::BatchNorm(b)) = model.nodes.get_mut(r.node).map(|n| &mut n.op) {
            b.mean.clone_from(&r.mean);
            b.var.clone_from(&r.var);
        }
    }
}

/// Combines the statistics of the shards of one batch (exact: the per-shard means and
/// variances are merged with the parallel-axis rule).
pub fn combine_stats(parts: &[BnStats]) -> BnStats {
    let c = parts.first().map(|p| p.mean.len()).unwrap_or(0);
    let count: usize = parts.iter().map(|p| p.count).sum();
    let mut mean = vec![0f32; c];
    let mut var = vec![0f32; c];
    for ch in 0..c {
        let m = parts
            .iter()
            .map(|p| f64::from(p.mean[ch]) * p.count as f64)
            .sum::<f64>()
            / count.max(1) as f64;
        let v = parts
            .iter()
            .map(|p| p.count as f64 * (f64::from(p.var[ch]) + (f64::from(p.mean[ch]) - m).powi(2)))
            .sum::<f64>()
            / count.max(1) as f64;
        mean[ch] = m as f32;
        var[ch] = v as f32;
    }
    BnStats { mean, var, count }
}

#[derive(Debug, Clone)]
enum NetOp {
    Conv {
        p: usize,
        out: usize,
        k: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 4],
        depthwise: bool,
        /// A ReLU fused into the op (see `fuse_relus`).
        relu: bool,
    },
    /// The input unchanged (a ReLU fused into the convolution before it).
    Identity,
    Dense {
        p: usize,
    },
    Relu,
    MaxPool {
        k: [usize; 2],
        s: [usize; 2],
    },
    AvgPool {
        k: [usize; 2],
        s: [usize; 2],
    },
    GlobalAvgPool,
    Flatten,
    Add,
    BatchNorm {
        p: usize,
        /// Index into the running statistics.
        b: usize,
        eps: f32,
    },
}

/// Whether BatchNorm uses batch statistics (training) or running statistics (evaluation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; recorded for the running averages.
    Train,
    /// Running statistics.
    Eval,
}

/// A model compiled for batched execution.
#[derive(Debug, Clone)]
pub struct Net {
    /// Per node (index), the operation.
    ops: Vec<NetOp>,
    /// Per node, its inputs.
    inputs: Vec<Vec<Source>>,
    order: Vec<usize>,
    last_reads: Vec<Vec<usize>>,
    output: usize,
    /// `[C, H, W]` of one input.
    pub input_shape: [usize; 3],
    /// Number of outputs (classes).
    pub classes: usize,
    scale: Vec<f32>,
    offset: Vec<f32>,
    /// Weight and bias shapes of each parameter entry.
    param_shapes: Vec<(Vec<usize>, usize)>,
    /// Running statistics captured from the model (used in evaluation mode).
    running: Vec<Running>,
}

/// Fuses every ReLU whose input is a `group = 1` convolution read by nothing else into that
/// convolution (`ConvTrain::relu`), leaving an [`NetOp::Identity`] in its place: the same
/// values and gradients with one tensor fewer. A convolution whose output is also read
/// elsewhere, or is the graph's output, keeps its ReLU separate.
fn fuse_relus(ops: &mut [NetOp], inputs: &[Vec<Source>], output: usize) {
    let mut readers = vec![0usize; ops.len()];
    for s in inputs.iter().flatten() {
        if let Source::Node(j) = s {
            readers[*j] += 1;
        }
    }
    for r in 0..ops.len() {
        let (NetOp::Relu, [Source::Node(c)]) = (&ops[r], inputs[r].as_slice()) else {
            continue;
        };
        let c = *c;
        if readers[c] != 1 || c == output || c == r {
            continue;
        }
        if let NetOp::Conv {
            depthwise: false,
            relu,
            ..
        } = &mut ops[c]
        {
            *relu = true;
            ops[r] = NetOp::Identity;
        }
    }
}

/// Splits `0..n` into at most `threads` contiguous shards of at least 8 items (fixed for a
/// given `n` and thread count).
fn shard_ranges(n: usize, threads: usize) -> Vec<std::ops::Range<usize>> {
    let k = threads.clamp(1, (n / 8).max(1));
    let base = n / k;
    let extra = n % k;
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let len = base + usize::from(i < extra);
        out.push(start..start + len);
        start += len;
    }
    out
}

/// Makes candle's element-wise kernels single-threaded (parallelism comes from sharding the
/// batch across rayon threads instead; candle's spinning barrier pool degrades badly when the
/// cores are shared). Respects a `CANDLE_NUM_THREADS` set by the user. On glibc it also keeps
/// freed memory of up to 512 MiB in one heap instead of returning every large block to the
/// kernel (per-thread arenas trim and unmap them): each mini-batch allocates the same few tens
/// of megabytes of tensors, and without this about a fifth of a ResNet-8 epoch went to page
/// faults and zeroing fresh pages (`perf`: 2.2 s of system time per 1 500 images, 0.6 s with
/// one arena).
fn init_candle_threads() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
        keep_freed_memory();
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    const M_ARENA_MAX: i32 = -8;
    // SAFETY: mallopt only changes glibc's allocation policy; it is called once, before the
    // engine allocates, and neither setting affects memory that is already allocated.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 512 << 20);
        mallopt(M_TRIM_THRESHOLD, 512 << 20);
        mallopt(M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn ce(e: candle_core::Error) -> TrainError {
    TrainError::Engine(e.to_string())
}

/// The result of one shard's forward and backward pass.
struct ShardOut {
    loss: f64,
    correct: usize,
    grads: Params,
    stats: Vec<BnStats>,
}

impl Net {
    /// Checks the model's graph and normalization and compiles it.
    pub fn new(model: &FloatModel) -> Result<Net, TrainError> {
        init_candle_threads();
        let g = model.graph().map_err(|e| TrainError::Model {
            node: "graph".into(),
            message: e.to_string(),
        })?;
        let [c0, _, _] = model.input_shape;
        crate::data::check_normalization(&model.normalization, c0).map_err(|e| {
            TrainError::Model {
                node: "normalization".into(),
                message: e.to_string(),
            }
        })?;
        let (scale, offset) = model.normalization.affine(c0).into_iter().unzip();
        let running = running_of(model);
        let mut ops = Vec::with_capacity(model.nodes.len());
        let mut param_shapes = Vec::new();
        let mut p = 0;
        let mut b = 0;
        for node in &model.nodes {
            ops.push(match &node.op {
                FloatOp::Conv(c) => {
                    param_shapes.push((
                        vec![c.out_channels, c.group_channels(), c.kernel[0], c.kernel[1]],
                        c.out_channels,
                    ));
                    p += 1;
                    NetOp::Conv {
                        p: p - 1,
                        out: c.out_channels,
                        k: c.kernel,
                        stride: c.stride,
                        pad: c.pad,
                        depthwise: c.depthwise(),
                        relu: false,
                    }
                }
                FloatOp::Dense(d) => {
                    param_shapes.push((vec![d.out_features, d.in_features], d.out_features));
                    p += 1;
                    NetOp::Dense { p: p - 1 }
                }
                FloatOp::BatchNorm(bn) => {
                    param_shapes.push((vec![bn.channels], bn.channels));
                    p += 1;
                    b += 1;
                    NetOp::BatchNorm {
                        p: p - 1,
                        b: b - 1,
                        eps: bn.eps,
                    }
                }
                FloatOp::Relu(_) => NetOp::Relu,
                FloatOp::MaxPool(w) => NetOp::MaxPool {
                    k: w.0.kernel,
                    s: w.0.stride,
                },
                FloatOp::AvgPool(w) => NetOp::AvgPool {
                    k: w.0.kernel,
                    s: w.0.stride,
                },
                FloatOp::GlobalAvgPool(_) => NetOp::GlobalAvgPool,
                FloatOp::Flatten(_) => NetOp::Flatten,
                FloatOp::Add(_) => NetOp::Add,
            });
        }
        let out_shape = &g.shapes[g.output];
        if out_shape.len() != 1 {
            return Err(TrainError::Model {
                node: model.output.clone(),
                message: format!("the model must end in a vector of logits, ends in {out_shape:?}"),
            });
        }
        fuse_relus(&mut ops, &g.inputs, g.output);
        let last_reads = g.last_reads();
        Ok(Net {
            ops,
            inputs: g.inputs,
            order: g.order,
            last_reads,
            output: g.output,
            input_shape: model.input_shape,
            classes: out_shape[0],
            scale,
            offset,
            param_shapes,
            running,
        })
    }

    /// The running statistics the net was built with.
    pub fn running(&self) -> &[Running] {
        &self.running
    }

    /// Normalizes raw 8-bit images (`n` images, C-major) into the first layer's input.
    pub fn normalize(&self, pixels: &[u8], out: &mut Vec<f32>) {
        let [c, h, w] = self.input_shape;
        let hw = h * w;
        out.clear();
        out.reserve(pixels.len());
        for img in pixels.chunks(c * hw) {
            for (ch, plane) in img.chunks(hw).enumerate() {
                let (s, o) = (self.scale[ch], self.offset[ch]);
                out.extend(plane.iter().map(|&p| f32::from(p) * s + o));
            }
        }
    }

    /// Runs the graph on a batch `x` (`[N, C, H, W]`); returns the output and, in training
    /// mode, the batch statistics of every BatchNorm (in BatchNorm order).
    fn forward(
        &self,
        vars: &[(Tensor, Tensor)],
        x: Tensor,
        mode: Mode,
    ) -> candle_core::Result<(Tensor, Vec<Arc<Mutex<BnStats>>>)> {
        let mut vals: Vec<Option<Tensor>> = vec![None; self.ops.len()];
        let mut stats = Vec::new();
        for (pos, &i) in self.order.iter().enumerate() {
            let get = |k: usize| -> candle_core::Result<&Tensor> {
                match self.inputs[i][k] {
                    Source::Input => Ok(&x),
                    Source::Node(j) => vals[j]
                        .as_ref()
                        .ok_or_else(|| candle_core::Error::Msg("evaluation order".into())),
                }
            };
            let a = get(0)?;
            let y = match &self.ops[i] {
                NetOp::Conv {
                    p,
                    out,
                    k,
                    stride,
                    pad,
                    depthwise,
                    relu,
                } => {
                    let (w, b) = &vars[*p];
                    let (n, c, h, wd) = a.dims4()?;
                    let g = Window {
                        c,
                        h,
                        w: wd,
                        k: *k,
                        s: *stride,
                        pad: *pad,
                    };
                    let (oh, ow) = (g.oh(), g.ow());
                    if *depthwise {
                        // [n, C·kh·kw + 1, oh·ow]
                        let cols = a.contiguous()?.apply_op1(Im2Col(g))?;
                        let kk = k[0] * k[1];
                        cols.narrow(1, 0, c * kk)?
                            .reshape((n, c, kk, oh * ow))?
                            .broadcast_mul(&w.reshape((1, c, kk, 1))?)?
                            .sum(2)?
                            .broadcast_add(&b.reshape((1, c, 1))?)?
                            .reshape((n, *out, oh, ow))?
                    } else {
                        // the column matrices are kept for the backward pass when training
                        let cols = matches!(mode, Mode::Train).then(Arc::default);
                        a.contiguous()?.apply_op3(
                            w,
                            b,
                            ConvTrain {
                                g,
                                out: *out,
                                cols,
                                relu: *relu,
                            },
                        )?
                    }
                }
                NetOp::Dense { p } => {
                    let (w, b) = &vars[*p];
                    a.contiguous()?.apply_op3(w, b, DenseTrain)?
                }
                NetOp::Relu => a.contiguous()?.apply_op1(Relu)?,
                NetOp::Identity => a.clone(),
                NetOp::MaxPool { k, s } => {
                    let (_, c, h, w) = a.dims4()?;
                    let g = Window {
                        c,
                        h,
                        w,
                        k: *k,
                        s: *s,
                        pad: [0; 4],
                    };
                    a.contiguous()?
                        .apply_op1(MaxPool::new(g, matches!(mode, Mode::Train)))?
                }
                NetOp::AvgPool { k, s } => a.avg_pool2d_with_stride((k[0], k[1]), (s[0], s[1]))?,
                NetOp::GlobalAvgPool => a.mean_keepdim(D::Minus1)?.mean_keepdim(D::Minus2)?,
                NetOp::Flatten => a.flatten_from(1)?,
                NetOp::Add => a.add(get(1)?)?,
                NetOp::BatchNorm { p, b, eps } => {
                    let (g, be) = &vars[*p];
                    let c = g.dims1()?;
                    match mode {
                        Mode::Train => {
                            let st = Arc::new(Mutex::new(BnStats::default()));
                            stats.push(st.clone());
                            a.contiguous()?.apply_op3(
                                g,
                                be,
                                BatchNormTrain {
                                    c,
                                    eps: *eps,
                                    stats: st,
                                },
                            )?
                        }
                        Mode::Eval => {
                            let r = &self.running[*b];
                            let inv: Vec<f32> =
                                r.var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect();
                            let dev = a.device();
                            let mut shape = vec![1, c];
                            shape.extend(std::iter::repeat_n(1, a.rank().saturating_sub(2)));
                            let sc = (g * Tensor::from_vec(inv, c, dev)?)?;
                            let sh = (be - (&sc * Tensor::from_slice(&r.mean, c, dev)?)?)?;
                            a.broadcast_mul(&sc.reshape(shape.as_slice())?)?
                                .broadcast_add(&sh.reshape(shape.as_slice())?)?
                        }
                    }
                }
            };
            vals[i] = Some(y);
            for &j in &self.last_reads[pos] {
                vals[j] = None;
            }
        }
        let y = vals[self.output]
            .take()
            .ok_or_else(|| candle_core::Error::Msg("no output".into()))?;
        Ok((y, stats))
    }

    fn input(&self, x: &[f32]) -> candle_core::Result<Tensor> {
        let [c, h, w] = self.input_shape;
        let n = x.len() / (c * h * w);
        Tensor::from_slice(x, (n, c, h, w), &Device::Cpu)
    }

    fn tensors(&self, params: &Params) -> candle_core::Result<Vec<(Tensor, Tensor)>> {
        params
            .iter()
            .zip(&self.param_shapes)
            .map(|(p, (ws, bn))| {
                Ok((
                    Tensor::from_slice(&p.weight, ws.as_slice(), &Device::Cpu)?,
                    Tensor::from_slice(&p.bias, *bn, &Device::Cpu)?,
                ))
            })
            .collect()
    }

    /// One mini-batch: mean cross-entropy loss, number of correct predictions, the gradients
    /// of the mean loss with respect to every parameter (same layout as `params`) and the
    /// batch statistics of every BatchNorm (in BatchNorm order, combined over the shards).
    ///
    /// The batch is split into fixed shards (one per rayon thread, at least 8 images each)
    /// that run forward and backward in parallel, each single-threaded inside candle; the shard
    /// gradients are combined in shard order, so the result does not depend on scheduling.
    /// BatchNorm normalizes with each shard's own statistics.
    ///
    /// With `soft` (the teacher's soft targets of the batch, `classes` per image, and the
    /// distillation settings) the loss is `(1 − α)·CE + α·T²·H(soft, softmax(z/T))`
    /// ([`super::distill`]).
    pub fn loss_and_grads(
        &self,
        params: &Params,
        x: &[f32],
        labels: &[u8],
        soft: Option<(&[f32], Distill)>,
    ) -> Result<(f64, usize, Params, Vec<BnStats>), TrainError> {
        if params.len() != self.param_shapes.len() {
            return Err(TrainError::Config(format!(
                "{} parameter tensors for a model with {}",
                params.len(),
                self.param_shapes.len()
            )));
        }
        let n = labels.len();
        let per = x.len() / n.max(1);
        let shards = shard_ranges(n, rayon::current_num_threads());
        let results: Vec<Result<ShardOut, TrainError>> = shards
            .par_iter()
            .map(|r| {
                self.shard_loss_and_grads(
                    params,
                    &x[r.start * per..r.end * per],
                    &labels[r.clone()],
                    soft.map(|(p, d)| (&p[r.start * self.classes..r.end * self.classes], d)),
                )
            })
            .collect();
        let mut total_loss = 0f64;
        let mut correct = 0;
        let mut grads: Option<Params> = None;
        let mut stats: Vec<Vec<BnStats>> = vec![Vec::new(); self.running.len()];
        for (r, res) in shards.iter().zip(results) {
            let s = res?;
            let wgt = r.len() as f32 / n as f32;
            total_loss += s.loss * r.len() as f64 / n as f64;
            correct += s.correct;
            for (acc, st) in stats.iter_mut().zip(s.stats) {
                acc.push(st);
            }
            match &mut grads {
                None => {
                    let mut g = s.grads;
                    for p in &mut g {
                        p.weight
                            .iter_mut()
                            .chain(p.bias.iter_mut())
                            .for_each(|v| *v *= wgt);
                    }
                    grads = Some(g);
                }
                Some(acc) => {
                    for (a, b) in acc.iter_mut().zip(&s.grads) {
                        a.weight
                            .iter_mut()
                            .zip(&b.weight)
                            .for_each(|(a, b)| *a += wgt * b);
                        a.bias
                            .iter_mut()
                            .zip(&b.bias)
                            .for_each(|(a, b)| *a += wgt * b);
                    }
                }
            }
        }
        let stats = stats.iter().map(|s| combine_stats(s)).collect();
        Ok((total_loss, correct, grads.unwrap_or_default(), stats))
    }

    fn shard_loss_and_grads(
        &self,
        params: &Params,
        x: &[f32],
        labels: &[u8],
        soft: Option<(&[f32], Distill)>,
    ) -> Result<ShardOut, TrainError> {
        let run = || -> candle_core::Result<ShardOut> {
            let mut tvars = Vec::with_capacity(params.len());
            let mut vars = Vec::with_capacity(params.len());
            for (w, b) in self.tensors(params)? {
                let (w, b) = (Var::from_tensor(&w)?, Var::from_tensor(&b)?);
                tvars.push((w.as_tensor().clone(), b.as_tensor().clone()));
                vars.push((w, b));
            }
            let (logits, stats) = self.forward(&tvars, self.input(x)?, Mode::Train)?;
            let y: Vec<u32> = labels.iter().map(|&l| u32::from(l)).collect();
            let y = Tensor::from_slice(&y, y.len(), &Device::Cpu)?;
            let pred: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
            let correct = pred
                .iter()
                .zip(labels)
                .filter(|(&p, &l)| p == u32::from(l))
                .count();
            let mut loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            if let Some((p, d)) = soft {
                let p = Tensor::from_slice(p, logits.dims(), &Device::Cpu)?;
                let s = super::distill::soft_cross_entropy(&logits, &p, d.temperature)?;
                loss = ((loss * (1.0 - d.alpha))? + (s * d.alpha)?)?;
            }
            let grads = loss.backward()?;
            let mut out = Vec::with_capacity(params.len());
            for (p, (w, b)) in params.iter().zip(&vars) {
                let gw = match grads.get(w) {
                    Some(g) => g.flatten_all()?.to_vec1::<f32>()?,
                    None => vec![0.0; p.weight.len()],
                };
                let gb = match grads.get(b) {
                    Some(g) => g.to_vec1::<f32>()?,
                    None => vec![0.0; p.bias.len()],
                };
                out.push(LayerParams {
                    node: p.node,
                    weight: gw,
                    bias: gb,
                });
            }
            let stats = stats
                .iter()
                .map(|s| s.lock().map(|g| g.clone()).unwrap_or_default())
                .collect();
            Ok(ShardOut {
                loss: f64::from(loss.to_scalar::<f32>()?),
                correct,
                grads: out,
                stats,
            })
        };
        run().map_err(ce)
    }

    /// Logits (`n × classes`, row-major) of a normalized batch (evaluation mode: BatchNorm
    /// uses the running statistics the net was built with).
    pub fn logits(&self, params: &Params, x: &[f32]) -> Result<Vec<f32>, TrainError> {
        let [c, h, w] = self.input_shape;
        let per = c * h * w;
        let n = x.len() / per.max(1);
        let parts: Vec<Result<Vec<f32>, TrainError>> =
            shard_ranges(n, rayon::current_num_threads())
                .par_iter()
                .map(|r| {
                    let run = || -> candle_core::Result<Vec<f32>> {
                        let tv = self.tensors(params)?;
                        let (y, _) = self.forward(
                            &tv,
                            self.input(&x[r.start * per..r.end * per])?,
                            Mode::Eval,
                        )?;
                        y.flatten_all()?.to_vec1()
                    };
                    run().map_err(ce)
                })
                .collect();
        let mut out = Vec::with_capacity(n * self.classes);
        for p in parts {
            out.extend(p?);
        }
        Ok(out)
    }
}
