//! Time-conditioned layers: the dynamics `f(z, t)` of a neural ODE may depend on `t`.

use autodiff::{Scalar, Tape, Var};
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::init::Init;
use crate::layer::TimeLayer;
use crate::linear::check_width;
use crate::params::{ParamId, ParamLayout, ParamVars};

/// A linear layer with time appended as an input: `y = [t, x] W + b` (FFJORD's `ConcatLinear`,
/// with `t` as the first input column).
///
/// Registers `{name}.weight` (`(in + 1) x out`; row 0 multiplies `t`) and `{name}.bias`
/// (`1 x out`). The layout equals PyTorch's `nn.Linear(in + 1, out)` applied to
/// `torch.cat([t, x], 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcatLinear {
    /// Input features (without `t`).
    pub in_dim: usize,
    /// Output features.
    pub out_dim: usize,
    /// The weight tensor, `(in + 1) x out`.
    pub weight: ParamId,
    /// The bias tensor, `1 x out`.
    pub bias: ParamId,
}

impl ConcatLinear {
    /// Registers the layer's tensors in `layout`.
    ///
    /// # Errors
    /// [`NnError::DuplicateParam`] if `name` is taken, [`NnError::Config`] for a zero width.
    pub fn new(
        layout: &mut ParamLayout,
        name: &str,
        in_dim: usize,
        out_dim: usize,
    ) -> Result<Self> {
        if in_dim == 0 || out_dim == 0 {
            return Err(NnError::Config {
                what: "a time-conditioned layer needs at least one input and one output",
            });
        }
        let fan = (in_dim + 1, out_dim);
        let weight = layout.add(
            &format!("{name}.weight"),
            in_dim + 1,
            out_dim,
            Init::GlorotUniform,
            fan,
        )?;
        let bias = layout.add(&format!("{name}.bias"), 1, out_dim, Init::Zeros, fan)?;
        Ok(ConcatLinear {
            in_dim,
            out_dim,
            weight,
            bias,
        })
    }
}

impl<T: Scalar> TimeLayer<T> for ConcatLinear {
    fn forward_t(&self, tape: &mut Tape<T>, p: &ParamVars, t: Var, x: Var) -> Result<Var> {
        check_width("ConcatLinear", self.in_dim, x)?;
        let w = p.get(self.weight);
        let wt = tape.slice_rows(w, 0, 1)?;
        let wx = tape.slice_rows(w, 1, self.in_dim)?;
        let tw = tape.mul(wt, t)?;
        let tb = tape.add(tw, p.get(self.bias))?;
        Ok(tape.affine(x, wx, tb)?)
    }
}

/// FFJORD's `ConcatSquashLinear`: `y = (x W + b) · σ(t w_g + b_g) + t c`, with the gate and the
/// time bias per output feature.
///
/// Registers, with FFJORD's names: `{name}._layer.weight` (`in x out`), `{name}._layer.bias`,
/// `{name}._hyper_gate.weight`, `{name}._hyper_gate.bias` and `{name}._hyper_bias.weight`
/// (each `1 x out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcatSquash {
    /// Input features.
    pub in_dim: usize,
    /// Output features.
    pub out_dim: usize,
    /// `W`, `in x out`.
    pub weight: ParamId,
    /// `b`, `1 x out`.
    pub bias: ParamId,
    /// `w_g`, `1 x out`.
    pub gate_weight: ParamId,
    /// `b_g`, `1 x out`.
    pub gate_bias: ParamId,
    /// `c`, `1 x out`.
    pub time_bias: ParamId,
}

impl ConcatSquash {
    /// Registers the layer's tensors in `layout`.
    ///
    /// # Errors
    /// [`NnError::DuplicateParam`] if `name` is taken, [`NnError::Config`] for a zero width.
    pub fn new(
        layout: &mut ParamLayout,
        name: &str,
        in_dim: usize,
        out_dim: usize,
    ) -> Result<Self> {
        if in_dim == 0 || out_dim == 0 {
            return Err(NnError::Config {
                what: "a time-conditioned layer needs at least one input and one output",
            });
        }
        let fan = (in_dim, out_dim);
        let tfan = (1, out_dim);
        let mut add = |suffix: &str, rows, init, fan| {
            layout.add(&format!("{name}.{suffix}"), rows, out_dim, init, fan)
        };
        Ok(ConcatSquash {
            in_dim,
            out_dim,
            weight: add("_layer.weight", in_dim, Init::GlorotUniform, fan)?,
            bias: add("_layer.bias", 1, Init::Zeros, fan)?,
            gate_weight: add("_hyper_gate.weight", 1, Init::GlorotUniform, tfan)?,
            gate_bias: add("_hyper_gate.bias", 1, Init::Zeros, tfan)?,
            time_bias: add("_hyper_bias.weight", 1, Init::GlorotUniform, tfan)?,
        })
    }
}

impl<T: Scalar> TimeLayer<T> for ConcatSquash {
    fn forward_t(&self, tape: &mut Tape<T>, p: &ParamVars, t: Var, x: Var) -> Result<Var> {
        check_width("ConcatSquash", self.in_dim, x)?;
        let h = tape.affine(x, p.get(self.weight), p.get(self.bias))?;
        let g = tape.mul(p.get(self.gate_weight), t)?;
        let g = tape.add(g, p.get(self.gate_bias))?;
        let g = tape.sigmoid(g);
        let c = tape.mul(p.get(self.time_bias), t)?;
        let h = tape.mul(h, g)?;
        Ok(tape.add(h, c)?)
    }
}
