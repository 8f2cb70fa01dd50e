//! Batch-solve measurements (issue 7): per-sample speed-up from 1 to 2 threads, per-sample
//! versus shared-step work on a heterogeneous batch, and shared-step time per sample as the
//! batch grows. `cargo run --release -p ode-solvers --example batch_bench [-- [--quick] THREADS...]`;
//! prints markdown. Timings are medians of repeated runs.

use std::time::Instant;

use ode_solvers::{batch, tableau, BatchMode, BatchSystem, ExplicitRk, Options};

/// The spiral MLP f(y) = W2 tanh(W1 y³ + b1) + b2 (2 → 50 → 2), fixed pseudo-random weights.
struct Mlp {
    w1: [[f64; 2]; 50],
    b1: [f64; 50],
    w2: [[f64; 50]; 2],
    b2: [f64; 2],
}

impl Mlp {
    fn new() -> Mlp {
        let mut s = 12345u64;
        let mut r = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.4
        };
        let mut m = Mlp {
            w1: [[0.0; 2]; 50],
            b1: [0.0; 50],
            w2: [[0.0; 50]; 2],
            b2: [0.0; 2],
        };
        for row in m.w1.iter_mut() {
            *row = [r(), r()];
        }
        for b in m.b1.iter_mut() {
            *b = r();
        }
        for row in m.w2.iter_mut() {
            for w in row.iter_mut() {
                *w = r();
            }
        }
        m.b2 = [r(), r()];
        m
    }
}

