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
//!
//! The same for the constants of hard-wired engines, which are wiring in a generated module
//! rather than ROM words: every non-zero constant of a hard-wired conv and a sample of a
//! hard-wired dense layer's, each mutant a new Verilator build of the design with that one
//! module regenerated from the changed code.

mod common;

use common::*;
use inq_model::numerics::{decode_kind, encode, Weight};
use inq_model::random::{LayerSpec, RandomSpec};
use inq_model::{ActFormat, QuantModel, Reference};
use inq_testbenches::mutate::{copy_design, corrupt_hex_word};
use inq_testbenches::{verify, VerifyOptions};

/// A 5-bit ReLU conv layer of the test models.
fn conv(out: usize, k: usize, stride: usize, pad: usize) -> LayerSpec {
    LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 5,
        act_bits: 8,
        relu: true,
        per_channel: true,
    }
}

/// A random model of the test's shape: an unsigned 8-bit `[1, side, side]` input, `layers`,
/// then a flatten and a 5-bit dense layer of `out` logits.
fn model_of(side: usize, mut layers: Vec<LayerSpec>, out: usize, seed: u64) -> QuantModel {
    layers.extend([
        LayerSpec::Flatten,
        LayerSpec::Dense {
            out,
            bits: 5,
            act_bits: 8,
            relu: false,
            per_channel: false,
        },
    ]);
    let spec = RandomSpec {
        input: [1, side, side],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: -8,
        },
        layers,
    };
    inq_model::random::build(&spec, seed).expect("random model")
}

