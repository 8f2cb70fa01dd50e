//! The issue-6 measurement: the default spiral run (2000 iterations) for each gradient
//! method, with time per iteration (median and mean), whole-run wall time, and the
//! full-trajectory loss averaged over the evaluations at iterations 1600–2000.
//!
//! `cargo run --release -p models --example spiral_bench [-- ITERS [METHOD [SEED]]]`, with
//! METHOD one of `direct`, `checkpointed`, `adjoint` to run only that one (for profiling) or
//! `all`, and SEED the training seed (default 0, the command's default); prints
//! markdown. The NFE column is the median total, with the medians of the forward and backward
//! parts in parentheses.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use models::{GradKind, TrainConfig, Trainer};

fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let only = std::env::args().nth(2).filter(|m| m != "all");
    let seed: u64 = std::env::args()
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    println!("| gradient | ms per iteration (median) | ms per iteration (mean) | whole run (s) | NFE forward + backward per iteration (median) | trajectory loss, mean over the last 20% of evaluations |");
    println!("|---|---|---|---|---|---|");
    for (name, grad) in [
        ("direct", GradKind::Direct),
        ("checkpointed(16)", GradKind::Checkpointed(16)),
        ("adjoint", GradKind::Adjoint),
    ] {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let mut c = TrainConfig {
            iters,
            seed,
            ..Default::default()
        };
        c.solver.grad = grad;
        let start = Instant::now();
        let mut t = Trainer::new(c).expect("trainer");
        let dir = std::env::temp_dir().join(format!("spiral-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut ms = Vec::new();
        let mut nfe = Vec::new();
        let mut nfe_f = Vec::new();
        let mut nfe_b = Vec::new();
        let mut evals = Vec::new();
        t.run(&dir, &AtomicBool::new(false), |m| {
            ms.push(m.ms);
            nfe.push(m.nfe_forward + m.nfe_backward);
            nfe_f.push(m.nfe_forward);
            nfe_b.push(m.nfe_backward);
            if let Some(l) = m.eval_loss {
                evals.push((m.iter, l));
            }
        })
        .expect("training");
        let total = start.elapsed().as_secs_f64();
        let _ = std::fs::remove_dir_all(&dir);
        let mean_ms = ms.iter().sum::<f64>() / ms.len() as f64;
        ms.sort_by(f64::total_cmp);
        nfe.sort();
        nfe_f.sort();
        nfe_b.sort();
        let from = (iters as f64 * 0.8) as usize;
        let tail: Vec<f64> = evals
            .iter()
            .filter(|(i, _)| *i >= from)
            .map(|(_, l)| *l)
            .collect();
        println!(
            "| {name} | {:.3} | {:.3} | {:.2} | {} ({} + {}) | {:.4} |",
            ms[ms.len() / 2],
            mean_ms,
            total,
            nfe[nfe.len() / 2],
            nfe_f[nfe_f.len() / 2],
            nfe_b[nfe_b.len() / 2],
            tail.iter().sum::<f64>() / tail.len().max(1) as f64
        );
    }
}
