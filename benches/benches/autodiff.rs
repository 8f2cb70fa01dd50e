//! Benchmarks of the autodiff crate: forward + backward of small MLPs on the tape, against the
//! same forward with recording off, and against a hand-written gradient (the same `autodiff::gemm`
//! and vectorised `tanh`, into preallocated buffers).
//!
//! Groups are `autodiff/<mlp>/b<batch>` with functions `forward` (tape, recording off),
//! `tape_fwd_bwd` (record, backward with a cotangent, gradients of all weights and biases) and
//! `hand_fwd_bwd`. Scalars are f64. Before measuring, each configuration prints its heap
//! allocations per warm evaluation (a counting global allocator is installed).
//!
//! Group `autodiff/tanh`: `autodiff::math::tanh_slice` over 1,024 and 32,768 values in
//! [-6, 6], f64 (on AVX2, the interleaved kernel of `math::tanh_x86`) and f32 (the compiler's
//! loop, through f64), with the throughput in elements per second. `NEURAL_ODE_SIMD=baseline`
//! or `avx2` caps the instruction set.

use std::hint::black_box;

use benches::alloc_count::{allocations_per_call, Counting};
use std::time::Duration;

use autodiff::{Tape, Var};
use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::DMatrix;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// An MLP with tanh on hidden layers and a linear output: `dims = [in, hidden..., out]`.
struct Mlp {
    ws: Vec<DMatrix<f64>>,
    bs: Vec<DMatrix<f64>>,
}

impl Mlp {
    fn new(dims: &[usize]) -> Self {
        let mut ws = Vec::new();
        let mut bs = Vec::new();
        for (l, w) in dims.windows(2).enumerate() {
            let scale = 1.0 / (w[0] as f64).sqrt();
            ws.push(DMatrix::from_fn(w[0], w[1], |i, j| {
                scale * ((i * 31 + j * 17 + l) as f64 * 0.37).sin()
            }));
            bs.push(DMatrix::from_fn(1, w[1], |_, j| {
                0.1 * ((j + l) as f64 * 0.7).cos()
            }));
        }
        Mlp { ws, bs }
    }

    /// The model on the tape; the same code serves both recording modes.
    fn record(&self, tape: &mut Tape<f64>, x: &DMatrix<f64>, params: &mut Vec<Var>) -> Var {
        params.clear();
        let mut h = tape.constant(x);
        let last = self.ws.len() - 1;
        for (l, (w, b)) in self.ws.iter().zip(&self.bs).enumerate() {
            let wv = tape.leaf(w);
            let bv = tape.leaf(b);
            params.push(wv);
            params.push(bv);
            h = tape.matmul(h, wv).expect("shapes");
            h = tape.add(h, bv).expect("shapes");
            if l < last {
                h = tape.tanh(h);
            }
        }
        h
    }
}

/// Hand-written forward and backward of the same MLP into preallocated buffers.
struct Hand {
    /// Activations per layer (post-tanh for hidden layers, pre-activation output for the last).
    acts: Vec<DMatrix<f64>>,
    /// Output gradient per layer.
    gs: Vec<DMatrix<f64>>,
    dws: Vec<DMatrix<f64>>,
    dbs: Vec<DMatrix<f64>>,
}

impl Hand {
    fn new(mlp: &Mlp, batch: usize) -> Self {
        Hand {
            acts: mlp
                .ws
                .iter()
                .map(|w| DMatrix::zeros(batch, w.ncols()))
                .collect(),
            gs: mlp
                .ws
                .iter()
                .map(|w| DMatrix::zeros(batch, w.ncols()))
                .collect(),
            dws: mlp
                .ws
                .iter()
                .map(|w| DMatrix::zeros(w.nrows(), w.ncols()))
                .collect(),
            dbs: mlp
                .bs
                .iter()
                .map(|b| DMatrix::zeros(1, b.ncols()))
                .collect(),
        }
    }

