//! Butcher tableaux of the explicit Runge–Kutta methods, each with its source.
//!
//! ```text
//!  c_0 |
//!  c_1 | a_10
//!  c_2 | a_20  a_21
//!   .  |  .     .    .
//!  ----+--------------------
//!      | b_0   b_1  ...  b_{s-1}      solution weights (order `order`)
//!      | e_0   e_1  ...  e_{s-1}      error weights e = b - b̂ (embedded pairs only)
//! ```
//!
//! A tableau checks itself ([`Tableau::check`]): row sums equal `c`, the weights sum to one and
//! the error weights to zero. Whether a method is FSAL (first same as last) is derived from
//! the coefficients ([`Tableau::is_fsal`]), never declared.

// Coefficients are kept with the digits of their published sources.
#![allow(clippy::excessive_precision)]

/// How a method interpolates inside a step (its dense output).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Interpolant {
    /// Cubic Hermite interpolation from the states and derivatives at both step ends
    /// (order 3); used by methods without a continuous extension of their own.
    Hermite,
    /// The continuous extension of order 4 for Dormand–Prince 5(4) by Shampine (1986), in the
    /// form of Hairer's DOPRI5 code.
    Dopri5,
    /// Weights that are polynomials in θ ∈ [0, 1]: `y(t + θh) = y0 + h Σ_i b_i(θ) k_i` with
    /// `b_i(θ) = Σ_j p[i][j] θ^(j+1)`. `p[i]` lists the coefficients of θ¹, θ², ….
    ThetaPolynomial(&'static [&'static [f64]]),
}

/// The Butcher tableau of an explicit Runge–Kutta method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tableau {
    /// Short name, as used on the command line (`dopri5`).
    pub name: &'static str,
    /// Where the coefficients come from.
    pub citation: &'static str,
    /// Order of the propagated solution.
    pub order: u32,
    /// Order of the embedded solution used for the error estimate (`None`: fixed step only).
    pub error_order: Option<u32>,
    /// Nodes `c_i`, one per stage.
    pub c: &'static [f64],
    /// Strictly lower-triangular coefficients: row `i` holds `a_i0 … a_i(i-1)`.
    pub a: &'static [&'static [f64]],
    /// Solution weights `b_i`.
    pub b: &'static [f64],
    /// Error weights `e_i = b_i - b̂_i` of the embedded pair, if any.
    pub e: Option<&'static [f64]>,
    /// The dense output used inside a step.
    pub interpolant: Interpolant,
}

impl Tableau {
    /// Number of stages.
    pub fn stages(&self) -> usize {
        self.c.len()
    }

    /// Whether the last stage is evaluated at the new solution (`c = 1`, last row of `a`
    /// equal to `b`, last weight zero), so that it can serve as the next step's first stage.
    pub fn is_fsal(&self) -> bool {
        let s = self.stages();
        s >= 2
            && self.c[s - 1] == 1.0
            && self.b[s - 1] == 0.0
            && self.a[s - 1].iter().zip(self.b).all(|(a, b)| a == b)
    }

