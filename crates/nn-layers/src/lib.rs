//! Layers, parameters, optimizers, losses and model files for neural ODEs.
//!
//! # Brief overview
//!
//! * **Parameters** live in one flat vector `θ` (`Vec<f32>` or `Vec<f64>`), the `θ` of the
//!   [`adjoint`] crate. A [`ParamLayout`] names its slices ([`ParamSpec`]: name, shape, offset),
//!   in the order layers were built; gradients come back in the same layout.
//! * **Layers** ([`Linear`], [`Mlp`], the time-conditioned [`ConcatLinear`] and
//!   [`ConcatSquash`], [`Conv2d`] and its time-conditioned [`ConcatConv2d`], the poolings
//!   [`AvgPool2d`] and [`GlobalAvgPool`], the normalizations [`GroupNorm`] and [`BatchNorm`],
//!   and the recurrent [`Gru`] with its sequence runner) register their tensors in a layout when built and hold only
//!   [`ParamId`]s. They record on an [`autodiff::Tape`] ([`Layer::forward`],
//!   [`TimeLayer::forward_t`]) reading their tensors from a [`ParamVars`], which binds `θ` to
//!   the tape (one leaf per tensor, or `θ` as one leaf; see [`Binding`]).
//! * **Dynamics**: [`NetDynamics`] makes any time-conditioned network the right-hand side of a
//!   neural ODE ([`adjoint::Dynamics`]); [`MlpDynamics`] does the same for an [`Mlp`] with a
//!   hand-written vector–Jacobian product (a cross-check; measured no faster than the tape).
//! * **Initialization**: [`init_params`] with an explicit seed ([`Init`]: Glorot, He, normal,
//!   zeros, ...).
//! * **Training**: [`optim`] (SGD, RMSprop, Adam, AdamW with explicit state, clipping,
//!   schedules) and [`loss`] (MSE, L1, cross-entropy, Gaussian NLL, KL).
//! * **Files**: [`serialize`] (model files with magic, version, architecture, parameters,
//!   optimizer state and checksum) and [`safetensors_io`] (parameters to and from PyTorch).
//!
//! # Example: the paper's spiral dynamics, one training step
//!
//! ```
//! use adjoint::Dynamics;
//! use nn_layers::optim::{Optimizer, RmsProp};
//! use nn_layers::{init_params, Activation, MlpConfig, MlpDynamics, ParamLayout};
//!
//! // f(t, y) = MLP(y³), 2 → 50 → 2, tanh.
//! let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube);
//! let mut layout = ParamLayout::new();
//! let mlp = cfg.build(&mut layout, "net")?;
//! let mut theta = vec![0.0f64; layout.len()];
//! init_params(&layout, &mut theta, 42)?;
//! let f = MlpDynamics::new(mlp, layout, 1)?;
//!
//! // One vector–Jacobian product, as the adjoint method would request it...
//! let (z, a) = ([2.0, 0.0], [1.0, -1.0]);
//! let (mut fz, mut a_z) = ([0.0; 2], [0.0; 2]);
//! let mut grad = vec![0.0; theta.len()];
//! f.vjp(0.0, &z, &theta, &a, &mut fz, &mut a_z, &mut grad);
//!
//! // ... and an RMSprop step on the flat gradient.
//! let opt = RmsProp::new(1e-3);
//! let mut state = opt.init_state(theta.len());
//! opt.step(&mut theta, &grad, &mut state)?;
//! assert_eq!(state.step, 1);
//! # Ok::<(), nn_layers::NnError>(())
//! ```
#![deny(missing_docs)]

mod activation;
mod conv;
mod dynamics;
mod error;
mod gru;
mod init;
mod kernels;
mod layer;
mod linear;
pub mod loss;
mod mlp;
mod norm;
mod one_hidden;
pub mod optim;
mod params;
pub mod safetensors_io;
pub mod serialize;
mod time;

pub use activation::Activation;
pub use adjoint::memo::PassCounts;
pub use conv::{AvgPool2d, ConcatConv2d, Conv2d, Conv2dConfig, GlobalAvgPool};
pub use dynamics::{MlpDynamics, NetDynamics};
pub use error::{FileError, NnError, Result};
pub use gru::Gru;
pub use init::{init_params, Init};
pub use layer::{Layer, TimeLayer};
pub use linear::Linear;
pub use mlp::{Mlp, MlpConfig, MlpLayer, TimeInput};
pub use norm::{BatchNorm, GroupNorm};
pub use params::{Binding, ParamId, ParamLayout, ParamSpec, ParamVars};
pub use serialize::{load_model, read_model, save_model, ModelFile, SavedOptimizer};
pub use time::{ConcatLinear, ConcatSquash};
