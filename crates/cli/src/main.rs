//! The `neural-ode` command.
//!
//! - `neural-ode train spiral [--iters N --method M --rtol R --atol A --grad
//!   adjoint|direct|checkpointed --seed S --threads T --out DIR --resume DIR]`: learn the
//!   spiral dynamics; writes DIR/model.bin, DIR/metrics.jsonl and plots.
//! - `neural-ode eval DIR`: the full-trajectory loss of a trained model.
//! - `neural-ode solve --problem NAME --method NAME [--rtol R --atol A --t1 T --dt H
//!   --output text|json|csv --points N]`: solves a named classic problem and prints the final
//!   state and statistics (or one JSON object, or the trajectory as CSV).
//!
//! Errors (unknown names, bad numbers, impossible tolerances, failed solves) print one line
//! on standard error and exit with a non-zero code.

mod solve;
mod train;

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
    /// Train a neural ODE on a built-in task.
    Train(train::TrainArgs),
    /// Evaluate a trained model (full-trajectory loss and evaluations).
    Eval(train::EvalArgs),
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
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Train(args) => train::train(&args).map_err(Into::into),
        Command::Eval(args) => train::eval(&args).map_err(Into::into),
        Command::Solve(args) => solve::run(&args).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
