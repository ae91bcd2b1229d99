//! The `inq` command-line tool.
fn main() {}
