//! The float reference: a plain `f32` forward pass of a [`FloatModel`] graph, on one image or
//! a batch, and top-1 accuracy over a dataset.
//!
//! Used to check ONNX import against onnxruntime, to measure float accuracy and to calibrate
//! activations. It evaluates the checked graph ([`FloatGraph`]) in order and leaves each node's
//! arithmetic to its operator ([`crate::graph::FloatOperator::forward`]); outputs are freed
//! after their last reader. BatchNorm uses its running statistics (inference form).
//! [`accuracy`] splits the images over the available cores. Not here: batched training
//! ([`crate::train`]).

use crate::data::Dataset;
use crate::graph::ops::Scratch;
use crate::graph::{FloatGraph, FloatModel, GraphError, Source};
use thiserror::Error;

/// Errors of the forward pass.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ForwardError {
    /// The model's structure or a node's parameters are wrong.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The input does not fit the model.
    #[error("input: {message}")]
    Input {
        /// What is wrong.
        message: String,
    },
}

/// Checks the model and returns the shape of every node's output (by node index).
pub fn shapes(model: &FloatModel) -> Result<Vec<Vec<usize>>, ForwardError> {
    Ok(model.graph()?.shapes)
}

/// A checked model, ready for repeated runs.
#[derive(Debug, Clone)]
pub struct Forward<'m> {
    model: &'m FloatModel,
    graph: FloatGraph,
    last_reads: Vec<Vec<usize>>,
}

impl<'m> Forward<'m> {
    /// Checks the model ([`FloatModel::graph`]).
    pub fn new(model: &'m FloatModel) -> Result<Self, ForwardError> {
        let graph = model.graph()?;
        let last_reads = graph.last_reads();
        Ok(Forward {
            model,
            graph,
            last_reads,
        })
    }

    /// The checked graph.
    pub fn graph(&self) -> &FloatGraph {
        &self.graph
    }

    /// Elements of one input (`C·H·W`).
    pub fn input_len(&self) -> usize {
        self.model.input_shape.iter().product()
    }

    /// Elements of the output.
    pub fn output_len(&self) -> usize {
        self.graph.shapes[self.graph.output].iter().product()
    }

    fn check_input(&self, input: &[f32]) -> Result<(), ForwardError> {
        if input.len() != self.input_len() {
            return Err(ForwardError::Input {
                message: format!(
                    "has {} values; the model's input {:?} needs {}",
                    input.len(),
                    self.model.input_shape,
                    self.input_len()
                ),
            });
        }
        Ok(())
    }

    /// Runs one (already normalized) input, `C·H·W` values, and returns the output.
    pub fn run(&self, input: &[f32]) -> Result<Vec<f32>, ForwardError> {
        self.check_input(input)?;
        Ok(self.run_checked(input, &mut Scratch::default(), false).0)
    }

    /// Runs one input and returns every node's output (by node index).
    pub fn run_nodes(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, ForwardError> {
        self.check_input(input)?;
        Ok(self.run_checked(input, &mut Scratch::default(), true).1)
    }

    /// Runs a batch: `inputs` holds `n` inputs one after another; returns the `n` outputs one
    /// after another.
    pub fn run_batch(&self, inputs: &[f32]) -> Result<Vec<f32>, ForwardError> {
        let n = self.input_len();
        if n == 0 || !inputs.len().is_multiple_of(n) {
            return Err(ForwardError::Input {
                message: format!(
                    "batch has {} values, not a multiple of the input size {n}",
                    inputs.len()
                ),
            });
        }
        let mut scratch = Scratch::default();
        let mut out = Vec::with_capacity(inputs.len() / n * self.output_len());
        for x in inputs.chunks_exact(n) {
            out.extend(self.run_checked(x, &mut scratch, false).0);
        }
        Ok(out)
    }

    /// Evaluates the graph; with `keep` every node output is returned too.
    fn run_checked(&self, input: &[f32], s: &mut Scratch, keep: bool) -> (Vec<f32>, Vec<Vec<f32>>) {
        let g = &self.graph;
        let mut vals: Vec<Vec<f32>> = vec![Vec::new(); self.model.nodes.len()];
        for (p, &i) in g.order.iter().enumerate() {
            let mut out = Vec::new();
            {
                let ins: Vec<&[f32]> = g.inputs[i]
                    .iter()
                    .map(|src| match src {
                        Source::Input => input,
                        Source::Node(j) => vals[*j].as_slice(),
                    })
                    .collect();
                let shapes: Vec<&[usize]> = g.inputs[i].iter().map(|&src| g.shape(src)).collect();
                self.model.nodes[i]
                    .op
                    .operator()
                    .forward(&ins, &shapes, &mut out, s);
            }
            vals[i] = out;
            if !keep {
                for &j in &self.last_reads[p] {
                    vals[j] = Vec::new();
                }
            }
        }
        let y = std::mem::take(&mut vals[g.output]);
        if keep {
            vals[g.output].clone_from(&y);
        }
        (y, vals)
    }
}

/// Runs one (already normalized) input through `model`.
pub fn forward(model: &FloatModel, input: &[f32]) -> Result<Vec<f32>, ForwardError> {
    Forward::new(model)?.run(input)
}

/// Runs `n` inputs stored one after another; returns the `n` outputs one after another.
pub fn forward_batch(model: &FloatModel, inputs: &[f32]) -> Result<Vec<f32>, ForwardError> {
    Forward::new(model)?.run_batch(inputs)
}

/// Index of the largest value (lowest index on ties; NaN never wins).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Worker threads for `items` independent items: the available cores, at most `cap`, at
/// least 1, never more than the items.
pub(crate) fn worker_threads(items: usize, cap: usize) -> usize {
    std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, cap.max(1))
        .min(items.max(1))
}

