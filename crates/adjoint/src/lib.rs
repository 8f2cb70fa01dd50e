//! Gradients through ODE solves: the adjoint method (backsolve, O(1) memory in the number of
//! steps), direct backpropagation through the solver's steps, and checkpointing in between.
//!
//! # Overview
//! - [`Dynamics`]: differentiable dynamics `dz/dt = f(z, t, θ)` — dimensions, plain
//!   evaluation, and one vector–Jacobian product giving `aᵀ∂f/∂z`, `aᵀ∂f/∂θ`, `aᵀ∂f/∂t`.
//!   [`TapeDynamics`] gets the product from an [`autodiff::Tape`] for anything written with
//!   autodiff operations; [`Linear`] shows a hand-written product.
//! - [`odeint`] solves through observation times `t_0, …, t_N` (increasing or decreasing) with
//!   any [`ode_solvers::Stepper`] and returns a [`Trajectory`] with `z(t_i)`;
//!   [`Trajectory::backward`] takes `∂L/∂z(t_i)` for every `i` and returns [`Gradients`]:
//!   `dL/dz0`, `dL/dθ`, `dL/dt_i` for every `i`, and [`GradStats`].
//! - [`GradMethod`] picks how: [`GradMethod::Adjoint`] (the paper's Algorithm 1, with
//!   [`AdjointOptions`]: tolerances, seminorm, backward method via [`odeint_with`]),
//!   [`GradMethod::Direct`] (exact gradient of the discrete forward map) or
//!   [`GradMethod::Checkpointed`] (the same gradients with bounded memory).
//! - Failures are [`AdjointError`]s naming the [`Pass`] and the time.
//! - [`batch`] differentiates over a batch of initial states, per sample in parallel (rayon,
//!   bitwise the same for any thread count) or with shared steps.
//!
//! See `docs/adjoint.md` for the derivation of what the code implements and measured figures.
//!
//! # Example
//! ```
//! use adjoint::{odeint, AdjointOptions, GradMethod, TapeDynamics};
//! use ode_solvers::{tableau, ExplicitRk, Options};
//!
//! // f(z, t, θ) = tanh(z W) + t·c on one sample with 2 features; θ = [W (2×2), c (1×2)].
//! let f = TapeDynamics::<f64, _>::new(1, 2, 6, |tape, z, t, th| {
//!     let w = tape.flat_slice(th, 0, 2, 2)?;
//!     let c = tape.slice_cols(th, 4, 2)?;
//!     let h = tape.matmul(z, w)?;
//!     let h = tape.tanh(h);
//!     let ct = tape.mul(c, t)?;
//!     tape.add(h, ct)
//! });
//! let theta = [0.5, -1.0, 1.0, 0.3, 0.1, -0.2];
//! let ts = [0.0, 0.5, 1.0];
//! let opts = Options::default().rtol(1e-8).atol(1e-10);
//! let method = ExplicitRk::new(&tableau::DOPRI5);
//!
//! // L = Σ_i Σ_j z_j(t_i): ∂L/∂z(t_i) = 1 for every i.
//! let dl_dz = vec![1.0; 3 * 2];
//! let adj = odeint(&f, &[1.0, 0.0], &theta, &ts, method.clone(), &opts,
//!     GradMethod::Adjoint(AdjointOptions::default().rtol(1e-8).atol(1e-10)))?;
//! let ga = adj.backward(&dl_dz)?;
//! let direct = odeint(&f, &[1.0, 0.0], &theta, &ts, method, &opts, GradMethod::direct())?;
//! let gd = direct.backward(&dl_dz)?;
//! for (x, y) in ga.dtheta.iter().zip(&gd.dtheta) {
//!     assert!((x - y).abs() < 1e-6);
//! }
//! assert_eq!(ga.dts.len(), 3);
//! println!("forward NFE {}, backward VJPs {}", ga.stats.forward.nfe, ga.stats.backward.vjps);
//! # Ok::<(), adjoint::AdjointError>(())
//! ```
#![deny(missing_docs)]

mod backsolve;
pub mod batch;
mod direct;
mod dynamics;
mod error;
pub mod memo;
mod odeint;
mod quadrature;
mod revolve;
mod stats;
mod tape_dynamics;

pub use dynamics::{Dynamics, Linear};
pub use error::{AdjointError, Pass, Result};
pub use memo::PassCounts;
pub use odeint::{odeint, odeint_with, AdjointOptions, GradMethod, Gradients, Trajectory};
pub use stats::{GradStats, PassStats};
pub use tape_dynamics::TapeDynamics;
