//! Element orders: the model's C-major tensors versus the interface's HWC streams.
//!
//! The reference ([`inq_model::Reference`]) stores `[C, H, W]` tensors in C-major order
//! (element `(c, h, w)` at `(c·H + h)·W + w`). The hardware streams pixels in raster order with
//! channels innermost ("hwc"): element `(c, h, w)` is beat `(h·W + w)·C + c`.

use inq_model::{Layer, QuantModel, Tensor};

/// Reorders a C-major `[C, H, W]` tensor into HWC stream order (the simulator's definition,
/// re-exported: the harness must feed the RTL exactly what the simulator feeds its model).
pub use inq_sim::chw_to_hwc;

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

/// The reference tensor after layer `layer` of `model`, in the stream order `order` of a
/// manifest tap.
///
/// * `"hwc"`: a `[C, H, W]` tensor is reordered with [`chw_to_hwc`]. A vector produced by a
///   `flatten` of a `[C, H, W]` tensor is taken in the HWC order of that tensor (a flatten
///   moves no data in hardware: the stream keeps its HWC order and the next dense engine's
///   weights are permuted instead). Any other vector is taken as is.
/// * `"chw"` (or `"c_major"`): the reference order as is.
///
/// `layers` are the reference's per-layer tensors ([`inq_model::RunOutput::layers`]); `input`
/// the input tensor. Returns `None` for an unknown order or layer index.
pub fn tap_order(
    model: &QuantModel,
    input: &Tensor,
    layers: &[Tensor],
    layer: usize,
    order: &str,
) -> Option<Vec<i64>> {
    let t = layers.get(layer)?;
    match order {
        "chw" | "c_major" => Some(t.data.clone()),
        "hwc" => match t.shape.as_slice() {
            [c, h, w] => Some(chw_to_hwc(&t.data, [*c, *h, *w])),
            [_] => {
                if let Some(Layer::Flatten(_)) = model.layers.get(layer) {
                    let prev = if layer == 0 {
                        input
                    } else {
                        &layers[layer - 1]
                    };
                    if let [c, h, w] = prev.shape.as_slice() {
                        return Some(chw_to_hwc(&prev.data, [*c, *h, *w]));
                    }
                }
                Some(t.data.clone())
            }
            _ => None,
        },
        _ => None,
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
        use inq_model::{ActFormat, InputSpec, NamedLayer};
        let model = QuantModel::new(
            "t",
            InputSpec {
                shape: [2, 1, 2],
                format: ActFormat {
                    bits: 8,
                    signed: false,
                    exp: 0,
                },
                mapping: String::new(),
            },
            vec![Layer::Flatten(NamedLayer { name: "f".into() })],
        );
        let input = Tensor {
            shape: vec![2, 1, 2],
            data: vec![1, 2, 3, 4],
        };
        let layers = vec![Tensor {
            shape: vec![4],
            data: vec![1, 2, 3, 4],
        }];
        assert_eq!(
            tap_order(&model, &input, &layers, 0, "hwc"),
            Some(vec![1, 3, 2, 4])
        );
        assert_eq!(
            tap_order(&model, &input, &layers, 0, "chw"),
            Some(vec![1, 2, 3, 4])
        );
        assert_eq!(tap_order(&model, &input, &layers, 0, "xyz"), None);
        assert_eq!(tap_order(&model, &input, &layers, 1, "hwc"), None);
    }
}
