//! Step-size control: the PI controller and Hairer's initial-step heuristic.

use std::cell::RefCell;
use std::sync::Arc;

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
    /// previous accepted step's error `err_prev` and the estimator order `q`:
    /// `clamp(safety · err^(-α) · err_prev^β, fac_min, fac_max)` (`fac_max` for `err = 0`).
    /// The integrator computes the same factor from precomputed tables (within 5e-14); this
    /// form is for drivers of one's own.
    pub fn accept_factor(&self, err: f64, err_prev: f64, q: u32) -> f64 {
        if err == 0.0 {
            return self.fac_max;
        }
        (self.safety * err.powf(-self.alpha(q)) * err_prev.powf(self.beta))
            .clamp(self.fac_min, self.fac_max)
    }

    /// The exponent `α = 1/(q+1) - 0.75 β` of the error.
    #[inline]
    pub(crate) fn alpha(&self, q: u32) -> f64 {
        1.0 / (q as f64 + 1.0) - 0.75 * self.beta
    }

    /// Factor for the retry after a rejected step with error `err` (> 1, or not finite).
    pub fn reject_factor(&self, err: f64, q: u32) -> f64 {
        if !err.is_finite() {
            return self.fac_min;
        }
        (self.safety * err.powf(-self.alpha(q))).clamp(self.fac_min, 1.0)
    }
}

/// The smallest error a step hands on to the next step's PI term (Hairer's `1e-4`).
pub(crate) const ERR_PREV_FLOOR: f64 = 1e-4;

/// Mantissa buckets of the factors: the top `MANT_BITS` bits of the mantissa
/// pick `m_j`, and `m / m_j = 1 + r` with `|r| < 2^-6`.
const MANT_BITS: u32 = 5;
const MANT: usize = 1 << MANT_BITS;

/// Terms of the binomial series of `(1 + r)^p` for `|r| < 2^-6`: the first left out,
/// `C(p, 9) r^9`, is below 1e-17 for `|p| ≤ ½`.
const MANT_TERMS: usize = 9;

/// Entries of the exponent tables: squared error norms down to `2^-63` (errors down to about
/// `2^-32`); smaller ones take `powf`.
const EXP_TABLE: usize = 64;

/// The powers of the squared error norm `x = err²` that an accepted step's factor needs,
/// precomputed for one controller and estimator order so that a step costs two short series
/// and two table lookups instead of a logarithm and an exponential:
///
/// - `x^(-α/2)` (the factor: `err^(-α)`), and
/// - `max(x, 1e-8)^(β/2)` (the next step's PI term: `err_prev^β` with `err_prev = max(err, 1e-4)`).
///
/// With `x = 2^e · m`, `e` integral and `m ∈ [1, 2)` (exact: only the exponent field
/// moves), `x^p = 2^(p e) · m^p`: `2^(p e)` is read from a table indexed by `-e`; the top
/// bits of `m` pick a bucket centre `m_j`, whose `m_j^p` and `1/m_j` are tabled too, and
/// `(m/m_j)^p = (1 + r)^p` is a binomial series of degree 8 in `r = m · (1/m_j) - 1`
/// (`|r| < 2^-6`), whose powers both exponents share. Nothing on the way from the error norm
/// to the next step's size divides. Rejected steps (`x > 1`) take `x^(-α/2)` the same way.
/// The integrator keeps one from solve to solve while `α` and `β` stay the same.
#[derive(Clone, Debug)]
pub(crate) struct FactorPowers {
    alpha: f64,
    beta: f64,
    /// `1 / m_j`, `m_j^(-α/2)` and `m_j^(β/2)` per mantissa bucket, and
    /// the binomial series of `(1 + r)^(-α/2)` and `(1 + r)^(β/2)`.
    inv_m: [f64; MANT],
    pa: [f64; MANT],
    pb: [f64; MANT],
    ba: [f64; MANT_TERMS],
    bb: [f64; MANT_TERMS],
    /// `2^(α/2 · k)` and `2^(-β/2 · k)` for `k = -e` (accepted steps: `x ≤ 1`, `e ≤ 0`).
    ta: [f64; EXP_TABLE],
    tb: [f64; EXP_TABLE],
    /// `2^(-α/2 · e)` (rejected steps: `x > 1`, `e ≥ 0`).
    tr: [f64; EXP_TABLE],
    /// `ERR_PREV_FLOOR^β`: the PI term after a step with an error below the floor.
    pi_floor: f64,
}

