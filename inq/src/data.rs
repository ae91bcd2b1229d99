//! Datasets: IDX image/label files (gzipped or not), as shipped by the Debian package
//! `dataset-fashion-mnist`, and NumPy `.npy` image/label pairs; input normalization
//! ([`Normalization`] parsing from a command-line string and application to raw pixels).
//!
//! [`load`] reads one split of "a dataset folder" in either form (file names in its doc).

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

use crate::graph::Normalization;

/// Where the Debian package `dataset-fashion-mnist` installs its IDX files.
pub const DEFAULT_DATA_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Errors reading a dataset.
#[derive(Debug, Error)]
pub enum DataError {
    /// The default dataset is not installed.
    #[error(
        "the Fashion-MNIST dataset was not found in {dir}: install the Debian package \
         `dataset-fashion-mnist` (apt-get install dataset-fashion-mnist) or pass --data DIR"
    )]
    DefaultMissing {
        /// The folder that was searched.
        dir: String,
    },
    /// A file of the split is missing.
    #[error("{dir}: no file {stem} or {stem}.gz")]
    Missing {
        /// The folder.
        dir: String,
        /// The file name without `.gz`.
        stem: String,
    },
    /// A read failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// A file is not a valid IDX file, or images and labels do not match.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A folder holds the split in none of the accepted forms.
    #[error("{dir}: no {split} split found; looked for {accepted}")]
    NoDataset {
        /// The folder.
        dir: String,
        /// `train` or `test`.
        split: String,
        /// The accepted file names.
        accepted: String,
    },
    /// A normalization string or value is not valid.
    #[error("normalization `{text}`: {message}")]
    Normalization {
        /// The text (or a rendering of the value).
        text: String,
        /// What is wrong.
        message: String,
    },
}

/// Which half of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// `train-*` files.
    Train,
    /// `t10k-*` files.
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
    /// `train` or `test` (the `.npy` spelling).
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// A set of 8-bit images (`channels × rows × cols`, channel-major) with labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Channels per image (1 for IDX files).
    pub channels: usize,
    /// Image rows.
    pub rows: usize,
    /// Image columns.
    pub cols: usize,
    /// All pixels, image after image, row-major.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Pixels per image: `channels · rows · cols`.
    pub fn image_len(&self) -> usize {
        self.channels * self.rows * self.cols
    }
    /// `[channels, rows, cols]` of one image.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.channels, self.rows, self.cols]
    }
    /// The pixels of image `i` (channel-major: `[C, H, W]` row-major).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }
    /// Keeps only the first `n` images.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.pixels.truncate(n * self.image_len());
        }
    }
}

/// Resolves `--data`: the given folder, or the Debian package's folder (with a clear error
/// naming the package when it is not installed).
pub fn resolve_dir(dir: Option<&Path>) -> Result<PathBuf, DataError> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
        None => {
            let d = PathBuf::from(DEFAULT_DATA_DIR);
            if d.join("t10k-labels-idx1-ubyte.gz").exists()
                || d.join("t10k-labels-idx1-ubyte").exists()
            {
                Ok(d)
            } else {
                Err(DataError::DefaultMissing {
                    dir: DEFAULT_DATA_DIR.into(),
                })
            }
        }
    }
}

/// Loads one split of an IDX dataset from `dir` (files `{train,t10k}-{images-idx3,labels-idx1}-ubyte`,
/// each optionally gzipped).
pub fn load_idx(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let images_path = find(dir, &format!("{}-images-idx3-ubyte", split.prefix()))?;
    let labels_path = find(dir, &format!("{}-labels-idx1-ubyte", split.prefix()))?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    idx_dataset(
        images,
        &images_path.display().to_string(),
        labels,
        &labels_path.display().to_string(),
    )
}

