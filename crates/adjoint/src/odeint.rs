//! The solve-and-differentiate API: [`odeint`] runs the forward pass and returns a
//! [`Trajectory`]; [`Trajectory::backward`] turns `∂L/∂z(t_i)` into [`Gradients`].

use std::any::Any;
use std::cell::RefCell;

use ode_solvers::{
    Dop853, Event, ExplicitRk, Integrator, Options, Real, SaveAt, SolveFailure, Stepper, Tableau,
    WarmStart, DOP853_TABLEAU,
};

use crate::direct::{Checkpoints, Interval};
use crate::error::error_time;
use crate::{AdjointError, Dynamics, GradStats, Pass, PassStats, Result};

/// Options of the adjoint backward solve ([`GradMethod::Adjoint`]).
///
/// The backward solve integrates the augmented state `[z, a, a_θ, a_t]` (length
/// `2·dim + num_params + 1`) from each observation time to the previous one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdjointOptions {
    /// Relative tolerance of the backward solve (default 1e-6).
    pub rtol: f64,
    /// Absolute tolerance of the backward solve (default 1e-9).
    pub atol: f64,
    /// Leave `a_θ` and `a_t` out of the backward error norm (Kidger, Chen, Lyons 2021): they
    /// never feed back into `z` or `a`, so errors in them are not amplified; fewer steps for
    /// the same accuracy. Default `false`.
    pub seminorm: bool,
    /// Fixed backward step. `None` (default): the forward solve's fixed step if it had one,
    /// else adaptive steps.
    pub fixed_step: Option<f64>,
    /// Step budget of each backward interval (default 100,000).
    pub max_steps: usize,
}

impl Default for AdjointOptions {
    fn default() -> Self {
        AdjointOptions {
            rtol: 1e-6,
            atol: 1e-9,
            seminorm: false,
            fixed_step: None,
            max_steps: 100_000,
        }
    }
}

impl AdjointOptions {
    /// Sets the relative tolerance.
    pub fn rtol(mut self, v: f64) -> Self {
        self.rtol = v;
        self
    }
    /// Sets the absolute tolerance.
    pub fn atol(mut self, v: f64) -> Self {
        self.atol = v;
        self
    }
    /// Turns the seminorm on or off.
    pub fn seminorm(mut self, on: bool) -> Self {
        self.seminorm = on;
        self
    }
    /// Sets a fixed backward step.
    pub fn fixed_step(mut self, dt: f64) -> Self {
        self.fixed_step = Some(dt);
        self
    }
    /// Sets the step budget per interval.
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = n;
        self
    }
}

/// How [`Trajectory::backward`] computes gradients.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum GradMethod {
    /// Optimise-then-discretise: the paper's Algorithm 1 (backsolve of the augmented adjoint
    /// system), memory independent of the number of steps; gradients accurate to the backward
    /// tolerance.
    Adjoint(AdjointOptions),
    /// Discretise-then-optimise: the forward pass keeps the state after every accepted step;
    /// the backward pass replays each step's Runge–Kutta stages and backpropagates through
    /// them. The exact gradient of the computed forward map (step sizes as taken).
    Direct {
        /// The Butcher tableau of the forward method. `None`: taken from the method
        /// ([`ExplicitRk`] or [`Dop853`]); give it for a method from another crate whose steps
        /// are this tableau's.
        tableau: Option<&'static Tableau>,
    },
    /// As `Direct`, but with at most `checkpoints` states held at once besides the observed
    /// ones: the forward pass keeps some states (checkpoints), and the backward pass recomputes
    /// the steps between them from the nearest one, holding recomputed states in the slots
    /// the checkpoints leave free, by binomial checkpointing (Griewank's schedule, as in
    /// `revolve`): the fewest recomputed steps for the memory. With a fixed step, whose step
    /// count is known in advance, the forward pass puts its checkpoints where that schedule
    /// wants them, so the whole gradient recomputes the fewest steps possible in `checkpoints`
    /// states (with `checkpoints + 1 ≥ steps`, none: one state per step, as `Direct`); in an
    /// adaptive solve it keeps between a quarter and half of them evenly spaced and each
    /// segment is reversed with the rest. `0`: no checkpoints and no limit (each interval is
    /// recomputed once and all its states held). Same gradients as `Direct` to rounding.
    Checkpointed {
        /// The most states held at once for the backward pass, forward checkpoints and
        /// recomputed states together (the observed states are kept anyway); `0`: no limit.
        checkpoints: usize,
        /// As for `Direct`.
        tableau: Option<&'static Tableau>,
    },
}

