//! A generic explicit Runge–Kutta stepper that runs any [`Tableau`].

use std::ops::Range;

use crate::stepper::{hermite_eval, hermite_prepare};
use crate::tableau::{Interpolant, DOPRI5_DENSE};
use crate::{ErrorScale, OdeSystem, Real, StepReport, Stepper, Tableau};

/// Largest number of stages [`ExplicitRk`] accepts.
pub const MAX_STAGES: usize = 16;

/// An explicit Runge–Kutta method given by its tableau, with the tableau's coefficients
/// converted once to the state's scalar type.
///
/// ```
/// use ode_solvers::{tableau, ExplicitRk, Integrator, Options};
/// let sys = |_t: f64, y: &[f64], dy: &mut [f64]| { dy[0] = y[1]; dy[1] = -y[0]; };
/// let mut solver = Integrator::new(ExplicitRk::new(&tableau::TSIT5));
/// let sol = solver.solve(&sys, 0.0, 1.0, &[0.0, 1.0], &Options::default().rtol(1e-9).atol(1e-12)).unwrap();
/// assert!((sol.y_final[0] - 1f64.sin()).abs() < 1e-8);
/// ```
#[derive(Debug, Clone)]
pub struct ExplicitRk<T> {
    tableau: &'static Tableau,
    /// Lower-triangular `a`, row-major, `s × s`.
    a: Vec<T>,
    b: Vec<T>,
    e: Vec<T>,
    c: Vec<f64>,
    fsal: bool,
    /// Interpolant weights as `T`, flattened `s × degree` (θ¹ first).
    interp: Vec<T>,
    interp_degree: usize,
}

impl<T: Real> ExplicitRk<T> {
    /// Creates the stepper for a tableau.
    ///
    /// # Panics
    /// If the tableau fails [`Tableau::check`] or has more than [`MAX_STAGES`] stages: a
    /// tableau is a constant of the program, so this is a programming error.
    pub fn new(tableau: &'static Tableau) -> Self {
        if let Err(msg) = tableau.check() {
            panic!("invalid tableau: {msg}");
        }
        let s = tableau.stages();
        assert!(
            s <= MAX_STAGES,
            "{} has more than {MAX_STAGES} stages",
            tableau.name
        );
        let mut a = vec![T::zero(); s * s];
        for (i, row) in tableau.a.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                a[i * s + j] = T::from_f64(v);
            }
        }
        let (interp, interp_degree) = match tableau.interpolant {
            Interpolant::ThetaPolynomial(p) => {
                let d = p.iter().map(|r| r.len()).max().unwrap_or(0);
                let mut w = vec![T::zero(); s * d];
                for (i, row) in p.iter().enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        w[i * d + j] = T::from_f64(v);
                    }
                }
                (w, d)
            }
            _ => (Vec::new(), 0),
        };
        ExplicitRk {
            tableau,
            a,
            b: tableau.b.iter().map(|&v| T::from_f64(v)).collect(),
            e: tableau
                .e
                .map(|e| e.iter().map(|&v| T::from_f64(v)).collect())
                .unwrap_or_default(),
            c: tableau.c.to_vec(),
            fsal: tableau.is_fsal(),
            interp,
            interp_degree,
        }
    }

    /// The tableau this stepper runs.
    pub fn tableau(&self) -> &'static Tableau {
        self.tableau
    }

    /// Stage `l` of the step just taken: `f0` for the first, `f1` for the last of an FSAL
    /// method, otherwise row `l` of the workspace's `k`.
    #[inline(always)]
    fn stage<'a>(&self, l: usize, n: usize, k: &'a [T], f0: &'a [T], f1: &'a [T]) -> &'a [T] {
        if l == 0 {
            f0
        } else if self.fsal && l == self.c.len() - 1 {
            f1
        } else {
            &k[l * n..(l + 1) * n]
        }
    }
}

