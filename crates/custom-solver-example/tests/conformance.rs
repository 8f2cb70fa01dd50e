//! The outside methods pass the `ode-solvers` conformance kit through the public driver.

use custom_solver_example::{Ssprk3, CASH_KARP, SSPRK3_TABLEAU};
use ode_solvers::{testing, Direction, Event, ExplicitRk, Integrator, Options, SaveAt};

#[test]
fn tableaux_are_consistent() {
    CASH_KARP.check().unwrap();
    SSPRK3_TABLEAU.check().unwrap();
    assert!(!CASH_KARP.is_fsal());
}

#[test]
fn ssprk3_passes_the_kit_in_f64_and_f32() {
    let report = testing::run_all::<f64, _>(&Ssprk3, 3).unwrap();
    assert_eq!(report.len(), 3, "{report:?}");
    testing::check_round_trip::<f32, _>(&Ssprk3).unwrap();
}

#[test]
fn cash_karp_passes_the_kit_with_adaptive_steps() {
    let report = testing::run_all::<f64, _>(&ExplicitRk::<f64>::new(&CASH_KARP), 5).unwrap();
    assert_eq!(report.len(), 4, "{report:?}");
    testing::check_tolerance_proportionality::<f32, _>(&ExplicitRk::<f32>::new(&CASH_KARP))
        .unwrap();
}

#[test]
fn hand_written_ssprk3_equals_its_tableau() {
    let sys = |t: f64, y: &[f64], dy: &mut [f64]| {
        dy[0] = y[1] * t.cos();
        dy[1] = -y[0] + 0.1 * y[1] * y[1];
    };
    let opts = Options::default().fixed_step(0.01).save_at(SaveAt::Steps);
    let a = Integrator::new(Ssprk3)
        .solve(&sys, 0.0, 3.0, &[1.0, 0.5], &opts)
        .unwrap();
    let b = Integrator::new(ExplicitRk::new(&SSPRK3_TABLEAU))
        .solve(&sys, 0.0, 3.0, &[1.0, 0.5], &opts)
        .unwrap();
    assert_eq!(a.t, b.t);
    for (x, y) in a.y.iter().zip(&b.y) {
        assert!((x - y).abs() < 1e-13, "{x} vs {y}");
    }
    // Same work: two evaluations per step plus the shared first stage.
    assert_eq!(a.stats.nfe, b.stats.nfe);
}

#[test]
fn the_driver_gives_outside_methods_events_and_dense_output() {
    // y = cos t: first downward zero at π/2.
    let sys = |_t: f64, y: &[f64], dy: &mut [f64]| {
        dy[0] = y[1];
        dy[1] = -y[0];
    };
    let ev = [Event::new(|_t, y: &[f64]| y[0])
        .direction(Direction::Down)
        .terminal(true)];
    let sol = Integrator::new(ExplicitRk::new(&CASH_KARP))
        .solve_with_events(
            &sys,
            0.0,
            10.0,
            &[1.0, 0.0],
            &Options::default().rtol(1e-10).atol(1e-12).dense(true),
            &ev,
        )
        .unwrap();
    assert!((sol.t_final - std::f64::consts::FRAC_PI_2).abs() < 1e-8);
    let d = sol.dense.unwrap().eval(1.0).unwrap();
    assert!((d[0] - 1f64.cos()).abs() < 1e-6);
}
