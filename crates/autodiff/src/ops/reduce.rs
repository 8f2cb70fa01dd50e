//! Reductions: sums and means (over everything, per row, per column), numerically stable
//! log-sum-exp, log-softmax and softmax cross-entropy.

use nalgebra::DMatrix;

use super::{Bc, Op};
use crate::error::{AutodiffError, Result};
use crate::tape::{ensure_shape, BackCtx, Tape, Var};
use crate::Scalar;

/// Which elements a reduction combines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReduceAxis {
    /// Everything, to 1x1.
    All,
    /// Each row, to R x 1.
    PerRow,
    /// Each column, to 1 x C.
    PerCol,
}

/// Which elements a log-sum-exp combines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LseAxis {
    /// Everything, to 1x1.
    All,
    /// Each row, to R x 1.
    PerRow,
}

/// Per-row maximum and log-sum-exp of `x` into `mx` and `lse` (length `x.nrows()` each).
fn row_lse<T: Scalar>(x: &DMatrix<T>, mx: &mut [T], lse: &mut [T]) {
    let r = x.nrows();
    mx.fill(-T::one() / T::zero());
    if r == 0 {
        return;
    }
    for col in x.as_slice().chunks_exact(r) {
        for (m, &v) in mx.iter_mut().zip(col) {
            if v > *m {
                *m = v;
            }
        }
    }
    lse.fill(T::zero());
    for col in x.as_slice().chunks_exact(r) {
        for ((s, &m), &v) in lse.iter_mut().zip(mx.iter()).zip(col) {
            *s += (v - m).exp();
        }
    }
    for (s, &m) in lse.iter_mut().zip(mx.iter()) {
        // An infinite (or empty, -inf) maximum decides the result on its own.
        *s = if m.is_finite() { m + s.ln() } else { m };
    }
}

impl<T: Scalar> Tape<T> {
    fn reduce(&mut self, a: Var, axis: ReduceAxis, mean: bool) -> Var {
        self.check(a);
        let ia = a.idx;
        let (r, c) = a.shape();
        let (or, oc) = match axis {
            ReduceAxis::All => (1, 1),
            ReduceAxis::PerRow => (r, 1),
            ReduceAxis::PerCol => (1, c),
        };
        self.push(
            Op::Reduce { a: ia, axis, mean },
            &[a],
            or,
            oc,
            |out, v, _| {
                let x = v[ia].as_slice();
                let o = out.as_mut_slice();
                match axis {
                    ReduceAxis::All => {
                        let s = x.iter().fold(T::zero(), |acc, &v| acc + v);
                        o[0] = if mean { s / T::cast(x.len() as f64) } else { s };
                    }
                    ReduceAxis::PerRow => {
                        o.fill(T::zero());
                        if r > 0 {
                            for col in x.chunks_exact(r) {
                                for (o, &v) in o.iter_mut().zip(col) {
                                    *o += v;
                                }
                            }
                        }
                        if mean {
                            let k = T::one() / T::cast(c as f64);
                            o.iter_mut().for_each(|o| *o *= k);
                        }
                    }
                    ReduceAxis::PerCol => {
                        let k = if mean {
                            T::one() / T::cast(r as f64)
                        } else {
                            T::one()
                        };
                        if r == 0 {
                            o.fill(T::zero());
                        } else {
                            for (o, col) in o.iter_mut().zip(x.chunks_exact(r)) {
                                *o = col.iter().fold(T::zero(), |acc, &v| acc + v) * k;
                            }
                        }
                    }
                }
            },
        )
    }

    /// Sum of all elements, 1x1.
    pub fn sum(&mut self, a: Var) -> Var {
        self.reduce(a, ReduceAxis::All, false)
    }

    /// Mean of all elements, 1x1 (NaN for an empty input).
    pub fn mean(&mut self, a: Var) -> Var {
        self.reduce(a, ReduceAxis::All, true)
    }

    /// Sum of each row, R x 1 (over the features of each sample).
    pub fn row_sums(&mut self, a: Var) -> Var {
        self.reduce(a, ReduceAxis::PerRow, false)
    }

    /// Mean of each row, R x 1.
    pub fn row_means(&mut self, a: Var) -> Var {
        self.reduce(a, ReduceAxis::PerRow, true)
    }

    /// Sum of each column, 1 x C (over the batch).
    pub fn col_sums(&mut self, a: Var) -> Var {
        self.reduce(a, ReduceAxis::PerCol, false)
    }

    /// Mean of each column, 1 x C.
    pub fn col_means(&mut self, a: Var) -> Var {
        self.reduce(a, ReduceAxis::PerCol, true)
    }

