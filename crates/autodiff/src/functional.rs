//! Function-level derivatives built on the tape: gradient, vector–Jacobian product, Jacobian,
//! and the trace of a Jacobian (exact, or Hutchinson's stochastic estimate) as continuous
//! normalizing flows need.
//!
//! Every function takes the [`Tape`] to record on (clearing it first), so a caller that keeps one
//! tape reuses its buffers across calls, and a closure `f(tape, x) -> Result<Var>` that builds the
//! function from tape operations.

use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{AutodiffError, Result};
use crate::tape::{Tape, Var};
use crate::Scalar;

/// Records `f` at `x` on a cleared tape; returns the input and output handles.
fn record<T: Scalar, F>(tape: &mut Tape<T>, x: &DMatrix<T>, f: F) -> Result<(Var, Var)>
where
    F: FnOnce(&mut Tape<T>, Var) -> Result<Var>,
{
    tape.clear();
    tape.set_recording(true);
    let xv = tape.leaf(x);
    let y = f(tape, xv)?;
    Ok((xv, y))
}

fn grad_or_zeros<T: Scalar>(tape: &Tape<T>, x: Var) -> DMatrix<T> {
    tape.grad(x)
        .cloned()
        .unwrap_or_else(|| DMatrix::zeros(x.rows(), x.cols()))
}

/// Value and gradient of a scalar function: `(f(x), ∇f(x))`, the gradient shaped like `x`.
///
/// # Errors
/// Errors of `f`, and [`AutodiffError::NotScalar`] if `f(x)` is not 1x1.
///
/// # Example
/// ```
/// use autodiff::{grad, Tape};
/// use nalgebra::DMatrix;
/// let mut tape = Tape::<f64>::new();
/// let x = DMatrix::from_row_slice(1, 2, &[3.0, 4.0]);
/// // f(x) = Σ x², ∇f = 2x.
/// let (fx, g) = grad(&mut tape, |t, x| { let s = t.square(x); Ok(t.sum(s)) }, &x)?;
/// assert_eq!(fx, 25.0);
/// assert_eq!(g.as_slice(), &[6.0, 8.0]);
/// # Ok::<(), autodiff::AutodiffError>(())
/// ```
pub fn grad<T: Scalar, F>(tape: &mut Tape<T>, f: F, x: &DMatrix<T>) -> Result<(T, DMatrix<T>)>
where
    F: FnOnce(&mut Tape<T>, Var) -> Result<Var>,
{
    let (xv, y) = record(tape, x, f)?;
    let fx = tape.scalar_value(y)?;
    tape.backward(y)?;
    Ok((fx, grad_or_zeros(tape, xv)))
}

/// Vector–Jacobian product: `(f(x), vᵀ ∂f/∂x)`, where `v` has the shape of `f(x)` and the product
/// the shape of `x` (elements paired in column-major order).
///
/// # Errors
/// Errors of `f`, and [`AutodiffError::ShapeMismatch`] if `v` is not shaped like `f(x)`.
///
/// # Example
/// ```
/// use autodiff::{vjp, Tape};
/// use nalgebra::DMatrix;
/// let mut tape = Tape::<f64>::new();
/// // f(x) = x ∘ x elementwise: ∂f/∂x = diag(2x), so vᵀJ = 2 x ∘ v.
/// let x = DMatrix::from_row_slice(1, 3, &[1.0, 2.0, 3.0]);
/// let v = DMatrix::from_row_slice(1, 3, &[1.0, 0.5, -1.0]);
/// let (fx, p) = vjp(&mut tape, |t, x| t.mul(x, x), &x, &v)?;
/// assert_eq!(fx.as_slice(), &[1.0, 4.0, 9.0]);
/// assert_eq!(p.as_slice(), &[2.0, 2.0, -6.0]);
/// # Ok::<(), autodiff::AutodiffError>(())
/// ```
pub fn vjp<T: Scalar, F>(
    tape: &mut Tape<T>,
    f: F,
    x: &DMatrix<T>,
    v: &DMatrix<T>,
) -> Result<(DMatrix<T>, DMatrix<T>)>
where
    F: FnOnce(&mut Tape<T>, Var) -> Result<Var>,
{
    let (xv, y) = record(tape, x, f)?;
    tape.backward_with(y, v)?;
    Ok((tape.value(y).clone(), grad_or_zeros(tape, xv)))
}

