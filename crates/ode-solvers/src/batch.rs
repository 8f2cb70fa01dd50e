//! Batches of initial value problems, solved two ways:
//!
//! - [`BatchMode::PerSample`]: every sample is an independent solve with its own adaptive
//!   steps, run in parallel on the caller's rayon pool. No sample is forced to the smallest
//!   step of the batch; each has its own status and statistics; a failing sample reports its
//!   index and error while the others' results are kept. Results do not depend on the number
//!   of threads (each sample's solve is sequential and the same whatever thread runs it).
//! - [`BatchMode::SharedStep`]: one solve of the stacked state (samples one after another),
//!   so the dynamics see the whole batch at once ([`BatchSystem::rhs_batch`], where a network
//!   can use one matrix product for all samples). The error norm is the largest per-sample
//!   norm ([`crate::ErrorScale`] with `groups` = samples), so every sample meets the tolerance.
//!
//! ```
//! use ode_solvers::{batch, tableau, BatchMode, ExplicitRk, Options};
//! // y' = -k y with a rate per sample.
//! let rates = [0.5, 1.0, 2.0];
//! let sys = move |i: usize, _t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -rates[i] * y[0];
//! let method = ExplicitRk::new(&tableau::DOPRI5);
//! let opts = Options::default().rtol(1e-10).atol(1e-12);
//! for mode in [BatchMode::PerSample, BatchMode::SharedStep] {
//!     let out = batch::solve(&method, &sys, 1, &[1.0, 1.0, 1.0], 0.0, 1.0, &opts, mode).unwrap();
//!     for (i, r) in out.results.iter().enumerate() {
//!         let y = r.as_ref().unwrap().y_final[0];
//!         assert!((y - (-rates[i]).exp()).abs() < 1e-8);
//!     }
//! }
//! ```

use rayon::prelude::*;

use crate::{
    Integrator, OdeSystem, Options, Real, Solution, SolveError, SolveFailure, Stats, Stepper,
};

/// The dynamics of a batch: the right-hand side of sample `i` (so samples may have their own
/// parameters), and optionally of the whole stacked batch at once.
///
/// Implemented for closures `Fn(usize, f64, &[T], &mut [T]) + Sync`.
pub trait BatchSystem<T: Real>: Sync {
    /// `dy/dt` of sample `sample` at `(t, y)`.
    fn rhs(&self, sample: usize, t: f64, y: &[T], dy: &mut [T]);

    /// `dy/dt` of the whole batch: `ys` and `dys` hold the samples one after another, `dim`
    /// values each. The default calls [`BatchSystem::rhs`] per sample; override it to use one
    /// matrix product for all samples.
    fn rhs_batch(&self, t: f64, ys: &[T], dys: &mut [T], dim: usize) {
        for (i, (y, dy)) in ys
            .chunks_exact(dim)
            .zip(dys.chunks_exact_mut(dim))
            .enumerate()
        {
            self.rhs(i, t, y, dy);
        }
    }
}

impl<T: Real, F: Fn(usize, f64, &[T], &mut [T]) + Sync> BatchSystem<T> for F {
    fn rhs(&self, sample: usize, t: f64, y: &[T], dy: &mut [T]) {
        self(sample, t, y, dy)
    }
}

/// How a batch is solved; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// Independent adaptive solves in parallel.
    PerSample,
    /// One solve of the stacked state with shared steps.
    SharedStep,
}

/// The result of a batch solve: one result per sample, in sample order.
#[derive(Debug, Clone)]
pub struct BatchSolution<T: Real> {
    /// The mode used.
    pub mode: BatchMode,
    /// Each sample's solution or failure (with its partial solution).
    pub results: Vec<Result<Solution<T>, SolveFailure<T>>>,
}

impl<T: Real> BatchSolution<T> {
    /// Indices of the samples that failed.
    pub fn failed(&self) -> Vec<usize> {
        self.results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| i)
            .collect()
    }

    /// Total work over the batch (per-sample mode: the sum over samples; shared-step mode:
    /// the one shared solve's statistics).
    pub fn total_stats(&self) -> Stats {
        let all = self.results.iter().map(|r| match r {
            Ok(s) => s.stats,
            Err(f) => f.partial.stats,
        });
        match self.mode {
            BatchMode::PerSample => all.fold(Stats::default(), |a, s| Stats {
                nfe: a.nfe + s.nfe,
                accepted: a.accepted + s.accepted,
                rejected: a.rejected + s.rejected,
            }),
            BatchMode::SharedStep => all.into_iter().next().unwrap_or_default(),
        }
    }
}

/// One sample seen as an [`OdeSystem`].
struct Sample<'a, S: ?Sized> {
    sys: &'a S,
    index: usize,
}

impl<T: Real, S: BatchSystem<T> + ?Sized> OdeSystem<T> for Sample<'_, S> {
    #[inline]
    fn rhs(&self, t: f64, y: &[T], dy: &mut [T]) {
        self.sys.rhs(self.index, t, y, dy)
    }
}

