//! Batch gradients: per-sample mode equals single solves bit for bit and does not depend on
//! the thread count; shared steps agree within tolerance; a diverging sample is reported and
//! the others kept.

use adjoint::batch::{per_sample, shared_step, BatchError};
use adjoint::{odeint, AdjointError, AdjointOptions, Dynamics, GradMethod};
use ode_solvers::{tableau, ExplicitRk, Options};

use crate::common::{mlp, mlp_theta, pseudo_random, rel_err, D};

const TS: [f64; 4] = [0.0, 0.3, 0.7, 1.2];
const N: usize = 12;

/// L_i = Σ_j w_ij · z_i(t_j) with fixed weights per sample.
fn loss(i: usize, z: &[f64], dl: &mut [f64]) -> f64 {
    let w = pseudo_random(100 + i as u64, z.len());
    dl.copy_from_slice(&w);
    z.iter().zip(&w).map(|(a, b)| a * b).sum()
}

fn z0s() -> Vec<f64> {
    pseudo_random(7, N * D)
}

fn methods() -> [GradMethod; 3] {
    [
        GradMethod::Adjoint(AdjointOptions::default().rtol(1e-9).atol(1e-11)),
        GradMethod::direct(),
        GradMethod::checkpointed(3),
    ]
}

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
}

#[test]
fn per_sample_equals_single_solves_bit_for_bit() {
    let theta = mlp_theta(3);
    let z0 = z0s();
    let m = ExplicitRk::new(&tableau::DOPRI5);
    let opts = Options::default().rtol(1e-8).atol(1e-10);
    for g in methods() {
        let got = per_sample(|| mlp(1), &z0, &theta, &TS, &m, &opts, g, loss).unwrap();
        assert!(got.failed().is_empty());
        for i in 0..N {
            let f = mlp(1);
            let traj = odeint(
                &f,
                &z0[i * D..(i + 1) * D],
                &theta,
                &TS,
                m.clone(),
                &opts,
                g,
            )
            .unwrap();
            let mut dl = vec![0.0; TS.len() * D];
            let l = loss(i, traj.states(), &mut dl);
            let want = traj.backward(&dl).unwrap();
            let s = got.samples[i].as_ref().unwrap();
            assert_eq!(s.loss.to_bits(), l.to_bits());
            assert_eq!(s.states, traj.states());
            assert_eq!(s.grads.dz0, want.dz0, "{g:?} sample {i}");
            assert_eq!(s.grads.dtheta, want.dtheta, "{g:?} sample {i}");
            assert_eq!(s.grads.dts, want.dts, "{g:?} sample {i}");
        }
    }
}

#[test]
fn per_sample_sums_are_the_same_for_1_2_and_8_threads() {
    let theta = mlp_theta(5);
    let z0 = z0s();
    let m = ExplicitRk::new(&tableau::TSIT5);
    let opts = Options::default().rtol(1e-7).atol(1e-9);
    let run = |threads: usize| {
        pool(threads).install(|| {
            per_sample(
                || mlp(1),
                &z0,
                &theta,
                &TS,
                &m,
                &opts,
                GradMethod::adjoint(),
                loss,
            )
            .unwrap()
            .sum()
            .unwrap()
        })
    };
    let one = run(1);
    for t in [2, 8] {
        let other = run(t);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&other.dtheta), bits(&one.dtheta), "{t} threads");
        assert_eq!(bits(&other.dz0), bits(&one.dz0), "{t} threads");
        assert_eq!(other.loss.to_bits(), one.loss.to_bits());
        assert_eq!(other.stats.forward.nfe, one.stats.forward.nfe);
    }
}

#[test]
fn shared_steps_agree_with_per_sample_within_tolerance() {
    let theta = mlp_theta(9);
    let z0 = z0s();
    let m = ExplicitRk::new(&tableau::DOPRI5);
    let opts = Options::default().rtol(1e-10).atol(1e-12);
    for g in [
        GradMethod::direct(),
        GradMethod::Adjoint(AdjointOptions::default().rtol(1e-10).atol(1e-12)),
    ] {
        let each = per_sample(|| mlp(1), &z0, &theta, &TS, &m, &opts, g, loss)
            .unwrap()
            .sum()
            .unwrap();
        let shared = shared_step(&mlp(1), &z0, &theta, &TS, &m, &opts, g, loss).unwrap();
        assert!((shared.loss - each.loss).abs() < 1e-8 * each.loss.abs().max(1.0));
        assert!(rel_err(&shared.dtheta, &each.dtheta) < 1e-7, "{g:?}");
        assert!(rel_err(&shared.dz0, &each.dz0) < 1e-7, "{g:?}");
        assert!(rel_err(&shared.dts, &each.dts) < 1e-7, "{g:?}");
    }
}

