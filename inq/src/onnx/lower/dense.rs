//! `Gemm` and `MatMul` with a constant right operand: fully connected layers.

use super::{attrs, data_first, vector, Cur, Data};
use crate::graph::Dense;
use crate::onnx::state::Importer;
use crate::onnx::NodeIssue;

/// Lowers a `Gemm` node (`transA = 0`, `transB` 0 or 1, `alpha`/`beta` folded).
pub(crate) fn gemm(imp: &mut Importer, i: usize, ins: &[Option<Data>]) -> Result<Data, NodeIssue> {
    let a = attrs(imp, i, &["alpha", "beta", "transA", "transB"])?;
    let x = data_first(imp, i, ins)?;
    let n = vector(imp, i, x.cur)?;
    let e = |m: String| imp.issue(i, m);
    if a.int("transA", 0).map_err(e)? != 0 {
        return Err(imp.issue(i, "transA=1 is not supported"));
    }
    let trans_b = a.int("transB", 0).map_err(e)?;
    let alpha = a.float("alpha", 1.0).map_err(e)?;
    let beta = a.float("beta", 1.0).map_err(e)?;
    let (bd, b) = imp
        .weights(i, 1, "B")?
        .ok_or_else(|| imp.issue(i, "input #1 (B) is missing"))?;
    if bd.len() != 2 {
        return Err(imp.issue(i, format!("B has shape {bd:?}; a 2-D matrix is needed")));
    }
    let (k, m) = match trans_b {
        0 => (bd[0], bd[1]),
        1 => (bd[1], bd[0]),
        t => return Err(imp.issue(i, format!("transB={t} is not supported"))),
    };
    if k != n {
        return Err(imp.issue(
            i,
            format!("B has shape {bd:?} (transB={trans_b}): {k} input features, but the incoming vector has {n}"),
        ));
    }
    let mut weight = vec![0.0f32; m * n];
    for o in 0..m {
        for r in 0..n {
            let v = if trans_b == 1 {
                b[o * n + r]
            } else {
                b[r * m + o]
            };
            weight[o * n + r] = alpha * v;
        }
    }
    let bias = match imp.weights(i, 2, "C")? {
        None => vec![0.0; m],
        Some((cd, cv)) => {
            let per = if cv.len() == 1 {
                vec![cv[0]; m]
            } else if cv.len() == m && (cd.len() == 1 || (cd.len() == 2 && cd[0] == 1)) {
                cv
            } else {
                return Err(imp.issue(
                    i,
                    format!("C has shape {cd:?}; expected [{m}], [1, {m}] or a scalar"),
                ));
            };
            per.iter().map(|&x| beta * x).collect()
        }
    };
    let d = Dense {
        in_features: n,
        out_features: m,
        weight,
        bias,
    };
    let k = imp.push(i, "", &[&x], d.into());
    Ok(imp.data_of(k, Cur::Vec(m), true))
}

/// Lowers a `MatMul` node with a constant `[in, out]` right operand (bias 0; a following
/// `Add` of a constant becomes its bias).
pub(crate) fn matmul(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    attrs(imp, i, &[])?;
    let x = data_first(imp, i, ins)?;
    let n = vector(imp, i, x.cur)?;
    let (dims, b) = imp
        .weights(i, 1, "B")?
        .ok_or_else(|| imp.issue(i, "input #1 (B) is missing"))?;
    if dims.len() != 2 || dims[0] != n {
        return Err(imp.issue(
            i,
            format!("B has shape {dims:?}; a constant [{n}, out] matrix is needed"),
        ));
    }
    let m = dims[1];
    let mut weight = vec![0.0; n * m];
    for r in 0..n {
        for c in 0..m {
            weight[c * n + r] = b[r * m + c];
        }
    }
    let d = Dense {
        in_features: n,
        out_features: m,
        weight,
        bias: vec![0.0; m],
    };
    let k = imp.push(i, "", &[&x], d.into());
    Ok(imp.data_of(k, Cur::Vec(m), true))
}
