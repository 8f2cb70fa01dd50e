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
        self.accept_factor_with(err, log2(err_prev), &NegPow::new(self.alpha(q)))
    }

    /// The exponent `α = 1/(q+1) - 0.75 β` of the error.
    #[inline]
    pub(crate) fn alpha(&self, q: u32) -> f64 {
        1.0 / (q as f64 + 1.0) - 0.75 * self.beta
    }

    /// `safety · x^(-a) · err_prev^β`, clamped, with `a` the exponent `pow` was built for:
    /// [`PiController::accept_factor`] for `x = err` and `a = α`; the integrator passes the
    /// squared norm `x = err²` with `a = α/2`, so that it need not wait for a square root.
    /// `log2(err_prev)` is as computed by [`log2`] (the integrator keeps each accepted
    /// step's logarithm for the next step).
    ///
    /// `x^(-a) · err_prev^β` is evaluated as `2^(β log2(err_prev) - a e) · m^(-a)` with
    /// `x = 2^e m`, `m ∈ [√½, √2]`: the exponential needs only the exponent `e`, so it runs
    /// side by side with the series in `m`, and the step's critical path (error norm, factor,
    /// next step) holds one short series instead of a logarithm followed by an exponential.
    #[inline]
    pub(crate) fn accept_factor_with(&self, x: f64, log2_prev: f64, pow: &NegPow) -> f64 {
        if x == 0.0 {
            return self.fac_max;
        }
        let f = if (f64::MIN_POSITIVE..f64::INFINITY).contains(&x) {
            let (e, m) = split(x);
            let big = self.safety * exp2(self.beta * log2_prev - pow.alpha * e);
            big * pow.mantissa(m)
        } else {
            self.safety * exp2(self.beta * log2_prev - pow.alpha * log2(x))
        };
        f.clamp(self.fac_min, self.fac_max)
    }

    /// Factor for the retry after a rejected step with error `err` (> 1, or not finite).
    #[inline]
    pub fn reject_factor(&self, err: f64, q: u32) -> f64 {
        if !err.is_finite() {
            return self.fac_min;
        }
        (self.safety * exp2(-self.alpha(q) * log2(err))).clamp(self.fac_min, 1.0)
    }
}

/// `x = 2^e · m` with `e` integral (returned as f64) and `m ∈ [√½, √2]`, for positive
/// normal `x` (exact: only the exponent field moves).
#[inline(always)]
fn split(x: f64) -> (f64, f64) {
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    (e as f64, m)
}

/// Terms of [`NegPow`]'s series: `|s| ≤ 0.1716` and the coefficients are below `|α|` in
/// magnitude for `|α| ≤ ½`: relative error below 2e-13 (tested against `powf`).
const POW_TERMS: usize = 16;

/// `m^(-α)` for `m ∈ [√½, √2]` as a power series in `s = (m - 1)/(m + 1)` (`|s| ≤ 0.1716`):
/// `m = (1 + s)/(1 - s)`, so `m^(-α) = exp(-2α atanh s) = Σ c_k s^k`, with the coefficients
/// from `E' = g' E` for `E = exp(g)`, `g = -2α atanh s`:
/// `k c_k = -2α Σ_{j odd ≤ k} c_{k-j}`, `c_0 = 1`. Built from `α` (the integrator keeps it
/// from solve to solve).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NegPow {
    alpha: f64,
    c: [f64; POW_TERMS],
}

impl NegPow {
    /// The series for exponent `-alpha`.
    pub(crate) fn new(alpha: f64) -> Self {
        let mut c = [0.0; POW_TERMS];
        c[0] = 1.0;
        for k in 1..POW_TERMS {
            let acc: f64 = (1..=k).step_by(2).map(|j| c[k - j]).sum();
            c[k] = -2.0 * alpha * acc / k as f64;
        }
        NegPow { alpha, c }
    }

    /// The exponent `α` the series was built for.
    pub(crate) fn alpha(&self) -> f64 {
        self.alpha
    }

