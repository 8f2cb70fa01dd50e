//! Bad input gives its typed error promptly, and a failed solve hands back its partial result.

use ode_solvers::{Method, OdeSystem, Options, SaveAt, SolveError, Status};

fn decay(_t: f64, y: &[f64], dy: &mut [f64]) {
    dy[0] = -y[0];
}

#[test]
fn nan_in_initial_state() {
    let e = Method::Dopri5
        .solve(&decay, 0.0, 1.0, &[f64::NAN], &Options::default())
        .unwrap_err();
    assert_eq!(e.error, SolveError::NonFiniteInitialState { index: 0 });
    assert_eq!(e.partial.status, Status::Failed);
}

#[test]
fn invalid_tolerances() {
    let e = Method::Dopri5
        .solve(&decay, 0.0, 1.0, &[1.0], &Options::default().rtol(-1e-6))
        .unwrap_err();
    assert!(
        matches!(e.error, SolveError::InvalidTolerance { what: "rtol", .. }),
        "{e}"
    );
    let e = Method::Dopri5
        .solve(&decay, 0.0, 1.0, &[1.0], &Options::default().atol(f64::NAN))
        .unwrap_err();
    assert!(matches!(
        e.error,
        SolveError::InvalidTolerance { what: "atol", .. }
    ));
    let e = Method::Dopri5
        .solve(
            &decay,
            0.0,
            1.0,
            &[1.0],
            &Options::default().rtol(0.0).atol(0.0),
        )
        .unwrap_err();
    assert!(matches!(e.error, SolveError::InvalidTolerance { .. }));
    let e = Method::Dopri5
        .solve(
            &decay,
            0.0,
            1.0,
            &[1.0],
            &Options::default().atol(vec![1e-6, 1e-6]),
        )
        .unwrap_err();
    assert_eq!(
        e.error,
        SolveError::DimensionMismatch {
            what: "atol",
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn unsorted_or_outside_output_times() {
    let opts = Options::default().save_at(SaveAt::Times(vec![0.1, 0.5, 0.3]));
    let e = Method::Dopri5
        .solve(&decay, 0.0, 1.0, &[1.0], &opts)
        .unwrap_err();
    assert_eq!(e.error, SolveError::TimesOutOfOrder { index: 2 });
    // Backward: times must decrease.
    let opts = Options::default().save_at(SaveAt::Times(vec![0.1, 0.5]));
    let e = Method::Dopri5
        .solve(&decay, 1.0, 0.0, &[1.0], &opts)
        .unwrap_err();
    assert_eq!(e.error, SolveError::TimesOutOfOrder { index: 1 });
    let opts = Options::default().save_at(SaveAt::Times(vec![0.5, 1.5]));
    let e = Method::Dopri5
        .solve(&decay, 0.0, 1.0, &[1.0], &opts)
        .unwrap_err();
    assert!(matches!(e.error, SolveError::TimeOutsideSpan { t, .. } if t == 1.5));
    let e = Method::Dopri5
        .solve(
            &decay,
            0.0,
            1.0,
            &[1.0],
            &Options::default().tstops(vec![-1.0]),
        )
        .unwrap_err();
    assert!(matches!(e.error, SolveError::TimeOutsideSpan { .. }));
}

#[test]
fn blow_up_fails_promptly_with_partial_result() {
    // y' = y², y(0) = 1: y = 1/(1 - t) blows up at t = 1.
    let sys = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = y[0] * y[0];
    for m in [Method::Dopri5, Method::Tsit5, Method::Dop853, Method::Bosh3] {
        let e = m
            .solve(&sys, 0.0, 2.0, &[1.0], &Options::default())
            .unwrap_err();
        assert!(
            matches!(
                e.error,
                SolveError::StepSizeUnderflow { .. } | SolveError::NonFiniteDerivative { .. }
            ),
            "{m}: {e}"
        );
        let p = &e.partial;
        // The numerical solution may pass t = 1 by a hair before the steps collapse.
        assert!(
            p.t_final > 0.99 && p.t_final < 1.001,
            "{m}: reached {}",
            p.t_final
        );
        assert!(p.y_final[0] > 1e3, "{m}: {}", p.y_final[0]);
        assert!(p.stats.steps() < 5_000, "{m}: {} steps", p.stats.steps());
    }
    // Fixed steps: the state overflows.
    let e = Method::Rk4
        .solve(&sys, 0.0, 2.0, &[1.0], &Options::default().fixed_step(0.1))
        .unwrap_err();
    assert!(
        matches!(
            e.error,
            SolveError::NonFiniteState { .. } | SolveError::NonFiniteDerivative { .. }
        ),
        "{e}"
    );
}

#[test]
fn step_budget_and_minimum_step() {
    let e = Method::Dopri5
        .solve(
            &ode_solvers::problems::LORENZ.rhs,
            0.0,
            20.0,
            &[1.0, 0.0, 0.0],
            &Options::default().max_steps(50),
        )
        .unwrap_err();
    assert_eq!(
        e.error,
        SolveError::MaxStepsExceeded {
            t: e.partial.t_final,
            max_steps: 50
        }
    );
    assert_eq!(e.partial.stats.steps(), 50);
    assert!(e.partial.t_final > 0.0);
    let e = Method::Dopri5
        .solve(
            &ode_solvers::problems::LORENZ.rhs,
            0.0,
            20.0,
            &[1.0, 0.0, 0.0],
            &Options::default().min_step(0.5),
        )
        .unwrap_err();
    assert!(matches!(e.error, SolveError::StepSizeUnderflow { .. }));
}

#[test]
fn non_finite_derivative_and_configuration_errors() {
    let sys = |t: f64, _y: &[f64], dy: &mut [f64]| dy[0] = if t > 0.5 { f64::NAN } else { 1.0 };
    let e = Method::Rk4
        .solve(&sys, 0.0, 1.0, &[0.0], &Options::default().fixed_step(0.1))
        .unwrap_err();
    assert!(
        matches!(
            e.error,
            SolveError::NonFiniteState { .. } | SolveError::NonFiniteDerivative { .. }
        ),
        "{e}"
    );
    assert!(e.partial.t_final >= 0.5 - 1e-12 && e.partial.t_final < 0.7);
    let e = Method::Rk4
        .solve(&decay, 0.0, 1.0, &[1.0], &Options::default())
        .unwrap_err();
    assert_eq!(e.error, SolveError::NotAdaptive { method: "rk4" });
    let e = Method::Rk4
        .solve(
            &decay,
            0.0,
            1.0,
            &[1.0],
            &Options::default().fixed_step(-0.1),
        )
        .unwrap_err();
    assert!(matches!(
        e.error,
        SolveError::InvalidOption {
            what: "fixed_step",
            ..
        }
    ));
    let e = Method::Dopri5
        .solve(&decay, 0.0, f64::INFINITY, &[1.0], &Options::default())
        .unwrap_err();
    assert!(matches!(e.error, SolveError::InvalidSpan { .. }));
    // A system that declares its dimension rejects a wrong initial state.
    struct Two;
    impl OdeSystem<f64> for Two {
        fn rhs(&self, _t: f64, y: &[f64], dy: &mut [f64]) {
            dy.copy_from_slice(y);
        }
        fn dim(&self) -> Option<usize> {
            Some(2)
        }
    }
    let e = Method::Dopri5
        .solve(&Two, 0.0, 1.0, &[1.0], &Options::default())
        .unwrap_err();
    assert!(matches!(
        e.error,
        SolveError::DimensionMismatch {
            expected: 2,
            found: 1,
            ..
        }
    ));
    assert!("nope".parse::<Method>().is_err());
}

#[test]
fn empty_span_returns_the_initial_state() {
    let sol = Method::Dopri5
        .solve(
            &decay,
            1.0,
            1.0,
            &[3.0],
            &Options::default().t_eval(vec![1.0]),
        )
        .unwrap();
    assert_eq!(sol.y_final, vec![3.0]);
    assert_eq!(sol.t, vec![1.0]);
    assert_eq!(sol.stats.nfe, 0);
}

#[test]
fn infinite_tolerance_leaves_a_component_out_of_error_control() {
    // The second component is wild but uncontrolled: the step sequence follows the first.
    let sys = |_t: f64, y: &[f64], dy: &mut [f64]| {
        dy[0] = -y[0];
        dy[1] = 50.0 * (50.0 * y[0]).sin();
    };
    let semi = Options::default().atol(vec![1e-9, f64::INFINITY]);
    let full = Options::default();
    let a = Method::Dopri5
        .solve(&sys, 0.0, 5.0, &[1.0, 0.0], &semi)
        .unwrap();
    let b = Method::Dopri5
        .solve(&sys, 0.0, 5.0, &[1.0, 0.0], &full)
        .unwrap();
    assert!(
        a.stats.accepted < b.stats.accepted,
        "{} vs {}",
        a.stats.accepted,
        b.stats.accepted
    );
    assert!((a.y_final[0] - (-5.0f64).exp()).abs() < 1e-6);
}
