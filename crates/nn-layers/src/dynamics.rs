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
//!   (the paper's spiral dynamics `MLP(y³)`), with preallocated buffers and no tape at all:
//!   register-blocked products over the batch, a branch-free tanh whose loop vectorises, and
//!   copies of both passes compiled for AVX2 + FMA and for AVX-512, chosen at run time by
//!   [`autodiff::math::simd_level`] (they fuse multiply–adds, so they differ from the plain copy
//!   in the last bits; the AVX2 and AVX-512 copies agree bit for bit). A network with one
//!   hidden layer between ends of width at most 4 (the spiral's 2 → 50 → 2) runs the passes of
//!   `one_hidden.rs`, which keep the hidden layer sample-major so that the parameter gradients
//!   need no horizontal sums. At the spiral training's size (batch 20) it takes about 21.7k
//!   instructions per evaluation and 37.6k per vector–Jacobian product with its forward pass
//!   (`examples/mlp_dyn_cost.rs` under callgrind, which runs the AVX2 copy), against 21.9k and
//!   53.4k on the general kernels; with AVX-512 a product from a kept forward pass went from
//!   2.4–2.7 µs to 0.95–1.1 µs. It is what the spiral training uses. The tape-based
//!   [`NetDynamics`] is the general route (any layer, time input) and uses gemm for large
//!   batches (compare both with the `nn_layers/dyn_vjp` benchmark).
//!
//! Neither can fail on shapes once constructed; a failure inside the network (which would be a
//! bug) writes NaN into the outputs and is reported by [`Dynamics::take_error`], as the trait's
//! contract asks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use adjoint::memo::{same_bits, state_hash, PassCounts};
use adjoint::Dynamics;
use autodiff::math::{simd_level, SimdLevel};
use autodiff::{Scalar, Tape};
use ode_solvers::Real;

use crate::error::{NnError, Result};
use crate::kernels;
use crate::layer::TimeLayer;
use crate::mlp::{Mlp, MlpLayer, TimeInput};
use crate::one_hidden::{self, Packed, Shape};
use crate::params::{Binding, ParamLayout, ParamVars};
use crate::{Activation, MlpConfig};

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

/// The activations of one forward pass of the hand-written MLP, and the state they are of.
#[derive(Clone)]
struct Activations<T> {
    /// The state `z` of this pass (valid when `valid`).
    key: Vec<T>,
    /// [`state_hash`] of `key`.
    hash: u64,
    valid: bool,
    /// `h[0]` is the mapped input; `h[l]` the output of layer `l` (after its activation).
    h: Vec<Vec<T>>,
    /// `pre[l]` the pre-activation of layer `l + 1`, kept only when the derivative of its
    /// activation reads it ([`Activation::deriv_needs_input`]); empty otherwise (the
    /// backward pass then passes the output in its place, which such a derivative ignores).
    pre: Vec<Vec<T>>,
    /// For a one-hidden-layer network on the passes of [`crate::one_hidden`]: the hidden
    /// layer, sample-major (`h[1]` is then empty); empty otherwise.
    hid: Vec<T>,
}

impl<T> Activations<T> {
    /// The pre-activation of layer `l + 1` if kept, else its output (see [`Activations::pre`]).
    fn pre_or_out(&self, l: usize) -> &[T] {
        if self.pre[l].is_empty() {
            &self.h[l + 1]
        } else {
            &self.pre[l]
        }
    }
}

/// Buffers of the hand-written MLP pass: the activations of the last few forward passes
/// (a ring, indexed by a hash of the state), the parameters they were computed with, and the
/// backward deltas.
struct MlpScratch<T> {
    /// The ring; it grows as passes are made, up to `cap` slots.
    slots: Vec<Activations<T>>,
    /// Most passes kept.
    cap: usize,
    /// The slot the next forward pass writes.
    next: usize,
    /// Hash of a kept state → its slot (the newest pass with that hash).
    index: HashMap<u64, usize, BuildHasherDefault<KeyHasher>>,
    /// `θ` of the passes in `slots`.
    theta: Vec<T>,
    /// Forward passes computed, and requests answered from a kept pass.
    stats: PassCounts,
    /// Backward deltas (two, swapped).
    d0: Vec<T>,
    d1: Vec<T>,
    /// The weights in the order of [`crate::one_hidden`]'s passes (for a network they serve),
    /// packed from `theta`.
    packed: Option<Packed<T>>,
    /// Scratch of those passes: the hidden layer's cotangent and the gradients, sample-major.
    dhid: Vec<T>,
    grads: Vec<T>,
}

