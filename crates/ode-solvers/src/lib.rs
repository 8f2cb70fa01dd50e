//! Explicit Runge–Kutta ODE solvers: adaptive steps, dense output, events, typed errors.
//!
//! # Brief overview
//! - [`OdeSystem`]: the right-hand side `dy/dt = f(t, y)`, implemented for closures
//!   `Fn(f64, &[T], &mut [T])`. The state scalar `T` is `f32` or `f64` ([`Real`]); time and
//!   step sizes are always `f64`.
//! - [`Stepper`]: one step of a method. [`ExplicitRk`] runs any [`Tableau`] (Euler, midpoint,
//!   Heun, Ralston, RK4, Bogacki–Shampine 3(2), Dormand–Prince 5(4), Tsitouras 5(4)); [`Dop853`]
//!   is Dormand–Prince 8(5,3). Outside crates add methods by implementing [`Stepper`].
//! - [`Integrator`]: the driver around any stepper — adaptive PI step control
//!   ([`PiController`]) or fixed steps, either time direction, output at requested times from
//!   the dense output ([`SaveAt`]), the whole [`DenseSolution`], stop times, [`Event`]s,
//!   [`Stats`] — configured by [`Options`]. [`Method`] picks a method by name.
//! - Failures are [`SolveError`]s inside a [`SolveFailure`], which also carries everything
//!   computed up to the failure.
//!
//! # Example
//! ```
//! use ode_solvers::{Method, Options, SaveAt};
//!
//! // A harmonic oscillator, y'' = -y, as a first-order system.
//! let sys = |_t: f64, y: &[f64], dy: &mut [f64]| {
//!     dy[0] = y[1];
//!     dy[1] = -y[0];
//! };
//! let opts = Options::default().rtol(1e-9).atol(1e-12).save_at(SaveAt::Times(vec![0.5, 1.0, 2.0]));
//! let sol = Method::Dopri5.solve(&sys, 0.0, 2.0, &[0.0, 1.0], &opts)?;
//! for (t, y) in sol.iter() {
//!     assert!((y[0] - t.sin()).abs() < 1e-8);
//! }
//! println!("{} steps, {} evaluations", sol.stats.accepted, sol.stats.nfe);
//! # Ok::<(), ode_solvers::SolveFailure<f64>>(())
//! ```
#![deny(missing_docs)]

pub mod batch;
mod controller;
mod dop853;
mod erk;
mod error;
mod event;
mod integrator;
mod method;
mod options;
pub mod problems;
mod real;
mod solution;
mod stepper;
mod system;
pub mod tableau;
#[cfg(feature = "testing")]
pub mod testing;

pub use batch::{BatchMode, BatchSolution, BatchSystem};
pub use controller::{initial_step, PiController};
pub use dop853::{Dop853, Dop853Workspace, DOP853_TABLEAU};
pub use erk::{ErkWorkspace, ExplicitRk, MAX_STAGES};
pub use error::{SolveError, SolveFailure};
pub use event::{Direction, Event};
pub use integrator::{fixed_step_count, solve, Integrator};
pub use method::{Method, UnknownMethod};
pub use options::{Options, SaveAt, Tolerance, WarmStart};
pub use real::Real;
pub use solution::{DenseSolution, EventHit, Solution, Stats, Status};
pub use stepper::{hermite_eval, hermite_prepare, ErrorScale, StepReport, Stepper};
pub use system::OdeSystem;
pub use tableau::Tableau;
