//! Issue 4 benchmark: memory and time of one gradient of `sum(z(T))` through a fixed-step RK4
//! solve (dt = 0.01) of an MLP dynamics (dim 32 → 256 tanh → 32, batch 128, f64, one thread),
//! for each gradient method of the `adjoint` crate and each way of differentiating the network
//! (`tape`: `TapeDynamics` on the `autodiff` tape; `nn-layers`: `MlpDynamics`, its hand-written
//! product), with the achieved GFLOP/s against the rate of a plain gemm of the same shapes
//! measured in the same run, right before and right after each repetition of each row: the
//! "% of gemm" column gives the median over the repetitions of each one's rate against the
//! mean of the two gemm readings around it, and the fastest repetition against the best gemm
//! reading (this machine's speed moves by tens of percent within a minute, so a rate measured
//! once per row, or once at the start, compares a gradient with another moment's machine).
//!
//! Peak heap is measured with a counting global allocator: the most bytes live during the
//! gradient call above the level before the dynamics were built, so it includes their working
//! memory (tape pools, kept activations). Steps default to 100, 400, 1600, 6400; set
//! `ADJOINT_BENCH_STEPS=100,400` for a shorter run (the full run takes many minutes: the
//! configuration is bound by matrix products). `ADJOINT_BENCH_METHODS=Adjoint,Checkpointed`
//! keeps only the methods whose names start with one of the given prefixes;
//! `ADJOINT_BENCH_DYNAMICS=tape` or `nn-layers` only one kind of dynamics;
//! `ADJOINT_BENCH_TAPE_KEEP=4` gives the tape's `Direct` and `Checkpointed` rows
//! `TapeDynamics::with_memory(4)` (default 0: no kept tapes; the nn-layers rows keep 4
//! passes, and none for `Adjoint`);
//! `ADJOINT_BENCH_CHECKPOINTS=8,80` sets the `Checkpointed` rows' budgets, the most states held
//! (default √steps, 2·√steps and 4·√steps); `ADJOINT_BENCH_REPS=3` times each gradient three times (median
//! and fastest reported; the peak heap and the counts are the first's). Output: a markdown
//! table on stdout.
//!
//! ```text
//! cargo bench -p benches --bench adjoint
//! ADJOINT_BENCH_STEPS=100 cargo bench -p benches --bench adjoint
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use adjoint::{odeint, Dynamics, GradMethod, PassCounts, TapeDynamics};
use autodiff::{Tape, Var};
use nalgebra::DMatrix;
use nn_layers::{Activation, MlpConfig, MlpDynamics, ParamLayout};
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
            let grow = new_size - layout.size();
            let now = CURRENT.fetch_add(grow, Ordering::Relaxed) + grow;
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

const BATCH: usize = 128;
const DIM: usize = 32;
const HIDDEN: usize = 256;
const P: usize = 2 * DIM * HIDDEN + HIDDEN + DIM;

/// `f(z) = tanh(z W1 + b1) W2 + b2`; θ = [W1, b1, W2, b2]; each layer one `affine` node.
fn mlp(tape: &mut Tape<f64>, z: Var, _t: Var, th: Var) -> autodiff::Result<Var> {
    let w1 = tape.flat_slice(th, 0, DIM, HIDDEN)?;
    let b1 = tape.slice_cols(th, DIM * HIDDEN, HIDDEN)?;
    let o = DIM * HIDDEN + HIDDEN;
    let w2 = tape.flat_slice(th, o, HIDDEN, DIM)?;
    let b2 = tape.slice_cols(th, o + HIDDEN * DIM, DIM)?;
    let h = tape.affine(z, w1, b1)?;
    let h = tape.tanh(h);
    tape.affine(h, w2, b2)
}

/// FLOPs of the matrix products of a forward pass: two products of 2·B·D·H; a VJP's backward
/// half has twice as many (input and weight gradients of each product).
const EVAL_FLOP: f64 = 2.0 * 2.0 * (BATCH * DIM * HIDDEN) as f64;

