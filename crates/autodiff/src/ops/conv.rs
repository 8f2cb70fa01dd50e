//! Patch extraction (im2col) for convolutions and pooling.
//!
//! Layout: a batch of `B` images with `C` channels of `H x W` pixels is a `B x (C·H·W)` matrix
//! whose column `c·H·W + y·W + x` is pixel `(y, x)` of channel `c` (channel-major, PyTorch's
//! `x.flatten(1)`). [`Tape::im2col`] turns it into the patch matrix of a `kh x kw` kernel:
//! `(B·Ho·Wo) x (C·kh·kw)`, row `i + q·B` (sample `i`, output position `q = oy·Wo + ox`), column
//! `c·kh·kw + ky·kw + kx`, zero where the kernel window reaches into the padding. A convolution
//! is then one matrix product with the `(C·kh·kw) x C_out` weight (PyTorch's `weight` memory
//! layout), and `reshape(B, C_out·Ho·Wo)` of the product is the output in the same
//! channel-major layout, with no transpose.

use super::Op;
use crate::error::{AutodiffError, Result};
use crate::tape::{BackCtx, Tape, Var};
use crate::Scalar;

/// The geometry of a 2-D patch extraction ([`Tape::im2col`]).
///
/// Layout: a batch of `B` images with `C` channels of `H x W` pixels is a `B x (C·H·W)` matrix
/// whose column `c·H·W + y·W + x` is pixel `(y, x)` of channel `c` (channel-major, PyTorch's
/// `x.flatten(1)`). The patch matrix is `(B·Ho·Wo) x (C·kh·kw)`: row `i + q·B` is sample `i`
/// at output position `q = oy·Wo + ox`, column `c·kh·kw + ky·kw + kx`; entries whose window
/// reaches into the padding are zero. A convolution is one product with a `(C·kh·kw) x C_out`
/// weight (the memory layout of PyTorch's `weight`), and `reshape(B, C_out·Ho·Wo)` of the
/// product is the output in the same channel-major layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Patches {
    /// Input channels `C`.
    pub channels: usize,
    /// Input height `H`.
    pub height: usize,
    /// Input width `W`.
    pub width: usize,
    /// Kernel size `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Stride `(sh, sw)`, each at least 1.
    pub stride: (usize, usize),
    /// Zero padding `(ph, pw)` on each side.
    pub padding: (usize, usize),
}

impl Patches {
    /// Output size `(Ho, Wo)` = `((H + 2ph - kh) / sh + 1, (W + 2pw - kw) / sw + 1)`, or `None`
    /// if the kernel does not fit or a size or stride is zero.
    pub fn out_hw(&self) -> Option<(usize, usize)> {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (ph, pw) = self.padding;
        if self.channels == 0 || kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return None;
        }
        let hh = self.height.checked_add(2 * ph)?.checked_sub(kh)?;
        let ww = self.width.checked_add(2 * pw)?.checked_sub(kw)?;
        Some((hh / sh + 1, ww / sw + 1))
    }

    /// `C·kh·kw`, the patch length.
    pub fn patch_len(&self) -> usize {
        self.channels * self.kernel.0 * self.kernel.1
    }

    /// Calls `f(out_column, out_position, Some(in_column))` for every patch entry that lies
    /// inside the image and `f(out_column, out_position, None)` for padding entries.
    #[inline]
    fn for_each(&self, mut f: impl FnMut(usize, usize, Option<usize>)) {
        let (ho, wo) = self.out_hw().expect("checked at recording");
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (ph, pw) = self.padding;
        let hw = self.height * self.width;
        for c in 0..self.channels {
            for ky in 0..kh {
                for kx in 0..kw {
                    let j = (c * kh + ky) * kw + kx;
                    for oy in 0..ho {
                        let iy = (oy * sh + ky).wrapping_sub(ph);
                        for ox in 0..wo {
                            let ix = (ox * sw + kx).wrapping_sub(pw);
                            let inside = iy < self.height && ix < self.width;
                            f(
                                j,
                                oy * wo + ox,
                                inside.then(|| c * hw + iy * self.width + ix),
                            );
                        }
                    }
                }
            }
        }
    }
}

impl<T: Scalar> Tape<T> {
    /// The patch matrix of `x` (`B x (C·H·W)`, channel-major) for the kernel, stride and padding
    /// of `p`: `(B·Ho·Wo) x (C·kh·kw)`; see [`Patches`] for the layout.
    /// Its backward rule scatters (col2im).
    ///
    /// # Errors
    /// [`AutodiffError::InvalidShape`] if `x` has not `C·H·W` columns or the kernel does not fit.
    pub fn im2col(&mut self, x: Var, p: Patches) -> Result<Var> {
        self.check(x);
        let bad = |what| AutodiffError::InvalidShape {
            op: "im2col",
            shape: x.shape(),
            what,
        };
        let (ho, wo) = p.out_hw().ok_or(bad(
            "the kernel does not fit the padded image, or a size is zero",
        ))?;
        if p.channels
            .checked_mul(p.height)
            .and_then(|v| v.checked_mul(p.width))
            != Some(x.cols)
        {
            return Err(bad(
                "the operand does not have channels·height·width columns",
            ));
        }
        let b = x.rows;
        let rows = b * ho * wo;
        let cols = p.patch_len();
        let ia = x.idx;
        Ok(
            self.push(Op::Im2Col { a: ia, p }, &[x], rows, cols, |out, v, _| {
                // Every entry is written once: copied from the image or zeroed (padding).
                let src = v[ia].as_slice();
                let dst = out.as_mut_slice();
                p.for_each(|j, q, col| {
                    let d = &mut dst[j * rows + q * b..j * rows + q * b + b];
                    match col {
                        Some(col) => d.copy_from_slice(&src[col * b..col * b + b]),
                        None => d.fill(T::zero()),
                    }
                });
            }),
        )
    }
}

pub(crate) fn im2col_backward<T: Scalar>(a: usize, p: Patches, ctx: &mut BackCtx<'_, T>) {
    if !ctx.wants(a) {
        return;
    }
    let (g, dst, assign) = ctx.target(a);
    if assign {
        dst.fill(T::zero());
    }
    let b = dst.nrows();
    let rows = g.nrows();
    let gs = g.as_slice();
    let d = dst.as_mut_slice();
    p.for_each(|j, q, col| {
        let Some(col) = col else { return };
        let s = j * rows + q * b;
        for (o, &v) in d[col * b..col * b + b].iter_mut().zip(&gs[s..s + b]) {
            *o += v;
        }
    });
}
