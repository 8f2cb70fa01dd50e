//! Networks as the dynamics `dz/dt = f(z, t, θ)` of a neural ODE: implementations of
//! [`adjoint::Dynamics`].
//!
//! The state `z` is a batch of `B` samples with `D` features, flattened column-major (the tape's
//! layout: `z[i + j·B]` is feature `j` of sample `i`); for `B = 1` that is simply the feature
//! vector. `θ` is the flat parameter vector of a [`ParamLayout`].
//!
//! * [`NetDynamics`] wraps any [`TimeLayer`] (for example an [`Mlp`], plain or
//!   time-conditioned). `eval` runs the network on a non-recording tape; `vjp` records it and
//!   sweeps backward once, giving `aᵀ∂f/∂z`, `aᵀ∂f/∂θ` and `aᵀ∂f/∂t` together. The tape lives in
//!   a `RefCell` and is cleared and reused per call, so a warm call allocates nothing in the tape.
//! * [`MlpDynamics`] is a hand-written forward and backward pass for a time-independent [`Mlp`]
//!   (the paper's spiral dynamics `MLP(y³)`), with preallocated buffers and no tape at all.
//!   Measured, it is *not* faster than the tape: about the same at the spiral's size and about
//!   4x slower at batch 128, where the tape uses gemm (docs/benchmarks.md, `## nn-layers`). Use
//!   [`NetDynamics`]; `MlpDynamics` stays as an independent check of the tape's products and as
//!   the template for a hand-written product.
//!
//! Neither can fail on shapes once constructed; a failure inside the network (which would be a
//! bug) writes NaN into the outputs and is reported by [`Dynamics::take_error`], as the trait's
//! contract asks.

use std::cell::RefCell;

use adjoint::Dynamics;
use autodiff::{Scalar, Tape};
use ode_solvers::Real;

use crate::error::{NnError, Result};
use crate::layer::TimeLayer;
use crate::mlp::{Mlp, MlpLayer, TimeInput};
use crate::params::{Binding, ParamLayout, ParamVars};

struct TapeScratch<T: Scalar> {
    tape: Tape<T>,
    params: ParamVars,
    error: Option<String>,
}

/// Any time-conditioned network as ODE dynamics, differentiated with the tape.
///
/// ```
/// use adjoint::Dynamics;
/// use nn_layers::{init_params, Activation, Mlp, NetDynamics, ParamLayout};
/// let mut layout = ParamLayout::new();
/// let mlp = Mlp::new(&mut layout, "f", &[2, 16, 2], Activation::Tanh)?;
/// let mut theta = vec![0.0f64; layout.len()];
/// init_params(&layout, &mut theta, 0)?;
/// let f = NetDynamics::new(mlp, layout, 1, 2)?;
/// let (mut dz, mut fz, mut az, mut ath) = ([0.0; 2], [0.0; 2], [0.0; 2], vec![0.0; theta.len()]);
/// f.eval(0.0, &[1.0, 0.5], &theta, &mut dz);
/// let at = f.vjp(0.0, &[1.0, 0.5], &theta, &[1.0, 0.0], &mut fz, &mut az, &mut ath);
/// assert_eq!(dz, fz);
/// assert_eq!(at, 0.0); // the network does not depend on t
/// # Ok::<(), nn_layers::NnError>(())
/// ```
pub struct NetDynamics<T: Scalar, N> {
    net: N,
    layout: ParamLayout,
    batch: usize,
    features: usize,
    binding: Binding,
    scratch: RefCell<TapeScratch<T>>,
}

impl<T: Scalar, N: TimeLayer<T>> NetDynamics<T, N> {
    /// Dynamics for states of `batch` samples with `features` features each; `net` must map
    /// `batch x features` to `batch x features`, which is checked here with zero parameters.
    ///
    /// # Errors
    /// [`NnError::Config`] if the network's output shape differs from its input's, or the
    /// network's own error if it rejects the input.
    pub fn new(net: N, layout: ParamLayout, batch: usize, features: usize) -> Result<Self> {
        let d = NetDynamics {
            net,
            layout,
            batch,
            features,
            binding: Binding::PerTensor,
            scratch: RefCell::new(TapeScratch {
                tape: Tape::new(),
                params: ParamVars::new(),
                error: None,
            }),
        };
        let theta = vec![T::zero(); d.layout.len()];
        let z = vec![T::zero(); batch * features];
        let mut out = vec![T::zero(); batch * features];
        d.try_eval(0.0, &z, &theta, &mut out)?;
        Ok(d)
    }

