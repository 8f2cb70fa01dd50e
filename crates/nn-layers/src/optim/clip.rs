//! Gradient clipping.

use autodiff::Scalar;

use crate::error::{NnError, Result};

/// Scales `grads` in place so that their global Euclidean norm is at most `max_norm`, as
/// PyTorch's `clip_grad_norm_` does (factor `max_norm / (norm + 1e-6)` when below 1), and
/// returns the norm before clipping.
///
/// ```
/// let mut g = [3.0f64, 4.0];
/// let n = nn_layers::optim::clip_grad_norm(&mut g, 1.0)?;
/// assert_eq!(n, 5.0);
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// # Ok::<(), nn_layers::NnError>(())
/// ```
///
/// # Errors
/// [`NnError::NonFinite`] if the norm is NaN or infinite (the gradients are left unchanged);
/// [`NnError::Config`] if `max_norm` is negative or NaN.
pub fn clip_grad_norm<T: Scalar>(grads: &mut [T], max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(NnError::Config {
            what: "max_norm must be a non-negative number",
        });
    }
    let norm = grads
        .iter()
        .map(|g| {
            let g = g.as_f64();
            g * g
        })
        .sum::<f64>()
        .sqrt();
    if !norm.is_finite() {
        return Err(NnError::NonFinite {
            what: "gradient norm",
        });
    }
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = T::cast(coef);
        for g in grads.iter_mut() {
            *g *= c;
        }
    }
    Ok(norm)
}

/// Clamps every gradient component to `[-clip, clip]`.
///
/// # Errors
/// [`NnError::NonFinite`] if a component is NaN; [`NnError::Config`] if `clip` is negative or NaN.
pub fn clip_grad_value<T: Scalar>(grads: &mut [T], clip: f64) -> Result<()> {
    if clip.is_nan() || clip < 0.0 {
        return Err(NnError::Config {
            what: "clip must be a non-negative number",
        });
    }
    if grads.iter().any(|g| g.partial_cmp(g).is_none()) {
        return Err(NnError::NonFinite { what: "gradient" });
    }
    let (lo, hi) = (T::cast(-clip), T::cast(clip));
    for g in grads.iter_mut() {
        *g = g.clamp(lo, hi);
    }
    Ok(())
}
