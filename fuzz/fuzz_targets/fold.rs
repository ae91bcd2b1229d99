//! libFuzzer target `fold`: the body is `inq_fuzz::targets::fold` (see `fuzz/src/targets.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| inq_fuzz::targets::fold(data));