    fn run(&mut self, mlp: &Mlp, x: &DMatrix<f64>, cot: &DMatrix<f64>) {
        let last = mlp.ws.len() - 1;
        for l in 0..=last {
            let (prev, rest) = self.acts.split_at_mut(l);
            let input = if l == 0 { x } else { &prev[l - 1] };
            let z = &mut rest[0];
            autodiff::gemm(z, input, false, &mlp.ws[l], false, 0.0);
            let b = mlp.bs[l].as_slice();
            let r = z.nrows();
            for (col, &bj) in z.as_mut_slice().chunks_exact_mut(r).zip(b) {
                col.iter_mut().for_each(|v| *v += bj);
            }
            if l < last {
                // The same vectorised tanh as the tape's, so that only the bookkeeping differs.
                autodiff::math::tanh_in_place(z.as_mut_slice());
            }
        }
        self.gs[last].copy_from(cot);
        for l in (0..=last).rev() {
            let input = if l == 0 { x } else { &self.acts[l - 1] };
            let g = &self.gs[l];
            let dw = &mut self.dws[l];
            autodiff::gemm(dw, input, true, g, false, 0.0);
            let r = g.nrows();
            for (d, col) in self.dbs[l]
                .as_mut_slice()
                .iter_mut()
                .zip(g.as_slice().chunks_exact(r))
            {
                *d = col.iter().sum();
            }
            if l > 0 {
                let (lo, hi) = self.gs.split_at_mut(l);
                let gprev = &mut lo[l - 1];
                autodiff::gemm(gprev, &hi[0], false, &mlp.ws[l], true, 0.0);
                for (gp, &a) in gprev
                    .as_mut_slice()
                    .iter_mut()
                    .zip(self.acts[l - 1].as_slice())
                {
                    *gp *= 1.0 - a * a;
                }
            }
        }
    }
}

fn bench_mlp(c: &mut Criterion, name: &str, dims: &[usize], batch: usize) {
    let mlp = Mlp::new(dims);
    let x = DMatrix::from_fn(batch, dims[0], |i, j| ((i * 7 + j * 3) as f64 * 0.11).sin());
    let out_dim = *dims.last().expect("dims");
    let cot = DMatrix::from_fn(batch, out_dim, |i, j| ((i + 5 * j) as f64 * 0.23).cos());

    let mut fwd_tape = Tape::<f64>::new();
    fwd_tape.set_recording(false);
    let mut tape = Tape::<f64>::new();
    let mut params = Vec::new();
    let mut params_fwd = Vec::new();
    let mut hand = Hand::new(&mlp, batch);

    let forward = |t: &mut Tape<f64>, p: &mut Vec<Var>| {
        t.clear();
        let out = mlp.record(t, &x, p);
        black_box(t.value(out)[0]);
    };
    let fwd_bwd = |t: &mut Tape<f64>, p: &mut Vec<Var>| {
        t.clear();
        let out = mlp.record(t, &x, p);
        t.backward_with(out, &cot).expect("backward");
        black_box(t.grad(p[0]).map(|g| g[0]));
    };

    // Check the tape against the hand-written gradient once.
    fwd_bwd(&mut tape, &mut params);
    hand.run(&mlp, &x, &cot);
    for (l, dw) in hand.dws.iter().enumerate() {
        let g = tape.grad(params[2 * l]).expect("gradient");
        let err = (g - dw).amax();
        assert!(
            err <= 1e-9 * dw.amax().max(1.0),
            "{name}: layer {l} gradient differs by {err}"
        );
    }

    println!(
        "{name}/b{batch}: heap allocations per warm evaluation: forward {}, tape_fwd_bwd {}, hand_fwd_bwd {}",
        allocations_per_call(|| forward(&mut fwd_tape, &mut params_fwd)),
        allocations_per_call(|| fwd_bwd(&mut tape, &mut params)),
        allocations_per_call(|| hand.run(&mlp, &x, &cot)),
    );

    let mut group = c.benchmark_group(format!("autodiff/{name}/b{batch}"));
    group.bench_function("ours-forward_only", |b| {
        b.iter(|| forward(&mut fwd_tape, &mut params_fwd))
    });
    group.bench_function("ours-tape_fwd_bwd", |b| {
        b.iter(|| fwd_bwd(&mut tape, &mut params))
    });
    group.bench_function("hand_written_fwd_bwd", |b| {
        b.iter(|| hand.run(&mlp, &x, &cot))
    });
    group.finish();
}

fn mlps(c: &mut Criterion) {
    bench_mlp(c, "mlp_2_64_64_2", &[2, 64, 64, 2], 1);
    bench_mlp(c, "mlp_2_64_64_2", &[2, 64, 64, 2], 128);
    bench_mlp(c, "mlp_784_256_10", &[784, 256, 10], 128);
}

fn tanh(c: &mut Criterion) {
    let mut group = c.benchmark_group("autodiff/tanh");
    for n in [1024usize, 32_768] {
        group.throughput(criterion::Throughput::Elements(n as u64));
        let x: Vec<f64> = (0..n)
            .map(|i| ((i as f64 * 0.618_033_988_749).fract() - 0.5) * 12.0)
            .collect();
        let mut y = vec![0.0f64; n];
        group.bench_function(format!("f64_{n}"), |b| {
            b.iter(|| autodiff::math::tanh_slice(black_box(&x), &mut y))
        });
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut y32 = vec![0.0f32; n];
        group.bench_function(format!("f32_{n}"), |b| {
            b.iter(|| autodiff::math::tanh_slice(black_box(&x32), &mut y32))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(25)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = mlps, tanh
}
criterion_main!(benches);
