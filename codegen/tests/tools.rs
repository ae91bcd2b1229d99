//! Tool checks of generated designs: Verilator lint, yosys synthesis checks (plain
//! `read_verilog`, no `-defer`: every module elaborates on its own), Icarus compile, and Icarus
//! functional runs against the integer reference with random input gaps and back-pressure.
//!
//! The tools are installed on the development machines; a test that cannot find one says so
//! on stderr (`skipping ...`) and checks the rest.

mod common;
use common::*;
use inq_design::Manifest;
use inq_hdl::FoldingRequest;
use inq_model::QuantModel;
use std::process::Command;

fn designs() -> Vec<(&'static str, QuantModel, FoldingRequest)> {
    vec![
        ("tiny_min", tiny_model(1), FoldingRequest::Minimal),
        (
            "tiny_fold",
            tiny_model(2),
            fold(&[("conv1", 2, 1), ("fc", 3, 8)]),
        ),
        ("mixed", mixed_model(3), mixed_fold()),
        ("mixed_min", mixed_model(4), FoldingRequest::Minimal),
        // graph designs: forks, adders, depthwise conv, GAP over a 3×3 plane, skip FIFOs
        ("residual_min", residual_model(3), FoldingRequest::Minimal),
        ("residual_fold", residual_model(4), residual_folding()),
        // multiplier lanes in a depthwise conv (MUL = 1, DW = 1)
        (
            "residual_int",
            int_model(&residual_model(5), 5),
            residual_folding(),
        ),
        (
            "tiny_int_fold",
            int_model(&tiny_model(5), 5),
            fold(&[("conv1", 2, 1), ("fc", 3, 8)]),
        ),
        ("mixed_int", int_model(&mixed_model(6), 6), mixed_fold()),
        // fully unrolled (constant-weight) dense layers: unsigned input (fc), signed input (d1)
        ("tiny_unrolled", tiny_model(2), fold(&[("fc", 3, 32)])),
        // hard-wired k×k convolutions (the whole window in one fold): padding on every side
        // (conv1), stride 2 with asymmetric padding and a pad value (c1), an even kernel (c2)
        ("tiny_hard_wired", tiny_model(3), fold(&[("conv1", 2, 9)])),
        (
            "mixed_hard_wired",
            mixed_model(7),
            fold(&[("c1 stride2", 4, 18), ("c2", 4, 16), ("d1", 6, 4)]),
        ),
        // a hard-wired depthwise conv (every channel and tap at once) between a hard-wired
        // 3×3 conv and a hard-wired 1×1 conv, in a residual block
        (
            "residual_hard_wired",
            residual_model(8),
            fold(&[("l0", 4, 18), ("l2", 4, 9), ("l3", 4, 4)]),
        ),
        (
            "mixed_unrolled",
            mixed_model(5),
            fold(&[("c2", 4, 2), ("d1", 6, 4), ("d2", 5, 6)]),
        ),
        // `_regs`: every ROM-fed engine with registered schedule flags and datapath
        // registers (`all_rom_regs`; shift-add lanes with SIMD ≥ 3 with the register inside
        // their tree), every MVU with the row tests from difference registers, shift-add and
        // multiplier lanes (in registered halves), SIMD 1 to 8, hard-wired engines with
        // padding and stride 2
        ("mixed_regs", mixed_model(3), mixed_fold()),
        (
            "mixed_hard_wired_regs",
            mixed_model(7),
            fold(&[("c1 stride2", 4, 18), ("c2", 4, 16), ("d1", 6, 4)]),
        ),
        (
            "tiny_int_regs",
            int_model(&tiny_model(5), 5),
            fold(&[("conv1", 2, 1), ("fc", 3, 8)]),
        ),
        // `_read`: every ROM-fed engine with the read registers and their companions
        // (`all_read_regs`), the line-buffer read in two stages (groups of half a bank)
        ("mixed_read", mixed_model(3), mixed_fold()),
        (
            "tiny_int_read",
            int_model(&tiny_model(5), 5),
            fold(&[("conv1", 2, 1), ("fc", 3, 8)]),
        ),
    ]
}

/// A folding of `mixed_model` with PE and SIMD > 1 on every layer.
fn mixed_fold() -> FoldingRequest {
    fold(&[
        ("c1 stride2", 2, 2),
        ("c2", 4, 2),
        ("d1", 3, 2),
        ("d2", 5, 6),
    ])
}

/// A folding of `residual_model` with PE > 1 on the depthwise conv and a fully unrolled 1×1
/// projection shortcut.
fn residual_folding() -> FoldingRequest {
    fold(&[
        ("l0", 2, 1),
        ("l2", 2, 1),
        ("l3", 2, 2),
        ("l5", 3, 2),
        ("l6", 2, 3),
        ("l7", 6, 4),
        ("l10", 5, 3),
    ])
}

fn lint(dir: &std::path::Path, m: &Manifest) {
    let (ok, out, err) = run(Command::new("verilator")
        .current_dir(dir.join("rtl"))
        .args(["--lint-only", "-Wall", "--top-module", "inq_top"])
        .args(rtl_files(m)));
    assert!(
        ok && err.trim().is_empty(),
        "verilator lint failed in {}:\n{out}\n{err}",
        dir.display()
    );
    // the board tops (iCEBreaker UART top where the design has one, the AXI top always)
    let mut tops = Vec::new();
    for board in std::fs::read_dir(dir.join("board")).expect("board folder") {
        for f in std::fs::read_dir(board.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "v") {
                tops.push(p);
            }
        }
    }
    assert!(
        tops.iter().any(|p| p.ends_with("board/axi/inq_axi.v")),
        "{tops:?}"
    );
    for top in tops {
        let module = top.file_stem().unwrap().to_string_lossy().to_string();
        let (ok, out, err) = run(Command::new("verilator")
            .current_dir(dir.join("rtl"))
            .args(["--lint-only", "-Wall", "--top-module", &module])
            .args(rtl_files(m))
            .arg(&top));
        assert!(
            ok && err.trim().is_empty(),
            "verilator lint of {} failed:\n{out}\n{err}",
            top.display()
        );
    }
}