    /// Chooses how `θ` is put on the tape (default [`Binding::PerTensor`], measured faster than
    /// [`Binding::Flat`] for every size benchmarked).
    pub fn with_binding(mut self, binding: Binding) -> Self {
        self.binding = binding;
        self
    }

    /// The network.
    pub fn net(&self) -> &N {
        &self.net
    }

    /// The parameter layout.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    fn record(
        &self,
        s: &mut TapeScratch<T>,
        recording: bool,
        t: f64,
        z: &[T],
        theta: &[T],
    ) -> Result<(autodiff::Var, autodiff::Var, autodiff::Var)> {
        let TapeScratch { tape, params, .. } = s;
        tape.clear();
        tape.set_recording(recording);
        params.bind(tape, &self.layout, theta, self.binding)?;
        let zv = tape.leaf_from_slice(self.batch, self.features, z)?;
        let tv = tape.leaf_scalar(T::cast(t));
        let y = self.net.forward_t(tape, params, tv, zv)?;
        if y.shape() != (self.batch, self.features) {
            return Err(NnError::Config {
                what: "the dynamics network must map batch x features to the same shape",
            });
        }
        Ok((zv, tv, y))
    }

    /// `f(z, t, θ)` into `dz`, reporting errors.
    ///
    /// # Errors
    /// A length mismatch, or the network's error.
    pub fn try_eval(&self, t: f64, z: &[T], theta: &[T], dz: &mut [T]) -> Result<()> {
        let mut guard = self.scratch.borrow_mut();
        let (_, _, y) = self.record(&mut guard, false, t, z, theta)?;
        let v = guard.tape.value(y).as_slice();
        if v.len() != dz.len() {
            return Err(NnError::LengthMismatch {
                what: "dz",
                expected: v.len(),
                got: dz.len(),
            });
        }
        dz.copy_from_slice(v);
        guard.tape.set_recording(true);
        Ok(())
    }

    /// The vector–Jacobian products, reporting errors; see [`Dynamics::vjp`].
    ///
    /// # Errors
    /// A length mismatch, or the network's error.
    #[allow(clippy::too_many_arguments)]
    pub fn try_vjp(
        &self,
        t: f64,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &mut [T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) -> Result<T> {
        let mut guard = self.scratch.borrow_mut();
        let (zv, tv, y) = self.record(&mut guard, true, t, z, theta)?;
        let s = &mut *guard;
        s.tape.backward_with_slice(y, a)?;
        let fv = s.tape.value(y).as_slice();
        if f.len() != fv.len() {
            return Err(NnError::LengthMismatch {
                what: "f",
                expected: fv.len(),
                got: f.len(),
            });
        }
        f.copy_from_slice(fv);
        s.tape.grad_to_slice(zv, a_z)?;
        s.params.grads_to_flat(&s.tape, &self.layout, a_theta)?;
        let mut at = [T::zero()];
        s.tape.grad_to_slice(tv, &mut at)?;
        Ok(at[0])
    }

    fn fail(&self, e: NnError, outs: &mut [&mut [T]]) {
        for o in outs.iter_mut() {
            o.fill(T::cast(f64::NAN));
        }
        let mut s = self.scratch.borrow_mut();
        s.tape.set_recording(true);
        if s.error.is_none() {
            s.error = Some(e.to_string());
        }
    }
}

impl<T: Scalar + Real, N: TimeLayer<T>> Dynamics<T> for NetDynamics<T, N> {
    fn dim(&self) -> usize {
        self.batch * self.features
    }

    fn num_params(&self) -> usize {
        self.layout.len()
    }

    fn eval(&self, t: f64, z: &[T], theta: &[T], dz: &mut [T]) {
        if let Err(e) = self.try_eval(t, z, theta, dz) {
            self.fail(e, &mut [dz]);
        }
    }

