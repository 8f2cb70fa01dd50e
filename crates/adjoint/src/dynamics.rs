//! The differentiable-dynamics trait, and a hand-written example.

use ode_solvers::Real;

/// Differentiable dynamics `dz/dt = f(z, t, θ)`: what every gradient method needs.
///
/// The state `z` has [`Dynamics::dim`] components, the parameters `θ` [`Dynamics::num_params`];
/// time is `f64`. Methods take `&self`: an implementation that needs scratch memory (such as
/// [`crate::TapeDynamics`], whose tape lives in a `RefCell`) is used from one thread at a time.
///
/// # Contract
/// - [`Dynamics::eval`] writes `f(z, t, θ)` into `dz`.
/// - [`Dynamics::vjp`] computes, for a cotangent `a` (length `dim`), in one call:
///   `f(z, t, θ)` into `f`, `aᵀ ∂f/∂z` into `a_z` (length `dim`), `aᵀ ∂f/∂θ` into `a_theta`
///   (length `num_params`), and returns `aᵀ ∂f/∂t`. The outputs are overwritten, not
///   accumulated into. A parameter `f` does not use must get exactly zero.
/// - Slices always have the lengths above; implementations may assume it.
/// - Neither method returns an error: an implementation that can fail writes NaN into its
///   outputs (the solver then stops with a typed error) and reports the reason from
///   [`Dynamics::take_error`], which the gradient methods consult when a pass fails.
///
/// # Example: hand-written products
/// [`Linear`] implements `f = A z` with `θ = A`; its source is the template for writing a fast
/// product by hand.
pub trait Dynamics<T: Real> {
    /// Length of the state `z`.
    fn dim(&self) -> usize;

    /// Number of parameters `θ`.
    fn num_params(&self) -> usize;

    /// Writes `f(z, t, θ)` into `dz`.
    fn eval(&self, t: f64, z: &[T], theta: &[T], dz: &mut [T]);

    /// Writes `f(z, t, θ)` into `f`, `aᵀ∂f/∂z` into `a_z`, `aᵀ∂f/∂θ` into `a_theta`, and
    /// returns `aᵀ∂f/∂t`.
    #[allow(clippy::too_many_arguments)]
    fn vjp(
        &self,
        t: f64,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &mut [T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) -> T;

    /// The first error met since the last call, if the implementation can fail (see the
    /// contract). The default never fails.
    fn take_error(&self) -> Option<String> {
        None
    }
}

impl<T: Real, D: Dynamics<T> + ?Sized> Dynamics<T> for &D {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn num_params(&self) -> usize {
        (**self).num_params()
    }
    fn eval(&self, t: f64, z: &[T], theta: &[T], dz: &mut [T]) {
        (**self).eval(t, z, theta, dz)
    }
    fn vjp(
        &self,
        t: f64,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &mut [T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) -> T {
        (**self).vjp(t, z, theta, a, f, a_z, a_theta)
    }
    fn take_error(&self) -> Option<String> {
        (**self).take_error()
    }
}

/// Linear dynamics `f(z, t, θ) = A z` with `θ = A`, an `n × n` matrix stored row-major
/// (`θ[i·n + j] = A_ij`); the products are written by hand:
/// `aᵀ∂f/∂z = Aᵀ a`, `(aᵀ∂f/∂A)_ij = a_i z_j`, `aᵀ∂f/∂t = 0`.
///
/// ```
/// use adjoint::{Dynamics, Linear};
/// let lin = Linear::new(2);
/// let theta = [0.0, 1.0, -1.0, 0.0]; // rotation generator
/// let (mut f, mut az, mut ath) = ([0.0; 2], [0.0; 2], [0.0; 4]);
/// let at = lin.vjp(0.0, &[1.0, 2.0], &theta, &[1.0, 0.0], &mut f, &mut az, &mut ath);
/// assert_eq!(f, [2.0, -1.0]);
/// assert_eq!(az, [0.0, 1.0]);
/// assert_eq!(ath, [1.0, 2.0, 0.0, 0.0]);
/// assert_eq!(at, 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linear {
    n: usize,
}

impl Linear {
    /// Linear dynamics on states of length `n` (`n²` parameters).
    pub fn new(n: usize) -> Self {
        Linear { n }
    }
}

impl<T: Real> Dynamics<T> for Linear {
    fn dim(&self) -> usize {
        self.n
    }

    fn num_params(&self) -> usize {
        self.n * self.n
    }

    fn eval(&self, _t: f64, z: &[T], theta: &[T], dz: &mut [T]) {
        let n = self.n;
        for (i, d) in dz.iter_mut().enumerate() {
            let row = &theta[i * n..(i + 1) * n];
            *d = row.iter().zip(z).map(|(&a, &x)| a * x).sum();
        }
    }

    fn vjp(
        &self,
        t: f64,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &mut [T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) -> T {
        let n = self.n;
        self.eval(t, z, theta, f);
        a_z.fill(T::zero());
        for i in 0..n {
            let row = &theta[i * n..(i + 1) * n];
            let ai = a[i];
            for j in 0..n {
                a_z[j] += row[j] * ai;
                a_theta[i * n + j] = ai * z[j];
            }
        }
        T::zero()
    }
}
