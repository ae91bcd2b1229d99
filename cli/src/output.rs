//! Human or JSON output of a subcommand's result.

use serde::Serialize;

/// Prints `value` as one JSON object on stdout when `json`, else the human `summary`.
pub fn emit<T: Serialize>(
    json: bool,
    value: &T,
    summary: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        println!("{}", summary());
    }
    Ok(())
}
