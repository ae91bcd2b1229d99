//! The integer reference: hand-computed cases for every rule of docs/numerics.md, and property
//! tests against an independent wide-integer (i128) evaluation.

mod common;
use common::{pos, u8fmt};
use inq_model::random::{build, random_input, LayerSpec, RandomSpec};
use inq_model::*;
use proptest::prelude::*;

#[test]
fn hand_computed_tiny_network() {
    let m = common::tiny();
    // conv ch0: acc = 3 + x00 + 2·x01 − x11, r = 2; ch1: acc = −5 + 8·x00 + x11, r = 3.
    let out = run(&m, &[1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
    assert_eq!(out.nodes[0].data, vec![1, 1, 2, 3, 1, 2, 4, 6]);
    assert_eq!(out.nodes[1].data, vec![3, 6]); // max pool
    assert_eq!(out.nodes[2].shape, vec![2]); // flatten
                                             // dense ch0 (n2=-1): 1 + 2·3 − 6 = 1; ch1 (n2=0): −2 + 6 = 4, aligned << 1 = 8
    assert_eq!(out.logits, vec![1, 8]);
    assert_eq!(out.argmax, 1);
}

#[test]
fn hand_computed_relu_and_rounding() {
    let m = common::tiny();
    let out = run(&m, &[0; 9]).unwrap();
    // ch0: (3+2)>>2 = 1; ch1: (−5+4)>>3 = −1 → ReLU 0
    assert_eq!(out.nodes[0].data, vec![1, 1, 1, 1, 0, 0, 0, 0]);
    assert_eq!(out.logits, vec![3, -4]);
    assert_eq!(out.argmax, 0);
}

#[test]
fn hand_computed_saturation() {
    let m = common::tiny();
    let out = run(&m, &[255; 9]).unwrap();
    // ch0: 3 + 255 + 510 − 255 = 513 → (515)>>2 = 128; ch1: −5 + 2040 + 255 = 2290 → 286 → 255
    assert_eq!(out.nodes[1].data, vec![128, 255]);
    assert_eq!(out.logits, vec![2, 506]);
}

#[test]
fn logits_are_aligned() {
    // the same accumulator value on two channels with different n2 gives logits differing by
    // the exponent gap
    let m = common::tiny();
    let out = run(&m, &[0; 9]).unwrap();
    let acc1 = -2; // bias of ch1, input 0 on its only weight
    assert_eq!(out.logits[1], acc1 << 1);
}

fn single_dense_after(
    prefix: Vec<(String, Op)>,
    input: [usize; 3],
    f: ActFormat,
    in_features: usize,
) -> QuantModel {
    let mut layers = prefix;
    layers.push(("flat".into(), Op::Flatten(ops::Flatten {})));
    layers.push((
        "fc".into(),
        Op::Dense(ops::Dense {
            in_features,
            out_features: 1,
            weights: WeightTensor {
                kind: Default::default(),
                bits: 2,
                n1: vec![0],
                codes: vec![pos(0, 2); in_features],
            },
            bias: vec![0],
            relu: false,
            output: Output::Logits,
        }),
    ));
    QuantModel::chain(
        "t",
        InputSpec {
            name: "input".into(),
            shape: input,
            format: f,
            mapping: String::new(),
        },
        layers,
    )
}

#[test]
fn hand_computed_average_pool_rounds_half_up() {
    let s8 = ActFormat {
        bits: 8,
        signed: true,
        exp: 0,
    };
    let avg = (
        "avg".to_string(),
        Op::AvgPool(ops::AvgPool(ops::Window {
            kernel: [2, 2],
            stride: [2, 2],
        })),
    );
    let m = single_dense_after(vec![avg], [1, 2, 2], s8, 1);
    for (x, want) in [
        ([1, 2, 3, -1], 1),
        ([1, 1, 1, -2], 0),
        ([2, 2, 2, 0], 2),
        ([-2, -2, -2, 0], -1),
    ] {
        assert_eq!(run(&m, &x).unwrap().logits, vec![want], "avg of {x:?}");
    }
    let gap = ("gap".to_string(), Op::GlobalAvgPool(ops::GlobalAvgPool {}));
    let m = single_dense_after(vec![gap], [1, 2, 2], s8, 1);
    assert_eq!(run(&m, &[-2, -2, -2, 0]).unwrap().logits, vec![-1]);
}

#[test]
fn hand_computed_max_pool_on_signed_and_stride() {
    let s8 = ActFormat {
        bits: 8,
        signed: true,
        exp: 0,
    };
    let mp = (
        "mp".to_string(),
        Op::MaxPool(ops::MaxPool(ops::Window {
            kernel: [1, 2],
            stride: [1, 1],
        })),
    );
    // 1×1×3 → windows [a,b], [b,c]
    let m = single_dense_after(vec![mp], [1, 1, 3], s8, 2);
    let out = run(&m, &[-5, -7, -1]).unwrap();
    assert_eq!(out.nodes[0].data, vec![-5, -1]);
    assert_eq!(out.logits, vec![-6]);
}

#[test]
fn pad_value_is_used_for_padding() {
    // 1×1×1 input, conv 3×3 pad 1, all weights +1: acc = 8·pad_value + x
    let conv = ops::Conv {
        in_channels: 1,
        out_channels: 1,
        kernel: [3, 3],
        stride: [1, 1],
        pad: [1, 1, 1, 1],
        pad_value: 2,
        group: 1,
        weights: WeightTensor {
            kind: Default::default(),
            bits: 2,
            n1: vec![0],
            codes: vec![pos(0, 2); 9],
        },
        bias: vec![0],
        relu: false,
        output: Output::Logits,
    };
    let m = QuantModel::chain(
        "pad",
        InputSpec {
            name: "input".into(),
            shape: [1, 1, 1],
            format: u8fmt(),
            mapping: String::new(),
        },
        vec![("c".into(), Op::Conv(conv))],
    );
    assert_eq!(run(&m, &[5]).unwrap().logits, vec![21]);
}

#[test]
fn conv_stride_and_asymmetric_padding() {
    // 1×3×3 input 1..9, conv 2×2 stride 2, pad top/left 1: output 2×2; weight +1 only at (1,1)
    let conv = ops::Conv {
        in_channels: 1,
        out_channels: 1,
        kernel: [2, 2],
        stride: [2, 2],
        pad: [1, 1, 0, 0],
        pad_value: 0,
        group: 1,
        weights: WeightTensor {
            kind: Default::default(),
            bits: 2,
            n1: vec![0],
            codes: vec![0, 0, 0, pos(0, 2)],
        },
        bias: vec![0],
        relu: false,
        output: Output::Logits,
    };
    let m = QuantModel::chain(
        "s",
        InputSpec {
            name: "input".into(),
            shape: [1, 3, 3],
            format: u8fmt(),
            mapping: String::new(),
        },
        vec![("c".into(), Op::Conv(conv))],
    );
    // taps at padded (1,1),(1,3),(3,1),(3,3) → input (0,0),(0,2),(2,0),(2,2)
    assert_eq!(
        run(&m, &[1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap().logits,
        vec![1, 3, 7, 9]
    );
}

#[test]
fn input_out_of_range_is_an_error() {
    let m = common::tiny();
    let e = run(&m, &[256, 0, 0, 0, 0, 0, 0, 0, 0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("256") && e.contains("index 0"), "{e}");
    let e = run(&m, &[0; 8]).unwrap_err().to_string();
    assert!(e.contains("8 values"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Property tests: the reference equals an independent i128 evaluation, and every accumulator
// stays within the stated bound.

/// Independent evaluation of the graph: weights as signed integers multiplied (test code
/// only), floor division for shifts, i128 throughout. Returns logits and checks every
/// accumulator against the bound of docs/numerics.md § 4.
fn wide_eval(m: &QuantModel, input: &[i64]) -> Vec<i128> {
    let pow2 = |e: i32| -> i128 { 1i128 << e };
    let g = m.graph().unwrap();
    let wint = |w: &WeightTensor, i: usize| -> i128 {
        let code = w.codes[i] as u32;
        if code == 0 {
            return 0;
        }
        let k = code & ((1 << (w.bits - 2)) - 1);
        let neg = (code >> (w.bits - 2)) & 1 == 1;
        let v = pow2(k as i32);
        if neg {
            -v
        } else {
            v
        }
    };
    // round half up of v / 2^r (r > 0), or v · 2^-r
    let shr = |v: i128, r: i32| -> i128 {
        if r > 0 {
            (v + pow2(r - 1)).div_euclid(pow2(r))
        } else {
            v * pow2(-r)
        }
    };
    let finish = |acc: i128,
                  w: &WeightTensor,
                  c: usize,
                  out: usize,
                  relu: bool,
                  o: &Output,
                  fin: ActFormat|
     -> i128 {
        match o.act() {
            Some(f) => {
                let v = shr(acc, f.exp - (fin.exp + w.n2_of(c)));
                let v = if relu { v.max(0) } else { v };
                v.clamp(f.min() as i128, f.max() as i128)
            }
            None => acc * pow2(w.n2_of(c) - w.n2_min(out)),
        }
    };
    let x: Vec<i128> = input.iter().map(|&v| v as i128).collect();
    let mut vals: Vec<Vec<i128>> = vec![Vec::new(); m.nodes.len()];
    for &i in &g.order {
        let src = |k: usize| -> (&Vec<i128>, &TensorInfo) {
            match g.inputs[i][k] {
                Source::Input => (&x, &g.input),
                Source::Node(j) => (&vals[j], &g.infos[j]),
            }
        };
        let (t, tin) = src(0);
        let shape = &tin.shape;
        let fmt = tin.format.unwrap();
        let out = match &m.nodes[i].op {
            Op::Conv(l) => {
                let (c, h, w) = (shape[0], shape[1], shape[2]);
                let [kh, kw] = l.kernel;
                let [sh, sw] = l.stride;
                let [pt, pl, pb, pr] = l.pad;
                let oh = (h + pt + pb - kh) / sh + 1;
                let ow = (w + pl + pr - kw) / sw + 1;
                let xmax = fmt.max_abs().max(l.pad_value.abs()) as i128;
                let gc = c / l.group;
                let row = gc * kh * kw;
                let mut o = vec![0i128; l.out_channels * oh * ow];
                for oc in 0..l.out_channels {
                    let bound = l.bias[oc].abs() as i128
                        + xmax
                            * (0..row)
                                .map(|i| wint(&l.weights, oc * row + i).abs())
                                .sum::<i128>();
                    let first = if l.group > 1 { oc } else { 0 };
                    for y in 0..oh {
                        for xx in 0..ow {
                            let mut acc = l.bias[oc] as i128;
                            for gi in 0..gc {
                                let ci = first + gi;
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        let iy = (y * sh + ky) as i64 - pt as i64;
                                        let ix = (xx * sw + kx) as i64 - pl as i64;
                                        let v =
                                            if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64
                                            {
                                                l.pad_value as i128
                                            } else {
                                                t[(ci * h + iy as usize) * w + ix as usize]
                                            };
                                        acc += v * wint(
                                            &l.weights,
                                            oc * row + (gi * kh + ky) * kw + kx,
                                        );
                                    }
                                }
                            }
                            assert!(
                                acc.abs() <= bound,
                                "accumulator {acc} exceeds bound {bound}"
                            );
                            o[(oc * oh + y) * ow + xx] =
                                finish(acc, &l.weights, oc, l.out_channels, l.relu, &l.output, fmt);
                        }
                    }
                }
                o
            }
            Op::Dense(l) => {
                let n = l.in_features;
                let xmax = fmt.max_abs() as i128;
                (0..l.out_features)
                    .map(|oc| {
                        let bound = l.bias[oc].abs() as i128
                            + xmax
                                * (0..n)
                                    .map(|i| wint(&l.weights, oc * n + i).abs())
                                    .sum::<i128>();
                        let acc = l.bias[oc] as i128
                            + (0..n)
                                .map(|i| t[i] * wint(&l.weights, oc * n + i))
                                .sum::<i128>();
                        assert!(
                            acc.abs() <= bound,
                            "accumulator {acc} exceeds bound {bound}"
                        );
                        finish(acc, &l.weights, oc, l.out_features, l.relu, &l.output, fmt)
                    })
                    .collect()
            }
            Op::MaxPool(ops::MaxPool(p)) | Op::AvgPool(ops::AvgPool(p)) => {
                let is_max = matches!(m.nodes[i].op, Op::MaxPool(_));
                let (c, h, w) = (shape[0], shape[1], shape[2]);
                let [kh, kw] = p.kernel;
                let [sh, sw] = p.stride;
                let (oh, ow) = ((h - kh) / sh + 1, (w - kw) / sw + 1);
                let mut o = Vec::new();
                for ch in 0..c {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let v: Vec<i128> = (0..kh)
                                .flat_map(|ky| (0..kw).map(move |kx| (ky, kx)))
                                .map(|(ky, kx)| t[(ch * h + y * sh + ky) * w + xx * sw + kx])
                                .collect();
                            o.push(if is_max {
                                *v.iter().max().unwrap()
                            } else {
                                let n = v.len() as i128;
                                (2 * v.iter().sum::<i128>() + n).div_euclid(2 * n)
                            });
                        }
                    }
                }
                o
            }
            Op::GlobalAvgPool(_) => {
                let (c, hw) = (shape[0], shape[1] * shape[2]);
                // ceil(log2(hw)), computed by counting
                let mut s = 0;
                while (1usize << s) < hw {
                    s += 1;
                }
                (0..c)
                    .map(|ch| shr(t[ch * hw..(ch + 1) * hw].iter().sum(), s))
                    .collect()
            }
            Op::Flatten(_) => t.clone(),
            Op::Add(a) => {
                let (u, uin) = src(1);
                let fb = uin.format.unwrap();
                let of = a.output.act().unwrap();
                let e = fmt.exp.min(fb.exp);
                t.iter()
                    .zip(u)
                    .map(|(&p, &q)| {
                        let s = p * pow2(fmt.exp - e) + q * pow2(fb.exp - e);
                        let v = shr(s, of.exp - e);
                        let v = if a.relu { v.max(0) } else { v };
                        v.clamp(of.min() as i128, of.max() as i128)
                    })
                    .collect()
            }
        };
        vals[i] = out;
    }
    vals[g.output].clone()
}

fn conv_spec(last: bool) -> impl Strategy<Value = LayerSpec> {
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
            move |(out, k, stride, pad, bits, act_bits, relu, per_channel)| LayerSpec::Conv {
                out,
                k,
                stride,
                pad: pad.min(k - 1),
                bits,
                act_bits,
                relu: relu || last,
                per_channel,
            },
        )
}

fn dense_spec() -> impl Strategy<Value = LayerSpec> {
    (1usize..6, 2u32..=8, 2u32..=8, any::<bool>(), any::<bool>()).prop_map(
        |(out, bits, act_bits, relu, per_channel)| LayerSpec::Dense {
            out,
            bits,
            act_bits,
            relu,
            per_channel,
        },
    )
}

/// Random small networks: conv blocks with optional pooling, then flatten + dense layers (or a
/// final conv).
fn spec() -> impl Strategy<Value = RandomSpec> {
    let fmt = prop_oneof![
        Just(ActFormat {
            bits: 8,
            signed: false,
            exp: 0
        }),
        (2u32..=8, -3i32..3).prop_map(|(bits, exp)| ActFormat {
            bits,
            signed: true,
            exp
        }),
    ];
    (
        1usize..3,
        4usize..9,
        4usize..9,
        fmt,
        prop::collection::vec((conv_spec(false), 0u8..4), 0..4),
        prop::collection::vec(dense_spec(), 1..3),
        any::<bool>(),
    )
        .prop_map(|(c, h, w, input_format, convs, denses, final_conv)| {
            let mut layers = Vec::new();
            let (mut hh, mut ww) = (h, w);
            for (cs, pool) in convs {
                if pool == 3 {
                    // a residual block on the current map: 3×3 (pad 1) main path, identity
                    // or 1×1 shortcut, or a depthwise main path
                    let cin = c;
                    let _ = cin;
                    if let LayerSpec::Conv {
                        bits,
                        act_bits,
                        relu,
                        ..
                    } = cs
                    {
                        layers.push(LayerSpec::Residual {
                            main: vec![LayerSpec::Depthwise {
                                k: 3,
                                stride: 1,
                                pad: 1,
                                bits,
                                act_bits,
                                relu,
                            }],
                            shortcut: vec![],
                            act_bits,
                            relu: !relu,
                        });
                    }
                    continue;
                }
                if let LayerSpec::Conv { k, stride, pad, .. } = cs {
                    if hh + 2 * pad < k || ww + 2 * pad < k {
                        continue;
                    }
                    hh = (hh + 2 * pad - k) / stride + 1;
                    ww = (ww + 2 * pad - k) / stride + 1;
                }
                layers.push(cs);
                if pool == 1 && hh >= 2 && ww >= 2 {
                    layers.push(LayerSpec::MaxPool(2));
                    hh /= 2;
                    ww /= 2;
                } else if pool == 2 && hh >= 2 && ww >= 2 {
                    layers.push(LayerSpec::AvgPool(2));
                    hh /= 2;
                    ww /= 2;
                }
            }
            if final_conv {
                layers.push(LayerSpec::Conv {
                    out: 3,
                    k: 1,
                    stride: 1,
                    pad: 0,
                    bits: 4,
                    act_bits: 8,
                    relu: false,
                    per_channel: true,
                });
            } else {
                layers.push(LayerSpec::Flatten);
                layers.extend(denses);
            }
            RandomSpec {
                input: [c, h, w],
                input_format,
                layers,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn reference_equals_wide_evaluation(s in spec(), seed in any::<u64>(), iseed in any::<u64>()) {
        let m = build(&s, seed).unwrap();
        let x = random_input(&m, iseed);
        let out = run(&m, &x).unwrap();
        let wide = wide_eval(&m, &x);
        let got: Vec<i128> = out.logits.iter().map(|&v| v as i128).collect();
        prop_assert_eq!(got, wide);
    }

    #[test]
    fn accumulator_within_bound(s in spec(), seed in any::<u64>()) {
        // wide_eval asserts the bound for every accumulator; drive it with extreme inputs too.
        let m = build(&s, seed).unwrap();
        let f = m.input.format;
        let n = m.input.shape.iter().product::<usize>();
        for v in [f.min(), f.max()] {
            let x = vec![v; n];
            let out = run(&m, &x).unwrap();
            let wide = wide_eval(&m, &x);
            prop_assert_eq!(out.logits.iter().map(|&v| v as i128).collect::<Vec<_>>(), wide);
        }
    }

    #[test]
    fn save_load_round_trip(s in spec(), seed in any::<u64>()) {
        let m = build(&s, seed).unwrap();
        let text = m.to_json_string().unwrap();
        let back = QuantModel::from_json_str(&text, "rt").unwrap();
        prop_assert_eq!(back, m);
    }
}

/// `argmax_from` re-evaluates only the nodes from a position of the order on: for a model that
/// shares its first nodes with another, it gives the model's own argmax from the other's node
/// outputs, and with nothing left to evaluate it returns the known output's argmax.
#[test]
fn argmax_from_reuses_the_shared_prefix() {
    let spec = inq_model::random::lenet_spec(-8, true);
    let a = build(&spec, 11).unwrap();
    let other = build(&spec, 12).unwrap();
    let ra = Reference::new(&a).unwrap();
    let order = ra.graph().order.clone();
    for from in 0..=order.len() {
        let mut b = a.clone();
        for &i in &order[from..] {
            b.nodes[i] = other.nodes[i].clone();
        }
        let rb = Reference::new(&b).unwrap();
        let mut differs = 0;
        for seed in 0..12 {
            let x = random_input(&a, seed);
            let known = ra.run(&x).unwrap();
            let own = rb.run(&x).unwrap();
            assert_eq!(rb.argmax_from(&x, &known.nodes, from).unwrap(), own.argmax);
            differs += usize::from(own.argmax != known.argmax);
            if from == order.len() {
                assert_eq!(own.argmax, known.argmax, "b is a");
            }
        }
        if from == 0 {
            assert!(differs > 0, "the two weight sets should disagree somewhere");
        }
    }
    // Nothing evaluated: the answer is the known output's, even from another model's run.
    let ro = Reference::new(&other).unwrap();
    for seed in 0..12 {
        let x = random_input(&a, seed);
        let theirs = ro.run(&x).unwrap();
        assert_eq!(
            ra.argmax_from(&x, &theirs.nodes, order.len()).unwrap(),
            theirs.argmax
        );
    }
    let x = random_input(&a, 0);
    let e = ra.argmax_from(&x, &[], 0).unwrap_err().to_string();
    assert!(e.contains("0 known node outputs"), "{e}");
}
