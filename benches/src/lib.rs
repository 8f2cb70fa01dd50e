//! Shared code of the workspace's benchmarks.
//!
//! For the solver comparison (`benches/benches/ode_solvers.rs` and the table generator
//! `benches/examples/solver_table.rs`) this crate holds what does not depend on a peer crate:
//!
//! - the benchmark problems written once, generically over the state container
//!   ([`BenchProblem::rhs`] takes anything indexable by `usize`: slices, arrays, `Vec`,
//!   nalgebra vectors), so that every solver, ours and the peers', evaluates the very same
//!   arithmetic, inlined into its own code;
//! - reference solutions ([`reference`]) and the error measure ([`max_abs_error`]);
//! - a counter for right-hand-side evaluations ([`Tally`]) that costs nothing when off;
//! - the timing helpers of the table generator ([`time_interleaved`], [`time_per_call`]).
//!
//! The peer crates are dev-dependencies of this package only, so the code that drives them
//! lives beside the bench and the example (`benches/peers/mod.rs`), not here.

use std::cell::Cell;
use std::hint::black_box;
use std::ops::{Index, IndexMut};
use std::time::{Duration, Instant};

use ode_solvers::problems::{self, Problem, ARENSTORF_MU, LINEAR10_DIM};
use ode_solvers::{Dop853, Integrator, Options};

/// Whether `cargo xtask bench --quick` runs this benchmark (environment variable
/// `NEURAL_ODE_BENCH_QUICK`): benchmark groups then keep criterion's command-line timing
/// (short) instead of their own longer settings, which would override it.
pub fn quick() -> bool {
    std::env::var_os("NEURAL_ODE_BENCH_QUICK").is_some_and(|v| !v.is_empty())
}

/// The tolerances of the comparison; each solve uses `rtol = atol = tol`.
pub const TOLERANCES: [f64; 3] = [1e-3, 1e-6, 1e-9];

/// The tolerance of the reference solutions (`rtol = atol`).
pub const REFERENCE_TOL: f64 = 1e-13;

/// Short label of a tolerance, as used in benchmark names (`1e-6`).
pub fn tol_label(tol: f64) -> String {
    format!("{tol:e}")
}

/// Counts right-hand-side evaluations; `()` counts nothing and compiles to nothing.
pub trait Tally {
    /// Records one evaluation.
    fn tick(&self);
}

impl Tally for () {
    #[inline(always)]
    fn tick(&self) {}
}

impl Tally for Cell<usize> {
    #[inline(always)]
    fn tick(&self) {
        self.set(self.get() + 1);
    }
}

/// A benchmark problem: the same initial value problem as the named problem of
/// [`ode_solvers::problems`], with its right-hand side generic over the state container.
pub trait BenchProblem: 'static {
    /// Name, as in [`ode_solvers::problems`].
    const NAME: &'static str;
    /// State dimension.
    const DIM: usize;

    /// Our crate's definition of the problem (span and initial state).
    fn problem() -> Problem;

    /// `dy = f(t, y)`, with exactly the arithmetic of [`BenchProblem::problem`]'s `rhs`.
    fn rhs<Y, D>(t: f64, y: &Y, dy: &mut D)
    where
        Y: Index<usize, Output = f64> + ?Sized,
        D: IndexMut<usize, Output = f64> + ?Sized;
}

/// The Lorenz system (σ = 10, ρ = 28, β = 8/3), y0 = (1, 0, 0), t ∈ [0, 20].
pub struct Lorenz;

impl BenchProblem for Lorenz {
    const NAME: &'static str = "lorenz";
    const DIM: usize = 3;

    fn problem() -> Problem {
        problems::LORENZ
    }

    #[inline(always)]
    fn rhs<Y, D>(_t: f64, y: &Y, dy: &mut D)
    where
        Y: Index<usize, Output = f64> + ?Sized,
        D: IndexMut<usize, Output = f64> + ?Sized,
    {
        let (sigma, rho, beta) = (10.0, 28.0, 8.0 / 3.0);
        dy[0] = sigma * (y[1] - y[0]);
        dy[1] = y[0] * (rho - y[2]) - y[1];
        dy[2] = y[0] * y[1] - beta * y[2];
    }
}

/// The Arenstorf orbit, one period (Hairer, Nørsett, Wanner I, §II.0).
pub struct Arenstorf;

impl BenchProblem for Arenstorf {
    const NAME: &'static str = "arenstorf";
    const DIM: usize = 4;

    fn problem() -> Problem {
        problems::ARENSTORF
    }

