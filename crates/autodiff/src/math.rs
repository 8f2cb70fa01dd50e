//! Fast elementwise functions whose loops vectorise: `exp`, `expm1` and `tanh` for f64 (f32
//! goes through f64).
//!
//! libm's `tanh` costs tens of nanoseconds per call and does not vectorise; at neural-ODE
//! sizes (a 20 × 50 hidden layer evaluated thousands of times per training iteration) it was
//! half of the run time. These versions are branch-free polynomial evaluations (Cody–Waite
//! range reduction, a degree-11 minimax polynomial on `|r| ≤ ln2/2`, in Estrin's scheme for
//! `exp` and Horner's for `tanh`, exponent assembled from bits), accurate to a few ulp
//! (tested against libm over a wide range). [`tanh_slice`] runs a copy compiled for AVX2 and
//! FMA (for f64, the interleaved kernel of `tanh_x86`), or for AVX-512, where the processor
//! has them ([`simd_level`]).
//!
//! Per element on the 2-core development machine (32,768 elements, interleaved runs):
//! - the baseline loop: about 8 ns;
//! - the AVX2 + FMA copy at first: 2.31–2.49 ns;
//! - with the NaN test, the clamp and the small-argument path as one `min` and an or-ed sign
//!   bit: 1.98–2.10 ns;
//! - with the minimax polynomial, two multiply–adds shorter than the Taylor one: 1.58–1.80 ns;
//! - for f64, sixteen values at a time with the four vectors' Horner steps interleaved
//!   (`tanh_x86`, the same bits): 1.06–1.30 ns against 1.40–1.79 ns in the same runs.
//!
//! The compiler's loop emits each vector's Horner chain whole, one after the other, and runs
//! at about one operation per cycle (`llvm-mca -mcpu=znver3` predicts that time, but by
//! charging two cycles per 256-bit multiply–add, which this processor does two of per cycle);
//! issuing the chains of four vectors step by step (`tanh_x86`) is what lifted it.
//!
//! On an Intel Xeon with AVX-512 (session 6, 1,000 elements, best of five): the AVX2 copy
//! 1.14–1.17 ns per element, the AVX-512 copy 0.80–0.83 ns. A hand-written AVX-512 version that
//! replaced the division by `vrcp14pd` and two Newton steps (same bits) took 0.99–1.02 ns,
//! slower than the compiler's loop with the division, so it was not kept.
//!
//! Session 8 (AMD EPYC with AVX-512): `tanh` was rewritten for fewer operations per lane
//! (signed argument without the sign re-insertion, the factor 2 folded into the constants,
//! Horner instead of Estrin, a one-constant reduction in the fused copies): 28 → 21 vector
//! operations and a division per 8 lanes. A spiral evaluation (20 × 52 hidden units, half
//! of it `tanh`), min of interleaved runs: 1.445 → 1.371 µs for the first three changes,
//! 1.453 → 1.391 µs for the one-constant reduction. Against libm
//! over 4 million points in [-20, 20]: worst 2.63 ulp, mean 0.19. A [6/6] Padé form of
//! `e^(2h)` (one division, 19 operations) was another 5 % faster per evaluation but its
//! mean error was 0.32 ulp and its fused and plain copies differed by more than 2 ulp, so it
//! was not kept.

use std::any::TypeId;

use crate::Scalar;

#[cfg(target_arch = "x86_64")]
mod tanh_x86;

/// `x` as f64 values, when `T` is `f64`.
fn f64_slice<T: Scalar>(x: &[T]) -> Option<&[f64]> {
    // SAFETY: `T` is `f64` (same type, so same layout).
    (TypeId::of::<T>() == TypeId::of::<f64>())
        .then(|| unsafe { std::slice::from_raw_parts(x.as_ptr().cast(), x.len()) })
}

/// `x` as f64 values, when `T` is `f64`.
fn f64_slice_mut<T: Scalar>(x: &mut [T]) -> Option<&mut [f64]> {
    // SAFETY: as in `f64_slice`.
    (TypeId::of::<T>() == TypeId::of::<f64>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast(), x.len()) })
}

// ln 2 split as in fdlibm: the high part has trailing zero bits so `n · LN2_HI` is exact.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const INV_LN2: f64 = std::f64::consts::LOG2_E;

