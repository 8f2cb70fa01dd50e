//! Parameters to and from safetensors files, so weights move to and from PyTorch.
//!
//! Each tensor of a [`ParamLayout`] becomes one safetensors tensor of the same name. A
//! `rows x cols` tensor (column-major here) is exported with shape `[cols, rows]` in row-major
//! order, which is the same bytes; a `1 x cols` row (a bias) as `[cols]`. With this crate's
//! naming (`net.0.weight`, `net.0.bias`, ...) a [`Linear`](crate::Linear) weight `in x out`
//! therefore appears exactly as PyTorch's `nn.Linear.weight` of shape `[out, in]`.
//!
//! ```
//! use nn_layers::safetensors_io::{export_safetensors, import_safetensors};
//! use nn_layers::{init_params, Activation, Mlp, ParamLayout};
//! let mut layout = ParamLayout::new();
//! let _mlp = Mlp::new(&mut layout, "net", &[2, 8, 2], Activation::Tanh)?;
//! let mut theta = vec![0.0f32; layout.len()];
//! init_params(&layout, &mut theta, 3)?;
//! let bytes = export_safetensors(&layout, &theta)?;
//! let mut back = vec![0.0f32; layout.len()];
//! let unused = import_safetensors(&bytes, &layout, &mut back)?;
//! assert!(unused.is_empty());
//! assert_eq!(back, theta);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use autodiff::Scalar;
use safetensors::{Dtype, SafeTensors};

use crate::error::FileError;
use crate::params::{ParamLayout, ParamSpec};
use crate::serialize::write_atomic;

fn st_err(e: impl std::fmt::Display) -> FileError {
    FileError::Safetensors {
        reason: e.to_string(),
    }
}

fn torch_shape(s: &ParamSpec) -> Vec<usize> {
    if s.rows == 1 {
        vec![s.cols]
    } else {
        vec![s.cols, s.rows]
    }
}

/// Encodes the parameters `theta` (laid out by `layout`) as a safetensors file in memory, as
/// `F32` or `F64` depending on `T`.
///
/// # Errors
/// [`FileError::Safetensors`] if `theta` does not fit the layout or encoding fails.
pub fn export_safetensors<T: Scalar>(
    layout: &ParamLayout,
    theta: &[T],
) -> Result<Vec<u8>, FileError> {
    layout
        .check_len("parameter vector", theta)
        .map_err(st_err)?;
    let dtype = if std::mem::size_of::<T>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    };
    let bufs: Vec<Vec<u8>> = layout
        .specs()
        .iter()
        .map(|s| {
            let mut b = Vec::with_capacity(s.len() * std::mem::size_of::<T>());
            for &x in &theta[s.range()] {
                if dtype == Dtype::F32 {
                    b.extend_from_slice(&(x.as_f64() as f32).to_le_bytes());
                } else {
                    b.extend_from_slice(&x.as_f64().to_le_bytes());
                }
            }
            b
        })
        .collect();
    let mut views = Vec::with_capacity(bufs.len());
    for (s, b) in layout.specs().iter().zip(&bufs) {
        let v = safetensors::tensor::TensorView::new(dtype, torch_shape(s), b).map_err(st_err)?;
        views.push((s.name.clone(), v));
    }
    safetensors::serialize(views, &None).map_err(st_err)
}

/// Reads every tensor of `layout` from safetensors bytes into `theta`, converting `F32` or `F64` data
/// to `T`, and returns the names of tensors in the file that the layout does
/// not use (e.g. buffers of a PyTorch `state_dict`).
///
/// # Errors
/// [`FileError::Safetensors`] if the bytes do not parse, a tensor is missing, or its shape or
/// type does not match; `theta` is then unspecified.
pub fn import_safetensors<T: Scalar>(
    bytes: &[u8],
    layout: &ParamLayout,
    theta: &mut [T],
) -> Result<Vec<String>, FileError> {
    layout
        .check_len("parameter vector", theta)
        .map_err(st_err)?;
    let st = SafeTensors::deserialize(bytes).map_err(st_err)?;
    for s in layout.specs() {
        let t = st.tensor(&s.name).map_err(|_| FileError::Safetensors {
            reason: format!("tensor `{}` is missing", s.name),
        })?;
        let shape = t.shape();
        let ok = shape == torch_shape(s).as_slice() || (s.rows == 1 && shape == [1, s.cols]);
        if !ok {
            return Err(FileError::Safetensors {
                reason: format!(
                    "tensor `{}` has shape {:?}, expected {:?}",
                    s.name,
                    shape,
                    torch_shape(s)
                ),
            });
        }
        let dst = &mut theta[s.range()];
        let data = t.data();
        match t.dtype() {
            Dtype::F32 if data.len() == 4 * dst.len() => {
                for (d, c) in dst.iter_mut().zip(data.chunks_exact(4)) {
                    *d = T::cast(f64::from(f32::from_le_bytes(c.try_into().expect("4"))));
                }
            }
            Dtype::F64 if data.len() == 8 * dst.len() => {
                for (d, c) in dst.iter_mut().zip(data.chunks_exact(8)) {
                    *d = T::cast(f64::from_le_bytes(c.try_into().expect("8")));
                }
            }
            other => {
                return Err(FileError::Safetensors {
                    reason: format!(
                        "tensor `{}` has type {other:?}; only F32 and F64 are supported",
                        s.name
                    ),
                })
            }
        }
    }
    let mut unused: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| layout.get(n).is_none())
        .cloned()
        .collect();
    unused.sort();
    Ok(unused)
}

/// Writes [`export_safetensors`] to `path` atomically.
///
/// # Errors
/// As [`export_safetensors`], or [`FileError::Io`].
pub fn save_safetensors<T: Scalar>(
    path: impl AsRef<Path>,
    layout: &ParamLayout,
    theta: &[T],
) -> Result<(), FileError> {
    write_atomic(path.as_ref(), &export_safetensors(layout, theta)?)
}

/// Reads a safetensors file into `theta`; see [`import_safetensors`].
///
/// # Errors
/// As [`import_safetensors`], or [`FileError::Io`].
pub fn load_safetensors<T: Scalar>(
    path: impl AsRef<Path>,
    layout: &ParamLayout,
    theta: &mut [T],
) -> Result<Vec<String>, FileError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| FileError::Io {
        path: path.display().to_string(),
        source,
    })?;
    import_safetensors(&bytes, layout, theta)
}