/// yosys on a design: `full` is the generic `synth` (gates, memories as flip-flops), else the
/// elaboration (processes, flattening, `opt`), `check -assert`, then memory inference. The
/// check comes before `memory`: yosys 0.23's `memory_dff` leaves a ROM's output register with
/// an undriven `$0\q` input when `opt_dff` has made some of its bits constant, which `check`
/// reports (the full synthesis maps the memory and the wire disappears).
fn yosys_coarse(dir: &std::path::Path, m: &Manifest, full: bool) -> String {
    let files = rtl_files(m).join(" ");
    let script = if full {
        format!("read_verilog {files}; synth -top inq_top; check -assert; stat")
    } else {
        format!(
            "read_verilog {files}; hierarchy -check -top inq_top; proc; flatten; opt; check -assert; memory -nomap; opt_clean; stat"
        )
    };
    let (ok, out, err) = run(Command::new("yosys")
        .current_dir(dir.join("rtl"))
        .args(["-p", &script]));
    assert!(
        ok,
        "yosys failed in {}:\n{}\n{err}",
        dir.display(),
        &out[out.len().saturating_sub(4000)..]
    );
    let stat = &out[out.rfind("Printing statistics").unwrap_or(0)..];
    let multiply = m.design.mac() == inq_hdl::MacKind::Multiply;
    for bad in [
        "$mul", "$div", "$mod", "$pow", "$macc", "$dlatch", "$_DLATCH", "$sdlatch",
    ] {
        if multiply && (bad == "$mul" || bad == "$macc") {
            continue;
        }
        assert!(
            !stat.contains(bad),
            "{bad} cell in {}:\n{stat}",
            dir.display()
        );
    }
    assert!(
        !out.contains("Latch inferred"),
        "latch inferred in {}",
        dir.display()
    );
    stat.to_string()
}

/// The int8 baseline's lanes must be real multipliers: `$mul` cells after elaboration, and no
/// latch.
fn yosys_has_mul(dir: &std::path::Path, m: &Manifest) {
    let files = rtl_files(m).join(" ");
    let script = format!("read_verilog {files}; hierarchy -check -top inq_top; proc; opt; stat");
    let (ok, out, err) = run(Command::new("yosys")
        .current_dir(dir.join("rtl"))
        .args(["-p", &script]));
    assert!(ok, "yosys failed in {}:\n{err}", dir.display());
    let stat = &out[out.rfind("Printing statistics").unwrap_or(0)..];
    assert!(
        stat.contains("$mul"),
        "no $mul cell in {}:\n{stat}",
        dir.display()
    );
    assert!(
        !out.contains("Latch inferred"),
        "latch inferred in {}",
        dir.display()
    );
}

// The designs in two tests, so that their full syntheses run on two cores.
#[test]
fn lint_synth_compile_small_designs_first_half() {
    let all = designs();
    let half = all.len() / 2;
    lint_synth_compile(all.into_iter().take(half));
}

#[test]
fn lint_synth_compile_small_designs_second_half() {
    let all = designs();
    let half = all.len() / 2;
    lint_synth_compile(all.into_iter().skip(half));
}

