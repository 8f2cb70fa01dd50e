//! Property tests: forward-then-backward round trips and dense-output consistency on random
//! linear systems.

use ode_solvers::{Method, Options, SaveAt};
use proptest::prelude::*;

/// A random 3×3 system with a stable symmetric part, so the backward solve stays well posed.
fn system(m: [f64; 9]) -> impl Fn(f64, &[f64], &mut [f64]) {
    move |_t, y: &[f64], dy: &mut [f64]| {
        for i in 0..3 {
            dy[i] = (0..3).map(|j| m[i * 3 + j] * y[j]).sum();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn forward_then_backward_recovers_y0(
        m in prop::array::uniform9(-1.0f64..1.0),
        y0 in prop::array::uniform3(-2.0f64..2.0),
        t0 in -5.0f64..5.0,
        span in 0.1f64..3.0,
        method in prop::sample::select(vec![Method::Dopri5, Method::Tsit5, Method::Dop853, Method::Bosh3]),
    ) {
        let sys = system(m);
        let opts = Options::default().rtol(1e-11).atol(1e-12);
        let fwd = method.solve(&sys, t0, t0 + span, &y0, &opts).unwrap();
        let back = method.solve(&sys, t0 + span, t0, &fwd.y_final, &opts).unwrap();
        let scale = fwd.y_final.iter().fold(1.0f64, |a, v| a.max(v.abs())) * 8.0f64.exp();
        for (b, y) in back.y_final.iter().zip(&y0) {
            prop_assert!((b - y).abs() < 1e-7 * scale, "{} {} vs {}", method, b, y);
        }
    }

    #[test]
    fn dense_output_matches_steps_and_stopped_solves(
        m in prop::array::uniform9(-1.0f64..1.0),
        y0 in prop::array::uniform3(-2.0f64..2.0),
        frac in 0.01f64..0.99,
        method in prop::sample::select(vec![Method::Dopri5, Method::Tsit5, Method::Dop853, Method::Bosh3]),
    ) {
        let sys = system(m);
        let tol = 1e-10;
        let opts = Options::default().rtol(tol).atol(tol).dense(true).save_at(SaveAt::Steps);
        let sol = method.solve(&sys, 0.0, 2.0, &y0, &opts).unwrap();
        let dense = sol.dense.as_ref().unwrap();
        for (t, y) in sol.iter() {
            let d = dense.eval(t).unwrap();
            for i in 0..3 {
                prop_assert!((d[i] - y[i]).abs() <= 1e-12 * (1.0 + y[i].abs()));
            }
        }
        let tq = 2.0 * frac;
        let d = dense.eval(tq).unwrap();
        let stopped = method.solve(&sys, 0.0, tq, &y0, &Options::default().rtol(tol).atol(tol)).unwrap();
        for (a, b) in d.iter().zip(&stopped.y_final) {
            prop_assert!((a - b).abs() < 1e-6, "{} {} vs {}", method, a, b);
        }
    }
}
