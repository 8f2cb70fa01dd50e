//! Batched solves: per-sample mode equals single solves exactly, shared-step mode agrees
//! within tolerance, results do not depend on the thread count, failures stay per sample.

use ode_solvers::{batch, tableau, BatchMode, Dop853, ExplicitRk, Integrator, Options, SolveError};

/// Van der Pol with μ per sample: μ_i = 0.5 + 4.5 i / (n - 1).
fn vdp(n: usize) -> impl Fn(usize, f64, &[f64], &mut [f64]) + Sync {
    move |i, _t, y: &[f64], dy: &mut [f64]| {
        let mu = 0.5 + 4.5 * i as f64 / (n - 1) as f64;
        dy[0] = y[1];
        dy[1] = mu * (1.0 - y[0] * y[0]) * y[1] - y[0];
    }
}

fn y0s(n: usize) -> Vec<f64> {
    (0..n).flat_map(|i| [2.0 - 0.1 * i as f64, 0.0]).collect()
}

#[test]
fn per_sample_mode_equals_single_solves_exactly() {
    let n = 12;
    let sys = vdp(n);
    let method = ExplicitRk::new(&tableau::TSIT5);
    let opts = Options::default()
        .rtol(1e-7)
        .atol(1e-9)
        .t_eval(vec![1.0, 5.0, 10.0]);
    let y0 = y0s(n);
    let out = batch::solve(
        &method,
        &sys,
        2,
        &y0,
        0.0,
        10.0,
        &opts,
        BatchMode::PerSample,
    )
    .unwrap();
    for i in 0..n {
        let single = Integrator::new(method.clone())
            .solve(
                &|t: f64, y: &[f64], dy: &mut [f64]| sys(i, t, y, dy),
                0.0,
                10.0,
                &y0[2 * i..2 * i + 2],
                &opts,
            )
            .unwrap();
        let b = out.results[i].as_ref().unwrap();
        assert_eq!(b.y, single.y, "sample {i}");
        assert_eq!(b.stats, single.stats, "sample {i}");
    }
    // Samples take their own steps: stiffer samples (larger μ) take more.
    let steps: Vec<usize> = out
        .results
        .iter()
        .map(|r| r.as_ref().unwrap().stats.accepted)
        .collect();
    assert!(steps[n - 1] > steps[0], "{steps:?}");
}

#[test]
fn shared_step_mode_agrees_within_tolerance() {
    let n = 8;
    let sys = vdp(n);
    let y0 = y0s(n);
    let tol = 1e-8;
    let opts = Options::default().rtol(tol).atol(tol);
    let method = ExplicitRk::new(&tableau::DOPRI5);
    let shared = batch::solve(
        &method,
        &sys,
        2,
        &y0,
        0.0,
        10.0,
        &opts,
        BatchMode::SharedStep,
    )
    .unwrap();
    let tight = Options::default().rtol(1e-13).atol(1e-13);
    let reference = batch::solve(
        &Dop853::new(),
        &sys,
        2,
        &y0,
        0.0,
        10.0,
        &tight,
        BatchMode::PerSample,
    )
    .unwrap();
    let mut worst: f64 = 0.0;
    for i in 0..n {
        let a = &shared.results[i].as_ref().unwrap().y_final;
        let b = &reference.results[i].as_ref().unwrap().y_final;
        for (x, y) in a.iter().zip(b) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst < 1e3 * tol, "{worst:e}");
    // One shared step sequence: every sample reports the same statistics.
    let s0 = shared.results[0].as_ref().unwrap().stats;
    assert!(shared
        .results
        .iter()
        .all(|r| r.as_ref().unwrap().stats == s0));
    assert_eq!(shared.total_stats(), s0);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let n = 32;
    let sys = vdp(n);
    let y0 = y0s(n);
    let opts = Options::default().rtol(1e-6).atol(1e-8);
    let method = ExplicitRk::new(&tableau::DOPRI5);
    let run = |threads: usize, mode: BatchMode| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| batch::solve(&method, &sys, 2, &y0, 0.0, 10.0, &opts, mode).unwrap())
    };
    for mode in [BatchMode::PerSample, BatchMode::SharedStep] {
        let one = run(1, mode);
        for threads in [2, 8] {
            let other = run(threads, mode);
            for (a, b) in one.results.iter().zip(&other.results) {
                assert_eq!(
                    a.as_ref().unwrap().y_final,
                    b.as_ref().unwrap().y_final,
                    "{mode:?} {threads}"
                );
            }
        }
    }
}

