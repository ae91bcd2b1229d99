//! Elementwise ops: `Add` (a residual sum of two data tensors, or a constant bias folded into
//! the preceding Conv/Gemm/MatMul), `Relu`, and the no-ops `Identity` and `Dropout`.

use super::{attrs, data_first, fold_target, Data};
use crate::graph::{Add, FloatOp, Relu};
use crate::onnx::state::Importer;
use crate::onnx::NodeIssue;

/// Lowers an `Add` node.
pub(crate) fn add(imp: &mut Importer, i: usize, ins: &[Option<Data>]) -> Result<Data, NodeIssue> {
    attrs(imp, i, &[])?;
    if imp.nodes[i].input.len() != 2 {
        return Err(imp.issue(i, "needs exactly two inputs"));
    }
    match (&ins[0], &ins[1]) {
        (Some(a), Some(b)) => {
            if a.cur != b.cur {
                return Err(imp.issue(
                    i,
                    format!(
                        "adds tensors of shapes {:?} and {:?}; only two tensors of one shape (a residual connection) or a constant per-channel bias are supported",
                        a.cur, b.cur
                    ),
                ));
            }
            let k = imp.push(i, "", &[a, b], Add {}.into());
            Ok(imp.data_of(k, a.cur, false))
        }
        (Some(x), None) | (None, Some(x)) => {
            let pos = usize::from(ins[0].is_none());
            let other = 1 - pos;
            let (dims, v) = imp
                .weights(i, other, "addend")?
                .ok_or_else(|| imp.issue(i, "the constant addend is missing"))?;
            let tensor = imp.nodes[i].input[pos].clone();
            let Some(p) = fold_target(imp, x, &tensor) else {
                return Err(imp.issue(
                    i,
                    "Add of a constant is only supported as the bias of a directly preceding Conv, Gemm or MatMul (whose output nothing else reads); Add of two tensors of one shape is a residual sum",
                ));
            };
            let (channels, ok) = match x.cur {
                super::Cur::Vec(m) => (
                    m,
                    v.len() == 1 || (v.len() == m && dims.iter().rev().skip(1).all(|&d| d == 1)),
                ),
                super::Cur::Map([c, _, _]) => (
                    c,
                    v.len() == 1
                        || (v.len() == c
                            && dims.len() >= 3
                            && dims[dims.len() - 1] == 1
                            && dims[dims.len() - 2] == 1
                            && dims.len() <= 4),
                ),
            };
            if !ok {
                return Err(imp.issue(
                    i,
                    format!("adding a constant of shape {dims:?} is not a per-channel bias of the {channels} outputs"),
                ));
            }
            let is_bn = matches!(imp.out[p].op, FloatOp::BatchNorm(_));
            match imp.out[p].op.params_mut() {
                Some((_, bias)) if !is_bn => {
                    for (o, b) in bias.iter_mut().enumerate() {
                        *b += if v.len() == 1 { v[0] } else { v[o] };
                    }
                }
                _ => return Err(imp.issue(i, "internal: no conv/dense node to fold the bias into")),
            }
            Ok(Data {
                producer: Some(p),
                ..x.clone()
            })
        }
        (None, None) => Err(imp.issue(i, "no input depends on the model input")),
    }
}

/// Lowers a `Relu` node.
pub(crate) fn relu(imp: &mut Importer, i: usize, ins: &[Option<Data>]) -> Result<Data, NodeIssue> {
    attrs(imp, i, &[])?;
    let x = data_first(imp, i, ins)?;
    let k = imp.push(i, "", &[&x], Relu {}.into());
    Ok(imp.data_of(k, x.cur, false))
}

/// `Identity`: the same tensor.
pub(crate) fn identity(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    attrs(imp, i, &[])?;
    let x = data_first(imp, i, ins)?;
    let tensor = imp.nodes[i].input[0].clone();
    Ok(Data {
        producer: fold_target(imp, &x, &tensor),
        ..x
    })
}

/// `Dropout` in inference: the same tensor (`training_mode` must be false, the mask unused).
pub(crate) fn dropout(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    attrs(imp, i, &["ratio", "seed"])?;
    let x = data_first(imp, i, ins)?;
    if let Some(t) = imp.consts.input(i, 2, 0)? {
        let v = t
            .ints()
            .map_err(|m| imp.issue(i, format!("training_mode {m}")))?;
        if v.iter().any(|&x| x != 0) {
            return Err(imp.issue(i, "training_mode=true is not supported (inference only)"));
        }
    }
    let tensor = imp.nodes[i].input[0].clone();
    Ok(Data {
        producer: fold_target(imp, &x, &tensor),
        ..x
    })
}
