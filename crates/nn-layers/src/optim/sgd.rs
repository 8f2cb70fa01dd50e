//! Stochastic gradient descent with momentum and Nesterov momentum.

use autodiff::Scalar;
use serde::{Deserialize, Serialize};

use super::{check_step, OptState, Optimizer};
use crate::error::Result;

/// SGD, PyTorch's `torch.optim.SGD`. State: one buffer (the momentum) when `momentum != 0`,
/// none otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor `μ` (0 for plain SGD).
    pub momentum: f64,
    /// Dampening `τ` of the momentum.
    pub dampening: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Sgd {
    /// Plain SGD with this learning rate.
    pub fn new(lr: f64) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
    /// With momentum `μ`.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    /// With Nesterov momentum `μ`.
    pub fn with_nesterov(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self.nesterov = true;
        self
    }
    /// With weight decay.
    pub fn with_weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
}

impl<T: Scalar> Optimizer<T> for Sgd {
    fn init_state(&self, n: usize) -> OptState<T> {
        OptState::zeros(usize::from(self.momentum != 0.0), n)
    }

    fn step(&self, params: &mut [T], grads: &[T], state: &mut OptState<T>) -> Result<()> {
        let has_m = self.momentum != 0.0;
        check_step(params, grads, state, usize::from(has_m))?;
        let (lr, mu, damp, wd) = (
            T::cast(self.lr),
            T::cast(self.momentum),
            T::cast(1.0 - self.dampening),
            T::cast(self.weight_decay),
        );
        let first = state.step == 0;
        if has_m {
            let buf = &mut state.slots[0];
            for ((p, &g0), b) in params.iter_mut().zip(grads).zip(buf.iter_mut()) {
                let g = g0 + wd * *p;
                *b = if first { g } else { mu * *b + damp * g };
                let d = if self.nesterov { g + mu * *b } else { *b };
                *p -= lr * d;
            }
        } else {
            for (p, &g0) in params.iter_mut().zip(grads) {
                let g = g0 + wd * *p;
                *p -= lr * g;
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
