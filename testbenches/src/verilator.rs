//! Building (and caching) the Verilator model of a design.
//!
//! The C++ driver is generated per design from `templates/harness.cpp` using only the
//! manifest (top name, port widths, elements per image, outputs, taps). Taps are made readable
//! with a Verilator configuration file (`public_flat_rd` on each tap signal's leaf name) and
//! read through the model's root structure (`rootp->top__DOT__u_x__DOT__sig`).
//!
//! # Flags
//!
//! `verilator --cc --exe -j 2 -O3 --x-assign fast --x-initial fast --noassert -Wno-fatal
//! --output-split-cfuncs 1000` (+ `--trace` for the VCD variant), then `make -f V<top>.mk -j 2
//! OPT_FAST=-O2` in the object folder. `--output-split-cfuncs 1000` cuts the model's evaluation
//! into functions of at most about 1 000 statements instead of one function per scheduling
//! region (several thousand statements on the default LeNet; presumably the compiler then
//! allocates registers better), and the model executes 8.3 % fewer instructions on the default
//! LeNet, 6.5 % on the 256-lane ResNet-8 and 2.7 % on the up5k preset (`docs/performance.md`,
//! "Split model functions"). `-Wno-fatal` is deliberate: by default Verilator aborts on *any*
//! lint warning (width, unused, ...). Lint cleanliness of generated RTL is checked by the
//! generator's own tests (`verilator --lint-only -Wall`); the harness's job is the functional
//! check, so it builds anyway and reports every `%Warning` line in [`BuildInfo::warnings`].
//! Errors still fail the build.
//!
//! # C++ compiler
//!
//! The model is compiled with `clang++` when one is found on the search path (`make
//! CXX=<path>`), otherwise with Verilator's default (`g++`). On the default LeNet design the
//! clang-built model simulates 7–14 % faster and builds in about 6 s instead of 10 s
//! (`docs/performance.md`, "Sharded verification"). [`BuildOptions::cxx`] names another
//! compiler; the compiler is part of the cache key.
//!
//! # Cache
//!
//! The built binary is stored in `CACHE/<top>-<key>/harness`, where `CACHE` is
//! [`cache_root`] and `key` a SHA-256 over the harness version, the build variant (trace or
//! not), the flags, the generated driver and configuration file, and the contents of every RTL
//! source the compile reads (the manifest's `rtl_files` plus any other `.v/.vh/.sv/.svh` in
//! `rtl/`, for includes). This is stricter than keying on the manifest's `design_hash` alone: a
//! hand-edited RTL file with a stale manifest can never reuse a wrong model. ROM images
//! (`.hex`) are *not* part of the key, because `$readmemh` reads them when the simulation
//! starts (in the design's `rtl/` folder); a design differing only in ROM contents reuses the
//! model. A second run with the same design does not rebuild ([`BuildInfo::cache_hit`]).
//! Verilator's run-time library objects, the same for every design, are kept once per
//! Verilator version, compiler and variant in `CACHE/runtime-<key>/` and copied into each new
//! build, so only the design's own C++ is compiled (`runtime_dir`).

use crate::error::TbError;
use crate::protocol::INITIAL_RESET_CYCLES;
use inq_design::DesignFolder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

/// Version of the harness template and build recipe; part of the cache key.
pub const HARNESS_VERSION: u32 = 6;

/// The C++ driver template.
pub const HARNESS_TEMPLATE: &str = include_str!("../templates/harness.cpp");

/// Verilator flags every build uses (after `--cc --exe`).
pub const VERILATOR_FLAGS: &[&str] = &[
    "-j",
    "2",
    "-O3",
    "--x-assign",
    "fast",
    "--x-initial",
    "fast",
    "--noassert",
    "-Wno-fatal",
    "--output-split-cfuncs",
    "1000",
];

/// `make` arguments of the C++ compile that follows (`make -C obj -f V<top>.mk ...`).
pub const MAKE_FLAGS: &[&str] = &["-j", "2", "OPT_FAST=-O2"];

