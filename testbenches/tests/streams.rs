//! Every stream checked: `verify` compares every tap stream of every image with the
//! reference's intermediate tensors (per-image checksums kept by the harness), so a corrupted
//! weight that changes an intermediate value but no logit fails the check.
//!
//! A small random model (conv → max pool → strided conv that never reads the pool's last row →
//! flatten → dense) is generated once; for a sample of non-zero weights of every ROM, one at a
//! time, the sign bit and one exponent bit of the weight's code are flipped in the ROM word
//! ([`corrupt_hex_word`]; the Verilator build is reused, ROMs are not part of its key). The
//! integer reference of the model with the same code changed says whether any intermediate
//! value (or a logit) of the test images changes: every value-changing mutation must fail
//! `verify`, one that changes nothing must pass, and the output-only check
//! (`check_streams = false`) must fail exactly when a logit changes.

mod common;

use common::*;
use inq_model::numerics::{decode_kind, encode, Weight};
use inq_model::random::{LayerSpec, RandomSpec};
use inq_model::{ActFormat, QuantModel, Reference};
use inq_testbenches::mutate::{copy_design, corrupt_hex_word};
use inq_testbenches::{verify, VerifyOptions};

fn small_model() -> QuantModel {
    let conv = |out, k, stride, pad| LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 5,
        act_bits: 8,
        relu: true,
        per_channel: true,
    };
    let spec = RandomSpec {
        input: [1, 10, 10],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: -8,
        },
        layers: vec![
            conv(4, 3, 1, 1),
            LayerSpec::MaxPool(2),
            // 5×5 → 2×2 with a 2×2 window at stride 2: row and column 4 are never read
            conv(6, 2, 2, 0),
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 5,
                bits: 5,
                act_bits: 8,
                relu: false,
                per_channel: false,
            },
        ],
    };
    inq_model::random::build(&spec, 14).expect("random model")
}

/// The weight code with its sign bit flipped, or one exponent bit flipped so that the index
/// stays within `k_max` (the layer's largest index, so the plan's widths still hold).
fn flipped(code: u8, bits: u32, sign: bool, k_max: u32) -> Option<u8> {
    match decode_kind(inq_model::WeightKind::Pow2, code, bits).ok()? {
        Weight::Pow2 { negative, index } => {
            let w = if sign {
                Weight::Pow2 {
                    negative: !negative,
                    index,
                }
            } else {
                // clear the lowest set bit, or set bit 0 of index 0
                let low = if index == 0 {
                    1
                } else {
                    index & index.wrapping_neg()
                };
                let k = index ^ low;
                if k > k_max {
                    return None;
                }
                Weight::Pow2 { negative, index: k }
            };
            Some(encode(w, bits))
        }
        _ => None,
    }
}

struct Mutation {
    node: usize,
    index: usize,
    sign: bool,
    /// Some intermediate value (any node's output) of the test images changes.
    changes_values: bool,
    /// Some logit changes.
    changes_logits: bool,
}

