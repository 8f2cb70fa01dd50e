//! Drives our solver and the peer crates on a [`BenchProblem`], shared by the criterion bench
//! (`benches/benches/ode_solvers.rs`) and the table generator
//! (`benches/examples/solver_table.rs`), which include this file with `#[path]` (the peers
//! are dev-dependencies, so this code cannot live in the library).
//!
//! Every runner does one complete solve per call, from `t0` to `t1`, keeping only the final
//! state, in the way the crate's documentation intends for repeated solves:
//! - ours: one [`Integrator`] per runner, reused from solve to solve (its workspace is
//!   allocated once);
//! - `ode_solvers` 0.6: a new `Dopri5`/`Dop853` per solve (the struct owns the problem and its
//!   results), `OutputType::Sparse` (one stored state per accepted step, the last one at `t1`;
//!   the crate has no final-state-only mode);
//! - `differential-equations` 0.7: a new `ExplicitRungeKutta` per solve (as its docs say)
//!   through `solve_ode` with an output hook that stores nothing; the final state is read
//!   from the method;
//! - `diffsol` 0.18: the problem is built once per tolerance; each solve creates the `tsit45`
//!   solver (its state and first step), sets the stop time `t1` and steps to it.
//!
//! All use the same right-hand side ([`BenchProblem::rhs`]), `rtol = atol = tol`, and a
//! budget of 100,000 steps.

#![allow(dead_code)]

use std::marker::PhantomData;

use benches::{BenchProblem, Tally};
use ode_solvers::{tableau, Dop853, ExplicitRk, Integrator, Options};

/// A method, by the name used in the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Dormand–Prince 5(4).
    Dopri5,
    /// Tsitouras 5(4).
    Tsit5,
    /// Dormand–Prince 8(5,3).
    Dop853,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Dopri5, Method::Tsit5, Method::Dop853];

    pub fn name(self) -> &'static str {
        match self {
            Method::Dopri5 => "dopri5",
            Method::Tsit5 => "tsit5",
            Method::Dop853 => "dop853",
        }
    }
}

/// A solver implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    /// This workspace's `ode-solvers` (runtime-sized `&[f64]` state).
    Ours,
    /// crates.io `ode_solvers` 0.6 with a nalgebra `SVector<f64, N>` state.
    OdeSolversFixed,
    /// crates.io `ode_solvers` 0.6 with a nalgebra `DVector<f64>` state.
    OdeSolversHeap,
    /// `differential-equations` 0.7 with a `[f64; N]` state.
    DiffEqFixed,
    /// `differential-equations` 0.7 with a `Vec<f64>` state.
    DiffEqHeap,
    /// `diffsol` 0.18 with its nalgebra vectors (`NalgebraMat<f64>`).
    Diffsol,
}

impl Solver {
    pub const ALL: [Solver; 6] = [
        Solver::Ours,
        Solver::OdeSolversFixed,
        Solver::OdeSolversHeap,
        Solver::DiffEqFixed,
        Solver::DiffEqHeap,
        Solver::Diffsol,
    ];

    /// Label used in benchmark names and table headers.
    pub fn label(self) -> &'static str {
        match self {
            Solver::Ours => "ours",
            Solver::OdeSolversFixed => "ode_solvers-fixed",
            Solver::OdeSolversHeap => "ode_solvers-heap",
            Solver::DiffEqFixed => "diffeq-fixed",
            Solver::DiffEqHeap => "diffeq-heap",
            Solver::Diffsol => "diffsol",
        }
    }

    /// Whether the crate offers the method (`differential-equations` 0.7 has no Tsit5;
    /// `ode_solvers` 0.6 has Dopri5 and DOP853 only; `diffsol` 0.18's one built-in explicit
    /// tableau is Tsit5).
    pub fn offers(self, m: Method) -> bool {
        match self {
            Solver::Ours => true,
            Solver::OdeSolversFixed
            | Solver::OdeSolversHeap
            | Solver::DiffEqFixed
            | Solver::DiffEqHeap => m != Method::Tsit5,
            Solver::Diffsol => m == Method::Tsit5,
        }
    }

    /// Whether the state's size is a compile-time constant.
    pub fn fixed_size(self) -> bool {
        matches!(self, Solver::OdeSolversFixed | Solver::DiffEqFixed)
    }
}

/// Largest state dimension of the benchmark problems.
pub const MAX_DIM: usize = 10;

/// What a solve hands back: the final state (without allocating) and the number of
/// right-hand-side evaluations the crate itself reports (`None` if it reports none).
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub y: [f64; MAX_DIM],
    pub n: usize,
    pub nfe_reported: Option<usize>,
}

impl Out {
    fn new(y: impl IntoIterator<Item = f64>, nfe_reported: Option<usize>) -> Self {
        let mut out = Out {
            y: [0.0; MAX_DIM],
            n: 0,
            nfe_reported,
        };
        for (o, v) in out.y.iter_mut().zip(y) {
            *o = v;
            out.n += 1;
        }
        out
    }