    /// `ln Σ exp(x)` over all elements, 1x1, computed as `m + ln Σ exp(x - m)` with `m` the
    /// maximum, so it neither overflows nor underflows.
    pub fn log_sum_exp(&mut self, a: Var) -> Var {
        self.check(a);
        let ia = a.idx;
        self.push(
            Op::LogSumExp {
                a: ia,
                axis: LseAxis::All,
            },
            &[a],
            1,
            1,
            |out, v, _| {
                let x = v[ia].as_slice();
                let m = x
                    .iter()
                    .fold(-T::one() / T::zero(), |m, &v| if v > m { v } else { m });
                out[0] = if m.is_finite() {
                    m + x.iter().fold(T::zero(), |s, &v| s + (v - m).exp()).ln()
                } else {
                    m
                };
            },
        )
    }

    /// Stable log-sum-exp of each row, R x 1.
    pub fn row_log_sum_exp(&mut self, a: Var) -> Var {
        self.check(a);
        let ia = a.idx;
        let r = a.rows;
        self.push(
            Op::LogSumExp {
                a: ia,
                axis: LseAxis::PerRow,
            },
            &[a],
            r,
            1,
            |out, v, aux| {
                ensure_shape(aux, r, 1);
                row_lse(&v[ia], aux.as_mut_slice(), out.as_mut_slice());
            },
        )
    }

    /// Log-softmax of each row: `x_ij - ln Σ_k exp(x_ik)`, computed stably.
    pub fn log_softmax(&mut self, a: Var) -> Var {
        self.check(a);
        let ia = a.idx;
        let (r, c) = a.shape();
        self.push(Op::LogSoftmax { a: ia }, &[a], r, c, |out, v, aux| {
            ensure_shape(aux, r, 2);
            let (mx, lse) = aux.as_mut_slice().split_at_mut(r);
            row_lse(&v[ia], mx, lse);
            if r > 0 {
                for (o, x) in out
                    .as_mut_slice()
                    .chunks_exact_mut(r)
                    .zip(v[ia].as_slice().chunks_exact(r))
                {
                    for ((o, &x), &l) in o.iter_mut().zip(x).zip(lse.iter()) {
                        *o = x - l;
                    }
                }
            }
        })
    }

    /// Softmax cross-entropy averaged over the batch, 1x1:
    /// `-(1/B) Σ_i Σ_k targets_ik · log_softmax(logits)_ik`, for `B x K` logits and targets (each
    /// target row a probability distribution, e.g. from [`one_hot`](Tape::one_hot)). Terms with a
    /// zero target contribute nothing, even where the log-probability is -inf.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if the shapes differ.
    ///
    /// # Example
    /// ```
    /// use autodiff::Tape;
    /// use nalgebra::DMatrix;
    /// let mut tape = Tape::<f64>::new();
    /// let logits = tape.leaf(&DMatrix::from_row_slice(1, 2, &[0.0, 0.0]));
    /// let target = tape.one_hot(&[1], 2)?;
    /// let loss = tape.softmax_cross_entropy(logits, target)?;
    /// assert!((tape.scalar_value(loss)? - 2f64.ln()).abs() < 1e-15);
    /// tape.backward(loss)?;
    /// assert_eq!(tape.grad(logits).unwrap().as_slice(), &[0.5, -0.5]); // softmax - target
    /// # Ok::<(), autodiff::AutodiffError>(())
    /// ```
    pub fn softmax_cross_entropy(&mut self, logits: Var, targets: Var) -> Result<Var> {
        self.check(logits);
        self.check(targets);
        if logits.shape() != targets.shape() {
            return Err(AutodiffError::ShapeMismatch {
                op: "softmax_cross_entropy",
                lhs: logits.shape(),
                rhs: targets.shape(),
            });
        }
        let (il, it) = (logits.idx, targets.idx);
        let (r, c) = logits.shape();
        let op = Op::SoftmaxCrossEntropy {
            logits: il,
            targets: it,
        };
        Ok(self.push(op, &[logits, targets], 1, 1, |out, v, aux| {
            // aux: columns 0..c hold log-softmax, column c the row maxima, c + 1 the row lse.
            ensure_shape(aux, r, c + 2);
            let (ls, rest) = aux.as_mut_slice().split_at_mut(r * c);
            let (mx, lse) = rest.split_at_mut(r);
            row_lse(&v[il], mx, lse);
            let mut total = T::zero();
            let (x, p) = (v[il].as_slice(), v[it].as_slice());
            if r > 0 {
                for ((o, x), p) in ls
                    .chunks_exact_mut(r)
                    .zip(x.chunks_exact(r))
                    .zip(p.chunks_exact(r))
                {
                    for (((o, &x), &l), &p) in o.iter_mut().zip(x).zip(lse.iter()).zip(p) {
                        *o = x - l;
                        if p != T::zero() {
                            total += p * *o;
                        }
                    }
                }
            }
            out[0] = if r == 0 {
                T::zero()
            } else {
                -total / T::cast(r as f64)
            };
        }))
    }
}

