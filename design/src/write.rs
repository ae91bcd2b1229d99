//! Writing an output folder without losing anything (`docs/user-guide.md`, "Output folders").
//!
//! Every folder `inq` writes carries a marker, `.inq-folder.json`, listing the files `inq`
//! wrote. [`write_folder`] then follows one rule for every command that writes a folder:
//!
//! * a path that does not exist becomes a new folder;
//! * an existing folder with a marker (or an empty folder, or a design folder written before
//!   markers existed) is **replaced atomically**: the new contents are built in a sibling
//!   folder, files `inq` did not write are moved over into it, and it is renamed into place,
//!   so an interrupt leaves either the old or the new folder, never a half one (the swap is an
//!   `inq_model::interrupt::critical` section, and the staging folder a registered temporary
//!   an interrupt removes);
//! * anything else (a folder of other files, a regular file) is refused with an error saying
//!   why, unless `force` is given for a folder: then `inq`'s files are written into it and no
//!   other file is touched. A regular file is never replaced.

use std::path::{Path, PathBuf};

use inq_model::interrupt::{critical, Temp};
use serde::{Deserialize, Serialize};

use crate::error::FolderError;
use crate::manifest::MANIFEST_FORMAT;

/// The marker file's name.
pub const MARKER: &str = ".inq-folder.json";
/// The marker's `format`.
pub const MARKER_FORMAT: &str = "inq-folder";

/// The marker of an `inq` output folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// [`MARKER_FORMAT`].
    pub format: String,
    /// What the folder is (`design`, `flow`, `explore`, `quantize`, ...).
    pub kind: String,
    /// The files `inq` wrote, relative to the folder.
    pub files: Vec<String>,
}

