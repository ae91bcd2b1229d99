//! The quantized-model file format: data types, JSON (de)serialization and atomic save.
//!
//! A model file is one JSON object (see `docs/numerics.md` § "File format"). Weight codes are
//! stored as codes (small integers), never as floats; biases are integers at the accumulator's
//! scale. Every load goes through [`crate::validate`], so a value of [`QuantModel`] obtained from
//! [`QuantModel::load`] is always well formed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ModelError;

/// The value of the `format` field of every model file.
pub const FORMAT_NAME: &str = "inq-quantized-model";
/// The format version this build writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// A fixed-point activation format: an integer `q` of `bits` bits stands for `q · 2^exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActFormat {
    /// Total bit width including the sign bit when `signed`.
    pub bits: u32,
    /// Two's-complement signed (`true`) or unsigned (`false`).
    pub signed: bool,
    /// Power-of-two scale: the real value is `q · 2^exp`.
    pub exp: i32,
}

impl ActFormat {
    /// Smallest representable integer.
    pub fn min(&self) -> i64 {
        if self.signed {
            -(1i64 << (self.bits - 1))
        } else {
            0
        }
    }
    /// Largest representable integer.
    pub fn max(&self) -> i64 {
        if self.signed {
            (1i64 << (self.bits - 1)) - 1
        } else {
            (1i64 << self.bits) - 1
        }
    }
    /// Largest magnitude an integer of this format can have (`max(|min|, |max|)`).
    pub fn max_abs(&self) -> i64 {
        self.max().max(-self.min())
    }
}

/// Description of the network input: shape and integer format of each element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Integer format of the input elements (8-bit unsigned pixels for image data).
    pub format: ActFormat,
    /// How raw data maps onto the input integers, for documentation and tools
    /// (e.g. "raw 8-bit pixels; normalization x/255 folded into the first layer").
    #[serde(default)]
    pub mapping: String,
}

/// How the codes of a [`WeightTensor`] encode weights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightKind {
    /// INQ codes: `0` or `±2^(n2_c + k)`; the hardware multiplies with a shift (the default,
    /// and the only kind of files written before the field existed).
    #[default]
    Pow2,
    /// Uniform integers: the code is a `b`-bit two's-complement integer `q` in
    /// `[-(2^(b-1)-1), 2^(b-1)-1]` (the most negative value is rejected, so the range is
    /// symmetric) standing for `q · 2^(n2_c)` with `n2_c = n1_c - (b - 2)`; the hardware
    /// multiplies with a real multiplier.
    Int,
}

impl WeightKind {
    /// True for [`WeightKind::Pow2`] (used to omit the default from the JSON).
    pub fn is_pow2(&self) -> bool {
        matches!(self, WeightKind::Pow2)
    }
    /// The name used in files and on the command line (`pow2`, `int`).
    pub fn name(&self) -> &'static str {
        match self {
            WeightKind::Pow2 => "pow2",
            WeightKind::Int => "int",
        }
    }
}

/// The weights of a conv or dense layer as codes.
///
/// Code layout for `bits = b` and `kind = pow2` (the default; see `docs/numerics.md`): bit
/// `b-1` is the non-zero flag, bit `b-2` the sign (1 = negative), bits `b-3..0` the exponent
/// index `k`. Code `0` is the weight 0. A non-zero code stands for `±2^(n2_c + k)` where
/// `n2_c = n1_c + 1 - 2^(b-2)`.
///
/// For `kind = int` the code is the low `b` bits of a two's-complement integer `q`
/// (`|q| ≤ 2^(b-1) - 1`) standing for `q · 2^(n2_c)` where `n2_c = n1_c - (b - 2)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightTensor {
    /// How the codes encode weights (absent in the file: [`WeightKind::Pow2`]).
    #[serde(default, skip_serializing_if = "WeightKind::is_pow2")]
    pub kind: WeightKind,
    /// Code width `b` in bits, 2..=8.
    pub bits: u32,
    /// Largest exponent of the level set: one entry for the whole layer, or one per output
    /// channel.
    pub n1: Vec<i32>,
    /// The codes in row-major order of the layer's weight shape (`[out, in, kh, kw]` for conv,
    /// `[out, in]` for dense).
    pub codes: Vec<u8>,
}

impl WeightTensor {
    /// Decodes one code of this tensor (kind-aware, see [`crate::numerics::decode_kind`]).
    pub fn decode(&self, code: u8) -> Result<crate::numerics::Weight, crate::numerics::CodeError> {
        crate::numerics::decode_kind(self.kind, code, self.bits)
    }
}