fn small_model() -> QuantModel {
    model_of(
        10,
        vec![
            conv(4, 3, 1, 1),
            LayerSpec::MaxPool(2),
            // 5×5 → 2×2 with a 2×2 window at stride 2: row and column 4 are never read
            conv(6, 2, 2, 0),
        ],
        5,
        14,
    )
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

/// The options of a mutation test (stall rate 0.2, the stall `seed`, Verilator builds in
/// `cache`) with every stream checked, and the same checking the outputs only; asserts that the
/// unmutated design `dir` passes with every stream checked.
fn passing_options(
    dir: &std::path::Path,
    images: &[Vec<i64>],
    seed: u64,
    cache: std::path::PathBuf,
) -> (VerifyOptions, VerifyOptions) {
    let full = VerifyOptions {
        stall_rate: 0.2,
        seed,
        cache_dir: Some(cache),
        ..opts()
    };
    let r = verify(dir, images, &full).unwrap();
    assert!(r.passed && r.streams_checked, "{:?}", r.diagnosis);
    assert_eq!(r.stream_mismatches, 0);
    let outputs_only = VerifyOptions {
        check_streams: false,
        ..full.clone()
    };
    (full, outputs_only)
}

/// `model` with weight code `index` of conv/dense node `node` replaced by `code`.
fn with_code(model: &QuantModel, node: usize, index: usize, code: u8) -> QuantModel {
    let mut m = model.clone();
    match &mut m.nodes[node].op {
        inq_model::Op::Conv(c) => c.weights.codes[index] = code,
        inq_model::Op::Dense(d) => d.weights.codes[index] = code,
        _ => panic!("node {node} has no weights"),
    }
    m
}

/// Verifies the mutant design folder `mutant` (then removes it), whose hardware now computes
/// `mutated`, twice: with every stream checked (`opts.0`) and with the outputs only (`opts.1`).
/// The reference says whether the mutation changes some intermediate value or some logit of
/// `images` (against `clean`, the original model's runs); the full check must fail exactly when
/// a value changes, naming a stream of `node`, and the outputs-only check exactly when a logit
/// changes. `label` names the mutation in failures. Returns (a value changed, it was caught
/// only with the streams checked).
fn judge(
    mutant: &std::path::Path,
    mutated: &QuantModel,
    node: usize,
    images: &[Vec<i64>],
    clean: &[inq_model::RunOutput],
    opts: &(VerifyOptions, VerifyOptions),
    label: &str,
) -> (bool, bool) {
    let r2 = Reference::new(mutated).unwrap();
    let (mut values, mut logits) = (false, false);
    for (x, c) in images.iter().zip(clean) {
        let o = r2.run(x).unwrap();
        values |= o.nodes != c.nodes;
        logits |= o.logits != c.logits;
    }
    let full = verify(mutant, images, &opts.0).unwrap();
    let outs = verify(mutant, images, &opts.1).unwrap();
    let _ = std::fs::remove_dir_all(mutant);
    let what = format!(
        "{label}: {:?} / {:?}",
        full.first_stream_mismatch, full.diagnosis
    );
    assert!(full.streams_checked && !outs.streams_checked);
    assert_eq!(outs.passed, !logits, "outputs only, {what}");
    assert_eq!(full.mismatch_count, outs.mismatch_count, "{what}");
    if !values {
        assert!(full.passed, "no value changes, yet: {what}");
        return (false, false);
    }
    assert!(!full.passed, "value-changing mutation missed: {what}");
    let bad = full.first_bad.as_ref().expect("a stream is named");
    assert_eq!(bad.node, Some(node), "{what}");
    if outs.passed {
        assert_eq!(full.mismatch_count, 0);
        assert!(full.stream_mismatches > 0);
    }
    (true, outs.passed)
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
    let opts = passing_options(&dir, &images, 5, shared_cache());

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
                let m2 = with_code(&model, node, index, new);
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
                let mutant = scratch(&format!("streams-mutant-{tried}"));
                copy_design(&dir, &mutant).unwrap();
                let hc =
                    corrupt_hex_word(&mutant, &format!("rtl/e{e}_w_pe{p}.hex"), addr, xor).unwrap();
                assert_eq!(
                    (hc.old >> (s as u32 * mvu.code_bits)) & ((1 << mvu.code_bits) - 1),
                    u64::from(w.codes[index]),
                    "ROM word {addr} of PE {p} holds the code"
                );
                let kind = if sign { "sign" } else { "exponent" };
                let label = format!("node {node} code {index} ({kind})");
                let (changed, streams_only) =
                    judge(&mutant, &m2, node, &images, &clean, &opts, &label);
                tried += 1;
                value_changing += usize::from(changed);
                caught += usize::from(changed);
                caught_by_streams_only += usize::from(streams_only);
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

/// A small model whose conv and dense layers are both hard-wired (`--unroll`): a 3×3 conv of 3
/// channels, a max pool and a dense layer of 4 outputs over the 27 pooled values.
fn hard_wired_model() -> QuantModel {
    model_of(6, vec![conv(3, 3, 1, 1), LayerSpec::MaxPool(2)], 4, 23)
}

/// The constants of a hard-wired engine are wiring in its module `rtl/inq_mvu_e<e>.v`: a
/// mutant is the design folder with only that module replaced by the one generated from the
/// model with one code changed (the same plan otherwise: the same pipeline registers and
/// widths, so no cycle changes), while `model.json` and the design in the manifest stay the
/// originals the reference and the simulator follow. Every non-zero constant of the conv
/// engine and a sample of the dense engine's, the sign bit and one exponent bit each.
#[test]
fn every_value_changing_constant_mutation_of_hard_wired_engines_is_caught() {
    require_verilator();
    let model = hard_wired_model();
    let unroll: Vec<String> = model
        .nodes
        .iter()
        .filter(|n| matches!(n.op, inq_model::Op::Conv(_) | inq_model::Op::Dense(_)))
        .map(|n| n.name.clone())
        .collect();
    let req = inq_hdl::FoldingRequest::Minimal;
    let design = inq_hdl::plan_unrolled(&model, &req, &unroll).expect("plan");
    assert!(
        design.mvu_engines().all(|(_, _, m)| m.is_constant()),
        "the test needs every MVU hard-wired"
    );
    let dir = generate(&model, &design, "streams-hard-wired");
    let images: Vec<Vec<i64>> = (0..8)
        .map(|i| inq_model::random::random_input(&model, 400 + i))
        .collect();
    let reference = Reference::new(&model).unwrap();
    let clean: Vec<_> = images.iter().map(|x| reference.run(x).unwrap()).collect();
    // each mutant is a new Verilator build: a cache of their own, removed at the end
    let cache = scratch("streams-hard-wired-cache");
    let opts = passing_options(&dir, &images, 7, cache.clone());

    let (mut tried, mut value_changing, mut caught, mut streams_only) = (0usize, 0, 0, 0);
    for (e, _, mvu) in design.mvu_engines() {
        let node = design.engines[e].node.expect("an MVU implements a node");
        let (w, every) = match &model.nodes[node].op {
            inq_model::Op::Conv(c) => (&c.weights, true),
            inq_model::Op::Dense(d) => (&d.weights, false),
            _ => unreachable!(),
        };
        let nonzero: Vec<usize> = (0..w.codes.len()).filter(|&i| w.codes[i] != 0).collect();
        let picked: Vec<usize> = if every {
            nonzero.clone()
        } else {
            (0..6).map(|j| nonzero[j * nonzero.len() / 6]).collect()
        };
        let module = format!("rtl/inq_mvu_e{e}.v");
        for index in picked {
            for sign in [true, false] {
                let Some(new) = flipped(w.codes[index], w.bits, sign, mvu.k_max) else {
                    continue;
                };
                let m2 = with_code(&model, node, index, new);
                // the original plan with engine e's codes taken from the mutated model's plan
                let d2 = inq_hdl::plan_unrolled(&m2, &req, &unroll).expect("plan mutant");
                let inq_hdl::EngineKind::Mvu(mvu2) = &d2.engines[e].kind else {
                    panic!("engine {e} is no longer an MVU");
                };
                let mut dm = design.clone();
                dm.model_hash = m2.hash();
                let inq_hdl::EngineKind::Mvu(mm) = &mut dm.engines[e].kind else {
                    unreachable!()
                };
                let changed = (0..mm.weights.len())
                    .filter(|&i| mm.weights[i] != mvu2.weights[i])
                    .count();
                assert_eq!(changed, 1, "one constant changes");
                mm.weights.clone_from(&mvu2.weights);
                let generated = generate(&m2, &dm, &format!("streams-hw-gen-{tried}"));
                let mutant = scratch(&format!("streams-hw-mutant-{tried}"));
                copy_design(&dir, &mutant).unwrap();
                let text = std::fs::read_to_string(generated.join(&module)).unwrap();
                let before = std::fs::read_to_string(dir.join(&module)).unwrap();
                assert_ne!(text, before, "the mutated module differs");
                let _ = std::fs::remove_dir_all(&generated);
                inq_testbenches::mutate::replace_once(&mutant, &module, &before, &text).unwrap();

                let kind = if sign { "sign" } else { "exponent" };
                let label = format!("engine {e} code {index} ({kind})");
                let (changed, only) = judge(&mutant, &m2, node, &images, &clean, &opts, &label);
                tried += 1;
                value_changing += usize::from(changed);
                caught += usize::from(changed);
                streams_only += usize::from(only);
            }
        }
    }
    println!(
        "hard-wired constants: caught {caught} of {value_changing} value-changing mutations \
         ({tried} tried); {streams_only} caught only with streams checked"
    );
    assert_eq!(caught, value_changing);
    assert!(value_changing > 20, "too few mutations changed a value");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&cache);
}
