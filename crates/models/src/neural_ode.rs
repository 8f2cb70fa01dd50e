//! `NeuralOde`: an ODE block around any differentiable dynamics, with the solver, tolerances
//! and gradient method chosen by the user.

use adjoint::{odeint, AdjointError, AdjointOptions, Dynamics, GradMethod, GradStats, Gradients};
use ode_solvers::{Dop853, ExplicitRk, Integrator, Method, Options, SaveAt, Stats, Stepper};
use serde::{Deserialize, Serialize};

/// How gradients flow through the solve (see the `adjoint` crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GradKind {
    /// The adjoint method (backsolve): memory independent of the number of steps.
    Adjoint,
    /// Backpropagation through the solver's steps: the exact gradient of the discrete solve.
    Direct,
    /// As `Direct`, holding at most this many states for the backward pass (checkpoints and
    /// recomputed states, [`GradMethod::Checkpointed`]); `checkpointed` on the command line
    /// is 16.
    Checkpointed(usize),
}

impl std::str::FromStr for GradKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "adjoint" => Ok(GradKind::Adjoint),
            "direct" => Ok(GradKind::Direct),
            "checkpointed" => Ok(GradKind::Checkpointed(16)),
            other => Err(format!(
                "unknown gradient method '{other}' (known: adjoint, direct, checkpointed)"
            )),
        }
    }
}

/// Solver settings of a [`NeuralOde`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolverConfig {
    /// The Runge–Kutta method (by name; `dopri5` by default).
    pub method: String,
    /// Relative tolerance of the forward solve (and of the adjoint's backward solve).
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Gradient method.
    pub grad: GradKind,
    /// Leave the parameter adjoint out of the backward error norm (adjoint only).
    pub seminorm: bool,
}

impl Default for SolverConfig {
    fn default() -> Self {
        SolverConfig {
            method: "dopri5".to_string(),
            rtol: 1e-7,
            atol: 1e-9,
            grad: GradKind::Adjoint,
            seminorm: false,
        }
    }
}

/// The outcome of one forward–backward pass.
#[derive(Debug, Clone)]
pub struct LossAndGrad {
    /// The loss value.
    pub loss: f64,
    /// Gradients with respect to the initial state, parameters and times.
    pub grads: Gradients<f64>,
}

/// An ODE block: `z(t_i) = ODESolve(z0, f, t_0, t_i, θ)` with gradients through `adjoint`.
///
/// ```
/// use adjoint::Linear;
/// use models::{GradKind, NeuralOde, SolverConfig};
/// // dz/dt = θ z: the loss z(1) has gradient e^θ · z0 with respect to θ (z0 = 1).
/// let ode = NeuralOde::new(Linear::new(1), SolverConfig { rtol: 1e-10, atol: 1e-12, grad: GradKind::Direct, ..Default::default() });
/// let r = ode.loss_and_grad(&[-0.5], &[1.0], &[0.0, 1.0], |z, g| { g.fill(0.0); g[1] = 1.0; z[1] })?;
/// assert!((r.grads.dtheta[0] - (-0.5f64).exp()).abs() < 1e-8);
/// # Ok::<(), models::ModelError>(())
/// ```
pub struct NeuralOde<D> {
    dynamics: D,
    config: SolverConfig,
}

