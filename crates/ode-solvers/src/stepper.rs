//! The stepping trait every method implements, and the pieces a method needs: the error
//! scale and the default (cubic Hermite) dense output.
//!
//! The driver ([`crate::Integrator`]) owns the adaptive loop, output, events and statistics; a
//! method only takes single steps. An outside crate adds a method by implementing [`Stepper`]
//! and gets everything else from the driver.

use crate::{OdeSystem, PiController, Real};

/// What one step reports back to the driver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Right-hand-side evaluations made by the step.
    pub nfe: usize,
    /// Whether the step wrote `f(t + h, y1)` into `f1` (true for FSAL methods).
    pub f1_valid: bool,
    /// The scaled RMS error norm of the step (`err ≤ 1` accepts); 0 when no error scale was
    /// passed. NaN or infinity makes the driver reject the step.
    pub err: f64,
}

/// The weights of the error norm: `sk_i = atol_i + rtol_i · max(|y0_i|, |y1_i|)` and
/// `err = sqrt(mean_i (e_i / sk_i)²)` (Hairer, Nørsett, Wanner I, §II.4).
///
/// With `groups = G > 1` the state is `G` equal blocks (the samples of a shared-step batch)
/// and the norm is the largest of the blocks' RMS norms, so every sample meets the tolerance
/// on its own. A stepper that computes its norm itself uses [`ErrorScale::combine`].
#[derive(Debug, Clone, Copy)]
pub struct ErrorScale<'a> {
    /// Absolute tolerance per component.
    pub atol: &'a [f64],
    /// Relative tolerance per component.
    pub rtol: &'a [f64],
    /// Number of equal blocks the norm is taken over separately (0 or 1: the whole state).
    pub groups: usize,
}

impl ErrorScale<'_> {
    /// The weight of component `i` for states `a` (step start) and `b` (step end).
    #[inline(always)]
    pub fn weight<T: Real>(&self, i: usize, a: T, b: T) -> f64 {
        self.atol[i] + self.rtol[i] * a.as_f64().abs().max(b.as_f64().abs())
    }

    /// The RMS norm of the local error `e` of a step from `y0` to `y1` (the largest block
    /// norm when `groups > 1`).
    pub fn rms<T: Real>(&self, e: &[T], y0: &[T], y1: &[T]) -> f64 {
        let n = e.len();
        assert!(y0.len() == n && y1.len() == n && self.atol.len() == n && self.rtol.len() == n);
        let g = self.groups.max(1);
        let block = n / g;
        let mut worst: f64 = 0.0;
        for b in 0..g {
            let mut acc = 0.0;
            for i in b * block..(b + 1) * block {
                let r = e[i].as_f64() / self.weight(i, y0[i], y1[i]);
                acc += r * r;
            }
            let v = (acc / block.max(1) as f64).sqrt();
            // NaN must win so that the step is rejected.
            if v.is_nan() || v > worst {
                worst = v;
            }
        }
        worst
    }

    /// Combines per-component values into the norm: `f(i)` returns the squared scaled error
    /// contribution of component `i`; the result is `sqrt(mean)` over the whole state, or the
    /// largest block value when `groups > 1`. For steppers with their own norm (DOP853).
    pub fn combine(&self, n: usize, mut f: impl FnMut(std::ops::Range<usize>) -> f64) -> f64 {
        let g = self.groups.max(1);
        let block = n / g;
        let mut worst: f64 = 0.0;
        for b in 0..g {
            let v = f(b * block..(b + 1) * block);
            if v.is_nan() || v > worst {
                worst = v;
            }
        }
        worst
    }
}

