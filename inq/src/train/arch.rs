//! The built-in float architectures: [`lenet`] (the default), [`resnet8`] and [`up5k`], selected by
//! [`Arch`] through [`build_arch`] ([`build_arch_init`] for PyTorch's initialization,
//! [`WeightInit`]). He-initialized from a seed (SplitMix64, so every platform
//! builds the same weights); normalization `x = pixel/255` (mean 0, std 1).
//!
//! Owns the layouts only; training them is [`super::train`].

use super::rng::SplitMix64;
use crate::graph::{
    Add, BatchNorm, Conv, Dense, Flatten, FloatModel, FloatOp, GlobalAvgPool, MaxPool, Node,
    Normalization, Relu, Window,
};

/// A built-in architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Arch {
    /// [`lenet`] (the default).
    #[default]
    Lenet,
    /// [`resnet8`].
    Resnet8,
    /// [`up5k`]: small enough for an iCE40 UP5K.
    Up5k,
}

impl Arch {
    /// Every architecture, in the order a command line lists them.
    pub const ALL: [Arch; 3] = [Arch::Lenet, Arch::Resnet8, Arch::Up5k];

    /// The name on the command line: `lenet`, `resnet8`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Lenet => "lenet",
            Arch::Resnet8 => "resnet8",
            Arch::Up5k => "up5k",
        }
    }

    /// One line describing the layout.
    pub fn description(self) -> &'static str {
        match self {
            Arch::Lenet => "conv 16, pool, conv 32, pool, dense 128, dense (the default)",
            Arch::Resnet8 => {
                "stem conv 16 + BN; residual stages of 16, 32, 64 channels (stride 2, 1×1 projections); global average pool; dense"
            }
            Arch::Up5k => {
                "conv 8 stride 2, conv 16 stride 2, dense (sized for an iCE40 UP5K: about 9 000 weights, no pooling)"
            }
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown architecture `{s}` (expected {})",
                    Arch::ALL.map(|a| a.name()).join(" or ")
                )
            })
    }
}

/// How conv and dense weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WeightInit {
    /// He-normal: standard deviation `√(2/fan_in)`, zero biases (the default).
    #[default]
    He,
    /// PyTorch's default for `Conv2d` and `Linear` (Kaiming-uniform with `a = √5`): weights
    /// and dense biases uniform in `±1/√fan_in` (standard deviation `1/√(3·fan_in)`), conv
    /// biases zero (every conv of the built-in layouts is followed by BatchNorm or, in the
    /// LeNet, a ReLU; PyTorch would draw them too).
    Torch,
}

impl WeightInit {
    /// The name on the command line: `he`, `torch`.
    pub fn name(self) -> &'static str {
        match self {
            WeightInit::He => "he",
            WeightInit::Torch => "torch",
        }
    }
}

/// The model of architecture `arch` for inputs of `input_shape` (`[C, H, W]`) and `classes`
/// outputs, He-initialized from `seed`.
pub fn build_arch(arch: Arch, input_shape: [usize; 3], classes: usize, seed: u64) -> FloatModel {
    build_arch_init(arch, input_shape, classes, seed, WeightInit::He)
}

/// [`build_arch`] with the weight initialization `init`.
pub fn build_arch_init(
    arch: Arch,
    input_shape: [usize; 3],
    classes: usize,
    seed: u64,
    init: WeightInit,
) -> FloatModel {
    match arch {
        Arch::Lenet => lenet_classes(input_shape, classes, seed, init),
        Arch::Resnet8 => resnet8_init(input_shape, classes, seed, init),
        Arch::Up5k => up5k_init(input_shape, classes, seed, init),
    }
}

struct Init(SplitMix64, WeightInit);

impl Init {
    /// `n` weights of a layer with `fan_in` inputs per output: He-normal (standard deviation
    /// `√(2/fan_in)`) or PyTorch's uniform `±1/√fan_in`.
    fn he(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        match self.1 {
            WeightInit::He => {
                let s = (2.0 / fan_in.max(1) as f64).sqrt();
                (0..n).map(|_| (self.0.normal() * s) as f32).collect()
            }
            WeightInit::Torch => self.uniform(n, fan_in),
        }
    }

    /// `n` values uniform in `±1/√fan_in`.
    fn uniform(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let b = 1.0 / (fan_in.max(1) as f64).sqrt();
        (0..n)
            .map(|_| ((2.0 * self.0.unit() - 1.0) * b) as f32)
            .collect()
    }