/// Result of [`accuracy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accuracy {
    /// Images whose argmax equals the label.
    pub correct: usize,
    /// Images evaluated.
    pub total: usize,
}

impl Accuracy {
    /// `correct / total` (0 for an empty set).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// Top-1 accuracy of `model` on `data`, normalizing the raw pixels with
/// `model.normalization`. Uses every available core.
pub fn accuracy(model: &FloatModel, data: &Dataset) -> Result<Accuracy, ForwardError> {
    let preds = predict(model, data)?;
    let correct = preds
        .iter()
        .zip(&data.labels)
        .filter(|(p, &l)| **p == usize::from(l))
        .count();
    Ok(Accuracy {
        correct,
        total: data.len(),
    })
}

/// The argmax of `model` on every image of `data` (normalized with `model.normalization`),
/// computed on every available core.
pub fn predict(model: &FloatModel, data: &Dataset) -> Result<Vec<usize>, ForwardError> {
    let f = Forward::new(model)?;
    if data.image_shape() != model.input_shape {
        return Err(ForwardError::Input {
            message: format!(
                "dataset images are {:?} (C, H, W) but the model expects {:?}",
                data.image_shape(),
                model.input_shape
            ),
        });
    }
    crate::data::check_normalization(&model.normalization, model.input_shape[0]).map_err(|e| {
        ForwardError::Input {
            message: e.to_string(),
        }
    })?;
    let n = data.len();
    let threads = worker_threads(n, 16);
    let per = n.div_ceil(threads);
    let mut preds = vec![0usize; n];
    let f = &f;
    std::thread::scope(|scope| {
        for (t, chunk) in preds.chunks_mut(per.max(1)).enumerate() {
            scope.spawn(move || {
                let mut s = Scratch::default();
                let mut x = Vec::new();
                for (j, p) in chunk.iter_mut().enumerate() {
                    let i = t * per + j;
                    model
                        .normalization
                        .apply_into(data.image(i), data.channels, &mut x);
                    *p = argmax(&f.run_checked(&x, &mut s, false).0);
                }
            });
        }
    });
    Ok(preds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{
        Add, AvgPool, Dense, Flatten, FloatOp, GlobalAvgPool, MaxPool, Node, Normalization, Relu,
        Window,
    };

    fn win() -> Window {
        Window {
            kernel: [2, 2],
            stride: [2, 2],
        }
    }

    #[test]
    fn pools_dense_relu_flatten_and_add() {
        let dense = Dense {
            in_features: 4,
            out_features: 2,
            weight: vec![1.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5],
            bias: vec![0.0, 1.0],
        };
        let m = FloatModel::chain(
            "t",
            [1, 4, 4],
            Normalization::default(),
            vec![
                ("mp".into(), MaxPool(win()).into()),
                ("r".into(), Relu {}.into()),
                ("f".into(), Flatten {}.into()),
                ("d".into(), dense.clone().into()),
            ],
        );
        let x: Vec<f32> = (0..16).map(|i| i as f32 - 8.0).collect();
        // max pool: [-3, -1, 5, 7] -> relu [0, 0, 5, 7]
        let all = Forward::new(&m).unwrap().run_nodes(&x).unwrap();
        assert_eq!(all[0], vec![-3.0, -1.0, 5.0, 7.0]);
        assert_eq!(all[3], vec![0.0, 7.0]);
        let mut m2 = m.clone();
        m2.nodes[0].op = FloatOp::AvgPool(AvgPool(win()));
        assert_eq!(
            Forward::new(&m2).unwrap().run_nodes(&x).unwrap()[0],
            vec![-5.5, -3.5, 2.5, 4.5]
        );
        m2.nodes[0].op = GlobalAvgPool {}.into();
        let e = forward(&m2, &x).unwrap_err().to_string();
        assert!(
            e.contains("node 'd' (#3, Dense)") && e.contains("in_features is 4"),
            "{e}"
        );
        let e = forward(&m, &x[1..]).unwrap_err().to_string();
        assert!(e.contains("15 values"), "{e}");
        let batch: Vec<f32> = x.iter().chain(x.iter()).copied().collect();
        assert_eq!(forward_batch(&m, &batch).unwrap(), vec![0.0, 7.0, 0.0, 7.0]);
        // A residual: relu(x) + maxpool... fan-out of the input into two readers.
        let r = FloatModel::new(
            "res",
            [1, 4, 4],
            Normalization::default(),
            vec![
                Node::new("mp", &["input"], MaxPool(win())),
                Node::new("ap", &["input"], AvgPool(win())),
                Node::new("sum", &["mp", "ap"], Add {}),
                Node::new("f", &["sum"], Flatten {}),
                Node::new("d", &["f"], dense),
            ],
            "d",
        );
        // [-3,-1,5,7] + [-5.5,-3.5,2.5,4.5] = [-8.5,-4.5,7.5,11.5]
        let all = Forward::new(&r).unwrap().run_nodes(&x).unwrap();
        assert_eq!(all[2], vec![-8.5, -4.5, 7.5, 11.5]);
        assert_eq!(all[4], vec![-8.5, 1.0 + 0.5 * 6.0]);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, f32::NAN]), 1);
    }
}
