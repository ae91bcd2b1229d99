//! Shared helpers of the integration tests: the tool requirement, the toy fixture and a
//! cycle-accurate Rust model of its RTL, generating designs, and the three-way co-simulation
//! check (reference = simulator = Verilator, values and cycles, output words and taps).
//!
//! **Tools.** Every test that runs Verilator calls [`require_verilator`] first: without
//! Verilator it *fails* with the harness's own error (`TbError::VerilatorMissing`, which names
//! the Debian package `verilator`), it does not skip. `scripts/setup` installs it (CI runs it).
//! The Verilator builds go to the harness's default cache ([`shared_cache`]:
//! `$INQ_CACHE_DIR/verilator`, else `~/.cache/inq/verilator`), so a warm cache survives runs.
#![allow(dead_code)]

use inq_design::{tap_values, DesignFolder};
use inq_hdl::Design;
use inq_model::{QuantModel, Reference, Tensor};
use inq_sim::{SimOptions, SimReport};
use inq_testbenches::protocol::{Driver, DriverConfig, DutOutputs, Records};
use inq_testbenches::{
    verify, BuildOptions, SimSettings, StallGen, TapBeat, VerifyOptions, VerifyReport,
};
use std::path::{Path, PathBuf};

/// Fails the test (with the harness's error, naming the Debian package) when Verilator is not
/// installed. Tests of this crate exist to run the RTL: a silent skip would pass without having
/// checked anything.
pub fn require_verilator() {
    if let Err(e) = inq_testbenches::verilator::locate_verilator(None, None) {
        panic!("{e}\n(the co-simulation tests need Verilator; `scripts/setup` installs it)");
    }
}

/// The hand-written toy design folder.
pub fn toy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/toy_design")
}

/// The Verilator cache every test uses: the harness's default
/// ([`inq_testbenches::verilator::cache_root`]), so that `INQ_CACHE_DIR` applies and the builds
/// are reused across runs and test binaries.
pub fn shared_cache() -> PathBuf {
    inq_testbenches::verilator::cache_root(None)
}

/// Options using the shared cache.
pub fn opts() -> VerifyOptions {
    VerifyOptions {
        cache_dir: Some(shared_cache()),
        ..VerifyOptions::default()
    }
}

/// A fresh (removed first) scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("inq-tb-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// `count` deterministic test images for the toy (CHW, 4 u8 values), the first two all-0 and
/// all-255.
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
        .flat_map(|i| inq_design::chw_to_hwc(i, [2, 1, 2]))
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

/// Generates `design` of `model` into the fresh scratch folder `name`.
pub fn generate(model: &QuantModel, design: &Design, name: &str) -> PathBuf {
    let dir = scratch(name);
    inq_codegen::generate(design, model, &dir, &inq_codegen::GenOptions::default())
        .unwrap_or_else(|e| panic!("generate {name}: {e}"));
    dir
}

/// Plans `model` with `req` and generates it into the fresh scratch folder `name`.
pub fn plan_and_generate(
    model: &QuantModel,
    req: &inq_hdl::FoldingRequest,
    name: &str,
) -> (PathBuf, Design) {
    let design = inq_hdl::plan(model, req).unwrap_or_else(|e| panic!("plan {name}: {e}"));
    let dir = generate(model, &design, name);
    (dir, design)
}

/// The registers [`with_rom_regs`] gives every ROM-fed engine: registered schedule flags,
/// the datapath register after the lanes' sum, the read registers in front of the lanes, and
/// with them the weight registers (the ROMs read a fold ahead, their words registered).
#[derive(Debug, Clone, Copy, Default)]
pub struct RomRegs {
    pub sched: bool,
    pub data: bool,
    pub read: bool,
    pub weight: bool,
    /// The row tests from difference registers (`Mvu::hs_regs`), on every MVU.
    pub hs: bool,
}

impl std::fmt::Display for RomRegs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}{}{}{}{}",
            u8::from(self.sched),
            u8::from(self.data),
            u8::from(self.read),
            u8::from(self.weight),
            u8::from(self.hs)
        )
    }
}

