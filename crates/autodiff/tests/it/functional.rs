//! grad, vjp, jacobian and trace estimators against hand-derived results.

use autodiff::{grad, jacobian, trace_exact, trace_hutchinson, vjp, Hutchinson, Probe, Tape, Var};
use nalgebra::DMatrix;

use crate::common::assert_close;

fn w() -> DMatrix<f64> {
    DMatrix::from_row_slice(3, 3, &[0.5, -0.2, 0.1, 0.3, 0.8, -0.4, -0.6, 0.2, 0.9])
}

/// f(z) = tanh(z W), batched over rows.
fn layer(t: &mut Tape<f64>, z: Var) -> autodiff::Result<Var> {
    let w = t.constant(&w());
    let h = t.matmul(z, w)?;
    Ok(t.tanh(h))
}

fn z() -> DMatrix<f64> {
    DMatrix::from_row_slice(2, 3, &[0.2, -0.5, 1.0, 0.7, 0.1, -0.3])
}

#[test]
fn grad_of_a_quadratic_form() {
    // f(x) = x A xᵀ for a row x: ∇f = x (A + Aᵀ).
    let a = DMatrix::<f64>::from_row_slice(2, 2, &[1.0, 2.0, -1.0, 3.0]);
    let x = DMatrix::from_row_slice(1, 2, &[0.5, -2.0]);
    let mut tape = Tape::new();
    let (fx, g) = grad(
        &mut tape,
        |t, x| {
            let a = t.constant(&a);
            let xa = t.matmul(x, a)?;
            t.matmul_nt(xa, x)
        },
        &x,
    )
    .unwrap();
    assert!((fx - (&x * &a * x.transpose())[0]).abs() < 1e-14);
    assert_close(&g, &(&x * (&a + a.transpose())), 1e-14);
    // A non-scalar output is an error.
    assert!(grad(&mut tape, |t, x| Ok(t.exp(x)), &DMatrix::zeros(2, 2)).is_err());
}

#[test]
fn vjp_of_a_tanh_layer() {
    // y = tanh(z W): vᵀJ = ((1 - y²) ∘ v) Wᵀ.
    let v = DMatrix::from_row_slice(2, 3, &[1.0, -1.0, 0.5, 0.2, 0.3, -2.0]);
    let mut tape = Tape::new();
    let (y, p) = vjp(&mut tape, layer, &z(), &v).unwrap();
    let y_ref = (z() * w()).map(f64::tanh);
    assert_close(&y, &y_ref, 1e-14);
    let expected = y_ref.map(|y| 1.0 - y * y).component_mul(&v) * w().transpose();
    assert_close(&p, &expected, 1e-14);
}

#[test]
fn jacobian_of_small_functions() {
    // f(x0, x1) = [x0 x1, sin x0, x1²] (as a 1x3 row): J = [[x1, x0], [cos x0, 0], [0, 2 x1]].
    let x = DMatrix::from_row_slice(1, 2, &[0.7, -1.3]);
    let mut tape = Tape::new();
    let j = jacobian(
        &mut tape,
        |t, x| {
            let a = t.slice_cols(x, 0, 1)?;
            let b = t.slice_cols(x, 1, 1)?;
            let p = t.mul(a, b)?;
            let s = t.sin(a);
            let q = t.square(b);
            let ps = t.concat_cols(p, s)?;
            t.concat_cols(ps, q)
        },
        &x,
    )
    .unwrap();
    let (x0, x1) = (0.7f64, -1.3f64);
    let expected = DMatrix::from_row_slice(3, 2, &[x1, x0, x0.cos(), 0.0, 0.0, 2.0 * x1]);
    assert_close(&j, &expected, 1e-15);

    // A batched layer: for a 1-row input the Jacobian of tanh(z W) is diag(1 - y²) Wᵀ.
    let z1 = DMatrix::from_row_slice(1, 3, &[0.2, -0.5, 1.0]);
    let j = jacobian(&mut tape, layer, &z1).unwrap();
    let y = (&z1 * w()).map(f64::tanh);
    let expected =
        DMatrix::from_diagonal(&y.map(|y| 1.0 - y * y).transpose().column(0)) * w().transpose();
    assert_close(&j, &expected, 1e-14);
}

