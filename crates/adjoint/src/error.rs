//! The crate's error type.

use std::fmt;

use ode_solvers::SolveError;

/// Which pass of a gradient computation a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The forward solve (`odeint`), which computes `z(t_i)`.
    Forward,
    /// The backward pass (`Trajectory::backward`): the adjoint backsolve, or the replay of the
    /// steps for `Direct` and `Checkpointed`.
    Backward,
}

impl fmt::Display for Pass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pass::Forward => "forward",
            Pass::Backward => "backward",
        })
    }
}

/// Everything that can go wrong when solving and differentiating.
///
/// Bad input is reported before any work is done; failures during a pass name the pass, the
/// interval between observation times being solved and the time of the failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AdjointError {
    /// The ODE solver failed (non-finite values, step-size underflow, step budget, invalid
    /// solver options).
    #[error("{pass} solve failed at t = {t} (interval from {from} to {to}): {source}")]
    Solve {
        /// The pass that failed.
        pass: Pass,
        /// The time of the failure (the solver's own time where it reports one, else the last
        /// time reached).
        t: f64,
        /// Start of the interval being solved (in the direction of that solve).
        from: f64,
        /// End of the interval being solved.
        to: f64,
        /// The solver's error.
        source: SolveError,
    },
    /// The dynamics reported an error of its own (for [`crate::TapeDynamics`]: an autodiff
    /// shape error in the user's closure).
    #[error("{pass} pass: the dynamics failed at t = {t}: {message}")]
    Dynamics {
        /// The pass that failed.
        pass: Pass,
        /// The time of the failing evaluation.
        t: f64,
        /// The dynamics' description of the problem.
        message: String,
    },
    /// A slice does not have the length the dynamics or the trajectory requires.
    #[error("shape mismatch: {what} has length {found}, expected {expected}")]
    ShapeMismatch {
        /// What had the wrong length (`z0`, `theta`, `dl_dz`).
        what: &'static str,
        /// The required length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// Fewer than two observation times.
    #[error("need at least two observation times, got {found}")]
    TooFewTimes {
        /// The number of times given.
        found: usize,
    },
    /// Observation times are not finite or not strictly monotone.
    #[error("observation times must be finite and strictly increasing or strictly decreasing; t[{index}] = {value} breaks this")]
    TimesNotMonotone {
        /// Index of the first offending time.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// An input value is NaN or infinite.
    #[error("{what}[{index}] is not finite")]
    NonFiniteInput {
        /// Which input (`z0`, `theta`, `dl_dz`).
        what: &'static str,
        /// Index of the first non-finite component.
        index: usize,
    },
    /// A computed gradient is NaN or infinite.
    #[error("the gradient {what}[{index}] is not finite (the backward pass overflowed or the dynamics produced NaN)")]
    NonFiniteGradient {
        /// Which gradient (`dz0`, `dtheta`, `dts`).
        what: &'static str,
        /// Index of the first non-finite component.
        index: usize,
    },
    /// `Direct` or `Checkpointed` was asked of a method whose Butcher tableau is unknown.
    #[error("method {method} exposes no Butcher tableau: Direct and Checkpointed gradients need one (pass it with GradMethod::Direct {{ tableau: Some(..) }}, or use GradMethod::Adjoint)")]
    NoTableau {
        /// The method's name.
        method: &'static str,
    },
    /// An option of the gradient method has a value that cannot work.
    #[error("invalid option {what} = {value}")]
    InvalidOption {
        /// The option's name.
        what: &'static str,
        /// Its value.
        value: f64,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = AdjointError> = std::result::Result<T, E>;

/// The time at which a solver error showed itself, if it names one.
pub(crate) fn error_time(e: &SolveError, fallback: f64) -> f64 {
    match e {
        SolveError::NonFiniteState { t }
        | SolveError::NonFiniteDerivative { t }
        | SolveError::StepSizeUnderflow { t, .. }
        | SolveError::MaxStepsExceeded { t, .. } => *t,
        _ => fallback,
    }
}
