//! Small dense kernels of the hand-written MLP pass ([`crate::MlpDynamics`]) on column-major
//! batches (`x[i + k·b]` is feature `k` of sample `i`).
//!
//! At neural-ODE sizes (a batch of 20 through a 2 → 50 → 2 network) per-call overheads and
//! passes over memory cost more than the flops, so every kernel makes one pass over its output
//! and keeps a block of rows in registers while it runs over the terms. All are
//! `#[inline(always)]`: each entry point that uses them (the plain one, and those compiled for
//! AVX2 + FMA and for AVX-512, chosen by `autodiff::math::simd_level`) gets its own vectorised
//! copy.
//!
//! The products add their terms in the order of the straightforward loops (bias first, then
//! inputs in order), so results do not depend on the block sizes; only the dot products of the
//! parameter gradients are summed in four interleaved lanes. With `FMA` every product-and-add
//! is one fused operation (one rounding instead of two): that copy runs only where the
//! processor has fused multiply–add, and its results differ from the other's in the last bits.

/// `a·b + c`, fused when `FMA`.
#[inline(always)]
pub(crate) fn madd<T: Scalar, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA {
        a.mul_add(b, c)
    } else {
        c + a * b
    }
}

use autodiff::Scalar;

use crate::activation::Activation;

/// `out[i0 + r] = init + Σ_q coef[q · stride] · cols[q · b + i0 + r]` for `r < R`: `R` rows
/// in registers while the terms run (`R` is a compile-time constant, so the row loop unrolls
/// into whole vector registers).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<T: Scalar, const R: usize, const FMA: bool>(
    init: T,
    coef: &[T],
    stride: usize,
    nq: usize,
    cols: &[T],
    b: usize,
    i0: usize,
    out: &mut [T],
) {
    let mut acc = [init; R];
    for (c, col) in coef
        .iter()
        .step_by(stride)
        .zip(cols.chunks_exact(b))
        .take(nq)
    {
        let x = &col[i0..i0 + R];
        for r in 0..R {
            acc[r] = madd::<T, FMA>(*c, x[r], acc[r]);
        }
    }
    out[i0..i0 + R].copy_from_slice(&acc);
}

/// Runs `$body` with the const `$r` set to `$rows` rounded down to a multiple of 4 (at most
/// 32), and advances `$i0` by it: the row blocks of the kernels below.
macro_rules! rows_block {
    ($rows:expr, $i0:ident, $r:ident => $body:expr) => {
        match ($rows).min(32) / 4 {
            0 => {}
            1 => {
                const $r: usize = 4;
                $body;
                $i0 += $r;
            }
            2 => {
                const $r: usize = 8;
                $body;
                $i0 += $r;
            }
            3 => {
                const $r: usize = 12;
                $body;
                $i0 += $r;
            }
            4 => {
                const $r: usize = 16;
                $body;
                $i0 += $r;
            }
            5 => {
                const $r: usize = 20;
                $body;
                $i0 += $r;
            }
            6 => {
                const $r: usize = 24;
                $body;
                $i0 += $r;
            }
            7 => {
                const $r: usize = 28;
                $body;
                $i0 += $r;
            }
            _ => {
                const $r: usize = 32;
                $body;
                $i0 += $r;
            }
        }
    };
}

/// `out[i] = init + Σ_{q < nq} coef[q · stride] · cols[q · b + i]` for every `i < b` (terms
/// added in the order of `q`): batches up to 32 rows (plus up to 3 single rows) in one block.
#[inline(always)]
fn comb_cols<T: Scalar, const FMA: bool>(
    init: T,
    coef: &[T],
    stride: usize,
    nq: usize,
    cols: &[T],
    b: usize,
    out: &mut [T],
) {
    let mut i0 = 0;
    while b - i0 >= 4 {
        rows_block!(b - i0, i0, R => block::<T, R, FMA>(init, coef, stride, nq, cols, b, i0, out));
    }
    while i0 < b {
        block::<T, 1, FMA>(init, coef, stride, nq, cols, b, i0, out);
        i0 += 1;
    }
}

