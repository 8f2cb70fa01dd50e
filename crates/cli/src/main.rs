//! The `neural-ode` command (subcommands are added with their issues).
fn main() {}
