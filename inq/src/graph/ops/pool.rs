//! `MaxPool` and `AvgPool`: windowed pooling without padding, any window and stride.

use serde::{Deserialize, Serialize};

use super::{chw, FloatOperator, Scratch};

/// Window and stride of a pooling node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
}

impl Window {
    /// Checks the window against a `[C, H, W]` input; returns the output shape.
    pub fn infer(&self, input: &[usize], what: &str) -> Result<Vec<usize>, String> {
        let [c, h, w] = chw(input, what)?;
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err("kernel and stride must be at least 1".into());
        }
        if kh > h || kw > w {
            return Err(format!("window {kh}×{kw} larger than the input {h}×{w}"));
        }
        Ok(vec![c, (h - kh) / sh + 1, (w - kw) / sw + 1])
    }
}

/// Max pooling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaxPool(pub Window);

/// Average pooling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvgPool(pub Window);

/// Pools one `[C, H, W]` image into `out`.
pub fn pool(input: &[f32], shape: &[usize], win: &Window, max: bool, out: &mut Vec<f32>) {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let [kh, kw] = win.kernel;
    let [sh, sw] = win.stride;
    let (oh, ow) = ((h - kh) / sh + 1, (w - kw) / sw + 1);
    let inv = 1.0 / (kh * kw) as f32;
    out.clear();
    out.reserve(c * oh * ow);
    for ch in 0..c {
        let plane = &input[ch * h * w..(ch + 1) * h * w];
        for y in 0..oh {
            for x in 0..ow {
                let mut m = f32::NEG_INFINITY;
                let mut sum = 0.0f32;
                for ky in 0..kh {
                    let at = (y * sh + ky) * w + x * sw;
                    for &v in &plane[at..at + kw] {
                        m = if v > m { v } else { m };
                        sum += v;
                    }
                }
                out.push(if max { m } else { sum * inv });
            }
        }
    }
}

impl FloatOperator for MaxPool {
    fn op_name(&self) -> &'static str {
        "MaxPool"
    }
    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        self.0.infer(inputs[0], "max pooling")
    }
    fn forward(&self, inputs: &[&[f32]], shapes: &[&[usize]], out: &mut Vec<f32>, _: &mut Scratch) {
        pool(inputs[0], shapes[0], &self.0, true, out)
    }
}

impl FloatOperator for AvgPool {
    fn op_name(&self) -> &'static str {
        "AvgPool"
    }
    fn infer(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, String> {
        self.0.infer(inputs[0], "average pooling")
    }
    fn forward(&self, inputs: &[&[f32]], shapes: &[&[usize]], out: &mut Vec<f32>, _: &mut Scratch) {
        pool(inputs[0], shapes[0], &self.0, false, out)
    }
}