/// Verilator lint, yosys synthesis (no multiplier or latch cells unless the int8 baseline's
/// `$mul`) and Icarus elaboration of each design.
fn lint_synth_compile(designs: impl Iterator<Item = (&'static str, QuantModel, FoldingRequest)>) {
    let have_v = have("verilator");
    let have_y = have("yosys");
    let have_i = have("iverilog");
    for (name, model, req) in designs {
        let dir = scratch(name).join("out");
        let m = if name.ends_with("_regs") {
            gen_with(&model, &req, &dir, all_rom_regs)
        } else if name.ends_with("_read") {
            gen_with(&model, &req, &dir, all_read_regs)
        } else {
            gen(&model, &req, &dir)
        };
        if have_v {
            lint(&dir, &m);
        } else {
            assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
            eprintln!("skipping verilator lint: verilator not installed");
        }
        if have_y {
            if m.design.mac() == inq_hdl::MacKind::Multiply {
                yosys_has_mul(&dir, &m);
            }
            // The full generic synthesis (gate mapping, memories as flip-flops) takes
            // 12–65 s per design and finds nothing the coarse checks miss on our RTL; it runs
            // on the small `tiny_*` designs (every engine kind but the graph ones), the
            // coarse elaboration (processes, flattening, memories, `check -assert`) on all.
            // Xilinx and iCE40 synthesis of whole designs: tests/yosys.rs, inq-report.
            yosys_coarse(&dir, &m, name.starts_with("tiny"));
        } else {
            assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
            eprintln!("skipping yosys: yosys not installed");
        }
        if have_i {
            let (ok, out, err) = run(Command::new("iverilog")
                .current_dir(dir.join("rtl"))
                .args(["-g2005", "-Wall", "-o", "/dev/null", "-s", "inq_top"])
                .args(rtl_files(&m)));
            assert!(ok, "iverilog failed for {name}:\n{out}\n{err}");
        } else {
            assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
            eprintln!("skipping iverilog: iverilog not installed");
        }
    }
}

#[test]
fn lenet_design_checks() {
    let model = lenet_model(7);
    let req = fold(&[
        ("conv1", 4, 1),
        ("conv2", 8, 4),
        ("fc1", 8, 8),
        ("fc2", 2, 8),
    ]);
    let t0 = std::time::Instant::now();
    let design = inq_hdl::plan(&model, &req).expect("plan");
    let dir = scratch("lenet").join("out");
    let m = inq_codegen::generate(&design, &model, &dir, &inq_codegen::GenOptions::default())
        .expect("generate");
    let gen_time = t0.elapsed();
    eprintln!("lenet plan+generate: {gen_time:?}");
    eprintln!("{}", design.summary_table(100.0));
    if have("verilator") {
        lint(&dir, &m);
    } else {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("skipping verilator lint: verilator not installed");
    }
    if have("yosys") {
        let t = std::time::Instant::now();
        let stat = yosys_coarse(&dir, &m, false);
        eprintln!("lenet yosys coarse check: {:?}", t.elapsed());
        assert!(
            stat.contains("$add") || stat.contains("$sub"),
            "no adders?\n{stat}"
        );
    } else {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("skipping yosys: yosys not installed");
    }
    if have("iverilog") {
        let (ok, out, err) = run(Command::new("iverilog")
            .current_dir(dir.join("rtl"))
            .args(["-g2005", "-o", "/dev/null", "-s", "inq_top"])
            .args(rtl_files(&m)));
        assert!(ok, "iverilog failed:\n{out}\n{err}");
    }
}

/// Writes a testbench that streams `n_words` input beats (HWC order) with pseudo-random input
/// gaps and output back-pressure, and prints every transfer on every tap of the manifest
/// (`TAP <k> <value>`) and every output beat.
fn testbench(m: &Manifest, n_words: usize, seed: u16) -> String {
    let mut taps = String::new();
    for (k, t) in m.taps.iter().enumerate() {
        let data = if t.signed {
            format!("$signed(dut.{})", t.tdata)
        } else {
            format!("dut.{}", t.tdata)
        };
        taps.push_str(&format!(
            "      if (dut.{} && dut.{}) $display(\"TAP {k} %0d\", {data});\n",
            t.tvalid, t.tready
        ));
    }
    let iw = m.ports.in_width;
    let ow = m.ports.out_width;
    let xw = m.ports.argmax_width;
    format!(
        r#"`timescale 1ns/1ps
// All stimulus changes and observations happen at the falling edge, when every signal is
// stable: a beat observed with valid && ready at a falling edge transfers at the next rising edge.
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
  integer cyc = 0;
  inq_top dut(.clk(clk), .rst(rst), .s_axis_tdata(s_data), .s_axis_tvalid(s_valid),
    .s_axis_tready(s_ready), .s_axis_tlast(1'b0), .m_axis_tdata(m_data), .m_axis_tvalid(m_valid),
    .m_axis_tready(m_ready), .m_axis_tlast(m_last), .m_axis_tuser(m_user));
  always #5 clk = ~clk;
  initial begin
    $readmemh("tb_in.hex", mem);
    repeat (3) @(negedge clk);
    rst = 1'b0;
  end
  always @(negedge clk) begin
    if (!rst) begin
      cyc = cyc + 1;
      lfsr = {{lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]}};
      s_valid = (idx < {nw}) && (lfsr[0] | lfsr[2]);
      s_data = mem[idx < {nw} ? idx : 0];
      m_ready = lfsr[4] | lfsr[7];
      #1;
{taps}      if (s_valid && s_ready) idx = idx + 1;
      if (m_valid && m_ready) begin
        $display("OUT %0d %0d %0d %0d", $signed(m_data), m_last, m_user, cyc);
        outs = outs + 1;
        if (outs == {nout}) $finish;
      end
      if (cyc > {limit}) begin $display("TIMEOUT"); $finish; end
    end
  end
endmodule
"#,
        iw1 = iw - 1,
        ow1 = ow - 1,
        xw1 = xw - 1,
        nw1 = n_words - 1,
        nw = n_words,
        nout = m.outputs * (n_words / m.input.elements),
        limit = 2_000_000,
        seed = seed,
        taps = taps,
    )
}

/// Generates the design of `model` folded by `req`, streams `images` random images through it
/// in Icarus with input gaps and back-pressure, and compares every tap of the manifest with
/// `inq_design::tap_values` of the reference, and every logit, `tlast` and argmax.
fn functional(name: &str, model: &QuantModel, req: &FoldingRequest, images: usize, seed: u64) {
    if !have("iverilog") {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("skipping functional run {name}: iverilog not installed");
        return;
    }
    let dir = scratch(name).join("out");
    let m = gen(model, req, &dir);
    let [c, h, w] = model.input.shape;
    let f = model.input.format;
    let mut rng = Rng::new(seed);
    let mut words = Vec::new();
    let mut expect = Vec::new();
    let mut tap_want: Vec<Vec<i64>> = vec![Vec::new(); m.taps.len()];
    let reference = inq_model::Reference::new(model).unwrap();
    for _ in 0..images {
        let chw: Vec<i64> = (0..c * h * w)
            .map(|_| rng.range(f.min(), f.max()))
            .collect();
        let input = inq_model::Tensor {
            shape: vec![c, h, w],
            data: chw.clone(),
        };
        for v in inq_design::chw_to_hwc(&chw, [c, h, w]) {
            words.push(format!("{:x}", (v as u64) & ((1u64 << f.bits) - 1)));
        }
        let run = reference.run(&chw).unwrap();
        for (k, t) in m.taps.iter().enumerate() {
            tap_want[k].extend(inq_design::tap_values(model, &input, &run, t.node).expect("tap"));
        }
        expect.push(run);
    }
    let rtl = dir.join("rtl");
    std::fs::write(rtl.join("tb_in.hex"), words.join("\n") + "\n").unwrap();
    std::fs::write(
        rtl.join("tb.v"),
        testbench(&m, words.len(), 0xACE1 ^ seed as u16),
    )
    .unwrap();
    let (ok, out, err) = run(Command::new("iverilog")
        .current_dir(&rtl)
        .args(["-g2005", "-o", "tb.vvp", "-s", "tb", "tb.v"])
        .args(rtl_files(&m)));
    assert!(ok, "iverilog: {out}\n{err}");
    let (ok, out, err) = run(Command::new("vvp").current_dir(&rtl).args(["-n", "tb.vvp"]));
    assert!(ok, "vvp: {out}\n{err}");
    assert!(!out.contains("TIMEOUT"), "{name}: timeout\n{out}");
    let beats: Vec<Vec<i64>> = out
        .lines()
        .filter_map(|l| l.strip_prefix("OUT "))
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    let n = m.outputs;
    // every tap (the input and every node's stream) against the reference, in stream order
    for (k, t) in m.taps.iter().enumerate() {
        let got: Vec<i64> = out
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("TAP {k} ")))
            .map(|t| t.trim().parse().unwrap())
            .collect();
        let want = &tap_want[k];
        assert_eq!(
            got.len(),
            want.len(),
            "{name}: tap {k} ({:?}, {}) element count",
            t.name,
            t.tdata
        );
        if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
            panic!(
                "{name}: tap {k} ({:?}, {}) element {i}: got {} want {}\n got {:?}\nwant {:?}",
                t.name,
                t.tdata,
                got[i],
                want[i],
                &got[..got.len().min(40)],
                &want[..want.len().min(40)]
            );
        }
    }
    assert_eq!(beats.len(), n * images, "{name}: output count\n{out}");
    for (i, e) in expect.iter().enumerate() {
        let got: Vec<i64> = beats[i * n..(i + 1) * n].iter().map(|b| b[0]).collect();
        assert_eq!(got, e.logits, "{name}: logits of image {i}");
        for (j, b) in beats[i * n..(i + 1) * n].iter().enumerate() {
            assert_eq!(
                b[1],
                i64::from(j == n - 1),
                "{name}: tlast image {i} beat {j}"
            );
        }
        assert_eq!(
            beats[(i + 1) * n - 1][2],
            e.argmax as i64,
            "{name}: argmax of image {i}"
        );
    }
    eprintln!(
        "{name}: {images} images OK ({} taps), last output at cycle {}",
        m.taps.len(),
        beats.last().map(|b| b[3]).unwrap_or(0)
    );
}