/// A convolution layer with fused bias, requantization and optional ReLU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvLayer {
    /// Layer name (from the source model; informational, sanitized before it reaches RTL).
    pub name: String,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]` padding.
    pub pad: [usize; 4],
    /// Integer value of padded input positions, in the input's format (0 unless a
    /// normalization offset was folded into the layer).
    #[serde(default)]
    pub pad_value: i64,
    /// The weight codes, shape `[out, in, kh, kw]`.
    pub weights: WeightTensor,
    /// Integer bias per output channel at that channel's accumulator scale.
    pub bias: Vec<i64>,
    /// Clamp negative results to zero (requires an unsigned output format).
    pub relu: bool,
    /// What the layer emits.
    pub output: Output,
}

/// A fully connected layer with fused bias, requantization and optional ReLU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseLayer {
    /// Layer name.
    pub name: String,
    /// Input features (must equal the flattened size of the previous tensor).
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// The weight codes, shape `[out, in]`.
    pub weights: WeightTensor,
    /// Integer bias per output feature at that feature's accumulator scale.
    pub bias: Vec<i64>,
    /// Clamp negative results to zero (requires an unsigned output format).
    pub relu: bool,
    /// What the layer emits.
    pub output: Output,
}

/// A max or average pooling layer (no padding; average windows must hold a power of two
/// elements).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolLayer {
    /// Layer name.
    pub name: String,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
}

/// A named layer without parameters (global average pooling, flatten).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedLayer {
    /// Layer name.
    pub name: String,
}

/// What a conv or dense layer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Output {
    /// Requantized activations in the given format.
    Act {
        /// Bit width.
        bits: u32,
        /// Signedness.
        signed: bool,
        /// Power-of-two scale.
        exp: i32,
    },
    /// Signed logits at accumulator width, aligned to the layer's smallest exponent (final layer
    /// only).
    Logits,
}

impl Output {
    /// The activation format, if this output is requantized.
    pub fn act(&self) -> Option<ActFormat> {
        match *self {
            Output::Act { bits, signed, exp } => Some(ActFormat { bits, signed, exp }),
            Output::Logits => None,
        }
    }
    /// Builds an `Act` output from a format.
    pub fn from_act(f: ActFormat) -> Self {
        Output::Act {
            bits: f.bits,
            signed: f.signed,
            exp: f.exp,
        }
    }
}

/// One layer of a quantized network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Layer {
    /// 2-D convolution.
    Conv(ConvLayer),
    /// Fully connected.
    Dense(DenseLayer),
    /// Max pooling.
    MaxPool(PoolLayer),
    /// Average pooling with a power-of-two window.
    AvgPool(PoolLayer),
    /// Average over the whole spatial extent (power-of-two area).
    GlobalAvgPool(NamedLayer),
    /// `[C, H, W]` → `[C·H·W]` in C-major (ONNX) order.
    Flatten(NamedLayer),
}

impl Layer {
    /// The layer's name.
    pub fn name(&self) -> &str {
        match self {
            Layer::Conv(l) => &l.name,
            Layer::Dense(l) => &l.name,
            Layer::MaxPool(l) | Layer::AvgPool(l) => &l.name,
            Layer::GlobalAvgPool(l) | Layer::Flatten(l) => &l.name,
        }
    }
    /// The op name as written in the file.
    pub fn op(&self) -> &'static str {
        match self {
            Layer::Conv(_) => "conv",
            Layer::Dense(_) => "dense",
            Layer::MaxPool(_) => "max_pool",
            Layer::AvgPool(_) => "avg_pool",
            Layer::GlobalAvgPool(_) => "global_avg_pool",
            Layer::Flatten(_) => "flatten",
        }
    }
}

/// Where a model came from and how it was quantized.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The source float model (path or description).
    #[serde(default)]
    pub source: String,
    /// SHA-256 of the source file, hex, if known.
    #[serde(default)]
    pub source_sha256: String,
    /// The tool and version that wrote the file.
    #[serde(default)]
    pub tool: String,
    /// Quantization settings (bits, schedule, strategy, seed, ...), free-form.
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Accuracies measured at quantization time (fractions), free-form keys.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// A complete quantized network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantModel {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for files this build writes.
    pub version: u32,
    /// Model name.
    pub name: String,
    /// The input tensor.
    pub input: InputSpec,
    /// The layers in execution order.
    pub layers: Vec<Layer>,
    /// Where the model came from.
    #[serde(default)]
    pub provenance: Provenance,
}

impl QuantModel {
    /// A new model with the current format name and version.
    pub fn new(name: impl Into<String>, input: InputSpec, layers: Vec<Layer>) -> Self {
        QuantModel {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            name: name.into(),
            input,
            layers,
            provenance: Provenance::default(),
        }
    }

    /// Parses and validates a model from JSON text. `origin` names the source in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, ModelError> {
        // Check the header first so that a future version gets a version error rather than a
        // confusing schema error.
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::Parse {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        let format = value.get("format").and_then(|v| v.as_str());
        if format != Some(FORMAT_NAME) {
            return Err(ModelError::Invalid {
                origin: origin.to_string(),
                field: "format".into(),
                message: format!(
                    "expected \"{FORMAT_NAME}\", found {}",
                    value
                        .get("format")
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "nothing".into())
                ),
            });
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            other => {
                return Err(ModelError::Invalid {
                    origin: origin.to_string(),
                    field: "version".into(),
                    message: format!(
                        "unsupported format version {}; this build reads version {FORMAT_VERSION}",
                        other
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "(missing)".into())
                    ),
                })
            }
        }
        let model: QuantModel = serde_json::from_value(value).map_err(|e| ModelError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        crate::validate::validate(&model).map_err(|e| e.with_origin(origin))?;
        Ok(model)
    }

    /// Loads and validates a model file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Serializes to JSON text (validating first).
    pub fn to_json_string(&self) -> Result<String, ModelError> {
        crate::validate::validate(self)?;
        serde_json::to_string(self).map_err(|e| ModelError::Parse {
            origin: "<serialize>".into(),
            message: e.to_string(),
        })
    }

    /// Validates and writes the model atomically (temp file in the same folder, then rename).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let text = self.to_json_string()?;
        write_atomic(path, text.as_bytes())
    }

    /// SHA-256 of the canonical JSON serialization, hex: identifies a model in manifests.
    pub fn hash(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        hex(&Sha256::digest(text.as_bytes()))
    }

    /// Shape `[C, H, W]` (or `[N]` for vectors) of the tensor after each layer, assuming the
    /// model is valid. Index 0 is the input.
    pub fn shapes(&self) -> Vec<Vec<usize>> {
        crate::validate::shapes(self).unwrap_or_default()
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that a
/// failed write never leaves a partial file at `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let io = |e: std::io::Error| ModelError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}