/// Scratch memory of [`ExplicitRk`]: the stages, one after another (row 0, and for FSAL
/// methods the last row, unused: those stages live in `f0` and `f1`), a stage input, and the
/// reciprocal error weights of the step ([`inv_weights`]).
#[derive(Debug, Clone)]
pub struct ErkWorkspace<T> {
    k: Vec<T>,
    tmp: Vec<T>,
    inv_w: Vec<f64>,
}

// ---------------------------------------------------------------------------------------
// Fused stage combinations.
//
// Every combination of stages `out = base + Σ_q coef[q] · rows[q]` is one pass over the
// state: each output element is accumulated in a register over all terms, in the order of
// the terms, so nothing is re-read or re-written per term. The number of terms `M` is a
// compile-time constant (the loop over terms is unrolled), and the rows are cut to the
// state's length first, so the inner loop has no bounds checks.
// ---------------------------------------------------------------------------------------

/// `[f(0), …, f(M - 1)]` (a plain loop, which inlines where `std::array::from_fn` may not).
#[inline(always)]
pub(crate) fn arr<A: Copy + Default, const M: usize>(mut f: impl FnMut(usize) -> A) -> [A; M] {
    let mut out = [A::default(); M];
    for (q, o) in out.iter_mut().enumerate() {
        *o = f(q);
    }
    out
}

/// The first `M` rows, each cut to `range`.
#[inline(always)]
pub(crate) fn cut<'a, T, const M: usize>(rows: &[&'a [T]], range: Range<usize>) -> [&'a [T]; M] {
    let len = range.len();
    arr(|q| &rows[q][range.clone()][..len])
}

/// `out = base + Σ_q coef[q] · rows[q]` (`base` = 0 when `None`).
#[inline(always)]
#[allow(clippy::needless_range_loop)]
pub(crate) fn comb<T: Real, const M: usize>(
    out: &mut [T],
    base: Option<&[T]>,
    coef: &[T; M],
    rows: &[&[T]; M],
) {
    let n = out.len();
    let rows: [&[T]; M] = cut(rows, 0..n);
    match base {
        Some(base) => {
            let base = &base[..n];
            for j in 0..n {
                let mut acc = base[j];
                for q in 0..M {
                    acc += coef[q] * rows[q][j];
                }
                out[j] = acc;
            }
        }
        None => {
            for j in 0..n {
                let mut acc = T::zero();
                for q in 0..M {
                    acc += coef[q] * rows[q][j];
                }
                out[j] = acc;
            }
        }
    }
}

/// `inv_w[j] = 1 / sk_j` for a step from `y0` to `y1` (all of one length), with `sk_j` as in
/// [`ErrorScale::weight`].
///
/// A method whose last stage is evaluated at `y1` (FSAL) calls this before that evaluation:
/// the divisions, which need only `y1`, then run while the right-hand side is computed, and
/// the error sum after it ([`err_sq`]) holds multiplications only.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
pub(crate) fn inv_weights<T: Real>(
    y0: &[T],
    y1: &[T],
    atol: &[f64],
    rtol: &[f64],
    inv_w: &mut [f64],
) {
    let len = y0.len();
    let (y1, atol, rtol, inv_w) = (&y1[..len], &atol[..len], &rtol[..len], &mut inv_w[..len]);
    for j in 0..len {
        let w = atol[j] + rtol[j] * y0[j].as_f64().abs().max(y1[j].as_f64().abs());
        inv_w[j] = 1.0 / w;
    }
}

/// `Σ_j (e_j · inv_w_j)²` for the local error `e = Σ_q coef[q] · rows[q]` (all of one
/// length), with `inv_w` from [`inv_weights`]; `e` is never stored.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
pub(crate) fn err_sq<T: Real, const M: usize>(
    coef: &[T; M],
    rows: &[&[T]; M],
    inv_w: &[f64],
) -> f64 {
    let len = inv_w.len();
    let rows: [&[T]; M] = cut(rows, 0..len);
    let mut acc = 0.0;
    for j in 0..len {
        let mut e = T::zero();
        for q in 0..M {
            e += coef[q] * rows[q][j];
        }
        let r = e.as_f64() * inv_w[j];
        acc += r * r;
    }
    acc
}