/// Per-row exact trace of ∂ tanh(z W)/∂z: Σ_d (1 - y_bd²) W_dd.
fn trace_reference() -> DMatrix<f64> {
    let y = (z() * w()).map(f64::tanh);
    DMatrix::from_fn(2, 1, |b, _| {
        (0..3)
            .map(|d| (1.0 - y[(b, d)].powi(2)) * w()[(d, d)])
            .sum()
    })
}

#[test]
fn exact_trace_matches_hand_derived() {
    let mut tape = Tape::new();
    let (y, tr) = trace_exact(&mut tape, layer, &z()).unwrap();
    assert_close(&y, &(z() * w()).map(f64::tanh), 1e-14);
    assert_close(&tr, &trace_reference(), 1e-14);
    // Non-square maps are rejected.
    assert!(trace_exact(&mut tape, |t, z| Ok(t.row_sums(z)), &z()).is_err());
}

#[test]
fn hutchinson_mean_converges_to_exact_trace() {
    let exact = trace_reference();
    let mut tape = Tape::new();
    for probe in [Probe::Rademacher, Probe::Gaussian] {
        let mut h = Hutchinson::new(probe, 7);
        let n = 4000;
        let mut sum = DMatrix::zeros(2, 1);
        let mut sum_sq = DMatrix::zeros(2, 1);
        for _ in 0..n {
            let (_, est) = h.estimate(&mut tape, layer, &z()).unwrap();
            sum += &est;
            sum_sq += est.map(|e| e * e);
        }
        let mean = &sum / n as f64;
        for b in 0..2 {
            let var = sum_sq[b] / n as f64 - mean[b] * mean[b];
            let se = (var / n as f64).sqrt();
            // Five standard errors: fails by chance with probability below 1e-6 (and the seed
            // is fixed, so the outcome is deterministic).
            assert!(
                (mean[b] - exact[b]).abs() < 5.0 * se + 1e-12,
                "{probe:?}: {} vs {} (se {se})",
                mean[b],
                exact[b]
            );
        }
    }
}

#[test]
fn hutchinson_is_reproducible_and_probes_are_sound() {
    let mut a = Hutchinson::new(Probe::Gaussian, 123);
    let mut b = Hutchinson::new(Probe::Gaussian, 123);
    let pa: DMatrix<f64> = a.sample(50, 40);
    let pb: DMatrix<f64> = b.sample(50, 40);
    assert_eq!(pa, pb);
    let mut c = Hutchinson::new(Probe::Gaussian, 124);
    assert_ne!(pa, c.sample::<f64>(50, 40));
    // Sample moments of 2000 Gaussian draws: mean ~ 0, variance ~ 1.
    let m = pa.mean();
    let v = pa.map(|x| (x - m) * (x - m)).mean();
    assert!(m.abs() < 0.1 && (v - 1.0).abs() < 0.1, "mean {m}, var {v}");
    let r: DMatrix<f64> = Hutchinson::new(Probe::Rademacher, 5).sample(10, 10);
    assert!(r.iter().all(|&x| x == 1.0 || x == -1.0));
    // With a given probe, the estimate is εᵀ J ε per row, computed here by hand for a linear
    // map f(z) = z A (per-row Jacobian Aᵀ): est_b = ε_b A ε_bᵀ.
    let amat = DMatrix::<f64>::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
    let eps = DMatrix::from_row_slice(2, 2, &[1.0, -1.0, 0.5, 2.0]);
    let zz = DMatrix::from_row_slice(2, 2, &[0.1, 0.2, 0.3, 0.4]);
    let mut tape = Tape::new();
    let (_, est) = trace_hutchinson(
        &mut tape,
        |t, z| {
            let a = t.constant(&amat);
            t.matmul(z, a)
        },
        &zz,
        &eps,
    )
    .unwrap();
    for bidx in 0..2 {
        let e = eps.row(bidx);
        let expected = (e * &amat * e.transpose())[0];
        assert!((est[bidx] - expected).abs() < 1e-14);
    }
}