impl FactorPowers {
    /// The tables for exponent `α` (see [`PiController::alpha`]) and PI weight `β`.
    pub(crate) fn new(alpha: f64, beta: f64) -> Self {
        let (a, b) = (0.5 * alpha, 0.5 * beta);
        FactorPowers {
            alpha,
            beta,
            inv_m: std::array::from_fn(|j| 1.0 / bucket(j)),
            pa: std::array::from_fn(|j| bucket(j).powf(-a)),
            pb: std::array::from_fn(|j| bucket(j).powf(b)),
            ba: binomial(-a),
            bb: binomial(b),
            ta: exp_table(a),
            tb: exp_table(-b),
            tr: exp_table(-a),
            pi_floor: ERR_PREV_FLOOR.powf(beta),
        }
    }

    /// The tables for `alpha` and `beta` from this thread's cache of the last few built
    /// (building them takes about 2 µs, as long as a whole small solve, and an integrator
    /// made for one solve would pay it every time).
    pub(crate) fn cached(alpha: f64, beta: f64) -> Arc<Self> {
        /// Tables kept per thread.
        const KEPT: usize = 8;
        thread_local! {
            static CACHE: RefCell<Vec<Arc<FactorPowers>>> = const { RefCell::new(Vec::new()) };
        }
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(p) = cache.iter().find(|p| p.is_for(alpha, beta)) {
                return Arc::clone(p);
            }
            let p = Arc::new(FactorPowers::new(alpha, beta));
            if cache.len() == KEPT {
                cache.remove(0);
            }
            cache.push(Arc::clone(&p));
            p
        })
    }

    /// Whether these are the tables for `alpha` and `beta`.
    pub(crate) fn is_for(&self, alpha: f64, beta: f64) -> bool {
        self.alpha == alpha && self.beta == beta
    }

    /// The PI term `err_prev^β` for a given previous error (at the start of a solve).
    pub(crate) fn pi_term(&self, err_prev: f64) -> f64 {
        // A cold start's `err_prev` is the floor: no `powf` then.
        if err_prev <= ERR_PREV_FLOOR {
            self.pi_floor
        } else {
            err_prev.powf(self.beta)
        }
    }

    /// The factor after an accepted step with squared error norm `x = err² ∈ [0, 1]`, given
    /// the PI term `pi = err_prev^β` of the step before, and the PI term for the next step:
    /// `(clamp(safety · pi · x^(-α/2), fac_min, fac_max), max(x, 1e-8)^(β/2))`.
    #[inline(always)]
    pub(crate) fn accept(&self, c: &PiController, x: f64, pi: f64) -> (f64, f64) {
        let sp = c.safety * pi;
        if !(f64::MIN_POSITIVE..=1.0).contains(&x) {
            return self.accept_slow(c, x, sp);
        }
        // x = 2^(-k) · m, m ∈ [1, 2), and m = m_j (1 + r): no division on the way from the
        // error norm to the next step's size.
        let bits = x.to_bits();
        let k = (1023 - (bits >> 52) as i64) as usize;
        if k >= EXP_TABLE {
            return self.accept_slow(c, x, sp);
        }
        let (j, r) = self.bucket_of(bits);
        let r2 = r * r;
        let r4 = r2 * r2;
        let fac = (sp * (self.ta[k] * self.pa[j])) * estrin9(&self.ba, r, r2, r4);
        let pi_next = if self.beta == 0.0 {
            1.0
        } else if x >= ERR_PREV_FLOOR * ERR_PREV_FLOOR {
            (self.tb[k] * self.pb[j]) * estrin9(&self.bb, r, r2, r4)
        } else {
            self.pi_floor
        };
        (fac.clamp(c.fac_min, c.fac_max), pi_next)
    }

    /// The mantissa bucket `j` of the positive normal number with bits `bits`, and `r` with
    /// `m = m_j (1 + r)` (`m ∈ [1, 2)` its mantissa).
    #[inline(always)]
    fn bucket_of(&self, bits: u64) -> (usize, f64) {
        let j = ((bits >> (52 - MANT_BITS)) as usize) & (MANT - 1);
        let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
        (j, m * self.inv_m[j] - 1.0)
    }

    /// [`FactorPowers::accept`] outside the tables (zero, subnormal or tiny norms).
    #[cold]
    #[inline(never)]
    fn accept_slow(&self, c: &PiController, x: f64, sp: f64) -> (f64, f64) {
        let fac = if x == 0.0 {
            c.fac_max
        } else {
            (sp * x.powf(-0.5 * self.alpha)).clamp(c.fac_min, c.fac_max)
        };
        let pi_next = x.max(ERR_PREV_FLOOR * ERR_PREV_FLOOR).powf(0.5 * self.beta);
        (fac, pi_next)
    }

    /// The factor for the retry after a rejected step with squared error norm `x` (> 1, or
    /// not finite): `clamp(safety · x^(-α/2), fac_min, 1)`, and `fac_min` when `x` is not
    /// finite.
    #[inline]
    pub(crate) fn reject(&self, c: &PiController, x: f64) -> f64 {
        if !x.is_finite() {
            return c.fac_min;
        }
        // x = 2^e · m, m ∈ [1, 2), as for an accepted step.
        let bits = x.to_bits();
        let e = ((bits >> 52) as i64 - 1023) as usize;
        let f = if x >= 1.0 && e < EXP_TABLE {
            let (j, r) = self.bucket_of(bits);
            let r2 = r * r;
            (c.safety * (self.tr[e] * self.pa[j])) * estrin9(&self.ba, r, r2, r2 * r2)
        } else {
            c.safety * x.powf(-0.5 * self.alpha)
        };
        f.clamp(c.fac_min, 1.0)
    }
}

