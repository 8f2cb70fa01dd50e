//! Matrix products (through faer's gemm, transposes expressed as strides so nothing is copied)
//! and the transpose.

use nalgebra::DMatrix;

use super::Op;
use crate::error::{AutodiffError, Result};
use crate::tape::{BackCtx, Tape, Var};
use crate::Scalar;

/// `dst = op(a) · op(b) + beta · dst`, where `op(a)` is `aᵀ` when `ta` (likewise `b`); with
/// `beta = 0`, `dst` is not read. Transposes are strides, never copies.
///
/// Products with every dimension above 5 go to faer's matrix product ([`Scalar::gemm_slices`]),
/// which keeps its packing buffers in a per-thread cache, so a warm call allocates nothing.
/// Smaller products (batch 1, a 2-wide state) use a direct loop, which is faster at those sizes
/// than any packing scheme. The tape's products and their gradients all come through here; it is
/// public so that hand-written code can multiply exactly as the tape does.
///
/// # Panics
/// If the shapes do not agree: `dst` must be `m × n`, `op(a)` `m × k` and `op(b)` `k × n`.
///
/// # Example
/// ```
/// use nalgebra::DMatrix;
/// let a = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
/// let b = DMatrix::from_row_slice(2, 1, &[1.0, -1.0]);
/// let mut c = DMatrix::from_element(3, 1, 10.0);
/// autodiff::gemm(&mut c, &a, true, &b, false, 1.0); // c = aᵀ b + c
/// assert_eq!(c.as_slice(), &[7.0, 7.0, 7.0]);
/// ```
#[inline]
pub fn gemm<T: Scalar>(
    dst: &mut DMatrix<T>,
    a: &DMatrix<T>,
    ta: bool,
    b: &DMatrix<T>,
    tb: bool,
    beta: T,
) {
    let (m, n) = dst.shape();
    let (am, k) = if ta {
        (a.ncols(), a.nrows())
    } else {
        (a.nrows(), a.ncols())
    };
    let (bk, bn) = if tb {
        (b.ncols(), b.nrows())
    } else {
        (b.nrows(), b.ncols())
    };
    assert!(
        am == m && bk == k && bn == n,
        "gemm: op(a) is {am}x{k}, op(b) is {bk}x{bn}, dst is {m}x{n}"
    );
    let kernel = if m > 5 && n > 5 && k > 5 {
        T::gemm_slices
    } else {
        small_gemm::<T>
    };
    kernel(
        dst.as_mut_slice(),
        m,
        n,
        k,
        a.as_slice(),
        ta,
        b.as_slice(),
        tb,
        beta,
    );
}

