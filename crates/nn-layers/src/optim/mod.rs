//! Optimizers over flat parameter slices, with explicit, serialisable state; gradient clipping;
//! learning-rate schedules.
//!
//! An optimizer is a configuration (learning rate, betas, ...) and a pure
//! [`Optimizer::step`]`(params, grads, state)`: all mutable state lives in an [`OptState`], which
//! is saved with the model (see [`crate::serialize`]). Parameters and gradients are the flat
//! vectors of a [`ParamLayout`](crate::ParamLayout), so the gradient of an adjoint solve feeds
//! the step with no copying.
//!
//! The update rules are PyTorch's (`torch.optim`, default options), so hyperparameters carry
//! over:
//!
//! | optimizer | update (g = gradient, `wd` weight decay) |
//! |---|---|
//! | [`Sgd`] | `g += wd θ`; `b = μ b + (1 - τ) g` (`b = g` on the first step); `g = g + μ b` (Nesterov) or `g = b`; `θ -= lr g` |
//! | [`RmsProp`] | `g += wd θ`; `v = α v + (1 - α) g²`; `θ -= lr g / (√v + ε)` (with momentum: `b = μ b + g / (√v + ε)`, `θ -= lr b`) |
//! | [`Adam`] | `g += wd θ`; `m = β₁ m + (1 - β₁) g`; `v = β₂ v + (1 - β₂) g²`; `θ -= lr/(1 - β₁ᵗ) · m / (√v / √(1 - β₂ᵗ) + ε)` |
//! | [`AdamW`] | `θ *= 1 - lr·wd`, then Adam without `wd` |
//!
//! ```
//! use nn_layers::optim::{Adam, Optimizer};
//! let opt = Adam::new(0.1);
//! let mut x = vec![3.0f64, -2.0];
//! let mut state = opt.init_state(x.len());
//! for _ in 0..500 {
//!     let g: Vec<f64> = x.iter().map(|v| 2.0 * v).collect(); // ∇ |x|²
//!     opt.step(&mut x, &g, &mut state)?;
//! }
//! assert!(x.iter().all(|v| v.abs() < 1e-2));
//! # Ok::<(), nn_layers::NnError>(())
//! ```

mod adam;
mod clip;
mod rmsprop;
mod schedule;
mod sgd;

use autodiff::Scalar;
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};

pub use adam::{Adam, AdamW};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use rmsprop::RmsProp;
pub use schedule::LrSchedule;
pub use sgd::Sgd;

/// The mutable state of an optimizer: the number of steps taken and its per-parameter buffers
/// (momentum, running averages), each as long as the parameter vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptState<T> {
    /// Steps taken so far.
    pub step: u64,
    /// Per-parameter buffers; their meaning depends on the optimizer (documented on each).
    pub slots: Vec<Vec<T>>,
}

impl<T: Scalar> OptState<T> {
    /// A fresh state with `slots` zeroed buffers of length `n`.
    pub fn zeros(slots: usize, n: usize) -> Self {
        OptState {
            step: 0,
            slots: vec![vec![T::zero(); n]; slots],
        }
    }
}

/// A first-order optimizer with explicit state.
pub trait Optimizer<T: Scalar> {
    /// A fresh state for `n` parameters.
    fn init_state(&self, n: usize) -> OptState<T>;

    /// One update of `params` from `grads`.
    ///
    /// # Errors
    /// [`NnError::LengthMismatch`] if the lengths of `params`, `grads` and the state's buffers
    /// disagree; [`NnError::NonFinite`] if a gradient is NaN or infinite (the parameters and
    /// state are then left unchanged).
    fn step(&self, params: &mut [T], grads: &[T], state: &mut OptState<T>) -> Result<()>;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (for schedules, see [`LrSchedule`]).
    fn set_lr(&mut self, lr: f64);
}

/// Any of this crate's optimizers, as a serialisable value (what a model file stores).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OptimizerConfig {
    /// Stochastic gradient descent.
    Sgd(Sgd),
    /// RMSprop.
    RmsProp(RmsProp),
    /// Adam.
    Adam(Adam),
    /// AdamW.
    AdamW(AdamW),
}

impl<T: Scalar> Optimizer<T> for OptimizerConfig {
    fn init_state(&self, n: usize) -> OptState<T> {
        match self {
            OptimizerConfig::Sgd(o) => o.init_state(n),
            OptimizerConfig::RmsProp(o) => o.init_state(n),
            OptimizerConfig::Adam(o) => o.init_state(n),
            OptimizerConfig::AdamW(o) => o.init_state(n),
        }
    }
    fn step(&self, params: &mut [T], grads: &[T], state: &mut OptState<T>) -> Result<()> {
        match self {
            OptimizerConfig::Sgd(o) => o.step(params, grads, state),
            OptimizerConfig::RmsProp(o) => o.step(params, grads, state),
            OptimizerConfig::Adam(o) => o.step(params, grads, state),
            OptimizerConfig::AdamW(o) => o.step(params, grads, state),
        }
    }
    fn lr(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(o) => o.lr,
            OptimizerConfig::RmsProp(o) => o.lr,
            OptimizerConfig::Adam(o) => o.lr,
            OptimizerConfig::AdamW(o) => o.lr,
        }
    }
    fn set_lr(&mut self, lr: f64) {
        match self {
            OptimizerConfig::Sgd(o) => o.lr = lr,
            OptimizerConfig::RmsProp(o) => o.lr = lr,
            OptimizerConfig::Adam(o) => o.lr = lr,
            OptimizerConfig::AdamW(o) => o.lr = lr,
        }
    }
}

/// Checks lengths and finiteness before a step.
pub(crate) fn check_step<T: Scalar>(
    params: &[T],
    grads: &[T],
    state: &OptState<T>,
    slots: usize,
) -> Result<()> {
    let n = params.len();
    if grads.len() != n {
        return Err(NnError::LengthMismatch {
            what: "gradient vector",
            expected: n,
            got: grads.len(),
        });
    }
    if state.slots.len() != slots {
        return Err(NnError::LengthMismatch {
            what: "optimizer state buffers",
            expected: slots,
            got: state.slots.len(),
        });
    }
    for s in &state.slots {
        if s.len() != n {
            return Err(NnError::LengthMismatch {
                what: "optimizer state buffer",
                expected: n,
                got: s.len(),
            });
        }
    }
    if !grads.iter().all(|g| g.is_finite()) {
        return Err(NnError::NonFinite { what: "gradient" });
    }
    Ok(())
}