    #[inline(always)]
    fn rhs<Y, D>(_t: f64, y: &Y, dy: &mut D)
    where
        Y: Index<usize, Output = f64> + ?Sized,
        D: IndexMut<usize, Output = f64> + ?Sized,
    {
        let mu = ARENSTORF_MU;
        let mu1 = 1.0 - mu;
        // As `ode_solvers::problems::ARENSTORF`: r^(3/2) as r·√r (Hairer's driver).
        let r1 = (y[0] + mu).powi(2) + y[1] * y[1];
        let r2 = (y[0] - mu1).powi(2) + y[1] * y[1];
        let d1 = r1 * r1.sqrt();
        let d2 = r2 * r2.sqrt();
        dy[0] = y[2];
        dy[1] = y[3];
        dy[2] = y[0] + 2.0 * y[3] - mu1 * (y[0] + mu) / d1 - mu * (y[0] - mu1) / d2;
        dy[3] = y[1] - 2.0 * y[2] - mu1 * y[1] / d1 - mu * y[1] / d2;
    }
}

/// The 10-dimensional stable linear system `y' = A y` of [`problems::LINEAR10`].
pub struct Linear10;

impl BenchProblem for Linear10 {
    const NAME: &'static str = "linear10";
    const DIM: usize = LINEAR10_DIM;

    fn problem() -> Problem {
        problems::LINEAR10
    }

    #[inline(always)]
    fn rhs<Y, D>(_t: f64, y: &Y, dy: &mut D)
    where
        Y: Index<usize, Output = f64> + ?Sized,
        D: IndexMut<usize, Output = f64> + ?Sized,
    {
        let n = LINEAR10_DIM;
        for i in 0..n {
            let mut s = -(0.5 + 0.1 * i as f64) * y[i];
            if i + 1 < n {
                s += y[i + 1];
            }
            if i > 0 {
                s -= y[i - 1];
            }
            dy[i] = s;
        }
    }
}

/// How a reference solution was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// The state at the problem's `t1`.
    pub y: Vec<f64>,
    /// Where it comes from, for the report.
    pub source: &'static str,
}

/// The reference state at `t1`: the matrix exponential for linear10 (via
/// [`problems::expm`]); otherwise our DOP853 at `rtol = atol = ` [`REFERENCE_TOL`]. The
/// table generator cross-checks the latter against a peer's DOP853 at the same tolerance.
pub fn reference<P: BenchProblem>() -> Reference {
    let p = P::problem();
    if let Some(exact) = p.exact {
        return Reference {
            y: exact(p.t1),
            source: "expm(t1 A) y0",
        };
    }
    Reference {
        y: our_dop853(P::problem(), REFERENCE_TOL),
        source: "our DOP853 at rtol = atol = 1e-13",
    }
}

/// Our DOP853 solve of `p` at `rtol = atol = tol`, final state.
pub fn our_dop853(p: Problem, tol: f64) -> Vec<f64> {
    let opts = Options::default().rtol(tol).atol(tol).max_steps(10_000_000);
    Integrator::new(Dop853::<f64>::new())
        .solve(&p.rhs, p.t0, p.t1, p.y0, &opts)
        .expect("reference solve")
        .y_final
}

/// A floor for the time of any explicit Runge–Kutta solve that makes `nfe` right-hand-side
/// evaluations: the evaluations run as one dependency chain, each one's input formed from
/// the previous one's output by one multiply and add per component (`y += ε f(t, y)`, with
/// `ε = 1e-9`, so the state stays near `y0`), on a stack array of compile-time length that
/// the compiler keeps in registers. A solver's stages are such a chain too (each stage's
/// input needs the previous stage's derivative), with more work around it, so no solver
/// with this NFE can beat this time on the same machine; `solver_table` reports it beside
/// each row, to tell how much of a peer's time is the right-hand side itself.
#[inline(never)]
pub fn rhs_chain<P: BenchProblem, const N: usize>(nfe: usize) -> [f64; N] {
    let p = P::problem();
    let mut y = [0.0; N];
    y.copy_from_slice(p.y0);
    let mut dy = [0.0; N];
    let (t, eps) = std::hint::black_box((p.t0, 1e-9));
    for _ in 0..nfe {
        P::rhs(t, &y, &mut dy);
        for i in 0..N {
            y[i] += eps * dy[i];
        }
    }
    y
}

