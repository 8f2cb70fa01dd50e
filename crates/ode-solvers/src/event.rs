//! Events: zero crossings of user functions `g(t, y)`, located on the dense output.

use crate::Real;

/// Which sign changes of `g` count (in the direction of integration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// From negative to non-negative.
    Up,
    /// From positive to non-positive.
    Down,
    /// Either.
    #[default]
    Either,
}

/// A boxed event function `g(t, y)`.
type EventFn<'a, T> = Box<dyn Fn(f64, &[T]) -> f64 + 'a>;

/// An event function with its settings.
///
/// ```
/// use ode_solvers::{tableau, Direction, Event, ExplicitRk, Integrator, Options};
/// // A ball thrown up at 10 m/s: stop when it falls back to the ground.
/// let sys = |_t: f64, y: &[f64], dy: &mut [f64]| { dy[0] = y[1]; dy[1] = -9.81; };
/// let ground = Event::new(|_t, y: &[f64]| y[0]).direction(Direction::Down).terminal(true);
/// let sol = Integrator::new(ExplicitRk::new(&tableau::DOPRI5))
///     .solve_with_events(&sys, 0.0, 10.0, &[0.0, 10.0], &Options::default(), &[ground])
///     .unwrap();
/// assert!((sol.t_final - 20.0 / 9.81).abs() < 1e-9);
/// ```
pub struct Event<'a, T> {
    pub(crate) g: EventFn<'a, T>,
    /// Which crossings count.
    pub direction: Direction,
    /// Whether the solve stops at the first crossing.
    pub terminal: bool,
    /// Tolerance on the located time (default 1e-12, widened to the floating-point
    /// resolution of `t`).
    pub tol: f64,
}

impl<T> std::fmt::Debug for Event<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("direction", &self.direction)
            .field("terminal", &self.terminal)
            .field("tol", &self.tol)
            .finish()
    }
}

impl<'a, T: Real> Event<'a, T> {
    /// An event on the zero crossings of `g`, in either direction, not terminal.
    pub fn new(g: impl Fn(f64, &[T]) -> f64 + 'a) -> Self {
        Event {
            g: Box::new(g),
            direction: Direction::Either,
            terminal: false,
            tol: 1e-12,
        }
    }
    /// Sets the direction.
    pub fn direction(mut self, d: Direction) -> Self {
        self.direction = d;
        self
    }
    /// Sets whether the solve stops at the event.
    pub fn terminal(mut self, on: bool) -> Self {
        self.terminal = on;
        self
    }
    /// Sets the time tolerance.
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// Whether the change from `g_old` to `g_new` is a crossing this event counts.
    pub(crate) fn crosses(&self, g_old: f64, g_new: f64) -> bool {
        let up = g_old < 0.0 && g_new >= 0.0;
        let down = g_old > 0.0 && g_new <= 0.0;
        match self.direction {
            Direction::Up => up,
            Direction::Down => down,
            Direction::Either => up || down,
        }
    }
}

/// Locates the crossing of `g(θ)` in `[0, 1]` with `g(0) = ga`, `g(1) = gb` of opposite signs
/// (Illinois method); `tol_theta` is the tolerance in θ. Returns θ of the crossing.
pub(crate) fn locate(mut g: impl FnMut(f64) -> f64, ga: f64, gb: f64, tol_theta: f64) -> f64 {
    let (mut a, mut fa, mut b, mut fb) = (0.0f64, ga, 1.0f64, gb);
    if fb == 0.0 {
        return 1.0;
    }
    for _ in 0..200 {
        let mut c = (a * fb - b * fa) / (fb - fa);
        if !c.is_finite() || c <= a.min(b) || c >= a.max(b) {
            c = 0.5 * (a + b);
        }
        let fc = g(c);
        if fc == 0.0 {
            return c;
        }
        if fc.signum() == fb.signum() {
            // The new point replaces b on the same side; halve the stale end (Illinois).
            fa *= 0.5;
        } else {
            a = b;
            fa = fb;
        }
        b = c;
        fb = fc;
        if (b - a).abs() <= tol_theta {
            break;
        }
    }
    // Report the end of the bracket past the crossing, so the state there has crossed.
    if fb.signum() == gb.signum() {
        b
    } else {
        a
    }
}
