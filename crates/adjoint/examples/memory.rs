//! Peak heap, time and work of one gradient through a fixed-step RK4 solve of an MLP
//! dynamics, for each gradient method (a counting global allocator measures the heap).
//!
//! ```text
//! cargo run --release -p adjoint --example memory -- [batch] [dim] [hidden] [steps,steps,...]
//! ```
//! Defaults: batch 16, dim 8, hidden 32, steps 100,400,1600. The loss is `sum(z(T))`,
//! T = steps · 0.01.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use adjoint::{odeint, GradMethod, TapeDynamics};
use autodiff::{Tape, Var};
use ode_solvers::{tableau, ExplicitRk, Options};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `f(z) = tanh(z W1 + b1) W2 + b2` on a `batch × dim` state; θ = [W1, b1, W2, b2].
fn mlp(
    dim: usize,
    hidden: usize,
) -> impl Fn(&mut Tape<f64>, Var, Var, Var) -> autodiff::Result<Var> {
    move |tape, z, _t, th| {
        let w1 = tape.flat_slice(th, 0, dim, hidden)?;
        let b1 = tape.slice_cols(th, dim * hidden, hidden)?;
        let o = dim * hidden + hidden;
        let w2 = tape.flat_slice(th, o, hidden, dim)?;
        let b2 = tape.slice_cols(th, o + hidden * dim, dim)?;
        let h = tape.affine(z, w1, b1)?;
        let h = tape.tanh(h);
        tape.affine(h, w2, b2)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (batch, dim, hidden) = (arg(0, 16), arg(1, 8), arg(2, 32));
    let steps: Vec<usize> = args
        .get(3)
        .map(|s| s.split(',').filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 400, 1600]);
    let p = 2 * dim * hidden + hidden + dim;
    let f = TapeDynamics::new(batch, dim, p, mlp(dim, hidden));
    let theta: Vec<f64> = (0..p)
        .map(|i| ((i as f64 * 0.618).fract() - 0.5) * 2.0 / (dim.max(hidden) as f64).sqrt())
        .collect();
    let z0: Vec<f64> = (0..batch * dim)
        .map(|i| (i as f64 * 0.377).fract() - 0.5)
        .collect();
    let state_bytes = batch * dim * 8;
    println!(
        "MLP {dim}→{hidden}→{dim}, batch {batch}, f64, RK4 dt = 0.01; state {state_bytes} B, θ {p}"
    );
    println!("| steps | method | peak heap (KiB) | states stored by the forward pass / most held by a segment's reversal (in spent checkpoint slots first) | seconds | fwd NFE | bwd NFE | bwd VJPs |");
    println!("|---|---|---|---|---|---|---|---|");
    for &n in &steps {
        let ts = [0.0, n as f64 * 0.01];
        let opts = Options::default().fixed_step(0.01);
        let c = (n as f64).sqrt().round() as usize;
        for (name, gm) in [
            ("Adjoint".to_string(), GradMethod::adjoint()),
            ("Direct".to_string(), GradMethod::direct()),
            (format!("Checkpointed({c})"), GradMethod::checkpointed(c)),
            ("Checkpointed(16)".to_string(), GradMethod::checkpointed(16)),
        ] {
            // Warm the tape first so its pools are not counted.
            let warm = odeint(
                &f,
                &z0,
                &theta,
                &[0.0, 0.01],
                ExplicitRk::new(&tableau::RK4),
                &opts,
                gm,
            )
            .unwrap();
            let _ = warm.backward(&vec![1.0; 2 * batch * dim]).unwrap();
            drop(warm);
            let base = CURRENT.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let start = Instant::now();
            let traj = odeint(
                &f,
                &z0,
                &theta,
                &ts,
                ExplicitRk::new(&tableau::RK4),
                &opts,
                gm,
            )
            .unwrap();
            let mut dl = vec![0.0; 2 * batch * dim];
            dl[batch * dim..].fill(1.0);
            let g = traj.backward(&dl).unwrap();
            let secs = start.elapsed().as_secs_f64();
            let peak = PEAK.load(Ordering::Relaxed) - base;
            let s = g.stats;
            println!(
                "| {n} | {name} | {:.1} | {} / {} | {secs:.3} | {} | {} | {} |",
                peak as f64 / 1024.0,
                s.stored_states,
                s.segment_states,
                s.forward.nfe,
                s.backward.nfe,
                s.backward.vjps
            );
        }
    }
}
