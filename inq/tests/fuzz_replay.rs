//! The short fuzz run in CI (issue 14): every fuzz target of `fuzz/` without libFuzzer.
//!
//! For each target (`onnx`, `idx`, `npy`, `model`, `manifest`, `fold`; the bodies are in
//! `fuzz/src/targets.rs`, compiled here through `#[path]`, so this test and the libFuzzer
//! binaries run the same code) this test
//!
//! 1. replays every committed seed (`fuzz/corpus/<target>/`), every crash regression
//!    (`fuzz/regressions/<target>/`, the inputs of the bugs fuzzing found) and the full-size
//!    models of `models/` (`.onnx` for `onnx`, `.json` for `model`);
//! 2. runs a deterministic mutation loop (fixed seed, [`mutants`] inputs per target): bit
//!    flips, interesting bytes, inserts, deletes, duplicated chunks, splices of two seeds,
//!    "huge length" integers written over binary headers (big-endian, little-endian and
//!    protobuf varints) and huge numbers written over the digits of text inputs.
//!
//! Every input runs under `catch_unwind`: a panic fails the test with the target, the input's
//! origin and mutations, and the input in hex (also saved under `CARGO_TARGET_TMPDIR`). An
//! input taking more than [`HANG`] fails it too. The global allocator is the fuzz binaries'
//! guard (`fuzz/src/alloc_guard.rs`): an allocation above 1 GiB aborts the test binary after
//! printing the target and the input in hex. Long runs use libFuzzer: `scripts/fuzz` and
//! `docs/fuzzing.md`.

#[path = "../../fuzz/src/alloc_guard.rs"]
mod alloc_guard;
#[path = "../../fuzz/src/targets.rs"]
mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[global_allocator]
static GUARD: alloc_guard::Guard = alloc_guard::Guard;

/// Mutated inputs per target, by the cost of one input (the whole test takes about 12 s in
/// the debug build on 2 loaded cores, its targets running in parallel).
fn mutants(target: &str) -> usize {
    match target {
        "onnx" | "manifest" => 3_000,
        "model" => 5_000,
        "fold" => 20_000,
        _ => 50_000,
    }
}

/// The longest one input may take.
const HANG: Duration = Duration::from_secs(10);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("inq/ has a parent")
        .to_path_buf()
}

/// The files of `dir` (none when it does not exist), sorted, as (label, bytes).
fn files(dir: &Path, ext: Option<&str>) -> Vec<(String, Vec<u8>)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = rd
        .map(|e| e.expect("readable folder").path())
        .filter(|p| p.is_file())
        .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable file");
            let label = p.strip_prefix(repo()).unwrap_or(&p).display().to_string();
            (label, bytes)
        })
        .collect()
}

/// SplitMix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const HUGE: [u64; 9] = [
    u64::MAX,
    u32::MAX as u64,
    0x7fff_ffff,
    0x8000_0000,
    0x4000_0000,
    0x1000_0000,
    0xffff,
    0x1_0000_0000,
    1 << 62,
];

const HUGE_TEXT: [&str; 10] = [
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "4294967295",
    "9223372036854775807",
    "-9223372036854775808",
    "1000000000",
    "-1",
    "0",
    "1e308",
];