/// Builds a dataset from a parsed IDX image file (`[images, rows, cols]`) and label file
/// (`[labels]`), as returned by [`parse_idx`], checking that they match; the origins name the
/// files in errors. [`load_idx`] is this on the two files of a split.
pub fn idx_dataset(
    images: (Vec<usize>, Vec<u8>),
    images_origin: &str,
    labels: (Vec<usize>, Vec<u8>),
    labels_origin: &str,
) -> Result<Dataset, DataError> {
    let ((idims, pixels), (ldims, labels)) = (images, labels);
    if idims.len() != 3 {
        return Err(DataError::Format {
            path: images_origin.to_string(),
            message: format!(
                "expected 3 dimensions (images, rows, cols), found {}",
                idims.len()
            ),
        });
    }
    if ldims.len() != 1 {
        return Err(DataError::Format {
            path: labels_origin.to_string(),
            message: format!("expected 1 dimension (labels), found {}", ldims.len()),
        });
    }
    if idims[0] != ldims[0] {
        return Err(DataError::Format {
            path: labels_origin.to_string(),
            message: format!(
                "{} labels but {images_origin} has {} images",
                ldims[0], idims[0]
            ),
        });
    }
    Ok(Dataset {
        channels: 1,
        rows: idims[1],
        cols: idims[2],
        pixels,
        labels,
    })
}

fn find(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(stem);
    if plain.exists() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{stem}.gz"));
    if gz.exists() {
        return Ok(gz);
    }
    Err(DataError::Missing {
        dir: dir.display().to_string(),
        stem: stem.into(),
    })
}

/// Reads an IDX file of unsigned bytes (type 0x08), gzipped or not. Returns the dimensions and
/// the data.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_idx(&raw, &path.display().to_string())
}

/// The most bytes a gzipped IDX file may decompress to (512 MiB, ten times the Fashion-MNIST
/// training images; decompress a larger file first). With the doubling growth of the buffer,
/// no single allocation exceeds 1 GiB.
pub const MAX_IDX_BYTES: usize = 1 << 29;

/// Parses the bytes of an IDX file of unsigned bytes (type 0x08), gzipped or not: the
/// dimensions and the data. `origin` names the file in errors. [`read_idx`] is this on a
/// file's contents.
pub fn parse_idx(raw: &[u8], origin: &str) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let fmt = |m: String| DataError::Format {
        path: origin.to_string(),
        message: m,
    };
    let unzipped;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        // At most MAX_IDX_BYTES are decompressed: a small gzip stream (which can expand a
        // thousandfold) cannot make the loader allocate without bound.
        let mut dec = GzDecoder::new(raw);
        let mut out = Vec::new();
        let gz_err = |e: std::io::Error| fmt(format!("corrupt gzip data: {e}"));
        (&mut dec)
            .take(MAX_IDX_BYTES as u64)
            .read_to_end(&mut out)
            .map_err(gz_err)?;
        if out.len() == MAX_IDX_BYTES && dec.read(&mut [0u8; 1]).map_err(gz_err)? > 0 {
            return Err(fmt(format!(
                "decompresses to more than {MAX_IDX_BYTES} bytes (the most supported gzipped; \
                 decompress the file)"
            )));
        }
        unzipped = out;
        &unzipped[..]
    } else {
        raw
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(fmt("not an IDX file (bad magic number)".into()));
    }
    if bytes[2] != 0x08 {
        return Err(fmt(format!(
            "IDX element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            bytes[2]
        )));
    }
    let nd = bytes[3] as usize;
    if nd == 0 || bytes.len() < 4 + 4 * nd {
        return Err(fmt("truncated IDX header".into()));
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| {
            u32::from_be_bytes([
                bytes[4 + 4 * i],
                bytes[5 + 4 * i],
                bytes[6 + 4 * i],
                bytes[7 + 4 * i],
            ]) as usize
        })
        .collect();
    let n: usize = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| fmt("dimensions overflow".into()))?;
    let body = &bytes[4 + 4 * nd..];
    if body.len() < n {
        return Err(fmt(format!(
            "truncated: header promises {n} bytes of data ({dims:?}) but only {} follow",
            body.len()
        )));
    }
    if body.len() > n {
        return Err(fmt(format!(
            "{} unexpected bytes after the data ({dims:?})",
            body.len() - n
        )));
    }
    Ok((dims, body.to_vec()))
}

// ---------------------------------------------------------------------------------------------
// Dataset folders: IDX or NumPy.