/// Coefficients of the degree-10 polynomial `P` with `expm1(r) ≈ r · P(r)` on
/// `|r| ≤ 0.3466` (just over ln2/2, the reduced range): `P(0) = 1` and `P'(0) = 1/2` exactly
/// (so small arguments keep their relative accuracy), the other nine fitted for the smallest
/// largest relative error of `expm1` (Lawson's reweighted least squares in 50-digit
/// arithmetic: `crates/autodiff/tools/expm1_minimax.py`). Relative error 2.4e-17 with these
/// f64 coefficients, against 4e-18 for the degree-12 Taylor polynomial used before, which
/// cost two more multiply–adds.
const C: [f64; 11] = [
    1.0,
    0.5,
    0.16666666666666602,
    0.04166666666662001,
    0.008333333333388386,
    0.0013888888920495905,
    0.00019841269709336634,
    2.480151636723307e-05,
    2.755742508702521e-06,
    2.7622218366723644e-07,
    2.5045894758472666e-08,
];

/// `a·b + c`, as one fused operation when `FMA` (only ever instantiated with `true` inside
/// functions compiled for the `fma` target feature, where it is one instruction).
#[inline(always)]
fn madd<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `expm1(r)` for `|r| ≤ ln2/2 + ε` by the polynomial of [`C`], evaluated in Estrin's scheme:
/// the dependency chain is four products deep instead of Horner's ten, so a vectorised loop
/// is limited by throughput, not latency.
#[inline(always)]
fn expm1_small<const FMA: bool>(r: f64) -> f64 {
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let p01 = madd::<FMA>(C[1], r, C[0]);
    let p23 = madd::<FMA>(C[3], r, C[2]);
    let p45 = madd::<FMA>(C[5], r, C[4]);
    let p67 = madd::<FMA>(C[7], r, C[6]);
    let p89 = madd::<FMA>(C[9], r, C[8]);
    let q0 = madd::<FMA>(p23, r2, p01);
    let q1 = madd::<FMA>(p67, r2, p45);
    let q2 = madd::<FMA>(C[10], r2, p89);
    let s0 = madd::<FMA>(q1, r4, q0);
    madd::<FMA>(q2, r8, s0) * r
}

/// Adding then removing this rounds to the nearest integer (no libm call on baseline x86-64,
/// which lacks a rounding instruction); valid for `|v| < 2^51`.
const SHIFT: f64 = 6_755_399_441_055_744.0;

/// `(n, r)` with `x = n ln2 + r`, `|r| ≤ ln2/2`.
#[inline(always)]
fn reduce<const FMA: bool>(x: f64) -> (f64, f64) {
    let n = madd::<FMA>(x, INV_LN2, SHIFT) - SHIFT;
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, x));
    (n, r)
}

/// `2^n` for integral `n` in [-1022, 1023], from integer operations only (so loops over
/// slices vectorise: there is no f64 → i64 conversion): `n + 1.5·2^52 + 1023` holds
/// `n + 1023` in its low mantissa bits, which a shift moves into the exponent field.
#[inline(always)]
fn pow2(n: f64) -> f64 {
    f64::from_bits((n + (SHIFT + 1023.0)).to_bits() << 52)
}

/// `exp(x)` for `x` in [-708, 709] (0 or +∞ beyond, NaN for NaN).
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let xc = x.clamp(-708.0, 709.0);
    let (n, r) = reduce::<false>(xc);
    let e = (1.0 + expm1_small::<false>(r)) * pow2(n);
    let e = if x > 709.78 { f64::INFINITY } else { e };
    let e = if x < -745.0 { 0.0 } else { e };
    if x.is_nan() {
        x
    } else {
        e
    }
}

/// [`C`] scaled for an argument of half the size: `D[k] = 2^(k+1) C[k]`, so that
/// `h · Σ D[k] h^k = 2h · Σ C[k] (2h)^k ≈ expm1(2h)` (powers of two: the scaling is exact).
const D: [f64; 11] = {
    let mut d = [0.0; 11];
    let mut k = 0;
    let mut f = 2.0;
    while k < 11 {
        d[k] = C[k] * f;
        f *= 2.0;
        k += 1;
    }
    d
};

