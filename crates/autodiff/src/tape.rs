//! The tape: an arena of recorded operations, their values and, after a backward pass, the
//! gradients of the leaves.

use std::sync::atomic::{AtomicU64, Ordering};

use nalgebra::DMatrix;

use crate::error::{AutodiffError, Result};
use crate::ops::Op;
use crate::Scalar;

/// Source of tape epochs: every tape and every [`Tape::clear`] gets a fresh one, so a [`Var`] from
/// another tape or from before a clear is caught instead of silently reading the wrong slot.
static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

fn fresh_epoch() -> u64 {
    NEXT_EPOCH.fetch_add(1, Ordering::Relaxed)
}

/// A handle to one value recorded on a [`Tape`]: an index plus the value's shape.
///
/// `Var` is `Copy` and 32 bytes; all arithmetic goes through methods of the tape that owns it.
/// Using a `Var` with another tape, or after [`Tape::clear`], is a programming error and panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var {
    pub(crate) idx: usize,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) epoch: u64,
}

impl Var {
    /// The value's shape, `(rows, columns)`.
    #[inline]
    pub fn shape(self) -> (usize, usize) {
        (self.rows, self.cols)
    }
    /// Number of rows.
    #[inline]
    pub fn rows(self) -> usize {
        self.rows
    }
    /// Number of columns.
    #[inline]
    pub fn cols(self) -> usize {
        self.cols
    }
    /// Number of elements, `rows * cols`.
    #[inline]
    pub fn len(self) -> usize {
        self.rows * self.cols
    }
    /// Whether the value has no elements.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
    /// Position of the value on its tape (0 for the first value recorded after a clear).
    #[inline]
    pub fn index(self) -> usize {
        self.idx
    }
}

/// One recorded operation.
pub(crate) struct Node<T> {
    pub(crate) op: Op<T>,
    /// Whether a gradient flows into this node: it is a leaf, or one of its inputs requires one.
    pub(crate) rg: bool,
}

/// A reusable recording of operations on dense matrices, for reverse-mode differentiation.
///
/// # Brief overview
///
/// * Inputs enter as [`leaf`](Tape::leaf)s (differentiable) or [`constant`](Tape::constant)s.
///   Every operation (methods such as [`matmul`](Tape::matmul), [`add`](Tape::add),
///   [`tanh`](Tape::tanh)) computes its value immediately and returns a [`Var`] handle.
/// * [`backward`](Tape::backward) (scalar output) or [`backward_with`](Tape::backward_with)
///   (any output, with a cotangent) runs the reverse sweep; [`grad`](Tape::grad) then reads the
///   gradient of each leaf. The sweep is a loop over the tape, never recursion, so graphs of any
///   depth work.
/// * [`clear`](Tape::clear) forgets the recorded graph but keeps every buffer: values, gradients
///   and scratch space live in pools indexed by position on the tape, and a buffer is reused
///   whenever the value in that position has the same number of elements as last time. Evaluating
///   the same function again on a cleared tape therefore allocates nothing.
/// * [`set_recording(false)`](Tape::set_recording) evaluates the same code without recording the
///   graph (for forward solves); backward is then refused.
///
/// Gradients are kept for leaves only; an intermediate value's gradient buffer is recycled during
/// the sweep (often by moving it to an input instead of copying), so [`grad`](Tape::grad) of a
/// non-leaf returns `None`.
///
/// Matrices are column-major (nalgebra's layout); [`reshape`](Tape::reshape) and the
/// `*_from_slice` constructors use that order. By convention rows are batch samples and columns
/// are features.
///
/// # Example
/// ```
/// use autodiff::Tape;
/// use nalgebra::DMatrix;
///
/// let mut tape = Tape::<f64>::new();
/// let x = tape.leaf(&DMatrix::from_row_slice(1, 2, &[1.0, 2.0]));
/// let y = tape.square(x);
/// let loss = tape.sum(y); // x0^2 + x1^2
/// tape.backward(loss)?;
/// assert_eq!(tape.grad(x).unwrap().as_slice(), &[2.0, 4.0]);
/// # Ok::<(), autodiff::AutodiffError>(())
/// ```
pub struct Tape<T: Scalar> {
    pub(crate) nodes: Vec<Node<T>>,
    /// Value pool: `vals[i]` holds the value of node `i`; entries beyond `nodes.len()` are kept
    /// for reuse.
    pub(crate) vals: Vec<DMatrix<T>>,
    /// Gradient pool, indexed like `vals`.
    pub(crate) grads: Vec<DMatrix<T>>,
    /// Scratch pool for operations that keep forward data for their backward rule.
    pub(crate) aux: Vec<DMatrix<T>>,
    /// `live[i]`: `grads[i]` holds a gradient from the current backward sweep.
    pub(crate) live: Vec<bool>,
    epoch: u64,
    recording: bool,
    /// Some value since the last clear was computed with recording off.
    unrecorded: bool,
}

