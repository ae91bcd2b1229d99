//! Every stream checked: `verify` compares every tap stream of every image with the
//! reference's intermediate tensors (per-image checksums, `SimOptions::check_streams`), so a
//! corrupted weight that changes an intermediate value but no logit is reported, and the
//! first differing stream is named; `check_streams = false` checks the output words only.

mod common;

use common::*;
use inq_model::numerics::{decode_kind, encode, Weight};
use inq_model::random::{LayerSpec, RandomSpec};
use inq_model::{QuantModel, Reference};
use inq_sim::{simulate, verify, SimOptions};

fn spec() -> RandomSpec {
    RandomSpec {
        input: [1, 10, 10],
        input_format: u8_input(),
        layers: vec![
            conv(4, 3, 1, 1, true),
            LayerSpec::MaxPool(2),
            // 5×5 → 2×2 with a 2×2 window at stride 2: row and column 4 are never read
            conv(6, 2, 2, 0, true),
            LayerSpec::Flatten,
            dense(5, false),
        ],
    }
}

/// A single-code mutation of a conv layer (sign flip) that changes some intermediate value of
/// the images but no logit: `(node, mutated model)`.
fn masked_mutation(m: &QuantModel, images: &[Vec<i64>]) -> Option<(usize, QuantModel)> {
    let r = Reference::new(m).unwrap();
    let clean: Vec<_> = images.iter().map(|x| r.run(x).unwrap()).collect();
    for (node, n) in m.nodes.iter().enumerate() {
        let inq_model::Op::Conv(c) = &n.op else {
            continue;
        };
        for i in 0..c.weights.codes.len() {
            let code = c.weights.codes[i];
            let Ok(Weight::Pow2 { negative, index }) =
                decode_kind(c.weights.kind, code, c.weights.bits)
            else {
                continue;
            };
            let mut m2 = m.clone();
            let inq_model::Op::Conv(c2) = &mut m2.nodes[node].op else {
                unreachable!()
            };
            c2.weights.codes[i] = encode(
                Weight::Pow2 {
                    negative: !negative,
                    index,
                },
                c.weights.bits,
            );
            let r2 = Reference::new(&m2).unwrap();
            let mut values = false;
            let mut logits = false;
            for (x, o) in images.iter().zip(&clean) {
                let o2 = r2.run(x).unwrap();
                values |= o2.nodes != o.nodes;
                logits |= o2.logits != o.logits;
            }
            if values && !logits {
                return Some((node, m2));
            }
        }
    }
    None
}

#[test]
fn weight_change_hidden_from_the_outputs_is_caught_on_its_stream() {
    let m = model(&spec(), 3);
    let imgs = images(&m, 4, 3);
    let req = inq_hdl::FoldingRequest::Minimal;
    let clean = design(&m, &req);
    let (node, m2) = masked_mutation(&m, &imgs).expect("a mutation hidden from the logits");
    // The simulated hardware carries the mutated weight; the reference is the original model.
    let mut bad = design(&m2, &req);
    bad.model_hash = clean.model_hash.clone();

    for (rate, reset, ff) in [
        (0.0, None, true),
        (0.3, None, true),
        (0.3, None, false),
        (0.2, Some(2), true),
    ] {
        let o = SimOptions {
            stall_rate: rate,
            seed: 4,
            reset_after: reset,
            fast_forward: ff,
            ..SimOptions::default()
        };
        let what = format!("rate {rate} reset {reset:?} fast_forward {ff}");
        let ok = verify(&m, &clean, &imgs, &o).unwrap();
        assert!(ok.streams_checked, "{what}");
        assert_eq!(
            ok.stream_mismatches, 0,
            "{what}: {:?}",
            ok.first_stream_mismatch
        );
        assert_eq!(ok.mismatch_count, 0, "{what}");
        assert!(ok.diagnosis.is_none(), "{what}");

        let r = verify(&m, &bad, &imgs, &o).unwrap();
        assert_eq!(r.mismatch_count, 0, "{what}: the logits are unchanged");
        assert!(r.streams_checked, "{what}");
        assert!(r.stream_mismatches > 0, "{what}");
        let first = r.first_stream_mismatch.as_ref().unwrap();
        assert_eq!(first.node, Some(node), "{what}: {first:?}");
        let located = r.first_bad.as_ref().expect("the stream is named");
        assert_eq!(located.node, Some(node), "{what}: {:?}", r.diagnosis);
        assert_eq!(located.image, first.image, "{what}");
        assert!(r.diagnosis.unwrap().contains("first differing stream"));

        // outputs only: today's check, which passes
        let r = verify(
            &m,
            &bad,
            &imgs,
            &SimOptions {
                check_streams: false,
                ..o.clone()
            },
        )
        .unwrap();
        assert!(!r.streams_checked && r.stream_sums.is_empty(), "{what}");
        assert_eq!((r.mismatch_count, r.stream_mismatches), (0, 0), "{what}");
        assert!(r.diagnosis.is_none(), "{what}");
    }
}

#[test]
fn stream_checksums_are_exact_and_cover_every_image() {
    let m = model(&spec(), 5);
    let imgs = images(&m, 3, 5);
    let d = design(&m, &inq_hdl::FoldingRequest::Minimal);
    let o = SimOptions {
        stall_rate: 0.25,
        seed: 2,
        tap_images: 3,
        ..SimOptions::default()
    };
    let fast = simulate(&d, &imgs, &o).unwrap();
    let slow = simulate(
        &d,
        &imgs,
        &SimOptions {
            fast_forward: false,
            ..o.clone()
        },
    )
    .unwrap();
    assert_eq!(fast.stream_sums, slow.stream_sums);
    assert_eq!(fast.stream_sums.len(), d.taps.len());
    // each checksum is that of the recorded beats of its image
    for (t, (sums, beats)) in fast.stream_sums.iter().zip(&fast.taps).enumerate() {
        let epi = d.taps[t].elements_per_image;
        assert!(
            sums.len() <= 3 && sums.len() >= 2,
            "tap {t}: {} images",
            sums.len()
        );
        for (i, s) in sums.iter().enumerate() {
            let vals: Vec<i64> = beats
                .iter()
                .skip(i * epi)
                .take(epi)
                .map(|b| b.value)
                .collect();
            assert_eq!(*s, inq_sim::StreamSum::of(&vals), "tap {t} image {i}");
            if i < 2 {
                assert_eq!(s.count as usize, epi, "tap {t} image {i} is complete");
            }
        }
    }
}
