//! Shared helpers of the codegen tests: model builders, tool detection, design generation.
#![allow(dead_code)]

use inq_design::Manifest;
use inq_model::numerics::{self, Weight};
use inq_model::ops;
use inq_model::{ActFormat, InputSpec, Op, Output, QuantModel, WeightTensor, DEFAULT_INPUT_NAME};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

pub fn codes(rng: &mut Rng, n: usize, bits: u32, zero_pct: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            if rng.below(100) < zero_pct {
                0
            } else {
                numerics::encode(
                    Weight::Pow2 {
                        negative: rng.below(2) == 1,
                        index: rng.below(u64::from(numerics::levels(bits))) as u32,
                    },
                    bits,
                )
            }
        })
        .collect()
}

pub fn act(bits: u32, signed: bool, exp: i32) -> ActFormat {
    ActFormat { bits, signed, exp }
}

/// A model input called `input`.
pub fn input(shape: [usize; 3], format: ActFormat) -> InputSpec {
    InputSpec {
        name: DEFAULT_INPUT_NAME.to_string(),
        shape,
        format,
        mapping: String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
pub fn conv(
    rng: &mut Rng,
    name: &str,
    ic: usize,
    oc: usize,
    k: usize,
    stride: usize,
    pad: [usize; 4],
    pad_value: i64,
    bits: u32,
    n1: Vec<i32>,
    relu: bool,
    output: Output,
) -> (String, Op) {
    let n = oc * ic * k * k;
    let op = Op::Conv(ops::Conv {
        in_channels: ic,
        out_channels: oc,
        kernel: [k, k],
        stride: [stride, stride],
        pad,
        pad_value,
        group: 1,
        weights: WeightTensor {
            kind: Default::default(),
            bits,
            n1,
            codes: codes(rng, n, bits, 30),
        },
        bias: (0..oc).map(|_| rng.range(-300, 300)).collect(),
        relu,
        output,
    });
    (name.into(), op)
}

#[allow(clippy::too_many_arguments)]
pub fn dense(
    rng: &mut Rng,
    name: &str,
    inf: usize,
    outf: usize,
    bits: u32,
    n1: Vec<i32>,
    relu: bool,
    output: Output,
) -> (String, Op) {
    let op = Op::Dense(ops::Dense {
        in_features: inf,
        out_features: outf,
        weights: WeightTensor {
            kind: Default::default(),
            bits,
            n1,
            codes: codes(rng, inf * outf, bits, 30),
        },
        bias: (0..outf).map(|_| rng.range(-500, 500)).collect(),
        relu,
        output,
    });
    (name.into(), op)
}

pub fn window(k: usize, stride: usize) -> ops::Window {
    ops::Window {
        kernel: [k, k],
        stride: [stride, stride],
    }
}

pub fn max_pool(name: &str, k: usize) -> (String, Op) {
    (name.into(), Op::MaxPool(ops::MaxPool(window(k, k))))
}

pub fn flatten(name: &str) -> (String, Op) {
    (name.into(), Op::Flatten(ops::Flatten {}))
}

/// conv 1→2 3×3 pad 1 on 8×8 (u8), maxpool 2, flatten, dense 32→3 logits.
pub fn tiny_model(seed: u64) -> QuantModel {
    let mut r = Rng::new(seed);
    let nodes = vec![
        conv(
            &mut r,
            "conv1",
            1,
            2,
            3,
            1,
            [1, 1, 1, 1],
            0,
            4,
            vec![-1, 0],
            true,
            Output::from_act(act(8, false, -5)),
        ),
        max_pool("pool1", 2),
        flatten("flatten"),
        dense(
            &mut r,
            "fc",
            32,
            3,
            5,
            vec![-1, -2, 0],
            false,
            Output::Logits,
        ),
    ];
    QuantModel::chain("tiny", input([1, 8, 8], act(8, false, -8)), nodes)
}

/// Signed activations, stride 2, asymmetric padding with a pad value, average pooling, global
/// average pooling, a dense chain. Folding given separately.
pub fn mixed_model(seed: u64) -> QuantModel {
    let mut r = Rng::new(seed);
    let nodes = vec![
        conv(
            &mut r,
            "c1 stride2",
            2,
            4,
            3,
            2,
            [1, 1, 0, 0],
            -3,
            4,
            vec![-1],
            false,
            Output::from_act(act(6, true, -4)),
        ),
        // [4,3,3]
        conv(
            &mut r,
            "c2",
            4,
            4,
            2,
            1,
            [0, 0, 1, 1],
            0,
            3,
            vec![-1, -2, -1, 0],
            false,
            Output::from_act(act(7, true, -4)),
        ),
        // [4,3,3] -> 2×2 average pool with stride 1
        ("ap".into(), Op::AvgPool(ops::AvgPool(window(2, 1)))),
        // [4,2,2]
        ("gap".into(), Op::GlobalAvgPool(ops::GlobalAvgPool {})),
        flatten("flat"),
        dense(
            &mut r,
            "d1",
            4,
            6,
            4,
            vec![0],
            true,
            Output::from_act(act(5, false, -3)),
        ),
        dense(&mut r, "d2", 6, 5, 2, vec![-1], false, Output::Logits),
    ];
    QuantModel::chain("mixed", input([2, 6, 6], act(8, true, -7)), nodes)
}

/// The LeNet-shaped model of the brief.
pub fn lenet_model(seed: u64) -> QuantModel {
    let mut r = Rng::new(seed);
    let nodes = vec![
        conv(
            &mut r,
            "conv1",
            1,
            16,
            3,
            1,
            [1; 4],
            0,
            5,
            vec![-1],
            true,
            Output::from_act(act(8, false, -4)),
        ),
        max_pool("pool1", 2),
        conv(
            &mut r,
            "conv2",
            16,
            32,
            3,
            1,
            [1; 4],
            0,
            5,
            vec![-2],
            true,
            Output::from_act(act(8, false, -4)),
        ),
        max_pool("pool2", 2),
        flatten("flatten"),
        dense(
            &mut r,
            "fc1",
            1568,
            128,
            5,
            vec![-4],
            true,
            Output::from_act(act(8, false, -3)),
        ),
        dense(&mut r, "fc2", 128, 10, 5, vec![-2], false, Output::Logits),
    ];
    QuantModel::chain("lenet", input([1, 28, 28], act(8, false, -8)), nodes)
}

/// A small residual network (`inq_model::random`): conv 3×3 → residual block (depthwise 3×3,
/// 1×1 conv; identity shortcut) → residual block with a stride-2 main path (3×3 conv) and a
/// stride-2 1×1 projection shortcut → global average pooling over a 3×3 plane (9 elements,
/// not a power of two) → flatten → dense logits. Node names `l0`, `l1`, ... in build order.
pub fn residual_model(seed: u64) -> QuantModel {
    use inq_model::random::{build, LayerSpec, RandomSpec};
    let conv = |out, k, stride, pad, relu| LayerSpec::Conv {
        out,
        k,
        stride,
        pad,
        bits: 4,
        act_bits: 6,
        relu,
        per_channel: true,
    };
    let spec = RandomSpec {
        input: [2, 6, 6],
        input_format: act(8, false, -8),
        layers: vec![
            conv(4, 3, 1, 1, true),
            LayerSpec::Residual {
                main: vec![
                    LayerSpec::Depthwise {
                        k: 3,
                        stride: 1,
                        pad: 1,
                        bits: 4,
                        act_bits: 6,
                        relu: true,
                    },
                    conv(4, 1, 1, 0, false),
                ],
                shortcut: vec![],
                act_bits: 6,
                relu: true,
            },
            LayerSpec::Residual {
                main: vec![conv(6, 3, 2, 1, true), conv(6, 1, 1, 0, false)],
                shortcut: vec![conv(6, 1, 2, 0, false)],
                act_bits: 7,
                relu: true,
            },
            LayerSpec::GlobalAvgPool,
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
    let mut m = build(&spec, seed).expect("residual model");
    m.name = "residual".into();
    m
}

/// For wide beats (`docs/hardware.md` §2): conv c1 2→4 3×3 pad 1 on 8×8 (signed input), 2×2
/// max pool p1, conv c2 4→6 3×3 pad 1 with a pad value, 2×2 average pool p2, flatten, dense fc
/// 24→3 logits; [`WIDE_UNROLL`] hard-wires the three MVUs and [`WIDE_BEATS`] gives the beats.
pub fn wide_model(seed: u64) -> QuantModel {
    let mut r = Rng::new(seed);
    let nodes = vec![
        conv(
            &mut r,
            "c1",
            2,
            4,
            3,
            1,
            [1, 1, 1, 1],
            0,
            4,
            vec![-1, -2, -1, 0],
            true,
            Output::from_act(act(6, false, -4)),
        ),
        max_pool("p1", 2),
        conv(
            &mut r,
            "c2",
            4,
            6,
            3,
            1,
            [1, 1, 1, 1],
            2,
            3,
            vec![-1],
            false,
            Output::from_act(act(7, true, -4)),
        ),
        ("p2".into(), Op::AvgPool(ops::AvgPool(window(2, 2)))),
        flatten("flat"),
        dense(&mut r, "fc", 24, 3, 4, vec![-2], false, Output::Logits),
    ];
    QuantModel::chain("wide", input([2, 8, 8], act(8, true, -7)), nodes)
}

/// The layers of [`wide_model`] that are hard-wired.
pub const WIDE_UNROLL: [&str; 3] = ["c1", "c2", "fc"];

/// Elements per beat of [`wide_model`]'s engines, `(name, in, out)`: c1 1→2, p1 2, c2 2→3,
/// p2 3, fc 3→1 (the input port and the output stage take one element per beat).
pub const WIDE_BEATS: [(&str, usize, usize); 5] = [
    ("c1", 1, 2),
    ("p1", 2, 2),
    ("c2", 2, 3),
    ("p2", 3, 3),
    ("fc", 3, 1),
];

/// For wide beats through line-buffered pools (`docs/hardware.md` §5): conv c1 2→4 3×3 pad 1
/// on 15×15 (signed input), 3×3 stride 2 max pool p1 (a copy of the buffer per tap) to 7×7,
/// conv c2 4→6 3×3 pad 1 with signed outputs, 2×2 stride 1 average pool p2 (of signed values)
/// to 6×6, 2×2 stride 4 max pool p3 (a banked buffer) to 2×2, flatten, dense fc 24→3 logits;
/// [`OVERLAP_UNROLL`] hard-wires the three MVUs. Every window ends on the map's last row and
/// column, so the last logit of an image needs every element of every stream.
pub fn overlap_model(seed: u64) -> QuantModel {
    let mut r = Rng::new(seed);
    let nodes = vec![
        conv(
            &mut r,
            "c1",
            2,
            4,
            3,
            1,
            [1, 1, 1, 1],
            0,
            4,
            vec![-1, -2, -1, 0],
            true,
            Output::from_act(act(6, false, -4)),
        ),
        ("p1".into(), Op::MaxPool(ops::MaxPool(window(3, 2)))),
        conv(
            &mut r,
            "c2",
            4,
            6,
            3,
            1,
            [1, 1, 1, 1],
            2,
            3,
            vec![-1],
            false,
            Output::from_act(act(7, true, -4)),
        ),
        ("p2".into(), Op::AvgPool(ops::AvgPool(window(2, 1)))),
        ("p3".into(), Op::MaxPool(ops::MaxPool(window(2, 4)))),
        flatten("flat"),
        dense(&mut r, "fc", 24, 3, 4, vec![-2], false, Output::Logits),
    ];
    QuantModel::chain("overlap", input([2, 15, 15], act(8, true, -7)), nodes)
}

/// The layers of [`overlap_model`] that are hard-wired.
pub const OVERLAP_UNROLL: [&str; 3] = ["c1", "c2", "fc"];

/// [`overlap_model`] with [`OVERLAP_UNROLL`] hard-wired, one element per beat.
pub fn overlap_design(model: &QuantModel) -> inq_hdl::Design {
    let unroll: Vec<String> = OVERLAP_UNROLL.iter().map(|s| s.to_string()).collect();
    inq_hdl::plan_unrolled(model, &inq_hdl::FoldingRequest::Minimal, &unroll).expect("plan")
}

/// Sets the elements per beat of the named engines (`(name, in, out)`: an MVU's `in_beat` and
/// `out_beat`, a pool's or fork's `beat`, which must then be equal) and of every stream to its
/// producer's output beat (stream 0: 1).
pub fn set_beats(d: &mut inq_hdl::Design, beats: &[(&str, usize, usize)]) {
    for &(name, ki, ko) in beats {
        let e = d
            .engines
            .iter_mut()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no engine {name}"));
        match &mut e.kind {
            inq_hdl::EngineKind::Mvu(m) => {
                m.in_beat = ki;
                m.out_beat = ko;
            }
            inq_hdl::EngineKind::Pool(p) => {
                assert_eq!(ki, ko, "{name}: a pool's beat is the same in and out");
                p.beat = ki;
            }
            inq_hdl::EngineKind::Fork(f) => {
                assert_eq!(ki, ko, "{name}: a fork's beat is the same in and out");
                f.beat = ki;
            }
            _ => panic!("{name}: this kind takes one element per beat"),
        }
    }
    for i in 0..d.streams.len() {
        d.streams[i].beat = match d.streams[i].from {
            inq_hdl::Endpoint::Engine { engine, .. } => d.engines[engine].op().out_beat(),
            _ => 1,
        };
    }
}

/// The design of [`wide_model`] with [`WIDE_BEATS`] (or one element per beat everywhere when
/// `wide` is false).
pub fn wide_design(model: &QuantModel, wide: bool) -> inq_hdl::Design {
    let unroll: Vec<String> = WIDE_UNROLL.iter().map(|s| s.to_string()).collect();
    let mut d =
        inq_hdl::plan_unrolled(model, &inq_hdl::FoldingRequest::Minimal, &unroll).expect("plan");
    if wide {
        set_beats(&mut d, &WIDE_BEATS);
    }
    d
}

pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg(match tool {
            "yosys" | "iverilog" => "-V",
            _ => "--version",
        })
        .output()
        .map(|o| o.status.success() || !o.stdout.is_empty())
        .unwrap_or(false)
}

/// A fresh folder under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let base = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let d = base.join(format!("inq-codegen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn gen(model: &QuantModel, req: &inq_hdl::FoldingRequest, dir: &Path) -> Manifest {
    gen_with(model, req, dir, |_| {})
}

/// [`gen`] with the plan changed by `edit` first.
pub fn gen_with(
    model: &QuantModel,
    req: &inq_hdl::FoldingRequest,
    dir: &Path,
    edit: impl FnOnce(&mut inq_hdl::Design),
) -> Manifest {
    let mut design = inq_hdl::plan(model, req).expect("plan");
    edit(&mut design);
    inq_codegen::generate(&design, model, dir, &inq_codegen::GenOptions::default())
        .expect("generate")
}

/// Registered schedule flags and datapath registers on every ROM-fed MVU of `design`, the
/// datapath register inside the lanes' tree where it may be, and the row tests from
/// difference registers on every MVU (`docs/hardware.md` §4 and §12).
pub fn all_rom_regs(design: &mut inq_hdl::Design) {
    for e in &mut design.engines {
        if let inq_hdl::EngineKind::Mvu(m) = &mut e.kind {
            // the row tests from difference registers (§12), hard-wired engines too
            m.hs_regs = true;
            if !m.is_constant() {
                m.sched_regs = true;
                m.data_regs = true;
                // multiplier lanes: the multipliers in registered halves, their sum a tree
                // (docs/hardware.md §4, "The multiplier in two halves")
                m.mul_regs = m.mac == inq_hdl::MacKind::Multiply;
                // the datapath register inside the lanes' tree, before its last level
                // (docs/hardware.md §4, "The register inside the lanes' tree")
                if m.data_split_allowed() && m.lanes_tree_levels() > 1 {
                    m.data_split = m.lanes_tree_levels() - 1;
                }
            }
        }
    }
}

/// The read registers on every ROM-fed MVU of `design` (`docs/hardware.md` §4, "The datapath
/// register at the read"), with the weight registers, the padding test selected, the window
/// slots one fire ahead, the multipliers in halves, and the line-buffer read in two stages in
/// groups of half a bank (rounded down to a power of two; "The line-buffer read in two
/// stages") wherever a bank has more than two words.
pub fn all_read_regs(design: &mut inq_hdl::Design) {
    for e in &mut design.engines {
        if let inq_hdl::EngineKind::Mvu(m) = &mut e.kind {
            if !m.is_constant() {
                m.read_regs = true;
                m.weight_regs = true;
                m.pad_regs = true;
                m.slot_regs = true;
                m.mul_regs = m.mac == inq_hdl::MacKind::Multiply;
                let words = m.lb_bank_words();
                if words > 2 {
                    m.lb_group_words = 1 << (usize::BITS - 1 - (words / 2).leading_zeros());
                }
            }
        }
    }
}

/// An explicit folding: `(node name, PE, SIMD)` entries.
pub fn fold(entries: &[(&str, usize, usize)]) -> inq_hdl::FoldingRequest {
    inq_hdl::FoldingRequest::Explicit(inq_hdl::Folding {
        layer: entries
            .iter()
            .map(|&(n, pe, simd)| inq_hdl::LayerFolding {
                name: Some(n.into()),
                index: None,
                pe,
                simd,
            })
            .collect(),
    })
}

pub fn rtl_files(m: &Manifest) -> Vec<String> {
    m.rtl_files
        .iter()
        .map(|f| f.trim_start_matches("rtl/").to_string())
        .collect()
}

pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let o = cmd.output().expect("spawn");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `m` with every conv/dense weight tensor replaced by random uniform integer codes of the
/// same width and the same per-channel scale `n2` (so shifts and biases keep their meaning).
pub fn int_model(m: &QuantModel, seed: u64) -> QuantModel {
    let mut r = Rng::new(seed ^ 0x1A7);
    let mut m = m.clone();
    for n in &mut m.nodes {
        let Some(w) = n.op.operator_mut().weights_mut() else {
            continue;
        };
        let bits = w.bits;
        let n2: Vec<i32> = (0..w.n1.len()).map(|c| w.n2_of(c)).collect();
        w.kind = inq_model::WeightKind::Int;
        w.n1 = n2.iter().map(|&n| n + bits as i32 - 2).collect();
        let q = numerics::int_max(bits);
        for c in w.codes.iter_mut() {
            *c = if r.below(4) == 0 {
                0
            } else {
                numerics::encode(
                    match r.range(-q, q) {
                        0 => Weight::Zero,
                        v => Weight::Int(v),
                    },
                    bits,
                )
            };
        }
    }
    m.name = format!("{}_int", m.name);
    inq_model::validate::validate(&m).expect("int model valid");
    m
}

/// Renames node `i` (and every reference to it).
pub fn rename(m: &mut QuantModel, i: usize, new: &str) {
    let old = std::mem::replace(&mut m.nodes[i].name, new.to_string());
    for n in &mut m.nodes {
        for x in &mut n.inputs {
            if *x == old {
                *x = new.to_string();
            }
        }
    }
    if m.output == old {
        m.output = new.to_string();
    }
}
