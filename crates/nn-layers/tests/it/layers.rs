//! Every layer's gradient against central finite differences (f64), both bindings, and the
//! parameter layout.

use autodiff::Tape;
use nn_layers::{
    init_params, Activation, Binding, ConcatLinear, ConcatSquash, Init, Layer, Linear, MlpConfig,
    NnError, ParamLayout, ParamVars, TimeInput, TimeLayer,
};
use proptest::prelude::*;

use crate::common::{assert_grad_close, fd_grad, irregular};

/// A network under test: records output from (params, t, x).
type Net<'a> = dyn Fn(&mut Tape<f64>, &ParamVars, autodiff::Var, autodiff::Var) -> nn_layers::Result<autodiff::Var>
    + 'a;

/// Checks d(Σ w∘y)/d(θ, x, t) against FD, for both bindings.
fn check_net(net: &Net<'_>, layout: &ParamLayout, batch: usize, din: usize) {
    let mut theta = vec![0.0; layout.len()];
    init_params(layout, &mut theta, 11).unwrap();
    // Non-zero biases so that every term matters.
    for (i, v) in theta.iter_mut().enumerate() {
        *v += 0.05 * ((i as f64) * 0.3).cos();
    }
    let x = irregular(batch * din, 0.4);
    let t0 = 0.37;
    let value = |th: &[f64], x: &[f64], t: f64| -> (f64, Vec<f64>) {
        let mut tape = Tape::new();
        tape.set_recording(false);
        let mut p = ParamVars::new();
        p.bind(&mut tape, layout, th, Binding::PerTensor).unwrap();
        let xv = tape.constant_from_slice(batch, din, x).unwrap();
        let tv = tape.constant_scalar(t);
        let y = net(&mut tape, &p, tv, xv).unwrap();
        let w = irregular(y.len(), 1.9);
        (tape.value(y).iter().zip(&w).map(|(a, b)| a * b).sum(), w)
    };
    for binding in [Binding::PerTensor, Binding::Flat] {
        let mut tape = Tape::new();
        let mut p = ParamVars::new();
        p.bind(&mut tape, layout, &theta, binding).unwrap();
        let xv = tape.leaf_from_slice(batch, din, &x).unwrap();
        let tv = tape.leaf_scalar(t0);
        let y = net(&mut tape, &p, tv, xv).unwrap();
        let (_, w) = value(&theta, &x, t0);
        tape.backward_with_slice(y, &w).unwrap();
        let mut g_theta = vec![0.0; theta.len()];
        p.grads_to_flat(&tape, layout, &mut g_theta).unwrap();
        let mut g_x = vec![0.0; x.len()];
        tape.grad_to_slice(xv, &mut g_x).unwrap();
        let mut g_t = [0.0];
        tape.grad_to_slice(tv, &mut g_t).unwrap();

        let fd_theta = fd_grad(&mut |th| value(th, &x, t0).0, &theta);
        let fd_x = fd_grad(&mut |xx| value(&theta, xx, t0).0, &x);
        let fd_t = fd_grad(&mut |tt| value(&theta, &x, tt[0]).0, &[t0]);
        assert_grad_close("theta", &g_theta, &fd_theta, 1e-6);
        assert_grad_close("x", &g_x, &fd_x, 1e-6);
        assert!(
            (g_t[0] - fd_t[0]).abs() < 1e-6 * fd_t[0].abs().max(1.0),
            "t: {} vs {}",
            g_t[0],
            fd_t[0]
        );
    }
}

#[test]
fn linear_gradient_matches_fd() {
    let mut layout = ParamLayout::new();
    let l = Linear::new(&mut layout, "fc", 3, 4, true).unwrap();
    check_net(&|tape, p, _t, x| l.forward(tape, p, x), &layout, 5, 3);
    let mut layout = ParamLayout::new();
    let l = Linear::new(&mut layout, "fc", 3, 2, false).unwrap();
    check_net(&|tape, p, _t, x| l.forward(tape, p, x), &layout, 2, 3);
}

#[test]
fn mlp_gradients_match_fd_for_every_activation_and_time_mode() {
    for act in [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus,
        Activation::Elu(1.0),
        Activation::Relu,
    ] {
        for time in [TimeInput::None, TimeInput::Concat, TimeInput::ConcatSquash] {
            let cfg = MlpConfig::new(&[3, 6, 5, 2], act)
                .with_time(time)
                .with_input_activation(Activation::Cube)
                .with_final_activation(Activation::Tanh);
            let mut layout = ParamLayout::new();
            let mlp = cfg.build(&mut layout, "net").unwrap();
            check_net(&|tape, p, t, x| mlp.forward_t(tape, p, t, x), &layout, 4, 3);
        }
    }
}

