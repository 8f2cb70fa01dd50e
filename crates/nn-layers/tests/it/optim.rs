//! Optimizers: first steps against hand-computed updates; Adam on Rosenbrock; clipping;
//! schedules.

use nn_layers::optim::{
    clip_grad_norm, clip_grad_value, Adam, AdamW, LrSchedule, Optimizer, OptimizerConfig, RmsProp,
    Sgd,
};
use nn_layers::NnError;

fn run<O: Optimizer<f64>>(opt: &O, x0: f64, grads: &[f64]) -> Vec<f64> {
    let mut x = [x0];
    let mut s = opt.init_state(1);
    grads
        .iter()
        .map(|&g| {
            opt.step(&mut x, &[g], &mut s).unwrap();
            x[0]
        })
        .collect()
}

#[track_caller]
fn close(a: &[f64], b: &[f64]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}

#[test]
fn sgd_first_steps() {
    close(&run(&Sgd::new(0.1), 1.0, &[1.0, 0.5]), &[0.9, 0.85]);
    // Momentum 0.9: b1 = 1, b2 = 0.9 + 0.5 = 1.4.
    close(
        &run(&Sgd::new(0.1).with_momentum(0.9), 1.0, &[1.0, 0.5]),
        &[0.9, 0.76],
    );
    // Nesterov: d1 = 1 + 0.9·1, d2 = 0.5 + 0.9·1.4.
    close(
        &run(&Sgd::new(0.1).with_nesterov(0.9), 1.0, &[1.0, 0.5]),
        &[0.81, 0.634],
    );
    // Weight decay 0.1: g = 1 + 0.1·1.
    close(
        &run(&Sgd::new(0.1).with_weight_decay(0.1), 1.0, &[1.0]),
        &[0.89],
    );
}

#[test]
fn rmsprop_first_steps() {
    let opt = RmsProp::new(0.01);
    let v1: f64 = 0.01 * 4.0;
    let x1 = 1.0 - 0.01 * 2.0 / (v1.sqrt() + 1e-8);
    let v2 = 0.99 * v1 + 0.01 * 1.0;
    let x2 = x1 - 0.01 * 1.0 / (f64::sqrt(v2) + 1e-8);
    close(&run(&opt, 1.0, &[2.0, 1.0]), &[x1, x2]);
    // With momentum 0.5: b1 = d1, b2 = 0.5 b1 + d2.
    let d1 = 2.0 / (v1.sqrt() + 1e-8);
    let d2 = 1.0 / (f64::sqrt(v2) + 1e-8);
    let b2 = 0.5 * d1 + d2;
    close(
        &run(&opt.with_momentum(0.5), 1.0, &[2.0, 1.0]),
        &[1.0 - 0.01 * d1, 1.0 - 0.01 * d1 - 0.01 * b2],
    );
}

#[test]
fn adam_and_adamw_first_steps() {
    let (b1, b2, eps, lr): (f64, f64, f64, f64) = (0.9, 0.999, 1e-8, 0.1);
    let (g1, g2) = (2.0, -1.0);
    let m1 = (1.0 - b1) * g1;
    let v1 = (1.0 - b2) * g1 * g1;
    let x1 = 1.0 - lr / (1.0 - b1) * m1 / (v1.sqrt() / (1.0 - b2).sqrt() + eps);
    let m2 = b1 * m1 + (1.0 - b1) * g2;
    let v2 = b2 * v1 + (1.0 - b2) * g2 * g2;
    let x2 = x1 - lr / (1.0 - b1 * b1) * m2 / (v2.sqrt() / (1.0 - b2 * b2).sqrt() + eps);
    close(&run(&Adam::new(lr), 1.0, &[g1, g2]), &[x1, x2]);
    // AdamW: shrink first, then the same Adam update.
    let wd = 0.1;
    let y1 = 1.0 * (1.0 - lr * wd) - (1.0 - x1);
    close(
        &run(
            &AdamW {
                weight_decay: wd,
                ..AdamW::new(lr)
            },
            1.0,
            &[g1],
        ),
        &[y1],
    );
}