/// Sum of products of two contiguous slices, with four partial sums so that it vectorizes.
#[inline]
fn dot<T: Scalar>(x: &[T], y: &[T]) -> T {
    let mut acc = [T::zero(); 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += xs[l] * ys[l];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (&p, &q) in xr.iter().zip(yr) {
        s += p * q;
    }
    s
}

/// Column-major `c (m x n) = op(a) op(b) + beta c`, inner dimension `k`.
#[allow(clippy::too_many_arguments)]
fn small_gemm<T: Scalar>(
    c: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    ta: bool,
    b: &[T],
    tb: bool,
    beta: T,
) {
    // op(a)(i, p) = a[i * ars + p * acs]; op(b)(p, j) = b[p * brs + j * bcs].
    let (ars, acs) = if ta { (k, 1) } else { (1, m) };
    let (brs, bcs) = if tb { (n, 1) } else { (1, k) };
    if m == 0 || n == 0 {
        return;
    }
    if m == 1 && bcs == 1 && n > 1 {
        // One output row and rows of op(b) contiguous (a row vector times a transposed matrix,
        // as in the input gradient g·Wᵀ at batch 1): c[0, :] += op(a)(0, p) · op(b)(p, :), so the
        // inner loop runs over contiguous memory instead of striding by n.
        if beta == T::zero() {
            c.fill(T::zero());
        } else if beta != T::one() {
            c.iter_mut().for_each(|x| *x *= beta);
        }
        for p in 0..k {
            let av = a[p * acs];
            let brow = &b[p * brs..p * brs + n];
            for (x, &bv) in c.iter_mut().zip(brow) {
                *x += av * bv;
            }
        }
        return;
    }
    for (j, cc) in c.chunks_exact_mut(m).enumerate() {
        if beta == T::zero() {
            cc.fill(T::zero());
        } else if beta != T::one() {
            cc.iter_mut().for_each(|x| *x *= beta);
        }
        if ars == 1 && m > 1 {
            // Columns of op(a) are contiguous: c[:, j] += op(b)(p, j) * a[:, p].
            for p in 0..k {
                let bv = b[p * brs + j * bcs];
                let acol = &a[p * acs..p * acs + m];
                for (x, &av) in cc.iter_mut().zip(acol) {
                    *x += bv * av;
                }
            }
        } else if brs == 1 && (acs == 1 || m == 1) {
            // Rows of op(a) and columns of op(b) contiguous: dot products.
            let bcol = &b[j * bcs..j * bcs + k];
            for (i, x) in cc.iter_mut().enumerate() {
                *x += dot(&a[i * ars..i * ars + k], bcol);
            }
        } else {
            for (i, x) in cc.iter_mut().enumerate() {
                let mut s = T::zero();
                for p in 0..k {
                    s += a[i * ars + p * acs] * b[p * brs + j * bcs];
                }
                *x += s;
            }
        }
    }
}

impl<T: Scalar> Tape<T> {
    /// Matrix product `a · b`.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if `a.cols() != b.rows()`.
    ///
    /// # Example
    /// ```
    /// use autodiff::Tape;
    /// use nalgebra::DMatrix;
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.constant(&DMatrix::from_row_slice(1, 2, &[1.0, 2.0]));
    /// let w = tape.leaf(&DMatrix::from_row_slice(2, 1, &[3.0, 4.0]));
    /// let y = tape.matmul(x, w)?; // 1x1: 1*3 + 2*4
    /// assert_eq!(tape.scalar_value(y)?, 11.0);
    /// tape.backward(y)?;
    /// assert_eq!(tape.grad(w).unwrap().as_slice(), &[1.0, 2.0]); // xᵀ
    /// # Ok::<(), autodiff::AutodiffError>(())
    /// ```
    pub fn matmul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.matmul_t(a, false, b, false)
    }

    /// Matrix product `aᵀ · b`, without forming the transpose.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if `a.rows() != b.rows()`.
    pub fn matmul_tn(&mut self, a: Var, b: Var) -> Result<Var> {
        self.matmul_t(a, true, b, false)
    }

    /// Matrix product `a · bᵀ`, without forming the transpose.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if `a.cols() != b.cols()`.
    pub fn matmul_nt(&mut self, a: Var, b: Var) -> Result<Var> {
        self.matmul_t(a, false, b, true)
    }

    /// Matrix product `op(a) · op(b)`, where `op(m)` is `mᵀ` when the flag is set. Transposes are
    /// strided views passed to gemm, never copies.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if the inner dimensions differ (the error carries the
    /// shapes of `a` and `b` as given, before transposition).
    pub fn matmul_t(&mut self, a: Var, ta: bool, b: Var, tb: bool) -> Result<Var> {
        self.check(a);
        self.check(b);
        let (m, ka) = if ta {
            (a.cols, a.rows)
        } else {
            (a.rows, a.cols)
        };
        let (kb, n) = if tb {
            (b.cols, b.rows)
        } else {
            (b.rows, b.cols)
        };
        if ka != kb {
            let op = match (ta, tb) {
                (false, false) => "matmul",
                (true, false) => "matmul (aᵀ·b)",
                (false, true) => "matmul (a·bᵀ)",
                (true, true) => "matmul (aᵀ·bᵀ)",
            };
            return Err(AutodiffError::ShapeMismatch {
                op,
                lhs: a.shape(),
                rhs: b.shape(),
            });
        }
        let (ia, ib) = (a.idx, b.idx);
        Ok(self.push(
            Op::MatMul {
                a: ia,
                b: ib,
                ta,
                tb,
            },
            &[a, b],
            m,
            n,
            |out, v, _| gemm(out, &v[ia], ta, &v[ib], tb, T::zero()),
        ))
    }

    /// The affine map `x · w + b` as one node: `b` is a `1 × n` row added to every row (a
    /// bias) or a full `m × n` matrix. The output starts as `b` (broadcast) and the product
    /// accumulates into it, so there is no separate pass for the addition and no intermediate
    /// `x · w` value on the tape; the backward pass gives `x̄ = ḡ wᵀ`, `w̄ = xᵀ ḡ` and
    /// `b̄ = ḡ` summed over rows (or `ḡ` itself).
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] (op `affine`) if `x.cols() != w.rows()`, or (op
    /// `affine bias`) if `b` is neither `1 × n` nor `m × n`.
    ///
    /// # Example
    /// ```
    /// use autodiff::Tape;
    /// use nalgebra::DMatrix;
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.constant(&DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]));
    /// let w = tape.leaf(&DMatrix::from_row_slice(2, 1, &[1.0, -1.0]));
    /// let b = tape.leaf(&DMatrix::from_row_slice(1, 1, &[0.5]));
    /// let y = tape.affine(x, w, b)?; // [1 - 2 + 0.5, 3 - 4 + 0.5]
    /// assert_eq!(tape.value(y).as_slice(), &[-0.5, -0.5]);
    /// let l = tape.sum(y);
    /// tape.backward(l)?;
    /// assert_eq!(tape.grad(w).unwrap().as_slice(), &[4.0, 6.0]); // xᵀ·1
    /// assert_eq!(tape.grad(b).unwrap().as_slice(), &[2.0]); // one per row
    /// # Ok::<(), autodiff::AutodiffError>(())
    /// ```
    pub fn affine(&mut self, x: Var, w: Var, b: Var) -> Result<Var> {
        self.check(x);
        self.check(w);
        self.check(b);
        if x.cols != w.rows {
            return Err(AutodiffError::ShapeMismatch {
                op: "affine",
                lhs: x.shape(),
                rhs: w.shape(),
            });
        }
        let (m, n) = (x.rows, w.cols);
        if b.cols != n || (b.rows != 1 && b.rows != m) {
            return Err(AutodiffError::ShapeMismatch {
                op: "affine bias",
                lhs: (m, n),
                rhs: b.shape(),
            });
        }
        let (ix, iw, ib) = (x.idx, w.idx, b.idx);
        Ok(self.push(
            Op::Affine {
                x: ix,
                w: iw,
                b: ib,
            },
            &[x, w, b],
            m,
            n,
            |out, v, _| {
                let bv = &v[ib];
                if bv.nrows() == m {
                    out.copy_from(bv);
                } else {
                    for (col, &bj) in out
                        .as_mut_slice()
                        .chunks_exact_mut(m.max(1))
                        .zip(bv.as_slice())
                    {
                        col.fill(bj);
                    }
                }
                gemm(out, &v[ix], false, &v[iw], false, T::one());
            },
        ))
    }

    /// The transpose `aᵀ` (a copy).
    pub fn transpose(&mut self, a: Var) -> Var {
        self.check(a);
        let ia = a.idx;
        self.push(
            Op::Transpose { a: ia },
            &[a],
            a.cols,
            a.rows,
            |out, v, _| v[ia].transpose_to(out),
        )
    }
}

