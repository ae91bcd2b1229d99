//! `inq train`: train a built-in float CNN and export it as ONNX.

use clap::{Args, ValueEnum};
use inq_flow::float::{train, TrainRequest};
use inq_quant::train::Arch;
use std::path::PathBuf;

/// A built-in architecture.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchArg {
    /// conv 16, pool, conv 32, pool, dense 128, dense (the default).
    #[default]
    Lenet,
    /// Stem conv 16; residual stages of 16, 32, 64 channels (stride 2, 1×1 projections);
    /// global average pool; dense.
    Resnet8,
    /// conv 8 stride 2, conv 16 stride 2, dense: sized for an iCE40 UP5K.
    Up5k,
}

impl ArchArg {
    /// The float side's architecture.
    pub fn arch(self) -> Arch {
        match self {
            ArchArg::Lenet => Arch::Lenet,
            ArchArg::Resnet8 => Arch::Resnet8,
            ArchArg::Up5k => Arch::Up5k,
        }
    }
}

/// A weight initialization.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitArg {
    /// He-normal, standard deviation √(2/fan_in) (the default).
    #[default]
    He,
    /// PyTorch's default for Conv2d and Linear: uniform ±1/√fan_in (weights and dense biases).
    Torch,
}

/// Arguments of `inq train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// The architecture.
    #[arg(long, value_enum, default_value_t = ArchArg::Lenet)]
    pub arch: ArchArg,
    /// Folder of IDX or npy files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Passes over the training split.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Output ONNX file (batch normalization folded).
    #[arg(long, default_value = "out/float.onnx")]
    pub out: PathBuf,
    /// Base learning rate (SGD with momentum 0.9, weight decay 5e-4, cosine schedule).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Seed of the initialization and the shuffling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Weight initialization.
    #[arg(long, value_enum, default_value_t = InitArg::He)]
    pub init: InitArg,
    /// Train on the first N training images only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inq train`.
pub fn run(a: &TrainArgs) -> anyhow::Result<()> {
    let r = train(&TrainRequest {
        arch: a.arch.arch(),
        data: a.data.clone(),
        epochs: a.epochs,
        lr: a.lr,
        batch_size: a.batch_size,
        seed: a.seed,
        init: match a.init {
            InitArg::He => inq_quant::train::WeightInit::He,
            InitArg::Torch => inq_quant::train::WeightInit::Torch,
        },
        limit: a.limit,
        out: a.out.clone(),
        quiet: a.json,
    })?;
    crate::output::emit(a.json, &r, || {
        format!(
            "trained {} on {} images for {} epochs: test accuracy {:.2}%; wrote {} ({:.0} s)",
            r.arch,
            r.train_images,
            a.epochs,
            100.0 * r.float_accuracy,
            r.out,
            r.seconds
        )
    })
}
