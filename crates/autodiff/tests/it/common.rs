//! Finite-difference gradient checking and proptest strategies.

use autodiff::{Result, Tape, Var};
use nalgebra::DMatrix;
use proptest::prelude::*;

/// A model built from tape operations on a list of inputs.
pub type Model<'a> = dyn Fn(&mut Tape<f64>, &[Var]) -> Result<Var> + 'a;

/// A fixed, irregular cotangent of the given shape (so that every output element matters).
pub fn cotangent(r: usize, c: usize) -> DMatrix<f64> {
    DMatrix::from_fn(r, c, |i, j| {
        ((i * 7 + j * 3) as f64 * 0.37 + 0.3).sin() + 0.2
    })
}

/// `Σ w ∘ f(inputs)`, evaluated without recording.
fn weighted_output(
    tape: &mut Tape<f64>,
    f: &Model<'_>,
    inputs: &[DMatrix<f64>],
    w: &DMatrix<f64>,
) -> f64 {
    tape.clear();
    tape.set_recording(false);
    let vars: Vec<Var> = inputs.iter().map(|m| tape.constant(m)).collect();
    let y = f(tape, &vars).expect("model evaluates");
    let out = tape.value(y).component_mul(w).sum();
    tape.set_recording(true);
    out
}

/// Checks the reverse-mode gradients of `Σ w ∘ f` with respect to every input against central
/// finite differences; the norm-wise relative error of each input's gradient must be below `tol`.
pub fn check_gradients(
    f: &Model<'_>,
    inputs: &[DMatrix<f64>],
    tol: f64,
) -> std::result::Result<(), String> {
    let mut tape = Tape::<f64>::new();
    let vars: Vec<Var> = inputs.iter().map(|m| tape.leaf(m)).collect();
    let y = f(&mut tape, &vars).map_err(|e| e.to_string())?;
    let w = cotangent(y.rows(), y.cols());
    tape.backward_with(y, &w).map_err(|e| e.to_string())?;
    let analytic: Vec<DMatrix<f64>> = vars
        .iter()
        .map(|&v| {
            tape.grad(v)
                .cloned()
                .unwrap_or_else(|| DMatrix::zeros(v.rows(), v.cols()))
        })
        .collect();
    let mut fd_tape = Tape::<f64>::new();
    let mut work: Vec<DMatrix<f64>> = inputs.to_vec();
    for (k, an) in analytic.iter().enumerate() {
        let mut numeric = DMatrix::zeros(an.nrows(), an.ncols());
        for e in 0..an.len() {
            let x0 = work[k][e];
            let h = 1e-5 * x0.abs().max(1.0);
            work[k][e] = x0 + h;
            let up = weighted_output(&mut fd_tape, f, &work, &w);
            work[k][e] = x0 - h;
            let down = weighted_output(&mut fd_tape, f, &work, &w);
            work[k][e] = x0;
            numeric[e] = (up - down) / (2.0 * h);
        }
        let err = (an - &numeric).norm();
        let scale = an.norm().max(numeric.norm()).max(1e-3);
        if err / scale > tol {
            return Err(format!(
                "input {k}: relative error {:.3e}\nanalytic {an}\nnumeric {numeric}",
                err / scale
            ));
        }
    }
    Ok(())
}

/// Asserts that `a` and `b` agree elementwise to a mixed relative/absolute tolerance.
pub fn assert_close(a: &DMatrix<f64>, b: &DMatrix<f64>, tol: f64) {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    for (x, y) in a.iter().zip(b.iter()) {
        assert!(
            (x - y).abs() <= tol * (1.0 + x.abs().max(y.abs())),
            "{x} vs {y}\nleft {a}\nright {b}"
        );
    }
}

/// A `r x c` matrix with entries in `lo..hi`.
pub fn mat(r: usize, c: usize, lo: f64, hi: f64) -> impl Strategy<Value = DMatrix<f64>> {
    prop::collection::vec(lo..hi, r * c).prop_map(move |v| DMatrix::from_vec(r, c, v))
}

/// Like [`mat`], but every entry at least `gap` away from zero (for functions with a kink at 0).
pub fn mat_away_from_zero(
    r: usize,
    c: usize,
    lim: f64,
    gap: f64,
) -> impl Strategy<Value = DMatrix<f64>> {
    mat(r, c, -lim, lim).prop_map(move |m| {
        m.map(|x| {
            if x.abs() < gap {
                x.signum() * gap + x
            } else {
                x
            }
        })
    })
}

/// A shape with both sides in `1..=max`.
pub fn shape(max: usize) -> impl Strategy<Value = (usize, usize)> {
    (1..=max, 1..=max)
}

/// A proptest configuration with few cases, to keep the suite fast.
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
