//! Layers, parameters, optimizers, losses and model files.
//!
//! This crate sits above [`autodiff`] and [`adjoint`] in the workspace stack (see
//! ARCHITECTURE.md and issue 5). It has no public items yet.