    fn conv(&mut self, i: usize, o: usize, k: usize, stride: usize) -> Conv {
        let p = k / 2;
        Conv::new(
            i,
            o,
            [k, k],
            [stride, stride],
            [p, p, p, p],
            self.he(o * i * k * k, i * k * k),
        )
    }

    fn dense(&mut self, i: usize, o: usize) -> Dense {
        let weight = self.he(o * i, i);
        let bias = match self.1 {
            WeightInit::He => vec![0.0; o],
            WeightInit::Torch => self.uniform(o, i),
        };
        Dense {
            in_features: i,
            out_features: o,
            weight,
            bias,
        }
    }
}

/// The built-in LeNet baseline: conv 1→16 3×3 pad 1, ReLU, maxpool 2; conv 16→32 3×3 pad 1,
/// ReLU, maxpool 2; flatten; dense 1568→128, ReLU; dense 128→10 (for 28×28 single-channel
/// input; other shapes adapt the first dense layer). He-initialized from `seed`;
/// normalization `x = pixel/255` (mean 0, std 1).
pub fn lenet(input_shape: [usize; 3], seed: u64) -> FloatModel {
    lenet_classes(input_shape, 10, seed, WeightInit::He)
}

fn lenet_classes(
    input_shape: [usize; 3],
    classes: usize,
    seed: u64,
    init: WeightInit,
) -> FloatModel {
    let [c, h, w] = input_shape;
    // The same random stream as the chain version of this builder, so seeds reproduce the
    // weights (and results) recorded in docs/training.md.
    let mut r = Init(SplitMix64::derive(seed, &[0x1e7e7]), init);
    let flat = 32 * (h / 2 / 2) * (w / 2 / 2);
    let pool = || -> FloatOp {
        MaxPool(Window {
            kernel: [2, 2],
            stride: [2, 2],
        })
        .into()
    };
    let relu = || -> FloatOp { Relu {}.into() };
    let conv1 = r.conv(c, 16, 3, 1);
    let conv2 = r.conv(16, 32, 3, 1);
    let fc1 = r.dense(flat, 128);
    let fc2 = r.dense(128, classes);
    FloatModel::chain(
        "lenet",
        input_shape,
        Normalization::default(),
        vec![
            ("conv1".into(), conv1.into()),
            ("relu1".into(), relu()),
            ("pool1".into(), pool()),
            ("conv2".into(), conv2.into()),
            ("relu2".into(), relu()),
            ("pool2".into(), pool()),
            ("flatten".into(), Flatten {}.into()),
            ("fc1".into(), fc1.into()),
            ("relu3".into(), relu()),
            ("fc2".into(), fc2.into()),
        ],
    )
}

/// The small network for an iCE40 UP5K: conv 1→8 3×3 stride 2 pad 1, ReLU; conv 8→16 3×3
/// stride 2 pad 1, ReLU; flatten; dense 784→`classes` (for 28×28 single-channel input: 72 +
/// 1 152 + 7 840 weights). Strided convolutions instead of pooling: a pooling unit reads its
/// whole window in one cycle, so its line buffer needs one block-RAM copy per window tap,
/// while a convolution's line buffer is one copy banked over its SIMD lanes.
/// He-initialized from `seed`; normalization `x = pixel/255`.
pub fn up5k(input_shape: [usize; 3], classes: usize, seed: u64) -> FloatModel {
    up5k_init(input_shape, classes, seed, WeightInit::He)
}

fn up5k_init(input_shape: [usize; 3], classes: usize, seed: u64, init: WeightInit) -> FloatModel {
    let [c, h, w] = input_shape;
    let mut r = Init(SplitMix64::derive(seed, &[0x05_75_c0]), init);
    // 3×3, stride 2, pad 1: ceil(n / 2) twice
    let out = |n: usize| n.div_ceil(2).div_ceil(2);
    let flat = 16 * out(h) * out(w);
    let relu = || -> FloatOp { Relu {}.into() };
    let conv1 = r.conv(c, 8, 3, 2);
    let conv2 = r.conv(8, 16, 3, 2);
    let fc = r.dense(flat, classes);
    FloatModel::chain(
        "up5k",
        input_shape,
        Normalization::default(),
        vec![
            ("conv1".into(), conv1.into()),
            ("relu1".into(), relu()),
            ("conv2".into(), conv2.into()),
            ("relu2".into(), relu()),
            ("flatten".into(), Flatten {}.into()),
            ("fc".into(), fc.into()),
        ],
    )
}

