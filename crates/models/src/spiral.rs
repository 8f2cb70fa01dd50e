//! The spiral task of the paper's introductory demonstration (torchdiffeq's `ode_demo.py`):
//! learn the dynamics `dy/dt = (y³) A`, `A = [[-0.1, 2.0], [-2.0, -0.1]]`, from one trajectory.
//!
//! The data set is built in (no download): the true trajectory from `y0 = (2, 0)` at 1000
//! evenly spaced times on `[0, 25]`, solved with DOP853 at rtol = atol = 1e-12.

use ode_solvers::{Method, Options, SaveAt, SolveFailure};
use rand::Rng;

/// The true dynamics matrix.
pub const TRUE_A: [[f64; 2]; 2] = [[-0.1, 2.0], [-2.0, -0.1]];
/// The true initial state.
pub const TRUE_Y0: [f64; 2] = [2.0, 0.0];
/// Number of time points.
pub const DATA_SIZE: usize = 1000;
/// End of the time span.
pub const T_END: f64 = 25.0;

/// The true right-hand side `(y³) A` (cube elementwise, then the row vector times `A`).
pub fn true_rhs(_t: f64, y: &[f64], dy: &mut [f64]) {
    let (a, b) = (y[0].powi(3), y[1].powi(3));
    dy[0] = a * TRUE_A[0][0] + b * TRUE_A[1][0];
    dy[1] = a * TRUE_A[0][1] + b * TRUE_A[1][1];
}

/// The built-in spiral data set.
#[derive(Debug, Clone, PartialEq)]
pub struct SpiralData {
    /// The 1000 times, evenly spaced on `[0, 25]`.
    pub t: Vec<f64>,
    /// The true states, two values per time.
    pub y: Vec<f64>,
}

/// A minibatch: windows of consecutive times, each integrated from its first true point.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// The window's times relative to its start (`batch_time` values; the same for all
    /// windows because the times are evenly spaced).
    pub t: Vec<f64>,
    /// Initial states, two values per window.
    pub y0: Vec<f64>,
    /// Targets `[time][window][2]`, flattened.
    pub y: Vec<f64>,
    /// The windows' start indices.
    pub starts: Vec<usize>,
}

impl SpiralData {
    /// Solves the true dynamics.
    ///
    /// # Errors
    /// Only if the solver fails, which does not happen for these fixed settings.
    pub fn generate() -> Result<SpiralData, SolveFailure<f64>> {
        let t: Vec<f64> = (0..DATA_SIZE)
            .map(|i| T_END * i as f64 / (DATA_SIZE - 1) as f64)
            .collect();
        let opts = Options::default()
            .rtol(1e-12)
            .atol(1e-12)
            .save_at(SaveAt::Times(t.clone()))
            .max_steps(1_000_000);
        let sol = Method::Dop853.solve(&true_rhs, 0.0, T_END, &TRUE_Y0, &opts)?;
        Ok(SpiralData { t, y: sol.y })
    }

    /// The true state at index `i`.
    pub fn state(&self, i: usize) -> [f64; 2] {
        [self.y[2 * i], self.y[2 * i + 1]]
    }

    /// Draws `batch_size` distinct window starts uniformly from `0 .. DATA_SIZE - batch_time`
    /// and returns the windows (as torchdiffeq's `get_batch`).
    pub fn batch(&self, rng: &mut impl Rng, batch_size: usize, batch_time: usize) -> Batch {
        let range = self.t.len() - batch_time;
        let starts = rand::seq::index::sample(rng, range, batch_size.min(range)).into_vec();
        let t: Vec<f64> = (0..batch_time).map(|i| self.t[i] - self.t[0]).collect();
        let y0: Vec<f64> = starts.iter().flat_map(|&s| self.state(s)).collect();
        let mut y = Vec::with_capacity(batch_time * starts.len() * 2);
        for i in 0..batch_time {
            for &s in &starts {
                y.extend_from_slice(&self.state(s + i));
            }
        }
        Batch { t, y0, y, starts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn data_matches_an_independent_solve_and_spirals_inward() {
        let d = SpiralData::generate().unwrap();
        assert_eq!(d.t.len(), DATA_SIZE);
        assert_eq!(d.y.len(), 2 * DATA_SIZE);
        assert_eq!(d.state(0), TRUE_Y0);
        // Cross-check one point with a different method at a tight tolerance.
        let other = Method::Tsit5
            .solve(
                &true_rhs,
                0.0,
                d.t[500],
                &TRUE_Y0,
                &Options::default()
                    .rtol(1e-12)
                    .atol(1e-12)
                    .max_steps(1_000_000),
            )
            .unwrap();
        let s = d.state(500);
        assert!((other.y_final[0] - s[0]).abs() < 1e-8 && (other.y_final[1] - s[1]).abs() < 1e-8);
        // The damping pulls the orbit inward: |y| shrinks.
        let r = |p: [f64; 2]| (p[0] * p[0] + p[1] * p[1]).sqrt();
        assert!(r(d.state(999)) < r(d.state(0)));
    }

    #[test]
    fn batches_are_windows_of_the_trajectory() {
        let d = SpiralData::generate().unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let b = d.batch(&mut rng, 20, 10);
        assert_eq!(b.starts.len(), 20);
        assert_eq!(b.t.len(), 10);
        assert!((b.t[1] - 25.0 / 999.0).abs() < 1e-12);
        let mut sorted = b.starts.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
        for (w, &s) in b.starts.iter().enumerate() {
            assert!(s < DATA_SIZE - 10);
            assert_eq!(&b.y0[2 * w..2 * w + 2], &d.state(s));
            assert_eq!(
                &b.y[(9 * 20 + w) * 2..(9 * 20 + w) * 2 + 2],
                &d.state(s + 9)
            );
        }
        // Same seed, same batch.
        let mut rng2 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        assert_eq!(d.batch(&mut rng2, 20, 10), b);
    }
}
