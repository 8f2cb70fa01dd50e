//! A time-dependent tanh MLP (through `TapeDynamics`): every gradient, `t_i` included,
//! against central finite differences of the forward solve.

use adjoint::{odeint, AdjointOptions, Dynamics, GradMethod, Gradients};
use ode_solvers::{tableau, Dop853, ExplicitRk, Options, Stepper};

use crate::common::{mlp, mlp_theta, pseudo_random, rel_err, D, P_USED};

const ROWS: usize = 2;
const N: usize = ROWS * D;

fn z0() -> Vec<f64> {
    pseudo_random(11, N)
}

/// L = Σ_i w_i · z(t_i), evaluated by a forward solve.
fn loss<M: Stepper<f64>>(
    method: &M,
    opts: &Options,
    z0: &[f64],
    theta: &[f64],
    ts: &[f64],
    w: &[f64],
) -> f64 {
    let f = mlp(ROWS);
    let traj = odeint(
        &f,
        z0,
        theta,
        ts,
        method.clone(),
        opts,
        GradMethod::adjoint(),
    )
    .unwrap();
    traj.states().iter().zip(w).map(|(a, b)| a * b).sum()
}

/// Central finite differences of `loss` in every input.
fn fd_gradients<M: Stepper<f64>>(
    method: &M,
    opts: &Options,
    theta: &[f64],
    ts: &[f64],
    w: &[f64],
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let z0 = z0();
    let l = |z: &[f64], th: &[f64], t: &[f64]| loss(method, opts, z, th, t, w);
    let mut dz = vec![0.0; N];
    for i in 0..N {
        let (mut p, mut m) = (z0.clone(), z0.clone());
        p[i] += eps;
        m[i] -= eps;
        dz[i] = (l(&p, theta, ts) - l(&m, theta, ts)) / (2.0 * eps);
    }
    let mut dth = vec![0.0; theta.len()];
    for i in 0..theta.len() {
        let (mut p, mut m) = (theta.to_vec(), theta.to_vec());
        p[i] += eps;
        m[i] -= eps;
        dth[i] = (l(&z0, &p, ts) - l(&z0, &m, ts)) / (2.0 * eps);
    }
    let mut dts = vec![0.0; ts.len()];
    for i in 0..ts.len() {
        let (mut p, mut m) = (ts.to_vec(), ts.to_vec());
        p[i] += eps;
        m[i] -= eps;
        dts[i] = (l(&z0, theta, &p) - l(&z0, theta, &m)) / (2.0 * eps);
    }
    (dz, dth, dts)
}

fn grads<M: Stepper<f64>>(
    method: M,
    opts: &Options,
    gm: GradMethod,
    theta: &[f64],
    ts: &[f64],
    w: &[f64],
) -> Gradients<f64> {
    let f = mlp(ROWS);
    let traj = odeint(&f, &z0(), theta, ts, method, opts, gm).unwrap();
    traj.backward(w).unwrap()
}

const TS: [f64; 4] = [0.1, 0.47, 0.83, 1.31];

fn weights() -> Vec<f64> {
    pseudo_random(5, TS.len() * N)
}

/// Adaptive methods at tight tolerance: Adjoint, Direct and Checkpointed against FD of a
/// DOP853 solve at rtol 1e-13.
#[test]
fn all_gradients_against_finite_differences() {
    let theta = mlp_theta(3);
    let w = weights();
    let fd_opts = Options::default().rtol(1e-13).atol(1e-15);
    let (dz, dth, dts) = fd_gradients(&Dop853::new(), &fd_opts, &theta, &TS, &w, 1e-5);
    let opts = Options::default().rtol(1e-11).atol(1e-13);
    for (name, gm) in [
        (
            "adjoint",
            GradMethod::Adjoint(AdjointOptions::default().rtol(1e-11).atol(1e-13)),
        ),
        (
            "adjoint-seminorm",
            GradMethod::Adjoint(
                AdjointOptions::default()
                    .rtol(1e-11)
                    .atol(1e-13)
                    .seminorm(true),
            ),
        ),
        ("direct", GradMethod::direct()),
        ("checkpointed", GradMethod::checkpointed(3)),
    ] {
        let g = grads(
            ExplicitRk::new(&tableau::DOPRI5),
            &opts,
            gm,
            &theta,
            &TS,
            &w,
        );
        let tol = 1e-6;
        assert!(
            rel_err(&g.dz0, &dz) < tol,
            "{name}: dz0 {:e}",
            rel_err(&g.dz0, &dz)
        );
        assert!(
            rel_err(&g.dtheta, &dth) < tol,
            "{name}: dtheta {:e}",
            rel_err(&g.dtheta, &dth)
        );
        assert!(
            rel_err(&g.dts, &dts) < tol,
            "{name}: dts {:?} vs {:?}",
            g.dts,
            dts
        );
    }
}

