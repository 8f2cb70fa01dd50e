//! A counting global allocator proves that a warm tape evaluates and differentiates without
//! allocating (its own binary, since it installs the global allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use autodiff::{Result, Tape, Var};
use nalgebra::{DMatrix, DMatrixView, Dyn};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
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
    // G·W2ᵀ) and go to matrixmultiply, which allocates a packing buffer per call. The tape adds
    // nothing to that: the count equals that of the same three products done directly.
    let zb = DMatrix::from_fn(128, 2, |i, j| ((i * 2 + j) as f64 * 0.1).sin());
    let ab = DMatrix::from_fn(128, 2, |i, j| ((i + 3 * j) as f64 * 0.2).cos());
    let mut dzb = vec![0.0; 256];
    vjp_step(&mut tape, &p, &zb, &ab, &mut dzb, &mut dtheta, &mut dt);
    let per_eval =
        allocations_during(|| vjp_step(&mut tape, &p, &zb, &ab, &mut dzb, &mut dtheta, &mut dt));
    let h1 = DMatrix::from_element(128, 64, 0.5);
    let g = DMatrix::from_element(128, 64, 0.25);
    let (mut c1, mut c2, mut c3) = (
        DMatrix::zeros(128, 64),
        DMatrix::zeros(64, 64),
        DMatrix::zeros(128, 64),
    );
    let direct = allocations_during(|| {
        c1.gemm(1.0, &h1, &p.w2, 0.0);
        // h1ᵀ as a strided view, as the tape passes it (nalgebra's gemm_tr would not use
        // matrixmultiply).
        let h1t = DMatrixView::from_slice_with_strides_generic(
            h1.as_slice(),
            Dyn(64),
            Dyn(128),
            Dyn(128),
            Dyn(1),
        );
        c2.gemm(1.0, &h1t, &g, 0.0);
        c3.gemm(1.0, &g, &p.w2, 0.0);
    });
    assert!(
        direct <= 3,
        "a gemm call allocates at most one packing buffer"
    );
    assert_eq!(
        per_eval, direct,
        "allocations in one warm evaluation at batch 128"
    );
}
