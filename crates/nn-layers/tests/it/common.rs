//! Central finite differences.

/// Central finite-difference gradient of a scalar function of a vector.
pub fn fd_grad(f: &mut dyn FnMut(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let x0 = x[i];
            let h = 1e-6 * x0.abs().max(1.0);
            x[i] = x0 + h;
            let up = f(&x);
            x[i] = x0 - h;
            let dn = f(&x);
            x[i] = x0;
            (up - dn) / (2.0 * h)
        })
        .collect()
}

/// Norm-wise relative error.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt();
    let s = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(b.iter().map(|x| x * x).sum::<f64>().sqrt())
        .max(1e-8);
    d / s
}

/// Asserts that `a` and `b` agree to a norm-wise relative tolerance.
#[track_caller]
pub fn assert_grad_close(what: &str, analytic: &[f64], numeric: &[f64], tol: f64) {
    let e = rel_err(analytic, numeric);
    assert!(
        e < tol,
        "{what}: relative error {e:.3e}\nanalytic {analytic:?}\nnumeric  {numeric:?}"
    );
}

/// A fixed irregular vector.
pub fn irregular(n: usize, seed: f64) -> Vec<f64> {
    (0..n)
        .map(|i| ((i as f64 * 0.77 + seed) * 1.3).sin() * 0.8 + 0.1)
        .collect()
}