/// The files `inq` wrote into `dir`, if it is an `inq` output folder: from its marker, or for
/// a design folder written before markers existed, from its manifest.
pub fn inq_files(dir: &Path) -> Option<Vec<String>> {
    if let Ok(text) = std::fs::read_to_string(dir.join(MARKER)) {
        if let Ok(m) = serde_json::from_str::<Marker>(&text) {
            if m.format == MARKER_FORMAT {
                let mut f = m.files;
                f.push(MARKER.to_string());
                return Some(f);
            }
        }
    }
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    if v.get("format")?.as_str()? != MANIFEST_FORMAT {
        return None;
    }
    let list = |k: &str| -> Vec<String> {
        v.get(k)
            .and_then(|x| x.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut f = list("rtl_files");
    f.extend(list("hex_files"));
    for x in [
        "manifest.json",
        "model.json",
        "constraints/top.sdc",
        "constraints/top.xdc",
    ] {
        f.push(x.to_string());
    }
    Some(f)
}

/// Every file under `dir`, relative, sorted.
fn all_files(dir: &Path) -> Result<Vec<String>, FolderError> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) -> Result<(), FolderError> {
        let rd = std::fs::read_dir(d).map_err(|e| FolderError::io(d, e))?;
        for e in rd {
            let e = e.map_err(|e| FolderError::io(d, e))?;
            let p = e.path();
            let ft = e.file_type().map_err(|e| FolderError::io(&p, e))?;
            if ft.is_dir() {
                walk(root, &p, out)?;
            } else {
                let rel = p
                    .strip_prefix(root)
                    .map_err(|e| FolderError::io(&p, e))?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// Records files that a later command (`inq report`, `inq impl`) wrote into an existing `inq`
/// folder (tool logs, implementation results) in its marker, so that they count as `inq`'s
/// files: replaced with the folder, never kept over as the user's. `files` are relative to
/// `dir`. A folder without a marker (written before markers existed) is left as it is.
pub fn record_files(dir: &Path, files: &[String]) -> Result<(), FolderError> {
    let path = dir.join(MARKER);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let Ok(mut m) = serde_json::from_str::<Marker>(&text) else {
        return Ok(());
    };
    if m.format != MARKER_FORMAT {
        return Ok(());
    }
    let before = m.files.len();
    for f in files {
        if !m.files.contains(f) {
            m.files.push(f.clone());
        }
    }
    if m.files.len() == before {
        return Ok(());
    }
    let bytes = serde_json::to_vec_pretty(&m).unwrap_or_default();
    inq_model::write_atomic(&path, &bytes).map_err(|e| FolderError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Writes `files` into the staging folder `dir`, each file as a [`critical`] step, so that an
/// interrupt removing `dir` never races with a write that would create it again.
fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), FolderError> {
    for (rel, bytes) in files {
        let p = dir.join(rel);
        critical(|| {
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| FolderError::io(parent, e))?;
            }
            std::fs::write(&p, bytes).map_err(|e| FolderError::io(&p, e))
        })?;
    }
    Ok(())
}

fn marker_bytes(kind: &str, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let m = Marker {
        format: MARKER_FORMAT.into(),
        kind: kind.into(),
        files: files.iter().map(|(r, _)| r.clone()).collect(),
    };
    serde_json::to_vec_pretty(&m).unwrap_or_default()
}

fn sibling(out: &Path, tag: &str) -> Result<PathBuf, FolderError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| FolderError::Refused {
            path: out.display().to_string(),
            message: "not a folder name".into(),
        })?;
    Ok(parent.join(format!(".{base}.{tag}-{}", std::process::id())))
}

/// Creates a new, empty staging folder beside `out` that did not exist before (an existing
/// path of the same name, whoever made it, is never removed: the next suffix is tried), so
/// every later removal of it removes only what `inq` created.
///
/// The folder is registered as a temporary an interrupt removes ([`Temp`]) in the same
/// [`critical`] step that creates it, so an interrupt finds it either absent or registered.
fn fresh_sibling(out: &Path) -> Result<(PathBuf, Temp), FolderError> {
    if let Some(p) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        // (a critical step: the parent may be a staging folder an interrupt is removing)
        inq_model::interrupt::create_dir_all(p).map_err(|e| FolderError::io(p, e))?;
    }
    for n in 0..1000 {
        let tmp = sibling(out, &format!("tmp{n}"))?;
        match critical(|| std::fs::create_dir(&tmp).map(|()| Temp::register(&tmp))) {
            Ok(t) => return Ok((tmp, t)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(FolderError::io(&tmp, e)),
        }
    }
    Err(FolderError::Refused {
        path: out.display().to_string(),
        message: "no free name for a staging folder beside it".into(),
    })
}

/// An output folder being built beside its final place ([`Staging::begin`]): write anything
/// into [`Staging::path`], then [`Staging::commit`] it to the final path with the rule of the
/// module documentation (checked before anything is built, and again at the commit). Dropped
/// without a commit, the partial folder is removed and the old output stays.
#[derive(Debug)]
pub struct Staging {
    out: PathBuf,
    tmp: PathBuf,
    _temp: Temp,
    kind: String,
    force: bool,
    done: bool,
}

impl Staging {
    /// Checks that `out` may be written (see [`check_output`]) and creates the staging folder.
    pub fn begin(out: &Path, kind: &str, force: bool) -> Result<Staging, FolderError> {
        check_output(out, force)?;
        let (tmp, temp) = fresh_sibling(out)?;
        Ok(Staging {
            out: out.to_path_buf(),
            _temp: temp,
            tmp,
            kind: kind.to_string(),
            force,
            done: false,
        })
    }

    /// Where to write the new contents.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Moves the staged folder into place (atomically replacing an `inq` folder, keeping the
    /// files `inq` did not write).
    pub fn commit(mut self) -> Result<(), FolderError> {
        let files: Vec<(String, Vec<u8>)> = all_files(&self.tmp)?
            .into_iter()
            .filter(|f| f != MARKER)
            .map(|f| (f, Vec::new()))
            .collect();
        let r = critical(|| {
            swap_delay_for_tests();
            install(&self.out, &self.tmp, &self.kind, &files, self.force)
        });
        self.done = true;
        r
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Whether `out` may be written as an output folder: it does not exist, is empty, or is a
/// folder `inq` wrote; a folder of other files only with `force`; never a file.
pub fn check_output(out: &Path, force: bool) -> Result<(), FolderError> {
    match std::fs::symlink_metadata(out) {
        Err(_) => Ok(()),
        Ok(md) if md.is_dir() => {
            if inq_files(out).is_some() || force {
                return Ok(());
            }
            let present = all_files(out)?;
            if present.is_empty() {
                return Ok(());
            }
            Err(FolderError::Refused {
                path: out.display().to_string(),
                message: format!(
                    "exists and is not a folder inq wrote ({} file(s), e.g. {}); choose another output path, or pass --force to write inq's files into it without deleting anything",
                    present.len(),
                    present[0]
                ),
            })
        }
        Ok(_) => Err(FolderError::Refused {
            path: out.display().to_string(),
            message: "exists and is not a folder; inq never replaces a file with a folder (choose another output path)".into(),
        }),
    }
}

/// Writes the folder `out` holding `files` (relative path, contents) of the given `kind`,
/// following the rule of the module documentation.
pub fn write_folder(
    out: &Path,
    kind: &str,
    files: &[(String, Vec<u8>)],
    force: bool,
) -> Result<(), FolderError> {
    for (rel, _) in files {
        let r = Path::new(rel);
        if r.is_absolute()
            || r.components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(FolderError::Refused {
                path: rel.clone(),
                message: "an output file must be a relative path inside the folder".into(),
            });
        }
    }
    check_output(out, force)?;
    let (tmp, _temp) = fresh_sibling(out)?;
    let built = write_files(&tmp, files);
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    critical(|| {
        swap_delay_for_tests();
        install(out, &tmp, kind, files, force)
    })
}

/// Tests only: `INQ_TEST_SWAP_SLEEP_MS` widens the swap so that an interrupt surely arrives
/// inside it (`cli/tests/cli.rs`, `interrupt_leaves_the_old_or_the_new_output`).
fn swap_delay_for_tests() {
    if let Some(ms) = std::env::var("INQ_TEST_SWAP_SLEEP_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Puts the built folder `tmp` (holding `files`) at `out`: a new folder, or the atomic
/// replacement of an `inq` folder carrying over the files `inq` did not write; with `force`
/// on a foreign folder, moves the files in without deleting anything. Removes `tmp` on
/// failure.
fn install(
    out: &Path,
    tmp: &Path,
    kind: &str,
    files: &[(String, Vec<u8>)],
    force: bool,
) -> Result<(), FolderError> {
    let fail = |e: FolderError| {
        let _ = std::fs::remove_dir_all(tmp);
        e
    };
    let m = tmp.join(MARKER);
    std::fs::write(&m, marker_bytes(kind, files)).map_err(|e| fail(FolderError::io(&m, e)))?;
    let meta = std::fs::symlink_metadata(out);
    // the old folder's files that inq wrote (removed with it after the swap)
    let mut ours: Vec<String> = Vec::new();
    let carry: Vec<String> = match &meta {
        Err(_) => {
            return std::fs::rename(tmp, out).map_err(|e| fail(FolderError::io(out, e)));
        }
        Ok(md) if md.is_dir() => {
            let present = all_files(out).map_err(fail)?;
            match inq_files(out) {
                Some(listed) => {
                    let c = present
                        .into_iter()
                        .filter(|f| !listed.contains(f))
                        .collect();
                    ours = listed;
                    c
                }
                None if present.is_empty() => Vec::new(),
                None if force => {
                    // move inq's files in, leave every other file alone
                    if let Some(c) = files.iter().map(|(r, _)| r).find(|r| present.contains(r)) {
                        return Err(fail(FolderError::Refused {
                            path: out.join(c).display().to_string(),
                            message: "exists and inq did not write it; --force never overwrites a file inq did not write".into(),
                        }));
                    }
                    let mut moved: Vec<String> = files.iter().map(|(r, _)| r.clone()).collect();
                    moved.push(MARKER.to_string());
                    for rel in &moved {
                        let (src, dst) = (tmp.join(rel), out.join(rel));
                        if let Some(p) = dst.parent() {
                            std::fs::create_dir_all(p).map_err(|e| fail(FolderError::io(p, e)))?;
                        }
                        std::fs::rename(&src, &dst).map_err(|e| fail(FolderError::io(&dst, e)))?;
                    }
                    let _ = std::fs::remove_dir_all(tmp);
                    return Ok(());
                }
                None => {
                    return Err(fail(FolderError::Refused {
                        path: out.display().to_string(),
                        message: format!(
                            "exists and is not a folder inq wrote ({} file(s), e.g. {}); choose another output path, or pass --force to write inq's files into it without deleting anything",
                            present.len(),
                            present[0]
                        ),
                    }))
                }
            }
        }
        Ok(_) => {
            return Err(fail(FolderError::Refused {
                path: out.display().to_string(),
                message: "exists and is not a folder; inq never replaces a file with a folder (choose another output path)".into(),
            }))
        }
    };
    for c in &carry {
        if tmp.join(c).exists() {
            return Err(fail(FolderError::Refused {
                path: out.join(c).display().to_string(),
                message: "inq did not write this file but would now: move it away first".into(),
            }));
        }
    }
    // move the user's files over (they are moved back if anything fails; the staging folder is
    // only removed once every one of them is back, so a failure never deletes a user's file)
    let mut moved: Vec<&String> = Vec::new();
    let give_up = |moved: &[&String], e: FolderError| -> FolderError {
        let mut stranded = Vec::new();
        for c in moved {
            if std::fs::rename(tmp.join(c), out.join(c)).is_err() {
                stranded.push(c.as_str());
            }
        }
        if stranded.is_empty() {
            return fail(e);
        }
        // the staging folder now holds a user's file: no interrupt may remove it
        inq_model::interrupt::keep(tmp);
        FolderError::Refused {
            path: tmp.display().to_string(),
            message: format!(
                "{e}; these files of yours could not be moved back and are still in this folder: {}",
                stranded.join(", ")
            ),
        }
    };
    for c in &carry {
        let dst = tmp.join(c);
        if let Some(p) = dst.parent() {
            if let Err(e) = std::fs::create_dir_all(p) {
                return Err(give_up(&moved, FolderError::io(p, e)));
            }
        }
        if let Err(e) = std::fs::rename(out.join(c), &dst) {
            return Err(give_up(&moved, FolderError::io(&out.join(c), e)));
        }
        moved.push(c);
    }
    // the user's empty folders too (inq never writes one)
    for d in empty_dirs(out).map_err(|e| give_up(&moved, e))? {
        if let Err(e) = std::fs::create_dir_all(tmp.join(&d)) {
            return Err(give_up(&moved, FolderError::io(&tmp.join(&d), e)));
        }
    }
    let old = sibling(out, "old")?;
    if let Err(e) = std::fs::rename(out, &old) {
        return Err(give_up(&moved, FolderError::io(out, e)));
    }
    if let Err(e) = std::fs::rename(tmp, out) {
        let _ = std::fs::rename(&old, out);
        return Err(give_up(&moved, FolderError::io(out, e)));
    }
    remove_replaced(&old, &ours);
    Ok(())
}

/// Every folder under `dir` with nothing in it, relative.
fn empty_dirs(dir: &Path) -> Result<Vec<String>, FolderError> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) -> Result<(), FolderError> {
        let mut any = false;
        for e in std::fs::read_dir(d).map_err(|e| FolderError::io(d, e))? {
            let e = e.map_err(|e| FolderError::io(d, e))?;
            any = true;
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &e.path(), out)?;
            }
        }
        if !any && d != root {
            if let Ok(rel) = d.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// Removes the folder a replacement moved away: the files `inq` wrote there (`ours`), then
/// every folder left empty, deepest first. Anything else — a file that appeared after the
/// user's files were carried over — stays, and so does the folder holding it: `inq` never
/// deletes a file it did not write.
fn remove_replaced(old: &Path, ours: &[String]) {
    for f in ours {
        let _ = std::fs::remove_file(old.join(f));
    }
    fn prune(d: &Path) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    prune(&e.path());
                }
            }
        }
        // only succeeds on an empty folder
        let _ = std::fs::remove_dir(d);
    }
    prune(old);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("inq-write-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn files(v: &str) -> Vec<(String, Vec<u8>)> {
        vec![
            ("a.txt".into(), v.as_bytes().to_vec()),
            ("sub/b.txt".into(), v.as_bytes().to_vec()),
        ]
    }

    #[test]
    fn new_replace_keep_user_files_and_refuse_others() {
        let root = tmpdir("rule");
        let out = root.join("out");
        write_folder(&out, "test", &files("1"), false).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "1");
        // a user's file inside an inq folder survives a replacement
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        write_folder(&out, "test", &files("2"), false).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "2");
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "mine"
        );
        // a folder of other files is refused, and with --force only gains inq's files
        let other = root.join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("keep.txt"), "k").unwrap();
        let e = write_folder(&other, "test", &files("3"), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not a folder inq wrote") && e.contains("--force"),
            "{e}"
        );
        write_folder(&other, "test", &files("3"), true).unwrap();
        assert_eq!(
            std::fs::read_to_string(other.join("keep.txt")).unwrap(),
            "k"
        );
        assert_eq!(std::fs::read_to_string(other.join("a.txt")).unwrap(), "3");
        // a regular file is never replaced
        let f = root.join("file");
        std::fs::write(&f, "x").unwrap();
        for force in [false, true] {
            let e = write_folder(&f, "test", &files("4"), force)
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a folder"), "{e}");
            assert_eq!(std::fs::read_to_string(&f).unwrap(), "x");
        }
        // no temporary folders are left behind
        let left: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.iter().all(|n| !n.starts_with('.')), "{left:?}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn replacement_keeps_empty_folders_and_removes_only_inq_files() {
        let root = tmpdir("empty");
        let out = root.join("out");
        write_folder(&out, "test", &files("1"), false).unwrap();
        std::fs::create_dir_all(out.join("mine/deep")).unwrap();
        std::fs::create_dir_all(out.join("sub/also")).unwrap();
        write_folder(&out, "test", &files("2"), false).unwrap();
        assert!(out.join("mine/deep").is_dir());
        assert!(out.join("sub/also").is_dir());
        assert_eq!(std::fs::read_to_string(out.join("sub/b.txt")).unwrap(), "2");
        // the replaced folder: only the listed files go; an unlisted one stays with its folder
        let old = root.join("old");
        std::fs::create_dir_all(old.join("sub")).unwrap();
        std::fs::write(old.join("a.txt"), "inq").unwrap();
        std::fs::write(old.join("sub/late.txt"), "user").unwrap();
        std::fs::create_dir_all(old.join("empty")).unwrap();
        remove_replaced(&old, &["a.txt".to_string()]);
        assert!(!old.join("a.txt").exists() && !old.join("empty").exists());
        assert_eq!(
            std::fs::read_to_string(old.join("sub/late.txt")).unwrap(),
            "user"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
