//! Fault injection for tests: copy a design folder and corrupt one weight or one constant, so
//! that a test can show [`crate::verify()`] detects (and localizes) the fault.

use crate::error::TbError;
use inq_design::Manifest;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Recursively copies the design folder `src` to `dst` (created; must not exist yet).
pub fn copy_design(src: &Path, dst: &Path) -> Result<(), TbError> {
    if dst.exists() {
        return Err(TbError::io(dst, "already exists"));
    }
    copy_dir(src, dst)
}

fn copy_dir(src: &Path, dst: &Path) -> Result<(), TbError> {
    std::fs::create_dir_all(dst).map_err(|e| TbError::io(dst, e))?;
    for e in std::fs::read_dir(src).map_err(|e| TbError::io(src, e))? {
        let e = e.map_err(|er| TbError::io(src, er))?;
        let from = e.path();
        let to = dst.join(e.file_name());
        if from.is_dir() {
            copy_dir(&from, &to)?;
        } else {
            std::fs::copy(&from, &to).map_err(|er| TbError::io(&from, er))?;
        }
    }
    Ok(())
}

/// What [`corrupt_hex_word`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexCorruption {
    /// 1-based line of the changed word.
    pub line: usize,
    /// The word before.
    pub old: u64,
    /// The word after.
    pub new: u64,
}

/// XORs data word number `word` (0-based, counting only data words: `@address` tokens and
/// `//` comments are skipped) of the `$readmemh` file `hex_file` (relative to `dir`) with
/// `xor_mask`, keeping its digit count, then refreshes the manifest's `design_hash`
/// ([`refresh_design_hash`]).
pub fn corrupt_hex_word(
    dir: &Path,
    hex_file: &str,
    word: usize,
    xor_mask: u64,
) -> Result<HexCorruption, TbError> {
    let path = dir.join(hex_file);
    let text = std::fs::read_to_string(&path).map_err(|e| TbError::io(&path, e))?;
    let mut seen = 0usize;
    let mut out = String::with_capacity(text.len());
    let mut done: Option<HexCorruption> = None;
    for (ln, line) in text.split_inclusive('\n').enumerate() {
        let (code, comment) = match line.find("//") {
            Some(i) => line.split_at(i),
            None => (line, ""),
        };
        let mut new_line = String::new();
        let mut rest = code;
        while !rest.is_empty() {
            let start = rest
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len());
            new_line.push_str(&rest[..start]);
            rest = &rest[start..];
            if rest.is_empty() {
                break;
            }
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let tok = &rest[..end];
            rest = &rest[end..];
            if tok.starts_with('@') || done.is_some() || seen != word {
                if !tok.starts_with('@') {
                    seen += 1;
                }
                new_line.push_str(tok);
                continue;
            }
            seen += 1;
            let clean = tok.replace('_', "");
            let old = u64::from_str_radix(&clean, 16).map_err(|_| TbError::Io {
                path: path.display().to_string(),
                message: format!("line {}: `{tok}` is not a hex word", ln + 1),
            })?;
            let new = old ^ xor_mask;
            let digits = clean.len();
            let s = format!("{new:0digits$x}");
            if s.len() != digits {
                return Err(TbError::Input(format!(
                    "{}: xor mask {xor_mask:#x} does not fit the {digits}-digit word `{tok}`",
                    path.display()
                )));
            }
            new_line.push_str(&s);
            done = Some(HexCorruption {
                line: ln + 1,
                old,
                new,
            });
        }
        out.push_str(&new_line);
        out.push_str(comment);
    }
    let Some(c) = done else {
        return Err(TbError::Input(format!(
            "{} has only {seen} data words; cannot corrupt word {word}",
            path.display()
        )));
    };
    inq_model::write_atomic(&path, out.as_bytes())?;
    refresh_design_hash(dir)?;
    Ok(c)
}

/// Replaces the single occurrence of `from` by `to` in the file `rel_path` of `dir` (e.g. a
/// hard-coded constant in an RTL file) and refreshes the manifest's `design_hash`. Fails if
/// `from` occurs zero or several times.
pub fn replace_once(dir: &Path, rel_path: &str, from: &str, to: &str) -> Result<(), TbError> {
    let path = dir.join(rel_path);
    let text = std::fs::read_to_string(&path).map_err(|e| TbError::io(&path, e))?;
    let n = text.matches(from).count();
    if n != 1 {
        return Err(TbError::Input(format!(
            "{}: `{from}` occurs {n} times; expected exactly once",
            path.display()
        )));
    }
    inq_model::write_atomic(&path, text.replacen(from, to, 1).as_bytes())?;
    refresh_design_hash(dir)
}

