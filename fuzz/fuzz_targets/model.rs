//! libFuzzer target `model`: the body is `inq_fuzz::targets::model` (see `fuzz/src/targets.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| inq_fuzz::targets::model(data));
