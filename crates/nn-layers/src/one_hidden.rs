//! The hand-written passes of an MLP with one hidden layer between narrow ends, `D → H → D`
//! with `D ≤ 4` (the spiral's 2 → 50 → 2), for [`crate::MlpDynamics`].
//!
//! The general kernels ([`crate::kernels`]) keep every layer column-major (a batch's samples
//! side by side), so the parameter gradients of such a network are `2·D·H` dot products over
//! the batch, each ending in a horizontal sum: at the spiral's size (batch 20) those sums and
//! the loop overheads around them were most of a vector–Jacobian product. Here the hidden
//! layer is kept sample-major instead (`hid[i·Hp + j]` is hidden unit `j` of sample `i`, with
//! `Hp` the width rounded up to a multiple of 4 and the padding units' weights zero), so
//! every loop over hidden units is a loop over contiguous memory:
//!
//! * forward: `hid[i, :] = b₁ + Σ_k x[i, k] W₁[k, :]` (vectors over `j`), the activation over
//!   the whole buffer, and `out[i, m] = b₂[m] + Σ_j hid[i, j] W₂[j, m]` (one dot product per
//!   output, `B·D` of them);
//! * backward, a chunk of 8 (then 4) hidden units at a time with the chunk's gradients in
//!   registers while the batch runs: `∂W₂[j, m] = Σ_i hid[i, j] δ[i, m]`,
//!   `δh[i, j] = (Σ_m δ[i, m] W₂[j, m]) σ'(hid[i, j])`, `∂W₁[k, j] = Σ_i x[i, k] δh[i, j]`,
//!   `∂b₁[j] = Σ_i δh[i, j]`; then `aᵀ∂/∂x[i, k] = Σ_j δh[i, j] W₁[k, j]` (`B·D` dot products).
//!
//! So only `2·B·D` sums are horizontal, against `2·D·H + H` before. The weights are copied into
//! the sample-major order ([`Packed`]) once per parameter vector. Every sum runs in a fixed
//! order (the batch in order; dot products over hidden units in 8 interleaved lanes, added as
//! a fixed tree), so the AVX2 and AVX-512 copies give the same bits.

use autodiff::Scalar;

use crate::activation::Activation;
use crate::kernels::madd;

/// Hidden units per chunk of the backward pass and lanes of the dot products.
pub(crate) const LANES: usize = 8;

/// The weights of a `D → H → D` network in the sample-major order of this module's passes.
#[derive(Clone, Debug)]
pub(crate) struct Packed<T> {
    /// Outer width `D`.
    d: usize,
    /// Hidden width `H`.
    h: usize,
    /// `H` rounded up to a multiple of 4.
    hp: usize,
    /// `w1t[k·Hp + j] = W₁[k, j]`; zero for `j ≥ H`.
    w1t: Vec<T>,
    /// `b₁`, zero-padded (zero throughout without a bias).
    b1: Vec<T>,
    /// `w2t[m·Hp + j] = W₂[j, m]`; zero for `j ≥ H`.
    w2t: Vec<T>,
    /// `b₂` (zero without a bias).
    b2: Vec<T>,
}

/// Where a layer's tensors are in `θ`: (in, out, weight offset, bias offset if any), with the
/// weight stored `in × out`, `w[k + j·in]` from input `k` to output `j`.
pub(crate) type Shape = (usize, usize, usize, Option<usize>);

/// `n` rounded up to a multiple of 4.
pub(crate) fn padded(n: usize) -> usize {
    n.div_ceil(4) * 4
}

impl<T: Scalar> Packed<T> {
    /// Zero weights for a `d → h → d` network.
    pub(crate) fn new(d: usize, h: usize) -> Self {
        let hp = padded(h);
        Packed {
            d,
            h,
            hp,
            w1t: vec![T::zero(); d * hp],
            b1: vec![T::zero(); hp],
            w2t: vec![T::zero(); d * hp],
            b2: vec![T::zero(); d],
        }
    }

