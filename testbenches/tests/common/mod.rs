//! Shared helpers of the integration tests: the toy fixture, test images, a shared Verilator
//! cache, and a cycle-accurate Rust model of the toy RTL.
#![allow(dead_code)]

use inq_testbenches::protocol::{Driver, DriverConfig, DutOutputs, Records};
use inq_testbenches::{StallGen, VerifyOptions};
use std::path::{Path, PathBuf};

/// The hand-written toy design folder.
pub fn toy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/toy_design")
}

/// One Verilator cache shared by all tests (and test binaries), so the toy builds once.
pub fn shared_cache() -> PathBuf {
    std::env::temp_dir().join("inq-tb-test-cache")
}

/// Options using the shared cache.
pub fn opts() -> VerifyOptions {
    VerifyOptions {
        cache_dir: Some(shared_cache()),
        ..VerifyOptions::default()
    }
}

/// True if verilator is installed; otherwise prints why the test is skipped.
pub fn have_verilator(test: &str) -> bool {
    match inq_testbenches::verilator::locate_verilator(None, None) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipping {test}: {e}");
            false
        }
    }
}

/// A fresh (removed first) scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("inq-tb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// `count` deterministic test images (CHW, 4 u8 values), the first two all-0 and all-255.
pub fn images(count: usize, seed: u64) -> Vec<Vec<i64>> {
    let mut g = StallGen::with_threshold(seed, 0);
    let mut v = vec![vec![0; 4], vec![255; 4]];
    while v.len() < count {
        v.push((0..4).map(|_| (g.next_u64() >> 56) as i64).collect());
    }
    v.truncate(count);
    v
}

/// Cycle-accurate model of `toy_top` (toy_conv.v + toy_fc.v + toy_fc.hex).
#[derive(Debug, Default, Clone)]
pub struct ToyModel {
    c_emit: bool,
    c_idx: bool,
    x0: i64,
    o0: u64,
    o1: u64,
    f_emit: bool,
    cnt: usize,
    acc: [i64; 3],
}

const ROM: [u8; 12] = [5, 6, 0, 0, 4, 5, 6, 7, 4, 4, 0, 6];
const FC_BIAS: [i64; 3] = [10, -3, 0];

fn requant(acc: i64) -> u64 {
    ((acc + 2) >> 2).clamp(0, 255) as u64
}

fn prod(x: i64, code: u8) -> i64 {
    let s = if code & 1 == 1 { x << 1 } else { x };
    if code & 4 == 0 {
        0
    } else if code & 2 != 0 {
        -s
    } else {
        s
    }
}

impl ToyModel {
    fn logits(&self) -> [i64; 3] {
        [self.acc[0], self.acc[1] << 1, self.acc[2]]
    }

    /// Outputs after combinational settling (they depend on state only).
    pub fn outputs(&self) -> DutOutputs {
        let l = self.logits();
        let gt10 = l[1] > l[0];
        let v01 = if gt10 { l[1] } else { l[0] };
        let amax = if l[2] > v01 { 2 } else { u64::from(gt10) };
        DutOutputs {
            s_tready: !self.c_emit,
            m_tvalid: self.f_emit,
            m_tdata: (l[self.cnt.min(2)] as u64) & 0xffff,
            m_tlast: self.f_emit && self.cnt == 2,
            m_tuser: amax,
        }
    }

    /// The rising edge.
    pub fn edge(&mut self, rst: bool, s_tvalid: bool, s_tdata: u64, m_tready: bool) {
        if rst {
            self.c_emit = false;
            self.c_idx = false;
            self.f_emit = false;
            self.cnt = 0;
            return;
        }
        let old = self.clone();
        let conv_data = if old.c_idx { old.o1 } else { old.o0 } as i64;
        let conv_valid = old.c_emit;
        let conv_ready = !old.f_emit;
        // toy_conv
        if !old.c_emit {
            if s_tvalid {
                if !old.c_idx {
                    self.x0 = s_tdata as i64;
                    self.c_idx = true;
                } else {
                    let x1 = s_tdata as i64;
                    self.o0 = requant(3 + 2 * old.x0 - x1);
                    self.o1 = requant(-5 + 4 * old.x0 + x1);
                    self.c_emit = true;
                    self.c_idx = false;
                }
            }
        } else if conv_ready {
            if !old.c_idx {
                self.c_idx = true;
            } else {
                self.c_idx = false;
                self.c_emit = false;
            }
        }
        // toy_fc
        if !old.f_emit {
            if conv_valid {
                for k in 0..3 {
                    let p = prod(conv_data, ROM[old.cnt * 3 + k]);
                    self.acc[k] = if old.cnt == 0 {
                        FC_BIAS[k] + p
                    } else {
                        old.acc[k] + p
                    };
                }
                if old.cnt == 3 {
                    self.f_emit = true;
                    self.cnt = 0;
                } else {
                    self.cnt = old.cnt + 1;
                }
            }
        } else if m_tready {
            if old.cnt == 2 {
                self.f_emit = false;
                self.cnt = 0;
            } else {
                self.cnt = old.cnt + 1;
            }
        }
    }
}

/// Runs the Rust toy model against the Rust protocol driver: what the cycle-accurate
/// simulator would do.
pub fn run_model(images: &[Vec<i64>], seed: u64, rate: f64, reset_after: Option<usize>) -> Records {
    let beats: Vec<u64> = images
        .iter()
        .flat_map(|i| inq_testbenches::layout::chw_to_hwc(i, [2, 1, 2]))
        .map(|v| v as u64)
        .collect();
    let cfg = DriverConfig {
        elements_per_image: 4,
        outputs_per_image: 3,
        out_width: 16,
        seed,
        threshold: StallGen::threshold_for(rate).unwrap(),
        reset_after,
        reset_cycles: inq_testbenches::protocol::DEFAULT_RESET_CYCLES,
        idle_limit: 10_000,
    };
    let mut d = Driver::new(cfg, beats);
    let mut m = ToyModel::default();
    while !d.done() {
        assert!(
            !d.timed_out(),
            "toy model deadlocked at cycle {}",
            d.cycle()
        );
        let drv = d.drive();
        let out = m.outputs();
        d.edge(&out);
        m.edge(drv.rst, drv.s_tvalid, drv.s_tdata, drv.m_tready);
    }
    d.into_records()
}
