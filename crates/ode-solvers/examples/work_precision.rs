//! Work-precision table: for each adaptive method and classic problem, the error against a
//! reference and the right-hand-side evaluations over a range of tolerances, plus wall time
//! per solve (median of repeated solves).
//!
//! Run with `cargo run --release -p ode-solvers --example work_precision`. Prints markdown.
//! References: the closed form where one exists, else DOP853 at rtol = atol = 1e-13.

use std::time::Instant;

use ode_solvers::{problems, Method, Options};

fn main() {
    let methods = [Method::Bosh3, Method::Dopri5, Method::Tsit5, Method::Dop853];
    let tols = [1e-3, 1e-6, 1e-9, 1e-12];
    println!("| problem | method | tol | max error | NFE | steps (rejected) | µs per solve |");
    println!("|---|---|---|---|---|---|---|");
    for p in [
        problems::LORENZ,
        problems::VDP,
        problems::ARENSTORF,
        problems::LINEAR10,
    ] {
        let reference = match p.exact {
            Some(f) => f(p.t1),
            None => {
                let o = Options::default()
                    .rtol(1e-13)
                    .atol(1e-13)
                    .max_steps(10_000_000);
                Method::Dop853
                    .solve(&p.rhs, p.t0, p.t1, p.y0, &o)
                    .expect("reference solve")
                    .y_final
            }
        };
        for m in methods {
            for tol in tols {
                let opts = Options::default().rtol(tol).atol(tol).max_steps(10_000_000);
                let sol = match m.solve(&p.rhs, p.t0, p.t1, p.y0, &opts) {
                    Ok(s) => s,
                    Err(e) => {
                        println!(
                            "| {} | {m} | {tol:.0e} | failed: {} | | | |",
                            p.name, e.error
                        );
                        continue;
                    }
                };
                let err = sol
                    .y_final
                    .iter()
                    .zip(&reference)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                let reps = (200_000 / sol.stats.nfe.max(1)).clamp(3, 200);
                let mut times: Vec<f64> = (0..reps)
                    .map(|_| {
                        let start = Instant::now();
                        let s = m.solve(&p.rhs, p.t0, p.t1, p.y0, &opts).unwrap();
                        std::hint::black_box(&s);
                        start.elapsed().as_secs_f64() * 1e6
                    })
                    .collect();
                times.sort_by(f64::total_cmp);
                println!(
                    "| {} | {m} | {tol:.0e} | {err:.2e} | {} | {} ({}) | {:.1} |",
                    p.name,
                    sol.stats.nfe,
                    sol.stats.accepted,
                    sol.stats.rejected,
                    times[times.len() / 2]
                );
            }
        }
    }
}
