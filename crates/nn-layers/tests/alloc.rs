//! Warm dynamics evaluations, vector–Jacobian products and optimizer steps allocate nothing
//! (counted by a global allocator; one test function, so no other test thread allocates
//! meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use adjoint::Dynamics;
use nn_layers::optim::{Adam, Optimizer, RmsProp};
use nn_layers::{
    init_params, Activation, MlpConfig, MlpDynamics, NetDynamics, ParamLayout, TimeInput,
};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

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
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
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

fn allocations(mut f: impl FnMut()) -> usize {
    f();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..5 {
        f();
    }
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn warm_calls_do_not_allocate() {
    COUNTED.with(|c| c.set(true));
    // The counter sees this thread's allocations (else every comparison below is 0 == 0).
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    drop(std::hint::black_box(vec![0u8; 16]));
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst) - before, 1);
    for time in [TimeInput::None, TimeInput::ConcatSquash] {
        let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh)
            .with_input_activation(Activation::Cube)
            .with_time(time);
        let mut layout = ParamLayout::new();
        let mlp = cfg.build(&mut layout, "f").unwrap();
        let mut theta = vec![0.0f64; layout.len()];
        init_params(&layout, &mut theta, 0).unwrap();
        let n = theta.len();
        let tape = NetDynamics::new(mlp.clone(), layout.clone(), 1, 2).unwrap();
        let (z, a) = ([0.5, -1.0], [1.0, 0.3]);
        let (mut f, mut az, mut ath) = ([0.0; 2], [0.0; 2], vec![0.0; n]);
        assert_eq!(
            allocations(|| tape.eval(0.2, &z, &theta, &mut f)),
            0,
            "NetDynamics::eval"
        );
        assert_eq!(
            allocations(|| {
                tape.vjp(0.2, &z, &theta, &a, &mut f, &mut az, &mut ath);
            }),
            0,
            "NetDynamics::vjp"
        );
        if time == TimeInput::None {
            let hand = MlpDynamics::new(mlp, layout, 1).unwrap();
            assert_eq!(allocations(|| hand.eval(0.2, &z, &theta, &mut f)), 0);
            assert_eq!(
                allocations(|| {
                    hand.vjp(0.2, &z, &theta, &a, &mut f, &mut az, &mut ath);
                }),
                0
            );
        }
        if time == TimeInput::None {
            // Every dimension above 5: the products go to faer, whose packing buffers are a
            // per-thread cache (allocated by the first call, reused after).
            let (batch, d) = (16, 8);
            let cfg = MlpConfig::new(&[d, 24, d], Activation::Tanh);
            let mut layout = ParamLayout::new();
            let mlp = cfg.build(&mut layout, "g").unwrap();
            let mut th = vec![0.0f64; layout.len()];
            init_params(&layout, &mut th, 1).unwrap();
            let hand = MlpDynamics::new(mlp, layout, batch).unwrap();
            // A new state every call, so that no kept pass answers it.
            let mut z: Vec<f64> = (0..batch * d).map(|i| (i as f64 * 0.37).sin()).collect();
            let a = z.clone();
            let (mut f, mut az, mut ath) = (vec![0.0; batch * d], vec![0.0; batch * d], th.clone());
            assert_eq!(
                allocations(|| {
                    z[0] += 1e-3;
                    hand.eval(0.2, &z, &th, &mut f);
                }),
                0,
                "MlpDynamics::eval through the gemm"
            );
            assert_eq!(
                allocations(|| {
                    z[0] += 1e-3;
                    hand.vjp(0.2, &z, &th, &a, &mut f, &mut az, &mut ath);
                }),
                0,
                "MlpDynamics::vjp through the gemm"
            );
            assert_eq!(hand.pass_counts().reused, 0, "every call computed its pass");
        }
        let rms = RmsProp::new(1e-3);
        let mut s = rms.init_state(n);
        let g = ath.clone();
        assert_eq!(allocations(|| rms.step(&mut theta, &g, &mut s).unwrap()), 0);
        let adam = Adam::new(1e-3);
        let mut s = adam.init_state(n);
        assert_eq!(
            allocations(|| adam.step(&mut theta, &g, &mut s).unwrap()),
            0
        );
    }
}