/// What the backward pass of [`crate::one_hidden`] reads and writes besides the pass:
/// the packed weights (`None` for networks on the general kernels) and its scratch.
struct OneHiddenScratch<'a, T> {
    packed: Option<&'a Packed<T>>,
    dhid: &'a mut [T],
    grads: &'a mut [T],
}

/// Whether the general passes (not [`crate::one_hidden`]'s) read the state `z` where they would
/// read `h[0]`: for an identity input map. `h[0]` is then neither allocated nor written nor
/// read; the constructor, the forward pass and the backward pass all decide by this.
fn reads_z_in_place(cfg: &MlpConfig) -> bool {
    cfg.input_activation == Activation::Identity
}

/// The hasher of the pass index: its keys are [`state_hash`] values already.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

impl<T: Scalar + Real> MlpScratch<T> {
    /// Forgets every kept pass if `θ` changed (and packs the new weights where they are
    /// packed).
    fn check_theta(&mut self, theta: &[T], shapes: &[Shape]) {
        if !same_bits(&self.theta, theta) {
            self.theta.clear();
            self.theta.extend_from_slice(theta);
            self.forget();
            if let Some(p) = &mut self.packed {
                p.pack(theta, &[shapes[0], shapes[1]]);
            }
        }
    }

    /// Forgets every kept pass.
    fn forget(&mut self) {
        for s in &mut self.slots {
            s.valid = false;
        }
        self.index.clear();
    }

    /// The slot holding a pass at exactly `z` (whose hash is `hash`).
    fn find(&self, z: &[T], hash: u64) -> Option<usize> {
        let &i = self.index.get(&hash)?;
        let s = &self.slots[i];
        (s.valid && same_bits(&s.key, z)).then_some(i)
    }

    /// Takes the next slot for a pass at `z` (whose hash is `hash`).
    fn claim(&mut self, z: &[T], hash: u64) -> usize {
        let i = self.next;
        self.next = (i + 1) % self.cap;
        if i == self.slots.len() {
            let mut fresh = self.slots[0].clone();
            fresh.valid = false;
            self.slots.push(fresh);
        }
        let s = &mut self.slots[i];
        if s.valid && self.index.get(&s.hash) == Some(&i) {
            self.index.remove(&s.hash);
        }
        s.key.copy_from_slice(z);
        s.hash = hash;
        s.valid = true;
        self.index.insert(hash, i);
        self.stats.computed += 1;
        i
    }
}

/// The widest outer width (input = output) that [`crate::one_hidden`]'s passes serve.
const MAX_NARROW: usize = 4;

/// A time-independent [`Mlp`] as ODE dynamics, with a hand-written vector–Jacobian product
/// (no tape): forward keeps every layer's output (and its pre-activation where the
/// activation's derivative reads it); backward is
/// `δ_L = a ∘ σ_L'(p_L)`, `∂W_l = h_{l-1}ᵀ δ_l`, `∂b_l = Σ_rows δ_l`,
/// `δ_{l-1} = (δ_l W_lᵀ) ∘ σ'(p_{l-1})`, and `aᵀ∂f/∂z = (δ_1 W_1ᵀ) ∘ σ_in'(z)`.
/// `aᵀ∂f/∂t = 0`. Warm calls allocate nothing.
///
/// It keeps the activations of its last forward passes ([`MlpDynamics::with_memory`]; the
/// last one by default), found by a hash of the state: an evaluation or a vector–Jacobian
/// product at a state (and `θ`) bit for bit the same as one of those skips its forward pass.
/// `Direct` and `Checkpointed` gradients re-evaluate every stage of a step and then take the
/// products at the same stage inputs in reverse order, so with at least as many passes kept
/// as the method has stages none of those products repeats its forward pass; with as many as
/// the forward solve made, the re-evaluations are answered from memory too (the replay
/// computes the stage inputs with the bits of the forward solve).
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
    shapes: Vec<Shape>,
    /// Whether the layers' tensors are the whole of `θ` (then every gradient entry is
    /// written and `a_θ` needs no clearing).
    covers_theta: bool,
    scratch: RefCell<MlpScratch<T>>,
}