/// How to find Verilator and where to cache builds.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Build the `--trace` (VCD) variant.
    pub trace: bool,
    /// Cache folder; default [`cache_root`]`(None)`.
    pub cache_dir: Option<PathBuf>,
    /// The Verilator executable; default: `verilator` looked up in `search_path`.
    pub verilator: Option<PathBuf>,
    /// The `PATH`-style list searched for `verilator` and `clang++`; default: the process
    /// `PATH`.
    pub search_path: Option<OsString>,
    /// The C++ compiler of the model; default: `clang++` on `search_path` if there is one,
    /// else Verilator's own default (`g++`).
    pub cxx: Option<PathBuf>,
}

/// A built (or cached) simulation binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The executable.
    pub binary: PathBuf,
    /// The cache entry folder.
    pub cache_entry: PathBuf,
    /// The cache key (hex SHA-256).
    pub key: String,
    /// True if the binary came from the cache (no Verilator run).
    pub cache_hit: bool,
    /// Wall-clock seconds of the build that produced the binary.
    pub build_seconds: f64,
    /// `%Warning` lines Verilator printed when the binary was built.
    pub warnings: Vec<String>,
    /// Built with `--trace`.
    pub trace: bool,
    /// The C++ compiler (`None`: Verilator's default).
    #[serde(default)]
    pub cxx: Option<PathBuf>,
}

/// What is stored next to a cached binary.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EntryInfo {
    key: String,
    top: String,
    design_hash: String,
    harness_version: u32,
    trace: bool,
    build_seconds: f64,
    warnings: Vec<String>,
    verilator_version: String,
    #[serde(default)]
    cxx: Option<PathBuf>,
}

/// The cache folder: `explicit`, else `$INQ_CACHE_DIR/verilator`, else
/// `$XDG_CACHE_HOME/inq/verilator`, else `$HOME/.cache/inq/verilator`, else
/// `<temp>/inq-cache/verilator`.
pub fn cache_root(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = env("INQ_CACHE_DIR") {
        return p.join("verilator");
    }
    if let Some(p) = env("XDG_CACHE_HOME") {
        return p.join("inq").join("verilator");
    }
    if let Some(p) = env("HOME") {
        return p.join(".cache").join("inq").join("verilator");
    }
    std::env::temp_dir().join("inq-cache").join("verilator")
}

/// Finds the Verilator executable: `explicit` if given (it must exist), else `verilator` in
/// the directories of `search_path` (default: the process `PATH`).
pub fn locate_verilator(
    explicit: Option<&Path>,
    search_path: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, TbError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(TbError::VerilatorMissing {
                searched: format!("(explicit) {}", p.display()),
            })
        };
    }
    let path = search_list(search_path);
    find_on(&path, "verilator").ok_or_else(|| TbError::VerilatorMissing {
        searched: path.to_string_lossy().into_owned(),
    })
}

/// `search_path`, or the process `PATH` when it is `None`.
fn search_list(search_path: Option<&std::ffi::OsStr>) -> OsString {
    match search_path {
        Some(p) => p.to_os_string(),
        None => std::env::var_os("PATH").unwrap_or_default(),
    }
}

/// The first executable `name` in the directories of `path`.
fn find_on(path: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|c| is_executable(c))
}

/// The compiler a build uses: `explicit` if given, else `clang++` in the directories of
/// `search_path` (default: the process `PATH`), else `None` (Verilator's default, `g++`).
pub fn locate_cxx(
    explicit: Option<&Path>,
    search_path: Option<&std::ffi::OsStr>,
) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => find_on(&search_list(search_path), "clang++"),
    }
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Verilator's encoding of one identifier (`__` → `___05F`, other non-alphanumerics as
/// `__0XX`).
fn mangle_ident(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_alphanumeric() {
            out.push(c as char);
        } else if c == b'_' {
            if i + 1 < b.len() && b[i + 1] == b'_' {
                out.push_str("___05F");
                i += 1;
            } else {
                out.push('_');
            }
        } else {
            out.push_str(&format!("__0{c:02X}"));
        }
        i += 1;
    }
    out
}