#[test]
fn a_diverging_sample_is_reported_and_the_rest_kept() {
    // Sample 3 is y' = y² from 1 (blows up at t = 1); the others decay.
    let sys = |i: usize, _t: f64, y: &[f64], dy: &mut [f64]| {
        dy[0] = if i == 3 { y[0] * y[0] } else { -y[0] }
    };
    let y0 = vec![1.0; 6];
    let out = batch::solve(
        &ExplicitRk::new(&tableau::DOPRI5),
        &sys,
        1,
        &y0,
        0.0,
        2.0,
        &Options::default(),
        BatchMode::PerSample,
    )
    .unwrap();
    assert_eq!(out.failed(), vec![3]);
    let f = out.results[3].as_ref().unwrap_err();
    assert!(matches!(
        f.error,
        SolveError::StepSizeUnderflow { .. } | SolveError::NonFiniteDerivative { .. }
    ));
    assert!(f.partial.t_final > 0.99);
    for i in [0, 1, 2, 4, 5] {
        let y = out.results[i].as_ref().unwrap().y_final[0];
        assert!((y - (-2.0f64).exp()).abs() < 1e-6);
    }
}

#[test]
fn per_sample_spans_and_bad_batches() {
    let sys = |_i: usize, _t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -y[0];
    let m = ExplicitRk::new(&tableau::TSIT5);
    let spans = [(0.0, 1.0), (0.0, 2.0), (1.0, 0.0)];
    let opts = Options::default().rtol(1e-10).atol(1e-12);
    let out = batch::solve_spans(
        &m,
        &sys,
        1,
        &[1.0, 1.0, 1.0],
        &spans,
        &opts,
        BatchMode::PerSample,
    )
    .unwrap();
    let want = [(-1.0f64).exp(), (-2.0f64).exp(), 1.0f64.exp()];
    for (r, w) in out.results.iter().zip(want) {
        assert!((r.as_ref().unwrap().y_final[0] - w).abs() < 1e-8);
    }
    let e = batch::solve_spans(
        &m,
        &sys,
        1,
        &[1.0, 1.0, 1.0],
        &spans,
        &opts,
        BatchMode::SharedStep,
    )
    .unwrap_err();
    assert!(matches!(e, SolveError::InvalidSpan { .. }));
    let e = batch::solve(
        &m,
        &sys,
        2,
        &[1.0, 1.0, 1.0],
        0.0,
        1.0,
        &opts,
        BatchMode::PerSample,
    )
    .unwrap_err();
    assert!(matches!(e, SolveError::DimensionMismatch { .. }));
}

#[test]
fn shared_step_norm_holds_every_sample_to_the_tolerance() {
    // One fast sample among slow ones: with the per-sample (max) norm the fast sample is as
    // accurate as when solved alone.
    let sys = |i: usize, _t: f64, y: &[f64], dy: &mut [f64]| {
        let w = if i == 0 { 20.0 } else { 1.0 };
        dy[0] = w * y[1];
        dy[1] = -w * y[0];
    };
    let n = 16;
    let y0: Vec<f64> = (0..n).flat_map(|_| [0.0, 1.0]).collect();
    let tol = 1e-6;
    let opts = Options::default().rtol(tol).atol(tol);
    let out = batch::solve(
        &ExplicitRk::new(&tableau::DOPRI5),
        &sys,
        2,
        &y0,
        0.0,
        5.0,
        &opts,
        BatchMode::SharedStep,
    )
    .unwrap();
    let y = &out.results[0].as_ref().unwrap().y_final;
    let err = (y[0] - (100.0f64).sin())
        .abs()
        .max((y[1] - (100.0f64).cos()).abs());
    assert!(err < 1e3 * tol, "{err:e}");
}