/// The full Jacobian of `f` at `x`, as an `m x n` matrix with `m = f(x).len()` and `n = x.len()`;
/// entry `(k, l)` is `∂ f_k / ∂ x_l`, both indices in column-major order. Records `f` once and
/// runs `m` backward sweeps: meant for small dimensions.
///
/// # Errors
/// Errors of `f`.
///
/// # Example
/// ```
/// use autodiff::{jacobian, Tape};
/// use nalgebra::DMatrix;
/// let mut tape = Tape::<f64>::new();
/// // f(x) = x · A for a constant A: as a map on x's elements, the Jacobian is Aᵀ.
/// let a = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
/// let x = DMatrix::from_row_slice(1, 2, &[0.5, -1.0]);
/// let j = jacobian(&mut tape, |t, x| { let a = t.constant(&a); t.matmul(x, a) }, &x)?;
/// assert_eq!(j, a.transpose());
/// # Ok::<(), autodiff::AutodiffError>(())
/// ```
pub fn jacobian<T: Scalar, F>(tape: &mut Tape<T>, f: F, x: &DMatrix<T>) -> Result<DMatrix<T>>
where
    F: FnOnce(&mut Tape<T>, Var) -> Result<Var>,
{
    let (xv, y) = record(tape, x, f)?;
    let (m, n) = (y.len(), xv.len());
    let mut jac = DMatrix::zeros(m, n);
    let mut cot = DMatrix::zeros(y.rows(), y.cols());
    for k in 0..m {
        cot[k] = T::one();
        tape.backward_with(y, &cot)?;
        cot[k] = T::zero();
        if let Some(g) = tape.grad(xv) {
            for (l, &v) in g.as_slice().iter().enumerate() {
                jac[(k, l)] = v;
            }
        }
    }
    Ok(jac)
}

fn check_square(op: &'static str, z: Var, y: Var) -> Result<()> {
    if z.shape() != y.shape() {
        return Err(AutodiffError::ShapeMismatch {
            op,
            lhs: z.shape(),
            rhs: y.shape(),
        });
    }
    Ok(())
}

/// Exact trace of the Jacobian of a batched map `f: B x D -> B x D`, per sample: returns
/// `(f(z), tr)` with `tr` a `B x 1` column, `tr_b = Σ_d ∂f_{b,d} / ∂z_{b,d}`.
///
/// Samples (rows) must not interact in `f` (as in any batched network without batch
/// normalization); then `D` backward sweeps, each with cotangent "1 in column d of every row",
/// give every sample's trace at once. For `B = 1` this is the plain trace of ∂f/∂z.
///
/// # Errors
/// Errors of `f`, and [`AutodiffError::ShapeMismatch`] if `f(z)` is not shaped like `z`.
///
/// # Example
/// ```
/// use autodiff::{trace_exact, Tape};
/// use nalgebra::DMatrix;
/// let mut tape = Tape::<f64>::new();
/// // f(z) = z · A: the per-sample Jacobian is Aᵀ, whose trace is tr A = 1 + 4.
/// let a = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
/// let z = DMatrix::from_row_slice(3, 2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// let (_, tr) = trace_exact(&mut tape, |t, z| { let a = t.constant(&a); t.matmul(z, a) }, &z)?;
/// assert_eq!(tr.as_slice(), &[5.0, 5.0, 5.0]);
/// # Ok::<(), autodiff::AutodiffError>(())
/// ```
pub fn trace_exact<T: Scalar, F>(
    tape: &mut Tape<T>,
    f: F,
    z: &DMatrix<T>,
) -> Result<(DMatrix<T>, DMatrix<T>)>
where
    F: FnOnce(&mut Tape<T>, Var) -> Result<Var>,
{
    let (zv, y) = record(tape, z, f)?;
    check_square("trace_exact", zv, y)?;
    let (b, d) = z.shape();
    let mut tr = DMatrix::zeros(b, 1);
    let mut cot = DMatrix::zeros(b, d);
    for col in 0..d {
        cot.column_mut(col).fill(T::one());
        tape.backward_with(y, &cot)?;
        cot.column_mut(col).fill(T::zero());
        if let Some(g) = tape.grad(zv) {
            tr += g.column(col);
        }
    }
    Ok((tape.value(y).clone(), tr))
}

