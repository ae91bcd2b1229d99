//! The generated RTL and the cycle-accurate simulator (`inq-sim`) agree cycle by cycle: the
//! same stimulus (input gaps and output back-pressure from a 16-bit LFSR) is applied to the
//! Verilog in Icarus and to `inq_sim::Machine`, and the cycle and value of every transfer on
//! every tap of the manifest (the input and every node's stream), on `s_axis` and on `m_axis`
//! must be identical. Designs cover line buffers that hold the next image while the current
//! one is computed (`docs/hardware.md` §4: `ahead`), input-bound and compute-bound engines,
//! padding, strides, odd pooling remainders, double-buffered dense layers, global average
//! pooling, and graph designs: forks with skip FIFOs of any depth, adders, depthwise convs.

mod common;

use common::*;
use inq_design::Manifest;
use inq_hdl::FoldingRequest;
use inq_model::QuantModel;
use inq_sim::{Machine, PortInputs};
use std::process::Command;

/// The LFSR of the testbench: `(s_valid gate, m_ready)` of one cycle, after stepping it.
fn lfsr_step(l: &mut u16, mode: u8) -> (bool, bool) {
    let b = ((*l >> 15) ^ (*l >> 13) ^ (*l >> 12) ^ (*l >> 10)) & 1;
    *l = (*l << 1) | b;
    let bit = |i: u32| (*l >> i) & 1 == 1;
    match mode {
        0 => (true, true),
        1 => (bit(0) | bit(2), bit(4) | bit(7)),
        _ => (true, bit(4) | bit(7) | bit(9)),
    }
}

/// A testbench printing `T k cyc value` for every transfer on tap `k` of the manifest, then
/// `S cyc` and `O cyc value tlast tuser`, where `cyc` counts rising edges after the reset
/// (the edge of cycle 0 is the first one with `rst = 0`, as for `Machine::step`).
fn testbench(m: &Manifest, n_words: usize, seed: u16, mode: u8, limit: u64) -> String {
    let mut taps = String::new();
    for (k, t) in m.taps.iter().enumerate() {
        taps.push_str(&format!(
            "      if (dut.{} && dut.{}) $display(\"T {k} %0d %0d\", cyc, {});\n",
            t.tvalid,
            t.tready,
            if t.signed {
                format!("$signed(dut.{})", t.tdata)
            } else {
                format!("dut.{}", t.tdata)
            }
        ));
    }
    let (sv, mr) = match mode {
        0 => ("1'b1".to_string(), "1'b1".to_string()),
        1 => ("(lfsr[0] | lfsr[2])".into(), "(lfsr[4] | lfsr[7])".into()),
        _ => ("1'b1".into(), "(lfsr[4] | lfsr[7] | lfsr[9])".into()),
    };
    format!(
        r#"`timescale 1ns/1ps
module tb;
  reg clk = 1'b0;
  reg rst = 1'b1;
  reg [{iw1}:0] mem [0:{nw1}];
  reg [{iw1}:0] s_data = 0;
  reg s_valid = 1'b0;
  wire s_ready;
  wire [{ow1}:0] m_data;
  wire m_valid;
  wire m_last;
  wire [{xw1}:0] m_user;
  reg m_ready = 1'b0;
  reg [15:0] lfsr = 16'h{seed:04x};
  integer idx = 0;
  integer outs = 0;
  integer ncyc = 0;
  integer cyc = 0;
  inq_top dut(.clk(clk), .rst(rst), .s_axis_tdata(s_data), .s_axis_tvalid(s_valid),
    .s_axis_tready(s_ready), .s_axis_tlast(1'b0), .m_axis_tdata(m_data), .m_axis_tvalid(m_valid),
    .m_axis_tready(m_ready), .m_axis_tlast(m_last), .m_axis_tuser(m_user));
  always #5 clk = ~clk;
  initial $readmemh("tb_in.hex", mem);
  always @(negedge clk) begin
    ncyc = ncyc + 1;
    if (ncyc <= 4) begin
      rst = 1'b1;
    end else begin
      rst = 1'b0;
      cyc = ncyc - 5;
      lfsr = {{lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]}};
      s_valid = (idx < {nw}) && {sv};
      s_data = mem[idx < {nw} ? idx : 0];
      m_ready = {mr};
      #1;
{taps}      if (s_valid && s_ready) begin
        $display("S %0d", cyc);
        idx = idx + 1;
      end
      if (m_valid && m_ready) begin
        $display("O %0d %0d %0d %0d", cyc, $signed(m_data), m_last, m_user);
        outs = outs + 1;
        if (outs == {nout}) $finish;
      end
      if (cyc > {limit}) begin $display("TIMEOUT"); $finish; end
    end
  end
endmodule
"#,
        iw1 = m.ports.in_width - 1,
        ow1 = m.ports.out_width - 1,
        xw1 = m.ports.argmax_width - 1,
        nw1 = n_words - 1,
        nw = n_words,
        nout = m.outputs * (n_words / m.input.elements),
    )
}

