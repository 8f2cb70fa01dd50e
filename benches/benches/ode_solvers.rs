//! Criterion benchmark of `ode-solvers` against the peer crates `ode_solvers` 0.6,
//! `differential-equations` 0.7 and `diffsol` 0.18: Dopri5, Tsit5 and DOP853 on lorenz,
//! arenstorf and linear10 at `rtol = atol` = 1e-3, 1e-6, 1e-9, one complete solve per
//! iteration (see `benches/peers/mod.rs` for how each crate is driven).
//!
//! Benchmark names: `solvers/<problem>/<tol>/<solver>-<method>`, e.g.
//! `solvers/lorenz/1e-6/ours-dopri5` or `solvers/lorenz/1e-6/diffeq-fixed-dopri5`.
//!
//! ```text
//! cargo bench -p benches --bench ode_solvers                  # everything (a few minutes)
//! cargo bench -p benches --bench ode_solvers -- lorenz/1e-6   # a filter
//! ```
//!
//! NFE and errors are not criterion's business: the table generator
//! (`cargo run --release -p benches --example solver_table`) prints them with the times.

#[path = "../peers/mod.rs"]
mod peers;

use std::hint::black_box;
use std::time::Duration;

use benches::{tol_label, Arenstorf, BenchProblem, Linear10, Lorenz, TOLERANCES};
use criterion::{criterion_group, criterion_main, Criterion};
use peers::{runner, Method, Solver};

fn problem<P: BenchProblem, const N: usize>(c: &mut Criterion) {
    for tol in TOLERANCES {
        let mut group = c.benchmark_group(format!("solvers/{}/{}", P::NAME, tol_label(tol)));
        if !benches::quick() {
            group
                .sample_size(20)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
        }
        for method in Method::ALL {
            for solver in Solver::ALL {
                let Some(mut run) = runner::<P, (), N>(solver, method, tol, &()) else {
                    continue;
                };
                group.bench_function(format!("{}-{}", solver.label(), method.name()), |b| {
                    b.iter(|| black_box(run()))
                });
            }
        }
        group.finish();
    }
}

fn solvers(c: &mut Criterion) {
    problem::<Lorenz, 3>(c);
    problem::<Arenstorf, 4>(c);
    problem::<Linear10, 10>(c);
}

criterion_group!(benches, solvers);
criterion_main!(benches);
