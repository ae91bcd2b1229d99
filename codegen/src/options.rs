//! What the caller chooses about a generation ([`GenOptions`]) and the generator's name.

/// Version string written into generated file headers and the manifest.
pub const GENERATOR: &str = concat!("inq-codegen ", env!("CARGO_PKG_VERSION"));

/// Generation options.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOptions {
    /// Target clock frequency in MHz (constraints, manifest, throughput figures).
    pub clock_mhz: f64,
    /// Write into an existing folder `inq` did not write, without deleting anything
    /// ([`inq_design::write_folder`]).
    pub force: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            clock_mhz: 100.0,
            force: false,
        }
    }
}