    pub fn y(&self) -> &[f64] {
        &self.y[..self.n]
    }
}

/// The right-hand side of problem `P` for the peer crates' traits, counting evaluations
/// in `C` (`()` for timing).
pub struct Sys<'a, P, C: Tally> {
    tally: &'a C,
    problem: PhantomData<P>,
}

impl<'a, P: BenchProblem, C: Tally> Sys<'a, P, C> {
    pub fn new(tally: &'a C) -> Self {
        Sys {
            tally,
            problem: PhantomData,
        }
    }
}

mod os {
    //! `ode_solvers` 0.6.
    use super::*;
    use ode_solvers_peer::{DVector, SVector, System};

    impl<P: BenchProblem, C: Tally, const N: usize> System<f64, SVector<f64, N>> for Sys<'_, P, C> {
        #[inline]
        fn system(&self, t: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
            self.tally.tick();
            P::rhs(t, y, dy);
        }
    }

    impl<P: BenchProblem, C: Tally> System<f64, DVector<f64>> for Sys<'_, P, C> {
        #[inline]
        fn system(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
            self.tally.tick();
            P::rhs(t, y, dy);
        }
    }

    macro_rules! run {
        ($solver:ident, $sys:expr, $y0:expr, $tol:expr) => {{
            let p = P::problem();
            let mut s =
                ode_solvers_peer::$solver::new($sys, p.t0, p.t1, p.t1 - p.t0, $y0, $tol, $tol);
            s.set_output(ode_solvers_peer::dop_shared::OutputType::Sparse);
            let stats = s.integrate().expect("ode_solvers solve");
            Out::new(
                s.y_out().last().expect("final state").iter().copied(),
                Some(stats.num_eval as usize),
            )
        }};
    }

    pub fn fixed<P: BenchProblem, C: Tally, const N: usize>(m: Method, tol: f64, c: &C) -> Out {
        assert_eq!(N, P::DIM);
        let y0 = SVector::<f64, N>::from_column_slice(P::problem().y0);
        match m {
            Method::Dopri5 => run!(Dopri5, Sys::<P, C>::new(c), y0, tol),
            Method::Dop853 => run!(Dop853, Sys::<P, C>::new(c), y0, tol),
            Method::Tsit5 => unreachable!("ode_solvers has no Tsit5"),
        }
    }

    pub fn heap<P: BenchProblem, C: Tally>(m: Method, tol: f64, c: &C) -> Out {
        let y0 = DVector::<f64>::from_column_slice(P::problem().y0);
        match m {
            Method::Dopri5 => run!(Dopri5, Sys::<P, C>::new(c), y0, tol),
            Method::Dop853 => run!(Dop853, Sys::<P, C>::new(c), y0, tol),
            Method::Tsit5 => unreachable!("ode_solvers has no Tsit5"),
        }
    }
}

mod de {
    //! `differential-equations` 0.7.
    use super::*;
    use differential_equations::control::ControlFlag;
    use differential_equations::interpolate::Interpolation;
    use differential_equations::methods::{DormandPrince, ExplicitRungeKutta, Ordinary};
    use differential_equations::ode::{solve_ode, OrdinaryNumericalMethod, ODE};
    use differential_equations::solout::Solout;
    use differential_equations::solution::Solution;
    use differential_equations::traits::State;

    impl<P: BenchProblem, C: Tally, const N: usize> ODE<f64, [f64; N]> for Sys<'_, P, C> {
        #[inline]
        fn diff(&self, t: f64, y: &[f64; N], dydt: &mut [f64; N]) {
            self.tally.tick();
            P::rhs(t, y, dydt);
        }
    }

    impl<P: BenchProblem, C: Tally> ODE<f64, Vec<f64>> for Sys<'_, P, C> {
        #[inline]
        fn diff(&self, t: f64, y: &Vec<f64>, dydt: &mut Vec<f64>) {
            self.tally.tick();
            P::rhs(t, y, dydt);
        }
    }

    /// Keeps no output: the final state is read from the method after the solve.
    struct FinalOnly;

    impl<Y: State<f64>> Solout<f64, Y> for FinalOnly {
        #[inline]
        fn solout<I>(
            &mut self,
            _t_curr: f64,
            _t_prev: f64,
            _y_curr: &Y,
            _y_prev: &Y,
            _interpolator: &mut I,
            _solution: &mut Solution<f64, Y>,
        ) -> ControlFlag<f64, Y>
        where
            I: Interpolation<f64, Y> + ?Sized,
        {
            ControlFlag::Continue
        }
    }

    macro_rules! run {
        ($ctor:ident, $o:literal, $s:literal, $i:literal, $y:ty, $y0:expr, $tol:expr, $c:expr) => {{
            let p = P::problem();
            let mut method =
                ExplicitRungeKutta::<Ordinary, DormandPrince, f64, $y, $o, $s, $i>::$ctor()
                    .rtol($tol)
                    .atol($tol)
                    .max_steps(100_000);
            let sys = Sys::<P, C>::new($c);
            let y0: $y = $y0;
            let sol = solve_ode(&mut method, &sys, p.t0, p.t1, &y0, &mut FinalOnly)
                .expect("differential-equations solve");
            Out::new(method.y().iter().copied(), Some(sol.evals.function))
        }};
    }

    pub fn fixed<P: BenchProblem, C: Tally, const N: usize>(m: Method, tol: f64, c: &C) -> Out {
        assert_eq!(N, P::DIM);
        let y0: [f64; N] = P::problem().y0.try_into().expect("dimension");
        match m {
            Method::Dopri5 => run!(dopri5, 5, 7, 7, [f64; N], y0, tol, c),
            Method::Dop853 => run!(dop853, 8, 12, 16, [f64; N], y0, tol, c),
            Method::Tsit5 => unreachable!("differential-equations has no Tsit5"),
        }
    }

    pub fn heap<P: BenchProblem, C: Tally>(m: Method, tol: f64, c: &C) -> Out {
        let y0 = P::problem().y0.to_vec();
        match m {
            Method::Dopri5 => run!(dopri5, 5, 7, 7, Vec<f64>, y0.clone(), tol, c),
            Method::Dop853 => run!(dop853, 8, 12, 16, Vec<f64>, y0.clone(), tol, c),
            Method::Tsit5 => unreachable!("differential-equations has no Tsit5"),
        }
    }
}

