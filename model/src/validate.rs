//! Validation of a [`QuantModel`]: shapes chain, codes in range, widths sane.
//!
//! Each failure is a [`ModelError::Invalid`] naming the offending field by path.

use crate::error::ModelError;
use crate::format::{
    ActFormat, Layer, Output, QuantModel, WeightTensor, FORMAT_NAME, FORMAT_VERSION,
};
use crate::numerics;

/// Largest activation width the format allows.
pub const MAX_ACT_BITS: u32 = 16;
/// Largest accumulator width the format allows (so that every value fits an `i64` with room
/// for the requantization shift).
pub const MAX_ACC_BITS: u32 = 48;
/// Largest magnitude of an activation or level exponent.
pub const MAX_EXP: i32 = 64;

fn inv(field: impl Into<String>, message: impl Into<String>) -> ModelError {
    ModelError::invalid(field, message)
}

fn check_act(field: &str, f: ActFormat) -> Result<(), ModelError> {
    if !(2..=MAX_ACT_BITS).contains(&f.bits) {
        return Err(inv(
            format!("{field}.bits"),
            format!("activation width {} outside 2..={MAX_ACT_BITS}", f.bits),
        ));
    }
    if f.exp.abs() > MAX_EXP {
        return Err(inv(
            format!("{field}.exp"),
            format!("exponent {} outside -{MAX_EXP}..={MAX_EXP}", f.exp),
        ));
    }
    Ok(())
}

fn check_weights(
    field: &str,
    w: &WeightTensor,
    out: usize,
    count: usize,
) -> Result<(), ModelError> {
    if !(2..=8).contains(&w.bits) {
        return Err(inv(
            format!("{field}.bits"),
            format!("weight code width {} outside 2..=8", w.bits),
        ));
    }
    if w.n1.len() != 1 && w.n1.len() != out {
        return Err(inv(
            format!("{field}.n1"),
            format!(
                "has {} entries; expected 1 or {out} (one per output channel)",
                w.n1.len()
            ),
        ));
    }
    for (i, &n1) in w.n1.iter().enumerate() {
        if n1.abs() > MAX_EXP {
            return Err(inv(
                format!("{field}.n1[{i}]"),
                format!("exponent {n1} outside -{MAX_EXP}..={MAX_EXP}"),
            ));
        }
    }
    if w.codes.len() != count {
        return Err(inv(
            format!("{field}.codes"),
            format!(
                "has {} codes; the layer's weight shape needs {count}",
                w.codes.len()
            ),
        ));
    }
    for (i, &c) in w.codes.iter().enumerate() {
        if let Err(e) = w.decode(c) {
            let why = match e {
                numerics::CodeError::TooWide => format!("code {c} does not fit {} bits", w.bits),
                numerics::CodeError::DirtyZero => format!(
                    "code {c} has the non-zero flag clear but other bits set (only 0 encodes zero)"
                ),
                numerics::CodeError::MostNegative => format!(
                    "code {c} is the most negative {}-bit integer; uniform integer weights are symmetric (|q| <= {})",
                    w.bits,
                    numerics::int_max(w.bits)
                ),
            };
            return Err(inv(format!("{field}.codes[{i}]"), why));
        }
    }
    Ok(())
}

/// Checks the output spec of a weighted layer and returns its activation format (None for
/// logits).
fn check_output(
    field: &str,
    output: &Output,
    relu: bool,
    is_last: bool,
) -> Result<Option<ActFormat>, ModelError> {
    match output.act() {
        None => {
            if !is_last {
                return Err(inv(
                    format!("{field}.output"),
                    "logits output is only allowed on the final layer",
                ));
            }
            if relu {
                return Err(inv(
                    format!("{field}.relu"),
                    "a logits output cannot have ReLU",
                ));
            }
            Ok(None)
        }
        Some(f) => {
            check_act(&format!("{field}.output"), f)?;
            if relu == f.signed {
                return Err(inv(
                    format!("{field}.output.signed"),
                    if relu {
                        "a ReLU layer must have an unsigned output format"
                    } else {
                        "a layer without ReLU must have a signed output format"
                    },
                ));
            }
            if is_last {
                return Err(inv(
                    format!("{field}.output"),
                    "the final layer must output logits",
                ));
            }
            Ok(Some(f))
        }
    }
}

