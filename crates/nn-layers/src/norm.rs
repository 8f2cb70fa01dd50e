//! Normalization layers: group normalization (the ODE-Net's norm) and batch normalization
//! (the ResNet baseline's).
//!
//! Feature layout for image-like inputs: a batch of `B` samples with `C` channels of `S`
//! positions each (`S = H·W`) is a `B x (C·S)` matrix whose column `c·S + s` is position `s` of
//! channel `c` (channel-major, the order of PyTorch's `x.flatten(1)` on `N x C x H x W`).
//! For plain feature vectors `S = 1`.
//!
//! Both layers are compositions of tape operations (reshape, transpose, column means,
//! broadcasting arithmetic), so their gradients come from the tape.

use autodiff::{Scalar, Tape, Var};
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::init::Init;
use crate::layer::Layer;
use crate::linear::check_width;
use crate::params::{ParamId, ParamLayout, ParamVars};

/// Expands a `1 x C` per-channel vector to `1 x (C·S)` (each entry repeated `S` times).
fn per_position<T: Scalar>(tape: &mut Tape<T>, v: Var, s: usize) -> Result<Var> {
    if s == 1 {
        return Ok(v);
    }
    let ones = tape.constant_fill(s, 1, T::one());
    let m = tape.matmul(ones, v)?; // S x C, column c all v_c
    Ok(tape.reshape(m, 1, m.len())?)
}

/// Group normalization (Wu & He 2018): per sample, the channels are split into `groups` groups
/// and each group is normalised to zero mean and unit variance over its channels and
/// positions, then scaled and shifted per channel: `y = (x - μ) / sqrt(σ² + ε) · γ_c + β_c`
/// (biased variance, as PyTorch's `nn.GroupNorm`).
///
/// Registers `{name}.weight` (`γ`, `1 x C`, ones) and `{name}.bias` (`β`, `1 x C`, zeros).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupNorm {
    /// Channels `C`.
    pub channels: usize,
    /// Positions per channel `S`.
    pub spatial: usize,
    /// Groups (divides `C`).
    pub groups: usize,
    /// `ε`.
    pub eps: f64,
    /// `γ`.
    pub weight: ParamId,
    /// `β`.
    pub bias: ParamId,
}

impl GroupNorm {
    /// Registers a group norm over `channels` channels of `spatial` positions, `eps = 1e-5`.
    ///
    /// # Errors
    /// [`NnError::Config`] if `groups` does not divide `channels` or a size is zero.
    pub fn new(
        layout: &mut ParamLayout,
        name: &str,
        groups: usize,
        channels: usize,
        spatial: usize,
    ) -> Result<Self> {
        if groups == 0 || channels == 0 || spatial == 0 || !channels.is_multiple_of(groups) {
            return Err(NnError::Config {
                what: "group norm needs non-zero sizes and groups dividing the channels",
            });
        }
        let fan = (channels, channels);
        Ok(GroupNorm {
            channels,
            spatial,
            groups,
            eps: 1e-5,
            weight: layout.add(
                &format!("{name}.weight"),
                1,
                channels,
                Init::Constant(1.0),
                fan,
            )?,
            bias: layout.add(&format!("{name}.bias"), 1, channels, Init::Zeros, fan)?,
        })
    }
}

impl<T: Scalar> Layer<T> for GroupNorm {
    fn forward(&self, tape: &mut Tape<T>, p: &ParamVars, x: Var) -> Result<Var> {
        let width = self.channels * self.spatial;
        check_width("GroupNorm", width, x)?;
        let b = x.rows();
        let k = width / self.groups;
        // B x (G·K) → (G·K) x B → K x (G·B): column g + i·G holds group g of sample i.
        let xt = tape.transpose(x);
        let xg = tape.reshape(xt, k, self.groups * b)?;
        let mean = tape.col_means(xg);
        let xc = tape.sub(xg, mean)?;
        let sq = tape.square(xc);
        let var = tape.col_means(sq);
        let var = tape.add_scalar(var, T::cast(self.eps));
        let sd = tape.sqrt(var);
        let xn = tape.div(xc, sd)?;
        let xn = tape.reshape(xn, width, b)?;
        let xn = tape.transpose(xn);
        let g = per_position(tape, p.get(self.weight), self.spatial)?;
        let bb = per_position(tape, p.get(self.bias), self.spatial)?;
        let y = tape.mul(xn, g)?;
        Ok(tape.add(y, bb)?)
    }
}

/// Batch normalization (Ioffe & Szegedy 2015) in training mode: each channel is normalised
/// with the mean and biased variance over the batch and positions, then scaled and shifted:
/// `y = (x - μ_c) / sqrt(σ_c² + ε) · γ_c + β_c`.
///
/// Registers `{name}.weight` (`γ`, ones) and `{name}.bias` (`β`, zeros), each `1 x C`. The
/// running statistics for evaluation are state, not parameters: [`BatchNorm::batch_stats`]
/// computes a batch's mean and unbiased variance, [`BatchNorm::update_running`] folds them in
/// (PyTorch's momentum rule), and [`BatchNorm::forward_eval`] normalises with given statistics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    /// Channels `C`.
    pub channels: usize,
    /// Positions per channel `S`.
    pub spatial: usize,
    /// `ε`.
    pub eps: f64,
    /// Weight of the new batch in the running statistics.
    pub momentum: f64,
    /// `γ`.
    pub weight: ParamId,
    /// `β`.
    pub bias: ParamId,
}

