//! The orchestration's error: any stage's error, with what was being done.

use thiserror::Error;

/// Anything that can go wrong in a command that combines stages. Every variant carries the
/// stage crate's own error (which names the file, node or field); [`FlowError::Context`] adds
/// what the orchestration was doing.
#[derive(Debug, Error)]
pub enum FlowError {
    /// The model file or format.
    #[error(transparent)]
    Model(#[from] inq_model::ModelError),
    /// Planning the hardware.
    #[error(transparent)]
    Plan(#[from] inq_hdl::PlanError),
    /// Reading or writing a design or output folder.
    #[error(transparent)]
    Folder(#[from] inq_design::FolderError),
    /// Generating Verilog.
    #[error(transparent)]
    Codegen(#[from] inq_codegen::CodegenError),
    /// The cycle-accurate simulator.
    #[error(transparent)]
    Sim(#[from] inq_sim::SimError),
    /// The Verilator test bench.
    #[error(transparent)]
    Verify(#[from] inq_testbenches::TbError),
    /// yosys.
    #[error(transparent)]
    Yosys(#[from] inq_report::yosys::YosysError),
    /// Place and route (nextpnr, icepack).
    #[error(transparent)]
    Impl(#[from] inq_report::nextpnr::ImplError),
    /// A dataset.
    #[error(transparent)]
    Data(#[from] inq_quant::data::DataError),
    /// Input or option that does not fit (names the option).
    #[error("{0}")]
    Input(String),
    /// Another stage's error (ONNX import, training, quantization, ...), as text.
    #[error("{0}")]
    Stage(String),
    /// What was being done when `error` happened. The message holds both, so the error is
    /// not also given as the `source` (a chain printer such as anyhow's `{:#}` would print it
    /// twice).
    #[error("{what}: {error}")]
    Context {
        /// What the orchestration was doing.
        what: String,
        /// The error.
        error: Box<FlowError>,
    },
}

/// Adds context to results of any stage.
pub trait Context<T> {
    /// Wraps the error with what was being done.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, FlowError>;
}

impl<T, E: Into<FlowError>> Context<T> for Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, FlowError> {
        self.map_err(|e| FlowError::Context {
            what: what(),
            error: Box::new(e.into()),
        })
    }
}

/// A stage error that is only known as text.
pub fn stage(e: impl std::fmt::Display) -> FlowError {
    FlowError::Stage(e.to_string())
}
