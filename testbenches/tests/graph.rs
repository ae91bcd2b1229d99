//! Co-simulation of graph-shaped designs (forks, skip FIFOs, adders, GAP units, depthwise
//! MVUs): the integer reference, the cycle-accurate simulator and the RTL under Verilator agree
//! on every output word and its cycle, and on every tap stream (one per model node and the
//! input) beat for beat.
//!
//! * `random_dag_models_reference_sim_and_rtl_agree` — the property test: random residual
//!   topologies (identity and strided 1×1 projection shortcuts, depthwise convs, nested blocks,
//!   fan-out from the input, GAP over planes that are and are not powers of two), random
//!   foldings (minimal, lane budget, explicit PE/SIMD), skip FIFOs at the planner's rule depths
//!   or minimized by simulation, random stall rates, mid-run resets, weights and inputs.
//! * `residual_network_with_reset_and_stalls` — a small ResNet, mid-run reset, stalls.
//! * `corrupted_weight_in_a_residual_block_is_localized` /
//!   `corrupted_add_constant_is_localized_to_the_add` — mutations named at the right stream.
//!
//! **Verilator builds.** A build is cached by the RTL's text, and ROM contents are not part of
//! it. The property test therefore draws the hardware (topology × folding × FIFO sizing) from a
//! fixed pool of [`TOPOLOGIES`] × [`FOLDINGS`] random designs, each generated from its own seed,
//! and varies freely what does not change the RTL: weights (permuted and sign-flipped within
//! each channel, [`common::reshuffle_weights`], which keeps every width and shift), inputs,
//! stall rates and seeds, the reset point. With a warm cache a case costs about a second; a
//! cold cache builds each pool entry once (~20 s each on 2 cores).

mod common;

use common::{
    cosim, divisor, fold_at, has_constant_weights, mvu_nodes, require_verilator, reshuffle_weights,
    Drive,
};
use inq_hdl::{Design, FoldingRequest};
use inq_model::random::{build, random_input, LayerSpec, RandomSpec, SplitMix64};
use inq_model::{ActFormat, Op, QuantModel};
use inq_testbenches::mutate::{copy_design, corrupt_hex_word, replace_once};
use inq_testbenches::verify;
use proptest::prelude::*;

/// Seeds the pool's topologies (chosen so that the pool has every feature, see
/// `topology_pool_covers_the_graph_features`).
const SEED_BASE: u64 = 1;
/// Random topologies in the property test's pool.
const TOPOLOGIES: u64 = 4;
/// Foldings per topology: minimal, a lane budget, explicit PE/SIMD.
const FOLDINGS: u64 = 3;

fn u8_input() -> ActFormat {
    ActFormat {
        bits: 8,
        signed: false,
        exp: -8,
    }
}

/// A conv with 4-bit codes and 6-bit activations.
fn conv(out: usize, k: usize, stride: usize, pad: usize, relu: bool) -> LayerSpec {
    LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 6,
        relu,
        per_channel: true,
    }
}

fn dense(out: usize) -> LayerSpec {
    LayerSpec::Dense {
        out,
        bits: 5,
        act_bits: 8,
        relu: false,
        per_channel: true,
    }
}

fn residual(main: Vec<LayerSpec>, shortcut: Vec<LayerSpec>, relu: bool) -> LayerSpec {
    LayerSpec::Residual {
        main,
        shortcut,
        act_bits: 6,
        relu,
    }
}

/// What a random topology contains (for the pool's coverage check).
#[derive(Debug, Default, Clone, Copy)]
struct Features {
    input_fanout: bool,
    identity: bool,
    strided_projection: bool,
    depthwise: bool,
    nested: bool,
    gap_pow2: bool,
    gap_not_pow2: bool,
}

impl Features {
    fn or(self, o: Features) -> Features {
        Features {
            input_fanout: self.input_fanout || o.input_fanout,
            identity: self.identity || o.identity,
            strided_projection: self.strided_projection || o.strided_projection,
            depthwise: self.depthwise || o.depthwise,
            nested: self.nested || o.nested,
            gap_pow2: self.gap_pow2 || o.gap_pow2,
            gap_not_pow2: self.gap_not_pow2 || o.gap_not_pow2,
        }
    }
}