#[test]
fn tiny_design_matches_reference_in_icarus() {
    functional(
        "fn_tiny_min",
        &tiny_model(11),
        &FoldingRequest::Minimal,
        3,
        1,
    );
    functional(
        "fn_tiny_fold",
        &tiny_model(12),
        &fold(&[("conv1", 2, 1), ("fc", 3, 4)]),
        3,
        2,
    );
}

#[test]
fn int_designs_match_reference_in_icarus() {
    functional(
        "fn_tiny_int",
        &int_model(&tiny_model(15), 15),
        &fold(&[("conv1", 2, 1), ("fc", 3, 4)]),
        3,
        5,
    );
    functional(
        "fn_mixed_int",
        &int_model(&mixed_model(16), 16),
        &fold(&[
            ("c1 stride2", 2, 2),
            ("c2", 4, 2),
            ("d1", 3, 2),
            ("d2", 5, 6),
        ]),
        2,
        6,
    );
    functional(
        "fn_residual_int",
        &int_model(&residual_model(7), 7),
        &residual_folding(),
        2,
        9,
    );
}

#[test]
fn unrolled_designs_match_reference_in_icarus() {
    functional(
        "fn_tiny_unrolled",
        &tiny_model(14),
        &fold(&[("conv1", 2, 1), ("fc", 3, 32)]),
        3,
        4,
    );
    functional(
        "fn_mixed_unrolled",
        &mixed_model(15),
        &fold(&[("c1 stride2", 2, 2), ("d1", 6, 4), ("d2", 5, 6)]),
        3,
        5,
    );
    functional(
        "fn_residual_hard_wired",
        &residual_model(17),
        &fold(&[("l0", 4, 18), ("l2", 4, 9), ("l3", 4, 4)]),
        2,
        7,
    );
    functional(
        "fn_mixed_hard_wired",
        &mixed_model(16),
        &fold(&[("c1 stride2", 4, 18), ("c2", 4, 16), ("d1", 6, 4)]),
        3,
        6,
    );
}

#[test]
fn mixed_design_matches_reference_in_icarus() {
    functional(
        "fn_mixed",
        &mixed_model(13),
        &fold(&[
            ("c1 stride2", 2, 2),
            ("c2", 4, 2),
            ("d1", 3, 2),
            ("d2", 5, 6),
        ]),
        3,
        3,
    );
    functional(
        "fn_mixed_min",
        &mixed_model(14),
        &FoldingRequest::Minimal,
        2,
        4,
    );
}