/// Errors of the models crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The solve or its gradient failed.
    #[error(transparent)]
    Adjoint(#[from] AdjointError),
    /// A plain forward solve failed.
    #[error("forward solve failed: {0}")]
    Solve(#[from] ode_solvers::SolveError),
    /// An unknown method name.
    #[error(transparent)]
    Method(#[from] ode_solvers::UnknownMethod),
    /// A layer or parameter error.
    #[error(transparent)]
    Nn(#[from] nn_layers::NnError),
    /// A model file could not be read or written.
    #[error(transparent)]
    File(#[from] nn_layers::FileError),
    /// The loss became NaN or infinite.
    #[error("loss is not finite at iteration {iter}; the last good checkpoint is kept")]
    NonFiniteLoss {
        /// The iteration.
        iter: usize,
    },
    /// Writing metrics or plots failed.
    #[error("cannot write {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A sample of a per-sample batch failed.
    #[error("sample {index}: {source}")]
    Sample {
        /// The sample's index.
        index: usize,
        /// Its error.
        source: Box<ModelError>,
    },
    /// A configuration value is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl<D: Dynamics<f64>> NeuralOde<D> {
    /// Wraps `dynamics`.
    pub fn new(dynamics: D, config: SolverConfig) -> Self {
        NeuralOde { dynamics, config }
    }

    /// The dynamics.
    pub fn dynamics(&self) -> &D {
        &self.dynamics
    }

    /// The solver settings.
    pub fn config(&self) -> &SolverConfig {
        &self.config
    }

    fn grad_method(&self) -> GradMethod {
        match self.config.grad {
            GradKind::Adjoint => GradMethod::Adjoint(
                AdjointOptions::default()
                    .rtol(self.config.rtol)
                    .atol(self.config.atol)
                    .seminorm(self.config.seminorm),
            ),
            GradKind::Direct => GradMethod::direct(),
            GradKind::Checkpointed(n) => GradMethod::checkpointed(n),
        }
    }

    fn opts(&self) -> Options {
        Options::default()
            .rtol(self.config.rtol)
            .atol(self.config.atol)
    }

    /// Solves from `z0` through the times `ts`, evaluates `loss(states, dl_dz)` on the states
    /// at all times (`(N + 1) × dim`, the loss writes `∂L/∂z(t_i)` into `dl_dz`), and returns the
    /// loss with the gradients.
    ///
    /// # Errors
    /// A failed solve or gradient, an unknown method.
    pub fn loss_and_grad(
        &self,
        theta: &[f64],
        z0: &[f64],
        ts: &[f64],
        loss: impl FnOnce(&[f64], &mut [f64]) -> f64,
    ) -> Result<LossAndGrad, ModelError> {
        let method: Method = self.config.method.parse()?;
        match method.tableau() {
            Some(t) => self.run(ExplicitRk::new(t), theta, z0, ts, loss),
            None => self.run(Dop853::new(), theta, z0, ts, loss),
        }
    }

    fn run<M: Stepper<f64>>(
        &self,
        m: M,
        theta: &[f64],
        z0: &[f64],
        ts: &[f64],
        loss: impl FnOnce(&[f64], &mut [f64]) -> f64,
    ) -> Result<LossAndGrad, ModelError> {
        let traj = odeint(
            &self.dynamics,
            z0,
            theta,
            ts,
            m,
            &self.opts(),
            self.grad_method(),
        )?;
        let states = traj.states();
        let mut dl = vec![0.0; states.len()];
        let value = loss(states, &mut dl);
        let grads = traj.backward(&dl)?;
        Ok(LossAndGrad { loss: value, grads })
    }

    /// Solves from `z0` and returns the states at `ts` (`ts.len() × dim`) and the solver's
    /// statistics; no gradient bookkeeping.
    ///
    /// # Errors
    /// A failed solve, an unknown method.
    pub fn predict(
        &self,
        theta: &[f64],
        z0: &[f64],
        ts: &[f64],
    ) -> Result<(Vec<f64>, Stats), ModelError> {
        let method: Method = self.config.method.parse()?;
        let sys = |t: f64, z: &[f64], dz: &mut [f64]| self.dynamics.eval(t, z, theta, dz);
        let (t0, t1) = (ts[0], ts[ts.len() - 1]);
        let opts = self
            .opts()
            .save_at(SaveAt::Times(ts.to_vec()))
            .max_steps(1_000_000);
        let sol = match method.tableau() {
            Some(t) => Integrator::new(ExplicitRk::new(t)).solve(&sys, t0, t1, z0, &opts),
            None => Integrator::new(Dop853::new()).solve(&sys, t0, t1, z0, &opts),
        }
        .map_err(|f| ModelError::Solve(f.error))?;
        Ok((sol.y, sol.stats))
    }
}

/// The outcome of a per-sample forward–backward pass over a batch.
#[derive(Debug, Clone)]
pub struct BatchLossAndGrad {
    /// The sum of the samples' losses.
    pub loss: f64,
    /// The sum of the samples' parameter gradients, added in sample order (so the result
    /// does not depend on the number of threads).
    pub dtheta: Vec<f64>,
    /// Each sample's gradients (initial state, parameters, times) and statistics.
    pub samples: Vec<Gradients<f64>>,
}

/// Per-sample mode: every sample is solved and differentiated on its own, with its own
/// adaptive steps, in parallel on the caller's rayon pool; `make` builds the dynamics of one
/// sample (one per worker thread, since dynamics keep scratch memory). `z0s` holds the
/// samples' initial states one after another (`dim` values each); `loss(i, states, dl_dz)` is
/// sample `i`'s loss. The parameter gradients are summed in sample order.
///
/// # Errors
/// The first failing sample's error, with its index.
#[allow(clippy::too_many_arguments)]
pub fn per_sample_loss_and_grad<S: Dynamics<f64>>(
    make: impl Fn() -> S + Sync,
    config: &SolverConfig,
    theta: &[f64],
    z0s: &[f64],
    dim: usize,
    ts: &[f64],
    loss: impl Fn(usize, &[f64], &mut [f64]) -> f64 + Sync,
) -> Result<BatchLossAndGrad, ModelError> {
    use rayon::prelude::*;
    if dim == 0 || !z0s.len().is_multiple_of(dim) {
        return Err(ModelError::Config(format!(
            "{} initial values do not split into states of {dim}",
            z0s.len()
        )));
    }
    let n = z0s.len() / dim;
    let results: Vec<Result<LossAndGrad, ModelError>> = (0..n)
        .into_par_iter()
        .map_init(
            || NeuralOde::new(make(), config.clone()),
            |m, i| {
                m.loss_and_grad(theta, &z0s[i * dim..(i + 1) * dim], ts, |s, g| {
                    loss(i, s, g)
                })
            },
        )
        .collect();
    let mut total = 0.0;
    let mut dtheta = vec![0.0; theta.len()];
    let mut samples = Vec::with_capacity(n);
    for (i, r) in results.into_iter().enumerate() {
        let r = r.map_err(|e| ModelError::Sample {
            index: i,
            source: Box::new(e),
        })?;
        total += r.loss;
        for (d, g) in dtheta.iter_mut().zip(&r.grads.dtheta) {
            *d += g;
        }
        samples.push(r.grads);
    }
    Ok(BatchLossAndGrad {
        loss: total,
        dtheta,
        samples,
    })
}

/// Forward and backward work of one iteration, from [`GradStats`].
pub fn nfe(stats: &GradStats) -> (usize, usize) {
    (stats.forward.nfe, stats.backward.vjps + stats.backward.nfe)
}