fn pick<T: Copy>(r: &mut SplitMix64, v: &[T]) -> T {
    v[r.range(0, v.len() as i64 - 1) as usize]
}

/// A conv with random code and activation widths.
fn rconv(
    r: &mut SplitMix64,
    out: usize,
    k: usize,
    stride: usize,
    pad: usize,
    relu: bool,
) -> LayerSpec {
    LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: r.range(3, 6) as u32,
        act_bits: r.range(4, 8) as u32,
        relu,
        per_channel: r.range(0, 3) != 0,
    }
}

/// A depthwise conv with random code and activation widths.
fn rdepthwise(r: &mut SplitMix64, stride: usize, relu: bool) -> LayerSpec {
    LayerSpec::Depthwise {
        k: 3,
        stride,
        pad: 1,
        bits: r.range(3, 6) as u32,
        act_bits: r.range(4, 8) as u32,
        relu,
    }
}

/// A residual block with a random output width and ReLU or not.
fn rresidual(r: &mut SplitMix64, main: Vec<LayerSpec>, shortcut: Vec<LayerSpec>) -> LayerSpec {
    LayerSpec::Residual {
        main,
        shortcut,
        act_bits: r.range(5, 8) as u32,
        relu: r.range(0, 3) != 0,
    }
}

/// Random topology `t` of the pool: an optional stem conv (without it the first block forks
/// the model input), one or two residual blocks of random kinds (identity, projection with
/// stride 1 or 2, depthwise-separable main path, nested block) and widths, and a tail of GAP
/// or max pooling, flatten and a dense layer.
fn topology(t: u64) -> (RandomSpec, Features) {
    topology_from(SEED_BASE, t)
}

fn topology_from(base: u64, t: u64) -> (RandomSpec, Features) {
    let mut r = SplitMix64(base + 7919 * t);
    let mut f = Features::default();
    let (h, w) = (r.range(4, 8) as usize, r.range(4, 8) as usize);
    let input_format = if r.range(0, 2) == 0 {
        ActFormat {
            bits: 6,
            signed: true,
            exp: -4,
        }
    } else {
        u8_input()
    };
    let c_in = r.range(1, 3) as usize;
    let mut ch = c_in;
    let (mut hh, mut ww) = (h, w);
    let mut layers = Vec::new();
    if r.range(0, 2) == 0 {
        f.input_fanout = true;
    } else {
        ch = pick(&mut r, &[2, 3, 4]);
        layers.push(rconv(&mut r, ch, 3, 1, 1, true));
    }
    let blocks = r.range(1, 2);
    for b in 0..blocks {
        let s = if hh >= 3 && ww >= 3 {
            pick(&mut r, &[1, 2])
        } else {
            1
        };
        // the first block's kind cycles through the four, so the pool has each
        let kind = if b == 0 {
            (t % 4) as i64
        } else {
            r.range(0, 3)
        };
        let block = match kind {
            0 => {
                f.identity = true;
                let main = if r.range(0, 1) == 0 {
                    vec![
                        rconv(&mut r, ch, 3, 1, 1, true),
                        rconv(&mut r, ch, 3, 1, 1, false),
                    ]
                } else {
                    vec![rconv(&mut r, ch, 3, 1, 1, false)]
                };
                rresidual(&mut r, main, vec![])
            }
            1 => {
                let out = pick(&mut r, &[ch + 1, 2 * ch]);
                f.strided_projection |= s == 2;
                hh = hh.div_ceil(s);
                ww = ww.div_ceil(s);
                ch = out;
                let main = vec![
                    rconv(&mut r, out, 3, s, 1, true),
                    rconv(&mut r, out, 3, 1, 1, false),
                ];
                let shortcut = vec![rconv(&mut r, out, 1, s, 0, false)];
                rresidual(&mut r, main, shortcut)
            }
            2 => {
                f.depthwise = true;
                let shortcut = if s == 1 {
                    f.identity = true;
                    vec![]
                } else {
                    f.strided_projection = true;
                    vec![rconv(&mut r, ch, 1, s, 0, false)]
                };
                hh = hh.div_ceil(s);
                ww = ww.div_ceil(s);
                let main = vec![
                    rdepthwise(&mut r, s, true),
                    rconv(&mut r, ch, 1, 1, 0, false),
                ];
                rresidual(&mut r, main, shortcut)
            }
            _ => {
                f.nested = true;
                f.identity = true;
                let inner = if r.range(0, 1) == 0 {
                    f.depthwise = true;
                    rdepthwise(&mut r, 1, false)
                } else {
                    rconv(&mut r, ch, 3, 1, 1, false)
                };
                let inner = rresidual(&mut r, vec![inner], vec![]);
                let main = vec![rconv(&mut r, ch, 3, 1, 1, true), inner];
                rresidual(&mut r, main, vec![])
            }
        };
        layers.push(block);
    }
    if r.range(0, 2) != 0 {
        if (hh * ww).is_power_of_two() {
            f.gap_pow2 = true;
        } else {
            f.gap_not_pow2 = true;
        }
        layers.push(LayerSpec::GlobalAvgPool);
    } else if hh >= 2 && ww >= 2 {
        layers.push(LayerSpec::MaxPool(2));
    }
    layers.push(LayerSpec::Flatten);
    layers.push(dense(r.range(2, 5) as usize));
    (
        RandomSpec {
            input: [c_in, h, w],
            input_format,
            layers,
        },
        f,
    )
}