/// The same run on the simulator: the lines the testbench prints.
fn simulate(d: &inq_hdl::Design, beats: &[u64], seed: u16, mode: u8, n_out: usize) -> Vec<String> {
    let mut mach = Machine::new(d).expect("machine");
    let mut lines = Vec::new();
    let mut lfsr = seed;
    let (mut idx, mut outs) = (0usize, 0usize);
    for cyc in 0..10_000_000u64 {
        let (sv, mr) = lfsr_step(&mut lfsr, mode);
        let inp = PortInputs {
            rst: false,
            s_tvalid: idx < beats.len() && sv,
            s_tdata: beats[idx.min(beats.len() - 1)],
            s_tlast: false,
            m_tready: mr,
        };
        let p = mach.ports();
        mach.step(&inp);
        for (k, t) in d.taps.iter().enumerate() {
            let sig = mach.signals(t.stream).expect("tap stream");
            let moved = if t.at_fifo_output {
                sig.popped()
            } else {
                sig.pushed()
            };
            for v in moved.unwrap_or_default() {
                lines.push(format!("T {k} {cyc} {v}"));
            }
        }
        if inp.s_tvalid && p.s_tready {
            lines.push(format!("S {cyc}"));
            idx += 1;
        }
        if p.m_tvalid && mr {
            lines.push(format!(
                "O {cyc} {} {} {}",
                p.m_tdata,
                u8::from(p.m_tlast),
                p.m_tuser
            ));
            outs += 1;
        }
        if outs == n_out {
            break;
        }
    }
    lines
}

fn compare(name: &str, model: &QuantModel, req: &FoldingRequest, images: usize, mode: u8) {
    if !have("iverilog") {
        eprintln!("skipping {name}: iverilog not installed");
        return;
    }
    let dir = scratch(name).join("out");
    let m = gen(model, req, &dir);
    let d = &m.design;
    assert_eq!(m.taps.len(), d.taps.len());
    let f = model.input.format;
    let mut rng = Rng::new(images as u64 * 31 + u64::from(mode));
    let imgs: Vec<Vec<i64>> = (0..images)
        .map(|_| {
            (0..m.input.elements)
                .map(|_| rng.range(f.min(), f.max()))
                .collect()
        })
        .collect();
    let beats = inq_sim::images_to_beats(d, &imgs).expect("beats");
    let words: Vec<String> = beats.iter().map(|b| format!("{b:x}")).collect();
    let rtl = dir.join("rtl");
    let seed = 0xACE1u16 ^ (images as u16) << 3 ^ u16::from(mode);
    std::fs::write(rtl.join("tb_in.hex"), words.join("\n") + "\n").unwrap();
    std::fs::write(
        rtl.join("tb.v"),
        testbench(&m, beats.len(), seed, mode, 3_000_000),
    )
    .unwrap();
    let (ok, out, err) = run(Command::new("iverilog")
        .current_dir(&rtl)
        .args(["-g2005", "-o", "tb.vvp", "-s", "tb", "tb.v"])
        .args(rtl_files(&m)));
    assert!(ok, "iverilog: {out}\n{err}");
    let (ok, out, err) = run(Command::new("vvp").current_dir(&rtl).args(["-n", "tb.vvp"]));
    assert!(ok, "vvp: {out}\n{err}");
    assert!(!out.contains("TIMEOUT"), "{name}: timeout");
    let rtl_lines: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("S ") || l.starts_with("T ") || l.starts_with("O "))
        .map(str::to_string)
        .collect();
    let sim_lines = simulate(d, &beats, seed, mode, m.outputs * images);
    let n = rtl_lines.len().min(sim_lines.len());
    if let Some(i) = (0..n).find(|&i| rtl_lines[i] != sim_lines[i]) {
        panic!(
            "{name}: first difference at event {i}: RTL `{}`, simulator `{}`\nRTL {:?}\nsim {:?}",
            rtl_lines[i],
            sim_lines[i],
            &rtl_lines[i.saturating_sub(5)..(i + 5).min(rtl_lines.len())],
            &sim_lines[i.saturating_sub(5)..(i + 5).min(sim_lines.len())]
        );
    }
    assert_eq!(rtl_lines.len(), sim_lines.len(), "{name}: event count");
    assert!(rtl_lines.iter().filter(|l| l.starts_with("O ")).count() == m.outputs * images);
    eprintln!("{name}: {} events identical", rtl_lines.len());
}

