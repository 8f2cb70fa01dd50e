//! The scalar types a state can hold.

use std::fmt::{Debug, Display};
use std::iter::Sum;

/// A floating-point scalar for ODE states: implemented for `f32` and `f64`.
///
/// Time and step size are always `f64`, whatever the state's scalar: an `f32` time makes step
/// sizes underflow on long spans. Error norms are also accumulated in `f64`.
pub trait Real:
    num_traits::Float
    + num_traits::NumAssign
    + Copy
    + Default
    + Send
    + Sync
    + Debug
    + Display
    + Sum
    + 'static
{
    /// Converts from `f64` (rounding for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64` (exact for both implementations).
    fn as_f64(self) -> f64;
}

impl Real for f64 {
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
}

impl Real for f32 {
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
}
