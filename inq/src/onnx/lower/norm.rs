//! `BatchNormalization`: folded into the directly preceding Conv/Gemm/MatMul (on any branch
//! of the graph), never kept as a node.

use super::{attrs, fold_target, Cur, Data};
use crate::onnx::state::Importer;
use crate::onnx::NodeIssue;

/// Lowers (folds) a `BatchNormalization` node.
pub(crate) fn batchnorm(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    let a = attrs(imp, i, &["epsilon", "momentum", "training_mode"])?;
    let x = super::data_first(imp, i, ins)?;
    let e = |m: String| imp.issue(i, m);
    if a.int("training_mode", 0).map_err(e)? != 0 {
        return Err(imp.issue(i, "training_mode=1 is not supported (inference only)"));
    }
    let eps32 = a.float("epsilon", 1e-5).map_err(e)?;
    let eps = f64::from(eps32);
    let c = match x.cur {
        Cur::Map([c, _, _]) => c,
        Cur::Vec(n) => n,
    };
    let mut p = Vec::new();
    for (k, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
        let (d, v) = imp
            .weights(i, k, what)?
            .ok_or_else(|| imp.issue(i, format!("input #{k} ({what}) is missing")))?;
        if v.len() != c {
            return Err(imp.issue(i, format!("{what} has shape {d:?}; expected [{c}]")));
        }
        p.push(v);
    }
    let tensor = imp.nodes[i].input[0].clone();
    let Some(target) = fold_target(imp, &x, &tensor) else {
        return Err(imp.issue(
            i,
            "BatchNormalization must directly follow a Conv, Gemm or MatMul whose output nothing else reads (it is folded into it)",
        ));
    };
    let (gamma, beta, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
    if let Some(k) = var
        .iter()
        .position(|&v| !v.is_finite() || f64::from(v) + eps <= 0.0)
    {
        return Err(imp.issue(i, format!("var[{k}] + epsilon is not positive")));
    }
    let scale: Vec<f64> = (0..c)
        .map(|k| f64::from(gamma[k]) / (f64::from(var[k]) + eps).sqrt())
        .collect();
    match imp.out[target].op.params_mut() {
        Some((weight, bias)) => {
            let per = weight.len() / c.max(1);
            for k in 0..c {
                for w in &mut weight[k * per..(k + 1) * per] {
                    *w = (f64::from(*w) * scale[k]) as f32;
                }
                bias[k] = ((f64::from(bias[k]) - f64::from(mean[k])) * scale[k]
                    + f64::from(beta[k])) as f32;
            }
        }
        None => return Err(imp.issue(i, "internal: no layer to fold into")),
    }
    let into = imp.out[target].name.clone();
    let bn = imp.nodes[i].name().to_string();
    imp.notes.push(format!(
        "folded BatchNormalization '{bn}' (#{i}, epsilon {eps32}) into '{into}'"
    ));
    Ok(Data {
        producer: Some(target),
        ..x
    })
}