impl<T: Scalar + Real> MlpDynamics<T> {
    /// Dynamics for a batch of `batch` states through `mlp` (whose input and output widths must
    /// agree), with parameters laid out by `layout` (the layout `mlp` was built into).
    ///
    /// # Errors
    /// [`NnError::Config`] if the network is time-conditioned or its widths differ at both ends;
    /// [`NnError::UnknownParam`] if `layout` is not the one `mlp` was built into.
    pub fn new(mlp: Mlp, layout: ParamLayout, batch: usize) -> Result<Self> {
        Self::new_with(mlp, layout, batch, true)
    }

    /// [`MlpDynamics::new`], on the general kernels only if `!allow_one_hidden`.
    fn new_with(
        mlp: Mlp,
        layout: ParamLayout,
        batch: usize,
        allow_one_hidden: bool,
    ) -> Result<Self> {
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
        let used: usize = shapes
            .iter()
            .map(|&(din, dout, _, b)| din * dout + if b.is_some() { dout } else { 0 })
            .sum();
        let covers_theta = used == layout.len();
        let widths = &mlp.config().widths;
        let nl = widths.len() - 1;
        let cfg = mlp.config();
        let one_hidden = allow_one_hidden
            && nl == 2
            && (1..=MAX_NARROW).contains(&widths[0])
            && one_hidden::supports(cfg.activation);
        let packed = one_hidden.then(|| Packed::new(widths[0], widths[1]));
        let hp = packed.as_ref().map_or(0, Packed::hp);
        let h = widths
            .iter()
            .enumerate()
            .map(|(l, &w)| {
                // `h[0]` is not needed by an identity input map (the passes read `z`), nor
                // `h[1]` by the one-hidden-layer passes (which keep `hid` instead).
                let unused = if one_hidden {
                    l == 1
                } else {
                    l == 0 && reads_z_in_place(cfg)
                };
                let len = if unused { 0 } else { w * batch };
                vec![T::zero(); len]
            })
            .collect();
        let pre = widths[1..]
            .iter()
            .enumerate()
            .map(|(l, &w)| {
                let act = if l + 1 == nl {
                    cfg.final_activation
                } else {
                    cfg.activation
                };
                let len = if act.deriv_needs_input() {
                    w * batch
                } else {
                    0
                };
                vec![T::zero(); len]
            })
            .collect();
        let wmax = widths.iter().copied().max().unwrap_or(0) * batch;
        let in_len = widths[0] * batch;
        let grads_len = one_hidden::grads_len(widths[0], hp);
        Ok(MlpDynamics {
            mlp,
            layout,
            batch,
            shapes,
            covers_theta,
            scratch: RefCell::new(MlpScratch {
                slots: vec![Activations {
                    key: vec![T::zero(); in_len],
                    hash: 0,
                    valid: false,
                    h,
                    pre,
                    hid: vec![T::zero(); batch * hp],
                }],
                cap: 1,
                next: 0,
                index: HashMap::with_capacity_and_hasher(1, Default::default()),
                stats: PassCounts::default(),
                theta: Vec::new(),
                d0: vec![T::zero(); wmax],
                d1: vec![T::zero(); wmax],
                dhid: vec![T::zero(); batch * hp],
                grads: vec![T::zero(); grads_len],
                packed,
            }),
        })
    }

    /// Keeps the activations of the last `passes` forward passes instead of only the last, so
    /// that evaluations and vector–Jacobian products at any of those states skip their forward
    /// pass. `0` keeps none: every call computes its forward pass, and no state is hashed,
    /// copied or compared (nor `θ`, unless the weights are packed): the setting for the
    /// adjoint method, whose backward products are all at new states. Memory: up to `passes`
    /// times the activations of one pass (`batch ×` the sum of the widths, the input's only
    /// when the input map is not the identity, plus the input width for the state and the
    /// widths of the layers whose activation's derivative reads its input: none for `Tanh`,
    /// `Sigmoid` and `Identity`), allocated as passes are made.
    /// With `Direct` or `Checkpointed` gradients use at least the number of stages of the
    /// solver's method (6 for Dopri5 and Tsit5, 12 for Dop853), better the number of
    /// evaluations of a forward solve; the adjoint method gains nothing from it.
    pub fn with_memory(self, passes: usize) -> Self {
        {
            let mut s = self.scratch.borrow_mut();
            s.cap = passes;
            let cap = s.cap;
            s.slots.truncate(cap.max(1));
            s.next = 0;
            s.forget();
            s.index.reserve(cap);
        }
        self
    }

