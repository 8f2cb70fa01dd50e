//! What a solve returns: states, statistics, events and the dense solution.

use std::fmt;
use std::sync::Arc;

use crate::{Real, SolveError, Stepper};

/// Work done by a solve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Right-hand-side evaluations (stages, initial-step trial, dense-output stages).
    pub nfe: usize,
    /// Accepted steps.
    pub accepted: usize,
    /// Rejected steps.
    pub rejected: usize,
}

impl Stats {
    /// Step attempts (accepted plus rejected).
    pub fn steps(&self) -> usize {
        self.accepted + self.rejected
    }
}

/// How a solve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// Reached `t1`.
    #[default]
    Completed,
    /// Stopped at a terminal event (index into the events passed to the solve).
    Terminated {
        /// The event's index.
        event: usize,
    },
    /// Stopped by an error (only in [`crate::SolveFailure::partial`]).
    Failed,
}

/// An event located during a solve.
#[derive(Debug, Clone, PartialEq)]
pub struct EventHit<T> {
    /// Index of the event function.
    pub event: usize,
    /// Time of the zero crossing.
    pub t: f64,
    /// State at that time (from the dense output).
    pub y: Vec<T>,
}

/// The result of a solve.
#[derive(Debug, Clone)]
pub struct Solution<T: Real> {
    /// State dimension.
    pub dim: usize,
    /// Times of the kept states (see [`crate::SaveAt`]).
    pub t: Vec<f64>,
    /// Kept states, `dim` values per time, in the order of `t`.
    pub y: Vec<T>,
    /// The time the solve reached: `t1`, a terminal event's time, or the last accepted time of
    /// a failed solve.
    pub t_final: f64,
    /// The state at `t_final`.
    pub y_final: Vec<T>,
    /// Work done.
    pub stats: Stats,
    /// Located events, in time order.
    pub events: Vec<EventHit<T>>,
    /// How the solve ended.
    pub status: Status,
    /// The dense solution, when asked for ([`crate::Options::dense`]).
    pub dense: Option<DenseSolution<T>>,
}

impl<T: Real> Solution<T> {
    /// The kept state with index `i` (of `t`).
    pub fn state(&self, i: usize) -> &[T] {
        &self.y[i * self.dim..(i + 1) * self.dim]
    }

    /// Iterates over the kept `(time, state)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (f64, &[T])> + '_ {
        self.t
            .iter()
            .copied()
            .zip(self.y.chunks_exact(self.dim.max(1)))
    }
}

/// Evaluates a method's interpolant; every [`Stepper`] is one.
pub(crate) trait Interpolator<T>: Send + Sync {
    fn eval(&self, theta: f64, h: f64, data: &[T], out: &mut [T]);
}

impl<T: Real, M: Stepper<T>> Interpolator<T> for M {
    fn eval(&self, theta: f64, h: f64, data: &[T], out: &mut [T]) {
        self.dense_eval(theta, h, data, out)
    }
}

/// The whole dense solution of a solve: the interpolant of every accepted step, to query at
/// any time in the span afterwards.
#[derive(Clone)]
pub struct DenseSolution<T: Real> {
    dim: usize,
    nvec: usize,
    starts: Vec<f64>,
    steps: Vec<f64>,
    data: Vec<T>,
    t_start: f64,
    t_end: f64,
    interp: Arc<dyn Interpolator<T>>,
}

impl<T: Real> fmt::Debug for DenseSolution<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DenseSolution")
            .field("dim", &self.dim)
            .field("steps", &self.steps.len())
            .field("t_start", &self.t_start)
            .field("t_end", &self.t_end)
            .finish()
    }
}

impl<T: Real> DenseSolution<T> {
    pub(crate) fn new<M: Stepper<T>>(method: &M, dim: usize, t_start: f64) -> Self {
        DenseSolution {
            dim,
            nvec: method.dense_vectors(),
            starts: Vec::new(),
            steps: Vec::new(),
            data: Vec::new(),
            t_start,
            t_end: t_start,
            interp: Arc::new(method.clone()),
        }
    }

    pub(crate) fn push(&mut self, t: f64, h: f64, data: &[T]) {
        self.starts.push(t);
        self.steps.push(h);
        self.data.extend_from_slice(data);
        self.t_end = t + h;
    }

    pub(crate) fn set_end(&mut self, t_end: f64) {
        self.t_end = t_end;
    }

    /// Start of the covered interval (`t0`).
    pub fn t_start(&self) -> f64 {
        self.t_start
    }

    /// End of the covered interval.
    pub fn t_end(&self) -> f64 {
        self.t_end
    }

    /// Number of steps stored.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether no step is stored.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The accepted step boundaries `t0, t0 + h0, …`.
    pub fn step_times(&self) -> Vec<f64> {
        let mut v = self.starts.clone();
        if let (Some(&t), Some(&h)) = (self.starts.last(), self.steps.last()) {
            v.push(t + h);
        }
        v
    }

    /// Writes the state at time `t` into `out`.
    pub fn eval_into(&self, t: f64, out: &mut [T]) -> Result<(), SolveError> {
        if out.len() != self.dim {
            return Err(SolveError::DimensionMismatch {
                what: "output buffer",
                expected: self.dim,
                found: out.len(),
            });
        }
        let (lo, hi) = if self.t_start <= self.t_end {
            (self.t_start, self.t_end)
        } else {
            (self.t_end, self.t_start)
        };
        if !(t >= lo && t <= hi) || self.starts.is_empty() {
            return Err(SolveError::OutsideDenseInterval {
                t,
                t_start: self.t_start,
                t_end: self.t_end,
            });
        }
        let dir = if self.t_end >= self.t_start {
            1.0
        } else {
            -1.0
        };
        let idx = self
            .starts
            .partition_point(|&s| (s - t) * dir <= 0.0)
            .saturating_sub(1);
        let h = self.steps[idx];
        let theta = ((t - self.starts[idx]) / h).clamp(0.0, 1.0);
        let len = self.nvec * self.dim;
        self.interp
            .eval(theta, h, &self.data[idx * len..(idx + 1) * len], out);
        Ok(())
    }

    /// The state at time `t`.
    pub fn eval(&self, t: f64) -> Result<Vec<T>, SolveError> {
        let mut out = vec![T::zero(); self.dim];
        self.eval_into(t, &mut out)?;
        Ok(out)
    }
}
