//! Neural ODE models, built-in data sets and training loops.
//!
//! - [`NeuralOde`]: an ODE block around any [`adjoint::Dynamics`], with the method,
//!   tolerances and gradient method ([`GradKind`]) chosen by the user.
//! - [`spiral`]: the spiral task of the paper's introductory demonstration (built-in data).
//! - [`plots`]: phase-plane, time-series, vector-field and loss plots (PNG and SVG).
//! - [`train`]: the spiral training loop ([`Trainer`]) with metrics, checkpoints and exact
//!   resumption.
#![deny(missing_docs)]

pub mod neural_ode;
pub mod plots;
pub mod spiral;
pub mod train;

pub use neural_ode::{
    per_sample_loss_and_grad, BatchLossAndGrad, GradKind, LossAndGrad, ModelError, NeuralOde,
    SolverConfig,
};
pub use train::{BatchMode, IterMetrics, MinibatchGrad, SpiralArchitecture, TrainConfig, Trainer};

/// The README's Rust examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}
