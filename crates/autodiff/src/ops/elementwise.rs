//! Elementwise operations: arithmetic with broadcasting, arithmetic with constant scalars, and
//! the elementwise functions (activations and elementary functions).

use nalgebra::DMatrix;

use super::{acc_contrib, Bc, Op};
use crate::error::{AutodiffError, Result};
use crate::tape::{BackCtx, Tape, Var};
use crate::Scalar;

/// The binary arithmetic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryKind {
    fn name(self) -> &'static str {
        match self {
            BinaryKind::Add => "add",
            BinaryKind::Sub => "sub",
            BinaryKind::Mul => "mul",
            BinaryKind::Div => "div",
        }
    }
}

/// The elementwise functions; `Affine` is `scale * x + shift` (scalar constants).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum UnaryKind<T> {
    Affine { scale: T, shift: T },
    Tanh,
    Sigmoid,
    Relu,
    Softplus,
    Elu(T),
    Exp,
    Log,
    Sqrt,
    Square,
    Powi(i32),
    Sin,
    Cos,
    Abs,
}

/// The shape two operands broadcast to: per dimension, equal sizes, or one of them 1.
pub(crate) fn broadcast_shape(
    op: &'static str,
    (ar, ac): (usize, usize),
    (br, bc): (usize, usize),
) -> Result<(usize, usize)> {
    let dim = |x: usize, y: usize| {
        if x == y || y == 1 {
            Some(x)
        } else if x == 1 {
            Some(y)
        } else {
            None
        }
    };
    match (dim(ar, br), dim(ac, bc)) {
        (Some(r), Some(c)) => Ok((r, c)),
        _ => Err(AutodiffError::ShapeMismatch {
            op,
            lhs: (ar, ac),
            rhs: (br, bc),
        }),
    }
}

/// `out = f(x, y)` elementwise over the broadcast shape of `out`.
fn bin_map<T: Scalar>(out: &mut DMatrix<T>, x: &DMatrix<T>, y: &DMatrix<T>, f: impl Fn(T, T) -> T) {
    let (r, c) = out.shape();
    if r == 0 || c == 0 {
        return;
    }
    if x.shape() == (r, c) && y.shape() == (r, c) {
        for ((o, &p), &q) in out
            .as_mut_slice()
            .iter_mut()
            .zip(x.as_slice())
            .zip(y.as_slice())
        {
            *o = f(p, q);
        }
        return;
    }
    fn col<T: Scalar>(m: &DMatrix<T>, j: usize) -> &[T] {
        let jj = if m.ncols() == 1 { 0 } else { j };
        let nr = m.nrows();
        &m.as_slice()[jj * nr..(jj + 1) * nr]
    }
    for (j, o) in out.as_mut_slice().chunks_exact_mut(r).enumerate() {
        let (xc, yc) = (col(x, j), col(y, j));
        match (xc.len() == r, yc.len() == r) {
            (true, true) => {
                for ((o, &p), &q) in o.iter_mut().zip(xc).zip(yc) {
                    *o = f(p, q);
                }
            }
            (true, false) => {
                let q = yc[0];
                for (o, &p) in o.iter_mut().zip(xc) {
                    *o = f(p, q);
                }
            }
            (false, true) => {
                let p = xc[0];
                for (o, &q) in o.iter_mut().zip(yc) {
                    *o = f(p, q);
                }
            }
            (false, false) => o.fill(f(xc[0], yc[0])),
        }
    }
}

/// Broadcasting rules shared by [`Tape::add`], [`Tape::sub`], [`Tape::mul`] and [`Tape::div`].
impl<T: Scalar> Tape<T> {
    fn binary(&mut self, kind: BinaryKind, a: Var, b: Var) -> Result<Var> {
        self.check(a);
        self.check(b);
        let (r, c) = broadcast_shape(kind.name(), a.shape(), b.shape())?;
        let (ia, ib) = (a.idx, b.idx);
        Ok(self.push(
            Op::Binary { kind, a: ia, b: ib },
            &[a, b],
            r,
            c,
            |out, v, _| {
                let (x, y) = (&v[ia], &v[ib]);
                match kind {
                    BinaryKind::Add => bin_map(out, x, y, |p, q| p + q),
                    BinaryKind::Sub => bin_map(out, x, y, |p, q| p - q),
                    BinaryKind::Mul => bin_map(out, x, y, |p, q| p * q),
                    BinaryKind::Div => bin_map(out, x, y, |p, q| p / q),
                }
            },
        ))
    }

