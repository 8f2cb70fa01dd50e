//! Losses as plain functions that return the value and, on request, write the gradient.
//!
//! They work on flat slices, so a loss on the final state of an ODE solve gives the adjoint's
//! starting cotangent `∂L/∂z(t1)` directly. Gradient outputs are overwritten (not accumulated).
//! Matrices (cross-entropy logits) are column-major with rows as batch samples, the tape's
//! layout.
//!
//! ```
//! use nn_layers::loss::mse;
//! let (pred, target) = ([1.0f64, 2.0], [0.0, 0.0]);
//! let mut g = [0.0; 2];
//! let l = mse(&pred, &target, Some(&mut g))?;
//! assert_eq!(l, 2.5);
//! assert_eq!(g, [1.0, 2.0]);
//! # Ok::<(), nn_layers::NnError>(())
//! ```

use autodiff::Scalar;
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};

/// How elementwise terms are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reduction {
    /// Sum over all elements.
    Sum,
    /// Mean over all elements.
    Mean,
}

fn same_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected != got {
        return Err(NnError::LengthMismatch {
            what,
            expected,
            got,
        });
    }
    Ok(())
}

fn grad_len<T>(what: &'static str, n: usize, g: &Option<&mut [T]>) -> Result<()> {
    match g {
        Some(g) => same_len(what, n, g.len()),
        None => Ok(()),
    }
}

fn scale<T: Scalar>(r: Reduction, n: usize) -> T {
    match r {
        Reduction::Sum => T::one(),
        Reduction::Mean => T::one() / T::cast(n.max(1) as f64),
    }
}

/// Mean squared error `mean((pred - target)²)`; gradient `2 (pred - target) / n`.
///
/// # Errors
/// [`NnError::LengthMismatch`] if the lengths differ.
pub fn mse<T: Scalar>(pred: &[T], target: &[T], grad: Option<&mut [T]>) -> Result<T> {
    same_len("target", pred.len(), target.len())?;
    grad_len("gradient", pred.len(), &grad)?;
    let s: T = scale(Reduction::Mean, pred.len());
    let mut acc = T::zero();
    for (&p, &t) in pred.iter().zip(target) {
        acc += (p - t) * (p - t);
    }
    if let Some(g) = grad {
        let two = T::cast(2.0) * s;
        for ((g, &p), &t) in g.iter_mut().zip(pred).zip(target) {
            *g = two * (p - t);
        }
    }
    Ok(acc * s)
}

/// Mean absolute error `mean(|pred - target|)`; gradient `sign(pred - target) / n` (0 where
/// they are equal).
///
/// # Errors
/// [`NnError::LengthMismatch`] if the lengths differ.
pub fn l1<T: Scalar>(pred: &[T], target: &[T], grad: Option<&mut [T]>) -> Result<T> {
    same_len("target", pred.len(), target.len())?;
    grad_len("gradient", pred.len(), &grad)?;
    let s: T = scale(Reduction::Mean, pred.len());
    let mut acc = T::zero();
    for (&p, &t) in pred.iter().zip(target) {
        acc += (p - t).abs();
    }
    if let Some(g) = grad {
        for ((g, &p), &t) in g.iter_mut().zip(pred).zip(target) {
            let d = p - t;
            *g = if d > T::zero() {
                s
            } else if d < T::zero() {
                -s
            } else {
                T::zero()
            };
        }
    }
    Ok(acc * s)
}

/// Cross-entropy from logits, averaged over the batch: `mean_i (lse(logits_i) - logits_i[y_i])`.
/// `logits` is `batch x classes`, column-major; gradient `(softmax(logits_i) - onehot(y_i)) / B`.
///
/// # Errors
/// [`NnError::LengthMismatch`] for inconsistent lengths; [`NnError::InvalidLabel`] for a label
/// `>= classes`.
pub fn cross_entropy_logits<T: Scalar>(
    logits: &[T],
    classes: usize,
    labels: &[usize],
    grad: Option<&mut [T]>,
) -> Result<T> {
    let b = labels.len();
    same_len("logits", b * classes, logits.len())?;
    grad_len("gradient", logits.len(), &grad)?;
    for (index, &label) in labels.iter().enumerate() {
        if label >= classes {
            return Err(NnError::InvalidLabel {
                index,
                label,
                classes,
            });
        }
    }
    let s: T = scale(Reduction::Mean, b);
    let mut total = T::zero();
    let mut grad = grad;
    for (i, &y) in labels.iter().enumerate() {
        let at = |k: usize| logits[i + k * b];
        let mut m = at(0);
        for k in 1..classes {
            if at(k) > m {
                m = at(k);
            }
        }
        let mut z = T::zero();
        for k in 0..classes {
            z += (at(k) - m).exp();
        }
        let lse = m + z.ln();
        total += lse - at(y);
        if let Some(g) = grad.as_deref_mut() {
            for k in 0..classes {
                let p = (at(k) - lse).exp();
                let onehot = if k == y { T::one() } else { T::zero() };
                g[i + k * b] = (p - onehot) * s;
            }
        }
    }
    Ok(total * s)
}

