//! Datasets: IDX image/label files (gzipped or not), as shipped by the Debian package
//! `dataset-fashion-mnist`.

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

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
}

/// A set of single-channel 8-bit images with labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
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
    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
    /// Keeps only the first `n` images.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.pixels.truncate(n * self.rows * self.cols);
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
            if d.join("t10k-labels-idx1-ubyte.gz").exists() || d.join("t10k-labels-idx1-ubyte").exists() {
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
    let (idims, pixels) = read_idx(&images_path)?;
    let (ldims, labels) = read_idx(&labels_path)?;
    if idims.len() != 3 {
        return Err(DataError::Format {
            path: images_path.display().to_string(),
            message: format!("expected 3 dimensions (images, rows, cols), found {}", idims.len()),
        });
    }
    if ldims.len() != 1 {
        return Err(DataError::Format {
            path: labels_path.display().to_string(),
            message: format!("expected 1 dimension (labels), found {}", ldims.len()),
        });
    }
    if idims[0] != ldims[0] {
        return Err(DataError::Format {
            path: labels_path.display().to_string(),
            message: format!(
                "{} labels but {} has {} images",
                ldims[0],
                images_path.display(),
                idims[0]
            ),
        });
    }
    Ok(Dataset {
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
    let io = |e: std::io::Error| DataError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let fmt = |m: String| DataError::Format {
        path: path.display().to_string(),
        message: m,
    };
    let raw = std::fs::read(path).map_err(io)?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| fmt(format!("corrupt gzip data: {e}")))?;
        out
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
        .map(|i| u32::from_be_bytes([bytes[4 + 4 * i], bytes[5 + 4 * i], bytes[6 + 4 * i], bytes[7 + 4 * i]]) as usize)
        .collect();
    let n: usize = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| fmt("dimensions overflow".into()))?;
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
        std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx(&[2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8])).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &idx(&[2], &[3, 9])).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gz.finish().unwrap()).unwrap();
        let d = load_idx(&dir, Split::Test).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.image(1), &[5, 6, 7, 8]);
        assert_eq!(d.labels, vec![3, 9]);

        std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx(&[2, 2, 2], &[1, 2, 3])).unwrap();
        let e = load_idx(&dir, Split::Test).unwrap_err().to_string();
        assert!(e.contains("t10k-images-idx3-ubyte") && e.contains("truncated"), "{e}");

        std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx(&[3, 1, 1], &[1, 2, 3])).unwrap();
        let e = load_idx(&dir, Split::Test).unwrap_err().to_string();
        assert!(e.contains("2 labels but"), "{e}");
        let e = load_idx(&dir, Split::Train).unwrap_err().to_string();
        assert!(e.contains("train-images-idx3-ubyte"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
