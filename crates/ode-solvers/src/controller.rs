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
        self.accept_factor_log2(err, log2(err), log2(err_prev), q)
    }

    /// [`PiController::accept_factor`] given `log2(err)` and `log2(err_prev)` as computed by
    /// [`log2`]: the integrator keeps the previous step's logarithm instead of
    /// taking it again (same result, bit for bit).
    #[inline]
    pub(crate) fn accept_factor_log2(
        &self,
        err: f64,
        log2_err: f64,
        log2_prev: f64,
        q: u32,
    ) -> f64 {
        if err == 0.0 {
            return self.fac_max;
        }
        let alpha = 1.0 / (q as f64 + 1.0) - 0.75 * self.beta;
        // err^-α · err_prev^β as one exponential of a sum of logarithms (the controller sits
        // on the step's critical path; two library `pow` calls were a fifth of a small solve).
        let f = self.safety * exp2(-alpha * log2_err + self.beta * log2_prev);
        f.clamp(self.fac_min, self.fac_max)
    }

    /// Factor for the retry after a rejected step with error `err` (> 1, or not finite).
    #[inline]
    pub fn reject_factor(&self, err: f64, q: u32) -> f64 {
        if !err.is_finite() {
            return self.fac_min;
        }
        let alpha = 1.0 / (q as f64 + 1.0) - 0.75 * self.beta;
        (self.safety * exp2(-alpha * log2(err))).clamp(self.fac_min, 1.0)
    }
}

/// `log2(x)` for the controller, relative error below 1e-12 for positive normal `x` (the
/// library function for anything else: zero, subnormal, negative, infinite or NaN). Callers
/// that keep a step's logarithm for the next use it too (see `accept_factor_log2`).
#[inline]
pub(crate) fn log2(x: f64) -> f64 {
    if !(f64::MIN_POSITIVE..f64::INFINITY).contains(&x) {
        return x.log2();
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172: the series to s¹⁵.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let p = 1.0 / 15.0;
    let p = p * s2 + 1.0 / 13.0;
    let p = p * s2 + 1.0 / 11.0;
    let p = p * s2 + 1.0 / 9.0;
    let p = p * s2 + 1.0 / 7.0;
    let p = p * s2 + 1.0 / 5.0;
    let p = p * s2 + 1.0 / 3.0;
    let p = p * s2 + 1.0;
    e as f64 + 2.0 * s * p * std::f64::consts::LOG2_E
}

/// `2^y` for the controller, relative error below 1e-13; 0 below 2⁻¹⁰²², ∞ above 2¹⁰²³, NaN
/// for NaN.
#[inline]
fn exp2(y: f64) -> f64 {
    if y.is_nan() {
        return y;
    }
    if y < -1022.0 {
        return 0.0;
    }
    if y > 1023.0 {
        return f64::INFINITY;
    }
    // Round to nearest by the 1.5·2⁵² trick (`f64::round` is a library call on baseline
    // x86-64, which has no rounding instruction).
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let n = (y + MAGIC) - MAGIC;
    // 2^f = e^(f ln 2), |f ln 2| ≤ 0.347: Taylor to degree 11.
    let x = (y - n) * std::f64::consts::LN_2;
    let p = 1.0 / 39_916_800.0;
    let p = p * x + 1.0 / 3_628_800.0;
    let p = p * x + 1.0 / 362_880.0;
    let p = p * x + 1.0 / 40_320.0;
    let p = p * x + 1.0 / 5_040.0;
    let p = p * x + 1.0 / 720.0;
    let p = p * x + 1.0 / 120.0;
    let p = p * x + 1.0 / 24.0;
    let p = p * x + 1.0 / 6.0;
    let p = p * x + 0.5;
    let p = p * x + 1.0;
    let p = p * x + 1.0;
    p * f64::from_bits(((n as i64 + 1023) as u64) << 52)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Logarithmically spaced values over the whole normal range and around 1.
    fn samples() -> impl Iterator<Item = f64> {
        (-10_000..=10_000)
            .map(|k| 2f64.powf(k as f64 * 0.1023))
            .chain((1..2000).map(|k| 1.0 + k as f64 * 1e-3))
            .chain([f64::MIN_POSITIVE, f64::MAX, 1.0, std::f64::consts::SQRT_2])
    }

    #[test]
    fn log2_matches_the_library() {
        for x in samples() {
            let (got, want) = (log2(x), x.log2());
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1e-3),
                "log2({x:e}) = {got} vs {want}"
            );
        }
        assert_eq!(log2(1.0), 0.0);
        assert!(log2(0.0) == f64::NEG_INFINITY && log2(f64::NAN).is_nan());
        assert_eq!(log2(1e-310), 1e-310f64.log2());
    }

    #[test]
    fn exp2_matches_the_library() {
        for k in -20_000..=20_000 {
            let y = k as f64 * 0.0511;
            let (got, want) = (exp2(y), y.exp2());
            assert!(
                (got - want).abs() <= 1e-13 * want,
                "2^{y} = {got:e} vs {want:e}"
            );
        }
        assert_eq!(exp2(-1100.0), 0.0);
        assert_eq!(exp2(1100.0), f64::INFINITY);
        assert!(exp2(f64::NAN).is_nan());
    }

    #[test]
    fn factors_match_the_pow_formulas() {
        let c = PiController::default();
        for q in [1, 2, 4, 7] {
            let alpha = 1.0 / (q as f64 + 1.0) - 0.75 * c.beta;
            for err in samples().filter(|e| *e <= 1.0) {
                for prev in [1e-4f64, 0.01, 0.5, 1.0] {
                    let want = (c.safety * err.powf(-alpha) * prev.powf(c.beta))
                        .clamp(c.fac_min, c.fac_max);
                    let got = c.accept_factor(err, prev, q);
                    assert!((got - want).abs() <= 1e-12 * want, "{err:e} {prev} {q}");
                }
            }
            for err in samples().filter(|e| *e > 1.0) {
                let want = (c.safety * err.powf(-alpha)).clamp(c.fac_min, 1.0);
                assert!((c.reject_factor(err, q) - want).abs() <= 1e-12 * want);
            }
            assert_eq!(c.reject_factor(f64::NAN, q), c.fac_min);
            assert_eq!(c.accept_factor(0.0, 0.5, q), c.fac_max);
        }
    }
}