/// Gaussian negative log-likelihood of `x` under `N(mean, exp(logvar))`, elementwise
/// `½ (ln 2π + logvar + (x - mean)² e^{-logvar})`, reduced. `logvar` has the length of `x`, or
/// length 1 (one variance shared by all elements; its gradient is then the sum).
/// Gradients with respect to `mean` and `logvar`.
///
/// # Errors
/// [`NnError::LengthMismatch`] for inconsistent lengths.
pub fn gaussian_nll<T: Scalar>(
    x: &[T],
    mean: &[T],
    logvar: &[T],
    reduction: Reduction,
    grad_mean: Option<&mut [T]>,
    grad_logvar: Option<&mut [T]>,
) -> Result<T> {
    let n = x.len();
    same_len("mean", n, mean.len())?;
    if logvar.len() != 1 {
        same_len("logvar", n, logvar.len())?;
    }
    grad_len("mean gradient", n, &grad_mean)?;
    grad_len("logvar gradient", logvar.len(), &grad_logvar)?;
    let s: T = scale(reduction, n);
    let half = T::cast(0.5);
    let ln2pi = T::cast((2.0 * std::f64::consts::PI).ln());
    let lv = |i: usize| {
        if logvar.len() == 1 {
            logvar[0]
        } else {
            logvar[i]
        }
    };
    let mut acc = T::zero();
    let mut gm = grad_mean;
    let mut gl = grad_logvar;
    if let Some(g) = gl.as_deref_mut() {
        g.fill(T::zero());
    }
    for i in 0..n {
        let d = x[i] - mean[i];
        let iv = (-lv(i)).exp();
        acc += half * (ln2pi + lv(i) + d * d * iv);
        if let Some(g) = gm.as_deref_mut() {
            g[i] = -d * iv * s;
        }
        if let Some(g) = gl.as_deref_mut() {
            let j = if g.len() == 1 { 0 } else { i };
            g[j] += half * (T::one() - d * d * iv) * s;
        }
    }
    Ok(acc * s)
}

/// Gradient outputs of [`kl_diag_gaussians`]; `None` skips one.
#[derive(Debug, Default)]
pub struct KlGrads<'a, T> {
    /// `∂KL/∂μ_q`.
    pub mu_q: Option<&'a mut [T]>,
    /// `∂KL/∂logvar_q`.
    pub logvar_q: Option<&'a mut [T]>,
    /// `∂KL/∂μ_p`.
    pub mu_p: Option<&'a mut [T]>,
    /// `∂KL/∂logvar_p`.
    pub logvar_p: Option<&'a mut [T]>,
}

/// `KL(q ‖ p)` between diagonal Gaussians `q = N(μ_q, e^{lv_q})`, `p = N(μ_p, e^{lv_p})`,
/// elementwise `½ (lv_p - lv_q + (e^{lv_q} + (μ_q - μ_p)²) e^{-lv_p} - 1)`, reduced.
/// For the latent ODE's prior `p = N(0, I)` pass zeros for `μ_p` and `lv_p`.
///
/// # Errors
/// [`NnError::LengthMismatch`] unless all inputs and requested gradients have one length.
pub fn kl_diag_gaussians<T: Scalar>(
    mu_q: &[T],
    logvar_q: &[T],
    mu_p: &[T],
    logvar_p: &[T],
    reduction: Reduction,
    grads: KlGrads<'_, T>,
) -> Result<T> {
    let n = mu_q.len();
    same_len("logvar_q", n, logvar_q.len())?;
    same_len("mu_p", n, mu_p.len())?;
    same_len("logvar_p", n, logvar_p.len())?;
    let KlGrads {
        mu_q: mut gmq,
        logvar_q: mut glq,
        mu_p: mut gmp,
        logvar_p: mut glp,
    } = grads;
    grad_len("mu_q gradient", n, &gmq)?;
    grad_len("logvar_q gradient", n, &glq)?;
    grad_len("mu_p gradient", n, &gmp)?;
    grad_len("logvar_p gradient", n, &glp)?;
    let s: T = scale(reduction, n);
    let half = T::cast(0.5);
    let mut acc = T::zero();
    for i in 0..n {
        let vq = logvar_q[i].exp();
        let ivp = (-logvar_p[i]).exp();
        let d = mu_q[i] - mu_p[i];
        acc += half * (logvar_p[i] - logvar_q[i] + (vq + d * d) * ivp - T::one());
        if let Some(g) = gmq.as_deref_mut() {
            g[i] = d * ivp * s;
        }
        if let Some(g) = gmp.as_deref_mut() {
            g[i] = -d * ivp * s;
        }
        if let Some(g) = glq.as_deref_mut() {
            g[i] = half * (vq * ivp - T::one()) * s;
        }
        if let Some(g) = glp.as_deref_mut() {
            g[i] = half * (T::one() - (vq + d * d) * ivp) * s;
        }
    }
    Ok(acc * s)
}
