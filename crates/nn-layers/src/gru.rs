//! A GRU cell and a sequence runner (the latent ODE's recognition network).

use autodiff::{Scalar, Tape, Var};
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::init::Init;
use crate::linear::check_width;
use crate::params::{ParamId, ParamLayout, ParamVars};

/// A gated recurrent unit, PyTorch's `nn.GRUCell` formulation:
///
/// ```text
/// r  = σ(x W_ir + b_ir + h W_hr + b_hr)
/// z  = σ(x W_iz + b_iz + h W_hz + b_hz)
/// n  = tanh(x W_in + b_in + r ∘ (h W_hn + b_hn))
/// h' = (1 - z) ∘ n + z ∘ h
/// ```
///
/// Registers `{name}.weight_ih` (`D x 3H`, blocks r, z, n), `{name}.weight_hh` (`H x 3H`),
/// `{name}.bias_ih` and `{name}.bias_hh` (`1 x 3H`), all `U(-1/√H, 1/√H)` as in PyTorch; the
/// memory layouts equal PyTorch's `weight_ih [3H, D]` etc.
///
/// ```
/// use autodiff::Tape;
/// use nn_layers::{init_params, Binding, Gru, ParamLayout, ParamVars};
/// let mut layout = ParamLayout::new();
/// let gru = Gru::new(&mut layout, "rnn", 3, 8)?;
/// let mut theta = vec![0.0f64; layout.len()];
/// init_params(&layout, &mut theta, 0)?;
/// let mut tape = Tape::new();
/// let mut p = ParamVars::new();
/// p.bind(&mut tape, &layout, &theta, Binding::PerTensor)?;
/// let xs: Vec<_> = (0..5).map(|k| tape.constant_fill(2, 3, k as f64 * 0.1)).collect();
/// let h0 = tape.constant_fill(2, 8, 0.0);
/// let h = gru.run(&mut tape, &p, &xs, h0, true)?; // backward in time, as the latent ODE encoder
/// assert_eq!(h.shape(), (2, 8));
/// # Ok::<(), nn_layers::NnError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gru {
    /// Input features `D`.
    pub input: usize,
    /// Hidden units `H`.
    pub hidden: usize,
    /// `W_ih`, `D x 3H`.
    pub weight_ih: ParamId,
    /// `W_hh`, `H x 3H`.
    pub weight_hh: ParamId,
    /// `b_ih`, `1 x 3H`.
    pub bias_ih: ParamId,
    /// `b_hh`, `1 x 3H`.
    pub bias_hh: ParamId,
}

impl Gru {
    /// Registers a GRU cell's tensors.
    ///
    /// # Errors
    /// [`NnError::Config`] for a zero size; [`NnError::DuplicateParam`] if the name is taken.
    pub fn new(layout: &mut ParamLayout, name: &str, input: usize, hidden: usize) -> Result<Self> {
        if input == 0 || hidden == 0 {
            return Err(NnError::Config {
                what: "a GRU needs at least one input and one hidden unit",
            });
        }
        let fan = (hidden, hidden);
        let mut add = |s: &str, rows| {
            layout.add(
                &format!("{name}.{s}"),
                rows,
                3 * hidden,
                Init::TorchDefault,
                fan,
            )
        };
        Ok(Gru {
            input,
            hidden,
            weight_ih: add("weight_ih", input)?,
            weight_hh: add("weight_hh", hidden)?,
            bias_ih: add("bias_ih", 1)?,
            bias_hh: add("bias_hh", 1)?,
        })
    }

    /// One step: the new hidden state from input `x` (`B x D`) and state `h` (`B x H`).
    ///
    /// # Errors
    /// [`NnError::InputWidth`] for wrong widths; tape shape errors for mismatched batches.
    pub fn step<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        p: &ParamVars,
        x: Var,
        h: Var,
    ) -> Result<Var> {
        check_width("Gru (input)", self.input, x)?;
        check_width("Gru (hidden)", self.hidden, h)?;
        let hd = self.hidden;
        let gi = tape.affine(x, p.get(self.weight_ih), p.get(self.bias_ih))?;
        let gh = tape.affine(h, p.get(self.weight_hh), p.get(self.bias_hh))?;
        let gate = |tape: &mut Tape<T>, k: usize| -> Result<(Var, Var)> {
            Ok((
                tape.slice_cols(gi, k * hd, hd)?,
                tape.slice_cols(gh, k * hd, hd)?,
            ))
        };
        let (ir, hr) = gate(tape, 0)?;
        let (iz, hz) = gate(tape, 1)?;
        let (inn, hn) = gate(tape, 2)?;
        let r = tape.add(ir, hr)?;
        let r = tape.sigmoid(r);
        let z = tape.add(iz, hz)?;
        let z = tape.sigmoid(z);
        let rn = tape.mul(r, hn)?;
        let n = tape.add(inn, rn)?;
        let n = tape.tanh(n);
        // h' = n + z ∘ (h - n).
        let d = tape.sub(h, n)?;
        let zd = tape.mul(z, d)?;
        Ok(tape.add(n, zd)?)
    }

    /// Runs the cell over a sequence of inputs from `h0` and returns the last state; with
    /// `reverse`, the inputs are consumed last to first (the latent ODE's encoder runs
    /// backward in time).
    ///
    /// # Errors
    /// As [`Gru::step`].
    pub fn run<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        p: &ParamVars,
        inputs: &[Var],
        h0: Var,
        reverse: bool,
    ) -> Result<Var> {
        let mut h = h0;
        if reverse {
            for &x in inputs.iter().rev() {
                h = self.step(tape, p, x, h)?;
            }
        } else {
            for &x in inputs {
                h = self.step(tape, p, x, h)?;
            }
        }
        Ok(h)
    }

    /// Like [`Gru::run`], also pushing every intermediate state (in processing order) into
    /// `states`, which is cleared first.
    ///
    /// # Errors
    /// As [`Gru::step`].
    pub fn run_all<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        p: &ParamVars,
        inputs: &[Var],
        h0: Var,
        reverse: bool,
        states: &mut Vec<Var>,
    ) -> Result<Var> {
        states.clear();
        let mut h = h0;
        let mut go = |x: Var, tape: &mut Tape<T>| -> Result<()> {
            h = self.step(tape, p, x, h)?;
            states.push(h);
            Ok(())
        };
        if reverse {
            for &x in inputs.iter().rev() {
                go(x, tape)?;
            }
        } else {
            for &x in inputs {
                go(x, tape)?;
            }
        }
        Ok(h)
    }
}
