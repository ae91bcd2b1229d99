//! `Conv`: 2-D convolution, group 1 or depthwise, any kernel/stride/padding, no dilation.

use super::{attrs, data_first, map, Cur, Data};
use crate::graph::Conv;
use crate::onnx::state::Importer;
use crate::onnx::NodeIssue;

/// Lowers a `Conv` node.
pub(crate) fn conv(imp: &mut Importer, i: usize, ins: &[Option<Data>]) -> Result<Data, NodeIssue> {
    let a = attrs(
        imp,
        i,
        &[
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "pads",
            "strides",
        ],
    )?;
    let x = data_first(imp, i, ins)?;
    let [c, h, w] = map(imp, i, x.cur)?;
    let e = |m: String| imp.issue(i, m);
    let group = a.int("group", 1).map_err(e)?;
    a.no_dilation().map_err(e)?;
    let (wd, weight) = imp
        .weights(i, 1, "W")?
        .ok_or_else(|| imp.issue(i, "input #1 (W) is missing"))?;
    if wd.len() != 4 {
        return Err(imp.issue(
            i,
            format!("weight shape {wd:?}: only 2-D convolution ([out, in, kh, kw]) is supported"),
        ));
    }
    let (o, kh, kw) = (wd[0], wd[2], wd[3]);
    let depthwise = group > 1 && group as usize == c && o == c && wd[1] == 1;
    if group != 1 && !depthwise {
        return Err(imp.issue(
            i,
            format!(
                "group={group} is not supported: only group=1 or a depthwise convolution (group = input channels = output channels); here {c} input channels, {o} output channels, weight {wd:?}"
            ),
        ));
    }
    let per_group = if depthwise { 1 } else { c };
    if wd[1] != per_group {
        return Err(imp.issue(
            i,
            format!(
                "weight shape {wd:?} expects {} input channels per group but the incoming tensor has {c} channels in {group} group(s)",
                wd[1]
            ),
        ));
    }
    let e = |m: String| imp.issue(i, m);
    if let Some(k) = a.ints("kernel_shape").map_err(e)? {
        if k.len() != 2 || k[0] as usize != kh || k[1] as usize != kw {
            return Err(imp.issue(
                i,
                format!("kernel_shape={k:?} does not match the weight shape {wd:?}"),
            ));
        }
    }
    let stride = a.spatial("strides", [1, 1]).map_err(e)?;
    let pad = a.padding([h, w], [kh, kw], stride).map_err(e)?;
    let (hp, wp) = (h + pad[0] + pad[2], w + pad[1] + pad[3]);
    if hp < kh || wp < kw || kh == 0 || kw == 0 || o == 0 {
        return Err(imp.issue(
            i,
            format!("kernel {kh}×{kw} does not fit the padded input {hp}×{wp}"),
        ));
    }
    let bias = match imp.weights(i, 2, "B")? {
        None => vec![0.0; o],
        Some((_, b)) if b.len() == o => b,
        Some((bd, _)) => return Err(imp.issue(i, format!("bias shape {bd:?}; expected [{o}]"))),
    };
    let mut conv = Conv::new(c, o, [kh, kw], stride, pad, weight);
    conv.bias = bias;
    conv.group = group as usize;
    let (oh, ow) = conv.out_hw(h, w);
    let k = imp.push(i, "", &[&x], conv.into());
    Ok(imp.data_of(k, Cur::Map([o, oh, ow]), true))
}