/// The manifest's `design_hash` of a folder's current files, by its definition
/// ([`Manifest::design_hash`]): SHA-256 over, for each file of `rtl_files` then `hex_files`
/// (manifest order), its path, a NUL byte, its contents and a NUL byte. (The harness's build
/// cache does not rely on it, see [`crate::verilator`].)
pub fn content_hash(dir: &Path, manifest: &Manifest) -> Result<String, TbError> {
    files_hash(
        dir,
        manifest
            .rtl_files
            .iter()
            .chain(&manifest.hex_files)
            .map(String::as_str),
    )
}

fn files_hash<'a>(dir: &Path, files: impl Iterator<Item = &'a str>) -> Result<String, TbError> {
    let mut h = Sha256::new();
    for f in files {
        let p = dir.join(f);
        let bytes = std::fs::read(&p).map_err(|e| TbError::io(&p, e))?;
        h.update(f.as_bytes());
        h.update([0u8]);
        h.update(&bytes);
        h.update([0u8]);
    }
    Ok(inq_model::format::hex(&h.finalize()))
}

/// Recomputes `design_hash` of `dir/manifest.json` ([`content_hash`] of the files its
/// `rtl_files` and `hex_files` list), keeping every other key as it is. Only those three keys
/// are read, so a deliberately broken manifest (a test's) can be refreshed too.
pub fn refresh_design_hash(dir: &Path) -> Result<(), TbError> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).map_err(|e| TbError::io(&mpath, e))?;
    let bad = |field: &str, m: String| {
        TbError::Folder(inq_design::FolderError::Manifest {
            path: mpath.display().to_string(),
            field: field.into(),
            message: m,
        })
    };
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad("(schema)", e.to_string()))?;
    let list = |key: &str| -> Result<Vec<String>, TbError> {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| bad(key, "is not a list of file names".into()))
    };
    let files = [list("rtl_files")?, list("hex_files")?].concat();
    let hash = files_hash(dir, files.iter().map(String::as_str))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("design_hash".into(), serde_json::Value::String(hash));
    }
    let out = serde_json::to_string_pretty(&value).map_err(|e| bad("(schema)", e.to_string()))?;
    inq_model::write_atomic(&mpath, out.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupts_the_nth_data_word_skipping_addresses_and_comments() {
        let dir = std::env::temp_dir().join(format!("inq-tb-mutate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rtl")).unwrap();
        std::fs::write(dir.join("rtl/a.v"), "module a; endmodule\n").unwrap();
        std::fs::write(
            dir.join("rtl/w.hex"),
            "// header 12 34\n@0 0a 0b\n@10\n  1f // 7\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            r#"{"format":"inq-design-manifest","version":1,"top":"a","rtl_files":["rtl/a.v"],
               "hex_files":["rtl/w.hex"],"design_hash":"old","extra":{"kept":true},
               "ports":{"in_width":8,"in_signed":false,"out_width":8,"argmax_width":1},
               "input":{"shape":[1,1,1],"elements":1},"outputs":2}"#,
        )
        .unwrap();
        let c = corrupt_hex_word(&dir, "rtl/w.hex", 2, 0x10).unwrap();
        assert_eq!(
            c,
            HexCorruption {
                line: 4,
                old: 0x1f,
                new: 0x0f
            }
        );
        let text = std::fs::read_to_string(dir.join("rtl/w.hex")).unwrap();
        assert_eq!(text, "// header 12 34\n@0 0a 0b\n@10\n  0f // 7\n");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        assert_ne!(v["design_hash"], "old");
        assert_eq!(v["extra"]["kept"], true);
        assert!(corrupt_hex_word(&dir, "rtl/w.hex", 3, 1).is_err());
        assert!(corrupt_hex_word(&dir, "rtl/w.hex", 0, 0x100).is_err());
        assert!(replace_once(&dir, "rtl/a.v", "nothing", "x").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