impl GradMethod {
    /// `Adjoint` with default options.
    pub fn adjoint() -> Self {
        GradMethod::Adjoint(AdjointOptions::default())
    }
    /// `Direct`, tableau from the method.
    pub fn direct() -> Self {
        GradMethod::Direct { tableau: None }
    }
    /// `Checkpointed` holding at most `checkpoints` states besides the observed ones, tableau
    /// from the method.
    pub fn checkpointed(checkpoints: usize) -> Self {
        GradMethod::Checkpointed {
            checkpoints,
            tableau: None,
        }
    }
}

/// Gradients of a loss `L(z(t_0), …, z(t_N))` with respect to the inputs of [`odeint`].
#[derive(Debug, Clone, PartialEq)]
pub struct Gradients<T> {
    /// `dL/dz0` (length `dim`).
    pub dz0: Vec<T>,
    /// `dL/dθ` (length `num_params`).
    pub dtheta: Vec<T>,
    /// `dL/dt_i` for every observation time, `t_0` included (length `N + 1`).
    pub dts: Vec<f64>,
    /// Work and memory of both passes.
    pub stats: GradStats,
}

/// What the forward pass kept for the backward pass.
pub(crate) enum Record<T> {
    /// Adjoint: only the observed states.
    Observed,
    /// Direct/Checkpointed: step times and stored states per interval. A `Checkpointed`
    /// backward pass holds its recomputed states in the slots of the checkpoints it has gone
    /// past, which it then marks spent; the next backward pass first recomputes them.
    Steps(Steps<T>),
}

/// The step record of `Direct` and `Checkpointed`.
pub(crate) struct Steps<T> {
    pub(crate) intervals: std::cell::RefCell<Vec<Interval<T>>>,
    pub(crate) tableau: &'static Tableau,
    /// Whether a backward pass overwrote checkpoints (see [`Record::Steps`]).
    pub(crate) spent: std::cell::Cell<bool>,
}

impl<T> Steps<T> {
    fn new(intervals: Vec<Interval<T>>, tableau: &'static Tableau) -> Self {
        Steps {
            intervals: std::cell::RefCell::new(intervals),
            tableau,
            spent: std::cell::Cell::new(false),
        }
    }
}

/// The result of the forward pass of [`odeint`]: the states `z(t_i)` and what the chosen
/// [`GradMethod`] needs to compute gradients.
pub struct Trajectory<'d, T: Real, D: ?Sized, M, B = M> {
    pub(crate) dynamics: &'d D,
    pub(crate) theta: Vec<T>,
    pub(crate) ts: Vec<f64>,
    pub(crate) zs: Vec<T>,
    pub(crate) dim: usize,
    pub(crate) grad: GradMethod,
    pub(crate) fixed_step: Option<f64>,
    pub(crate) backward_method: B,
    pub(crate) record: Record<T>,
    pub(crate) forward: PassStats,
    _method: std::marker::PhantomData<M>,
}

impl<T: Real, D: ?Sized, M, B> std::fmt::Debug for Trajectory<'_, T, D, M, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trajectory")
            .field("ts", &self.ts)
            .field("dim", &self.dim)
            .field("grad", &self.grad)
            .field("forward", &self.forward)
            .finish()
    }
}