/// The C++ member of the model's root structure for a hierarchical signal name relative to
/// `top` (a leading `top.` is accepted): `u_a.sig` → `top__DOT__u_a__DOT__sig`.
pub fn root_member(top: &str, hier: &str) -> String {
    let rel = hier.strip_prefix(&format!("{top}.")).unwrap_or(hier);
    std::iter::once(top)
        .chain(rel.split('.'))
        .map(mangle_ident)
        .collect::<Vec<_>>()
        .join("__DOT__")
}

/// The generated C++ driver for a design.
pub fn harness_source(design: &DesignFolder) -> String {
    let m = &design.manifest;
    let mut sample = String::new();
    let mut epi = String::new();
    let mut widths = String::new();
    let mut signed = String::new();
    let mut beats = String::new();
    let mut max_k = 1;
    for (i, t) in m.taps.iter().enumerate() {
        // elements per beat of the tap's stream (docs/hardware.md §2): a wide beat is split
        // into its elements, lowest first, each a record and a hash step of its own
        let k = m
            .design
            .taps
            .get(i)
            .and_then(|dt| m.design.streams.get(dt.stream))
            .map_or(1, |s| s.beat.max(1));
        max_k = max_k.max(k);
        let (v, r, d) = (
            root_member(&m.top, &t.tvalid),
            root_member(&m.top, &t.tready),
            root_member(&m.top, &t.tdata),
        );
        let take = if k == 1 {
            format!("tap_data[{i}][0] = (uint64_t)R->{d};")
        } else {
            format!("tap_split(tap_data[{i}], {k}, {}, R->{d});", t.width)
        };
        sample.push_str(&format!(
            "        if (R->{v} && R->{r}) {{ fired[nfired++] = {i}; {take} }}  // {name}\n",
            name = t.name.replace(['\n', '\r'], " "),
        ));
        epi.push_str(&format!("{}ULL, ", t.elements_per_image));
        widths.push_str(&format!("{}, ", t.width));
        signed.push_str(if t.signed { "true, " } else { "false, " });
        beats.push_str(&format!("{k}, "));
    }
    HARNESS_TEMPLATE
        .replace("@TOP@", &m.top)
        .replace("@HARNESS_VERSION@", &HARNESS_VERSION.to_string())
        .replace("@ELEMS@", &m.input.elements.to_string())
        .replace("@OUTPUTS@", &m.outputs.to_string())
        .replace("@OUT_W@", &m.ports.out_width.to_string())
        .replace("@IDX_W@", &m.ports.argmax_width.to_string())
        .replace("@IN_W@", &m.ports.in_width.to_string())
        .replace("@INITIAL_RESET@", &INITIAL_RESET_CYCLES.to_string())
        .replace("@NTAPS@", &m.taps.len().to_string())
        .replace("@TAP_EPI@", &epi)
        .replace("@TAP_W@", &widths)
        .replace("@TAP_SIGNED@", &signed)
        .replace("@TAP_K@", &beats)
        .replace("@MAX_K@", &max_k.to_string())
        .replace("@TAP_SAMPLE@", &sample)
}

/// The Verilator configuration file making the tap signals readable.
pub fn taps_config(design: &DesignFolder) -> String {
    let mut leaves: Vec<&str> = design
        .manifest
        .taps
        .iter()
        .flat_map(|t| [&t.tdata, &t.tvalid, &t.tready])
        .map(|h| h.rsplit('.').next().unwrap_or(h))
        .collect();
    leaves.sort_unstable();
    leaves.dedup();
    let mut s = String::from("`verilator_config\n");
    for l in leaves {
        s.push_str(&format!("public_flat_rd -module \"*\" -var \"{l}\"\n"));
    }
    s
}