pub(crate) fn matmul_backward<T: Scalar>(
    a: usize,
    b: usize,
    ta: bool,
    tb: bool,
    ctx: &mut BackCtx<'_, T>,
) {
    let vals = ctx.vals;
    let (va, vb) = (&vals[a], &vals[b]);
    // C = op(A) op(B), G = dL/dC.
    if ctx.wants(a) {
        let (g, dst, assign) = ctx.target(a);
        let beta = if assign { T::zero() } else { T::one() };
        if ta {
            // dA = (G op(B)ᵀ)ᵀ = op(B) Gᵀ.
            gemm(dst, vb, tb, g, true, beta);
        } else {
            // dA = G op(B)ᵀ.
            gemm(dst, g, false, vb, !tb, beta);
        }
    }
    if ctx.wants(b) {
        let (g, dst, assign) = ctx.target(b);
        let beta = if assign { T::zero() } else { T::one() };
        if tb {
            // dB = (op(A)ᵀ G)ᵀ = Gᵀ op(A).
            gemm(dst, g, true, va, ta, beta);
        } else {
            // dB = op(A)ᵀ G.
            gemm(dst, va, !ta, g, false, beta);
        }
    }
}

pub(crate) fn affine_backward<T: Scalar>(x: usize, w: usize, b: usize, ctx: &mut BackCtx<'_, T>) {
    matmul_backward(x, w, false, false, ctx);
    if !ctx.wants(b) {
        return;
    }
    let (g, dst, assign) = ctx.target(b);
    let m = g.nrows();
    if dst.nrows() == m {
        if assign {
            dst.copy_from(g);
        } else {
            *dst += g;
        }
        return;
    }
    // A bias row: sum each column of ḡ.
    for (d, col) in dst
        .as_mut_slice()
        .iter_mut()
        .zip(g.as_slice().chunks_exact(m.max(1)))
    {
        let s = col.iter().fold(T::zero(), |acc, &v| acc + v);
        if assign {
            *d = s;
        } else {
            *d += s;
        }
    }
}

