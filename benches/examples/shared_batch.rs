//! Shared-step batches of the spiral MLP with a batched network (issue 7): time per sample as
//! the batch grows, when the dynamics evaluate the whole batch at once (`nn_layers::MlpDynamics`,
//! one pass of batched kernels over all samples) instead of sample by sample.
//!
//! `cargo run --release -p benches --example shared_batch [-- --quick]`; prints markdown.
//! Dopri5, rtol 1e-7, atol 1e-9, t ∈ [0, 5], f64, one thread; the error norm is taken per
//! sample and the largest decides (`Options::norm_groups`), as in `ode_solvers::batch`'s
//! shared-step mode. The MLP is 2→50→2 with tanh on y³ and seeded initial weights.

use std::cell::RefCell;
use std::time::Instant;

use adjoint::Dynamics;
use nn_layers::{init_params, Activation, MlpConfig, MlpDynamics, ParamLayout};
use ode_solvers::{tableau, ExplicitRk, Integrator, Options};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    println!("| batch | µs per sample (median) | accepted steps | NFE |\n|---|---|---|---|");
    for n in [1usize, 16, 128, 1024] {
        let mut layout = ParamLayout::new();
        let cfg =
            MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube);
        let mlp = cfg.build(&mut layout, "net").expect("mlp");
        let mut theta = vec![0.0f64; layout.len()];
        init_params(&layout, &mut theta, 7).expect("init");
        let dynamics = MlpDynamics::new(mlp, layout, n).expect("dynamics");
        // The solver sees the samples one after another (so per-sample error groups are
        // contiguous); the network takes all x then all y: transpose in and out.
        let scratch = RefCell::new((vec![0.0; 2 * n], vec![0.0; 2 * n]));
        let sys = |t: f64, y: &[f64], dy: &mut [f64]| {
            let (zc, dc) = &mut *scratch.borrow_mut();
            for i in 0..n {
                zc[i] = y[2 * i];
                zc[n + i] = y[2 * i + 1];
            }
            dynamics.eval(t, zc, &theta, dc);
            for i in 0..n {
                dy[2 * i] = dc[i];
                dy[2 * i + 1] = dc[n + i];
            }
        };
        let y0: Vec<f64> = (0..n)
            .flat_map(|i| [1.0 + 0.5 * i as f64 / n as f64, -0.5])
            .collect();
        let mut opts = Options::default().rtol(1e-7).atol(1e-9);
        opts.norm_groups = n;
        let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
        let first = integ.solve(&sys, 0.0, 5.0, &y0, &opts).expect("solve");
        let reps = if quick { 3 } else { (4000 / n).clamp(9, 400) };
        let mut ts: Vec<f64> = (0..reps)
            .map(|_| {
                let s = Instant::now();
                std::hint::black_box(integ.solve(&sys, 0.0, 5.0, &y0, &opts).expect("solve"));
                s.elapsed().as_secs_f64()
            })
            .collect();
        ts.sort_by(f64::total_cmp);
        println!(
            "| {n} | {:.2} | {} | {} |",
            1e6 * ts[ts.len() / 2] / n as f64,
            first.stats.accepted,
            first.stats.nfe
        );
    }
}
