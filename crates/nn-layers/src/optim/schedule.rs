//! Learning-rate schedules.

use serde::{Deserialize, Serialize};

/// A learning rate as a function of the epoch (or step) count, in closed form (PyTorch's
/// `StepLR`, `ExponentialLR`, `CosineAnnealingLR`).
///
/// ```
/// use nn_layers::optim::{LrSchedule, Optimizer, RmsProp};
/// let sched = LrSchedule::Step { step_size: 10, gamma: 0.5 };
/// let mut opt = RmsProp::new(1e-3);
/// for epoch in 0..30 {
///     Optimizer::<f64>::set_lr(&mut opt, sched.lr(1e-3, epoch));
///     // ... opt.step(...)
/// }
/// assert_eq!(sched.lr(1e-3, 25), 1e-3 * 0.25);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// `base · γ^⌊epoch / step_size⌋`.
    Step {
        /// Epochs between decays (0 behaves as 1).
        step_size: u64,
        /// Decay factor.
        gamma: f64,
    },
    /// `base · γ^epoch`.
    Exponential {
        /// Decay factor per epoch.
        gamma: f64,
    },
    /// `η_min + (base - η_min)(1 + cos(π · epoch / t_max)) / 2`.
    Cosine {
        /// Half period in epochs (0 behaves as 1).
        t_max: u64,
        /// Minimum rate.
        eta_min: f64,
    },
}

impl LrSchedule {
    /// The learning rate at `epoch` for base rate `base`.
    pub fn lr(&self, base: f64, epoch: u64) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { step_size, gamma } => {
                let k = epoch / step_size.max(1);
                base * gamma.powf(k as f64)
            }
            LrSchedule::Exponential { gamma } => base * gamma.powf(epoch as f64),
            LrSchedule::Cosine { t_max, eta_min } => {
                let x = std::f64::consts::PI * epoch as f64 / t_max.max(1) as f64;
                eta_min + (base - eta_min) * (1.0 + x.cos()) / 2.0
            }
        }
    }
}
