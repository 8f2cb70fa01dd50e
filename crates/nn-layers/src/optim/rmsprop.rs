//! RMSprop.

use autodiff::Scalar;
use serde::{Deserialize, Serialize};

use super::{check_step, OptState, Optimizer};
use crate::error::Result;

/// RMSprop, PyTorch's `torch.optim.RMSprop` (not centered): `v = α v + (1 - α) g²`,
/// `θ -= lr g / (√v + ε)`. State: buffer 0 is `v`; with momentum, buffer 1 is the momentum.
///
/// Defaults are PyTorch's: `α = 0.99`, `ε = 1e-8`, no momentum, no weight decay (the paper's
/// spiral demo uses `RmsProp::new(1e-3)`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmsProp {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant `α`.
    pub alpha: f64,
    /// `ε`, added to `√v`.
    pub eps: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Momentum factor (0 for none).
    pub momentum: f64,
}

impl RmsProp {
    /// RMSprop with PyTorch's defaults and this learning rate.
    pub fn new(lr: f64) -> Self {
        RmsProp {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
        }
    }
    /// With momentum.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
}

impl<T: Scalar> Optimizer<T> for RmsProp {
    fn init_state(&self, n: usize) -> OptState<T> {
        OptState::zeros(1 + usize::from(self.momentum != 0.0), n)
    }

    fn step(&self, params: &mut [T], grads: &[T], state: &mut OptState<T>) -> Result<()> {
        let has_m = self.momentum != 0.0;
        check_step(params, grads, state, 1 + usize::from(has_m))?;
        let (lr, a, a1, eps, wd, mu) = (
            T::cast(self.lr),
            T::cast(self.alpha),
            T::cast(1.0 - self.alpha),
            T::cast(self.eps),
            T::cast(self.weight_decay),
            T::cast(self.momentum),
        );
        let (v, rest) = state.slots.split_first_mut().expect("one slot");
        for (i, (p, &g0)) in params.iter_mut().zip(grads).enumerate() {
            let g = g0 + wd * *p;
            v[i] = a * v[i] + a1 * g * g;
            let d = g / (v[i].sqrt() + eps);
            if has_m {
                let b = &mut rest[0][i];
                *b = mu * *b + d;
                *p -= lr * *b;
            } else {
                *p -= lr * d;
            }
        }
        state.step += 1;
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}