/// The `.npy` file-name pairs [`load`] accepts, `{s}` standing for `train` or `test`.
pub const NPY_NAMES: [(&str, &str); 3] = [
    ("{s}_images.npy", "{s}_labels.npy"),
    ("{s}-images.npy", "{s}-labels.npy"),
    ("x_{s}.npy", "y_{s}.npy"),
];

/// Loads one split of a dataset folder. Accepted forms, tried in this order:
///
/// 1. IDX: `train-images-idx3-ubyte` + `train-labels-idx1-ubyte` (test split: `t10k-…`), each
///    optionally gzipped (`.gz`), as in the Fashion-MNIST/MNIST distributions;
/// 2. NumPy: `train_images.npy` + `train_labels.npy`, or `train-images.npy` +
///    `train-labels.npy`, or `x_train.npy` + `y_train.npy` (test split: `test` instead of
///    `train`); see [`load_npy`] for the accepted contents.
pub fn load(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let idx_images = format!("{}-images-idx3-ubyte", split.prefix());
    let idx_labels = format!("{}-labels-idx1-ubyte", split.prefix());
    let has = |stem: &str| dir.join(stem).exists() || dir.join(format!("{stem}.gz")).exists();
    if has(&idx_images) || has(&idx_labels) {
        return load_idx(dir, split);
    }
    let s = split.name();
    for (im, lb) in NPY_NAMES {
        let (im, lb) = (im.replace("{s}", s), lb.replace("{s}", s));
        if dir.join(&im).exists() || dir.join(&lb).exists() {
            return load_npy(&dir.join(im), &dir.join(lb));
        }
    }
    let mut accepted = vec![format!("{idx_images}[.gz] + {idx_labels}[.gz]")];
    accepted.extend(
        NPY_NAMES
            .iter()
            .map(|(a, b)| format!("{} + {}", a.replace("{s}", s), b.replace("{s}", s))),
    );
    Err(DataError::NoDataset {
        dir: dir.display().to_string(),
        split: s.to_string(),
        accepted: accepted.join(", or "),
    })
}

/// Element type of a `.npy` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyType {
    /// `u1`
    U8,
    /// `i1`
    I8,
    /// `<u2`
    U16,
    /// `<i2`
    I16,
    /// `<u4`
    U32,
    /// `<i4`
    I32,
    /// `<u8`
    U64,
    /// `<i8`
    I64,
    /// `<f4`
    F32,
    /// `<f8`
    F64,
}

impl NpyType {
    fn parse(descr: &str) -> Option<Self> {
        // The byte-order character is ASCII; a descr starting with any other character (even
        // a multi-byte one) has none.
        let (order, code) = match descr.chars().next() {
            Some(c) if c.is_ascii() => descr.split_at(1),
            _ => ("", descr),
        };
        let code = match order {
            "<" | "|" | "=" => code,
            ">" if matches!(code, "u1" | "i1") => code,
            ">" => return None,
            _ => descr,
        };
        Some(match code {
            "u1" | "B" => NpyType::U8,
            "i1" | "b" => NpyType::I8,
            "u2" => NpyType::U16,
            "i2" => NpyType::I16,
            "u4" => NpyType::U32,
            "i4" => NpyType::I32,
            "u8" => NpyType::U64,
            "i8" => NpyType::I64,
            "f4" => NpyType::F32,
            "f8" => NpyType::F64,
            _ => return None,
        })
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyType::U8 | NpyType::I8 => 1,
            NpyType::U16 | NpyType::I16 => 2,
            NpyType::U32 | NpyType::I32 | NpyType::F32 => 4,
            NpyType::U64 | NpyType::I64 | NpyType::F64 => 8,
        }
    }
    fn is_float(self) -> bool {
        matches!(self, NpyType::F32 | NpyType::F64)
    }
}

/// A NumPy array read by [`read_npy`]: shape, element type and little-endian raw data.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The array's shape (C order).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: NpyType,
    /// The elements' bytes, little-endian, C order.
    pub data: Vec<u8>,
}

