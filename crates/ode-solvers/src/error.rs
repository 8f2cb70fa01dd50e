//! Typed errors of a solve, and the partial result a failed solve hands back.

use crate::{Real, Solution};

/// Why a solve could not start or could not finish.
///
/// Time fields are the time at which the problem showed itself. Messages end with a hint where
/// one exists.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    /// A component of the initial state is NaN or infinite.
    #[error("initial state component {index} is not finite")]
    NonFiniteInitialState {
        /// Index of the first non-finite component.
        index: usize,
    },
    /// The state became NaN or infinite (fixed-step mode, or an accepted adaptive step).
    #[error("state became non-finite at t = {t}; the solution may blow up there (try a smaller step or tolerance)")]
    NonFiniteState {
        /// Time of the non-finite state.
        t: f64,
    },
    /// The right-hand side returned NaN or infinity at a finite state.
    #[error("right-hand side returned a non-finite value at t = {t}")]
    NonFiniteDerivative {
        /// Time of the evaluation.
        t: f64,
    },
    /// The adaptive step size fell below the smallest allowed step.
    #[error(
        "step size underflow at t = {t} (h = {h:e}); the problem may be stiff or blow up here"
    )]
    StepSizeUnderflow {
        /// Time at which the step could not be taken.
        t: f64,
        /// The step size that was too small.
        h: f64,
    },
    /// The step budget ran out before the end of the span.
    #[error("step budget exhausted at t = {t} after {max_steps} steps; raise `max_steps` or loosen the tolerances")]
    MaxStepsExceeded {
        /// Time reached.
        t: f64,
        /// The budget (accepted plus rejected steps).
        max_steps: usize,
    },
    /// A tolerance is negative, NaN, or both tolerances are zero for a component.
    #[error("invalid tolerance: {what} = {value} (tolerances must be finite, non-negative, and rtol and atol not both zero)")]
    InvalidTolerance {
        /// Which tolerance (`rtol` or `atol`) and component.
        what: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A length that must equal the state dimension does not.
    #[error("dimension mismatch: {what} has length {found}, expected {expected}")]
    DimensionMismatch {
        /// What had the wrong length.
        what: &'static str,
        /// The state dimension.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// `t0` or `t1` is not finite.
    #[error("invalid time span: t0 = {t0}, t1 = {t1} (both must be finite)")]
    InvalidSpan {
        /// Start time.
        t0: f64,
        /// End time.
        t1: f64,
    },
    /// A requested output time or stop time lies outside `[t0, t1]`.
    #[error("requested time {t} lies outside the span [{t0}, {t1}]")]
    TimeOutsideSpan {
        /// The requested time.
        t: f64,
        /// Start time.
        t0: f64,
        /// End time.
        t1: f64,
    },
    /// Requested output times are not ordered in the direction of integration.
    #[error("requested output times are out of order at index {index} (they must run from t0 towards t1)")]
    TimesOutOfOrder {
        /// Index of the first time out of order.
        index: usize,
    },
    /// An option has a value that cannot work (a non-positive step, a bad controller factor).
    #[error("invalid option {what} = {value}")]
    InvalidOption {
        /// The option's name.
        what: &'static str,
        /// Its value.
        value: f64,
    },
    /// Adaptive stepping was asked of a method without an error estimator.
    #[error("method {method} has no error estimator: give a fixed step (`Options::fixed_step`)")]
    NotAdaptive {
        /// The method's name.
        method: &'static str,
    },
    /// A dense solution was queried outside the interval it covers.
    #[error("time {t} lies outside the dense solution's interval [{t_start}, {t_end}]")]
    OutsideDenseInterval {
        /// The query time.
        t: f64,
        /// Start of the covered interval.
        t_start: f64,
        /// End of the covered interval.
        t_end: f64,
    },
}

/// A solve that failed part-way: the error, and everything computed up to the failure.
///
/// `partial.t_final` and `partial.y_final` are the last accepted time and state, `partial.stats`
/// the work done, and `partial.t`/`partial.y` the outputs produced before the failure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct SolveFailure<T: Real> {
    /// What went wrong.
    pub error: SolveError,
    /// The solution up to the failure.
    pub partial: Box<Solution<T>>,
}