/// The square of the RMS error norm ([`ErrorScale::rms`], blocks included: the largest
/// block's) of the local error `e = Σ_q coef[q] · rows[q]`, computed without storing `e`,
/// with the reciprocal weights `inv_w` of [`inv_weights`]. The square root is left to the
/// caller, so that the driver's step-size chain need not wait for it
/// ([`Stepper::step_err_sq`]).
#[inline(always)]
pub(crate) fn err_norm_sq<T: Real, const M: usize>(
    coef: &[T; M],
    rows: &[&[T]; M],
    inv_w: &[f64],
    sc: &ErrorScale<'_>,
) -> f64 {
    let n = inv_w.len();
    if sc.groups <= 1 {
        // The mean as a product: `1/n` is known before the step starts.
        let acc = err_sq(coef, rows, inv_w);
        return acc * (1.0 / n.max(1) as f64);
    }
    sc.combine(n, |r| {
        let len = r.len();
        let rows: [&[T]; M] = cut(rows, r.clone());
        let acc = err_sq(coef, &rows, &inv_w[r]);
        acc / len.max(1) as f64
    })
}

/// A combination with a number of terms known only at run time (up to [`MAX_STAGES`]), zero
/// coefficients left out; evaluated by the kernels above through [`with_len`].
#[derive(Clone, Copy)]
pub(crate) struct Terms<'a, T> {
    rows: [&'a [T]; MAX_STAGES],
    coef: [T; MAX_STAGES],
    len: usize,
}

impl<'a, T: Real> Terms<'a, T> {
    /// No terms.
    #[inline(always)]
    pub(crate) fn new() -> Self {
        Terms {
            rows: [&[]; MAX_STAGES],
            coef: [T::zero(); MAX_STAGES],
            len: 0,
        }
    }

    /// Adds the term `c · row`, unless `c` is zero.
    #[inline(always)]
    pub(crate) fn push(&mut self, c: T, row: &'a [T]) {
        if c != T::zero() {
            self.rows[self.len] = row;
            self.coef[self.len] = c;
            self.len += 1;
        }
    }

