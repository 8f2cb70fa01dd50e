//! Gradients over a batch of initial states, in the two modes of [`ode_solvers::batch`]:
//!
//! - [`per_sample`]: every sample is solved and differentiated on its own, with its own
//!   adaptive steps, in parallel on the caller's rayon pool. One failing sample does not stop
//!   the others; the parameter gradients are summed in sample order, so the sum is bitwise the
//!   same for any number of threads.
//! - [`shared_step`]: all samples form one stacked state ([`Stacked`]) solved and
//!   differentiated with shared steps; the error norm is taken per sample and the largest
//!   decides (`Options::norm_groups`), so no sample is solved less accurately than alone.
//!
//! Per-sample mode wins when samples need very different steps (stiffness or scales that
//! differ); shared-step mode wins when the dynamics are cheaper per sample on a batch (a
//! network evaluated with one matrix product for all samples) and the samples are alike.
//! `docs/benchmarks.md` (batch solves) has measured figures.
//!
//! # Example
//! ```
//! use adjoint::batch::{per_sample, shared_step};
//! use adjoint::{GradMethod, Linear};
//! use ode_solvers::{tableau, ExplicitRk, Options};
//!
//! // dz/dt = θ z (1-dimensional), three samples, L_i = z_i(1): dL/dθ = Σ z0_i e^θ.
//! let theta = [-0.5];
//! let z0s = [1.0, 2.0, -0.5];
//! let method = ExplicitRk::new(&tableau::DOPRI5);
//! let opts = Options::default().rtol(1e-10).atol(1e-12);
//! let loss = |_i: usize, z: &[f64], dl: &mut [f64]| {
//!     dl[0] = 0.0; // z(t0)
//!     dl[1] = 1.0; // z(t1)
//!     z[1]
//! };
//! let each = per_sample(|| Linear::new(1), &z0s, &theta, &[0.0, 1.0], &method, &opts,
//!     GradMethod::direct(), loss)?;
//! let sum = each.sum()?;
//! let exact = 2.5 * (-0.5f64).exp();
//! assert!((sum.dtheta[0] - exact).abs() < 1e-8);
//! let shared = shared_step(&Linear::new(1), &z0s, &theta, &[0.0, 1.0], &method, &opts,
//!     GradMethod::direct(), loss)?;
//! assert!((shared.dtheta[0] - exact).abs() < 1e-8);
//! # Ok::<(), adjoint::batch::BatchError>(())
//! ```

use rayon::prelude::*;

use ode_solvers::{Options, Real, Stepper};

use crate::{odeint, AdjointError, Dynamics, GradMethod, GradStats, Gradients, PassStats};

/// A batch-level failure: bad input for the whole batch, or a failed sample.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The initial states do not split into samples of the dynamics' dimension.
    #[error("{found} initial values do not split into states of {dim}")]
    Shape {
        /// Values given.
        found: usize,
        /// The dynamics' dimension.
        dim: usize,
    },
    /// The batch is empty.
    #[error("the batch has no samples")]
    Empty,
    /// Sample `index` failed (per-sample mode), or the shared solve failed (`index` is
    /// `None`).
    #[error("sample {}: {source}", index.map_or("(shared solve)".to_string(), |i| i.to_string()))]
    Sample {
        /// The failing sample, or `None` for the shared solve.
        index: Option<usize>,
        /// What went wrong.
        #[source]
        source: AdjointError,
    },
}

/// One sample's result in per-sample mode.
#[derive(Debug, Clone)]
pub struct SampleGradients<T> {
    /// The sample's loss.
    pub loss: T,
    /// The states at the observation times (`(N + 1) · dim` values).
    pub states: Vec<T>,
    /// Its gradients and statistics.
    pub grads: Gradients<T>,
}

/// The result of [`per_sample`]: each sample's own outcome, in sample order.
#[derive(Debug)]
pub struct PerSampleGradients<T> {
    /// Each sample's gradients, or its error (the others are kept).
    pub samples: Vec<Result<SampleGradients<T>, AdjointError>>,
}

/// Batch totals: the loss and gradients summed over the samples in sample order.
#[derive(Debug, Clone)]
pub struct BatchGradients<T> {
    /// The sum of the samples' losses.
    pub loss: T,
    /// `dL/dz0` for every sample, one after another (`n · dim`).
    pub dz0: Vec<T>,
    /// `dL/dθ`, summed over the samples in sample order.
    pub dtheta: Vec<T>,
    /// `dL/dt_i`, summed over the samples.
    pub dts: Vec<f64>,
    /// Work of both passes, summed over the samples (for shared steps: of the one solve).
    pub stats: GradStats,
}

