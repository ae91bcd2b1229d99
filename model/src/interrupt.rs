//! What an interrupt (SIGINT, Ctrl-C) may leave behind: the old output or the new one, never
//! a half one, and none of `inq`'s temporary files.
//!
//! Every output `inq` writes is built beside its final path (a hidden temporary file or
//! staging folder) and renamed into place, so a process killed at any point leaves the old or
//! the new output at that path. Two things remain for an interrupt, and they are here:
//!
//! * the temporaries themselves: each registers while it exists ([`Temp`]); on an interrupt
//!   they are removed;
//! * the few steps that replace an existing output folder (the user's files moved into the
//!   new folder, the old one renamed away, the new one renamed in): they run as one
//!   [`critical`] section, and an interrupt waits for it to end.
//!
//! The binary installs the handler (`ctrlc`) and calls [`exit_interrupted`] from it. Not here:
//! the staging rule itself (`inq_design::write`), atomic file writes (`crate::file`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

/// Held while an output is being swapped into place.
static CRITICAL: Mutex<()> = Mutex::new(());
/// The exit status an interrupt asked for (0: none yet).
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);
/// The temporary files and folders that exist now.
static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A registered temporary file or folder: removed by an interrupt while it is registered;
/// unregistered (not removed) when dropped, since its owner renames or removes it.
#[derive(Debug)]
pub struct Temp {
    path: PathBuf,
}

impl Temp {
    /// Registers `path` (call it before creating the file or folder).
    pub fn register(path: &Path) -> Temp {
        if let Ok(mut t) = TEMPS.lock() {
            t.push(path.to_path_buf());
        }
        Temp {
            path: path.to_path_buf(),
        }
    }
}

/// Unregisters `path` (a staging folder that now holds a user's file): an interrupt no longer
/// removes it.
pub fn keep(path: &Path) {
    if let Ok(mut t) = TEMPS.lock() {
        t.retain(|p| p != path);
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Ok(mut t) = TEMPS.lock() {
            if let Some(i) = t.iter().rposition(|p| *p == self.path) {
                t.swap_remove(i);
            }
        }
    }
}

/// Runs `f` (the steps that swap an output into place, or one write into a staging folder) so
/// that an interrupt waits for it to end. Must not be nested. (`f` may register a [`Temp`]:
/// the handler too takes this lock first, then the registry's.)
pub fn critical<T>(f: impl FnOnce() -> T) -> T {
    let r = {
        let _g = CRITICAL.lock().unwrap_or_else(|p| p.into_inner());
        f()
    };
    // an interrupt that waited for this step ends the process now, before more work
    let code = INTERRUPTED.load(Ordering::SeqCst);
    if code != 0 {
        exit_interrupted(code);
    }
    r
}

/// `std::fs::create_dir_all` as one [`critical`] step, for folders of an output being built:
/// once an interrupt is being handled it never returns (the handler keeps the lock until the
/// process ends), so a staging folder the handler removed is not created again by a write
/// still under way on another thread.
pub fn create_dir_all(p: &Path) -> std::io::Result<()> {
    critical(|| std::fs::create_dir_all(p))
}

/// Called by the main thread before the process ends on its own (success or error): when an
/// interrupt is being handled, waits for the handler, which removes the temporaries and ends
/// the process (a main thread that returned first would end it with a temporary half removed:
/// an interrupted write makes the work fail at once).
pub fn wait_for_interrupt_handler() {
    if INTERRUPTED.load(Ordering::SeqCst) != 0 {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Removes a staging folder that other threads of the process may still be writing into (the
/// handler runs while the work goes on): renamed away first, so that writes by path after that
/// fail instead of recreating it, then removed, again while a write that was already under way
/// adds a file to it (up to half a second).
fn remove_folder_under_writers(p: &Path) {
    let mut dead = p.as_os_str().to_os_string();
    dead.push(".removing");
    let dead = PathBuf::from(dead);
    // (a rename onto an existing empty folder would replace it: only to a free name)
    let target = if std::fs::symlink_metadata(&dead).is_err() && std::fs::rename(p, &dead).is_ok() {
        dead
    } else {
        p.to_path_buf()
    };
    for _ in 0..50 {
        if std::fs::remove_dir_all(&target).is_ok() || !target.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The interrupt handler's body: waits for a [`critical`] section to end, removes every
/// registered temporary file and folder, and ends the process with `code` (130 for SIGINT),
/// keeping the critical lock so that no new swap starts.
pub fn exit_interrupted(code: i32) -> ! {
    INTERRUPTED.store(code.max(1), Ordering::SeqCst);
    let _g = CRITICAL.lock().unwrap_or_else(|p| p.into_inner());
    let temps = TEMPS
        .lock()
        .map(|t| t.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    for p in temps {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => remove_folder_under_writers(&p),
            Ok(_) => {
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
    eprintln!("interrupted: no output was left half written");
    std::process::exit(code)
}
