//! Accuracy against independent references: closed forms, the matrix exponential, a
//! periodic orbit, and tight-tolerance references cross-checked with a second method.

use ode_solvers::problems::{self, expm, linear10_matrix, LINEAR10_DIM};
use ode_solvers::{Method, Options, SaveAt};

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn linear10_matches_matrix_exponential_forward_and_backward() {
    let p = problems::LINEAR10;
    let exact = (p.exact.unwrap())(p.t1);
    for m in [Method::Dopri5, Method::Tsit5, Method::Dop853, Method::Bosh3] {
        let sol = m
            .solve(
                &p.rhs,
                p.t0,
                p.t1,
                p.y0,
                &Options::default().rtol(1e-10).atol(1e-12),
            )
            .unwrap();
        let err = max_abs_diff(&sol.y_final, &exact);
        assert!(err < 1e-8, "{m}: {err:e}");
        // Backward from the exact end state recovers y0 = expm(-tA) y(t).
        let back = m
            .solve(
                &p.rhs,
                p.t1,
                p.t0,
                &exact,
                &Options::default().rtol(1e-10).atol(1e-12),
            )
            .unwrap();
        assert!(max_abs_diff(&back.y_final, p.y0) < 1e-7, "{m} backward");
    }
    // Output at requested times against expm(tA) y0.
    let ts: Vec<f64> = (0..=10).map(|i| 0.5 * i as f64).collect();
    let sol = Method::Tsit5
        .solve(
            &p.rhs,
            0.0,
            5.0,
            p.y0,
            &Options::default()
                .rtol(1e-10)
                .atol(1e-12)
                .save_at(SaveAt::Times(ts.clone())),
        )
        .unwrap();
    assert_eq!(sol.t, ts);
    let a = linear10_matrix();
    for (t, y) in sol.iter() {
        let e = expm(&a.iter().map(|v| v * t).collect::<Vec<_>>(), LINEAR10_DIM);
        let want: Vec<f64> = (0..LINEAR10_DIM)
            .map(|i| (0..LINEAR10_DIM).map(|j| e[i * LINEAR10_DIM + j]).sum())
            .collect();
        assert!(max_abs_diff(y, &want) < 1e-8, "t = {t}");
    }
}

#[test]
fn arenstorf_orbit_returns_to_its_start() {
    let p = problems::ARENSTORF;
    for (m, tol, bound) in [
        (Method::Dop853, 1e-12, 1e-7),
        (Method::Dopri5, 1e-11, 1e-6),
        (Method::Tsit5, 1e-11, 1e-6),
    ] {
        let sol = m
            .solve(
                &p.rhs,
                p.t0,
                p.t1,
                p.y0,
                &Options::default().rtol(tol).atol(tol),
            )
            .unwrap();
        let err = max_abs_diff(&sol.y_final, p.y0);
        assert!(err < bound, "{m}: {err:e}");
    }
}

#[test]
fn error_falls_as_tolerance_falls() {
    for p in [problems::LORENZ, problems::VDP, problems::ARENSTORF] {
        // Reference at 1e-13 with DOP853, cross-checked with Tsit5 at the same tolerance.
        let tight = Options::default()
            .rtol(1e-13)
            .atol(1e-13)
            .max_steps(1_000_000);
        let t1 = if p.name == "lorenz" { 10.0 } else { p.t1 };
        let reference = Method::Dop853
            .solve(&p.rhs, p.t0, t1, p.y0, &tight)
            .unwrap()
            .y_final;
        let check = Method::Tsit5
            .solve(&p.rhs, p.t0, t1, p.y0, &tight)
            .unwrap()
            .y_final;
        let ref_err = max_abs_diff(&reference, &check);
        assert!(
            ref_err < 1e-7,
            "{}: references disagree by {ref_err:e}",
            p.name
        );
        for m in [Method::Dopri5, Method::Tsit5, Method::Dop853] {
            let errs: Vec<f64> = [1e-4, 1e-7, 1e-10]
                .iter()
                .map(|&tol| {
                    let y = m
                        .solve(
                            &p.rhs,
                            p.t0,
                            t1,
                            p.y0,
                            &Options::default().rtol(tol).atol(tol),
                        )
                        .unwrap()
                        .y_final;
                    max_abs_diff(&y, &reference)
                })
                .collect();
            assert!(
                errs[1] < errs[0] && errs[2] < errs[1],
                "{} {m}: {errs:?}",
                p.name
            );
            assert!(errs[2] < 1e-5, "{} {m}: {errs:?}", p.name);
        }
    }
}

