//! Convolution and pooling on channel-major image batches.
//!
//! Layout (as [`autodiff::Patches`]): `B` images of `C` channels of `H x W` pixels are a
//! `B x (C·H·W)` matrix, column `c·H·W + y·W + x`. This is also what "flatten" means here: the
//! matrix already is the flattened batch (PyTorch's `x.flatten(1)`), so a [`Linear`](crate::Linear)
//! layer can follow a convolution directly.
//!
//! [`Conv2d`] is im2col + one gemm: `reshape(im2col(x) · W + b, B, C_out·Ho·Wo)`. Its weight is
//! `(C·kh·kw) x C_out`, the memory layout of PyTorch's `weight` `[C_out, C, kh, kw]`.

use autodiff::{Patches, Scalar, Tape, Var};
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::init::Init;
use crate::layer::{Layer, TimeLayer};
use crate::linear::check_width;
use crate::params::{ParamId, ParamLayout, ParamVars};

/// The shape of a 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2dConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Input `(H, W)`.
    pub size: (usize, usize),
    /// Kernel `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Stride `(sh, sw)`.
    pub stride: (usize, usize),
    /// Zero padding `(ph, pw)`.
    pub padding: (usize, usize),
    /// Whether there is a per-channel bias.
    pub bias: bool,
}

impl Conv2dConfig {
    /// A square `k x k` convolution with stride 1, no padding, and a bias.
    pub fn new(in_channels: usize, out_channels: usize, size: (usize, usize), k: usize) -> Self {
        Conv2dConfig {
            in_channels,
            out_channels,
            size,
            kernel: (k, k),
            stride: (1, 1),
            padding: (0, 0),
            bias: true,
        }
    }
    /// Sets the stride (both directions).
    pub fn stride(mut self, s: usize) -> Self {
        self.stride = (s, s);
        self
    }
    /// Sets the padding (both directions).
    pub fn padding(mut self, p: usize) -> Self {
        self.padding = (p, p);
        self
    }
    /// Sets whether there is a bias.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    fn patches(&self) -> Patches {
        Patches {
            channels: self.in_channels,
            height: self.size.0,
            width: self.size.1,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        }
    }

    /// Output `(Ho, Wo)`, or `None` if the kernel does not fit.
    pub fn out_size(&self) -> Option<(usize, usize)> {
        self.patches().out_hw()
    }

    /// Registers `{name}.weight` (`(C·kh·kw) x C_out`, He uniform) and `{name}.bias`
    /// (`1 x C_out`, zeros).
    ///
    /// # Errors
    /// [`NnError::Config`] if the kernel does not fit or a size is zero;
    /// [`NnError::DuplicateParam`] if the name is taken.
    pub fn build(&self, layout: &mut ParamLayout, name: &str) -> Result<Conv2d> {
        let p = self.patches();
        let (ho, wo) = p.out_hw().ok_or(NnError::Config {
            what: "the convolution kernel does not fit the padded input, or a size is zero",
        })?;
        if self.out_channels == 0 || self.size.0 == 0 || self.size.1 == 0 {
            return Err(NnError::Config {
                what: "a convolution needs non-zero channels and input size",
            });
        }
        let kk = self.kernel.0 * self.kernel.1;
        let fan = (self.in_channels * kk, self.out_channels * kk);
        let weight = layout.add(
            &format!("{name}.weight"),
            p.patch_len(),
            self.out_channels,
            Init::HeUniform,
            fan,
        )?;
        let bias = if self.bias {
            Some(layout.add(
                &format!("{name}.bias"),
                1,
                self.out_channels,
                Init::Zeros,
                fan,
            )?)
        } else {
            None
        };
        Ok(Conv2d {
            config: *self,
            out: (ho, wo),
            weight,
            bias,
        })
    }
}

/// A 2-D convolution (cross-correlation, as in PyTorch) with stride and zero padding.
///
/// ```
/// use autodiff::Tape;
/// use nn_layers::{init_params, Binding, Conv2dConfig, Layer, ParamLayout, ParamVars};
/// let mut layout = ParamLayout::new();
/// let conv = Conv2dConfig::new(1, 4, (7, 7), 3).padding(1).build(&mut layout, "conv")?;
/// let mut theta = vec![0.0f64; layout.len()];
/// init_params(&layout, &mut theta, 0)?;
/// let mut tape = Tape::new();
/// let mut p = ParamVars::new();
/// p.bind(&mut tape, &layout, &theta, Binding::PerTensor)?;
/// let x = tape.constant_fill(2, 49, 1.0);
/// let y = conv.forward(&mut tape, &p, x)?;
/// assert_eq!(y.shape(), (2, 4 * 49));
/// # Ok::<(), nn_layers::NnError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv2d {
    /// The shape.
    pub config: Conv2dConfig,
    /// Output `(Ho, Wo)`.
    pub out: (usize, usize),
    /// The weight, `(C·kh·kw) x C_out`.
    pub weight: ParamId,
    /// The bias, `1 x C_out`.
    pub bias: Option<ParamId>,
}