/// Checks the accumulator bound and requantization shifts of a weighted layer.
#[allow(clippy::too_many_arguments)]
fn check_acc(
    field: &str,
    w: &WeightTensor,
    bias: &[i64],
    out: usize,
    row_len: usize,
    x_max_abs: i64,
    input: ActFormat,
    output: Option<ActFormat>,
) -> Result<(), ModelError> {
    let n2min = numerics::n2_min(w, out);
    for (c, &b) in bias.iter().enumerate().take(out) {
        let row = &w.codes[c * row_len..(c + 1) * row_len];
        let bound = numerics::acc_bound_row_kind(w.kind, row, w.bits, b, x_max_abs);
        let mut width = numerics::signed_width_for(bound);
        match output {
            Some(f) => {
                let r = numerics::requant_shift(input, w, c, f);
                if !(-32..=62).contains(&r) {
                    return Err(inv(
                        format!("{field}.output.exp"),
                        format!("requantization shift {r} of channel {c} outside -32..=62"),
                    ));
                }
                if r < 0 {
                    width += (-r) as u32;
                }
            }
            None => width += (numerics::n2_of(w, c) - n2min) as u32,
        }
        if width > MAX_ACC_BITS {
            return Err(inv(
                format!("{field}.bias[{c}]"),
                format!(
                    "channel {c} needs a {width}-bit accumulator (bound {bound}); at most {MAX_ACC_BITS} allowed"
                ),
            ));
        }
    }
    Ok(())
}

/// Validates a whole model.
pub fn validate(m: &QuantModel) -> Result<(), ModelError> {
    if m.format != FORMAT_NAME {
        return Err(inv(
            "format",
            format!("expected \"{FORMAT_NAME}\", found \"{}\"", m.format),
        ));
    }
    if m.version != FORMAT_VERSION {
        return Err(inv(
            "version",
            format!(
                "unsupported format version {}; this build reads version {FORMAT_VERSION}",
                m.version
            ),
        ));
    }
    shapes(m).map(|_| ())
}