#[test]
fn adam_minimises_rosenbrock() {
    let opt = Adam::new(0.01);
    let mut x = [-1.5f64, 2.0];
    let mut s = opt.init_state(2);
    for _ in 0..30_000 {
        let (a, b) = (x[0], x[1]);
        let g = [
            -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
            200.0 * (b - a * a),
        ];
        opt.step(&mut x, &g, &mut s).unwrap();
    }
    assert!(
        (x[0] - 1.0).abs() < 1e-2 && (x[1] - 1.0).abs() < 2e-2,
        "{x:?}"
    );
}

#[test]
fn errors_leave_parameters_unchanged() {
    let opt = OptimizerConfig::Adam(Adam::new(0.1));
    let mut x = [1.0f64, 2.0];
    let mut s = Optimizer::<f64>::init_state(&opt, 2);
    assert!(matches!(
        opt.step(&mut x, &[1.0], &mut s),
        Err(NnError::LengthMismatch { .. })
    ));
    assert!(matches!(
        opt.step(&mut x, &[1.0, f64::NAN], &mut s),
        Err(NnError::NonFinite { .. })
    ));
    assert_eq!(x, [1.0, 2.0]);
    assert_eq!(s.step, 0);
    let mut wrong = Optimizer::<f64>::init_state(&opt, 3);
    assert!(opt.step(&mut x, &[1.0, 1.0], &mut wrong).is_err());
}

#[test]
fn f32_optimizers_run() {
    for opt in [
        OptimizerConfig::Sgd(Sgd::new(0.1).with_nesterov(0.9)),
        OptimizerConfig::RmsProp(RmsProp::new(0.01)),
        OptimizerConfig::Adam(Adam::new(0.1)),
        OptimizerConfig::AdamW(AdamW::new(0.1)),
    ] {
        let mut x = [1.0f32, -1.0];
        let mut s = Optimizer::<f32>::init_state(&opt, 2);
        for _ in 0..200 {
            let g = [2.0 * x[0], 2.0 * x[1]];
            opt.step(&mut x, &g, &mut s).unwrap();
        }
        assert!(x.iter().all(|v| v.abs() < 0.1), "{opt:?}: {x:?}");
    }
}

#[test]
fn clipping() {
    let mut g = [3.0f64, 4.0];
    assert_eq!(clip_grad_norm(&mut g, 10.0).unwrap(), 5.0);
    assert_eq!(g, [3.0, 4.0]);
    clip_grad_norm(&mut g, 1.0).unwrap();
    let n = (g[0] * g[0] + g[1] * g[1]).sqrt();
    assert!((n - 1.0).abs() < 1e-6);
    let mut bad = [f64::INFINITY, 1.0];
    assert!(matches!(
        clip_grad_norm(&mut bad, 1.0),
        Err(NnError::NonFinite { .. })
    ));
    let mut g = [3.0f64, -4.0, 0.5];
    clip_grad_value(&mut g, 1.0).unwrap();
    assert_eq!(g, [1.0, -1.0, 0.5]);
}

#[test]
fn schedules() {
    let s = LrSchedule::Step {
        step_size: 10,
        gamma: 0.1,
    };
    assert_eq!(s.lr(1.0, 9), 1.0);
    assert!((s.lr(1.0, 10) - 0.1).abs() < 1e-15);
    let e = LrSchedule::Exponential { gamma: 0.5 };
    assert_eq!(e.lr(2.0, 3), 0.25);
    let c = LrSchedule::Cosine {
        t_max: 100,
        eta_min: 0.1,
    };
    assert!((c.lr(1.0, 0) - 1.0).abs() < 1e-15);
    assert!((c.lr(1.0, 50) - 0.55).abs() < 1e-12);
    assert!((c.lr(1.0, 100) - 0.1).abs() < 1e-12);
    assert_eq!(LrSchedule::Constant.lr(0.3, 1000), 0.3);
}
