//! Properties over random small linear systems and random observation times.

use adjoint::{odeint, AdjointOptions, GradMethod, Linear};
use ode_solvers::{tableau, ExplicitRk, Options};
use proptest::prelude::*;

use crate::common::{linear_reference, rel_err};

fn system() -> impl Strategy<Value = (usize, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>)> {
    (1usize..=3, 2usize..=4, any::<bool>()).prop_flat_map(|(n, nt, decreasing)| {
        (
            Just(n),
            proptest::collection::vec(-1.0f64..1.0, n * n),
            proptest::collection::vec(-1.0f64..1.0, n),
            proptest::collection::vec(0.05f64..0.6, nt - 1).prop_map(move |gaps| {
                let mut t = vec![0.3];
                for g in gaps {
                    let last = *t.last().unwrap();
                    t.push(if decreasing { last - g } else { last + g });
                }
                t
            }),
            proptest::collection::vec(-1.0f64..1.0, n * nt),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn linear_gradients_match_matrix_exponential((n, a, z0, ts, w) in system()) {
        let (_, dz0, da, dts) = linear_reference(&a, n, &z0, &ts, &w);
        let opts = Options::default().rtol(1e-10).atol(1e-12);
        for gm in [
            GradMethod::Adjoint(AdjointOptions::default().rtol(1e-10).atol(1e-12)),
            GradMethod::direct(),
            GradMethod::checkpointed(1),
        ] {
            let lin = Linear::new(n);
            let traj = odeint(&lin, &z0, &a, &ts, ExplicitRk::new(&tableau::TSIT5), &opts, gm).unwrap();
            let g = traj.backward(&w).unwrap();
            let scale = 1e-7;
            prop_assert!(rel_err(&g.dz0, &dz0) < scale, "{:?} dz0 {:?} {:?}", gm, g.dz0, dz0);
            prop_assert!(rel_err(&g.dtheta, &da) < scale, "{:?} dA", gm);
            prop_assert!(rel_err(&g.dts, &dts) < scale, "{:?} dts {:?} {:?}", gm, g.dts, dts);
        }
    }
}
