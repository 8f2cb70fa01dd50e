//! Shared helpers: reference values that do not come from the code under test.
#![allow(dead_code, clippy::type_complexity)]

use adjoint::TapeDynamics;
use autodiff::{Tape, Var};
use ode_solvers::problems::expm;

/// Row-major `n × n` product.
pub fn matmul(p: &[f64], q: &[f64], n: usize) -> Vec<f64> {
    let mut r = vec![0.0; n * n];
    for i in 0..n {
        for k in 0..n {
            for j in 0..n {
                r[i * n + j] += p[i * n + k] * q[k * n + j];
            }
        }
    }
    r
}

pub fn transpose(a: &[f64], n: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            t[j * n + i] = a[i * n + j];
        }
    }
    t
}

pub fn matvec(a: &[f64], x: &[f64], n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (0..n).map(|j| a[i * n + j] * x[j]).sum())
        .collect()
}

pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// Reference gradients of `L = Σ_i w_i · z(t_i)` for `dz/dt = A z` (row-major `A`), from the
/// matrix exponential: `dL/dz0`, `dL/dA` (Van Loan's block trick), `dL/dt_i`.
pub fn linear_reference(
    a: &[f64],
    n: usize,
    z0: &[f64],
    ts: &[f64],
    w: &[f64],
) -> (Vec<Vec<f64>>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let at = transpose(a, n);
    let mut zs = vec![z0.to_vec()];
    let mut dz0 = w[..n].to_vec();
    let mut da = vec![0.0; n * n];
    let mut dts = vec![0.0; ts.len()];
    let az0 = matvec(a, z0, n);
    for i in 1..ts.len() {
        let tau = ts[i] - ts[0];
        let sa: Vec<f64> = a.iter().map(|v| v * tau).collect();
        let e = expm(&sa, n);
        let zi = matvec(&e, z0, n);
        let wi = &w[i * n..(i + 1) * n];
        // dL/dz0 += e^{Aᵀτ} w_i
        let eti = matvec(&transpose(&e, n), wi, n);
        for k in 0..n {
            dz0[k] += eti[k];
        }
        // Van Loan: expm([[Aᵀ, C], [0, Aᵀ]] τ), upper-right block, C = w_i z0ᵀ.
        let m = 2 * n;
        let mut big = vec![0.0; m * m];
        for r in 0..n {
            for c in 0..n {
                big[r * m + c] = at[r * n + c] * tau;
                big[(r + n) * m + c + n] = at[r * n + c] * tau;
                big[r * m + c + n] = wi[r] * z0[c] * tau;
            }
        }
        let eb = expm(&big, m);
        for r in 0..n {
            for c in 0..n {
                da[r * n + c] += eb[r * m + c + n];
            }
        }
        dts[i] = dot(wi, &matvec(a, &zi, n));
        dts[0] -= dot(&eti, &az0);
        zs.push(zi);
    }
    (zs, dz0, da, dts)
}

/// Hidden width of the test MLP.
pub const H: usize = 8;
/// Features of the test MLP's state.
pub const D: usize = 3;
/// Parameters the MLP uses: W1 (D×H), c (1×H), b1 (1×H), W2 (H×D), b2 (1×D).
pub const P_USED: usize = D * H + H + H + H * D + D;

/// `f(z, t) = tanh(z W1 + t c + b1) W2 + b2 + sin(t)·z·0.1` on a `rows × D` state, with two
/// extra parameters at the end it never reads.
pub fn mlp(
    rows: usize,
) -> TapeDynamics<f64, impl Fn(&mut Tape<f64>, Var, Var, Var) -> autodiff::Result<Var>> {
    mlp_generic::<f64>(rows)
}

pub fn mlp_generic<T: autodiff::Scalar + ode_solvers::Real>(
    rows: usize,
) -> TapeDynamics<T, impl Fn(&mut Tape<T>, Var, Var, Var) -> autodiff::Result<Var>> {
    TapeDynamics::new(rows, D, P_USED + 2, |tape: &mut Tape<T>, z, t, th| {
        let mut o = 0;
        let mut take = |tape: &mut Tape<T>, r: usize, c: usize| {
            let v = tape.slice_cols(th, o, r * c);
            o += r * c;
            v.and_then(|v| tape.reshape(v, r, c))
        };
        let w1 = take(tape, D, H)?;
        let c = take(tape, 1, H)?;
        let b1 = take(tape, 1, H)?;
        let w2 = take(tape, H, D)?;
        let b2 = take(tape, 1, D)?;
        let h = tape.matmul(z, w1)?;
        let ct = tape.mul(c, t)?;
        let h = tape.add(h, ct)?;
        let h = tape.add(h, b1)?;
        let h = tape.tanh(h);
        let out = tape.matmul(h, w2)?;
        let out = tape.add(out, b2)?;
        let st = tape.sin(t);
        let st = tape.mul_scalar(st, T::cast(0.1));
        let zz = tape.mul(z, st)?;
        tape.add(out, zz)
    })
}

/// Deterministic pseudo-random numbers in [-1, 1] (xorshift), for fixed test data.
pub fn pseudo_random(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// Parameters of the test MLP (moderate scale), the two unused ones included.
pub fn mlp_theta(seed: u64) -> Vec<f64> {
    pseudo_random(seed, P_USED + 2)
        .iter()
        .map(|v| 0.6 * v)
        .collect()
}

/// Largest relative difference, relative to the largest magnitude of `want`.
pub fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    got.iter()
        .zip(want)
        .fold(0.0f64, |m, (g, w)| m.max((g - w).abs()))
        / scale
}