/// RTL sources the compile reads: `rtl_files` in order, then other HDL files in `rtl/`.
fn rtl_sources(design: &DesignFolder) -> Result<Vec<PathBuf>, TbError> {
    let mut files: Vec<PathBuf> = design
        .manifest
        .rtl_files
        .iter()
        .map(|f| design.dir.join(f))
        .collect();
    let rtl = design.rtl_dir();
    if rtl.is_dir() {
        let mut extra = Vec::new();
        for e in std::fs::read_dir(&rtl).map_err(|e| TbError::io(&rtl, e))? {
            let p = e.map_err(|e| TbError::io(&rtl, e))?.path();
            let hdl = matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("v" | "vh" | "sv" | "svh")
            );
            if hdl && !files.iter().any(|f| same_file(f, &p)) {
                extra.push(p);
            }
        }
        extra.sort();
        files.extend(extra);
    }
    Ok(files)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The cache key of a design's build (see the module documentation).
pub fn cache_key(
    design: &DesignFolder,
    trace: bool,
    cxx: Option<&Path>,
) -> Result<String, TbError> {
    let mut h = Sha256::new();
    h.update(format!("inq-testbenches harness v{HARNESS_VERSION}\ntrace={trace}\n").as_bytes());
    h.update(VERILATOR_FLAGS.join(" ").as_bytes());
    h.update(MAKE_FLAGS.join(" ").as_bytes());
    if let Some(c) = cxx {
        h.update(format!("\ncxx={}", c.display()).as_bytes());
    }
    h.update(b"\n--harness--\n");
    h.update(harness_source(design).as_bytes());
    h.update(b"\n--vlt--\n");
    h.update(taps_config(design).as_bytes());
    for f in rtl_sources(design)? {
        let bytes = std::fs::read(&f).map_err(|e| TbError::io(&f, e))?;
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        h.update(format!("\n--file {name} {}--\n", bytes.len()).as_bytes());
        h.update(&bytes);
    }
    Ok(inq_model::format::hex(&h.finalize()))
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Verilator's run-time library objects (`verilated*.o`) are the same for every model built by
/// one Verilator version with one compiler and variant, and compiling them is about 9 CPU-s of
/// every build. The first build keeps them in `CACHE/runtime-<key>/`; later builds copy them
/// into their object folder between verilating and `make`, which then finds them up to date
/// (newer than the library sources and the generated makefile they depend on). The key covers
/// the version, the compiler, the variant and the flags.
fn runtime_dir(root: &Path, version: &str, cxx: Option<&Path>, trace: bool) -> PathBuf {
    let mut h = Sha256::new();
    h.update(
        format!(
            "verilator runtime\n{version}\ncxx={cxx:?}\ntrace={trace}\n{}\n{}",
            VERILATOR_FLAGS.join(" "),
            MAKE_FLAGS.join(" ")
        )
        .as_bytes(),
    );
    let key = inq_model::format::hex(&h.finalize());
    root.join(format!("runtime-{}", &key[..24]))
}

/// The library objects of `runtime` (if any) as they are kept (see [`runtime_dir`]).
fn runtime_objects(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut objs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            name.starts_with("verilated") && name.ends_with(".o")
        })
        .collect();
    objs.sort();
    objs
}

/// Copies the kept library objects into a new build's object folder. Best effort: a missing
/// or unreadable object only means `make` compiles it.
fn seed_runtime(runtime: &Path, obj: &Path) {
    let objs = runtime_objects(runtime);
    if objs.is_empty() || std::fs::create_dir_all(obj).is_err() {
        return;
    }
    for o in objs {
        if let Some(name) = o.file_name() {
            // a fresh copy: its modification time is now, after the library sources'
            if std::fs::copy(&o, obj.join(name)).is_err() {
                let _ = std::fs::remove_file(obj.join(name));
            }
        }
    }
}

