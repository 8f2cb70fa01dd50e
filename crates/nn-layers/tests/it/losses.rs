//! Losses: values by hand, gradients against central finite differences.

use nn_layers::loss::{
    cross_entropy_logits, gaussian_nll, kl_diag_gaussians, l1, mse, KlGrads, Reduction,
};
use nn_layers::NnError;

use crate::common::{assert_grad_close, fd_grad, irregular};

#[test]
fn mse_and_l1() {
    let p = irregular(6, 0.1);
    let t = irregular(6, 1.7);
    let mut g = vec![0.0; 6];
    let v = mse(&p, &t, Some(&mut g)).unwrap();
    let want: f64 = p.iter().zip(&t).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 6.0;
    assert!((v - want).abs() < 1e-15);
    assert_grad_close(
        "mse",
        &g,
        &fd_grad(&mut |x| mse(x, &t, None).unwrap(), &p),
        1e-7,
    );
    let v = l1(&p, &t, Some(&mut g)).unwrap();
    let want: f64 = p.iter().zip(&t).map(|(a, b)| (a - b).abs()).sum::<f64>() / 6.0;
    assert!((v - want).abs() < 1e-15);
    assert_grad_close(
        "l1",
        &g,
        &fd_grad(&mut |x| l1(x, &t, None).unwrap(), &p),
        1e-7,
    );
    assert!(matches!(
        mse(&p, &t[..5], None),
        Err(NnError::LengthMismatch { .. })
    ));
}

#[test]
fn cross_entropy_from_logits() {
    // One sample, two equal logits: ln 2.
    let v = cross_entropy_logits(&[3.0, 3.0], 2, &[1], None).unwrap();
    assert!((v - 2f64.ln()).abs() < 1e-15);
    // Large logits do not overflow.
    let v: f64 = cross_entropy_logits(&[1000.0, 0.0], 2, &[0], None).unwrap();
    assert!(v.abs() < 1e-12);
    let (b, k) = (4, 3);
    let logits = irregular(b * k, 0.5)
        .iter()
        .map(|x| 3.0 * x)
        .collect::<Vec<_>>();
    let labels = [2, 0, 1, 2];
    let mut g = vec![0.0; b * k];
    cross_entropy_logits(&logits, k, &labels, Some(&mut g)).unwrap();
    let fd = fd_grad(
        &mut |x| cross_entropy_logits(x, k, &labels, None).unwrap(),
        &logits,
    );
    assert_grad_close("ce", &g, &fd, 1e-7);
    assert!(matches!(
        cross_entropy_logits(&logits, k, &[0, 1, 3, 0], None),
        Err(NnError::InvalidLabel {
            index: 2,
            label: 3,
            classes: 3
        })
    ));
}

#[test]
fn gaussian_nll_value_and_gradients() {
    // Standard normal at 0: ½ ln 2π.
    let v = gaussian_nll(&[0.0], &[0.0], &[0.0], Reduction::Sum, None, None).unwrap();
    assert!((v - 0.5 * (2.0 * std::f64::consts::PI).ln()).abs() < 1e-15);
    let x = irregular(5, 0.2);
    let m = irregular(5, 1.2);
    for lv in [irregular(5, 2.2), vec![-0.4]] {
        for red in [Reduction::Sum, Reduction::Mean] {
            let (mut gm, mut gl) = (vec![0.0; 5], vec![0.0; lv.len()]);
            gaussian_nll(&x, &m, &lv, red, Some(&mut gm), Some(&mut gl)).unwrap();
            let fm = fd_grad(
                &mut |mm| gaussian_nll(&x, mm, &lv, red, None, None).unwrap(),
                &m,
            );
            let fl = fd_grad(
                &mut |l| gaussian_nll(&x, &m, l, red, None, None).unwrap(),
                &lv,
            );
            assert_grad_close("mean", &gm, &fm, 1e-7);
            assert_grad_close("logvar", &gl, &fl, 1e-7);
        }
    }
}

#[test]
fn kl_between_diagonal_gaussians() {
    // KL(q‖q) = 0; KL(N(1, 1) ‖ N(0, 1)) = ½.
    let z = [0.3, -0.2];
    let v: f64 = kl_diag_gaussians(&z, &z, &z, &z, Reduction::Sum, KlGrads::default()).unwrap();
    assert!(v.abs() < 1e-15);
    let v: f64 = kl_diag_gaussians(
        &[1.0],
        &[0.0],
        &[0.0],
        &[0.0],
        Reduction::Sum,
        KlGrads::default(),
    )
    .unwrap();
    assert!((v - 0.5).abs() < 1e-15);
    let (mq, lq, mp, lp) = (
        irregular(4, 0.1),
        irregular(4, 0.9),
        irregular(4, 1.7),
        irregular(4, 2.5),
    );
    let mut g = [vec![0.0; 4], vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]];
    let [g0, g1, g2, g3] = &mut g;
    kl_diag_gaussians(
        &mq,
        &lq,
        &mp,
        &lp,
        Reduction::Mean,
        KlGrads {
            mu_q: Some(g0),
            logvar_q: Some(g1),
            mu_p: Some(g2),
            logvar_p: Some(g3),
        },
    )
    .unwrap();
    let kl = |a: &[f64], b: &[f64], c: &[f64], d: &[f64]| {
        kl_diag_gaussians(a, b, c, d, Reduction::Mean, KlGrads::default()).unwrap()
    };
    assert_grad_close(
        "mu_q",
        &g[0],
        &fd_grad(&mut |x| kl(x, &lq, &mp, &lp), &mq),
        1e-7,
    );
    assert_grad_close(
        "lv_q",
        &g[1],
        &fd_grad(&mut |x| kl(&mq, x, &mp, &lp), &lq),
        1e-7,
    );
    assert_grad_close(
        "mu_p",
        &g[2],
        &fd_grad(&mut |x| kl(&mq, &lq, x, &lp), &mp),
        1e-7,
    );
    assert_grad_close(
        "lv_p",
        &g[3],
        &fd_grad(&mut |x| kl(&mq, &lq, &mp, x), &lp),
        1e-7,
    );
}
