//! The operations, grouped by family. Each family module holds the public recording methods (as
//! `impl Tape`) and, next to them, the backward rules.

pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod linalg;
pub(crate) mod reduce;
pub(crate) mod shape;

use nalgebra::DMatrix;

use crate::tape::BackCtx;
use crate::Scalar;

pub(crate) use elementwise::{BinaryKind, UnaryKind};
pub(crate) use reduce::{LseAxis, ReduceAxis};
pub(crate) use shape::Axis;

/// A recorded operation: what it was and which nodes it read (by tape index).
pub(crate) enum Op<T> {
    /// A differentiable input.
    Leaf,
    /// A constant, or any value computed with recording off.
    Constant,
    Binary {
        kind: BinaryKind,
        a: usize,
        b: usize,
    },
    Unary {
        kind: UnaryKind<T>,
        a: usize,
    },
    MatMul {
        a: usize,
        b: usize,
        ta: bool,
        tb: bool,
    },
    /// `x · w + b` (`b` a row broadcast over rows, or full).
    Affine {
        x: usize,
        w: usize,
        b: usize,
    },
    Transpose {
        a: usize,
    },
    Reduce {
        a: usize,
        axis: ReduceAxis,
        mean: bool,
    },
    LogSumExp {
        a: usize,
        axis: LseAxis,
    },
    LogSoftmax {
        a: usize,
    },
    SoftmaxCrossEntropy {
        logits: usize,
        targets: usize,
    },
    Concat {
        a: usize,
        b: usize,
        axis: Axis,
    },
    Slice {
        a: usize,
        r0: usize,
        c0: usize,
    },
    Reshape {
        a: usize,
    },
    FlatSlice {
        a: usize,
        offset: usize,
    },
    Im2Col {
        a: usize,
        p: conv::Patches,
    },
}

/// Applies the backward rule of `op` (node `ctx.i`).
pub(crate) fn backward<T: Scalar>(op: &Op<T>, ctx: &mut BackCtx<'_, T>) {
    match *op {
        Op::Leaf | Op::Constant => {}
        Op::Binary { kind, a, b } => elementwise::binary_backward(kind, a, b, ctx),
        Op::Unary { kind, a } => elementwise::unary_backward(kind, a, ctx),
        Op::MatMul { a, b, ta, tb } => linalg::matmul_backward(a, b, ta, tb, ctx),
        Op::Affine { x, w, b } => linalg::affine_backward(x, w, b, ctx),
        Op::Transpose { a } => linalg::transpose_backward(a, ctx),
        Op::Reduce { a, axis, mean } => reduce::reduce_backward(a, axis, mean, ctx),
        Op::LogSumExp { a, axis } => reduce::lse_backward(a, axis, ctx),
        Op::LogSoftmax { a } => reduce::log_softmax_backward(a, ctx),
        Op::SoftmaxCrossEntropy { logits, targets } => {
            reduce::softmax_ce_backward(logits, targets, ctx)
        }
        Op::Concat { a, b, axis } => shape::concat_backward(a, b, axis, ctx),
        Op::Slice { a, r0, c0 } => shape::slice_backward(a, r0, c0, ctx),
        Op::Reshape { a } => shape::reshape_backward(a, ctx),
        Op::FlatSlice { a, offset } => shape::flat_slice_backward(a, offset, ctx),
        Op::Im2Col { a, p } => conv::im2col_backward(a, p, ctx),
    }
}

/// Read access to a matrix broadcast to a larger shape: element `(i, j)` of the broadcast is
/// `s[i * rs + j * cs]`, with a zero stride along each broadcast dimension.
#[derive(Clone, Copy)]
pub(crate) struct Bc<'a, T> {
    pub(crate) s: &'a [T],
    rs: usize,
    cs: usize,
    full: bool,
}

impl<'a, T: Scalar> Bc<'a, T> {
    /// Views `m` as broadcast to `r x c` (its dimensions are `r` or 1, and `c` or 1).
    #[inline]
    pub(crate) fn new(m: &'a DMatrix<T>, r: usize, c: usize) -> Self {
        let (mr, mc) = m.shape();
        debug_assert!((mr == r || mr == 1) && (mc == c || mc == 1));
        Bc {
            s: m.as_slice(),
            rs: usize::from(mr == r && r != 1),
            cs: if mc == c && c != 1 { mr } else { 0 },
            full: mr == r && mc == c,
        }
    }
    #[inline(always)]
    pub(crate) fn at(&self, i: usize, j: usize) -> T {
        self.s[i * self.rs + j * self.cs]
    }
}

/// `dst (=|+=) reduce(h(p, q, s))`: evaluates `h` elementwise over the `r x c` broadcast of its
/// three operands and sums the results into `dst`, whose shape is `r x c` or broadcast to it
/// (a broadcast dimension is summed over). `assign` overwrites instead of accumulating.
pub(crate) fn acc_contrib<T: Scalar>(
    dst: &mut DMatrix<T>,
    assign: bool,
    (r, c): (usize, usize),
    p: Bc<'_, T>,
    q: Bc<'_, T>,
    s: Bc<'_, T>,
    h: impl Fn(T, T, T) -> T,
) {
    if r == 0 || c == 0 {
        if assign {
            dst.fill(T::zero());
        }
        return;
    }
    let (dr, dc) = dst.shape();
    let all_full = p.full && q.full && s.full;
    if all_full && (dr, dc) == (r, c) {
        let it = dst.as_mut_slice().iter_mut().zip(p.s).zip(q.s).zip(s.s);
        if assign {
            for (((d, &p), &q), &s) in it {
                *d = h(p, q, s);
            }
        } else {
            for (((d, &p), &q), &s) in it {
                *d += h(p, q, s);
            }
        }
        return;
    }
    if all_full && dr == 1 && dc == c {
        // Column sums (the gradient of a row-broadcast bias).
        let cols =
            p.s.chunks_exact(r)
                .zip(q.s.chunks_exact(r))
                .zip(s.s.chunks_exact(r));
        for (d, ((pc, qc), sc)) in dst.as_mut_slice().iter_mut().zip(cols) {
            let mut acc = T::zero();
            for ((&p, &q), &s) in pc.iter().zip(qc).zip(sc) {
                acc += h(p, q, s);
            }
            *d = if assign { acc } else { *d + acc };
        }
        return;
    }
    if assign {
        dst.fill(T::zero());
    }
    let drs = usize::from(dr == r && r != 1);
    let dcs = if dc == c && c != 1 { dr } else { 0 };
    let d = dst.as_mut_slice();
    for j in 0..c {
        for i in 0..r {
            d[i * drs + j * dcs] += h(p.at(i, j), q.at(i, j), s.at(i, j));
        }
    }
}