impl<T: Scalar> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar> std::fmt::Debug for Tape<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tape")
            .field("len", &self.nodes.len())
            .field("pooled", &self.vals.len())
            .field("recording", &self.recording)
            .finish()
    }
}

/// Makes `m` an `r x c` matrix, reusing its allocation when it is large enough. Contents are
/// unspecified afterwards (old values, or zeros where it grew).
#[inline]
pub(crate) fn ensure_shape<T: Scalar>(m: &mut DMatrix<T>, r: usize, c: usize) {
    if m.shape() == (r, c) {
        return;
    }
    let old = std::mem::replace(m, DMatrix::from_vec(0, 0, Vec::new()));
    let mut v: Vec<T> = old.data.into();
    v.resize(r * c, T::zero());
    *m = DMatrix::from_vec(r, c, v);
}

impl<T: Scalar> Tape<T> {
    /// An empty tape, recording.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty tape with room for `nodes` recorded values before its bookkeeping grows
    /// (matrix buffers are still allocated on first use).
    pub fn with_capacity(nodes: usize) -> Self {
        Tape {
            nodes: Vec::with_capacity(nodes),
            vals: Vec::with_capacity(nodes),
            grads: Vec::with_capacity(nodes),
            aux: Vec::with_capacity(nodes),
            live: Vec::with_capacity(nodes),
            epoch: fresh_epoch(),
            recording: true,
            unrecorded: false,
        }
    }

