//! The layer traits.

use autodiff::{Scalar, Tape, Var};

use crate::error::Result;
use crate::params::ParamVars;

/// A layer: records `y = layer(x)` on a tape, reading its parameters from [`ParamVars`].
///
/// Inputs and outputs follow the tape's layout: rows are batch samples, columns are features.
/// Layers hold no parameter values, only the [`ParamId`](crate::ParamId)s of their tensors in
/// a [`ParamLayout`](crate::ParamLayout), so one layer value serves any `θ`.
///
/// # Errors
/// A shape mismatch between the input and the layer is an error, never a panic.
pub trait Layer<T: Scalar> {
    /// Records the layer applied to `x` and returns the output.
    fn forward(&self, tape: &mut Tape<T>, params: &ParamVars, x: Var) -> Result<Var>;
}

/// A time-conditioned layer: records `y = layer(t, x)`, with `t` a `1 x 1` value shared by every
/// row of the batch.
pub trait TimeLayer<T: Scalar> {
    /// Records the layer applied to `x` at time `t` and returns the output.
    fn forward_t(&self, tape: &mut Tape<T>, params: &ParamVars, t: Var, x: Var) -> Result<Var>;
}
