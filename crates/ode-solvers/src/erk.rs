//! A generic explicit Runge–Kutta stepper that runs any [`Tableau`].

use crate::stepper::{hermite_eval, hermite_prepare};
use crate::tableau::{Interpolant, DOPRI5_DENSE};
use crate::{ErrorScale, OdeSystem, Real, StepReport, Stepper, Tableau};

/// Largest number of stages [`ExplicitRk`] accepts.
pub const MAX_STAGES: usize = 16;

/// Block length of the fused stage combinations: a block of the output stays in L1 while all
/// stages are added into it, and the inner loop vectorises.
const BLOCK: usize = 64;

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
}

/// Scratch memory of [`ExplicitRk`]: the stages, one after another, and a stage input.
#[derive(Debug, Clone)]
pub struct ErkWorkspace<T> {
    k: Vec<T>,
    tmp: Vec<T>,
}

/// `out = y0 + Σ_l coef[l] · k_l`, where `k_l = k[l n .. (l+1) n]`; one pass over `out`.
#[inline(always)]
pub(crate) fn combine<T: Real>(out: &mut [T], y0: &[T], coef: &[T], k: &[T]) {
    let n = out.len();
    assert!(y0.len() == n && k.len() >= coef.len() * n);
    let mut j0 = 0;
    while j0 < n {
        let j1 = (j0 + BLOCK).min(n);
        let o = &mut out[j0..j1];
        o.copy_from_slice(&y0[j0..j1]);
        for (l, &cl) in coef.iter().enumerate() {
            if cl == T::zero() {
                continue;
            }
            let kl = &k[l * n + j0..l * n + j1];
            for (oj, &kj) in o.iter_mut().zip(kl) {
                *oj += cl * kj;
            }
        }
        j0 = j1;
    }
}

/// `out = Σ_l coef[l] · k_l` (no base vector).
#[inline(always)]
pub(crate) fn combine_zero<T: Real>(out: &mut [T], coef: &[T], k: &[T]) {
    let n = out.len();
    assert!(k.len() >= coef.len() * n);
    out.fill(T::zero());
    for (l, &cl) in coef.iter().enumerate() {
        if cl == T::zero() {
            continue;
        }
        for (oj, &kj) in out.iter_mut().zip(&k[l * n..(l + 1) * n]) {
            *oj += cl * kj;
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
        let n = y0.len();
        let s = self.c.len();
        let ht = T::from_f64(h);
        let mut coef = [T::zero(); MAX_STAGES];
        let k = &mut ws.k[..s * n];
        k[..n].copy_from_slice(f0);
        for i in 1..s {
            for (cj, &aij) in coef[..i].iter_mut().zip(&self.a[i * s..i * s + i]) {
                *cj = ht * aij;
            }
            let (done, rest) = k.split_at_mut(i * n);
            let ti = t + self.c[i] * h;
            if self.fsal && i == s - 1 {
                // The last stage's input is the new solution.
                combine(y1, y0, &coef[..i], done);
                sys.rhs(ti, y1, &mut rest[..n]);
            } else {
                combine(&mut ws.tmp, y0, &coef[..i], done);
                sys.rhs(ti, &ws.tmp, &mut rest[..n]);
            }
        }
        if self.fsal {
            f1.copy_from_slice(&k[(s - 1) * n..s * n]);
        } else {
            for (cj, &bj) in coef[..s].iter_mut().zip(&self.b) {
                *cj = ht * bj;
            }
            combine(y1, y0, &coef[..s], k);
        }
        let err = match scale {
            Some(sc) if !self.e.is_empty() => {
                for (cj, &ej) in coef[..s].iter_mut().zip(&self.e) {
                    *cj = ht * ej;
                }
                combine_zero(&mut ws.tmp, &coef[..s], k);
                sc.rms(&ws.tmp, y0, y1)
            }
            _ => 0.0,
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
                let mut d = [T::zero(); 7];
                for (dj, &v) in d.iter_mut().zip(&DOPRI5_DENSE) {
                    *dj = ht * T::from_f64(v);
                }
                let k = &ws.k;
                let (r1, rest) = data.split_at_mut(n);
                let (r2, rest) = rest.split_at_mut(n);
                let (r3, rest) = rest.split_at_mut(n);
                let (r4, r5) = rest.split_at_mut(n);
                combine_zero(&mut r5[..n], &d, k);
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
                let s = self.c.len();
                data[..n].copy_from_slice(y0);
                data[n..(s + 1) * n].copy_from_slice(&ws.k[..s * n]);
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
                combine(out, &data[..n], &w[..s], &data[n..]);
            }
        }
    }
}