    /// `m^(-α)`, in Estrin's scheme (pairs of terms, then pairs of pairs: four levels after
    /// the division).
    #[inline(always)]
    fn mantissa(&self, m: f64) -> f64 {
        let c = &self.c;
        let s = (m - 1.0) / (m + 1.0);
        let s2 = s * s;
        let s4 = s2 * s2;
        let s8 = s4 * s4;
        let p: [f64; 8] = std::array::from_fn(|i| c[2 * i] + s * c[2 * i + 1]);
        let q: [f64; 4] = std::array::from_fn(|i| p[2 * i] + s2 * p[2 * i + 1]);
        let r0 = q[0] + s4 * q[1];
        let r1 = q[2] + s4 * q[3];
        r0 + s8 * r1
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
    let (e, m) = split(x);
    // ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172: the series to s¹⁵, in Estrin's
    // scheme (pairs of terms, then pairs of pairs): three multiply–add levels after s²
    // instead of Horner's seven, for the rejected-step factor, which is on the critical path
    // (the accepted-step factor takes `NegPow`'s series instead).
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let s4 = s2 * s2;
    let s8 = s4 * s4;
    let q0 = 1.0 + s2 * (1.0 / 3.0);
    let q1 = 1.0 / 5.0 + s2 * (1.0 / 7.0);
    let q2 = 1.0 / 9.0 + s2 * (1.0 / 11.0);
    let q3 = 1.0 / 13.0 + s2 * (1.0 / 15.0);
    let p = (q0 + s4 * q1) + s8 * (q2 + s4 * q3);
    e + 2.0 * s * p * std::f64::consts::LOG2_E
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
    // 2^f = e^(f ln 2), |f ln 2| ≤ 0.347: Taylor to degree 11, in Estrin's scheme (four
    // levels after x² instead of Horner's eleven multiply–adds in a chain).
    let x = (y - n) * std::f64::consts::LN_2;
    let x2 = x * x;
    let x4 = x2 * x2;
    let x8 = x4 * x4;
    let q0 = 1.0 + x;
    let q1 = 0.5 + x * (1.0 / 6.0);
    let q2 = 1.0 / 24.0 + x * (1.0 / 120.0);
    let q3 = 1.0 / 720.0 + x * (1.0 / 5_040.0);
    let q4 = 1.0 / 40_320.0 + x * (1.0 / 362_880.0);
    let q5 = 1.0 / 3_628_800.0 + x * (1.0 / 39_916_800.0);
    let r0 = q0 + x2 * q1;
    let r1 = q2 + x2 * q3;
    let r2 = q4 + x2 * q5;
    let p = (r0 + x4 * r1) + x8 * r2;
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
    fn mantissa_series_matches_the_library() {
        // α from the most negative a valid controller allows (q = 7, β → ½) to the largest
        // (q = 1, β = 0).
        for alpha in [-0.25, -0.1, 0.0, 0.04, 0.17, 0.303, 0.47, 0.5] {
            let pow = NegPow::new(alpha);
            let mut worst: f64 = 0.0;
            for k in 0..=20_000 {
                let m = std::f64::consts::FRAC_1_SQRT_2
                    + k as f64 * (std::f64::consts::SQRT_2 - std::f64::consts::FRAC_1_SQRT_2)
                        / 20_000.0;
                let want = m.powf(-alpha);
                worst = worst.max((pow.mantissa(m) - want).abs() / want);
            }
            assert!(worst <= 2e-13, "α = {alpha}: relative error {worst:e}");
        }
    }

    #[test]
    fn unclamped_factors_match_the_pow_formulas() {
        // Factors far outside the usual clamp, so that every error and β is seen unclamped.
        for beta in [0.0, 0.04, 0.2, 0.45] {
            let c = PiController {
                safety: 0.9,
                fac_min: 1e-300,
                fac_max: 1e300,
                beta,
            };
            for q in [1, 2, 4, 7] {
                let alpha = c.alpha(q);
                for err in samples().filter(|e| *e <= 1.0) {
                    for prev in [1e-4f64, 0.01, 0.5, 1.0] {
                        let want = c.safety * err.powf(-alpha) * prev.powf(beta);
                        let got = c.accept_factor(err, prev, q);
                        assert!(
                            (got - want).abs() <= 1e-12 * want,
                            "{err:e} {prev} {q} {beta}: {got:e} vs {want:e}"
                        );
                        // The integrator's form: the squared norm with the series for α/2
                        // (while err² is normal; below 1e-154 it underflows and the factor
                        // is the clamp's).
                        if err >= 1e-150 {
                            let sq = NegPow::new(0.5 * alpha);
                            let got = c.accept_factor_with(err * err, log2(prev), &sq);
                            assert!(
                                (got - want).abs() <= 1e-12 * want,
                                "squared {err:e} {prev} {q} {beta}: {got:e} vs {want:e}"
                            );
                        }
                    }
                }
            }
        }
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