    /// Forgets every recorded value and gradient, keeping all buffers for reuse.
    ///
    /// All [`Var`]s from before the clear become invalid.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.epoch = fresh_epoch();
        self.unrecorded = false;
    }

    /// Turns recording on or off. With recording off, operations compute their values exactly as
    /// before but no gradient can flow through them, and [`backward`](Tape::backward) returns
    /// [`AutodiffError::NotRecording`] until the next [`clear`](Tape::clear). Use it to run model
    /// code for a forward solve at the lowest cost.
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// Whether operations are being recorded for differentiation.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Number of values recorded since the last clear.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing has been recorded since the last clear.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Checks that `v` belongs to this tape and epoch.
    #[inline]
    #[track_caller]
    pub(crate) fn check(&self, v: Var) {
        assert!(
            v.epoch == self.epoch && v.idx < self.nodes.len(),
            "autodiff: Var {} used with a tape it does not belong to, or after Tape::clear",
            v.idx
        );
    }

    /// Records a node of shape `r x c`. `compute(out, vals, aux)` writes the value into `out`
    /// (pooled, contents unspecified); `vals` are the values of all earlier nodes and `aux` is the
    /// node's scratch buffer.
    #[inline]
    pub(crate) fn push(
        &mut self,
        op: Op<T>,
        inputs: &[Var],
        r: usize,
        c: usize,
        compute: impl FnOnce(&mut DMatrix<T>, &[DMatrix<T>], &mut DMatrix<T>),
    ) -> Var {
        let i = self.nodes.len();
        if self.vals.len() <= i {
            self.vals
                .push(DMatrix::from_vec(r, c, vec![T::zero(); r * c]));
        } else {
            ensure_shape(&mut self.vals[i], r, c);
        }
        if self.aux.len() <= i {
            self.aux.push(DMatrix::from_vec(0, 0, Vec::new()));
        }
        if self.live.len() <= i {
            self.live.push(false);
        } else {
            self.live[i] = false;
        }
        let (lo, hi) = self.vals.split_at_mut(i);
        compute(&mut hi[0], lo, &mut self.aux[i]);
        let rg = self.recording && inputs.iter().any(|v| self.nodes[v.idx].rg);
        let op = if self.recording { op } else { Op::Constant };
        if !self.recording {
            self.unrecorded = true;
        }
        self.nodes.push(Node { op, rg });
        Var {
            idx: i,
            rows: r,
            cols: c,
            epoch: self.epoch,
        }
    }

    fn input(&mut self, r: usize, c: usize, data: &[T], trainable: bool) -> Var {
        debug_assert_eq!(data.len(), r * c);
        let v = self.push(
            if trainable { Op::Leaf } else { Op::Constant },
            &[],
            r,
            c,
            |out, _, _| out.as_mut_slice().copy_from_slice(data),
        );
        if trainable && self.recording {
            self.nodes[v.idx].rg = true;
        }
        v
    }

    /// Records a differentiable input (a leaf) holding a copy of `value`.
    pub fn leaf(&mut self, value: &DMatrix<T>) -> Var {
        self.input(value.nrows(), value.ncols(), value.as_slice(), true)
    }

    /// Records a differentiable `rows x cols` input from column-major `data`.
    ///
    /// # Errors
    /// [`AutodiffError::LengthMismatch`] if `data.len() != rows * cols`.
    pub fn leaf_from_slice(&mut self, rows: usize, cols: usize, data: &[T]) -> Result<Var> {
        check_len("leaf_from_slice", rows, cols, data.len())?;
        Ok(self.input(rows, cols, data, true))
    }

    /// Records a differentiable 1x1 input.
    pub fn leaf_scalar(&mut self, x: T) -> Var {
        self.input(1, 1, &[x], true)
    }

    /// Records a constant: a value no gradient is computed for (data, targets, fixed weights).
    pub fn constant(&mut self, value: &DMatrix<T>) -> Var {
        self.input(value.nrows(), value.ncols(), value.as_slice(), false)
    }

    /// Records a `rows x cols` constant from column-major `data`.
    ///
    /// # Errors
    /// [`AutodiffError::LengthMismatch`] if `data.len() != rows * cols`.
    pub fn constant_from_slice(&mut self, rows: usize, cols: usize, data: &[T]) -> Result<Var> {
        check_len("constant_from_slice", rows, cols, data.len())?;
        Ok(self.input(rows, cols, data, false))
    }

    /// Records a 1x1 constant.
    pub fn constant_scalar(&mut self, x: T) -> Var {
        self.input(1, 1, &[x], false)
    }

    /// Records a `rows x cols` constant with every element equal to `x`.
    pub fn constant_fill(&mut self, rows: usize, cols: usize, x: T) -> Var {
        self.push(Op::Constant, &[], rows, cols, |out, _, _| out.fill(x))
    }

    /// Records a `labels.len() x classes` constant one-hot matrix: row `i` has a one in column
    /// `labels[i]`. For [`softmax_cross_entropy`](Tape::softmax_cross_entropy) with class labels.
    ///
    /// # Errors
    /// [`AutodiffError::InvalidShape`] if a label is `>= classes`.
    pub fn one_hot(&mut self, labels: &[usize], classes: usize) -> Result<Var> {
        if labels.iter().any(|&l| l >= classes) {
            return Err(AutodiffError::InvalidShape {
                op: "one_hot",
                shape: (labels.len(), classes),
                what: "label out of range",
            });
        }
        let n = labels.len();
        Ok(self.push(Op::Constant, &[], n, classes, |out, _, _| {
            out.fill(T::zero());
            for (i, &l) in labels.iter().enumerate() {
                out[(i, l)] = T::one();
            }
        }))
    }

    /// The value of `v`.
    #[inline]
    pub fn value(&self, v: Var) -> &DMatrix<T> {
        self.check(v);
        &self.vals[v.idx]
    }

    /// The value of a 1x1 `v` as a scalar.
    ///
    /// # Errors
    /// [`AutodiffError::NotScalar`] if `v` is not 1x1.
    pub fn scalar_value(&self, v: Var) -> Result<T> {
        self.check(v);
        if v.shape() != (1, 1) {
            return Err(AutodiffError::NotScalar { shape: v.shape() });
        }
        Ok(self.vals[v.idx][0])
    }

    /// Whether `v` carries a gradient (it is a leaf, or depends on one, and was recorded).
    pub fn requires_grad(&self, v: Var) -> bool {
        self.check(v);
        self.nodes[v.idx].rg
    }

    /// Runs the reverse sweep from a 1x1 output `out` (seed 1).
    ///
    /// Gradients of earlier sweeps are forgotten first. Afterwards [`grad`](Tape::grad) gives
    /// d out / d leaf for every leaf `out` depends on.
    ///
    /// # Errors
    /// [`AutodiffError::NotScalar`] if `out` is not 1x1; [`AutodiffError::NotRecording`] if values
    /// were computed with recording off since the last clear.
    pub fn backward(&mut self, out: Var) -> Result<()> {
        self.check(out);
        if out.shape() != (1, 1) {
            return Err(AutodiffError::NotScalar { shape: out.shape() });
        }
        self.sweep(out, |g| g[0] = T::one())
    }

    /// Runs the reverse sweep from `out` with cotangent `cotangent` (same shape as `out`):
    /// afterwards [`grad`](Tape::grad) of a leaf `x` is the vector–Jacobian product
    /// `cotangentᵀ · d out / d x`, shaped like `x`.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if the shapes differ; [`AutodiffError::NotRecording`] as for
    /// [`backward`](Tape::backward).
    pub fn backward_with(&mut self, out: Var, cotangent: &DMatrix<T>) -> Result<()> {
        self.check(out);
        if out.shape() != cotangent.shape() {
            return Err(AutodiffError::ShapeMismatch {
                op: "backward_with",
                lhs: out.shape(),
                rhs: cotangent.shape(),
            });
        }
        self.sweep(out, |g| g.copy_from(cotangent))
    }

    /// Like [`backward_with`](Tape::backward_with), with the cotangent given as column-major
    /// elements.
    ///
    /// # Errors
    /// [`AutodiffError::LengthMismatch`] if `cotangent.len()` differs from `out.len()`.
    pub fn backward_with_slice(&mut self, out: Var, cotangent: &[T]) -> Result<()> {
        self.check(out);
        check_len("backward_with_slice", out.rows, out.cols, cotangent.len())?;
        self.sweep(out, |g| g.as_mut_slice().copy_from_slice(cotangent))
    }

    fn sweep(&mut self, out: Var, seed: impl FnOnce(&mut DMatrix<T>)) -> Result<()> {
        if self.unrecorded {
            return Err(AutodiffError::NotRecording);
        }
        let n = self.nodes.len();
        self.live[..n].fill(false);
        while self.grads.len() < n {
            self.grads.push(DMatrix::from_vec(0, 0, Vec::new()));
        }
        if !self.nodes[out.idx].rg {
            return Ok(());
        }
        // Size every gradient buffer that may be touched now, so that all allocation happens in
        // the first sweep and buffers can be moved between slots without changing their size.
        for (k, node) in self.nodes[..=out.idx].iter().enumerate() {
            if node.rg {
                let (r, c) = self.vals[k].shape();
                ensure_shape(&mut self.grads[k], r, c);
            }
        }
        seed(&mut self.grads[out.idx]);
        self.live[out.idx] = true;
        let Tape {
            nodes,
            vals,
            grads,
            aux,
            live,
            ..
        } = self;
        for i in (0..=out.idx).rev() {
            if !live[i] {
                continue;
            }
            let op = &nodes[i].op;
            if matches!(op, Op::Leaf | Op::Constant) {
                continue;
            }
            let (glo, ghi) = grads.split_at_mut(i);
            let (llo, _) = live.split_at_mut(i);
            let mut ctx = BackCtx {
                i,
                nodes,
                vals,
                aux: &mut aux[i],
                g: &mut ghi[0],
                grads: glo,
                live: llo,
            };
            crate::ops::backward(op, &mut ctx);
            live[i] = false;
        }
        Ok(())
    }

    /// The gradient of leaf `v` from the last backward sweep, shaped like `v`; `None` if `v` is
    /// not a leaf, or the output did not depend on it, or no sweep ran since `v` was recorded.
    pub fn grad(&self, v: Var) -> Option<&DMatrix<T>> {
        self.check(v);
        if self.live[v.idx] && matches!(self.nodes[v.idx].op, Op::Leaf) {
            Some(&self.grads[v.idx])
        } else {
            None
        }
    }

    /// Copies the gradient of `v` (column-major) into `out`, writing zeros where
    /// [`grad`](Tape::grad) would give `None` (the output does not depend on `v`).
    ///
    /// # Errors
    /// [`AutodiffError::LengthMismatch`] if `out.len() != v.len()`.
    pub fn grad_to_slice(&self, v: Var, out: &mut [T]) -> Result<()> {
        check_len("grad_to_slice", v.rows, v.cols, out.len())?;
        match self.grad(v) {
            Some(g) => out.copy_from_slice(g.as_slice()),
            None => out.fill(T::zero()),
        }
        Ok(())
    }
}

