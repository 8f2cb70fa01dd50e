//! Structural operations: concatenation, slicing and reshaping.

use super::Op;
use crate::error::{AutodiffError, Result};
use crate::tape::{BackCtx, Tape, Var};
use crate::Scalar;

/// The dimension a concatenation stacks along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Axis {
    /// Stack vertically: the row counts add.
    Rows,
    /// Stack side by side: the column counts add.
    Cols,
}

impl<T: Scalar> Tape<T> {
    fn concat(&mut self, a: Var, b: Var, axis: Axis) -> Result<Var> {
        self.check(a);
        self.check(b);
        let (r, c) = match axis {
            Axis::Rows if a.cols == b.cols => (a.rows + b.rows, a.cols),
            Axis::Cols if a.rows == b.rows => (a.rows, a.cols + b.cols),
            _ => {
                return Err(AutodiffError::ShapeMismatch {
                    op: if axis == Axis::Rows {
                        "concat_rows"
                    } else {
                        "concat_cols"
                    },
                    lhs: a.shape(),
                    rhs: b.shape(),
                })
            }
        };
        let (ia, ib) = (a.idx, b.idx);
        Ok(self.push(
            Op::Concat { a: ia, b: ib, axis },
            &[a, b],
            r,
            c,
            |out, v, _| {
                let (x, y) = (&v[ia], &v[ib]);
                out.view_mut((0, 0), x.shape()).copy_from(x);
                let at = if axis == Axis::Rows {
                    (x.nrows(), 0)
                } else {
                    (0, x.ncols())
                };
                out.view_mut(at, y.shape()).copy_from(y);
            },
        ))
    }

    /// Stacks `a` above `b` (the column counts must agree): `(ra + rb) x c`.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if the column counts differ.
    pub fn concat_rows(&mut self, a: Var, b: Var) -> Result<Var> {
        self.concat(a, b, Axis::Rows)
    }

    /// Puts `a` left of `b` (the row counts must agree): `r x (ca + cb)`; e.g. appends time as a
    /// feature column.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if the row counts differ.
    pub fn concat_cols(&mut self, a: Var, b: Var) -> Result<Var> {
        self.concat(a, b, Axis::Cols)
    }

    /// The `rows x cols` block of `a` starting at row `r0`, column `c0` (a copy).
    ///
    /// # Errors
    /// [`AutodiffError::InvalidShape`] if the block does not lie inside `a`.
    pub fn slice(&mut self, a: Var, r0: usize, c0: usize, rows: usize, cols: usize) -> Result<Var> {
        self.check(a);
        let fits = r0.checked_add(rows).is_some_and(|e| e <= a.rows)
            && c0.checked_add(cols).is_some_and(|e| e <= a.cols);
        if !fits {
            return Err(AutodiffError::InvalidShape {
                op: "slice",
                shape: a.shape(),
                what: "the requested block extends past the operand",
            });
        }
        let ia = a.idx;
        Ok(self.push(
            Op::Slice { a: ia, r0, c0 },
            &[a],
            rows,
            cols,
            |out, v, _| {
                let src = &v[ia];
                if rows == src.nrows() {
                    // Whole columns are one contiguous run in column-major storage (the
                    // common case of slicing a parameter row vector): one memcpy.
                    let start = c0 * rows;
                    out.as_mut_slice()
                        .copy_from_slice(&src.as_slice()[start..start + rows * cols]);
                } else {
                    out.copy_from(&src.view((r0, c0), (rows, cols)))
                }
            },
        ))
    }

    /// Rows `start .. start + len` of `a`.
    ///
    /// # Errors
    /// [`AutodiffError::InvalidShape`] if they do not exist.
    pub fn slice_rows(&mut self, a: Var, start: usize, len: usize) -> Result<Var> {
        self.slice(a, start, 0, len, a.cols)
    }

    /// Columns `start .. start + len` of `a`.
    ///
    /// # Errors
    /// [`AutodiffError::InvalidShape`] if they do not exist.
    pub fn slice_cols(&mut self, a: Var, start: usize, len: usize) -> Result<Var> {
        self.slice(a, 0, start, a.rows, len)
    }

    /// The same elements in column-major order, as a `rows x cols` matrix.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if `rows * cols != a.len()` (`rhs` is the requested
    /// shape).
    pub fn reshape(&mut self, a: Var, rows: usize, cols: usize) -> Result<Var> {
        self.check(a);
        if rows.checked_mul(cols) != Some(a.len()) {
            return Err(AutodiffError::ShapeMismatch {
                op: "reshape",
                lhs: a.shape(),
                rhs: (rows, cols),
            });
        }
        let ia = a.idx;
        Ok(
            self.push(Op::Reshape { a: ia }, &[a], rows, cols, |out, v, _| {
                out.as_mut_slice().copy_from_slice(v[ia].as_slice())
            }),
        )
    }