/// `dz/dt = θ z²`: blows up at t = 1/(θ z0) for z0 > 0.
struct Square;

impl Dynamics<f64> for Square {
    fn dim(&self) -> usize {
        1
    }
    fn num_params(&self) -> usize {
        1
    }
    fn eval(&self, _t: f64, z: &[f64], th: &[f64], dz: &mut [f64]) {
        dz[0] = th[0] * z[0] * z[0];
    }
    fn vjp(
        &self,
        _t: f64,
        z: &[f64],
        th: &[f64],
        a: &[f64],
        f: &mut [f64],
        a_z: &mut [f64],
        a_th: &mut [f64],
    ) -> f64 {
        f[0] = th[0] * z[0] * z[0];
        a_z[0] = a[0] * 2.0 * th[0] * z[0];
        a_th[0] = a[0] * z[0] * z[0];
        0.0
    }
}

#[test]
fn a_diverging_sample_is_reported_and_the_others_kept() {
    // z0 = 2 blows up at t = 0.5 < 1; the others stay finite: z(1) = z0 / (1 - z0).
    let z0 = [0.1, 0.5, 2.0, 0.25];
    let m = ExplicitRk::new(&tableau::DOPRI5);
    let opts = Options::default().rtol(1e-10).atol(1e-12).max_steps(10_000);
    let l = |_i: usize, z: &[f64], dl: &mut [f64]| {
        dl[1] = 1.0;
        z[1]
    };
    let got = per_sample(
        || Square,
        &z0,
        &[1.0],
        &[0.0, 1.0],
        &m,
        &opts,
        GradMethod::direct(),
        l,
    )
    .unwrap();
    assert_eq!(got.failed(), vec![2]);
    assert!(matches!(
        got.samples[2],
        Err(AdjointError::Solve { .. } | AdjointError::Dynamics { .. })
    ));
    for &i in &[0usize, 1, 3] {
        let s = got.samples[i].as_ref().unwrap();
        let z = z0[i];
        // z(1) = z0/(1 - θ z0); dz(1)/dz0 = 1/(1 - θ z0)²; dz(1)/dθ = z0²/(1 - θ z0)².
        assert!((s.states[1] - z / (1.0 - z)).abs() < 1e-8);
        assert!((s.grads.dz0[0] - 1.0 / (1.0 - z).powi(2)).abs() < 1e-7);
        assert!((s.grads.dtheta[0] - z * z / (1.0 - z).powi(2)).abs() < 1e-7);
    }
    match got.sum() {
        Err(BatchError::Sample { index: Some(2), .. }) => {}
        other => panic!("expected sample 2's error, got {other:?}"),
    }
    // Shared steps cannot keep the others: the one solve fails and says so.
    let shared = shared_step(
        &Square,
        &z0,
        &[1.0],
        &[0.0, 1.0],
        &m,
        &opts,
        GradMethod::direct(),
        l,
    );
    assert!(matches!(
        shared,
        Err(BatchError::Sample { index: None, .. })
    ));
}

#[test]
fn bad_batches_are_rejected() {
    let m = ExplicitRk::new(&tableau::DOPRI5);
    let opts = Options::default();
    let l = |_i: usize, _z: &[f64], _dl: &mut [f64]| 0.0;
    let g = GradMethod::direct();
    let r = per_sample(
        || mlp(1),
        &[0.0; D + 1],
        &mlp_theta(1),
        &TS,
        &m,
        &opts,
        g,
        l,
    );
    assert!(matches!(r, Err(BatchError::Shape { found, dim: D }) if found == D + 1));
    let r = per_sample(|| mlp(1), &[], &mlp_theta(1), &TS, &m, &opts, g, l);
    assert!(matches!(r, Err(BatchError::Empty)));
    let r = shared_step(&mlp(1), &[0.0; D + 1], &mlp_theta(1), &TS, &m, &opts, g, l);
    assert!(matches!(r, Err(BatchError::Shape { .. })));
}
