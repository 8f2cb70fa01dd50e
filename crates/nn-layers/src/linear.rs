//! The fully connected layer.

use autodiff::{Scalar, Tape, Var};
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::init::Init;
use crate::layer::Layer;
use crate::params::{ParamId, ParamLayout, ParamVars};

/// `y = x W + b`: `x` is `B x in`, `W` is `in x out`, `b` is `1 x out` (broadcast over rows).
///
/// Registers `{name}.weight` (`in x out`, Glorot uniform) and, with bias, `{name}.bias`
/// (`1 x out`, zeros). The weight's column-major storage equals PyTorch's row-major
/// `weight` of shape `out x in`.
///
/// ```
/// use autodiff::Tape;
/// use nn_layers::{Binding, Layer, Linear, ParamLayout, ParamVars};
/// let mut layout = ParamLayout::new();
/// let fc = Linear::new(&mut layout, "fc", 2, 1, true)?;
/// let theta = [1.0, 2.0, 0.5]; // W = [1; 2], b = 0.5
/// let mut tape = Tape::<f64>::new();
/// let mut p = ParamVars::new();
/// p.bind(&mut tape, &layout, &theta, Binding::PerTensor)?;
/// let x = tape.constant_from_slice(1, 2, &[3.0, 4.0])?;
/// let y = fc.forward(&mut tape, &p, x)?;
/// assert_eq!(tape.value(y)[0], 11.5);
/// # Ok::<(), nn_layers::NnError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linear {
    /// Input features.
    pub in_dim: usize,
    /// Output features.
    pub out_dim: usize,
    /// The weight tensor.
    pub weight: ParamId,
    /// The bias tensor, if any.
    pub bias: Option<ParamId>,
}

impl Linear {
    /// Registers a linear layer's tensors in `layout`.
    ///
    /// # Errors
    /// [`NnError::DuplicateParam`] if `name` is taken, [`NnError::Config`] for a zero width.
    pub fn new(
        layout: &mut ParamLayout,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
    ) -> Result<Self> {
        if in_dim == 0 || out_dim == 0 {
            return Err(NnError::Config {
                what: "a linear layer needs at least one input and one output",
            });
        }
        let fan = (in_dim, out_dim);
        let weight = layout.add(
            &format!("{name}.weight"),
            in_dim,
            out_dim,
            Init::GlorotUniform,
            fan,
        )?;
        let bias = if bias {
            Some(layout.add(&format!("{name}.bias"), 1, out_dim, Init::Zeros, fan)?)
        } else {
            None
        };
        Ok(Linear {
            in_dim,
            out_dim,
            weight,
            bias,
        })
    }
}

pub(crate) fn check_width(layer: &'static str, expected: usize, x: Var) -> Result<()> {
    if x.cols() != expected {
        return Err(NnError::InputWidth {
            layer,
            expected,
            got: x.cols(),
        });
    }
    Ok(())
}

impl<T: Scalar> Layer<T> for Linear {
    fn forward(&self, tape: &mut Tape<T>, p: &ParamVars, x: Var) -> Result<Var> {
        check_width("Linear", self.in_dim, x)?;
        match self.bias {
            // One node: the product accumulates into the broadcast bias.
            Some(b) => Ok(tape.affine(x, p.get(self.weight), p.get(b))?),
            None => Ok(tape.matmul(x, p.get(self.weight))?),
        }
    }
}
