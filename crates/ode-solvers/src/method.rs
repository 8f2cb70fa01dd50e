//! Choosing a method by name at run time.

use std::fmt;
use std::str::FromStr;

use crate::{
    tableau, Dop853, ExplicitRk, Integrator, OdeSystem, Options, Real, Solution, SolveFailure,
};

/// The methods of this crate, for choosing one at run time (command line, configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Forward Euler (order 1, fixed step).
    Euler,
    /// Explicit midpoint (order 2, fixed step).
    Midpoint,
    /// Heun (order 2, fixed step).
    Heun,
    /// Ralston (order 2, fixed step).
    Ralston,
    /// Classic Runge–Kutta (order 4, fixed step).
    Rk4,
    /// Bogacki–Shampine 3(2).
    Bosh3,
    /// Dormand–Prince 5(4).
    Dopri5,
    /// Tsitouras 5(4).
    Tsit5,
    /// Dormand–Prince 8(5,3).
    Dop853,
}

/// An unknown method name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown method '{0}' (known: euler, midpoint, heun, ralston, rk4, bosh3, dopri5, tsit5, dop853)")]
pub struct UnknownMethod(pub String);

impl Method {
    /// Every method.
    pub const ALL: [Method; 9] = [
        Method::Euler,
        Method::Midpoint,
        Method::Heun,
        Method::Ralston,
        Method::Rk4,
        Method::Bosh3,
        Method::Dopri5,
        Method::Tsit5,
        Method::Dop853,
    ];

    /// The method's short name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Dop853 => "dop853",
            m => m.tableau().map(|t| t.name).unwrap_or("?"),
        }
    }

    /// The tableau, for the methods [`ExplicitRk`] runs.
    pub fn tableau(self) -> Option<&'static tableau::Tableau> {
        Some(match self {
            Method::Euler => &tableau::EULER,
            Method::Midpoint => &tableau::MIDPOINT,
            Method::Heun => &tableau::HEUN,
            Method::Ralston => &tableau::RALSTON,
            Method::Rk4 => &tableau::RK4,
            Method::Bosh3 => &tableau::BOSH3,
            Method::Dopri5 => &tableau::DOPRI5,
            Method::Tsit5 => &tableau::TSIT5,
            Method::Dop853 => return None,
        })
    }

    /// Order of the method.
    pub fn order(self) -> u32 {
        match self {
            Method::Dop853 => 8,
            m => m.tableau().map(|t| t.order).unwrap_or(0),
        }
    }

    /// Whether the method has an error estimator (can run with adaptive steps).
    pub fn is_adaptive(self) -> bool {
        match self {
            Method::Dop853 => true,
            m => m.tableau().is_some_and(|t| t.error_order.is_some()),
        }
    }

    /// Solves with this method; see [`Integrator::solve`].
    ///
    /// ```
    /// use ode_solvers::{Method, Options};
    /// let sys = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -y[0];
    /// let m: Method = "tsit5".parse().unwrap();
    /// let sol = m.solve(&sys, 0.0, 1.0, &[1.0], &Options::default().rtol(1e-10).atol(1e-12)).unwrap();
    /// assert!((sol.y_final[0] - (-1.0f64).exp()).abs() < 1e-9);
    /// ```
    pub fn solve<T: Real, S: OdeSystem<T> + ?Sized>(
        self,
        sys: &S,
        t0: f64,
        t1: f64,
        y0: &[T],
        opts: &Options,
    ) -> Result<Solution<T>, SolveFailure<T>> {
        match self.tableau() {
            Some(tab) => Integrator::new(ExplicitRk::new(tab)).solve(sys, t0, t1, y0, opts),
            None => Integrator::new(Dop853::new()).solve(sys, t0, t1, y0, opts),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = UnknownMethod;
    fn from_str(s: &str) -> Result<Self, UnknownMethod> {
        let lower = s.to_ascii_lowercase();
        Method::ALL
            .into_iter()
            .find(|m| m.name() == lower)
            .ok_or(UnknownMethod(s.to_string()))
    }
}
