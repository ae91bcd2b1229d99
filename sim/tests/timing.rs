//! Cycle-level timing: a hand-derived trace of `docs/hardware.md`, and steady-state intervals
//! against the plan's per-engine estimate.

mod common;

use common::*;
use inq_hdl::{EngineKind, Folding, FoldingRequest, LayerFolding};
use inq_model::numerics::{encode, Weight};
use inq_model::ops::{Dense, Flatten};
use inq_model::random::{LayerSpec, RandomSpec};
use inq_model::{ActFormat, InputSpec, Op, Output, QuantModel, WeightTensor};
use inq_sim::{verify, SimOptions};

/// Input [2,1,1] → flatten → dense 2→1 logits, PE = SIMD = 1.
fn tiny_dense() -> QuantModel {
    let one = encode(
        Weight::Pow2 {
            negative: false,
            index: 0,
        },
        3,
    );
    let neg2 = encode(
        Weight::Pow2 {
            negative: true,
            index: 1,
        },
        3,
    );
    QuantModel::chain(
        "tiny",
        InputSpec {
            name: "x".into(),
            shape: [2, 1, 1],
            format: ActFormat {
                bits: 8,
                signed: false,
                exp: 0,
            },
            mapping: String::new(),
        },
        vec![
            ("f".into(), Op::Flatten(Flatten {})),
            (
                "d".into(),
                Op::Dense(Dense {
                    in_features: 2,
                    out_features: 1,
                    weights: WeightTensor {
                        kind: Default::default(),
                        bits: 3,
                        n1: vec![1],
                        codes: vec![one, neg2],
                    },
                    bias: vec![5],
                    relu: false,
                    output: Output::Logits,
                }),
            ),
        ],
    )
}

/// Hand-derived from docs/hardware.md §2–§7 and the harness protocol. The dense layer has a
/// double line buffer (`NR = 2`): it receives the next vector while it computes this one.
/// cycle 0: beat 0 enters fifo_in; 1: beat 1 enters fifo_in, the MVU takes beat 0;
/// 2: the MVU takes beat 1 (iy = H), image 1's beat 0 enters fifo_in; 3: `img_wrap` with
/// `ahead ← 1` (the input side moves to image 1) and fire sf 0, image 1's beat 1 enters fifo_in
/// (now full); 4: fire sf 1 (`last_fire`, obuf, pending = 1, `ahead ← 0`) while the MVU takes
/// image 1's beat 0 (`iy + H < NR`); 5: out_valid/out_data registered, the MVU takes image 1's
/// beat 1, image 2's first beat enters fifo_in; 6: the logit is written into fifo_1, `img_wrap`
/// and fire sf 0 of image 1; 7: m_axis transfer. Interval `C·H·W + 1 = 3` (the input side
/// spends one cycle in `iy = H`), the compute (`NF·SF = 2`) is hidden. Before the double
/// buffer (`NR = 1`) the interval was `C + NF·SF = 4`.
#[test]
fn hand_derived_trace_of_a_dense_layer() {
    let m = tiny_dense();
    let d = design(&m, &FoldingRequest::Minimal);
    assert_eq!(d.engines.len(), 1);
    let EngineKind::Mvu(mvu) = &d.engines[0].kind else {
        panic!("an MVU")
    };
    assert_eq!(mvu.geom.nr, 2);
    assert_eq!(d.engines[0].cycles_per_image, 3);
    let imgs = vec![vec![10, 3], vec![0, 1], vec![7, 7]];
    let r = verify(&m, &d, &imgs, &SimOptions::default()).unwrap();
    assert_eq!(r.mismatch_count, 0);
    let got: Vec<(i64, u64)> = r.outputs.iter().map(|o| (o.value, o.cycle)).collect();
    // logits: 5 + x0 - 2·x1
    assert_eq!(got, vec![(9, 7), (3, 10), (-2, 13)]);
    assert_eq!(
        r.input_starts.iter().map(|s| s.cycle).collect::<Vec<_>>(),
        vec![0, 2, 5]
    );
    assert_eq!(r.total_cycles, 14);
    assert_eq!(r.latency_cycles, 7);
    assert_eq!(r.interval_cycles, Some(3.0));
    // The MVU: 2 compute cycles per image, never blocked by the output.
    let a = r.engines[0].activity;
    assert_eq!(a.busy, 6);
    assert_eq!(a.stalled, 0);
    assert_eq!(a.busy + a.stalled + a.idle, 14);
    assert_eq!(r.fifos[0].peak, 2);
    assert_eq!(r.fifos[1].peak, 1);
}

