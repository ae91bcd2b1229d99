//! Folding batch normalization into the conv or dense node it follows (before quantization and
//! export): `W' = W·s`, `b' = (b − μ)·s + β` per output channel with `s = γ/√(σ² + ε)`.
//!
//! Refuses, naming the node, a BatchNorm whose input is not the output of a conv/dense node
//! read by that BatchNorm only (after a ReLU, an Add, the model input, or a conv whose output
//! also feeds another node). Owns nothing else.

use super::{FloatModel, FloatOp, GraphError, Source};

/// The model with every BatchNorm node folded into its producer (the producer keeps its name;
/// readers of the BatchNorm read the producer instead). A model without BatchNorm is returned
/// unchanged.
pub fn fold_batchnorm(model: &FloatModel) -> Result<FloatModel, GraphError> {
    let mut m = model.clone();
    loop {
        let Some(bi) = m
            .nodes
            .iter()
            .position(|n| matches!(n.op, FloatOp::BatchNorm(_)))
        else {
            return Ok(m);
        };
        let g = m.graph()?;
        let err = |message: String| GraphError::Node {
            index: bi,
            name: m.nodes[bi].name.clone(),
            op: "BatchNorm".into(),
            message,
        };
        let p = match g.inputs[bi][0] {
            Source::Node(p) => p,
            Source::Input => {
                return Err(err(
                    "reads the model input; it can only be folded into a conv or dense node it directly follows".into(),
                ))
            }
        };
        if !matches!(m.nodes[p].op, FloatOp::Conv(_) | FloatOp::Dense(_)) {
            return Err(err(format!(
                "follows '{}' ({}); it must directly follow a conv or dense node to be folded into it",
                m.nodes[p].name,
                m.nodes[p].op.op_name()
            )));
        }
        if g.uses[p].len() != 1 || g.output == p {
            return Err(err(format!(
                "cannot be folded into '{}': that node's output is also read elsewhere",
                m.nodes[p].name
            )));
        }
        let FloatOp::BatchNorm(bn) = m.nodes[bi].op.clone() else {
            unreachable!("found above")
        };
        let aff = bn.affine();
        if let Some((weight, bias)) = m.nodes[p].op.params_mut() {
            let per = weight.len() / aff.len().max(1);
            for (k, &(s, t)) in aff.iter().enumerate() {
                for w in &mut weight[k * per..(k + 1) * per] {
                    *w = (f64::from(*w) * s) as f32;
                }
                bias[k] = (f64::from(bias[k]) * s + t) as f32;
            }
        }
        let (bn_name, p_name) = (m.nodes[bi].name.clone(), m.nodes[p].name.clone());
        m.nodes.remove(bi);
        for n in &mut m.nodes {
            for i in &mut n.inputs {
                if *i == bn_name {
                    i.clone_from(&p_name);
                }
            }
        }
        if m.output == bn_name {
            m.output = p_name;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{BatchNorm, Conv, Node, Normalization, Relu};

    #[test]
    fn folds_and_refuses() {
        let mut bn = BatchNorm::new(2);
        bn.gamma = vec![2.0, 0.5];
        bn.beta = vec![0.1, -0.1];
        bn.mean = vec![1.0, -1.0];
        bn.var = vec![4.0 - 1e-5, 1.0 - 1e-5];
        let conv = Conv::new(1, 2, [1, 1], [1, 1], [0; 4], vec![1.0, 3.0]);
        let m = FloatModel::new(
            "t",
            [1, 1, 1],
            Normalization::default(),
            vec![
                Node::new("c", &["input"], conv),
                Node::new("bn", &["c"], bn.clone()),
                Node::new("r", &["bn"], Relu {}),
            ],
            "r",
        );
        let f = fold_batchnorm(&m).unwrap();
        assert_eq!(f.nodes.len(), 2);
        assert_eq!(f.nodes[1].inputs, vec!["c".to_string()]);
        let FloatOp::Conv(c) = &f.nodes[0].op else {
            panic!()
        };
        // s = 2/2 = 1, 0.5/1 = 0.5; b' = (0 - 1)·1 + 0.1, (0 + 1)·0.5 - 0.1
        assert!((c.weight[0] - 1.0).abs() < 1e-6 && (c.weight[1] - 1.5).abs() < 1e-6);
        assert!((c.bias[0] + 0.9).abs() < 1e-6 && (c.bias[1] - 0.4).abs() < 1e-6);
        let mut bad = m.clone();
        bad.nodes.swap(1, 2);
        bad.nodes[1].inputs = vec!["c".into()];
        bad.nodes[2].inputs = vec!["r".into()];
        bad.output = "bn".into();
        let e = fold_batchnorm(&bad).unwrap_err().to_string();
        assert!(e.contains("'bn'") && e.contains("directly follow"), "{e}");
    }
}
