//! The board tops under Verilator (`inq_codegen::board`), each with a hand-written harness:
//!
//! * the iCEBreaker top (`board/icebreaker/inq_icebreaker.v`): the harness models the host's
//!   UART — it sends every image as one byte per input element (8N1, LSB first, at
//!   `CLKS_PER_BIT` clocks per bit), waits for the class byte on TX and decodes it — and the
//!   classes must equal the integer reference's argmax. One run at the board's own bit time (104
//!   clocks at 12 MHz, 115 200 baud), one with a short bit time (8 clocks) and the host sending
//!   the next image while the last one is still computed, which the one-image input FIFO
//!   absorbs; the red LED (FIFO overflow) must stay off;
//! * the AXI top (`board/axi/inq_axi.v`): AXI4-Stream in and out and the AXI4-Lite registers,
//!   driven by a modelled DMA and processor.

mod common;

use common::*;
use inq_codegen::board::ICEBREAKER;
use inq_design::layout::chw_to_hwc;
use inq_model::random::{LayerSpec, RandomSpec};
use inq_model::{ActFormat, QuantModel};
use std::path::Path;
use std::process::Command;

fn model(seed: u64) -> QuantModel {
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
        input: [1, 8, 8],
        input_format: ActFormat {
            bits: 8,
            signed: false,
            exp: -8,
        },
        layers: vec![
            conv(4, 3, 2, 1),
            LayerSpec::MaxPool(2),
            LayerSpec::Flatten,
            LayerSpec::Dense {
                out: 5,
                bits: 5,
                act_bits: 8,
                relu: false,
                per_channel: true,
            },
        ],
    };
    inq_model::random::build(&spec, seed).expect("random model")
}

const HARNESS: &str = r#"
#include "Vinq_icebreaker.h"
#include "verilated.h"
#include <cstdio>
#include <cstdlib>
#include <vector>
// usage: harness BYTES_FILE ELEMENTS CLKS_PER_BIT AHEAD
// prints one decoded class per line, then "overflow N" (the red LED, 1 = lit) and "cycles N"
int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  if (argc < 5) return 2;
  FILE* f = fopen(argv[1], "rb");
  if (!f) return 2;
  std::vector<unsigned char> bytes;
  int c;
  while ((c = fgetc(f)) != EOF) bytes.push_back((unsigned char)c);
  fclose(f);
  const long elements = atol(argv[2]);
  const long cpb = atol(argv[3]);
  const bool ahead = atoi(argv[4]) != 0;
  const long images = (long)bytes.size() / elements;
  Vinq_icebreaker* top = new Vinq_icebreaker;
  top->CLK = 0; top->BTN_N = 1; top->RX = 1;
  top->eval();
  long cycle = 0;
  // host transmitter
  long img = 0, pos = 0;      // next byte to send
  long bit = -1, tick = 0;    // bit of the current frame (-1: idle), clocks left in it
  unsigned frame = 0;
  bool waiting = false;       // host waits for a class before sending the next image
  // host receiver
  long rstate = -1, rtick = 0, rbit = 0; unsigned rbyte = 0; int last_tx = 1;
  long classes = 0;
  const long limit = 4000L * cpb * 10 * elements * (images + 1) + 1000000L;
  while (classes < images && cycle < limit) {
    // drive RX for this cycle
    if (bit < 0 && !waiting && img < images && cycle > 64) {
      frame = (1u << 9) | ((unsigned)bytes[img * elements + pos] << 1);  // stop, data, start
      bit = 0; tick = cpb;
      if (++pos == elements) { pos = 0; img++; if (!ahead) waiting = true; }
    }
    top->RX = (bit >= 0) ? ((frame >> bit) & 1) : 1;
    if (bit >= 0 && --tick == 0) { bit++; tick = cpb; if (bit == 10) bit = -1; }
    top->CLK = 1; top->eval(); top->CLK = 0; top->eval();
    cycle++;
    // sample TX: start bit edge, then the middle of every bit
    int tx = top->TX;
    if (rstate < 0) {
      if (last_tx == 1 && tx == 0) { rstate = 0; rtick = cpb + cpb / 2; rbit = 0; rbyte = 0; }
    } else if (--rtick == 0) {
      if (rbit < 8) { rbyte |= (unsigned)tx << rbit; rbit++; rtick = cpb; }
      else { printf("%u\n", rbyte); classes++; waiting = false; rstate = -1; }
    }
    last_tx = tx;
  }
  printf("overflow %d\ncycles %ld\n", top->LEDR_N ? 0 : 1, cycle);
  top->final();
  delete top;
  return classes == images ? 0 : 1;
}
"#;