/// With `m_axis_tready` held low the output FIFO fills, then the MVU's output register, then
/// its `obuf` (and a hard-wired engine's pipeline registers, which hold windows too: hence 30
/// images, more than the design buffers): the engine reports stalled cycles, and once the sink
/// accepts again the values are still right (driving the `Machine` directly).
#[test]
fn back_pressure_shows_as_stalled_cycles() {
    use inq_sim::{Machine, PortInputs};
    let (_, spec) = &chain_specs()[2];
    let m = model(spec, 4);
    let d = design(&m, &foldings(&m)[1].1);
    let imgs = images(&m, 30, 4);
    let beats = inq_sim::images_to_beats(&d, &imgs).unwrap();
    let mut mach = Machine::new(&d).unwrap();
    let mut next = 0;
    let mut out = Vec::new();
    for cycle in 0..20_000u64 {
        let p = mach.ports();
        let inp = PortInputs {
            rst: false,
            s_tvalid: next < beats.len(),
            s_tdata: beats.get(next).copied().unwrap_or(0),
            s_tlast: false,
            m_tready: cycle >= 5_000,
        };
        if p.m_tvalid && inp.m_tready {
            out.push(p.m_tdata);
        }
        let f = mach.step(&inp);
        assert_eq!(f.input, inp.s_tvalid && p.s_tready);
        assert_eq!(f.output, p.m_tvalid && inp.m_tready);
        next += usize::from(f.input);
        if cycle == 4_999 {
            let last = d.engines.len() - 1;
            let out = d.output.stream;
            assert_eq!(
                mach.fifo_count(out),
                Some(d.streams[out].depth),
                "output FIFO full"
            );
            let a = mach.activity(last).unwrap();
            assert!(a.stalled > 0, "{a:?}");
            assert!(
                next < beats.len() && !mach.ports().s_tready,
                "back-pressure reaches the input"
            );
        }
    }
    let reference = inq_model::Reference::new(&m).unwrap();
    let expected: Vec<i64> = imgs
        .iter()
        .flat_map(|i| reference.run(i).unwrap().logits)
        .collect();
    assert_eq!(out, expected);
    for e in 0..mach.engine_count() {
        let a = mach.activity(e).unwrap();
        assert_eq!(a.busy + a.stalled + a.idle, 20_000);
    }
}

fn explicit(list: &[(usize, usize, usize)]) -> FoldingRequest {
    FoldingRequest::Explicit(Folding {
        layer: list
            .iter()
            .map(|&(i, pe, simd)| LayerFolding {
                name: None,
                index: Some(i),
                pe,
                simd,
            })
            .collect(),
    })
}

/// Designs with a single bottleneck engine whose neighbours are much faster: the measured
/// steady-state interval is within 2% of the plan's `interval_cycles()`.
#[test]
fn steady_state_interval_matches_plan_for_a_single_bottleneck() {
    let cases: Vec<(RandomSpec, FoldingRequest)> = vec![
        // conv 1→8 3×3 pad 1 at PE = SIMD = 1 dominates (12·12·72 = 10 368 cycles); the dense
        // layer is fully parallel.
        (
            RandomSpec {
                input: [1, 12, 12],
                input_format: u8_input(),
                layers: vec![
                    conv(8, 3, 1, 1, true),
                    LayerSpec::MaxPool(2),
                    LayerSpec::Flatten,
                    dense(3, false),
                ],
            },
            explicit(&[(3, 3, 288)]),
        ),
        // a dense layer at PE = SIMD = 1 dominates: C + NF·SF = 64 + 16·64.
        (
            RandomSpec {
                input: [4, 4, 4],
                input_format: u8_input(),
                layers: vec![LayerSpec::Flatten, dense(16, true), dense(4, false)],
            },
            explicit(&[(2, 4, 16)]),
        ),
    ];
    for (k, (spec, req)) in cases.iter().enumerate() {
        let m = model(spec, 11);
        let d = design(&m, req);
        let imgs = images(&m, 6, 11);
        let r = verify(&m, &d, &imgs, &SimOptions::default()).unwrap();
        assert_eq!(r.mismatch_count, 0);
        let plan = d.interval_cycles() as f64;
        let got = r.interval_cycles.unwrap();
        let err = (got - plan).abs() / plan;
        assert!(
            err <= 0.02,
            "case {k}: measured {got}, plan {plan} ({:.2}%)",
            err * 100.0
        );
    }
}

/// An input-bound engine whose buffer holds less than the image (`NR < H`) overlaps the compute
/// of its last output row with the next image's first rows (`ahead`, §4), so its interval is
/// its input, `C·H·W + 1 = 769` (one cycle in `iy = H` per image), as planned. Before the
/// line buffer was shared across images (`img_wrap` needed `last_fire`) it was
/// `768 + 8 pixels · max(SF, PE) = 840`.
#[test]
fn input_bound_engine_overlaps_its_last_output_row_with_the_next_image() {
    let spec = RandomSpec {
        input: [3, 16, 16],
        input_format: u8_input(),
        layers: vec![
            conv(4, 3, 2, 1, true),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            dense(2, false),
        ],
    };
    let m = model(&spec, 11);
    let d = design(&m, &explicit(&[(0, 4, 3), (3, 2, 4)]));
    assert_eq!(d.interval_cycles(), 769);
    let r = verify(&m, &d, &images(&m, 6, 11), &SimOptions::default()).unwrap();
    assert_eq!(r.mismatch_count, 0);
    assert_eq!(r.interval_cycles, Some(769.0));
}