/// Solves `dz/dt = f(z, t, θ)` from `z(ts[0]) = z0` through the observation times `ts` with
/// `method`, keeping what `grad` needs to differentiate the result.
///
/// `ts` must hold at least two finite, strictly monotone times (increasing or decreasing).
/// The forward pass depends on `grad`:
/// - `Adjoint` with adaptive steps: one solve over the whole span, the inner `z(t_i)` read from
///   the method's dense output (no step is forced to end on an observation time, as in
///   torchdiffeq and diffrax; on the spiral task this halves the forward evaluations). The
///   step budget (`max_steps`) then applies to the whole span.
/// - `Direct` and `Checkpointed` (whose gradient is that of the computed steps), and any fixed
///   step: interval by interval, `[t_{i-1}, t_i]`, each solve continuing the previous one
///   ([`WarmStart::Continue`]: its step-size proposal, controller memory and last derivative
///   carry over, so observation times cost no restart), so each `z(t_i)` is a step end; the
///   step budget applies to each interval.
///
/// From `opts` the tolerances, fixed step, step limits and controller are used; `save_at`,
/// `dense`, `tstops` and `warm_start` are replaced.
///
/// The backward pass with the adjoint method uses `method` again; see [`odeint_with`] for a
/// different backward method.
///
/// # Errors
/// [`AdjointError`] for inputs of the wrong length or non-finite, bad times, a `Direct` or
/// `Checkpointed` request for a method without a known tableau, invalid options, and a failure
/// of the forward solve (with the time).
///
/// # Example
/// ```
/// use adjoint::{odeint, GradMethod, Linear};
/// use ode_solvers::{tableau, ExplicitRk, Options};
/// // dz/dt = θz with θ = -1, z0 = 1, L = z(1) = e^θ: dL/dz0 = dL/dθ = e^{-1}, dL/dt1 = -e^{-1}.
/// let lin = Linear::new(1);
/// let traj = odeint(&lin, &[1.0], &[-1.0], &[0.0, 1.0],
///     ExplicitRk::new(&tableau::DOPRI5), &Options::default().rtol(1e-10).atol(1e-12),
///     GradMethod::direct())?;
/// let g = traj.backward(&[0.0, 1.0])?;
/// let e = (-1.0f64).exp();
/// assert!((g.dz0[0] - e).abs() < 1e-9 && (g.dtheta[0] - e).abs() < 1e-9);
/// assert!((g.dts[1] + e).abs() < 1e-9 && (g.dts[0] - e).abs() < 1e-9);
/// # Ok::<(), adjoint::AdjointError>(())
/// ```
pub fn odeint<'d, T, D, M>(
    dynamics: &'d D,
    z0: &[T],
    theta: &[T],
    ts: &[f64],
    method: M,
    opts: &Options,
    grad: GradMethod,
) -> Result<Trajectory<'d, T, D, M, M>>
where
    T: Real,
    D: Dynamics<T> + ?Sized,
    M: Stepper<T>,
{
    let backward = method.clone();
    odeint_with(dynamics, z0, theta, ts, method, backward, opts, grad)
}