impl BatchNorm {
    /// Registers a batch norm over `channels` channels of `spatial` positions (`eps = 1e-5`,
    /// `momentum = 0.1`, PyTorch's defaults).
    ///
    /// # Errors
    /// [`NnError::Config`] for a zero size.
    pub fn new(
        layout: &mut ParamLayout,
        name: &str,
        channels: usize,
        spatial: usize,
    ) -> Result<Self> {
        if channels == 0 || spatial == 0 {
            return Err(NnError::Config {
                what: "batch norm needs non-zero sizes",
            });
        }
        let fan = (channels, channels);
        Ok(BatchNorm {
            channels,
            spatial,
            eps: 1e-5,
            momentum: 0.1,
            weight: layout.add(
                &format!("{name}.weight"),
                1,
                channels,
                Init::Constant(1.0),
                fan,
            )?,
            bias: layout.add(&format!("{name}.bias"), 1, channels, Init::Zeros, fan)?,
        })
    }

    /// `x` as `(B·S) x C`: column `c` holds every value of channel `c`.
    fn by_channel<T: Scalar>(&self, tape: &mut Tape<T>, x: Var) -> Result<Var> {
        check_width("BatchNorm", self.channels * self.spatial, x)?;
        Ok(tape.reshape(x, x.rows() * self.spatial, self.channels)?)
    }

    fn affine<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        p: &ParamVars,
        xn: Var,
        rows: usize,
    ) -> Result<Var> {
        let y = tape.mul(xn, p.get(self.weight))?;
        let y = tape.add(y, p.get(self.bias))?;
        Ok(tape.reshape(y, rows, self.channels * self.spatial)?)
    }

    /// The per-channel mean and unbiased variance of a batch (values, for the running
    /// statistics), as `C`-vectors.
    ///
    /// # Errors
    /// [`NnError::InputWidth`] for a wrong width.
    pub fn batch_stats<T: Scalar>(&self, x: &nalgebra::DMatrix<T>) -> Result<(Vec<T>, Vec<T>)> {
        if x.ncols() != self.channels * self.spatial {
            return Err(NnError::InputWidth {
                layer: "BatchNorm",
                expected: self.channels * self.spatial,
                got: x.ncols(),
            });
        }
        let per = x.nrows() * self.spatial;
        let s = x.as_slice();
        let mut mean = Vec::with_capacity(self.channels);
        let mut var = Vec::with_capacity(self.channels);
        for c in 0..self.channels {
            let v = &s[c * per..(c + 1) * per];
            let m = v.iter().fold(T::zero(), |a, &b| a + b) / T::cast(per as f64);
            let ss = v.iter().fold(T::zero(), |a, &b| a + (b - m) * (b - m));
            mean.push(m);
            var.push(ss / T::cast(per.saturating_sub(1).max(1) as f64));
        }
        Ok((mean, var))
    }

    /// `running = (1 - momentum)·running + momentum·batch`, for means and variances alike.
    pub fn update_running<T: Scalar>(&self, running: &mut [T], batch: &[T]) {
        let m = T::cast(self.momentum);
        for (r, &b) in running.iter_mut().zip(batch) {
            *r = (T::one() - m) * *r + m * b;
        }
    }

    /// Evaluation mode: normalises with the given per-channel mean and variance (constants).
    ///
    /// # Errors
    /// A wrong input width or statistics length.
    pub fn forward_eval<T: Scalar>(
        &self,
        tape: &mut Tape<T>,
        p: &ParamVars,
        x: Var,
        mean: &[T],
        var: &[T],
    ) -> Result<Var> {
        let xc = self.by_channel(tape, x)?;
        let m = tape.constant_from_slice(1, self.channels, mean)?;
        let v = tape.constant_from_slice(1, self.channels, var)?;
        let v = tape.add_scalar(v, T::cast(self.eps));
        let sd = tape.sqrt(v);
        let xn = tape.sub(xc, m)?;
        let xn = tape.div(xn, sd)?;
        self.affine(tape, p, xn, x.rows())
    }
}

impl<T: Scalar> Layer<T> for BatchNorm {
    /// Training mode (batch statistics).
    fn forward(&self, tape: &mut Tape<T>, p: &ParamVars, x: Var) -> Result<Var> {
        let xc = self.by_channel(tape, x)?;
        let mean = tape.col_means(xc);
        let d = tape.sub(xc, mean)?;
        let sq = tape.square(d);
        let var = tape.col_means(sq);
        let var = tape.add_scalar(var, T::cast(self.eps));
        let sd = tape.sqrt(var);
        let xn = tape.div(d, sd)?;
        self.affine(tape, p, xn, x.rows())
    }
}