    fn vjp(
        &self,
        t: f64,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &mut [T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) -> T {
        match self.try_vjp(t, z, theta, a, f, a_z, a_theta) {
            Ok(at) => at,
            Err(e) => {
                self.fail(e, &mut [f, a_z, a_theta]);
                T::cast(f64::NAN)
            }
        }
    }

    fn take_error(&self) -> Option<String> {
        self.scratch.borrow_mut().error.take()
    }
}

/// Buffers of the hand-written MLP pass.
struct MlpScratch<T> {
    /// `h[0]` is the mapped input; `h[l]` the output of layer `l` (after its activation).
    h: Vec<Vec<T>>,
    /// `pre[l]` the pre-activation of layer `l + 1`.
    pre: Vec<Vec<T>>,
    /// Backward deltas (two, swapped).
    d0: Vec<T>,
    d1: Vec<T>,
}

/// A time-independent [`Mlp`] as ODE dynamics, with a hand-written vector–Jacobian product
/// (no tape): forward keeps every layer's pre-activation; backward is
/// `δ_L = a ∘ σ_L'(p_L)`, `∂W_l = h_{l-1}ᵀ δ_l`, `∂b_l = Σ_rows δ_l`,
/// `δ_{l-1} = (δ_l W_lᵀ) ∘ σ'(p_{l-1})`, and `aᵀ∂f/∂z = (δ_1 W_1ᵀ) ∘ σ_in'(z)`.
/// `aᵀ∂f/∂t = 0`. Warm calls allocate nothing.
///
/// ```
/// use adjoint::Dynamics;
/// use nn_layers::{init_params, Activation, MlpConfig, MlpDynamics, ParamLayout};
/// let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube);
/// let mut layout = ParamLayout::new();
/// let mlp = cfg.build(&mut layout, "f")?;
/// let mut theta = vec![0.0f64; layout.len()];
/// init_params(&layout, &mut theta, 1)?;
/// let f = MlpDynamics::new(mlp, layout, 1)?;
/// let mut dz = [0.0; 2];
/// f.eval(0.0, &[2.0, 0.0], &theta, &mut dz);
/// assert!(dz.iter().all(|v| v.is_finite()));
/// # Ok::<(), nn_layers::NnError>(())
/// ```
pub struct MlpDynamics<T> {
    mlp: Mlp,
    layout: ParamLayout,
    batch: usize,
    /// Per layer: (in, out, weight offset, bias offset if any).
    shapes: Vec<(usize, usize, usize, Option<usize>)>,
    scratch: RefCell<MlpScratch<T>>,
}

impl<T: Scalar> MlpDynamics<T> {
    /// Dynamics for a batch of `batch` states through `mlp` (whose input and output widths must
    /// agree), with parameters laid out by `layout` (the layout `mlp` was built into).
    ///
    /// # Errors
    /// [`NnError::Config`] if the network is time-conditioned or its widths differ at both ends;
    /// [`NnError::UnknownParam`] if `layout` is not the one `mlp` was built into.
    pub fn new(mlp: Mlp, layout: ParamLayout, batch: usize) -> Result<Self> {
        if mlp.config().time != TimeInput::None {
            return Err(NnError::Config {
                what: "MlpDynamics is for time-independent MLPs; use NetDynamics",
            });
        }
        if mlp.in_dim() != mlp.out_dim() {
            return Err(NnError::Config {
                what: "dynamics need equal input and output widths",
            });
        }
        let mut shapes = Vec::new();
        for l in mlp.layers() {
            let MlpLayer::Linear(l) = l else {
                unreachable!("time-independent MLPs have linear layers only")
            };
            let get =
                |id: crate::ParamId| {
                    layout.specs().get(id.0).map(|s| s.offset).ok_or_else(|| {
                        NnError::UnknownParam {
                            name: format!("#{}", id.0),
                        }
                    })
                };
            let w = get(l.weight)?;
            let b = l.bias.map(get).transpose()?;
            shapes.push((l.in_dim, l.out_dim, w, b));
        }
        let widths = &mlp.config().widths;
        let h = widths.iter().map(|&w| vec![T::zero(); w * batch]).collect();
        let pre = widths[1..]
            .iter()
            .map(|&w| vec![T::zero(); w * batch])
            .collect();
        let wmax = widths.iter().copied().max().unwrap_or(0) * batch;
        Ok(MlpDynamics {
            mlp,
            layout,
            batch,
            shapes,
            scratch: RefCell::new(MlpScratch {
                h,
                pre,
                d0: vec![T::zero(); wmax],
                d1: vec![T::zero(); wmax],
            }),
        })
    }

