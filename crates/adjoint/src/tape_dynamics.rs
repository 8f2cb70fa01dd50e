//! [`TapeDynamics`]: dynamics written with `autodiff` operations, differentiated on a tape.

use std::cell::RefCell;

use autodiff::{AutodiffError, Scalar, Tape, Var};
use ode_solvers::Real;

use crate::memo::{same_bits, state_hash, PassCounts};
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
/// per call. One adapter per thread (`TapeDynamics` is `Send` but not `Sync`).
///
/// **Kept passes.** [`TapeDynamics::with_memory`] keeps the recorded tapes of the last few
/// calls, found by a hash of `(t, z)` and checked bit for bit (and forgotten when `θ`
/// changes): a vector–Jacobian product at a kept point only sweeps backward. `Direct` and
/// `Checkpointed` gradients evaluate a step's stages and then take the products at the same
/// stage inputs, so with as many passes kept as the method has stages their products skip the
/// forward half. By default nothing is kept and [`Dynamics::eval`] runs with recording off.
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
    memory: RefCell<Memory<T>>,
    error: RefCell<Option<String>>,
}

/// One kept pass: a recorded tape and where it was recorded.
struct KeptPass<T: Scalar> {
    tape: Tape<T>,
    /// The leaves `z`, `t`, `θ` and the output.
    handles: Option<[Var; 4]>,
    z: Vec<T>,
    t: u64,
    hash: u64,
}

/// The ring of kept passes.
struct Memory<T: Scalar> {
    slots: Vec<KeptPass<T>>,
    /// Most passes kept (0: none; evaluations run with recording off).
    cap: usize,
    /// The slot the next recorded pass writes.
    next: usize,
    /// `θ` of the kept passes.
    theta: Vec<T>,
    counts: PassCounts,
}

impl<T: Scalar + Real> Memory<T> {
    /// Forgets every kept pass if `θ` changed.
    fn check_theta(&mut self, theta: &[T]) {
        if !same_bits(&self.theta, theta) {
            self.theta.clear();
            self.theta.extend_from_slice(theta);
            for s in &mut self.slots {
                s.handles = None;
            }
        }
    }

    /// The slot of a kept pass at exactly `(t, z)`.
    fn find(&self, t: f64, z: &[T], hash: u64) -> Option<usize> {
        let tb = t.to_bits();
        self.slots
            .iter()
            .position(|s| s.handles.is_some() && s.hash == hash && s.t == tb && same_bits(&s.z, z))
    }

    /// Takes the next slot for a pass at `(t, z)`; its handles are set once it is recorded.
    fn claim(&mut self, t: f64, z: &[T], hash: u64) -> usize {
        let i = self.next;
        self.next = (i + 1) % self.cap;
        if i == self.slots.len() {
            self.slots.push(KeptPass {
                tape: Tape::new(),
                handles: None,
                z: Vec::new(),
                t: 0,
                hash: 0,
            });
        }
        let s = &mut self.slots[i];
        s.handles = None;
        s.z.clear();
        s.z.extend_from_slice(z);
        s.t = t.to_bits();
        s.hash = hash;
        i
    }
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
            memory: RefCell::new(Memory {
                slots: Vec::new(),
                cap: 0,
                next: 0,
                theta: Vec::new(),
                counts: PassCounts::default(),
            }),
            error: RefCell::new(None),
        }
    }

    /// Keeps the recorded tapes of the last `passes` evaluations and products (0, the default,
    /// keeps none), so that a vector–Jacobian product at a kept `(t, z)` with the same `θ`
    /// only sweeps backward, and an evaluation there is a copy.
    ///
    /// With `Direct` or `Checkpointed` gradients use at least the number of stages of the
    /// solver's method (4 for RK4, 6 for Dopri5 and Tsit5, 12 for DOP853): their backward pass
    /// then runs each network forward once instead of twice. Memory: up to `passes` tapes (the
    /// values and gradients of every recorded operation of one call). With memory on,
    /// evaluations record (slightly slower than with recording off); the adjoint method gains
    /// nothing from it.
    ///
    /// ```
    /// use adjoint::{Dynamics, PassCounts, TapeDynamics};
    /// let f = TapeDynamics::<f64, _>::new(1, 2, 1, |tape, z, _t, th| {
    ///     let h = tape.mul(z, th)?;
    ///     Ok(tape.tanh(h))
    /// })
    /// .with_memory(4);
    /// let (mut dz, mut az, mut ath) = ([0.0; 2], [0.0; 2], [0.0; 1]);
    /// f.eval(0.0, &[0.5, 1.0], &[2.0], &mut dz);
    /// f.vjp(0.0, &[0.5, 1.0], &[2.0], &[1.0, 1.0], &mut dz, &mut az, &mut ath);
    /// assert_eq!(f.pass_counts(), PassCounts { computed: 1, reused: 1 });
    /// ```
    pub fn with_memory(self, passes: usize) -> Self {
        {
            let mut m = self.memory.borrow_mut();
            m.cap = passes;
            m.slots.truncate(passes);
            m.next = 0;
            for s in &mut m.slots {
                s.handles = None;
            }
        }
        self
    }

    /// How many forward passes were computed and how many calls found theirs kept, since
    /// construction or the last [`reset_pass_counts`](Self::reset_pass_counts).
    pub fn pass_counts(&self) -> PassCounts {
        self.memory.borrow().counts
    }

    /// Sets both [`pass_counts`](Self::pass_counts) to zero.
    pub fn reset_pass_counts(&self) {
        self.memory.borrow_mut().counts = PassCounts::default();
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
        let handles = self.record_pass(tape, t, z, theta)?;
        sweep(tape, handles, a, f, a_z, a_theta)
    }

    /// Records `f` at `(t, z, θ)` on a cleared `tape` with recording on: the handles of the
    /// leaves `z`, `t`, `θ` and of the output.
    fn record_pass(
        &self,
        tape: &mut Tape<T>,
        t: f64,
        z: &[T],
        theta: &[T],
    ) -> autodiff::Result<[Var; 4]> {
        tape.clear();
        tape.set_recording(true);
        let zv = tape.leaf_from_slice(self.rows, self.cols, z)?;
        let tv = tape.leaf_scalar(<T as Scalar>::cast(t));
        let th = tape.leaf_from_slice(1, self.num_params, theta)?;
        let out = (self.f)(tape, zv, tv, th)?;
        self.check_out(tape, out)?;
        Ok([zv, tv, th, out])
    }
}

