//! libFuzzer target `npy`: the body is `inq_fuzz::targets::npy` (see `fuzz/src/targets.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| inq_fuzz::targets::npy(data));