/// [`odeint`] with a separate method for the adjoint backward solve (used only by
/// [`GradMethod::Adjoint`]; `Direct` and `Checkpointed` replay the forward method).
#[allow(clippy::too_many_arguments)]
pub fn odeint_with<'d, T, D, M, B>(
    dynamics: &'d D,
    z0: &[T],
    theta: &[T],
    ts: &[f64],
    method: M,
    backward_method: B,
    opts: &Options,
    grad: GradMethod,
) -> Result<Trajectory<'d, T, D, M, B>>
where
    T: Real,
    D: Dynamics<T> + ?Sized,
    M: Stepper<T>,
    B: Stepper<T>,
{
    let n = dynamics.dim();
    let p = dynamics.num_params();
    check_len("z0", n, z0.len())?;
    check_len("theta", p, theta.len())?;
    check_finite("z0", z0)?;
    check_finite("theta", theta)?;
    check_times(ts)?;
    let tableau = match grad {
        GradMethod::Adjoint(ao) => {
            check_adjoint_options(&ao)?;
            None
        }
        GradMethod::Direct { tableau } | GradMethod::Checkpointed { tableau, .. } => {
            Some(find_tableau::<T, M>(&method, tableau)?)
        }
    };
    // Discard a stale error from earlier use of the dynamics.
    let _ = dynamics.take_error();

    let mut o = opts.clone();
    o.save_at = SaveAt::Final;
    o.dense = false;
    o.tstops.clear();
    // Each interval starts where the previous ended, with its final state: continue it.
    o.warm_start = WarmStart::Continue;
    let sys = |t: f64, z: &[T], dz: &mut [T]| dynamics.eval(t, z, theta, dz);
    let mut integ = Integrator::new(method);
    let nt = ts.len();
    let mut zs = Vec::with_capacity(nt * n);
    zs.extend_from_slice(z0);
    let mut forward = PassStats::default();
    let fail = |e: SolveFailure<T>, from: f64, to: f64| -> AdjointError {
        let t = error_time(&e.error, e.partial.t_final);
        match dynamics.take_error() {
            Some(message) => AdjointError::Dynamics {
                pass: Pass::Forward,
                t,
                message,
            },
            None => AdjointError::Solve {
                pass: Pass::Forward,
                t,
                from,
                to,
                source: e.error,
            },
        }
    };

    let record = match (grad, tableau) {
        (GradMethod::Adjoint(_), _) | (_, None) if o.fixed_step.is_none() && nt > 2 => {
            // One adaptive solve over the whole span: the states at the inner observation
            // times come from the method's dense output, as in torchdiffeq and diffrax, so no
            // step is forced to end on them. The adjoint needs only the states, not the steps.
            o.save_at = SaveAt::Times(ts[1..nt - 1].to_vec());
            let sol = integ.solve(&sys, ts[0], ts[nt - 1], z0, &o).map_err(|e| {
                // Name the interval of observation times the failure happened in.
                let t = error_time(&e.error, e.partial.t_final);
                let dir = (ts[nt - 1] - ts[0]).signum();
                let i = (1..nt - 1)
                    .find(|&i| (ts[i] - t) * dir > 0.0)
                    .unwrap_or(nt - 1);
                fail(e, ts[i - 1], ts[i])
            })?;
            add_stats(&mut forward, &sol.stats);
            zs.extend_from_slice(&sol.y);
            zs.extend_from_slice(&sol.y_final);
            Record::Observed
        }
        (GradMethod::Adjoint(_), _) | (_, None) => {
            // Fixed steps (or a single interval): each interval is its own solve, so that fixed
            // steps end on every observation time.
            for i in 1..nt {
                let sol = integ
                    .solve(&sys, ts[i - 1], ts[i], &zs[(i - 1) * n..i * n], &o)
                    .map_err(|e| fail(e, ts[i - 1], ts[i]))?;
                add_stats(&mut forward, &sol.stats);
                zs.extend_from_slice(&sol.y_final);
            }
            Record::Observed
        }
        (GradMethod::Direct { .. }, Some(tab)) => {
            o.save_at = SaveAt::Steps;
            let mut intervals = Vec::with_capacity(nt - 1);
            for i in 1..nt {
                let sol = integ
                    .solve(&sys, ts[i - 1], ts[i], &zs[(i - 1) * n..i * n], &o)
                    .map_err(|e| fail(e, ts[i - 1], ts[i]))?;
                add_stats(&mut forward, &sol.stats);
                zs.extend_from_slice(&sol.y_final);
                let m = sol.t.len() - 1;
                let mut times = sol.t;
                // The stored times end exactly on t_i; make sure of it.
                times[m] = ts[i];
                let mut states = sol.y;
                states.truncate(m * n);
                intervals.push(Interval {
                    times,
                    positions: (0..m).collect(),
                    states,
                });
            }
            Record::Steps(Steps::new(intervals, tab))
        }
        (GradMethod::Checkpointed { checkpoints, .. }, Some(tab)) => {
            let mut checkpoints = Checkpoints::new(checkpoints, n);
            if let Some(steps) = o.fixed_step.and_then(|dt| fixed_step_count(ts, dt)) {
                checkpoints.expect_steps(steps);
            }
            let rec = RefCell::new(checkpoints);
            let events = [Event::new(|t: f64, y: &[T]| {
                rec.borrow_mut().see(t, y);
                1.0
            })];
            for i in 1..nt {
                rec.borrow_mut().start_interval(i - 1);
                let sol = integ
                    .solve_with_events(&sys, ts[i - 1], ts[i], &zs[(i - 1) * n..i * n], &o, &events)
                    .map_err(|e| fail(e, ts[i - 1], ts[i]))?;
                add_stats(&mut forward, &sol.stats);
                zs.extend_from_slice(&sol.y_final);
            }
            drop(events);
            let intervals = rec.into_inner().finish(&zs, ts);
            Record::Steps(Steps::new(intervals, tab))
        }
    };
    let fixed_step = opts.fixed_step;
    Ok(Trajectory {
        dynamics,
        theta: theta.to_vec(),
        ts: ts.to_vec(),
        zs,
        dim: n,
        grad,
        fixed_step,
        backward_method,
        record,
        forward,
        _method: std::marker::PhantomData,
    })
}