pub(crate) fn check_len(op: &'static str, r: usize, c: usize, got: usize) -> Result<()> {
    if r * c != got {
        return Err(AutodiffError::LengthMismatch {
            op,
            shape: (r, c),
            expected: r * c,
            got,
        });
    }
    Ok(())
}

/// What a backward rule sees: the values, its own output gradient, and the gradients of all
/// earlier nodes.
pub(crate) struct BackCtx<'a, T: Scalar> {
    pub(crate) i: usize,
    pub(crate) nodes: &'a [Node<T>],
    pub(crate) vals: &'a [DMatrix<T>],
    pub(crate) aux: &'a mut DMatrix<T>,
    /// The gradient of this node's output (may be moved to an input as its last use).
    pub(crate) g: &'a mut DMatrix<T>,
    pub(crate) grads: &'a mut [DMatrix<T>],
    pub(crate) live: &'a mut [bool],
}

impl<T: Scalar> BackCtx<'_, T> {
    /// Whether input `j` takes a gradient.
    #[inline]
    pub(crate) fn wants(&self, j: usize) -> bool {
        self.nodes[j].rg
    }

    /// This node's output gradient, the gradient buffer of input `j` (shaped like its value), and
    /// whether that buffer must be assigned (first contribution) rather than accumulated into.
    #[inline]
    pub(crate) fn target(&mut self, j: usize) -> (&DMatrix<T>, &mut DMatrix<T>, bool) {
        let (r, c) = self.vals[j].shape();
        let dst = &mut self.grads[j];
        ensure_shape(dst, r, c);
        let assign = !self.live[j];
        self.live[j] = true;
        (self.g, dst, assign)
    }

    /// Passes this node's gradient unchanged to input `j` of the same shape: moves the buffer when
    /// `j` has no gradient yet, adds it otherwise. Must be the last use of `g`.
    #[inline]
    pub(crate) fn pass_through(&mut self, j: usize, scale: T) {
        if !self.live[j] && scale == T::one() {
            // Both buffers have this shape (the sweep sized every pooled gradient up front), so
            // swapping keeps each slot's pool entry the right size for the next evaluation.
            std::mem::swap(&mut self.grads[j], self.g);
            self.live[j] = true;
            return;
        }
        let g: &DMatrix<T> = self.g;
        let (r, c) = self.vals[j].shape();
        let dst = &mut self.grads[j];
        ensure_shape(dst, r, c);
        let assign = !self.live[j];
        self.live[j] = true;
        let d = dst.as_mut_slice();
        if assign {
            for (d, &g) in d.iter_mut().zip(g.as_slice()) {
                *d = g * scale;
            }
        } else {
            for (d, &g) in d.iter_mut().zip(g.as_slice()) {
                *d += g * scale;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_shape_reuses_the_allocation() {
        let mut m = DMatrix::<f64>::zeros(4, 5);
        let ptr = m.as_ptr();
        ensure_shape(&mut m, 5, 4);
        assert_eq!(m.shape(), (5, 4));
        assert_eq!(m.as_ptr(), ptr, "same element count: no reallocation");
        ensure_shape(&mut m, 2, 3);
        assert_eq!(m.as_ptr(), ptr, "shrinking keeps the buffer");
        ensure_shape(&mut m, 4, 5);
        assert_eq!(
            m.as_ptr(),
            ptr,
            "growing back within capacity keeps the buffer"
        );
    }

    #[test]
    fn clear_keeps_pools_and_invalidates_vars() {
        let mut t = Tape::<f64>::new();
        let x = t.leaf_scalar(1.0);
        let _ = t.exp(x);
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.vals.len(), 2, "pooled values survive a clear");
        let y = t.leaf_scalar(2.0);
        assert_eq!(y.index(), 0);
        assert_ne!(x.epoch, y.epoch);
    }
}
