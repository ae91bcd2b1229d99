//! Fashion-MNIST driver for measurements recorded in `docs/training.md` (not a criterion
//! bench; `harness = false`). Modes, chosen with the environment variable `INQ_MODE`:
//!
//! * `epoch` (default): time one float epoch of `INQ_ARCH` (default LeNet) on `INQ_IMAGES`
//!   training images (default 6000) and extrapolate to 60 000.
//! * `float`: train the architecture `INQ_ARCH` (`lenet`, the default, or `resnet8`) on the
//!   full training split (or the first `INQ_IMAGES`) for `INQ_EPOCHS` epochs (default 12),
//!   printing the test accuracy after every epoch, and save it to `INQ_OUT` (default
//!   `models/fashion_lenet.onnx`, via `onnx::export_float`; BatchNorm is exported as
//!   BatchNormalization nodes, which the importer folds).
//! * `inq`: load `INQ_OUT`, run INQ for each bit width in `INQ_BITS` (default `5,4,3,2`) and
//!   write `<dir>/fashion_lenet_<b>bit.json` plus logs and plots; prints a table row each.
//!
//! Run with `cargo bench -p inq-quant --bench fashion_pipeline` (release profile).

use std::path::PathBuf;
use std::time::Instant;

use inq_quant::calib::Calibration;
use inq_quant::data::{load_idx, resolve_dir, Split};
use inq_quant::quantize::{self, InqConfig, IntConfig, Levels, Strategy};
use inq_quant::train::{self, LrSchedule, TrainConfig};

fn env<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!(
            "fashion_pipeline: measurement driver, run it with `cargo bench`; nothing to test"
        );
        return Ok(());
    }
    let dir = resolve_dir(None)?;
    let mode: String = env("INQ_MODE", "epoch".to_string());
    let mut train_set = load_idx(&dir, Split::Train)?;
    let test_set = load_idx(&dir, Split::Test)?;
    let out = PathBuf::from(env(
        "INQ_OUT",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../models/fashion_lenet.onnx").to_string(),
    ));
    let seed: u64 = env("INQ_SEED", 1);
    match mode.as_str() {
        "epoch" => {
            let n: usize = env("INQ_IMAGES", 6000);
            train_set.truncate(n);
            let arch: train::Arch = env("INQ_ARCH", train::Arch::Lenet);
            let mut m = train::build_arch(arch, [1, 28, 28], 10, seed);
            let cfg = TrainConfig {
                epochs: 1,
                quiet: true,
                seed,
                ..TrainConfig::default()
            };
            let t = Instant::now();
            let log = train::train(&mut m, &train_set, &cfg, &mut |_| {})?;
            let s = t.elapsed().as_secs_f64();
            println!(
                "one float epoch on {n} images: {s:.2} s ({:.1} s per 60k images), loss {:.3}, threads {}",
                s * 60000.0 / n as f64,
                log.epochs[0].loss,
                rayon::current_num_threads()
            );
        }
        "float" => {
            let epochs: usize = env("INQ_EPOCHS", 12);
            let lr: f64 = env("INQ_LR", 0.05);
            let arch: train::Arch = env("INQ_ARCH", train::Arch::Lenet);
            if let Ok(n) = std::env::var("INQ_IMAGES") {
                train_set.truncate(n.parse()?);
            }
            let mut m = train::build_arch(arch, [1, 28, 28], 10, seed);
            let cfg = TrainConfig {
                epochs,
                lr,
                seed,
                schedule: LrSchedule::Cosine { min_factor: 0.0 },
                ..TrainConfig::default()
            };
            let t = Instant::now();
            let each: usize = env("INQ_EVAL_EVERY", 1);
            if each == 0 {
                train::train(&mut m, &train_set, &cfg, &mut |e| {
                    println!(
                        "epoch {} loss {:.4} train acc {:.4} lr {:.4} {:.1}s",
                        e.epoch + 1,
                        e.loss,
                        e.train_accuracy,
                        e.lr,
                        e.seconds
                    )
                })?;
            } else {
                let t1 = Instant::now();
                train::train_observed(&mut m, &train_set, &cfg, &mut |e, snap| {
                    let acc = train::evaluate(snap, &test_set)
                        .map(|ev| ev.accuracy)
                        .unwrap_or(f64::NAN);
                    println!(
                        "epoch {} loss {:.4} train acc {:.4} lr {:.4} {:.1}s test {:.4} ({:.0} s so far)",
                        e.epoch + 1,
                        e.loss,
                        e.train_accuracy,
                        e.lr,
                        e.seconds,
                        acc,
                        t1.elapsed().as_secs_f64()
                    )
                })?;
            }
            let ev = train::evaluate(&m, &test_set)?;
            println!(
                "float test accuracy {:.4} (loss {:.4}) after {:.0} s",
                ev.accuracy,
                ev.loss,
                t.elapsed().as_secs_f64()
            );
            inq_quant::onnx::export_float(&m, &out)?;
            println!("saved {}", out.display());
        }
        "inq" => {
            let model = inq_quant::onnx::import(&out)?;
            let bits_list: String = env("INQ_BITS", "5,4,3,2".to_string());
            let eps: usize = env("INQ_EPS", 2);
            let lr: f64 = env("INQ_LR", 0.005);
            let levels: Levels = env("INQ_LEVELS", Levels::Paper);
            let calibration: Calibration = env("INQ_CALIB", Calibration::Mse);
            let strategy: Strategy = env("INQ_STRATEGY", Strategy::Pruning);
            let final_epochs: usize = env("INQ_FINAL", 0);
            for b in bits_list.split(',') {
                let bits: u32 = b.trim().parse()?;
                let dest = out.with_file_name(format!("fashion_lenet_{bits}bit.json"));
                let cfg = InqConfig {
                    bits,
                    levels,
                    strategy,
                    epochs_per_step: eps,
                    final_epochs,
                    train: TrainConfig {
                        lr,
                        seed,
                        quiet: true,
                        schedule: LrSchedule::Cosine { min_factor: 0.0 },
                        ..TrainConfig::default()
                    },
                    checkpoint: Some(dest.with_extension("ckpt.json")),
                    resume: env("INQ_RESUME", 0) == 1,
                    ..InqConfig::default()
                };
                let int_cfg = IntConfig {
                    calibration,
                    ..IntConfig::default()
                };
                let t = Instant::now();
                let o = quantize::quantize(
                    &model,
                    &train_set,
                    Some(&test_set),
                    &cfg,
                    &int_cfg,
                    &out.display().to_string(),
                    &mut |s| {
                        println!(
                        "  {bits}-bit step {} portion {:.3}: train loss {:?} test acc {:?} ({:.0} s)",
                        s.step, s.portion, s.train_loss, s.test_accuracy, s.seconds
                    )
                    },
                )?;
                let files = quantize::write_outputs(&dest, &model, &o)?;
                println!(
                    "RESULT bits={bits} levels={} calib={} eps={eps}: float {:.4} inq-float {:.4} integer {:.4} ({:.0} s) -> {:?}",
                    levels.name(),
                    calibration.name(),
                    o.float_accuracy.unwrap_or(f64::NAN),
                    o.inq_float_accuracy.unwrap_or(f64::NAN),
                    o.integer_accuracy.unwrap_or(f64::NAN),
                    t.elapsed().as_secs_f64(),
                    files
                );
            }
        }
        other => return Err(format!("unknown INQ_MODE `{other}` (epoch, float or inq)").into()),
    }
    Ok(())
}
