//! The driver: the adaptive (or fixed-step) loop around any [`Stepper`], with output at
//! requested times, stop times, events, statistics and typed errors.

use std::sync::Arc;

use crate::controller::{FactorPowers, ERR_PREV_FLOOR};
use crate::event::locate;
use crate::solution::DenseSolution;
use crate::{
    initial_step, ErrorScale, Event, EventHit, OdeSystem, Options, Real, SaveAt, Solution,
    SolveError, SolveFailure, Stats, Status, Stepper, Tolerance, WarmStart,
};

/// A fixed-step solve lands on its end time with the step that comes within
/// `dt · (1 + FIXED_STEP_SLACK)` of it, so that rounding in the accumulated time does not
/// leave a sliver of a last step.
const FIXED_STEP_SLACK: f64 = 1e-10;

/// The number of steps a fixed-step solve of step size `|dt|` takes from `t0` to `t1` (either
/// direction), by the driver's landing rule; `None` for a step size that is zero or not finite, or
/// a count beyond 10¹⁵. The accumulated time rounds, so a solve may take one step more than
/// this where `(t1 − t0)/dt` sits within rounding of the slack.
///
/// ```
/// assert_eq!(ode_solvers::fixed_step_count(0.0, 16.0, 0.01), Some(1600));
/// assert_eq!(ode_solvers::fixed_step_count(1.0, 0.0, 0.3), Some(4));
/// ```
pub fn fixed_step_count(t0: f64, t1: f64, dt: f64) -> Option<usize> {
    let dt = dt.abs();
    if !dt.is_finite() || dt <= 0.0 {
        return None;
    }
    let r = ((t1 - t0).abs() / dt) / (1.0 + FIXED_STEP_SLACK);
    if !r.is_finite() || r > 1e15 {
        return None;
    }
    Some((r.ceil() as usize).max(1))
}

/// Solves initial value problems with one method, reusing its buffers from solve to solve.
///
/// Once a solve has started, stepping does not allocate: the only allocations of a solve are
/// its result (sized up front for [`SaveAt::Times`]), growth of the kept states for
/// [`SaveAt::Steps`] and of the dense solution, and the workspace on the first solve of a given
/// dimension.
///
/// It also remembers how its last solve ended, so that the next one can continue it instead
/// of starting afresh ([`Options::warm_start`], [`WarmStart`]).
///
/// ```
/// use ode_solvers::{tableau, ExplicitRk, Integrator, Options};
/// // y' = -2y, y(0) = 1, solved backward from t = 1 to t = 0.
/// let sys = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -2.0 * y[0];
/// let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
/// let y1 = (-2.0f64).exp();
/// let sol = integ.solve(&sys, 1.0, 0.0, &[y1], &Options::default().rtol(1e-10).atol(1e-12)).unwrap();
/// assert!((sol.y_final[0] - 1.0).abs() < 1e-9);
/// assert!(sol.stats.accepted > 0);
/// ```
pub struct Integrator<T: Real, M: Stepper<T>> {
    method: M,
    dim: usize,
    ws: Option<M::Workspace>,
    y: Vec<T>,
    y1: Vec<T>,
    f0: Vec<T>,
    f1: Vec<T>,
    tmp: Vec<T>,
    dense: Vec<T>,
    atol: Vec<f64>,
    rtol: Vec<f64>,
    tstops: Vec<f64>,
    g_old: Vec<f64>,
    g_new: Vec<f64>,
    /// How the last solve ended, if it completed adaptively (for [`WarmStart`]).
    warm: Option<Ended>,
    /// The controller's powers of the squared error norm, kept from solve to solve while its
    /// `α` and `β` are the same.
    pows: Option<Arc<FactorPowers>>,
}

/// The end of a completed adaptive solve: its final time and direction, the next step-size
/// proposal (magnitude), the controller's memory, and whether `f0` holds `f(t, y)` for the
/// final state in `y`.
#[derive(Debug, Clone, Copy)]
struct Ended {
    t: f64,
    dir: f64,
    h: f64,
    err_prev: f64,
    f_valid: bool,
}