impl<T: Scalar> Layer<T> for Conv2d {
    fn forward(&self, tape: &mut Tape<T>, p: &ParamVars, x: Var) -> Result<Var> {
        let c = &self.config;
        check_width("Conv2d", c.in_channels * c.size.0 * c.size.1, x)?;
        let cols = tape.im2col(x, c.patches())?;
        let y = tape.matmul(cols, p.get(self.weight))?;
        let y = match self.bias {
            Some(b) => tape.add(y, p.get(b))?,
            None => y,
        };
        Ok(tape.reshape(y, x.rows(), c.out_channels * self.out.0 * self.out.1)?)
    }
}

/// A convolution that sees time as an extra input channel, filled with `t` and placed first
/// (FFJORD's `ConcatConv2d`): the ODE-Net's time-conditioned block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcatConv2d {
    /// The convolution over `C + 1` channels.
    pub conv: Conv2d,
}

impl ConcatConv2d {
    /// Registers the convolution of `config` with one more input channel (for `t`).
    ///
    /// # Errors
    /// As [`Conv2dConfig::build`].
    pub fn new(layout: &mut ParamLayout, name: &str, config: Conv2dConfig) -> Result<Self> {
        let cfg = Conv2dConfig {
            in_channels: config.in_channels + 1,
            ..config
        };
        Ok(ConcatConv2d {
            conv: cfg.build(layout, name)?,
        })
    }
}

impl<T: Scalar> TimeLayer<T> for ConcatConv2d {
    fn forward_t(&self, tape: &mut Tape<T>, p: &ParamVars, t: Var, x: Var) -> Result<Var> {
        let c = &self.conv.config;
        let hw = c.size.0 * c.size.1;
        check_width("ConcatConv2d", (c.in_channels - 1) * hw, x)?;
        let ones = tape.constant_fill(x.rows(), hw, T::one());
        let tt = tape.mul(ones, t)?;
        let tx = tape.concat_cols(tt, x)?;
        self.conv.forward(tape, p, tx)
    }
}

/// Average pooling over `k x k` windows with a stride (no padding), per channel. No parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvgPool2d {
    /// Channels.
    pub channels: usize,
    /// Input `(H, W)`.
    pub size: (usize, usize),
    /// Window size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
}

impl AvgPool2d {
    /// Output `(Ho, Wo)`, or `None` if the window does not fit.
    pub fn out_size(&self) -> Option<(usize, usize)> {
        self.patches().out_hw()
    }

    fn patches(&self) -> Patches {
        Patches {
            channels: 1,
            height: self.size.0,
            width: self.size.1,
            kernel: (self.kernel, self.kernel),
            stride: (self.stride, self.stride),
            padding: (0, 0),
        }
    }
}

/// `B x (C·S)` (channel-major) to `(C·B) x S`, row `c + i·C`: channels become samples.
fn channels_to_rows<T: Scalar>(tape: &mut Tape<T>, x: Var, c: usize, s: usize) -> Result<Var> {
    let b = x.rows();
    let xt = tape.transpose(x); // (C·S) x B
    let m = tape.reshape(xt, s, c * b)?; // column c + i·C is channel c of sample i
    Ok(tape.transpose(m))
}

/// Inverse of [`channels_to_rows`]: `(C·B) x S` back to `B x (C·S)`.
fn rows_to_channels<T: Scalar>(tape: &mut Tape<T>, y: Var, c: usize, b: usize) -> Result<Var> {
    let s = y.cols();
    let yt = tape.transpose(y); // S x (C·B)
    let m = tape.reshape(yt, c * s, b)?;
    Ok(tape.transpose(m))
}

impl<T: Scalar> Layer<T> for AvgPool2d {
    fn forward(&self, tape: &mut Tape<T>, _p: &ParamVars, x: Var) -> Result<Var> {
        let (h, w) = self.size;
        check_width("AvgPool2d", self.channels * h * w, x)?;
        let (ho, wo) = self.out_size().ok_or(NnError::Config {
            what: "the pooling window does not fit the input",
        })?;
        let b = x.rows();
        let r = channels_to_rows(tape, x, self.channels, h * w)?;
        let cols = tape.im2col(r, self.patches())?; // (C·B·Ho·Wo) x k²
        let m = tape.row_means(cols);
        let m = tape.reshape(m, self.channels * b, ho * wo)?;
        rows_to_channels(tape, m, self.channels, b)
    }
}

/// Global average pooling: `B x (C·S)` to `B x C`, the mean over each channel's positions
/// (PyTorch's `AdaptiveAvgPool2d(1)` followed by flatten). No parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalAvgPool {
    /// Channels.
    pub channels: usize,
    /// Positions per channel (`H·W`).
    pub spatial: usize,
}

impl<T: Scalar> Layer<T> for GlobalAvgPool {
    fn forward(&self, tape: &mut Tape<T>, _p: &ParamVars, x: Var) -> Result<Var> {
        check_width("GlobalAvgPool", self.channels * self.spatial, x)?;
        let b = x.rows();
        let xt = tape.transpose(x);
        let m = tape.reshape(xt, self.spatial, self.channels * b)?;
        let m = tape.col_means(m); // 1 x (C·B), entry c + i·C
        let m = tape.reshape(m, self.channels, b)?;
        Ok(tape.transpose(m))
    }
}
