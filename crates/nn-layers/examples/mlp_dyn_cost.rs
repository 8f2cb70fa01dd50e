//! Cost of one `MlpDynamics` evaluation and one vector–Jacobian product of the spiral network
//! (`MLP(y³)`, 2 → 50 → 2, tanh) at the spiral training's batch of 20, for profiling:
//! `cargo run --release -p nn-layers --example mlp_dyn_cost -- [eval|vjp|eval+vjp] [CALLS]`:
//! `vjp` alternates between two states, so every product runs its forward pass; `eval+vjp`
//! evaluates and then takes the product at the same state (as the `Direct` backward pass
//! does), which reuses the evaluation's forward pass.
//!
//! Prints the time per call (wall clock, so noisy on a loaded machine). Under
//! `valgrind --tool=callgrind`, the difference of the instruction counts of two call counts
//! divided by the difference of the calls gives the instructions per call.

use std::hint::black_box;
use std::time::Instant;

use adjoint::Dynamics;
use nn_layers::{init_params, Activation, MlpConfig, MlpDynamics, ParamLayout};

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "vjp".into());
    let calls: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let batch = 20;
    let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube);
    let mut layout = ParamLayout::new();
    let mlp = cfg.build(&mut layout, "net").expect("build");
    let mut theta = vec![0.0f64; layout.len()];
    init_params(&layout, &mut theta, 0).expect("init");
    let f = MlpDynamics::new(mlp, layout, batch).expect("dynamics");
    let n = 2 * batch;
    let z: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 1.5).collect();
    let z2: Vec<f64> = z.iter().map(|v| v * 0.9).collect();
    let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
    let (mut out, mut az, mut ath) = (vec![0.0; n], vec![0.0; n], vec![0.0; theta.len()]);
    let start = Instant::now();
    let mut check = 0.0;
    for c in 0..calls {
        let zc = if c % 2 == 0 { &z } else { &z2 };
        match what.as_str() {
            "eval" => f.eval(0.0, black_box(zc), &theta, &mut out),
            "eval+vjp" => {
                f.eval(0.0, black_box(zc), &theta, &mut out);
                f.vjp(0.0, black_box(zc), &theta, &a, &mut out, &mut az, &mut ath);
                check += ath[7];
            }
            _ => {
                f.vjp(0.0, black_box(zc), &theta, &a, &mut out, &mut az, &mut ath);
                check += ath[7];
            }
        }
        check += out[3];
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / calls as f64;
    println!("{what}: {us:.3} µs per call ({calls} calls; checksum {check:.6e})");
}