/// `tanh(x) = m / (m + 2)` with `m = expm1(2x)`, for either sign of `x`.
///
/// Written for the fewest operations per lane, since the vectorised loops are bound by the
/// floating-point pipes:
/// - the clamp to [-20, 20] (beyond which `tanh` is ±1 in f64) is a `min` and a `max` in the
///   comparison form, which passes a NaN through, so NaN needs no test of its own;
/// - the argument is reduced as `2x = n ln2 + 2h` (the factor 2 is folded into the reduction
///   constants and into [`D`], exact powers of two). The fused copies subtract `n · ln2/2` in
///   one multiply–add, whose only error is that of the constant (at most `|n| · 2⁻⁵⁵`,
///   `|n| ≤ 58`): it moves `e^(2h)` by at most `2⁻⁴⁸` relatively where `|n|` is largest,
///   where `tanh` is within `2e^(-2|x|)` of ±1 and so that error shrinks by the same factor;
///   near the origin (`n` = 0) there is no error at all. The plain copy keeps the two-part
///   constant, since without fusion `n · ln2/2` would round. `expm1(2h)` is evaluated in Horner's
///   form, one multiply–add per coefficient: eleven operations against Estrin's fourteen. The
///   longer dependency chain is hidden by the out-of-order core across loop iterations;
/// - negative arguments need no sign handling: `expm1(2x) ∈ (-1, 0)` there, `m + 2 ∈ (1, 2)`,
///   and `m = 2^n p - (1 - 2^n)` rounds once (`1 - 2^n` is exact for `n ≥ -53`). Written
///   as a fused multiply–subtract so that `m` keeps the sign of a zero `p`: `tanh(-0) = -0`.
#[inline(always)]
fn tanh_impl<const FMA: bool>(x: f64) -> f64 {
    let a = if 20.0 < x { 20.0 } else { x };
    let a = if a < -20.0 { -20.0 } else { a };
    let n = madd::<FMA>(a, 2.0 * INV_LN2, SHIFT) - SHIFT;
    let h = if FMA {
        madd::<FMA>(-n, 0.5 * std::f64::consts::LN_2, a)
    } else {
        madd::<FMA>(-n, 0.5 * LN2_LO, madd::<FMA>(-n, 0.5 * LN2_HI, a))
    };
    let mut q = D[10];
    for &d in D[..10].iter().rev() {
        q = madd::<FMA>(q, h, d);
    }
    let p = q * h;
    // expm1(2a) = 2^n (1 + p) - 1 = 2^n p - (1 - 2^n); for n = 0 this is p exactly (no
    // cancellation), so small arguments need no path of their own.
    let s = pow2(n);
    let m = madd::<FMA>(s, p, -(1.0 - s));
    m / (m + 2.0)
}

/// `tanh(x)`, accurate to a few ulp; branch-free, so loops over slices vectorise. Portable:
/// the same bits on every processor. Hot loops should call [`tanh_slice`], which is faster
/// where the processor has fused multiply–add.
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    tanh_impl::<false>(x)
}

