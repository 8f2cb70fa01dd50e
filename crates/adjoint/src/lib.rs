//! Gradients through ODE solves.
//!
//! This crate sits above [`ode_solvers`] and [`autodiff`] in the workspace stack and will hold
//! the differentiable-dynamics trait and the `Adjoint`, `Direct` and `Checkpointed` gradient
//! methods (see ARCHITECTURE.md and issue 4). It has no public items yet: nothing here is a
//! placeholder that pretends to work.
