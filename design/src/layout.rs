//! Element orders: the model's C-major tensors versus the hardware's HWC streams, and the
//! values a tap must carry.
//!
//! The reference ([`inq_model::Reference`]) stores `[C, H, W]` tensors in C-major order
//! (element `(c, h, w)` at `(c·H + h)·W + w`). The hardware streams pixels in raster order with
//! channels innermost ("hwc"): element `(c, h, w)` is beat `(h·W + w)·C + c`. A flatten moves
//! no data: its vector is the HWC stream of the map it flattens.

use inq_model::{QuantModel, RunOutput, Tensor};

/// Reorders a C-major `[C, H, W]` tensor into HWC stream order.
pub fn chw_to_hwc<T: Copy>(data: &[T], [c, h, w]: [usize; 3]) -> Vec<T> {
    let mut out = Vec::with_capacity(data.len());
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                out.push(data[(ch * h + y) * w + x]);
            }
        }
    }
    out
}

/// Reorders an HWC stream back into C-major order (inverse of [`chw_to_hwc`]).
pub fn hwc_to_chw<T: Copy + Default>(data: &[T], [c, h, w]: [usize; 3]) -> Vec<T> {
    let mut out = vec![T::default(); data.len()];
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                out[(ch * h + y) * w + x] = data[(y * w + x) * c + ch];
            }
        }
    }
    out
}

/// A tensor in stream order: `[C, H, W]` maps in HWC order, vectors as they are.
pub fn stream_order(t: &Tensor) -> Vec<i64> {
    match t.shape.as_slice() {
        [c, h, w] => chw_to_hwc(&t.data, [*c, *h, *w]),
        _ => t.data.clone(),
    }
}

/// The values the stream of model node `node` carries for one image (`None`: the model
/// input), in stream order: the node's tensor in HWC order, or for a flatten (of a flatten
/// ...) the HWC order of the map it flattens. `run` is the reference's output for `input`.
/// `None` for an unknown node.
pub fn tap_values(
    model: &QuantModel,
    input: &Tensor,
    run: &RunOutput,
    node: Option<usize>,
) -> Option<Vec<i64>> {
    let Some(mut i) = node else {
        return Some(stream_order(input));
    };
    let t = run.nodes.get(i)?;
    if t.shape.len() == 3 {
        return Some(stream_order(t));
    }
    // a vector: follow flatten nodes back to a map, if any
    loop {
        let n = model.nodes.get(i)?;
        if !matches!(n.op, inq_model::Op::Flatten(_)) {
            return Some(run.nodes[i].data.clone());
        }
        let src = n.inputs.first()?;
        if *src == model.input.name {
            return Some(stream_order(input));
        }
        let j = model.node_index(src)?;
        if run.nodes[j].shape.len() == 3 {
            return Some(stream_order(&run.nodes[j]));
        }
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwc_order_matches_interface_formula() {
        let (c, h, w) = (3, 2, 4);
        let chw: Vec<usize> = (0..c * h * w).collect();
        let hwc = chw_to_hwc(&chw, [c, h, w]);
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    assert_eq!(hwc[(y * w + x) * c + ch], (ch * h + y) * w + x);
                }
            }
        }
        assert_eq!(hwc_to_chw(&hwc, [c, h, w]), chw);
    }

    #[test]
    fn flatten_tap_keeps_the_hwc_order_of_its_input() {
        use inq_model::random::{build, LayerSpec, RandomSpec};
        let spec = RandomSpec {
            input: [2, 1, 2],
            input_format: inq_model::ActFormat {
                bits: 8,
                signed: false,
                exp: 0,
            },
            layers: vec![
                LayerSpec::Flatten,
                LayerSpec::Dense {
                    out: 2,
                    bits: 3,
                    act_bits: 8,
                    relu: false,
                    per_channel: false,
                },
            ],
        };
        let model = build(&spec, 1).unwrap();
        let input = Tensor {
            shape: vec![2, 1, 2],
            data: vec![1, 2, 3, 4],
        };
        let run = inq_model::run(&model, &input.data).unwrap();
        assert_eq!(
            tap_values(&model, &input, &run, Some(0)),
            Some(vec![1, 3, 2, 4])
        );
        assert_eq!(
            tap_values(&model, &input, &run, None),
            Some(vec![1, 3, 2, 4])
        );
        assert_eq!(tap_values(&model, &input, &run, Some(1)).unwrap().len(), 2);
        assert_eq!(tap_values(&model, &input, &run, Some(5)), None);
    }
}
