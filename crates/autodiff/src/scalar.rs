//! The scalar type the tape computes with.

use std::fmt::{Debug, Display};

/// A real floating-point scalar the tape can differentiate over: `f32` or `f64`.
///
/// The trait extends [`nalgebra::RealField`] (all elementary functions, ordering, constants) with
/// lossy conversions to and from `f64`, so tests and constants can be written once for both
/// precisions.
///
/// # Example
/// ```
/// use autodiff::Scalar;
/// fn half<T: Scalar>() -> T {
///     T::cast(0.5)
/// }
/// assert_eq!(half::<f32>(), 0.5f32);
/// assert_eq!(half::<f64>().as_f64(), 0.5);
/// ```
pub trait Scalar:
    nalgebra::RealField + Copy + Debug + Display + Default + Send + Sync + 'static
{
    /// Converts an `f64` to this type, rounding to the nearest representable value.
    fn cast(x: f64) -> Self;
    /// Converts this value to `f64` (exact for both `f32` and `f64`).
    fn as_f64(self) -> f64;
}

impl Scalar for f32 {
    #[inline]
    fn cast(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn as_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Scalar for f64 {
    #[inline]
    fn cast(x: f64) -> Self {
        x
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self
    }
}
