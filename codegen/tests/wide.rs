//! Wide beats (`docs/hardware.md` §2): streams of `k` elements per beat between hard-wired MVUs
//! (`KI`, `KO`) and pools (`K`: tiled, §5.1, and line-buffered, §5), set by hand on a planned
//! design ([`set_beats`]). The
//! generated top must lint (Verilator `-Wall`) and elaborate (yosys) cleanly, and in Icarus
//! every element of every tap and every logit must equal the reference, image after image
//! under input gaps and output back-pressure; the checks of the graph refuse beats that do not
//! fit.

mod common;
use common::*;
use inq_design::Manifest;
use inq_model::QuantModel;
use std::path::Path;
use std::process::Command;

fn generate(
    name: &str,
    model: &QuantModel,
    design: &inq_hdl::Design,
) -> (Manifest, std::path::PathBuf) {
    let dir = scratch(name).join("out");
    let m = inq_codegen::generate(design, model, &dir, &inq_codegen::GenOptions::default())
        .expect("generate");
    (m, dir)
}

/// Elements per beat of manifest tap `k`.
fn tap_beat(m: &Manifest, k: usize) -> usize {
    m.design.streams[m.design.taps[k].stream].beat
}

fn lint(dir: &Path, m: &Manifest) {
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

fn yosys(dir: &Path, m: &Manifest) {
    let files = rtl_files(m).join(" ");
    let script = format!(
        "read_verilog {files}; hierarchy -check -top inq_top; proc; flatten; opt; check -assert; memory -nomap; opt_clean; stat"
    );
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
    for bad in ["$mul", "$div", "$mod", "$pow", "$macc", "$dlatch"] {
        assert!(
            !stat.contains(bad),
            "{bad} cell in {}:\n{stat}",
            dir.display()
        );
    }
    assert!(
        !out.contains("Latch inferred"),
        "latch in {}",
        dir.display()
    );
}

#[test]
fn wide_top_has_beat_wide_streams_and_lints() {
    let model = wide_model(5);
    let design = wide_design(&model, true);
    let (m, dir) = generate("wide-lint", &model, &design);
    let top = std::fs::read_to_string(dir.join("rtl/inq_top.v")).unwrap();
    for (s, st) in design.streams.iter().enumerate() {
        let bits = st.width * st.beat as u32;
        let wire = if s == 0 { "q0" } else { &*format!("s{s}") };
        assert!(
            top.contains(&format!("wire [{}:0] {wire}_tdata ", bits - 1)),
            "stream {s}: {bits}-bit wires expected"
        );
        assert!(
            top.contains(&format!(
                "inq_fifo #(\n    .W({bits}),\n    .D({})\n  ) u_fifo_{s} ",
                st.depth
            )),
            "stream {s}: its FIFO is {bits} bits wide"
        );
    }
    assert!(design.streams.iter().any(|s| s.beat == 3));
    // the parameters appear only where a beat is wide
    for (e, en) in design.engines.iter().enumerate() {
        if let inq_hdl::EngineKind::Mvu(mv) = &en.kind {
            let text = std::fs::read_to_string(dir.join(format!("rtl/inq_mvu_e{e}.v"))).unwrap();
            assert!(text.contains(&format!("parameter integer KI         = {},", mv.in_beat)));
            assert!(text.contains(&format!("parameter integer KO         = {},", mv.out_beat)));
        }
    }
    if !have("verilator") || !have("yosys") {
        assert!(
            std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(),
            "verilator and yosys are needed (INQ_ALLOW_MISSING_TOOLS=1 to skip)"
        );
        return;
    }
    lint(&dir, &m);
    yosys(&dir, &m);
}

/// The narrow design, then its MVUs 1→2, 2→3, 3→1 and pools of 2 and 3; KI = KO = PE = C (a
/// whole pixel per beat); engines wide on one side only; and the wide design without
/// pipeline registers.
#[test]
fn wide_designs_match_reference_in_icarus() {
    let model = wide_model(5);
    functional("wide-fn-narrow", &model, &wide_design(&model, false), 2, 3);
    functional("wide-fn", &model, &wide_design(&model, true), 3, 4);
    let mut d = wide_design(&model, false);
    set_beats(
        &mut d,
        &[
            ("c1", 1, 4),
            ("p1", 4, 4),
            ("c2", 4, 6),
            ("p2", 6, 6),
            ("fc", 6, 1),
        ],
    );
    functional("wide-fn-whole", &model, &d, 2, 5);
    let mut d = wide_design(&model, false);
    set_beats(
        &mut d,
        &[
            ("c1", 1, 1),
            ("p1", 1, 1),
            ("c2", 1, 2),
            ("p2", 2, 2),
            ("fc", 2, 1),
        ],
    );
    functional("wide-fn-out-only", &model, &d, 2, 6);
    let mut d = wide_design(&model, false);
    set_beats(&mut d, &[("c1", 1, 4), ("p1", 4, 4), ("c2", 4, 1)]);
    functional("wide-fn-in-only", &model, &d, 2, 7);
    // no pipeline registers in the adder trees (obuf loads at the fire)
    let mut d = wide_design(&model, true);
    inq_hdl::stage_adder_trees(&mut d, 0);
    assert!(d.mvu_engines().all(|(_, _, m)| m.pipeline == 0));
    functional("wide-fn-unpipelined", &model, &d, 2, 8);
}

/// Line-buffered pools (§5: 3×3 stride 2 max and 2×2 stride 1 average over a copy of the
/// buffer per tap, 2×2 stride 4 max over banks; [`overlap_model`]) at several beats: one
/// element, `K = 2` on every pool (two and three channel groups), `K = 2` then 3, and a whole
/// pixel per beat (`K = C`: 4, then 6). The pools' `K` parameter appears only where the beat
/// is wide; every design lints and elaborates and, in Icarus, every element of every tap and
/// every logit equals the reference under input gaps and output back-pressure.
#[test]
fn line_buffered_pools_at_several_beats() {
    let model = overlap_model(3);
    let narrow = overlap_design(&model);
    let pools: Vec<&inq_hdl::Pool> = narrow
        .engines
        .iter()
        .filter_map(|e| match &e.kind {
            inq_hdl::EngineKind::Pool(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(pools.len(), 3);
    assert!(pools.iter().all(|p| !p.tiled()));
    assert_eq!(
        pools.iter().map(|p| p.banked()).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    // the beats of c1, p1, c2, p2, p3, fc (`(name, in, out)`, as [`set_beats`] takes them)
    type Beats = [(&'static str, usize, usize); 6];
    let sets: [(&str, Beats); 4] = [
        (
            "one",
            [
                ("c1", 1, 1),
                ("p1", 1, 1),
                ("c2", 1, 1),
                ("p2", 1, 1),
                ("p3", 1, 1),
                ("fc", 1, 1),
            ],
        ),
        (
            "two",
            [
                ("c1", 1, 2),
                ("p1", 2, 2),
                ("c2", 2, 2),
                ("p2", 2, 2),
                ("p3", 2, 2),
                ("fc", 2, 1),
            ],
        ),
        (
            "two-three",
            [
                ("c1", 1, 2),
                ("p1", 2, 2),
                ("c2", 2, 3),
                ("p2", 3, 3),
                ("p3", 3, 3),
                ("fc", 3, 1),
            ],
        ),
        (
            "pixel",
            [
                ("c1", 1, 4),
                ("p1", 4, 4),
                ("c2", 4, 6),
                ("p2", 6, 6),
                ("p3", 6, 6),
                ("fc", 6, 1),
            ],
        ),
    ];
    let tools = have("verilator") && have("yosys");
    if !tools {
        assert!(
            std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(),
            "verilator and yosys are needed (INQ_ALLOW_MISSING_TOOLS=1 to skip)"
        );
    }
    for (i, (name, beats)) in sets.iter().enumerate() {
        let mut d = narrow.clone();
        set_beats(&mut d, beats);
        let (m, dir) = generate(&format!("pool-{name}"), &model, &d);
        let top = std::fs::read_to_string(dir.join("rtl/inq_top.v")).unwrap();
        for &(engine, k, _) in &beats[1..5] {
            if engine.starts_with('p') {
                // the parameter list before the instance name `u_e<i>_<name>`
                let at = top.find(&format!(") u_e{}_", index(&d, engine))).unwrap();
                let params = &top[top[..at].rfind("inq_pool #(").unwrap()..at];
                assert_eq!(
                    params.contains(&format!(".K({k})")),
                    k > 1,
                    "{name} {engine}: {params}"
                );
            }
        }
        if tools {
            lint(&dir, &m);
            yosys(&dir, &m);
        }
        functional(&format!("pool-fn-{name}"), &model, &d, 3, 20 + i as u64);
    }
}

/// The index of the engine named `name`.
fn index(d: &inq_hdl::Design, name: &str) -> usize {
    d.engines.iter().position(|e| e.name == name).unwrap()
}

#[test]
fn beats_that_do_not_fit_are_refused() {
    let model = wide_model(5);
    let dir = scratch("wide-bad").join("out");
    let opts = inq_codegen::GenOptions::default();
    // a stream whose beat is not its consumer's
    let mut d = wide_design(&model, true);
    let s = d.engines.iter().find(|e| e.name == "p1").unwrap().inputs[0];
    d.streams[s].beat = 1;
    let err = inq_codegen::generate(&d, &model, &dir, &opts).unwrap_err();
    assert!(err.to_string().contains("elements per beat"), "{err}");
    // KO that does not divide PE
    let mut d = wide_design(&model, false);
    set_beats(&mut d, &[("c2", 1, 4), ("p2", 4, 4), ("fc", 4, 1)]);
    let err = inq_codegen::generate(&d, &model, &dir, &opts).unwrap_err();
    assert!(err.to_string().contains("must divide PE"), "{err}");
    // the output stage takes one element per beat
    let mut d = wide_design(&model, true);
    set_beats(&mut d, &[("fc", 3, 3)]);
    let err = inq_codegen::generate(&d, &model, &dir, &opts).unwrap_err();
    assert!(err.to_string().contains("output stage"), "{err}");
}

/// A testbench streaming `n_words` input beats with input gaps and output back-pressure,
/// printing every element of every tap transfer (`TAP <k> <value>`, a wide beat's elements in
/// order) and every output beat.
fn testbench(m: &Manifest, n_words: usize, seed: u16) -> String {
    let mut taps = String::new();
    for (k, t) in m.taps.iter().enumerate() {
        let w = t.width as usize;
        for i in 0..tap_beat(m, k) {
            let slice = format!("dut.{}[{}:{}]", t.tdata, (i + 1) * w - 1, i * w);
            let data = if t.signed {
                format!("$signed({slice})")
            } else {
                slice
            };
            taps.push_str(&format!(
                "      if (dut.{} && dut.{}) $display(\"TAP {k} %0d\", {data});\n",
                t.tvalid, t.tready
            ));
        }
    }
    let iw = m.ports.in_width;
    let ow = m.ports.out_width;
    let xw = m.ports.argmax_width;
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
      if (cyc > 2000000) begin $display("TIMEOUT"); $finish; end
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
    )
}

/// Generates `design`, streams `images` random images through it in Icarus and compares
/// every element of every tap with `inq_design::tap_values` of the reference, and every logit,
/// `tlast` and argmax.
fn functional(name: &str, model: &QuantModel, design: &inq_hdl::Design, images: usize, seed: u64) {
    if !have("iverilog") {
        assert!(
            std::env::var_os("INQ_ALLOW_MISSING_TOOLS").is_some(),
            "iverilog is needed (INQ_ALLOW_MISSING_TOOLS=1 to skip)"
        );
        return;
    }
    let (m, dir) = generate(name, model, design);
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
            "{name}: tap {k} ({:?}, {}, {} per beat) element count",
            t.name,
            t.tdata,
            tap_beat(&m, k)
        );
        if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
            panic!(
                "{name}: tap {k} ({:?}, {}, {} per beat) element {i}: got {} want {}\n got {:?}\nwant {:?}",
                t.name,
                t.tdata,
                tap_beat(&m, k),
                got[i],
                want[i],
                &got[..got.len().min(48)],
                &want[..want.len().min(48)]
            );
        }
    }
    let beats: Vec<Vec<i64>> = out
        .lines()
        .filter_map(|l| l.strip_prefix("OUT "))
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
        .collect();
    let n = m.outputs;
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
