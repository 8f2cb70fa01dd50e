//! Benchmarks of the nn-layers crate.
//!
//! * `nn_layers/dyn_vjp/<net>`: one `Dynamics::vjp` (f, aᵀ∂f/∂z, aᵀ∂f/∂θ, aᵀ∂f/∂t) of an MLP
//!   dynamics, by the hand-written `MlpDynamics`, by `NetDynamics` with one tape leaf per tensor
//!   (`tape_per_tensor`) and with θ as one leaf sliced per tensor (`tape_flat`); `eval_*` are
//!   the plain evaluations.
//! * `nn_layers/linear/b128_784x256`: a Linear layer on the tape (forward with recording off;
//!   forward + backward with all gradients) against one plain gemm of the forward's size
//!   (128x784 · 784x256), through `autodiff::gemm`, the product the tape itself uses.
//! * `nn_layers/conv2d/b128_c64_7x7_k3`: the ODE-Net's convolution (batch 128, 64 -> 64
//!   channels, 7x7, 3x3, padding 1) on the tape (forward; forward + backward) against one plain
//!   gemm of its forward's size ((128·49)x576 · 576x64).
//!
//! Before measuring, each configuration prints its heap allocations per warm call (a counting
//! global allocator is installed). f64 throughout.

use std::hint::black_box;

use benches::alloc_count::{allocations_per_call, Counting};
use std::time::Duration;

use adjoint::Dynamics;
use autodiff::Tape;
use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::DMatrix;
use nn_layers::{
    init_params, Activation, Binding, Conv2dConfig, Layer, Linear, MlpConfig, MlpDynamics,
    NetDynamics, ParamLayout, ParamVars,
};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn dyn_vjp(c: &mut Criterion) {
    let nets: [(&str, MlpConfig, usize); 3] = [
        (
            "spiral_2x50x2_b1",
            MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube),
            1,
        ),
        (
            "2x64x64x2_b128",
            MlpConfig::new(&[2, 64, 64, 2], Activation::Tanh),
            128,
        ),
        // The network of the issue-4 gradient benchmark (`benches/adjoint.rs`).
        (
            "32x256x32_b128",
            MlpConfig::new(&[32, 256, 32], Activation::Tanh),
            128,
        ),
    ];
    for (name, cfg, batch) in nets {
        let mut layout = ParamLayout::new();
        let mlp = cfg.build(&mut layout, "f").unwrap();
        let mut theta = vec![0.0f64; layout.len()];
        init_params(&layout, &mut theta, 0).unwrap();
        let d = cfg.widths[0];
        let n = batch * d;
        // Two states, used in turn: `MlpDynamics` answers a call at the state of its last
        // forward pass from memory, and the bench measures whole passes.
        let zs: [Vec<f64>; 2] =
            [0.37, 0.41].map(|w| (0..n).map(|i| (i as f64 * w).sin()).collect());
        let z = &zs[0];
        let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos()).collect();
        let hand = MlpDynamics::new(mlp.clone(), layout.clone(), batch).unwrap();
        let per = NetDynamics::new(mlp.clone(), layout.clone(), batch, d).unwrap();
        let flat = NetDynamics::new(mlp, layout, batch, d)
            .unwrap()
            .with_binding(Binding::Flat);
        let dyns: [(&str, &dyn Dynamics<f64>); 3] = [
            ("hand", &hand),
            ("tape_per_tensor", &per),
            ("tape_flat", &flat),
        ];
        let mut g = c.benchmark_group(format!("nn_layers/dyn_vjp/{name}"));
        if !benches::quick() {
            g.sample_size(20)
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(1));
        }
        let (mut f, mut az, mut ath) = (vec![0.0; n], vec![0.0; n], vec![0.0; theta.len()]);
        for (label, dy) in dyns {
            let allocs = allocations_per_call(|| {
                dy.vjp(0.1, z, &theta, &a, &mut f, &mut az, &mut ath);
            });
            let allocs_eval = allocations_per_call(|| dy.eval(0.1, z, &theta, &mut f));
            println!(
                "{name}/{label}: allocations per warm vjp {allocs}, per warm eval {allocs_eval}"
            );
            let mut turn = 0;
            g.bench_function(format!("vjp_{label}"), |b| {
                b.iter(|| {
                    turn ^= 1;
                    let z = black_box(&zs[turn]);
                    black_box(dy.vjp(0.1, z, &theta, &a, &mut f, &mut az, &mut ath))
                })
            });
            g.bench_function(format!("eval_{label}"), |b| {
                b.iter(|| {
                    turn ^= 1;
                    dy.eval(0.1, black_box(&zs[turn]), &theta, &mut f)
                })
            });
        }
        g.finish();
    }
}