    /// The first `M` terms as fixed-size arrays.
    #[inline(always)]
    fn fixed<const M: usize>(&self) -> ([T; M], [&'a [T]; M]) {
        (arr(|q| self.coef[q]), arr(|q| self.rows[q]))
    }
}

/// Runs `$body` with the const `$m` equal to the run-time length `$len` (0 ..= 16), so that
/// a kernel can be called with a compile-time number of terms.
macro_rules! with_len {
    ($len:expr, $m:ident => $body:expr) => {
        with_len!(@arms $len, $m, $body, [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16])
    };
    (@arms $len:expr, $m:ident, $body:expr, [$($k:literal)*]) => {
        match $len {
            $($k => {
                const $m: usize = $k;
                $body
            })*
            _ => unreachable!("more than 16 terms"),
        }
    };
}

/// `out = base + Σ terms` (or `Σ terms` when `base` is `None`).
pub(crate) fn lincomb<T: Real>(out: &mut [T], base: Option<&[T]>, t: &Terms<'_, T>) {
    with_len!(t.len, M => {
        let (coef, rows) = t.fixed::<M>();
        comb::<T, M>(out, base, &coef, &rows)
    })
}

/// [`err_norm_sq`] of `e = Σ terms`.
fn lincomb_err_norm_sq<T: Real>(t: &Terms<'_, T>, inv_w: &[f64], sc: &ErrorScale<'_>) -> f64 {
    with_len!(t.len, M => {
        let (coef, rows) = t.fixed::<M>();
        err_norm_sq::<T, M>(&coef, &rows, inv_w, sc)
    })
}

impl<T: Real> ExplicitRk<T> {
    /// One step of a tableau with `NS` stages (FSAL or not), with every stage combination a
    /// fused kernel of a compile-time number of terms, for states of length `DIM` (any
    /// length when `DIM` is 0). Zero coefficients are multiplied rather than skipped: for
    /// finite stages that adds exact zeros. Returns the squared error norm.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn step_fixed<S: OdeSystem<T> + ?Sized, const NS: usize, const FSAL: bool, const DIM: usize>(
        &self,
        sys: &S,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        f1: &mut [T],
        scale: Option<ErrorScale<'_>>,
        k: &mut [T],
        tmp: &mut [T],
        inv_w: &mut [f64],
    ) -> f64 {
        // With `DIM > 0` the state's length is a compile-time constant.
        let n = if DIM > 0 { DIM } else { y0.len() };
        let (y0, f0, y1, f1) = (&y0[..n], &f0[..n], &mut y1[..n], &mut f1[..n]);
        let ht = T::from_f64(h);
        let a = &self.a[..NS * NS];
        let c = &self.c[..NS];
        let k = &mut k[..NS * n];
        let tmp = &mut tmp[..n];
        let inv_w = &mut inv_w[..n];
        let has_err = !self.e.is_empty();
        macro_rules! stages {
            ($($i:literal)*) => {$(
                if $i < NS {
                    let (done, rest) = k.split_at_mut($i * n);
                    let coef: [T; $i] = arr(|l| ht * a[$i * NS + l]);
                    let rows: [&[T]; $i] = arr(|l| {
                        if l == 0 { f0 } else { &done[l * n..(l + 1) * n] }
                    });
                    let ti = t + c[$i] * h;
                    if FSAL && $i == NS - 1 {
                        // The last stage's input is the new solution; the error weights,
                        // which need only it, are formed before the evaluation so that
                        // their divisions overlap it.
                        comb(y1, Some(y0), &coef, &rows);
                        if let (Some(sc), true) = (&scale, has_err) {
                            inv_weights(y0, y1, sc.atol, sc.rtol, inv_w);
                        }
                        sys.rhs(ti, y1, f1);
                    } else {
                        comb(tmp, Some(y0), &coef, &rows);
                        sys.rhs(ti, tmp, &mut rest[..n]);
                    }
                }
            )*};
        }
        stages!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        let k = &k[..NS * n];
        let f1: &[T] = f1;
        let rows: [&[T]; NS] = arr(|l| {
            if l == 0 {
                f0
            } else if FSAL && l == NS - 1 {
                f1
            } else {
                &k[l * n..(l + 1) * n]
            }
        });
        if !FSAL {
            let b = &self.b[..NS];
            let coef: [T; NS] = arr(|l| ht * b[l]);
            comb(y1, Some(y0), &coef, &rows);
            if let (Some(sc), true) = (&scale, has_err) {
                inv_weights(y0, y1, sc.atol, sc.rtol, inv_w);
            }
        }
        match scale {
            Some(sc) if has_err => {
                let e = &self.e[..NS];
                let coef: [T; NS] = arr(|l| ht * e[l]);
                err_norm_sq(&coef, &rows, inv_w, &sc)
            }
            _ => 0.0,
        }
    }

