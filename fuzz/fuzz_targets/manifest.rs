//! libFuzzer target `manifest`: the body is `inq_fuzz::targets::manifest` (see `fuzz/src/targets.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| inq_fuzz::targets::manifest(data));