/// One random edit of `data` (`seeds` for splices); returns what it did.
fn mutate(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[(String, Vec<u8>)]) -> String {
    let len = data.len();
    match rng.below(10) {
        0 if len > 0 => {
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            format!("flip {flips} bits")
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = *rng.pick(&[0, 1, 0x7f, 0x80, 0xff, b'0', b'9', b'"', b'[', b'{']);
            format!("byte @{i}")
        }
        2 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(i..i, bytes);
            format!("insert {n} @{i}")
        }
        3 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            data.drain(i..i + n);
            format!("delete {n} @{i}")
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(256));
            let chunk = data[i..i + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, chunk);
            format!("duplicate {n} @{i} to @{at}")
        }
        5 => {
            let (label, other) = rng.pick(seeds);
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
            format!("splice @{cut} with {label}[{from}..]")
        }
        6 if len > 0 => {
            let v = *rng.pick(&HUGE);
            let i = rng.below(len);
            let bytes: Vec<u8> = match rng.below(4) {
                0 => (v as u32).to_be_bytes().to_vec(),
                1 => (v as u32).to_le_bytes().to_vec(),
                2 => v.to_le_bytes().to_vec(),
                _ => {
                    // a protobuf varint
                    let (mut v, mut out) = (v, Vec::new());
                    loop {
                        let b = (v & 0x7f) as u8;
                        v >>= 7;
                        if v == 0 {
                            out.push(b);
                            break out;
                        }
                        out.push(b | 0x80);
                    }
                }
            };
            let end = (i + bytes.len()).min(len);
            data.splice(i..end, bytes);
            format!("huge {v:#x} @{i}")
        }
        7 => {
            // a huge number over a run of digits (text formats)
            let digits: Vec<usize> = (0..len)
                .filter(|&i| data[i].is_ascii_digit() && (i == 0 || !data[i - 1].is_ascii_digit()))
                .collect();
            if digits.is_empty() {
                return "no digits".into();
            }
            let start = *rng.pick(&digits);
            let end = (start..len)
                .find(|&i| !data[i].is_ascii_digit())
                .unwrap_or(len);
            let t = *rng.pick(&HUGE_TEXT);
            data.splice(start..end, t.bytes());
            format!("number {t} @{start}")
        }
        8 if len > 0 => {
            let n = rng.below(len);
            data.truncate(n);
            format!("truncate to {n}")
        }
        _ => {
            let n = 1 + rng.below(4);
            let i = rng.below(len + 1);
            data.splice(i..i, std::iter::repeat_n(b'\0', n));
            format!("insert {n} zeros @{i}")
        }
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `body` on `input`; an error describes a panic or a hang.
fn run_one(target: &'static str, body: targets::Body, input: &[u8]) -> Result<(), String> {
    alloc_guard::set_current(target, input);
    let t0 = Instant::now();
    let r = catch_unwind(AssertUnwindSafe(|| body(input)));
    let took = t0.elapsed();
    alloc_guard::clear_current();
    match r {
        Err(e) => Err(format!(
            "panicked: {}",
            e.downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| e.downcast_ref::<&str>().copied())
                .unwrap_or("(non-string payload)")
        )),
        Ok(()) if took > HANG => Err(format!("took {took:?} (limit {HANG:?})")),
        Ok(()) => Ok(()),
    }
}

fn fail(target: &str, what: &str, input: &[u8], err: &str) -> ! {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-replay");
    let _ = std::fs::create_dir_all(&dir);
    let saved = dir.join(format!("{target}-failure"));
    let _ = std::fs::write(&saved, input);
    let shown = &input[..input.len().min(4096)];
    panic!(
        "fuzz target `{target}`: {err}\ninput: {what}\nsaved to {}\n{} bytes, hex{}: {}",
        saved.display(),
        input.len(),
        if shown.len() < input.len() {
            " (first 4096)"
        } else {
            ""
        },
        hex(shown)
    );
}