    /// One step of any tableau: the stage combinations are built at run time, zero
    /// coefficients left out. Returns the squared error norm.
    #[allow(clippy::too_many_arguments)]
    fn step_any<S: OdeSystem<T> + ?Sized>(
        &self,
        sys: &S,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        f1: &mut [T],
        scale: Option<ErrorScale<'_>>,
        ws: &mut ErkWorkspace<T>,
    ) -> f64 {
        let n = y0.len();
        let s = self.c.len();
        let ht = T::from_f64(h);
        let k = &mut ws.k[..s * n];
        let tmp = &mut ws.tmp[..n];
        let inv_w = &mut ws.inv_w[..n];
        let has_err = !self.e.is_empty();
        for i in 1..s {
            let (done, rest) = k.split_at_mut(i * n);
            let mut terms = Terms::new();
            for (l, &al) in self.a[i * s..i * s + i].iter().enumerate() {
                terms.push(
                    ht * al,
                    if l == 0 {
                        f0
                    } else {
                        &done[l * n..(l + 1) * n]
                    },
                );
            }
            let ti = t + self.c[i] * h;
            if self.fsal && i == s - 1 {
                // The last stage's input is the new solution (weights as in `step_fixed`).
                lincomb(y1, Some(y0), &terms);
                if let (Some(sc), true) = (&scale, has_err) {
                    inv_weights(y0, y1, sc.atol, sc.rtol, inv_w);
                }
                sys.rhs(ti, y1, f1);
            } else {
                lincomb(tmp, Some(y0), &terms);
                sys.rhs(ti, tmp, &mut rest[..n]);
            }
        }
        let k = &ws.k[..s * n];
        let f1: &[T] = f1;
        let row = |l: usize| self.stage(l, n, k, f0, f1);
        if !self.fsal {
            let mut terms = Terms::new();
            for (l, &bl) in self.b.iter().enumerate() {
                terms.push(ht * bl, row(l));
            }
            lincomb(y1, Some(y0), &terms);
            if let (Some(sc), true) = (&scale, has_err) {
                inv_weights(y0, y1, sc.atol, sc.rtol, inv_w);
            }
        }
        match scale {
            Some(sc) if has_err => {
                let mut terms = Terms::new();
                for (l, &el) in self.e.iter().enumerate() {
                    terms.push(ht * el, row(l));
                }
                lincomb_err_norm_sq(&terms, inv_w, &sc)
            }
            _ => 0.0,
        }
    }
}

impl<T: Real> Stepper<T> for ExplicitRk<T> {
    type Workspace = ErkWorkspace<T>;

