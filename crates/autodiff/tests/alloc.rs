//! A counting global allocator proves that a warm tape evaluates and differentiates without
//! allocating (its own binary, since it installs the global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use autodiff::{Result, Tape, Var};
use nalgebra::DMatrix;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are being counted (only the measuring thread's: the
    /// test harness's other threads allocate now and then, which made the count flaky).
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTING.with(|c| c.get()) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// Parameters of f(z, t) = tanh(tanh([z, t] W1 + b1) W2 + b2) W3 + b3, 2 -> 64 -> 64 -> 2.
struct Params {
    w1: DMatrix<f64>,
    b1: DMatrix<f64>,
    w2: DMatrix<f64>,
    b2: DMatrix<f64>,
    w3: DMatrix<f64>,
    b3: DMatrix<f64>,
}

fn params() -> Params {
    let gen = |r: usize, c: usize, s: f64| {
        DMatrix::from_fn(r, c, |i, j| {
            0.3 * ((i * 31 + j * 17) as f64 * 0.13 + s).sin()
        })
    };
    Params {
        w1: gen(3, 64, 0.0),
        b1: gen(1, 64, 1.0),
        w2: gen(64, 64, 2.0),
        b2: gen(1, 64, 3.0),
        w3: gen(64, 2, 4.0),
        b3: gen(1, 2, 5.0),
    }
}

struct Handles {
    z: Var,
    t: Var,
    theta: [Var; 6],
    f: Var,
}

/// Records f(z, t, θ) on a cleared tape.
fn record(tape: &mut Tape<f64>, p: &Params, z: &DMatrix<f64>, t: f64) -> Result<Handles> {
    tape.clear();
    let zv = tape.leaf(z);
    let tv = tape.leaf_scalar(t);
    let theta = [&p.w1, &p.b1, &p.w2, &p.b2, &p.w3, &p.b3].map(|m| tape.leaf(m));
    let tcol = tape.constant_fill(z.nrows(), 1, 1.0);
    let tcol = tape.mul(tcol, tv)?;
    let x = tape.concat_cols(zv, tcol)?;
    let h = tape.matmul(x, theta[0])?;
    let h = tape.add(h, theta[1])?;
    let h = tape.tanh(h);
    let h = tape.matmul(h, theta[2])?;
    let h = tape.add(h, theta[3])?;
    let h = tape.tanh(h);
    let o = tape.matmul(h, theta[4])?;
    let f = tape.add(o, theta[5])?;
    Ok(Handles {
        z: zv,
        t: tv,
        theta,
        f,
    })
}

/// One adjoint-style evaluation: record, backward with cotangent `a`, read all gradients.
fn vjp_step(
    tape: &mut Tape<f64>,
    p: &Params,
    z: &DMatrix<f64>,
    a: &DMatrix<f64>,
    dz: &mut [f64],
    dtheta: &mut [f64],
    dt: &mut [f64],
) {
    let h = record(tape, p, z, 0.5).unwrap();
    tape.backward_with(h.f, a).unwrap();
    tape.grad_to_slice(h.z, dz).unwrap();
    tape.grad_to_slice(h.t, dt).unwrap();
    let mut off = 0;
    for v in h.theta {
        tape.grad_to_slice(v, &mut dtheta[off..off + v.len()])
            .unwrap();
        off += v.len();
    }
}

#[test]
fn warm_tape_does_not_allocate() {
    let p = params();
    let n_theta = 3 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2;
    let mut dtheta = vec![0.0; n_theta];
    let mut dt = [0.0];

    // Batch 1: the adjoint pattern. Zero allocations per evaluation once warm.
    let z = DMatrix::from_row_slice(1, 2, &[0.3, -0.7]);
    let a = DMatrix::from_row_slice(1, 2, &[1.0, 0.5]);
    let mut dz = vec![0.0; 2];
    let mut tape = Tape::<f64>::new();
    vjp_step(&mut tape, &p, &z, &a, &mut dz, &mut dtheta, &mut dt); // warm-up
    let n = allocations_during(|| {
        for _ in 0..100 {
            vjp_step(&mut tape, &p, &z, &a, &mut dz, &mut dtheta, &mut dt);
        }
    });
    assert_eq!(n, 0, "allocations in 100 warm evaluations at batch 1");
    assert!(dt[0].is_finite() && dz.iter().all(|g| g.is_finite()));

    // The same code with recording off (forward solve): no allocations either.
    tape.set_recording(false);
    record(&mut tape, &p, &z, 0.5).unwrap();
    let n = allocations_during(|| {
        for _ in 0..100 {
            record(&mut tape, &p, &z, 0.5).unwrap();
        }
    });
    assert_eq!(n, 0, "allocations in 100 warm forward evaluations");
    tape.set_recording(true);

    // Batch 128: three products have every dimension above 5 (forward h1·W2, backward h1ᵀ·G and
    // G·W2ᵀ) and go to faer, whose packing buffers live in a per-thread cache: once warm, the
    // whole evaluation allocates nothing here either.
    let zb = DMatrix::from_fn(128, 2, |i, j| ((i * 2 + j) as f64 * 0.1).sin());
    let ab = DMatrix::from_fn(128, 2, |i, j| ((i + 3 * j) as f64 * 0.2).cos());
    let mut dzb = vec![0.0; 256];
    vjp_step(&mut tape, &p, &zb, &ab, &mut dzb, &mut dtheta, &mut dt);
    let n = allocations_during(|| {
        for _ in 0..20 {
            vjp_step(&mut tape, &p, &zb, &ab, &mut dzb, &mut dtheta, &mut dt);
        }
    });
    assert_eq!(n, 0, "allocations in 20 warm evaluations at batch 128");
    assert!(dzb.iter().all(|g| g.is_finite()));

    // 784 -> 256 -> 10 at batch 128 (the benchmark's classifier shape), forward and backward.
    let x = DMatrix::from_fn(128, 784, |i, j| ((i * 7 + j) as f64 * 0.01).sin());
    let w1 = DMatrix::from_fn(784, 256, |i, j| 0.05 * ((i + 3 * j) as f64 * 0.02).cos());
    let w2 = DMatrix::from_fn(256, 10, |i, j| 0.1 * ((2 * i + j) as f64 * 0.03).sin());
    let mut g1 = vec![0.0; 784 * 256];
    let mut run = |tape: &mut Tape<f64>| -> Result<f64> {
        tape.clear();
        let xv = tape.constant(&x);
        let w1v = tape.leaf(&w1);
        let w2v = tape.leaf(&w2);
        let h = tape.matmul(xv, w1v)?;
        let h = tape.tanh(h);
        let o = tape.matmul(h, w2v)?;
        let l = tape.sum(o);
        tape.backward(l)?;
        tape.grad_to_slice(w1v, &mut g1)?;
        tape.scalar_value(l)
    };
    run(&mut tape).unwrap();
    let n = allocations_during(|| {
        for _ in 0..3 {
            run(&mut tape).unwrap();
        }
    });
    assert_eq!(
        n, 0,
        "allocations in 3 warm 784-256-10 evaluations at batch 128"
    );
}