/// Direct and Checkpointed are the exact gradient of the discrete map: against FD of a
/// fixed-step RK4 solve (smooth in every input) to 1e-7 relative, decreasing times too.
#[test]
fn direct_is_exact_for_fixed_steps() {
    let theta = mlp_theta(8);
    let w = weights();
    for ts in [TS.to_vec(), TS.iter().rev().copied().collect::<Vec<_>>()] {
        let opts = Options::default().fixed_step(0.05);
        let rk4 = ExplicitRk::new(&tableau::RK4);
        let (dz, dth, dts) = fd_gradients(&rk4, &opts, &theta, &ts, &w, 1e-6);
        for (name, gm) in [
            ("direct", GradMethod::direct()),
            ("checkpointed", GradMethod::checkpointed(2)),
        ] {
            let g = grads(rk4.clone(), &opts, gm, &theta, &ts, &w);
            let tol = 1e-7;
            assert!(
                rel_err(&g.dz0, &dz) < tol,
                "{name}: dz0 {:e}",
                rel_err(&g.dz0, &dz)
            );
            assert!(
                rel_err(&g.dtheta, &dth) < tol,
                "{name}: dtheta {:e}",
                rel_err(&g.dtheta, &dth)
            );
            assert!(
                rel_err(&g.dts, &dts) < tol,
                "{name}: dts {:?} vs {:?} ({:e})",
                g.dts,
                dts,
                rel_err(&g.dts, &dts)
            );
        }
    }
}

/// Direct and Checkpointed agree to rounding, whatever the number of checkpoints.
#[test]
fn checkpointed_matches_direct() {
    let theta = mlp_theta(4);
    let w = weights();
    let opts = Options::default().rtol(1e-7).atol(1e-9);
    let m = ExplicitRk::new(&tableau::TSIT5);
    let d = grads(m.clone(), &opts, GradMethod::direct(), &theta, &TS, &w);
    for c in [0, 1, 2, 5, 16, 1000] {
        let g = grads(
            m.clone(),
            &opts,
            GradMethod::checkpointed(c),
            &theta,
            &TS,
            &w,
        );
        assert!(
            rel_err(&g.dz0, &d.dz0) < 1e-12,
            "{c}: {:e}",
            rel_err(&g.dz0, &d.dz0)
        );
        assert!(rel_err(&g.dtheta, &d.dtheta) < 1e-12, "{c}");
        assert!(rel_err(&g.dts, &d.dts) < 1e-12, "{c}");
        assert!(
            g.stats.stored_states <= TS.len() + c,
            "{c}: {}",
            g.stats.stored_states
        );
        assert_eq!(g.stats.forward, d.stats.forward);
    }
}

/// The fewest steps advanced to reverse `l` steps from a held start with `f` more states held
/// at most, by a dynamic programme over every first split (`T(l, f) = min_m m + T(l − m, f − 1)
/// + T(m, f)`, `T(1, f) = 0`, `T(l, 0) = l(l − 1)/2`): independent of the crate's schedule.
fn fewest_advances(l: usize, f: usize) -> usize {
    let mut t = vec![vec![0usize; f + 1]; l + 1];
    for (k, row) in t.iter_mut().enumerate().skip(2) {
        row[0] = k * (k - 1) / 2;
    }
    for g in 1..=f {
        for k in 2..=l {
            t[k][g] = (1..k).map(|m| m + t[k - m][g - 1] + t[m][g]).min().unwrap();
        }
    }
    t[l][f]
}