    /// How many forward passes were computed and how many requests found theirs in memory,
    /// since construction or the last [`reset_pass_counts`](Self::reset_pass_counts).
    pub fn pass_counts(&self) -> PassCounts {
        self.scratch.borrow().stats
    }

    /// Sets both [`pass_counts`](Self::pass_counts) to zero.
    pub fn reset_pass_counts(&self) {
        self.scratch.borrow_mut().stats = PassCounts::default();
    }

    /// The network.
    pub fn mlp(&self) -> &Mlp {
        &self.mlp
    }

    /// The parameter layout.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// The forward pass: every layer's output (and the pre-activations kept) into `s`; the
    /// network's output into `out` instead of `s.h[L]` when given (a pass that is not kept
    /// then needs no copy of it).
    #[inline(always)]
    fn forward_impl<const FMA: bool>(
        &self,
        s: &mut Activations<T>,
        packed: Option<&Packed<T>>,
        z: &[T],
        theta: &[T],
        out: Option<&mut [T]>,
    ) {
        let b = self.batch;
        let cfg = self.mlp.config();
        if let Some(p) = packed {
            kernels::act(cfg.input_activation, z, &mut s.h[0]);
            let (h0, rest) = s.h.split_at_mut(1);
            let keep_pre = !s.pre[1].is_empty();
            let fin: &mut [T] = match out {
                Some(o) => o,
                None => &mut rest[1],
            };
            let dst = if keep_pre {
                &mut s.pre[1][..]
            } else {
                &mut *fin
            };
            let (x, hid, act) = (&h0[0], &mut s.hid, cfg.activation);
            match self.shapes[0].0 {
                1 => one_hidden::forward::<T, 1, FMA>(p, b, x, act, hid, dst),
                2 => one_hidden::forward::<T, 2, FMA>(p, b, x, act, hid, dst),
                3 => one_hidden::forward::<T, 3, FMA>(p, b, x, act, hid, dst),
                _ => one_hidden::forward::<T, 4, FMA>(p, b, x, act, hid, dst),
            }
            if keep_pre {
                kernels::act(cfg.final_activation, &s.pre[1], fin);
            } else {
                kernels::act_in_place(cfg.final_activation, fin);
            }
            return;
        }
        // An identity input map reads `z` itself (`h[0]` is then left empty).
        let identity_in = reads_z_in_place(cfg);
        if !identity_in {
            kernels::act(cfg.input_activation, z, &mut s.h[0]);
        }
        let last = self.shapes.len() - 1;
        let mut out = out;
        for (l, &(din, dout, wo, bo)) in self.shapes.iter().enumerate() {
            let (hs, hn) = s.h.split_at_mut(l + 1);
            let dst: &mut [T] = match out.as_deref_mut() {
                Some(o) if l == last => o,
                _ => &mut hn[0],
            };
            let x: &[T] = if l == 0 && identity_in { z } else { &hs[l] };
            let w = &theta[wo..wo + din * dout];
            let bias = bo.map(|o| &theta[o..o + dout]);
            let act = if l == last {
                cfg.final_activation
            } else {
                cfg.activation
            };
            let pre = &mut s.pre[l];
            if pre.is_empty() {
                // The derivative needs only the output: the activation runs in place.
                kernels::affine_act::<T, FMA>(b, din, dout, w, bias, act, x, dst);
            } else {
                kernels::affine::<T, FMA>(b, din, dout, w, bias, x, pre);
                kernels::act(act, pre, dst);
            }
        }
    }