    /// Elementwise `a + b`, with broadcasting.
    ///
    /// Broadcasting (numpy's rule in two dimensions): along each dimension the sizes must be
    /// equal or one of them 1, which is then repeated. So `b` may be 1x1 (a scalar), 1xC (a row,
    /// e.g. a bias added to every sample of a batch) or Rx1 (a column), and likewise `a`.
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if the shapes do not broadcast.
    ///
    /// # Example
    /// ```
    /// use autodiff::Tape;
    /// use nalgebra::DMatrix;
    /// let mut tape = Tape::<f64>::new();
    /// let x = tape.constant(&DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]));
    /// let b = tape.leaf(&DMatrix::from_row_slice(1, 2, &[10.0, 20.0]));
    /// let y = tape.add(x, b)?; // b added to each row
    /// assert_eq!(tape.value(y), &DMatrix::from_row_slice(2, 2, &[11.0, 22.0, 13.0, 24.0]));
    /// let s = tape.sum(y);
    /// tape.backward(s)?;
    /// assert_eq!(tape.grad(b).unwrap().as_slice(), &[2.0, 2.0]); // summed over the batch
    /// # Ok::<(), autodiff::AutodiffError>(())
    /// ```
    pub fn add(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryKind::Add, a, b)
    }

    /// Elementwise `a - b`, with broadcasting as in [`add`](Tape::add).
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if the shapes do not broadcast.
    pub fn sub(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryKind::Sub, a, b)
    }

    /// Elementwise (Hadamard) product `a ∘ b`, with broadcasting as in [`add`](Tape::add).
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if the shapes do not broadcast.
    pub fn mul(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryKind::Mul, a, b)
    }

    /// Elementwise `a / b`, with broadcasting as in [`add`](Tape::add).
    ///
    /// # Errors
    /// [`AutodiffError::ShapeMismatch`] if the shapes do not broadcast.
    pub fn div(&mut self, a: Var, b: Var) -> Result<Var> {
        self.binary(BinaryKind::Div, a, b)
    }

    fn unary(&mut self, kind: UnaryKind<T>, a: Var) -> Var {
        self.check(a);
        let ia = a.idx;
        self.push(
            Op::Unary { kind, a: ia },
            &[a],
            a.rows,
            a.cols,
            |out, v, _| unary_forward(kind, v[ia].as_slice(), out.as_mut_slice()),
        )
    }

    /// `a + c` for a constant scalar `c`.
    pub fn add_scalar(&mut self, a: Var, c: T) -> Var {
        self.unary(
            UnaryKind::Affine {
                scale: T::one(),
                shift: c,
            },
            a,
        )
    }

    /// `a - c` for a constant scalar `c`.
    pub fn sub_scalar(&mut self, a: Var, c: T) -> Var {
        self.unary(
            UnaryKind::Affine {
                scale: T::one(),
                shift: -c,
            },
            a,
        )
    }

    /// `c - a` for a constant scalar `c`.
    pub fn scalar_sub(&mut self, c: T, a: Var) -> Var {
        self.unary(
            UnaryKind::Affine {
                scale: -T::one(),
                shift: c,
            },
            a,
        )
    }

    /// `c * a` for a constant scalar `c`.
    pub fn mul_scalar(&mut self, a: Var, c: T) -> Var {
        self.unary(
            UnaryKind::Affine {
                scale: c,
                shift: T::zero(),
            },
            a,
        )
    }

    /// `a / c` for a constant scalar `c`.
    pub fn div_scalar(&mut self, a: Var, c: T) -> Var {
        self.unary(
            UnaryKind::Affine {
                scale: T::one() / c,
                shift: T::zero(),
            },
            a,
        )
    }

    /// `-a`.
    pub fn neg(&mut self, a: Var) -> Var {
        self.unary(
            UnaryKind::Affine {
                scale: -T::one(),
                shift: T::zero(),
            },
            a,
        )
    }

    /// Elementwise hyperbolic tangent.
    pub fn tanh(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Tanh, a)
    }

    /// Elementwise logistic sigmoid `1 / (1 + exp(-x))`, computed without overflow.
    pub fn sigmoid(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Sigmoid, a)
    }

    /// Elementwise `max(x, 0)`; its derivative at 0 is taken as 0.
    pub fn relu(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Relu, a)
    }

    /// Elementwise `ln(1 + exp(x))`, computed without overflow.
    pub fn softplus(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Softplus, a)
    }

    /// Elementwise ELU: `x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise.
    pub fn elu(&mut self, a: Var, alpha: T) -> Var {
        self.unary(UnaryKind::Elu(alpha), a)
    }

    /// Elementwise `exp(x)`.
    pub fn exp(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Exp, a)
    }

    /// Elementwise natural logarithm (NaN or -inf outside its domain, as IEEE arithmetic gives).
    pub fn log(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Log, a)
    }

    /// Elementwise square root (NaN for negative inputs; infinite derivative at 0).
    pub fn sqrt(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Sqrt, a)
    }

    /// Elementwise `x²`.
    pub fn square(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Square, a)
    }

    /// Elementwise integer power `xⁿ`.
    pub fn powi(&mut self, a: Var, n: i32) -> Var {
        self.unary(UnaryKind::Powi(n), a)
    }

    /// Elementwise sine.
    pub fn sin(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Sin, a)
    }

    /// Elementwise cosine.
    pub fn cos(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Cos, a)
    }

    /// Elementwise `|x|`; its derivative at 0 is taken as 0.
    pub fn abs(&mut self, a: Var) -> Var {
        self.unary(UnaryKind::Abs, a)
    }
}