impl<T, D, M, B> Trajectory<'_, T, D, M, B>
where
    T: Real,
    D: Dynamics<T> + ?Sized,
    M: Stepper<T>,
    B: Stepper<T>,
{
    /// The observation times.
    pub fn times(&self) -> &[f64] {
        &self.ts
    }

    /// All states `z(t_0), …, z(t_N)`, flattened (`(N + 1) × dim`).
    pub fn states(&self) -> &[T] {
        &self.zs
    }

    /// The state `z(t_i)`.
    ///
    /// # Panics
    /// If `i > N`.
    pub fn state(&self, i: usize) -> &[T] {
        &self.zs[i * self.dim..(i + 1) * self.dim]
    }

    /// The final state `z(t_N)`.
    pub fn final_state(&self) -> &[T] {
        self.state(self.ts.len() - 1)
    }

    /// Work done by the forward pass.
    pub fn forward_stats(&self) -> PassStats {
        self.forward
    }

    /// State vectors kept for the backward pass (see [`GradStats::stored_states`]).
    pub fn stored_states(&self) -> usize {
        match &self.record {
            Record::Observed => self.ts.len(),
            Record::Steps(steps) => {
                self.ts.len()
                    + steps
                        .intervals
                        .borrow()
                        .iter()
                        .map(|i| i.positions.len().saturating_sub(1))
                        .sum::<usize>()
            }
        }
    }

    /// The backward pass: from `dl_dz = ∂L/∂z(t_i)` for every `i` (flattened `(N + 1) × dim`,
    /// the direct partials of the loss, not accumulated), computes `dL/dz0`, `dL/dθ` and
    /// `dL/dt_i` for every `i` with the [`GradMethod`] given to [`odeint`]. Can be called any
    /// number of times (for different losses).
    ///
    /// # Errors
    /// [`AdjointError::ShapeMismatch`] or [`AdjointError::NonFiniteInput`] for a bad `dl_dz`;
    /// a failure of the backward solve (with its time); [`AdjointError::NonFiniteGradient`].
    pub fn backward(&self, dl_dz: &[T]) -> Result<Gradients<T>> {
        check_len("dl_dz", self.zs.len(), dl_dz.len())?;
        check_finite("dl_dz", dl_dz)?;
        let _ = self.dynamics.take_error();
        let mut g = match (&self.grad, &self.record) {
            (GradMethod::Adjoint(ao), _) => crate::backsolve::backsolve(self, ao, dl_dz)?,
            (_, Record::Steps(steps)) => {
                // The most states the checkpointing holds (forward checkpoints and recomputed
                // states); with none, or for Direct, no limit: a segment's states are all held.
                let budget = match self.grad {
                    GradMethod::Checkpointed { checkpoints, .. } if checkpoints > 0 => checkpoints,
                    _ => usize::MAX,
                };
                crate::direct::backward(self, steps, dl_dz, budget)?
            }
            (_, Record::Observed) => unreachable!("Direct and Checkpointed record steps"),
        };
        g.stats.forward = self.forward;
        g.stats.stored_states = self.stored_states();
        check_finite_grad("dz0", &g.dz0)?;
        check_finite_grad("dtheta", &g.dtheta)?;
        if let Some(index) = g.dts.iter().position(|v| !v.is_finite()) {
            return Err(AdjointError::NonFiniteGradient { what: "dts", index });
        }
        Ok(g)
    }
}

fn add_stats(p: &mut PassStats, s: &ode_solvers::Stats) {
    p.nfe += s.nfe;
    p.accepted += s.accepted;
    p.rejected += s.rejected;
}