/// How a solve starts (decided from [`WarmStart`] and the previous solve's [`Ended`]).
#[derive(Debug, Clone, Copy)]
enum Start {
    Cold,
    /// Keep the step proposal and controller memory; `f0` is valid when `reuse_f`.
    Warm {
        h: f64,
        err_prev: f64,
        reuse_f: bool,
    },
}

/// Solves `dy/dt = f(t, y)` from `(t0, y0)` to `t1` with `method`: a shorthand for
/// [`Integrator::new`] followed by [`Integrator::solve`].
///
/// ```
/// use ode_solvers::{solve, tableau, ExplicitRk, Options};
/// let sys = |t: f64, _y: &[f32], dy: &mut [f32]| dy[0] = t as f32;
/// let sol = solve(ExplicitRk::new(&tableau::BOSH3), &sys, 0.0, 2.0, &[0.0f32], &Options::default()).unwrap();
/// assert!((sol.y_final[0] - 2.0).abs() < 1e-5);
/// ```
pub fn solve<T: Real, M: Stepper<T>, S: OdeSystem<T> + ?Sized>(
    method: M,
    sys: &S,
    t0: f64,
    t1: f64,
    y0: &[T],
    opts: &Options,
) -> Result<Solution<T>, SolveFailure<T>> {
    Integrator::new(method).solve(sys, t0, t1, y0, opts)
}

/// The mutable state of one run, kept so that a failure can hand back what was computed.
struct Run<T: Real> {
    t: f64,
    stats: Stats,
    out_t: Vec<f64>,
    out_y: Vec<T>,
    events: Vec<EventHit<T>>,
    dense: Option<DenseSolution<T>>,
    terminal: Option<(usize, f64, Vec<T>)>,
}

fn expand(
    tol: &Tolerance,
    n: usize,
    what: &'static str,
    out: &mut Vec<f64>,
) -> Result<(), SolveError> {
    out.clear();
    match tol {
        Tolerance::Scalar(v) => out.resize(n, *v),
        Tolerance::PerComponent(v) => {
            if v.len() != n {
                return Err(SolveError::DimensionMismatch {
                    what,
                    expected: n,
                    found: v.len(),
                });
            }
            out.extend_from_slice(v);
        }
    }
    // +∞ is allowed: it leaves a component out of the error norm (a seminorm).
    for &v in out.iter() {
        if v.is_nan() || v < 0.0 {
            return Err(SolveError::InvalidTolerance { what, value: v });
        }
    }
    Ok(())
}

/// The float next to `t` on the side of `t0` (one ulp back along the direction `dir`).
fn before(t: f64, dir: f64) -> f64 {
    if dir > 0.0 {
        t.next_down()
    } else {
        t.next_up()
    }
}

/// The float next to `t` beyond it along the direction `dir`.
fn after(t: f64, dir: f64) -> f64 {
    if dir > 0.0 {
        t.next_up()
    } else {
        t.next_down()
    }
}

/// Whether every value of `v` is finite. Long states are checked without a branch per
/// value: `x - x` is `+0` for finite `x` and NaN for `±∞` and NaN, so the sums are zero
/// exactly when all values are finite (four sums, so that the loop runs in vector
/// registers). Short ones, where the loop's set-up would cost more, value by value.
#[allow(clippy::eq_op)] // `x - x` is the test, not a mistake.
fn all_finite<T: Real>(v: &[T]) -> bool {
    if v.len() < 8 {
        return v.iter().all(|x| x.is_finite());
    }
    let mut acc = [T::zero(); 4];
    let mut chunks = v.chunks_exact(4);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x - x;
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a += x - x;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) == T::zero()
}

impl<T: Real, M: Stepper<T>> Integrator<T, M> {
    /// Creates an integrator for `method`; buffers are allocated on the first solve.
    pub fn new(method: M) -> Self {
        Integrator {
            method,
            dim: usize::MAX,
            ws: None,
            y: Vec::new(),
            y1: Vec::new(),
            f0: Vec::new(),
            f1: Vec::new(),
            tmp: Vec::new(),
            dense: Vec::new(),
            atol: Vec::new(),
            rtol: Vec::new(),
            tstops: Vec::new(),
            g_old: Vec::new(),
            g_new: Vec::new(),
            warm: None,
            pows: None,
        }
    }

