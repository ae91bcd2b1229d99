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
            Ok(m) if m.is_dir() => {
                let _ = std::fs::remove_dir_all(&p);
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&p);
            }
            Err(_) => {}
        }
    }
    eprintln!("interrupted: no output was left half written");
    std::process::exit(code)
}
