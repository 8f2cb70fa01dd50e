//! dz/dt = A z, L = ½‖z(t1)‖² (and sums over several times): gradients against the matrix
//! exponential (Van Loan's block formula for ∂L/∂A), for all three methods.

use adjoint::{odeint, AdjointOptions, GradMethod, Linear};
use ode_solvers::{tableau, Dop853, ExplicitRk, Options};

use crate::common::{linear_reference, rel_err};

const N: usize = 3;
const A: [f64; 9] = [-0.4, 1.1, 0.2, -0.9, -0.1, 0.5, 0.3, -0.6, -0.2];
const Z0: [f64; 3] = [1.0, -0.5, 0.25];

fn methods() -> Vec<(&'static str, GradMethod)> {
    vec![
        (
            "adjoint",
            GradMethod::Adjoint(AdjointOptions::default().rtol(1e-11).atol(1e-13)),
        ),
        ("direct", GradMethod::direct()),
        ("checkpointed", GradMethod::checkpointed(4)),
    ]
}

/// L = ½‖z(t1)‖²: ∂L/∂z(t1) = z(t1), computed from the forward solve itself.
#[test]
fn half_norm_squared_all_methods() {
    for &(t0, t1) in &[(0.0, 1.3), (0.7, -0.6)] {
        let ts = [t0, t1];
        for (name, gm) in methods() {
            let opts = Options::default().rtol(1e-11).atol(1e-13);
            let lin = Linear::new(N);
            let traj = odeint(
                &lin,
                &Z0,
                &A,
                &ts,
                ExplicitRk::new(&tableau::DOPRI5),
                &opts,
                gm,
            )
            .unwrap();
            let z1 = traj.final_state().to_vec();
            let mut dl = vec![0.0; 2 * N];
            dl[N..].copy_from_slice(&z1);
            let g = traj.backward(&dl).unwrap();
            // The reference takes the exact z(t1) as the weight: w = z1 (exact).
            let (zs, _, _, _) = linear_reference(&A, N, &Z0, &ts, &[0.0; 6]);
            let mut w = vec![0.0; 2 * N];
            w[N..].copy_from_slice(&zs[1]);
            let (_, dz0, da, dts) = linear_reference(&A, N, &Z0, &ts, &w);
            assert!(rel_err(&z1, &zs[1]) < 1e-9, "{name}: z1");
            // For L = ½‖z1‖², dL/dA = Van Loan with C = z1 z0ᵀ, which is what the reference
            // computes with w = z1 (L is quadratic, so its gradient equals that of w·z1 at w = z1).
            let tol = 1e-8;
            assert!(
                rel_err(&g.dz0, &dz0) < tol,
                "{name} {ts:?}: dz0 {:?} vs {:?}",
                g.dz0,
                dz0
            );
            assert!(
                rel_err(&g.dtheta, &da) < tol,
                "{name} {ts:?}: dA {:?} vs {:?}",
                g.dtheta,
                da
            );
            assert!(
                rel_err(&g.dts, &dts) < tol,
                "{name} {ts:?}: dts {:?} vs {:?}",
                g.dts,
                dts
            );
        }
    }
}

/// Several observation times, a loss on each, with DOP853 as the method.
#[test]
fn several_times_dop853() {
    let ts = [0.0, 0.3, 0.75, 1.6];
    let w: Vec<f64> = (0..4 * N)
        .map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.5)
        .collect();
    let (_, dz0, da, dts) = linear_reference(&A, N, &Z0, &ts, &w);
    for (name, gm) in methods() {
        let opts = Options::default().rtol(1e-12).atol(1e-14);
        let lin = Linear::new(N);
        let traj = odeint(&lin, &Z0, &A, &ts, Dop853::new(), &opts, gm).unwrap();
        let g = traj.backward(&w).unwrap();
        let tol = 1e-8;
        assert!(
            rel_err(&g.dz0, &dz0) < tol,
            "{name}: dz0 {:?} vs {:?}",
            g.dz0,
            dz0
        );
        assert!(rel_err(&g.dtheta, &da) < tol, "{name}: dA");
        assert!(
            rel_err(&g.dts, &dts) < tol,
            "{name}: dts {:?} vs {:?}",
            g.dts,
            dts
        );
    }
}

