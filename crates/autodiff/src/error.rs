//! The crate's error type.

/// Everything that can go wrong when recording or differentiating on a [`Tape`](crate::Tape).
///
/// Shapes are `(rows, columns)`. Every message names the operation and the shapes involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AutodiffError {
    /// Two operands have shapes the operation cannot combine.
    #[error("{op}: shape mismatch between {lhs:?} and {rhs:?}")]
    ShapeMismatch {
        /// The operation that was being recorded.
        op: &'static str,
        /// Shape of the left (first) operand.
        lhs: (usize, usize),
        /// Shape of the right (second) operand, or the requested shape.
        rhs: (usize, usize),
    },
    /// A slice, reshape or buffer does not fit the shape it was asked for.
    #[error("{op}: {what} (operand shape {shape:?})")]
    InvalidShape {
        /// The operation that was being recorded.
        op: &'static str,
        /// The operand's shape.
        shape: (usize, usize),
        /// What is wrong, in words.
        what: &'static str,
    },
    /// A buffer holds the wrong number of elements for the shape it should fill.
    #[error("{op}: expected {expected} elements for shape {shape:?}, got {got}")]
    LengthMismatch {
        /// The operation or function that received the buffer.
        op: &'static str,
        /// The shape the buffer should fill.
        shape: (usize, usize),
        /// `rows * cols`.
        expected: usize,
        /// The buffer's length.
        got: usize,
    },
    /// `backward` without a cotangent needs a 1x1 output.
    #[error("backward: output has shape {shape:?}; a cotangent is needed for a non-scalar output (use backward_with)")]
    NotScalar {
        /// The output's shape.
        shape: (usize, usize),
    },
    /// `backward` was called on a tape that was not recording.
    #[error("backward: the tape was not recording when the output was computed (call set_recording(true) before evaluating)")]
    NotRecording,
    /// A value that must be finite is NaN or infinite.
    #[error("{op}: non-finite value")]
    NonFinite {
        /// Where the value was found.
        op: &'static str,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = AutodiffError> = std::result::Result<T, E>;