/// Writes `tanh` of every element of `x` into `out` (same length).
///
/// The loop runs a copy compiled for the best instruction set this processor has
/// ([`simd_level`], detected at run time): on x86-64 with AVX2 and FMA four lanes with fused
/// multiply–adds, about 3.5x faster than the baseline two-lane loop; with AVX-512 eight lanes,
/// about 1.4x faster again. The AVX2 and AVX-512 copies perform the same operations on every
/// element, so they give the same bits; they can differ from [`tanh`] (no fused
/// multiply–adds) in the last bit. All are within a few ulp of the exact value.
///
/// ```
/// let x = [0.0, 0.5, -3.0];
/// let mut y = [0.0; 3];
/// autodiff::math::tanh_slice(&x, &mut y);
/// assert!((y[1] - 0.5f64.tanh()).abs() < 1e-15);
/// ```
pub fn tanh_slice<T: Scalar>(x: &[T], out: &mut [T]) {
    assert_eq!(x.len(), out.len(), "tanh_slice: lengths differ");
    match simd_level() {
        // SAFETY: the processor has the features of the level (checked by `simd_level`).
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { tanh_slice_avx512(x, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2Fma => match (f64_slice(x), f64_slice_mut(out)) {
            // SAFETY: as above.
            (Some(x), Some(out)) => unsafe { tanh_x86::slice(x, out) },
            // SAFETY: as above.
            _ => unsafe { tanh_slice_fma(x, out) },
        },
        _ => tanh_slice_with::<T, false>(x, out),
    }
}

/// Replaces every element of `x` by its `tanh`, as [`tanh_slice`] (same bits).
pub fn tanh_in_place<T: Scalar>(x: &mut [T]) {
    match simd_level() {
        // SAFETY: the processor has the features of the level (checked by `simd_level`).
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { tanh_in_place_avx512(x) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2Fma => match f64_slice_mut(x) {
            // SAFETY: as above.
            Some(x) => unsafe { tanh_x86::in_place(x) },
            // SAFETY: as above.
            None => unsafe { tanh_in_place_fma(x) },
        },
        _ => tanh_in_place_with::<T, false>(x),
    }
}

#[inline(always)]
fn tanh_in_place_with<T: Scalar, const FMA: bool>(x: &mut [T]) {
    for v in x.iter_mut() {
        *v = T::cast(tanh_impl::<FMA>(v.as_f64()));
    }
}

/// [`tanh_in_place`]'s loop compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tanh_in_place_fma<T: Scalar>(x: &mut [T]) {
    tanh_in_place_with::<T, true>(x);
}

/// [`tanh_in_place`]'s loop compiled for AVX-512 (the features of [`SimdLevel::Avx512`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn tanh_in_place_avx512<T: Scalar>(x: &mut [T]) {
    tanh_in_place_with::<T, true>(x);
}

/// Replaces `x[i + j·rows]` by `tanh(x[i + j·rows] + bias[j])` for every column `j <
/// bias.len()` of the column-major `rows × bias.len()` matrix `x`: a layer's bias and its
/// `tanh` in one pass (the sum in `T`, then `tanh` as [`tanh_in_place`], same bits as adding
/// first and calling it).
///
/// ```
/// let mut x = [0.0, 0.25, 1.0, -1.0];
/// autodiff::math::tanh_bias_in_place(&mut x, &[0.5, 1.0], 2);
/// assert!((x[1] - 0.75f64.tanh()).abs() < 1e-15 && x[3] == 0.0);
/// ```
///
/// # Panics
/// If `x.len() != rows · bias.len()`.
pub fn tanh_bias_in_place<T: Scalar>(x: &mut [T], bias: &[T], rows: usize) {
    assert_eq!(
        x.len(),
        rows * bias.len(),
        "tanh_bias_in_place: shape mismatch"
    );
    match simd_level() {
        // SAFETY: the processor has the features of the level (checked by `simd_level`).
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx512 => unsafe { tanh_bias_in_place_avx512(x, bias, rows) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        SimdLevel::Avx2Fma => match (f64_slice_mut(x), f64_slice(bias)) {
            // SAFETY: as above (and the lengths were checked).
            (Some(x), Some(bias)) => unsafe { tanh_x86::bias_in_place(x, bias, rows) },
            // SAFETY: as above.
            _ => unsafe { tanh_bias_in_place_fma(x, bias, rows) },
        },
        _ => tanh_bias_in_place_with::<T, false>(x, bias, rows),
    }
}

#[inline(always)]
fn tanh_bias_in_place_with<T: Scalar, const FMA: bool>(x: &mut [T], bias: &[T], rows: usize) {
    if rows == 0 {
        return;
    }
    for (col, &b) in x.chunks_exact_mut(rows).zip(bias) {
        for v in col.iter_mut() {
            *v = T::cast(tanh_impl::<FMA>((*v + b).as_f64()));
        }
    }
}

/// [`tanh_bias_in_place`]'s loop compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tanh_bias_in_place_fma<T: Scalar>(x: &mut [T], bias: &[T], rows: usize) {
    tanh_bias_in_place_with::<T, true>(x, bias, rows);
}

/// [`tanh_bias_in_place`]'s loop compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn tanh_bias_in_place_avx512<T: Scalar>(x: &mut [T], bias: &[T], rows: usize) {
    tanh_bias_in_place_with::<T, true>(x, bias, rows);
}

/// The instruction sets that the vectorised loops of this crate (and nn-layers' kernels) have
/// copies for, from the least to the most capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// The target's baseline (SSE2 on x86-64): two f64 lanes, no fused multiply–add.
    Baseline,
    /// x86-64 with AVX2 and FMA: four lanes, fused multiply–adds.
    Avx2Fma,
    /// x86-64 with AVX-512 (F, DQ, VL) besides AVX2 and FMA: eight lanes. Every copy for this
    /// level (here and in nn-layers) is compiled with exactly
    /// `#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]`, the features
    /// [`simd_level`] checks; change both together.
    Avx512,
}