/// GFLOP/s of `autodiff::gemm` (the tape's own product) on the forward shapes (non-transposed
/// operands only).
fn gemm_rate() -> f64 {
    let x = DMatrix::<f64>::from_fn(BATCH, DIM, |i, j| ((i * 7 + j) % 13) as f64 * 0.01);
    let w1 = DMatrix::<f64>::from_fn(DIM, HIDDEN, |i, j| ((i + 3 * j) % 11) as f64 * 0.01);
    let w2 = DMatrix::<f64>::from_fn(HIDDEN, DIM, |i, j| ((2 * i + j) % 7) as f64 * 0.01);
    let mut h = DMatrix::<f64>::zeros(BATCH, HIDDEN);
    let mut y = DMatrix::<f64>::zeros(BATCH, DIM);
    let reps = 400;
    let start = Instant::now();
    for _ in 0..reps {
        autodiff::gemm(&mut h, &x, false, &w1, false, 0.0);
        autodiff::gemm(&mut y, &h, false, &w2, false, 0.0);
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(&y);
    reps as f64 * EVAL_FLOP / secs / 1e9
}

/// The two ways this workspace differentiates the benchmark network: on the `autodiff` tape
/// (`TapeDynamics` around [`mlp`]) and by the hand-written product of `nn-layers`'
/// `MlpDynamics` (the same network, its products through the same gemm).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Tape,
    Hand,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Tape => "tape",
            Kind::Hand => "nn-layers",
        }
    }
}

/// Dynamics that count their forward passes (both kinds do).
trait Counted: Dynamics<f64> {
    fn counts(&self) -> PassCounts;
    fn reset(&self);
}

impl<F> Counted for TapeDynamics<f64, F>
where
    F: Fn(&mut Tape<f64>, Var, Var, Var) -> autodiff::Result<Var>,
{
    fn counts(&self) -> PassCounts {
        self.pass_counts()
    }
    fn reset(&self) {
        self.reset_pass_counts()
    }
}

impl Counted for MlpDynamics<f64> {
    fn counts(&self) -> PassCounts {
        self.pass_counts()
    }
    fn reset(&self) {
        self.reset_pass_counts()
    }
}

/// One row: builds the dynamics (so that the peak heap includes their working memory: tape
/// pools or kept activations), warms them with a one-step gradient, then times `reps`
/// gradients.
#[allow(clippy::too_many_arguments)]
fn row<D: Counted>(
    label: &str,
    base: usize,
    f: &D,
    n: usize,
    reps: usize,
    theta: &[f64],
    z0: &[f64],
    gm: GradMethod,
) {
    let rk4 = ExplicitRk::new(&tableau::RK4);
    let opts = Options::default().fixed_step(0.01);
    let ts = [0.0, n as f64 * 0.01];
    let mut dl = vec![0.0; 2 * BATCH * DIM];
    dl[BATCH * DIM..].fill(1.0);
    let warm = odeint(f, z0, theta, &[0.0, 0.01], rk4.clone(), &opts, gm).unwrap();
    let _ = warm.backward(&dl).unwrap();
    drop(warm);
    // The gemm rate is read right before and right after every repetition, so that each
    // gradient is compared with the machine's speed in the same seconds (on a shared machine
    // the speed moves by tens of percent within a minute).
    let mut gemm_before = gemm_rate();
    let mut times = Vec::with_capacity(reps);
    let mut gemms = vec![gemm_before];
    let mut around = Vec::with_capacity(reps);
    let mut peak = 0.0;
    let mut stats = None;
    for rep in 0..reps {
        f.reset();
        PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
        let start = Instant::now();
        let traj = odeint(f, z0, theta, &ts, rk4.clone(), &opts, gm).unwrap();
        let g = traj.backward(&dl).unwrap();
        times.push(start.elapsed().as_secs_f64());
        drop(traj);
        if rep == 0 {
            peak = (PEAK.load(Ordering::Relaxed) - base) as f64 / (1024.0 * 1024.0);
            stats = Some((g.stats, f.counts()));
        }
        let gemm_after = gemm_rate();
        gemms.push(gemm_after);
        around.push(0.5 * (gemm_before + gemm_after));
        gemm_before = gemm_after;
    }
    let (s, counts) = stats.expect("at least one repetition");
    // Every forward pass computed (evaluations, and the forward halves of the products that
    // found none kept) plus the two backward products of every VJP.
    let flop = counts.computed as f64 * EVAL_FLOP + s.backward.vjps as f64 * 2.0 * EVAL_FLOP;
    // Each repetition's rate as a fraction of the gemm rate around it; and the best of each.
    let mut pct: Vec<f64> = times
        .iter()
        .zip(&around)
        .map(|(t, g)| 100.0 * flop / t / 1e9 / g)
        .collect();
    pct.sort_by(f64::total_cmp);
    times.sort_by(f64::total_cmp);
    gemms.sort_by(f64::total_cmp);
    let secs = times[times.len() / 2];
    let fastest = times[0];
    let rate = flop / secs / 1e9;
    let gemm_median = gemms[gemms.len() / 2];
    let gemm_best = gemms[gemms.len() - 1];
    let best_pct = 100.0 * flop / fastest / 1e9 / gemm_best;
    println!(
        "| {n} | {label} | {peak:.2} | {secs:.2} | {fastest:.2} | {rate:.2} | {gemm_median:.1} / {gemm_best:.1} | {:.0}% / {best_pct:.0}% | {} | {} | {} |",
        pct[pct.len() / 2],
        s.forward.nfe,
        s.backward.nfe,
        s.backward.vjps
    );
}

