//! libFuzzer target `onnx`: the body is `inq_fuzz::targets::onnx` (see `fuzz/src/targets.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| inq_fuzz::targets::onnx(data));
