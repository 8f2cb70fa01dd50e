//! [`TapeDynamics`]: dynamics written with `autodiff` operations, differentiated on a tape.

use std::cell::RefCell;

use autodiff::{AutodiffError, Scalar, Tape, Var};
use ode_solvers::Real;

use crate::Dynamics;

/// Dynamics written as a function recorded on an [`autodiff::Tape`]; the vector–Jacobian
/// products come from one reverse sweep.
///
/// The closure has the signature
/// `Fn(&mut Tape<T>, z: Var, t: Var, theta: Var) -> autodiff::Result<Var>` where
/// - `z` is the state as a `rows × cols` matrix (rows are batch samples, columns features,
///   the tape's layout convention);
/// - `t` is a `1 × 1` matrix (broadcasts against anything);
/// - `theta` is the parameter vector as a `1 × num_params` row; slice it with
///   [`Tape::slice_cols`] and shape it with [`Tape::reshape`] (column-major);
/// - the result must be `rows × cols`.
///
/// **State layout.** The flat state `z: &[T]` the solvers see is the matrix in the tape's
/// column-major order: `z[i + j·rows]` is feature `j` of sample `i`. (For one sample,
/// `rows = 1`, it is just the feature vector.)
///
/// [`Dynamics::eval`] runs the closure with recording off (a plain evaluation, no graph);
/// [`Dynamics::vjp`] records it, sweeps backward once with cotangent `a`, and reads the three
/// gradients. The tape is kept in a `RefCell` and reused, so a warm tape allocates nothing
/// per call. One adapter per thread
/// (`TapeDynamics` is `Send` but not `Sync`).
///
/// A closure that fails (an autodiff shape error, a wrong output shape) makes the adapter
/// write NaN and remember the message; the gradient methods then report
/// [`crate::AdjointError::Dynamics`].
///
/// ```
/// use adjoint::{Dynamics, TapeDynamics};
/// // f(z, t, θ) = tanh(θ₀ z) + θ₁ t on a 1 × 2 state.
/// let dynamics = TapeDynamics::<f64, _>::new(1, 2, 2, |tape, z, t, th| {
///     let w = tape.slice_cols(th, 0, 1)?;
///     let c = tape.slice_cols(th, 1, 1)?;
///     let h = tape.mul(z, w)?;
///     let h = tape.tanh(h);
///     let ct = tape.mul(c, t)?;
///     tape.add(h, ct)
/// });
/// let (mut f, mut az, mut ath) = ([0.0; 2], [0.0; 2], [0.0; 2]);
/// let at = dynamics.vjp(2.0, &[0.5, -0.5], &[1.0, 3.0], &[1.0, 1.0], &mut f, &mut az, &mut ath);
/// assert!((f[0] - (0.5f64.tanh() + 6.0)).abs() < 1e-15);
/// assert_eq!(at, 6.0); // Σ_i a_i θ₁
/// assert!(dynamics.take_error().is_none());
/// ```
pub struct TapeDynamics<T: Scalar, F> {
    rows: usize,
    cols: usize,
    num_params: usize,
    f: F,
    tape: RefCell<Tape<T>>,
    error: RefCell<Option<String>>,
}

impl<T: Scalar, F> std::fmt::Debug for TapeDynamics<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapeDynamics")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("num_params", &self.num_params)
            .finish()
    }
}

impl<T, F> TapeDynamics<T, F>
where
    T: Scalar + Real,
    F: Fn(&mut Tape<T>, Var, Var, Var) -> autodiff::Result<Var>,
{
    /// Dynamics on a `rows × cols` state (column-major, see the type's documentation) with
    /// `num_params` parameters, computed by `f`.
    pub fn new(rows: usize, cols: usize, num_params: usize, f: F) -> Self {
        TapeDynamics {
            rows,
            cols,
            num_params,
            f,
            tape: RefCell::new(Tape::new()),
            error: RefCell::new(None),
        }
    }

    /// The state's shape `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    fn record(&self, err: AutodiffError) {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(err.to_string());
        }
    }

    fn check_out(&self, tape: &Tape<T>, out: Var) -> autodiff::Result<()> {
        if out.shape() != (self.rows, self.cols) {
            let _ = tape;
            return Err(AutodiffError::ShapeMismatch {
                op: "TapeDynamics output (expected the state's shape)",
                lhs: out.shape(),
                rhs: (self.rows, self.cols),
            });
        }
        Ok(())
    }

    fn try_eval(
        &self,
        tape: &mut Tape<T>,
        t: f64,
        z: &[T],
        theta: &[T],
        dz: &mut [T],
    ) -> autodiff::Result<()> {
        tape.clear();
        tape.set_recording(false);
        let zv = tape.constant_from_slice(self.rows, self.cols, z)?;
        let tv = tape.constant_scalar(<T as Scalar>::cast(t));
        let th = tape.constant_from_slice(1, self.num_params, theta)?;
        let out = (self.f)(tape, zv, tv, th);
        tape.set_recording(true);
        let out = out?;
        self.check_out(tape, out)?;
        dz.copy_from_slice(tape.value(out).as_slice());
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn try_vjp(
        &self,
        tape: &mut Tape<T>,
        t: f64,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &mut [T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) -> autodiff::Result<T> {
        tape.clear();
        tape.set_recording(true);
        let zv = tape.leaf_from_slice(self.rows, self.cols, z)?;
        let tv = tape.leaf_scalar(<T as Scalar>::cast(t));
        let th = tape.leaf_from_slice(1, self.num_params, theta)?;
        let out = (self.f)(tape, zv, tv, th)?;
        self.check_out(tape, out)?;
        f.copy_from_slice(tape.value(out).as_slice());
        tape.backward_with_slice(out, a)?;
        tape.grad_to_slice(zv, a_z)?;
        tape.grad_to_slice(th, a_theta)?;
        let mut at = [<T as Real>::from_f64(0.0)];
        tape.grad_to_slice(tv, &mut at)?;
        Ok(at[0])
    }
}

fn fill_nan<T: Real>(v: &mut [T]) {
    v.fill(T::from_f64(f64::NAN));
}

impl<T, F> Dynamics<T> for TapeDynamics<T, F>
where
    T: Scalar + Real,
    F: Fn(&mut Tape<T>, Var, Var, Var) -> autodiff::Result<Var>,
{
    fn dim(&self) -> usize {
        self.rows * self.cols
    }

    fn num_params(&self) -> usize {
        self.num_params
    }

    fn eval(&self, t: f64, z: &[T], theta: &[T], dz: &mut [T]) {
        let mut tape = self.tape.borrow_mut();
        if let Err(e) = self.try_eval(&mut tape, t, z, theta, dz) {
            self.record(e);
            fill_nan(dz);
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
        let mut tape = self.tape.borrow_mut();
        match self.try_vjp(&mut tape, t, z, theta, a, f, a_z, a_theta) {
            Ok(at) => at,
            Err(e) => {
                self.record(e);
                fill_nan(f);
                fill_nan(a_z);
                fill_nan(a_theta);
                <T as Real>::from_f64(f64::NAN)
            }
        }
    }

    fn take_error(&self) -> Option<String> {
        self.error.borrow_mut().take()
    }
}
