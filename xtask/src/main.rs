//! Workspace automation: `cargo xtask <command>`.
//!
//! - `cargo xtask bench [--quick] [--filter NAME] [--save NAME] [--compare NAME]
//!   [--python PATH] [--no-run]`: run the benchmarks, save the run under
//!   `target/bench-report/`, and write the generated part of `docs/benchmarks.md`.
//! - `cargo xtask stack`: check that every crate depends only on crates below it.
//! - `cargo xtask ci`: what `.ci/run` runs (fmt check, clippy with warnings denied, the
//!   stack check, the README's test command).

mod bench;
mod report;
mod stack;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

pub(crate) fn run(args: &[&str]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(cargo())
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed ({status})", args.join(" ")))
    }
}

fn check_stack() -> Result<(), String> {
    let out = Command::new(cargo())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let problems = stack::check(&m);
    if problems.is_empty() {
        eprintln!("crate stack: ok");
        Ok(())
    } else {
        Err(format!(
            "crate stack violated:\n  {}",
            problems.join("\n  ")
        ))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("stack") => check_stack(),
        Some("bench") => bench::BenchArgs::parse(&args[1..]).and_then(|a| bench::run(&a)),
        Some("ci") => run(&["fmt", "--all", "--", "--check"])
            .and_then(|()| {
                run(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
            })
            .and_then(|()| check_stack())
            .and_then(|()| run(&["test", "--workspace", "--release"])),
        _ => Err("usage: cargo xtask <bench|stack|ci> (see xtask/src/main.rs)".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