    fn name(&self) -> &'static str {
        self.tableau.name
    }

    fn order(&self) -> u32 {
        self.tableau.order
    }

    fn error_order(&self) -> Option<u32> {
        self.tableau.error_order
    }

    fn workspace(&self, dim: usize) -> ErkWorkspace<T> {
        ErkWorkspace {
            k: vec![T::zero(); self.tableau.stages() * dim],
            tmp: vec![T::zero(); dim],
            inv_w: vec![0.0; dim],
        }
    }

    #[inline]
    fn step<S: OdeSystem<T> + ?Sized>(
        &self,
        sys: &S,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        f1: &mut [T],
        scale: Option<ErrorScale<'_>>,
        ws: &mut ErkWorkspace<T>,
    ) -> StepReport {
        let rep = self.step_err_sq(sys, t, h, y0, f0, y1, f1, scale, ws);
        StepReport {
            err: rep.err.sqrt(),
            ..rep
        }
    }

    #[inline]
    fn step_err_sq<S: OdeSystem<T> + ?Sized>(
        &self,
        sys: &S,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        f1: &mut [T],
        scale: Option<ErrorScale<'_>>,
        ws: &mut ErkWorkspace<T>,
    ) -> StepReport {
        let s = self.c.len();
        // The common tableau shapes get a step with compile-time stage counts, and small
        // states one with a compile-time length (fully unrolled combinations).
        macro_rules! fixed {
            ($ns:literal, $fsal:literal) => {
                fixed!(@dims $ns, $fsal, [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16])
            };
            (@dims $ns:literal, $fsal:literal, [$($d:literal)*]) => {
                match y0.len() {
                    $($d => self.step_fixed::<S, $ns, $fsal, $d>(sys, t, h, y0, f0, y1, f1, scale, &mut ws.k, &mut ws.tmp, &mut ws.inv_w),)*
                    _ => self.step_fixed::<S, $ns, $fsal, 0>(sys, t, h, y0, f0, y1, f1, scale, &mut ws.k, &mut ws.tmp, &mut ws.inv_w),
                }
            };
        }
        let err = match (s, self.fsal) {
            (7, true) => fixed!(7, true),
            (4, true) => fixed!(4, true),
            (4, false) => fixed!(4, false),
            _ => self.step_any(sys, t, h, y0, f0, y1, f1, scale, ws),
        };
        StepReport {
            nfe: s - 1,
            f1_valid: self.fsal,
            err,
        }
    }

    fn dense_order(&self) -> u32 {
        match self.tableau.interpolant {
            Interpolant::Hermite => 3,
            Interpolant::Dopri5 => 4,
            Interpolant::ThetaPolynomial(_) => self.interp_degree as u32,
        }
    }

    fn dense_vectors(&self) -> usize {
        match self.tableau.interpolant {
            Interpolant::Hermite => 4,
            Interpolant::Dopri5 => 5,
            Interpolant::ThetaPolynomial(_) => 1 + self.c.len(),
        }
    }

    fn dense_prepare<S: OdeSystem<T> + ?Sized>(
        &self,
        _sys: &S,
        _t: f64,
        h: f64,
        y0: &[T],
        y1: &[T],
        f0: &[T],
        f1: &[T],
        ws: &mut ErkWorkspace<T>,
        data: &mut [T],
    ) -> usize {
        let n = y0.len();
        match self.tableau.interpolant {
            Interpolant::Hermite => hermite_prepare(y0, y1, f0, f1, data),
            Interpolant::Dopri5 => {
                // Hairer's DOPRI5 `rcont` vectors; y(θ) = r1 + θ(r2 + (1-θ)(r3 + θ(r4 + (1-θ) r5))).
                let ht = T::from_f64(h);
                let k = &ws.k;
                let mut terms = Terms::new();
                for (l, &v) in DOPRI5_DENSE.iter().enumerate() {
                    terms.push(ht * T::from_f64(v), self.stage(l, n, k, f0, f1));
                }
                let (r1, rest) = data.split_at_mut(n);
                let (r2, rest) = rest.split_at_mut(n);
                let (r3, rest) = rest.split_at_mut(n);
                let (r4, r5) = rest.split_at_mut(n);
                lincomb(&mut r5[..n], None, &terms);
                for i in 0..n {
                    let dy = y1[i] - y0[i];
                    let bspl = ht * f0[i] - dy;
                    r1[i] = y0[i];
                    r2[i] = dy;
                    r3[i] = bspl;
                    r4[i] = dy - ht * f1[i] - bspl;
                }
            }
            Interpolant::ThetaPolynomial(_) => {
                data[..n].copy_from_slice(y0);
                for l in 0..self.c.len() {
                    data[(l + 1) * n..(l + 2) * n].copy_from_slice(self.stage(l, n, &ws.k, f0, f1));
                }
            }
        }
        0
    }

    fn dense_eval(&self, theta: f64, h: f64, data: &[T], out: &mut [T]) {
        let n = out.len();
        match self.tableau.interpolant {
            Interpolant::Hermite => hermite_eval(theta, h, data, out),
            Interpolant::Dopri5 => {
                let th = T::from_f64(theta);
                let th1 = T::one() - th;
                for i in 0..n {
                    let r = |m: usize| data[m * n + i];
                    out[i] = r(0) + th * (r(1) + th1 * (r(2) + th * (r(3) + th1 * r(4))));
                }
            }
            Interpolant::ThetaPolynomial(_) => {
                let s = self.c.len();
                let d = self.interp_degree;
                let mut w = [T::zero(); MAX_STAGES];
                for (i, wi) in w[..s].iter_mut().enumerate() {
                    // b_i(θ) = Σ_j p_ij θ^(j+1), by Horner.
                    let mut acc = 0.0;
                    for j in (0..d).rev() {
                        acc = (acc + self.interp[i * d + j].as_f64()) * theta;
                    }
                    *wi = T::from_f64(acc * h);
                }
                let (y0, k) = data.split_at(n);
                let mut terms = Terms::new();
                for (l, &wl) in w[..s].iter().enumerate() {
                    terms.push(wl, &k[l * n..(l + 1) * n]);
                }
                lincomb(out, Some(y0), &terms);
            }
        }
    }
}
