//! Shared test helpers.

pub mod resource_cases;