fn linear(c: &mut Criterion) {
    let (batch, din, dout) = (128, 784, 256);
    let mut layout = ParamLayout::new();
    let fc = Linear::new(&mut layout, "fc", din, dout, true).unwrap();
    let mut theta = vec![0.0f64; layout.len()];
    init_params(&layout, &mut theta, 0).unwrap();
    let x: Vec<f64> = (0..batch * din).map(|i| (i as f64 * 0.01).sin()).collect();
    let cot: Vec<f64> = (0..batch * dout).map(|i| (i as f64 * 0.03).cos()).collect();
    let mut tape = Tape::<f64>::new();
    let mut p = ParamVars::new();
    let mut grad = vec![0.0; theta.len()];
    let mut gx = vec![0.0; x.len()];
    let mut fwd_bwd = |tape: &mut Tape<f64>, p: &mut ParamVars| {
        tape.clear();
        p.bind(tape, &layout, &theta, Binding::PerTensor).unwrap();
        let xv = tape.leaf_from_slice(batch, din, &x).unwrap();
        let y = fc.forward(tape, p, xv).unwrap();
        tape.backward_with_slice(y, &cot).unwrap();
        p.grads_to_flat(tape, &layout, &mut grad).unwrap();
        tape.grad_to_slice(xv, &mut gx).unwrap();
    };
    let allocs = allocations_per_call(|| fwd_bwd(&mut tape, &mut p));
    println!("linear b128 784x256: allocations per warm forward+backward {allocs}");
    let mut g = c.benchmark_group("nn_layers/linear/b128_784x256");
    if !benches::quick() {
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
    g.bench_function("tape_fwd_bwd", |b| b.iter(|| fwd_bwd(&mut tape, &mut p)));
    let mut tape2 = Tape::<f64>::new();
    let mut p2 = ParamVars::new();
    g.bench_function("tape_forward", |b| {
        b.iter(|| {
            tape2.clear();
            tape2.set_recording(false);
            p2.bind(&mut tape2, &layout, &theta, Binding::PerTensor)
                .unwrap();
            let xv = tape2.constant_from_slice(batch, din, &x).unwrap();
            black_box(fc.forward(&mut tape2, &p2, xv).unwrap());
        })
    });
    let xm = DMatrix::from_column_slice(batch, din, &x);
    let wm = DMatrix::from_column_slice(din, dout, &theta[..din * dout]);
    let mut out = DMatrix::<f64>::zeros(batch, dout);
    g.bench_function("plain_gemm", |b| {
        b.iter(|| autodiff::gemm(&mut out, black_box(&xm), false, black_box(&wm), false, 0.0))
    });
    g.finish();
}

fn conv2d(c: &mut Criterion) {
    // The ODE-Net's block: batch 128, 64 -> 64 channels, 7x7 maps, 3x3 kernel, padding 1.
    let (batch, ch, hw) = (128, 64, 7);
    let cfg = Conv2dConfig::new(ch, ch, (hw, hw), 3).padding(1);
    let mut layout = ParamLayout::new();
    let conv = cfg.build(&mut layout, "conv").unwrap();
    let mut theta = vec![0.0f64; layout.len()];
    init_params(&layout, &mut theta, 0).unwrap();
    let width = ch * hw * hw;
    let x: Vec<f64> = (0..batch * width)
        .map(|i| (i as f64 * 0.01).sin())
        .collect();
    let cot: Vec<f64> = (0..batch * width)
        .map(|i| (i as f64 * 0.03).cos())
        .collect();
    let mut tape = Tape::<f64>::new();
    let mut p = ParamVars::new();
    let mut grad = vec![0.0; theta.len()];
    let mut gx = vec![0.0; x.len()];
    let mut fwd_bwd = |tape: &mut Tape<f64>, p: &mut ParamVars| {
        tape.clear();
        p.bind(tape, &layout, &theta, Binding::PerTensor).unwrap();
        let xv = tape.leaf_from_slice(batch, width, &x).unwrap();
        let y = conv.forward(tape, p, xv).unwrap();
        tape.backward_with_slice(y, &cot).unwrap();
        p.grads_to_flat(tape, &layout, &mut grad).unwrap();
        tape.grad_to_slice(xv, &mut gx).unwrap();
    };
    let allocs = allocations_per_call(|| fwd_bwd(&mut tape, &mut p));
    println!("conv2d b128 c64 7x7 k3: allocations per warm forward+backward {allocs}");
    let mut g = c.benchmark_group("nn_layers/conv2d/b128_c64_7x7_k3");
    if !benches::quick() {
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
    }
    g.bench_function("tape_fwd_bwd", |b| b.iter(|| fwd_bwd(&mut tape, &mut p)));
    let mut tape2 = Tape::<f64>::new();
    let mut p2 = ParamVars::new();
    g.bench_function("tape_forward", |b| {
        b.iter(|| {
            tape2.clear();
            tape2.set_recording(false);
            p2.bind(&mut tape2, &layout, &theta, Binding::PerTensor)
                .unwrap();
            let xv = tape2.constant_from_slice(batch, width, &x).unwrap();
            black_box(conv.forward(&mut tape2, &p2, xv).unwrap());
        })
    });
    // The forward's gemm alone: (B·49) x 576 times 576 x 64.
    let rows = batch * hw * hw;
    let k = ch * 9;
    let am = DMatrix::from_fn(rows, k, |i, j| ((i + j) as f64 * 0.001).sin());
    let wm = DMatrix::from_column_slice(k, ch, &theta[..k * ch]);
    let mut out = DMatrix::<f64>::zeros(rows, ch);
    g.bench_function("plain_gemm", |b| {
        b.iter(|| autodiff::gemm(&mut out, black_box(&am), false, black_box(&wm), false, 0.0))
    });
    g.finish();
}

criterion_group!(benches, dyn_vjp, linear, conv2d);
criterion_main!(benches);
