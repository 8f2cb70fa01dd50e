//! The scalar type the tape computes with.

use std::fmt::{Debug, Display};

/// A real floating-point scalar the tape can differentiate over: `f32` or `f64`.
///
/// The trait extends [`nalgebra::RealField`] (all elementary functions, ordering, constants) with
/// lossy conversions to and from `f64`, so tests and constants can be written once for both
/// precisions.
///
/// # Example
/// ```
/// use autodiff::Scalar;
/// fn half<T: Scalar>() -> T {
///     T::cast(0.5)
/// }
/// assert_eq!(half::<f32>(), 0.5f32);
/// assert_eq!(half::<f64>().as_f64(), 0.5);
/// ```
pub trait Scalar:
    nalgebra::RealField + Copy + Debug + Display + Default + Send + Sync + 'static
{
    /// Converts an `f64` to this type, rounding to the nearest representable value.
    fn cast(x: f64) -> Self;
    /// Converts this value to `f64` (exact for both `f32` and `f64`).
    fn as_f64(self) -> f64;

    /// Column-major `c (m × n) = op(a) · op(b) + beta · c`, where `op(a)` is `aᵀ` when `ta`
    /// (likewise `b`), the inner dimension is `k`, and `c` is not read when `beta` is zero.
    ///
    /// The implementations for `f32` and `f64` call faer's matrix product on one thread, which
    /// keeps its packing buffers in a per-thread cache: once warm, a call allocates nothing.
    /// For matrices use [`crate::gemm`], which also takes a direct loop when a dimension is
    /// 5 or less; this is the entry for callers with their own column-major buffers (the
    /// hand-written MLP kernels of `nn-layers`).
    #[allow(clippy::too_many_arguments)]
    fn gemm_slices(
        c: &mut [Self],
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        ta: bool,
        b: &[Self],
        tb: bool,
        beta: Self,
    );
}

/// `c = op(a) op(b) + beta c` through faer, for a scalar type faer multiplies natively.
#[allow(clippy::too_many_arguments)]
fn faer_gemm<T: faer::traits::RealField + Copy + PartialEq + std::ops::MulAssign>(
    c: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    beta: T,
    zero: T,
    one: T,
) {
    use faer::{Accum, MatMut, MatRef, Par};
    if m == 0 || n == 0 {
        return;
    }
    let accum = if beta == zero {
        Accum::Replace
    } else {
        if beta != one {
            c.iter_mut().for_each(|x| *x *= beta);
        }
        Accum::Add
    };
    if k == 0 {
        if beta == zero {
            c.fill(zero);
        }
        return;
    }
    let av = if ta {
        MatRef::from_column_major_slice(a, k, m).transpose()
    } else {
        MatRef::from_column_major_slice(a, m, k)
    };
    let bv = if tb {
        MatRef::from_column_major_slice(b, n, k).transpose()
    } else {
        MatRef::from_column_major_slice(b, k, n)
    };
    let cv = MatMut::from_column_major_slice_mut(c, m, n);
    faer::linalg::matmul::matmul(cv, accum, av, bv, one, Par::Seq);
}

/// `Scalar` for a primitive float: `$from` converts an `f64`, `$to` converts back.
macro_rules! impl_scalar {
    ($t:ty, $from:expr, $to:expr) => {
        impl Scalar for $t {
            #[inline]
            fn gemm_slices(
                c: &mut [Self],
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                ta: bool,
                b: &[Self],
                tb: bool,
                beta: Self,
            ) {
                faer_gemm(c, m, n, k, a, ta, b, tb, beta, 0.0, 1.0);
            }
            #[inline]
            fn cast(x: f64) -> Self {
                $from(x)
            }
            #[inline]
            fn as_f64(self) -> f64 {
                $to(self)
            }
        }
    };
}

impl_scalar!(f32, |x: f64| x as f32, f64::from);
impl_scalar!(f64, |x: f64| x, |x: f64| x);