/// Hutchinson's estimate of the per-sample Jacobian trace with a given probe `eps` (`B x D`):
/// returns `(f(z), est)` with `est_b = Σ_d (εᵀ ∂f/∂z)_{b,d} ε_{b,d}`, from one backward sweep.
/// With probes of zero mean and identity covariance, `E[est] = tr(∂f/∂z)` per sample. Samples
/// must not interact, as for [`trace_exact`].
///
/// # Errors
/// Errors of `f`; [`AutodiffError::ShapeMismatch`] if `f(z)` or `eps` is not shaped like `z`.
pub fn trace_hutchinson<T: Scalar, F>(
    tape: &mut Tape<T>,
    f: F,
    z: &DMatrix<T>,
    eps: &DMatrix<T>,
) -> Result<(DMatrix<T>, DMatrix<T>)>
where
    F: FnOnce(&mut Tape<T>, Var) -> Result<Var>,
{
    let (zv, y) = record(tape, z, f)?;
    check_square("trace_hutchinson", zv, y)?;
    if eps.shape() != z.shape() {
        return Err(AutodiffError::ShapeMismatch {
            op: "trace_hutchinson (probe)",
            lhs: z.shape(),
            rhs: eps.shape(),
        });
    }
    tape.backward_with(y, eps)?;
    let mut est = DMatrix::zeros(z.nrows(), 1);
    if let Some(g) = tape.grad(zv) {
        for (gc, ec) in g.column_iter().zip(eps.column_iter()) {
            for ((e, &g), &p) in est.iter_mut().zip(gc.iter()).zip(ec.iter()) {
                *e += g * p;
            }
        }
    }
    Ok((tape.value(y).clone(), est))
}

/// The distribution of Hutchinson probe entries (independent, mean 0, variance 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// ±1 with equal probability (lowest variance of the estimate).
    Rademacher,
    /// Standard normal.
    Gaussian,
}

/// A seeded source of Hutchinson probes and estimates: the same seed gives the same probes.
///
/// # Example
/// ```
/// use autodiff::{Hutchinson, Probe, Tape};
/// use nalgebra::DMatrix;
/// let mut tape = Tape::<f64>::new();
/// let mut h = Hutchinson::new(Probe::Rademacher, 42);
/// // f(z) = 3z: the trace is 3 per dimension; Rademacher probes give it exactly (ε_d² = 1).
/// let z = DMatrix::from_row_slice(1, 4, &[0.1, 0.2, 0.3, 0.4]);
/// let (_, est) = h.estimate(&mut tape, |t, z| Ok(t.mul_scalar(z, 3.0)), &z)?;
/// assert_eq!(est[0], 12.0);
/// # Ok::<(), autodiff::AutodiffError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Hutchinson {
    probe: Probe,
    rng: ChaCha8Rng,
}

impl Hutchinson {
    /// A probe source with the given distribution and seed.
    pub fn new(probe: Probe, seed: u64) -> Self {
        Hutchinson {
            probe,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Fills `out` with fresh probe entries.
    pub fn sample_into<T: Scalar>(&mut self, out: &mut DMatrix<T>) {
        match self.probe {
            Probe::Rademacher => {
                for v in out.iter_mut() {
                    *v = if self.rng.random::<bool>() {
                        T::one()
                    } else {
                        -T::one()
                    };
                }
            }
            Probe::Gaussian => {
                // Box–Muller, two normals per pair of uniforms.
                let mut spare: Option<f64> = None;
                for v in out.iter_mut() {
                    let x = match spare.take() {
                        Some(x) => x,
                        None => {
                            let u1: f64 = 1.0 - self.rng.random::<f64>(); // (0, 1]
                            let u2: f64 = self.rng.random::<f64>();
                            let rad = (-2.0 * u1.ln()).sqrt();
                            let th = std::f64::consts::TAU * u2;
                            spare = Some(rad * th.sin());
                            rad * th.cos()
                        }
                    };
                    *v = T::cast(x);
                }
            }
        }
    }

    /// A fresh `rows x cols` probe.
    pub fn sample<T: Scalar>(&mut self, rows: usize, cols: usize) -> DMatrix<T> {
        let mut m = DMatrix::zeros(rows, cols);
        self.sample_into(&mut m);
        m
    }

    /// Draws a fresh probe shaped like `z` and returns [`trace_hutchinson`] with it.
    ///
    /// # Errors
    /// As [`trace_hutchinson`].
    pub fn estimate<T: Scalar, F>(
        &mut self,
        tape: &mut Tape<T>,
        f: F,
        z: &DMatrix<T>,
    ) -> Result<(DMatrix<T>, DMatrix<T>)>
    where
        F: FnOnce(&mut Tape<T>, Var) -> Result<Var>,
    {
        let eps = self.sample(z.nrows(), z.ncols());
        trace_hutchinson(tape, f, z, &eps)
    }
}