impl SimdLevel {
    fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(SimdLevel::Baseline),
            2 => Some(SimdLevel::Avx2Fma),
            3 => Some(SimdLevel::Avx512),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            SimdLevel::Baseline => 1,
            SimdLevel::Avx2Fma => 2,
            SimdLevel::Avx512 => 3,
        }
    }
}

/// The level chosen on the first call (0 until then).
static LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// What this processor has, without the cap.
fn detected_level() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        let avx512 = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl");
        match (avx2, avx512) {
            (true, true) => SimdLevel::Avx512,
            (true, false) => SimdLevel::Avx2Fma,
            _ => SimdLevel::Baseline,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        SimdLevel::Baseline
    }
}

/// The instruction set the vectorised loops run on: the most capable one this processor has,
/// detected once per process. The environment variable `NEURAL_ODE_SIMD` (`baseline`, `avx2`
/// or `avx512`) caps it, read at the same time, so that one binary can measure its copies
/// against each other; an unknown value is ignored.
pub fn simd_level() -> SimdLevel {
    use std::sync::atomic::Ordering;
    if let Some(l) = SimdLevel::from_code(LEVEL.load(Ordering::Relaxed)) {
        return l;
    }
    let cap = match std::env::var("NEURAL_ODE_SIMD").as_deref() {
        Ok("baseline") => SimdLevel::Baseline,
        Ok("avx2") => SimdLevel::Avx2Fma,
        _ => SimdLevel::Avx512,
    };
    let l = detected_level().min(cap);
    LEVEL.store(l.code(), Ordering::Relaxed);
    l
}

/// Whether the loops run a fused (AVX2 + FMA, or AVX-512) copy: [`simd_level`] above
/// [`SimdLevel::Baseline`].
pub fn fused() -> bool {
    simd_level() > SimdLevel::Baseline
}

#[inline(always)]
fn tanh_slice_with<T: Scalar, const FMA: bool>(x: &[T], out: &mut [T]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = T::cast(tanh_impl::<FMA>(v.as_f64()));
    }
}

/// [`tanh_slice`]'s loop compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tanh_slice_fma<T: Scalar>(x: &[T], out: &mut [T]) {
    tanh_slice_with::<T, true>(x, out);
}

