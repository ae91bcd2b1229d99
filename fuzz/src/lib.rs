//! `inq-fuzz`: libFuzzer targets for the loaders of `inq` (not a workspace member; see
//! `docs/fuzzing.md`). The bodies are in [`targets`] and the 1 GiB allocation limit in
//! [`alloc_guard`]; both files are also compiled into the workspace test
//! `inq/tests/fuzz_replay.rs`, which is the short fuzz run in CI.

pub mod alloc_guard;
pub mod targets;

/// Every binary linking this crate uses the guarded allocator.
#[global_allocator]
static GUARD: alloc_guard::Guard = alloc_guard::Guard;
