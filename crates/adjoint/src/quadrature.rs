//! The fixed-step adjoint backsolve with the parameter gradient as a quadrature.
//!
//! In the augmented system `s = [z, a, a_θ, a_t]` the last two parts never feed back: the
//! derivatives `-aᵀ∂f/∂θ` and `-aᵀ∂f/∂t` depend on `z` and `a` only. An explicit Runge–Kutta
//! step of the whole system therefore gives `a_θ` and `a_t` the increments `h Σ_i b_i g_i`,
//! where `g_i` is the product at stage `i`, and their values at the intermediate stages are
//! never used. With a fixed step nothing controls their error either, so a step needs
//! them only as that weighted sum: this module steps the `2·dim` components of `[z, a]` with
//! the method's tableau and adds each stage's product into `a_θ` and `a_t` as it is computed.
//!
//! Against stepping the whole augmented state through the generic integrator that saves
//! - memory: the stage vectors have length `2·dim` instead of `2·dim + P + 1` (with many
//!   parameters, most of the adjoint's working memory), and
//! - work: the stage inputs and the update of `a_θ` (the intermediate combinations, the
//!   final combination and the finiteness checks over `P` values per step): one scaled
//!   addition of `P` values per stage remains.
//!
//! The step times follow the integrator's fixed-step rule ([`ode_solvers::fixed_step_count`]
//! steps, the last one landing on the end of the interval), and the same stages are
//! evaluated: every stage that enters the update (a first-same-as-last stage, whose weight is
//! zero, is the next step's first stage, evaluated there).

use ode_solvers::{Real, SolveError, Tableau};

use crate::Dynamics;

/// The buffers and coefficients of fixed-step backward solves with one tableau.
pub(crate) struct FixedQuadrature<T> {
    n: usize,
    dt: f64,
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    s: usize,
    /// Whether stage `i` influences the update (directly or through a later stage).
    needed: Vec<bool>,
    /// The stages of `[z, a]`, `s × 2·dim`.
    k: Vec<T>,
    /// A stage input.
    y: Vec<T>,
    /// `-a` of the stage input (the product with `-a` is the negated product, exactly).
    neg_a: Vec<T>,
    /// A stage's `-aᵀ∂f/∂θ`.
    g: Vec<T>,
    /// Products evaluated, over every solve.
    pub(crate) vjps: usize,
}

impl<T: Real> FixedQuadrature<T> {
    /// Buffers for states of `dim` components and `p` parameters, steps of size `dt > 0`.
    pub(crate) fn new(tab: &Tableau, dim: usize, p: usize, dt: f64) -> Self {
        let s = tab.stages();
        let mut a = vec![0.0; s * s];
        for (i, row) in tab.a.iter().enumerate() {
            a[i * s..i * s + row.len()].copy_from_slice(row);
        }
        let mut needed = vec![false; s];
        for i in (0..s).rev() {
            needed[i] = tab.b[i] != 0.0 || (i + 1..s).any(|j| needed[j] && a[j * s + i] != 0.0);
        }
        FixedQuadrature {
            n: dim,
            dt: dt.abs(),
            a,
            b: tab.b.to_vec(),
            c: tab.c.to_vec(),
            s,
            needed,
            k: vec![T::zero(); s * 2 * dim],
            y: vec![T::zero(); 2 * dim],
            neg_a: vec![T::zero(); dim],
            g: vec![T::zero(); p],
            vjps: 0,
        }
    }