impl NpyArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }
    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Element `i` as `f64` (exact for every type except 64-bit integers above 2^53).
    pub fn get_f64(&self, i: usize) -> f64 {
        let n = self.dtype.size();
        let b = &self.data[i * n..(i + 1) * n];
        match self.dtype {
            NpyType::U8 => f64::from(b[0]),
            NpyType::I8 => f64::from(b[0] as i8),
            NpyType::U16 => f64::from(u16::from_le_bytes([b[0], b[1]])),
            NpyType::I16 => f64::from(i16::from_le_bytes([b[0], b[1]])),
            NpyType::U32 => f64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            NpyType::I32 => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            NpyType::F32 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            NpyType::U64 => {
                u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f64
            }
            NpyType::I64 => {
                i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f64
            }
            NpyType::F64 => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }
}

/// Reads a `.npy` file (format versions 1–3, C order, little-endian or byte-sized elements of
/// the types in [`NpyType`]).
pub fn read_npy(path: &Path) -> Result<NpyArray, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_npy(&bytes, &path.display().to_string())
}

/// Parses the bytes of a `.npy` file (what [`read_npy`] accepts); `origin` names the file in
/// errors.
pub fn parse_npy(bytes: &[u8], origin: &str) -> Result<NpyArray, DataError> {
    parse_npy_text(bytes).map_err(|message| DataError::Format {
        path: origin.to_string(),
        message,
    })
}

fn parse_npy_text(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic string)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => {
            return Err(format!(
                ".npy format version {v} is not supported (1, 2 or 3)"
            ))
        }
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| "truncated .npy header".to_string())?;
    let header =
        std::str::from_utf8(header).map_err(|_| "the .npy header is not text".to_string())?;
    let descr = header_value(header, "descr")
        .and_then(|v| {
            let v = v.trim();
            v.strip_prefix('\'')
                .and_then(|v| v.split('\'').next())
                .or_else(|| v.strip_prefix('"').and_then(|v| v.split('"').next()))
        })
        .ok_or_else(|| format!("no 'descr' in the .npy header {header:?}"))?;
    let dtype = NpyType::parse(descr).ok_or_else(|| {
        format!("element type '{descr}' is not supported (uint8/int8..int64/float32/float64, little-endian)")
    })?;
    let fortran = header_value(header, "fortran_order").map(|v| v.trim_start().starts_with("True"));
    if fortran == Some(true) {
        return Err(
            "Fortran-order arrays are not supported (save with np.ascontiguousarray)".into(),
        );
    }
    let shape_text = header_value(header, "shape")
        .and_then(|v| v.trim_start().strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| format!("no 'shape' in the .npy header {header:?}"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("bad shape ({shape_text}) in the .npy header"))?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_mul(dtype.size()))
        .ok_or_else(|| format!("shape {shape:?} overflows"))?;
    let body = &bytes[start + header_len..];
    if body.len() < count {
        return Err(format!(
            "truncated: shape {shape:?} of '{descr}' needs {count} bytes of data but only {} follow",
            body.len()
        ));
    }
    if body.len() > count {
        return Err(format!(
            "{} unexpected bytes after the data (shape {shape:?}, '{descr}')",
            body.len() - count
        ));
    }
    Ok(NpyArray {
        shape,
        dtype,
        data: body.to_vec(),
    })
}

/// The text after `'key':` in a `.npy` header dictionary.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pos = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[pos + key.len() + 2..];
    let colon = rest.find(':')?;
    Some(&rest[colon + 1..])
}

/// Loads an image/label pair of `.npy` files.
///
/// Images: shape `[N, H, W]` (one channel) or `[N, C, H, W]`, of `uint8` (raw pixels) or
/// `float32`/`float64` holding 8-bit pixel values: either integers in `0..=255`, or — when
/// every value is at most 1 — values `k/255` (converted back to `k`; within 1e-3). Anything
/// else is an error, since the whole tool chain works on 8-bit raw pixels. Labels: shape `[N]`
/// or `[N, 1]`, any integer type, values in `0..=255`.
pub fn load_npy(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let im = read_npy(images)?;
    let lb = read_npy(labels)?;
    npy_dataset(
        im,
        &images.display().to_string(),
        lb,
        &labels.display().to_string(),
    )
}

