//! Co-simulation of generated designs: the integer reference, the cycle-accurate simulator and
//! the RTL under Verilator must agree on every output word *and* the cycle it appears in, with
//! and without stalls. Property tests draw random small models and foldings; a mutation test
//! shows the check can fail.

mod common;

use common::{
    cosim, divisor, fold_at, generate, mvu_nodes, plan_and_generate, require_verilator,
    with_rom_regs, Drive, RomRegs,
};
use inq_hdl::{Folding, FoldingRequest, LayerFolding};
use inq_model::random::{build, build_with_kind, random_input, LayerSpec, RandomSpec};
use inq_model::{ActFormat, Op, QuantModel};
use inq_testbenches::verify;
use proptest::prelude::*;

/// Stall rate and seed, no reset, no taps.
fn stalls(stall_rate: f64, seed: u64) -> Drive {
    Drive {
        stall_rate,
        seed,
        ..Drive::default()
    }
}

fn lenet_like(seed: u64) -> QuantModel {
    build(&lenet_like_spec([5, 3, 4, 2]), seed).expect("valid random model")
}

/// The LeNet-like shape with uniform integer weights of the given widths (the int8 multiplier
/// baseline).
fn lenet_like_int(seed: u64) -> QuantModel {
    build_with_kind(
        &lenet_like_spec([8, 6, 8, 3]),
        seed,
        inq_model::WeightKind::Int,
    )
    .expect("valid random int model")
}

fn lenet_like_spec(bits: [u32; 4]) -> RandomSpec {
    let conv = |out, bits| LayerSpec::Conv {
        out,
        k: 3,
        stride: 1,
        pad: 1,
        bits,
        act_bits: 8,
        relu: true,
        per_channel: true,
    };
    RandomSpec {
        input: [1, 12, 12],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        },
        layers: vec![
            conv(4, bits[0]),
            LayerSpec::MaxPool(2),
            conv(8, bits[1]),
            LayerSpec::MaxPool(2),
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 16,
                bits: bits[2],
                act_bits: 6,
                relu: true,
                per_channel: false,
            },
            LayerSpec::Dense {
                out: 10,
                bits: bits[3],
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    }
}