#[test]
fn f32_states_solve_with_f64_time() {
    let sys = |_t: f64, y: &[f32], dy: &mut [f32]| dy[0] = -y[0];
    // A long span with many steps: time stays exact in f64.
    let sol = Method::Dopri5
        .solve(
            &sys,
            1e6,
            1e6 + 5.0,
            &[1.0f32],
            &Options::default().rtol(1e-5).atol(1e-7),
        )
        .unwrap();
    assert_eq!(sol.t_final, 1e6 + 5.0);
    assert!((sol.y_final[0] as f64 - (-5.0f64).exp()).abs() < 1e-4);
}

#[test]
fn statistics_count_every_evaluation() {
    use std::cell::Cell;
    let calls = Cell::new(0usize);
    let sys = |_t: f64, y: &[f64], dy: &mut [f64]| {
        calls.set(calls.get() + 1);
        dy[0] = y[1];
        dy[1] = (1.0 - y[0] * y[0]) * y[1] - y[0];
    };
    for m in Method::ALL.into_iter().filter(|m| m.is_adaptive()) {
        calls.set(0);
        let sol = m
            .solve(
                &sys,
                0.0,
                20.0,
                &[2.0, 0.0],
                &Options::default().rtol(1e-6).atol(1e-6),
            )
            .unwrap();
        assert_eq!(sol.stats.nfe, calls.get(), "{m}");
        assert!(sol.stats.accepted > 10);
    }
    // Dopri5 (FSAL): 6 evaluations per step attempt, plus f(t0) and the initial-step trial.
    calls.set(0);
    let sol = Method::Dopri5
        .solve(&sys, 0.0, 20.0, &[2.0, 0.0], &Options::default())
        .unwrap();
    assert_eq!(sol.stats.nfe, 6 * sol.stats.steps() + 2);
    // RK4, fixed steps: 4 evaluations per step, the first stage shared with the previous step.
    let sol = Method::Rk4
        .solve(
            &sys,
            0.0,
            1.0,
            &[2.0, 0.0],
            &Options::default().fixed_step(0.01),
        )
        .unwrap();
    assert_eq!(sol.stats.accepted, 100);
    assert_eq!(sol.stats.nfe, 4 * 100);
}

#[test]
fn stop_times_are_landed_on_and_discontinuities_handled() {
    // y' = 1 before t = 1 and -1 after: y(2) = 0 exactly, if the step lands on t = 1.
    let sys = |t: f64, _y: &[f64], dy: &mut [f64]| dy[0] = if t < 1.0 { 1.0 } else { -1.0 };
    let opts = Options::default()
        .rtol(1e-10)
        .atol(1e-12)
        .tstops(vec![1.0])
        .save_at(SaveAt::Steps);
    let sol = Method::Dopri5.solve(&sys, 0.0, 2.0, &[0.0], &opts).unwrap();
    assert!(sol.t.contains(&1.0));
    assert!(sol.y_final[0].abs() < 1e-12, "{}", sol.y_final[0]);
    // Backward too. At t = 1 itself the right-hand side takes its value from the right
    // (t >= 1), so the first step below 1 starts from the other side's slope: the error
    // control repairs it to within the tolerance, not to rounding.
    let sol = Method::Tsit5.solve(&sys, 2.0, 0.0, &[0.0], &opts).unwrap();
    assert!(sol.t.contains(&1.0));
    assert!(sol.y_final[0].abs() < 1e-9);
}

#[test]
fn dense_solution_queries_match_requested_outputs() {
    let p = problems::VDP;
    let ts: Vec<f64> = (0..=40).map(|i| 0.5 * i as f64).collect();
    let opts = Options::default()
        .rtol(1e-8)
        .atol(1e-10)
        .dense(true)
        .save_at(SaveAt::Times(ts.clone()));
    for m in [Method::Dopri5, Method::Tsit5, Method::Dop853, Method::Bosh3] {
        let sol = m.solve(&p.rhs, p.t0, p.t1, p.y0, &opts).unwrap();
        let dense = sol.dense.as_ref().unwrap();
        for (t, y) in sol.iter() {
            let d = dense.eval(t).unwrap();
            assert!(max_abs_diff(&d, y) < 1e-12, "{m} at {t}");
        }
        assert!(dense.eval(20.5).is_err());
        assert!(dense.eval(-0.1).is_err());
    }
}