pub(crate) fn transpose_backward<T: Scalar>(a: usize, ctx: &mut BackCtx<'_, T>) {
    if !ctx.wants(a) {
        return;
    }
    let (g, dst, assign) = ctx.target(a);
    let (r, c) = dst.shape();
    let gs = g.as_slice();
    let d = dst.as_mut_slice();
    // dst (r x c) gets gᵀ, where g is c x r.
    for j in 0..c {
        for i in 0..r {
            let v = gs[j + i * c];
            if assign {
                d[i + j * r] = v;
            } else {
                d[i + j * r] += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_nalgebra_for_every_transpose_and_size() {
        for (m, k, n) in [
            (1, 1, 1),
            (1, 7, 3),
            (1, 64, 9),
            (1, 1, 9),
            (3, 2, 1),
            (6, 6, 6),
            (7, 9, 8),
            (2, 8, 9),
            (6, 0, 7),
            (33, 17, 70),
            (128, 40, 9),
        ] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = DMatrix::<f64>::from_fn(
                        if ta { k } else { m },
                        if ta { m } else { k },
                        |i, j| (i * 3 + j) as f64 - 2.5,
                    );
                    let b = DMatrix::<f64>::from_fn(
                        if tb { n } else { k },
                        if tb { k } else { n },
                        |i, j| (i + 2 * j) as f64 * 0.5 - 1.0,
                    );
                    let oa = if ta { a.transpose() } else { a.clone() };
                    let ob = if tb { b.transpose() } else { b.clone() };
                    let mut c = DMatrix::from_element(m, n, 1.0);
                    gemm(&mut c, &a, ta, &b, tb, 2.0);
                    let expected = oa * ob + DMatrix::from_element(m, n, 2.0);
                    assert!(
                        (c - &expected).amax() < 1e-9,
                        "m {m} k {k} n {n} ta {ta} tb {tb}"
                    );
                    // beta = 0 must not read the destination, even when it holds NaN.
                    let mut c = DMatrix::from_element(m, n, f64::NAN);
                    gemm(&mut c, &a, ta, &b, tb, 0.0);
                    let expected = expected - DMatrix::from_element(m, n, 2.0);
                    assert!(
                        (c - &expected).amax() < 1e-9,
                        "beta 0: m {m} k {k} n {n} ta {ta} tb {tb}"
                    );
                    let (a32, b32) = (a.map(|x| x as f32), b.map(|x| x as f32));
                    let mut c32 = DMatrix::from_element(m, n, 0.5f32);
                    gemm(&mut c32, &a32, ta, &b32, tb, 1.0);
                    let e32 = expected.map(|x| x as f32 + 0.5);
                    assert!(
                        (c32 - &e32).amax() <= 1e-3 * (1.0 + e32.amax()),
                        "f32: m {m} k {k} n {n} ta {ta} tb {tb}"
                    );
                }
            }
        }
    }

    #[test]
    fn dot_handles_remainders() {
        for len in 0..11 {
            let x: Vec<f64> = (0..len).map(|i| i as f64).collect();
            let expected: f64 = x.iter().map(|v| v * v).sum();
            assert_eq!(dot(&x, &x), expected);
        }
    }
}