/// Long segments in few slots: with `c` states at most, the gradients stay those of `Direct`
/// to rounding, no more than `c` states are held at once besides the observed ones, and the
/// backward pass advances no more steps than the optimal binomial schedule (of which the
/// forward pass did the first sweep).
#[test]
fn checkpointed_holds_its_budget_and_recomputes_the_fewest_steps() {
    let theta = mlp_theta(4);
    let m = ExplicitRk::new(&tableau::RK4);
    // 40 + 8 fixed steps, and 40 in one interval.
    let opts = Options::default().fixed_step(0.05);
    for ts in [&[0.0, 2.0, 2.37][..], &[0.0, 2.0][..]] {
        let w = pseudo_random(9, ts.len() * N);
        let d = grads(m.clone(), &opts, GradMethod::direct(), &theta, ts, &w);
        let steps = d.stats.forward.accepted;
        for c in [0, 1, 2, 3, 5, 8, 40, 60] {
            let g = grads(
                m.clone(),
                &opts,
                GradMethod::checkpointed(c),
                &theta,
                ts,
                &w,
            );
            assert!(rel_err(&g.dz0, &d.dz0) < 1e-12, "{c}: dz0");
            assert!(rel_err(&g.dtheta, &d.dtheta) < 1e-12, "{c}: dtheta");
            assert!(rel_err(&g.dts, &d.dts) < 1e-12, "{c}: dts");
            let checkpoints = g.stats.stored_states - ts.len();
            let advanced = g.stats.backward.accepted - steps;
            if c == 0 {
                // No limit: each interval recomputed once, all its states held.
                assert_eq!(checkpoints, 0);
                assert_eq!(g.stats.segment_states, 40);
                assert_eq!(advanced, steps - (ts.len() - 1));
                continue;
            }
            // The forward pass keeps at most `c` checkpoints, and a segment's reversal holds at
            // most `c` states besides its start (a checkpoint or an observed state): `c` minus
            // the checkpoints still held (the schedule's own tests check that bound).
            assert!(checkpoints <= c, "{c}: {checkpoints} checkpoints");
            assert!(
                g.stats.segment_states <= c + 1,
                "{c}: {} segment states",
                g.stats.segment_states
            );
            if ts.len() == 2 {
                assert!(
                    advanced <= fewest_advances(40, c.min(40)),
                    "{c}: {advanced} advanced, optimum {}",
                    fewest_advances(40, c.min(40))
                );
            }
            if c + 1 >= steps {
                // Room for every state: none recomputed.
                assert_eq!(advanced, 0, "{c}");
            }
        }
    }
}

/// A `Checkpointed` backward pass holds recomputed states in the slots of checkpoints it has
/// gone past; a second backward pass on the same trajectory recomputes them first and gives
/// the same gradients (for fixed and adaptive steps, one and several intervals).
#[test]
fn checkpointed_backward_can_be_repeated() {
    let theta = mlp_theta(4);
    let f = mlp(ROWS);
    let cases = [
        (Options::default().fixed_step(0.05), vec![0.0, 2.0]),
        (Options::default().fixed_step(0.05), vec![0.0, 2.0, 2.37]),
        (Options::default().rtol(1e-8).atol(1e-10), TS.to_vec()),
    ];
    for (opts, ts) in cases {
        let solve = |gm| {
            odeint(
                &f,
                &z0(),
                &theta,
                &ts,
                ExplicitRk::new(&tableau::DOPRI5),
                &opts,
                gm,
            )
            .unwrap()
        };
        for c in [1, 3, 8] {
            let traj = solve(GradMethod::checkpointed(c));
            let w1 = pseudo_random(9, ts.len() * N);
            let w2 = pseudo_random(10, ts.len() * N);
            let first = traj.backward(&w1).unwrap();
            let other = traj.backward(&w2).unwrap();
            let again = traj.backward(&w1).unwrap();
            assert!(rel_err(&again.dz0, &first.dz0) < 1e-13, "{c}");
            assert!(rel_err(&again.dtheta, &first.dtheta) < 1e-13, "{c}");
            assert!(rel_err(&again.dts, &first.dts) < 1e-13, "{c}");
            // The other loss against Direct's gradient of it.
            let direct = solve(GradMethod::direct()).backward(&w2).unwrap();
            assert!(rel_err(&other.dtheta, &direct.dtheta) < 1e-12, "{c}");
            assert!(rel_err(&other.dz0, &direct.dz0) < 1e-12, "{c}");
        }
    }
}