#[inline]
fn sigmoid<T: Scalar>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

fn map<T: Scalar>(x: &[T], y: &mut [T], f: impl Fn(T) -> T) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = f(x);
    }
}

fn unary_forward<T: Scalar>(kind: UnaryKind<T>, x: &[T], y: &mut [T]) {
    let zero = T::zero();
    match kind {
        UnaryKind::Affine { scale, shift } => map(x, y, |x| scale * x + shift),
        UnaryKind::Tanh => crate::math::tanh_slice(x, y),
        UnaryKind::Sigmoid => map(x, y, sigmoid),
        UnaryKind::Relu => map(x, y, |x| if x > zero { x } else { zero }),
        UnaryKind::Softplus => map(x, y, |x| x.max(zero) + (-x.abs()).exp().ln_1p()),
        UnaryKind::Elu(alpha) => map(x, y, |x| if x > zero { x } else { alpha * x.exp_m1() }),
        UnaryKind::Exp => map(x, y, |x| x.exp()),
        UnaryKind::Log => map(x, y, |x| x.ln()),
        UnaryKind::Sqrt => map(x, y, |x| x.sqrt()),
        UnaryKind::Square => map(x, y, |x| x * x),
        UnaryKind::Powi(n) => map(x, y, |x| x.powi(n)),
        UnaryKind::Sin => map(x, y, |x| x.sin()),
        UnaryKind::Cos => map(x, y, |x| x.cos()),
        UnaryKind::Abs => map(x, y, |x| x.abs()),
    }
}

/// `dst (=|+=) g * d(x, y)` elementwise.
fn acc_unary<T: Scalar>(
    dst: &mut [T],
    assign: bool,
    g: &[T],
    x: &[T],
    y: &[T],
    d: impl Fn(T, T) -> T,
) {
    let it = dst.iter_mut().zip(g).zip(x).zip(y);
    if assign {
        for (((o, &g), &x), &y) in it {
            *o = g * d(x, y);
        }
    } else {
        for (((o, &g), &x), &y) in it {
            *o += g * d(x, y);
        }
    }
}