fn check_len(what: &'static str, expected: usize, found: usize) -> Result<()> {
    if expected != found {
        return Err(AdjointError::ShapeMismatch {
            what,
            expected,
            found,
        });
    }
    Ok(())
}

fn check_finite<T: Real>(what: &'static str, v: &[T]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(AdjointError::NonFiniteInput { what, index }),
        None => Ok(()),
    }
}

fn check_finite_grad<T: Real>(what: &'static str, v: &[T]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(AdjointError::NonFiniteGradient { what, index }),
        None => Ok(()),
    }
}

fn check_times(ts: &[f64]) -> Result<()> {
    if ts.len() < 2 {
        return Err(AdjointError::TooFewTimes { found: ts.len() });
    }
    if let Some(index) = ts.iter().position(|t| !t.is_finite()) {
        return Err(AdjointError::TimesNotMonotone {
            index,
            value: ts[index],
        });
    }
    let dir = (ts[1] - ts[0]).signum();
    for i in 1..ts.len() {
        let d = ts[i] - ts[i - 1];
        if d == 0.0 || d.signum() != dir {
            return Err(AdjointError::TimesNotMonotone {
                index: i,
                value: ts[i],
            });
        }
    }
    Ok(())
}

fn check_adjoint_options(ao: &AdjointOptions) -> Result<()> {
    for (what, v) in [("adjoint rtol", ao.rtol), ("adjoint atol", ao.atol)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(AdjointError::InvalidOption { what, value: v });
        }
    }
    if ao.rtol == 0.0 && ao.atol == 0.0 {
        return Err(AdjointError::InvalidOption {
            what: "adjoint rtol and atol",
            value: 0.0,
        });
    }
    if let Some(dt) = ao.fixed_step {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(AdjointError::InvalidOption {
                what: "adjoint fixed_step",
                value: dt,
            });
        }
    }
    if ao.max_steps == 0 {
        return Err(AdjointError::InvalidOption {
            what: "adjoint max_steps",
            value: 0.0,
        });
    }
    Ok(())
}

/// The tableau of `method`: the explicit one if given, else that of an [`ExplicitRk`] or
/// [`Dop853`] (its twelve propagating stages).
pub(crate) fn find_tableau<T: Real, M: Stepper<T>>(
    method: &M,
    explicit: Option<&'static Tableau>,
) -> Result<&'static Tableau> {
    if let Some(t) = explicit {
        return Ok(t);
    }
    let any = method as &dyn Any;
    if let Some(rk) = any.downcast_ref::<ExplicitRk<T>>() {
        return Ok(rk.tableau());
    }
    if any.is::<Dop853<T>>() {
        return Ok(&DOP853_TABLEAU);
    }
    Err(AdjointError::NoTableau {
        method: method.name(),
    })
}

/// The number of fixed steps of size `dt` the solves through `ts` take (one solve per
/// interval, each counted by [`ode_solvers::fixed_step_count`]), or `None` if it is not a
/// sensible count. Only a hint for placing checkpoints: rounding may make it one off.
fn fixed_step_count(ts: &[f64], dt: f64) -> Option<usize> {
    ts.windows(2).try_fold(0usize, |total, w| {
        ode_solvers::fixed_step_count(w[0], w[1], dt).map(|k| total.saturating_add(k))
    })
}

#[cfg(test)]
mod tests {
    use super::fixed_step_count;

    #[test]
    fn fixed_step_counts() {
        assert_eq!(fixed_step_count(&[0.0, 16.0], 0.01), Some(1600));
        // 40 steps, then 0.37 / 0.05 = 7.4: eight.
        assert_eq!(fixed_step_count(&[0.0, 2.0, 2.37], 0.05), Some(48));
        // Backward in time, and a step size given with either sign.
        assert_eq!(fixed_step_count(&[1.0, 0.0], -0.25), Some(4));
        assert_eq!(fixed_step_count(&[0.0, 1.0], 0.0), None);
        assert_eq!(fixed_step_count(&[0.0, 1.0], f64::NAN), None);
        assert_eq!(fixed_step_count(&[0.0, 1e300], 1e-300), None);
    }
}