    /// The padded hidden width `Hp`.
    pub(crate) fn hp(&self) -> usize {
        self.hp
    }

    /// Copies the two layers' tensors out of `θ`.
    pub(crate) fn pack(&mut self, theta: &[T], shapes: &[Shape; 2]) {
        let (d, h, hp) = (self.d, self.h, self.hp);
        let (_, _, wo1, bo1) = shapes[0];
        let (_, _, wo2, bo2) = shapes[1];
        for k in 0..d {
            for j in 0..h {
                self.w1t[k * hp + j] = theta[wo1 + k + j * d];
            }
        }
        if let Some(o) = bo1 {
            self.b1[..h].copy_from_slice(&theta[o..o + h]);
        }
        for m in 0..d {
            self.w2t[m * hp..m * hp + h].copy_from_slice(&theta[wo2 + m * h..wo2 + (m + 1) * h]);
        }
        if let Some(o) = bo2 {
            self.b2.copy_from_slice(&theta[o..o + d]);
        }
    }
}

/// Rows of [`row_dots`] that run side by side: their accumulators are independent, so four
/// of them hide the multiply–add latency that a single row's chain of `Hp / 8` steps exposes.
const ROWS: usize = 4;

/// The products of rows `i0 .. i0 + R` of `rows` with `w` (`Hp = w.len()`), each row's in
/// [`LANES`] interleaved lanes (element `j` into lane `j mod 8`), the lanes of each added as a
/// fixed tree into `out[i0 ..]`.
#[inline(always)]
fn row_lanes<T: Scalar, const R: usize, const FMA: bool>(
    rows: &[T],
    w: &[T],
    i0: usize,
    out: &mut [T],
) {
    let hp = w.len();
    let mut acc = [[T::zero(); LANES]; R];
    let mut j = 0;
    while j + LANES <= hp {
        let c: &[T; LANES] = w[j..j + LANES].try_into().expect("a chunk");
        for (r, acc) in acc.iter_mut().enumerate() {
            let o = (i0 + r) * hp + j;
            let a: &[T; LANES] = rows[o..o + LANES].try_into().expect("a chunk");
            for l in 0..LANES {
                acc[l] = madd::<T, FMA>(a[l], c[l], acc[l]);
            }
        }
        j += LANES;
    }
    // The rest is empty or one half-chunk.
    if hp - j >= 4 {
        let c: &[T; 4] = w[j..j + 4].try_into().expect("a half-chunk");
        for (r, acc) in acc.iter_mut().enumerate() {
            let o = (i0 + r) * hp + j;
            let a: &[T; 4] = rows[o..o + 4].try_into().expect("a half-chunk");
            for l in 0..4 {
                acc[l] = madd::<T, FMA>(a[l], c[l], acc[l]);
            }
        }
    }
    for (r, p) in acc.iter().enumerate() {
        let q: [T; 4] = std::array::from_fn(|l| p[l] + p[l + 4]);
        out[i0 + r] = (q[0] + q[2]) + (q[1] + q[3]);
    }
}

/// `out[i] = Σ_j rows[i·Hp + j] w[j]` for every row of `rows` (`Hp = w.len()`, a multiple of
/// 4): each row's products in [`LANES`] interleaved lanes (element `j` into lane `j mod 8`),
/// [`ROWS`] rows at a time, then the lanes of each added as a fixed tree. Every row sees the
/// same operations in the same order however the rows are grouped. For f64 on a processor
/// with AVX2 and FMA the fused copies run [`simd`]'s explicit 4-wide version of this code
/// (same bits): from the generic code LLVM keeps the accumulators in 2-wide registers, to
/// suit the final tree (keeping the lanes in memory and summing them in a second loop gave
/// 4-wide products but gathers in that loop, and was slower).
#[inline(always)]
fn row_dots<T: Scalar, const FMA: bool>(rows: &[T], w: &[T], out: &mut [T]) {
    let hp = w.len();
    debug_assert!(hp.is_multiple_of(4), "rows are padded to a multiple of 4");
    #[cfg(target_arch = "x86_64")]
    if FMA && simd::row_dots_f64(rows, w, out) {
        return;
    }
    let n = out.len();
    let mut i = 0;
    while i + ROWS <= n {
        row_lanes::<T, ROWS, FMA>(rows, w, i, out);
        i += ROWS;
    }
    while i < n {
        row_lanes::<T, 1, FMA>(rows, w, i, out);
        i += 1;
    }
}