    /// The backward pass (see the type's documentation) from the forward pass `s` at `z`,
    /// with `d0`, `d1` as scratch.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn vjp_impl<const FMA: bool>(
        &self,
        s: &Activations<T>,
        d0: &mut Vec<T>,
        d1: &mut Vec<T>,
        oh: OneHiddenScratch<'_, T>,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &[T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) {
        let b = self.batch;
        let cfg = self.mlp.config();
        let nl = self.shapes.len();
        // δ_L = a ∘ σ_L'(p_L): `a` itself for an identity output map. The output is read
        // from `f` (a pass that was not kept wrote it there only).
        let dout_last = self.shapes[nl - 1].1 * b;
        let identity_out = cfg.final_activation == Activation::Identity;
        if !identity_out {
            let pre = &s.pre[nl - 1];
            kernels::deriv_times(
                cfg.final_activation,
                if pre.is_empty() { f } else { pre },
                f,
                a,
                &mut d0[..dout_last],
            );
        }
        if let Some(p) = oh.packed {
            self.one_hidden_backward::<FMA>(
                s,
                p,
                if identity_out {
                    &a[..dout_last]
                } else {
                    &d0[..dout_last]
                },
                d1,
                oh.dhid,
                oh.grads,
                z,
                a_z,
                a_theta,
            );
            return;
        }
        // As in the forward pass, an identity input map reads `z` (and writes `a_z`) itself.
        let identity_in = reads_z_in_place(cfg);
        // Whether the current layer's bias gradient was summed already (in the pass that
        // formed its delta, while each column was in cache).
        let mut bias_done = false;
        for l in (0..nl).rev() {
            let (din, dout, wo, bo) = self.shapes[l];
            let delta: &[T] = if l == nl - 1 && identity_out {
                &a[..dout * b]
            } else {
                &d0[..dout * b]
            };
            let hin: &[T] = if l == 0 && identity_in { z } else { &s.h[l] };
            // ∂W = hinᵀ δ (din x dout), ∂b = column sums of δ. The layout puts each bias
            // right after its weight, but nothing here relies on it.
            let (dw, db) = match bo {
                Some(o) if o >= wo + din * dout => {
                    let (lo, hi) = a_theta.split_at_mut(o);
                    (&mut lo[wo..wo + din * dout], Some(&mut hi[..dout]))
                }
                Some(o) => {
                    let (lo, hi) = a_theta.split_at_mut(wo);
                    (&mut hi[..din * dout], Some(&mut lo[o..o + dout]))
                }
                None => (&mut a_theta[wo..wo + din * dout], None),
            };
            let db = if bias_done { None } else { db };
            kernels::affine_grads::<T, FMA>(b, din, dout, hin, delta, dw, db);
            // δ_prev = δ Wᵀ (b x din), then times the derivative of what produced hin.
            let w = &theta[wo..wo + din * dout];
            if l > 0 {
                let dp = &mut d1[..din * b];
                kernels::affine_t::<T, FMA>(b, din, dout, w, delta, dp);
                // The previous layer's bias gradient (column sums of its delta) in the same
                // pass.
                let db_prev = self.shapes[l - 1].3.map(|o| &mut a_theta[o..o + din]);
                bias_done = db_prev.is_some();
                kernels::mul_deriv_sums(
                    cfg.activation,
                    s.pre_or_out(l - 1),
                    &s.h[l],
                    dp,
                    b,
                    db_prev,
                );
                std::mem::swap(d0, d1);
            } else if identity_in {
                kernels::affine_t::<T, FMA>(b, din, dout, w, delta, a_z);
            } else {
                let dp = &mut d1[..din * b];
                kernels::affine_t::<T, FMA>(b, din, dout, w, delta, dp);
                kernels::deriv_times(cfg.input_activation, z, &s.h[0], dp, a_z);
            }
        }
    }

    /// The backward pass of a network on [`crate::one_hidden`]'s passes, from `delta` (the
    /// output's cotangent times the final activation's derivative), with `ax` as scratch.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn one_hidden_backward<const FMA: bool>(
        &self,
        s: &Activations<T>,
        p: &Packed<T>,
        delta: &[T],
        ax: &mut [T],
        dhid: &mut [T],
        grads: &mut [T],
        z: &[T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) {
        let b = self.batch;
        let cfg = self.mlp.config();
        let (d, h, wo1, bo1) = self.shapes[0];
        let (_, _, wo2, bo2) = self.shapes[1];
        let (x, hid, act, ax) = (&s.h[0], &s.hid[..], cfg.activation, &mut ax[..d * b]);
        match d {
            1 => one_hidden::backward::<T, 1, FMA>(p, b, act, x, hid, delta, dhid, grads, ax),
            2 => one_hidden::backward::<T, 2, FMA>(p, b, act, x, hid, delta, dhid, grads, ax),
            3 => one_hidden::backward::<T, 3, FMA>(p, b, act, x, hid, delta, dhid, grads, ax),
            _ => one_hidden::backward::<T, 4, FMA>(p, b, act, x, hid, delta, dhid, grads, ax),
        }
        let hp = p.hp();
        for k in 0..d {
            let g1 = &grads[(d + k) * hp..(d + k) * hp + h];
            for (j, &g) in g1.iter().enumerate() {
                a_theta[wo1 + k + j * d] = g;
            }
        }
        if let Some(o) = bo1 {
            a_theta[o..o + h].copy_from_slice(&grads[2 * d * hp..2 * d * hp + h]);
        }
        for m in 0..d {
            a_theta[wo2 + m * h..wo2 + (m + 1) * h].copy_from_slice(&grads[m * hp..m * hp + h]);
        }
        if let Some(o) = bo2 {
            for m in 0..d {
                a_theta[o + m] = kernels::sum(&delta[m * b..(m + 1) * b]);
            }
        }
        kernels::deriv_times(cfg.input_activation, z, x, ax, a_z);
    }

    /// The slot of a forward pass at `z` with `θ`: a kept one if there is one (the same bits
    /// as a new one), else a new one, computed; and the network's output written into `out`.
    fn pass(&self, s: &mut MlpScratch<T>, z: &[T], theta: &[T], out: &mut [T]) -> usize {
        if s.cap == 0 {
            // Nothing kept: only packed weights can be stale. The pass writes its output
            // straight into `out`.
            if s.packed.is_some() {
                s.check_theta(theta, &self.shapes);
            }
            s.stats.computed += 1;
            self.forward(&mut s.slots[0], s.packed.as_ref(), z, theta, Some(out));
            return 0;
        }
        s.check_theta(theta, &self.shapes);
        let hash = state_hash(z);
        let i = match s.find(z, hash) {
            Some(i) => {
                s.stats.reused += 1;
                i
            }
            None => {
                let i = s.claim(z, hash);
                self.forward(&mut s.slots[i], s.packed.as_ref(), z, theta, None);
                i
            }
        };
        out.copy_from_slice(s.slots[i].h.last().expect("layers"));
        i
    }

    fn forward(
        &self,
        s: &mut Activations<T>,
        p: Option<&Packed<T>>,
        z: &[T],
        theta: &[T],
        out: Option<&mut [T]>,
    ) {
        match simd_level() {
            // SAFETY: the processor has the level's features (checked by `simd_level`).
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => unsafe { self.forward_avx512(s, p, z, theta, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2Fma => unsafe { self.forward_fma(s, p, z, theta, out) },
            _ => self.forward_impl::<false>(s, p, z, theta, out),
        }
    }

    /// [`MlpDynamics::forward_impl`] compiled for AVX-512: eight lanes, the same operations as
    /// [`MlpDynamics::forward_fma`] and so the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    fn forward_avx512(
        &self,
        s: &mut Activations<T>,
        p: Option<&Packed<T>>,
        z: &[T],
        theta: &[T],
        out: Option<&mut [T]>,
    ) {
        self.forward_impl::<true>(s, p, z, theta, out)
    }

    /// [`MlpDynamics::forward_impl`] compiled for AVX2 and FMA: four f64 lanes instead of two,
    /// and every product-and-add fused (results differ from the plain copy's in the last bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn forward_fma(
        &self,
        s: &mut Activations<T>,
        p: Option<&Packed<T>>,
        z: &[T],
        theta: &[T],
        out: Option<&mut [T]>,
    ) {
        self.forward_impl::<true>(s, p, z, theta, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn vjp_dispatch(
        &self,
        s: &Activations<T>,
        d0: &mut Vec<T>,
        d1: &mut Vec<T>,
        oh: OneHiddenScratch<'_, T>,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &[T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) {
        match simd_level() {
            // SAFETY: the processor has the level's features (checked by `simd_level`).
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => unsafe {
                self.vjp_avx512(s, d0, d1, oh, z, theta, a, f, a_z, a_theta)
            },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2Fma => unsafe {
                self.vjp_fma(s, d0, d1, oh, z, theta, a, f, a_z, a_theta)
            },
            _ => self.vjp_impl::<false>(s, d0, d1, oh, z, theta, a, f, a_z, a_theta),
        }
    }

    /// [`MlpDynamics::vjp_impl`] compiled for AVX-512, as [`MlpDynamics::forward_avx512`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    fn vjp_avx512(
        &self,
        s: &Activations<T>,
        d0: &mut Vec<T>,
        d1: &mut Vec<T>,
        oh: OneHiddenScratch<'_, T>,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &[T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) {
        self.vjp_impl::<true>(s, d0, d1, oh, z, theta, a, f, a_z, a_theta)
    }

    /// [`MlpDynamics::vjp_impl`] compiled for AVX2 and FMA, as [`MlpDynamics::forward_fma`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    fn vjp_fma(
        &self,
        s: &Activations<T>,
        d0: &mut Vec<T>,
        d1: &mut Vec<T>,
        oh: OneHiddenScratch<'_, T>,
        z: &[T],
        theta: &[T],
        a: &[T],
        f: &[T],
        a_z: &mut [T],
        a_theta: &mut [T],
    ) {
        self.vjp_impl::<true>(s, d0, d1, oh, z, theta, a, f, a_z, a_theta)
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
        let mut guard = self.scratch.borrow_mut();
        let s = &mut *guard;
        self.pass(s, z, theta, dz);
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
        let i = self.pass(s, z, theta, f);
        // Parameters the network does not use (none, for a layout of this MLP alone) get 0.
        if !self.covers_theta {
            a_theta.fill(T::zero());
        }
        let MlpScratch {
            slots,
            d0,
            d1,
            packed,
            dhid,
            grads,
            ..
        } = s;
        let oh = OneHiddenScratch {
            packed: packed.as_ref(),
            dhid,
            grads,
        };
        self.vjp_dispatch(&slots[i], d0, d1, oh, z, theta, a, f, a_z, a_theta);
        T::zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{init_params, Activation, MlpConfig};

    /// The compiled copies of the passes.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Copy {
        Plain,
        #[cfg(target_arch = "x86_64")]
        Fma,
        #[cfg(target_arch = "x86_64")]
        Avx512,
    }

    impl MlpDynamics<f64> {
        /// Whether the passes are [`crate::one_hidden`]'s.
        fn on_one_hidden(&self) -> bool {
            self.scratch.borrow().packed.is_some()
        }
    }

    /// One forward pass and one vector–Jacobian product by the copy `which`.
    fn run(
        f: &MlpDynamics<f64>,
        which: Copy,
        z: &[f64],
        theta: &[f64],
        a: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let n = z.len();
        let (mut fz, mut az, mut ath) = (vec![0.0; n], vec![0.0; n], vec![0.0; theta.len()]);
        let mut guard = f.scratch.borrow_mut();
        let s = &mut *guard;
        s.check_theta(theta, &f.shapes);
        let MlpScratch {
            slots,
            d0,
            d1,
            packed,
            dhid,
            grads,
            ..
        } = s;
        let slot = &mut slots[0];
        let p = packed.as_ref();
        let out = Some(&mut fz[..]);
        match which {
            Copy::Plain => f.forward_impl::<false>(slot, p, z, theta, out),
            // SAFETY: callers check the processor's level first.
            #[cfg(target_arch = "x86_64")]
            Copy::Fma => unsafe { f.forward_fma(slot, p, z, theta, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Copy::Avx512 => unsafe { f.forward_avx512(slot, p, z, theta, out) },
        }
        let oh = OneHiddenScratch {
            packed: p,
            dhid,
            grads,
        };
        match which {
            Copy::Plain => {
                f.vjp_impl::<false>(slot, d0, d1, oh, z, theta, a, &fz, &mut az, &mut ath);
            }
            // SAFETY: callers check the processor's level first.
            #[cfg(target_arch = "x86_64")]
            Copy::Fma => unsafe {
                f.vjp_fma(slot, d0, d1, oh, z, theta, a, &fz, &mut az, &mut ath)
            },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Copy::Avx512 => unsafe {
                f.vjp_avx512(slot, d0, d1, oh, z, theta, a, &fz, &mut az, &mut ath)
            },
        }
        (fz, az, ath)
    }

    /// `(dynamics, θ, z, a)` for `cfg` at batch `b`.
    fn setup(
        cfg: &MlpConfig,
        b: usize,
        one_hidden: bool,
    ) -> (MlpDynamics<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut layout = ParamLayout::new();
        let mlp = cfg.build(&mut layout, "f").unwrap();
        let mut theta = vec![0.0f64; layout.len()];
        init_params(&layout, &mut theta, 5).unwrap();
        // Biases nonzero too, so that their gradients and their packing are exercised.
        for (i, t) in theta.iter_mut().enumerate() {
            if *t == 0.0 {
                *t = (i as f64 * 0.3).sin() * 0.2;
            }
        }
        let n = cfg.widths[0] * b;
        let f = MlpDynamics::new_with(mlp, layout, b, one_hidden).unwrap();
        let z: Vec<f64> = (0..n)
            .map(|i| (i as f64 * 0.61 + 0.3).sin() * 1.7)
            .collect();
        let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.29).cos()).collect();
        (f, theta, z, a)
    }

    fn close(x: &[f64], y: &[f64]) -> bool {
        let scale = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        x.len() == y.len() && x.iter().zip(y).all(|(u, v)| (u - v).abs() <= 1e-13 * scale)
    }

    /// The one-hidden-layer passes against the general kernels, at every outer width they
    /// serve, with each hidden activation they accept, without biases, with a final
    /// activation whose derivative reads its input, and at batches of 1 and 20.
    #[test]
    fn the_one_hidden_passes_agree_with_the_general_kernels() {
        let cfgs = [
            MlpConfig::new(&[2, 50, 2], Activation::Tanh).with_input_activation(Activation::Cube),
            MlpConfig::new(&[1, 13, 1], Activation::Sigmoid),
            MlpConfig::new(&[3, 21, 3], Activation::Identity)
                .with_final_activation(Activation::Softplus),
            MlpConfig {
                bias: false,
                ..MlpConfig::new(&[4, 9, 4], Activation::Tanh)
            },
        ];
        for cfg in &cfgs {
            for b in [1, 20] {
                let (f1, theta, z, a) = setup(cfg, b, true);
                let (f0, ..) = setup(cfg, b, false);
                assert!(f1.on_one_hidden() && !f0.on_one_hidden());
                let (mut out1, mut out0) = (Vec::new(), Vec::new());
                for f in [&f1, &f0] {
                    let (mut fz, mut az, mut ath) = (
                        vec![0.0; z.len()],
                        vec![0.0; z.len()],
                        vec![0.0; theta.len()],
                    );
                    f.vjp(0.0, &z, &theta, &a, &mut fz, &mut az, &mut ath);
                    let mut ev = vec![0.0; z.len()];
                    f.eval(0.0, &z, &theta, &mut ev);
                    assert_eq!(ev, fz, "eval and vjp's f agree");
                    let o = if std::ptr::eq(f, &f1) {
                        &mut out1
                    } else {
                        &mut out0
                    };
                    *o = vec![fz, az, ath];
                }
                assert!(
                    out1[2].iter().all(|v| *v != 0.0),
                    "{cfg:?}: every θ is used"
                );
                for (what, (x, y)) in ["f", "a_z", "a_theta"].iter().zip(out1.iter().zip(&out0)) {
                    assert!(close(x, y), "{:?} b {b}: {what}", cfg.widths);
                }
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_fused_copy_agrees_with_the_plain_one() {
        if !autodiff::math::fused() {
            return;
        }
        for one_hidden in [true, false] {
            let cfg = MlpConfig::new(&[2, 50, 2], Activation::Tanh)
                .with_input_activation(Activation::Cube);
            let (f, theta, z, a) = setup(&cfg, 13, one_hidden);
            let fused = run(&f, Copy::Fma, &z, &theta, &a);
            let plain = run(&f, Copy::Plain, &z, &theta, &a);
            assert_eq!(fused, run(&f, Copy::Fma, &z, &theta, &a), "deterministic");
            assert!(close(&fused.0, &plain.0), "f");
            assert!(close(&fused.1, &plain.1), "a_z");
            assert!(close(&fused.2, &plain.2), "a_theta");
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx512_copy_gives_the_bits_of_the_avx2_copy() {
        if simd_level() < SimdLevel::Avx512 {
            eprintln!("skipped: no AVX-512 (or capped by NEURAL_ODE_SIMD)");
            return;
        }
        // The spiral's network on the one-hidden-layer passes and on the register loops, and
        // one whose products all go to the gemm.
        for (dims, b, one_hidden) in [
            (vec![2, 50, 2], 13, true),
            (vec![2, 50, 2], 13, false),
            (vec![8, 24, 8], 9, false),
        ] {
            let cfg =
                MlpConfig::new(&dims, Activation::Tanh).with_input_activation(Activation::Cube);
            let (f, theta, z, a) = setup(&cfg, b, one_hidden);
            assert_eq!(f.on_one_hidden(), one_hidden);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let w = run(&f, Copy::Avx512, &z, &theta, &a);
            let n4 = run(&f, Copy::Fma, &z, &theta, &a);
            assert!(w.2.iter().any(|&v| v != 0.0), "{dims:?}: a real gradient");
            assert_eq!(bits(&w.0), bits(&n4.0), "{dims:?}: f");
            assert_eq!(bits(&w.1), bits(&n4.1), "{dims:?}: a_z");
            assert_eq!(bits(&w.2), bits(&n4.2), "{dims:?}: a_theta");
        }
    }
}