/// Builds the top `module` (file `top_file` of the design folder `dir`) with the C++ `harness`
/// under Verilator, with extra Verilator arguments (parameter overrides); returns the
/// executable.
fn build(
    dir: &Path,
    module: &str,
    top_file: &str,
    harness: &str,
    extra: &[String],
    tag: &str,
) -> std::path::PathBuf {
    let work = scratch(&format!("board-{tag}"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("harness.cpp"), harness).unwrap();
    let folder = inq_design::DesignFolder::load(dir).expect("design folder");
    let mut args: Vec<String> = [
        "--cc",
        "--exe",
        "--build",
        "-O2",
        "-Wno-fatal",
        "--top-module",
        module,
        "-o",
        "harness",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    args.push("-Mdir".into());
    args.push(work.join("obj").display().to_string());
    for f in folder.rtl_file_names() {
        args.push(folder.rtl_dir().join(f).display().to_string());
    }
    args.push(dir.join(top_file).display().to_string());
    args.push(work.join("harness.cpp").display().to_string());
    // $readmemh names files relative to the working directory: build and run in rtl/
    let out = Command::new("verilator")
        .args(&args)
        .current_dir(folder.rtl_dir())
        .output()
        .expect("verilator runs");
    assert!(
        out.status.success(),
        "verilator build failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    work.join("obj").join("harness")
}

/// The iCEBreaker top of `dir` with the UART harness, `cpb` clocks per bit.
fn build_uart(dir: &Path, cpb: u64, tag: &str) -> std::path::PathBuf {
    build(
        dir,
        ICEBREAKER.module,
        &ICEBREAKER.top_file(),
        HARNESS,
        &[format!("-GCLKS_PER_BIT={cpb}")],
        tag,
    )
}

fn run(
    dir: &Path,
    exe: &Path,
    images: &[Vec<u8>],
    elements: usize,
    cpb: u64,
    ahead: bool,
) -> (Vec<usize>, String) {
    let bytes: Vec<u8> = images.concat();
    let f = exe.with_file_name("images.bin");
    std::fs::write(&f, &bytes).unwrap();
    let out = Command::new(exe)
        .args([
            f.display().to_string(),
            elements.to_string(),
            cpb.to_string(),
            (ahead as u8).to_string(),
        ])
        .current_dir(dir.join("rtl"))
        .output()
        .expect("harness runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "harness failed:\n{text}");
    let classes = text
        .lines()
        .filter_map(|l| l.trim().parse::<usize>().ok())
        .collect();
    (classes, text)
}

/// Up to 6 random images (CHW) with their reference classes, consecutive ones of different
/// classes where 64 random images allow.
fn pick_images(model: &QuantModel) -> Vec<(Vec<i64>, usize)> {
    let elements: usize = model.input.shape.iter().product();
    let mut pool: Vec<(Vec<i64>, usize)> = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..64 {
        let img: Vec<i64> = (0..elements)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as i64
            })
            .collect();
        let c = inq_model::reference::run(model, &img)
            .expect("reference")
            .argmax;
        pool.push((img, c));
    }
    let mut picked: Vec<(Vec<i64>, usize)> = Vec::new();
    for (img, c) in &pool {
        if picked.len() < 6 && picked.last().is_none_or(|l| l.1 != *c) {
            picked.push((img.clone(), *c));
        }
    }
    picked
}

#[test]
fn icebreaker_top_classifies_images_sent_over_its_uart() {
    require_verilator();
    // CHW images for the reference (random pixels, chosen so that the classes differ; a random
    // model's class depends little on random pixels, so take the first seed whose classes
    // vary), HWC bytes on the wire
    let (model, picked) = (1..200u64)
        .find_map(|seed| {
            let model = model(seed);
            let picked = pick_images(&model);
            (picked.len() >= 4).then_some((model, picked))
        })
        .expect("a random model whose classes vary");
    let chw: Vec<Vec<i64>> = picked.iter().map(|p| p.0.clone()).collect();
    let want: Vec<usize> = picked.iter().map(|p| p.1).collect();
    let (dir, design) = plan_and_generate(&model, &inq_hdl::FoldingRequest::LaneBudget(8), "board");
    assert!(dir.join(ICEBREAKER.top_file()).is_file());
    assert!(dir.join(ICEBREAKER.pcf_file()).is_file());
    let shape = model.input.shape;
    let elements = design.input_elements();
    let wire: Vec<Vec<u8>> = chw
        .iter()
        .map(|x| chw_to_hwc(x, shape).into_iter().map(|v| v as u8).collect())
        .collect();

    // the board's bit time, one image at a time, two images
    let slow = build_uart(&dir, ICEBREAKER.clks_per_bit(), "slow");
    let (got, text) = run(
        &dir,
        &slow,
        &wire[..2],
        elements,
        ICEBREAKER.clks_per_bit(),
        false,
    );
    assert_eq!(got, want[..2], "{text}");
    assert!(text.contains("overflow 0"), "{text}");

    // a short bit time, the host sending ahead
    let fast = build_uart(&dir, 8, "fast");
    let (got, text) = run(&dir, &fast, &wire, elements, 8, true);
    assert_eq!(got, want, "{text}");
    assert!(text.contains("overflow 0"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

const AXI_HARNESS: &str = r#"
#include "Vinq_axi.h"
#include "verilated.h"
#include <cstdio>
#include <cstdlib>
#include <vector>
// usage: harness BYTES_FILE ELEMENTS OUT_BYTES
// sends every image over s_axis (tlast on the last element; the output side not ready for the
// first 300 cycles), then one image with tlast one element early; reads the registers between
// the steps, soft-resets through CTRL and reads them again.
static Vinq_axi* t;
static long cycle = 0;
static void tick() { t->aclk = 1; t->eval(); t->aclk = 0; t->eval(); cycle++; }
static unsigned rd(unsigned a) {
  t->s_axil_araddr = a; t->s_axil_arvalid = 1; t->s_axil_rready = 1;
  for (int i = 0; i < 100 && !t->s_axil_rvalid; i++) { tick(); t->s_axil_arvalid = t->s_axil_rvalid ? 0 : 1; }
  unsigned v = t->s_axil_rdata;
  t->s_axil_arvalid = 0; tick(); t->s_axil_rready = 0;
  return v;
}
static void wr(unsigned a, unsigned v) {
  t->s_axil_awaddr = a; t->s_axil_wdata = v; t->s_axil_wstrb = 0xf;
  t->s_axil_awvalid = 1; t->s_axil_wvalid = 1; t->s_axil_bready = 1;
  for (int i = 0; i < 100 && !t->s_axil_bvalid; i++) tick();
  t->s_axil_awvalid = 0; t->s_axil_wvalid = 0; tick(); t->s_axil_bready = 0;
}
static void regs(const char* when) {
  const char* names[] = {"ctrl", "status", "images_in", "images_out", "class", "cycles",
                         "in_stall", "out_stall", "err", "elements", "classes"};
  for (unsigned i = 1; i <= 10; i++) printf("%s %s %u\n", when, names[i], rd(4 * i));
}
int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  if (argc < 4) return 2;
  FILE* f = fopen(argv[1], "rb");
  if (!f) return 2;
  std::vector<unsigned char> bytes;
  int c;
  while ((c = fgetc(f)) != EOF) bytes.push_back((unsigned char)c);
  fclose(f);
  const long elements = atol(argv[2]);
  const int out_bits = 8 * atoi(argv[3]);
  const long images = (long)bytes.size() / elements;
  t = new Vinq_axi;
  t->aclk = 0; t->aresetn = 0; t->s_axis_tvalid = 0; t->m_axis_tready = 0;
  t->s_axil_awvalid = 0; t->s_axil_wvalid = 0; t->s_axil_arvalid = 0;
  t->s_axil_bready = 0; t->s_axil_rready = 0;
  t->eval();
  for (int i = 0; i < 4; i++) tick();
  t->aresetn = 1; tick();
  regs("idle");
  // one stream run: images (the last one with tlast early when `bad`)
  auto run = [&](long n, bool bad) {
    long sent = 0, got = 0, start = cycle;
    const long total = n * elements;
    while (got < n && cycle - start < 50000000L) {
      long img = sent / elements, pos = sent % elements;
      bool last_img = img == n - 1;
      if (sent < total) {
        t->s_axis_tdata = bytes[(img % images) * elements + pos];
        t->s_axis_tvalid = 1;
        t->s_axis_tlast = (bad && last_img) ? (pos == elements - 2) : (pos == elements - 1);
        t->s_axis_tkeep = 1;
      } else {
        t->s_axis_tvalid = 0;
      }
      t->m_axis_tready = (cycle - start) >= 300;
      t->eval();
      bool in_fire = t->s_axis_tvalid && t->s_axis_tready;
      bool out_fire = t->m_axis_tvalid && t->m_axis_tready;
      unsigned long long d = t->m_axis_tdata;
      bool last = t->m_axis_tlast;
      tick();
      if (in_fire) sent++;
      if (out_fire) {
        long long v = (long long)(d << (64 - out_bits)) >> (64 - out_bits);
        if (!bad) printf("logit %lld\n", v);
        if (last) got++;
      }
    }
    t->s_axis_tvalid = 0;
  };
  run(images, false);
  regs("after");
  run(1, true);
  regs("bad");
  wr(0, 1);
  tick();
  regs("reset");
  t->final();
  delete t;
  return 0;
}
"#;

/// The AXI top (`board/axi/inq_axi.v`) under Verilator: images in over AXI4-Stream with tlast,
/// logits out (the output side held back at first), and the AXI4-Lite registers — image
/// counters, the last class, cycle and stall counters, the tlast error flag and the soft
/// reset — read and written by a modelled processor.
#[test]
fn axi_top_streams_images_and_reports_through_its_registers() {
    require_verilator();
    let (model, picked) = (1..200u64)
        .find_map(|seed| {
            let model = model(seed);
            let picked = pick_images(&model);
            (picked.len() >= 4).then_some((model, picked))
        })
        .expect("a random model whose classes vary");
    let (dir, design) = plan_and_generate(&model, &inq_hdl::FoldingRequest::LaneBudget(8), "axi");
    let shape = model.input.shape;
    let elements = design.input_elements();
    let bytes: Vec<u8> = picked
        .iter()
        .flat_map(|p| chw_to_hwc(&p.0, shape).into_iter().map(|v| v as u8))
        .collect();
    let exe = build(
        &dir,
        "inq_axi",
        "board/axi/inq_axi.v",
        AXI_HARNESS,
        &[],
        "axi",
    );
    let f = exe.with_file_name("images.bin");
    std::fs::write(&f, &bytes).unwrap();
    let out_bytes = design.output.width.div_ceil(8);
    let out = Command::new(&exe)
        .args([
            f.display().to_string(),
            elements.to_string(),
            out_bytes.to_string(),
        ])
        .current_dir(dir.join("rtl"))
        .output()
        .expect("harness runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "harness failed:\n{text}");
    let reg = |when: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| {
                let mut it = l.split_whitespace();
                (it.next() == Some(when) && it.next() == Some(name))
                    .then(|| it.next().unwrap().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no register {when} {name}:\n{text}"))
    };
    // the logits: the argmax of each image's is the reference's class
    let logits: Vec<i64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("logit ").map(|v| v.parse().unwrap()))
        .collect();
    let classes = design.output.count;
    assert_eq!(logits.len(), picked.len() * classes, "{text}");
    for (k, p) in picked.iter().enumerate() {
        let v = &logits[k * classes..(k + 1) * classes];
        assert_eq!(inq_model::numerics::argmax(v), p.1, "image {k}: {v:?}");
    }
    let n = picked.len() as u64;
    assert_eq!(reg("idle", "images_in"), 0);
    assert_eq!(reg("idle", "status"), 0);
    assert_eq!(reg("idle", "elements"), elements as u64);
    assert_eq!(reg("idle", "classes"), classes as u64);
    assert_eq!(reg("after", "images_in"), n);
    assert_eq!(reg("after", "images_out"), n);
    assert_eq!(reg("after", "class"), picked.last().unwrap().1 as u64);
    assert_eq!(reg("after", "err"), 0);
    assert_eq!(reg("after", "status"), 0, "idle, no error");
    assert!(
        reg("after", "out_stall") >= 1,
        "the output side was held back"
    );
    assert!(reg("after", "cycles") > reg("idle", "cycles") + 300);
    // the early tlast is flagged (and the image still counts by its elements)
    assert_eq!(reg("bad", "err"), 1);
    assert_eq!(reg("bad", "status") & 2, 2);
    assert_eq!(reg("bad", "images_in"), n + 1);
    // CTRL bit 0: soft reset clears counters and flags
    assert_eq!(reg("reset", "images_in"), 0);
    assert_eq!(reg("reset", "err"), 0);
    assert!(reg("reset", "cycles") < 100);
    let _ = std::fs::remove_dir_all(&dir);
}