/// Every ROM-fed MVU of `design` with registered schedule flags (`docs/hardware.md` §12,
/// "Registered schedule flags") or not, and with datapath registers (§4, "Datapath
/// registers") or not, with read registers and weight registers (§4, "The datapath register
/// at the read") or not (with the read registers the window slots one fire ahead, §12, and
/// the emitted word selected one-hot, §4, where `obuf` has two words or more); returns how
/// many engines that is. The row tests from difference
/// registers (§12, "The row tests from differences") go on every MVU, hard-wired ones too.
pub fn with_rom_regs(design: &mut Design, regs: RomRegs) -> usize {
    let mut n = 0;
    for e in &mut design.engines {
        if let inq_hdl::EngineKind::Mvu(m) = &mut e.kind {
            m.hs_regs = regs.hs;
            if !m.is_constant() {
                m.sched_regs = regs.sched;
                m.data_regs = regs.data;
                m.read_regs = regs.read;
                m.weight_regs = regs.read && regs.weight;
                m.pad_regs = regs.read;
                // the window slots one fire ahead and the emitted word selected one-hot go
                // with the read registers here on every window and PE count (the planner
                // sets them on strided windows and on more than 16 words only)
                m.slot_regs = regs.read;
                m.head_onehot = regs.read && m.obuf_words() >= 2;
                n += 1;
            }
        }
    }
    n
}

/// How [`cosim`] drives both runs.
#[derive(Debug, Clone, Default)]
pub struct Drive {
    /// Stall rate of both sides.
    pub stall_rate: f64,
    /// Stall seed.
    pub seed: u64,
    /// Mid-run reset after this many images.
    pub reset_after: Option<usize>,
    /// Also record every tap stream of every image in both runs and compare them beat for
    /// beat (cycle and value) with each other and with the reference.
    pub taps: bool,
}

/// Both runs of a co-simulation that agreed.
pub struct Agreed {
    /// The simulator's report (checked against the reference).
    pub sim: SimReport,
    /// The Verilator report (checked against the reference by `inq_testbenches::verify`).
    pub rtl: VerifyReport,
}

/// Runs the simulator and Verilator on the same images, stalls and reset; both must equal the
/// reference on every output word, and agree on the cycle of every output word, every input
/// start, the resets, the total cycles, latency and interval. With [`Drive::taps`], every tap
/// stream (one per model node and the input) must carry the reference's values
/// ([`inq_design::tap_values`]) in both runs, at the same cycles. Returns a description of the
/// first disagreement.
pub fn cosim(
    dir: &Path,
    design: &Design,
    model: &QuantModel,
    images: &[Vec<i64>],
    drive: &Drive,
) -> Result<Agreed, String> {
    let n = images.len();
    let sim = inq_sim::verify(
        model,
        design,
        images,
        &SimOptions {
            stall_rate: drive.stall_rate,
            seed: drive.seed,
            reset_after: drive.reset_after,
            tap_images: if drive.taps { n } else { 0 },
            ..Default::default()
        },
    )
    .map_err(|e| format!("simulator: {e}"))?;
    if sim.mismatch_count > 0 {
        return Err(format!(
            "simulator differs from the reference ({} words): {:?} {}",
            sim.mismatch_count,
            &sim.mismatches[..sim.mismatches.len().min(3)],
            sim.diagnosis.clone().unwrap_or_default()
        ));
    }
    let vopts = VerifyOptions {
        stall_rate: drive.stall_rate,
        seed: drive.seed,
        reset_after: drive.reset_after,
        ..opts()
    };
    let rtl = verify(dir, images, &vopts).map_err(|e| format!("verilator: {e}"))?;
    if !rtl.passed {
        return Err(format!(
            "RTL differs from the reference ({} words): {:?} {}",
            rtl.mismatch_count,
            &rtl.mismatches[..rtl.mismatches.len().min(3)],
            rtl.diagnosis.clone().unwrap_or_default()
        ));
    }
    for (i, (s, r)) in sim.input_starts.iter().zip(&rtl.input_starts).enumerate() {
        if s != r {
            return Err(format!(
                "input start {i}: first s_axis beat of image {} at cycle {} in the simulator, \
                 image {} at cycle {} in Verilator",
                s.image, s.cycle, r.image, r.cycle
            ));
        }
    }
    for (s, r) in sim.outputs.iter().zip(&rtl.outputs) {
        if s != r {
            return Err(format!(
                "first disagreement at cycle {} (Verilator) / {} (simulator): m_axis word {} of \
                 image {}: Verilator tdata={} tlast={} tuser={}, simulator tdata={} tlast={} \
                 tuser={}",
                r.cycle,
                s.cycle,
                r.word,
                r.image,
                r.value,
                r.tlast,
                r.tuser,
                s.value,
                s.tlast,
                s.tuser
            ));
        }
    }
    if sim.outputs.len() != rtl.outputs.len()
        || sim.input_starts.len() != rtl.input_starts.len()
        || sim.total_cycles != rtl.total_cycles
    {
        return Err(format!(
            "simulator: {} words, {} input starts in {} cycles; Verilator: {} words, {} input \
             starts in {} cycles",
            sim.outputs.len(),
            sim.input_starts.len(),
            sim.total_cycles,
            rtl.outputs.len(),
            rtl.input_starts.len(),
            rtl.total_cycles
        ));
    }
    if sim.resets != rtl.resets {
        return Err(format!(
            "resets: simulator {:?}, Verilator {:?}",
            sim.resets, rtl.resets
        ));
    }
    if (sim.latency_cycles, sim.interval_cycles) != (rtl.latency_cycles, rtl.interval_cycles) {
        return Err(format!(
            "latency/interval: simulator {} / {:?}, Verilator {} / {:?}",
            sim.latency_cycles, sim.interval_cycles, rtl.latency_cycles, rtl.interval_cycles
        ));
    }
    if drive.taps {
        let folder = DesignFolder::load(dir).map_err(|e| e.to_string())?;
        let rtl_taps = rtl_taps(&folder, images, &vopts)?;
        compare_taps(
            model,
            design,
            &folder,
            images,
            &sim.taps,
            &rtl_taps,
            &sim.resets,
        )?;
    }
    Ok(Agreed { sim, rtl })
}