impl BatchSystem<f64> for Mlp {
    fn rhs(&self, _i: usize, _t: f64, y: &[f64], dy: &mut [f64]) {
        let (a, b) = (y[0].powi(3), y[1].powi(3));
        let mut out = self.b2;
        for j in 0..50 {
            let h = (self.w1[j][0] * a + self.w1[j][1] * b + self.b1[j]).tanh();
            out[0] += self.w2[0][j] * h;
            out[1] += self.w2[1][j] * h;
        }
        dy.copy_from_slice(&out);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<R>(reps: usize, mut f: impl FnMut() -> R) -> f64 {
    median(
        (0..reps)
            .map(|_| {
                let s = Instant::now();
                std::hint::black_box(f());
                s.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn main() {
    // `--quick`: 3 repetitions per figure instead of 9 (a smoke run).
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 9 };
    let threads: Vec<usize> = {
        let v: Vec<usize> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if v.is_empty() {
            vec![1, 2]
        } else {
            v
        }
    };
    let method = ExplicitRk::new(&tableau::DOPRI5);
    let mlp = Mlp::new();
    let opts = Options::default().rtol(1e-7).atol(1e-9);

    // 1. Per-sample mode, 256 samples of the MLP dynamics, over thread counts.
    let y0: Vec<f64> = (0..256)
        .flat_map(|i| [1.0 + 0.004 * i as f64, -0.5 + 0.003 * i as f64])
        .collect();
    println!(
        "### Per-sample mode: 256 samples of the spiral MLP, Dopri5, rtol 1e-7, t in [0, 5]\n"
    );
    // The thread counts take turns, repetition by repetition, so a slow phase of this shared
    // machine (single-thread times here swing between 7 and 15 ms) hits them all alike; each
    // repetition solves the batch 4 times.
    let scaling_reps = if quick { 3 } else { 41 };
    println!(
        "| threads | ms per batch (median of {scaling_reps}, interleaved) | speed-up over {} thread(s) |\n|---|---|---|",
        threads[0]
    );
    let pools: Vec<rayon::ThreadPool> = threads
        .iter()
        .map(|&n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .expect("pool")
        })
        .collect();
    let run = || {
        for _ in 0..4 {
            std::hint::black_box(
                batch::solve(&method, &mlp, 2, &y0, 0.0, 5.0, &opts, BatchMode::PerSample)
                    .expect("batch"),
            );
        }
    };
    // Warm every pool once.
    for p in &pools {
        p.install(run);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); pools.len()];
    for _ in 0..scaling_reps {
        for (p, v) in pools.iter().zip(samples.iter_mut()) {
            let s = Instant::now();
            p.install(run);
            v.push(s.elapsed().as_secs_f64() / 4.0);
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    for (&n, &t) in threads.iter().zip(&medians) {
        println!("| {n} | {:.2} | {:.2}x |", 1e3 * t, medians[0] / t);
    }

    // 2. A heterogeneous batch: Van der Pol with mu in [0.5, 5].
    let vdp = |i: usize, _t: f64, y: &[f64], dy: &mut [f64]| {
        let mu = 0.5 + 4.5 * i as f64 / 63.0;
        dy[0] = y[1];
        dy[1] = mu * (1.0 - y[0] * y[0]) * y[1] - y[0];
    };
    let y0v: Vec<f64> = (0..64).flat_map(|_| [2.0, 0.0]).collect();
    println!("\n### Heterogeneous batch: 64 Van der Pol oscillators, mu in [0.5, 5], t in [0, 20], rtol 1e-6, one thread\n");
    println!(
        "| mode | right-hand-side evaluations (all samples) | ms (median of {reps}) |\n|---|---|---|"
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    for mode in [BatchMode::PerSample, BatchMode::SharedStep] {
        let o = Options::default().rtol(1e-6).atol(1e-6);
        let out = batch::solve(&method, &vdp, 2, &y0v, 0.0, 20.0, &o, mode).expect("batch");
        let st = out.total_stats();
        // Shared steps evaluate every sample at every stage.
        let evals = match mode {
            BatchMode::PerSample => st.nfe,
            BatchMode::SharedStep => st.nfe * 64,
        };
        let t = pool.install(|| {
            time(reps, || {
                batch::solve(&method, &vdp, 2, &y0v, 0.0, 20.0, &o, mode).expect("batch")
            })
        });
        println!("| {mode:?} | {evals} | {:.2} |", 1e3 * t);
    }

    // 2b. Spiral windows of mixed lengths: per-sample mode integrates each window over its own
    // span; shared steps must take every window to the longest span.
    let lengths: Vec<f64> = (0..64).map(|i| 0.25 + 4.75 * i as f64 / 63.0).collect();
    let y0w: Vec<f64> = (0..64)
        .flat_map(|i| [1.0 + 0.01 * i as f64, -0.5 + 0.005 * i as f64])
        .collect();
    let longest = lengths.iter().fold(0.0f64, |m, &l| m.max(l));
    println!("\n### Heterogeneous batch: 64 spiral-MLP windows of lengths 0.25 to 5, Dopri5, rtol 1e-7, one thread\n");
    println!(
        "| mode | right-hand-side evaluations (all samples) | ms (median of {reps}) |\n|---|---|---|"
    );
    for mode in [BatchMode::PerSample, BatchMode::SharedStep] {
        let spans: Vec<(f64, f64)> = match mode {
            BatchMode::PerSample => lengths.iter().map(|&l| (0.0, l)).collect(),
            BatchMode::SharedStep => vec![(0.0, longest); 64],
        };
        let out = batch::solve_spans(&method, &mlp, 2, &y0w, &spans, &opts, mode).expect("batch");
        let st = out.total_stats();
        let evals = match mode {
            BatchMode::PerSample => st.nfe,
            BatchMode::SharedStep => st.nfe * 64,
        };
        let t = pool.install(|| {
            time(reps, || {
                batch::solve_spans(&method, &mlp, 2, &y0w, &spans, &opts, mode).expect("batch")
            })
        });
        println!("| {mode:?} | {evals} | {:.2} |", 1e3 * t);
    }

    // 3. Shared-step mode as the batch grows.
    println!(
        "\n### Shared-step mode on the spiral MLP, Dopri5, rtol 1e-7, t in [0, 5], one thread\n"
    );
    println!("| batch | µs per sample (median) | steps |\n|---|---|---|");
    for n in [1usize, 16, 128, 1024] {
        let y: Vec<f64> = (0..n)
            .flat_map(|i| [1.0 + 0.5 * i as f64 / n as f64, -0.5])
            .collect();
        let out = batch::solve(&method, &mlp, 2, &y, 0.0, 5.0, &opts, BatchMode::SharedStep)
            .expect("batch");
        let steps = out.total_stats().accepted;
        let reps = if quick { 3 } else { (2000 / n).clamp(5, 200) };
        let t = pool.install(|| {
            time(reps, || {
                batch::solve(&method, &mlp, 2, &y, 0.0, 5.0, &opts, BatchMode::SharedStep)
                    .expect("batch")
            })
        });
        println!("| {n} | {:.2} | {steps} |", 1e6 * t / n as f64);
    }
}
