//! The lowering table: one function per ONNX `op_type` on the data path, grouped by op family
//! (one file each), found by [`find`].
//!
//! A lowering gets the importer state, the node's index and its inputs as data tensors
//! (`None` for constants and absent inputs; constants are read through
//! [`crate::onnx::state::Importer::weights`]); it adds float nodes (or folds into the previous
//! one) and returns the data tensor of the node's first output. Adding an op means adding one
//! line to [`TABLE`] and its function in the family's file.

mod conv;
mod dense;
mod elementwise;
mod norm;
mod pool;
mod shape;
mod softmax;

use super::attrs::Attrs;
use super::state::Importer;
pub(crate) use super::state::{Cur, Data};
use super::NodeIssue;

/// A lowering function.
pub(crate) type Lower = fn(&mut Importer, usize, &[Option<Data>]) -> Result<Data, NodeIssue>;

/// `op_type` → lowering.
pub(crate) const TABLE: &[(&str, Lower)] = &[
    ("Conv", conv::conv),
    ("Gemm", dense::gemm),
    ("MatMul", dense::matmul),
    ("Add", elementwise::add),
    ("Relu", elementwise::relu),
    ("Identity", elementwise::identity),
    ("Dropout", elementwise::dropout),
    ("BatchNormalization", norm::batchnorm),
    ("MaxPool", pool::max_pool),
    ("AveragePool", pool::average_pool),
    ("GlobalAveragePool", pool::global_average_pool),
    ("ReduceMean", pool::reduce_mean),
    ("Flatten", shape::flatten),
    ("Reshape", shape::reshape),
    ("Squeeze", shape::squeeze),
    ("Softmax", softmax::softmax),
    ("LogSoftmax", softmax::softmax),
];

/// Op types the importer maps onto the float graph (on the data path; the `TABLE` keys).
/// `Softmax`/`LogSoftmax` are accepted only as the final node and dropped.
pub const SUPPORTED_OPS: &[&str] = &[
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Relu",
    "Identity",
    "Dropout",
    "BatchNormalization",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "ReduceMean",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Softmax",
    "LogSoftmax",
];

/// The lowering of `op_type`.
pub(crate) fn find(op_type: &str) -> Option<Lower> {
    TABLE.iter().find(|(k, _)| *k == op_type).map(|(_, f)| *f)
}

/// The attributes of node `i`, checked against `allowed`.
pub(crate) fn attrs<'a>(
    imp: &Importer<'a>,
    i: usize,
    allowed: &[&str],
) -> Result<Attrs<'a>, NodeIssue> {
    let a = Attrs::of(&imp.nodes[i]);
    a.check(allowed).map_err(|m| imp.issue(i, m))?;
    Ok(a)
}

/// The data input #0; refuses data on any other input (weights must be constants).
pub(crate) fn data_first(
    imp: &Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    if let Some(k) = ins.iter().skip(1).position(|d| d.is_some()) {
        return Err(imp.issue(
            i,
            format!(
                "the activation enters as input #{}; only input #0 may depend on the model input (weights must be constants)",
                k + 1
            ),
        ));
    }
    match ins.first() {
        Some(Some(d)) => Ok(d.clone()),
        _ => Err(imp.issue(
            i,
            "the activation does not enter as input #0 (weights must be constants)",
        )),
    }
}

/// `[C, H, W]` of a feature map, or an error.
pub(crate) fn map(imp: &Importer, i: usize, cur: Cur) -> Result<[usize; 3], NodeIssue> {
    match cur {
        Cur::Map(s) => Ok(s),
        Cur::Vec(n) => Err(imp.issue(
            i,
            format!("needs an [N, C, H, W] feature map but receives a matrix [N, {n}]"),
        )),
    }
}

/// The length of a vector, or an error.
pub(crate) fn vector(imp: &Importer, i: usize, cur: Cur) -> Result<usize, NodeIssue> {
    match cur {
        Cur::Vec(n) => Ok(n),
        Cur::Map([c, h, w]) => Err(imp.issue(
            i,
            format!("needs a 2-D [N, F] input but receives [N, {c}, {h}, {w}]; flatten first"),
        )),
    }
}

/// The float node a BatchNormalization or bias `Add` reading `d` (ONNX tensor `tensor`) may be
/// folded into: `d`'s producer, if `tensor` has no other reader.
pub(crate) fn fold_target(imp: &Importer, d: &Data, tensor: &str) -> Option<usize> {
    d.producer.filter(|_| imp.readers(tensor) == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_list_agree() {
        let keys: Vec<&str> = TABLE.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, SUPPORTED_OPS);
    }
}