#[test]
fn residual_designs_match_reference_in_icarus() {
    functional(
        "fn_residual_fold",
        &residual_model(17),
        &residual_folding(),
        3,
        7,
    );
    functional(
        "fn_residual_min",
        &residual_model(18),
        &FoldingRequest::Minimal,
        2,
        8,
    );
}

/// Every module elaborates on its own (default parameters, no memory file present) and the
/// whole design from its files read in any order: yosys with plain `read_verilog` (no
/// `-defer`), Icarus and Verilator, with the file lists reversed.
#[test]
fn standalone_rtl_in_any_order() {
    let (have_v, have_y, have_i) = (have("verilator"), have("yosys"), have("iverilog"));
    for (name, model, req) in [
        ("standalone_residual", residual_model(3), residual_folding()),
        ("standalone_mixed", mixed_model(3), FoldingRequest::Minimal),
        (
            "standalone_int",
            int_model(&tiny_model(5), 5),
            fold(&[("conv1", 2, 1), ("fc", 3, 8)]),
        ),
    ] {
        let dir = scratch(name).join("out");
        let m = gen(&model, &req, &dir);
        let rtl = dir.join("rtl");
        let mut files = rtl_files(&m);
        files.reverse();
        // every module alone (but the top, which instantiates the others), with its default
        // parameters, in a folder without any memory file
        let alone = scratch(&format!("{name}-alone"));
        for f in &files {
            std::fs::copy(rtl.join(f), alone.join(f)).unwrap();
            let module = f.trim_end_matches(".v");
            if have_y && module != "inq_top" {
                let (ok, out, err) = run(Command::new("yosys").current_dir(&alone).args([
                    "-p",
                    &format!(
                        "read_verilog {f}; hierarchy -check -top {module}; proc; check -assert"
                    ),
                ]));
                assert!(
                    ok,
                    "yosys: {f} alone:\n{}\n{err}",
                    &out[out.len().saturating_sub(3000)..]
                );
                // a per-engine module's defaults are its instance's values: its body
                // elaborates alone without a range outside a signal
                assert!(
                    !out.contains("out of bounds") && !err.contains("out of bounds"),
                    "yosys: {f} alone selects out of range:\n{out}\n{err}"
                );
            }
            if have_i && module != "inq_top" {
                let (ok, out, err) = run(Command::new("iverilog").current_dir(&alone).args([
                    "-g2005",
                    "-Wall",
                    "-o",
                    "/dev/null",
                    "-s",
                    module,
                    f,
                ]));
                assert!(ok, "iverilog: {f} alone:\n{out}\n{err}");
            }
            std::fs::remove_file(alone.join(f)).unwrap();
        }
        if have_y {
            // (full synthesis of these families is in lint_synth_compile_small_designs)
            let script = format!(
                "read_verilog {}; hierarchy -check -top inq_top; proc; check -assert; stat",
                files.join(" ")
            );
            let (ok, out, err) = run(Command::new("yosys")
                .current_dir(&rtl)
                .args(["-p", &script]));
            assert!(
                ok,
                "yosys `{script}` in {}:\n{}\n{err}",
                rtl.display(),
                &out[out.len().saturating_sub(4000)..]
            );
            assert!(!out.contains("Can not open file"), "{out}");
            // the top passes the real file names: the tables and ROMs are initialized
            assert!(out.contains("$meminit"), "no memory initialization:\n{out}");
        } else {
            assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
            eprintln!("skipping yosys: yosys not installed");
        }
        if have_i {
            let (ok, out, err) = run(Command::new("iverilog")
                .current_dir(&rtl)
                .args(["-g2005", "-Wall", "-o", "/dev/null", "-s", "inq_top"])
                .args(&files));
            assert!(ok, "iverilog {name}:\n{out}\n{err}");
        } else {
            assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
            eprintln!("skipping iverilog: iverilog not installed");
        }
        if have_v {
            let (ok, out, err) = run(Command::new("verilator")
                .current_dir(&rtl)
                .args(["--lint-only", "-Wall", "--top-module", "inq_top"])
                .args(&files));
            assert!(
                ok && err.trim().is_empty(),
                "verilator {name}:\n{out}\n{err}"
            );
        } else {
            assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
            eprintln!("skipping verilator lint: verilator not installed");
        }
    }
}