#[test]
fn tiny_design_rtl_and_simulator_agree_cycle_by_cycle() {
    for mode in 0..3 {
        compare(
            &format!("cyc_tiny_min{mode}"),
            &tiny_model(11),
            &FoldingRequest::Minimal,
            3,
            mode,
        );
        compare(
            &format!("cyc_tiny_fold{mode}"),
            &tiny_model(12),
            &fold(&[("conv1", 2, 1), ("fc", 3, 4)]),
            3,
            mode,
        );
    }
}

/// Residual designs: forks (with skip FIFOs of non-power-of-two depths), adders on an identity
/// and a projection shortcut (fully unrolled in the folded design), a depthwise conv, a GAP over
/// a 3×3 plane.
#[test]
fn residual_design_rtl_and_simulator_agree_cycle_by_cycle() {
    for mode in 0..3 {
        compare(
            &format!("cyc_residual{mode}"),
            &residual_model(19),
            &fold(&[
                ("l0", 2, 1),
                ("l2", 4, 1),
                ("l3", 1, 2),
                ("l5", 2, 4),
                ("l6", 6, 2),
                ("l7", 6, 4),
                ("l10", 1, 1),
            ]),
            3,
            mode,
        );
        compare(
            &format!("cyc_residual_min{mode}"),
            &residual_model(20),
            &FoldingRequest::Minimal,
            2,
            mode,
        );
    }
}

#[test]
fn mixed_design_rtl_and_simulator_agree_cycle_by_cycle() {
    for mode in 0..3 {
        compare(
            &format!("cyc_mixed{mode}"),
            &mixed_model(13),
            &fold(&[
                ("c1 stride2", 2, 2),
                ("c2", 4, 2),
                ("d1", 3, 2),
                ("d2", 5, 6),
            ]),
            3,
            mode,
        );
        compare(
            &format!("cyc_mixed_min{mode}"),
            &mixed_model(14),
            &FoldingRequest::Minimal,
            3,
            mode,
        );
    }
}

/// Odd pooling remainder (a row no window uses), unpadded 3×3 and 2×2 convs (the next image
/// must wait for slots), a fast conv feeding a slow dense layer and the reverse.
#[test]
fn remainder_and_overlap_designs_agree_cycle_by_cycle() {
    let model = odd_model(21);
    for (k, req) in [
        FoldingRequest::Minimal,
        fold(&[("c1", 4, 1), ("c2", 1, 4), ("d1", 1, 1)]),
        fold(&[("c1", 1, 1), ("c2", 3, 4), ("d1", 5, 12)]),
    ]
    .iter()
    .enumerate()
    {
        for mode in 0..3 {
            compare(&format!("cyc_odd{k}_{mode}"), &model, req, 3, mode);
        }
    }
}

/// A pooling window on a grid with gaps (2×2, stride 4): the line-buffered unit with banks
/// (`docs/hardware.md` §5, `BANKED = 1`); the tiled unit (§5.1) takes every 2×2/2 pool of the
/// other designs.
#[test]
fn banked_pool_design_agrees_cycle_by_cycle() {
    let model = grid_pool_model(22);
    let d = inq_hdl::plan(&model, &FoldingRequest::Minimal).expect("plan");
    let pools: Vec<(bool, bool)> = d
        .engines
        .iter()
        .filter_map(|e| match &e.kind {
            inq_hdl::EngineKind::Pool(p) => Some((p.tiled(), p.banked())),
            _ => None,
        })
        .collect();
    assert_eq!(pools, vec![(false, true)]);
    for mode in 0..3 {
        compare(
            &format!("cyc_grid_{mode}"),
            &model,
            &FoldingRequest::Minimal,
            3,
            mode,
        );
    }
}