/// The pool's design `(t, f)`: its base model (fixed weights) and folding request, and
/// whether its skip FIFOs are minimized by simulation (else the planner's rule depths).
fn pool_entry(t: u64, f: u64) -> (QuantModel, FoldingRequest, bool) {
    let (spec, _) = topology(t);
    let mut model = build(&spec, 0x7E57 + t).expect("a valid random DAG model");
    // the name is in the RTL's header: one per topology, whatever the weights
    model.name = format!("dag{t}");
    let mut r = SplitMix64(0xF0_1D + 16 * t + f);
    let req = match f {
        0 => FoldingRequest::Minimal,
        1 => FoldingRequest::LaneBudget(r.range(6, 40) as usize),
        _ => {
            let entries: Vec<(usize, usize, usize)> = mvu_nodes(&model)
                .into_iter()
                .map(|(i, oc, c, dw)| {
                    let pe = divisor(oc, r.range(1, 4) as usize);
                    let simd = if dw {
                        1
                    } else {
                        divisor(c, r.range(1, 4) as usize)
                    };
                    (i, pe, simd)
                })
                .collect();
            fold_at(&entries)
        }
    };
    (model, req, (t + f) % 2 == 1)
}

/// Plans `model` with `req`, minimizing the skip FIFOs if asked.
fn plan(model: &QuantModel, req: &FoldingRequest, minimize: bool) -> Design {
    let design = inq_hdl::plan(model, req).expect("plan");
    if minimize {
        inq_sim::minimize_skip_fifos(&design, 4)
            .expect("skip-FIFO sizing")
            .0
    } else {
        design
    }
}

#[test]
fn topology_pool_covers_the_graph_features() {
    let mut all = Features::default();
    for t in 0..TOPOLOGIES {
        let (spec, f) = topology(t);
        all = all.or(f);
        for k in 0..FOLDINGS {
            let (model, req, minimize) = pool_entry(t, k);
            let g = model.graph().expect("graph");
            assert_eq!(
                g.input_uses.len() > 1,
                f.input_fanout,
                "topology {t}: {spec:?}"
            );
            let design = plan(&model, &req, minimize);
            assert!(
                design.streams.iter().any(|s| s.skip),
                "topology {t} has a skip stream"
            );
        }
    }
    let Features {
        input_fanout,
        identity,
        strided_projection,
        depthwise,
        nested,
        gap_pow2,
        gap_not_pow2,
    } = all;
    assert!(
        input_fanout
            && identity
            && strided_projection
            && depthwise
            && nested
            && gap_pow2
            && gap_not_pow2,
        "the pool misses a feature: {all:?}"
    );
}

