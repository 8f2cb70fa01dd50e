//! Empirical convergence orders and the conformance kit, for every method, f64 and f32.

use ode_solvers::{tableau, testing, Dop853, ExplicitRk};

fn orders() -> Vec<(&'static tableau::Tableau, u32)> {
    tableau::ALL.iter().map(|t| (*t, t.order)).collect()
}

#[test]
fn every_tableau_method_converges_at_its_order_f64() {
    for (tab, order) in orders() {
        let m = ExplicitRk::<f64>::new(tab);
        let slope = testing::check_convergence_order(&m, order)
            .unwrap_or_else(|e| panic!("{}: {e}", tab.name));
        assert!((slope - order as f64).abs() <= 0.2, "{}: {slope}", tab.name);
    }
}

#[test]
fn dop853_converges_at_order_8() {
    let m = Dop853::<f64>::new();
    let slope = testing::check_convergence_order(&m, 8).unwrap();
    assert!((slope - 8.0).abs() <= 0.2, "{slope}");
}

#[test]
fn low_order_methods_converge_in_f32() {
    // Third and higher orders cannot be resolved above f32 rounding on these problems.
    for tab in [
        &tableau::EULER,
        &tableau::MIDPOINT,
        &tableau::HEUN,
        &tableau::RALSTON,
    ] {
        let m = ExplicitRk::<f32>::new(tab);
        testing::check_convergence_order(&m, tab.order)
            .unwrap_or_else(|e| panic!("{}: {e}", tab.name));
    }
}

#[test]
fn adaptive_methods_pass_the_conformance_kit() {
    for tab in [&tableau::BOSH3, &tableau::DOPRI5, &tableau::TSIT5] {
        testing::run_all::<f64, _>(&ExplicitRk::<f64>::new(tab), tab.order)
            .unwrap_or_else(|e| panic!("{}: {e}", tab.name));
        // In f32 the convergence order of a fifth-order method cannot be resolved above
        // rounding; the other checks run in f32 too.
        testing::check_tolerance_proportionality::<f32, _>(&ExplicitRk::<f32>::new(tab)).unwrap();
        testing::check_round_trip::<f32, _>(&ExplicitRk::<f32>::new(tab)).unwrap();
        testing::check_dense_output::<f32, _>(&ExplicitRk::<f32>::new(tab)).unwrap();
    }
    testing::run_all::<f64, _>(&Dop853::<f64>::new(), 8).unwrap();
    testing::check_dense_output::<f32, _>(&Dop853::<f32>::new()).unwrap();
}

#[test]
fn fixed_step_methods_pass_round_trip_and_dense_checks() {
    for tab in [
        &tableau::EULER,
        &tableau::MIDPOINT,
        &tableau::HEUN,
        &tableau::RALSTON,
        &tableau::RK4,
    ] {
        let m = ExplicitRk::<f64>::new(tab);
        if tab.order >= 2 {
            testing::check_round_trip(&m).unwrap_or_else(|e| panic!("{}: {e}", tab.name));
        }
        if tab.order >= 4 {
            testing::check_dense_output(&m).unwrap_or_else(|e| panic!("{}: {e}", tab.name));
        }
    }
}