/// Tiled pooling units (`docs/hardware.md` §5.1) at their corners: one channel (the next
/// element of a window row reads the word just written: the forwarded read), a window one
/// column wide, a signed average, and output back-pressure on back-to-back results.
#[test]
fn tiled_pool_corners_agree_cycle_by_cycle() {
    let model = tiled_corners_model();
    let d = inq_hdl::plan(&model, &FoldingRequest::Minimal).expect("plan");
    let tiled = d
        .engines
        .iter()
        .filter(|e| matches!(&e.kind, inq_hdl::EngineKind::Pool(p) if p.tiled()))
        .count();
    assert_eq!(tiled, 3);
    for mode in 0..3 {
        compare(
            &format!("cyc_tiled_{mode}"),
            &model,
            &FoldingRequest::Minimal,
            3,
            mode,
        );
    }
}

/// `[1,8,8]` i8 → max pool 2×1 stride 2×1 (`[1,4,8]`) → average pool 2×2/2 (`[1,2,4]`) →
/// conv 1×1 (3 channels, signed) → max pool 2×2/2 (`[3,1,2]`) → flatten → dense 6 → 4 logits.
fn tiled_corners_model() -> QuantModel {
    use inq_model::ops::{AvgPool, MaxPool, Op, Window};
    use inq_model::Output;
    let mut r = Rng::new(23);
    let win = |k: [usize; 2]| Window {
        kernel: k,
        stride: k,
    };
    let nodes = vec![
        ("p1".to_string(), Op::MaxPool(MaxPool(win([2, 1])))),
        ("p2".to_string(), Op::AvgPool(AvgPool(win([2, 2])))),
        conv(
            &mut r,
            "c1",
            1,
            3,
            1,
            1,
            [0; 4],
            0,
            4,
            vec![-1],
            false,
            Output::from_act(act(6, true, -4)),
        ),
        ("p3".to_string(), Op::MaxPool(MaxPool(win([2, 2])))),
        flatten("flat"),
        dense(&mut r, "d1", 6, 4, 4, vec![-1], false, Output::Logits),
    ];
    QuantModel::chain("tiled", input([1, 8, 8], act(8, true, -7)), nodes)
}

/// `[1,10,10]` u8 → conv 3×3 pad 1 (4) → max pool 2×2 stride 4 (10 → 3) → flatten → dense
/// 36 → 5 logits.
fn grid_pool_model(seed: u64) -> QuantModel {
    use inq_model::ops::{MaxPool, Op};
    use inq_model::Output;
    let mut r = Rng::new(seed);
    let nodes = vec![
        conv(
            &mut r,
            "c1",
            1,
            4,
            3,
            1,
            [1; 4],
            0,
            4,
            vec![-1],
            true,
            Output::from_act(act(6, false, -4)),
        ),
        ("p1".to_string(), Op::MaxPool(MaxPool(window(2, 4)))),
        flatten("flat"),
        dense(&mut r, "d1", 36, 5, 4, vec![-1], false, Output::Logits),
    ];
    QuantModel::chain("grid", input([1, 10, 10], act(8, false, -8)), nodes)
}

/// `[1,9,9]` u8 → conv 3×3 no pad (4) → max pool 2 (7 → 3, one row unused) → conv 2×2 no
/// pad (3) → flatten → dense 12 → 5 logits.
fn odd_model(seed: u64) -> QuantModel {
    use inq_model::Output;
    let mut r = Rng::new(seed);
    let nodes = vec![
        conv(
            &mut r,
            "c1",
            1,
            4,
            3,
            1,
            [0; 4],
            0,
            4,
            vec![-1],
            true,
            Output::from_act(act(6, false, -4)),
        ),
        max_pool("p1", 2),
        conv(
            &mut r,
            "c2",
            4,
            3,
            2,
            1,
            [0; 4],
            0,
            4,
            vec![-1],
            false,
            Output::from_act(act(7, true, -4)),
        ),
        flatten("flat"),
        dense(&mut r, "d1", 12, 5, 4, vec![-1], false, Output::Logits),
    ];
    QuantModel::chain("odd", input([1, 9, 9], act(8, false, -8)), nodes)
}
