//! Pooling: `MaxPool`, `AveragePool` (no padding, no dilation; average windows of a power of
//! two elements), `GlobalAveragePool` and `ReduceMean` over the spatial axes.

use super::{attrs, data_first, map, Cur, Data};
use crate::graph::{AvgPool, Flatten, GlobalAvgPool, MaxPool, Window};
use crate::onnx::state::Importer;
use crate::onnx::NodeIssue;

fn pool(imp: &mut Importer, i: usize, ins: &[Option<Data>], max: bool) -> Result<Data, NodeIssue> {
    let a = if max {
        attrs(
            imp,
            i,
            &[
                "auto_pad",
                "ceil_mode",
                "dilations",
                "kernel_shape",
                "pads",
                "storage_order",
                "strides",
            ],
        )?
    } else {
        attrs(
            imp,
            i,
            &[
                "auto_pad",
                "ceil_mode",
                "count_include_pad",
                "dilations",
                "kernel_shape",
                "pads",
                "strides",
            ],
        )?
    };
    let x = data_first(imp, i, ins)?;
    let [c, h, w] = map(imp, i, x.cur)?;
    let e = |m: String| imp.issue(i, m);
    let kernel = match a.ints("kernel_shape").map_err(e)? {
        Some(k) if k.len() == 2 && k.iter().all(|&x| x >= 1) => [k[0] as usize, k[1] as usize],
        other => {
            return Err(imp.issue(
                i,
                format!("kernel_shape={other:?}: two positive values needed"),
            ))
        }
    };
    let stride = a.spatial("strides", [1, 1]).map_err(e)?;
    a.no_dilation().map_err(e)?;
    let pad = a.padding([h, w], kernel, stride).map_err(e)?;
    if pad != [0; 4] {
        return Err(imp.issue(
            i,
            format!("padding {pad:?} is not supported for pooling (only none)"),
        ));
    }
    if kernel[0] > h || kernel[1] > w {
        return Err(imp.issue(
            i,
            format!(
                "window {}×{} larger than the input {h}×{w}",
                kernel[0], kernel[1]
            ),
        ));
    }
    if a.int("ceil_mode", 0).map_err(e)? != 0 {
        let changes = (h - kernel[0]) % stride[0] != 0 || (w - kernel[1]) % stride[1] != 0;
        if changes {
            return Err(imp.issue(
                i,
                "ceil_mode=1 is not supported where it changes the output size",
            ));
        }
    }
    if !max && !(kernel[0] * kernel[1]).is_power_of_two() {
        return Err(imp.issue(
            i,
            format!(
                "average window {}×{} = {} elements: only power-of-two windows are supported",
                kernel[0],
                kernel[1],
                kernel[0] * kernel[1]
            ),
        ));
    }
    let win = Window { kernel, stride };
    let op = if max {
        MaxPool(win).into()
    } else {
        AvgPool(win).into()
    };
    let k = imp.push(i, "", &[&x], op);
    let cur = Cur::Map([
        c,
        (h - kernel[0]) / stride[0] + 1,
        (w - kernel[1]) / stride[1] + 1,
    ]);
    Ok(imp.data_of(k, cur, false))
}

/// Lowers a `MaxPool` node.
pub(crate) fn max_pool(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    pool(imp, i, ins, true)
}

/// Lowers an `AveragePool` node.
pub(crate) fn average_pool(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    pool(imp, i, ins, false)
}

fn global(imp: &mut Importer, i: usize, x: &Data) -> Result<Data, NodeIssue> {
    let [c, _, _] = map(imp, i, x.cur)?;
    let k = imp.push(i, "", &[x], GlobalAvgPool {}.into());
    Ok(imp.data_of(k, Cur::Map([c, 1, 1]), false))
}

/// Lowers a `GlobalAveragePool` node (any plane size).
pub(crate) fn global_average_pool(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    attrs(imp, i, &[])?;
    let x = data_first(imp, i, ins)?;
    global(imp, i, &x)
}

/// Lowers a `ReduceMean` over axes `[2, 3]` (a global average pool; with `keepdims=0` followed
/// by a flatten).
pub(crate) fn reduce_mean(
    imp: &mut Importer,
    i: usize,
    ins: &[Option<Data>],
) -> Result<Data, NodeIssue> {
    let a = attrs(imp, i, &["axes", "keepdims", "noop_with_empty_axes"])?;
    let x = data_first(imp, i, ins)?;
    let axes = match a.ints("axes").map_err(|m| imp.issue(i, m))? {
        Some(v) => v,
        None => match imp.consts.input(i, 1, 0)? {
            Some(v) => v.ints().map_err(|m| imp.issue(i, format!("axes {m}")))?,
            None => vec![],
        },
    };
    let mut ax: Vec<i64> = axes
        .iter()
        .map(|&a| if a < 0 { a + 4 } else { a })
        .collect();
    ax.sort_unstable();
    if ax != [2, 3] || !matches!(x.cur, Cur::Map(_)) {
        return Err(imp.issue(
            i,
            format!("only a mean over the spatial axes [2, 3] of a feature map is supported (axes {axes:?})"),
        ));
    }
    let keep = a.int("keepdims", 1).map_err(|m| imp.issue(i, m))? != 0;
    let g = global(imp, i, &x)?;
    if keep {
        Ok(g)
    } else {
        let c = map(imp, i, g.cur)?[0];
        let k = imp.push(i, "_flatten", &[&g], Flatten {}.into());
        Ok(imp.data_of(k, Cur::Vec(c), false))
    }
}
