//! One module per subcommand.

pub mod compare;
pub mod eval;
pub mod explore;
pub mod flow;
pub mod gen;
pub mod quantize;
pub mod report;
pub mod sim;
pub mod train;
pub mod verify;

use anyhow::Context;
use clap::Args;
use inq_quant::data::{self, Split};
use std::path::PathBuf;

/// Which test images to run.
#[derive(Args, Debug, Clone)]
pub struct ImageArgs {
    /// Folder of IDX files (default: the Debian package dataset-fashion-mnist).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use only the first N test images.
    #[arg(long)]
    pub limit: Option<usize>,
}

impl ImageArgs {
    /// The test split (IDX or npy), truncated to `--limit`.
    pub fn dataset(&self) -> anyhow::Result<data::Dataset> {
        let dir = data::resolve_dir(self.data.as_deref())?;
        let mut ds = data::load(&dir, Split::Test)
            .with_context(|| format!("loading the test split from {}", dir.display()))?;
        if let Some(n) = self.limit {
            ds.truncate(n);
        }
        Ok(ds)
    }

    /// The test images as integers in CHW order, and their labels.
    pub fn load(&self) -> anyhow::Result<(Vec<Vec<i64>>, Vec<usize>)> {
        let ds = self.dataset()?;
        let images = (0..ds.len())
            .map(|i| ds.image(i).iter().map(|&p| i64::from(p)).collect())
            .collect();
        let labels = ds.labels.iter().map(|&l| usize::from(l)).collect();
        Ok((images, labels))
    }
}

/// Seeded random back-pressure on both sides of the design.
#[derive(Args, Debug, Clone)]
pub struct StallArgs {
    /// Probability per cycle that the input side withholds data and, independently, that the
    /// output side is not ready (0 = back-to-back images, no stalls).
    #[arg(long, default_value_t = 0.0)]
    pub stall_rate: f64,
    /// Seed of the stall pattern.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}
