//! Step-size control: the PI controller and Hairer's initial-step heuristic.

use crate::{ErrorScale, OdeSystem, Real};

/// A proportional–integral step-size controller (Gustafsson; in the form of Hairer's DOPRI5).
///
/// After a step with error norm `err` (accepted when `err ≤ 1`) the next step is
/// `h · clamp(safety · err^(-α) · err_prev^β, fac_min, fac_max)` with
/// `α = 1/(q+1) - 0.75 β` and `q` the order of the method's error estimate. With `β = 0` it is
/// the plain (integral) controller. After a rejection the step shrinks by
/// `max(fac_min, safety · err^(-α))` and does not grow on the next accepted step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PiController {
    /// Safety factor (< 1).
    pub safety: f64,
    /// Smallest factor a step may shrink by.
    pub fac_min: f64,
    /// Largest factor a step may grow by.
    pub fac_max: f64,
    /// Weight of the previous error (the PI term); 0 gives the plain controller.
    pub beta: f64,
}

impl Default for PiController {
    /// Hairer's DOPRI5 defaults: safety 0.9, factors in [0.2, 10], β = 0.04.
    fn default() -> Self {
        PiController {
            safety: 0.9,
            fac_min: 0.2,
            fac_max: 10.0,
            beta: 0.04,
        }
    }
}

impl PiController {
    /// Checks the parameters; returns the name and value of the first bad one.
    pub fn validate(&self) -> Result<(), (&'static str, f64)> {
        if !(self.safety > 0.0 && self.safety <= 1.0) {
            return Err(("safety", self.safety));
        }
        if !(self.fac_min > 0.0 && self.fac_min < 1.0) {
            return Err(("fac_min", self.fac_min));
        }
        if !(self.fac_max > 1.0 && self.fac_max.is_finite()) {
            return Err(("fac_max", self.fac_max));
        }
        if !(0.0..0.5).contains(&self.beta) {
            return Err(("beta", self.beta));
        }
        Ok(())
    }

    /// Factor for the next step after an accepted step with error `err` (≤ 1), given the
    /// previous accepted step's error `err_prev` and the estimator order `q`.
    #[inline]
    pub fn accept_factor(&self, err: f64, err_prev: f64, q: u32) -> f64 {
        if err == 0.0 {
            return self.fac_max;
        }
        let alpha = 1.0 / (q as f64 + 1.0) - 0.75 * self.beta;
        let f = self.safety * err.powf(-alpha) * err_prev.powf(self.beta);
        f.clamp(self.fac_min, self.fac_max)
    }

    /// Factor for the retry after a rejected step with error `err` (> 1, or not finite).
    #[inline]
    pub fn reject_factor(&self, err: f64, q: u32) -> f64 {
        if !err.is_finite() {
            return self.fac_min;
        }
        let alpha = 1.0 / (q as f64 + 1.0) - 0.75 * self.beta;
        (self.safety * err.powf(-alpha)).clamp(self.fac_min, 1.0)
    }
}

/// Hairer's initial step size (Hairer, Nørsett, Wanner I, §II.4, and `hinit` in DOPRI5).
///
/// Uses `f0 = f(t0, y0)` and one trial Euler step (one evaluation, written to `f1`), with
/// `y1` as scratch. Returns the step magnitude (positive); `order` is the method's order.
#[allow(clippy::too_many_arguments)]
pub fn initial_step<T: Real, S: OdeSystem<T> + ?Sized>(
    sys: &S,
    t0: f64,
    y0: &[T],
    f0: &[T],
    order: u32,
    scale: ErrorScale<'_>,
    h_max: f64,
    dir: f64,
    y1: &mut [T],
    f1: &mut [T],
) -> f64 {
    let n = y0.len();
    let norm = |v: &[T]| {
        let mut acc = 0.0;
        for i in 0..n {
            let r = v[i].as_f64() / scale.weight(i, y0[i], y0[i]);
            acc += r * r;
        }
        (acc / n.max(1) as f64).sqrt()
    };
    let d0 = norm(y0);
    let d1 = norm(f0);
    let mut h0 = if d0 < 1e-10 || d1 < 1e-10 {
        1e-6
    } else {
        0.01 * d0 / d1
    };
    h0 = h0.min(h_max);
    let hs = T::from_f64(h0 * dir);
    for i in 0..n {
        y1[i] = y0[i] + hs * f0[i];
    }
    sys.rhs(t0 + h0 * dir, y1, f1);
    let mut acc = 0.0;
    for i in 0..n {
        let r = (f1[i] - f0[i]).as_f64() / scale.weight(i, y0[i], y0[i]);
        acc += r * r;
    }
    let d2 = (acc / n.max(1) as f64).sqrt() / h0;
    let der = d1.max(d2);
    let h1 = if !der.is_finite() {
        h0 * 1e-3
    } else if der <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / der).powf(1.0 / order as f64)
    };
    (100.0 * h0).min(h1).min(h_max)
}
