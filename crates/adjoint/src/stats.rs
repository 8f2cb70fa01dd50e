//! Work counters of the two passes.

/// Work done by one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassStats {
    /// Plain evaluations of `f` ([`crate::Dynamics::eval`] calls).
    pub nfe: usize,
    /// Vector–Jacobian products ([`crate::Dynamics::vjp`] calls; each also evaluates `f`).
    pub vjps: usize,
    /// Accepted solver steps (for `Direct`/`Checkpointed` backward: steps replayed).
    pub accepted: usize,
    /// Rejected solver steps.
    pub rejected: usize,
}

/// Work and memory of a forward–backward computation.
///
/// For `Adjoint`, the backward right-hand side is the augmented system; every evaluation of
/// it is one vector–Jacobian product, so `backward.vjps` is the backward "NFE" in the sense of
/// the paper; `backward.nfe` counts the `N` plain evaluations for the time gradients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GradStats {
    /// The forward solve.
    pub forward: PassStats,
    /// The backward pass.
    pub backward: PassStats,
    /// State vectors (of length `dim`) the forward pass kept for the backward pass,
    /// including the `N + 1` observed states: `N + 1` for `Adjoint`, one per accepted step
    /// for `Direct`, at most `N + 1 + checkpoints` for `Checkpointed`.
    pub stored_states: usize,
    /// Largest number of state vectors the backward pass held at once to reverse a segment,
    /// its start included (1 for `Direct`, 0 for `Adjoint`; for `Checkpointed` at most the
    /// budget minus the checkpoints held, plus one, or the longest segment with no limit).
    pub segment_states: usize,
}