/// The stacked batch seen as one [`OdeSystem`].
struct Stacked<'a, S: ?Sized> {
    sys: &'a S,
    dim: usize,
}

impl<T: Real, S: BatchSystem<T> + ?Sized> OdeSystem<T> for Stacked<'_, S> {
    #[inline]
    fn rhs(&self, t: f64, y: &[T], dy: &mut [T]) {
        self.sys.rhs_batch(t, y, dy, self.dim)
    }
}

/// Solves a batch of `y0.len() / dim` samples over the same span `[t0, t1]`.
///
/// # Errors
/// A configuration error that concerns the whole batch (a `y0` whose length is not a multiple
/// of `dim`, `dim == 0`) is returned at once; failures of the solves themselves are per
/// sample in [`BatchSolution::results`].
#[allow(clippy::too_many_arguments)]
pub fn solve<T: Real, M: Stepper<T>, S: BatchSystem<T> + ?Sized>(
    method: &M,
    sys: &S,
    dim: usize,
    y0: &[T],
    t0: f64,
    t1: f64,
    opts: &Options,
    mode: BatchMode,
) -> Result<BatchSolution<T>, SolveError> {
    let spans = vec![(t0, t1); y0.len().checked_div(dim).unwrap_or(0)];
    solve_spans(method, sys, dim, y0, &spans, opts, mode)
}

/// Like [`solve`], with a time span per sample (`spans[i] = (t0_i, t1_i)`). Shared-step mode
/// needs every span to be the same.
#[allow(clippy::too_many_arguments)]
pub fn solve_spans<T: Real, M: Stepper<T>, S: BatchSystem<T> + ?Sized>(
    method: &M,
    sys: &S,
    dim: usize,
    y0: &[T],
    spans: &[(f64, f64)],
    opts: &Options,
    mode: BatchMode,
) -> Result<BatchSolution<T>, SolveError> {
    if dim == 0 || !y0.len().is_multiple_of(dim) {
        return Err(SolveError::DimensionMismatch {
            what: "batch of initial states",
            expected: dim,
            found: y0.len(),
        });
    }
    let n = y0.len() / dim;
    if spans.len() != n {
        return Err(SolveError::DimensionMismatch {
            what: "time spans",
            expected: n,
            found: spans.len(),
        });
    }
    match mode {
        BatchMode::PerSample => {
            let results: Vec<_> = (0..n)
                .into_par_iter()
                .map_init(
                    || Integrator::new(method.clone()),
                    |integ, i| {
                        let (t0, t1) = spans[i];
                        integ.solve(
                            &Sample { sys, index: i },
                            t0,
                            t1,
                            &y0[i * dim..(i + 1) * dim],
                            opts,
                        )
                    },
                )
                .collect();
            Ok(BatchSolution { mode, results })
        }
        BatchMode::SharedStep => {
            let (t0, t1) = spans.first().copied().unwrap_or((0.0, 0.0));
            if let Some(&(a, b)) = spans.iter().find(|&&s| s != (t0, t1)) {
                return Err(SolveError::InvalidSpan { t0: a, t1: b });
            }
            let mut o = opts.clone();
            o.norm_groups = n.max(1);
            o.rtol = stack_tol(&opts.rtol, n);
            o.atol = stack_tol(&opts.atol, n);
            let stacked = Stacked { sys, dim };
            let result = Integrator::new(method.clone()).solve(&stacked, t0, t1, y0, &o);
            let results = (0..n)
                .map(|i| match &result {
                    Ok(sol) => Ok(split(sol, i, dim)),
                    Err(f) => Err(SolveFailure {
                        error: f.error.clone(),
                        partial: Box::new(split(&f.partial, i, dim)),
                    }),
                })
                .collect();
            Ok(BatchSolution { mode, results })
        }
    }
}

/// Repeats a per-component tolerance for every sample of the stacked state.
fn stack_tol(tol: &crate::Tolerance, n: usize) -> crate::Tolerance {
    match tol {
        crate::Tolerance::Scalar(v) => crate::Tolerance::Scalar(*v),
        crate::Tolerance::PerComponent(v) => crate::Tolerance::PerComponent(v.repeat(n)),
    }
}

/// Sample `i` of a stacked solution.
fn split<T: Real>(sol: &Solution<T>, i: usize, dim: usize) -> Solution<T> {
    let total = sol.dim;
    let pick = |v: &[T]| -> Vec<T> {
        v.chunks_exact(total)
            .flat_map(|c| c[i * dim..(i + 1) * dim].iter().copied())
            .collect()
    };
    Solution {
        dim,
        t: sol.t.clone(),
        y: pick(&sol.y),
        t_final: sol.t_final,
        y_final: sol.y_final[i * dim..(i + 1) * dim].to_vec(),
        stats: sol.stats,
        events: Vec::new(),
        status: sol.status,
        dense: None,
    }
}