proptest! {
    // Verilator builds are cached per RTL: the hardware comes from the pool (at most
    // TOPOLOGIES × FOLDINGS builds ever), everything else varies freely. Shrinking moves
    // through the pool too, so it is kept short.
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 8, .. ProptestConfig::default() })]

    #[test]
    fn random_dag_models_reference_sim_and_rtl_agree(
        t in 0..TOPOLOGIES,
        f in 0..FOLDINGS,
        weights in any::<u64>(),
        inputs in any::<u64>(),
        stall in prop_oneof![Just(0.0), 0.05..0.6f64],
        seed in any::<u64>(),
        reset in prop_oneof![3 => Just(None), 1 => Just(Some(2usize))],
    ) {
        require_verilator();
        let (base, req, minimize) = pool_entry(t, f);
        let base_design = plan(&base, &req, minimize);
        // constant-weight engines carry their weights in the RTL: keep the pool's weights
        let model = if has_constant_weights(&base_design) {
            base.clone()
        } else {
            reshuffle_weights(&base, weights)
        };
        let design = plan(&model, &req, minimize);
        let name = format!("dag-{t}-{f}-{weights:x}");
        let dir = common::generate(&model, &design, &name);
        // the RTL is the pool entry's: this case reuses its Verilator build
        let base_dir = common::generate(&base, &base_design, &format!("{name}-base"));
        let key = |d: &std::path::Path| {
            inq_testbenches::verilator::cache_key(&inq_testbenches::DesignFolder::load(d).unwrap(), false, None).unwrap()
        };
        prop_assert_eq!(key(&dir), key(&base_dir), "weights changed the RTL of pool entry ({}, {})", t, f);
        let _ = std::fs::remove_dir_all(&base_dir);
        let images: Vec<Vec<i64>> = (0..5).map(|i| random_input(&model, inputs.wrapping_add(i))).collect();
        let drive = Drive { stall_rate: stall, seed, reset_after: reset, taps: true };
        let result = cosim(&dir, &design, &model, &images, &drive);
        let _ = std::fs::remove_dir_all(&dir);
        prop_assert!(
            result.is_ok(),
            "pool entry ({}, {}) {:?}, weights {:#x}, inputs {:#x}, {:?}: {}",
            t, f, req, weights, inputs, drive, result.err().unwrap_or_default()
        );
    }
}

/// A small ResNet: stem conv 4; identity block (two 3×3 convs); block with a stride-2 main path
/// and a strided 1×1 projection shortcut (8 channels); GAP over 4×4; dense 5.
fn small_resnet(seed: u64) -> QuantModel {
    let spec = RandomSpec {
        input: [2, 8, 8],
        input_format: u8_input(),
        layers: vec![
            conv(4, 3, 1, 1, true),
            residual(
                vec![conv(4, 3, 1, 1, true), conv(4, 3, 1, 1, false)],
                vec![],
                true,
            ),
            residual(
                vec![conv(8, 3, 2, 1, true), conv(8, 3, 1, 1, false)],
                vec![conv(8, 1, 2, 0, false)],
                true,
            ),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            dense(5),
        ],
    };
    let mut m = build(&spec, seed).expect("valid small ResNet");
    m.name = "small_resnet".into();
    m
}

/// The small ResNet's design: a lane budget, skip FIFOs minimized by simulation.
fn small_resnet_design(model: &QuantModel) -> Design {
    plan(model, &FoldingRequest::LaneBudget(24), true)
}

