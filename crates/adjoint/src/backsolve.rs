//! The adjoint method (paper, Algorithm 1, with several observation times): a backward solve
//! of the augmented system `s = [z, a, a_θ, a_t]`.

use std::cell::{Cell, RefCell};

use ode_solvers::{Integrator, Options, Real, SaveAt, SolveError, Stepper, Tolerance, WarmStart};

use crate::error::error_time;
use crate::odeint::{find_tableau, AdjointOptions, Gradients, Trajectory};
use crate::quadrature::FixedQuadrature;
use crate::{AdjointError, Dynamics, GradStats, Pass, PassStats, Result};

/// Runs the backward pass of [`crate::GradMethod::Adjoint`].
///
/// From `t_N` back to `t_0`, interval by interval: at each `t_i` the reconstructed `z` is
/// reset to the stored `z(t_i)`, `∂L/∂z(t_i)` is added into `a`, and `dL/dt_i = ∂L/∂z(t_i) ·
/// f(z(t_i), t_i)` is subtracted from `a_t` (for `i ≥ 1`); then
/// `ds/dt = [f, -aᵀ∂f/∂z, -aᵀ∂f/∂θ, -aᵀ∂f/∂t]` is solved to `t_{i-1}`. At `t_0`:
/// `dL/dz0 = a + ∂L/∂z(t_0)`, `dL/dθ = a_θ`, `dL/dt_0 = a_t`.
///
/// With fixed steps and a backward method whose tableau is known (an [`ode_solvers::ExplicitRk`]
/// or [`ode_solvers::Dop853`]), `a_θ` and `a_t` are integrated as a quadrature beside `[z, a]`
/// ([`crate::quadrature`]): the same discretisation, with stage vectors of length `2·dim`
/// instead of `2·dim + P + 1`. Otherwise the whole augmented state goes through the integrator.
///
/// The solves of successive intervals share one integrator with [`WarmStart::KeepStep`]: the
/// state jumps at every `t_i`, so the derivative there is evaluated afresh, but the step size
/// reached on the previous interval is kept instead of running the initial-step heuristic.
pub(crate) fn backsolve<T, D, M, B>(
    traj: &Trajectory<'_, T, D, M, B>,
    ao: &AdjointOptions,
    dl_dz: &[T],
) -> Result<Gradients<T>>
where
    T: Real,
    D: Dynamics<T> + ?Sized,
    M: Stepper<T>,
    B: Stepper<T>,
{
    let dynamics = traj.dynamics;
    let theta = &traj.theta[..];
    let ts = &traj.ts;
    let n = traj.dim;
    let p = theta.len();
    let len = 2 * n + p + 1;
    let vjps = Cell::new(0usize);
    // The product is linear in its cotangent and negation is exact, so the product with `-a`
    // is bit for bit the negated product with `a`: negating the `n` entries of `a` replaces
    // negating the `n + p + 1` entries of the result.
    let neg_a = RefCell::new(vec![T::zero(); n]);
    let sys = |t: f64, s: &[T], ds: &mut [T]| {
        let (z, rest) = s.split_at(n);
        let a = &rest[..n];
        let (dz, rest) = ds.split_at_mut(n);
        let (da, rest) = rest.split_at_mut(n);
        let (dth, dt) = rest.split_at_mut(p);
        let mut neg_a = neg_a.borrow_mut();
        for (m, &v) in neg_a.iter_mut().zip(a) {
            *m = -v;
        }
        dt[0] = dynamics.vjp(t, z, theta, &neg_a, dz, da, dth);
        vjps.set(vjps.get() + 1);
    };

    // Tolerances: z and a under error control; a_θ and a_t too unless the seminorm is asked
    // for (weight +∞: atol = ∞ with rtol = 0, so that ∞·0 never appears). Fixed steps control
    // no error, so they need no per-component vectors.
    let fixed = ao.fixed_step.or(traj.fixed_step);
    let (rtol, atol) = if ao.seminorm && fixed.is_none() {
        let mut rtol = vec![ao.rtol; len];
        let mut atol = vec![ao.atol; len];
        for i in 2 * n..len {
            rtol[i] = 0.0;
            atol[i] = f64::INFINITY;
        }
        (Tolerance::PerComponent(rtol), Tolerance::PerComponent(atol))
    } else {
        (Tolerance::Scalar(ao.rtol), Tolerance::Scalar(ao.atol))
    };
    let mut opts = Options::default()
        .rtol(rtol)
        .atol(atol)
        .max_steps(ao.max_steps)
        .save_at(SaveAt::Final)
        .warm_start(WarmStart::KeepStep);
    if let Some(dt) = fixed {
        opts = opts.fixed_step(dt);
    }

    // With fixed steps and a method whose tableau is known, `a_θ` and `a_t` are integrated as
    // a quadrature beside `[z, a]` (`crate::quadrature`); otherwise the whole augmented state
    // goes through the integrator.
    let mut quad = fixed.and_then(|dt| {
        find_tableau::<T, B>(&traj.backward_method, None)
            .ok()
            .map(|tab| FixedQuadrature::<T>::new(tab, n, p, dt))
    });
    let mut integ = Integrator::new(traj.backward_method.clone());
    let nt = ts.len();
    let mut s = vec![T::zero(); len];
    let mut f = vec![T::zero(); n];
    let mut dts = vec![0.0; nt];
    let mut backward = PassStats::default();
    let fail = |error: SolveError, t: f64, from: f64, to: f64| match dynamics.take_error() {
        Some(message) => AdjointError::Dynamics {
            pass: Pass::Backward,
            t,
            message,
        },
        None => AdjointError::Solve {
            pass: Pass::Backward,
            t,
            from,
            to,
            source: error,
        },
    };
    for i in (1..nt).rev() {
        let zi = &traj.zs[i * n..(i + 1) * n];
        let gi = &dl_dz[i * n..(i + 1) * n];
        // Reset z to the stored forward state; jump a by ∂L/∂z(t_i).
        s[..n].copy_from_slice(zi);
        for (a, &g) in s[n..2 * n].iter_mut().zip(gi) {
            *a += g;
        }
        // dL/dt_i = ∂L/∂z(t_i) · f(z(t_i), t_i); a_t jumps by -dL/dt_i.
        if gi.iter().any(|g| *g != T::zero()) {
            dynamics.eval(ts[i], zi, theta, &mut f);
            backward.nfe += 1;
            let d: f64 = gi.iter().zip(&f).map(|(g, v)| (*g * *v).as_f64()).sum();
            dts[i] = d;
            s[len - 1] -= T::from_f64(d);
        }
        if let Some(q) = &mut quad {
            let steps = q
                .solve(dynamics, theta, ts[i], ts[i - 1], &mut s, ao.max_steps)
                .map_err(|(e, t)| fail(e, t, ts[i], ts[i - 1]))?;
            backward.accepted += steps;
            continue;
        }
        let sol = integ
            .solve(&sys, ts[i], ts[i - 1], &s, &opts)
            .map_err(|e| {
                let t = error_time(&e.error, e.partial.t_final);
                fail(e.error, t, ts[i], ts[i - 1])
            })?;
        backward.accepted += sol.stats.accepted;
        backward.rejected += sol.stats.rejected;
        s.copy_from_slice(&sol.y_final);
    }
    if let Some(message) = dynamics.take_error() {
        return Err(AdjointError::Dynamics {
            pass: Pass::Backward,
            t: ts[0],
            message,
        });
    }
    backward.vjps = vjps.get() + quad.as_ref().map_or(0, |q| q.vjps);
    let mut dz0 = s[n..2 * n].to_vec();
    for (d, &g) in dz0.iter_mut().zip(&dl_dz[..n]) {
        *d += g;
    }
    dts[0] = s[len - 1].as_f64();
    Ok(Gradients {
        dz0,
        dtheta: s[2 * n..2 * n + p].to_vec(),
        dts,
        stats: GradStats {
            backward,
            ..GradStats::default()
        },
    })
}
