//! Multilayer perceptrons, plain or time-conditioned.

use autodiff::{Scalar, Tape, Var};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::{NnError, Result};
use crate::layer::{Layer, TimeLayer};
use crate::linear::Linear;
use crate::params::{ParamLayout, ParamVars};
use crate::time::{ConcatLinear, ConcatSquash};

/// How an MLP's layers see time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TimeInput {
    /// Time-independent: plain [`Linear`] layers.
    None,
    /// Every layer gets `t` appended as an input ([`ConcatLinear`]).
    Concat,
    /// Every layer is a [`ConcatSquash`].
    ConcatSquash,
}

/// The architecture of an [`Mlp`]: what a model file stores to describe it.
///
/// ```
/// use nn_layers::{Activation, MlpConfig, ParamLayout};
/// // The paper's spiral dynamics: f(t, y) = MLP(y³), 2 → 50 → 2, tanh.
/// let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube);
/// let mut layout = ParamLayout::new();
/// let mlp = cfg.build(&mut layout, "net")?;
/// assert_eq!(layout.len(), 2 * 50 + 50 + 50 * 2 + 2);
/// assert_eq!(layout.specs()[2].name, "net.2.weight");
/// # let _ = mlp;
/// # Ok::<(), nn_layers::NnError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Layer widths, input first: `[in, hidden..., out]` (at least two entries).
    pub widths: Vec<usize>,
    /// Activation between layers.
    pub activation: Activation,
    /// Activation after the last layer (usually [`Activation::Identity`]).
    pub final_activation: Activation,
    /// Map applied to the input before the first layer (usually [`Activation::Identity`]).
    pub input_activation: Activation,
    /// How layers see time.
    pub time: TimeInput,
    /// Whether plain linear layers have a bias (time-conditioned layers always do).
    pub bias: bool,
}

impl MlpConfig {
    /// An MLP with these widths and hidden activation; identity output and input maps, biases,
    /// no time input.
    pub fn new(widths: &[usize], activation: Activation) -> Self {
        MlpConfig {
            widths: widths.to_vec(),
            activation,
            final_activation: Activation::Identity,
            input_activation: Activation::Identity,
            time: TimeInput::None,
            bias: true,
        }
    }

    /// Sets the input map.
    pub fn with_input_activation(mut self, a: Activation) -> Self {
        self.input_activation = a;
        self
    }

    /// Sets the output activation.
    pub fn with_final_activation(mut self, a: Activation) -> Self {
        self.final_activation = a;
        self
    }

    /// Sets the time conditioning.
    pub fn with_time(mut self, time: TimeInput) -> Self {
        self.time = time;
        self
    }

    /// Registers the network's tensors in `layout`: layer `i` is named `{name}.{2i}` (the index
    /// PyTorch's `nn.Sequential(Linear, act, Linear, ...)` gives it) and registers its weight
    /// then its bias, layer by layer.
    ///
    /// # Errors
    /// [`NnError::Config`] for fewer than two widths or a zero width;
    /// [`NnError::DuplicateParam`] if a name is taken.
    pub fn build(&self, layout: &mut ParamLayout, name: &str) -> Result<Mlp> {
        if self.widths.len() < 2 {
            return Err(NnError::Config {
                what: "an MLP needs at least an input and an output width",
            });
        }
        let mut layers = Vec::with_capacity(self.widths.len() - 1);
        for (i, w) in self.widths.windows(2).enumerate() {
            let n = format!("{name}.{}", 2 * i);
            layers.push(match self.time {
                TimeInput::None => {
                    MlpLayer::Linear(Linear::new(layout, &n, w[0], w[1], self.bias)?)
                }
                TimeInput::Concat => MlpLayer::Concat(ConcatLinear::new(layout, &n, w[0], w[1])?),
                TimeInput::ConcatSquash => {
                    MlpLayer::Squash(ConcatSquash::new(layout, &n, w[0], w[1])?)
                }
            });
        }
        Ok(Mlp {
            config: self.clone(),
            layers,
        })
    }
}

/// One layer of an [`Mlp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MlpLayer {
    /// Time-independent.
    Linear(Linear),
    /// Time appended as an input.
    Concat(ConcatLinear),
    /// Concat-squash.
    Squash(ConcatSquash),
}

/// A multilayer perceptron: affine layers with an activation between them.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    config: MlpConfig,
    layers: Vec<MlpLayer>,
}

impl Mlp {
    /// Shorthand for [`MlpConfig::new`]`(widths, activation).build(layout, name)`.
    ///
    /// # Errors
    /// As [`MlpConfig::build`].
    pub fn new(
        layout: &mut ParamLayout,
        name: &str,
        widths: &[usize],
        activation: Activation,
    ) -> Result<Self> {
        MlpConfig::new(widths, activation).build(layout, name)
    }

    /// The architecture.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The layers, input first.
    pub fn layers(&self) -> &[MlpLayer] {
        &self.layers
    }

    /// Input features.
    pub fn in_dim(&self) -> usize {
        self.config.widths[0]
    }

    /// Output features.
    pub fn out_dim(&self) -> usize {
        *self.config.widths.last().expect("at least two widths")
    }

    fn run<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        p: &ParamVars,
        t: Option<Var>,
        x: Var,
    ) -> Result<Var> {
        let mut h = self.config.input_activation.apply(tape, x);
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            h = match (l, t) {
                (MlpLayer::Linear(l), _) => l.forward(tape, p, h)?,
                (MlpLayer::Concat(l), Some(t)) => l.forward_t(tape, p, t, h)?,
                (MlpLayer::Squash(l), Some(t)) => l.forward_t(tape, p, t, h)?,
                (_, None) => return Err(NnError::MissingTime),
            };
            let act = if i == last {
                self.config.final_activation
            } else {
                self.config.activation
            };
            h = act.apply(tape, h);
        }
        Ok(h)
    }
}

impl<T: Scalar> Layer<T> for Mlp {
    /// # Errors
    /// [`NnError::MissingTime`] if the network is time-conditioned.
    fn forward(&self, tape: &mut Tape<T>, p: &ParamVars, x: Var) -> Result<Var> {
        self.run(tape, p, None, x)
    }
}

impl<T: Scalar> TimeLayer<T> for Mlp {
    /// A time-independent network ignores `t`.
    fn forward_t(&self, tape: &mut Tape<T>, p: &ParamVars, t: Var, x: Var) -> Result<Var> {
        self.run(tape, p, Some(t), x)
    }
}
