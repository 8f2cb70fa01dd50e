//! The dynamics adapters against finite differences and against each other.

use adjoint::Dynamics;
use nn_layers::{
    init_params, Activation, Binding, MlpConfig, MlpDynamics, NetDynamics, ParamLayout, PassCounts,
    TimeInput,
};

use crate::common::{assert_grad_close, fd_grad, irregular};

fn check_vjp_fd<D: Dynamics<f64>>(f: &D, theta: &[f64], t: f64) {
    let n = f.dim();
    let z = irregular(n, 0.3);
    let a = irregular(n, 2.1);
    let (mut fz, mut az, mut ath) = (vec![0.0; n], vec![0.0; n], vec![0.0; theta.len()]);
    let at = f.vjp(t, &z, theta, &a, &mut fz, &mut az, &mut ath);
    let mut ev = vec![0.0; n];
    f.eval(t, &z, theta, &mut ev);
    assert_eq!(ev, fz, "eval and vjp disagree on f");
    let aw = |zz: &[f64], th: &[f64], tt: f64| {
        let mut out = vec![0.0; n];
        f.eval(tt, zz, th, &mut out);
        out.iter().zip(&a).map(|(x, y)| x * y).sum::<f64>()
    };
    let fd_z = fd_grad(&mut |zz| aw(zz, theta, t), &z);
    let fd_th = fd_grad(&mut |th| aw(&z, th, t), theta);
    let fd_t = fd_grad(&mut |tt| aw(&z, theta, tt[0]), &[t]);
    assert_grad_close("a_z", &az, &fd_z, 1e-6);
    assert_grad_close("a_theta", &ath, &fd_th, 1e-6);
    assert!(
        (at - fd_t[0]).abs() < 1e-6 * fd_t[0].abs().max(1.0),
        "a_t {at} vs {}",
        fd_t[0]
    );
}

#[test]
fn net_dynamics_vjp_matches_fd() {
    for (time, binding) in [
        (TimeInput::None, Binding::PerTensor),
        (TimeInput::Concat, Binding::PerTensor),
        (TimeInput::ConcatSquash, Binding::Flat),
    ] {
        let cfg = MlpConfig::new(&[2, 7, 2], Activation::Tanh).with_time(time);
        let mut layout = ParamLayout::new();
        let mlp = cfg.build(&mut layout, "f").unwrap();
        let mut theta = vec![0.0; layout.len()];
        init_params(&layout, &mut theta, 3).unwrap();
        let f = NetDynamics::new(mlp, layout, 3, 2)
            .unwrap()
            .with_binding(binding);
        check_vjp_fd(&f, &theta, 0.4);
        // Twice: the reused tape gives the same answer.
        check_vjp_fd(&f, &theta, 0.4);
        assert!(f.take_error().is_none());
    }
}

#[test]
fn hand_written_mlp_vjp_matches_fd_and_the_tape() {
    for (widths, act, inp, batch) in [
        (vec![2, 50, 2], Activation::Tanh, Activation::Cube, 1),
        (
            vec![3, 8, 6, 3],
            Activation::Softplus,
            Activation::Identity,
            4,
        ),
        (vec![2, 5, 2], Activation::Elu(0.7), Activation::Tanh, 2),
        // The spiral training's batch, and one that leaves single rows after the blocks.
        (vec![2, 50, 2], Activation::Tanh, Activation::Cube, 20),
        (vec![3, 7, 3], Activation::Sigmoid, Activation::Identity, 13),
        // Every dimension above 5: the products go to the gemm (both layers here, the middle
        // one only in the second).
        (vec![8, 24, 8], Activation::Tanh, Activation::Identity, 7),
        (vec![2, 16, 16, 2], Activation::Tanh, Activation::Cube, 8),
    ] {
        let cfg = MlpConfig::new(&widths, act).with_input_activation(inp);
        let mut layout = ParamLayout::new();
        let mlp = cfg.build(&mut layout, "f").unwrap();
        let mut theta = vec![0.0; layout.len()];
        init_params(&layout, &mut theta, 9).unwrap();
        for (i, v) in theta.iter_mut().enumerate() {
            *v += 0.03 * (i as f64).sin();
        }
        let d = widths[0];
        let hand = MlpDynamics::new(mlp.clone(), layout.clone(), batch).unwrap();
        let tape = NetDynamics::new(mlp, layout, batch, d).unwrap();
        check_vjp_fd(&hand, &theta, 0.0);
        let n = batch * d;
        let z = irregular(n, 1.1);
        let a = irregular(n, 0.2);
        let run = |f: &dyn Dynamics<f64>| {
            let (mut fz, mut az, mut ath) = (vec![0.0; n], vec![0.0; n], vec![0.0; theta.len()]);
            let at = f.vjp(0.0, &z, &theta, &a, &mut fz, &mut az, &mut ath);
            (fz, az, ath, at)
        };
        let (f1, z1, t1, a1) = run(&hand);
        let (f2, z2, t2, a2) = run(&tape);
        assert_grad_close("f", &f1, &f2, 1e-13);
        assert_grad_close("a_z", &z1, &z2, 1e-13);
        assert_grad_close("a_theta", &t1, &t2, 1e-13);
        assert_eq!(a1, a2);
    }
}

