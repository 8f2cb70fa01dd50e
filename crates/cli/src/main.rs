//! The `neural-ode` command.
//!
//! - `neural-ode solve --problem NAME --method NAME [--rtol R --atol A --t1 T --dt H
//!   --output text|json|csv --points N]`: solves a named classic problem and prints the final
//!   state and statistics (or one JSON object, or the trajectory as CSV).
//!
//! Errors (unknown names, bad numbers, impossible tolerances, failed solves) print one line
//! on standard error and exit with a non-zero code.

mod solve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Neural ordinary differential equations: train, solve, evaluate.
#[derive(Debug, Parser)]
#[command(name = "neural-ode", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Solve a named classic ODE problem and print the result.
    Solve(solve::SolveArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's first line carries the message.
            let msg = e.to_string();
            eprintln!(
                "{}",
                msg.lines().next().unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Solve(args) => solve::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