/// [`row_dots`] for f64 with explicit 4-wide registers (AVX2 and FMA, on every processor
/// that has them, AVX-512 ones included): the same operations in the same order as the
/// generic code with `FMA` (lanes 0–3 and 4–7 of each row in two registers, each lane's
/// products fused in order of `j`, then `(l + (l + 4))` and `(q₀ + q₂) + (q₁ + q₃)`), and so
/// the same bits. The generic code's accumulators end up in 2-wide registers (see
/// [`row_dots`]); these use 4-wide ones, half the instructions.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::any::TypeId;
    use std::arch::x86_64::*;

    use autodiff::math::{simd_level, SimdLevel};
    use autodiff::Scalar;

    use super::{LANES, ROWS};

    /// Runs the 4-wide copy if `T` is f64 and the processor has AVX2 and FMA; returns whether
    /// it did.
    #[inline(always)]
    pub(super) fn row_dots_f64<T: Scalar>(rows: &[T], w: &[T], out: &mut [T]) -> bool {
        if TypeId::of::<T>() != TypeId::of::<f64>() || simd_level() < SimdLevel::Avx2Fma {
            return false;
        }
        // SAFETY: `T` is `f64` (checked above), so the slices are slices of f64.
        let (rows, w, out) = unsafe {
            (
                std::slice::from_raw_parts(rows.as_ptr().cast::<f64>(), rows.len()),
                std::slice::from_raw_parts(w.as_ptr().cast::<f64>(), w.len()),
                std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<f64>(), out.len()),
            )
        };
        // SAFETY: the processor has AVX2 and FMA (checked above).
        unsafe { row_dots_avx2(rows, w, out) };
        true
    }

    /// Every row of `rows` against `w`, [`ROWS`] rows at a time.
    #[target_feature(enable = "avx2,fma")]
    fn row_dots_avx2(rows: &[f64], w: &[f64], out: &mut [f64]) {
        let hp = w.len();
        let n = out.len();
        assert!(
            hp.is_multiple_of(4) && rows.len() >= n * hp,
            "rows of a padded width"
        );
        let mut i = 0;
        while i + ROWS <= n {
            group::<ROWS>(rows, w, i, out);
            i += ROWS;
        }
        while i < n {
            group::<1>(rows, w, i, out);
            i += 1;
        }
    }

    /// Rows `i0 .. i0 + R` (the caller checked that they are in `rows`).
    #[inline(always)]
    fn group<const R: usize>(rows: &[f64], w: &[f64], i0: usize, out: &mut [f64]) {
        let hp = w.len();
        let (wp, rp) = (w.as_ptr(), rows.as_ptr());
        // SAFETY: every load reads `w[j .. j + 4]` or `rows[(i0 + r)·Hp + j ..][.. 4]` with
        // `j + 4 ≤ Hp` and `i0 + r < n`, inside the slices (checked by the caller); the
        // intrinsics need AVX2 and FMA, which the caller's target features enable.
        unsafe {
            let mut lo = [_mm256_setzero_pd(); R];
            let mut hi = [_mm256_setzero_pd(); R];
            let mut j = 0;
            while j + LANES <= hp {
                let c0 = _mm256_loadu_pd(wp.add(j));
                let c1 = _mm256_loadu_pd(wp.add(j + 4));
                for r in 0..R {
                    let o = rp.add((i0 + r) * hp + j);
                    lo[r] = _mm256_fmadd_pd(_mm256_loadu_pd(o), c0, lo[r]);
                    hi[r] = _mm256_fmadd_pd(_mm256_loadu_pd(o.add(4)), c1, hi[r]);
                }
                j += LANES;
            }
            if hp - j >= 4 {
                let c0 = _mm256_loadu_pd(wp.add(j));
                for (r, lo) in lo.iter_mut().enumerate() {
                    let o = rp.add((i0 + r) * hp + j);
                    *lo = _mm256_fmadd_pd(_mm256_loadu_pd(o), c0, *lo);
                }
            }
            for (o, (lo, hi)) in out[i0..i0 + R].iter_mut().zip(lo.iter().zip(&hi)) {
                let q = _mm256_add_pd(*lo, *hi);
                let x = _mm_add_pd(_mm256_castpd256_pd128(q), _mm256_extractf128_pd::<1>(q));
                *o = _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)));
            }
        }
    }
}

