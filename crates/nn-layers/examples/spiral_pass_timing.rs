//! Times one forward pass and one vector–Jacobian product of the spiral network
//! (2 → 50 → 2, tanh, cube on the input) at the spiral run's batch of 20, as
//! `MlpDynamics` computes them: `cargo run --release -p nn-layers --example spiral_pass_timing`.
//! Prints the median over 21 rounds of nanoseconds per call; the state alternates between two
//! values so every call makes its forward pass.

use std::hint::black_box;
use std::time::Instant;

use adjoint::Dynamics;
use nn_layers::{init_params, Activation, MlpConfig, MlpDynamics, ParamLayout};

/// The median and the minimum.
fn median(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:.0} (min {:.0})", v[v.len() / 2], v[0])
}

fn main() {
    let batch = 20;
    let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube);
    let mut layout = ParamLayout::new();
    let mlp = cfg.build(&mut layout, "f").expect("build");
    let mut theta = vec![0.0f64; layout.len()];
    init_params(&layout, &mut theta, 1).expect("init");
    let f = MlpDynamics::new(mlp, layout, batch).expect("dynamics");
    let n = 2 * batch;
    let zs: [Vec<f64>; 2] = [0.37, 0.41].map(|w| (0..n).map(|i| (i as f64 * w).sin()).collect());
    let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
    let (mut out, mut az, mut ath) = (vec![0.0; n], vec![0.0; n], vec![0.0; theta.len()]);
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let mut eval = Vec::new();
    let mut vjp = Vec::new();
    let mut vjp_kept = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for c in 0..calls {
            f.eval(0.0, black_box(&zs[c & 1]), &theta, &mut out);
        }
        eval.push(t.elapsed().as_secs_f64() * 1e9 / calls as f64);
        let t = Instant::now();
        for c in 0..calls {
            f.vjp(
                0.0,
                black_box(&zs[c & 1]),
                &theta,
                &a,
                &mut out,
                &mut az,
                &mut ath,
            );
        }
        vjp.push(t.elapsed().as_secs_f64() * 1e9 / calls as f64);
        let t = Instant::now();
        for _ in 0..calls {
            f.vjp(
                0.0,
                black_box(&zs[0]),
                &theta,
                &a,
                &mut out,
                &mut az,
                &mut ath,
            );
        }
        vjp_kept.push(t.elapsed().as_secs_f64() * 1e9 / calls as f64);
    }
    let xs: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.013).sin() * 3.0).collect();
    let mut ys = vec![0.0; 1000];
    let mut th = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..calls {
            autodiff::math::tanh_slice(black_box(&xs), &mut ys);
        }
        th.push(t.elapsed().as_secs_f64() * 1e9 / calls as f64 / 1000.0);
    }
    v_th(th);
    println!(
        "ns per call (median of the rounds, ROUNDS=21 by default, of CALLS=20000): eval {}, vjp with its forward pass {}, vjp from a kept pass {}; checksum {:.6e}",
        median(eval),
        median(vjp),
        median(vjp_kept),
        ath.iter().sum::<f64>() + az.iter().sum::<f64>()
    );
}

/// Prints the tanh figure (ns per element, three decimals).
fn v_th(mut v: Vec<f64>) {
    v.sort_by(f64::total_cmp);
    println!(
        "tanh ns per element {:.3} (min {:.3})",
        v[v.len() / 2],
        v[0]
    );
}