/// A ResNet-8-style network: stem conv 3×3 16 + BN + ReLU; three residual stages of 16, 32
/// and 64 channels, each one basic block (conv 3×3 + BN + ReLU, conv 3×3 + BN, add the
/// shortcut, ReLU), stride 2 in the first conv of stages 2 and 3 with a 1×1 stride-2
/// projection shortcut + BN (identity shortcut in stage 1); global average pool; dense to
/// `classes`. Node names: `stem`, `stem_bn`, `stem_relu`, `s{1,2,3}_{conv1,bn1,relu1,conv2,bn2,
/// proj,proj_bn,add,relu}`, `gap`, `flatten`, `fc`.
pub fn resnet8(input_shape: [usize; 3], classes: usize, seed: u64) -> FloatModel {
    resnet8_init(input_shape, classes, seed, WeightInit::He)
}

fn resnet8_init(
    input_shape: [usize; 3],
    classes: usize,
    seed: u64,
    init: WeightInit,
) -> FloatModel {
    let mut r = Init(SplitMix64::derive(seed, &[0x7e5e8]), init);
    let mut nodes = Vec::new();
    let mut push = |name: &str, inputs: &[&str], op: FloatOp| {
        nodes.push(Node::new(name, inputs, op));
        name.to_string()
    };
    let stem = r.conv(input_shape[0], 16, 3, 1);
    push("stem", &["input"], stem.into());
    push("stem_bn", &["stem"], BatchNorm::new(16).into());
    let mut x = push("stem_relu", &["stem_bn"], Relu {}.into());
    let mut cin = 16;
    for (s, (cout, stride)) in [(16, 1), (32, 2), (64, 2)].into_iter().enumerate() {
        let n = |what: &str| format!("s{}_{what}", s + 1);
        let c1 = r.conv(cin, cout, 3, stride);
        push(&n("conv1"), &[&x], c1.into());
        push(&n("bn1"), &[&n("conv1")], BatchNorm::new(cout).into());
        push(&n("relu1"), &[&n("bn1")], Relu {}.into());
        let c2 = r.conv(cout, cout, 3, 1);
        push(&n("conv2"), &[&n("relu1")], c2.into());
        push(&n("bn2"), &[&n("conv2")], BatchNorm::new(cout).into());
        let short = if stride != 1 || cin != cout {
            let p = r.conv(cin, cout, 1, stride);
            push(&n("proj"), &[&x], p.into());
            push(&n("proj_bn"), &[&n("proj")], BatchNorm::new(cout).into())
        } else {
            x.clone()
        };
        push(&n("add"), &[&n("bn2"), &short], Add {}.into());
        x = push(&n("relu"), &[&n("add")], Relu {}.into());
        cin = cout;
    }
    push("gap", &[&x], GlobalAvgPool {}.into());
    push("flatten", &["gap"], Flatten {}.into());
    let fc = r.dense(64, classes);
    push("fc", &["flatten"], fc.into());
    FloatModel::new(
        "resnet8",
        input_shape,
        Normalization::default(),
        nodes,
        "fc",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names_and_shapes() {
        for a in Arch::ALL {
            assert_eq!(a.name().parse::<Arch>(), Ok(a));
            let m = build_arch(a, [1, 28, 28], 10, 1);
            let g = m.graph().unwrap();
            assert_eq!(g.shapes[g.output], vec![10], "{a}");
        }
        assert!("vgg"
            .parse::<Arch>()
            .unwrap_err()
            .contains("lenet or resnet8"));
        let m = resnet8([3, 32, 32], 7, 2);
        let g = m.graph().unwrap();
        assert_eq!(g.shapes[m.node_index("gap").unwrap()], vec![64, 1, 1]);
        assert_eq!(g.shapes[m.node_index("s3_add").unwrap()], vec![64, 8, 8]);
        // the stage-1 block input fans out to conv1 and the identity shortcut
        let x = m.node_index("stem_relu").unwrap();
        assert_eq!(g.uses[x].len(), 2);
        assert_eq!(m.weighted_nodes().len(), 1 + 2 + 3 + 3 + 1);
    }
}
