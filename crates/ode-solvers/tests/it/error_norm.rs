//! One step of every embedded Runge–Kutta pair against a textbook evaluation of the same
//! tableau: the new state, the last stage of FSAL methods and the scaled RMS error norm (whole
//! state, and the largest block norm of a shared-step batch), for state lengths on the
//! compile-time-length path (4) and on the run-time one (24), and for tableau shapes on the
//! compile-time-stage path (Bosh3, Dopri5, Tsit5) and on the general one (the two pairs below).

use ode_solvers::tableau::{self, Interpolant, Tableau};
use ode_solvers::{ErrorScale, ExplicitRk, OdeSystem, Stepper};

/// Heun's method with Euler's as the embedded estimate: two stages, not FSAL.
static HEUN_EULER: Tableau = Tableau {
    name: "heun-euler",
    citation: "test pair: Heun's method, Euler's method as the embedded one",
    order: 2,
    error_order: Some(1),
    c: &[0.0, 1.0],
    a: &[&[], &[1.0]],
    b: &[0.5, 0.5],
    e: Some(&[-0.5, 0.5]),
    interpolant: Interpolant::Hermite,
};

/// Ralston's method with a third, FSAL stage and Euler's method as the embedded estimate.
static RALSTON_FSAL: Tableau = Tableau {
    name: "ralston-fsal",
    citation: "test pair: Ralston's method (FSAL form), Euler's method as the embedded one",
    order: 2,
    error_order: Some(1),
    c: &[0.0, 2.0 / 3.0, 1.0],
    a: &[&[], &[2.0 / 3.0], &[0.25, 0.75]],
    b: &[0.25, 0.75, 0.0],
    e: Some(&[-0.75, 0.75, 0.0]),
    interpolant: Interpolant::Hermite,
};

/// A nonlinear, coupled, time-dependent right-hand side of any length.
fn rhs(t: f64, y: &[f64], dy: &mut [f64]) {
    let n = y.len();
    for i in 0..n {
        dy[i] = (t + y[i]).sin() * (1.0 + 0.1 * i as f64) - 0.3 * y[(i + 1) % n];
    }
}

/// The step by the textbook formulas: stage `k_i = f(t + c_i h, y0 + h Σ_j a_ij k_j)`,
/// `y1 = y0 + h Σ b_i k_i`, `e = h Σ e_i k_i`. Returns `(y1, k_last, e)`.
fn textbook(tab: &Tableau, t: f64, h: f64, y0: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = y0.len();
    let s = tab.stages();
    let mut k = vec![vec![0.0; n]; s];
    for i in 0..s {
        let yi: Vec<f64> = (0..n)
            .map(|m| y0[m] + h * (0..i).map(|j| tab.a[i][j] * k[j][m]).sum::<f64>())
            .collect();
        rhs(t + tab.c[i] * h, &yi, &mut k[i]);
    }
    let comb = |w: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|m| h * (0..s).map(|i| w[i] * k[i][m]).sum::<f64>())
            .collect()
    };
    let y1: Vec<f64> = comb(tab.b).iter().zip(y0).map(|(d, y)| y + d).collect();
    let e = comb(tab.e.expect("an embedded pair"));
    (y1, k[s - 1].clone(), e)
}

/// The largest over `groups` equal blocks of `sqrt(mean((e_m / sk_m)²))`.
fn rms_norm(e: &[f64], y0: &[f64], y1: &[f64], atol: &[f64], rtol: &[f64], groups: usize) -> f64 {
    let block = e.len() / groups;
    (0..groups)
        .map(|g| {
            let r = g * block..(g + 1) * block;
            let sum: f64 = r
                .clone()
                .map(|m| {
                    let sk = atol[m] + rtol[m] * y0[m].abs().max(y1[m].abs());
                    (e[m] / sk).powi(2)
                })
                .sum();
            (sum / block as f64).sqrt()
        })
        .fold(0.0, f64::max)
}

#[test]
fn every_embedded_pair_steps_and_estimates_its_error_as_the_textbook_formulas() {
    let tableaux: [&'static Tableau; 5] = [
        &tableau::BOSH3,
        &tableau::DOPRI5,
        &tableau::TSIT5,
        &HEUN_EULER,
        &RALSTON_FSAL,
    ];
    let sys = |t: f64, y: &[f64], dy: &mut [f64]| rhs(t, y, dy);
    for tab in tableaux {
        let method = ExplicitRk::<f64>::new(tab);
        for n in [4usize, 24] {
            let y0: Vec<f64> = (0..n).map(|m| (m as f64 * 0.7).cos() * 2.0).collect();
            // Per-component tolerances, so that a weight applied to the wrong component shows.
            let atol: Vec<f64> = (0..n).map(|m| 1e-10 * (1.0 + m as f64)).collect();
            let rtol: Vec<f64> = (0..n).map(|m| 1e-9 / (1.0 + m as f64)).collect();
            let (t, h) = (0.3, 0.1);
            let mut f0 = vec![0.0; n];
            sys.rhs(t, &y0, &mut f0);
            let (y1_ref, k_last, e) = textbook(tab, t, h, &y0);
            for groups in [1usize, 2] {
                let mut ws = method.workspace(n);
                let (mut y1, mut f1) = (vec![0.0; n], vec![0.0; n]);
                let scale = ErrorScale {
                    atol: &atol,
                    rtol: &rtol,
                    groups,
                };
                let rep = method.step(&sys, t, h, &y0, &f0, &mut y1, &mut f1, Some(scale), &mut ws);
                let what = format!("{} n = {n} groups = {groups}", tab.name);
                for (a, b) in y1.iter().zip(&y1_ref) {
                    assert!(
                        (a - b).abs() <= 1e-14 * b.abs().max(1.0),
                        "{what}: y1 {a} vs {b}"
                    );
                }
                assert_eq!(rep.f1_valid, tab.is_fsal(), "{what}");
                if tab.is_fsal() {
                    for (a, b) in f1.iter().zip(&k_last) {
                        assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{what}: f1");
                    }
                }
                let want = rms_norm(&e, &y0, &y1_ref, &atol, &rtol, groups);
                assert!(
                    want > 1e-2,
                    "{what}: the test step should have a visible error"
                );
                // `e` is a sum of terms about 1e6 times larger than itself (0.1 · |k| against
                // 1e-7), so the two evaluation orders differ in its last ~7 digits; a weight
                // on the wrong component or a wrong block would differ by far more.
                assert!(
                    (rep.err - want).abs() <= 1e-7 * want,
                    "{what}: error norm {} vs {want}",
                    rep.err
                );
                // The squared norm the driver uses is the square of the same number.
                let mut ws = method.workspace(n);
                let rep2 = method.step_err_sq(
                    &sys,
                    t,
                    h,
                    &y0,
                    &f0,
                    &mut y1,
                    &mut f1,
                    Some(scale),
                    &mut ws,
                );
                let sq = rep.err * rep.err;
                assert!(
                    (rep2.err - sq).abs() <= 1e-14 * sq,
                    "{what}: err² {} vs {sq}",
                    rep2.err
                );
            }
        }
    }
}
