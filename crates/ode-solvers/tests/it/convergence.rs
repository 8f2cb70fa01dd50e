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

/// The kit rejects a method that is not what it claims: a perturbed RK4 (order 1 really) and
/// a stepper whose dense output is linear interpolation.
#[test]
fn the_kit_catches_broken_methods() {
    use ode_solvers::tableau::{Interpolant, Tableau};
    use ode_solvers::{ErrorScale, OdeSystem, StepReport, Stepper};

    static BAD_RK4: Tableau = Tableau {
        name: "bad-rk4",
        citation: "a mutant for this test",
        order: 4,
        error_order: None,
        c: &[0.0, 0.5, 0.5, 1.0],
        a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
        b: &[0.2, 0.3, 0.3, 0.2],
        e: None,
        interpolant: Interpolant::Hermite,
    };
    let e = testing::check_convergence_order(&ExplicitRk::<f64>::new(&BAD_RK4), 4).unwrap_err();
    assert_eq!(e.check, "convergence order");

    /// Dopri5 with linear interpolation inside steps.
    #[derive(Clone)]
    struct LinearDense(ExplicitRk<f64>);
    impl Stepper<f64> for LinearDense {
        type Workspace = <ExplicitRk<f64> as Stepper<f64>>::Workspace;
        fn name(&self) -> &'static str {
            "linear-dense"
        }
        fn order(&self) -> u32 {
            5
        }
        fn error_order(&self) -> Option<u32> {
            Some(4)
        }
        fn workspace(&self, dim: usize) -> Self::Workspace {
            self.0.workspace(dim)
        }
        fn dense_order(&self) -> u32 {
            4
        }
        fn step<S: OdeSystem<f64> + ?Sized>(
            &self,
            sys: &S,
            t: f64,
            h: f64,
            y0: &[f64],
            f0: &[f64],
            y1: &mut [f64],
            f1: &mut [f64],
            scale: Option<ErrorScale<'_>>,
            ws: &mut Self::Workspace,
        ) -> StepReport {
            self.0.step(sys, t, h, y0, f0, y1, f1, scale, ws)
        }
        fn dense_eval(&self, theta: f64, _h: f64, data: &[f64], out: &mut [f64]) {
            let n = out.len();
            for i in 0..n {
                out[i] = (1.0 - theta) * data[i] + theta * data[n + i];
            }
        }
    }
    let e =
        testing::check_dense_output(&LinearDense(ExplicitRk::new(&tableau::DOPRI5))).unwrap_err();
    assert_eq!(e.check, "dense output");
}

/// DOP853's twelve stages run by the generic stepper converge at order 8 too (the tableau
/// the adjoint crate differentiates through).
#[test]
fn dop853_tableau_runs_in_the_generic_stepper() {
    let m = ExplicitRk::<f64>::new(&ode_solvers::DOP853_TABLEAU);
    testing::check_convergence_order(&m, 8).unwrap();
}