#[test]
fn bad_configurations_are_errors() {
    let mut layout = ParamLayout::new();
    let mlp = MlpConfig::new(&[2, 4, 3], Activation::Tanh)
        .build(&mut layout, "f")
        .unwrap();
    assert!(MlpDynamics::<f64>::new(mlp.clone(), layout.clone(), 1).is_err());
    assert!(NetDynamics::<f64, _>::new(mlp, layout, 1, 2).is_err());
    let mut layout = ParamLayout::new();
    let mlp = MlpConfig::new(&[2, 4, 2], Activation::Tanh)
        .with_time(TimeInput::Concat)
        .build(&mut layout, "f")
        .unwrap();
    assert!(MlpDynamics::<f64>::new(mlp, layout, 1).is_err());
}

#[test]
fn f32_dynamics_agree_with_f64() {
    let cfg = MlpConfig::new(&[2, 16, 2], Activation::Tanh);
    let mut layout = ParamLayout::new();
    let mlp = cfg.build(&mut layout, "f").unwrap();
    let mut th64 = vec![0.0f64; layout.len()];
    let mut th32 = vec![0.0f32; layout.len()];
    init_params(&layout, &mut th64, 2).unwrap();
    init_params(&layout, &mut th32, 2).unwrap();
    let f64d = MlpDynamics::<f64>::new(mlp.clone(), layout.clone(), 1).unwrap();
    let f32d = NetDynamics::<f32, _>::new(mlp, layout, 1, 2).unwrap();
    let (mut a, mut b) = ([0.0f64; 2], [0.0f32; 2]);
    f64d.eval(0.0, &[0.5, -0.5], &th64, &mut a);
    f32d.eval(0.0, &[0.5, -0.5], &th32, &mut b);
    for i in 0..2 {
        assert!((a[i] - f64::from(b[i])).abs() < 1e-5);
    }
}

#[test]
fn kept_forward_passes_give_the_same_products_and_follow_theta() {
    let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube);
    let mut layout = ParamLayout::new();
    let mlp = cfg.build(&mut layout, "f").unwrap();
    let mut theta = vec![0.0; layout.len()];
    init_params(&layout, &mut theta, 5).unwrap();
    let batch = 20;
    let n = 2 * batch;
    // The reference keeps one pass and never sees the states before its products.
    let plain = MlpDynamics::new(mlp.clone(), layout.clone(), batch).unwrap();
    let kept = MlpDynamics::new(mlp, layout, batch).unwrap().with_memory(6);
    let zs: Vec<Vec<f64>> = (0..6).map(|s| irregular(n, 0.3 + 0.2 * s as f64)).collect();
    let a = irregular(n, 0.7);
    let vjp = |f: &MlpDynamics<f64>, z: &[f64], th: &[f64]| {
        let (mut fz, mut az, mut ath) = (vec![0.0; n], vec![0.0; n], vec![0.0; th.len()]);
        f.vjp(0.0, z, th, &a, &mut fz, &mut az, &mut ath);
        (fz, az, ath)
    };
    // As a Direct backward pass does: all stages evaluated, then products in reverse order.
    let mut dz = vec![0.0; n];
    for z in &zs {
        kept.eval(0.0, z, &theta, &mut dz);
    }
    assert_eq!(
        kept.pass_counts(),
        PassCounts {
            computed: 6,
            reused: 0
        }
    );
    for z in zs.iter().rev() {
        assert_eq!(vjp(&kept, z, &theta), vjp(&plain, z, &theta));
    }
    assert_eq!(
        kept.pass_counts(),
        PassCounts {
            computed: 6,
            reused: 6
        }
    );
    // An evaluation at a kept state is answered from memory, with the same bits.
    let mut again = vec![0.0; n];
    let mut fresh = vec![0.0; n];
    kept.eval(0.0, &zs[2], &theta, &mut again);
    plain.eval(0.0, &zs[2], &theta, &mut fresh);
    assert_eq!(again, fresh);
    assert_eq!(
        kept.pass_counts(),
        PassCounts {
            computed: 6,
            reused: 7
        }
    );
    // New parameters (same states): nothing kept may be used.
    for v in theta.iter_mut() {
        *v *= 1.1;
    }
    for z in zs.iter().rev() {
        assert_eq!(vjp(&kept, z, &theta), vjp(&plain, z, &theta));
    }
    assert_eq!(
        kept.pass_counts(),
        PassCounts {
            computed: 12,
            reused: 7
        }
    );
    // A ring of two: the oldest of three passes is forgotten and computed again, correctly.
    let small = MlpDynamics::new(plain.mlp().clone(), plain.layout().clone(), batch)
        .unwrap()
        .with_memory(2);
    for z in &zs[..3] {
        small.eval(0.0, z, &theta, &mut dz);
    }
    for z in zs[..3].iter().rev() {
        assert_eq!(vjp(&small, z, &theta), vjp(&plain, z, &theta));
    }
    assert_eq!(
        small.pass_counts(),
        PassCounts {
            computed: 4,
            reused: 2
        }
    );
}

