//! Wide beats (`docs/hardware.md` §2) under Verilator: a tap of `k` elements per beat is split
//! by the harness into `k` records (`T`) and `k` checksum steps (`C`), element by element in
//! stream order, so that the reference comparison is the one of a narrow design. The design
//! has a 96-bit tap (12 elements of 8 bits: Verilator's `VlWide`) and a 32-bit one (4 × 8),
//! beats set by hand on the plan until the planner chooses them.

mod common;

use common::*;
use inq_model::random::{LayerSpec, RandomSpec};
use inq_model::{ActFormat, QuantModel, Reference};
use inq_testbenches::verify::images_to_beats;
use inq_testbenches::{simulate, verify, BuildOptions, DesignFolder, SimSettings};

fn conv(out: usize) -> LayerSpec {
    LayerSpec::Conv {
        out,
        k: 3,
        stride: 1,
        pad: 1,
        bits: 5,
        act_bits: 8,
        relu: true,
        per_channel: true,
    }
}

/// conv 1→12 3×3, max pool 2, conv 12→4 3×3, max pool 2, flatten, dense 16→3, on 8×8.
fn model() -> QuantModel {
    let spec = RandomSpec {
        input: [1, 8, 8],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: -8,
        },
        layers: vec![
            conv(12),
            LayerSpec::MaxPool(2),
            conv(4),
            LayerSpec::MaxPool(2),
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 3,
                bits: 5,
                act_bits: 8,
                relu: false,
                per_channel: false,
            },
        ],
    };
    inq_model::random::build(&spec, 31).expect("random model")
}

/// Every MVU hard-wired; beats: conv 1→12, pool 12, conv 12→4, pool 4, dense 4→1.
fn wide_design(model: &QuantModel) -> inq_hdl::Design {
    let unroll: Vec<String> = model
        .nodes
        .iter()
        .filter(|n| matches!(n.op, inq_model::Op::Conv(_) | inq_model::Op::Dense(_)))
        .map(|n| n.name.clone())
        .collect();
    let mut d =
        inq_hdl::plan_unrolled(model, &inq_hdl::FoldingRequest::Minimal, &unroll).expect("plan");
    let beats = [(1, 12), (12, 12), (12, 4), (4, 4), (4, 1)];
    assert_eq!(d.engines.len(), beats.len(), "{:?}", d.engines);
    for (e, &(ki, ko)) in d.engines.iter_mut().zip(&beats) {
        match &mut e.kind {
            inq_hdl::EngineKind::Mvu(m) => {
                m.in_beat = ki;
                m.out_beat = ko;
            }
            inq_hdl::EngineKind::Pool(p) => p.beat = ki,
            k => panic!("unexpected engine {}", k.tag()),
        }
    }
    for i in 0..d.streams.len() {
        d.streams[i].beat = match d.streams[i].from {
            inq_hdl::Endpoint::Engine { engine, .. } => d.engines[engine].op().out_beat(),
            _ => 1,
        };
    }
    d
}

#[test]
fn wide_taps_are_split_into_elements() {
    require_verilator();
    let model = model();
    let design = wide_design(&model);
    assert!(design
        .streams
        .iter()
        .any(|s| s.beat * s.width as usize > 64));
    let dir = generate(&model, &design, "wide-taps");
    let images: Vec<Vec<i64>> = (0..4)
        .map(|i| inq_model::random::random_input(&model, 700 + i))
        .collect();

    // the reference comparison: every logit, and every tap stream's checksum per image
    let mut o = opts();
    o.stall_rate = 0.3;
    o.seed = 9;
    o.reset_after = Some(2);
    o.reset_cycles = 3;
    let report = verify(&dir, &images, &o).expect("verify");
    assert!(report.streams_checked);
    assert!(
        report.passed && report.stream_mismatches == 0,
        "{:?}\n{:?}",
        report.mismatches,
        report.first_stream_mismatch
    );

    // the T records: one per element, in stream order, equal to the reference's tensors
    let folder = DesignFolder::load(&dir).expect("design folder");
    let beats = images_to_beats(&folder, &images).expect("beats");
    let settings = SimSettings {
        threshold: inq_testbenches::StallGen::threshold_for(0.2).expect("stall rate"),
        seed: 3,
        reset_after: None,
        reset_cycles: 1,
        idle_limit: 100_000,
        tap_images: images.len(),
        vcd: None,
    };
    let build = BuildOptions {
        cache_dir: Some(shared_cache()),
        ..BuildOptions::default()
    };
    let run = simulate(&folder, &beats, &settings, &build, None).expect("simulate");
    let reference = Reference::new(&model).unwrap();
    let m = &folder.manifest;
    for (k, t) in m.taps.iter().enumerate() {
        let mut want = Vec::new();
        for img in &images {
            let input = inq_model::Tensor {
                shape: model.input.shape.to_vec(),
                data: img.clone(),
            };
            let out = reference.run(img).unwrap();
            want.extend(inq_design::tap_values(&model, &input, &out, t.node).expect("tap"));
        }
        let got: Vec<i64> = run.taps[k].iter().map(|b| b.value).collect();
        assert_eq!(got, want, "tap {k} ({})", t.name);
        // the elements of a beat share its cycle
        let beat = m.design.streams[m.design.taps[k].stream].beat;
        for chunk in run.taps[k].chunks(beat) {
            assert!(chunk.iter().all(|b| b.cycle == chunk[0].cycle), "tap {k}");
        }
    }
}
