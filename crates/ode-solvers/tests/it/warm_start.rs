//! Warm starts (`Options::warm_start`): continuing a solve across an observation time
//! instead of restarting, and falling back to a cold start whenever continuing is not valid.

use ode_solvers::{tableau, Dop853, Event, ExplicitRk, Integrator, Options, Stepper, WarmStart};

/// y'' = -y as a system: from (0, 1) at t = 0 the solution is (sin t, cos t).
fn oscillator(_t: f64, y: &[f64], dy: &mut [f64]) {
    dy[0] = y[1];
    dy[1] = -y[0];
}

/// y' = -y.
fn decay(_t: f64, y: &[f64], dy: &mut [f64]) {
    dy[0] = -y[0];
}

/// Solves the oscillator through `times` interval by interval with one integrator; returns
/// the states at the times (after the first), the total evaluations, and per interval
/// `(nfe, steps)`.
fn chain<M: Stepper<f64>>(
    method: M,
    times: &[f64],
    opts: &Options,
) -> (Vec<[f64; 2]>, usize, Vec<(usize, usize)>) {
    let mut integ = Integrator::new(method);
    let mut y = vec![0.0, 1.0];
    let mut out = Vec::new();
    let mut nfe = 0;
    let mut per = Vec::new();
    for w in times.windows(2) {
        let sol = integ.solve(&oscillator, w[0], w[1], &y, opts).unwrap();
        nfe += sol.stats.nfe;
        per.push((sol.stats.nfe, sol.stats.steps()));
        y.copy_from_slice(&sol.y_final);
        out.push([y[0], y[1]]);
    }
    (out, nfe, per)
}

fn max_err(states: &[[f64; 2]], times: &[f64]) -> f64 {
    states
        .iter()
        .zip(&times[1..])
        .map(|(y, &t)| (y[0] - t.sin()).abs().max((y[1] - t.cos()).abs()))
        .fold(0.0, f64::max)
}

#[test]
fn continuing_across_times_saves_evaluations_at_the_same_accuracy() {
    let times: Vec<f64> = (0..=40).map(|i| i as f64 * 0.05).collect();
    let cold = Options::default().rtol(1e-8).atol(1e-10);
    let warm = cold.clone().warm_start(WarmStart::Continue);
    for forward in [true, false] {
        let ts: Vec<f64> = if forward {
            times.clone()
        } else {
            times.iter().map(|t| -t).collect()
        };
        let (yc, nfe_cold, _) = chain(ExplicitRk::new(&tableau::DOPRI5), &ts, &cold);
        let (yw, nfe_warm, per) = chain(ExplicitRk::new(&tableau::DOPRI5), &ts, &warm);
        // Every interval after the first neither evaluates f at its start nor runs the
        // initial-step heuristic: Dopri5 is FSAL, six evaluations per step attempt.
        for &(nfe, steps) in &per[1..] {
            assert_eq!(nfe, 6 * steps, "forward {forward}");
        }
        assert!(
            (nfe_warm as f64) < 0.6 * nfe_cold as f64,
            "warm {nfe_warm} vs cold {nfe_cold} evaluations"
        );
        let (ec, ew) = (max_err(&yc, &ts), max_err(&yw, &ts));
        assert!(ec < 1e-7 && ew < 1e-7, "cold {ec:e}, warm {ew:e}");
    }
}

#[test]
fn a_changed_state_time_or_direction_starts_cold() {
    let warm = Options::default()
        .rtol(1e-8)
        .atol(1e-10)
        .warm_start(WarmStart::Continue);
    let cold = Options::default().rtol(1e-8).atol(1e-10);
    let fresh = |t0: f64, t1: f64, y0: &[f64]| {
        Integrator::new(ExplicitRk::new(&tableau::DOPRI5))
            .solve(&oscillator, t0, t1, y0, &cold)
            .unwrap()
    };
    let cases: [(f64, f64, bool); 4] = [
        (1.0, 2.0, true),  // the state one ulp off
        (1.5, 2.0, false), // another start time
        (1.0, 0.5, false), // the other direction
        (1.0, 2.0, false), // unchanged: the control case, a warm start
    ];
    for (i, &(t0, t1, nudge)) in cases.iter().enumerate() {
        let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
        let first = integ
            .solve(&oscillator, 0.0, 1.0, &[0.0, 1.0], &warm)
            .unwrap();
        let mut y0 = first.y_final.clone();
        if nudge {
            y0[0] = y0[0].next_up();
        }
        let sol = integ.solve(&oscillator, t0, t1, &y0, &warm).unwrap();
        let reference = fresh(t0, t1, &y0);
        if i < 3 {
            assert_eq!(sol.stats, reference.stats, "case {i}");
            assert_eq!(sol.y_final, reference.y_final, "case {i}");
        } else {
            assert!(sol.stats.nfe < reference.stats.nfe, "case {i}");
        }
    }
}