/// Builds a dataset from an image array and a label array (parsed by [`parse_npy`]) with the
/// rules of [`load_npy`], which is this on two files; the origins name the files in errors.
pub fn npy_dataset(
    im: NpyArray,
    images: &str,
    lb: NpyArray,
    labels: &str,
) -> Result<Dataset, DataError> {
    let fmt = |p: &str, m: String| DataError::Format {
        path: p.to_string(),
        message: m,
    };
    let (n, channels, rows, cols) = match im.shape[..] {
        [n, h, w] => (n, 1, h, w),
        [n, c, h, w] => (n, c, h, w),
        _ => {
            return Err(fmt(
                images,
                format!(
                    "images must have shape [N, H, W] or [N, C, H, W]; found {:?}",
                    im.shape
                ),
            ))
        }
    };
    let nl = match lb.shape[..] {
        [n] | [n, 1] => n,
        _ => {
            return Err(fmt(
                labels,
                format!("labels must have shape [N] or [N, 1]; found {:?}", lb.shape),
            ))
        }
    };
    if nl != n {
        return Err(fmt(
            labels,
            format!("{nl} labels but {images} has {n} images"),
        ));
    }
    if lb.dtype.is_float() {
        return Err(fmt(
            labels,
            format!("labels must be integers, found {:?}", lb.dtype),
        ));
    }
    let labels_u8 = (0..lb.len())
        .map(|i| {
            let v = lb.get_f64(i);
            if (0.0..=255.0).contains(&v) {
                Ok(v as u8)
            } else {
                Err(fmt(
                    labels,
                    format!("label {v} at index {i} outside 0..=255"),
                ))
            }
        })
        .collect::<Result<Vec<u8>, _>>()?;
    let pixels = match im.dtype {
        NpyType::U8 => im.data,
        t if t.is_float() => {
            let vals: Vec<f64> = (0..im.len()).map(|i| im.get_f64(i)).collect();
            let max = vals.iter().fold(0.0f64, |a, &v| a.max(v));
            let unit = max <= 1.0;
            vals.iter()
                .enumerate()
                .map(|(i, &v)| {
                    let p = if unit { v * 255.0 } else { v };
                    let r = p.round();
                    if (0.0..=255.0).contains(&r) && (p - r).abs() <= 1e-3 {
                        Ok(r as u8)
                    } else {
                        Err(fmt(
                            images,
                            format!(
                                "float pixel {v} at index {i} is not an 8-bit value ({}); \
                                 images must hold 0..=255 or k/255",
                                if unit { "k/255" } else { "0..=255" }
                            ),
                        ))
                    }
                })
                .collect::<Result<Vec<u8>, _>>()?
        }
        t => {
            return Err(fmt(
                images,
                format!("images must be uint8, float32 or float64; found {t:?}"),
            ))
        }
    };
    Ok(Dataset {
        channels,
        rows,
        cols,
        pixels,
        labels: labels_u8,
    })
}

/// Writes a `.npy` (version 1.0) file atomically: `descr` is e.g. `"|u1"` or `"<f4"` and
/// `data` the elements' little-endian bytes in C order.
pub fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) -> Result<(), DataError> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    inq_model::write_atomic(path, &out).map_err(|e| DataError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// Normalization.

fn parse_number(t: &str) -> Option<f32> {
    let t = t.trim();
    match t.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?);
            (b != 0.0).then(|| (a / b) as f32)
        }
        None => t.parse::<f32>().ok(),
    }
}

/// Checks that a normalization fits `channels` input channels: `scale` finite and positive,
/// `mean` and `std` with 1 or `channels` entries, every `std` finite and positive.
pub fn check_normalization(n: &Normalization, channels: usize) -> Result<(), DataError> {
    let err = |m: String| DataError::Normalization {
        text: n.to_string(),
        message: m,
    };
    if !(n.scale.is_finite() && n.scale > 0.0) {
        return Err(err(format!(
            "scale {} must be finite and positive",
            n.scale
        )));
    }
    for (what, v) in [("mean", &n.mean), ("std", &n.std)] {
        if v.len() != 1 && v.len() != channels {
            return Err(err(format!(
                "{what} has {} values; the input has {channels} channel(s) (give 1 or {channels})",
                v.len()
            )));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(err(format!("{what} values must be finite")));
        }
    }
    if n.std.iter().any(|&s| s <= 0.0) {
        return Err(err("std values must be positive".into()));
    }
    Ok(())
}

