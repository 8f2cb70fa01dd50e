//! Bad input and failing passes give typed errors, never panics.

use adjoint::{odeint, AdjointError, AdjointOptions, GradMethod, Linear, Pass, TapeDynamics};
use ode_solvers::{tableau, ErrorScale, ExplicitRk, OdeSystem, Options, Real, StepReport, Stepper};

/// Forward Euler written outside ode-solvers (no tableau known to the adjoint crate).
#[derive(Clone)]
struct MyEuler;

impl<T: Real> Stepper<T> for MyEuler {
    type Workspace = ();
    fn name(&self) -> &'static str {
        "my-euler"
    }
    fn order(&self) -> u32 {
        1
    }
    fn error_order(&self) -> Option<u32> {
        None
    }
    fn workspace(&self, _dim: usize) {}
    fn step<S: OdeSystem<T> + ?Sized>(
        &self,
        _sys: &S,
        _t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        _f1: &mut [T],
        _scale: Option<ErrorScale<'_>>,
        _ws: &mut (),
    ) -> StepReport {
        for i in 0..y0.len() {
            y1[i] = y0[i] + T::from_f64(h) * f0[i];
        }
        StepReport {
            nfe: 0,
            f1_valid: false,
            err: 0.0,
        }
    }
}

fn dopri() -> ExplicitRk<f64> {
    ExplicitRk::new(&tableau::DOPRI5)
}

#[test]
fn shape_errors() {
    let lin = Linear::new(2);
    let th = [0.0, 1.0, -1.0, 0.0];
    let o = Options::default();
    let e = odeint(
        &lin,
        &[1.0],
        &th,
        &[0.0, 1.0],
        dopri(),
        &o,
        GradMethod::adjoint(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            AdjointError::ShapeMismatch {
                what: "z0",
                expected: 2,
                found: 1
            }
        ),
        "{e}"
    );
    let e = odeint(
        &lin,
        &[1.0, 0.0],
        &th[..3],
        &[0.0, 1.0],
        dopri(),
        &o,
        GradMethod::adjoint(),
    )
    .unwrap_err();
    assert!(
        matches!(e, AdjointError::ShapeMismatch { what: "theta", .. }),
        "{e}"
    );
    let traj = odeint(
        &lin,
        &[1.0, 0.0],
        &th,
        &[0.0, 1.0],
        dopri(),
        &o,
        GradMethod::adjoint(),
    )
    .unwrap();
    let e = traj.backward(&[1.0, 0.0]).unwrap_err();
    assert!(
        matches!(
            e,
            AdjointError::ShapeMismatch {
                what: "dl_dz",
                expected: 4,
                found: 2
            }
        ),
        "{e}"
    );
    let e = traj.backward(&[1.0, 0.0, f64::NAN, 0.0]).unwrap_err();
    assert!(
        matches!(
            e,
            AdjointError::NonFiniteInput {
                what: "dl_dz",
                index: 2
            }
        ),
        "{e}"
    );
    let e = odeint(
        &lin,
        &[f64::INFINITY, 0.0],
        &th,
        &[0.0, 1.0],
        dopri(),
        &o,
        GradMethod::adjoint(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            AdjointError::NonFiniteInput {
                what: "z0",
                index: 0
            }
        ),
        "{e}"
    );
}

#[test]
fn time_errors() {
    let lin = Linear::new(1);
    let o = Options::default();
    for (ts, want_index) in [
        (vec![0.0, 1.0, 1.0], Some(2)),
        (vec![0.0, 1.0, 0.5], Some(2)),
        (vec![0.0, f64::NAN], Some(1)),
        (vec![2.0, 1.0, 1.5], Some(2)),
    ] {
        let e = odeint(&lin, &[1.0], &[1.0], &ts, dopri(), &o, GradMethod::direct()).unwrap_err();
        match e {
            AdjointError::TimesNotMonotone { index, .. } => assert_eq!(Some(index), want_index),
            other => panic!("{other}"),
        }
    }
    let e = odeint(
        &lin,
        &[1.0],
        &[1.0],
        &[0.0],
        dopri(),
        &o,
        GradMethod::direct(),
    )
    .unwrap_err();
    assert!(matches!(e, AdjointError::TooFewTimes { found: 1 }));
}

