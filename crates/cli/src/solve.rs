//! `neural-ode solve`: solve a named classic problem.

use std::fmt::Write as _;

use clap::{Args, ValueEnum};
use ode_solvers::{problems, Method, Options, SaveAt, Solution};
use serde::Serialize;

/// Output format of `solve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Human-readable final state and statistics.
    Text,
    /// One JSON object.
    Json,
    /// The trajectory at evenly spaced times, as CSV.
    Csv,
}

/// Arguments of `neural-ode solve`.
#[derive(Debug, Args)]
pub(crate) struct SolveArgs {
    /// Problem: lorenz, vdp, arenstorf, linear10, exp-decay.
    #[arg(long)]
    problem: String,
    /// Method: euler, midpoint, heun, ralston, rk4, bosh3, dopri5, tsit5, dop853.
    #[arg(long, default_value = "dopri5")]
    method: String,
    /// Relative tolerance.
    #[arg(long, default_value_t = 1e-6)]
    rtol: f64,
    /// Absolute tolerance.
    #[arg(long, default_value_t = 1e-9)]
    atol: f64,
    /// End time (default: the problem's own).
    #[arg(long)]
    t1: Option<f64>,
    /// Fixed step size (required for methods without an error estimator).
    #[arg(long)]
    dt: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Number of evenly spaced output times for `--output csv` (including both ends).
    #[arg(long, default_value_t = 101)]
    points: usize,
    /// Step budget.
    #[arg(long, default_value_t = 1_000_000)]
    max_steps: usize,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SolveCmdError {
    #[error("unknown problem '{0}' (known: lorenz, vdp, arenstorf, linear10, exp-decay)")]
    UnknownProblem(String),
    #[error(transparent)]
    UnknownMethod(#[from] ode_solvers::UnknownMethod),
    #[error("--points must be at least 2, got {0}")]
    Points(usize),
    #[error("solve failed: {0}")]
    Solve(#[from] ode_solvers::SolveError),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct Stats {
    nfe: usize,
    accepted: usize,
    rejected: usize,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    problem: &'a str,
    method: &'a str,
    rtol: f64,
    atol: f64,
    dt: Option<f64>,
    t0: f64,
    t_final: f64,
    y_final: &'a [f64],
    statistics: Stats,
}

pub(crate) fn run(args: &SolveArgs) -> Result<(), SolveCmdError> {
    print!("{}", render(args)?);
    Ok(())
}

/// Solves and renders the output as a string.
pub(crate) fn render(args: &SolveArgs) -> Result<String, SolveCmdError> {
    let p = problems::by_name(&args.problem)
        .ok_or_else(|| SolveCmdError::UnknownProblem(args.problem.clone()))?;
    let method: Method = args.method.parse()?;
    let t1 = args.t1.unwrap_or(p.t1);
    let mut opts = Options::default()
        .rtol(args.rtol)
        .atol(args.atol)
        .max_steps(args.max_steps);
    if let Some(dt) = args.dt {
        opts = opts.fixed_step(dt);
    }
    if args.output == Output::Csv {
        if args.points < 2 {
            return Err(SolveCmdError::Points(args.points));
        }
        let n = args.points - 1;
        let ts: Vec<f64> = (0..=n)
            .map(|i| {
                if i == n {
                    t1
                } else {
                    p.t0 + (t1 - p.t0) * i as f64 / n as f64
                }
            })
            .collect();
        opts = opts.save_at(SaveAt::Times(ts));
    }
    let sol: Solution<f64> = method
        .solve(&p.rhs, p.t0, t1, p.y0, &opts)
        .map_err(|f| SolveCmdError::Solve(f.error))?;
    let mut out = String::new();
    match args.output {
        Output::Text => {
            let _ = writeln!(
                out,
                "problem {} ({}), method {}",
                p.name, p.description, method
            );
            let _ = writeln!(out, "t_final = {}", sol.t_final);
            let ys: Vec<String> = sol.y_final.iter().map(|v| format!("{v:.12e}")).collect();
            let _ = writeln!(out, "y_final = [{}]", ys.join(", "));
            let _ = writeln!(
                out,
                "nfe = {}, accepted = {}, rejected = {}",
                sol.stats.nfe, sol.stats.accepted, sol.stats.rejected
            );
        }
        Output::Json => {
            let report = JsonReport {
                problem: p.name,
                method: method.name(),
                rtol: args.rtol,
                atol: args.atol,
                dt: args.dt,
                t0: p.t0,
                t_final: sol.t_final,
                y_final: &sol.y_final,
                statistics: Stats {
                    nfe: sol.stats.nfe,
                    accepted: sol.stats.accepted,
                    rejected: sol.stats.rejected,
                },
            };
            out = serde_json::to_string(&report)?;
            out.push('\n');
        }
        Output::Csv => {
            let header: Vec<String> = (0..p.dim()).map(|i| format!("y{i}")).collect();
            let _ = writeln!(out, "t,{}", header.join(","));
            for (t, y) in sol.iter() {
                let row: Vec<String> = y.iter().map(|v| format!("{v:.15e}")).collect();
                let _ = writeln!(out, "{t},{}", row.join(","));
            }
        }
    }
    Ok(out)
}