fn main() {
    let steps: Vec<usize> = std::env::var("ADJOINT_BENCH_STEPS")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 400, 1600, 6400]);
    let only: Option<Vec<String>> = std::env::var("ADJOINT_BENCH_METHODS")
        .ok()
        .map(|s| s.split(',').map(|v| v.trim().to_string()).collect());
    let checkpoint_counts: Option<Vec<usize>> = std::env::var("ADJOINT_BENCH_CHECKPOINTS")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect());
    let reps: usize = std::env::var("ADJOINT_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let kinds: Vec<Kind> = match std::env::var("ADJOINT_BENCH_DYNAMICS").as_deref() {
        Ok("tape") => vec![Kind::Tape],
        Ok("nn-layers") => vec![Kind::Hand],
        _ => vec![Kind::Tape, Kind::Hand],
    };
    let theta: Vec<f64> = (0..P)
        .map(|i| ((i as f64 * 0.618).fract() - 0.5) * 2.0 / (HIDDEN as f64).sqrt())
        .collect();
    let z0: Vec<f64> = (0..BATCH * DIM)
        .map(|i| (i as f64 * 0.377).fract() - 0.5)
        .collect();
    // faer reserves a per-thread packing workspace at its first product (about 65 MiB on the
    // development machine, sized from the cache sizes; of it only the pages the packing
    // touches become resident: 0.44 MiB of RSS for these shapes). It is made here, before any
    // row's baseline, so that it is not counted against whichever row comes first.
    let _ = gemm_rate();
    println!("MLP {DIM}→{HIDDEN}→{DIM}, batch {BATCH}, f64, RK4 dt = 0.01, one thread");
    println!("| steps | dynamics: method | peak heap incl. the dynamics' memory (MiB) | seconds (median) | seconds (fastest) | GFLOP/s (median) | gemm GFLOP/s around the repetitions (median / best) | % of gemm (median over repetitions of each one against the gemm rate around it / fastest repetition against the best gemm rate) | fwd NFE | bwd evals | bwd VJPs |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &n in &steps {
        let c = (n as f64).sqrt().round() as usize;
        let mut methods = vec![
            ("Adjoint".to_string(), GradMethod::adjoint()),
            ("Direct".to_string(), GradMethod::direct()),
        ];
        let counts = checkpoint_counts
            .clone()
            .unwrap_or_else(|| vec![c, 2 * c, 4 * c]);
        for k in counts {
            methods.push((format!("Checkpointed({k})"), GradMethod::checkpointed(k)));
        }
        if let Some(only) = &only {
            methods.retain(|(name, _)| only.iter().any(|o| name.starts_with(o.as_str())));
        }
        for &kind in &kinds {
            for (name, gm) in &methods {
                let label = format!("{}: {name}", kind.label());
                let base = CURRENT.load(Ordering::Relaxed);
                match kind {
                    Kind::Tape => {
                        let keep = std::env::var("ADJOINT_BENCH_TAPE_KEEP")
                            .ok()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        let keep = if name == "Adjoint" { 0 } else { keep };
                        let f = TapeDynamics::new(BATCH, DIM, P, mlp).with_memory(keep);
                        row(&label, base, &f, n, reps, &theta, &z0, *gm);
                    }
                    Kind::Hand => {
                        let cfg = MlpConfig::new(&[DIM, HIDDEN, DIM], Activation::Tanh);
                        let mut layout = ParamLayout::new();
                        let net = cfg.build(&mut layout, "f").unwrap();
                        assert_eq!(layout.len(), P);
                        // The replay of Direct and Checkpointed evaluates a step's stages and
                        // then takes their products in reverse: with the four RK4 stages kept,
                        // no product repeats its forward pass.
                        let keep = if name == "Adjoint" { 0 } else { 4 };
                        let f = MlpDynamics::new(net, layout, BATCH)
                            .unwrap()
                            .with_memory(keep);
                        row(&label, base, &f, n, reps, &theta, &z0, *gm);
                    }
                }
            }
        }
    }
}