#[test]
fn no_warm_start_after_a_terminal_event_or_a_fixed_step_solve() {
    let warm = Options::default()
        .rtol(1e-8)
        .atol(1e-10)
        .warm_start(WarmStart::Continue);
    let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
    // y0 = sin t crosses 0.5 at t = π/6; the terminal event ends the solve there.
    let ev = [Event::new(|_t, y: &[f64]| y[0] - 0.5).terminal(true)];
    let hit = integ
        .solve_with_events(&oscillator, 0.0, 1.0, &[0.0, 1.0], &warm, &ev)
        .unwrap();
    assert!((hit.t_final - std::f64::consts::FRAC_PI_6).abs() < 1e-8);
    let after = integ
        .solve(&oscillator, hit.t_final, 1.0, &hit.y_final, &warm)
        .unwrap();
    let reference = Integrator::new(ExplicitRk::new(&tableau::DOPRI5))
        .solve(&oscillator, hit.t_final, 1.0, &hit.y_final, &warm)
        .unwrap();
    assert_eq!(after.stats, reference.stats);
    assert_eq!(after.y_final, reference.y_final);

    // A fixed-step solve leaves nothing to continue, and a fixed-step solve ignores it.
    let fixed = warm.clone().fixed_step(0.01);
    let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
    let a = integ
        .solve(&oscillator, 0.0, 0.5, &[0.0, 1.0], &fixed)
        .unwrap();
    let b = integ
        .solve(&oscillator, 0.5, 1.0, &a.y_final, &warm)
        .unwrap();
    let reference = Integrator::new(ExplicitRk::new(&tableau::DOPRI5))
        .solve(&oscillator, 0.5, 1.0, &a.y_final, &warm)
        .unwrap();
    assert_eq!(b.stats, reference.stats);
    let c = integ
        .solve(&oscillator, 1.0, 1.5, &b.y_final, &fixed)
        .unwrap();
    assert_eq!(c.stats.accepted, 50);
}

#[test]
fn keep_step_reuses_the_step_size_after_a_jump() {
    let opts = Options::default().rtol(1e-9).atol(1e-12);
    let keep = opts.clone().warm_start(WarmStart::KeepStep);
    let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
    let first = integ.solve(&decay, 0.0, 1.0, &[1.0], &keep).unwrap();
    // The state jumps by +1 at t = 1: y(2) = (e^-1 + 1) e^-1.
    let jumped = [first.y_final[0] + 1.0];
    let second = integ.solve(&decay, 1.0, 2.0, &jumped, &keep).unwrap();
    let exact = ((-1.0f64).exp() + 1.0) * (-1.0f64).exp();
    assert!((second.y_final[0] - exact).abs() < 1e-9);
    // f at the new state is evaluated afresh (one evaluation), the heuristic is skipped.
    assert_eq!(second.stats.nfe, 1 + 6 * second.stats.steps());
    let cold = Integrator::new(ExplicitRk::new(&tableau::DOPRI5))
        .solve(&decay, 1.0, 2.0, &jumped, &opts)
        .unwrap();
    assert!(second.stats.nfe < cold.stats.nfe);
    // `Continue` does not keep anything across a jump.
    let cont = opts.clone().warm_start(WarmStart::Continue);
    let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
    integ.solve(&decay, 0.0, 1.0, &[1.0], &cont).unwrap();
    let again = integ.solve(&decay, 1.0, 2.0, &jumped, &cont).unwrap();
    assert_eq!(again.stats, cold.stats);
    assert_eq!(again.y_final, cold.y_final);
}

#[test]
fn the_continued_solution_does_not_depend_on_what_was_saved() {
    // Dop853 is not FSAL: a solve that keeps only its final state skips f at the end, one
    // with an event computes it. Continuing must give the same states either way (the
    // derivative is then evaluated at the start of the next solve instead).
    let times: Vec<f64> = (0..=10).map(|i| i as f64 * 0.1).collect();
    let opts = Options::default()
        .rtol(1e-9)
        .atol(1e-12)
        .warm_start(WarmStart::Continue);
    let (plain, _, per) = chain(Dop853::new(), &times, &opts);
    // Without the event each later interval evaluates f at its start (one evaluation more
    // than its stages), but runs no initial-step heuristic.
    let stages = 11; // per step, besides f at the step's end
    for &(nfe, steps) in &per[1..] {
        assert!(nfe <= 1 + (stages + 1) * steps, "{nfe} for {steps} steps");
    }
    let mut integ = Integrator::new(Dop853::new());
    let never = [Event::new(|_t, _y: &[f64]| 1.0)];
    let mut y = vec![0.0, 1.0];
    let mut with_event = Vec::new();
    for w in times.windows(2) {
        let sol = integ
            .solve_with_events(&oscillator, w[0], w[1], &y, &opts, &never)
            .unwrap();
        y.copy_from_slice(&sol.y_final);
        with_event.push([y[0], y[1]]);
    }
    assert_eq!(plain, with_event);
    assert!(max_err(&plain, &times) < 1e-9);
}

#[test]
fn an_empty_span_keeps_the_solve_continuable() {
    let opts = Options::default()
        .rtol(1e-8)
        .atol(1e-10)
        .warm_start(WarmStart::Continue);
    let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
    let a = integ
        .solve(&oscillator, 0.0, 1.0, &[0.0, 1.0], &opts)
        .unwrap();
    let empty = integ
        .solve(&oscillator, 1.0, 1.0, &a.y_final, &opts)
        .unwrap();
    assert_eq!(empty.stats.nfe, 0);
    let b = integ
        .solve(&oscillator, 1.0, 2.0, &a.y_final, &opts)
        .unwrap();
    assert_eq!(b.stats.nfe, 6 * b.stats.steps());
}
