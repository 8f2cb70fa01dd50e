//! Parameter initialization with an explicit seed.
//!
//! [`init_params`] fills every tensor of a layout according to its [`Init`]. Tensor `k` (in
//! layout order) draws from its own ChaCha8 stream (`seed`, stream `k`), so the values depend
//! only on the seed and the tensor's position: the same on every machine and for any number of
//! threads, and adding a layer at the end leaves the earlier tensors unchanged.

use autodiff::Scalar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::params::ParamLayout;

/// How to fill one tensor. `fan_in` and `fan_out` come from the tensor's
/// [`ParamSpec::fan`](crate::ParamSpec::fan).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Init {
    /// All zeros.
    Zeros,
    /// Every element equal to the value.
    Constant(f64),
    /// Normal with mean 0 and this standard deviation.
    Normal {
        /// Standard deviation.
        std: f64,
    },
    /// Uniform on `[-bound, bound]`.
    Uniform {
        /// Half-width of the interval.
        bound: f64,
    },
    /// Glorot (Xavier) uniform: `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))`.
    GlorotUniform,
    /// Glorot (Xavier) normal: `N(0, 2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// He (Kaiming) uniform for ReLU: `U(-a, a)`, `a = sqrt(6 / fan_in)`.
    HeUniform,
    /// He (Kaiming) normal for ReLU: `N(0, 2 / fan_in)`.
    HeNormal,
    /// PyTorch's default for `nn.Linear` and `nn.Conv2d` weights and biases:
    /// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    TorchDefault,
}

/// A standard normal draw (Box–Muller on two uniforms; one of the pair is discarded so that
/// each element consumes a fixed amount of the stream).
fn std_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Init {
    /// Fills `out` for a tensor with the given fans from `rng`.
    pub fn fill<T: Scalar>(self, out: &mut [T], fan: (usize, usize), rng: &mut ChaCha8Rng) {
        let (fi, fo) = (fan.0.max(1) as f64, fan.1.max(1) as f64);
        let uniform = |out: &mut [T], a: f64, rng: &mut ChaCha8Rng| {
            for x in out.iter_mut() {
                *x = T::cast(rng.random_range(-a..=a));
            }
        };
        let normal = |out: &mut [T], s: f64, rng: &mut ChaCha8Rng| {
            for x in out.iter_mut() {
                *x = T::cast(s * std_normal(rng));
            }
        };
        match self {
            Init::Zeros => out.fill(T::zero()),
            Init::Constant(c) => out.fill(T::cast(c)),
            Init::Normal { std } => normal(out, std, rng),
            Init::Uniform { bound } => uniform(out, bound, rng),
            Init::GlorotUniform => uniform(out, (6.0 / (fi + fo)).sqrt(), rng),
            Init::GlorotNormal => normal(out, (2.0 / (fi + fo)).sqrt(), rng),
            Init::HeUniform => uniform(out, (6.0 / fi).sqrt(), rng),
            Init::HeNormal => normal(out, (2.0 / fi).sqrt(), rng),
            Init::TorchDefault => uniform(out, 1.0 / fi.sqrt(), rng),
        }
    }
}

/// Fills `theta` according to the [`Init`] of each tensor in `layout`, reproducibly from `seed`.
///
/// ```
/// use nn_layers::{init_params, Activation, Mlp, ParamLayout};
/// let mut layout = ParamLayout::new();
/// let _mlp = Mlp::new(&mut layout, "net", &[2, 50, 2], Activation::Tanh)?;
/// let mut a = vec![0.0f64; layout.len()];
/// let mut b = vec![0.0f64; layout.len()];
/// init_params(&layout, &mut a, 7)?;
/// init_params(&layout, &mut b, 7)?;
/// assert_eq!(a, b);
/// # Ok::<(), nn_layers::NnError>(())
/// ```
///
/// # Errors
/// [`NnError::LengthMismatch`](crate::NnError::LengthMismatch) if `theta` does not fit.
pub fn init_params<T: Scalar>(layout: &ParamLayout, theta: &mut [T], seed: u64) -> Result<()> {
    layout.check_len("parameter vector", theta)?;
    for (k, s) in layout.specs().iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(k as u64);
        s.init.fill(&mut theta[s.range()], s.fan, &mut rng);
    }
    Ok(())
}