    /// Elements `offset .. offset + rows·cols` of `a` in column-major order, as a `rows x cols`
    /// matrix: [`slice`](Tape::slice) and [`reshape`](Tape::reshape) in one node and one copy.
    /// This is how a weight matrix is taken out of a flat parameter vector.
    ///
    /// ```
    /// use autodiff::Tape;
    /// use nalgebra::DMatrix;
    ///
    /// let mut tape = Tape::<f64>::new();
    /// let theta = tape.leaf(&DMatrix::from_row_slice(1, 7, &[9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    /// let w = tape.flat_slice(theta, 1, 2, 3)?; // [[1, 3, 5], [2, 4, 6]]
    /// assert_eq!(tape.value(w)[(1, 2)], 6.0);
    /// let s = tape.sum(w);
    /// tape.backward(s)?;
    /// assert_eq!(tape.grad(theta).unwrap().as_slice(), &[0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
    /// # Ok::<(), autodiff::AutodiffError>(())
    /// ```
    ///
    /// # Errors
    /// [`AutodiffError::InvalidShape`] if the range extends past the end of `a`.
    pub fn flat_slice(&mut self, a: Var, offset: usize, rows: usize, cols: usize) -> Result<Var> {
        self.check(a);
        let fits = rows
            .checked_mul(cols)
            .and_then(|n| n.checked_add(offset))
            .is_some_and(|e| e <= a.len());
        if !fits {
            return Err(AutodiffError::InvalidShape {
                op: "flat_slice",
                shape: a.shape(),
                what: "the requested range extends past the operand",
            });
        }
        let ia = a.idx;
        Ok(self.push(
            Op::FlatSlice { a: ia, offset },
            &[a],
            rows,
            cols,
            |out, v, _| {
                out.as_mut_slice()
                    .copy_from_slice(&v[ia].as_slice()[offset..offset + rows * cols]);
            },
        ))
    }
}

pub(crate) fn flat_slice_backward<T: Scalar>(a: usize, offset: usize, ctx: &mut BackCtx<'_, T>) {
    if !ctx.wants(a) {
        return;
    }
    let (g, dst, assign) = ctx.target(a);
    if assign {
        dst.fill(T::zero());
    }
    let d = &mut dst.as_mut_slice()[offset..offset + g.len()];
    for (d, &g) in d.iter_mut().zip(g.as_slice()) {
        *d += g;
    }
}

pub(crate) fn concat_backward<T: Scalar>(a: usize, b: usize, axis: Axis, ctx: &mut BackCtx<'_, T>) {
    let vals = ctx.vals;
    let (sa, sb) = (vals[a].shape(), vals[b].shape());
    for (j, at, shape) in [
        (a, (0, 0), sa),
        (
            b,
            if axis == Axis::Rows {
                (sa.0, 0)
            } else {
                (0, sa.1)
            },
            sb,
        ),
    ] {
        if !ctx.wants(j) {
            continue;
        }
        let (g, dst, assign) = ctx.target(j);
        let src = g.view(at, shape);
        if assign {
            dst.copy_from(&src);
        } else {
            *dst += src;
        }
    }
}

pub(crate) fn slice_backward<T: Scalar>(a: usize, r0: usize, c0: usize, ctx: &mut BackCtx<'_, T>) {
    if !ctx.wants(a) {
        return;
    }
    let (g, dst, assign) = ctx.target(a);
    if assign {
        dst.fill(T::zero());
    }
    if g.nrows() == dst.nrows() {
        // Whole columns: one contiguous run (see `slice`).
        let start = c0 * g.nrows();
        let d = &mut dst.as_mut_slice()[start..start + g.len()];
        for (d, &g) in d.iter_mut().zip(g.as_slice()) {
            *d += g;
        }
    } else {
        let mut block = dst.view_mut((r0, c0), g.shape());
        block += g;
    }
}

pub(crate) fn reshape_backward<T: Scalar>(a: usize, ctx: &mut BackCtx<'_, T>) {
    if !ctx.wants(a) {
        return;
    }
    let (g, dst, assign) = ctx.target(a);
    let d = dst.as_mut_slice();
    if assign {
        d.copy_from_slice(g.as_slice());
    } else {
        for (d, &g) in d.iter_mut().zip(g.as_slice()) {
            *d += g;
        }
    }
}