/// `hid[i·Hp + j] = b₁[j] + Σ_k x[i + k·b] W₁[k, j]` for the hidden units `j0 .. j0 + C` of
/// every sample: the chunk's weights stay in registers while the samples run, so each
/// sample costs `D` multiply–adds (with the input broadcast from memory) and one store.
#[inline(always)]
fn hidden_cols<T: Scalar, const D: usize, const C: usize, const FMA: bool>(
    b1: &[T],
    w1: &[&[T]; D],
    x: &[T],
    b: usize,
    j0: usize,
    hid: &mut [T],
) {
    let hp = b1.len();
    let bc: [T; C] = b1[j0..j0 + C].try_into().expect("a chunk");
    let wc: [[T; C]; D] = std::array::from_fn(|k| w1[k][j0..j0 + C].try_into().expect("a chunk"));
    let xs: [&[T]; D] = std::array::from_fn(|k| &x[k * b..(k + 1) * b]);
    for (i, row) in hid[..b * hp].chunks_exact_mut(hp).enumerate() {
        let mut s = bc;
        for k in 0..D {
            let xv = xs[k][i];
            for l in 0..C {
                s[l] = madd::<T, FMA>(xv, wc[k][l], s[l]);
            }
        }
        row[j0..j0 + C].copy_from_slice(&s);
    }
}

/// The forward pass: `x` (the mapped input, column-major `b × D`) → `hid` (sample-major
/// `b × Hp`, after the activation `act`) → `out` (column-major `b × D`, before the final
/// activation).
#[inline(always)]
pub(crate) fn forward<T: Scalar, const D: usize, const FMA: bool>(
    p: &Packed<T>,
    b: usize,
    x: &[T],
    act: Activation,
    hid: &mut [T],
    out: &mut [T],
) {
    let hp = p.hp;
    let b1 = &p.b1[..hp];
    let w1: [&[T]; D] = std::array::from_fn(|k| &p.w1t[k * hp..(k + 1) * hp]);
    // Chunks of 8 units and one of 4 (`Hp` is a multiple of 4): no scalar tail.
    let mut j0 = 0;
    while j0 + LANES <= hp {
        hidden_cols::<T, D, LANES, FMA>(b1, &w1, x, b, j0, hid);
        j0 += LANES;
    }
    if hp > j0 {
        hidden_cols::<T, D, 4, FMA>(b1, &w1, x, b, j0, hid);
    }
    crate::kernels::act_in_place(act, &mut hid[..b * hp]);
    for m in 0..D {
        let col = &mut out[m * b..(m + 1) * b];
        row_dots::<T, FMA>(&hid[..b * hp], &p.w2t[m * hp..(m + 1) * hp], col);
        for o in col.iter_mut() {
            *o += p.b2[m];
        }
    }
}

/// Whether this module's passes handle `act` as the hidden activation (its derivative must
/// be a function of its output).
pub(crate) fn supports(act: Activation) -> bool {
    matches!(
        act,
        Activation::Tanh | Activation::Sigmoid | Activation::Identity
    )
}

