//! A conformance kit for steppers, public behind the `testing` feature so that outside solver
//! crates can run the same checks on their methods as this crate runs on its own.
//!
//! Each check solves problems with known solutions through the public [`Integrator`] and
//! returns what it measured, or a [`CheckFailure`] saying what was wrong:
//! - [`check_convergence_order`]: fixed steps on problems with closed-form solutions; the
//!   fitted slope of log(error) against log(h) must be within 0.2 of the claimed order.
//! - [`check_tolerance_proportionality`]: adaptive solves at tolerances 1e-3 … 1e-10; the
//!   error must fall as the tolerance falls and stay within a modest factor of it.
//! - [`check_round_trip`]: forward then backward recovers the initial state.
//! - [`check_dense_output`]: the dense output matches the step values at step ends, the exact
//!   solution inside steps, and a solve stopped exactly at the query time.
//!
//! ```
//! use ode_solvers::{tableau, testing, ExplicitRk};
//! let rk4 = ExplicitRk::<f64>::new(&tableau::RK4);
//! let slope = testing::check_convergence_order(&rk4, 4).unwrap();
//! assert!((slope - 4.0).abs() < 0.2);
//! ```

use std::fmt;

use crate::{Integrator, Options, Real, SaveAt, Stepper};

/// A failed conformance check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckFailure {
    /// The check's name.
    pub check: &'static str,
    /// What was measured and what was expected.
    pub message: String,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.check, self.message)
    }
}

impl std::error::Error for CheckFailure {}

fn fail<R>(check: &'static str, message: String) -> Result<R, CheckFailure> {
    Err(CheckFailure { check, message })
}

/// A problem of the kit: right-hand side and exact solution, in f64 (states are converted).
#[derive(Debug, Clone, Copy)]
pub struct KitProblem {
    /// Name.
    pub name: &'static str,
    /// Start and end time.
    pub span: (f64, f64),
    /// The longer span used by [`check_convergence_order`] (`None`: not used there). Long
    /// spans put the global error of high-order methods into the asymptotic range before
    /// it reaches rounding.
    pub order_span: Option<(f64, f64)>,
    /// Initial state.
    pub y0: &'static [f64],
    /// Right-hand side in f64.
    pub rhs: fn(f64, &[f64], &mut [f64]),
    /// Exact solution.
    pub exact: fn(f64) -> Vec<f64>,
}

fn decaying_rotation(_t: f64, y: &[f64], dy: &mut [f64]) {
    dy[0] = -0.1 * y[0] + y[1];
    dy[1] = -y[0] - 0.1 * y[1];
}

fn decaying_rotation_exact(t: f64) -> Vec<f64> {
    let d = (-0.1 * t).exp();
    let (s, c) = t.sin_cos();
    // y0 = (1, 0): y = e^{-0.1 t} (cos t, -sin t).
    vec![d * c, -d * s]
}

fn time_dependent(t: f64, y: &[f64], dy: &mut [f64]) {
    dy[0] = t.cos() * y[0];
}

fn time_dependent_exact(t: f64) -> Vec<f64> {
    vec![t.sin().exp()]
}

fn nonlinear(_t: f64, y: &[f64], dy: &mut [f64]) {
    // Logistic growth y' = y (1 - y).
    dy[0] = y[0] * (1.0 - y[0]);
}

fn nonlinear_exact(t: f64) -> Vec<f64> {
    // y0 = 0.1: y = 1 / (1 + 9 e^{-t}).
    vec![1.0 / (1.0 + 9.0 * (-t).exp())]
}

/// The kit's problems: a damped rotation (linear, 2-D), `y' = cos(t) y` (time-dependent) and
/// the logistic equation (nonlinear).
pub const PROBLEMS: [KitProblem; 3] = [
    KitProblem {
        name: "decaying-rotation",
        span: (0.0, 3.0),
        order_span: Some((0.0, 30.0)),
        y0: &[1.0, 0.0],
        rhs: decaying_rotation,
        exact: decaying_rotation_exact,
    },
    KitProblem {
        name: "cos-growth",
        span: (0.0, 3.0),
        order_span: Some((0.0, 60.0)),
        y0: &[1.0],
        rhs: time_dependent,
        exact: time_dependent_exact,
    },
    KitProblem {
        name: "logistic",
        span: (0.0, 4.0),
        order_span: None,
        y0: &[0.1],
        rhs: nonlinear,
        exact: nonlinear_exact,
    },
];

