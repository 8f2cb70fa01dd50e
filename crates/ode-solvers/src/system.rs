//! The right-hand side of an ODE system: `dy/dt = f(t, y)`.

use crate::Real;

/// A first-order ODE system `dy/dt = f(t, y)`.
///
/// Implemented for every closure `Fn(f64, &[T], &mut [T])`, so a system can be written inline:
///
/// ```
/// use ode_solvers::OdeSystem;
/// let decay = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -y[0];
/// let mut dy = [0.0];
/// decay.rhs(0.0, &[2.0], &mut dy);
/// assert_eq!(dy[0], -2.0);
/// ```
pub trait OdeSystem<T: Real> {
    /// Writes `f(t, y)` into `dy`. `y` and `dy` have the state's length.
    ///
    /// Called once per stage: it must not allocate if the solve is to be allocation-free.
    fn rhs(&self, t: f64, y: &[T], dy: &mut [T]);

    /// The state dimension, when the system knows it; used to check the initial state.
    /// The default (`None`) accepts any length.
    fn dim(&self) -> Option<usize> {
        None
    }
}

impl<T: Real, F: Fn(f64, &[T], &mut [T])> OdeSystem<T> for F {
    #[inline(always)]
    fn rhs(&self, t: f64, y: &[T], dy: &mut [T]) {
        self(t, y, dy)
    }
}
