//! Stepping does not allocate: the number of heap allocations of a solve does not depend on
//! the number of steps it takes (a counting global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ode_solvers::{tableau, Dop853, Event, ExplicitRk, Integrator, Options, SaveAt, Stepper};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted; the test turns it on for its own thread.
    /// Only the measuring thread's count: the harness's main thread allocates now and then
    /// (when it first blocks waiting for the test thread, say), and on a loaded machine that
    /// landed inside a measurement (CI saw 1 allocation become 5).
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Counts one allocation if this thread is the counted one.
fn count_one() {
    if COUNTED.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn lorenz(_t: f64, y: &[f64], dy: &mut [f64]) {
    dy[0] = 10.0 * (y[1] - y[0]);
    dy[1] = y[0] * (28.0 - y[2]) - y[1];
    dy[2] = y[0] * y[1] - 8.0 / 3.0 * y[2];
}

/// Allocations of one warm solve over `[0, t1]` and its step count.
fn count<M: Stepper<f64>>(
    integ: &mut Integrator<f64, M>,
    t1: f64,
    opts: &Options,
    events: bool,
) -> (usize, usize) {
    let ev = [Event::new(|_t, y: &[f64]| y[0] - 100.0)];
    let evs: &[Event<'_, f64>] = if events { &ev } else { &[] };
    integ
        .solve_with_events(&lorenz, 0.0, t1, &[1.0, 0.0, 0.0], opts, evs)
        .unwrap();
    let before = ALLOCS.load(Ordering::SeqCst);
    let sol = integ
        .solve_with_events(&lorenz, 0.0, t1, &[1.0, 0.0, 0.0], opts, evs)
        .unwrap();
    let after = ALLOCS.load(Ordering::SeqCst);
    let steps = sol.stats.steps();
    drop(sol);
    (after - before, steps)
}

fn check<M: Stepper<f64>>(method: M, opts: Options, events: bool) {
    let mut integ = Integrator::new(method);
    let (short, s_steps) = count(&mut integ, 1.0, &opts, events);
    let (long, l_steps) = count(&mut integ, 20.0, &opts, events);
    assert!(l_steps > 5 * s_steps, "{l_steps} vs {s_steps}");
    assert_eq!(
        short, long,
        "allocations grew with steps: {short} for {s_steps} steps, {long} for {l_steps}"
    );
}

#[test]
fn solves_do_not_allocate_per_step() {
    COUNTED.with(|c| c.set(true));
    // The counter sees this thread's allocations (else every comparison below is 0 == 0).
    let before = ALLOCS.load(Ordering::SeqCst);
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(ALLOCS.load(Ordering::SeqCst) - before, 1);
    // One test for the whole file: the counter is global, and the harness allocates on its
    // own thread when a test ends, so a second test running alongside would be counted.
    let tight = Options::default().rtol(1e-8).atol(1e-8);
    check(ExplicitRk::new(&tableau::DOPRI5), tight.clone(), false);
    check(ExplicitRk::new(&tableau::TSIT5), tight.clone(), true);
    check(ExplicitRk::new(&tableau::BOSH3), tight.clone(), false);
    check(Dop853::new(), tight.clone(), true);
    check(
        ExplicitRk::new(&tableau::RK4),
        Options::default().fixed_step(1e-3),
        false,
    );
    // Output at fixed times: the output buffers are sized up front.
    let ts: Vec<f64> = (0..=10).map(|i| i as f64 * 0.1).collect();
    check(
        ExplicitRk::new(&tableau::DOPRI5),
        tight.save_at(SaveAt::Times(ts)),
        false,
    );
    warm_started_solves_do_not_allocate_per_step();
}

/// Allocations of a chain of warm-started solves through `k` equal intervals of `[0, t1]`
/// (one warm-up chain first), and the steps taken.
fn count_chain(t1: f64, k: usize, opts: &Options) -> (usize, usize) {
    let mut integ = Integrator::new(ExplicitRk::new(&tableau::DOPRI5));
    let run = |integ: &mut Integrator<f64, ExplicitRk<f64>>| {
        let mut y = [1.0, 0.0, 0.0];
        let mut steps = 0;
        for i in 0..k {
            let (a, b) = (t1 * i as f64 / k as f64, t1 * (i + 1) as f64 / k as f64);
            let sol = integ.solve(&lorenz, a, b, &y, opts).unwrap();
            y.copy_from_slice(&sol.y_final);
            steps += sol.stats.steps();
        }
        steps
    };
    run(&mut integ);
    let before = ALLOCS.load(Ordering::SeqCst);
    let steps = run(&mut integ);
    (ALLOCS.load(Ordering::SeqCst) - before, steps)
}

/// Warm-started chains of solves: allocations do not grow with the steps either.
fn warm_started_solves_do_not_allocate_per_step() {
    let opts = Options::default()
        .rtol(1e-8)
        .atol(1e-8)
        .warm_start(ode_solvers::WarmStart::Continue);
    let (short, s_steps) = count_chain(1.0, 10, &opts);
    let (long, l_steps) = count_chain(20.0, 10, &opts);
    assert!(l_steps > 5 * s_steps, "{l_steps} vs {s_steps}");
    assert_eq!(
        short, long,
        "allocations grew with steps: {short} for {s_steps} steps, {long} for {l_steps}"
    );
}
