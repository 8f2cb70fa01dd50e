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
/// ```
/// assert!(adjoint::memo::same_bits(&[1.0, -0.0], &[1.0, -0.0]));
/// assert!(!adjoint::memo::same_bits(&[0.0], &[-0.0]));
/// ```
pub fn same_bits<T: ode_solvers::Real>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).fold(0u64, |acc, (x, y)| {
            acc | (x.as_f64().to_bits() ^ y.as_f64().to_bits())
        }) == 0
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