pub(crate) fn reduce_backward<T: Scalar>(
    a: usize,
    axis: ReduceAxis,
    mean: bool,
    ctx: &mut BackCtx<'_, T>,
) {
    if !ctx.wants(a) {
        return;
    }
    let (g, dst, assign) = ctx.target(a);
    let (r, c) = dst.shape();
    let scale = if !mean {
        T::one()
    } else {
        match axis {
            ReduceAxis::All => T::one() / T::cast((r * c) as f64),
            ReduceAxis::PerRow => T::one() / T::cast(c as f64),
            ReduceAxis::PerCol => T::one() / T::cast(r as f64),
        }
    };
    let gb = Bc::new(g, r, c);
    let d = dst.as_mut_slice();
    for j in 0..c {
        for i in 0..r {
            let v = scale * gb.at(i, j);
            if assign {
                d[i + j * r] = v;
            } else {
                d[i + j * r] += v;
            }
        }
    }
}

pub(crate) fn lse_backward<T: Scalar>(a: usize, axis: LseAxis, ctx: &mut BackCtx<'_, T>) {
    if !ctx.wants(a) {
        return;
    }
    let vals = ctx.vals;
    let (x, y) = (&vals[a], &vals[ctx.i]);
    let (g, dst, assign) = ctx.target(a);
    let (r, c) = dst.shape();
    let (gb, yb) = (Bc::new(g, r, c), Bc::new(y, r, c));
    let xs = x.as_slice();
    let d = dst.as_mut_slice();
    let _ = axis; // Both axes: d/dx_ij = exp(x_ij - y) with y broadcast (1x1 or per row).
    for j in 0..c {
        for i in 0..r {
            let k = i + j * r;
            let v = gb.at(i, j) * (xs[k] - yb.at(i, j)).exp();
            if assign {
                d[k] = v;
            } else {
                d[k] += v;
            }
        }
    }
}

pub(crate) fn log_softmax_backward<T: Scalar>(a: usize, ctx: &mut BackCtx<'_, T>) {
    if !ctx.wants(a) {
        return;
    }
    let vals = ctx.vals;
    let y = &vals[ctx.i];
    let (r, _) = y.shape();
    // Row sums of the output gradient, into the scratch buffer (its forward content is no longer
    // needed).
    ensure_shape(ctx.aux, r, 2);
    let gsum = &mut ctx.aux.as_mut_slice()[..r];
    gsum.fill(T::zero());
    if r == 0 {
        return;
    }
    for col in ctx.g.as_slice().chunks_exact(r) {
        for (s, &g) in gsum.iter_mut().zip(col) {
            *s += g;
        }
    }
    let gsum = &ctx.aux.as_slice()[..r];
    let g: &DMatrix<T> = ctx.g;
    let (dst, assign) = {
        let (rr, cc) = vals[a].shape();
        let dst = &mut ctx.grads[a];
        ensure_shape(dst, rr, cc);
        let assign = !ctx.live[a];
        ctx.live[a] = true;
        (dst, assign)
    };
    let it = dst
        .as_mut_slice()
        .chunks_exact_mut(r)
        .zip(g.as_slice().chunks_exact(r))
        .zip(y.as_slice().chunks_exact(r));
    for ((d, g), y) in it {
        for (((d, &g), &y), &s) in d.iter_mut().zip(g).zip(y).zip(gsum) {
            let v = g - y.exp() * s;
            if assign {
                *d = v;
            } else {
                *d += v;
            }
        }
    }
}

pub(crate) fn softmax_ce_backward<T: Scalar>(
    logits: usize,
    targets: usize,
    ctx: &mut BackCtx<'_, T>,
) {
    let vals = ctx.vals;
    let (r, c) = vals[logits].shape();
    if r == 0 {
        return;
    }
    let p = vals[targets].as_slice();
    let scale = ctx.g[0] / T::cast(r as f64);
    // Row sums of the targets into column c of the scratch buffer.
    {
        let (_, rest) = ctx.aux.as_mut_slice().split_at_mut(r * c);
        let psum = &mut rest[..r];
        psum.fill(T::zero());
        for col in p.chunks_exact(r) {
            for (s, &v) in psum.iter_mut().zip(col) {
                *s += v;
            }
        }
    }
    let (ls, rest) = ctx.aux.as_slice().split_at(r * c);
    let psum = &rest[..r];
    for (j, want) in [
        (logits, ctx.nodes[logits].rg),
        (targets, ctx.nodes[targets].rg),
    ] {
        if !want {
            continue;
        }
        let (rr, cc) = vals[j].shape();
        let dst = &mut ctx.grads[j];
        ensure_shape(dst, rr, cc);
        let assign = !ctx.live[j];
        ctx.live[j] = true;
        let d = dst.as_mut_slice();
        for k in 0..r * c {
            let v = if j == logits {
                scale * (ls[k].exp() * psum[k % r] - p[k])
            } else {
                -scale * ls[k]
            };
            if assign {
                d[k] = v;
            } else {
                d[k] += v;
            }
        }
        if logits == targets {
            // Same variable on both sides: add the targets' part as well.
            for k in 0..r * c {
                d[k] += -scale * ls[k];
            }
            break;
        }
    }
}
