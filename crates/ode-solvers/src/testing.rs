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
        y0: &[1.0, 0.0],
        rhs: decaying_rotation,
        exact: decaying_rotation_exact,
    },
    KitProblem { name: "cos-growth", span: (0.0, 3.0), y0: &[1.0], rhs: time_dependent, exact: time_dependent_exact },
    KitProblem { name: "logistic", span: (0.0, 4.0), y0: &[0.1], rhs: nonlinear, exact: nonlinear_exact },
];

fn to_t<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// Max-norm error of `y` against `exact`, relative to `max(1, |exact|)`.
fn max_err<T: Real>(y: &[T], exact: &[f64]) -> f64 {
    y.iter().zip(exact).map(|(a, b)| (a.as_f64() - b).abs() / b.abs().max(1.0)).fold(0.0, f64::max)
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
/// keeps the errors in the asymptotic range (1e-11 … 1e-4 for f64, 1e-5 … 1e-2 for f32), and fits the slope of log(error)
/// against log(h). Passes when every problem's slope is within 0.2 of `order`; returns the
/// smallest slope.
pub fn check_convergence_order<T: Real, M: Stepper<T>>(method: &M, order: u32) -> Result<f64, CheckFailure> {
    let f32ish = T::epsilon().as_f64() > 1e-10;
    // Keep errors between rounding (the floor) and the end of the pre-asymptotic range.
    let (floor, upper) = if f32ish { (1e-5, 1e-2) } else { (1e-11, 1e-4) };
    let mut worst = f64::INFINITY;
    for p in PROBLEMS {
        let mut integ = Integrator::new(method.clone());
        let sys = rhs_t::<T>(p);
        let exact = (p.exact)(p.span.1);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for k in 0..40 {
            // Step counts grow by sqrt(2): more points per decade of error.
            let steps = (4.0 * 2f64.powf(k as f64 / 2.0)).round() as usize;
            let h = (p.span.1 - p.span.0) / steps as f64;
            let opts = Options::default().fixed_step(h);
            let sol = match integ.solve(&sys, p.span.0, p.span.1, &to_t::<T>(p.y0), &opts) {
                Ok(s) => s,
                Err(e) => return fail("convergence order", format!("{}: solve failed: {}", p.name, e)),
            };
            let err = max_err(&sol.y_final, &exact);
            if err < floor || steps > 200_000 {
                break;
            }
            if err < upper {
                xs.push(h.ln());
                ys.push(err.ln());
            }
        }
        if xs.len() < 3 {
            return fail("convergence order", format!("{}: only {} points in the asymptotic range", p.name, xs.len()));
        }
        let slope = fit_slope(&xs, &ys);
        if (slope - order as f64).abs() > 0.2 {
            return fail(
                "convergence order",
                format!("{}: fitted order {slope:.3}, expected {order} ({} points)", p.name, xs.len()),
            );
        }
        worst = worst.min(slope);
    }
    Ok(worst)
}

/// Adaptive solves of every kit problem at `rtol = atol = 10^-k`, k = 3 … 10 (f64; 3 … 5 for
/// f32). Passes when the error falls as the tolerance falls (each tightening by 10x shrinks
/// the error, allowing 2x noise) and the error stays below `100 · tol` (relative). Returns
/// the largest error/tolerance ratio.
pub fn check_tolerance_proportionality<T: Real, M: Stepper<T>>(method: &M) -> Result<f64, CheckFailure> {
    let kmax = if T::epsilon().as_f64() > 1e-10 { 5 } else { 10 };
    let mut worst: f64 = 0.0;
    for p in PROBLEMS {
        let mut integ = Integrator::new(method.clone());
        let sys = rhs_t::<T>(p);
        let exact = (p.exact)(p.span.1);
        let mut prev = f64::INFINITY;
        let first = integ.solve(&sys, p.span.0, p.span.1, &to_t::<T>(p.y0), &Options::default().rtol(1e-3).atol(1e-3));
        let first_err = match first {
            Ok(s) => max_err(&s.y_final, &exact),
            Err(e) => return fail("tolerance proportionality", format!("{}: {}", p.name, e)),
        };
        let mut last_err = first_err;
        for k in 3..=kmax {
            let tol = 10f64.powi(-k);
            let sol = integ
                .solve(&sys, p.span.0, p.span.1, &to_t::<T>(p.y0), &Options::default().rtol(tol).atol(tol))
                .map_err(|e| CheckFailure { check: "tolerance proportionality", message: format!("{}: {}", p.name, e) })?;
            let err = max_err(&sol.y_final, &exact);
            if err > 100.0 * tol {
                return fail("tolerance proportionality", format!("{}: error {err:.3e} at tol {tol:.0e}", p.name));
            }
            if err > 2.0 * prev && err > 1e3 * T::epsilon().as_f64() {
                return fail(
                    "tolerance proportionality",
                    format!("{}: error grew from {prev:.3e} to {err:.3e} at tol {tol:.0e}", p.name),
                );
            }
            worst = worst.max(err / tol);
            prev = err;
            last_err = err;
        }
        if !(last_err < first_err / 10.0 || last_err < 1e3 * T::epsilon().as_f64()) {
            return fail(
                "tolerance proportionality",
                format!("{}: error went from {first_err:.3e} to only {last_err:.3e}", p.name),
            );
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
            .map_err(|e| CheckFailure { check: "round trip", message: format!("{} forward: {}", p.name, e) })?;
        let back = integ
            .solve(&sys, p.span.1, p.span.0, &fwd.y_final, &opts)
            .map_err(|e| CheckFailure { check: "round trip", message: format!("{} backward: {}", p.name, e) })?;
        let err = max_err(&back.y_final, p.y0);
        if !(err <= bound) {
            return fail("round trip", format!("{}: recovered y0 to {err:.3e} only (bound {bound:.0e})", p.name));
        }
        worst = worst.max(err);
    }
    Ok(worst)
}

/// Checks the dense output of each kit problem: at step ends it equals the step values; at
/// interior times it is within `1000 · tol` of the exact solution (tol = 1e-8 for f64, 1e-4
/// for f32); and it agrees with a solve stopped exactly at the query time to the same bound.
/// Returns the largest interior error.
pub fn check_dense_output<T: Real, M: Stepper<T>>(method: &M) -> Result<f64, CheckFailure> {
    let f32ish = T::epsilon().as_f64() > 1e-10;
    let tol = if f32ish { 1e-4 } else { 1e-8 };
    let bound = 1000.0 * tol;
    let mut worst: f64 = 0.0;
    for p in PROBLEMS {
        let mut integ = Integrator::new(method.clone());
        let sys = rhs_t::<T>(p);
        let mut opts = Options::default().rtol(tol).atol(tol).dense(true).save_at(SaveAt::Steps);
        if method.error_order().is_none() {
            opts = opts.fixed_step((p.span.1 - p.span.0) / 200.0);
        }
        let sol = integ
            .solve(&sys, p.span.0, p.span.1, &to_t::<T>(p.y0), &opts)
            .map_err(|e| CheckFailure { check: "dense output", message: format!("{}: {}", p.name, e) })?;
        let dense = sol.dense.as_ref().expect("dense solution requested");
        let scale = T::epsilon().as_f64() * 100.0;
        for (t, y) in sol.iter() {
            let d = dense.eval(t).map_err(|e| CheckFailure { check: "dense output", message: e.to_string() })?;
            let yf: Vec<f64> = y.iter().map(|v| v.as_f64()).collect();
            if max_err(&d, &yf) > scale {
                return fail("dense output", format!("{}: dense output at step end t={t} differs from the step value", p.name));
            }
        }
        for i in 1..20 {
            let tq = p.span.0 + (p.span.1 - p.span.0) * (i as f64 / 20.0 + 0.013);
            let d = dense.eval(tq).map_err(|e| CheckFailure { check: "dense output", message: e.to_string() })?;
            let err = max_err(&d, &(p.exact)(tq));
            if err > bound {
                return fail("dense output", format!("{}: interior error {err:.3e} at t={tq}", p.name));
            }
            let stopped = integ
                .solve(&sys, p.span.0, tq, &to_t::<T>(p.y0), &opts)
                .map_err(|e| CheckFailure { check: "dense output", message: e.to_string() })?;
            let sf: Vec<f64> = stopped.y_final.iter().map(|v| v.as_f64()).collect();
            let diff = max_err(&d, &sf);
            if diff > bound {
                return fail("dense output", format!("{}: dense vs stopped solve differ by {diff:.3e} at t={tq}", p.name));
            }
            worst = worst.max(err);
        }
    }
    Ok(worst)
}

/// Runs every check that applies to `method` (the adaptive ones only when it has an error
/// estimator) and returns a one-line summary per check.
pub fn run_all<T: Real, M: Stepper<T>>(method: &M, order: u32) -> Result<Vec<String>, CheckFailure> {
    let mut out = vec![format!("convergence order: {:.3}", check_convergence_order(method, order)?)];
    if method.error_order().is_some() {
        out.push(format!("error/tol at most: {:.3}", check_tolerance_proportionality(method)?));
    }
    out.push(format!("round trip error: {:.3e}", check_round_trip(method)?));
    out.push(format!("dense output error: {:.3e}", check_dense_output(method)?));
    Ok(out)
}