    /// Solves the augmented system `state = [z, a, a_θ, a_t]` (length `2·dim + P + 1`) from
    /// `t0` to `t1` in place with fixed steps. Returns the number of steps, or the error and
    /// the time reached.
    pub(crate) fn solve<D: Dynamics<T> + ?Sized>(
        &mut self,
        dynamics: &D,
        theta: &[T],
        t0: f64,
        t1: f64,
        state: &mut [T],
        max_steps: usize,
    ) -> Result<usize, (SolveError, f64)> {
        let n2 = 2 * self.n;
        let p = self.g.len();
        let steps = ode_solvers::fixed_step_count(t0, t1, self.dt).ok_or((
            SolveError::InvalidOption {
                what: "fixed_step",
                value: self.dt,
            },
            t0,
        ))?;
        let (za, rest) = state.split_at_mut(n2);
        let (a_theta, a_t) = rest.split_at_mut(p);
        let a_t = &mut a_t[0];
        let h_nominal = self.dt * (t1 - t0).signum();
        let mut t = t0;
        for step in 0..steps {
            if step >= max_steps {
                return Err((SolveError::MaxStepsExceeded { t, max_steps }, t));
            }
            let t_new = if step + 1 == steps { t1 } else { t + h_nominal };
            // The step spans exactly [t, t_new], as in the integrator.
            let h = t_new - t;
            for i in 0..self.s {
                if !self.needed[i] {
                    continue;
                }
                let (done, rest) = self.k.split_at_mut(i * n2);
                let ki = &mut rest[..n2];
                let input: &[T] = if i == 0 {
                    za
                } else {
                    // `y = za + h Σ_j a_ij k_j`, the first term fused with the copy of `za`.
                    let mut first = true;
                    for j in 0..i {
                        let aij = self.a[i * self.s + j];
                        if aij == 0.0 {
                            continue;
                        }
                        let cj = T::from_f64(h * aij);
                        let kj = &done[j * n2..(j + 1) * n2];
                        if first {
                            for ((o, &x), &v) in self.y.iter_mut().zip(za.iter()).zip(kj) {
                                *o = x + cj * v;
                            }
                            first = false;
                        } else {
                            for (o, &v) in self.y.iter_mut().zip(kj) {
                                *o += cj * v;
                            }
                        }
                    }
                    if first {
                        self.y.copy_from_slice(za);
                    }
                    &self.y
                };
                let (z, a) = input.split_at(self.n);
                for (m, &v) in self.neg_a.iter_mut().zip(a) {
                    *m = -v;
                }
                let (kz, ka) = ki.split_at_mut(self.n);
                let at = dynamics.vjp(
                    t + self.c[i] * h,
                    z,
                    theta,
                    &self.neg_a,
                    kz,
                    ka,
                    &mut self.g,
                );
                self.vjps += 1;
                if self.b[i] != 0.0 {
                    let w = T::from_f64(h * self.b[i]);
                    for (o, &v) in a_theta.iter_mut().zip(&self.g) {
                        *o += w * v;
                    }
                    *a_t += w * at;
                }
            }
            for i in 0..self.s {
                if self.b[i] == 0.0 {
                    continue;
                }
                let w = T::from_f64(h * self.b[i]);
                for (o, &v) in za.iter_mut().zip(&self.k[i * n2..(i + 1) * n2]) {
                    *o += w * v;
                }
            }
            if !za.iter().all(|v| v.is_finite()) {
                return Err((SolveError::NonFiniteState { t: t_new }, t_new));
            }
            t = t_new;
        }
        // The quadrature parts are checked once per interval (a non-finite product there
        // leaves `[z, a]` finite).
        if !(a_t.is_finite() && a_theta.iter().all(|v| v.is_finite())) {
            return Err((SolveError::NonFiniteState { t: t1 }, t1));
        }
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::FixedQuadrature;
    use crate::Linear;
    use ode_solvers::tableau;

    /// `z' = λz` with `θ = λ`, one RK4 step of size `h` backward from `t = h` to 0 with
    /// `a(h) = 1`: the discrete map of the augmented system in closed form. With `x = -λh`
    /// (the backward step is `-h`), `z` and `a` follow `z' = λz`, `a' = -λa`, so
    /// `a(0) = R(λh)` and `z(0) = R(-λh)·z(h)` where `R(x) = 1 + x + x²/2 + x³/6 + x⁴/24`;
    /// `a_θ' = -a z` gives `a_θ(0) = -(-h) Σ b_i a_i z_i` over the stage values.
    #[test]
    fn one_rk4_step_matches_its_closed_form() {
        let (lam, h, z1) = (0.7f64, 0.1f64, 1.3f64);
        let mut q = FixedQuadrature::<f64>::new(&tableau::RK4, 1, 1, h);
        let mut s = [z1, 1.0, 0.0, 0.0];
        let steps = q
            .solve(&Linear::new(1), &[lam], h, 0.0, &mut s, 10)
            .unwrap();
        assert_eq!(steps, 1);
        let r = |x: f64| 1.0 + x + x * x / 2.0 + x.powi(3) / 6.0 + x.powi(4) / 24.0;
        assert!((s[0] - r(-lam * h) * z1).abs() < 1e-15);
        assert!((s[1] - r(lam * h)).abs() < 1e-15);
        // Stage values of the backward step (size -h) for u = (z, a), u' = (λz, -λa).
        let hh = -h;
        let (mut zs, mut as_) = ([0.0; 4], [0.0; 4]);
        let (mut kz, mut ka) = ([0.0; 4], [0.0; 4]);
        let cs = [0.0, 0.5, 0.5, 1.0];
        for i in 0..4 {
            let prev = if i == 0 { 0.0 } else { cs[i] };
            zs[i] = z1 + hh * prev * if i == 0 { 0.0 } else { kz[i - 1] };
            as_[i] = 1.0 + hh * prev * if i == 0 { 0.0 } else { ka[i - 1] };
            kz[i] = lam * zs[i];
            ka[i] = -lam * as_[i];
        }
        let b = [1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0];
        let expect: f64 = (0..4).map(|i| hh * b[i] * -(as_[i] * zs[i])).sum();
        assert!((s[2] - expect).abs() < 1e-15, "{} vs {expect}", s[2]);
        assert_eq!(s[3], 0.0);
        assert_eq!(q.vjps, 4);
    }

    #[test]
    fn the_step_budget_and_non_finite_states_are_errors() {
        let mut q = FixedQuadrature::<f64>::new(&tableau::RK4, 1, 1, 0.1);
        let mut s = [1.0, 1.0, 0.0, 0.0];
        let (e, t) = q
            .solve(&Linear::new(1), &[1.0], 1.0, 0.0, &mut s, 3)
            .unwrap_err();
        assert!(matches!(
            e,
            ode_solvers::SolveError::MaxStepsExceeded { max_steps: 3, .. }
        ));
        assert!((t - 0.7).abs() < 1e-12);
        let mut s = [1.0, 1.0, 0.0, 0.0];
        let (e, _) = q
            .solve(&Linear::new(1), &[f64::NAN], 1.0, 0.0, &mut s, 100)
            .unwrap_err();
        assert!(
            matches!(e, ode_solvers::SolveError::NonFiniteState { t } if (t - 0.9).abs() < 1e-12)
        );
    }
}