impl<T, F> TapeDynamics<T, F>
where
    T: Scalar + Real,
    F: Fn(&mut Tape<T>, Var, Var, Var) -> autodiff::Result<Var>,
{
    /// The slot of a recorded pass at `(t, z)` with `θ`: a kept one, or a new one recorded.
    fn kept_pass(
        &self,
        m: &mut Memory<T>,
        t: f64,
        z: &[T],
        theta: &[T],
    ) -> autodiff::Result<usize> {
        m.check_theta(theta);
        let hash = state_hash(z);
        if let Some(i) = m.find(t, z, hash) {
            m.counts.reused += 1;
            return Ok(i);
        }
        let i = m.claim(t, z, hash);
        m.counts.computed += 1;
        let handles = self.record_pass(&mut m.slots[i].tape, t, z, theta)?;
        m.slots[i].handles = Some(handles);
        Ok(i)
    }

    fn try_eval_kept(&self, t: f64, z: &[T], theta: &[T], dz: &mut [T]) -> autodiff::Result<()> {
        let mut m = self.memory.borrow_mut();
        let i = self.kept_pass(&mut m, t, z, theta)?;
        let slot = &m.slots[i];
        let [_, _, _, out] = slot.handles.expect("a kept pass has handles");
        dz.copy_from_slice(slot.tape.value(out).as_slice());
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn try_vjp_kept(
        &self,
        t: f64,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &mut [T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) -> autodiff::Result<T> {
        let mut m = self.memory.borrow_mut();
        let i = self.kept_pass(&mut m, t, z, theta)?;
        let slot = &mut m.slots[i];
        let handles = slot.handles.expect("a kept pass has handles");
        sweep(&mut slot.tape, handles, a, f, a_z, a_theta)
    }

    fn keeps_passes(&self) -> bool {
        self.memory.borrow().cap > 0
    }
}

/// On a tape recorded by `record_pass`: copies `f` out, sweeps backward with cotangent `a`,
/// writes `aᵀ∂f/∂z` and `aᵀ∂f/∂θ`, and returns `aᵀ∂f/∂t`.
fn sweep<T: Scalar + Real>(
    tape: &mut Tape<T>,
    [zv, tv, th, out]: [Var; 4],
    a: &[T],
    f: &mut [T],
    a_z: &mut [T],
    a_theta: &mut [T],
) -> autodiff::Result<T> {
    f.copy_from_slice(tape.value(out).as_slice());
    tape.backward_with_slice(out, a)?;
    tape.grad_to_slice(zv, a_z)?;
    tape.grad_to_slice(th, a_theta)?;
    let mut at = [<T as Real>::from_f64(0.0)];
    tape.grad_to_slice(tv, &mut at)?;
    Ok(at[0])
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
        let res = if self.keeps_passes() {
            self.try_eval_kept(t, z, theta, dz)
        } else {
            self.memory.borrow_mut().counts.computed += 1;
            self.try_eval(&mut self.tape.borrow_mut(), t, z, theta, dz)
        };
        if let Err(e) = res {
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
        let res = if self.keeps_passes() {
            self.try_vjp_kept(t, z, theta, a, f, a_z, a_theta)
        } else {
            self.memory.borrow_mut().counts.computed += 1;
            self.try_vjp(&mut self.tape.borrow_mut(), t, z, theta, a, f, a_z, a_theta)
        };
        match res {
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