/// The centre `1 + (j + ½)/MANT` of mantissa bucket `j`.
fn bucket(j: usize) -> f64 {
    1.0 + (j as f64 + 0.5) / MANT as f64
}

/// The binomial coefficients `C(p, k)` of `(1 + r)^p = Σ C(p, k) r^k`.
fn binomial(p: f64) -> [f64; MANT_TERMS] {
    let mut c = [1.0; MANT_TERMS];
    for k in 1..MANT_TERMS {
        c[k] = c[k - 1] * (p - (k - 1) as f64) / k as f64;
    }
    c
}

/// `Σ c_k r^k` (degree 8) in Estrin's scheme: three levels after the products by `r`.
#[inline(always)]
fn estrin9(c: &[f64; MANT_TERMS], r: f64, r2: f64, r4: f64) -> f64 {
    let p01 = c[0] + r * c[1];
    let p23 = c[2] + r * c[3];
    let p45 = c[4] + r * c[5];
    let p67 = c[6] + r * c[7];
    let q0 = p01 + r2 * p23;
    let q1 = p45 + r2 * p67;
    (q0 + r4 * q1) + (r4 * r4) * c[8]
}

/// `2^(p k)` for `k = 0 … EXP_TABLE-1`, each the product of at most six of the powers
/// `2^(p 2^i)` (so within a few units in the last place).
fn exp_table(p: f64) -> [f64; EXP_TABLE] {
    let base: [f64; 6] = std::array::from_fn(|i| (p * (1u32 << i) as f64).exp2());
    let mut t = [1.0; EXP_TABLE];
    for k in 1..EXP_TABLE {
        t[k] = t[k & (k - 1)] * base[k.trailing_zeros() as usize];
    }
    t
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

    /// Squared norms spaced logarithmically over the whole normal range up to 1 (so across
    /// the tables and past them on both sides), dense near 1 and at the table's edge.
    fn squared_norms() -> impl Iterator<Item = f64> {
        (-10_000..=0)
            .map(|k| 2f64.powf(k as f64 * 0.1023))
            .chain((1..2000).map(|k| 1.0 - k as f64 * 4e-4))
            .chain((-400..=400).map(|k| 2f64.powf(-63.0 + k as f64 * 1e-3)))
            .chain([
                f64::MIN_POSITIVE,
                1e-8,
                1.0,
                0.5,
                std::f64::consts::FRAC_1_SQRT_2,
            ])
    }

    /// Controllers whose factors are never clamped, so that every power is seen.
    fn unclamped(beta: f64) -> PiController {
        PiController {
            safety: 0.9,
            fac_min: 1e-300,
            fac_max: 1e300,
            beta,
        }
    }

    #[test]
    fn mantissa_buckets_match_the_library() {
        // Exponents from the most negative the tables meet (-α/2 with q = 1, β = 0) to the
        // largest (β/2 → ¼, or -α/2 with q = 7, β → ½), and ±½ (an estimator of order 0).
        for p in [
            -0.5, -0.25, -0.1, -0.085, 0.0, 0.02, 0.0625, 0.125, 0.2, 0.25, 0.5,
        ] {
            let c = binomial(p);
            let mut worst: f64 = 0.0;
            for k in 0..=40_000 {
                let m = 1.0 + k as f64 / 40_000.0 * (1.0 - f64::EPSILON);
                let j = ((m.to_bits() >> (52 - MANT_BITS)) as usize) & (MANT - 1);
                assert!(
                    (bucket(j) - m).abs() <= 0.5 / MANT as f64,
                    "m = {m}: bucket {j}"
                );
                let r = m * (1.0 / bucket(j)) - 1.0;
                let got = bucket(j).powf(p) * estrin9(&c, r, r * r, r.powi(4));
                let want = m.powf(p);
                worst = worst.max((got - want).abs() / want);
            }
            assert!(worst <= 1e-15, "p = {p}: relative error {worst:e}");
        }
    }

    #[test]
    fn the_cache_hands_out_the_tables_asked_for() {
        let a = FactorPowers::cached(0.17, 0.04);
        let b = FactorPowers::cached(0.0625, 0.0);
        assert!(a.is_for(0.17, 0.04) && b.is_for(0.0625, 0.0));
        assert!(Arc::ptr_eq(&a, &FactorPowers::cached(0.17, 0.04)));
        // More controllers than the cache keeps: each still gets its own tables.
        for i in 0..20 {
            let alpha = 0.1 + i as f64 * 0.01;
            let p = FactorPowers::cached(alpha, 0.02);
            assert!(p.is_for(alpha, 0.02));
            let want = (1.5 * alpha).exp2();
            assert!((p.ta[3] - want).abs() <= 1e-15 * want);
        }
        assert!(FactorPowers::cached(0.17, 0.04).is_for(0.17, 0.04));
    }

    #[test]
    fn exponent_tables_match_the_library() {
        for p in [-0.25, -0.02, 0.0, 0.085, 0.125, 0.25] {
            for (k, v) in exp_table(p).iter().enumerate() {
                let want = (p * k as f64).exp2();
                assert!(
                    (v - want).abs() <= 2e-15 * want,
                    "2^({p}·{k}) = {v:e} vs {want:e}"
                );
            }
        }
    }

    #[test]
    fn accepted_factors_match_the_pow_formulas() {
        for beta in [0.0, 0.04, 0.2, 0.45] {
            let c = unclamped(beta);
            for q in [1, 2, 4, 7] {
                let alpha = c.alpha(q);
                let pows = FactorPowers::new(alpha, beta);
                assert!(pows.is_for(alpha, beta) && !pows.is_for(alpha, beta + 0.01));
                for x in squared_norms() {
                    for prev in [1e-5f64, 1e-4, 0.01, 0.5, 1.0] {
                        let pi = pows.pi_term(prev);
                        let want_pi = prev.max(1e-4).powf(beta);
                        assert!((pi - want_pi).abs() <= 1e-15 * want_pi);
                        let (fac, pi_next) = pows.accept(&c, x, pi);
                        let err = x.sqrt();
                        let want = c.safety * err.powf(-alpha) * want_pi;
                        assert!(
                            (fac - want).abs() <= 5e-14 * want,
                            "x = {x:e}, prev {prev}, q {q}, β {beta}: {fac:e} vs {want:e}"
                        );
                        // The PI term handed on: `max(err, 1e-4)^β`.
                        let want_next = err.max(1e-4).powf(beta);
                        assert!(
                            (pi_next - want_next).abs() <= 5e-14 * want_next,
                            "x = {x:e}, β {beta}: next PI term {pi_next:e} vs {want_next:e}"
                        );
                        // The public form agrees.
                        let public = c.accept_factor(err, prev.max(1e-4), q);
                        assert!((public - want).abs() <= 1e-15 * want);
                    }
                    // Rejections: the reciprocal norms, all above 1.
                    if x > 0.0 && x < 1.0 {
                        let y = 1.0 / x;
                        let want = (c.safety * y.sqrt().powf(-alpha)).min(1.0);
                        let got = pows.reject(&c, y);
                        assert!(
                            (got - want).abs() <= 5e-14 * want,
                            "reject x = {y:e}, q {q}, β {beta}: {got:e} vs {want:e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn factors_are_clamped_and_zero_errors_grow_the_most() {
        let c = PiController::default();
        for q in [1, 2, 4, 7] {
            let alpha = c.alpha(q);
            let pows = FactorPowers::new(alpha, c.beta);
            for x in squared_norms().chain([0.0, 1e-310]) {
                for prev in [1e-4f64, 0.01, 0.5, 1.0] {
                    let pi = pows.pi_term(prev);
                    let want = if x == 0.0 {
                        c.fac_max
                    } else {
                        (c.safety * x.sqrt().powf(-alpha) * prev.powf(c.beta))
                            .clamp(c.fac_min, c.fac_max)
                    };
                    let (fac, _) = pows.accept(&c, x, pi);
                    assert!(
                        (fac - want).abs() <= 5e-14 * want,
                        "x = {x:e} {prev} {q}: {fac} vs {want}"
                    );
                    assert!((c.fac_min..=c.fac_max).contains(&fac));
                }
            }
            assert_eq!(pows.accept(&c, 0.0, 1.0).0, c.fac_max);
            assert_eq!(c.accept_factor(0.0, 0.5, q), c.fac_max);
            for err in squared_norms().filter(|x| *x < 1.0).map(|x| 1.0 / x) {
                let want = (c.safety * err.powf(-alpha)).clamp(c.fac_min, 1.0);
                assert_eq!(c.reject_factor(err, q), want);
            }
            for x in squared_norms()
                .filter(|x| *x < 1.0 && *x > 0.0)
                .map(|x| 1.0 / x)
            {
                let want = (c.safety * x.sqrt().powf(-alpha)).clamp(c.fac_min, 1.0);
                let got = pows.reject(&c, x);
                assert!(
                    (got - want).abs() <= 5e-14 * want,
                    "x = {x:e}: {got} vs {want}"
                );
            }
            for x in [f64::NAN, f64::INFINITY] {
                assert_eq!(pows.reject(&c, x), c.fac_min);
            }
            assert_eq!(c.reject_factor(f64::NAN, q), c.fac_min);
            assert_eq!(c.reject_factor(f64::INFINITY, q), c.fac_min);
        }
    }
}