/// Whether a product goes to the blocked gemm ([`Scalar::gemm_slices`], faer) rather than the
/// register-blocked loops below: when the batch and both widths exceed 5. The loops are made
/// for a layer with a width of 2 or so (the spiral network, 2 → 50 → 2, stays on them); with
/// every dimension at least 6 the gemm was faster at every shape measured on the development
/// machine (the forward product, its transpose and the weight gradient together: 6³ 0.42 µs
/// against 0.79, batch 20 with 6 → 50 3.5 against 4.4, batch 20 with 50 → 50 12.8 against
/// 32.3, 32³ 8.4 against 16.7).
#[inline(always)]
fn use_gemm(b: usize, din: usize, dout: usize) -> bool {
    b.min(din).min(dout) > 5
}

/// The affine layer `out = x W + bias` on a batch of `b`: `x` is `b × din`, `W` is stored
/// `din × dout` with `w[k + j·din]` the weight from input `k` to output `j`, `out` is
/// `b × dout`.
#[inline(always)]
pub(crate) fn affine<T: Scalar, const FMA: bool>(
    b: usize,
    din: usize,
    dout: usize,
    w: &[T],
    bias: Option<&[T]>,
    x: &[T],
    out: &mut [T],
) {
    let x = &x[..b * din];
    if use_gemm(b, din, dout) {
        // Column-major throughout: `out (b × dout) = bias + x (b × din) · W (din × dout)`.
        let out = &mut out[..b * dout];
        let beta = match bias {
            Some(bias) => {
                for (col, &v) in out.chunks_exact_mut(b).zip(bias) {
                    col.fill(v);
                }
                T::one()
            }
            None => T::zero(),
        };
        T::gemm_slices(out, b, dout, din, x, false, &w[..din * dout], false, beta);
        return;
    }
    for j in 0..dout {
        let init = bias.map_or(T::zero(), |v| v[j]);
        comb_cols::<T, FMA>(
            init,
            &w[j * din..(j + 1) * din],
            1,
            din,
            x,
            b,
            &mut out[j * b..(j + 1) * b],
        );
    }
}

/// `out = act(x W + bias)` ([`affine`], then [`act_in_place`]). With the blocked gemm, a
/// bias and `tanh`, the bias is added in the activation's pass instead of being written into
/// `out` before the product (one pass over `out` fewer, and the product overwrites instead of
/// accumulating): `tanh(acc + b)` is `tanh(b + acc)`, the same bits.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn affine_act<T: Scalar, const FMA: bool>(
    b: usize,
    din: usize,
    dout: usize,
    w: &[T],
    bias: Option<&[T]>,
    act: Activation,
    x: &[T],
    out: &mut [T],
) {
    match bias {
        Some(bias) if act == Activation::Tanh && use_gemm(b, din, dout) => {
            // Without a bias the product overwrites `out`.
            affine::<T, FMA>(b, din, dout, w, None, x, out);
            autodiff::math::tanh_bias_in_place(&mut out[..b * dout], &bias[..dout], b);
        }
        _ => {
            affine::<T, FMA>(b, din, dout, w, bias, x, out);
            act_in_place(act, &mut out[..b * dout]);
        }
    }
}

/// The backward product `out = δ Wᵀ` (`δ` is `b × dout`, `out` is `b × din`, `W` as in
/// [`affine`]).
#[inline(always)]
pub(crate) fn affine_t<T: Scalar, const FMA: bool>(
    b: usize,
    din: usize,
    dout: usize,
    w: &[T],
    delta: &[T],
    out: &mut [T],
) {
    let delta = &delta[..b * dout];
    if use_gemm(b, din, dout) {
        // `out (b × din) = δ (b × dout) · Wᵀ`, `W` stored `din × dout`.
        let out = &mut out[..b * din];
        T::gemm_slices(
            out,
            b,
            din,
            dout,
            delta,
            false,
            &w[..din * dout],
            true,
            T::zero(),
        );
        return;
    }
    for k in 0..din {
        comb_cols::<T, FMA>(
            T::zero(),
            &w[k..],
            din,
            dout,
            delta,
            b,
            &mut out[k * b..(k + 1) * b],
        );
    }
}

/// `Σ_{r < R} x[i0 + r] · y[i0 + r]` added into four lanes (`R` a multiple of 4).
#[inline(always)]
fn dot_block<T: Scalar, const R: usize, const FMA: bool>(
    x: &[T],
    y: &[T],
    i0: usize,
    acc: &mut [T; 4],
) {
    let (x, y) = (&x[i0..i0 + R], &y[i0..i0 + R]);
    for c in 0..R / 4 {
        for l in 0..4 {
            acc[l] = madd::<T, FMA>(x[4 * c + l], y[4 * c + l], acc[l]);
        }
    }
}

