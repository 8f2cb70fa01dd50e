//! Helpers for dynamics that keep their last forward passes: a fast hash of a state's bits,
//! an exact bitwise comparison, and the counts of passes computed and reused.
//!
//! `Direct` and `Checkpointed` gradients re-evaluate every stage of a step and then take the
//! vector–Jacobian products at the same stage inputs in reverse order, with the same bits as
//! the first evaluation (see `docs/adjoint.md`). Dynamics that keep their last few passes,
//! found by these helpers, answer those products without repeating the forward pass:
//! [`crate::TapeDynamics::with_memory`] and `nn_layers::MlpDynamics::with_memory`.

/// How dynamics that keep forward passes met their requests (see
/// [`crate::TapeDynamics::pass_counts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassCounts {
    /// Forward passes computed (by evaluations and by vector–Jacobian products).
    pub computed: usize,
    /// Evaluations and vector–Jacobian products that found their pass kept in memory.
    pub reused: usize,
}

/// Whether `a` and `b` hold the same bits (no early exit, so that the loop vectorises).
///
/// Long slices (a parameter vector is compared on every call of a dynamics that keeps its
/// passes) run a copy of the loop compiled for AVX-512 or AVX2 where the processor has it
/// ([`autodiff::math::simd_level`]); the answer is the same.
///
/// ```
/// assert!(adjoint::memo::same_bits(&[1.0, -0.0], &[1.0, -0.0]));
/// assert!(!adjoint::memo::same_bits(&[0.0], &[-0.0]));
/// ```
pub fn same_bits<T: ode_solvers::Real>(a: &[T], b: &[T]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    if a.len() >= 64 {
        use autodiff::math::{simd_level, SimdLevel};
        match simd_level() {
            // SAFETY: the processor has the level's features (checked by `simd_level`).
            SimdLevel::Avx512 => return unsafe { same_bits_avx512(a, b) },
            // SAFETY: as above.
            SimdLevel::Avx2Fma => return unsafe { same_bits_avx2(a, b) },
            SimdLevel::Baseline => {}
        }
    }
    same_bits_loop(a, b)
}

/// [`same_bits`]' loop, for slices of equal length.
#[inline(always)]
fn same_bits_loop<T: ode_solvers::Real>(a: &[T], b: &[T]) -> bool {
    a.iter().zip(b).fold(0u64, |acc, (x, y)| {
        acc | (x.as_f64().to_bits() ^ y.as_f64().to_bits())
    }) == 0
}

/// [`same_bits_loop`] compiled for AVX-512 (the features of `SimdLevel::Avx512`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn same_bits_avx512<T: ode_solvers::Real>(a: &[T], b: &[T]) -> bool {
    same_bits_loop(a, b)
}

/// [`same_bits_loop`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn same_bits_avx2<T: ode_solvers::Real>(a: &[T], b: &[T]) -> bool {
    same_bits_loop(a, b)
}

/// A hash of the bits of `z` (four interleaved multiply–rotate chains, so that it costs about
/// a nanosecond per element). Equal slices hash equally; use [`same_bits`] to confirm a match.
///
/// ```
/// use adjoint::memo::state_hash;
/// assert_eq!(state_hash(&[1.0, 2.0, 3.0]), state_hash(&[1.0, 2.0, 3.0]));
/// assert_ne!(state_hash(&[1.0, 2.0, 3.0]), state_hash(&[1.0, 2.0, 3.5]));
/// ```
pub fn state_hash<T: ode_solvers::Real>(z: &[T]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut acc = [
        0x243f_6a88_85a3_08d3u64,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let mut chunks = z.chunks_exact(4);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = (a.rotate_left(5) ^ v.as_f64().to_bits()).wrapping_mul(K);
        }
    }
    for (a, v) in acc.iter_mut().zip(chunks.remainder()) {
        *a = (a.rotate_left(5) ^ v.as_f64().to_bits()).wrapping_mul(K);
    }
    acc.iter().fold(z.len() as u64, |h, &a| {
        (h.rotate_left(17) ^ a).wrapping_mul(K)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bits_finds_any_one_changed_bit_at_every_length_and_position() {
        // Lengths below and above the vectorised copies' threshold, with every position
        // changed in turn by one bit, a sign of zero, or a NaN payload.
        for n in [0usize, 1, 7, 63, 64, 65, 130, 253] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            assert!(same_bits(&a, &a.clone()));
            for i in 0..n {
                for flip in [1u64, 1 << 52, 1 << 63] {
                    let mut b = a.clone();
                    b[i] = f64::from_bits(b[i].to_bits() ^ flip);
                    assert!(!same_bits(&a, &b), "n {n}, position {i}, flip {flip:#x}");
                }
            }
            if n > 0 {
                assert!(!same_bits(&a, &a[..n - 1]), "lengths differ");
            }
        }
        let z = vec![0.0f64; 100];
        let mut nz = z.clone();
        nz[99] = -0.0;
        assert!(!same_bits(&z, &nz));
        let nan = vec![f64::NAN; 100];
        assert!(
            same_bits(&nan, &nan.clone()),
            "the same NaN bits are the same"
        );
        let a32: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let mut b32 = a32.clone();
        assert!(same_bits(&a32, &b32));
        b32[50] = f32::from_bits(b32[50].to_bits() ^ 1);
        assert!(!same_bits(&a32, &b32));
    }
}
