//! Tool checks of generated designs: Verilator lint, yosys synthesis checks, Icarus compile,
//! and an Icarus functional run against the integer reference with random stalls.

mod common;
use common::*;
use inq_hdl::{Folding, FoldingRequest, LayerFolding};
use inq_model::QuantModel;
use std::process::Command;

fn fold(entries: &[(&str, usize, usize)]) -> FoldingRequest {
    FoldingRequest::Explicit(Folding {
        layer: entries
            .iter()
            .map(|&(n, pe, simd)| LayerFolding {
                name: Some(n.into()),
                index: None,
                pe,
                simd,
            })
            .collect(),
    })
}

fn designs() -> Vec<(&'static str, QuantModel, FoldingRequest)> {
    vec![
        ("tiny_min", tiny_model(1), FoldingRequest::Minimal),
        (
            "tiny_fold",
            tiny_model(2),
            fold(&[("conv1", 2, 1), ("fc", 3, 8)]),
        ),
        (
            "mixed",
            mixed_model(3),
            fold(&[
                ("c1 stride2", 2, 2),
                ("c2", 4, 2),
                ("d1", 3, 2),
                ("d2", 5, 6),
            ]),
        ),
        ("mixed_min", mixed_model(4), FoldingRequest::Minimal),
        (
            "tiny_int_fold",
            int_model(&tiny_model(5), 5),
            fold(&[("conv1", 2, 1), ("fc", 3, 8)]),
        ),
        (
            "mixed_int",
            int_model(&mixed_model(6), 6),
            fold(&[
                ("c1 stride2", 2, 2),
                ("c2", 4, 2),
                ("d1", 3, 2),
                ("d2", 5, 6),
            ]),
        ),
        // fully unrolled (constant-weight) dense layers: unsigned input (fc), signed input (d1)
        ("tiny_unrolled", tiny_model(2), fold(&[("fc", 3, 32)])),
        (
            "mixed_unrolled",
            mixed_model(5),
            fold(&[("c2", 4, 2), ("d1", 6, 4), ("d2", 5, 6)]),
        ),
    ]
}

fn lint(dir: &std::path::Path, m: &inq_codegen::Manifest) {
    let (ok, out, err) = run(Command::new("verilator")
        .current_dir(dir.join("rtl"))
        .args(["--lint-only", "-Wall", "--top-module", "inq_top"])
        .args(rtl_files(m)));
    assert!(
        ok && err.trim().is_empty(),
        "verilator lint failed in {}:\n{out}\n{err}",
        dir.display()
    );
}

fn yosys_coarse(dir: &std::path::Path, m: &inq_codegen::Manifest, full: bool) -> String {
    let files = rtl_files(m).join(" ");
    let script = if full {
        format!("read_verilog -defer {files}; synth -top inq_top; check -assert; stat")
    } else {
        format!(
            "read_verilog -defer {files}; hierarchy -check -top inq_top; proc; flatten; opt; memory -nomap; opt_clean; check -assert; stat"
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
fn yosys_has_mul(dir: &std::path::Path, m: &inq_codegen::Manifest) {
    let files = rtl_files(m).join(" ");
    let script =
        format!("read_verilog -defer {files}; hierarchy -check -top inq_top; proc; opt; stat");
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

#[test]
fn lint_synth_compile_small_designs() {
    let have_v = have("verilator");
    let have_y = have("yosys");
    let have_i = have("iverilog");
    for (name, model, req) in designs() {
        let dir = scratch(name).join("out");
        let m = gen(&model, &req, &dir);
        if have_v {
            lint(&dir, &m);
        } else {
            eprintln!("skipping verilator lint: verilator not installed");
        }
        if have_y {
            if m.design.mac() == inq_hdl::MacKind::Multiply {
                yosys_has_mul(&dir, &m);
            }
            yosys_coarse(&dir, &m, true);
        } else {
            eprintln!("skipping yosys: yosys not installed");
        }
        if have_i {
            let (ok, out, err) = run(Command::new("iverilog")
                .current_dir(dir.join("rtl"))
                .args(["-g2005", "-Wall", "-o", "/dev/null", "-s", "inq_top"])
                .args(rtl_files(&m)));
            assert!(ok, "iverilog failed for {name}:\n{out}\n{err}");
        } else {
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
    assert!(gen_time.as_secs_f64() < 5.0, "generation took {gen_time:?}");
    eprintln!("{}", design.summary_table(100.0));
    if have("verilator") {
        lint(&dir, &m);
    } else {
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

/// Writes a testbench that streams `images` (HWC order) with pseudo-random input gaps and
/// output back-pressure, and prints every output beat.
fn testbench(m: &inq_codegen::Manifest, n_words: usize, seed: u16) -> String {
    let mut taps = String::new();
    for (e, eng) in m.engines.iter().enumerate() {
        taps.push_str(&format!(
            "      if (dut.tap{e}_tvalid && dut.tap{e}_tready) $display(\"TAP {e} %0d\", {});\n",
            if m.design.engines[e].out_signed {
                format!("$signed(dut.tap{e}_tdata)")
            } else {
                format!("dut.tap{e}_tdata")
            }
        ));
        let _ = eng;
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
      s_data = mem[idx];
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

fn functional(name: &str, model: &QuantModel, req: &FoldingRequest, images: usize, seed: u64) {
    if !have("iverilog") {
        eprintln!("skipping functional run: iverilog not installed");
        return;
    }
    let dir = scratch(name).join("out");
    let m = gen(model, req, &dir);
    let [c, h, w] = model.input.shape;
    let f = model.input.format;
    let mut rng = Rng::new(seed);
    let mut words = Vec::new();
    let mut expect = Vec::new();
    let reference = inq_model::Reference::new(model).unwrap();
    for _ in 0..images {
        let chw: Vec<i64> = (0..c * h * w)
            .map(|_| rng.range(f.min(), f.max()))
            .collect();
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let v = chw[(ch * h + y) * w + x];
                    words.push(format!("{:x}", (v as u64) & ((1u64 << f.bits) - 1)));
                }
            }
        }
        expect.push(reference.run(&chw).unwrap());
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
    // every engine's output stream against the reference tensor of its layer (HWC order)
    for (e, eng) in m.design.engines.iter().enumerate() {
        let got: Vec<i64> = out
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("TAP {e} ")))
            .map(|t| t.trim().parse().unwrap())
            .collect();
        let mut want = Vec::new();
        for x in &expect {
            let t = &x.layers[eng.layer];
            if t.shape.len() == 3 {
                let (tc, th, tw) = (t.shape[0], t.shape[1], t.shape[2]);
                for yy in 0..th {
                    for xx in 0..tw {
                        for cc in 0..tc {
                            want.push(t.data[(cc * th + yy) * tw + xx]);
                        }
                    }
                }
            } else {
                want.extend_from_slice(&t.data);
            }
        }
        assert_eq!(got.len(), want.len(), "{name}: engine {e} element count");
        if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
            panic!(
                "{name}: engine {e} ({}) element {i}: got {} want {}\n got {:?}\nwant {:?}",
                eng.op,
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
        "{name}: {images} images OK, last output at cycle {}",
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