/// Adjoint approaches Direct as the tolerance tightens; the seminorm needs fewer backward
/// products for a comparable error.
#[test]
fn adjoint_converges_and_seminorm_saves_work() {
    let theta = mlp_theta(6);
    let w = weights();
    let reference = grads(
        Dop853::new(),
        &Options::default().rtol(1e-13).atol(1e-15),
        GradMethod::direct(),
        &theta,
        &TS,
        &w,
    );
    let mut last = f64::INFINITY;
    for tol in [1e-4, 1e-6, 1e-8, 1e-10] {
        let opts = Options::default().rtol(tol).atol(tol * 1e-2);
        let full = grads(
            ExplicitRk::new(&tableau::DOPRI5),
            &opts,
            GradMethod::Adjoint(AdjointOptions::default().rtol(tol).atol(tol * 1e-2)),
            &theta,
            &TS,
            &w,
        );
        let semi = grads(
            ExplicitRk::new(&tableau::DOPRI5),
            &opts,
            GradMethod::Adjoint(
                AdjointOptions::default()
                    .rtol(tol)
                    .atol(tol * 1e-2)
                    .seminorm(true),
            ),
            &theta,
            &TS,
            &w,
        );
        let e_full = rel_err(&full.dtheta, &reference.dtheta);
        let e_semi = rel_err(&semi.dtheta, &reference.dtheta);
        eprintln!(
            "tol {tol:e}: error full {e_full:.2e} ({} vjps), seminorm {e_semi:.2e} ({} vjps)",
            full.stats.backward.vjps, semi.stats.backward.vjps
        );
        assert!(e_full < last, "error must shrink with the tolerance");
        last = e_full;
        assert!(semi.stats.backward.vjps <= full.stats.backward.vjps);
        assert!(
            e_semi < 20.0 * e_full.max(tol),
            "seminorm error {e_semi:e} vs {e_full:e}"
        );
    }
}

/// Parameters the dynamics never reads get an exact zero gradient in every method.
#[test]
fn unused_parameters_have_zero_gradient() {
    let theta = mlp_theta(9);
    let w = weights();
    let opts = Options::default().rtol(1e-6).atol(1e-8);
    for gm in [
        GradMethod::adjoint(),
        GradMethod::direct(),
        GradMethod::checkpointed(2),
    ] {
        let g = grads(ExplicitRk::new(&tableau::BOSH3), &opts, gm, &theta, &TS, &w);
        assert_eq!(&g.dtheta[P_USED..], &[0.0, 0.0], "{gm:?}");
        assert!(g.dtheta[..P_USED].iter().all(|v| *v != 0.0));
    }
}

/// A loss on some observation times only: zero time gradient for the others (Adjoint: every
/// unused t_i with i ≥ 1; Direct/Checkpointed: the times after the last used one, exactly, and
/// the earlier unused ones at the level of the discretisation error).
#[test]
fn unused_times_have_zero_time_gradient() {
    let theta = mlp_theta(10);
    let mut w = weights();
    // Only t_2 enters the loss.
    for i in [0, 1, 3] {
        w[i * N..(i + 1) * N].fill(0.0);
    }
    let opts = Options::default().rtol(1e-8).atol(1e-10);
    let adj = grads(
        ExplicitRk::new(&tableau::DOPRI5),
        &opts,
        GradMethod::adjoint(),
        &theta,
        &TS,
        &w,
    );
    assert_eq!(adj.dts[1], 0.0);
    assert_eq!(adj.dts[3], 0.0);
    assert!(adj.dts[2] != 0.0 && adj.dts[0] != 0.0);
    for gm in [GradMethod::direct(), GradMethod::checkpointed(1)] {
        let g = grads(
            ExplicitRk::new(&tableau::DOPRI5),
            &opts,
            gm,
            &theta,
            &TS,
            &w,
        );
        assert_eq!(g.dts[3], 0.0);
        assert!(
            g.dts[1].abs() < 1e-6 * g.dts[2].abs().max(1.0),
            "{:?}",
            g.dts
        );
    }
}

/// The tape adapter agrees with its own definition through a finite-difference check of one
/// product (an independent check of the dynamics used above).
#[test]
fn tape_vjp_matches_finite_differences() {
    let f = mlp(ROWS);
    let theta = mlp_theta(2);
    let z = z0();
    let a = pseudo_random(7, N);
    let t = 0.4;
    let (mut fv, mut az, mut ath) = (vec![0.0; N], vec![0.0; N], vec![0.0; theta.len()]);
    let at = f.vjp(t, &z, &theta, &a, &mut fv, &mut az, &mut ath);
    let phi = |z: &[f64], th: &[f64], t: f64| {
        let mut out = vec![0.0; N];
        f.eval(t, z, th, &mut out);
        out.iter().zip(&a).map(|(x, y)| x * y).sum::<f64>()
    };
    let eps = 1e-6;
    for i in 0..N {
        let (mut p, mut m) = (z.clone(), z.clone());
        p[i] += eps;
        m[i] -= eps;
        let fd = (phi(&p, &theta, t) - phi(&m, &theta, t)) / (2.0 * eps);
        assert!((fd - az[i]).abs() < 1e-8);
    }
    let fd_t = (phi(&z, &theta, t + eps) - phi(&z, &theta, t - eps)) / (2.0 * eps);
    assert!((fd_t - at).abs() < 1e-8);
    assert!(f.take_error().is_none());
}

