//! Tape-based reverse-mode automatic differentiation over dense nalgebra matrices.
//!
//! # Brief overview
//!
//! * [`Tape<T>`](Tape) records operations on dense matrices ([`nalgebra::DMatrix<T>`], with `T`
//!   `f32` or `f64`, see [`Scalar`]). Each recorded value is named by a [`Var`], a small `Copy`
//!   handle. Operations are methods of the tape: `tape.matmul(x, w)?`, `tape.add(h, b)?`,
//!   `tape.tanh(h)`, ...; their values are computed immediately.
//! * [`Tape::backward`] (from a 1x1 output) or [`Tape::backward_with`] (from any output with a
//!   cotangent) runs one reverse sweep, iteratively; [`Tape::grad`] then reads leaf gradients.
//!   Fan-out (a value used several times) accumulates.
//! * [`Tape::clear`] keeps every buffer. Re-evaluating the same function on a cleared tape reuses
//!   them and performs no heap allocation in the tape (see "Allocation" below).
//! * [`Tape::set_recording`]`(false)` runs the same model code as a plain evaluation.
//! * [`functional`] builds [`grad`], [`vjp`], [`jacobian`], [`trace_exact`] and Hutchinson's trace
//!   estimator ([`Hutchinson`], [`trace_hutchinson`]) on top.
//!
//! Layout convention: rows are batch samples and columns are features, so a linear layer is
//! `x (B x D) · W (D x H) + b (1 x H)`, with `b` broadcast over the rows. Storage is column-major.
//!
//! # Operations
//!
//! | family | methods |
//! |---|---|
//! | inputs | [`leaf`](Tape::leaf), [`leaf_from_slice`](Tape::leaf_from_slice), [`leaf_scalar`](Tape::leaf_scalar), [`constant`](Tape::constant), [`constant_from_slice`](Tape::constant_from_slice), [`constant_scalar`](Tape::constant_scalar), [`constant_fill`](Tape::constant_fill), [`one_hot`](Tape::one_hot) |
//! | arithmetic (broadcasting) | [`add`](Tape::add), [`sub`](Tape::sub), [`mul`](Tape::mul), [`div`](Tape::div) |
//! | with a constant scalar | [`add_scalar`](Tape::add_scalar), [`sub_scalar`](Tape::sub_scalar), [`scalar_sub`](Tape::scalar_sub), [`mul_scalar`](Tape::mul_scalar), [`div_scalar`](Tape::div_scalar), [`neg`](Tape::neg) |
//! | elementwise functions | [`tanh`](Tape::tanh), [`sigmoid`](Tape::sigmoid), [`relu`](Tape::relu), [`softplus`](Tape::softplus), [`elu`](Tape::elu), [`exp`](Tape::exp), [`log`](Tape::log), [`sqrt`](Tape::sqrt), [`square`](Tape::square), [`powi`](Tape::powi), [`sin`](Tape::sin), [`cos`](Tape::cos), [`abs`](Tape::abs) |
//! | linear algebra | [`matmul`](Tape::matmul), [`matmul_tn`](Tape::matmul_tn), [`matmul_nt`](Tape::matmul_nt), [`matmul_t`](Tape::matmul_t), [`transpose`](Tape::transpose) |
//! | reductions | [`sum`](Tape::sum), [`mean`](Tape::mean), [`row_sums`](Tape::row_sums), [`row_means`](Tape::row_means), [`col_sums`](Tape::col_sums), [`col_means`](Tape::col_means) |
//! | softmax family | [`log_sum_exp`](Tape::log_sum_exp), [`row_log_sum_exp`](Tape::row_log_sum_exp), [`log_softmax`](Tape::log_softmax), [`softmax_cross_entropy`](Tape::softmax_cross_entropy) |
//! | structure | [`concat_rows`](Tape::concat_rows), [`concat_cols`](Tape::concat_cols), [`slice`](Tape::slice), [`slice_rows`](Tape::slice_rows), [`slice_cols`](Tape::slice_cols), [`reshape`](Tape::reshape) |
//! | images | [`im2col`](Tape::im2col) (patch matrix for convolution and pooling, see [`Patches`]) |
//!
//! # Errors and panics
//!
//! Bad input is a typed error, never a panic: every operation that can fail on shapes returns
//! `Result<Var, AutodiffError>`, and the error is raised where the operation is recorded, naming
//! the operation and both shapes ([`AutodiffError::ShapeMismatch`] and friends). Operations that
//! cannot fail (elementwise functions, reductions, transpose) return a plain [`Var`].
//! Numerical domain errors (`log` of a negative number, ...) follow IEEE arithmetic and produce
//! NaN or infinities, as nalgebra does; callers that must reject them check the values.
//! Using a [`Var`] with a tape it does not come from, or after [`Tape::clear`], is a programming
//! error and panics with a message.
//!
//! # Allocation
//!
//! Values, gradients and per-operation scratch buffers live in pools indexed by position on the
//! tape. After one evaluation and backward sweep of a function, evaluating the same function again
//! (same sequence of operations and shapes) on the cleared tape allocates nothing in this crate.
//! Matrix products go through [`gemm`]: operands with every dimension above 5 go to faer's
//! matrix product, which keeps its packing buffers in a per-thread cache (allocated by the first
//! product on a thread), so warm products allocate nothing either.
//!
//! # Example: a vector–Jacobian product per solver step
//!
//! The adjoint method needs, thousands of times per solve, `f(z, t, θ)` and the products
//! `aᵀ ∂f/∂z`, `aᵀ ∂f/∂θ` and `aᵀ ∂f/∂t`. Keep one tape, clear it, record, sweep backward with
//! cotangent `a`, and copy the gradients out; once warm this allocates nothing.
//!
//! ```
//! use autodiff::{Tape, Var, Result};
//!
//! /// f(z, t, θ) = tanh(z W + t c + b), with θ = [W (2x2), c (1x2), b (1x2)] flattened.
//! fn dynamics(tape: &mut Tape<f64>, z: Var, t: Var, theta: Var) -> Result<Var> {
//!     let w = tape.flat_slice(theta, 0, 2, 2)?;
//!     let c = tape.slice_cols(theta, 4, 2)?;
//!     let b = tape.slice_cols(theta, 6, 2)?;
//!     let h = tape.matmul(z, w)?;
//!     let tc = tape.mul(c, t)?; // t is 1x1, broadcast
//!     let h = tape.add(h, tc)?;
//!     let h = tape.add(h, b)?;
//!     Ok(tape.tanh(h))
//! }
//!
//! let theta = [0.5, -0.3, 0.2, 0.8, 0.1, -0.1, 0.05, 0.0];
//! let (mut z, mut a) = ([1.0, -1.0], [1.0, 0.5]);
//! let (mut dz, mut dtheta, mut dt) = ([0.0; 2], [0.0; 8], [0.0; 1]);
//! let mut tape = Tape::<f64>::new();
//! for step in 0..3 {
//!     let t_now = 1.0 - 0.1 * step as f64;
//!     tape.clear();
//!     let zv = tape.leaf_from_slice(1, 2, &z)?;
//!     let tv = tape.leaf_scalar(t_now);
//!     let th = tape.leaf_from_slice(1, 8, &theta)?;
//!     let f = dynamics(&mut tape, zv, tv, th)?;
//!     tape.backward_with_slice(f, &a)?; // cotangent a
//!     tape.grad_to_slice(zv, &mut dz)?; // aᵀ ∂f/∂z
//!     tape.grad_to_slice(th, &mut dtheta)?; // aᵀ ∂f/∂θ
//!     tape.grad_to_slice(tv, &mut dt)?; // aᵀ ∂f/∂t
//!     // ... a solver would combine these into its stages; here, a toy update:
//!     for i in 0..2 {
//!         z[i] -= 0.1 * tape.value(f)[i];
//!         a[i] += 0.1 * dz[i];
//!     }
//! }
//! assert!(dt[0].is_finite() && dtheta.iter().all(|g| g.is_finite()));
//!
//! // The forward solve runs the same code without recording.
//! tape.clear();
//! tape.set_recording(false);
//! let zv = tape.constant_from_slice(1, 2, &z)?;
//! let tv = tape.constant_scalar(0.0);
//! let th = tape.constant_from_slice(1, 8, &theta)?;
//! let f = dynamics(&mut tape, zv, tv, th)?;
//! assert_eq!(tape.value(f).len(), 2);
//! tape.set_recording(true);
//! # Ok::<(), autodiff::AutodiffError>(())
//! ```
#![deny(missing_docs)]

mod error;
pub mod functional;
pub mod math;
mod ops;
mod scalar;
mod tape;

pub use error::{AutodiffError, Result};
pub use functional::{grad, jacobian, trace_exact, trace_hutchinson, vjp, Hutchinson, Probe};
pub use ops::conv::Patches;
pub use ops::linalg::gemm;
pub use scalar::Scalar;
pub use tape::{Tape, Var};
