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

/// How a solve starts when the same [`crate::Integrator`] solved before: afresh, or by
/// continuing the previous solve (set with [`Options::warm_start`]).
///
/// A warm start applies only when the previous solve of this integrator was adaptive, reached
/// its end `t1` (no terminal event, no failure), and that end equals the new `t0` exactly,
/// with the new solve going on in the same time direction and with a state of the same
/// length. Anything else falls back to a cold start (which is always correct, only slower).
/// Fixed-step solves ignore the setting, and [`Options::first_step`] is used only on cold
/// starts.
///
/// Solving `[t0, t1]` and then `[t1, t2]` with [`WarmStart::Continue`] steps through `t1` as
/// one solve over `[t0, t2]` that lands on `t1` would: no second initial-step heuristic (one
/// evaluation and small first steps) and no evaluation at `t1`. `t1` stays a step end, so the
/// state there is not interpolated. The adjoint crate uses this to pass observation times
/// without restarting.
///
/// ```
/// use ode_solvers::{tableau, ExplicitRk, Integrator, Options, WarmStart};
/// let sys = |_t: f64, y: &[f64], dy: &mut [f64]| { dy[0] = y[1]; dy[1] = -y[0]; };
/// let opts = Options::default().rtol(1e-8).atol(1e-10).warm_start(WarmStart::Continue);
/// let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
/// let first = integ.solve(&sys, 0.0, 0.5, &[0.0, 1.0], &opts).unwrap();
/// // Same system, starting where the last solve ended: it continues (no evaluation at 0.5).
/// let second = integ.solve(&sys, 0.5, 1.0, &first.y_final, &opts).unwrap();
/// assert_eq!(second.stats.nfe, 6 * second.stats.steps());
/// assert!((second.y_final[0] - 1f64.sin()).abs() < 1e-7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WarmStart {
    /// Every solve starts afresh: `f(t0, y0)`, Hairer's initial step, a fresh controller.
    #[default]
    Off,
    /// When `y0` equals the previous solve's final state bit for bit (and the conditions
    /// above hold), continue that solve: keep its step-size proposal and the controller's
    /// memory, and reuse its last derivative `f(t0, y0)` (free for FSAL methods such as
    /// Dopri5). The system must be the same as in the previous solve: the integrator cannot
    /// check that. A different `y0` gives a cold start.
    Continue,
    /// As [`WarmStart::Continue`]; and when only the state differs (it jumped at `t0`, as the
    /// adjoint state does at an observation time), keep the step-size proposal and the
    /// controller's memory but evaluate `f(t0, y0)` afresh. The proposal is a guess: if the
    /// jump makes it too large, the controller rejects and shrinks it as usual.
    KeepStep,
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
    /// Whether to continue from the integrator's previous solve (default
    /// [`WarmStart::Off`]); see [`WarmStart`].
    pub warm_start: WarmStart,
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
            warm_start: WarmStart::Off,
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
    /// Sets how a solve continues from the integrator's previous one ([`WarmStart`]).
    pub fn warm_start(mut self, w: WarmStart) -> Self {
        self.warm_start = w;
        self
    }
}