    /// Checks the tableau's consistency: shapes, `c_0 = 0`, row sums equal to `c`, weights
    /// summing to one, error weights to zero, and interpolant weights that reproduce `b` at
    /// θ = 1. Returns a description of the first violation.
    pub fn check(&self) -> Result<(), String> {
        let s = self.stages();
        let tol = 1e-13;
        if s == 0 || self.a.len() != s || self.b.len() != s {
            return Err(format!("{}: inconsistent number of stages", self.name));
        }
        if self.c[0] != 0.0 {
            return Err(format!(
                "{}: c_0 must be 0 for an explicit method",
                self.name
            ));
        }
        for (i, row) in self.a.iter().enumerate() {
            if row.len() != i {
                return Err(format!(
                    "{}: row {i} of a has {} entries",
                    self.name,
                    row.len()
                ));
            }
            let sum: f64 = row.iter().sum();
            if (sum - self.c[i]).abs() > tol * (1.0 + self.c[i].abs()) * 10.0 {
                return Err(format!(
                    "{}: row {i} sums to {sum}, c_{i} = {}",
                    self.name, self.c[i]
                ));
            }
        }
        let bsum: f64 = self.b.iter().sum();
        if (bsum - 1.0).abs() > tol * 10.0 {
            return Err(format!("{}: weights sum to {bsum}", self.name));
        }
        if let Some(e) = self.e {
            if e.len() != s {
                return Err(format!("{}: error weights have wrong length", self.name));
            }
            let esum: f64 = e.iter().sum();
            if esum.abs() > tol * 10.0 {
                return Err(format!("{}: error weights sum to {esum}", self.name));
            }
            if self.error_order.is_none() {
                return Err(format!(
                    "{}: error weights without an error order",
                    self.name
                ));
            }
        } else if self.error_order.is_some() {
            return Err(format!("{}: error order without error weights", self.name));
        }
        if let Interpolant::ThetaPolynomial(p) = self.interpolant {
            if p.len() != s {
                return Err(format!(
                    "{}: interpolant has wrong number of rows",
                    self.name
                ));
            }
            for (i, row) in p.iter().enumerate() {
                let at_one: f64 = row.iter().sum();
                if (at_one - self.b[i]).abs() > 1e-12 {
                    return Err(format!(
                        "{}: interpolant weight {i} at θ=1 is {at_one}, b = {}",
                        self.name, self.b[i]
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Forward Euler, order 1.
pub const EULER: Tableau = Tableau {
    name: "euler",
    citation: "L. Euler, Institutionum calculi integralis, vol. 1 (1768); Hairer, Nørsett, Wanner, Solving ODEs I, §II.1",
    order: 1,
    error_order: None,
    c: &[0.0],
    a: &[&[]],
    b: &[1.0],
    e: None,
    interpolant: Interpolant::Hermite,
};

/// Explicit midpoint rule, order 2.
pub const MIDPOINT: Tableau = Tableau {
    name: "midpoint",
    citation:
        "C. Runge, Math. Ann. 46 (1895) 167-178; Hairer, Nørsett, Wanner, Solving ODEs I, §II.1",
    order: 2,
    error_order: None,
    c: &[0.0, 0.5],
    a: &[&[], &[0.5]],
    b: &[0.0, 1.0],
    e: None,
    interpolant: Interpolant::Hermite,
};

/// Heun's method (explicit trapezoidal rule), order 2.
pub const HEUN: Tableau = Tableau {
    name: "heun",
    citation: "K. Heun, Z. Math. Phys. 45 (1900) 23-38",
    order: 2,
    error_order: None,
    c: &[0.0, 1.0],
    a: &[&[], &[1.0]],
    b: &[0.5, 0.5],
    e: None,
    interpolant: Interpolant::Hermite,
};

/// Ralston's second-order method (minimum truncation-error bound).
pub const RALSTON: Tableau = Tableau {
    name: "ralston",
    citation:
        "A. Ralston, Runge-Kutta methods with minimum error bounds, Math. Comp. 16 (1962) 431-437",
    order: 2,
    error_order: None,
    c: &[0.0, 2.0 / 3.0],
    a: &[&[], &[2.0 / 3.0]],
    b: &[0.25, 0.75],
    e: None,
    interpolant: Interpolant::Hermite,
};

/// The classic fourth-order Runge–Kutta method.
pub const RK4: Tableau = Tableau {
    name: "rk4",
    citation: "W. Kutta, Z. Math. Phys. 46 (1901) 435-453",
    order: 4,
    error_order: None,
    c: &[0.0, 0.5, 0.5, 1.0],
    a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    e: None,
    interpolant: Interpolant::Hermite,
};

/// Bogacki–Shampine 3(2), FSAL.
pub const BOSH3: Tableau = Tableau {
    name: "bosh3",
    citation: "P. Bogacki, L. F. Shampine, A 3(2) pair of Runge-Kutta formulas, Appl. Math. Lett. 2 (1989) 321-325",
    order: 3,
    error_order: Some(2),
    c: &[0.0, 0.5, 0.75, 1.0],
    a: &[&[], &[0.5], &[0.0, 0.75], &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0]],
    b: &[2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0],
    // b - b̂ with b̂ = (7/24, 1/4, 1/3, 1/8).
    e: Some(&[2.0 / 9.0 - 7.0 / 24.0, 1.0 / 3.0 - 0.25, 4.0 / 9.0 - 1.0 / 3.0, -0.125]),
    interpolant: Interpolant::Hermite,
};

/// Dormand–Prince 5(4), FSAL, with Shampine's dense output of order 4.
pub const DOPRI5: Tableau = Tableau {
    name: "dopri5",
    citation: "J. R. Dormand, P. J. Prince, A family of embedded Runge-Kutta formulae, J. Comput. Appl. Math. 6 (1980) 19-26; \
               dense output: L. F. Shampine, Some practical Runge-Kutta formulas, Math. Comp. 46 (1986) 135-150",
    order: 5,
    error_order: Some(4),
    c: &[0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0],
    a: &[
        &[],
        &[0.2],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
        &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
        &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
    ],
    b: &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0],
    e: Some(&[
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ]),
    interpolant: Interpolant::Dopri5,
};

/// Shampine's dense-output coefficients for [`DOPRI5`] (Hairer's `d1 … d7`; `d2 = 0`).
pub(crate) const DOPRI5_DENSE: [f64; 7] = [
    -12715105075.0 / 11282082432.0,
    0.0,
    87487479700.0 / 32700410799.0,
    -10690763975.0 / 1880347072.0,
    701980252875.0 / 199316789632.0,
    -1453857185.0 / 822651844.0,
    69997945.0 / 29380423.0,
];

/// Tsitouras 5(4), FSAL, with its own interpolant of order 4.
pub const TSIT5: Tableau = Tableau {
    name: "tsit5",
    citation: "Ch. Tsitouras, Runge-Kutta pairs of order 5(4) satisfying only the first column simplifying assumption, \
               Comput. Math. Appl. 62 (2011) 770-775",
    order: 5,
    error_order: Some(4),
    c: &[0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0],
    a: &[
        &[],
        &[0.161],
        &[-0.008480655492356989, 0.335480655492357],
        &[2.8971530571054935, -6.359448489975075, 4.3622954328695815],
        &[5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525],
        &[5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401, -0.028269050394068383],
        &[0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774],
    ],
    b: &[0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081, 2.324710524099774, 0.0],
    e: Some(&[
        -0.00178001105222577714,
        -0.0008164344596567469,
        0.007880878010261995,
        -0.1447110071732629,
        0.5823571654525552,
        -0.45808210592918697,
        1.0 / 66.0,
    ]),
    interpolant: Interpolant::ThetaPolynomial(&[
        &[1.0, -2.763706197274826, 2.9132554618219126, -1.0530884977290216],
        &[0.0, 0.13169999999999998, -0.2234, 0.1017],
        &[0.0, 3.9302962368947516, -5.941033872131505, 2.490627285651253],
        &[0.0, -12.411077166933676, 30.33818863028232, -16.548102889244902],
        &[0.0, 37.50931341651104, -88.1789048947664, 47.37952196281928],
        &[0.0, -27.896526289197286, 65.09189467479366, -34.87065786149661],
        &[0.0, 1.5, -4.0, 2.5],
    ]),
};

/// Every tableau of this crate that [`crate::ExplicitRk`] runs directly (DOP853 has its own
/// stepper, [`crate::Dop853`], because of its two error estimators and extra dense stages).
pub const ALL: [&Tableau; 8] = [
    &EULER, &MIDPOINT, &HEUN, &RALSTON, &RK4, &BOSH3, &DOPRI5, &TSIT5,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tableau_is_consistent() {
        for t in ALL {
            t.check().unwrap();
        }
    }

    #[test]
    fn fsal_is_derived() {
        assert!(DOPRI5.is_fsal());
        assert!(TSIT5.is_fsal());
        assert!(BOSH3.is_fsal());
        for t in [&EULER, &MIDPOINT, &HEUN, &RALSTON, &RK4] {
            assert!(!t.is_fsal(), "{}", t.name);
        }
    }

    #[test]
    fn check_catches_a_bad_row_sum() {
        let mut bad = RK4;
        bad.c = &[0.0, 0.5, 0.4, 1.0];
        assert!(bad.check().is_err());
        let mut bad = BOSH3;
        bad.e = Some(&[0.1, 0.0, 0.0, 0.0]);
        assert!(bad.check().is_err());
    }

    /// The order conditions up to order 4 for the fourth- and fifth-order methods: a check of
    /// the coefficients independent of any solve.
    #[test]
    fn order_conditions_hold() {
        for t in [&RK4, &DOPRI5, &TSIT5] {
            let s = t.stages();
            let a = |i: usize, j: usize| if j < i { t.a[i][j] } else { 0.0 };
            let b = t.b;
            let c = t.c;
            let sum = |f: &dyn Fn(usize) -> f64| (0..s).map(f).sum::<f64>();
            let ac = |i: usize| sum(&|j| a(i, j) * c[j]);
            let conds = [
                (sum(&|i| b[i] * c[i]), 0.5),
                (sum(&|i| b[i] * c[i] * c[i]), 1.0 / 3.0),
                (sum(&|i| b[i] * ac(i)), 1.0 / 6.0),
                (sum(&|i| b[i] * c[i].powi(3)), 0.25),
                (sum(&|i| b[i] * c[i] * ac(i)), 1.0 / 8.0),
                (sum(&|i| b[i] * sum(&|j| a(i, j) * c[j] * c[j])), 1.0 / 12.0),
                (sum(&|i| b[i] * sum(&|j| a(i, j) * ac(j))), 1.0 / 24.0),
            ];
            for (k, (got, want)) in conds.iter().enumerate() {
                assert!(
                    (got - want).abs() < 1e-12,
                    "{} condition {k}: {got} vs {want}",
                    t.name
                );
            }
        }
    }
}