impl<T: Real> PerSampleGradients<T> {
    /// Indices of the samples that failed.
    pub fn failed(&self) -> Vec<usize> {
        self.samples
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| i)
            .collect()
    }

    /// Sums the samples in sample order.
    ///
    /// # Errors
    /// [`BatchError::Sample`] with the first failed sample.
    pub fn sum(&self) -> Result<BatchGradients<T>, BatchError> {
        let mut out: Option<BatchGradients<T>> = None;
        for (i, r) in self.samples.iter().enumerate() {
            let s = r.as_ref().map_err(|e| BatchError::Sample {
                index: Some(i),
                source: e.clone(),
            })?;
            match &mut out {
                None => {
                    out = Some(BatchGradients {
                        loss: s.loss,
                        dz0: s.grads.dz0.clone(),
                        dtheta: s.grads.dtheta.clone(),
                        dts: s.grads.dts.clone(),
                        stats: s.grads.stats,
                    })
                }
                Some(o) => {
                    o.loss += s.loss;
                    o.dz0.extend_from_slice(&s.grads.dz0);
                    for (d, g) in o.dtheta.iter_mut().zip(&s.grads.dtheta) {
                        *d += *g;
                    }
                    for (d, g) in o.dts.iter_mut().zip(&s.grads.dts) {
                        *d += *g;
                    }
                    add_grad_stats(&mut o.stats, &s.grads.stats);
                }
            }
        }
        out.ok_or(BatchError::Empty)
    }
}

fn add_pass(a: &mut PassStats, b: &PassStats) {
    a.nfe += b.nfe;
    a.vjps += b.vjps;
    a.accepted += b.accepted;
    a.rejected += b.rejected;
}

fn add_grad_stats(a: &mut GradStats, b: &GradStats) {
    add_pass(&mut a.forward, &b.forward);
    add_pass(&mut a.backward, &b.backward);
    a.stored_states += b.stored_states;
    a.segment_states = a.segment_states.max(b.segment_states);
}

fn sample_count(values: usize, dim: usize) -> Result<usize, BatchError> {
    if dim == 0 || !values.is_multiple_of(dim) {
        return Err(BatchError::Shape { found: values, dim });
    }
    match values / dim {
        0 => Err(BatchError::Empty),
        n => Ok(n),
    }
}

/// Per-sample mode: solves and differentiates every sample on its own (own adaptive steps)
/// in parallel on the caller's rayon pool.
///
/// `make` builds the dynamics of one sample; it is called once per rayon work item group
/// (dynamics keep scratch memory and are used from one thread at a time). `z0s` holds the
/// samples' initial states one after another; `loss(i, states, dl_dz)` gets sample `i`'s
/// states at the observation times (`(N + 1) · dim`), writes `∂L_i/∂z(t_j)` into `dl_dz`
/// (same length, zeroed) and returns `L_i`.
///
/// Each sample's result is what [`odeint`] and [`crate::Trajectory::backward`] give for it
/// alone, bit for bit, whatever the number of threads.
///
/// # Errors
/// [`BatchError::Shape`] or [`BatchError::Empty`] for `z0s`; a sample's own failure is in
/// its entry of [`PerSampleGradients::samples`].
#[allow(clippy::too_many_arguments)]
pub fn per_sample<T, D, M>(
    make: impl Fn() -> D + Sync,
    z0s: &[T],
    theta: &[T],
    ts: &[f64],
    method: &M,
    opts: &Options,
    grad: GradMethod,
    loss: impl Fn(usize, &[T], &mut [T]) -> T + Sync,
) -> Result<PerSampleGradients<T>, BatchError>
where
    T: Real + Send + Sync,
    D: Dynamics<T>,
    M: Stepper<T> + Sync,
{
    let dim = make().dim();
    let n = sample_count(z0s.len(), dim)?;
    let samples = (0..n)
        .into_par_iter()
        .map_init(
            || (make(), vec![T::zero(); ts.len() * dim]),
            |(dynamics, dl), i| {
                let traj = odeint(
                    &*dynamics,
                    &z0s[i * dim..(i + 1) * dim],
                    theta,
                    ts,
                    method.clone(),
                    opts,
                    grad,
                )?;
                dl.fill(T::zero());
                let l = loss(i, traj.states(), dl);
                let grads = traj.backward(dl)?;
                Ok(SampleGradients {
                    loss: l,
                    states: traj.states().to_vec(),
                    grads,
                })
            },
        )
        .collect();
    Ok(PerSampleGradients { samples })
}