/// The hidden activation, as the const parameter of [`chunk`]: the derivative from the output
/// `y` is `1 - y²` for tanh, `y - y²` for the sigmoid and 1 for the identity.
const TANH: u8 = 0;
const SIGMOID: u8 = 1;
const IDENTITY: u8 = 2;

/// The gradients of the backward pass, sample-major: rows `m < D` are `∂W₂[·, m]`, rows
/// `D + k` are `∂W₁[k, ·]`, row `2D` is `∂b₁`, each `Hp` long.
pub(crate) fn grads_len(d: usize, hp: usize) -> usize {
    (2 * d + 1) * hp
}

/// The backward pass for hidden units `j0 .. j0 + C`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn chunk<T: Scalar, const D: usize, const C: usize, const DERIV: u8, const FMA: bool>(
    p: &Packed<T>,
    b: usize,
    j0: usize,
    x: &[T],
    hid: &[T],
    delta: &[T],
    dhid: &mut [T],
    grads: &mut [T],
) {
    let hp = p.hp;
    let w2: [[T; C]; D] = std::array::from_fn(|m| std::array::from_fn(|l| p.w2t[m * hp + j0 + l]));
    let mut g2 = [[T::zero(); C]; D];
    let mut g1 = [[T::zero(); C]; D];
    let mut gb = [T::zero(); C];
    // The inputs and the outputs sliced once, to exact lengths, so that the loop over the
    // samples has no bounds checks and keeps its pointers in registers.
    let dcols: [&[T]; D] = std::array::from_fn(|m| &delta[m * b..(m + 1) * b]);
    let xcols: [&[T]; D] = std::array::from_fn(|k| &x[k * b..(k + 1) * b]);
    let rows = hid[..b * hp].chunks_exact(hp);
    let drows = dhid[..b * hp].chunks_exact_mut(hp);
    for (i, (hrow, drow)) in rows.zip(drows).enumerate() {
        // Each step is a loop over the chunk's lanes, so that each becomes vector operations.
        let h: [T; C] = hrow[j0..j0 + C].try_into().expect("a chunk");
        let di: [T; D] = std::array::from_fn(|m| dcols[m][i]);
        let xi: [T; D] = std::array::from_fn(|k| xcols[k][i]);
        let mut g = [T::zero(); C];
        for m in 0..D {
            for l in 0..C {
                g2[m][l] = madd::<T, FMA>(h[l], di[m], g2[m][l]);
                g[l] = madd::<T, FMA>(di[m], w2[m][l], g[l]);
            }
        }
        let dl: [T; C] = match DERIV {
            TANH => std::array::from_fn(|l| g[l] * (T::one() - h[l] * h[l])),
            SIGMOID => std::array::from_fn(|l| g[l] * (h[l] - h[l] * h[l])),
            _ => g,
        };
        for k in 0..D {
            for l in 0..C {
                g1[k][l] = madd::<T, FMA>(xi[k], dl[l], g1[k][l]);
            }
        }
        for l in 0..C {
            gb[l] += dl[l];
        }
        drow[j0..j0 + C].copy_from_slice(&dl);
    }
    for m in 0..D {
        grads[m * hp + j0..m * hp + j0 + C].copy_from_slice(&g2[m]);
    }
    for k in 0..D {
        grads[(D + k) * hp + j0..(D + k) * hp + j0 + C].copy_from_slice(&g1[k]);
    }
    grads[2 * D * hp + j0..2 * D * hp + j0 + C].copy_from_slice(&gb);
}

/// [`chunk`] over every chunk of hidden units: of 8, then one of 4 if `Hp` is not a multiple
/// of 8.
#[inline(always)]
fn chunks<T: Scalar, const D: usize, const DERIV: u8, const FMA: bool>(
    p: &Packed<T>,
    b: usize,
    x: &[T],
    hid: &[T],
    delta: &[T],
    dhid: &mut [T],
    grads: &mut [T],
) {
    let hp = p.hp;
    let mut j0 = 0;
    while hp - j0 >= LANES {
        chunk::<T, D, LANES, DERIV, FMA>(p, b, j0, x, hid, delta, dhid, grads);
        j0 += LANES;
    }
    if hp > j0 {
        chunk::<T, D, 4, DERIV, FMA>(p, b, j0, x, hid, delta, dhid, grads);
    }
}