/// f32 states: the same gradients to single precision.
#[test]
fn f32_linear() {
    let ts = [0.0, 0.5, 1.0];
    let w: Vec<f64> = (0..3 * N).map(|i| (i as f64 * 0.37).sin()).collect();
    let (_, dz0, da, dts) = linear_reference(&A, N, &Z0, &ts, &w);
    let a32: Vec<f32> = A.iter().map(|&v| v as f32).collect();
    let z32: Vec<f32> = Z0.iter().map(|&v| v as f32).collect();
    let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
    for (name, gm) in [
        (
            "adjoint",
            GradMethod::Adjoint(AdjointOptions::default().rtol(1e-6).atol(1e-7)),
        ),
        ("direct", GradMethod::direct()),
        ("checkpointed", GradMethod::checkpointed(2)),
    ] {
        let opts = Options::default().rtol(1e-6).atol(1e-7);
        let lin = Linear::new(N);
        let traj = odeint(
            &lin,
            &z32,
            &a32,
            &ts,
            ExplicitRk::new(&tableau::TSIT5),
            &opts,
            gm,
        )
        .unwrap();
        let g = traj.backward(&w32).unwrap();
        let up = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
        assert!(rel_err(&up(&g.dz0), &dz0) < 1e-4, "{name}");
        assert!(rel_err(&up(&g.dtheta), &da) < 1e-4, "{name}");
        assert!(rel_err(&g.dts, &dts) < 1e-4, "{name}");
    }
}

/// The adjoint's adaptive forward pass is one solve that reads the inner `z(t_i)` from dense
/// output: they match the matrix exponential to the tolerance, with fewer evaluations than
/// the interval-by-interval pass of `Direct` (which ends a step on every `t_i`); both ways, and
/// its gradients still match the closed form.
#[test]
fn adjoint_forward_interpolates_the_inner_observation_times() {
    for ts in [
        (0..=20).map(|i| i as f64 * 0.05).collect::<Vec<f64>>(),
        (0..=20).map(|i| 1.0 - i as f64 * 0.05).collect(),
    ] {
        let w: Vec<f64> = (0..ts.len() * N)
            .map(|i| ((i % 7) as f64 - 3.0) * 0.1)
            .collect();
        let (zs_ref, dz0, da, dts) = linear_reference(&A, N, &Z0, &ts, &w);
        let zs_ref: Vec<f64> = zs_ref.concat();
        let opts = Options::default().rtol(1e-10).atol(1e-12);
        let lin = Linear::new(N);
        let dopri = || ExplicitRk::new(&tableau::DOPRI5);
        let adjoint = GradMethod::Adjoint(AdjointOptions::default().rtol(1e-10).atol(1e-12));
        let adj = odeint(&lin, &Z0, &A, &ts, dopri(), &opts, adjoint).unwrap();
        let dir = odeint(&lin, &Z0, &A, &ts, dopri(), &opts, GradMethod::direct()).unwrap();
        assert!(rel_err(adj.states(), &zs_ref) < 1e-8, "states");
        assert!(rel_err(dir.states(), &zs_ref) < 1e-8, "states (direct)");
        let (na, nd) = (adj.forward_stats().nfe, dir.forward_stats().nfe);
        assert!(na < nd, "forward evaluations: adjoint {na}, direct {nd}");
        let g = adj.backward(&w).unwrap();
        assert!(rel_err(&g.dz0, &dz0) < 1e-7, "dz0");
        assert!(rel_err(&g.dtheta, &da) < 1e-7, "dA");
        assert!(rel_err(&g.dts, &dts) < 1e-7, "dts {:?} vs {:?}", g.dts, dts);
    }
}