/// `TapeDynamics::with_memory`: with as many passes kept as the method has stages, every
/// vector–Jacobian product of the `Direct` and `Checkpointed` backward sweeps finds the pass of
/// the replay's evaluation at its stage input, except the last stage of each step, which the
/// replay does not evaluate (its product returns `k_s`). The gradients equal those computed
/// without memory bit for bit.
#[test]
fn kept_tape_passes_answer_the_backward_products() {
    let theta = mlp_theta(4);
    let w = weights();
    let opts = Options::default().fixed_step(0.05);
    // (tableau, stages kept, stages that enter y1: Dopri5's seventh has b = 0)
    for (tab, keep, needed) in [(&tableau::RK4, 4, 4), (&tableau::DOPRI5, 7, 6)] {
        for gm in [GradMethod::direct(), GradMethod::checkpointed(3)] {
            let plain = mlp(ROWS);
            let kept = mlp(ROWS).with_memory(keep);
            let run = |f: &adjoint::TapeDynamics<f64, _>| {
                let traj = odeint(f, &z0(), &theta, &TS, ExplicitRk::new(tab), &opts, gm).unwrap();
                let before = f.pass_counts();
                let g = traj.backward(&w).unwrap();
                let after = f.pass_counts();
                (
                    g,
                    after.computed - before.computed,
                    after.reused - before.reused,
                )
            };
            let (g0, computed0, reused0) = run(&plain);
            let (g1, computed1, reused1) = run(&kept);
            assert_eq!(g1.dz0, g0.dz0);
            assert_eq!(g1.dtheta, g0.dtheta);
            assert_eq!(g1.dts, g0.dts);
            let (nfe, vjps) = (g1.stats.backward.nfe, g1.stats.backward.vjps);
            let steps = vjps / needed;
            assert_eq!(vjps, steps * needed);
            // Without memory every evaluation and every product computes a pass.
            assert_eq!(reused0, 0);
            assert_eq!(computed0, g0.stats.backward.nfe + g0.stats.backward.vjps);
            // With it, each request is computed or reused, and all products but one per step
            // reuse the replay's pass.
            assert_eq!(computed1 + reused1, nfe + vjps, "{gm:?}");
            assert!(reused1 >= vjps - steps, "{gm:?}: {reused1} of {vjps}");
            assert!(computed1 <= nfe + steps, "{gm:?}");
            if matches!(gm, GradMethod::Direct { .. }) {
                // The replay evaluates every needed stage but the last.
                assert_eq!(nfe, steps * (needed - 1));
            }
        }
    }
}

/// A kept pass is forgotten when θ changes: the product at the same state with new
/// parameters is recomputed, and agrees with a fresh adapter's.
#[test]
fn kept_tape_passes_follow_theta() {
    let f = mlp(ROWS).with_memory(2);
    let fresh = mlp(ROWS);
    let (z, a) = (z0(), pseudo_random(3, N));
    let th1 = mlp_theta(1);
    let th2 = mlp_theta(2);
    let (mut f1, mut az1, mut ath1) = (vec![0.0; N], vec![0.0; N], vec![0.0; th1.len()]);
    let (mut f2, mut az2, mut ath2) = (f1.clone(), az1.clone(), ath1.clone());
    let mut dz = vec![0.0; N];
    f.eval(0.3, &z, &th1, &mut dz);
    let at = f.vjp(0.3, &z, &th2, &a, &mut f1, &mut az1, &mut ath1);
    let at_want = fresh.vjp(0.3, &z, &th2, &a, &mut f2, &mut az2, &mut ath2);
    assert_eq!((&f1, &az1, &ath1, at), (&f2, &az2, &ath2, at_want));
    assert_eq!(f.pass_counts().reused, 0);
    // Same θ, different time: also a new pass.
    f.vjp(0.4, &z, &th2, &a, &mut f1, &mut az1, &mut ath1);
    assert_eq!(f.pass_counts().reused, 0);
    f.vjp(0.4, &z, &th2, &a, &mut f1, &mut az1, &mut ath1);
    assert_eq!(f.pass_counts().reused, 1);
}
