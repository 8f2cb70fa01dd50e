//! Options of a solve: tolerances, step limits, output times, stop times.

use crate::PiController;

/// A tolerance: one value for every component, or one per component.
///
/// A component whose `atol` is `+∞` is left out of the error norm (its weight is infinite),
/// which turns the norm into a seminorm: the adjoint method uses this to leave the parameter
/// gradients out of the backward error control.
#[derive(Debug, Clone, PartialEq)]
pub enum Tolerance {
    /// The same tolerance for every component.
    Scalar(f64),
    /// One tolerance per component (length must equal the state dimension).
    PerComponent(Vec<f64>),
}

impl From<f64> for Tolerance {
    fn from(v: f64) -> Self {
        Tolerance::Scalar(v)
    }
}

impl From<Vec<f64>> for Tolerance {
    fn from(v: Vec<f64>) -> Self {
        Tolerance::PerComponent(v)
    }
}

impl From<&[f64]> for Tolerance {
    fn from(v: &[f64]) -> Self {
        Tolerance::PerComponent(v.to_vec())
    }
}

/// Which states the solution keeps.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SaveAt {
    /// Only the final state (always in [`crate::Solution::y_final`]).
    #[default]
    Final,
    /// The states at these times, from the dense output (no extra steps are forced). They
    /// must lie in the span and run from `t0` towards `t1`; repeats are allowed.
    Times(Vec<f64>),
    /// The initial state and the state after every accepted step.
    Steps,
}

/// Options of a solve. Built with chained setters from [`Options::default`]:
///
/// ```
/// use ode_solvers::{Options, SaveAt};
/// let opts = Options::default().rtol(1e-8).atol(vec![1e-10, 1e-12]).save_at(SaveAt::Times(vec![0.5, 1.0]));
/// assert_eq!(opts.max_steps, 100_000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Relative tolerance (default 1e-6).
    pub rtol: Tolerance,
    /// Absolute tolerance (default 1e-9).
    pub atol: Tolerance,
    /// Fixed step size: when set, the method takes steps of this size (the last one
    /// shortened to land on `t1` and on stop times) and no error control is done.
    pub fixed_step: Option<f64>,
    /// First step size of an adaptive solve (default: Hairer's heuristic).
    pub first_step: Option<f64>,
    /// Largest step size (default: unbounded).
    pub max_step: f64,
    /// Smallest step size an adaptive solve may take before it fails with
    /// [`crate::SolveError::StepSizeUnderflow`] (default 0: only the floating-point limit).
    pub min_step: f64,
    /// Budget of step attempts, accepted plus rejected (default 100,000).
    pub max_steps: usize,
    /// Step-size controller (default: the method's own default).
    pub controller: Option<PiController>,
    /// Which states to keep.
    pub save_at: SaveAt,
    /// Times the stepper must land on exactly (discontinuities of the right-hand side); the
    /// right-hand side is evaluated afresh after each.
    pub tstops: Vec<f64>,
    /// Keep the whole dense solution ([`crate::Solution::dense`]) to query afterwards.
    pub dense: bool,
    /// Take the error norm over this many equal blocks of the state separately and use the
    /// largest (default 1: the whole state). Shared-step batch solves set it to the number of
    /// samples; see [`crate::ErrorScale`].
    pub norm_groups: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rtol: Tolerance::Scalar(1e-6),
            atol: Tolerance::Scalar(1e-9),
            fixed_step: None,
            first_step: None,
            max_step: f64::INFINITY,
            min_step: 0.0,
            max_steps: 100_000,
            controller: None,
            save_at: SaveAt::Final,
            tstops: Vec::new(),
            dense: false,
            norm_groups: 1,
        }
    }
}

impl Options {
    /// Sets the relative tolerance.
    pub fn rtol(mut self, rtol: impl Into<Tolerance>) -> Self {
        self.rtol = rtol.into();
        self
    }
    /// Sets the absolute tolerance.
    pub fn atol(mut self, atol: impl Into<Tolerance>) -> Self {
        self.atol = atol.into();
        self
    }
    /// Switches to fixed steps of size `dt` (magnitude; the sign follows the span).
    pub fn fixed_step(mut self, dt: f64) -> Self {
        self.fixed_step = Some(dt);
        self
    }
    /// Sets the first step of an adaptive solve.
    pub fn first_step(mut self, h: f64) -> Self {
        self.first_step = Some(h);
        self
    }
    /// Sets the largest step.
    pub fn max_step(mut self, h: f64) -> Self {
        self.max_step = h;
        self
    }
    /// Sets the smallest step.
    pub fn min_step(mut self, h: f64) -> Self {
        self.min_step = h;
        self
    }
    /// Sets the step budget.
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = n;
        self
    }
    /// Sets the step-size controller.
    pub fn controller(mut self, c: PiController) -> Self {
        self.controller = Some(c);
        self
    }
    /// Sets which states to keep.
    pub fn save_at(mut self, s: SaveAt) -> Self {
        self.save_at = s;
        self
    }
    /// Keeps the states at these times (shorthand for `save_at(SaveAt::Times(..))`).
    pub fn t_eval(self, ts: impl Into<Vec<f64>>) -> Self {
        self.save_at(SaveAt::Times(ts.into()))
    }
    /// Sets the stop times.
    pub fn tstops(mut self, ts: impl Into<Vec<f64>>) -> Self {
        self.tstops = ts.into();
        self
    }
    /// Keeps the dense solution.
    pub fn dense(mut self, on: bool) -> Self {
        self.dense = on;
        self
    }
}
