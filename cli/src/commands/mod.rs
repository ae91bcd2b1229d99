//! One module per subcommand.

pub mod eval;

use clap::Args;

/// Arguments of a subcommand that is not built yet: accepted and ignored, so that the command
/// can say so clearly instead of failing on its arguments.
#[derive(Args, Debug)]
pub struct NotYet {
    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    json: bool,
    /// Anything else.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

impl NotYet {
    /// Fails with a message naming the subcommand and the issue that builds it.
    pub fn fail(&self, name: &str, issue: u32) -> anyhow::Result<()> {
        if self.json {
            println!(
                "{}",
                serde_json::json!({"command": name, "error": "not built yet", "issue": issue})
            );
        }
        anyhow::bail!("`inq {name}` is not built yet (tracked in issue #{issue})")
    }
}
