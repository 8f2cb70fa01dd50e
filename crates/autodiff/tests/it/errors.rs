//! Bad input is a typed error naming the operation and the shapes.

use autodiff::{AutodiffError, Tape};
use nalgebra::DMatrix;

fn tape_with(
    r1: usize,
    c1: usize,
    r2: usize,
    c2: usize,
) -> (Tape<f64>, autodiff::Var, autodiff::Var) {
    let mut t = Tape::new();
    let a = t.leaf(&DMatrix::zeros(r1, c1));
    let b = t.leaf(&DMatrix::zeros(r2, c2));
    (t, a, b)
}

#[test]
fn shape_mismatches_are_errors_with_op_and_shapes() {
    let (mut t, a, b) = tape_with(2, 3, 4, 5);
    let e = t.add(a, b).unwrap_err();
    assert_eq!(
        e,
        AutodiffError::ShapeMismatch {
            op: "add",
            lhs: (2, 3),
            rhs: (4, 5)
        }
    );
    assert_eq!(
        e.to_string(),
        "add: shape mismatch between (2, 3) and (4, 5)"
    );
    assert!(matches!(
        t.mul(a, b),
        Err(AutodiffError::ShapeMismatch { op: "mul", .. })
    ));
    assert!(matches!(
        t.matmul(a, b),
        Err(AutodiffError::ShapeMismatch {
            op: "matmul",
            lhs: (2, 3),
            rhs: (4, 5)
        })
    ));
    assert!(t.matmul_tn(a, b).is_err());
    assert!(matches!(
        t.affine(a, b, a),
        Err(AutodiffError::ShapeMismatch {
            op: "affine",
            lhs: (2, 3),
            rhs: (4, 5)
        })
    ));
    let w = t.leaf(&DMatrix::zeros(3, 4));
    for bias in [(1, 3), (3, 4), (2, 5)] {
        let bv = t.leaf(&DMatrix::zeros(bias.0, bias.1));
        assert_eq!(
            t.affine(a, w, bv).unwrap_err(),
            AutodiffError::ShapeMismatch {
                op: "affine bias",
                lhs: (2, 4),
                rhs: bias
            }
        );
    }
    assert!(matches!(
        t.concat_rows(a, b),
        Err(AutodiffError::ShapeMismatch {
            op: "concat_rows",
            ..
        })
    ));
    assert!(matches!(
        t.concat_cols(a, b),
        Err(AutodiffError::ShapeMismatch {
            op: "concat_cols",
            ..
        })
    ));
    assert!(matches!(
        t.softmax_cross_entropy(a, b),
        Err(AutodiffError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        t.reshape(a, 4, 2),
        Err(AutodiffError::ShapeMismatch {
            op: "reshape",
            rhs: (4, 2),
            ..
        })
    ));
    assert!(matches!(
        t.flat_slice(a, 1, a.len(), 1),
        Err(AutodiffError::InvalidShape {
            op: "flat_slice",
            ..
        })
    ));
    assert!(matches!(
        t.flat_slice(a, usize::MAX, 2, 1),
        Err(AutodiffError::InvalidShape { .. })
    ));
    assert!(matches!(
        t.slice(a, 1, 0, 2, 1),
        Err(AutodiffError::InvalidShape { op: "slice", .. })
    ));
    assert!(t.slice_cols(a, 3, 1).is_err());
    assert!(t.one_hot(&[0, 3], 3).is_err());
    // Broadcasting that should work: (2,3) with (1,3), (2,1), (1,1).
    for s in [(1, 3), (2, 1), (1, 1)] {
        let b = t.leaf(&DMatrix::zeros(s.0, s.1));
        assert_eq!(t.add(a, b).unwrap().shape(), (2, 3));
        assert_eq!(t.sub(b, a).unwrap().shape(), (2, 3));
    }
    // Row against column broadcasts to the outer shape.
    let (mut t, r, c) = tape_with(1, 4, 3, 1);
    assert_eq!(t.mul(r, c).unwrap().shape(), (3, 4));
}

#[test]
fn backward_errors() {
    let (mut t, a, _) = tape_with(2, 2, 1, 1);
    assert_eq!(
        t.backward(a),
        Err(AutodiffError::NotScalar { shape: (2, 2) })
    );
    assert!(matches!(
        t.backward_with(a, &DMatrix::zeros(1, 2)),
        Err(AutodiffError::ShapeMismatch {
            op: "backward_with",
            ..
        })
    ));
    assert!(matches!(
        t.backward_with_slice(a, &[1.0]),
        Err(AutodiffError::LengthMismatch {
            expected: 4,
            got: 1,
            ..
        })
    ));
    assert!(t.leaf_from_slice(2, 2, &[1.0; 3]).is_err());
    assert!(t.constant_from_slice(1, 2, &[1.0; 3]).is_err());
    let mut buf = [0.0; 3];
    assert!(t.grad_to_slice(a, &mut buf).is_err());
    assert!(t.scalar_value(a).is_err());
}