/// A solve of one (problem, solver, method, tolerance) per call.
pub type Runner<'a> = Box<dyn FnMut() -> Out + 'a>;

/// Builds the runner of `solver`/`method` on problem `P` (state dimension `N`) at
/// `rtol = atol = tol`, counting evaluations in `tally`; `None` if the crate lacks the method.
pub fn runner<'a, P: BenchProblem, C: Tally, const N: usize>(
    solver: Solver,
    method: Method,
    tol: f64,
    tally: &'a C,
) -> Option<Runner<'a>> {
    if !solver.offers(method) {
        return None;
    }
    assert_eq!(N, P::DIM);
    Some(match solver {
        Solver::Ours => ours::<P, C>(method, tol, tally),
        Solver::OdeSolversFixed => Box::new(move || os::fixed::<P, C, N>(method, tol, tally)),
        Solver::OdeSolversHeap => Box::new(move || os::heap::<P, C>(method, tol, tally)),
        Solver::DiffEqFixed => Box::new(move || de::fixed::<P, C, N>(method, tol, tally)),
        Solver::DiffEqHeap => Box::new(move || de::heap::<P, C>(method, tol, tally)),
        Solver::Diffsol => diffsol_tsit45::<P, C>(tol, tally),
    })
}

fn ours<'a, P: BenchProblem, C: Tally>(method: Method, tol: f64, tally: &'a C) -> Runner<'a> {
    let p = P::problem();
    let opts = Options::default().rtol(tol).atol(tol);
    let sys = move |t: f64, y: &[f64], dy: &mut [f64]| {
        tally.tick();
        P::rhs(t, y, dy);
    };
    macro_rules! boxed {
        ($stepper:expr) => {{
            let mut integ = Integrator::new($stepper);
            Box::new(move || {
                let sol = integ
                    .solve(&sys, p.t0, p.t1, p.y0, &opts)
                    .expect("our solve");
                Out::new(sol.y_final.iter().copied(), Some(sol.stats.nfe))
            })
        }};
    }
    match method {
        Method::Dopri5 => boxed!(ExplicitRk::<f64>::new(&tableau::DOPRI5)),
        Method::Tsit5 => boxed!(ExplicitRk::<f64>::new(&tableau::TSIT5)),
        Method::Dop853 => boxed!(Dop853::<f64>::new()),
    }
}

fn diffsol_tsit45<'a, P: BenchProblem, C: Tally>(tol: f64, tally: &'a C) -> Runner<'a> {
    use diffsol::{NalgebraMat, OdeBuilder, OdeSolverMethod, OdeSolverStopReason};
    let p = P::problem();
    let y0 = p.y0;
    let problem = OdeBuilder::<NalgebraMat<f64>>::new()
        .t0(p.t0)
        .rtol(tol)
        .atol([tol])
        .rhs(move |x: &[f64], _p: &[f64], t: f64, y: &mut [f64]| {
            tally.tick();
            P::rhs(t, x, y);
        })
        .init(
            move |_p: &[f64], _t: f64, y: &mut [f64]| y.copy_from_slice(y0),
            P::DIM,
        )
        .build()
        .expect("diffsol problem");
    Box::new(move || {
        let mut solver = problem.tsit45().expect("diffsol solver");
        solver.set_stop_time(p.t1).expect("diffsol stop time");
        loop {
            match solver.step().expect("diffsol step") {
                OdeSolverStopReason::TstopReached => break,
                _ => continue,
            }
        }
        let y = solver.state().y;
        Out::new((0..P::DIM).map(|i| y[i]), None)
    })
}
