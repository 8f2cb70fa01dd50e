//! The same model in f32 and f64: f32 results agree with f64 to single precision.

use autodiff::{Scalar, Tape};
use nalgebra::DMatrix;

/// Loss and gradients of a small MLP with a softmax cross-entropy head, generic over precision.
fn run<T: Scalar>() -> (f64, Vec<f64>) {
    let cast = |m: DMatrix<f64>| m.map(T::cast);
    let gen = |r: usize, c: usize, s: f64| {
        DMatrix::from_fn(r, c, |i, j| 0.9 * ((i * 7 + j * 3) as f64 * 0.53 + s).sin())
    };
    let mut tape = Tape::<T>::new();
    let x = tape.constant(&cast(gen(4, 3, 0.0)));
    let w1 = tape.leaf(&cast(gen(3, 5, 1.0)));
    let b1 = tape.leaf(&cast(gen(1, 5, 2.0)));
    let w2 = tape.leaf(&cast(gen(5, 3, 3.0)));
    let h = tape.matmul(x, w1).unwrap();
    let h = tape.add(h, b1).unwrap();
    let h = tape.elu(h, T::one());
    let h = tape.sigmoid(h);
    let o = tape.matmul(h, w2).unwrap();
    let labels = tape.one_hot(&[0, 2, 1, 2], 3).unwrap();
    let loss = tape.softmax_cross_entropy(o, labels).unwrap();
    tape.backward(loss).unwrap();
    let mut grads = Vec::new();
    for v in [w1, b1, w2] {
        grads.extend(tape.grad(v).unwrap().iter().map(|g| g.as_f64()));
    }
    (tape.scalar_value(loss).unwrap().as_f64(), grads)
}

#[test]
fn f32_agrees_with_f64() {
    let (l64, g64) = run::<f64>();
    let (l32, g32) = run::<f32>();
    assert!((l64 - l32).abs() < 1e-5 * l64.abs().max(1.0));
    let scale = g64.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    for (a, b) in g64.iter().zip(&g32) {
        assert!((a - b).abs() < 1e-5 * scale, "{a} vs {b}");
    }
}