#[test]
fn outside_method_runs_adjoint_but_has_no_tableau() {
    let lin = Linear::new(1);
    let o = Options::default().fixed_step(1e-4);
    let e = odeint(
        &lin,
        &[1.0],
        &[-1.0],
        &[0.0, 1.0],
        MyEuler,
        &o,
        GradMethod::direct(),
    )
    .unwrap_err();
    assert!(
        matches!(e, AdjointError::NoTableau { method: "my-euler" }),
        "{e}"
    );
    // With its tableau given explicitly, Direct works (Euler's tableau is this method's).
    let traj = odeint(
        &lin,
        &[1.0],
        &[-1.0],
        &[0.0, 1.0],
        MyEuler,
        &o,
        GradMethod::Direct {
            tableau: Some(&tableau::EULER),
        },
    )
    .unwrap();
    let g = traj.backward(&[0.0, 1.0]).unwrap();
    assert!((g.dz0[0] - (-1.0f64).exp()).abs() < 1e-4);
    // Adjoint needs no tableau.
    let traj = odeint(
        &lin,
        &[1.0],
        &[-1.0],
        &[0.0, 1.0],
        MyEuler,
        &o,
        GradMethod::adjoint(),
    )
    .unwrap();
    let g = traj.backward(&[0.0, 1.0]).unwrap();
    assert!((g.dz0[0] - (-1.0f64).exp()).abs() < 1e-3);
}

#[test]
fn failing_passes_name_pass_and_time() {
    // dz/dt = z² from z0 = 1 blows up at t = 1.
    let blow = TapeDynamics::<f64, _>::new(1, 1, 1, |tape, z, _t, th| {
        let z2 = tape.square(z);
        tape.mul(z2, th)
    });
    let e = odeint(
        &blow,
        &[1.0],
        &[1.0],
        &[0.0, 2.0],
        dopri(),
        &Options::default(),
        GradMethod::adjoint(),
    )
    .unwrap_err();
    match e {
        AdjointError::Solve {
            pass: Pass::Forward,
            t,
            from,
            to,
            ..
        } => {
            assert!((t - 1.0).abs() < 1e-3, "t = {t}");
            assert_eq!((from, to), (0.0, 2.0));
        }
        other => panic!("{other}"),
    }
    // A backward step budget that runs out.
    let lin = Linear::new(1);
    let traj = odeint(
        &lin,
        &[1.0],
        &[-1.0],
        &[0.0, 0.5, 1.0],
        dopri(),
        &Options::default(),
        GradMethod::Adjoint(AdjointOptions::default().max_steps(2)),
    )
    .unwrap();
    let e = traj.backward(&[0.0, 0.0, 1.0]).unwrap_err();
    match e {
        AdjointError::Solve {
            pass: Pass::Backward,
            from,
            to,
            ..
        } => assert_eq!((from, to), (1.0, 0.5)),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("backward"));
}

#[test]
fn dynamics_errors_are_reported() {
    // The closure returns the wrong shape.
    let bad = TapeDynamics::<f64, _>::new(1, 2, 1, |tape, z, _t, _th| Ok(tape.sum(z)));
    let e = odeint(
        &bad,
        &[1.0, 2.0],
        &[0.0],
        &[0.0, 1.0],
        dopri(),
        &Options::default(),
        GradMethod::direct(),
    )
    .unwrap_err();
    match e {
        AdjointError::Dynamics {
            pass: Pass::Forward,
            message,
            ..
        } => assert!(message.contains("shape"), "{message}"),
        other => panic!("{other}"),
    }
}

#[test]
fn invalid_options() {
    let lin = Linear::new(1);
    for ao in [
        AdjointOptions::default().rtol(-1.0),
        AdjointOptions::default().rtol(0.0).atol(0.0),
        AdjointOptions::default().fixed_step(0.0),
        AdjointOptions::default().max_steps(0),
    ] {
        let e = odeint(
            &lin,
            &[1.0],
            &[1.0],
            &[0.0, 1.0],
            dopri(),
            &Options::default(),
            GradMethod::Adjoint(ao),
        )
        .unwrap_err();
        assert!(matches!(e, AdjointError::InvalidOption { .. }), "{e}");
    }
    // A forward option the solver rejects is a forward solve error.
    let e = odeint(
        &lin,
        &[1.0],
        &[1.0],
        &[0.0, 1.0],
        dopri(),
        &Options::default().rtol(-1.0),
        GradMethod::direct(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            AdjointError::Solve {
                pass: Pass::Forward,
                ..
            }
        ),
        "{e}"
    );
}