/// The error measure of the comparison: `max_i |y_i - reference_i|`.
pub fn max_abs_error(y: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(y.len(), reference.len(), "state length");
    y.iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// The wall time of one call of each function in `fs`, measured interleaved so that a busy
/// machine slows all of them alike: each function's batch is first sized to last at least
/// `min_batch` (which also warms caches and branch predictors), then `samples` rounds each
/// time one batch of every function in turn. Returns each function's (median, minimum) of
/// (batch time / batch size).
pub fn time_interleaved(
    fs: &mut [&mut dyn FnMut()],
    samples: usize,
    min_batch: Duration,
) -> Vec<(Duration, Duration)> {
    let batch = |f: &mut dyn FnMut(), reps: usize| {
        let start = Instant::now();
        for _ in 0..reps {
            f();
        }
        start.elapsed()
    };
    let reps: Vec<usize> = fs
        .iter_mut()
        .map(|f| {
            let mut reps = 1usize;
            while batch(&mut **f, reps) < min_batch && reps < 1 << 24 {
                reps *= 2;
            }
            reps
        })
        .collect();
    let mut per_call = vec![Vec::with_capacity(samples); fs.len()];
    for _ in 0..samples.max(1) {
        for (i, f) in fs.iter_mut().enumerate() {
            per_call[i].push(batch(&mut **f, reps[i]).as_secs_f64() / reps[i] as f64);
        }
    }
    per_call
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            (
                Duration::from_secs_f64(v[v.len() / 2]),
                Duration::from_secs_f64(v[0]),
            )
        })
        .collect()
}

/// [`time_interleaved`] of a single function.
pub fn time_per_call<R>(
    mut f: impl FnMut() -> R,
    samples: usize,
    min_batch: Duration,
) -> (Duration, Duration) {
    let mut g = || {
        black_box(f());
    };
    time_interleaved(&mut [&mut g], samples, min_batch)[0]
}

/// A counting global allocator for the benchmarks that report allocations per call; each
/// bench binary installs it with `#[global_allocator] static GLOBAL: Counting = Counting;`.
pub mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Forwards to the system allocator and counts allocations and reallocations.
    pub struct Counting;

    static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

    // SAFETY: every method forwards unchanged to the system allocator.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: forwarded unchanged to the system allocator.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: forwarded unchanged to the system allocator.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: forwarded unchanged to the system allocator.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Allocations per call of `f`, averaged over 10 calls after one warm-up call (counts
    /// only when [`Counting`] is the global allocator).
    pub fn allocations_per_call(mut f: impl FnMut()) -> f64 {
        f();
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..10 {
            f();
        }
        (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_rhs<P: BenchProblem>() {
        let p = P::problem();
        assert_eq!(p.dim(), P::DIM);
        assert_eq!(p.name, P::NAME);
        let y: Vec<f64> = (0..P::DIM).map(|i| 0.3 + 0.7 * (i as f64).sin()).collect();
        let mut a = vec![0.0; P::DIM];
        let mut b = vec![0.0; P::DIM];
        (p.rhs)(0.5, &y, &mut a);
        P::rhs(0.5, y.as_slice(), b.as_mut_slice());
        assert_eq!(a, b);
    }

    #[test]
    fn generic_rhs_matches_the_crate_problems() {
        same_rhs::<Lorenz>();
        same_rhs::<Arenstorf>();
        same_rhs::<Linear10>();
    }

    #[test]
    fn rhs_chain_takes_nfe_small_euler_steps() {
        // Independently: two steps y += 1e-9 A y with the documented matrix of linear10.
        let a = ode_solvers::problems::linear10_matrix();
        let n = LINEAR10_DIM;
        let mut y = Linear10::problem().y0.to_vec();
        for _ in 0..2 {
            let f: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| a[i * n + j] * y[j]).sum())
                .collect();
            for i in 0..n {
                y[i] += 1e-9 * f[i];
            }
        }
        let chained = rhs_chain::<Linear10, LINEAR10_DIM>(2);
        for i in 0..n {
            assert!(
                (chained[i] - y[i]).abs() < 1e-15,
                "{i}: {} vs {}",
                chained[i],
                y[i]
            );
        }
        // No evaluations: the initial state.
        assert_eq!(rhs_chain::<Lorenz, 3>(0).to_vec(), Lorenz::problem().y0);
        assert_ne!(rhs_chain::<Lorenz, 3>(1).to_vec(), Lorenz::problem().y0);
    }

    #[test]
    fn arenstorf_reference_closes_the_orbit() {
        let r = reference::<Arenstorf>();
        assert!(max_abs_error(&r.y, Arenstorf::problem().y0) < 1e-6);
    }
}