#[test]
fn residual_network_with_reset_and_stalls() {
    require_verilator();
    let model = small_resnet(31);
    let design = small_resnet_design(&model);
    assert_eq!(
        design.engines.iter().filter(|e| e.op == "add").count(),
        2,
        "two adders"
    );
    assert!(design.streams.iter().any(|s| s.skip));
    let dir = common::generate(&model, &design, "small-resnet-reset");
    let images: Vec<Vec<i64>> = (0..10).map(|i| random_input(&model, 500 + i)).collect();
    for (rate, seed, reset) in [(0.0, 1, Some(4)), (0.3, 7, Some(3)), (0.5, 8, None)] {
        let drive = Drive {
            stall_rate: rate,
            seed,
            reset_after: reset,
            taps: true,
        };
        let a = cosim(&dir, &design, &model, &images, &drive)
            .unwrap_or_else(|e| panic!("stall rate {rate}, reset {reset:?}: {e}"));
        assert_eq!(a.rtl.outputs.len(), 10 * 5);
        if let Some(k) = reset {
            assert_eq!(a.rtl.resets.len(), 1);
            assert_eq!(a.rtl.resets[0].restart_image, k);
            // the restarted images are fed again after the reset
            let restart = a
                .rtl
                .input_starts
                .iter()
                .rev()
                .find(|s| s.image == k)
                .unwrap();
            assert!(restart.cycle >= a.rtl.resets[0].first_cycle);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The nodes of the small ResNet's projection block: `(main-path output conv, projection
/// conv, add)`.
fn projection_block(model: &QuantModel) -> (usize, usize, usize) {
    let add = model
        .nodes
        .iter()
        .rposition(|n| matches!(n.op, Op::Add(_)))
        .expect("an add");
    let inputs: Vec<usize> = model.nodes[add]
        .inputs
        .iter()
        .map(|x| model.node_index(x).expect("node input"))
        .collect();
    let is_projection = |i: usize| matches!(&model.nodes[i].op, Op::Conv(c) if c.kernel == [1, 1] && c.stride == [2, 2]);
    let proj = *inputs
        .iter()
        .find(|&&i| is_projection(i))
        .expect("projection");
    let main = *inputs
        .iter()
        .find(|&&i| !is_projection(i))
        .expect("main path");
    (main, proj, add)
}

/// A corruption of one weight of node `node` (a conv, not depthwise) that shows in the logits
/// of `images`: lane 0 of some word of PE 0's ROM (`rtl/e<e>_w_pe0.hex`) turned into another
/// valid code (a non-zero weight changes sign, a zero one becomes `+2^n2`). Returns the hex
/// file, the word, the XOR mask and the model index of the weight.
fn observable_corruption(
    model: &QuantModel,
    design: &Design,
    node: usize,
    images: &[Vec<i64>],
) -> (String, usize, u64, usize) {
    let e = design
        .engines
        .iter()
        .position(|e| e.node == Some(node))
        .expect("the node's engine");
    let inq_hdl::EngineKind::Mvu(m) = &design.engines[e].kind else {
        panic!("node {node} has no MVU");
    };
    assert!(!m.depthwise && !m.is_constant(), "a ROM of a plain conv");
    let g = &m.geom;
    let reference = inq_model::Reference::new(model).unwrap();
    let clean: Vec<Vec<i64>> = images
        .iter()
        .map(|x| reference.run(x).unwrap().logits)
        .collect();
    for word in 0..m.nf * m.sf {
        // PE 0, neuron fold nf, synapse fold sf, lane 0: W[o][j] (docs/hardware.md §4)
        let (o, j) = (word / m.sf * m.pe, word % m.sf * m.simd);
        let (c, ky, kx) = (j % g.c, j / g.c / g.kw, j / g.c % g.kw);
        let index = ((o * g.c + c) * g.kh + ky) * g.kw + kx;
        let mut mutated = model.clone();
        let Op::Conv(cv) = &mut mutated.nodes[node].op else {
            panic!("node {node} is not a conv");
        };
        let b = cv.weights.bits;
        let code = cv.weights.codes[index];
        assert_eq!(code, m.weights[word * m.simd], "ROM layout");
        let mask: u8 = if code != 0 {
            1 << (b - 2)
        } else {
            1 << (b - 1)
        };
        cv.weights.codes[index] ^= mask;
        let r = inq_model::Reference::new(&mutated).unwrap();
        if images
            .iter()
            .zip(&clean)
            .any(|(x, l)| &r.run(x).unwrap().logits != l)
        {
            return (format!("rtl/e{e}_w_pe0.hex"), word, u64::from(mask), index);
        }
    }
    panic!("no single-weight corruption of node {node} shows in the logits of the test images");
}

#[test]
fn corrupted_weight_in_a_residual_block_is_localized() {
    require_verilator();
    let model = small_resnet(31);
    let design = small_resnet_design(&model);
    let dir = common::generate(&model, &design, "small-resnet-mutate");
    let images: Vec<Vec<i64>> = (0..10).map(|i| random_input(&model, 700 + i)).collect();
    let (main, proj, add) = projection_block(&model);
    for (what, node) in [("projection shortcut", proj), ("main path", main)] {
        let (hex, word, mask, _) = observable_corruption(&model, &design, node, &images);
        let mutant = common::scratch(&format!("small-resnet-mutant-{node}"));
        copy_design(&dir, &mutant).unwrap();
        corrupt_hex_word(&mutant, &hex, word, mask).unwrap();
        let v = verify(
            &mutant,
            &images,
            &inq_testbenches::VerifyOptions {
                stall_rate: 0.2,
                seed: 3,
                ..common::opts()
            },
        )
        .expect("the mutant runs");
        assert!(!v.passed, "a corrupted {what} weight went unnoticed");
        let bad = v
            .first_bad
            .clone()
            .expect("a first differing stream is named");
        assert_eq!(
            bad.node,
            Some(node),
            "the corruption is in the {what} conv (node {node}), not the add (node {add}): {:?}",
            v.diagnosis
        );
        assert_eq!(bad.stream, design.taps[bad.tap].stream);
        assert_eq!(design.taps[bad.tap].node, Some(node));
        assert!(bad.actual != Some(bad.expected));
        let text = v.diagnosis.unwrap();
        assert!(text.contains(&format!("node {node} `")), "{text}");
        let _ = std::fs::remove_dir_all(&mutant);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupted_add_constant_is_localized_to_the_add() {
    require_verilator();
    let model = small_resnet(31);
    let design = small_resnet_design(&model);
    let dir = common::generate(&model, &design, "small-resnet-add-mutant");
    let (_, _, add) = projection_block(&model);
    let e = design
        .engines
        .iter()
        .position(|x| x.node == Some(add))
        .unwrap();
    // the adder's requantization shift R one bit larger: the sums come out halved
    let top = std::fs::read_to_string(dir.join("rtl/inq_top.v")).unwrap();
    let inst = top
        .find(&format!(") u_e{e}_"))
        .expect("the adder's instance");
    let params = &top[top[..inst].rfind("inq_add #(").expect("inq_add")..inst];
    let r_at = params.find(".R(").expect("parameter R");
    let r_val: i64 = params[r_at + 3..]
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let to = params.replacen(&format!(".R({r_val})"), &format!(".R({})", r_val + 1), 1);
    replace_once(&dir, "rtl/inq_top.v", params, &to).unwrap();
    let images: Vec<Vec<i64>> = (0..6).map(|i| random_input(&model, 900 + i)).collect();
    let v = verify(&dir, &images, &common::opts()).expect("the mutant runs");
    assert!(!v.passed, "a corrupted adder shift went unnoticed");
    let bad = v
        .first_bad
        .clone()
        .expect("a first differing stream is named");
    assert_eq!(bad.node, Some(add), "{:?}", v.diagnosis);
    assert!(v.diagnosis.unwrap().contains("(add)"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Wide beats in a graph (`docs/hardware.md` §2.1): a stem conv, a projection block and a 1×1
/// conv, every conv ROM-fed at `SIMD = C`, with the widest beats (`inq_hdl::widen_beats`): the
/// stem's results leave two per beat, the fork copies the beats into the two ROM-fed convs of
/// the block, which write them into their lane banks, the adder adds two lanes per beat, and
/// the GAP unit sums two channels per beat.
/// Reference, simulator and RTL agree on every word, cycle and tap, with stalls and a mid-run
/// reset, with the skip FIFO minimized in beats.
#[test]
fn wide_beats_through_a_fork_into_rom_fed_engines() {
    require_verilator();
    let spec = RandomSpec {
        input: [2, 8, 8],
        input_format: u8_input(),
        layers: vec![
            conv(4, 3, 1, 1, true),
            residual(
                vec![conv(8, 3, 2, 1, true), conv(8, 3, 1, 1, false)],
                vec![conv(8, 1, 2, 0, false)],
                true,
            ),
            conv(4, 1, 1, 0, true),
            LayerSpec::GlobalAvgPool,
            LayerSpec::Flatten,
            dense(5),
        ],
    };
    let model = build(&spec, 33).expect("valid model");
    let entries: Vec<(usize, usize, usize)> = mvu_nodes(&model)
        .into_iter()
        .map(|(i, oc, ic, dw)| (i, divisor(oc, 2), if dw { 1 } else { ic }))
        .collect();
    let mut planned = plan(&model, &fold_at(&entries), false);
    let wide = inq_hdl::widen_beats(&mut planned);
    // then the same with registered schedule flags and datapath registers in every ROM-fed
    // engine (the wide ROM variant's `hq` holds a beat of KO words; docs/hardware.md §4), and
    // with read, weight and datapath registers (the banks read in front of the lanes, the
    // ROMs a fold ahead)
    let regs = |sched, read| common::RomRegs {
        sched,
        data: true,
        read,
        weight: read,
        hs: read,
    };
    for regs in [None, Some(regs(true, false)), Some(regs(false, true))] {
        let mut design = planned.clone();
        if let Some(r) = regs {
            assert!(common::with_rom_regs(&mut design, r) > 0);
        }
        check_wide_rom_fed(&model, design, regs, &wide);
    }
}

/// [`wide_beats_through_a_fork_into_rom_fed_engines`] for one design: its skip FIFOs sized,
/// its wide engines checked, then co-simulated with stalls and a reset.
fn check_wide_rom_fed(
    model: &QuantModel,
    design: Design,
    regs: Option<common::RomRegs>,
    wide: &[inq_hdl::StreamBeat],
) {
    let design = inq_sim::minimize_skip_fifos(&design, 4)
        .expect("skip-FIFO sizing")
        .0;
    let fork_wide = design
        .engines
        .iter()
        .any(|e| matches!(&e.kind, inq_hdl::EngineKind::Fork(f) if f.beat > 1));
    let rom_wide = design.engines.iter().any(
        |e| matches!(&e.kind, inq_hdl::EngineKind::Mvu(m) if !m.is_constant() && m.in_beat > 1),
    );
    let add_wide = design
        .engines
        .iter()
        .any(|e| matches!(&e.kind, inq_hdl::EngineKind::Add(a) if a.beat > 1));
    let gap_wide = design
        .engines
        .iter()
        .any(|e| matches!(&e.kind, inq_hdl::EngineKind::Gap(g) if g.beat > 1));
    assert!(fork_wide && rom_wide && add_wide && gap_wide, "{wide:?}");
    let dir = common::generate(
        model,
        &design,
        &format!(
            "small-resnet-wide-{}",
            regs.map_or_else(|| "none".to_string(), |r| r.to_string())
        ),
    );
    let images: Vec<Vec<i64>> = (0..8).map(|i| random_input(model, 900 + i)).collect();
    for (rate, seed, reset) in [(0.0, 1, None), (0.3, 5, Some(3))] {
        let drive = Drive {
            stall_rate: rate,
            seed,
            reset_after: reset,
            taps: true,
        };
        cosim(&dir, &design, model, &images, &drive).unwrap_or_else(|e| {
            panic!("registers {regs:?}, stall rate {rate}, reset {reset:?}: {e}")
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}
