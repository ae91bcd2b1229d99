//! # inq-design — the design folder as a type
//!
//! A generated design folder is the hand-off between `inq gen` and every later command and
//! tool. This crate owns its one definition:
//!
//! * [`manifest`]: `manifest.json` (file lists, ports, taps, per-engine summary, performance
//!   and the whole [`inq_hdl::Design`]);
//! * [`folder`]: loading a folder with its model and checking one against the other
//!   ([`DesignFolder::load`]), or a bare design file ([`load_design`]);
//! * [`layout`]: the model's C-major tensors against the hardware's HWC streams, and the
//!   values each tap carries;
//! * [`mod@write`]: writing any output folder safely (atomic replacement of `inq`'s own folders,
//!   nothing else deleted).
//!
//! It writes no Verilog (`inq-codegen`) and runs nothing (`inq-sim`, `inq-testbenches`).

pub mod error;
pub mod folder;
pub mod layout;
pub mod manifest;
pub mod write;

pub use error::FolderError;
pub use folder::{load_design, read_manifest, DesignFolder, LoadedDesign};
pub use layout::{chw_to_hwc, hwc_to_chw, stream_order, tap_values};
pub use manifest::{
    EngineDesc, InputDesc, Manifest, Performance, Ports, TapDesc, MANIFEST_FORMAT, MANIFEST_VERSION,
};
pub use write::{check_output, record_files, write_folder, Marker, Staging, MARKER};