/// `Σ_i x[i] · y[i]` over `x.len()` terms, in four interleaved lanes (element `i` into lane
/// `i mod 4`, the lanes added as (0 + 2) + (1 + 3): the halves of one 4-wide register, then the last `len mod 4` terms in order).
#[inline(always)]
pub(crate) fn dot<T: Scalar, const FMA: bool>(x: &[T], y: &[T]) -> T {
    let n = x.len();
    let y = &y[..n];
    let mut acc = [T::zero(); 4];
    let mut i0 = 0;
    while n - i0 >= 4 {
        rows_block!(n - i0, i0, R => dot_block::<T, R, FMA>(x, y, i0, &mut acc));
    }
    let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for i in i0..n {
        s = madd::<T, FMA>(x[i], y[i], s);
    }
    s
}

/// `Σ_i x[i]`, in four interleaved lanes.
#[inline(always)]
pub(crate) fn sum<T: Scalar>(x: &[T]) -> T {
    let xc = x.chunks_exact(4);
    let xr = xc.remainder();
    let mut acc = [T::zero(); 4];
    for a in xc {
        for r in 0..4 {
            acc[r] += a[r];
        }
    }
    let mut s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    for a in xr {
        s += *a;
    }
    s
}

/// The parameter gradients of the affine layer: `∂W = xᵀ δ` (`dw[k + j·din]`) and, if asked
/// for, `∂bias = Σ_rows δ`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn affine_grads<T: Scalar, const FMA: bool>(
    b: usize,
    din: usize,
    dout: usize,
    x: &[T],
    delta: &[T],
    dw: &mut [T],
    dbias: Option<&mut [T]>,
) {
    if use_gemm(b, din, dout) {
        // `∂W (din × dout) = xᵀ δ`, `x` stored `b × din`.
        let dw = &mut dw[..din * dout];
        T::gemm_slices(
            dw,
            din,
            dout,
            b,
            &x[..b * din],
            true,
            &delta[..b * dout],
            false,
            T::zero(),
        );
    } else {
        affine_grads_loops::<T, FMA>(b, din, dout, x, delta, dw);
    }
    if let Some(db) = dbias {
        for j in 0..dout {
            db[j] = sum(&delta[j * b..(j + 1) * b]);
        }
    }
}

/// `∂W = xᵀ δ` by dot products (small sizes).
#[inline(always)]
fn affine_grads_loops<T: Scalar, const FMA: bool>(
    b: usize,
    din: usize,
    dout: usize,
    x: &[T],
    delta: &[T],
    dw: &mut [T],
) {
    for j in 0..dout {
        let dj = &delta[j * b..(j + 1) * b];
        for k in 0..din {
            dw[k + j * din] = dot::<T, FMA>(&x[k * b..(k + 1) * b], dj);
        }
    }
}

/// `out = act(x)` elementwise; one loop per activation (the match is outside it), with
/// `tanh` through [`autodiff::math::tanh_slice`] (its own AVX2 + FMA copy where the processor
/// has them).
#[inline(always)]
pub(crate) fn act<T: Scalar>(a: Activation, x: &[T], out: &mut [T]) {
    let out = &mut out[..x.len()];
    match a {
        Activation::Identity => out.copy_from_slice(x),
        Activation::Tanh => autodiff::math::tanh_slice(x, out),
        Activation::Cube => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v * v * v;
            }
        }
        a => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = a.eval(v);
            }
        }
    }
}

/// `x = act(x)` elementwise, as [`act`].
#[inline(always)]
pub(crate) fn act_in_place<T: Scalar>(a: Activation, x: &mut [T]) {
    match a {
        Activation::Identity => {}
        Activation::Tanh => autodiff::math::tanh_in_place(x),
        a => {
            for v in x.iter_mut() {
                *v = a.eval(*v);
            }
        }
    }
}