    /// The method.
    pub fn method(&self) -> &M {
        &self.method
    }

    fn buffers(&mut self, n: usize) {
        if self.dim != n || self.ws.is_none() {
            self.ws = Some(self.method.workspace(n));
            for v in [
                &mut self.y,
                &mut self.y1,
                &mut self.f0,
                &mut self.f1,
                &mut self.tmp,
            ] {
                v.clear();
                v.resize(n, T::zero());
            }
            // Sized by the solves that interpolate (`dense_buffer`), not here: a solve that
            // only wants its final state (the adjoint's backward pass, whose state holds every
            // parameter) need not carry the interpolant's vectors.
            self.dense.clear();
            self.dim = n;
        }
    }

    /// Solves `dy/dt = f(t, y)` from `(t0, y0)` to `t1` (`t1 < t0` integrates backward).
    ///
    /// # Errors
    /// A [`SolveFailure`] holding the [`SolveError`] and the partial solution up to the
    /// failure.
    pub fn solve<S: OdeSystem<T> + ?Sized>(
        &mut self,
        sys: &S,
        t0: f64,
        t1: f64,
        y0: &[T],
        opts: &Options,
    ) -> Result<Solution<T>, SolveFailure<T>> {
        self.solve_with_events(sys, t0, t1, y0, opts, &[])
    }