fn to_t<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// Max-norm error of `y` against `exact`, relative to `max(1, |exact|)`.
fn max_err<T: Real>(y: &[T], exact: &[f64]) -> f64 {
    y.iter()
        .zip(exact)
        .map(|(a, b)| (a.as_f64() - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max)
}

fn rhs_t<T: Real>(p: KitProblem) -> impl Fn(f64, &[T], &mut [T]) {
    move |t, y: &[T], dy: &mut [T]| {
        let mut yf = [0.0f64; 4];
        let mut df = [0.0f64; 4];
        let n = y.len();
        for i in 0..n {
            yf[i] = y[i].as_f64();
        }
        (p.rhs)(t, &yf[..n], &mut df[..n]);
        for i in 0..n {
            dy[i] = T::from_f64(df[i]);
        }
    }
}

/// Least-squares slope of `ys` against `xs`.
pub fn fit_slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

/// Runs `method` with fixed steps `h = span / N` (N growing by √2) on every kit problem,
/// takes the eight finest step sizes whose error is above rounding (1e-12 for f64, 3e-4 for
/// f32, and 30 · steps · ε; the error is the largest at 1/2, 3/4 and all of the span), and fits the slope of log(error)
/// against log(h). Passes when every problem's slope is within 0.2 of `order`; returns the
/// smallest slope.
pub fn check_convergence_order<T: Real, M: Stepper<T>>(
    method: &M,
    order: u32,
) -> Result<f64, CheckFailure> {
    let f32ish = T::epsilon().as_f64() > 1e-10;
    // Keep errors between rounding (the floor) and the end of the pre-asymptotic range.
    let (floor, max_n) = if f32ish {
        (3e-4, 20_000)
    } else {
        (1e-12, 400_000)
    };
    let mut worst = f64::INFINITY;
    let mut matched = false;
    let mut slopes = Vec::new();
    for p in PROBLEMS {
        let Some((t0, t1)) = p.order_span else {
            continue;
        };
        let mut integ = Integrator::new(method.clone());
        let sys = rhs_t::<T>(p);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for k in 0..60 {
            // Step counts grow by 2^(1/4) (more points per decade of error) and are multiples
            // of 4, so that the solves to 1/2 and 3/4 of the span land on step boundaries.
            let steps = 4 * (2f64.powf(k as f64 / 4.0)).round() as usize;
            if steps > max_n {
                break;
            }
            let h = (t1 - t0) / steps as f64;
            let opts = Options::default().fixed_step(h).max_steps(usize::MAX);
            // The error is the largest at three end times, so that an accidental zero of the
            // error constant at one time cannot fake the order.
            let mut err: f64 = 0.0;
            for frac in [0.5, 0.75, 1.0] {
                let te = t0 + frac * (t1 - t0);
                let sol = match integ.solve(&sys, t0, te, &to_t::<T>(p.y0), &opts) {
                    Ok(s) => s,
                    Err(e) => {
                        return fail(
                            "convergence order",
                            format!("{}: solve failed: {}", p.name, e),
                        )
                    }
                };
                err = err.max(max_err(&sol.y_final, &(p.exact)(te)));
            }
            // Rounding accumulates over the steps: stop where it could reach a few percent of
            // the error.
            if err < floor || err < 30.0 * steps as f64 * T::epsilon().as_f64() {
                break;
            }
            xs.push(h.ln());
            ys.push(err.ln());
        }
        // The finest eight points above the floor are in the asymptotic range.
        let keep = xs.len().saturating_sub(8);
        let (xs, ys) = (&xs[keep..], &ys[keep..]);
        if xs.len() < 4 {
            return fail(
                "convergence order",
                format!(
                    "{}: only {} points in the asymptotic range",
                    p.name,
                    xs.len()
                ),
            );
        }
        let slope = fit_slope(xs, ys);
        if slope < order as f64 - 0.2 {
            return fail(
                "convergence order",
                format!(
                    "{}: fitted order {slope:.3}, expected {order} ({} points)",
                    p.name,
                    xs.len()
                ),
            );
        }
        matched |= (slope - order as f64).abs() <= 0.2;
        slopes.push(format!("{}: {slope:.3}", p.name));
        worst = worst.min(slope);
    }
    if !matched {
        return fail(
            "convergence order",
            format!(
                "no problem shows order {order} within 0.2: {}",
                slopes.join(", ")
            ),
        );
    }
    Ok(worst)
}

/// Adaptive solves of every kit problem at `rtol = atol = 10^-k`, k = 3 … 10 (f64; 3 … 5 for
/// f32). Passes when the error stays below `100 · tol` (relative) and falls as the tolerance
/// falls (fitted slope of log(error) against log(tol) above 0.5, over the errors above
/// 1000 ε, when there are at least three). Returns the largest
/// error/tolerance ratio.
pub fn check_tolerance_proportionality<T: Real, M: Stepper<T>>(
    method: &M,
) -> Result<f64, CheckFailure> {
    let kmax = if T::epsilon().as_f64() > 1e-10 { 5 } else { 10 };
    let mut worst: f64 = 0.0;
    for p in PROBLEMS {
        let mut integ = Integrator::new(method.clone());
        let sys = rhs_t::<T>(p);
        let exact = (p.exact)(p.span.1);
        // Errors within a few hundred ε are rounding, not truncation: they do not count for
        // the trend.
        let floor = 1e3 * T::epsilon().as_f64();
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for k in 3..=kmax {
            let tol = 10f64.powi(-k);
            let sol = integ
                .solve(
                    &sys,
                    p.span.0,
                    p.span.1,
                    &to_t::<T>(p.y0),
                    &Options::default().rtol(tol).atol(tol),
                )
                .map_err(|e| CheckFailure {
                    check: "tolerance proportionality",
                    message: format!("{}: {}", p.name, e),
                })?;
            let err = max_err(&sol.y_final, &exact);
            if err > 100.0 * tol {
                return fail(
                    "tolerance proportionality",
                    format!("{}: error {err:.3e} at tol {tol:.0e}", p.name),
                );
            }
            worst = worst.max(err / tol);
            if err > floor {
                xs.push(tol.ln());
                ys.push(err.ln());
            }
        }
        // The error falls with the tolerance: the fitted slope of log(error) against
        // log(tol) is clearly positive (a single tolerance may be lucky, the trend may not).
        if xs.len() >= 3 {
            let slope = fit_slope(&xs, &ys);
            if slope.is_nan() || slope <= 0.5 {
                return fail(
                    "tolerance proportionality",
                    format!("{}: error falls with slope {slope:.3} only", p.name),
                );
            }
        }
    }
    Ok(worst)
}

/// Solves each kit problem forward over its span and back again (adaptive, tol 1e-10 for
/// f64, 1e-5 for f32; or fixed steps of span/1000 for methods without an error estimator).
/// Passes when the initial state is recovered to `1e-6` (f64) or `1e-2` (f32). Returns the
/// largest round-trip error.
pub fn check_round_trip<T: Real, M: Stepper<T>>(method: &M) -> Result<f64, CheckFailure> {
    let f32ish = T::epsilon().as_f64() > 1e-10;
    let (tol, bound) = if f32ish { (1e-5, 1e-2) } else { (1e-10, 1e-6) };
    let mut worst: f64 = 0.0;
    for p in PROBLEMS {
        let mut integ = Integrator::new(method.clone());
        let sys = rhs_t::<T>(p);
        let mut opts = Options::default().rtol(tol).atol(tol);
        if method.error_order().is_none() {
            opts = opts.fixed_step((p.span.1 - p.span.0) / 1000.0);
        }
        let fwd = integ
            .solve(&sys, p.span.0, p.span.1, &to_t::<T>(p.y0), &opts)
            .map_err(|e| CheckFailure {
                check: "round trip",
                message: format!("{} forward: {}", p.name, e),
            })?;
        let back = integ
            .solve(&sys, p.span.1, p.span.0, &fwd.y_final, &opts)
            .map_err(|e| CheckFailure {
                check: "round trip",
                message: format!("{} backward: {}", p.name, e),
            })?;
        let err = max_err(&back.y_final, p.y0);
        if err.is_nan() || err > bound {
            return fail(
                "round trip",
                format!(
                    "{}: recovered y0 to {err:.3e} only (bound {bound:.0e})",
                    p.name
                ),
            );
        }
        worst = worst.max(err);
    }
    Ok(worst)
}

/// Checks the dense output of each kit problem:
/// - at step ends it equals the step values (to 100 ε);
/// - with fixed steps it converges inside steps at order `min(order, dense_order + 1)` (the
///   fitted slope of the interior error may fall at most 0.3 below it; f64 only);
/// - when the interpolant's order matches the method's (`dense_order + 1 ≥ order`), an
///   adaptive solve at tol = 1e-8 (1e-4 for f32) has interior errors within `1000 · tol`
///   of the exact solution and of a solve stopped exactly at the query time.
///
/// Returns the largest interior error of the adaptive part (or 0 when it does not apply).
pub fn check_dense_output<T: Real, M: Stepper<T>>(method: &M) -> Result<f64, CheckFailure> {
    let f32ish = T::epsilon().as_f64() > 1e-10;
    let tol = if f32ish { 1e-4 } else { 1e-8 };
    let bound = 1000.0 * tol;
    let own_interpolant = method.dense_order() + 1 >= method.order();
    let err_of = |e: ode_solvers_error::Any| CheckFailure {
        check: "dense output",
        message: e.0,
    };
    let mut worst: f64 = 0.0;
    for p in PROBLEMS {
        let mut integ = Integrator::new(method.clone());
        let sys = rhs_t::<T>(p);
        let y0 = to_t::<T>(p.y0);
        let adaptive = method.error_order().is_some();
        let mut opts = Options::default()
            .rtol(tol)
            .atol(tol)
            .dense(true)
            .save_at(SaveAt::Steps);
        if !adaptive {
            opts = opts.fixed_step((p.span.1 - p.span.0) / 200.0);
        }
        let sol = integ
            .solve(&sys, p.span.0, p.span.1, &y0, &opts)
            .map_err(|e| err_of(e.into()))?;
        let dense = sol.dense.as_ref().expect("dense solution requested");
        let scale = T::epsilon().as_f64() * 100.0;
        for (t, y) in sol.iter() {
            let d = dense.eval(t).map_err(|e| err_of(e.into()))?;
            let yf: Vec<f64> = y.iter().map(|v| v.as_f64()).collect();
            if max_err(&d, &yf) > scale {
                return fail(
                    "dense output",
                    format!(
                        "{}: dense output at step end t={t} differs from the step value",
                        p.name
                    ),
                );
            }
        }
        if own_interpolant {
            for i in 1..20 {
                let tq = p.span.0 + (p.span.1 - p.span.0) * (i as f64 / 20.0 + 0.013);
                let d = dense.eval(tq).map_err(|e| err_of(e.into()))?;
                let err = max_err(&d, &(p.exact)(tq));
                if err > bound {
                    return fail(
                        "dense output",
                        format!("{}: interior error {err:.3e} at t={tq}", p.name),
                    );
                }
                let stopped = integ
                    .solve(&sys, p.span.0, tq, &y0, &opts)
                    .map_err(|e| err_of(e.into()))?;
                let sf: Vec<f64> = stopped.y_final.iter().map(|v| v.as_f64()).collect();
                let diff = max_err(&d, &sf);
                if diff > bound {
                    return fail(
                        "dense output",
                        format!(
                            "{}: dense vs stopped solve differ by {diff:.3e} at t={tq}",
                            p.name
                        ),
                    );
                }
                worst = worst.max(err);
            }
        }
        if !f32ish {
            let want = method.order().min(method.dense_order() + 1);
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for k in 0..40 {
                let steps = 4 * (2f64.powf(k as f64 / 4.0)).round() as usize;
                if steps > 100_000 {
                    break;
                }
                let h = (p.span.1 - p.span.0) / steps as f64;
                let o = Options::default()
                    .fixed_step(h)
                    .dense(true)
                    .max_steps(usize::MAX);
                let sol = integ
                    .solve(&sys, p.span.0, p.span.1, &y0, &o)
                    .map_err(|e| err_of(e.into()))?;
                let dense = sol.dense.as_ref().expect("dense solution requested");
                let mut err: f64 = 0.0;
                for frac in [0.25, 0.5, 0.9] {
                    let i = (steps as f64 * frac).floor();
                    let tq = p.span.0 + (i + 0.37) * h;
                    let d = dense.eval(tq).map_err(|e| err_of(e.into()))?;
                    err = err.max(max_err(&d, &(p.exact)(tq)));
                }
                if err < 1e-12 || err < 30.0 * steps as f64 * T::epsilon().as_f64() {
                    break;
                }
                xs.push(h.ln());
                ys.push(err.ln());
            }
            let keep = xs.len().saturating_sub(8);
            if xs.len() - keep >= 4 {
                let slope = fit_slope(&xs[keep..], &ys[keep..]);
                if slope < want as f64 - 0.3 {
                    return fail(
                        "dense output",
                        format!(
                            "{}: interior error converges at order {slope:.3}, expected {want}",
                            p.name
                        ),
                    );
                }
            }
        }
    }
    Ok(worst)
}

/// Error messages of the solver, for the checks.
mod ode_solvers_error {
    /// Any error, as its message.
    pub(super) struct Any(pub(super) String);
    impl<T: crate::Real> From<crate::SolveFailure<T>> for Any {
        fn from(e: crate::SolveFailure<T>) -> Self {
            Any(e.to_string())
        }
    }
    impl From<crate::SolveError> for Any {
        fn from(e: crate::SolveError) -> Self {
            Any(e.to_string())
        }
    }
}

/// Runs every check that applies to `method` (the adaptive ones only when it has an error
/// estimator) and returns a one-line summary per check.
pub fn run_all<T: Real, M: Stepper<T>>(
    method: &M,
    order: u32,
) -> Result<Vec<String>, CheckFailure> {
    let mut out = vec![format!(
        "convergence order: {:.3}",
        check_convergence_order(method, order)?
    )];
    if method.error_order().is_some() {
        out.push(format!(
            "error/tol at most: {:.3}",
            check_tolerance_proportionality(method)?
        ));
    }
    out.push(format!(
        "round trip error: {:.3e}",
        check_round_trip(method)?
    ));
    out.push(format!(
        "dense output error: {:.3e}",
        check_dense_output(method)?
    ));
    Ok(out)
}