fn fuzz(target: &'static str) {
    let body = targets::by_name(target).expect("a target of targets.rs");
    let root = repo();
    let seeds = files(&root.join("fuzz/corpus").join(target), None);
    assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/{target}");
    let regressions = files(&root.join("fuzz/regressions").join(target), None);
    let extra = match target {
        "onnx" => files(&root.join("models"), Some("onnx")),
        "model" => files(&root.join("models"), Some("json")),
        _ => Vec::new(),
    };
    let t0 = Instant::now();
    for (label, input) in seeds.iter().chain(&regressions).chain(&extra) {
        if let Err(e) = run_one(target, body, input) {
            fail(target, label, input, &e);
        }
    }
    // Mutants of the seeds and regressions (the large models are only replayed).
    let pool: Vec<(String, Vec<u8>)> = seeds.iter().chain(&regressions).cloned().collect();
    let mut rng = Rng(0x0f22_e5ed
        ^ target
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let count = mutants(target);
    for _ in 0..count {
        let (label, base) = rng.pick(&pool);
        let mut input = base.clone();
        let mut steps = Vec::new();
        for _ in 0..1 + rng.below(4) {
            steps.push(mutate(&mut rng, &mut input, &pool));
        }
        if let Err(e) = run_one(target, body, &input) {
            fail(
                target,
                &format!("{label} after {}", steps.join(", ")),
                &input,
                &e,
            );
        }
    }
    eprintln!(
        "fuzz_replay {target}: {} seeds, {} regressions, {} extra files, {count} mutants in {:.1?}; \
         largest single allocation so far {} bytes",
        seeds.len(),
        regressions.len(),
        extra.len(),
        t0.elapsed(),
        alloc_guard::peak()
    );
    assert!(alloc_guard::peak() <= alloc_guard::LIMIT);
}

#[test]
fn onnx() {
    fuzz("onnx");
}

#[test]
fn idx() {
    fuzz("idx");
}

#[test]
fn npy() {
    fuzz("npy");
}

#[test]
fn model() {
    fuzz("model");
}

#[test]
fn manifest() {
    fuzz("manifest");
}

#[test]
fn fold() {
    fuzz("fold");
}

/// Each crash regression is refused with an error saying what is wrong (the fix), not only
/// without a panic: (file under `fuzz/regressions/`, a phrase of the expected error).
const REFUSED: [(&str, &str); 18] = [
    ("onnx/found_concat_cycle_copies.onnx", "depends on itself"),
    (
        "onnx/found_duplicate_output_name.onnx",
        "assigns every tensor once",
    ),
    ("onnx/duplicate_output.onnx", "assigns every tensor once"),
    ("onnx/found_reshape_target_overflow.onnx", "overflows"),
    ("onnx/reshape_huge.onnx", "overflows"),
    (
        "onnx/gather_bomb.onnx",
        "constant evaluation computes at most",
    ),
    (
        "onnx/concat_bomb.onnx",
        "constant evaluation computes at most",
    ),
    ("onnx/empty_huge_transpose.onnx", "dimensions overflow"),
    ("onnx/input_huge_flatten.onnx", "elements per image"),
    ("onnx/gemm_after_huge.onnx", "elements per image"),
    ("onnx/avgpool_k.onnx", "elements per image"),
    ("onnx/conv_pads_2_40.onnx", "pads="),
    ("model/input_huge.json", "elements"),
    ("model/ic_huge.json", "elements"),
    ("model/kernel_huge.json", "overflows"),
    ("model/oc_huge.json", "overflows"),
    ("model/dense_out_huge.json", "overflows"),
    ("npy/found_descr_multibyte_char", "element type"),
];

#[test]
fn regressions_are_refused_with_clear_errors() {
    let dir = repo().join("fuzz/regressions");
    for (target, _) in targets::TARGETS {
        for (label, _) in files(&dir.join(target), None) {
            assert!(
                REFUSED
                    .iter()
                    .any(|(f, _)| label.ends_with(&format!("fuzz/regressions/{f}"))),
                "{label} is not listed in REFUSED"
            );
        }
    }
    for (file, phrase) in REFUSED {
        let bytes = std::fs::read(dir.join(file)).expect("regression file");
        let err = match file.split_once('/').expect("target/file").0 {
            "onnx" => inq_quant::onnx::import_bytes(&bytes, file)
                .map(drop)
                .map_err(|e| e.to_string()),
            "model" => inq_model::QuantModel::from_json_str(
                std::str::from_utf8(&bytes).expect("text"),
                file,
            )
            .map(drop)
            .map_err(|e| e.to_string()),
            "npy" => inq_quant::data::parse_npy(targets::split2(&bytes).0, file)
                .map(drop)
                .map_err(|e| e.to_string()),
            t => panic!("no error check for target {t}"),
        }
        .expect_err(file);
        eprintln!("{file}: {err}");
        assert!(
            err.contains(phrase),
            "{file}: expected \"{phrase}\" in: {err}"
        );
    }
}

/// The two-file inputs of `idx` and `npy` split back into their files.
#[test]
fn split2_undoes_join2() {
    let (a, b) = (b"images".as_slice(), b"labels!".as_slice());
    assert_eq!(targets::split2(&targets::join2(a, b)), (a, b));
    assert_eq!(targets::split2(&targets::join2(&[], b)), (&[][..], b));
    assert_eq!(targets::split2(b"x"), (&b"x"[..], &[][..]));
    assert_eq!(targets::split2(&[9, 0, 1]), (&[1u8][..], &[][..]));
}

/// Every folder of `fuzz/corpus` and `fuzz/regressions` belongs to a target, and every target
/// has a `[[bin]]` in `fuzz/Cargo.toml` and a seed folder.
#[test]
fn folders_match_targets() {
    let root = repo();
    for dir in ["fuzz/corpus", "fuzz/regressions"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            for e in rd {
                let name = e.expect("readable folder").file_name();
                let name = name.to_string_lossy();
                assert!(
                    targets::by_name(&name).is_some(),
                    "{dir}/{name} is not a target of fuzz/src/targets.rs"
                );
            }
        }
    }
    let manifest = std::fs::read_to_string(root.join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in targets::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "no [[bin]] {name} in fuzz/Cargo.toml"
        );
        assert!(
            root.join("fuzz/fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "no fuzz/fuzz_targets/{name}.rs"
        );
        assert!(
            root.join("fuzz/corpus").join(name).is_dir(),
            "no seeds for {name}"
        );
    }
}