/// The backward pass from `delta` (the output's cotangent times the final activation's
/// derivative, column-major `b × D`): the hidden layer's gradients into `grads` (see
/// [`grads_len`]), `δh` into `dhid` (sample-major `b × Hp`), and the cotangent of the mapped
/// input into `ax` (column-major `b × D`). `act` must be one [`supports`] accepts.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward<T: Scalar, const D: usize, const FMA: bool>(
    p: &Packed<T>,
    b: usize,
    act: Activation,
    x: &[T],
    hid: &[T],
    delta: &[T],
    dhid: &mut [T],
    grads: &mut [T],
    ax: &mut [T],
) {
    let hp = p.hp;
    debug_assert!(supports(act), "a hidden activation `supports` accepts");
    match act {
        Activation::Tanh => chunks::<T, D, TANH, FMA>(p, b, x, hid, delta, dhid, grads),
        Activation::Sigmoid => chunks::<T, D, SIGMOID, FMA>(p, b, x, hid, delta, dhid, grads),
        _ => chunks::<T, D, IDENTITY, FMA>(p, b, x, hid, delta, dhid, grads),
    }
    for k in 0..D {
        let col = &mut ax[k * b..(k + 1) * b];
        row_dots::<T, FMA>(&dhid[..b * hp], &p.w1t[k * hp..(k + 1) * hp], col);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain loops over the column-major layout, straight from the definitions.
    #[allow(clippy::type_complexity)]
    fn reference(
        d: usize,
        h: usize,
        b: usize,
        theta: &[f64],
        shapes: &[Shape; 2],
        x: &[f64],
        delta: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (_, _, wo1, bo1) = shapes[0];
        let (_, _, wo2, bo2) = shapes[1];
        let mut hid = vec![0.0; b * h];
        for i in 0..b {
            for j in 0..h {
                let mut s = bo1.map_or(0.0, |o| theta[o + j]);
                for k in 0..d {
                    s += x[i + k * b] * theta[wo1 + k + j * d];
                }
                hid[i + j * b] = s.tanh();
            }
        }
        let mut out = vec![0.0; b * d];
        for i in 0..b {
            for m in 0..d {
                let mut s = bo2.map_or(0.0, |o| theta[o + m]);
                for j in 0..h {
                    s += hid[i + j * b] * theta[wo2 + j + m * h];
                }
                out[i + m * b] = s;
            }
        }
        let (mut gw1, mut gb1, mut gw2) = (vec![0.0; d * h], vec![0.0; h], vec![0.0; h * d]);
        let mut ax = vec![0.0; b * d];
        for i in 0..b {
            for j in 0..h {
                let hv = hid[i + j * b];
                let mut g = 0.0;
                for m in 0..d {
                    gw2[j + m * h] += hv * delta[i + m * b];
                    g += delta[i + m * b] * theta[wo2 + j + m * h];
                }
                let dv = g * (1.0 - hv * hv);
                gb1[j] += dv;
                for k in 0..d {
                    gw1[k + j * d] += x[i + k * b] * dv;
                    ax[i + k * b] += dv * theta[wo1 + k + j * d];
                }
            }
        }
        (out, gw1, gb1, gw2, ax)
    }

    fn check<const D: usize>(h: usize, b: usize, biases: bool) {
        let d = D;
        let wo1 = 0;
        let bo1 = biases.then_some(d * h);
        let wo2 = d * h + if biases { h } else { 0 };
        let bo2 = biases.then_some(wo2 + h * d);
        let n = wo2 + h * d + if biases { d } else { 0 };
        let theta: Vec<f64> = (0..n).map(|i| (i as f64 * 0.731).sin() * 0.6).collect();
        let shapes = [(d, h, wo1, bo1), (h, d, wo2, bo2)];
        let x: Vec<f64> = (0..b * d).map(|i| (i as f64 * 0.37).cos()).collect();
        let delta: Vec<f64> = (0..b * d).map(|i| (i as f64 * 0.91).sin()).collect();
        let mut p = Packed::<f64>::new(d, h);
        p.pack(&theta, &shapes);
        let hp = p.hp();
        let (mut hid, mut out) = (vec![0.0; b * hp], vec![0.0; b * d]);
        forward::<f64, D, false>(&p, b, &x, Activation::Tanh, &mut hid, &mut out);
        let (mut dhid, mut grads, mut ax) = (
            vec![0.0; b * hp],
            vec![0.0; grads_len(d, hp)],
            vec![0.0; b * d],
        );
        backward::<f64, D, false>(
            &p,
            b,
            Activation::Tanh,
            &x,
            &hid,
            &delta,
            &mut dhid,
            &mut grads,
            &mut ax,
        );
        let (out_r, gw1, gb1, gw2, ax_r) = reference(d, h, b, &theta, &shapes, &x, &delta);
        let close = |a: f64, e: f64| (a - e).abs() <= 1e-13 * (1.0 + e.abs());
        for (a, e) in out.iter().zip(&out_r) {
            assert!(close(*a, *e), "out {a} vs {e}");
        }
        for (a, e) in ax.iter().zip(&ax_r) {
            assert!(close(*a, *e), "ax {a} vs {e}");
        }
        for j in 0..hp {
            for m in 0..d {
                let e = if j < h { gw2[j + m * h] } else { 0.0 };
                assert!(close(grads[m * hp + j], e), "gw2 {j} {m}");
            }
            for k in 0..d {
                let e = if j < h { gw1[k + j * d] } else { 0.0 };
                assert!(close(grads[(d + k) * hp + j], e), "gw1 {k} {j}");
            }
            let e = if j < h { gb1[j] } else { 0.0 };
            assert!(close(grads[2 * d * hp + j], e), "gb1 {j}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_4_wide_row_dots_give_the_bits_of_the_generic_fused_code() {
        use autodiff::math::{simd_level, SimdLevel};
        if simd_level() < SimdLevel::Avx2Fma {
            eprintln!("skipped: this processor has no AVX2 and FMA");
            return;
        }
        for hp in [4, 8, 12, 16, 52] {
            for n in [1, 3, 4, 5, 20] {
                let rows: Vec<f64> = (0..n * hp).map(|i| (i as f64 * 0.713).sin()).collect();
                let w: Vec<f64> = (0..hp).map(|j| (j as f64 * 1.37).cos() * 0.3).collect();
                let mut fast = vec![0.0; n];
                assert!(simd::row_dots_f64(&rows, &w, &mut fast));
                // The generic code, one row at a time (f64::mul_add: fused, by libm or the
                // instruction).
                let mut generic = vec![0.0; n];
                for i in 0..n {
                    row_lanes::<f64, 1, true>(&rows, &w, i, &mut generic);
                }
                for i in 0..n {
                    assert_eq!(
                        fast[i].to_bits(),
                        generic[i].to_bits(),
                        "Hp {hp}, n {n}, row {i}"
                    );
                    let plain: f64 = (0..hp).map(|j| rows[i * hp + j] * w[j]).sum();
                    assert!((fast[i] - plain).abs() <= 1e-14 * (1.0 + plain.abs()));
                }
            }
        }
    }

    #[test]
    fn passes_match_plain_loops_at_every_tail_shape() {
        // Hidden widths with no tail, a 4-wide tail and padding; batches of 1, 3 and 20.
        for (h, b) in [(8, 1), (50, 20), (13, 3), (4, 5), (1, 2), (21, 20)] {
            check::<1>(h, b, true);
            check::<2>(h, b, true);
            check::<2>(h, b, false);
            check::<3>(h, b, true);
            check::<4>(h, b, true);
        }
    }
}