#[test]
fn every_value_changing_weight_mutation_is_caught() {
    require_verilator();
    let model = small_model();
    let (dir, design) =
        plan_and_generate(&model, &inq_hdl::FoldingRequest::Minimal, "streams-mutate");
    assert!(!has_constant_weights(&design), "the test needs ROMs");
    let images: Vec<Vec<i64>> = (0..8)
        .map(|i| inq_model::random::random_input(&model, 300 + i))
        .collect();
    let reference = Reference::new(&model).unwrap();
    let clean: Vec<_> = images.iter().map(|x| reference.run(x).unwrap()).collect();
    let opts = VerifyOptions {
        stall_rate: 0.2,
        seed: 5,
        ..opts()
    };
    let outputs_only = VerifyOptions {
        check_streams: false,
        ..opts.clone()
    };
    // the unmutated design passes with every stream checked
    let r = verify(&dir, &images, &opts).unwrap();
    assert!(r.passed && r.streams_checked, "{:?}", r.diagnosis);
    assert_eq!(r.stream_mismatches, 0);

    let mut tried = 0usize;
    let mut value_changing = 0usize;
    let mut caught = 0usize;
    let mut caught_by_streams_only = 0usize;
    for (e, _, mvu) in design.mvu_engines() {
        let node = design.engines[e].node.expect("an MVU implements a node");
        let w = match &model.nodes[node].op {
            inq_model::Op::Conv(c) => &c.weights,
            inq_model::Op::Dense(d) => &d.weights,
            _ => unreachable!(),
        };
        let nonzero: Vec<usize> = (0..w.codes.len()).filter(|&i| w.codes[i] != 0).collect();
        let samples = 4usize;
        for j in 0..samples {
            let index = nonzero[j * nonzero.len() / samples];
            for sign in [true, false] {
                let Some(new) = flipped(w.codes[index], w.bits, sign, mvu.k_max) else {
                    continue;
                };
                // the model with the same code changed, and where its ROM word is
                let mut m2 = model.clone();
                match &mut m2.nodes[node].op {
                    inq_model::Op::Conv(c) => c.weights.codes[index] = new,
                    inq_model::Op::Dense(d) => d.weights.codes[index] = new,
                    _ => unreachable!(),
                }
                let d2 = inq_hdl::plan(&m2, &inq_hdl::FoldingRequest::Minimal).unwrap();
                let inq_hdl::EngineKind::Mvu(mvu2) = &d2.engines[e].kind else {
                    panic!("engine {e} is no longer an MVU");
                };
                let at: Vec<usize> = (0..mvu.weights.len())
                    .filter(|&i| mvu.weights[i] != mvu2.weights[i])
                    .collect();
                assert_eq!(at.len(), 1, "one code changes");
                let (p, addr, s) = {
                    let i = at[0];
                    let depth = mvu.rom_depth();
                    (i / mvu.simd / depth, (i / mvu.simd) % depth, i % mvu.simd)
                };
                let xor = u64::from(mvu.weights[at[0]] ^ mvu2.weights[at[0]])
                    << (s as u32 * mvu.code_bits);
                let r2 = Reference::new(&m2).unwrap();
                let mut mu = Mutation {
                    node,
                    index,
                    sign,
                    changes_values: false,
                    changes_logits: false,
                };
                for (x, c) in images.iter().zip(&clean) {
                    let o = r2.run(x).unwrap();
                    mu.changes_values |= o.nodes != c.nodes;
                    mu.changes_logits |= o.logits != c.logits;
                }
                let mutant = scratch(&format!("streams-mutant-{tried}"));
                copy_design(&dir, &mutant).unwrap();
                let hc =
                    corrupt_hex_word(&mutant, &format!("rtl/e{e}_w_pe{p}.hex"), addr, xor).unwrap();
                assert_eq!(
                    (hc.old >> (s as u32 * mvu.code_bits)) & ((1 << mvu.code_bits) - 1),
                    u64::from(w.codes[index]),
                    "ROM word {addr} of PE {p} holds the code"
                );
                let full = verify(&mutant, &images, &opts).unwrap();
                let outs = verify(&mutant, &images, &outputs_only).unwrap();
                let _ = std::fs::remove_dir_all(&mutant);
                tried += 1;
                let what = format!(
                    "node {} code {} ({}): {:?} / {:?}",
                    mu.node,
                    mu.index,
                    if mu.sign { "sign" } else { "exponent" },
                    full.first_stream_mismatch,
                    full.diagnosis
                );
                assert!(full.streams_checked && !outs.streams_checked);
                assert_eq!(outs.passed, !mu.changes_logits, "outputs only, {what}");
                assert_eq!(full.mismatch_count, outs.mismatch_count, "{what}");
                if mu.changes_values {
                    value_changing += 1;
                    assert!(!full.passed, "value-changing mutation missed: {what}");
                    caught += 1;
                    let bad = full.first_bad.as_ref().expect("a stream is named");
                    assert_eq!(bad.node, Some(node), "{what}");
                    if outs.passed {
                        caught_by_streams_only += 1;
                        assert_eq!(full.mismatch_count, 0);
                        assert!(full.stream_mismatches > 0);
                    }
                } else {
                    assert!(full.passed, "no value changes, yet: {what}");
                }
            }
        }
    }
    println!(
        "caught {caught} of {value_changing} value-changing mutations ({tried} tried); \
         {caught_by_streams_only} caught only with streams checked"
    );
    assert_eq!(caught, value_changing);
    assert!(value_changing > 0);
    if caught_by_streams_only == 0 {
        println!("(no sampled mutation changed an intermediate value but no logit)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
