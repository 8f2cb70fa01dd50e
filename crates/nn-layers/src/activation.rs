//! Elementwise activation functions.

use autodiff::{Scalar, Tape, Var};
use serde::{Deserialize, Serialize};

/// An elementwise nonlinearity, usable on a tape ([`Activation::apply`]) and as plain scalar
/// functions with their derivatives (for hand-written products).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Activation {
    /// `x`.
    Identity,
    /// `tanh x`.
    Tanh,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `ln(1 + e^x)`.
    Softplus,
    /// `x` for `x > 0`, `alpha (e^x - 1)` otherwise.
    Elu(f64),
    /// `x³` (the input map of the paper's spiral dynamics, `f(y) = MLP(y³)`).
    Cube,
}

impl Activation {
    /// Records the activation of `x` on `tape`.
    pub fn apply<T: Scalar>(self, tape: &mut Tape<T>, x: Var) -> Var {
        match self {
            Activation::Identity => x,
            Activation::Tanh => tape.tanh(x),
            Activation::Relu => tape.relu(x),
            Activation::Sigmoid => tape.sigmoid(x),
            Activation::Softplus => tape.softplus(x),
            Activation::Elu(a) => tape.elu(x, T::cast(a)),
            Activation::Cube => tape.powi(x, 3),
        }
    }

    /// The activation of every element of `x`, into `out` (same length). The match is
    /// hoisted out of the loop so that each activation's loop vectorises.
    pub fn eval_slice<T: Scalar>(self, x: &[T], out: &mut [T]) {
        match self {
            Activation::Tanh => autodiff::math::tanh_slice(x, out),
            a => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = a.eval(v);
                }
            }
        }
    }

    /// The activation of a scalar.
    #[inline]
    pub fn eval<T: Scalar>(self, x: T) -> T {
        match self {
            Activation::Identity => x,
            Activation::Tanh => T::cast(autodiff::math::tanh(x.as_f64())),
            Activation::Relu => {
                if x > T::zero() {
                    x
                } else {
                    T::zero()
                }
            }
            Activation::Sigmoid => sigmoid(x),
            Activation::Softplus => {
                // ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), overflow-free.
                let m = if x > T::zero() { x } else { T::zero() };
                m + (-x.abs()).exp().ln_1p()
            }
            Activation::Elu(a) => {
                if x > T::zero() {
                    x
                } else {
                    T::cast(a) * x.exp_m1()
                }
            }
            Activation::Cube => x * x * x,
        }
    }

    /// Whether [`Activation::deriv`] reads its input `x` (otherwise the output `y` is enough,
    /// and a forward pass need not keep the pre-activation).
    pub fn deriv_needs_input(self) -> bool {
        !matches!(
            self,
            Activation::Identity | Activation::Tanh | Activation::Sigmoid
        )
    }

    /// The derivative at `x`, given also `y = eval(x)` (cheaper for tanh and sigmoid).
    #[inline]
    pub fn deriv<T: Scalar>(self, x: T, y: T) -> T {
        match self {
            Activation::Identity => T::one(),
            Activation::Tanh => T::one() - y * y,
            Activation::Relu => {
                if x > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Activation::Sigmoid => y * (T::one() - y),
            Activation::Softplus => sigmoid(x),
            Activation::Elu(a) => {
                if x > T::zero() {
                    T::one()
                } else {
                    y + T::cast(a)
                }
            }
            Activation::Cube => T::cast(3.0) * x * x,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `deriv_needs_input` says no, the derivative must be a function of the output
    /// alone: the same `y` with another `x` gives the same value.
    #[test]
    fn derivatives_said_not_to_read_the_input_do_not() {
        let all = [
            Activation::Identity,
            Activation::Tanh,
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Softplus,
            Activation::Elu(0.7),
            Activation::Cube,
        ];
        let xs = [-2.5f64, -0.3, 0.0, 0.4, 1.7];
        for a in all {
            let mut reads_x = false;
            for &x in &xs {
                let y = a.eval(x);
                for &other in &xs {
                    if a.deriv(x, y) != a.deriv(other, y) {
                        reads_x = true;
                    }
                }
            }
            if !a.deriv_needs_input() {
                assert!(!reads_x, "{a:?}: deriv reads x");
            }
            // And the ones said to read it really do (else the pre-activation is kept for
            // nothing).
            if a.deriv_needs_input() {
                assert!(reads_x, "{a:?}: deriv does not read x");
            }
        }
    }
}