/// Every manifest tap's transfers in a Verilator run of all `images` (a second run of the
/// same binary, with the taps recorded).
pub fn rtl_taps(
    folder: &DesignFolder,
    images: &[Vec<i64>],
    vopts: &VerifyOptions,
) -> Result<Vec<Vec<TapBeat>>, String> {
    let beats =
        inq_testbenches::verify::images_to_beats(folder, images).map_err(|e| e.to_string())?;
    let settings = SimSettings {
        threshold: StallGen::threshold_for(vopts.stall_rate).expect("stall rate"),
        seed: vopts.seed,
        reset_after: vopts.reset_after,
        reset_cycles: vopts.reset_cycles,
        idle_limit: vopts.idle_limit,
        tap_images: images.len(),
        vcd: None,
    };
    let build = BuildOptions {
        cache_dir: vopts.cache_dir.clone(),
        ..BuildOptions::default()
    };
    let run = inq_testbenches::simulate(folder, &beats, &settings, &build, None)
        .map_err(|e| format!("verilator (taps): {e}"))?;
    Ok(run.taps)
}

/// Tap streams: the manifest lists the design's taps in order; each simulator tap must carry
/// the reference's values for every image, and each Verilator tap the same beats (value and
/// cycle) as the simulator's.
pub fn compare_taps(
    model: &QuantModel,
    design: &Design,
    folder: &DesignFolder,
    images: &[Vec<i64>],
    sim_taps: &[Vec<TapBeat>],
    rtl_taps: &[Vec<TapBeat>],
    resets: &[inq_sim::protocol::ResetRecord],
) -> Result<(), String> {
    let m = &folder.manifest;
    if m.taps.len() != design.taps.len() || sim_taps.len() != design.taps.len() {
        return Err(format!(
            "{} manifest taps, {} design taps, {} simulated tap streams",
            m.taps.len(),
            design.taps.len(),
            sim_taps.len()
        ));
    }
    if rtl_taps.len() != m.taps.len() {
        return Err(format!("{} Verilator tap streams", rtl_taps.len()));
    }
    let reference = Reference::new(model).map_err(|e| e.to_string())?;
    let runs: Vec<_> = images
        .iter()
        .map(|x| reference.run(x).expect("reference"))
        .collect();
    for (ti, (t, mt)) in design.taps.iter().zip(&m.taps).enumerate() {
        if t.node != mt.node {
            return Err(format!(
                "tap {ti}: design node {:?}, manifest node {:?}",
                t.node, mt.node
            ));
        }
        let label = format!("tap {ti} `{}` (stream {})", t.name, t.stream);
        let want: Vec<i64> = images
            .iter()
            .zip(&runs)
            .flat_map(|(x, run)| {
                let input = Tensor {
                    shape: model.input.shape.to_vec(),
                    data: x.clone(),
                };
                tap_values(model, &input, run, t.node).expect("tap values")
            })
            .collect();
        // A run ends with the last output word, and a mid-run reset with the reset: the last
        // image before either may stop short on a stream by elements nothing consumed before
        // then (rows a strided conv never reads, say). Each segment is compared on its own.
        let epi = t.elements_per_image;
        let mut segments = vec![(0usize, images.len(), u64::MAX)];
        if let Some(r) = resets.first() {
            segments = vec![
                (0, r.restart_image, r.first_cycle),
                (r.restart_image, images.len(), u64::MAX),
            ];
        }
        let mut from_cycle = 0u64;
        for (first, end, until) in segments {
            let got: Vec<i64> = sim_taps[ti]
                .iter()
                .filter(|b| b.cycle >= from_cycle && b.cycle < until)
                .map(|b| b.value)
                .collect();
            from_cycle = until;
            let want = &want[first * epi..end * epi];
            let short_tail =
                end > first && got.len() >= (end - first - 1) * epi && got.len() < want.len();
            let want = if short_tail { &want[..got.len()] } else { want };
            if got != want {
                let j = got
                    .iter()
                    .zip(want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(want.len()));
                return Err(format!(
                    "{label}: images {first}..{end}: the simulator carries {} values, the \
                     reference {}; first difference at element {j}: {:?} vs {:?}",
                    got.len(),
                    want.len(),
                    got.get(j),
                    want.get(j)
                ));
            }
        }
        if sim_taps[ti] != rtl_taps[ti] {
            let j = sim_taps[ti]
                .iter()
                .zip(&rtl_taps[ti])
                .position(|(a, b)| a != b)
                .unwrap_or(sim_taps[ti].len().min(rtl_taps[ti].len()));
            return Err(format!(
                "{label}: simulator and Verilator differ at beat {j} of {}/{}: {:?} vs {:?}",
                sim_taps[ti].len(),
                rtl_taps[ti].len(),
                sim_taps[ti].get(j),
                rtl_taps[ti].get(j)
            ));
        }
    }
    Ok(())
}