#[test]
fn time_layers_match_fd_and_their_formulas() {
    let mut layout = ParamLayout::new();
    let cl = ConcatLinear::new(&mut layout, "c", 2, 3).unwrap();
    check_net(&|tape, p, t, x| cl.forward_t(tape, p, t, x), &layout, 3, 2);
    let mut layout = ParamLayout::new();
    let cs = ConcatSquash::new(&mut layout, "s", 2, 3).unwrap();
    check_net(&|tape, p, t, x| cs.forward_t(tape, p, t, x), &layout, 3, 2);

    // ConcatSquash by hand: (xW + b)·σ(t w_g + b_g) + t c, one sample, one output.
    let mut layout = ParamLayout::new();
    let cs = ConcatSquash::new(&mut layout, "s", 1, 1).unwrap();
    let theta = [2.0, 0.5, 0.3, -0.1, 0.7]; // W, b, w_g, b_g, c
    let (x, t) = (1.5, 2.0);
    let mut tape = Tape::new();
    let mut p = ParamVars::new();
    p.bind(&mut tape, &layout, &theta, Binding::PerTensor)
        .unwrap();
    let xv = tape.constant_scalar(x);
    let tv = tape.constant_scalar(t);
    let y = cs.forward_t(&mut tape, &p, tv, xv).unwrap();
    let sig = 1.0 / (1.0 + (-(0.3 * t - 0.1f64)).exp());
    let want = (2.0 * x + 0.5) * sig + 0.7 * t;
    assert!((tape.value(y)[0] - want).abs() < 1e-14);

    // ConcatLinear: t multiplies row 0 of the weight.
    let mut layout = ParamLayout::new();
    let cl = ConcatLinear::new(&mut layout, "c", 1, 1).unwrap();
    let theta = [3.0, 2.0, 0.5]; // W = [w_t; w_x], b
    let mut tape = Tape::new();
    p.bind(&mut tape, &layout, &theta, Binding::PerTensor)
        .unwrap();
    let xv = tape.constant_scalar(x);
    let tv = tape.constant_scalar(t);
    let y = cl.forward_t(&mut tape, &p, tv, xv).unwrap();
    assert_eq!(tape.value(y)[0], 3.0 * t + 2.0 * x + 0.5);
}

#[test]
fn layout_order_names_and_errors() {
    let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh);
    let mut layout = ParamLayout::new();
    cfg.build(&mut layout, "net").unwrap();
    let names: Vec<_> = layout
        .specs()
        .iter()
        .map(|s| (s.name.as_str(), s.rows, s.cols, s.offset))
        .collect();
    assert_eq!(
        names,
        [
            ("net.0.weight", 2, 50, 0),
            ("net.0.bias", 1, 50, 100),
            ("net.2.weight", 50, 2, 150),
            ("net.2.bias", 1, 2, 250),
        ]
    );
    assert_eq!(layout.len(), 252);
    assert!(matches!(
        cfg.build(&mut layout, "net"),
        Err(NnError::DuplicateParam { .. })
    ));
    assert!(matches!(
        MlpConfig::new(&[2], Activation::Tanh).build(&mut ParamLayout::new(), "x"),
        Err(NnError::Config { .. })
    ));
    let theta = vec![0.0; 3];
    assert!(matches!(
        layout.slice(&theta, "net.0.bias"),
        Err(NnError::LengthMismatch { .. })
    ));
    let theta = vec![0.0; layout.len()];
    assert!(matches!(
        layout.slice(&theta, "nope"),
        Err(NnError::UnknownParam { .. })
    ));

    // Wrong input width and a missing time input are typed errors.
    let mut layout = ParamLayout::new();
    let mlp = MlpConfig::new(&[2, 3, 2], Activation::Tanh)
        .with_time(TimeInput::Concat)
        .build(&mut layout, "f")
        .unwrap();
    let mut tape = Tape::<f64>::new();
    let mut p = ParamVars::new();
    p.bind(
        &mut tape,
        &layout,
        &vec![0.0; layout.len()],
        Binding::PerTensor,
    )
    .unwrap();
    let x = tape.constant_fill(1, 3, 1.0);
    let t = tape.constant_scalar(0.0);
    assert!(matches!(
        mlp.forward_t(&mut tape, &p, t, x),
        Err(NnError::InputWidth { .. })
    ));
    let x = tape.constant_fill(1, 2, 1.0);
    assert!(matches!(
        mlp.forward(&mut tape, &p, x),
        Err(NnError::MissingTime)
    ));
}

