//! The issue-4 spiral measurement: time per gradient of one training minibatch (the spiral
//! MLP 2→50→2 with tanh on y³, 20 windows of 10 observation times, shared steps, Dopri5,
//! rtol 1e-7, atol 1e-9, f64, one thread) for each gradient method, with the forward and
//! backward work and their ratio, with and without the seminorm for the adjoint, and how far
//! each gradient is from `direct`'s.
//!
//! `cargo run --release -p models --example spiral_grad [-- [--quick] [REPS]]`; prints
//! markdown. Times are medians over REPS gradients (default 200; `--quick`: 10).

use std::time::Instant;

use models::{GradKind, MinibatchGrad, TrainConfig, Trainer};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if quick { 10 } else { 200 });
    let cases = [
        ("direct", GradKind::Direct, false),
        ("checkpointed(16)", GradKind::Checkpointed(16), false),
        ("adjoint", GradKind::Adjoint, false),
        ("adjoint + seminorm", GradKind::Adjoint, true),
    ];
    println!("Spiral MLP 2→50→2 (tanh on y³), batch 20 × 10 observation times, Dopri5 rtol 1e-7 atol 1e-9, f64, one thread; median of {reps} gradients of the first minibatch.\n");
    println!("| gradient | ms per gradient (median) | forward NFE | backward NFE (evaluations + VJPs) | backward / forward | max \\|dθ − dθ_direct\\| / max \\|dθ_direct\\| |");
    println!("|---|---|---|---|---|---|");
    let mut reference: Option<Vec<f64>> = None;
    for (name, grad, seminorm) in cases {
        let mut c = TrainConfig::default();
        c.solver.grad = grad;
        c.solver.seminorm = seminorm;
        let trainer = Trainer::new(c).expect("trainer");
        let first: MinibatchGrad = trainer.loss_and_grad().expect("gradient");
        let mut ms: Vec<f64> = (0..reps)
            .map(|_| {
                let s = Instant::now();
                std::hint::black_box(trainer.loss_and_grad().expect("gradient"));
                s.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        let r = reference.get_or_insert_with(|| first.dtheta.clone());
        let scale = r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let diff = first
            .dtheta
            .iter()
            .zip(r.iter())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        println!(
            "| {name} | {:.3} | {} | {} | {:.2} | {:.1e} |",
            ms[ms.len() / 2],
            first.nfe_forward,
            first.nfe_backward,
            first.nfe_backward as f64 / first.nfe_forward as f64,
            diff / scale
        );
    }
}
