//! `im2col`: convolution through it against a direct loop convolution, and its gradient against
//! central finite differences, over random geometries.

use autodiff::{AutodiffError, Patches, Tape, Var};
use nalgebra::DMatrix;
use proptest::prelude::*;

use crate::common::{check_gradients, config};

/// Direct convolution: x `B x (C·H·W)`, weight `(C·kh·kw) x Co` (PyTorch layout), output
/// `B x (Co·Ho·Wo)`.
fn conv_ref(x: &DMatrix<f64>, w: &DMatrix<f64>, p: Patches, co: usize) -> DMatrix<f64> {
    let (ho, wo) = p.out_hw().unwrap();
    let (kh, kw) = p.kernel;
    let mut y = DMatrix::zeros(x.nrows(), co * ho * wo);
    for i in 0..x.nrows() {
        for o in 0..co {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = 0.0;
                    for c in 0..p.channels {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * p.stride.0 + ky) as isize - p.padding.0 as isize;
                                let ix = (ox * p.stride.1 + kx) as isize - p.padding.1 as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= p.height as isize
                                    || ix >= p.width as isize
                                {
                                    continue;
                                }
                                let xv = x[(
                                    i,
                                    c * p.height * p.width + iy as usize * p.width + ix as usize,
                                )];
                                acc += xv * w[((c * kh + ky) * kw + kx, o)];
                            }
                        }
                    }
                    y[(i, o * ho * wo + oy * wo + ox)] = acc;
                }
            }
        }
    }
    y
}

fn geometry() -> impl Strategy<Value = (usize, Patches, usize)> {
    (
        1usize..3,
        1usize..3,
        1usize..6,
        1usize..6,
        1usize..4,
        1usize..4,
        1usize..3,
        1usize..3,
        0usize..2,
        0usize..2,
        1usize..3,
    )
        .prop_filter_map("kernel fits", |(b, c, h, w, kh, kw, sh, sw, ph, pw, co)| {
            let p = Patches {
                channels: c,
                height: h,
                width: w,
                kernel: (kh, kw),
                stride: (sh, sw),
                padding: (ph, pw),
            };
            p.out_hw().map(|_| (b, p, co))
        })
}

fn conv(t: &mut Tape<f64>, x: Var, w: Var, p: Patches) -> autodiff::Result<Var> {
    let (ho, wo) = p.out_hw().unwrap();
    let cols = t.im2col(x, p)?;
    let y = t.matmul(cols, w)?;
    t.reshape(y, x.rows(), w.cols() * ho * wo)
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn im2col_convolution_matches_direct_loops((b, p, co) in geometry(), seed in 0u64..1000) {
        let s = seed as f64;
        let x = DMatrix::from_fn(b, p.channels * p.height * p.width, |i, j| ((i * 7 + j * 3) as f64 * 0.31 + s).sin());
        let w = DMatrix::from_fn(p.patch_len(), co, |i, j| ((i * 5 + j * 11) as f64 * 0.23 + s).cos());
        let mut t = Tape::new();
        let xv = t.constant(&x);
        let wv = t.constant(&w);
        let y = conv(&mut t, xv, wv, p).unwrap();
        let want = conv_ref(&x, &w, p, co);
        prop_assert!((t.value(y) - &want).norm() < 1e-12 * want.norm().max(1.0));
    }

    #[test]
    fn im2col_gradients_match_fd((b, p, co) in geometry(), seed in 0u64..1000) {
        let s = seed as f64;
        let inputs = [
            DMatrix::from_fn(b, p.channels * p.height * p.width, |i, j| ((i * 7 + j * 3) as f64 * 0.31 + s).sin()),
            DMatrix::from_fn(p.patch_len(), co, |i, j| ((i * 5 + j * 11) as f64 * 0.23 + s).cos()),
        ];
        let f = move |t: &mut Tape<f64>, v: &[Var]| {
            let y = conv(t, v[0], v[1], p)?;
            Ok(t.tanh(y))
        };
        check_gradients(&f, &inputs, 1e-6).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn im2col_rejects_bad_geometry() {
    let mut t = Tape::<f64>::new();
    let x = t.constant(&DMatrix::zeros(2, 12));
    let p = Patches {
        channels: 1,
        height: 3,
        width: 4,
        kernel: (5, 1),
        stride: (1, 1),
        padding: (0, 0),
    };
    assert!(matches!(
        t.im2col(x, p),
        Err(AutodiffError::InvalidShape { .. })
    ));
    let p = Patches {
        channels: 2,
        height: 3,
        width: 4,
        kernel: (1, 1),
        stride: (1, 1),
        padding: (0, 0),
    };
    assert!(matches!(
        t.im2col(x, p),
        Err(AutodiffError::InvalidShape { .. })
    ));
    let p = Patches {
        channels: 1,
        height: 3,
        width: 4,
        kernel: (1, 1),
        stride: (0, 1),
        padding: (0, 0),
    };
    assert!(t.im2col(x, p).is_err());
}
