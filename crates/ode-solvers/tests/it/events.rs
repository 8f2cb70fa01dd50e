//! Events located on the dense output: direction, terminal and non-terminal.

use ode_solvers::{tableau, Dop853, ExplicitRk};
use ode_solvers::{Direction, Event, Integrator, Method, Options, Status};

fn oscillator(_t: f64, y: &[f64], dy: &mut [f64]) {
    dy[0] = y[1];
    dy[1] = -y[0];
}

#[test]
fn non_terminal_crossings_with_directions() {
    // y = sin t: zeros at kπ; upward at even k, downward at odd k.
    let opts = Options::default().rtol(1e-11).atol(1e-12);
    let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
    let events = [
        Event::new(|_t, y: &[f64]| y[0]),
        Event::new(|_t, y: &[f64]| y[0]).direction(Direction::Up),
        Event::new(|_t, y: &[f64]| y[0]).direction(Direction::Down),
    ];
    let sol = integ
        .solve_with_events(&oscillator, 0.0, 20.0, &[0.0, 1.0], &opts, &events)
        .unwrap();
    assert_eq!(sol.status, Status::Completed);
    let pi = std::f64::consts::PI;
    let times = |i: usize| {
        sol.events
            .iter()
            .filter(|h| h.event == i)
            .map(|h| h.t)
            .collect::<Vec<_>>()
    };
    let either = times(0);
    assert_eq!(either.len(), 6, "{either:?}"); // π … 6π < 20 (t = 0 itself is not a crossing)
    for (k, t) in either.iter().enumerate() {
        assert!((t - (k + 1) as f64 * pi).abs() < 1e-9, "{t}");
    }
    assert_eq!(times(1).len(), 3);
    assert!((times(1)[0] - 2.0 * pi).abs() < 1e-9);
    assert_eq!(times(2).len(), 3);
    assert!((times(2)[0] - pi).abs() < 1e-9);
    // Hits come in time order.
    assert!(sol.events.windows(2).all(|w| w[0].t <= w[1].t));
}

#[test]
fn terminal_event_stops_the_solve_at_the_crossing() {
    // A ball thrown up at 10 m/s hits the ground at t = 20/g, with velocity -10.
    let g = 9.81;
    let sys = move |_t: f64, y: &[f64], dy: &mut [f64]| {
        dy[0] = y[1];
        dy[1] = -g;
    };
    let opts = Options::default().t_eval((0..=30).map(|i| i as f64 * 0.1).collect::<Vec<_>>());
    for m in [Method::Dopri5, Method::Tsit5, Method::Bosh3] {
        let ev = [Event::new(|_t, y: &[f64]| y[0])
            .direction(Direction::Down)
            .terminal(true)];
        let sol = Integrator::new(ExplicitRk::new(m.tableau().unwrap()))
            .solve_with_events(&sys, 0.0, 10.0, &[0.0, 10.0], &opts, &ev)
            .unwrap();
        let te = 20.0 / g;
        assert_eq!(sol.status, Status::Terminated { event: 0 });
        assert!((sol.t_final - te).abs() < 1e-10, "{m}: {}", sol.t_final);
        assert!((sol.y_final[1] + 10.0).abs() < 1e-8);
        // Outputs stop at the event.
        assert!(sol.t.iter().all(|&t| t <= sol.t_final));
        assert_eq!(sol.t.len(), 21);
    }
    // Backward in time, DOP853: the ball's past — when was it last at height 0 going up?
    let ev = [Event::new(|_t, y: &[f64]| y[0]).terminal(true)];
    let sol = Integrator::new(Dop853::new())
        .solve_with_events(
            &sys,
            1.0,
            -10.0,
            &[10.0 - g / 2.0, 10.0 - g],
            &Options::default(),
            &ev,
        )
        .unwrap();
    assert!(sol.t_final.abs() < 1e-10, "{}", sol.t_final);
}
