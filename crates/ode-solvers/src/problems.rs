//! Named classic test problems (f64), with references where a closed form exists.
//!
//! Used by the `neural-ode solve` command, the benchmarks and the conformance kit.

// Initial values are kept with the digits of their published sources.
#![allow(clippy::excessive_precision)]

/// A named initial value problem.
#[derive(Debug, Clone, Copy)]
pub struct Problem {
    /// Name, as used on the command line.
    pub name: &'static str,
    /// One-line description with the parameters.
    pub description: &'static str,
    /// Start time.
    pub t0: f64,
    /// Default end time.
    pub t1: f64,
    /// Initial state.
    pub y0: &'static [f64],
    /// Right-hand side.
    pub rhs: fn(f64, &[f64], &mut [f64]),
    /// Exact solution at `t`, where a closed form exists.
    pub exact: Option<fn(f64) -> Vec<f64>>,
}

impl Problem {
    /// State dimension.
    pub fn dim(&self) -> usize {
        self.y0.len()
    }
}

fn lorenz(_t: f64, y: &[f64], dy: &mut [f64]) {
    let (sigma, rho, beta) = (10.0, 28.0, 8.0 / 3.0);
    dy[0] = sigma * (y[1] - y[0]);
    dy[1] = y[0] * (rho - y[2]) - y[1];
    dy[2] = y[0] * y[1] - beta * y[2];
}

fn vdp(_t: f64, y: &[f64], dy: &mut [f64]) {
    let mu = 1.0;
    dy[0] = y[1];
    dy[1] = mu * (1.0 - y[0] * y[0]) * y[1] - y[0];
}

/// Mass ratio of the Arenstorf orbit (Hairer, Nørsett, Wanner I, §II.0).
pub const ARENSTORF_MU: f64 = 0.012277471;
/// Period of the Arenstorf orbit.
pub const ARENSTORF_PERIOD: f64 = 17.0652165601579625588917206249;

fn arenstorf(_t: f64, y: &[f64], dy: &mut [f64]) {
    let mu = ARENSTORF_MU;
    let mu1 = 1.0 - mu;
    // r^(3/2) as r·√r, as in Hairer's driver (`R1=R1*SQRT(R1)`): one square root instead of
    // libm's `pow`, which took most of a solve's time.
    let r1 = (y[0] + mu).powi(2) + y[1] * y[1];
    let r2 = (y[0] - mu1).powi(2) + y[1] * y[1];
    let d1 = r1 * r1.sqrt();
    let d2 = r2 * r2.sqrt();
    dy[0] = y[2];
    dy[1] = y[3];
    dy[2] = y[0] + 2.0 * y[3] - mu1 * (y[0] + mu) / d1 - mu * (y[0] - mu1) / d2;
    dy[3] = y[1] - 2.0 * y[2] - mu1 * y[1] / d1 - mu * y[1] / d2;
}

/// Dimension of [`LINEAR10`].
pub const LINEAR10_DIM: usize = 10;

/// The matrix of `linear10`, row-major: `A_ii = -(0.5 + 0.1 i)`, `A_i,i+1 = 1`,
/// `A_i+1,i = -1` (i = 0 … 9). Its symmetric part is diagonal and negative definite, so the
/// system is stable; the skew part makes it oscillate.
pub fn linear10_matrix() -> [f64; LINEAR10_DIM * LINEAR10_DIM] {
    let n = LINEAR10_DIM;
    let mut a = [0.0; LINEAR10_DIM * LINEAR10_DIM];
    for i in 0..n {
        a[i * n + i] = -(0.5 + 0.1 * i as f64);
        if i + 1 < n {
            a[i * n + i + 1] = 1.0;
            a[(i + 1) * n + i] = -1.0;
        }
    }
    a
}

fn linear10(_t: f64, y: &[f64], dy: &mut [f64]) {
    let n = LINEAR10_DIM;
    for i in 0..n {
        let mut s = -(0.5 + 0.1 * i as f64) * y[i];
        if i + 1 < n {
            s += y[i + 1];
        }
        if i > 0 {
            s -= y[i - 1];
        }
        dy[i] = s;
    }
}

fn linear10_exact(t: f64) -> Vec<f64> {
    let n = LINEAR10_DIM;
    let a: Vec<f64> = linear10_matrix().iter().map(|v| v * t).collect();
    let e = expm(&a, n);
    (0..n)
        .map(|i| (0..n).map(|j| e[i * n + j] * LINEAR10.y0[j]).sum())
        .collect()
}

fn exp_decay(_t: f64, y: &[f64], dy: &mut [f64]) {
    dy[0] = -y[0];
}

fn exp_decay_exact(t: f64) -> Vec<f64> {
    vec![(-t).exp()]
}

/// Lorenz system, σ = 10, ρ = 28, β = 8/3, y0 = (1, 0, 0), t ∈ [0, 20].
pub const LORENZ: Problem = Problem {
    name: "lorenz",
    description: "Lorenz system, sigma=10, rho=28, beta=8/3, y0=(1,0,0), t in [0,20]",
    t0: 0.0,
    t1: 20.0,
    y0: &[1.0, 0.0, 0.0],
    rhs: lorenz,
    exact: None,
};

