//! Planner tests: folding legality, automatic folding, widths, serde round trip.

use inq_hdl::ops::mvu::mvu_cycles;
use inq_hdl::{
    plan, Endpoint, EngineKind, Folding, FoldingRequest, LayerFolding, Multipliers, PlanError,
};
use inq_model::numerics::{self, Weight};
use inq_model::ops::{Conv, Dense, Flatten, MaxPool, Window};
use inq_model::{ActFormat, InputSpec, Op, Output, QuantModel, WeightTensor};

fn act(bits: u32, signed: bool, exp: i32) -> ActFormat {
    ActFormat { bits, signed, exp }
}

fn codes(n: usize, bits: u32, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(4) {
                0
            } else {
                numerics::encode(
                    Weight::Pow2 {
                        negative: x.is_multiple_of(3),
                        index: ((x >> 8) % u64::from(numerics::levels(bits))) as u32,
                    },
                    bits,
                )
            }
        })
        .collect()
}

/// LeNet-shaped: conv 1→16, pool, conv 16→32, pool, flatten, dense 1568→128, dense 128→10.
fn lenet() -> QuantModel {
    let conv = |name: &str, ic: usize, oc: usize, seed: u64| {
        (
            name.to_string(),
            Op::Conv(Conv {
                in_channels: ic,
                out_channels: oc,
                kernel: [3, 3],
                stride: [1, 1],
                pad: [1; 4],
                pad_value: 0,
                group: 1,
                weights: WeightTensor {
                    kind: Default::default(),
                    bits: 5,
                    n1: vec![-1],
                    codes: codes(oc * ic * 9, 5, seed),
                },
                bias: vec![7; oc],
                relu: true,
                output: Output::from_act(act(8, false, -4)),
            }),
        )
    };
    let dense = |name: &str, i: usize, o: usize, last: bool| {
        (
            name.to_string(),
            Op::Dense(Dense {
                in_features: i,
                out_features: o,
                weights: WeightTensor {
                    kind: Default::default(),
                    bits: 5,
                    n1: vec![-3],
                    codes: codes(i * o, 5, 99),
                },
                bias: vec![-5; o],
                relu: !last,
                output: if last {
                    Output::Logits
                } else {
                    Output::from_act(act(8, false, -3))
                },
            }),
        )
    };
    let pool = |name: &str| {
        (
            name.to_string(),
            Op::MaxPool(MaxPool(Window {
                kernel: [2, 2],
                stride: [2, 2],
            })),
        )
    };
    QuantModel::chain(
        "lenet",
        InputSpec {
            name: "input".into(),
            shape: [1, 28, 28],
            format: act(8, false, -8),
            mapping: String::new(),
        },
        vec![
            conv("conv1", 1, 16, 1),
            pool("pool1"),
            conv("conv2", 16, 32, 2),
            pool("pool2"),
            ("flatten".into(), Op::Flatten(Flatten {})),
            dense("fc1", 1568, 128, false),
            dense("fc2", 128, 10, true),
        ],
    )
}

fn explicit(entries: &[(&str, usize, usize)]) -> FoldingRequest {
    FoldingRequest::Explicit(Folding {
        layer: entries
            .iter()
            .map(|&(n, pe, simd)| LayerFolding {
                name: Some(n.into()),
                index: None,
                pe,
                simd,
            })
            .collect(),
    })
}

#[test]
fn minimal_plan_has_derived_widths() {
    let m = lenet();
    let d = plan(&m, &FoldingRequest::Minimal).unwrap();
    assert_eq!(d.engines.len(), 6);
    assert_eq!(d.streams.len(), 7);
    // a chain: engine e reads stream e and writes stream e + 1, depths as before the graphs
    for (e, en) in d.engines.iter().enumerate() {
        assert_eq!(en.inputs, [e]);
        assert_eq!(en.outputs, [e + 1]);
    }
    assert_eq!(d.streams[0].from, Endpoint::Input);
    assert_eq!(d.streams[6].to, Endpoint::Output);
    assert_eq!(d.output.stream, 6);
    assert!(d.streams.iter().all(|s| s.depth == 2 && !s.skip));
    // taps: the input, then every node (the flatten aliases pool2's stream)
    assert_eq!(d.taps.len(), 8);
    assert_eq!(d.taps[5].stream, d.taps[4].stream);
    assert_eq!(d.output.count, 10);
    assert_eq!(d.output.idx_width, 4);
    let EngineKind::Mvu(c1) = &d.engines[0].kind else {
        panic!()
    };
    // product width: 8-bit input, largest index used 7 (5-bit codes: 8 levels) + 1
    assert_eq!(c1.product_width, 8 + c1.k_max + 1);
    // accumulator width from the bound of the worst row
    let mut want = 0;
    if let Op::Conv(l) = &m.nodes[0].op {
        for o in 0..16 {
            let b = numerics::acc_bound_row(&l.weights.codes[o * 9..(o + 1) * 9], 5, 7, 255);
            want = want.max(numerics::signed_width_for(b));
        }
    }
    assert_eq!(c1.acc_width, want.max(c1.product_width + 1));
    assert_eq!(c1.rom_depth(), 16 * 9);
    assert_eq!(c1.geom.nr, 4);
    // dense after flatten: weights permuted CHW → HWC.
    let EngineKind::Mvu(fc1) = &d.engines[4].kind else {
        panic!()
    };
    let Op::Dense(l) = &m.nodes[5].op else {
        panic!()
    };
    // stream position j = (y·7 + x)·32 + c carries feature (c·7 + y)·7 + x
    for &(y, x, c, o) in &[(0, 0, 1, 0), (3, 5, 17, 9), (6, 6, 31, 127)] {
        let j = (y * 7 + x) * 32 + c;
        let f = (c * 7 + y) * 7 + x;
        assert_eq!(fc1.code(0, o * 1568 + j, 0), l.weights.codes[o * 1568 + f]);
    }
    // last layer emits logits at ACC_W + max shift.
    assert_eq!(d.output.width, d.engines[5].io.out_width);
}