impl std::fmt::Display for Normalization {
    /// The form [`Normalization::parse`] reads, e.g. `scale=0.003921569,mean=0.286,std=0.353`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[f32]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(":")
        };
        write!(
            f,
            "scale={},mean={},std={}",
            self.scale,
            list(&self.mean),
            list(&self.std)
        )
    }
}

impl Normalization {
    /// Parses a command-line normalization: comma-separated `key=value` items with keys
    /// `scale`, `mean`, `std`; a value is a number or a fraction (`1/255`); `mean` and `std`
    /// take one value for all channels or one per channel separated by `:`
    /// (`mean=0.485:0.456:0.406`). Omitted keys keep the defaults (`scale=1/255`, `mean=0`,
    /// `std=1`). Examples: `"mean=0.2860,std=0.3530"`, `"scale=1/255"`, `"scale=1"`.
    pub fn parse(text: &str) -> Result<Self, DataError> {
        let err = |m: String| DataError::Normalization {
            text: text.to_string(),
            message: m,
        };
        let mut n = Normalization::default();
        if text.trim().is_empty() {
            return Err(err("empty; expected e.g. mean=0.2860,std=0.3530".into()));
        }
        let mut seen = Vec::new();
        for item in text.split(',') {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| err(format!("`{}` is not key=value", item.trim())))?;
            let key = key.trim();
            if seen.contains(&key) {
                return Err(err(format!("`{key}` given twice")));
            }
            seen.push(key);
            let values = value
                .split(':')
                .map(|v| {
                    parse_number(v).ok_or_else(|| err(format!("`{}` is not a number", v.trim())))
                })
                .collect::<Result<Vec<f32>, _>>()?;
            match key {
                "scale" => {
                    if values.len() != 1 {
                        return Err(err("scale takes one value".into()));
                    }
                    n.scale = values[0];
                }
                "mean" => n.mean = values,
                "std" => n.std = values,
                _ => {
                    return Err(err(format!(
                        "unknown key `{key}` (expected scale, mean or std)"
                    )))
                }
            }
        }
        if n.mean.len() != 1 && n.std.len() != 1 && n.mean.len() != n.std.len() {
            return Err(err(format!(
                "mean has {} values but std has {}",
                n.mean.len(),
                n.std.len()
            )));
        }
        check_normalization(&n, n.mean.len().max(n.std.len())).map_err(|e| match e {
            DataError::Normalization { message, .. } => err(message),
            other => other,
        })?;
        Ok(n)
    }

    /// Normalizes raw 8-bit pixels of one image (`channels` planes, channel-major):
    /// `x = (p · scale − mean[c]) / std[c]`, into `out` (cleared first). A one-entry
    /// `mean`/`std` applies to every channel; a missing entry counts as 0 / 1 (use
    /// [`check_normalization`] to reject such a mismatch up front).
    pub fn apply_into(&self, pixels: &[u8], channels: usize, out: &mut Vec<f32>) {
        out.clear();
        let plane = pixels.len() / channels.max(1);
        let pick = |v: &[f32], c: usize, d: f32| {
            if v.len() == 1 {
                v[0]
            } else {
                v.get(c).copied().unwrap_or(d)
            }
        };
        for (c, chunk) in pixels.chunks(plane.max(1)).enumerate() {
            let (m, s) = (pick(&self.mean, c, 0.0), pick(&self.std, c, 1.0));
            out.extend(chunk.iter().map(|&p| (f32::from(p) * self.scale - m) / s));
        }
    }

    /// [`Normalization::apply_into`] returning a new vector.
    pub fn apply(&self, pixels: &[u8], channels: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(pixels.len());
        self.apply_into(pixels, channels, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn reads_plain_and_gzip_and_rejects_truncation() {
        let dir = std::env::temp_dir().join(format!("inq-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("t10k-images-idx3-ubyte"),
            idx(&[2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]),
        )
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &idx(&[2], &[3, 9])).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gz.finish().unwrap()).unwrap();
        let d = load_idx(&dir, Split::Test).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.image(1), &[5, 6, 7, 8]);
        assert_eq!(d.labels, vec![3, 9]);

        std::fs::write(
            dir.join("t10k-images-idx3-ubyte"),
            idx(&[2, 2, 2], &[1, 2, 3]),
        )
        .unwrap();
        let e = load_idx(&dir, Split::Test).unwrap_err().to_string();
        assert!(
            e.contains("t10k-images-idx3-ubyte") && e.contains("truncated"),
            "{e}"
        );

        std::fs::write(
            dir.join("t10k-images-idx3-ubyte"),
            idx(&[3, 1, 1], &[1, 2, 3]),
        )
        .unwrap();
        let e = load_idx(&dir, Split::Test).unwrap_err().to_string();
        assert!(e.contains("2 labels but"), "{e}");
        let e = load_idx(&dir, Split::Train).unwrap_err().to_string();
        assert!(e.contains("train-images-idx3-ubyte"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod npy_tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("inq-npy-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn pix(i: usize, j: usize) -> u8 {
        ((7 * i + 3 * j) % 256) as u8
    }

    #[test]
    fn loads_numpy_written_files_in_both_naming_forms() {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/npy");
        let test = load(&d, Split::Test).unwrap();
        assert_eq!(test.image_shape(), [1, 4, 5]);
        assert_eq!(test.labels, vec![4, 0, 9]);
        for i in 0..3 {
            let want: Vec<u8> = (0..20).map(|j| pix(i, j)).collect();
            assert_eq!(test.image(i), &want[..]);
        }
        let train = load(&d, Split::Train).unwrap();
        assert_eq!(train.image_shape(), [1, 4, 5]);
        assert_eq!(train.labels, vec![1, 2]);
        assert_eq!(
            train.image(1),
            &(0..20).map(|j| pix(1, j)).collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn npy_errors_name_the_file_and_the_problem() {
        let d = dir("err");
        let im = d.join("test_images.npy");
        let lb = d.join("test_labels.npy");
        write_npy(&im, "|u1", &[2, 1, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        write_npy(&lb, "<i4", &[2], &[3, 0, 0, 0, 9, 0, 0, 0]).unwrap();
        let ds = load(&d, Split::Test).unwrap();
        assert_eq!(
            (ds.channels, ds.rows, ds.cols, ds.labels.clone()),
            (1, 2, 2, vec![3, 9])
        );

        // Multi-channel float images in 0..=255.
        let vals: Vec<u8> = [0f32, 10., 255., 7., 1., 2., 3., 4.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        write_npy(&im, "<f4", &[1, 2, 2, 2], &vals[..32]).unwrap();
        write_npy(&lb, "|u1", &[1, 1], &[5]).unwrap();
        let ds = load(&d, Split::Test).unwrap();
        assert_eq!(
            (ds.channels, ds.pixels.clone()),
            (2, vec![0, 10, 255, 7, 1, 2, 3, 4])
        );

        // A float that is no 8-bit pixel.
        let vals: Vec<u8> = [0f32, 10.5, 2., 7.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        write_npy(&im, "<f4", &[1, 2, 2], &vals).unwrap();
        let e = load(&d, Split::Test).unwrap_err().to_string();
        assert!(
            e.contains("test_images.npy") && e.contains("10.5") && e.contains("index 1"),
            "{e}"
        );

        // Truncated data.
        write_npy(&im, "|u1", &[2, 2, 2], &[1, 2, 3]).unwrap();
        let e = load(&d, Split::Test).unwrap_err().to_string();
        assert!(
            e.contains("test_images.npy") && e.contains("truncated"),
            "{e}"
        );
        // Trailing bytes.
        write_npy(&im, "|u1", &[1, 2, 2], &[1, 2, 3, 4, 5]).unwrap();
        let e = load(&d, Split::Test).unwrap_err().to_string();
        assert!(e.contains("unexpected bytes"), "{e}");
        // Count mismatch.
        write_npy(&im, "|u1", &[2, 2, 2], &[0; 8]).unwrap();
        let e = load(&d, Split::Test).unwrap_err().to_string();
        assert!(
            e.contains("test_labels.npy") && e.contains("1 labels but"),
            "{e}"
        );
        // Label out of range, float labels, bad rank, unsupported types, Fortran order.
        write_npy(
            &lb,
            "<i8",
            &[2],
            &[
                44, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        )
        .unwrap();
        let e = load(&d, Split::Test).unwrap_err().to_string();
        assert!(e.contains("label 300") || e.contains("label -1"), "{e}");
        write_npy(&lb, "<f4", &[2], &[0; 8]).unwrap();
        assert!(load(&d, Split::Test)
            .unwrap_err()
            .to_string()
            .contains("integers"));
        write_npy(&lb, "|u1", &[2], &[0, 1]).unwrap();
        write_npy(&im, "|u1", &[8], &[0; 8]).unwrap();
        assert!(load(&d, Split::Test)
            .unwrap_err()
            .to_string()
            .contains("[N, H, W]"));
        write_npy(&im, ">f4", &[2, 1, 1], &[0; 8]).unwrap();
        assert!(load(&d, Split::Test)
            .unwrap_err()
            .to_string()
            .contains(">f4"));
        let mut raw = std::fs::read(&lb).unwrap();
        let at = raw.windows(5).position(|w| w == b"False").unwrap();
        raw[at..at + 5].copy_from_slice(b"True ");
        std::fs::write(&lb, &raw).unwrap();
        write_npy(&im, "|u1", &[2, 1, 1], &[0; 2]).unwrap();
        assert!(load(&d, Split::Test)
            .unwrap_err()
            .to_string()
            .contains("Fortran"));
        std::fs::write(&im, b"not numpy at all").unwrap();
        assert!(load(&d, Split::Test)
            .unwrap_err()
            .to_string()
            .contains("magic"));
        std::fs::remove_dir_all(&d).unwrap();

        let empty = dir("empty");
        let e = load(&empty, Split::Train).unwrap_err().to_string();
        assert!(
            e.contains("no train split")
                && e.contains("train-images-idx3-ubyte")
                && e.contains("x_train.npy"),
            "{e}"
        );
        std::fs::remove_dir_all(&empty).unwrap();
    }

    #[test]
    fn normalization_parse_display_and_apply() {
        let n = Normalization::parse("mean=0.2860,std=0.3530").unwrap();
        assert_eq!(
            (n.scale, n.mean.clone(), n.std.clone()),
            (1.0 / 255.0, vec![0.286], vec![0.353])
        );
        assert_eq!(Normalization::parse(&n.to_string()).unwrap(), n);
        let n = Normalization::parse("scale=1/255").unwrap();
        assert_eq!(n, Normalization::default());
        let n = Normalization::parse(" scale = 1 , mean=0.5:1.5:2.5, std=2 ").unwrap();
        assert_eq!((n.scale, n.mean.len(), n.std.clone()), (1.0, 3, vec![2.0]));
        assert_eq!(Normalization::parse(&n.to_string()).unwrap(), n);
        for (bad, why) in [
            ("", "empty"),
            ("mean", "key=value"),
            ("mean=abc", "not a number"),
            ("foo=1", "unknown key"),
            ("std=0", "positive"),
            ("scale=1/0", "not a number"),
            ("scale=1:2", "one value"),
            ("mean=1:2,std=1:2:3", "mean has 2 values but std has 3"),
            ("mean=1,mean=2", "twice"),
        ] {
            let e = Normalization::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains(&format!("`{bad}`")),
                "{bad}: {e}"
            );
        }
        // Per-channel application on a 2-channel 1×2 image.
        let n = Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.5, 0.0],
            std: vec![0.5, 2.0],
        };
        let x = n.apply(&[0, 255, 255, 0], 2);
        assert_eq!(x, vec![-1.0, 1.0, 0.5, 0.0]);
        assert!(check_normalization(&n, 2).is_ok());
        let e = check_normalization(&n, 3).unwrap_err().to_string();
        assert!(e.contains("3 channel"), "{e}");
    }
}
