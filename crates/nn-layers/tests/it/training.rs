//! End to end with the adjoint crate: the paper's spiral dynamics MLP(y³) as `NetDynamics`,
//! gradients through `odeint` (adjoint against direct), and RMSprop steps that lower the loss.

use adjoint::{odeint, AdjointOptions, GradMethod};
use nn_layers::loss::mse;
use nn_layers::optim::{Optimizer, RmsProp};
use nn_layers::{init_params, Activation, MlpConfig, NetDynamics, ParamLayout};
use ode_solvers::{tableau, ExplicitRk, Options};

#[test]
fn spiral_dynamics_train_through_the_adjoint() {
    // Target: the paper's true dynamics dy/dt = (y³) A, A = [[-0.1, 2.0], [-2.0, -0.1]], from
    // y0 = [2, 0], observed at a few times (integrated here with the same solver).
    let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube);
    let mut layout = ParamLayout::new();
    let mlp = cfg.build(&mut layout, "net").unwrap();
    let mut theta = vec![0.0f64; layout.len()];
    init_params(&layout, &mut theta, 0).unwrap();
    let f = NetDynamics::new(mlp, layout.clone(), 1, 2).unwrap();

    let mut true_layout = ParamLayout::new();
    let lin = nn_layers::Linear::new(&mut true_layout, "a", 2, 2, false).unwrap();
    let true_f = NetDynamics::new(CubeThen(lin), true_layout, 1, 2).unwrap();
    let a_true = [-0.1, -2.0, 2.0, -0.1]; // column-major 2x2: y³ · A
    let ts = [0.0, 0.25, 0.5, 0.75, 1.0];
    let opts = Options::default().rtol(1e-7).atol(1e-9);
    let method = ExplicitRk::new(&tableau::DOPRI5);
    let target = odeint(
        &true_f,
        &[2.0, 0.0],
        &a_true,
        &ts,
        method.clone(),
        &opts,
        GradMethod::direct(),
    )
    .unwrap()
    .states()
    .to_vec();

    let loss_and_grad = |theta: &[f64], grad: GradMethod| {
        let traj = odeint(&f, &[2.0, 0.0], theta, &ts, method.clone(), &opts, grad).unwrap();
        let mut dl = vec![0.0; target.len()];
        let l = mse(traj.states(), &target, Some(&mut dl)).unwrap();
        let g = traj.backward(&dl).unwrap();
        (l, g.dtheta)
    };
    let (l0, g_adj) = loss_and_grad(
        &theta,
        GradMethod::Adjoint(AdjointOptions::default().rtol(1e-9).atol(1e-11)),
    );
    let (_, g_dir) = loss_and_grad(&theta, GradMethod::direct());
    let err = g_adj
        .iter()
        .zip(&g_dir)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let scale = g_dir.iter().map(|b| b * b).sum::<f64>().sqrt();
    assert!(
        err < 1e-4 * scale.max(1e-8),
        "adjoint vs direct: {err} (scale {scale})"
    );

    let opt = RmsProp::new(1e-2);
    let mut state = opt.init_state(theta.len());
    let mut l = l0;
    for _ in 0..30 {
        let (li, g) = loss_and_grad(&theta, GradMethod::adjoint());
        l = li;
        opt.step(&mut theta, &g, &mut state).unwrap();
    }
    assert!(l < 0.5 * l0, "loss {l0} -> {l}");
}

/// `x ↦ layer(x³)`, time-independent.
struct CubeThen(nn_layers::Linear);

impl nn_layers::TimeLayer<f64> for CubeThen {
    fn forward_t(
        &self,
        tape: &mut autodiff::Tape<f64>,
        p: &nn_layers::ParamVars,
        _t: autodiff::Var,
        x: autodiff::Var,
    ) -> nn_layers::Result<autodiff::Var> {
        use nn_layers::Layer;
        let c = tape.powi(x, 3);
        self.0.forward(tape, p, c)
    }
}