/// A one-step method for `dy/dt = f(t, y)`.
///
/// # Contract
/// - [`Stepper::step`] advances from `(t, y0)` with `f0 = f(t, y0)` over `h` (negative when
///   integrating backward), writing the new state into `y1`. When `scale` is given it also
///   returns the error norm. It must not allocate.
/// - The driver calls [`Stepper::step_err_sq`], whose default is `step` with the norm
///   squared; a method may override it to skip its norm's square root.
/// - A method with an error estimator returns its order in [`Stepper::error_order`]; the
///   driver then uses `1 / (error_order + 1)` as the controller exponent.
/// - Dense output: [`Stepper::dense_prepare`] stores what the interpolant needs
///   ([`Stepper::dense_vectors`] vectors of the state's length) after a step is accepted, and
///   [`Stepper::dense_eval`] evaluates it at θ ∈ [0, 1]. The defaults are cubic Hermite
///   interpolation from `y0, y1, f0, f1`.
///
/// # Example: a method defined outside this crate
/// ```
/// use ode_solvers::{ErrorScale, Integrator, OdeSystem, Options, Real, StepReport, Stepper};
///
/// /// Forward Euler written by hand.
/// #[derive(Clone)]
/// struct MyEuler;
///
/// impl<T: Real> Stepper<T> for MyEuler {
///     type Workspace = ();
///     fn name(&self) -> &'static str { "my-euler" }
///     fn order(&self) -> u32 { 1 }
///     fn error_order(&self) -> Option<u32> { None }
///     fn workspace(&self, _dim: usize) {}
///     fn step<S: OdeSystem<T> + ?Sized>(
///         &self, _sys: &S, _t: f64, h: f64, y0: &[T], f0: &[T], y1: &mut [T],
///         _f1: &mut [T], _scale: Option<ErrorScale<'_>>, _ws: &mut (),
///     ) -> StepReport {
///         for i in 0..y0.len() { y1[i] = y0[i] + T::from_f64(h) * f0[i]; }
///         StepReport { nfe: 0, f1_valid: false, err: 0.0 }
///     }
/// }
///
/// let sys = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -y[0];
/// let sol = Integrator::new(MyEuler)
///     .solve(&sys, 0.0, 1.0, &[1.0], &Options::default().fixed_step(1e-4))
///     .unwrap();
/// assert!((sol.y_final[0] - (-1.0f64).exp()).abs() < 1e-4);
/// ```
pub trait Stepper<T: Real>: Clone + Send + Sync + 'static {
    /// Scratch memory of the method, allocated once per state dimension.
    type Workspace: Send;

    /// The method's short name.
    fn name(&self) -> &'static str;

    /// Order of the propagated solution.
    fn order(&self) -> u32;

    /// Order of the error estimate; `None` if the method has none (fixed step only).
    fn error_order(&self) -> Option<u32>;

    /// Allocates the workspace for states of length `dim`.
    fn workspace(&self, dim: usize) -> Self::Workspace;

    /// Default step-size controller for this method (the driver uses it unless the options
    /// give one).
    fn default_controller(&self) -> PiController {
        PiController::default()
    }

    /// Takes one step of size `h` from `(t, y0)`; see the trait documentation.
    #[allow(clippy::too_many_arguments)]
    fn step<S: OdeSystem<T> + ?Sized>(
        &self,
        sys: &S,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        f1: &mut [T],
        scale: Option<ErrorScale<'_>>,
        ws: &mut Self::Workspace,
    ) -> StepReport;

    /// [`Stepper::step`] with the report's `err` the *square* of the error norm: what the
    /// driver calls. The default squares `step`'s norm; a method whose norm ends in a square
    /// root overrides it to leave the root out, since each step's size waits on the previous
    /// step's error and the root's latency would be paid on every step.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn step_err_sq<S: OdeSystem<T> + ?Sized>(
        &self,
        sys: &S,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        f1: &mut [T],
        scale: Option<ErrorScale<'_>>,
        ws: &mut Self::Workspace,
    ) -> StepReport {
        let rep = self.step(sys, t, h, y0, f0, y1, f1, scale, ws);
        StepReport {
            err: rep.err * rep.err,
            ..rep
        }
    }

    /// Order of the dense output (the interpolant's error inside a step is O(h^(order+1))).
    /// The default, cubic Hermite, has order 3.
    fn dense_order(&self) -> u32 {
        3
    }

    /// Number of state-length vectors [`Stepper::dense_prepare`] writes.
    fn dense_vectors(&self) -> usize {
        4
    }

    /// Stores the interpolation data of the step just accepted into `data`
    /// (`dense_vectors() × dim` values); `f1 = f(t + h, y1)`. Returns the right-hand-side
    /// evaluations it made (methods whose interpolant needs extra stages).
    #[allow(clippy::too_many_arguments)]
    fn dense_prepare<S: OdeSystem<T> + ?Sized>(
        &self,
        sys: &S,
        t: f64,
        h: f64,
        y0: &[T],
        y1: &[T],
        f0: &[T],
        f1: &[T],
        ws: &mut Self::Workspace,
        data: &mut [T],
    ) -> usize {
        let _ = (sys, t, h, ws);
        hermite_prepare(y0, y1, f0, f1, data);
        0
    }

    /// Evaluates the interpolant at `θ ∈ [0, 1]` of a step of size `h` from its `data`.
    fn dense_eval(&self, theta: f64, h: f64, data: &[T], out: &mut [T]) {
        hermite_eval(theta, h, data, out)
    }
}

/// Stores `[y0, y1, f0, f1]` for cubic Hermite interpolation.
pub fn hermite_prepare<T: Real>(y0: &[T], y1: &[T], f0: &[T], f1: &[T], data: &mut [T]) {
    let n = y0.len();
    data[..n].copy_from_slice(y0);
    data[n..2 * n].copy_from_slice(y1);
    data[2 * n..3 * n].copy_from_slice(f0);
    data[3 * n..4 * n].copy_from_slice(f1);
}

/// Cubic Hermite interpolation at θ from `[y0, y1, f0, f1]` (order 3, exact for cubics).
pub fn hermite_eval<T: Real>(theta: f64, h: f64, data: &[T], out: &mut [T]) {
    let n = out.len();
    let (y0, rest) = data.split_at(n);
    let (y1, rest) = rest.split_at(n);
    let (f0, f1) = rest.split_at(n);
    let th = theta;
    let th2 = th * th;
    let th3 = th2 * th;
    let h00 = T::from_f64(2.0 * th3 - 3.0 * th2 + 1.0);
    let h10 = T::from_f64((th3 - 2.0 * th2 + th) * h);
    let h01 = T::from_f64(-2.0 * th3 + 3.0 * th2);
    let h11 = T::from_f64((th3 - th2) * h);
    for i in 0..n {
        out[i] = h00 * y0[i] + h10 * f0[i] + h01 * y1[i] + h11 * f1[i];
    }
}