    /// Like [`Integrator::solve`], also locating the zero crossings of `events`.
    pub fn solve_with_events<S: OdeSystem<T> + ?Sized>(
        &mut self,
        sys: &S,
        t0: f64,
        t1: f64,
        y0: &[T],
        opts: &Options,
        events: &[Event<'_, T>],
    ) -> Result<Solution<T>, SolveFailure<T>> {
        let n = y0.len();
        let mut run = Run {
            t: t0,
            stats: Stats::default(),
            out_t: Vec::new(),
            out_y: Vec::new(),
            events: Vec::new(),
            dense: None,
            terminal: None,
        };
        // Whatever happens, the previous end is only usable by this solve.
        let ended = self.warm.take();
        let result = self.validate(sys, t0, t1, y0, opts, events).and_then(|()| {
            let start = self.start_kind(ended, t0, t1, y0, opts);
            self.buffers(n);
            if !events.is_empty() || opts.dense || matches!(opts.save_at, SaveAt::Times(_)) {
                self.dense
                    .resize(self.method.dense_vectors() * n, T::zero());
            }
            self.y.copy_from_slice(y0);
            if let SaveAt::Times(ts) = &opts.save_at {
                run.out_t.reserve_exact(ts.len());
                run.out_y.reserve_exact(ts.len() * n);
            }
            if opts.dense {
                run.dense = Some(DenseSolution::new(&self.method, n, t0));
            }
            if t0 == t1 {
                // Nothing is stepped: a continuation stays continuable.
                if let (Some(e), Start::Warm { reuse_f: true, .. }) = (ended, start) {
                    self.warm = Some(e);
                }
            }
            self.run(sys, t0, t1, opts, events, start, &mut run)
        });
        let (t_final, y_final) = match (&result, run.terminal.take()) {
            (Ok(_), Some((_, te, ye))) => (te, ye),
            _ if self.dim == n && run.stats.nfe > 0 => (run.t, self.y.clone()),
            _ => (t0, y0.to_vec()),
        };
        if let Some(d) = run.dense.as_mut() {
            d.set_end(t_final);
        }
        let status = match &result {
            Ok(s) => *s,
            Err(_) => Status::Failed,
        };
        let sol = Solution {
            dim: n,
            t: run.out_t,
            y: run.out_y,
            t_final,
            y_final,
            stats: run.stats,
            events: run.events,
            status,
            dense: run.dense,
        };
        match result {
            Ok(_) => Ok(sol),
            Err(error) => Err(SolveFailure {
                error,
                partial: Box::new(sol),
            }),
        }
    }

    /// Decides how a solve from `(t0, y0)` towards `t1` starts, given how the previous one
    /// ended (before `y0` is copied into `self.y`, which still holds that end's state).
    fn start_kind(
        &self,
        ended: Option<Ended>,
        t0: f64,
        t1: f64,
        y0: &[T],
        opts: &Options,
    ) -> Start {
        let Some(e) = ended else {
            return Start::Cold;
        };
        let dir = if t1 >= t0 { 1.0 } else { -1.0 };
        let same_place = opts.warm_start != WarmStart::Off
            && opts.fixed_step.is_none()
            && self.dim == y0.len()
            && e.t.to_bits() == t0.to_bits()
            && (t0 == t1 || e.dir == dir);
        if !same_place {
            return Start::Cold;
        }
        let same_state = self
            .y
            .iter()
            .zip(y0)
            .all(|(a, b)| a.as_f64().to_bits() == b.as_f64().to_bits());
        match (same_state, opts.warm_start) {
            (true, _) => Start::Warm {
                h: e.h,
                err_prev: e.err_prev,
                reuse_f: e.f_valid,
            },
            (false, WarmStart::KeepStep) => Start::Warm {
                h: e.h,
                err_prev: e.err_prev,
                reuse_f: false,
            },
            _ => Start::Cold,
        }
    }

    fn validate<S: OdeSystem<T> + ?Sized>(
        &mut self,
        sys: &S,
        t0: f64,
        t1: f64,
        y0: &[T],
        opts: &Options,
        events: &[Event<'_, T>],
    ) -> Result<(), SolveError> {
        let n = y0.len();
        if !(t0.is_finite() && t1.is_finite()) {
            return Err(SolveError::InvalidSpan { t0, t1 });
        }
        if let Some(d) = sys.dim() {
            if d != n {
                return Err(SolveError::DimensionMismatch {
                    what: "initial state",
                    expected: d,
                    found: n,
                });
            }
        }
        if let Some(index) = y0.iter().position(|v| !v.is_finite()) {
            return Err(SolveError::NonFiniteInitialState { index });
        }
        expand(&opts.rtol, n, "rtol", &mut self.rtol)?;
        expand(&opts.atol, n, "atol", &mut self.atol)?;
        if self
            .rtol
            .iter()
            .zip(&self.atol)
            .any(|(r, a)| *r == 0.0 && *a == 0.0)
        {
            return Err(SolveError::InvalidTolerance {
                what: "rtol and atol",
                value: 0.0,
            });
        }
        match opts.fixed_step {
            Some(dt) if !(dt.is_finite() && dt > 0.0) => {
                return Err(SolveError::InvalidOption {
                    what: "fixed_step",
                    value: dt,
                });
            }
            None if self.method.error_order().is_none() => {
                return Err(SolveError::NotAdaptive {
                    method: self.method.name(),
                });
            }
            _ => {}
        }
        if let Some(h) = opts.first_step {
            if !(h.is_finite() && h > 0.0) {
                return Err(SolveError::InvalidOption {
                    what: "first_step",
                    value: h,
                });
            }
        }
        if opts.max_step.is_nan() || opts.max_step <= 0.0 {
            return Err(SolveError::InvalidOption {
                what: "max_step",
                value: opts.max_step,
            });
        }
        if !(opts.min_step >= 0.0 && opts.min_step.is_finite()) {
            return Err(SolveError::InvalidOption {
                what: "min_step",
                value: opts.min_step,
            });
        }
        if opts.norm_groups == 0 || !n.is_multiple_of(opts.norm_groups) {
            return Err(SolveError::InvalidOption {
                what: "norm_groups",
                value: opts.norm_groups as f64,
            });
        }
        if opts.max_steps == 0 {
            return Err(SolveError::InvalidOption {
                what: "max_steps",
                value: 0.0,
            });
        }
        let controller = opts
            .controller
            .unwrap_or_else(|| self.method.default_controller());
        if let Err((what, value)) = controller.validate() {
            return Err(SolveError::InvalidOption { what, value });
        }
        for e in events {
            if !(e.tol > 0.0 && e.tol.is_finite()) {
                return Err(SolveError::InvalidOption {
                    what: "event tol",
                    value: e.tol,
                });
            }
        }
        let dir = if t1 >= t0 { 1.0 } else { -1.0 };
        let inside = |t: f64| t.is_finite() && (t - t0) * dir >= 0.0 && (t1 - t) * dir >= 0.0;
        if let SaveAt::Times(ts) = &opts.save_at {
            for (i, &t) in ts.iter().enumerate() {
                if !inside(t) {
                    return Err(SolveError::TimeOutsideSpan { t, t0, t1 });
                }
                if i > 0 && (t - ts[i - 1]) * dir < 0.0 {
                    return Err(SolveError::TimesOutOfOrder { index: i });
                }
            }
        }
        self.tstops.clear();
        for &t in &opts.tstops {
            if !inside(t) {
                return Err(SolveError::TimeOutsideSpan { t, t0, t1 });
            }
            if t != t0 && t != t1 {
                self.tstops.push(t);
            }
        }
        self.tstops.sort_by(|a, b| (a * dir).total_cmp(&(b * dir)));
        self.tstops.dedup();
        Ok(())
    }

    /// Emits the requested outputs with times in `(t, t_stop]` (or `== t0` at the start) from
    /// the step `[t, t + h]` whose dense data is in `self.dense`.
    #[allow(clippy::too_many_arguments)]
    fn emit_outputs(
        &mut self,
        ts: &[f64],
        next: &mut usize,
        t: f64,
        h: f64,
        t_new: f64,
        t_stop: f64,
        dir: f64,
        run: &mut Run<T>,
    ) {
        while *next < ts.len() && (ts[*next] - t_stop) * dir <= 0.0 {
            let te = ts[*next];
            run.out_t.push(te);
            if te == t_new || (te - t_new) * dir > 0.0 {
                // At the step end, or at a stop time one float past it.
                run.out_y.extend_from_slice(&self.y1);
            } else {
                self.method.dense_eval(
                    ((te - t) / h).clamp(0.0, 1.0),
                    h,
                    &self.dense,
                    &mut self.tmp,
                );
                run.out_y.extend_from_slice(&self.tmp);
            }
            *next += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run<S: OdeSystem<T> + ?Sized>(
        &mut self,
        sys: &S,
        t0: f64,
        t1: f64,
        opts: &Options,
        events: &[Event<'_, T>],
        start: Start,
        run: &mut Run<T>,
    ) -> Result<Status, SolveError> {
        let n = self.dim;
        let dir = if t1 >= t0 { 1.0 } else { -1.0 };
        let controller = opts
            .controller
            .unwrap_or_else(|| self.method.default_controller());
        let q = self.method.error_order().unwrap_or(self.method.order());
        let adaptive = opts.fixed_step.is_none();
        let out_times: &[f64] = match &opts.save_at {
            SaveAt::Times(ts) => ts,
            _ => &[],
        };
        let save_steps = matches!(opts.save_at, SaveAt::Steps);
        let mut next_out = 0;
        while next_out < out_times.len() && out_times[next_out] == t0 {
            run.out_t.push(t0);
            run.out_y.extend_from_slice(&self.y);
            next_out += 1;
        }
        if save_steps {
            run.out_t.push(t0);
            run.out_y.extend_from_slice(&self.y);
        }
        if t0 == t1 {
            return Ok(Status::Completed);
        }

        if !matches!(start, Start::Warm { reuse_f: true, .. }) {
            sys.rhs(t0, &self.y, &mut self.f0);
            run.stats.nfe += 1;
        }
        if !all_finite(&self.f0) {
            return Err(SolveError::NonFiniteDerivative { t: t0 });
        }
        self.g_old.clear();
        self.g_new.clear();
        for e in events {
            self.g_old.push((e.g)(t0, &self.y));
            self.g_new.push(0.0);
        }

        let (warm_h, mut err_prev) = match start {
            Start::Warm { h, err_prev, .. } if adaptive => (Some(h), err_prev),
            _ => (None, ERR_PREV_FLOOR),
        };
        let (alpha, beta) = (controller.alpha(q), controller.beta);
        let pows = match self.pows.take() {
            Some(p) if p.is_for(alpha, beta) => p,
            _ => FactorPowers::cached(alpha, beta),
        };
        // The PI term `err_prev^β`, handed from step to step.
        let mut pi_prev = pows.pi_term(err_prev);
        let mut h = match (opts.fixed_step, warm_h, opts.first_step) {
            (Some(dt), _, _) => dt,
            (None, Some(h), _) => h,
            (None, None, Some(h)) => h.min(opts.max_step),
            (None, None, None) => {
                let scale = ErrorScale {
                    atol: &self.atol,
                    rtol: &self.rtol,
                    groups: 1,
                };
                run.stats.nfe += 1;
                initial_step(
                    sys,
                    t0,
                    &self.y,
                    &self.f0,
                    self.method.order(),
                    scale,
                    opts.max_step.min((t1 - t0).abs()),
                    dir,
                    &mut self.y1,
                    &mut self.f1,
                )
            }
        } * dir;
        let mut last_rejected = false;
        let mut stop_idx = 0;
        let mut ws = self.ws.take().expect("workspace allocated");
        let result = loop {
            let t = run.t;
            let t_end = if stop_idx < self.tstops.len() {
                self.tstops[stop_idx]
            } else {
                t1
            };
            if run.stats.steps() >= opts.max_steps {
                break Err(SolveError::MaxStepsExceeded {
                    t,
                    max_steps: opts.max_steps,
                });
            }
            // Choose the step, landing exactly on t_end when close.
            let remaining = t_end - t;
            let mut lands = false;
            // The proposal before it is cut to land (kept for a warm start).
            let mut h_proposed = h;
            if adaptive {
                if h.abs() > opts.max_step {
                    h = opts.max_step * dir;
                }
                h_proposed = h;
                if (h * 1.01 - remaining) * dir >= 0.0 {
                    h = remaining;
                    lands = true;
                }
                let tiny = 10.0 * f64::EPSILON * t.abs().max(t_end.abs());
                if !lands && (h.abs() < opts.min_step || h.abs() <= tiny) {
                    break Err(SolveError::StepSizeUnderflow { t, h });
                }
            } else {
                let dt = opts.fixed_step.unwrap_or(0.0) * dir;
                h = dt;
                if (dt * (1.0 + FIXED_STEP_SLACK) - remaining) * dir >= 0.0 {
                    h = remaining;
                    lands = true;
                }
            }
            // A step onto a stop time ends one float short of it, and the next starts one
            // float past it, so no stage sees the right-hand side on the wrong side of a jump.
            let on_stop = lands && stop_idx < self.tstops.len();
            let t_new = match (lands, on_stop) {
                (true, true) => before(t_end, dir),
                (true, false) => t_end,
                _ => t + h,
            };
            // The step spans exactly [t, t_new]: its size is the difference of the two
            // representable times, so that whoever differences stored step times (the
            // `Direct` gradient's replay) gets the step size bit for bit.
            h = t_new - t;
            if on_stop && h == 0.0 {
                stop_idx += 1;
                run.t = after(t_end, dir);
                sys.rhs(run.t, &self.y, &mut self.f0);
                run.stats.nfe += 1;
                continue;
            }
            let scale = ErrorScale {
                atol: &self.atol,
                rtol: &self.rtol,
                groups: opts.norm_groups,
            };
            let rep = self.method.step_err_sq(
                sys,
                t,
                h,
                &self.y,
                &self.f0,
                &mut self.y1,
                &mut self.f1,
                adaptive.then_some(scale),
                &mut ws,
            );
            run.stats.nfe += rep.nfe;
            let mut h_next = h;
            let mut fac_at_max = false;
            if adaptive {
                // The squared norm: the factor is taken from it (`err^-α = (err²)^(-α/2)`),
                // so the step-size chain does not wait for the square root.
                let err_sq = if all_finite(&self.y1) {
                    rep.err
                } else {
                    f64::INFINITY
                };
                if err_sq.is_nan() || err_sq > 1.0 {
                    run.stats.rejected += 1;
                    last_rejected = true;
                    h *= pows.reject(&controller, err_sq);
                    continue;
                }
                let (mut fac, pi_next) = pows.accept(&controller, err_sq, pi_prev);
                if last_rejected {
                    fac = fac.min(1.0);
                }
                err_prev = err_sq.sqrt().max(ERR_PREV_FLOOR);
                pi_prev = pi_next;
                last_rejected = false;
                h_next = h * fac;
                fac_at_max = fac >= controller.fac_max;
            } else if !all_finite(&self.y1) {
                break Err(SolveError::NonFiniteState { t: t_new });
            }
            run.stats.accepted += 1;

            // f at the new point: free for FSAL methods, else one evaluation (skipped at the
            // very end unless the interpolant needs it).
            let finished = lands && stop_idx >= self.tstops.len();
            let need_dense = !events.is_empty()
                || run.dense.is_some()
                || (next_out < out_times.len() && (out_times[next_out] - t_new) * dir < 0.0);
            if !rep.f1_valid && (!finished || need_dense) {
                sys.rhs(t_new, &self.y1, &mut self.f1);
                run.stats.nfe += 1;
            }
            if (rep.f1_valid || !finished || need_dense) && !all_finite(&self.f1) {
                break Err(SolveError::NonFiniteDerivative { t: t_new });
            }
            if need_dense {
                run.stats.nfe += self.method.dense_prepare(
                    sys,
                    t,
                    h,
                    &self.y,
                    &self.y1,
                    &self.f0,
                    &self.f1,
                    &mut ws,
                    &mut self.dense,
                );
            }

            // Events: the earliest terminal crossing ends the solve.
            let mut t_stop = t_new;
            if !events.is_empty() {
                let first_hit = run.events.len();
                let mut terminal: Option<(usize, f64)> = None;
                for (i, e) in events.iter().enumerate() {
                    self.g_new[i] = (e.g)(t_new, &self.y1);
                    if !e.crosses(self.g_old[i], self.g_new[i]) {
                        continue;
                    }
                    let tol = (e.tol.max(4.0 * f64::EPSILON * t_new.abs()) / h.abs()).min(0.5);
                    let method = &self.method;
                    let dense = &self.dense;
                    let tmp = &mut self.tmp;
                    let theta = locate(
                        |th| {
                            method.dense_eval(th, h, dense, tmp);
                            (e.g)(t + th * h, tmp)
                        },
                        self.g_old[i],
                        self.g_new[i],
                        tol,
                    );
                    let te = if theta >= 1.0 { t_new } else { t + theta * h };
                    let mut ye = vec![T::zero(); n];
                    if theta >= 1.0 {
                        ye.copy_from_slice(&self.y1);
                    } else {
                        self.method.dense_eval(theta, h, &self.dense, &mut ye);
                    }
                    run.events.push(EventHit {
                        event: i,
                        t: te,
                        y: ye,
                    });
                    if e.terminal && terminal.is_none_or(|(_, tt)| (te - tt) * dir < 0.0) {
                        terminal = Some((i, te));
                    }
                }
                if let Some((_, tt)) = terminal {
                    run.events.retain(|hit| (hit.t - tt) * dir <= 0.0);
                    t_stop = tt;
                }
                run.events[first_hit..].sort_by(|a, b| (a.t * dir).total_cmp(&(b.t * dir)));
                if let Some((i, tt)) = terminal {
                    self.emit_outputs(out_times, &mut next_out, t, h, t_new, tt, dir, run);
                    let ye = run
                        .events
                        .iter()
                        .rev()
                        .find(|hit| hit.event == i)
                        .map(|hit| hit.y.clone());
                    if let Some(d) = run.dense.as_mut() {
                        d.push(t, h, &self.dense);
                    }
                    if save_steps {
                        run.out_t.push(tt);
                        run.out_y
                            .extend_from_slice(ye.as_deref().unwrap_or(&self.y1));
                    }
                    std::mem::swap(&mut self.y, &mut self.y1);
                    run.t = t_new;
                    run.terminal = Some((i, tt, ye.unwrap_or_else(|| self.y.clone())));
                    break Ok(Status::Terminated { event: i });
                }
                std::mem::swap(&mut self.g_old, &mut self.g_new);
            }

            if on_stop {
                t_stop = t_end;
            }
            if next_out < out_times.len() {
                self.emit_outputs(out_times, &mut next_out, t, h, t_new, t_stop, dir, run);
            }
            if let Some(d) = run.dense.as_mut() {
                d.push(t, h, &self.dense);
            }
            if save_steps {
                run.out_t.push(if on_stop { t_end } else { t_new });
                run.out_y.extend_from_slice(&self.y1);
            }
            std::mem::swap(&mut self.y, &mut self.y1);
            std::mem::swap(&mut self.f0, &mut self.f1);
            run.t = t_new;
            h = h_next;
            if lands {
                if finished {
                    if adaptive {
                        // The proposal from a step cut short to land is sound (the controller
                        // scales by the error of the step taken), unless it hit the growth
                        // limit: then the proposal before the cut is as good a guess.
                        let h_warm = if fac_at_max {
                            h_next.abs().max(h_proposed.abs())
                        } else {
                            h_next.abs()
                        };
                        self.warm = Some(Ended {
                            t: t1,
                            dir,
                            h: h_warm,
                            err_prev,
                            f_valid: rep.f1_valid || need_dense,
                        });
                    }
                    break Ok(Status::Completed);
                }
                // A stop time: the right-hand side may jump here, so evaluate it afresh just
                // past it.
                stop_idx += 1;
                run.t = after(t_end, dir);
                sys.rhs(run.t, &self.y, &mut self.f0);
                run.stats.nfe += 1;
                if !all_finite(&self.f0) {
                    break Err(SolveError::NonFiniteDerivative { t: t_new });
                }
            }
        };
        self.ws = Some(ws);
        self.pows = Some(pows);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::{all_finite, fixed_step_count};
    use crate::{tableau, ExplicitRk, Integrator, Options, Real};

    fn check_all_finite<T: Real>() {
        let finite = [
            T::max_value(),
            T::min_value(),
            T::min_positive_value(),
            T::zero(),
            -T::zero(),
        ];
        let bad = [T::nan(), T::infinity(), T::neg_infinity()];
        for n in 0..14 {
            let v: Vec<T> = (0..n).map(|i| finite[i % finite.len()]).collect();
            assert!(all_finite(&v), "length {n}");
            for i in 0..n {
                for b in bad {
                    let mut w = v.clone();
                    w[i] = b;
                    assert!(!all_finite(&w), "length {n}, {:?} at {i}", b.as_f64());
                }
            }
        }
    }

    #[test]
    fn all_finite_finds_every_non_finite_value() {
        check_all_finite::<f64>();
        check_all_finite::<f32>();
    }

    #[test]
    fn fixed_step_count_is_the_drivers() {
        let mut integ = Integrator::new(ExplicitRk::new(&tableau::EULER));
        let f = |_t: f64, _y: &[f64], dy: &mut [f64]| dy[0] = 1.0;
        for (t0, t1, dt) in [
            (0.0f64, 16.0f64, 0.01f64),
            (0.0, 2.0, 0.05),
            (2.0, 2.37, 0.05),
            (1.0, 0.0, 0.3),
            (1.0, 0.0, -0.3),
            (0.0, 1.0, 0.1),
            (0.0, 0.05, 0.1),
            (0.0, 3.0, 1.0),
        ] {
            let sol = integ
                .solve(&f, t0, t1, &[0.0], &Options::default().fixed_step(dt.abs()))
                .unwrap();
            assert_eq!(
                fixed_step_count(t0, t1, dt),
                Some(sol.stats.steps()),
                "{t0} → {t1} by {dt}"
            );
        }
        assert_eq!(fixed_step_count(0.0, 1.0, 0.0), None);
        assert_eq!(fixed_step_count(0.0, 1.0, f64::NAN), None);
        assert_eq!(fixed_step_count(0.0, 1e300, 1e-300), None);
    }
}