/// `n` copies of a per-sample dynamics side by side: the state is the samples' states one
/// after another, and the vector–Jacobian product sums the parameter gradients over the
/// samples (in sample order). Used by [`shared_step`]; useful on its own with [`odeint`].
#[derive(Debug)]
pub struct Stacked<T, D> {
    inner: D,
    n: usize,
    /// One sample's parameter gradient (reused: no allocation per product once warm).
    scratch: std::cell::RefCell<Vec<T>>,
}

impl<T: Real, D: Dynamics<T>> Stacked<T, D> {
    /// `n` samples of `inner`.
    pub fn new(inner: D, n: usize) -> Stacked<T, D> {
        let p = inner.num_params();
        Stacked {
            inner,
            n,
            scratch: std::cell::RefCell::new(vec![T::zero(); p]),
        }
    }

    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.n
    }
}

impl<T: Real, D: Dynamics<T>> Dynamics<T> for Stacked<T, D> {
    fn dim(&self) -> usize {
        self.n * self.inner.dim()
    }

    fn num_params(&self) -> usize {
        self.inner.num_params()
    }

    fn eval(&self, t: f64, z: &[T], theta: &[T], dz: &mut [T]) {
        let d = self.inner.dim();
        for (zi, dzi) in z.chunks_exact(d).zip(dz.chunks_exact_mut(d)) {
            self.inner.eval(t, zi, theta, dzi);
        }
    }

    fn vjp(
        &self,
        t: f64,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &mut [T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) -> T {
        let d = self.inner.dim();
        let mut one = self.scratch.borrow_mut();
        a_theta.fill(T::zero());
        let mut a_t = T::zero();
        for i in 0..self.n {
            let r = i * d..(i + 1) * d;
            a_t += self.inner.vjp(
                t,
                &z[r.clone()],
                theta,
                &a[r.clone()],
                &mut f[r.clone()],
                &mut a_z[r],
                &mut one,
            );
            for (x, y) in a_theta.iter_mut().zip(one.iter()) {
                *x += *y;
            }
        }
        a_t
    }

    fn take_error(&self) -> Option<String> {
        self.inner.take_error()
    }
}

/// Shared-step mode: the samples are stacked into one state ([`Stacked`]) and solved and
/// differentiated together with shared steps; the error norm is taken per sample and the
/// largest decides. Arguments as in [`per_sample`], with one `dynamics` for every sample.
///
/// # Errors
/// [`BatchError::Shape`] or [`BatchError::Empty`] for `z0s`; [`BatchError::Sample`] with
/// `index: None` when the shared solve fails.
#[allow(clippy::too_many_arguments)]
pub fn shared_step<T, D, M>(
    dynamics: &D,
    z0s: &[T],
    theta: &[T],
    ts: &[f64],
    method: &M,
    opts: &Options,
    grad: GradMethod,
    loss: impl Fn(usize, &[T], &mut [T]) -> T,
) -> Result<BatchGradients<T>, BatchError>
where
    T: Real,
    D: Dynamics<T>,
    M: Stepper<T>,
{
    let dim = dynamics.dim();
    let n = sample_count(z0s.len(), dim)?;
    let stacked = Stacked::new(dynamics, n);
    let mut o = opts.clone();
    o.norm_groups = n;
    let shared = |e| BatchError::Sample {
        index: None,
        source: e,
    };
    let traj = odeint(&stacked, z0s, theta, ts, method.clone(), &o, grad).map_err(shared)?;
    // Each sample's loss sees its own states, (N + 1) · dim values, as in per-sample mode.
    let nt = ts.len();
    let all = traj.states();
    let mut dl = vec![T::zero(); nt * n * dim];
    let mut zi = vec![T::zero(); nt * dim];
    let mut dli = vec![T::zero(); nt * dim];
    let mut total = T::zero();
    for i in 0..n {
        for j in 0..nt {
            let src = (j * n + i) * dim;
            zi[j * dim..(j + 1) * dim].copy_from_slice(&all[src..src + dim]);
        }
        dli.fill(T::zero());
        total += loss(i, &zi, &mut dli);
        for j in 0..nt {
            let dst = (j * n + i) * dim;
            dl[dst..dst + dim].copy_from_slice(&dli[j * dim..(j + 1) * dim]);
        }
    }
    let g = traj.backward(&dl).map_err(shared)?;
    Ok(BatchGradients {
        loss: total,
        dz0: g.dz0,
        dtheta: g.dtheta,
        dts: g.dts,
        stats: g.stats,
    })
}