/// [`tanh_slice`]'s loop compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn tanh_slice_avx512<T: Scalar>(x: &[T], out: &mut [T]) {
    tanh_slice_with::<T, true>(x, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> f64 {
        if a == b {
            return 0.0;
        }
        let scale = f64::EPSILON * b.abs().max(f64::MIN_POSITIVE);
        (a - b).abs() / scale
    }

    #[test]
    fn tanh_matches_libm_to_a_few_ulp() {
        let mut worst: f64 = 0.0;
        let mut x = -25.0;
        while x <= 25.0 {
            worst = worst.max(ulps(tanh(x), x.tanh()));
            x += 0.000_731;
        }
        for k in -300..0 {
            let x = 10f64.powi(k / 10) * 1.37;
            worst = worst.max(ulps(tanh(x), x.tanh()));
            worst = worst.max(ulps(tanh(-x), (-x).tanh()));
        }
        assert!(worst <= 4.0, "worst {worst} ulp");
        assert_eq!(tanh(0.0), 0.0);
        assert!(tanh(-0.0).is_sign_negative());
        assert_eq!(tanh(f64::INFINITY), 1.0);
        assert_eq!(tanh(f64::NEG_INFINITY), -1.0);
        assert!(tanh(f64::NAN).is_nan());
    }

    #[test]
    fn the_fused_slice_matches_libm_and_the_scalar_version_to_an_ulp() {
        let x: Vec<f64> = (0..20_000)
            .map(|i| (i as f64 * 0.618_033_988_7).fract() * 50.0 - 25.0)
            .chain((-300..0).map(|k| 10f64.powi(k / 10) * 1.37))
            .chain([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, 1e-310])
            .collect();
        let mut y = vec![0.0; x.len()];
        tanh_slice(&x, &mut y);
        for (&x, &y) in x.iter().zip(&y) {
            assert!(ulps(y, x.tanh()) <= 4.0, "tanh({x}) = {y}");
            assert!(
                ulps(y, tanh(x)) <= 2.0,
                "tanh({x}) = {y} against {}",
                tanh(x)
            );
            assert_eq!(y.is_sign_negative(), x.is_sign_negative());
        }
        let mut z = x.clone();
        tanh_in_place(&mut z);
        assert!(z.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()));
        let mut nan = [0.0];
        tanh_slice(&[f64::NAN], &mut nan);
        assert!(nan[0].is_nan());
        // f32 goes through f64 and rounds once.
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut yf = vec![0.0f32; xf.len()];
        tanh_slice(&xf, &mut yf);
        for (&x, &y) in xf.iter().zip(&yf) {
            assert!((y - x.tanh()).abs() <= 2.0 * f32::EPSILON * x.tanh().abs().max(1e-30));
        }
    }

    /// Whether [`tanh_bias_in_place`] gives the bits of adding the bias in `T`, then
    /// [`tanh_in_place`].
    fn bias_pass_matches_adding_then_tanh<T: Scalar>(x: &[T], bias: &[T], rows: usize) -> bool {
        let mut fused = x.to_vec();
        tanh_bias_in_place(&mut fused, bias, rows);
        let mut added: Vec<T> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| v + bias[i / rows])
            .collect();
        tanh_in_place(&mut added);
        // `as_f64` is exact for f32 and f64, so equal bits there are equal bits in `T`.
        fused
            .iter()
            .zip(&added)
            .all(|(a, b)| a.as_f64().to_bits() == b.as_f64().to_bits())
    }

    #[test]
    fn the_bias_and_tanh_pass_gives_the_bits_of_adding_then_tanh() {
        let rows = 37;
        let bias: Vec<f64> = (0..6).map(|j| j as f64 * 0.7 - 2.0).collect();
        let x: Vec<f64> = (0..rows * bias.len())
            .map(|i| (i as f64 * 0.618_033_988_7).fract() * 8.0 - 4.0)
            .collect();
        assert!(bias_pass_matches_adding_then_tanh(&x, &bias, rows));
        // f32: the sum rounds in f32 first.
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let bf: Vec<f32> = bias.iter().map(|&v| v as f32).collect();
        assert!(bias_pass_matches_adding_then_tanh(&xf, &bf, rows));
        // No rows: nothing to do.
        tanh_bias_in_place::<f64>(&mut [], &bias, 0);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_copy_gives_the_bits_of_the_avx2_copy() {
        if detected_level() < SimdLevel::Avx512 {
            eprintln!("skipped: this processor has no AVX-512");
            return;
        }
        let x: Vec<f64> = (0..20_003)
            .map(|i| (i as f64 * 0.618_033_988_7).fract() * 50.0 - 25.0)
            .chain([
                0.0,
                -0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                1e-310,
                -3e-300,
            ])
            .collect();
        let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        // SAFETY: AVX-512 (and so AVX2 and FMA) detected above.
        unsafe {
            tanh_slice_fma(&x, &mut a);
            tanh_slice_avx512(&x, &mut b);
        }
        for ((&x, &a), &b) in x.iter().zip(&a).zip(&b) {
            assert_eq!(a.to_bits(), b.to_bits(), "tanh({x})");
        }
        let mut c = x.clone();
        // SAFETY: as above.
        unsafe { tanh_in_place_avx512(&mut c) };
        assert!(c.iter().zip(&b).all(|(c, b)| c.to_bits() == b.to_bits()));
        // f32 through the AVX-512 copy.
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (mut af, mut bf) = (vec![0.0f32; xf.len()], vec![0.0f32; xf.len()]);
        // SAFETY: as above.
        unsafe {
            tanh_slice_fma(&xf, &mut af);
            tanh_slice_avx512(&xf, &mut bf);
        }
        assert!(af.iter().zip(&bf).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn the_simd_level_is_what_the_processor_has_under_the_cap() {
        let l = simd_level();
        assert!(l <= detected_level());
        assert_eq!(fused(), l > SimdLevel::Baseline);
        assert_eq!(simd_level(), l, "chosen once");
    }

    #[test]
    fn exp_matches_libm_to_a_few_ulp() {
        let mut worst: f64 = 0.0;
        let mut x = -700.0;
        while x <= 700.0 {
            worst = worst.max(ulps(exp(x), x.exp()));
            x += 0.0371;
        }
        assert!(worst <= 4.0, "worst {worst} ulp");
        assert_eq!(exp(800.0), f64::INFINITY);
        assert_eq!(exp(-800.0), 0.0);
        assert!(exp(f64::NAN).is_nan());
    }
}