    /// The network.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// The parameter layout.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    fn forward(&self, s: &mut MlpScratch<T>, z: &[T], theta: &[T]) {
        let b = self.batch;
        let cfg = self.mlp.config();
        let inp = cfg.input_activation;
        inp.eval_slice(z, &mut s.h[0]);
        let last = self.shapes.len() - 1;
        for (l, &(din, dout, wo, bo)) in self.shapes.iter().enumerate() {
            let (hs, hn) = s.h.split_at_mut(l + 1);
            let hin = &hs[l];
            let pre = &mut s.pre[l];
            let w = &theta[wo..wo + din * dout];
            for j in 0..dout {
                let col = &mut pre[j * b..(j + 1) * b];
                col.fill(match bo {
                    Some(o) => theta[o + j],
                    None => T::zero(),
                });
                for k in 0..din {
                    let wkj = w[k + j * din];
                    for (c, &x) in col.iter_mut().zip(&hin[k * b..(k + 1) * b]) {
                        *c += wkj * x;
                    }
                }
            }
            let act = if l == last {
                cfg.final_activation
            } else {
                cfg.activation
            };
            act.eval_slice(pre, &mut hn[0]);
        }
    }
}

impl<T: Scalar + Real> Dynamics<T> for MlpDynamics<T> {
    fn dim(&self) -> usize {
        self.batch * self.mlp.in_dim()
    }

    fn num_params(&self) -> usize {
        self.layout.len()
    }

    fn eval(&self, _t: f64, z: &[T], theta: &[T], dz: &mut [T]) {
        let mut s = self.scratch.borrow_mut();
        self.forward(&mut s, z, theta);
        dz.copy_from_slice(s.h.last().expect("layers"));
    }

    fn vjp(
        &self,
        _t: f64,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &mut [T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) -> T {
        let mut guard = self.scratch.borrow_mut();
        let s = &mut *guard;
        self.forward(s, z, theta);
        let b = self.batch;
        let cfg = self.mlp.config();
        let nl = self.shapes.len();
        f.copy_from_slice(&s.h[nl]);
        // δ_L = a ∘ σ_L'(p_L).
        let dout_last = self.shapes[nl - 1].1 * b;
        let fin = cfg.final_activation;
        for (((d, &ai), &p), &h) in s.d0[..dout_last]
            .iter_mut()
            .zip(a)
            .zip(&s.pre[nl - 1])
            .zip(&s.h[nl])
        {
            *d = ai * fin.deriv(p, h);
        }
        a_theta.fill(T::zero());
        for l in (0..nl).rev() {
            let (din, dout, wo, bo) = self.shapes[l];
            let delta = &s.d0[..dout * b];
            let hin = &s.h[l];
            // ∂W = hinᵀ δ (din x dout), ∂b = column sums of δ.
            for j in 0..dout {
                let dj = &delta[j * b..(j + 1) * b];
                for k in 0..din {
                    let hk = &hin[k * b..(k + 1) * b];
                    a_theta[wo + k + j * din] = hk
                        .iter()
                        .zip(dj)
                        .fold(T::zero(), |acc, (&x, &d)| acc + x * d);
                }
                if let Some(o) = bo {
                    a_theta[o + j] = dj.iter().fold(T::zero(), |acc, &d| acc + d);
                }
            }
            // δ_prev = δ Wᵀ (b x din), then times the derivative of what produced hin.
            let w = &theta[wo..wo + din * dout];
            let dp = &mut s.d1[..din * b];
            dp.fill(T::zero());
            for j in 0..dout {
                let dj = &delta[j * b..(j + 1) * b];
                for k in 0..din {
                    let wkj = w[k + j * din];
                    for (o, &d) in dp[k * b..(k + 1) * b].iter_mut().zip(dj) {
                        *o += wkj * d;
                    }
                }
            }
            if l > 0 {
                let (p, h) = (&s.pre[l - 1], &s.h[l]);
                for i in 0..din * b {
                    dp[i] *= cfg.activation.deriv(p[i], h[i]);
                }
            } else {
                let inp = cfg.input_activation;
                for i in 0..din * b {
                    a_z[i] = dp[i] * inp.deriv(z[i], s.h[0][i]);
                }
            }
            std::mem::swap(&mut s.d0, &mut s.d1);
        }
        T::zero()
    }
}
