//! Shape ops on the data path: `Flatten(axis=1)`, `Reshape` to `[N, C·H·W]` or to the same
//! shape, `Squeeze` of `[N, C, 1, 1]`. Anything else would reorder data and is refused.

use super::{attrs, data_first, Cur, Data};
use crate::graph::Flatten;
use crate::onnx::const_eval::{reshape_dims, Sym};
use crate::onnx::state::Importer;
use crate::onnx::NodeIssue;

fn flatten_data(imp: &mut Importer, i: usize, x: &Data) -> Data {
    match x.cur {
        Cur::Map([c, h, w]) => {
            let k = imp.push(i, "", &[x], Flatten {}.into());
            imp.data_of(k, Cur::Vec(c * h * w), false)
        }
        Cur::Vec(_) => Data {
            producer: None,
            ..x.clone()
        },
    }
}

/// Lowers a `Flatten` node (`axis = 1`).
pub(crate) fn flatten(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    let a = attrs(imp, i, &["axis"])?;
    let x = data_first(imp, i, ins)?;
    let axis = a.int("axis", 1).map_err(|m| imp.issue(i, m))?;
    let rank = match x.cur {
        Cur::Map(_) => 4,
        Cur::Vec(_) => 2,
    };
    if axis != 1 && axis != 1 - rank {
        return Err(imp.issue(
            i,
            format!("axis={axis} is not supported (only axis=1: keep the batch dimension)"),
        ));
    }
    Ok(flatten_data(imp, i, &x))
}

/// Lowers a `Reshape` node.
pub(crate) fn reshape(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    let a = attrs(imp, i, &["allowzero"])?;
    let x = data_first(imp, i, ins)?;
    let target = imp
        .consts
        .input(i, 1, 0)?
        .ok_or_else(|| imp.issue(i, "input #1 (shape) is missing"))?;
    let syms = target
        .syms()
        .map_err(|m| imp.issue(i, format!("shape {m}")))?
        .to_vec();
    let b = match imp.batch {
        Sym::Val(b) => b,
        Sym::Batch => 1,
    };
    let t: Vec<i64> = syms
        .iter()
        .map(|s| match s {
            Sym::Val(v) => *v,
            Sym::Batch => b,
        })
        .collect();
    let allowzero = a.int("allowzero", 0).map_err(|m| imp.issue(i, m))? != 0;
    let b = b as usize;
    let in_dims: Vec<usize> = match x.cur {
        Cur::Map([c, h, w]) => vec![b, c, h, w],
        Cur::Vec(n) => vec![b, n],
    };
    let got = reshape_dims(&in_dims, &t, allowzero).map_err(|m| imp.issue(i, m))?;
    let f: usize = in_dims[1..].iter().product();
    if got == in_dims {
        imp.notes.push(format!(
            "Reshape node #{i} to {t:?} changes nothing; skipped"
        ));
        Ok(Data {
            producer: None,
            ..x
        })
    } else if got == [b, f] {
        Ok(flatten_data(imp, i, &x))
    } else {
        Err(imp.issue(
            i,
            format!(
                "reshape of {in_dims:?} to {t:?} gives {got:?}; only a flatten to [N, {f}] (or no change) is supported"
            ),
        ))
    }
}

/// Lowers a `Squeeze` of axes `[2, 3]` of an `[N, C, 1, 1]` tensor (a flatten).
pub(crate) fn squeeze(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    let a = attrs(imp, i, &["axes"])?;
    let x = data_first(imp, i, ins)?;
    let axes = match a.ints("axes").map_err(|m| imp.issue(i, m))? {
        Some(v) => Some(v),
        None => imp
            .consts
            .input(i, 1, 0)?
            .map(|v| v.ints())
            .transpose()
            .map_err(|m| imp.issue(i, format!("axes {m}")))?,
    };
    match (x.cur, axes.as_deref()) {
        (Cur::Map([_, 1, 1]), Some([2, 3] | [3, 2] | [-2, -1] | [-1, -2])) => {
            Ok(flatten_data(imp, i, &x))
        }
        _ => Err(imp.issue(
            i,
            format!(
                "only squeezing axes [2, 3] of an [N, C, 1, 1] tensor is supported (axes {axes:?})"
            ),
        )),
    }
}
