//! `neural-ode train spiral` and `neural-ode eval DIR`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use models::{GradKind, IterMetrics, ModelError, TrainConfig, Trainer};

/// Built-in tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Task {
    /// Learn the spiral dynamics dy/dt = (y³)A from one trajectory (the paper's demo).
    Spiral,
}

/// Arguments of `neural-ode train`.
#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// The task.
    #[arg(value_enum)]
    task: Task,
    /// Iterations (default 2000).
    #[arg(long)]
    iters: Option<usize>,
    /// Solver: dopri5, tsit5, bosh3, dop853 (adaptive), or a fixed-step method with --dt.
    #[arg(long, default_value = "dopri5")]
    method: String,
    /// Relative tolerance.
    #[arg(long, default_value_t = 1e-7)]
    rtol: f64,
    /// Absolute tolerance.
    #[arg(long, default_value_t = 1e-9)]
    atol: f64,
    /// Gradient method: adjoint, direct, checkpointed.
    #[arg(long, default_value = "adjoint")]
    grad: String,
    /// Leave the parameter adjoint out of the backward error control (adjoint only).
    #[arg(long)]
    seminorm: bool,
    /// How a minibatch is solved: shared (one stacked solve) or per-sample (each window on
    /// its own adaptive steps, in parallel over --threads).
    #[arg(long, default_value = "shared")]
    batch_mode: String,
    /// Seed of the initialisation and of the minibatches.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: RAYON_NUM_THREADS, else all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Output directory (model.bin, metrics.jsonl, plots).
    #[arg(long, default_value = "runs/spiral")]
    out: PathBuf,
    /// Continue the run saved in this directory (its settings are kept; --iters may extend it).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Skip writing the plots.
    #[arg(long)]
    no_plots: bool,
}

fn read_metrics(path: &std::path::Path) -> Vec<IterMetrics> {
    std::fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn train(args: &TrainArgs) -> Result<(), ModelError> {
    if let Some(n) = args.threads {
        if n == 0 {
            return Err(ModelError::Config("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| ModelError::Config(format!("cannot set up {n} threads: {e}")))?;
    }
    let (mut trainer, dir) = match &args.resume {
        Some(dir) => (
            Trainer::load(&dir.join("model.bin"), args.iters)?,
            dir.clone(),
        ),
        None => {
            let grad: GradKind = args.grad.parse().map_err(ModelError::Config)?;
            let mut c = TrainConfig {
                seed: args.seed,
                ..Default::default()
            };
            if let Some(n) = args.iters {
                c.iters = n;
            }
            c.solver.method = args.method.clone();
            c.solver.rtol = args.rtol;
            c.solver.atol = args.atol;
            c.solver.grad = grad;
            c.solver.seminorm = args.seminorm;
            c.batch_mode = args.batch_mode.parse().map_err(ModelError::Config)?;
            if !(args.rtol > 0.0
                && args.atol > 0.0
                && args.rtol.is_finite()
                && args.atol.is_finite())
            {
                return Err(ModelError::Config(format!(
                    "tolerances must be positive and finite (rtol {}, atol {})",
                    args.rtol, args.atol
                )));
            }
            let dir = args.out.clone();
            if dir.join("model.bin").exists() {
                return Err(ModelError::Config(format!(
                    "{} already holds a model; use --resume {} or another --out",
                    dir.display(),
                    dir.display()
                )));
            }
            (Trainer::new(c)?, dir)
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second handler cannot be installed in the same process (tests); ignore that.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let total = trainer.config().iters as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} iters  {msg}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(trainer.iteration() as u64);
    let result = trainer.run(&dir, &stop, |m| {
        bar.set_position(m.iter as u64);
        let eval = m
            .eval_loss
            .map(|l| format!(", trajectory loss {l:.4}"))
            .unwrap_or_default();
        bar.set_message(format!(
            "loss {:.4}{eval}, nfe {}+{}",
            m.loss, m.nfe_forward, m.nfe_backward
        ));
    });
    bar.finish_and_clear();
    result?;
    let metrics = read_metrics(&dir.join("metrics.jsonl"));
    if !args.no_plots {
        models::plots::write_all(&trainer, &metrics, &dir)?;
    }
    let (loss, nfe) = trainer.evaluate()?;
    if stop.load(Ordering::SeqCst) {
        println!(
            "interrupted at iteration {}; saved {}; continue with --resume {}",
            trainer.iteration(),
            dir.join("model.bin").display(),
            dir.display()
        );
    } else {
        println!(
            "trained {} iterations; full-trajectory loss {loss:.5} ({nfe} evaluations); wrote {}",
            trainer.iteration(),
            dir.display()
        );
    }
    Ok(())
}

/// Arguments of `neural-ode eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// A run directory written by `neural-ode train`.
    dir: PathBuf,
}

pub(crate) fn eval(args: &EvalArgs) -> Result<(), ModelError> {
    let trainer = Trainer::load(&args.dir.join("model.bin"), None)?;
    let (loss, nfe) = trainer.evaluate()?;
    println!(
        "iteration {}; full-trajectory loss {loss:.5}; {nfe} evaluations ({} rtol {:e} atol {:e})",
        trainer.iteration(),
        trainer.config().solver.method,
        trainer.config().solver.rtol,
        trainer.config().solver.atol
    );
    Ok(())
}