/// Keeps a successful build's library objects for later builds (once per key; best effort,
/// installed by renaming a complete folder, so a reader never sees a partial one).
fn keep_runtime(obj: &Path, runtime: &Path) {
    if runtime.is_dir() {
        return;
    }
    let objs = runtime_objects(obj);
    if objs.is_empty() {
        return;
    }
    let tmp = runtime.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    if std::fs::create_dir_all(&tmp).is_err() {
        return;
    }
    let copied = objs.iter().all(|o| {
        o.file_name()
            .is_some_and(|n| std::fs::copy(o, tmp.join(n)).is_ok())
    });
    if !copied || std::fs::rename(&tmp, runtime).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
}

fn read_entry(entry: &Path) -> Option<EntryInfo> {
    let bin = entry.join("harness");
    if !bin.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(entry.join("info.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Returns the simulation binary of `design`, building it with Verilator unless the cache
/// already holds it.
pub fn build(design: &DesignFolder, opts: &BuildOptions) -> Result<BuildInfo, TbError> {
    let cxx = locate_cxx(opts.cxx.as_deref(), opts.search_path.as_deref());
    let key = cache_key(design, opts.trace, cxx.as_deref())?;
    let root = cache_root(opts.cache_dir.as_deref());
    let top = &design.manifest.top;
    let entry = root.join(format!(
        "{top}-{}{}",
        &key[..24],
        if opts.trace { "-trace" } else { "" }
    ));
    let info = |e: EntryInfo, hit: bool| BuildInfo {
        binary: entry.join("harness"),
        cache_entry: entry.clone(),
        key: key.clone(),
        cache_hit: hit,
        build_seconds: e.build_seconds,
        warnings: e.warnings,
        trace: opts.trace,
        cxx: e.cxx,
    };
    if let Some(e) = read_entry(&entry) {
        return Ok(info(e, true));
    }
    // One build at a time in this process (tests share a cache); a concurrent process is
    // handled by building in a private folder and renaming.
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = read_entry(&entry) {
        return Ok(info(e, true));
    }
    let verilator = locate_verilator(opts.verilator.as_deref(), opts.search_path.as_deref())?;
    std::fs::create_dir_all(&root).map_err(|e| TbError::io(&root, e))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = root.join(format!(
        ".tmp-{}-{}-{nanos}",
        &key[..16],
        std::process::id()
    ));
    std::fs::create_dir_all(&tmp).map_err(|e| TbError::io(&tmp, e))?;
    let write = |name: &str, text: &str| -> Result<PathBuf, TbError> {
        let p = tmp.join(name);
        std::fs::write(&p, text).map_err(|e| TbError::io(&p, e))?;
        Ok(p)
    };
    let cpp = write("harness.cpp", &harness_source(design))?;
    let vlt = write("taps.vlt", &taps_config(design))?;
    let version = Command::new(&verilator)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let runtime = runtime_dir(&root, &version, cxx.as_deref(), opts.trace);
    let obj = tmp.join("obj");
    let rtl_dir = design.rtl_dir();
    let rtl_abs = rtl_dir.canonicalize().unwrap_or(rtl_dir);
    let mut cmd = Command::new(&verilator);
    cmd.current_dir(&tmp)
        .args(["--cc", "--exe"])
        .args(VERILATOR_FLAGS)
        .arg("--top-module")
        .arg(top)
        .args(["-Mdir", "obj", "-o", "harness"])
        .arg(format!("-I{}", rtl_abs.display()));
    if opts.trace {
        cmd.arg("--trace");
    }
    cmd.arg(&vlt);
    for f in &design.manifest.rtl_files {
        let p = design.dir.join(f);
        cmd.arg(p.canonicalize().unwrap_or(p));
    }
    cmd.arg(&cpp);
    let t0 = Instant::now();
    let out = cmd.output().map_err(|e| TbError::io(&verilator, e))?;
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    let mut ok = out.status.success();
    if ok {
        seed_runtime(&runtime, &obj);
        let mut make = Command::new("make");
        make.current_dir(&obj)
            .arg("-f")
            .arg(format!("V{top}.mk"))
            .args(MAKE_FLAGS);
        if let Some(c) = &cxx {
            make.arg(format!("CXX={}", c.display()));
        }
        match make.output() {
            Ok(out) => {
                log.push_str(&String::from_utf8_lossy(&out.stdout));
                log.push_str(&String::from_utf8_lossy(&out.stderr));
                ok = out.status.success();
            }
            Err(e) => {
                log.push_str(&format!(
                    "\ncould not run `make` (Debian package `make`) in {}: {e}\n",
                    obj.display()
                ));
                ok = false;
            }
        }
    }
    let build_seconds = t0.elapsed().as_secs_f64();
    let log_path = write("build.log", &log)?;
    let binary = obj.join("harness");
    if !ok || !binary.is_file() {
        let mut tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.reverse();
        let mut tail = tail.join("\n");
        if log.contains("has no member named") && !design.manifest.taps.is_empty() {
            tail.push_str(
                "\n(a tap signal named in manifest.json `taps` does not exist in the design, \
                 or Verilator optimized it away)",
            );
        }
        return Err(TbError::Build {
            top: top.clone(),
            log: log_path.display().to_string(),
            tail,
        });
    }
    let warnings: Vec<String> = log
        .lines()
        .filter(|l| l.starts_with("%Warning"))
        .map(str::to_string)
        .collect();
    keep_runtime(&obj, &runtime);
    let final_bin = tmp.join("harness");
    std::fs::rename(&binary, &final_bin).map_err(|e| TbError::io(&final_bin, e))?;
    let _ = std::fs::remove_dir_all(&obj);
    let e = EntryInfo {
        key: key.clone(),
        top: top.clone(),
        design_hash: design.manifest.design_hash.clone(),
        harness_version: HARNESS_VERSION,
        trace: opts.trace,
        build_seconds,
        warnings,
        verilator_version: version,
        cxx: cxx.clone(),
    };
    let text = serde_json::to_string_pretty(&e).map_err(|er| TbError::io(&tmp, er))?;
    write("info.json", &text)?;
    if std::fs::rename(&tmp, &entry).is_err() {
        // Another process finished the same build first: use its entry.
        let _ = std::fs::remove_dir_all(&tmp);
        if read_entry(&entry).is_none() {
            return Err(TbError::Io {
                path: entry.display().to_string(),
                message: "could not install the built model in the cache".into(),
            });
        }
    }
    Ok(info(e, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_follow_verilator() {
        assert_eq!(
            root_member("top", "u_a.m_tdata"),
            "top__DOT__u_a__DOT__m_tdata"
        );
        assert_eq!(root_member("top", "top.sig"), "top__DOT__sig");
        assert_eq!(mangle_ident("a__b"), "a___05Fb");
    }

    #[test]
    fn missing_verilator_names_the_package() {
        let e =
            locate_verilator(None, Some(std::ffi::OsStr::new("/nonexistent-inq-dir"))).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("Debian package `verilator`"), "{msg}");
        assert!(msg.contains("/nonexistent-inq-dir"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn clang_is_preferred_when_on_the_search_path() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("inq-cxx-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let with = dir.join("with");
        std::fs::create_dir_all(&with).unwrap();
        let clang = with.join("clang++");
        std::fs::write(&clang, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&clang, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([&empty, &with]).unwrap();
        assert_eq!(locate_cxx(None, Some(&path)), Some(clang.clone()));
        assert_eq!(locate_cxx(None, Some(empty.as_os_str())), None);
        let explicit = Path::new("/opt/cc/g++");
        assert_eq!(
            locate_cxx(Some(explicit), Some(&path)),
            Some(explicit.to_path_buf())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