/// `inq_add` alone (its template and the plan's parameters, `inq_hdl::AddUnit::params`)
/// against `AddArith::apply` of `inq-model`, with input gaps and output back-pressure: right
/// shifts (also beyond the sum's width), left shifts, no shift, ReLU and signed saturation.
#[test]
fn adder_module_matches_numerics() {
    use inq_hdl::{AddUnit, EngineOp, Io};
    use inq_model::ops::AddArith;
    if !have("iverilog") {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("skipping adder run: iverilog not installed");
        return;
    }
    // a generated design provides the module file
    let dir = scratch("add_module").join("out");
    let m = gen(&residual_model(3), &FoldingRequest::Minimal, &dir);
    assert!(m.rtl_files.iter().any(|f| f == "rtl/inq_add.v"));
    let module = dir.join("rtl/inq_add.v");
    let cases = [
        (act(6, false, -4), act(6, true, -4), act(6, false, -3), true),
        (act(6, true, -5), act(7, true, -3), act(8, true, -7), false),
        (act(8, false, -8), act(4, true, -2), act(5, true, -8), false),
        (act(4, true, -4), act(4, true, -4), act(6, false, 20), true),
        (act(4, true, -4), act(4, true, -6), act(6, true, 9), false),
        (
            act(5, false, -2),
            act(5, false, -2),
            act(3, false, -2),
            true,
        ),
    ];
    for (ci, (fa, fb, fo, relu)) in cases.into_iter().enumerate() {
        let ar = AddArith::new(fa, fb, fo, relu);
        let unit = AddUnit::new(1, &ar, fb.bits, fb.signed);
        let io = Io {
            in_width: fa.bits,
            in_signed: fa.signed,
            out_width: fo.bits,
            out_signed: fo.signed,
        };
        let params: Vec<String> = unit
            .params(&io)
            .iter()
            .map(|p| match &p.value {
                inq_hdl::ParamValue::Int(v) => format!(".{}({v})", p.name),
                other => panic!("unexpected adder parameter {other:?}"),
            })
            .collect();
        let mut rng = Rng::new(ci as u64 + 40);
        let mut pairs = vec![
            (fa.min(), fb.min()),
            (fa.max(), fb.max()),
            (fa.min(), fb.max()),
            (fa.max(), fb.min()),
            (0, 0),
        ];
        pairs.extend(
            (0..300).map(|_| (rng.range(fa.min(), fa.max()), rng.range(fb.min(), fb.max()))),
        );
        let word = |v: i64, bits: u32| format!("{:x}", (v as u64) & ((1u64 << bits) - 1));
        let n = pairs.len();
        let work = scratch(&format!("add_module_{ci}"));
        std::fs::write(
            work.join("a.hex"),
            pairs
                .iter()
                .map(|p| word(p.0, fa.bits) + "\n")
                .collect::<String>(),
        )
        .unwrap();
        std::fs::write(
            work.join("b.hex"),
            pairs
                .iter()
                .map(|p| word(p.1, fb.bits) + "\n")
                .collect::<String>(),
        )
        .unwrap();
        let out_fmt = if fo.signed { "$signed(y)" } else { "y" };
        let tb = format!(
            r#"`timescale 1ns/1ps
module tb;
  reg clk = 1'b0;
  reg rst = 1'b1;
  reg [{aw1}:0] am [0:{n1}];
  reg [{bw1}:0] bm [0:{n1}];
  integer ia = 0;
  integer ib = 0;
  integer outs = 0;
  integer cyc = 0;
  reg [15:0] lfsr = 16'h1D0F;
  reg av = 1'b0;
  reg bv = 1'b0;
  reg yr = 1'b0;
  reg [{aw1}:0] ad = 0;
  reg [{bw1}:0] bd = 0;
  wire ar, br, yv;
  wire [{ow1}:0] y;
  inq_add #({params}) dut(.clk(clk), .rst(rst),
    .a_data(ad), .a_valid(av), .a_ready(ar),
    .b_data(bd), .b_valid(bv), .b_ready(br),
    .out_data(y), .out_valid(yv), .out_ready(yr));
  always #5 clk = ~clk;
  initial begin
    $readmemh("a.hex", am);
    $readmemh("b.hex", bm);
    repeat (3) @(negedge clk);
    rst = 1'b0;
  end
  always @(negedge clk) begin
    if (!rst) begin
      cyc = cyc + 1;
      lfsr = {{lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]}};
      av = (ia < {n}) && (lfsr[0] | lfsr[3]);
      bv = (ib < {n}) && (lfsr[1] | lfsr[5]);
      yr = lfsr[2] | lfsr[7];
      ad = am[ia < {n} ? ia : 0];
      bd = bm[ib < {n} ? ib : 0];
      #1;
      if (av && ar) ia = ia + 1;
      if (bv && br) ib = ib + 1;
      if (yv && yr) begin
        $display("Y %0d", {out_fmt});
        outs = outs + 1;
        if (outs == {n}) $finish;
      end
      if (cyc > 100000) begin $display("TIMEOUT"); $finish; end
    end
  end
endmodule
"#,
            aw1 = fa.bits - 1,
            bw1 = fb.bits - 1,
            ow1 = fo.bits - 1,
            n1 = n - 1,
            params = params.join(", "),
        );
        std::fs::write(work.join("tb.v"), tb).unwrap();
        let (ok, out, err) = run(Command::new("iverilog")
            .current_dir(&work)
            .args(["-g2005", "-o", "tb.vvp", "-s", "tb", "tb.v"])
            .arg(&module));
        assert!(ok, "iverilog: {out}\n{err}");
        let (ok, out, err) = run(Command::new("vvp")
            .current_dir(&work)
            .args(["-n", "tb.vvp"]));
        assert!(ok && !out.contains("TIMEOUT"), "vvp: {out}\n{err}");
        let got: Vec<i64> = out
            .lines()
            .filter_map(|l| l.strip_prefix("Y "))
            .map(|v| v.trim().parse().unwrap())
            .collect();
        let want: Vec<i64> = pairs.iter().map(|&(a, b)| ar.apply(a, b)).collect();
        assert_eq!(got, want, "case {ci}: {ar:?}");
    }
}

