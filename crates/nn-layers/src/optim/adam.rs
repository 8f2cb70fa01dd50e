//! Adam and AdamW.

use autodiff::Scalar;
use serde::{Deserialize, Serialize};

use super::{check_step, OptState, Optimizer};
use crate::error::Result;

/// Adam, PyTorch's `torch.optim.Adam` (weight decay as an L2 penalty on the gradient).
/// State: buffer 0 is the first moment `m`, buffer 1 the second moment `v`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// `β₁`, decay of the first moment.
    pub beta1: f64,
    /// `β₂`, decay of the second moment.
    pub beta2: f64,
    /// `ε`.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl Adam {
    /// Adam with PyTorch's defaults (`β = (0.9, 0.999)`, `ε = 1e-8`) and this learning rate.
    pub fn new(lr: f64) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// AdamW, PyTorch's `torch.optim.AdamW`: decoupled weight decay `θ *= 1 - lr·wd` before the
/// Adam update. Default weight decay 0.01. State as [`Adam`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamW {
    /// Learning rate.
    pub lr: f64,
    /// `β₁`.
    pub beta1: f64,
    /// `β₂`.
    pub beta2: f64,
    /// `ε`.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl AdamW {
    /// AdamW with PyTorch's defaults (`β = (0.9, 0.999)`, `ε = 1e-8`, weight decay 0.01).
    pub fn new(lr: f64) -> Self {
        AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn adam_step<T: Scalar>(
    lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    l2: f64,
    decoupled: f64,
    params: &mut [T],
    grads: &[T],
    state: &mut OptState<T>,
) -> Result<()> {
    check_step(params, grads, state, 2)?;
    state.step += 1;
    let t = state.step as i32;
    let bc1 = 1.0 - b1.powi(t);
    let bc2 = 1.0 - b2.powi(t);
    let step_size = T::cast(lr / bc1);
    let sqrt_bc2 = T::cast(bc2.sqrt());
    let (b1t, b1c, b2t, b2c, eps, l2, shrink) = (
        T::cast(b1),
        T::cast(1.0 - b1),
        T::cast(b2),
        T::cast(1.0 - b2),
        T::cast(eps),
        T::cast(l2),
        T::cast(1.0 - lr * decoupled),
    );
    let (m, v) = state.slots.split_at_mut(1);
    let (m, v) = (&mut m[0], &mut v[0]);
    for (i, (p, &g0)) in params.iter_mut().zip(grads).enumerate() {
        if decoupled != 0.0 {
            *p *= shrink;
        }
        let g = g0 + l2 * *p;
        m[i] = b1t * m[i] + b1c * g;
        v[i] = b2t * v[i] + b2c * g * g;
        let denom = v[i].sqrt() / sqrt_bc2 + eps;
        *p -= step_size * m[i] / denom;
    }
    Ok(())
}

impl<T: Scalar> Optimizer<T> for Adam {
    fn init_state(&self, n: usize) -> OptState<T> {
        OptState::zeros(2, n)
    }
    fn step(&self, params: &mut [T], grads: &[T], state: &mut OptState<T>) -> Result<()> {
        adam_step(
            self.lr,
            self.beta1,
            self.beta2,
            self.eps,
            self.weight_decay,
            0.0,
            params,
            grads,
            state,
        )
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}

impl<T: Scalar> Optimizer<T> for AdamW {
    fn init_state(&self, n: usize) -> OptState<T> {
        OptState::zeros(2, n)
    }
    fn step(&self, params: &mut [T], grads: &[T], state: &mut OptState<T>) -> Result<()> {
        adam_step(
            self.lr,
            self.beta1,
            self.beta2,
            self.eps,
            0.0,
            self.weight_decay,
            params,
            grads,
            state,
        )
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}
