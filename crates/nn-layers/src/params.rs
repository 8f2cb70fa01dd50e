//! The flat parameter vector and its named slices.
//!
//! Every parameter of a model lives in one flat vector `θ` (the `θ` of the
//! [`adjoint`] crate); a [`ParamLayout`] names its slices. Layers register their tensors when
//! they are built, in construction order, so the order is stable and documented by the
//! layout itself ([`ParamLayout::specs`]). Gradients use exactly the same layout.
//!
//! A tensor of shape `rows x cols` occupies `θ[offset .. offset + rows·cols]` in column-major
//! order (nalgebra's and the tape's). A linear layer's weight `W` (`in x out`, column-major) has
//! the same memory layout as PyTorch's `weight` (`out x in`, row-major), so weights move between
//! the two without transposing (see [`crate::safetensors_io`]).

use autodiff::{Scalar, Tape, Var};
use serde::{Deserialize, Serialize};

use crate::error::{NnError, Result};
use crate::init::Init;

/// Index of a tensor in a [`ParamLayout`] (its registration order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ParamId(pub usize);

/// One named tensor in the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Dotted name, e.g. `net.0.weight` (PyTorch `state_dict` style).
    pub name: String,
    /// Rows of the tensor (for a weight: input features).
    pub rows: usize,
    /// Columns of the tensor (for a weight: output features).
    pub cols: usize,
    /// Position of the first element in the flat vector.
    pub offset: usize,
    /// How [`crate::init::init_params`] fills the tensor.
    pub init: Init,
    /// Fan-in and fan-out used by the scaled initializations.
    pub fan: (usize, usize),
}

impl ParamSpec {
    /// Number of elements, `rows · cols`.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The index range of the tensor in the flat vector.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The names, shapes and offsets of all tensors in a flat parameter vector.
///
/// ```
/// use nn_layers::{Init, ParamLayout};
/// let mut layout = ParamLayout::new();
/// let w = layout.add("fc.weight", 3, 2, Init::GlorotUniform, (3, 2))?;
/// let b = layout.add("fc.bias", 1, 2, Init::Zeros, (3, 2))?;
/// assert_eq!(layout.len(), 8);
/// assert_eq!(layout.spec(b).offset, 6);
/// let theta = vec![0.0f64; layout.len()];
/// assert_eq!(layout.slice(&theta, "fc.weight")?.len(), 6);
/// # let _ = w;
/// # Ok::<(), nn_layers::NnError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ParamLayout {
    specs: Vec<ParamSpec>,
    len: usize,
}

impl ParamLayout {
    /// An empty layout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a `rows x cols` tensor named `name` at the end of the flat vector.
    ///
    /// # Errors
    /// [`NnError::DuplicateParam`] if the name is taken.
    pub fn add(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
        init: Init,
        fan: (usize, usize),
    ) -> Result<ParamId> {
        if self.specs.iter().any(|s| s.name == name) {
            return Err(NnError::DuplicateParam { name: name.into() });
        }
        let id = ParamId(self.specs.len());
        self.specs.push(ParamSpec {
            name: name.into(),
            rows,
            cols,
            offset: self.len,
            init,
            fan,
        });
        self.len += rows * cols;
        Ok(id)
    }

    /// Total number of parameters (the length of `θ`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All tensors, in flat-vector order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// The tensor with this id.
    ///
    /// # Panics
    /// If the id comes from another layout (a programming error).
    pub fn spec(&self, id: ParamId) -> &ParamSpec {
        &self.specs[id.0]
    }