/// `inq_gap` alone (its template and the plan's parameters, `inq_hdl::Gap::params`) against
/// `numerics::shift_round` of each channel's sum, over several images streamed back to back
/// with input gaps and output back-pressure: one channel, a one-pixel plane, planes that are
/// not powers of two, signed and unsigned inputs.
#[test]
fn gap_module_matches_numerics() {
    use inq_hdl::{EngineOp, Gap, Io};
    use inq_model::numerics;
    if !have("iverilog") {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("skipping GAP run: iverilog not installed");
        return;
    }
    let dir = scratch("gap_module").join("out");
    let m = gen(&residual_model(3), &FoldingRequest::Minimal, &dir);
    assert!(m.rtl_files.iter().any(|f| f == "rtl/inq_gap.v"));
    let module = dir.join("rtl/inq_gap.v");
    // (C, H, W, bits, signed)
    let cases = [
        (1, 1, 1, 8, false),
        (3, 1, 5, 6, true),
        (4, 3, 3, 7, false),
        (2, 4, 4, 5, true),
        (1, 2, 3, 4, true),
    ];
    for (ci, (c, h, w, bits, signed)) in cases.into_iter().enumerate() {
        let fmt = act(bits, signed, 0);
        let gap = Gap::new(c, h, w, bits);
        let io = Io {
            in_width: bits,
            in_signed: signed,
            out_width: bits,
            out_signed: signed,
        };
        let mut params: Vec<String> = gap
            .params(&io)
            .iter()
            .map(|p| match &p.value {
                inq_hdl::ParamValue::Int(v) => format!(".{}({v})", p.name),
                other => panic!("unexpected GAP parameter {other:?}"),
            })
            .collect();
        params.push(format!(".A({bits})"));
        let images = 4;
        let mut rng = Rng::new(ci as u64 + 60);
        let mut xs = Vec::new();
        let mut want = Vec::new();
        for img in 0..images {
            let vals: Vec<i64> = (0..c * h * w)
                .map(|i| match (img, i % 3) {
                    (0, _) => fmt.max(),
                    (1, _) => fmt.min(),
                    _ => rng.range(fmt.min(), fmt.max()),
                })
                .collect();
            let s = numerics::gap_shift(h * w) as i32;
            for ch in 0..c {
                let sum: i64 = (0..h * w).map(|px| vals[px * c + ch]).sum();
                want.push(numerics::shift_round(sum, s));
            }
            xs.extend(vals);
        }
        let n = xs.len();
        let work = scratch(&format!("gap_module_{ci}"));
        std::fs::write(
            work.join("x.hex"),
            xs.iter()
                .map(|&v| format!("{:x}\n", (v as u64) & ((1u64 << bits) - 1)))
                .collect::<String>(),
        )
        .unwrap();
        let out_fmt = if signed { "$signed(y)" } else { "y" };
        let tb = format!(
            r#"`timescale 1ns/1ps
module tb;
  reg clk = 1'b0;
  reg rst = 1'b1;
  reg [{b1}:0] xm [0:{n1}];
  reg [{b1}:0] xd = 0;
  reg xv = 1'b0;
  reg yr = 1'b0;
  wire xr, yv;
  wire [{b1}:0] y;
  integer ix = 0;
  integer outs = 0;
  integer cyc = 0;
  reg [15:0] lfsr = 16'h5A5A;
  inq_gap #({params}) dut(.clk(clk), .rst(rst),
    .in_data(xd), .in_valid(xv), .in_ready(xr),
    .out_data(y), .out_valid(yv), .out_ready(yr));
  always #5 clk = ~clk;
  initial begin
    $readmemh("x.hex", xm);
    repeat (3) @(negedge clk);
    rst = 1'b0;
  end
  always @(negedge clk) begin
    if (!rst) begin
      cyc = cyc + 1;
      lfsr = {{lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]}};
      xv = (ix < {n}) && (lfsr[0] | lfsr[3]);
      xd = xm[ix < {n} ? ix : 0];
      yr = lfsr[2] & lfsr[6];
      #1;
      if (xv && xr) ix = ix + 1;
      if (yv && yr) begin
        $display("Y %0d", {out_fmt});
        outs = outs + 1;
        if (outs == {nout}) $finish;
      end
      if (cyc > 100000) begin $display("TIMEOUT"); $finish; end
    end
  end
endmodule
"#,
            b1 = bits - 1,
            n1 = n - 1,
            nout = want.len(),
            params = params.join(", "),
        );
        std::fs::write(work.join("tb.v"), tb).unwrap();
        let (ok, out, err) = run(Command::new("iverilog")
            .current_dir(&work)
            .args(["-g2005", "-o", "tb.vvp", "-s", "tb", "tb.v"])
            .arg(&module));
        assert!(ok, "iverilog: {out}\n{err}");
        let (ok, out, err) = run(Command::new("vvp")
            .current_dir(&work)
            .args(["-n", "tb.vvp"]));
        assert!(ok && !out.contains("TIMEOUT"), "vvp: {out}\n{err}");
        let got: Vec<i64> = out
            .lines()
            .filter_map(|l| l.strip_prefix("Y "))
            .map(|v| v.trim().parse().unwrap())
            .collect();
        assert_eq!(
            got, want,
            "case {ci}: C={c} H={h} W={w} bits={bits} signed={signed}"
        );
    }
}