/// Van der Pol oscillator, μ = 1, y0 = (2, 0), t ∈ [0, 20].
pub const VDP: Problem = Problem {
    name: "vdp",
    description: "Van der Pol oscillator, mu=1, y0=(2,0), t in [0,20]",
    t0: 0.0,
    t1: 20.0,
    y0: &[2.0, 0.0],
    rhs: vdp,
    exact: None,
};

/// Arenstorf orbit (restricted three-body problem), one period: returns to its start.
pub const ARENSTORF: Problem = Problem {
    name: "arenstorf",
    description: "Arenstorf orbit, mu=0.012277471, y0=(0.994,0,0,-2.00158510637908252240537862224), one period t1=17.0652165601579625588917206249",
    t0: 0.0,
    t1: ARENSTORF_PERIOD,
    y0: &[0.994, 0.0, 0.0, -2.00158510637908252240537862224],
    rhs: arenstorf,
    exact: None,
};

/// A 10-dimensional stable linear system `y' = A y` ([`linear10_matrix`]), y0 = (1, …, 1),
/// t ∈ [0, 5]; exact solution `expm(tA) y0`.
pub const LINEAR10: Problem = Problem {
    name: "linear10",
    description: "10-dim stable linear system y'=Ay, A_ii=-(0.5+0.1i), A_i,i+1=1, A_i+1,i=-1, y0=1, t in [0,5]",
    t0: 0.0,
    t1: 5.0,
    y0: &[1.0; LINEAR10_DIM],
    rhs: linear10,
    exact: Some(linear10_exact),
};

/// Exponential decay `y' = -y`, y0 = 1, t ∈ [0, 10]; exact solution `exp(-t)`.
pub const EXP_DECAY: Problem = Problem {
    name: "exp-decay",
    description: "exponential decay y'=-y, y0=1, t in [0,10]",
    t0: 0.0,
    t1: 10.0,
    y0: &[1.0],
    rhs: exp_decay,
    exact: Some(exp_decay_exact),
};

/// Every named problem.
pub const ALL: [Problem; 5] = [LORENZ, VDP, ARENSTORF, LINEAR10, EXP_DECAY];

/// Looks a problem up by name.
pub fn by_name(name: &str) -> Option<Problem> {
    ALL.into_iter().find(|p| p.name == name)
}

/// Matrix exponential of the `n × n` row-major matrix `a`, by scaling and squaring with a
/// Taylor series of degree 18 (accurate to rounding for the moderate norms used here). It is
/// independent of the Runge–Kutta code, so it serves as a reference for linear systems.
pub fn expm(a: &[f64], n: usize) -> Vec<f64> {
    assert_eq!(a.len(), n * n);
    let norm = (0..n)
        .map(|i| (0..n).map(|j| a[i * n + j].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let s = if norm > 0.5 {
        (norm / 0.5).log2().ceil() as i32
    } else {
        0
    };
    let scale = 0.5f64.powi(s);
    let x: Vec<f64> = a.iter().map(|v| v * scale).collect();
    let matmul = |p: &[f64], q: &[f64]| {
        let mut r = vec![0.0; n * n];
        for i in 0..n {
            for k in 0..n {
                let pik = p[i * n + k];
                for j in 0..n {
                    r[i * n + j] += pik * q[k * n + j];
                }
            }
        }
        r
    };
    let mut result = vec![0.0; n * n];
    let mut term = vec![0.0; n * n];
    for i in 0..n {
        result[i * n + i] = 1.0;
        term[i * n + i] = 1.0;
    }
    for k in 1..=18 {
        term = matmul(&term, &x);
        for v in term.iter_mut() {
            *v /= k as f64;
        }
        for (r, t) in result.iter_mut().zip(&term) {
            *r += t;
        }
    }
    for _ in 0..s {
        result = matmul(&result, &result);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expm_matches_closed_forms() {
        // Rotation generator: expm([[0, w], [-w, 0]] t) = [[cos, sin], [-sin, cos]].
        let w = 3.0;
        let t = 2.5;
        let e = expm(&[0.0, w * t, -w * t, 0.0], 2);
        let (s, c) = (w * t).sin_cos();
        for (got, want) in e.iter().zip([c, s, -s, c]) {
            assert!((got - want).abs() < 1e-13, "{got} vs {want}");
        }
        // Diagonal.
        let e = expm(&[-1.0, 0.0, 0.0, 2.0], 2);
        assert!((e[0] - (-1.0f64).exp()).abs() < 1e-14);
        assert!((e[3] - 2.0f64.exp()).abs() < 1e-13);
    }

    #[test]
    fn linear10_matrix_matches_rhs() {
        let a = linear10_matrix();
        let y: Vec<f64> = (0..LINEAR10_DIM).map(|i| (i as f64 * 0.7).sin()).collect();
        let mut dy = vec![0.0; LINEAR10_DIM];
        linear10(0.0, &y, &mut dy);
        for i in 0..LINEAR10_DIM {
            let want: f64 = (0..LINEAR10_DIM)
                .map(|j| a[i * LINEAR10_DIM + j] * y[j])
                .sum();
            assert!((dy[i] - want).abs() < 1e-14);
        }
    }
}
