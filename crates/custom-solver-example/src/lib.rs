//! An outside solver crate: two methods defined on the public `ode-solvers` traits, without
//! touching that crate, and run by its driver (adaptive loop, dense output, events,
//! statistics).
//!
//! - [`Ssprk3`]: the strong-stability-preserving Runge–Kutta method of order 3 of Shu and
//!   Osher, written by hand in its convex-combination form as a [`Stepper`] (fixed step;
//!   cubic Hermite dense output from the trait's defaults).
//! - [`CASH_KARP`]: the Cash–Karp 5(4) embedded pair as a [`Tableau`] constant, run by the
//!   generic [`ode_solvers::ExplicitRk`] with adaptive steps.
//!
//! Both pass the conformance kit of `ode-solvers` (feature `testing`) in this crate's tests.
//!
//! ```
//! use custom_solver_example::{Ssprk3, CASH_KARP};
//! use ode_solvers::{ExplicitRk, Integrator, Options};
//!
//! let sys = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -y[0];
//! let fixed = Integrator::new(Ssprk3).solve(&sys, 0.0, 1.0, &[1.0], &Options::default().fixed_step(1e-3)).unwrap();
//! let adaptive = Integrator::new(ExplicitRk::new(&CASH_KARP)).solve(&sys, 0.0, 1.0, &[1.0], &Options::default()).unwrap();
//! let exact = (-1.0f64).exp();
//! assert!((fixed.y_final[0] - exact).abs() < 1e-9);
//! assert!((adaptive.y_final[0] - exact).abs() < 1e-7);
//! ```
#![deny(missing_docs)]

use ode_solvers::tableau::Interpolant;
use ode_solvers::{ErrorScale, OdeSystem, Real, StepReport, Stepper, Tableau};

/// Shu–Osher SSPRK(3,3), order 3 (C.-W. Shu, S. Osher, "Efficient implementation of
/// essentially non-oscillatory shock-capturing schemes", J. Comput. Phys. 77 (1988) 439-471):
///
/// ```text
/// u1 = y0 + h f(t, y0)
/// u2 = 3/4 y0 + 1/4 (u1 + h f(t + h, u1))
/// y1 = 1/3 y0 + 2/3 (u2 + h f(t + h/2, u2))
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Ssprk3;

/// Scratch memory of [`Ssprk3`]: one stage state and one derivative.
#[derive(Debug, Clone)]
pub struct Ssprk3Workspace<T> {
    u: Vec<T>,
    k: Vec<T>,
}

impl<T: Real> Stepper<T> for Ssprk3 {
    type Workspace = Ssprk3Workspace<T>;

    fn name(&self) -> &'static str {
        "ssprk3"
    }

    fn order(&self) -> u32 {
        3
    }

    fn error_order(&self) -> Option<u32> {
        None
    }

    fn workspace(&self, dim: usize) -> Ssprk3Workspace<T> {
        Ssprk3Workspace {
            u: vec![T::zero(); dim],
            k: vec![T::zero(); dim],
        }
    }

    fn step<S: OdeSystem<T> + ?Sized>(
        &self,
        sys: &S,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        _f1: &mut [T],
        _scale: Option<ErrorScale<'_>>,
        ws: &mut Ssprk3Workspace<T>,
    ) -> StepReport {
        let ht = T::from_f64(h);
        let (q3, q1) = (T::from_f64(0.75), T::from_f64(0.25));
        let (t3, t23) = (T::from_f64(1.0 / 3.0), T::from_f64(2.0 / 3.0));
        for ((u, &y), &f) in ws.u.iter_mut().zip(y0).zip(f0) {
            *u = y + ht * f;
        }
        sys.rhs(t + h, &ws.u, &mut ws.k);
        for ((u, &y), &k) in ws.u.iter_mut().zip(y0).zip(&ws.k) {
            *u = q3 * y + q1 * (*u + ht * k);
        }
        sys.rhs(t + 0.5 * h, &ws.u, &mut ws.k);
        for (((out, &y), &u), &k) in y1.iter_mut().zip(y0).zip(&ws.u).zip(&ws.k) {
            *out = t3 * y + t23 * (u + ht * k);
        }
        StepReport {
            nfe: 2,
            f1_valid: false,
            err: 0.0,
        }
    }
}

/// Cash–Karp 5(4) (J. R. Cash, A. H. Karp, "A variable order Runge-Kutta method for initial
/// value problems with rapidly varying right-hand sides", ACM Trans. Math. Softw. 16 (1990)
/// 201-222), with cubic Hermite dense output.
pub const CASH_KARP: Tableau = Tableau {
    name: "cash-karp",
    citation: "J. R. Cash, A. H. Karp, ACM Trans. Math. Softw. 16 (1990) 201-222",
    order: 5,
    error_order: Some(4),
    c: &[0.0, 0.2, 0.3, 0.6, 1.0, 0.875],
    a: &[
        &[],
        &[0.2],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[0.3, -0.9, 1.2],
        &[-11.0 / 54.0, 2.5, -70.0 / 27.0, 35.0 / 27.0],
        &[
            1631.0 / 55296.0,
            175.0 / 512.0,
            575.0 / 13824.0,
            44275.0 / 110592.0,
            253.0 / 4096.0,
        ],
    ],
    b: &[
        37.0 / 378.0,
        0.0,
        250.0 / 621.0,
        125.0 / 594.0,
        0.0,
        512.0 / 1771.0,
    ],
    // b - b̂ with the fourth-order weights b̂ = (2825/27648, 0, 18575/48384, 13525/55296,
    // 277/14336, 1/4).
    e: Some(&[
        37.0 / 378.0 - 2825.0 / 27648.0,
        0.0,
        250.0 / 621.0 - 18575.0 / 48384.0,
        125.0 / 594.0 - 13525.0 / 55296.0,
        -277.0 / 14336.0,
        512.0 / 1771.0 - 0.25,
    ]),
    interpolant: Interpolant::Hermite,
};

/// SSPRK(3,3) as a Butcher tableau, to check the hand-written [`Ssprk3`] against the generic
/// stepper.
pub const SSPRK3_TABLEAU: Tableau = Tableau {
    name: "ssprk3-tableau",
    citation: "C.-W. Shu, S. Osher, J. Comput. Phys. 77 (1988) 439-471",
    order: 3,
    error_order: None,
    c: &[0.0, 1.0, 0.5],
    a: &[&[], &[1.0], &[0.25, 0.25]],
    b: &[1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0],
    e: None,
    interpolant: Interpolant::Hermite,
};