#[test]
fn keeping_no_pass_gives_the_same_bits_and_follows_theta() {
    // The packed narrow network (the spiral's) and wide ones on the general kernels. A pass
    // that is not kept writes the network's output straight into the caller's buffer, and an
    // identity input map reads the state itself: the final activations cover a derivative
    // read from that output (tanh) and one read from the kept pre-activation (softplus).
    for (widths, batch, input, last) in [
        (
            &[2usize, 50, 2][..],
            20usize,
            Activation::Identity,
            Activation::Identity,
        ),
        (
            &[8, 40, 8][..],
            6,
            Activation::Identity,
            Activation::Identity,
        ),
        (&[2, 50, 2][..], 20, Activation::Cube, Activation::Tanh),
        (&[8, 40, 8][..], 6, Activation::Identity, Activation::Tanh),
        (&[8, 40, 8][..], 6, Activation::Cube, Activation::Softplus),
        (
            &[3, 7, 5, 3][..],
            4,
            Activation::Identity,
            Activation::Sigmoid,
        ),
    ] {
        let cfg = MlpConfig::new(widths, Activation::Tanh)
            .with_input_activation(input)
            .with_final_activation(last);
        let mut layout = ParamLayout::new();
        let mlp = cfg.build(&mut layout, "f").unwrap();
        let mut theta = vec![0.0; layout.len()];
        init_params(&layout, &mut theta, 9).unwrap();
        let n = widths[0] * batch;
        let plain = MlpDynamics::new(mlp.clone(), layout.clone(), batch).unwrap();
        let none = MlpDynamics::new(mlp, layout, batch).unwrap().with_memory(0);
        let z = irregular(n, 0.4);
        let a = irregular(n, 0.9);
        let vjp = |f: &MlpDynamics<f64>, th: &[f64]| {
            let (mut fz, mut az, mut ath) = (vec![0.0; n], vec![0.0; n], vec![0.0; th.len()]);
            let at = f.vjp(0.0, &z, th, &a, &mut fz, &mut az, &mut ath);
            (fz, az, ath, at)
        };
        let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
        none.eval(0.0, &z, &theta, &mut d1);
        plain.eval(0.0, &z, &theta, &mut d2);
        assert_eq!(d1, d2);
        // The same state twice: computed both times.
        assert_eq!(vjp(&none, &theta), vjp(&plain, &theta));
        assert_eq!(vjp(&none, &theta), vjp(&plain, &theta));
        assert_eq!(
            none.pass_counts(),
            PassCounts {
                computed: 3,
                reused: 0
            }
        );
        // New parameters in the same buffer are used (packed weights are repacked).
        for v in theta.iter_mut() {
            *v *= -0.7;
        }
        assert_eq!(vjp(&none, &theta), vjp(&plain, &theta));
    }
}

#[test]
fn a_direct_gradient_finds_every_replayed_stage_among_the_forward_solves_passes() {
    use adjoint::{odeint, GradMethod};
    use ode_solvers::{tableau, ExplicitRk, Options};
    let cfg = MlpConfig::new(&[2, 16, 2], Activation::Tanh).with_input_activation(Activation::Cube);
    let mut layout = ParamLayout::new();
    let mlp = cfg.build(&mut layout, "f").unwrap();
    let mut theta = vec![0.0; layout.len()];
    init_params(&layout, &mut theta, 9).unwrap();
    let batch = 3;
    let z0 = irregular(2 * batch, 0.4);
    let ts = [0.3, 0.45, 0.8, 1.37];
    let dl = irregular(2 * batch * ts.len(), 1.3);
    let adaptive = Options::default().rtol(1e-7).atol(1e-9);
    let fixed = Options::default().fixed_step(0.05);
    for (tab, opts) in [
        (&tableau::DOPRI5, &adaptive),
        (&tableau::TSIT5, &adaptive),
        (&tableau::RK4, &fixed),
    ] {
        let run = |f: &MlpDynamics<f64>| {
            let method = ExplicitRk::new(tab);
            let traj = odeint(f, &z0, &theta, &ts, method, opts, GradMethod::direct()).unwrap();
            let forward = f.pass_counts();
            let g = traj.backward(&dl).unwrap();
            (forward, f.pass_counts(), g.dz0, g.dtheta, g.dts)
        };
        let kept = MlpDynamics::new(mlp.clone(), layout.clone(), batch)
            .unwrap()
            .with_memory(10_000);
        let one = MlpDynamics::new(mlp.clone(), layout.clone(), batch).unwrap();
        let (fwd, total, dz0, dth, dts) = run(&kept);
        // The backward pass computed no forward pass of its own: its stage re-evaluations and
        // products all found the forward solve's.
        assert_eq!(total.computed, fwd.computed, "{}", tab.name);
        assert!(total.reused > 0);
        // And the gradients are those of dynamics that keep one pass, bit for bit.
        let (_, plain, dz0_1, dth_1, dts_1) = run(&one);
        assert!(plain.computed > fwd.computed);
        assert_eq!((dz0, dth, dts), (dz0_1, dth_1, dts_1), "{}", tab.name);
    }
}
