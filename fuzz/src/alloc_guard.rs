//! A global allocator that refuses any single allocation above [`LIMIT`] (1 GiB), and any
//! allocation that takes the bytes one thread holds above [`LIVE_LIMIT`] (1 GiB: a small file
//! that makes a loader keep many large blocks at once, e.g. copies of one tensor down a deep
//! recursion): it prints the size (and, when a caller registered one with [`set_current`],
//! the target and the input in hex) on stderr and aborts the process, so that libFuzzer
//! reports the input as a crash and a normal test fails loudly instead of swapping. The bytes
//! a thread holds are what it allocated minus what it freed (a block freed by another thread
//! counts there; the loaders do not hand blocks across threads).
//!
//! Shared, like `targets.rs`, by the `inq-fuzz` binaries (through `inq_fuzz::alloc_guard`)
//! and the workspace test `inq/tests/fuzz_replay.rs` (through `#[path]`); each declares its
//! own `#[global_allocator] static _: Guard = Guard;`.
//!
//! Nothing here allocates: the message is formatted into stack buffers and the current input
//! lives in a `const` thread-local (no destructor, so no allocation on first use).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest single allocation allowed, in bytes.
pub const LIMIT: usize = 1 << 30;

/// The most bytes one thread may hold at once.
pub const LIVE_LIMIT: isize = 1 << 30;

/// The guarded allocator (the system allocator plus the size checks).
pub struct Guard;

static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The largest single allocation (or reallocation) made so far, in bytes.
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

#[inline]
fn check(size: usize) {
    if size > LIMIT {
        too_big(size);
    }
    if size > PEAK.load(Ordering::Relaxed) {
        PEAK.fetch_max(size, Ordering::Relaxed);
    }
}

thread_local! {
    static CURRENT: Cell<(&'static str, *const u8, usize)> =
        const { Cell::new(("", std::ptr::null(), 0)) };
    /// Bytes this thread allocated minus bytes it freed.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// Adds `delta` to this thread's held bytes; aborts above [`LIVE_LIMIT`].
#[inline]
fn hold(delta: isize) {
    let now = LIVE
        .try_with(|l| {
            let v = l.get().saturating_add(delta);
            l.set(v);
            v
        })
        .unwrap_or(0);
    if delta > 0 && now > LIVE_LIMIT {
        abort_with(
            b" bytes held by one thread exceed the 1 GiB limit\n",
            now as usize,
        );
    }
}

/// Records the target name and input being run on this thread, for the abort message. The
/// caller must call [`clear_current`] before `input` is dropped.
pub fn set_current(target: &'static str, input: &[u8]) {
    CURRENT.with(|c| c.set((target, input.as_ptr(), input.len())));
}

/// Forgets the input registered by [`set_current`].
pub fn clear_current() {
    CURRENT.with(|c| c.set(("", std::ptr::null(), 0)));
}

fn decimal(mut v: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

#[cold]
fn too_big(size: usize) -> ! {
    abort_with(b" bytes: one allocation exceeds the 1 GiB limit\n", size)
}

#[cold]
fn abort_with(what: &[u8], size: usize) -> ! {
    let mut err = std::io::stderr();
    let mut num = [0u8; 20];
    let _ = err.write_all(b"\ninq-fuzz alloc_guard: ");
    let _ = err.write_all(decimal(size, &mut num));
    let _ = err.write_all(what);
    let (target, ptr, len) = CURRENT
        .try_with(|c| c.get())
        .unwrap_or(("", std::ptr::null(), 0));
    if !ptr.is_null() {
        // SAFETY: set_current's contract: the input outlives its registration.
        let input = unsafe { std::slice::from_raw_parts(ptr, len) };
        let _ = err.write_all(b"target: ");
        let _ = err.write_all(target.as_bytes());
        let _ = err.write_all(b"\ninput (hex): ");
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for chunk in input.chunks(64) {
            let mut line = [0u8; 128];
            for (i, b) in chunk.iter().enumerate() {
                line[2 * i] = HEX[usize::from(b >> 4)];
                line[2 * i + 1] = HEX[usize::from(b & 15)];
            }
            let _ = err.write_all(&line[..2 * chunk.len()]);
        }
        let _ = err.write_all(b"\n");
    }
    std::process::abort()
}

// SAFETY: every call is forwarded to `System` unchanged, or the process aborts.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        hold(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        hold(layout.size() as isize);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        hold(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        hold(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}
