//! `Softmax` / `LogSoftmax`: accepted only as the final node over the class axis and dropped
//! (the argmax is unchanged), with a note.

use super::{attrs, vector, Data};
use crate::onnx::state::Importer;
use crate::onnx::NodeIssue;

/// Lowers (drops) a final `Softmax` or `LogSoftmax`.
pub(crate) fn softmax(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    let a = attrs(imp, i, &["axis"])?;
    let x = super::data_first(imp, i, ins)?;
    let op = imp.nodes[i].op_type().to_string();
    let out = imp.nodes[i].output.first().cloned().unwrap_or_default();
    let last = imp.readers(&out) == 0 && out == imp.graph_output;
    let n = vector(imp, i, x.cur)?;
    let default_axis = if imp.opset >= 13 { -1 } else { 1 };
    let axis = a.int("axis", default_axis).map_err(|m| imp.issue(i, m))?;
    if !last || !(axis == 1 || axis == -1) {
        return Err(imp.issue(
            i,
            format!("{op} is only supported as the final node over the class axis (it is then dropped; the argmax is unchanged)"),
        ));
    }
    imp.notes.push(format!(
        "dropped the final {op} node #{i}: the imported model outputs the {n} logits before it (argmax unchanged)"
    ));
    Ok(Data {
        producer: None,
        ..x
    })
}