#[test]
fn init_is_reproducible_and_has_the_right_scale() {
    let mut layout = ParamLayout::new();
    layout
        .add("a", 200, 300, Init::GlorotUniform, (200, 300))
        .unwrap();
    layout
        .add("b", 200, 300, Init::GlorotNormal, (200, 300))
        .unwrap();
    layout
        .add("c", 200, 300, Init::HeNormal, (200, 300))
        .unwrap();
    layout
        .add("d", 200, 300, Init::HeUniform, (200, 300))
        .unwrap();
    layout.add("e", 1, 300, Init::Zeros, (200, 300)).unwrap();
    layout
        .add("f", 100, 100, Init::Normal { std: 0.5 }, (1, 1))
        .unwrap();
    let mut a = vec![0.0f64; layout.len()];
    let mut b = vec![1.0f64; layout.len()];
    init_params(&layout, &mut a, 5).unwrap();
    init_params(&layout, &mut b, 5).unwrap();
    assert_eq!(a, b);
    init_params(&layout, &mut b, 6).unwrap();
    assert_ne!(a, b);
    let std = |name: &str| {
        let s = layout.slice(&a, name).unwrap();
        let m = s.iter().sum::<f64>() / s.len() as f64;
        (s.iter().map(|x| (x - m).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
    };
    let glorot = (2.0 / 500.0f64).sqrt();
    let he = (2.0 / 200.0f64).sqrt();
    for (name, want) in [
        ("a", glorot),
        ("b", glorot),
        ("c", he),
        ("d", he),
        ("f", 0.5),
    ] {
        assert!(
            (std(name) / want - 1.0).abs() < 0.03,
            "{name}: {} vs {want}",
            std(name)
        );
    }
    assert!(layout.slice(&a, "e").unwrap().iter().all(|&x| x == 0.0));
    // f32 draws are the f64 draws rounded.
    let mut c = vec![0.0f32; layout.len()];
    init_params(&layout, &mut c, 5).unwrap();
    assert!(a.iter().zip(&c).all(|(&x, &y)| (x as f32) == y));
    // Adding a tensor at the end leaves earlier ones unchanged.
    let mut bigger = layout.clone();
    bigger.add("g", 3, 3, Init::GlorotUniform, (3, 3)).unwrap();
    let mut d = vec![0.0f64; bigger.len()];
    init_params(&bigger, &mut d, 5).unwrap();
    assert_eq!(&d[..a.len()], &a[..]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// Writing a tensor through its named slice and reading it back round-trips, and tensors
    /// tile the flat vector in registration order.
    #[test]
    fn named_slices_tile_the_flat_vector(shapes in proptest::collection::vec((1usize..5, 1usize..5), 1..6)) {
        let mut layout = ParamLayout::new();
        for (i, &(r, c)) in shapes.iter().enumerate() {
            layout.add(&format!("t{i}"), r, c, Init::Zeros, (r, c)).unwrap();
        }
        let mut theta = vec![0.0f64; layout.len()];
        let mut offset = 0;
        for (i, s) in layout.specs().iter().enumerate() {
            prop_assert_eq!(s.offset, offset);
            offset += s.len();
            layout.slice_mut(&mut theta, &format!("t{i}")).unwrap().fill(i as f64);
        }
        prop_assert_eq!(offset, layout.len());
        for (i, s) in layout.specs().iter().enumerate() {
            prop_assert!(theta[s.range()].iter().all(|&x| x == i as f64));
        }
    }
}

/// Reference group norm by loops (γ, β per channel; channel-major columns).
#[allow(clippy::too_many_arguments)]
fn group_norm_ref(
    x: &[f64],
    b: usize,
    c: usize,
    s: usize,
    g: usize,
    gamma: &[f64],
    beta: &[f64],
    eps: f64,
) -> Vec<f64> {
    let at = |i: usize, ch: usize, p: usize| i + (ch * s + p) * b;
    let mut y = vec![0.0; x.len()];
    let cg = c / g;
    for i in 0..b {
        for grp in 0..g {
            let idx: Vec<usize> = (grp * cg..(grp + 1) * cg)
                .flat_map(|ch| (0..s).map(move |p| (ch, p)))
                .map(|(ch, p)| at(i, ch, p))
                .collect();
            let m = idx.iter().map(|&k| x[k]).sum::<f64>() / idx.len() as f64;
            let v = idx.iter().map(|&k| (x[k] - m).powi(2)).sum::<f64>() / idx.len() as f64;
            for ch in grp * cg..(grp + 1) * cg {
                for p in 0..s {
                    let k = at(i, ch, p);
                    y[k] = (x[k] - m) / (v + eps).sqrt() * gamma[ch] + beta[ch];
                }
            }
        }
    }
    y
}

#[test]
fn group_norm_matches_hand_computation_and_fd() {
    let (b, c, s, g) = (2, 4, 3, 2);
    let mut layout = ParamLayout::new();
    let gn = nn_layers::GroupNorm::new(&mut layout, "gn", g, c, s).unwrap();
    let theta: Vec<f64> = irregular(2 * c, 0.7);
    let x = irregular(b * c * s, 0.2)
        .iter()
        .map(|v| 3.0 * v)
        .collect::<Vec<_>>();
    let mut tape = Tape::new();
    let mut p = ParamVars::new();
    p.bind(&mut tape, &layout, &theta, Binding::PerTensor)
        .unwrap();
    let xv = tape.constant_from_slice(b, c * s, &x).unwrap();
    let y = gn.forward(&mut tape, &p, xv).unwrap();
    let want = group_norm_ref(&x, b, c, s, g, &theta[..c], &theta[c..], 1e-5);
    for (a, w) in tape.value(y).iter().zip(&want) {
        assert!((a - w).abs() < 1e-12, "{a} vs {w}");
    }
    check_net(&|tape, p, _t, x| gn.forward(tape, p, x), &layout, b, c * s);
    assert!(nn_layers::GroupNorm::new(&mut ParamLayout::new(), "x", 3, 4, 1).is_err());
}

#[test]
#[allow(clippy::needless_range_loop)]
fn batch_norm_matches_hand_computation_and_fd() {
    let (b, c, s) = (3, 2, 2);
    let mut layout = ParamLayout::new();
    let bn = nn_layers::BatchNorm::new(&mut layout, "bn", c, s).unwrap();
    let theta: Vec<f64> = irregular(2 * c, 0.3);
    let x = irregular(b * c * s, 1.4);
    let mut tape = Tape::new();
    let mut p = ParamVars::new();
    p.bind(&mut tape, &layout, &theta, Binding::PerTensor)
        .unwrap();
    let xv = tape.constant_from_slice(b, c * s, &x).unwrap();
    let y = bn.forward(&mut tape, &p, xv).unwrap();
    // By hand: channel ch covers columns ch*s .. ch*s+s of all rows.
    let per = b * s;
    for ch in 0..c {
        let vals = &x[ch * per..(ch + 1) * per];
        let m = vals.iter().sum::<f64>() / per as f64;
        let v = vals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / per as f64;
        for k in ch * per..(ch + 1) * per {
            let want = (x[k] - m) / (v + 1e-5).sqrt() * theta[ch] + theta[c + ch];
            assert!((tape.value(y)[k] - want).abs() < 1e-12);
        }
    }
    check_net(&|tape, p, _t, x| bn.forward(tape, p, x), &layout, b, c * s);
    // Evaluation mode with the batch's own biased statistics reproduces training mode.
    let xm = nalgebra::DMatrix::from_column_slice(b, c * s, &x);
    let (mean, var) = bn.batch_stats(&xm).unwrap();
    let biased: Vec<f64> = var
        .iter()
        .map(|v| v * (per - 1) as f64 / per as f64)
        .collect();
    let ye = bn.forward_eval(&mut tape, &p, xv, &mean, &biased).unwrap();
    for (a, w) in tape.value(ye).iter().zip(tape.value(y).iter()) {
        assert!((a - w).abs() < 1e-12);
    }
    let mut running = vec![0.0; c];
    bn.update_running(&mut running, &mean);
    assert!((running[0] - 0.1 * mean[0]).abs() < 1e-15);
}

#[test]
fn conv_layers_match_fd() {
    let mut layout = ParamLayout::new();
    let conv = nn_layers::Conv2dConfig::new(2, 3, (5, 4), 3)
        .stride(2)
        .padding(1)
        .build(&mut layout, "conv")
        .unwrap();
    assert_eq!(conv.out, (3, 2));
    check_net(
        &|tape, p, _t, x| conv.forward(tape, p, x),
        &layout,
        2,
        2 * 20,
    );
    let mut layout = ParamLayout::new();
    let cc = nn_layers::ConcatConv2d::new(
        &mut layout,
        "cc",
        nn_layers::Conv2dConfig::new(1, 2, (3, 3), 3).padding(1),
    )
    .unwrap();
    check_net(&|tape, p, t, x| cc.forward_t(tape, p, t, x), &layout, 2, 9);
    assert!(nn_layers::Conv2dConfig::new(1, 1, (2, 2), 3)
        .build(&mut ParamLayout::new(), "x")
        .is_err());
}

#[test]
fn pooling_matches_hand_computation_and_fd() {
    let (b, c, h, w) = (2, 3, 4, 5);
    let x = irregular(b * c * h * w, 0.9);
    let at = |i: usize, ch: usize, y: usize, xx: usize| x[i + (ch * h * w + y * w + xx) * b];
    let layout = ParamLayout::new();
    let mut tape = Tape::new();
    let p = ParamVars::new();
    let xv = tape.constant_from_slice(b, c * h * w, &x).unwrap();
    // 2x2 windows, stride 2: output 2x2.
    let pool = nn_layers::AvgPool2d {
        channels: c,
        size: (h, w),
        kernel: 2,
        stride: 2,
    };
    let y = pool.forward(&mut tape, &p, xv).unwrap();
    assert_eq!(y.shape(), (b, c * 4));
    for i in 0..b {
        for ch in 0..c {
            for oy in 0..2 {
                for ox in 0..2 {
                    let want = (at(i, ch, 2 * oy, 2 * ox)
                        + at(i, ch, 2 * oy + 1, 2 * ox)
                        + at(i, ch, 2 * oy, 2 * ox + 1)
                        + at(i, ch, 2 * oy + 1, 2 * ox + 1))
                        / 4.0;
                    let got = tape.value(y)[(i, ch * 4 + oy * 2 + ox)];
                    assert!((got - want).abs() < 1e-14);
                }
            }
        }
    }
    let gap = nn_layers::GlobalAvgPool {
        channels: c,
        spatial: h * w,
    };
    let g = gap.forward(&mut tape, &p, xv).unwrap();
    for i in 0..b {
        for ch in 0..c {
            let want = (0..h * w).map(|k| at(i, ch, k / w, k % w)).sum::<f64>() / (h * w) as f64;
            assert!((tape.value(g)[(i, ch)] - want).abs() < 1e-14);
        }
    }
    check_net(
        &|tape, p, _t, x| pool.forward(tape, p, x),
        &layout,
        b,
        c * h * w,
    );
    check_net(
        &|tape, p, _t, x| gap.forward(tape, p, x),
        &layout,
        b,
        c * h * w,
    );
}

#[test]
fn gru_matches_hand_computation_and_fd() {
    // One unit, one input, one step, by hand.
    let mut layout = ParamLayout::new();
    let gru = nn_layers::Gru::new(&mut layout, "g", 1, 1).unwrap();
    // weight_ih [r, z, n], weight_hh, bias_ih, bias_hh.
    let theta = [
        0.5, -0.3, 0.8, 0.2, 0.4, -0.6, 0.1, 0.0, -0.2, 0.05, 0.3, 0.15,
    ];
    let (x, h) = (0.7, -0.4);
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let r = sig(0.5 * x + 0.1 + 0.2 * h + 0.05);
    let z = sig(-0.3 * x + 0.0 + 0.4 * h + 0.3);
    let n = (0.8 * x - 0.2 + r * (-0.6 * h + 0.15)).tanh();
    let want = (1.0 - z) * n + z * h;
    let mut tape = Tape::new();
    let mut p = ParamVars::new();
    p.bind(&mut tape, &layout, &theta, Binding::PerTensor)
        .unwrap();
    let xv = tape.constant_scalar(x);
    let hv = tape.constant_scalar(h);
    let y = gru.step(&mut tape, &p, xv, hv).unwrap();
    assert!((tape.value(y)[0] - want).abs() < 1e-15);

    // A 3-step sequence, both directions: gradients w.r.t. θ and the inputs against FD.
    let mut layout = ParamLayout::new();
    let gru = nn_layers::Gru::new(&mut layout, "g", 2, 3).unwrap();
    for reverse in [false, true] {
        check_net(
            &|tape, p, _t, x| {
                let xs: Vec<_> = (0..3)
                    .map(|k| {
                        let s = tape.slice_cols(x, 2 * k, 2)?;
                        Ok(tape.mul_scalar(s, 1.0 + k as f64))
                    })
                    .collect::<autodiff::Result<_>>()?;
                let h0 = tape.constant_fill(x.rows(), 3, 0.1);
                let mut states = Vec::new();
                let h = gru.run_all(tape, p, &xs, h0, reverse, &mut states)?;
                assert_eq!(states.len(), 3);
                let h1 = gru.run(tape, p, &xs, h0, reverse)?;
                Ok(tape.add(h, h1)?)
            },
            &layout,
            2,
            6,
        );
    }
}