#[test]
fn illegal_folding_names_the_layer() {
    let m = lenet();
    let e = plan(&m, &explicit(&[("conv2", 5, 1)])).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PlanError::IllegalFolding { .. }), "{msg}");
    assert!(msg.contains("conv2") && msg.contains("PE 5"), "{msg}");
    let e = plan(&m, &explicit(&[("fc1", 1, 5)]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("fc1") && e.contains("SIMD 5") && e.contains("1568"),
        "{e}"
    );
    let e = plan(&m, &explicit(&[("pool1", 1, 1)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a conv or dense"), "{e}");
    let e = plan(&m, &explicit(&[("nope", 1, 1)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no node named"), "{e}");
    let e = plan(&m, &explicit(&[("conv1", 0, 1)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 1"), "{e}");
}

#[test]
fn folding_files_parse() {
    let t = "[[layer]]\nname = \"conv2\"\npe = 8\nsimd = 4\n\n[[layer]]\nindex = 5\npe = 4\nsimd = 16\n";
    let f = Folding::from_toml_str(t, "f.toml").unwrap();
    assert_eq!(f.layer.len(), 2);
    assert_eq!(f.layer[1].index, Some(5));
    let d = plan(&lenet(), &FoldingRequest::Explicit(f)).unwrap();
    let EngineKind::Mvu(fc1) = &d.engines[4].kind else {
        panic!()
    };
    assert_eq!((fc1.pe, fc1.simd), (4, 16));
    let j = r#"{"layer": [{"name": "fc2", "pe": 2, "simd": 8}]}"#;
    assert_eq!(Folding::from_json_str(j, "f.json").unwrap().layer[0].pe, 2);
    assert!(Folding::from_toml_str("[[layer]]\npe = \"x\"", "bad.toml")
        .unwrap_err()
        .to_string()
        .contains("bad.toml"));
}

#[test]
fn throughput_target_is_met_with_minimal_lanes() {
    let m = lenet();
    // 2000 images/s at 100 MHz → 50 000 cycles per image.
    let d = plan(
        &m,
        &FoldingRequest::Throughput {
            fps: 2000.0,
            clock_mhz: 100.0,
            hard_wired: false,
        },
    )
    .unwrap();
    assert!(d.interval_cycles() <= 50_000, "{}", d.summary_table(100.0));
    // every MVU uses the fewest lanes meeting the target: one fewer-lane legal folding misses it
    for e in &d.engines {
        if let EngineKind::Mvu(mv) = &e.kind {
            let g = &mv.geom;
            for pe in 1..=g.oc {
                for simd in 1..=g.c {
                    if g.oc % pe == 0 && g.c % simd == 0 && pe * simd < mv.lanes() {
                        assert!(mvu_cycles(g, pe, simd, false) > 50_000);
                    }
                }
            }
        }
    }
    // unreachable target → error naming the bound
    let e = plan(
        &m,
        &FoldingRequest::Throughput {
            fps: 1e6,
            clock_mhz: 100.0,
            hard_wired: false,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("at most"), "{e}");
}

#[test]
fn lane_budget_is_respected_and_used() {
    let m = lenet();
    for budget in [4usize, 20, 100, 400] {
        let d = plan(&m, &FoldingRequest::LaneBudget(budget)).unwrap();
        assert!(
            d.total_lanes() <= budget,
            "budget {budget}: {}",
            d.total_lanes()
        );
    }
    let small = plan(&m, &FoldingRequest::LaneBudget(20)).unwrap();
    let big = plan(&m, &FoldingRequest::LaneBudget(400)).unwrap();
    assert!(big.interval_cycles() < small.interval_cycles());
    assert!(plan(&m, &FoldingRequest::LaneBudget(2)).is_err());
}

#[test]
fn design_round_trips_through_json() {
    let d = plan(&lenet(), &explicit(&[("conv2", 4, 2)])).unwrap();
    let text = d.to_json().unwrap();
    let back = inq_hdl::Design::from_json(&text).unwrap();
    assert_eq!(d, back);
    let table = d.summary_table(100.0);
    assert!(table.contains("conv2") && table.contains("4×2") && table.contains("images/s"));
}

/// The same random LeNet with power-of-two weights and with integer weights.
fn shift_and_int_lenets() -> (QuantModel, QuantModel) {
    let spec = inq_model::random::lenet_spec(-8, false);
    let shift_model = inq_model::random::build(&spec, 3).unwrap();
    let int_model =
        inq_model::random::build_with_kind(&spec, 3, inq_model::WeightKind::Int).unwrap();
    (shift_model, int_model)
}

/// The name of a model's first dense node.
fn first_dense(model: &QuantModel) -> String {
    model
        .nodes
        .iter()
        .find(|n| matches!(n.op, Op::Dense(_)))
        .map(|n| n.name.clone())
        .expect("a dense node")
}

#[test]
fn multiplier_design_has_the_shift_add_schedule() {
    use inq_hdl::MacKind;
    let (shift_model, int_model) = shift_and_int_lenets();
    for req in [FoldingRequest::Minimal, FoldingRequest::LaneBudget(64)] {
        let s = plan(&shift_model, &req).unwrap();
        let m = plan(&int_model, &req).unwrap();
        assert_eq!(s.mac(), MacKind::Shift);
        assert_eq!(m.mac(), MacKind::Multiply);
        assert_eq!(s.interval_cycles(), m.interval_cycles());
        assert_eq!(s.total_lanes(), m.total_lanes());
        for (es, em) in s.engines.iter().zip(&m.engines) {
            assert_eq!(es.cycles_per_image, em.cycles_per_image);
            if let (EngineKind::Mvu(ms), EngineKind::Mvu(mm)) = (&es.kind, &em.kind) {
                assert_eq!((ms.pe, ms.simd), (mm.pe, mm.simd));
                assert_eq!(mm.product_width, em.io.in_width + mm.code_bits);
                assert_eq!(es.resources.dsp, 0);
                assert_eq!(em.resources.dsp, mm.lanes() as u64);
                assert!(em.resources.soft_mul_luts > 0);
                assert!(mm.acc_width > mm.product_width);
            }
        }
        // the plan's summary gives a multiplier design's LUTs with its multipliers in DSP
        // blocks and in logic
        let t = m.total_resources();
        let line = format!(
            "~{} LUTs and {} DSP blocks (~{} LUTs without DSP blocks)",
            t.luts,
            t.dsp,
            t.luts + t.soft_mul_luts
        );
        assert!(m.summary_table(100.0).contains(&line), "{line}");
        assert!(!s.summary_table(100.0).contains("DSP"));
        // the JSON of a shift-add design has no `mac` field; a multiplier design round-trips
        assert!(!s.to_json().unwrap().contains("\"mac\""));
        let back = inq_hdl::Design::from_json(&m.to_json().unwrap()).unwrap();
        assert_eq!(back, m);
    }
}

#[test]
fn the_timing_proxy_without_dsp_blocks_puts_the_multipliers_on_the_path() {
    use inq_hdl::timing::{self, TimingFamily};
    let (shift_model, int_model) = shift_and_int_lenets();
    let family = TimingFamily::Xilinx7;
    // shift-add lanes have no multiplier: the same estimate with or without DSP blocks
    let s = plan(&shift_model, &FoldingRequest::LaneBudget(64)).unwrap();
    assert_eq!(
        timing::estimate(&s, family),
        timing::estimate_without_dsp(&s, family)
    );
    // a ROM-fed multiplier engine's datapath, 9 + ⌈5·⌈log2 SIMD⌉ / 2⌉ LUT4 levels as logic,
    // grows with SIMD: at one lane it is within the (unpipelined) schedule's 11 levels, at
    // eight lanes deeper than everything the engine has with DSP blocks
    let fc1 = first_dense(&int_model);
    let fc1_at = |simd: usize| {
        let d = plan(&int_model, &explicit(&[(&fc1, 4, simd)])).unwrap();
        let fc1 = d.engines.iter().position(|e| e.name == fc1).unwrap();
        let with = timing::estimate(&d, family).parts[fc1].clone();
        let without = timing::estimate_without_dsp(&d, family).parts[fc1].clone();
        (with, without)
    };
    let (with1, without1) = fc1_at(1);
    let (with8, without8) = fc1_at(8);
    assert!(without1.ns >= with1.ns, "{without1:?} vs {with1:?}");
    assert_eq!(without8.path.levels, 16); // round(0.95 · (9 + ⌈15 / 2⌉))
    assert!(without8.ns > with8.ns, "{without8:?} vs {with8:?}");
    assert!(with8.path.levels < without8.path.levels, "{with8:?}");
    // with DSP blocks the lanes' products and their sum are in the blocks, where the walked
    // paths end: the estimate does not grow with SIMD (the shift-add lanes' does)
    let (with32, _) = fc1_at(32);
    assert!(with32.ns <= with1.ns, "{with32:?} vs {with1:?}");
    let s32 = plan(&shift_model, &explicit(&[(&fc1, 4, 32)])).unwrap();
    let s1 = plan(&shift_model, &explicit(&[(&fc1, 4, 1)])).unwrap();
    let at = |d: &inq_hdl::Design| {
        let i = d.engines.iter().position(|e| e.name == fc1).unwrap();
        timing::estimate(d, family).parts[i].ns
    };
    assert!(at(&s32) > at(&s1), "{} vs {}", at(&s32), at(&s1));
}

/// Planned for 7-series without DSP blocks (`Multipliers::Logic`), every ROM-fed multiplier
/// engine gets the read registers and its multipliers in registered halves, a wide lanes'
/// sum the datapath register inside its tree, and no part of the design is over the 6-level
/// target in the estimate without DSP blocks; planned for DSP blocks the same design is
/// over it there, and nothing gets halves. One stage more per engine, the same interval.
#[test]
fn planned_without_dsp_blocks_the_multipliers_are_split_in_registered_halves() {
    use inq_hdl::timing::{self, TimingFamily};
    let (_, int_model) = shift_and_int_lenets();
    let fc1 = first_dense(&int_model);
    let family = TimingFamily::Xilinx7;
    for req in [FoldingRequest::LaneBudget(64), explicit(&[(&fc1, 8, 32)])] {
        let base = plan(&int_model, &req).unwrap();
        let mut dsp = base.clone();
        let with_dsp = inq_hdl::stage_to_clock(&mut dsp, family, 200.0, Multipliers::DspBlocks);
        assert!(with_dsp.rom_regs.iter().all(|r| !r.mul_regs));
        assert!(
            timing::estimate_without_dsp(&dsp, family)
                .parts
                .iter()
                .any(|p| p.path.levels > 6),
            "{}",
            with_dsp.summary()
        );
        let mut soft = base.clone();
        let fit = inq_hdl::stage_to_clock(&mut soft, family, 200.0, Multipliers::Logic);
        assert!(fit.over_levels.is_empty(), "{}", fit.summary());
        assert!(
            fit.summary().contains("without DSP blocks"),
            "{}",
            fit.summary()
        );
        assert_eq!(soft.interval_cycles(), base.interval_cycles());
        for (e, b) in soft.engines.iter().zip(&base.engines) {
            let (EngineKind::Mvu(m), EngineKind::Mvu(mb)) = (&e.kind, &b.kind) else {
                continue;
            };
            if m.is_constant() {
                continue;
            }
            assert!(m.mul_regs && m.read_regs, "{}: {}", e.name, fit.summary());
            assert_eq!(
                m.result_stages(),
                mb.result_stages() + 2 + u32::from(m.data_regs) + u32::from(m.has_read_split())
            );
            // the halves' FFs in the estimate
            assert!(e.resources.ff_bits > b.resources.ff_bits, "{}", e.name);
            if m.simd >= 32 {
                assert!(
                    m.data_regs && m.data_split > 0,
                    "{}: {}",
                    e.name,
                    fit.summary()
                );
            }
        }
        // the design JSON carries the field
        let back = inq_hdl::Design::from_json(&soft.to_json().unwrap()).unwrap();
        assert_eq!(back, soft);
    }
}

/// Planned for 7-series, a ROM-fed engine with the read registers whose line-buffer bank
/// in LUT-RAM is deeper than `LB_GROUP_WORDS` (the LeNet's fc1 at `--lanes 64`: one bank of
/// 2 × 1 568 words) reads it in two stages, in groups of that many words; a shallower bank
/// (conv2's 896 words) and an iCE40 plan (no LUT-RAM) do not. The second stage is one more
/// register stage and a cycle of latency in the plan, the same interval; its estimate
/// (read and group select) is shallower than the read in one stage; the JSON carries it.
#[test]
fn deep_line_buffer_banks_are_read_in_two_stages_on_7_series() {
    use inq_hdl::ops::mvu::{lb_read_paths, LB_GROUP_WORDS};
    use inq_hdl::timing::TimingFamily;
    let (shift_model, int_model) = shift_and_int_lenets();
    for (model, multipliers) in [
        (&shift_model, Multipliers::DspBlocks),
        (&int_model, Multipliers::DspBlocks),
        (&int_model, Multipliers::Logic),
    ] {
        let base = plan(model, &FoldingRequest::LaneBudget(64)).unwrap();
        let mut x7 = base.clone();
        let fit = inq_hdl::stage_to_clock(&mut x7, TimingFamily::Xilinx7, 200.0, multipliers);
        let mut split = 0;
        for e in &x7.engines {
            let EngineKind::Mvu(m) = &e.kind else {
                continue;
            };
            if m.is_constant() || !m.read_regs {
                continue;
            }
            let deep = m.lb_bank_words() > LB_GROUP_WORDS;
            assert_eq!(m.has_read_split(), deep, "{}: {}", e.name, fit.summary());
            if !deep {
                assert_eq!(m.lb_groups(), 1);
                continue;
            }
            split += 1;
            assert_eq!(m.lb_group_words, LB_GROUP_WORDS);
            assert_eq!(m.lb_groups(), m.lb_bank_words().div_ceil(LB_GROUP_WORDS));
            // the read in one stage against two
            let mut one = m.clone();
            one.lb_group_words = 0;
            assert_eq!(m.result_stages(), one.result_stages() + 1);
            let (read1, none) = lb_read_paths(&one, e.io.in_width);
            let (group, select) = lb_read_paths(m, e.io.in_width);
            assert_eq!(none, inq_hdl::timing::LogicPath::default());
            let on = |p: inq_hdl::timing::LogicPath| p.on(TimingFamily::Xilinx7).levels;
            assert!(
                on(group) < on(read1) && on(select) < on(read1),
                "{}",
                e.name
            );
            // the groups' registers, the second stage and the weight words' register
            let mut one_engine = e.clone();
            one_engine.kind = EngineKind::Mvu(one);
            let r1 = one_engine.kind.op().resources(&one_engine.io);
            assert!(e.resources.ff_bits > r1.ff_bits, "{}", e.name);
            assert!(
                fit.summary().contains(&format!(
                    "line buffer read in two stages ({} groups)",
                    m.lb_groups()
                )),
                "{}",
                fit.summary()
            );
        }
        assert_eq!(split, 1, "fc1 only: {}", fit.summary());
        assert_eq!(x7.interval_cycles(), base.interval_cycles());
        let mut unsplit = x7.clone();
        for e in &mut unsplit.engines {
            if let EngineKind::Mvu(m) = &mut e.kind {
                m.lb_group_words = 0;
            }
        }
        assert!(x7.latency_estimate() > unsplit.latency_estimate());
        let back = inq_hdl::Design::from_json(&x7.to_json().unwrap()).unwrap();
        assert_eq!(back, x7);
        // iCE40 has no LUT-RAM: nothing is split
        let mut ice = base.clone();
        inq_hdl::stage_to_clock(&mut ice, TimingFamily::Ice40Up, 24.0, multipliers);
        for e in &ice.engines {
            if let EngineKind::Mvu(m) = &e.kind {
                assert_eq!(m.lb_group_words, 0, "{}", e.name);
            }
        }
    }
}

#[test]
fn unrolled_layers_get_constant_weights() {
    use inq_hdl::{plan_unrolled, WeightStorage};
    let m = lenet();
    let storage = |d: &inq_hdl::Design, layer: usize| {
        d.engines
            .iter()
            .find(|e| e.node == Some(layer))
            .and_then(|e| match &e.kind {
                EngineKind::Mvu(mv) => Some((mv.pe, mv.simd, mv.weight_storage)),
                _ => None,
            })
            .unwrap()
    };
    // --unroll fc2 with a lane budget: the budget is for the other layers
    let d = plan_unrolled(&m, &FoldingRequest::LaneBudget(64), &["fc2".into()]).unwrap();
    assert_eq!(storage(&d, 6), (10, 128, WeightStorage::Constant));
    assert_eq!(storage(&d, 5).2, WeightStorage::Rom);
    let others: usize = d
        .engines
        .iter()
        .filter(|e| e.node != Some(6))
        .map(|e| match &e.kind {
            EngineKind::Mvu(mv) => mv.lanes(),
            _ => 0,
        })
        .sum();
    assert!(others <= 64, "{others} lanes outside fc2");
    let fc2 = d.engines.iter().find(|e| e.node == Some(6)).unwrap();
    let EngineKind::Mvu(fc2m) = &fc2.kind else {
        panic!()
    };
    assert_eq!(fc2.cycles_per_image, mvu_cycles(&fc2m.geom, 10, 128, false));
    // no weight ROM bits for it: only the bias/shift tables (RW + SHW bits per channel)
    assert_eq!(
        fc2.resources.rom_bits,
        10 * u64::from(fc2m.requant_width + fc2m.shift_table_width())
    );
    // the same through an explicit folding entry covering the whole layer; index too
    let f = Folding {
        layer: vec![LayerFolding {
            name: Some("fc2".into()),
            index: None,
            pe: 10,
            simd: 128,
        }],
    };
    let d2 = plan(&m, &FoldingRequest::Explicit(f.clone())).unwrap();
    assert_eq!(storage(&d2, 6).2, WeightStorage::Constant);
    let d3 = plan_unrolled(&m, &FoldingRequest::Explicit(f), &["6".into()]).unwrap();
    assert_eq!(d2, d3);
    // a 3×3 conv unrolls to the hard-wired engine: the whole window (K = 9·C) in one fold
    let hw = plan_unrolled(&m, &FoldingRequest::Minimal, &["conv1".into()]).unwrap();
    assert_eq!(storage(&hw, 0), (16, 9, WeightStorage::Constant));
    // the adder trees of a hard-wired engine get a pipeline register after every two adder
    // levels (§4.1); `stage_adder_trees` re-stages them (0: none)
    let mut hw2 = plan_unrolled(
        &m,
        &FoldingRequest::Minimal,
        &["conv1".into(), "conv2".into()],
    )
    .unwrap();
    let registers = |d: &inq_hdl::Design| -> Vec<(u32, u32)> {
        ["conv1", "conv2"]
            .iter()
            .map(|name| {
                let e = d.engines.iter().find(|e| &e.name == name).unwrap();
                let EngineKind::Mvu(mv) = &e.kind else {
                    panic!()
                };
                let lv = inq_hdl::ops::pipeline::Levels::of(&mv.datapath(e.io.in_width));
                (lv.depth(), mv.pipeline)
            })
            .collect()
    };
    for (depth, d) in registers(&hw2) {
        assert!(depth >= 4, "{depth} levels");
        assert_eq!(d, depth.div_ceil(2) - 1, "{depth} levels");
    }
    let conv2 = hw2
        .engines
        .iter()
        .find(|e| e.name == "conv2")
        .unwrap()
        .clone();
    let EngineKind::Mvu(c2) = &conv2.kind else {
        panic!()
    };
    let ff = hw2.design_resources().ff_bits;
    inq_hdl::stage_adder_trees(&mut hw2, 0);
    assert!(registers(&hw2).iter().all(|&(_, d)| d == 0));
    assert!(hw2.design_resources().ff_bits < ff);
    inq_hdl::stage_adder_trees(&mut hw2, 1);
    assert!(registers(&hw2).iter().all(|&(depth, d)| d == depth - 1));
    let rom = plan(&m, &FoldingRequest::Minimal).unwrap();
    assert!(rom.engines.iter().all(|e| match &e.kind {
        EngineKind::Mvu(mv) => mv.pipeline == 0,
        _ => true,
    }));
    // the registers' flip-flops are in the estimate, not in its LUTs
    let mut flat = c2.clone();
    flat.pipeline = 0;
    let io = conv2.io;
    use inq_hdl::EngineOp;
    let (with, without) = (c2.resources(&io), flat.resources(&io));
    assert_eq!(with.luts, without.luts);
    assert!(with.ff_bits > without.ff_bits);
    // a folding entry that spans kernel positions needs PE = OC; the error names the layer
    let half = Folding {
        layer: vec![LayerFolding {
            name: Some("conv1".into()),
            index: None,
            pe: 8,
            simd: 9,
        }],
    };
    let e = plan(&m, &FoldingRequest::Explicit(half)).unwrap_err();
    assert!(matches!(e, PlanError::IllegalFolding { .. }), "{e}");
    assert!(
        e.to_string().contains("conv1") && e.to_string().contains("PE = OC"),
        "{e}"
    );
    // serde: the storage survives the round trip, and an old design without it reads as ROM
    let back = inq_hdl::Design::from_json(&d.to_json().unwrap()).unwrap();
    assert_eq!(back, d);
    let old = d2
        .to_json()
        .unwrap()
        .replace(",\"weight_storage\":\"constant\"", "");
    let old = inq_hdl::Design::from_json(&old).unwrap();
    assert_eq!(storage(&old, 6).2, WeightStorage::Rom);
}

#[test]
fn adder_tree_computes_the_dot_product_without_zero_terms() {
    use inq_hdl::{AdderTree, ConstTerm, TreeOperand};
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for n in 0..40usize {
        let terms: Vec<ConstTerm> = (0..n)
            .map(|lane| ConstTerm {
                lane,
                shift: (next() % 6) as u32,
                negative: next() % 3 == 0,
            })
            .collect();
        let acc = 8 + 6 + 1 + 7;
        let tree = AdderTree::build(terms.clone(), 8, acc);
        assert_eq!(tree.terms.len(), n);
        assert_eq!(
            tree.adder_count(),
            n.saturating_sub(1) + usize::from(tree.root_negated)
        );
        let xs: Vec<i64> = (0..n).map(|_| (next() % 256) as i64 - 128).collect();
        let want: i64 = terms
            .iter()
            .map(|t| {
                let v = xs[t.lane] << t.shift;
                if t.negative {
                    -v
                } else {
                    v
                }
            })
            .sum();
        // evaluate at each node's width (two's complement wrap), as the RTL does
        let wrap = |v: i64, w: u32| {
            let m = 1i64 << w;
            let r = v.rem_euclid(m);
            if r >= m / 2 {
                r - m
            } else {
                r
            }
        };
        let mut vals: Vec<i64> = Vec::new();
        for node in &tree.nodes {
            let get = |op: TreeOperand, vals: &[i64]| match op {
                TreeOperand::Term(i) => xs[tree.terms[i].lane] << tree.terms[i].shift,
                TreeOperand::Node(j) => vals[j],
            };
            let (a, b) = (get(node.a, &vals), get(node.b, &vals));
            vals.push(wrap(if node.subtract { a - b } else { a + b }, node.width));
        }
        let got = match tree.root {
            None => 0,
            Some(TreeOperand::Term(i)) => xs[tree.terms[i].lane] << tree.terms[i].shift,
            Some(TreeOperand::Node(j)) => vals[j],
        };
        let got = wrap(if tree.root_negated { -got } else { got }, acc);
        assert_eq!(got, want, "{n} terms");
    }
}

/// A multiplier design folded with one weight word per lane is hard-wired too: each integer
/// weight becomes its canonical signed digits, so no multiplier and no DSP remain.
#[test]
fn multiplier_designs_hard_wire_integer_weights_as_signed_digits() {
    use inq_hdl::{plan_unrolled, MacKind, WeightStorage};
    let spec = inq_model::random::lenet_spec(-8, false);
    let int_model =
        inq_model::random::build_with_kind(&spec, 5, inq_model::WeightKind::Int).unwrap();
    let last = int_model.nodes.len() - 1;
    let d = plan_unrolled(
        &int_model,
        &FoldingRequest::LaneBudget(64),
        &[last.to_string()],
    )
    .unwrap();
    let e = d.engines.iter().find(|e| e.node == Some(last)).unwrap();
    let EngineKind::Mvu(m) = &e.kind else {
        panic!("the last layer is dense")
    };
    assert_eq!(m.nf * m.sf, 1);
    assert_eq!(m.mac, MacKind::Multiply);
    assert_eq!(m.weight_storage, WeightStorage::Constant);
    assert_eq!(e.resources.dsp, 0);
    // one term per signed digit of every weight
    for p in 0..m.pe {
        let digits: usize = (0..m.simd)
            .map(|s| match m.weight(p, 0, s) {
                Some(Weight::Int(q)) => inq_hdl::ops::mvu::csd_digits(q).len(),
                _ => 0,
            })
            .sum();
        assert_eq!(m.terms(p, 0).len(), digits);
    }
    // a k×k conv of integer weights is hard-wired the same way
    let d = plan_unrolled(&int_model, &FoldingRequest::Minimal, &["0".to_string()]).unwrap();
    let EngineKind::Mvu(c) = &d.engines[0].kind else {
        panic!("the first layer is a conv")
    };
    assert_eq!(c.weight_storage, WeightStorage::Constant);
    assert_eq!(d.engines[0].resources.dsp, 0);
}

fn resnet_spec() -> inq_model::random::RandomSpec {
    use inq_model::random::{LayerSpec, RandomSpec};
    let conv = |out, k, stride, pad, relu| LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 8,
        relu,
        per_channel: true,
    };
    RandomSpec {
        input: [1, 28, 28],
        input_format: act(8, false, -8),
        layers: vec![
            conv(16, 3, 1, 1, true),
            LayerSpec::Residual {
                main: vec![conv(16, 3, 1, 1, true), conv(16, 3, 1, 1, false)],
                shortcut: vec![],
                act_bits: 8,
                relu: true,
            },
            LayerSpec::Residual {
                main: vec![conv(32, 3, 2, 1, true), conv(32, 3, 1, 1, false)],
                shortcut: vec![conv(32, 1, 2, 0, false)],
                act_bits: 8,
                relu: true,
            },
            LayerSpec::Residual {
                main: vec![
                    LayerSpec::Depthwise {
                        k: 3,
                        stride: 1,
                        pad: 1,
                        bits: 4,
                        act_bits: 8,
                        relu: true,
                    },
                    conv(32, 1, 1, 0, false),
                ],
                shortcut: vec![],
                act_bits: 8,
                relu: true,
            },
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 10,
                bits: 4,
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    }
}

#[test]
fn residual_graph_gets_forks_skip_fifos_and_taps() {
    let m = inq_model::random::build(&resnet_spec(), 7).unwrap();
    let d = plan(&m, &FoldingRequest::LaneBudget(64)).unwrap();
    let forks: Vec<usize> = (0..d.engines.len())
        .filter(|&e| matches!(d.engines[e].kind, EngineKind::Fork(_)))
        .collect();
    assert_eq!(forks.len(), 3, "{}", d.summary_table(100.0));
    // every engine's streams point back at it; engines come after their producers
    for (e, en) in d.engines.iter().enumerate() {
        for (port, &s) in en.inputs.iter().enumerate() {
            assert_eq!(d.streams[s].to, Endpoint::Engine { engine: e, port });
            if let Endpoint::Engine { engine, .. } = d.streams[s].from {
                assert!(engine < e);
            }
        }
        for (port, &s) in en.outputs.iter().enumerate() {
            assert_eq!(d.streams[s].from, Endpoint::Engine { engine: e, port });
        }
    }
    // the identity shortcut of block 1 must hold what the two 3×3 convs take in before the add
    // can go on: at least two rows of the 28×28×16 map each
    let f = forks[0];
    let depths: Vec<usize> = d.engines[f]
        .outputs
        .iter()
        .map(|&s| d.streams[s].depth)
        .collect();
    let skip = *depths.iter().max().unwrap();
    assert!(skip >= 2 * 2 * 28 * 16, "{depths:?}");
    assert!(depths.contains(&2), "{depths:?}");
    assert!(d.streams.iter().filter(|s| s.skip).count() == 6);
    // a GAP engine over the 14×14 plane (not a power of two), shift 8
    let gap = d
        .engines
        .iter()
        .find_map(|e| match &e.kind {
            EngineKind::Gap(g) => Some(g.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((gap.h, gap.w, gap.shift), (14, 14, 8));
    // the depthwise MVU is folded over channels only
    let dw = d
        .engines
        .iter()
        .find_map(|e| match &e.kind {
            EngineKind::Mvu(mv) if mv.depthwise => Some(mv.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(dw.simd, 1);
    assert_eq!(dw.sf, 9);
    // the adds read two streams; taps: one per node and the input
    assert_eq!(d.taps.len(), m.nodes.len() + 1);
    for e in &d.engines {
        if let EngineKind::Add(_) = e.kind {
            assert_eq!(e.inputs.len(), 2);
        }
    }
    // the interval is the slowest engine, within the stream floor
    assert!(d.interval_cycles() >= 28 * 28 * 16);
    let back = inq_hdl::Design::from_json(&d.to_json().unwrap()).unwrap();
    assert_eq!(back, d);
}

#[test]
fn depthwise_folding_is_over_channels_only() {
    let m = inq_model::random::build(&resnet_spec(), 3).unwrap();
    let name = m
        .nodes
        .iter()
        .find(|n| matches!(&n.op, Op::Conv(c) if c.depthwise()))
        .unwrap()
        .name
        .clone();
    let e = plan(&m, &explicit(&[(&name, 4, 2)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&name) && e.contains("SIMD must be 1"), "{e}");
    let d = plan(&m, &explicit(&[(&name, 8, 1)])).unwrap();
    let mv = d
        .engines
        .iter()
        .find_map(|e| match &e.kind {
            EngineKind::Mvu(mv) if mv.depthwise => Some(mv.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((mv.pe, mv.nf, mv.sf), (8, 4, 9));
    // a throughput target folds it too
    let d = plan(
        &m,
        &FoldingRequest::Throughput {
            fps: 5000.0,
            clock_mhz: 100.0,
            hard_wired: false,
        },
    )
    .unwrap();
    assert!(d.interval_cycles() <= 20_000, "{}", d.summary_table(100.0));
}

#[test]
fn input_fan_out_gets_a_fork_first() {
    use inq_model::random::{LayerSpec, RandomSpec};
    let conv = |out, relu| LayerSpec::Conv {
        out,
        k: 3,
        stride: 1,
        pad: 1,
        bits: 4,
        act_bits: 8,
        relu,
        per_channel: false,
    };
    let spec = RandomSpec {
        input: [2, 6, 6],
        input_format: act(8, true, 0),
        layers: vec![
            LayerSpec::Residual {
                main: vec![conv(2, false)],
                shortcut: vec![conv(2, false)],
                act_bits: 8,
                relu: false,
            },
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 3,
                bits: 4,
                act_bits: 8,
                relu: false,
                per_channel: false,
            },
        ],
    };
    let m = inq_model::random::build(&spec, 1).unwrap();
    let d = plan(&m, &FoldingRequest::Minimal).unwrap();
    assert!(matches!(d.engines[0].kind, EngineKind::Fork(_)));
    assert_eq!(d.engines[0].inputs, [0]);
    assert_eq!(d.streams[0].from, Endpoint::Input);
}

/// The Xilinx memory policy on the LeNet shape at the default lane budget (`--lanes 64`): the
/// 2×2/2 pooling units are the tiled unit (one partial result per output column and channel,
/// no line buffer of rows), every line buffer stays in LUT-RAM (the ones yosys would put in
/// block RAM are forced there), and the design's block RAM is fc1's weight ROMs alone (56
/// RAMB18). A pool on a grid with gaps is banked, an overlapping one or an odd map keeps a
/// copy per tap.
#[test]
fn line_buffers_stay_in_lutram_on_xilinx_and_pools_are_tiled() {
    use inq_hdl::resources::{ram_forced_to_lutram, ram_in_bram, XILINX_LB_LUTRAM_MAX_BRAM18};
    let d = plan(&lenet(), &FoldingRequest::LaneBudget(64)).unwrap();
    let mut forced = Vec::new();
    for e in &d.engines {
        let lb = e
            .op()
            .line_buffer(&e.io)
            .expect("every LeNet engine has a line buffer");
        assert!(!lb.in_bram(), "{}: {lb:?}", e.name);
        if lb.xilinx_ram_style().is_some() {
            forced.push((e.name.as_str(), lb.memories, lb.depth, lb.copies));
        }
        if let EngineKind::Pool(p) = &e.kind {
            assert!(p.tiled(), "{}", e.name);
            assert_eq!((lb.memories, lb.depth), ("pb", 224), "{}", e.name); // 14 × 16, 7 × 32
        }
    }
    assert_eq!(
        forced,
        vec![
            ("conv2", "g_bank*", 896, 1), // 4 rows × 14 × 16
            ("fc1", "g_bank*", 3136, 1),  // 2 × 1568 (2 RAMB18)
        ]
    );
    assert_eq!(d.design_resources().bram18, 56);
    // the policy's limits: at most one RAMB36 in LUT-RAM, larger RAMs where yosys puts them
    assert_eq!(XILINX_LB_LUTRAM_MAX_BRAM18, 2);
    assert!(ram_forced_to_lutram(4096, 9) && !ram_in_bram(4096, 9)); // 2 RAMB18
    assert!(ram_in_bram(6144, 8) && !ram_forced_to_lutram(6144, 8)); // 3 RAMB18
    assert!(!ram_in_bram(112, 8) && !ram_forced_to_lutram(112, 8)); // LUT-RAM anyway

    // a pool whose windows overlap, or an odd map, keeps one copy per tap
    let g = |h: usize, sh: usize| inq_hdl::geometry::Geometry {
        c: 4,
        h,
        w: h,
        kh: 2,
        kw: 2,
        sh,
        sw: sh,
        pad: [0; 4],
        oc: 4,
        oh: (h - 2) / sh + 1,
        ow: (h - 2) / sh + 1,
        nr: inq_hdl::geometry::line_buffer_rows(h, 2, sh, 0, (h - 2) / sh + 1),
    };
    let pool =
        |h, sh| inq_hdl::ops::pool::Pool::new(g(h, sh), inq_hdl::ops::pool::PoolMode::Max, 8);
    assert!(pool(8, 2).tiled());
    assert!(pool(8, 4).banked() && !pool(8, 4).tiled());
    for p in [pool(8, 1), pool(7, 2)] {
        assert!(!p.banked() && !p.tiled(), "{:?}", p.geom);
        let lb = p.line_buffer(8);
        assert_eq!(
            (lb.memories, lb.depth, lb.copies),
            ("g_copies*", p.geom.lb_elements() as u64, 4)
        );
    }
}

/// The line-buffered pool's beats (`docs/hardware.md` §2.1, §5): any `K | C`, the same in and
/// out; with `K` channels per beat it is the `K = 1` unit over `C/K` channel groups — cycles
/// divided by `K`, a line buffer of `K`-element words (`1/K` of the depth, banked or not),
/// `K` lanes of the reduction, the template parameter `K`, and a first-image schedule whose
/// beats move their `K` elements together.
#[test]
fn line_buffered_pools_take_wide_beats() {
    use inq_hdl::ops::pool::{Pool, PoolMode};
    use inq_hdl::ops::BeatCaps;
    use inq_hdl::{EngineOp, Io, ParamValue};
    let g = |h: usize, k: usize, sh: usize| inq_hdl::geometry::Geometry {
        c: 6,
        h,
        w: h,
        kh: k,
        kw: k,
        sh,
        sw: sh,
        pad: [0; 4],
        oc: 6,
        oh: (h - k) / sh + 1,
        ow: (h - k) / sh + 1,
        nr: inq_hdl::geometry::line_buffer_rows(h, k, sh, 0, (h - k) / sh + 1),
    };
    let io = Io {
        in_width: 8,
        in_signed: false,
        out_width: 8,
        out_signed: false,
    };
    let param = |p: &Pool, name: &str| {
        p.params(&io)
            .into_iter()
            .find(|q| q.name == name)
            .map(|q| q.value)
    };
    // 3×3 stride 2 (overlapping, a copy per tap), 2×2 stride 4 (banked)
    for (geom, banked) in [(g(11, 3, 2), false), (g(12, 2, 4), true)] {
        for mode in [PoolMode::Max, PoolMode::Avg] {
            if mode == PoolMode::Avg && geom.kh == 3 {
                continue; // average windows hold a power of two elements
            }
            let narrow = Pool::new(geom, mode, 8);
            assert!(!narrow.tiled());
            assert_eq!(narrow.banked(), banked);
            assert_eq!(
                narrow.beat_caps(),
                BeatCaps {
                    input: 6,
                    out: 6,
                    pass: true
                }
            );
            assert_eq!(param(&narrow, "K"), None);
            for k in [2, 3, 6] {
                let mut p = narrow.clone();
                p.set_beats(k, k);
                assert_eq!(p.beat_error(), None, "K = {k}");
                assert_eq!((p.in_beat(), p.out_beat()), (k, k));
                assert_eq!(p.banked(), banked);
                assert_eq!(param(&p, "K"), Some(ParamValue::Int(k as i64)));
                // the plan's cycles: every row of both sides in 1/K of the cycles, and the
                // wrap cycle
                let (wide, one) = (p.cycles_per_image(), narrow.cycles_per_image());
                assert!(
                    wide * k as u64 <= one + k as u64,
                    "K = {k}: {wide} vs {one}"
                );
                assert!(
                    wide * k as u64 + k as u64 >= one,
                    "K = {k}: {wide} vs {one}"
                );
                // the line buffer: words of K elements
                let (lb, lb1) = (p.line_buffer(8), narrow.line_buffer(8));
                assert_eq!(lb.depth * k as u64, lb1.depth);
                assert_eq!(lb.bits, 8 * k as u64);
                assert_eq!(lb.copies, lb1.copies);
                // K lanes of comparators or adders
                let adders =
                    |p: &Pool| p.resources(&io).adders.iter().map(|a| a.count).sum::<u64>();
                assert_eq!(adders(&p), k as u64 * adders(&narrow));
                assert!(p.resources(&io).luts > narrow.resources(&io).luts);
                // the first image: beats of K elements leave together, one beat per cycle
                let avail: Vec<u64> = (0..geom.in_elements() as u64).collect();
                let out = &p.first_image(&[&avail])[0];
                assert_eq!(out.len(), geom.out_elements());
                for beat in out.chunks(k) {
                    assert!(beat.iter().all(|&t| t == beat[0]));
                }
                assert!(out
                    .chunks(k)
                    .zip(out.chunks(k).skip(1))
                    .all(|(a, b)| a[0] < b[0]));
            }
            for k in [0, 4, 5] {
                let mut p = narrow.clone();
                p.set_beats(k, k);
                let err = p.beat_error().expect("K must divide C");
                assert!(err.contains("must divide C = 6"), "{err}");
            }
        }
    }
}

/// `lenet()` with nine in ten of conv1's weights zero (what `inq quantize --sparsity 0.9`
/// leaves): few enough terms that a hard-wired conv1 is the smaller engine.
fn sparse_lenet() -> QuantModel {
    let mut m = lenet();
    let Op::Conv(c) = &mut m.nodes[0].op else {
        panic!("conv1 is node 0")
    };
    for (i, code) in c.weights.codes.iter_mut().enumerate() {
        if i % 10 != 0 {
            *code = 0;
        }
    }
    m
}

/// A throughput target picks, per conv/dense node, the hard-wired engine where its LUT
/// estimate is below the ROM-fed folding's, never a larger design, and every target is met.
/// Planned on `lenet()` and on `sparse_lenet()`, whose conv1 has few enough terms for its
/// hard-wired engine to win at some of these targets (the test needs at least one choice).
#[test]
fn throughput_target_chooses_hard_wired_engines_by_lut_estimate() {
    let mut chose = 0;
    for (m, fps) in [2000.0, 4000.0, 6000.0, 7000.0, 7900.0]
        .into_iter()
        .flat_map(|fps| [(lenet(), fps), (sparse_lenet(), fps)])
    {
        let req = |hard_wired| FoldingRequest::Throughput {
            fps,
            clock_mhz: 100.0,
            hard_wired,
        };
        let hw = plan(&m, &req(true)).unwrap();
        let rom = plan(&m, &req(false)).unwrap();
        let t = (100e6 / fps) as u64;
        assert!(
            hw.interval_cycles() <= t && rom.interval_cycles() <= t,
            "{fps}"
        );
        assert!(
            hw.total_resources().luts <= rom.total_resources().luts,
            "{fps}: {} > {}",
            hw.total_resources().luts,
            rom.total_resources().luts
        );
        for (a, b) in hw.engines.iter().zip(&rom.engines) {
            let constant = |e: &inq_hdl::design::Engine| matches!(&e.kind, EngineKind::Mvu(mv) if mv.is_constant());
            assert!(
                !constant(b),
                "{fps}: no hard-wired engine without the option"
            );
            if constant(a) {
                chose += 1;
                assert!(a.resources.luts < b.resources.luts, "{fps}: {}", a.name);
            } else {
                assert_eq!(a.kind, b.kind, "{fps}: {}", a.name);
            }
        }
    }
    assert!(chose > 0, "no target chose a hard-wired engine");
}

/// `stage_to_clock` (issue 13, item 3): per hard-wired engine the fewest pipeline registers
/// whose estimated path fits the period, none when the whole tree fits, one adder level per
/// stage (and the engine named as missing) when nothing fits; the other parts only reported.
#[test]
fn adder_trees_are_pipelined_for_the_clock() {
    use inq_hdl::{plan_unrolled, stage_to_clock, EngineOp, TimingFamily};
    let m = lenet();
    let base = plan_unrolled(
        &m,
        &FoldingRequest::LaneBudget(64),
        &["conv1".into(), "fc2".into()],
    )
    .unwrap();
    let ns_at = |d: &inq_hdl::Design, name: &str, l: u32| -> (f64, u32) {
        let e = d.engines.iter().find(|e| e.name == name).unwrap();
        let EngineKind::Mvu(mv) = &e.kind else {
            panic!()
        };
        let mut mv = mv.clone();
        mv.stage_trees(e.io.in_width, l);
        let f = TimingFamily::Xilinx7;
        (mv.logic_path(&e.io, f).on(f).ns(f), mv.pipeline)
    };
    for family in [TimingFamily::Xilinx7, TimingFamily::Ice40Up] {
        let slow = if family == TimingFamily::Xilinx7 {
            20.0
        } else {
            2.0
        };
        let mut d = base.clone();
        let fit = stage_to_clock(&mut d, family, slow, Multipliers::DspBlocks);
        assert_eq!(fit.trees.len(), 2, "{fit:?}");
        assert!(
            fit.trees
                .iter()
                .all(|t| t.meets && t.registers == 0 && t.levels_per_stage == 0),
            "{fit:?}"
        );
        assert!(fit.over.is_empty(), "{}", fit.summary());
        assert!(fit.rom_regs.is_empty(), "{}", fit.summary());
        assert!(!d
            .engines
            .iter()
            .any(|e| rom_regs(e) != (false, false, false)));
        let mut d = base.clone();
        let fit = stage_to_clock(&mut d, family, 2000.0, Multipliers::DspBlocks);
        check_schedules(&d, &fit);
        // on 7-series the read registers and the datapath register take `fire` out of the
        // ROM-fed conv2's read and cut its datapath, with no flags; on iCE40 the read
        // registers are not offered and the flags' own next-value chain is deeper than the
        // schedule they cut (docs/hardware.md §12): only the datapath registers are chosen
        let conv2 = fit.rom_regs.iter().find(|r| r.engine == "conv2");
        assert!(conv2.is_some(), "{}", fit.summary());
        let x7 = family == TimingFamily::Xilinx7;
        assert_eq!(
            conv2.map(|r| (r.sched_regs, r.data_regs, r.read_regs)),
            Some((false, true, x7)),
            "{}",
            fit.summary()
        );
        // the padding test is selected exactly where the read registers are (never on
        // iCE40, where its comparisons cost carry chains)
        for e in &d.engines {
            if let EngineKind::Mvu(m) = &e.kind {
                assert_eq!(m.pad_regs, m.read_regs && !m.is_constant(), "{}", e.name);
                // the window slots one fire ahead go with them too
                assert_eq!(m.slot_regs, m.read_regs && !m.is_constant(), "{}", e.name);
            }
        }
        assert!(fit
            .trees
            .iter()
            .all(|t| !t.meets && t.levels_per_stage == 1));
        assert!(
            fit.over.iter().any(|p| p.name == "conv1"),
            "{}",
            fit.summary()
        );
        assert!(fit.summary().contains("misses the target"));
    }
    // at 200 MHz on 7-series: each engine's choice fits, one level more per stage does not,
    // the design's estimate agrees with the choice, and ROM-fed engines get registers
    let mut d = base.clone();
    let fit = stage_to_clock(&mut d, TimingFamily::Xilinx7, 200.0, Multipliers::DspBlocks);
    for t in &fit.trees {
        let e = d.engines.iter().find(|e| e.name == t.engine).unwrap();
        let EngineKind::Mvu(mv) = &e.kind else {
            panic!()
        };
        assert_eq!(mv.pipeline, t.registers);
        assert!(t.meets && t.ns <= 5.0, "{t:?}");
        let depth = mv.tree_depth(e.io.in_width);
        assert!(
            t.levels_per_stage >= 1 && t.levels_per_stage < depth,
            "{t:?}"
        );
        let (ns, regs) = ns_at(&base, &t.engine, t.levels_per_stage);
        assert_eq!((ns, regs), (t.ns, t.registers));
        let (longer, _) = ns_at(&base, &t.engine, t.levels_per_stage + 1);
        assert!(longer > 5.0, "{} meets with L + 1: {longer} ns", t.engine);
    }
    // the ROM-fed conv2 gets the read registers and the datapath register (the read
    // registers alone leave its datapath, from the read through the accumulator add, over 5
    // ns), which fit the period without the flags
    let conv2 = fit.rom_regs.iter().find(|r| r.engine == "conv2");
    assert!(
        conv2.is_some_and(|r| !r.sched_regs && r.data_regs && r.read_regs && r.meets),
        "{}",
        fit.summary()
    );
    assert!(fit.over.iter().all(|p| p.ns > 5.0));
    // the 7-series level target at 200 MHz (what `inq report` walks the netlist against):
    // exactly the parts whose estimated path is deeper are named, whether or not they meet
    // the period, and the summary says so
    assert_eq!(
        fit.level_target,
        Some(inq_hdl::timing::XILINX_200MHZ_LEVELS)
    );
    let est = inq_hdl::timing::estimate(&d, TimingFamily::Xilinx7);
    let deeper: Vec<&str> = est
        .parts
        .iter()
        .filter(|p| p.path.levels > 6)
        .map(|p| p.name.as_str())
        .collect();
    let named: Vec<&str> = fit.over_levels.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(named, deeper, "{}", fit.summary());
    for p in &fit.over_levels {
        assert!(
            fit.summary()
                .contains(&format!("{} {} levels", p.name, p.path.levels)),
            "{}",
            fit.summary()
        );
    }
    if named.is_empty() {
        assert!(fit
            .summary()
            .contains("every part within the 6-level target"));
    }
    // iCE40 has no level target: only the period
    let ice = stage_to_clock(
        &mut base.clone(),
        TimingFamily::Ice40Up,
        30.0,
        Multipliers::DspBlocks,
    );
    assert_eq!(ice.level_target, None);
    assert!(ice.over_levels.is_empty());
    assert!(
        !ice.summary().contains("-level target"),
        "{}",
        ice.summary()
    );
    check_schedules(&d, &fit);
    // the registers' flip-flops are in the estimate
    assert!(d.design_resources().ff_bits > base.design_resources().ff_bits);
}

/// A ROM-fed engine's (registered schedule flags, datapath registers, read registers).
fn rom_regs(e: &inq_hdl::Engine) -> (bool, bool, bool) {
    match &e.kind {
        EngineKind::Mvu(m) => (m.sched_regs, m.data_regs, m.read_regs),
        _ => (false, false, false),
    }
}

/// The ROM-fed registers of `stage_to_clock`: exactly the ROM-fed engines it lists have
/// them, as listed, each listed one is faster with them, and none is hard-wired.
fn check_schedules(d: &inq_hdl::Design, fit: &inq_hdl::ClockFit) {
    use inq_hdl::EngineOp;
    let f = fit.family;
    let least = inq_hdl::clock_target::MIN_GAIN_LEVELS * f.delays().level;
    for e in &d.engines {
        let listed = fit.rom_regs.iter().find(|r| r.engine == e.name);
        if let (None, EngineKind::Mvu(m)) = (listed, &e.kind) {
            // an unlisted ROM-fed engine that misses the period: no register choice fits
            // or gains MIN_GAIN_LEVELS levels
            let ns = |(sched, data, read): (bool, bool, bool)| {
                let mut m = m.clone();
                m.sched_regs = sched;
                m.data_regs = data;
                m.read_regs = read;
                m.logic_path(&e.io, f).on(f).ns(f)
            };
            let before = ns((false, false, false));
            if !m.is_constant() && before > fit.period_ns {
                for &c in inq_hdl::clock_target::rom_reg_choices(f) {
                    let with = ns(c);
                    assert!(
                        with > fit.period_ns && before - with < least,
                        "{}: {before} → {with} ns without registers: {fit:?}",
                        e.name
                    );
                }
            }
        }
        assert_eq!(
            listed.map_or((false, false, false), |r| (
                r.sched_regs,
                r.data_regs,
                r.read_regs
            )),
            rom_regs(e),
            "{}: {fit:?}",
            e.name
        );
        if let Some(r) = listed {
            let EngineKind::Mvu(m) = &e.kind else {
                panic!()
            };
            assert!(!m.is_constant());
            assert!(r.ns < r.ns_before && r.ns_before > fit.period_ns, "{r:?}");
            assert_eq!(r.meets, r.ns <= fit.period_ns);
            // registers that leave it too slow gain at least MIN_GAIN_LEVELS levels
            let level = fit.family.delays().level;
            assert!(
                r.meets || r.ns_before - r.ns >= inq_hdl::clock_target::MIN_GAIN_LEVELS * level,
                "{r:?}"
            );
        }
    }
}

#[test]
fn wide_beats_follow_the_engines_that_take_them() {
    use inq_hdl::{plan_unrolled, widen_beats};
    let m = lenet();
    let narrow = plan_unrolled(
        &m,
        &FoldingRequest::LaneBudget(64),
        &["conv1".into(), "conv2".into()],
    )
    .unwrap();
    let mut d = narrow.clone();
    let wide = widen_beats(&mut d);
    let beat_of = |name: &str| {
        let e = d.engines.iter().position(|e| e.name == name).unwrap();
        let i = d.engines[e].inputs[0];
        let o = d.engines[e].outputs[0];
        (d.streams[i].beat, d.streams[o].beat)
    };
    // conv1 (hard-wired, 1 input channel) emits all 16 results of a pixel per beat, the
    // tiled pool passes 16 channels, conv2 (hard-wired) takes them; pool2 feeds fc1 (ROM-fed,
    // one element per beat), so pool2 and conv2's output stay narrow
    assert_eq!(beat_of("conv1"), (1, 16));
    assert_eq!(beat_of("pool1"), (16, 16));
    assert_eq!(beat_of("conv2"), (16, 1));
    assert_eq!(beat_of("pool2"), (1, 1));
    assert_eq!(beat_of("fc1"), (1, 1));
    assert_eq!(wide.len(), 2);
    for s in &wide {
        assert_eq!(d.streams[s.stream].beat, 16);
        assert_eq!(
            s.beats_per_image * 16,
            d.streams[s.stream].elements_per_image
        );
    }
    // every stream's beat is its producer's output beat and its consumer's input beat
    for s in &d.streams {
        if let Endpoint::Engine { engine, .. } = s.from {
            assert_eq!(d.engines[engine].op().out_beat(), s.beat);
        }
        if let Endpoint::Engine { engine, .. } = s.to {
            assert_eq!(d.engines[engine].op().in_beat(), s.beat);
        }
    }
    // conv1 now takes a pixel per cycle instead of 16, the pool a beat per cycle
    let cycles = |d: &inq_hdl::Design, name: &str| {
        d.engines
            .iter()
            .find(|e| e.name == name)
            .unwrap()
            .cycles_per_image
    };
    assert!(cycles(&d, "conv1") * 8 < cycles(&narrow, "conv1"));
    assert_eq!(cycles(&d, "pool1") * 16, cycles(&narrow, "pool1"));
    assert!(d.interval_cycles() <= narrow.interval_cycles());
    // conv1 at the pixel rate (784 beats in, one cycle per image for the row at iy = H)
    assert_eq!(cycles(&d, "conv1"), 785);
    // the wide requantizers cost LUTs
    let luts = |d: &inq_hdl::Design, name: &str| {
        d.engines
            .iter()
            .find(|e| e.name == name)
            .unwrap()
            .resources
            .luts
    };
    assert!(luts(&d, "conv1") > luts(&narrow, "conv1"));
}

#[test]
fn a_throughput_target_below_one_element_per_beat_gets_wide_beats() {
    use inq_hdl::{plan_with, BeatChoice};
    let m = lenet();
    let req = FoldingRequest::Throughput {
        fps: 125_000.0,
        clock_mhz: 100.0,
        hard_wired: true,
    };
    // one element per beat cannot: conv1 alone writes 16·28·28 elements per image
    let err = plan_with(&m, &req, &[], BeatChoice::One).unwrap_err();
    assert!(err.to_string().contains("one element per beat"), "{err}");
    let d = plan_with(&m, &req, &[], BeatChoice::Auto).unwrap();
    assert!(d.interval_cycles() <= 800, "{}", d.interval_cycles());
    // the convolutions are hard-wired (no ROM-fed folding reaches 800 cycles), every stream
    // moves an image in at most 800 beats, with the narrowest beat that does
    let hard = |name: &str| {
        d.engines
            .iter()
            .any(|e| e.name == name && matches!(&e.kind, EngineKind::Mvu(mv) if mv.is_constant()))
    };
    assert!(hard("conv1") && hard("conv2"));
    for s in &d.streams {
        assert!(s.elements_per_image / s.beat <= 800, "{s:?}");
    }
    // conv2's 32·14·14 results: 8 per beat (784 beats), not 16 or 32
    let conv2 = d.engines.iter().find(|e| e.name == "conv2").unwrap();
    assert_eq!(d.streams[conv2.outputs[0]].beat, 8);
    // a target beyond the input's own rate is refused, naming the widest beats
    let fast = FoldingRequest::Throughput {
        fps: 200_000.0,
        clock_mhz: 100.0,
        hard_wired: true,
    };
    let err = plan_with(&m, &fast, &[], BeatChoice::Auto).unwrap_err();
    assert!(err.to_string().contains("widest beats"), "{err}");
    // without a target, auto keeps one element per beat
    let d = plan_with(&m, &FoldingRequest::LaneBudget(64), &[], BeatChoice::Auto).unwrap();
    assert!(d.streams.iter().all(|s| s.beat == 1));
}

/// The datapath register moves into the lanes' tree (`Mvu::data_split`, docs/hardware.md §4,
/// "The register inside the lanes' tree") only where no choice of registers fits the period
/// with it after the whole tree: the pixel-rate LeNet at 200 MHz, whose fc1 sums 32 lanes per
/// PE, gets it; the 64-lane design, whose ROM-fed engines fit, does not.
#[test]
fn the_datapath_register_moves_into_a_long_lanes_tree_only_when_needed() {
    use inq_hdl::{plan_with, stage_to_clock, BeatChoice, EngineOp, TimingFamily};
    let f = TimingFamily::Xilinx7;
    let m = lenet();
    let req = FoldingRequest::Throughput {
        fps: 125_000.0,
        clock_mhz: 200.0,
        hard_wired: true,
    };
    let mut d = plan_with(&m, &req, &[], BeatChoice::Auto).unwrap();
    let fit = stage_to_clock(&mut d, f, 200.0, Multipliers::DspBlocks);
    let split: Vec<(&str, u32, usize)> = d
        .engines
        .iter()
        .filter_map(|e| match &e.kind {
            EngineKind::Mvu(mv) if mv.data_split > 0 => {
                Some((e.name.as_str(), mv.data_split, mv.simd))
            }
            _ => None,
        })
        .collect();
    assert!(!split.is_empty(), "{}", fit.summary());
    for &(name, l, simd) in &split {
        let e = d.engines.iter().find(|e| e.name == name).unwrap();
        let EngineKind::Mvu(mv) = &e.kind else {
            panic!()
        };
        assert!(mv.data_regs && mv.data_split_allowed(), "{name}");
        assert!(
            l >= 1 && l < mv.lanes_tree_levels(),
            "{name}: {l} of {simd} lanes"
        );
        // the register holds ⌈SIMD / 2^l⌉ partial sums per PE, and the path is shorter than
        // with the register after the whole tree
        assert_eq!(mv.data_register_sums(), simd.div_ceil(1 << l));
        let with = mv.logic_path(&e.io, f).on(f).ns(f);
        let mut whole = mv.clone();
        whole.data_split = 0;
        let without = whole.logic_path(&e.io, f).on(f).ns(f);
        assert!(with < without, "{name}: {with} ns against {without} ns");
        let r = fit.rom_regs.iter().find(|r| r.engine == name).unwrap();
        assert_eq!(r.data_split, l);
        assert!((r.ns - with).abs() < 1e-9, "{r:?}");
    }
    assert!(fit.summary().contains("level(s) of the lanes' tree"));
    // the 64-lane design: every ROM-fed engine fits with registers after the whole tree
    let mut d = inq_hdl::plan(&m, &FoldingRequest::LaneBudget(64)).unwrap();
    let fit = stage_to_clock(&mut d, f, 200.0, Multipliers::DspBlocks);
    assert!(
        fit.rom_regs.iter().all(|r| r.data_split == 0),
        "{}",
        fit.summary()
    );
    assert!(d
        .engines
        .iter()
        .all(|e| !matches!(&e.kind, EngineKind::Mvu(mv) if mv.data_split > 0)));
}

/// The row tests from difference registers (`Mvu::hs_regs`, docs/hardware.md §12, "The row
/// tests from differences") go on every MVU, hard-wired and ROM-fed, when the design is
/// pipelined for 7-series, and on none for iCE40, where they were not measured.
#[test]
fn row_tests_from_differences_on_every_mvu_for_xilinx_only() {
    use inq_hdl::{plan_with, stage_to_clock, BeatChoice, EngineOp, TimingFamily};
    let m = lenet();
    let req = FoldingRequest::Throughput {
        fps: 125_000.0,
        clock_mhz: 200.0,
        hard_wired: true,
    };
    let planned = plan_with(&m, &req, &[], BeatChoice::Auto).unwrap();
    let mvus = |d: &inq_hdl::Design| -> Vec<(bool, bool)> {
        d.engines
            .iter()
            .filter_map(|e| match &e.kind {
                EngineKind::Mvu(mv) => Some((mv.is_constant(), mv.hs_regs)),
                _ => None,
            })
            .collect()
    };
    assert!(mvus(&planned).iter().all(|&(_, hs)| !hs));
    let mut d = planned.clone();
    let fit = stage_to_clock(&mut d, TimingFamily::Xilinx7, 200.0, Multipliers::DspBlocks);
    let x7 = mvus(&d);
    assert!(x7.iter().any(|&(c, _)| c) && x7.iter().any(|&(c, _)| !c));
    assert!(x7.iter().all(|&(_, hs)| hs), "{x7:?}");
    assert!(fit.row_diffs && fit.summary().contains("difference registers"));
    // the flag is a template parameter of every MVU, and the estimate counts its registers
    for e in &d.engines {
        if let EngineKind::Mvu(mv) = &e.kind {
            let params = mv.params(&e.io);
            assert!(params.iter().any(|p| p.name == "HREG"), "{}", e.name);
            let mut without = mv.clone();
            without.hs_regs = false;
            assert!(mv.resources(&e.io).ff_bits > without.resources(&e.io).ff_bits);
        }
    }
    for family in [TimingFamily::Ice40Up, TimingFamily::Ice40Hx] {
        let mut d = planned.clone();
        let fit = stage_to_clock(&mut d, family, 50.0, Multipliers::DspBlocks);
        assert!(mvus(&d).iter().all(|&(_, hs)| !hs));
        assert!(!fit.row_diffs && !fit.summary().contains("difference registers"));
    }
}

/// The ResNet-8 at 200 MHz on 7-series (`docs/performance.md`, "The ResNet-8 at the 6-level
/// target"): its skip FIFOs are in block RAM and read synchronously, the 1 152-word weight
/// ROMs of stage 3 are read in banks behind weight registers, every `obuf` of 32 words emits
/// through the one-hot select, and no part is over the level target in the estimate.
#[test]
fn the_resnet8_plan_meets_the_level_target_with_its_memories_split() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fashion_resnet8_inq4.json"
    );
    let model = inq_model::QuantModel::load(std::path::Path::new(path)).expect("model");
    let mut d = inq_hdl::plan(&model, &FoldingRequest::LaneBudget(256)).expect("plan");
    let fit = inq_hdl::stage_to_clock(
        &mut d,
        inq_hdl::timing::TimingFamily::Xilinx7,
        200.0,
        Multipliers::DspBlocks,
    );
    assert!(fit.over_levels.is_empty(), "{}", fit.summary());
    // (the FIFO depths are the plan rule's here, deeper than the simulated ones: every skip
    // FIFO of a block-RAM size reads synchronously, and no short one does)
    for s in d.streams.iter() {
        let deep = inq_hdl::resources::yosys_prefers_bram(
            s.depth as u64,
            u64::from(s.width) * s.beat as u64,
        );
        assert_eq!(s.fifo_in_bram(), s.depth > 2 && deep);
    }
    assert!(d.streams.iter().any(|s| s.skip && s.fifo_in_bram()));
    for e in &d.engines {
        let EngineKind::Mvu(m) = &e.kind else {
            continue;
        };
        if m.is_constant() {
            continue;
        }
        assert!(m.read_regs && m.slot_regs, "{}", e.name);
        assert_eq!(m.head_onehot, m.pe > 16, "{}", e.name);
        if e.name.starts_with("s3_conv") {
            assert_eq!(m.rom_depth(), 1152, "{}", e.name);
            assert_eq!(m.rom_banks(), 5, "{}", e.name);
            assert!(m.weight_regs, "{}", e.name);
        } else {
            assert_eq!(m.rom_banks(), 1, "{}", e.name);
        }
    }
    assert!(
        fit.summary().contains("weight ROMs read in 5 banks"),
        "{}",
        fit.summary()
    );
}
