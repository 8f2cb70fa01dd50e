//! The fixed-step adjoint integrates `a_θ` and `a_t` as a quadrature beside `[z, a]` when the
//! backward method's tableau is known; a method the crate cannot see into takes the whole
//! augmented state through the integrator. Both are the same Runge–Kutta discretisation of
//! the same system, so their gradients agree to rounding.

use adjoint::{odeint_with, AdjointOptions, GradMethod, Gradients};
use ode_solvers::{tableau, ErrorScale, ExplicitRk, OdeSystem, Options, StepReport, Stepper};

use crate::common::{mlp, mlp_theta, pseudo_random, rel_err, D};

/// An explicit Runge–Kutta method hidden behind a type of this test crate, so that the
/// adjoint crate finds no tableau for it.
#[derive(Clone)]
struct Opaque(ExplicitRk<f64>);

impl Stepper<f64> for Opaque {
    type Workspace = <ExplicitRk<f64> as Stepper<f64>>::Workspace;
    fn name(&self) -> &'static str {
        "opaque"
    }
    fn order(&self) -> u32 {
        Stepper::<f64>::order(&self.0)
    }
    fn error_order(&self) -> Option<u32> {
        Stepper::<f64>::error_order(&self.0)
    }
    fn workspace(&self, dim: usize) -> Self::Workspace {
        self.0.workspace(dim)
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
}

fn gradients<B: Stepper<f64>>(backward: B, dt: f64) -> Gradients<f64> {
    let rows = 3;
    let f = mlp(rows);
    let theta = mlp_theta(7);
    let z0 = pseudo_random(3, rows * D);
    // Unevenly spaced observation times, so that the intervals end in short last steps.
    let ts = [0.0, 0.23, 0.5, 0.91];
    let dl_dz = pseudo_random(11, ts.len() * rows * D);
    let forward = ExplicitRk::new(&tableau::RK4);
    let opts = Options::default().fixed_step(dt);
    let traj = odeint_with(
        &f,
        &z0,
        &theta,
        &ts,
        forward,
        backward,
        &opts,
        GradMethod::Adjoint(AdjointOptions::default()),
    )
    .unwrap();
    traj.backward(&dl_dz).unwrap()
}

#[test]
fn quadrature_and_integrator_backsolves_agree() {
    for tab in [&tableau::RK4, &tableau::DOPRI5, &tableau::MIDPOINT] {
        let dt = 0.05;
        let quad = gradients(ExplicitRk::new(tab), dt);
        let full = gradients(Opaque(ExplicitRk::new(tab)), dt);
        let name = tab.name;
        assert!(rel_err(&quad.dz0, &full.dz0) < 1e-13, "{name} dz0");
        assert!(rel_err(&quad.dtheta, &full.dtheta) < 1e-13, "{name} dθ");
        assert!(rel_err(&quad.dts, &full.dts) < 1e-13, "{name} dts");
        // The unused parameters (the last two) get exactly zero on both routes.
        assert_eq!(&quad.dtheta[quad.dtheta.len() - 2..], &[0.0, 0.0]);
        // The same steps and the same stages evaluated, except that the integrator evaluates
        // a first-same-as-last method's first stage once more at the start of each of the
        // three intervals (the quadrature evaluates it as each step's first stage instead of
        // as the previous step's last).
        assert_eq!(
            quad.stats.backward.accepted, full.stats.backward.accepted,
            "{name}"
        );
        let extra = if tab.is_fsal() { 3 } else { 0 };
        assert_eq!(
            quad.stats.backward.vjps + extra,
            full.stats.backward.vjps,
            "{name}"
        );
        assert!(quad.stats.backward.accepted > 0);
    }
}