/// Validates and returns the tensor shape after each layer (index 0 is the input):
/// `[C, H, W]` for feature maps, `[N]` for vectors.
pub fn shapes(m: &QuantModel) -> Result<Vec<Vec<usize>>, ModelError> {
    let [c0, h0, w0] = m.input.shape;
    if c0 == 0 || h0 == 0 || w0 == 0 {
        return Err(inv("input.shape", "every dimension must be at least 1"));
    }
    check_act("input.format", m.input.format)?;
    if m.layers.is_empty() {
        return Err(inv("layers", "a model needs at least one layer"));
    }
    let mut shape = vec![c0, h0, w0];
    let mut fmt = Some(m.input.format);
    let mut out = vec![shape.clone()];
    let n = m.layers.len();
    for (i, layer) in m.layers.iter().enumerate() {
        let field = format!("layers[{i}]");
        let is_last = i + 1 == n;
        let Some(in_fmt) = fmt else {
            return Err(inv(field, "no layer may follow a logits output"));
        };
        match layer {
            Layer::Conv(l) => {
                let [c, h, w] = chw(&field, &shape)?;
                if l.in_channels != c {
                    return Err(inv(
                        format!("{field}.in_channels"),
                        format!(
                            "is {} but the incoming tensor has {c} channels",
                            l.in_channels
                        ),
                    ));
                }
                if l.out_channels == 0 {
                    return Err(inv(format!("{field}.out_channels"), "must be at least 1"));
                }
                let [kh, kw] = l.kernel;
                let [sh, sw] = l.stride;
                if kh == 0 || kw == 0 {
                    return Err(inv(format!("{field}.kernel"), "must be at least 1×1"));
                }
                if sh == 0 || sw == 0 {
                    return Err(inv(format!("{field}.stride"), "must be at least 1"));
                }
                let [pt, pl, pb, pr] = l.pad;
                if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
                    return Err(inv(
                        format!("{field}.pad"),
                        "padding must be smaller than the kernel",
                    ));
                }
                let hp = h + pt + pb;
                let wp = w + pl + pr;
                if hp < kh || wp < kw {
                    return Err(inv(
                        format!("{field}.kernel"),
                        format!("kernel {kh}×{kw} larger than the padded input {hp}×{wp}"),
                    ));
                }
                if l.pad_value < in_fmt.min() || l.pad_value > in_fmt.max() {
                    return Err(inv(
                        format!("{field}.pad_value"),
                        format!("{} outside the input format's range", l.pad_value),
                    ));
                }
                let count = l.out_channels * c * kh * kw;
                check_weights(
                    &format!("{field}.weights"),
                    &l.weights,
                    l.out_channels,
                    count,
                )?;
                if l.bias.len() != l.out_channels {
                    return Err(inv(
                        format!("{field}.bias"),
                        format!("has {} entries; expected {}", l.bias.len(), l.out_channels),
                    ));
                }
                let of = check_output(&field, &l.output, l.relu, is_last)?;
                let x_max = in_fmt.max_abs().max(l.pad_value.abs());
                check_acc(
                    &field,
                    &l.weights,
                    &l.bias,
                    l.out_channels,
                    c * kh * kw,
                    x_max,
                    in_fmt,
                    of,
                )?;
                shape = vec![l.out_channels, (hp - kh) / sh + 1, (wp - kw) / sw + 1];
                fmt = of;
            }
            Layer::Dense(l) => {
                if shape.len() != 1 {
                    return Err(inv(
                        field.clone(),
                        format!(
                            "dense layer needs a vector input; got shape {shape:?} (add a flatten)"
                        ),
                    ));
                }
                if l.in_features != shape[0] {
                    return Err(inv(
                        format!("{field}.in_features"),
                        format!(
                            "is {} but the incoming vector has {} elements",
                            l.in_features, shape[0]
                        ),
                    ));
                }
                if l.out_features == 0 {
                    return Err(inv(format!("{field}.out_features"), "must be at least 1"));
                }
                let count = l.out_features * l.in_features;
                check_weights(
                    &format!("{field}.weights"),
                    &l.weights,
                    l.out_features,
                    count,
                )?;
                if l.bias.len() != l.out_features {
                    return Err(inv(
                        format!("{field}.bias"),
                        format!("has {} entries; expected {}", l.bias.len(), l.out_features),
                    ));
                }
                let of = check_output(&field, &l.output, l.relu, is_last)?;
                check_acc(
                    &field,
                    &l.weights,
                    &l.bias,
                    l.out_features,
                    l.in_features,
                    in_fmt.max_abs(),
                    in_fmt,
                    of,
                )?;
                shape = vec![l.out_features];
                fmt = of;
            }
            Layer::MaxPool(p) | Layer::AvgPool(p) => {
                let [c, h, w] = chw(&field, &shape)?;
                let [kh, kw] = p.kernel;
                let [sh, sw] = p.stride;
                if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
                    return Err(inv(
                        format!("{field}.kernel"),
                        "kernel and stride must be at least 1",
                    ));
                }
                if kh > h || kw > w {
                    return Err(inv(
                        format!("{field}.kernel"),
                        format!("window {kh}×{kw} larger than the input {h}×{w}"),
                    ));
                }
                if matches!(layer, Layer::AvgPool(_)) && numerics::log2_exact(kh * kw).is_none() {
                    return Err(inv(
                        format!("{field}.kernel"),
                        format!("average window {kh}×{kw} does not hold a power of two elements"),
                    ));
                }
                shape = vec![c, (h - kh) / sh + 1, (w - kw) / sw + 1];
            }
            Layer::GlobalAvgPool(_) => {
                let [c, h, w] = chw(&field, &shape)?;
                if numerics::log2_exact(h * w).is_none() {
                    return Err(inv(
                        field,
                        format!("global average over {h}×{w} is not over a power of two elements"),
                    ));
                }
                shape = vec![c, 1, 1];
            }
            Layer::Flatten(_) => {
                shape = vec![shape.iter().product()];
            }
        }
        if is_last && fmt.is_some() {
            return Err(inv(
                field,
                "the final layer must be a conv or dense layer with a logits output",
            ));
        }
        out.push(shape.clone());
    }
    Ok(out)
}

fn chw(field: &str, shape: &[usize]) -> Result<[usize; 3], ModelError> {
    match shape {
        [c, h, w] => Ok([*c, *h, *w]),
        _ => Err(inv(
            field,
            format!("needs a [C, H, W] feature map; got shape {shape:?}"),
        )),
    }
}