#[test]
fn int_weight_lenet_sim_equals_verilator() {
    require_verilator();
    let model = lenet_like_int(8);
    let images: Vec<Vec<i64>> = (0..20).map(|i| random_input(&model, 300 + i)).collect();
    let fold = fold_at(&[(2, 4, 2), (5, 2, 8)]);
    for (name, req) in [("min", FoldingRequest::Minimal), ("fold", fold)] {
        let (dir, design) = plan_and_generate(&model, &req, &format!("lenet-int-{name}"));
        assert_eq!(design.mac(), inq_hdl::MacKind::Multiply);
        // equal throughput: the schedule is the shift-add design's for the same folding
        let shift = inq_hdl::plan(&lenet_like(8), &req).expect("plan");
        assert_eq!(design.interval_cycles(), shift.interval_cycles());
        for (rate, seed) in [(0.0, 1), (0.3, 5)] {
            let common::Agreed { sim, rtl } =
                cosim(&dir, &design, &model, &images, &stalls(rate, seed))
                    .unwrap_or_else(|e| panic!("int {name}, stall rate {rate}: {e}"));
            assert_eq!(sim.outputs.len(), 20 * 10);
            assert_eq!(sim.latency_cycles, rtl.latency_cycles);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The multipliers in registered halves (`docs/hardware.md` §4, "The multiplier in two
/// halves", `MREG`), alone and with the read and datapath registers and the datapath
/// register inside the lanes' tree, on every multiplier engine of the int8 LeNet-like model
/// (weights of 8, 6, 8 and 3 bits: even and odd splits): Verilator against the simulator,
/// every word and cycle, with and without stalls; one more cycle of latency per stage. And
/// the planner without DSP blocks gives the halves to the engines it registers.
#[test]
fn multipliers_in_halves_sim_equals_verilator() {
    require_verilator();
    let model = lenet_like_int(8);
    let images: Vec<Vec<i64>> = (0..12).map(|i| random_input(&model, 500 + i)).collect();
    let fold = fold_at(&[(2, 4, 2), (5, 2, 8)]);
    // (read registers, datapath register, its levels into the lanes' tree)
    let sets = [
        (false, false, 0),
        (true, false, 0),
        (true, true, 0),
        (false, true, 1),
        (true, true, 2),
    ];
    for (name, req) in [("min", FoldingRequest::Minimal), ("fold", fold)] {
        let plain = inq_hdl::plan(&model, &req).expect("plan");
        let plain_latency = {
            let dir = generate(&model, &plain, &format!("halves-{name}-plain"));
            let lat = cosim(&dir, &plain, &model, &images, &stalls(0.0, 1))
                .unwrap_or_else(|e| panic!("{name} plain: {e}"))
                .sim
                .latency_cycles;
            let _ = std::fs::remove_dir_all(&dir);
            lat
        };
        for (read, data, split) in sets {
            let mut design = plain.clone();
            let mut halves = 0;
            let mut splits = 0;
            for e in &mut design.engines {
                let inq_hdl::EngineKind::Mvu(m) = &mut e.kind else {
                    continue;
                };
                if m.is_constant() || m.mac != inq_hdl::MacKind::Multiply {
                    continue;
                }
                m.mul_regs = true;
                m.read_regs = read;
                m.data_regs = data;
                m.data_split = if m.data_split_allowed() {
                    split.min(m.lanes_tree_levels().saturating_sub(1))
                } else {
                    0
                };
                halves += 1;
                splits += usize::from(m.data_split > 0);
                e.resources = e.kind.op().resources(&e.io);
            }
            assert!(halves >= 3, "{name}: {halves} multiplier engines");
            if split > 0 && name == "fold" {
                assert!(
                    splits > 0,
                    "{name}: no engine with the register in its tree"
                );
            }
            let tag = format!("halves-{name}-{read}-{data}-{split}");
            let dir = generate(&model, &design, &tag);
            let rtl = std::fs::read_to_string(dir.join("rtl").join("inq_top.v")).expect("top");
            assert_eq!(rtl.matches(".MREG(1)").count(), halves, "{tag}");
            for (rate, seed) in [(0.0, 1), (0.3, 5)] {
                let common::Agreed { sim, rtl } =
                    cosim(&dir, &design, &model, &images, &stalls(rate, seed))
                        .unwrap_or_else(|e| panic!("{tag}, stall rate {rate}: {e}"));
                assert_eq!(sim.latency_cycles, rtl.latency_cycles, "{tag}");
                if rate == 0.0 {
                    // at least the halves' stage on the first image's path
                    assert!(sim.latency_cycles > plain_latency, "{tag}");
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    // the planner for 7-series without DSP blocks at a clock the plain engines miss
    let mut design = inq_hdl::plan(&model, &FoldingRequest::Minimal).expect("plan");
    let fit = inq_hdl::stage_to_clock(
        &mut design,
        inq_hdl::TimingFamily::Xilinx7,
        250.0,
        inq_hdl::Multipliers::Logic,
    );
    assert!(
        fit.rom_regs.iter().any(|r| r.mul_regs && r.read_regs),
        "{}",
        fit.summary()
    );
    let dir = generate(&model, &design, "halves-planned");
    cosim(&dir, &design, &model, &images, &stalls(0.2, 3))
        .unwrap_or_else(|e| panic!("planned without DSP blocks: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The line-buffer read in two stages (`docs/hardware.md` §4, "The line-buffer read in two
/// stages", `LBSP`) on every ROM-fed engine of the LeNet-like models, shift-add and int8
/// (the latter with the multipliers in halves): groups of a third of a bank (rounded down to
/// a power of two, so at least three groups and mostly a partial last one) and of two words
/// (the most groups), with and without the datapath register, folded and not. Verilator
/// against the simulator, every word and cycle, with and without stalls; exactly one cycle
/// more latency than the same registers read in one stage. And the planner for 7-series
/// splits the read of a bank deeper than [`inq_hdl::ops::mvu::LB_GROUP_WORDS`].
#[test]
fn line_buffer_read_in_two_stages_sim_equals_verilator() {
    require_verilator();
    let images_of = |model: &QuantModel| -> Vec<Vec<i64>> {
        (0..10).map(|i| random_input(model, 700 + i)).collect()
    };
    let fold = fold_at(&[(2, 4, 2), (5, 2, 8)]);
    for (kind, model) in [("shift", lenet_like(3)), ("int", lenet_like_int(4))] {
        let images = images_of(&model);
        for (name, req) in [("min", FoldingRequest::Minimal), ("fold", fold.clone())] {
            let plain = inq_hdl::plan(&model, &req).expect("plan");
            for data in [false, true] {
                // the first image's latency read in one stage (groups 0)
                let mut one_stage = 0;
                // (groups of a third of the bank, groups of two words; 0: one stage)
                for groups in [0usize, 3, 2] {
                    let mut design = plain.clone();
                    let mut split = 0;
                    for e in &mut design.engines {
                        let inq_hdl::EngineKind::Mvu(m) = &mut e.kind else {
                            continue;
                        };
                        if m.is_constant() {
                            continue;
                        }
                        m.read_regs = true;
                        m.data_regs = data;
                        m.mul_regs = m.mac == inq_hdl::MacKind::Multiply;
                        let words = m.lb_bank_words();
                        m.lb_group_words = match groups {
                            0 => 0,
                            3 if words >= 6 => 1 << (usize::BITS - 1 - (words / 3).leading_zeros()),
                            3 => 0,
                            _ => 2,
                        };
                        split += usize::from(m.lb_groups() > 1);
                        e.resources = e.kind.op().resources(&e.io);
                    }
                    if groups > 0 {
                        assert!(split >= 3, "{kind}-{name}: {split} engines split");
                    }
                    let tag = format!("lbsplit-{kind}-{name}-{data}-{groups}");
                    let dir = generate(&model, &design, &tag);
                    let rtl =
                        std::fs::read_to_string(dir.join("rtl").join("inq_top.v")).expect("top");
                    assert_eq!(rtl.matches(".LBSP(1)").count(), split, "{tag}");
                    let mut latency = Vec::new();
                    for (rate, seed) in [(0.0, 1), (0.3, 5)] {
                        let common::Agreed { sim, rtl } =
                            cosim(&dir, &design, &model, &images, &stalls(rate, seed))
                                .unwrap_or_else(|e| panic!("{tag}, stall rate {rate}: {e}"));
                        assert_eq!(sim.latency_cycles, rtl.latency_cycles, "{tag}");
                        latency.push(sim.latency_cycles);
                    }
                    let _ = std::fs::remove_dir_all(&dir);
                    if groups == 0 {
                        one_stage = latency[0];
                    } else {
                        // one stage more per engine split, on the first image's path
                        assert!(
                            latency[0] > one_stage && latency[0] <= one_stage + split as u64,
                            "{tag}: latency {} against {one_stage} in one stage",
                            latency[0]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn small_lenet_sim_equals_verilator_with_and_without_stalls() {
    require_verilator();
    let model = lenet_like(5);
    let images: Vec<Vec<i64>> = (0..40).map(|i| random_input(&model, i)).collect();
    let fold = fold_at(&[(0, 2, 1), (2, 4, 2), (5, 4, 8)]);
    for (name, req) in [("min", FoldingRequest::Minimal), ("fold", fold)] {
        let (dir, design) = plan_and_generate(&model, &req, &format!("lenet-{name}"));
        for (rate, seed) in [(0.0, 1), (0.25, 7), (0.6, 9)] {
            let common::Agreed { sim, rtl } =
                cosim(&dir, &design, &model, &images, &stalls(rate, seed))
                    .unwrap_or_else(|e| panic!("{name}, stall rate {rate}: {e}"));
            assert_eq!(sim.outputs.len(), 40 * 10);
            assert_eq!(sim.latency_cycles, rtl.latency_cycles);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A small model whose 1×1 conv and both dense layers can be fully unrolled; signed input.
fn unrollable(seed: u64) -> QuantModel {
    let spec = RandomSpec {
        input: [2, 6, 6],
        input_format: ActFormat {
            bits: 6,
            signed: true,
            exp: 0,
        },
        layers: vec![
            LayerSpec::Conv {
                out: 4,
                k: 3,
                stride: 1,
                pad: 1,
                bits: 4,
                act_bits: 6,
                relu: false,
                per_channel: true,
            },
            LayerSpec::MaxPool(2),
            LayerSpec::Conv {
                out: 6,
                k: 1,
                stride: 1,
                pad: 0,
                bits: 5,
                act_bits: 7,
                relu: true,
                per_channel: true,
            },
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 12,
                bits: 4,
                act_bits: 6,
                relu: true,
                per_channel: false,
            },
            LayerSpec::Dense {
                out: 5,
                bits: 3,
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    };
    build(&spec, seed).expect("valid random model")
}

#[test]
fn unrolled_engines_sim_equals_verilator_with_and_without_stalls() {
    require_verilator();
    let model = unrollable(21);
    let images: Vec<Vec<i64>> = (0..30).map(|i| random_input(&model, 300 + i)).collect();
    // the 1×1 conv (layer 2) and the last dense by name, the first dense by a folding entry
    // covering the whole layer (PE × SIMD = 12 × 54)
    let fc1 = model.nodes[4].name.clone();
    let req = FoldingRequest::Explicit(Folding {
        layer: vec![
            LayerFolding {
                name: None,
                index: Some(0),
                pe: 2,
                simd: 2,
            },
            LayerFolding {
                name: Some(fc1),
                index: None,
                pe: 12,
                simd: 54,
            },
        ],
    });
    let unroll = vec![model.nodes[2].name.clone(), model.nodes[5].name.clone()];
    let dir = common::scratch("unrolled");
    let design = inq_hdl::plan_unrolled(&model, &req, &unroll).expect("plan");
    let constant: Vec<usize> = design
        .engines
        .iter()
        .filter(|e| matches!(&e.kind, inq_hdl::EngineKind::Mvu(m) if m.is_constant()))
        .filter_map(|e| e.node)
        .collect();
    assert_eq!(constant, vec![2, 4, 5], "constant-weight engines");
    let manifest =
        inq_codegen::generate(&design, &model, &dir, &inq_codegen::GenOptions::default())
            .expect("generate");
    assert!(
        manifest
            .hex_files
            .iter()
            .all(|f| !f.contains("e2_w") && !f.contains("e3_w") && !f.contains("e4_w")),
        "no weight ROM for a constant-weight engine: {:?}",
        manifest.hex_files
    );
    for (rate, seed) in [(0.0, 1), (0.3, 7), (0.6, 9)] {
        let common::Agreed { sim, rtl } =
            cosim(&dir, &design, &model, &images, &stalls(rate, seed))
                .unwrap_or_else(|e| panic!("stall rate {rate}: {e}"));
        assert_eq!(sim.outputs.len(), 30 * 5);
        assert_eq!(sim.latency_cycles, rtl.latency_cycles);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hard-wired k×k convolutions (`docs/hardware.md` §4.1): the whole window in one fold, every
/// kernel size, stride and padding here, depthwise ones, a signed input, a 1×1 output map read
/// at fixed columns.
fn hard_wired_spec(bits: u32) -> RandomSpec {
    let conv = |out, k, stride, pad, relu| LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits,
        act_bits: 6,
        relu,
        per_channel: true,
    };
    let dw = |stride, relu| LayerSpec::Depthwise {
        k: 3,
        stride,
        pad: 1,
        bits,
        act_bits: 6,
        relu,
    };
    RandomSpec {
        input: [2, 9, 9],
        input_format: ActFormat {
            bits: 6,
            signed: true,
            exp: 0,
        },
        layers: vec![
            conv(3, 3, 1, 1, false), // 9×9, padded on every side
            dw(1, true),             // depthwise 3×3: 9×9
            conv(4, 5, 2, 2, true),  // 5×5 kernel, stride 2: 5×5
            dw(2, false),            // depthwise, stride 2: 3×3
            conv(3, 2, 1, 0, true),  // even kernel, no padding: 2×2
            conv(5, 3, 2, 1, false), // stride 2: a 1×1 output map
            conv(6, 3, 1, 1, true),  // 1×1 map: only the centre tap is inside
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 5,
                bits: 3,
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    }
}

/// Every engine hard-wired, with 0 to 3 pipeline registers in their adder trees (engine `i`
/// gets `i % 4`, whatever the plan chose; §4.1).
#[test]
fn hard_wired_convs_sim_equals_verilator() {
    require_verilator();
    let model = build(&hard_wired_spec(4), 5).expect("valid random model");
    check_hard_wired(&model, "hard-wired", Some(&|i| i as u32 % 4), false);
}

/// The same convolutions with the widest beats their engines take (`docs/hardware.md` §2.1,
/// `inq_hdl::widen_beats`): a hard-wired engine takes and emits several channels of a pixel
/// per beat; same values, and the simulator's cycles are the RTL's. Here every engine has the
/// row tests from difference registers (§12, "The row tests from differences").
#[test]
fn wide_beats_sim_equals_verilator() {
    require_verilator();
    let model = build(&hard_wired_spec(4), 5).expect("valid random model");
    check_hard_wired(&model, "wide-beats", Some(&|i| i as u32 % 3), true);
}

/// Line-buffered pools (`docs/hardware.md` §5) with wide beats: a 3×3 stride 2 max and a 2×2
/// stride 1 average of signed values (a copy of the buffer per tap), a pool feeding a pool, and
/// a banked 2×2 stride 4 max, between convolutions. Three designs: every conv hard-wired with
/// the widest beats (`widen_beats`: a whole pixel per beat, `K = C`); the same with beats of
/// 2 and 3 set by hand (`K < C`: two or three channel groups per pixel, banked too); and the
/// planner's own beats for a throughput target of 700 cycles an image (`plan_with`: the first
/// pool at 2 of 4 channels). With and without stalls, and every tap stream: the simulator's
/// values and cycles are the RTL's.
#[test]
fn wide_line_buffered_pools_sim_equals_verilator() {
    require_verilator();
    let conv = |out, k, pad, relu| LayerSpec::Conv {
        out,
        k,
        stride: 1,
        pad,
        bits: 4,
        act_bits: 6,
        relu,
        per_channel: true,
    };
    let pool = |k, stride, avg| LayerSpec::Pool { k, stride, avg };
    // every window ends on its map's last row and column: all of an image is needed
    let spec = RandomSpec {
        input: [2, 15, 15],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        },
        layers: vec![
            conv(4, 3, 1, true),  // 4×15×15
            pool(3, 2, false),    // 4×7×7
            conv(6, 3, 1, false), // 6×7×7, signed
            pool(2, 1, true),     // 6×6×6
            pool(2, 4, false),    // 6×2×2, banked
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 5,
                bits: 4,
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    };
    let model = build(&spec, 12).expect("valid random model");
    let pools = |d: &inq_hdl::Design| -> Vec<(usize, bool)> {
        d.engines
            .iter()
            .filter_map(|e| match &e.kind {
                inq_hdl::EngineKind::Pool(p) if !p.tiled() => Some((p.beat, p.banked())),
                _ => None,
            })
            .collect()
    };
    let unroll: Vec<String> = [0, 2, 6]
        .iter()
        .map(|&i| model.nodes[i].name.clone())
        .collect();
    let mut widest =
        inq_hdl::plan_unrolled(&model, &FoldingRequest::Minimal, &unroll).expect("plan");
    let mut by_hand = widest.clone();
    inq_hdl::widen_beats(&mut widest);
    assert_eq!(pools(&widest), vec![(4, false), (6, false), (6, true)]);
    // (node, input beat, output beat): c1 1→2, p1 2, c2 2→3, p2 3, p3 3, fc 3→1
    let hand = [
        (0, 1, 2),
        (1, 2, 2),
        (2, 2, 3),
        (3, 3, 3),
        (4, 3, 3),
        (6, 3, 1),
    ];
    for e in &mut by_hand.engines {
        if let Some(&(_, ki, ko)) = hand.iter().find(|h| Some(h.0) == e.node) {
            e.kind.op_mut().set_beats(ki, ko);
        }
    }
    for i in 0..by_hand.streams.len() {
        if let inq_hdl::Endpoint::Engine { engine, .. } = by_hand.streams[i].from {
            by_hand.streams[i].beat = by_hand.engines[engine].op().out_beat();
        }
    }
    assert_eq!(pools(&by_hand), vec![(2, false), (3, false), (3, true)]);
    // 700 cycles an image: below the first conv's 900 results, above the input's 450
    let req = FoldingRequest::Throughput {
        fps: 100e6 / 700.0,
        clock_mhz: 100.0,
        hard_wired: true,
    };
    let target = inq_hdl::plan_with(&model, &req, &[], inq_hdl::BeatChoice::Auto).expect("plan");
    // the first pool reads 4·15·15 elements an image: 2 per beat meet the target; the others
    // read fewer elements than the input's and stay at one
    assert_eq!(pools(&target), vec![(2, false), (1, false), (1, true)]);
    let images: Vec<Vec<i64>> = (0..8).map(|i| random_input(&model, 700 + i)).collect();
    let designs = [
        ("widest", &widest),
        ("by-hand", &by_hand),
        ("target", &target),
    ];
    for (name, design) in designs {
        let dir = generate(&model, design, &format!("wide-pools-{name}"));
        for (rate, seed, taps) in [(0.0, 1, true), (0.4, 4, false), (0.25, 9, true)] {
            let drive = Drive {
                stall_rate: rate,
                seed,
                taps,
                ..Drive::default()
            };
            let common::Agreed { sim, rtl } = cosim(&dir, design, &model, &images, &drive)
                .unwrap_or_else(|e| panic!("{name}, stall rate {rate}: {e}"));
            assert_eq!(sim.outputs.len(), 8 * 5);
            assert_eq!(sim.latency_cycles, rtl.latency_cycles);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The same convolutions with uniform integer weights, hard-wired as canonical signed digits,
/// with the plan's pipeline registers.
#[test]
fn hard_wired_integer_weights_sim_equals_verilator() {
    require_verilator();
    let model = build_with_kind(&hard_wired_spec(8), 6, inq_model::WeightKind::Int)
        .expect("valid random model");
    check_hard_wired(&model, "hard-wired-int", None, false);
}

/// Co-simulates `model` with every conv/dense node hard-wired; `pipeline` overrides the
/// plan's pipeline registers of the `i`-th hard-wired engine; `wide` widens the beats.
fn check_hard_wired(
    model: &QuantModel,
    name: &str,
    pipeline: Option<&dyn Fn(usize) -> u32>,
    wide: bool,
) {
    let model = model.clone();
    let images: Vec<Vec<i64>> = (0..12).map(|i| random_input(&model, 500 + i)).collect();
    let unroll: Vec<String> = (0..7).map(|i| model.nodes[i].name.clone()).collect();
    let dir = common::scratch(name);
    let mut design =
        inq_hdl::plan_unrolled(&model, &FoldingRequest::Minimal, &unroll).expect("plan");
    let mut constant = Vec::new();
    let mut registers = Vec::new();
    for e in &mut design.engines {
        if let inq_hdl::EngineKind::Mvu(m) = &mut e.kind {
            if m.is_constant() {
                if let Some(f) = pipeline {
                    m.pipeline = f(constant.len());
                }
                // the wide variant with the row tests from difference registers (the same
                // cycles; docs/hardware.md §12, "The row tests from differences")
                m.hs_regs = wide;
                constant.extend(e.node);
                registers.push(m.pipeline);
            }
        }
    }
    assert_eq!(constant, vec![0, 1, 2, 3, 4, 5, 6], "hard-wired engines");
    assert!(
        registers.iter().any(|&d| d > 0),
        "some engine has pipeline registers: {registers:?}"
    );
    if wide {
        let streams = inq_hdl::widen_beats(&mut design);
        assert!(streams.len() >= 4, "wide streams: {streams:?}");
    }
    inq_codegen::generate(&design, &model, &dir, &inq_codegen::GenOptions::default())
        .expect("generate");
    for (rate, seed) in [(0.0, 1), (0.4, 4)] {
        let common::Agreed { sim, rtl } =
            cosim(&dir, &design, &model, &images, &stalls(rate, seed))
                .unwrap_or_else(|e| panic!("stall rate {rate}: {e}"));
        assert_eq!(sim.outputs.len(), 12 * 5);
        assert_eq!(sim.latency_cycles, rtl.latency_cycles);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutated_weight_rom_is_caught() {
    require_verilator();
    let model = lenet_like(6);
    let images: Vec<Vec<i64>> = (0..20).map(|i| random_input(&model, 100 + i)).collect();
    let (dir, design) = plan_and_generate(&model, &FoldingRequest::Minimal, "mutate");
    cosim(&dir, &design, &model, &images, &stalls(0.1, 3)).expect("the unmodified design passes");
    // Sharded (4 shards of 5 images, 2 at a time): the simulator and Verilator agree on every
    // word and cycle, and each shard has its own stall pattern.
    let shard_sim = inq_sim::SimOptions {
        stall_rate: 0.1,
        seed: 3,
        shard_images: 5,
        jobs: 2,
        ..Default::default()
    };
    let shard_rtl = inq_testbenches::VerifyOptions {
        stall_rate: 0.1,
        seed: 3,
        shard_images: 5,
        jobs: 2,
        ..common::opts()
    };
    let sim = inq_sim::verify(&model, &design, &images, &shard_sim).expect("sharded sim");
    let rtl = verify(&dir, &images, &shard_rtl).expect("sharded verify");
    assert!(sim.mismatch_count == 0 && sim.stream_mismatches == 0 && rtl.passed);
    assert_eq!(rtl.shards.len(), 4);
    assert_eq!(rtl.shards, sim.shards);
    assert_eq!(rtl.outputs, sim.outputs, "sharded: words or cycles differ");
    assert_eq!(rtl.total_cycles, sim.total_cycles);
    assert_eq!(rtl.interval_cycles, sim.interval_cycles);
    let seeds: std::collections::HashSet<u64> = rtl.shards.iter().map(|s| s.seed).collect();
    assert_eq!(seeds.len(), 4);
    assert_eq!(rtl.shards[0].seed, 3);
    for w in rtl.shards.windows(2) {
        let last_of_prev = rtl
            .outputs
            .iter()
            .filter(|o| o.image < w[1].first_image)
            .map(|o| o.cycle)
            .max()
            .unwrap();
        assert_eq!(w[1].first_cycle, last_of_prev + 1, "back to back: {w:?}");
    }
    // Flip the non-zero flag of the first code in the second conv's ROM (PE 0, word 0): a zero
    // weight becomes +2^n2, a non-zero one disappears.
    let hex = design
        .engines
        .iter()
        .position(|e| e.node == Some(2))
        .map(|e| format!("rtl/e{e}_w_pe0.hex"))
        .expect("engine of layer 2");
    let bits = match &model.nodes[2].op {
        Op::Conv(c) => c.weights.bits,
        _ => unreachable!(),
    };
    inq_testbenches::mutate::corrupt_hex_word(&dir, &hex, 0, 1 << (bits - 1)).expect("corrupt");
    let rtl = verify(&dir, &images, &common::opts()).expect("runs");
    assert!(!rtl.passed, "a corrupted weight went unnoticed");
    let bad = rtl
        .first_bad
        .clone()
        .expect("a first differing stream is named");
    assert_eq!(bad.node, Some(2), "the corruption is in node 2: {bad:?}");
    // sharded, the same words differ and the first differing stream is the same, numbered
    // globally
    let sharded = verify(&dir, &images, &shard_rtl).expect("runs");
    assert!(!sharded.passed);
    assert_eq!(sharded.mismatch_count, rtl.mismatch_count);
    assert_eq!(
        sharded
            .mismatches
            .iter()
            .map(|m| (m.image, m.word))
            .collect::<Vec<_>>(),
        rtl.mismatches
            .iter()
            .map(|m| (m.image, m.word))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        sharded
            .first_stream_mismatch
            .as_ref()
            .map(|m| (m.image, m.node)),
        rtl.first_stream_mismatch
            .as_ref()
            .map(|m| (m.image, m.node))
    );
    assert_eq!(sharded.first_bad.as_ref().map(|b| b.node), Some(Some(2)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// ROM-fed window addresses (`docs/hardware.md` §4, "The window address, one fire ahead":
/// advanced by per-instance deltas, one fire ahead) over geometries the random models below
/// rarely draw: 5×5 kernels with padding 2, strides 3, a 2×2 stride-2 kernel, depthwise
/// convolutions folded over PE = 2 with stride 2, SIMD > 1, line buffers whose row slots wrap
/// at different steps; several images back to back, with and without stalls.
#[test]
fn rom_fed_window_addresses_over_wide_kernels_strides_and_depthwise() {
    require_verilator();
    let conv = |out, k, stride, pad| LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 6,
        relu: true,
        per_channel: true,
    };
    let dw = |k, stride, pad| LayerSpec::Depthwise {
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 6,
        relu: true,
    };
    let dense = |out| LayerSpec::Dense {
        out,
        bits: 4,
        act_bits: 8,
        relu: false,
        per_channel: true,
    };
    let u8_input = ActFormat {
        bits: 8,
        signed: false,
        exp: 0,
    };
    /// A model's input and layers before the dense head, and the PE and SIMD caps.
    struct Case {
        name: &'static str,
        input: [usize; 3],
        layers: Vec<LayerSpec>,
        pe: usize,
        simd: usize,
    }
    let case = |name, input, layers, pe, simd| Case {
        name,
        input,
        layers,
        pe,
        simd,
    };
    let cases = vec![
        case(
            "k5p2",
            [2, 7, 6],
            vec![conv(3, 5, 1, 2), conv(2, 5, 2, 2)],
            3,
            2,
        ),
        case(
            "k3s3",
            [3, 11, 10],
            vec![conv(4, 3, 3, 1), conv(2, 2, 2, 0)],
            2,
            3,
        ),
        case(
            "dw",
            [4, 9, 8],
            vec![dw(3, 2, 1), conv(4, 1, 1, 0), dw(3, 1, 1)],
            2,
            2,
        ),
        case(
            "k2s2",
            [4, 8, 8],
            vec![conv(4, 2, 2, 0), conv(3, 3, 1, 1)],
            4,
            4,
        ),
    ];
    for (ci, c) in cases.into_iter().enumerate() {
        let Case {
            name,
            input,
            mut layers,
            pe,
            simd,
        } = c;
        layers.extend([LayerSpec::Flatten, dense(3)]);
        let spec = RandomSpec {
            input,
            input_format: u8_input,
            layers,
        };
        let seed = 0x5eed + ci as u64;
        let model = build(&spec, seed).expect("valid model");
        let entries: Vec<_> = mvu_nodes(&model)
            .into_iter()
            .map(|(i, oc, c, depthwise)| {
                if depthwise {
                    (i, divisor(oc, pe), 1)
                } else {
                    (i, divisor(oc, pe), divisor(c, simd))
                }
            })
            .collect();
        let images: Vec<Vec<i64>> = (0..4).map(|i| random_input(&model, seed ^ i)).collect();
        // the same design without registers, with registered schedule flags (same cycles),
        // with the datapath register (a cycle more per engine), with both, with the read
        // registers (a cycle more, no forwarding), with the read registers and the
        // datapath register (two cycles more), and with those and the weight registers (the
        // same cycles, the ROMs read a fold ahead)
        let regs = |sched, data, read, weight, hs| RomRegs {
            sched,
            data,
            read,
            weight,
            hs,
        };
        // and the row tests from difference registers (the same cycles) alone, with the
        // flags, and with the read, weight and datapath registers
        for r in [
            regs(false, false, false, false, false),
            regs(true, false, false, false, false),
            regs(false, true, false, false, false),
            regs(true, true, false, false, false),
            regs(false, false, true, false, false),
            regs(false, true, true, false, false),
            regs(false, true, true, true, false),
            regs(false, false, false, false, true),
            regs(true, true, false, false, true),
            regs(false, true, true, true, true),
        ] {
            let mut design = inq_hdl::plan(&model, &fold_at(&entries)).expect("plan");
            assert!(
                with_rom_regs(&mut design, r) > 0,
                "{name}: no ROM-fed engine"
            );
            let tag = format!("addr-{name}-{r}");
            let dir = generate(&model, &design, &tag);
            for stall in [0.0, 0.3] {
                if let Err(e) = cosim(&dir, &design, &model, &images, &stalls(stall, seed)) {
                    panic!(
                        "{name}, registers {r:?} (schedule flags, datapath, read, weight), stall rate \
                         {stall}: {e}"
                    );
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// The datapath register inside the lanes' tree (`docs/hardware.md` §4, "The register
/// inside the lanes' tree", `Mvu::data_split`): ROM-fed engines with SIMD 3 to 12 (trees of
/// two to four levels, some with lanes that are no power of two), the register after each
/// number of levels the tree allows, with the read and weight registers or without; several
/// images back to back, with and without stalls. The sums and cycles are those of the
/// register after the whole tree.
#[test]
fn datapath_register_inside_the_lanes_tree() {
    require_verilator();
    let spec = RandomSpec {
        input: [12, 5, 4],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: 0,
        },
        layers: vec![
            LayerSpec::Conv {
                out: 6,
                k: 3,
                stride: 1,
                pad: 1,
                bits: 4,
                act_bits: 6,
                relu: true,
                per_channel: true,
            },
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 5,
                bits: 5,
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    };
    let seed = 0xd5_91;
    let model = build(&spec, seed).expect("valid model");
    let images: Vec<Vec<i64>> = (0..4).map(|i| random_input(&model, seed ^ i)).collect();
    let mut designs = 0;
    // conv: C = 12, SIMD 12 (four levels) or 3 (two); dense: C = 120, SIMD 5 or 8 (three);
    // without the read registers, then with them and the weight registers
    for (conv_simd, dense_simd, read) in [(12, 5, false), (3, 8, true)] {
        let entries: Vec<_> = mvu_nodes(&model)
            .into_iter()
            .map(|(i, oc, c, _)| {
                let simd = if c == 12 { conv_simd } else { dense_simd };
                (i, divisor(oc, 2), divisor(c, simd))
            })
            .collect();
        for split in 1..4u32 {
            let mut design = inq_hdl::plan(&model, &fold_at(&entries)).expect("plan");
            with_rom_regs(
                &mut design,
                RomRegs {
                    sched: false,
                    data: true,
                    read,
                    weight: read,
                    hs: read,
                },
            );
            let mut split_engines = 0;
            for e in &mut design.engines {
                if let inq_hdl::EngineKind::Mvu(m) = &mut e.kind {
                    if m.data_split_allowed() && split < m.lanes_tree_levels() {
                        m.data_split = split;
                        split_engines += 1;
                    }
                }
            }
            if split_engines == 0 {
                continue;
            }
            let tag = format!("split-{conv_simd}-{dense_simd}-{read}-{split}");
            let dir = generate(&model, &design, &tag);
            for stall in [0.0, 0.3] {
                if let Err(e) = cosim(&dir, &design, &model, &images, &stalls(stall, seed)) {
                    panic!(
                        "SIMD {conv_simd}/{dense_simd}, read registers {read}, register after \
                         {split} tree levels, stall rate {stall}: {e}"
                    );
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
            designs += 1;
        }
    }
    // conv SIMD 12 after 1, 2 and 3 levels (dense SIMD 5 after 1 and 2 with them), dense
    // SIMD 8 after 1 and 2 (conv SIMD 3 after 1 with it)
    assert_eq!(designs, 5, "designs with the register inside the tree");
}

fn conv_spec() -> impl Strategy<Value = LayerSpec> {
    (
        1usize..4,
        1usize..4,
        1usize..3,
        0usize..2,
        2u32..=8,
        2u32..=8,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(out, k, stride, pad, bits, act_bits, relu, per_channel)| LayerSpec::Conv {
                out,
                k,
                stride,
                pad: pad.min(k - 1),
                bits,
                act_bits,
                relu,
                per_channel,
            },
        )
}

/// Random small networks from the supported layer set.
fn spec() -> impl Strategy<Value = RandomSpec> {
    let fmt = prop_oneof![
        Just(ActFormat {
            bits: 8,
            signed: false,
            exp: 0
        }),
        (2u32..=8, -2i32..2).prop_map(|(bits, exp)| ActFormat {
            bits,
            signed: true,
            exp
        }),
    ];
    (
        1usize..3,
        3usize..7,
        3usize..7,
        fmt,
        prop::collection::vec((conv_spec(), 0u8..6), 0..3),
        prop::collection::vec((1usize..6, 2u32..=8, 2u32..=8, any::<bool>()), 1..3),
    )
        .prop_map(|(c, h, w, input_format, convs, denses)| {
            let mut layers = Vec::new();
            let (mut hh, mut ww) = (h, w);
            for (cs, pool) in convs {
                if let LayerSpec::Conv { k, stride, pad, .. } = cs {
                    if hh + 2 * pad < k || ww + 2 * pad < k {
                        continue;
                    }
                    hh = (hh + 2 * pad - k) / stride + 1;
                    ww = (ww + 2 * pad - k) / stride + 1;
                }
                layers.push(cs);
                // 1: 2×2 max, 2–3: 2×2 average (tiled units, §5.1); 4: 3×3 stride 2 max,
                // 5: 2×2 stride 1 average (line-buffered units with overlapping windows, §5)
                let (k, stride) = match pool {
                    4 => (3, 2),
                    5 => (2, 1),
                    _ => (2, 2),
                };
                if hh >= k && ww >= k && pool > 0 {
                    layers.push(match pool {
                        1 => LayerSpec::MaxPool(2),
                        2 | 3 => LayerSpec::AvgPool(2),
                        _ => LayerSpec::Pool {
                            k,
                            stride,
                            avg: pool == 5,
                        },
                    });
                    hh = (hh - k) / stride + 1;
                    ww = (ww - k) / stride + 1;
                }
            }
            layers.push(LayerSpec::Flatten);
            for (out, bits, act_bits, relu) in denses {
                layers.push(LayerSpec::Dense {
                    out,
                    bits,
                    act_bits,
                    relu,
                    per_channel: true,
                });
            }
            RandomSpec {
                input: [c, h, w],
                input_format,
                layers,
            }
        })
}

proptest! {
    // Every case builds a new Verilator model (~10 s): keep the count small.
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 40, .. ProptestConfig::default() })]

    #[test]
    fn random_models_reference_sim_and_rtl_agree(s in spec(), seed in any::<u64>(), pe in 1usize..5, simd in 1usize..5, stall in prop_oneof![Just(0.0), Just(0.3)], sreg in any::<bool>(), dreg in any::<bool>(), rreg in any::<bool>(), wreg in any::<bool>(), hreg in any::<bool>()) {
        require_verilator();
        let model = build(&s, seed).expect("valid random model");
        // Fold every weighted layer with the largest legal PE/SIMD not above the drawn ones.
        let entries: Vec<_> = mvu_nodes(&model)
            .into_iter()
            .map(|(i, oc, c, _)| (i, divisor(oc, pe), divisor(c, simd)))
            .collect();
        let mut design = inq_hdl::plan(&model, &fold_at(&entries)).expect("plan");
        with_rom_regs(&mut design, RomRegs { sched: sreg, data: dreg, read: rreg, weight: wreg, hs: hreg });
        let dir = generate(&model, &design, &format!("prop-{seed:x}"));
        let images: Vec<Vec<i64>> = (0..6).map(|i| random_input(&model, seed ^ i)).collect();
        let result = cosim(&dir, &design, &model, &images, &stalls(stall, seed)).map(|_| ());
        let _ = std::fs::remove_dir_all(&dir);
        prop_assert!(result.is_ok(), "{}", result.err().unwrap_or_default());
    }
}