/// The largest divisor of `n` not above `cap`.
pub fn divisor(n: usize, cap: usize) -> usize {
    (1..=cap.min(n).max(1))
        .rev()
        .find(|d| n.is_multiple_of(*d))
        .unwrap_or(1)
}

/// Conv/dense nodes of a model: `(node index, out channels, in channels, depthwise)`.
pub fn mvu_nodes(m: &QuantModel) -> Vec<(usize, usize, usize, bool)> {
    m.nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.op {
            inq_model::Op::Conv(c) => Some((i, c.out_channels, c.in_channels, c.depthwise())),
            inq_model::Op::Dense(d) => Some((i, d.out_features, d.in_features, false)),
            _ => None,
        })
        .collect()
}

/// An explicit folding from `(node index, PE, SIMD)` entries.
pub fn fold_at(entries: &[(usize, usize, usize)]) -> inq_hdl::FoldingRequest {
    inq_hdl::FoldingRequest::Explicit(inq_hdl::Folding {
        layer: entries
            .iter()
            .map(|&(i, pe, simd)| inq_hdl::LayerFolding {
                name: None,
                index: Some(i),
                pe,
                simd,
            })
            .collect(),
    })
}

/// New weights for the same hardware: within every output channel of every conv/dense node
/// the weight codes are permuted and each non-zero weight's sign flipped at random, and each
/// bias's sign flipped at random. Every accumulator bound, exponent and level set stays the
/// same, so the plan's widths and shifts, and hence the RTL (everything but the ROM and table
/// files), are those of `model`: a co-simulation of the result reuses `model`'s Verilator
/// build. The name is kept (it is in the RTL's header).
pub fn reshuffle_weights(model: &QuantModel, seed: u64) -> QuantModel {
    use inq_model::numerics::{decode_kind, encode, Weight};
    let mut rng = inq_model::random::SplitMix64(seed ^ 0x005e_ed0f_3e16);
    let mut m = model.clone();
    for node in &mut m.nodes {
        let (w, bias, out) = match &mut node.op {
            inq_model::Op::Conv(c) => (&mut c.weights, &mut c.bias, c.out_channels),
            inq_model::Op::Dense(d) => (&mut d.weights, &mut d.bias, d.out_features),
            _ => continue,
        };
        let row = w.codes.len() / out;
        for r in w.codes.chunks_mut(row) {
            for i in (1..r.len()).rev() {
                let j = rng.range(0, i as i64) as usize;
                r.swap(i, j);
            }
            for c in r.iter_mut() {
                if rng.range(0, 1) == 1 {
                    let flipped = match decode_kind(w.kind, *c, w.bits).expect("valid code") {
                        Weight::Zero => Weight::Zero,
                        Weight::Int(q) => Weight::Int(-q),
                        Weight::Pow2 { negative, index } => Weight::Pow2 {
                            negative: !negative,
                            index,
                        },
                    };
                    *c = encode(flipped, w.bits);
                }
            }
        }
        for b in bias.iter_mut() {
            if rng.range(0, 1) == 1 {
                *b = -*b;
            }
        }
    }
    m
}

/// True if some engine of `design` has its weights wired into the RTL (constant-weight MVU):
/// then its Verilator build depends on the weights.
pub fn has_constant_weights(design: &Design) -> bool {
    design.mvu_engines().any(|(_, _, m)| m.is_constant())
}