    /// The id of the tensor named `name`.
    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.specs.iter().position(|s| s.name == name).map(ParamId)
    }

    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// Changes the initialization of the tensor named `name`.
    ///
    /// # Errors
    /// [`NnError::UnknownParam`] if there is none.
    pub fn set_init(&mut self, name: &str, init: Init) -> Result<()> {
        let s = self
            .specs
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| NnError::UnknownParam { name: name.into() })?;
        s.init = init;
        Ok(())
    }

    /// Checks that `v` (parameters, gradients, ...) has the layout's length.
    ///
    /// # Errors
    /// [`NnError::LengthMismatch`] otherwise.
    pub fn check_len<T>(&self, what: &'static str, v: &[T]) -> Result<()> {
        if v.len() != self.len {
            return Err(NnError::LengthMismatch {
                what,
                expected: self.len,
                got: v.len(),
            });
        }
        Ok(())
    }

    /// The slice of `theta` holding the tensor named `name` (column-major).
    ///
    /// # Errors
    /// [`NnError::UnknownParam`], or [`NnError::LengthMismatch`] if `theta` does not fit.
    pub fn slice<'a, T>(&self, theta: &'a [T], name: &str) -> Result<&'a [T]> {
        self.check_len("parameter vector", theta)?;
        let s = self
            .get(name)
            .ok_or_else(|| NnError::UnknownParam { name: name.into() })?;
        Ok(&theta[s.range()])
    }

    /// The mutable slice of `theta` holding the tensor named `name`.
    ///
    /// # Errors
    /// As [`ParamLayout::slice`].
    pub fn slice_mut<'a, T>(&self, theta: &'a mut [T], name: &str) -> Result<&'a mut [T]> {
        self.check_len("parameter vector", theta)?;
        let s = self
            .get(name)
            .ok_or_else(|| NnError::UnknownParam { name: name.into() })?;
        Ok(&mut theta[s.range()])
    }
}

/// How [`ParamVars`] puts the parameters on a tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// One leaf per tensor; gradients are copied into the flat layout afterwards. Measured
    /// faster than [`Binding::Flat`] (docs/benchmarks.md, `## nn-layers`).
    PerTensor,
    /// `θ` is one `1 x n` leaf and each tensor is a `flat_slice` of it (one copy); the leaf's
    /// gradient is the flat gradient.
    Flat,
}

/// The tape variables of every tensor of a layout, for one forward pass.
///
/// Layers read their tensors with [`ParamVars::get`]. Keep one `ParamVars` next to a tape and
/// rebind it after each [`Tape::clear`]; its storage is reused, so a warm rebind allocates
/// nothing.
#[derive(Clone, Debug, Default)]
pub struct ParamVars {
    vars: Vec<Var>,
    flat: Option<Var>,
}

impl ParamVars {
    /// An empty binding.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `theta` on `tape` for the tensors of `layout`, as differentiable leaves (or as
    /// plain values when the tape is not recording).
    ///
    /// # Errors
    /// [`NnError::LengthMismatch`] if `theta` does not fit the layout.
    pub fn bind<T: Scalar>(
        &mut self,
        tape: &mut Tape<T>,
        layout: &ParamLayout,
        theta: &[T],
        binding: Binding,
    ) -> Result<()> {
        layout.check_len("parameter vector", theta)?;
        self.vars.clear();
        match binding {
            Binding::PerTensor => {
                self.flat = None;
                for s in layout.specs() {
                    let v = tape.leaf_from_slice(s.rows, s.cols, &theta[s.range()])?;
                    self.vars.push(v);
                }
            }
            Binding::Flat => {
                let all = tape.leaf_from_slice(1, theta.len(), theta)?;
                self.flat = Some(all);
                for s in layout.specs() {
                    let v = tape.flat_slice(all, s.offset, s.rows, s.cols)?;
                    self.vars.push(v);
                }
            }
        }
        Ok(())
    }

    /// The variable of tensor `id`.
    ///
    /// # Panics
    /// If nothing is bound for `id` (a layer used with another layout: a programming error).
    #[inline]
    pub fn get(&self, id: ParamId) -> Var {
        self.vars[id.0]
    }

    /// After a backward sweep, writes the gradient of every tensor into `out` in the flat
    /// layout (zero for tensors the output does not depend on).
    ///
    /// # Errors
    /// [`NnError::LengthMismatch`] if `out` does not fit the layout.
    pub fn grads_to_flat<T: Scalar>(
        &self,
        tape: &Tape<T>,
        layout: &ParamLayout,
        out: &mut [T],
    ) -> Result<()> {
        layout.check_len("gradient vector", out)?;
        if let Some(all) = self.flat {
            match tape.grad(all) {
                Some(g) => out.copy_from_slice(g.as_slice()),
                None => out.fill(T::zero()),
            }
            return Ok(());
        }
        for (s, &v) in layout.specs().iter().zip(&self.vars) {
            let dst = &mut out[s.range()];
            match tape.grad(v) {
                Some(g) => dst.copy_from_slice(g.as_slice()),
                None => dst.fill(T::zero()),
            }
        }
        Ok(())
    }
}