/// `d[i] *= act'(x[i])` given `y = act(x)`.
#[inline(always)]
pub(crate) fn mul_deriv<T: Scalar>(a: Activation, x: &[T], y: &[T], d: &mut [T]) {
    let n = d.len();
    let (x, y) = (&x[..n], &y[..n]);
    match a {
        Activation::Identity => {}
        Activation::Tanh => {
            for (o, &h) in d.iter_mut().zip(y) {
                *o *= T::one() - h * h;
            }
        }
        a => {
            for ((o, &p), &h) in d.iter_mut().zip(x).zip(y) {
                *o *= a.deriv(p, h);
            }
        }
    }
}

/// [`mul_deriv`] on the column-major `rows × cols` matrix `d`, one column at a time, and, when
/// `sums` is given, `sums[j]` = [`sum`] of column `j` after it (the same bits as summing
/// afterwards, read while the column is in cache).
#[inline(always)]
pub(crate) fn mul_deriv_sums<T: Scalar>(
    a: Activation,
    x: &[T],
    y: &[T],
    d: &mut [T],
    rows: usize,
    sums: Option<&mut [T]>,
) {
    let Some(sums) = sums else {
        mul_deriv(a, x, y, d);
        return;
    };
    if rows == 0 {
        // Empty columns: their sums are zero.
        sums.fill(T::zero());
        return;
    }
    for (j, (col, s)) in d.chunks_exact_mut(rows).zip(sums.iter_mut()).enumerate() {
        let r = j * rows..(j + 1) * rows;
        mul_deriv(a, &x[r.clone()], &y[r], col);
        *s = sum(col);
    }
}

/// `out[i] = d[i] · act'(x[i])` given `y = act(x)`.
#[inline(always)]
pub(crate) fn deriv_times<T: Scalar>(a: Activation, x: &[T], y: &[T], d: &[T], out: &mut [T]) {
    let n = out.len();
    let (x, y, d) = (&x[..n], &y[..n], &d[..n]);
    match a {
        Activation::Identity => out.copy_from_slice(d),
        Activation::Tanh => {
            for ((o, &h), &g) in out.iter_mut().zip(y).zip(d) {
                *o = g * (T::one() - h * h);
            }
        }
        Activation::Cube => {
            let three = T::cast(3.0);
            for ((o, &p), &g) in out.iter_mut().zip(x).zip(d) {
                *o = g * (three * p * p);
            }
        }
        a => {
            for (((o, &p), &h), &g) in out.iter_mut().zip(x).zip(y).zip(d) {
                *o = g * a.deriv(p, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_and_its_transpose_match_plain_loops() {
        // b = 13 exercises the 8-, 4- and 1-row blocks.
        let (b, din, dout) = (13, 3, 5);
        let x: Vec<f64> = (0..b * din).map(|i| (i as f64 * 0.37).sin()).collect();
        let w: Vec<f64> = (0..din * dout).map(|i| (i as f64 * 0.53).cos()).collect();
        let bias: Vec<f64> = (0..dout).map(|j| j as f64 - 1.5).collect();
        let mut out = vec![0.0; b * dout];
        affine::<f64, false>(b, din, dout, &w, Some(&bias), &x, &mut out);
        for i in 0..b {
            for j in 0..dout {
                let mut e = bias[j];
                for k in 0..din {
                    e += w[k + j * din] * x[i + k * b];
                }
                assert_eq!(out[i + j * b], e);
            }
        }
        let d: Vec<f64> = (0..b * dout).map(|i| (i as f64 * 0.71).sin()).collect();
        let mut back = vec![0.0; b * din];
        affine_t::<f64, false>(b, din, dout, &w, &d, &mut back);
        for i in 0..b {
            for k in 0..din {
                let mut e = 0.0;
                for j in 0..dout {
                    e += w[k + j * din] * d[i + j * b];
                }
                assert_eq!(back[i + k * b], e);
            }
        }
        let (mut dw, mut db) = (vec![0.0; din * dout], vec![0.0; dout]);
        affine_grads::<f64, false>(b, din, dout, &x, &d, &mut dw, Some(&mut db));
        for j in 0..dout {
            let s: f64 = (0..b).map(|i| d[i + j * b]).sum();
            assert!((db[j] - s).abs() < 1e-14);
            for k in 0..din {
                let e: f64 = (0..b).map(|i| x[i + k * b] * d[i + j * b]).sum();
                assert!((dw[k + j * din] - e).abs() < 1e-14);
            }
        }
    }
}