pub(crate) fn unary_backward<T: Scalar>(kind: UnaryKind<T>, a: usize, ctx: &mut BackCtx<'_, T>) {
    if !ctx.wants(a) {
        return;
    }
    if let UnaryKind::Affine { scale, .. } = kind {
        ctx.pass_through(a, scale);
        return;
    }
    let vals = ctx.vals;
    let (x, y) = (vals[a].as_slice(), vals[ctx.i].as_slice());
    let (zero, one) = (T::zero(), T::one());
    let (g, dst, assign) = ctx.target(a);
    let (g, dst) = (g.as_slice(), dst.as_mut_slice());
    match kind {
        UnaryKind::Affine { .. } => unreachable!("handled above"),
        UnaryKind::Tanh => acc_unary(dst, assign, g, x, y, |_, y| one - y * y),
        UnaryKind::Sigmoid => acc_unary(dst, assign, g, x, y, |_, y| y * (one - y)),
        UnaryKind::Relu => acc_unary(
            dst,
            assign,
            g,
            x,
            y,
            |x, _| if x > zero { one } else { zero },
        ),
        UnaryKind::Softplus => acc_unary(dst, assign, g, x, y, |x, _| sigmoid(x)),
        UnaryKind::Elu(alpha) => {
            acc_unary(
                dst,
                assign,
                g,
                x,
                y,
                |x, y| if x > zero { one } else { y + alpha },
            )
        }
        UnaryKind::Exp => acc_unary(dst, assign, g, x, y, |_, y| y),
        UnaryKind::Log => acc_unary(dst, assign, g, x, y, |x, _| one / x),
        UnaryKind::Sqrt => {
            let half = T::cast(0.5);
            acc_unary(dst, assign, g, x, y, |_, y| half / y)
        }
        UnaryKind::Square => {
            let two = T::cast(2.0);
            acc_unary(dst, assign, g, x, y, |x, _| two * x)
        }
        UnaryKind::Powi(n) => {
            let nt = T::cast(f64::from(n));
            acc_unary(dst, assign, g, x, y, |x, _| {
                if n == 0 {
                    zero
                } else {
                    nt * x.powi(n - 1)
                }
            })
        }
        UnaryKind::Sin => acc_unary(dst, assign, g, x, y, |x, _| x.cos()),
        UnaryKind::Cos => acc_unary(dst, assign, g, x, y, |x, _| -x.sin()),
        UnaryKind::Abs => acc_unary(dst, assign, g, x, y, |x, _| {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else {
                zero
            }
        }),
    }
}

pub(crate) fn binary_backward<T: Scalar>(
    kind: BinaryKind,
    a: usize,
    b: usize,
    ctx: &mut BackCtx<'_, T>,
) {
    let vals = ctx.vals;
    let (va, vb, y) = (&vals[a], &vals[b], &vals[ctx.i]);
    let shape = y.shape();
    let (r, c) = shape;
    // Input b first, so that input a may take this node's gradient buffer as its last use.
    if ctx.wants(b) {
        let (pa, pb, py) = (Bc::new(va, r, c), Bc::new(vb, r, c), Bc::new(y, r, c));
        let (g, dst, assign) = ctx.target(b);
        let gb = Bc::new(g, r, c);
        match kind {
            BinaryKind::Add => acc_contrib(dst, assign, shape, gb, gb, gb, |g, _, _| g),
            BinaryKind::Sub => acc_contrib(dst, assign, shape, gb, gb, gb, |g, _, _| -g),
            BinaryKind::Mul => acc_contrib(dst, assign, shape, gb, pa, pa, |g, a, _| g * a),
            BinaryKind::Div => acc_contrib(dst, assign, shape, gb, py, pb, |g, y, b| -g * y / b),
        }
    }
    if ctx.wants(a) {
        let same = va.shape() == shape;
        match kind {
            BinaryKind::Add | BinaryKind::Sub if same => ctx.pass_through(a, T::one()),
            _ => {
                let pb = Bc::new(vb, r, c);
                let (g, dst, assign) = ctx.target(a);
                let gb = Bc::new(g, r, c);
                match kind {
                    BinaryKind::Add | BinaryKind::Sub => {
                        acc_contrib(dst, assign, shape, gb, gb, gb, |g, _, _| g)
                    }
                    BinaryKind::Mul => acc_contrib(dst, assign, shape, gb, pb, pb, |g, b, _| g * b),
                    BinaryKind::Div => acc_contrib(dst, assign, shape, gb, pb, pb, |g, b, _| g / b),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shapes() {
        assert_eq!(broadcast_shape("add", (3, 4), (1, 4)), Ok((3, 4)));
        assert_eq!(broadcast_shape("add", (3, 1), (1, 4)), Ok((3, 4)));
        assert_eq!(broadcast_shape("add", (1, 1), (2, 5)), Ok((2, 5)));
        assert!(broadcast_shape("add", (3, 4), (2, 4)).is_err());
    }

    #[test]
    fn sigmoid_and_softplus_do_not_overflow() {
        assert_eq!(sigmoid(-1000.0f64), 0.0);
        assert_eq!(sigmoid(1000.0f64), 1.0);
        let mut y = [0.0f64; 2];
        unary_forward(UnaryKind::Softplus, &[1000.0, -1000.0], &mut y);
        assert_eq!(y, [1000.0, 0.0]);
    }
}