/// The memory variants the planner chooses for timing against the plain ones, in Icarus, cycle
/// by cycle under random traffic: `inq_fifo` with `SRD = 1` (synchronous read, forwarding from
/// the count flags; a FIFO in block RAM) against `SRD = 0` at power-of-two and other depths,
/// and `inq_rom` read in banks (`BANKS > 1`; a deep ROM in logic) against one register
/// (`docs/hardware.md` §3 and §4, "Weight ROMs in banks").
#[test]
fn memory_variants_match_the_plain_ones_in_icarus() {
    if !have("iverilog") {
        assert!(std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(), "a required tool or data set is missing (the next message names it): run scripts/setup, or set INQ_ALLOW_MISSING_TOOLS=1 to skip");
        eprintln!("skipping the memory variants: iverilog not installed");
        return;
    }
    // a generated design provides the module files
    let dir = scratch("memory_variants").join("out");
    let m = gen(&tiny_model(5), &FoldingRequest::Minimal, &dir);
    assert!(m.rtl_files.iter().any(|f| f == "rtl/inq_fifo.v"));
    assert!(m.rtl_files.iter().any(|f| f == "rtl/inq_rom.v"));
    let work = scratch("memory_variants_tb");
    // the ROM image: 600 words of 5 bits (three banks of 256, the last one short)
    let mut rng = Rng::new(77);
    let words: String = (0..600).map(|_| format!("{:x}\n", rng.below(32))).collect();
    std::fs::write(work.join("rom.hex"), words).unwrap();
    let mut fifos = String::new();
    for (i, d) in [2usize, 3, 5, 8, 13].iter().enumerate() {
        fifos.push_str(&format!(
            r#"
  wire [7:0] m0_{i}, m1_{i};
  wire sr0_{i}, sr1_{i}, mv0_{i}, mv1_{i};
  inq_fifo #(.W(8), .D({d})) f0_{i} (.clk(clk), .rst(rst), .s_data(sd), .s_valid(sv),
    .s_ready(sr0_{i}), .m_data(m0_{i}), .m_valid(mv0_{i}), .m_ready(mr));
  inq_fifo #(.W(8), .D({d}), .SRD(1)) f1_{i} (.clk(clk), .rst(rst), .s_data(sd), .s_valid(sv),
    .s_ready(sr1_{i}), .m_data(m1_{i}), .m_valid(mv1_{i}), .m_ready(mr));
  always @(negedge clk) if (!rst) begin
    checks = checks + 1;
    if ((sr0_{i} !== sr1_{i}) || (mv0_{i} !== mv1_{i}) || (mv0_{i} && (m0_{i} !== m1_{i}))) begin
      $display("MISMATCH fifo D={d} cycle %0d: %b %b %b %b %h %h", cyc, sr0_{i}, sr1_{i},
        mv0_{i}, mv1_{i}, m0_{i}, m1_{i});
      bad = bad + 1;
    end
    if (mv0_{i} && mr) reads = reads + 1;
  end
"#
        ));
    }
    let tb = format!(
        r#"`timescale 1ns/1ps
module tb;
  reg clk = 1'b0;
  reg rst = 1'b1;
  integer cyc = 0;
  integer bad = 0;
  integer checks = 0;
  integer reads = 0;
  reg [7:0] sd = 8'h00;
  reg sv = 1'b0;
  reg mr = 1'b0;
  reg [9:0] addr = 10'd0;
  reg en = 1'b1;
  wire [4:0] q0, q1;
  inq_rom #(.DW(5), .DEPTH(600), .AW(10), .FILE("rom.hex")) r0 (.clk(clk), .addr(addr),
    .en(en), .q(q0));
  inq_rom #(.DW(5), .DEPTH(600), .AW(10), .BANKS(3), .FILE("rom.hex")) r1 (.clk(clk),
    .addr(addr), .en(en), .q(q1));
  always @(negedge clk) if (!rst) begin
    checks = checks + 1;
    if (q0 !== q1) begin
      $display("MISMATCH rom cycle %0d: %h %h", cyc, q0, q1);
      bad = bad + 1;
    end
  end
{fifos}
  always #5 clk = ~clk;
  initial begin
    repeat (3) @(posedge clk);
    #1 rst = 1'b0;
    repeat (20000) begin
      @(posedge clk);
      #1;
      cyc = cyc + 1;
      // bursts of writes and reads at changing rates, so every FIFO runs empty and full
      sv = ($random % 8) < ((cyc / 500) % 2 == 0 ? 6 : 2);
      mr = ($random % 8) < ((cyc / 500) % 2 == 0 ? 2 : 6);
      sd = $random;
      en = ($random % 4) != 0;
      addr = {{$random}} % 600;
    end
    $display("DONE checks %0d reads %0d bad %0d", checks, reads, bad);
    $finish;
  end
endmodule
"#
    );
    std::fs::write(work.join("tb.v"), tb).unwrap();
    let (ok, out, err) = run(Command::new("iverilog")
        .current_dir(&work)
        .args(["-g2005", "-o", "tb.vvp", "-s", "tb", "tb.v"])
        .arg(dir.join("rtl/inq_fifo.v"))
        .arg(dir.join("rtl/inq_rom.v")));
    assert!(ok, "iverilog: {out}\n{err}");
    let (ok, out, err) = run(Command::new("vvp")
        .current_dir(&work)
        .args(["-n", "tb.vvp"]));
    assert!(ok, "vvp: {out}\n{err}");
    let done = out
        .lines()
        .find(|l| l.starts_with("DONE"))
        .unwrap_or_else(|| panic!("no summary:\n{out}\n{err}"));
    assert!(done.ends_with("bad 0"), "{}", &out[..out.len().min(4000)]);
    // every FIFO moved thousands of elements (5 FIFOs, about half the cycles each)
    let reads: usize = done
        .split_whitespace()
        .nth(4)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    assert!(reads > 20_000, "{done}");
}
