//! Every operation's values against an independent computation, and its gradient against central
//! finite differences (f64, relative error below 1e-6, inputs kept away from kinks).

use autodiff::{Tape, Var};
use nalgebra::DMatrix;
use proptest::prelude::*;

use crate::common::{assert_close, check_gradients, config, mat, mat_away_from_zero, shape};

const TOL: f64 = 1e-6;

/// Input range (low, high), gap kept around zero, and the reference function.
type Domain = (f64, f64, f64, fn(f64) -> f64);

/// Shape of an operand broadcast to `(r, c)` in one of four ways.
fn bshape((r, c): (usize, usize), mode: u8) -> (usize, usize) {
    match mode {
        0 => (r, c),
        1 => (1, c),
        2 => (r, 1),
        _ => (1, 1),
    }
}

/// Reference broadcast: the operand repeated to `(r, c)`.
fn expand(m: &DMatrix<f64>, r: usize, c: usize) -> DMatrix<f64> {
    DMatrix::from_fn(r, c, |i, j| {
        m[(
            if m.nrows() == 1 { 0 } else { i },
            if m.ncols() == 1 { 0 } else { j },
        )]
    })
}

fn binary_case() -> impl Strategy<Value = (u8, DMatrix<f64>, DMatrix<f64>)> {
    (shape(4), 0u8..4, 0u8..4, 0u8..4).prop_flat_map(|(s, op, ma, mb)| {
        let (sa, sb) = (bshape(s, ma), bshape(s, mb));
        // Divisors kept away from zero.
        (
            Just(op),
            mat(sa.0, sa.1, -2.0, 2.0),
            mat_away_from_zero(sb.0, sb.1, 2.0, 0.5),
        )
    })
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn binary_broadcasting((op, a, b) in binary_case()) {
        let f = move |t: &mut Tape<f64>, v: &[Var]| match op {
            0 => t.add(v[0], v[1]),
            1 => t.sub(v[0], v[1]),
            2 => t.mul(v[0], v[1]),
            _ => t.div(v[0], v[1]),
        };
        // Values against the explicitly expanded reference.
        let r = a.nrows().max(b.nrows());
        let c = a.ncols().max(b.ncols());
        let (ea, eb) = (expand(&a, r, c), expand(&b, r, c));
        let expected = match op {
            0 => &ea + &eb,
            1 => &ea - &eb,
            2 => ea.component_mul(&eb),
            _ => ea.component_div(&eb),
        };
        let mut tape = Tape::new();
        let vars = [tape.leaf(&a), tape.leaf(&b)];
        let y = f(&mut tape, &vars).unwrap();
        assert_close(tape.value(y), &expected, 1e-14);
        check_gradients(&f, &[a, b], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn scalar_constant_ops(a in shape(4).prop_flat_map(|(r, c)| mat(r, c, -2.0, 2.0)), which in 0u8..6, k in 0.5f64..3.0) {
        let f = move |t: &mut Tape<f64>, v: &[Var]| Ok(match which {
            0 => t.add_scalar(v[0], k),
            1 => t.sub_scalar(v[0], k),
            2 => t.scalar_sub(k, v[0]),
            3 => t.mul_scalar(v[0], k),
            4 => t.div_scalar(v[0], k),
            _ => t.neg(v[0]),
        });
        let expected = a.map(|x| match which {
            0 => x + k,
            1 => x - k,
            2 => k - x,
            3 => k * x,
            4 => x / k,
            _ => -x,
        });
        let mut tape = Tape::new();
        let x = tape.leaf(&a);
        let y = f(&mut tape, &[x]).unwrap();
        assert_close(tape.value(y), &expected, 1e-14);
        check_gradients(&f, &[a], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn elementwise_functions(which in 0usize..13, (r, c) in shape(4), seed in any::<u64>()) {
        // (domain low, high, away-from-zero gap, reference)
        let refs: [Domain; 13] = [
            (-3.0, 3.0, 0.0, f64::tanh),
            (-6.0, 6.0, 0.0, |x| 1.0 / (1.0 + (-x).exp())),
            (-2.0, 2.0, 0.1, |x| x.max(0.0)),
            (-6.0, 6.0, 0.0, |x| (1.0 + x.exp()).ln()),
            (-2.0, 2.0, 0.1, |x| if x > 0.0 { x } else { 0.7 * (x.exp() - 1.0) }),
            (-2.0, 2.0, 0.0, f64::exp),
            (0.3, 3.0, 0.0, f64::ln),
            (0.3, 3.0, 0.0, f64::sqrt),
            (-2.0, 2.0, 0.0, |x| x * x),
            (-2.0, 2.0, 0.0, f64::sin),
            (-2.0, 2.0, 0.0, f64::cos),
            (-2.0, 2.0, 0.1, f64::abs),
            (0.5, 2.0, 0.0, |x| x.powi(3)),
        ];
        let (lo, hi, gap, reference) = refs[which];
        let mut rng = seed;
        let a = DMatrix::from_fn(r, c, |_, _| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
            let x = lo + (hi - lo) * u;
            if x.abs() < gap { x.signum() * gap + x } else { x }
        });
        let f = move |t: &mut Tape<f64>, v: &[Var]| Ok(match which {
            0 => t.tanh(v[0]),
            1 => t.sigmoid(v[0]),
            2 => t.relu(v[0]),
            3 => t.softplus(v[0]),
            4 => t.elu(v[0], 0.7),
            5 => t.exp(v[0]),
            6 => t.log(v[0]),
            7 => t.sqrt(v[0]),
            8 => t.square(v[0]),
            9 => t.sin(v[0]),
            10 => t.cos(v[0]),
            11 => t.abs(v[0]),
            _ => t.powi(v[0], 3),
        });
        let mut tape = Tape::new();
        let x = tape.leaf(&a);
        let y = f(&mut tape, &[x]).unwrap();
        assert_close(tape.value(y), &a.map(reference), 1e-13);
        check_gradients(&f, &[a], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn powi_all_exponents(a in shape(3).prop_flat_map(|(r, c)| mat(r, c, 0.5, 2.0)), n in -3i32..=4) {
        let f = move |t: &mut Tape<f64>, v: &[Var]| Ok(t.powi(v[0], n));
        check_gradients(&f, &[a], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn matmul_with_transposes((m, k, n) in (1usize..6, 1usize..6, 1usize..8), ta in any::<bool>(), tb in any::<bool>(), seed in 0u64..1000) {
        let sa = if ta { (k, m) } else { (m, k) };
        let sb = if tb { (n, k) } else { (k, n) };
        let gen = |r: usize, c: usize, s: f64| DMatrix::from_fn(r, c, |i, j| ((i * 5 + j * 11) as f64 * 0.61 + s).sin());
        let a = gen(sa.0, sa.1, seed as f64);
        let b = gen(sb.0, sb.1, seed as f64 + 0.5);
        let f = move |t: &mut Tape<f64>, v: &[Var]| t.matmul_t(v[0], ta, v[1], tb);
        let oa = if ta { a.transpose() } else { a.clone() };
        let ob = if tb { b.transpose() } else { b.clone() };
        let mut tape = Tape::new();
        let vars = [tape.leaf(&a), tape.leaf(&b)];
        let y = f(&mut tape, &vars).unwrap();
        assert_close(tape.value(y), &(oa * ob), 1e-13);
        check_gradients(&f, &[a, b], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn reductions(a in shape(5).prop_flat_map(|(r, c)| mat(r, c, -2.0, 2.0)), which in 0u8..7) {
        let f = move |t: &mut Tape<f64>, v: &[Var]| Ok(match which {
            0 => t.sum(v[0]),
            1 => t.mean(v[0]),
            2 => t.row_sums(v[0]),
            3 => t.row_means(v[0]),
            4 => t.col_sums(v[0]),
            5 => t.col_means(v[0]),
            _ => t.transpose(v[0]),
        });
        let (r, c) = a.shape();
        let expected = match which {
            0 => DMatrix::from_element(1, 1, a.sum()),
            1 => DMatrix::from_element(1, 1, a.sum() / (r * c) as f64),
            2 => DMatrix::from_fn(r, 1, |i, _| a.row(i).sum()),
            3 => DMatrix::from_fn(r, 1, |i, _| a.row(i).sum() / c as f64),
            4 => DMatrix::from_fn(1, c, |_, j| a.column(j).sum()),
            5 => DMatrix::from_fn(1, c, |_, j| a.column(j).sum() / r as f64),
            _ => a.transpose(),
        };
        let mut tape = Tape::new();
        let x = tape.leaf(&a);
        let y = f(&mut tape, &[x]).unwrap();
        assert_close(tape.value(y), &expected, 1e-14);
        check_gradients(&f, &[a], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn softmax_family(a in shape(5).prop_flat_map(|(r, c)| mat(r, c, -4.0, 4.0)), which in 0u8..3) {
        let f = move |t: &mut Tape<f64>, v: &[Var]| Ok(match which {
            0 => t.log_sum_exp(v[0]),
            1 => t.row_log_sum_exp(v[0]),
            _ => t.log_softmax(v[0]),
        });
        let (r, c) = a.shape();
        let row_lse = |i: usize| a.row(i).iter().map(|x| x.exp()).sum::<f64>().ln();
        let expected = match which {
            0 => DMatrix::from_element(1, 1, a.iter().map(|x| x.exp()).sum::<f64>().ln()),
            1 => DMatrix::from_fn(r, 1, |i, _| row_lse(i)),
            _ => DMatrix::from_fn(r, c, |i, j| a[(i, j)] - row_lse(i)),
        };
        let mut tape = Tape::new();
        let x = tape.leaf(&a);
        let y = f(&mut tape, &[x]).unwrap();
        assert_close(tape.value(y), &expected, 1e-13);
        check_gradients(&f, &[a], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn cross_entropy((logits, p) in shape(5).prop_flat_map(|(r, c)| (mat(r, c, -4.0, 4.0), mat(r, c, 0.1, 1.0)))) {
        // Targets: rows normalized to probability distributions; gradients w.r.t. both inputs.
        let p = DMatrix::from_fn(p.nrows(), p.ncols(), |i, j| p[(i, j)] / p.row(i).sum());
        let f = |t: &mut Tape<f64>, v: &[Var]| t.softmax_cross_entropy(v[0], v[1]);
        let (r, c) = logits.shape();
        let mut expected = 0.0;
        for i in 0..r {
            let lse = logits.row(i).iter().map(|x| x.exp()).sum::<f64>().ln();
            for j in 0..c {
                expected -= p[(i, j)] * (logits[(i, j)] - lse);
            }
        }
        expected /= r as f64;
        let mut tape = Tape::new();
        let vars = [tape.leaf(&logits), tape.leaf(&p)];
        let y = f(&mut tape, &vars).unwrap();
        prop_assert!((tape.scalar_value(y).unwrap() - expected).abs() < 1e-12);
        check_gradients(&f, &[logits, p], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn structure_ops(((r, c), extra) in (shape(4), 1usize..4), which in 0u8..6, seed in 0u64..100) {
        let gen = |r: usize, c: usize, s: f64| DMatrix::from_fn(r, c, |i, j| ((i * 3 + j * 7) as f64 * 0.77 + s).cos());
        let a = gen(r, c, seed as f64);
        let (b, expected_shape) = match which {
            0 => (gen(extra, c, 1.0), (r + extra, c)),
            1 => (gen(r, extra, 2.0), (r, c + extra)),
            _ => (gen(1, 1, 0.0), (0, 0)),
        };
        let f = move |t: &mut Tape<f64>, v: &[Var]| match which {
            0 => t.concat_rows(v[0], v[1]),
            1 => t.concat_cols(v[0], v[1]),
            2 => t.slice(v[0], r / 2, c / 2, r - r / 2, c - c / 2),
            3 => t.reshape(v[0], c, r),
            // A block of consecutive elements taken as a matrix (fan-out: read twice).
            5 => {
                let n = (r * c).saturating_sub(1).max(1);
                let x = t.flat_slice(v[0], r * c - n, n, 1)?;
                let y = t.flat_slice(v[0], 0, 1, n)?;
                let p = t.matmul(x, y)?;
                Ok(t.row_sums(p))
            }
            _ => {
                // Slices read twice (fan-out into one input through two blocks).
                let top = t.slice_rows(v[0], 0, 1)?;
                let left = t.slice_cols(v[0], 0, 1)?;
                let p = t.matmul(left, top)?;
                t.mul(p, v[1])
            }
        };
        let mut tape = Tape::new();
        let vars = [tape.leaf(&a), tape.leaf(&b)];
        let y = f(&mut tape, &vars).unwrap();
        let value = tape.value(y).clone();
        match which {
            0 | 1 => {
                prop_assert_eq!(value.shape(), expected_shape);
                let lower = if which == 0 { value.rows(r, extra).into_owned() } else { value.columns(c, extra).into_owned() };
                prop_assert_eq!(lower, b.clone());
                let upper = if which == 0 { value.rows(0, r).into_owned() } else { value.columns(0, c).into_owned() };
                prop_assert_eq!(upper, a.clone());
            }
            2 => prop_assert_eq!(value, a.view((r / 2, c / 2), (r - r / 2, c - c / 2)).into_owned()),
            3 => prop_assert_eq!(value.as_slice(), a.as_slice()),
            5 => {
                // Row i of x y summed over columns: a[r·c - n + i] · Σ_{j < n} a[j].
                let n = (r * c).saturating_sub(1).max(1);
                let total: f64 = a.as_slice()[..n].iter().sum();
                prop_assert_eq!(value.shape(), (n, 1));
                for i in 0..n {
                    let want = a.as_slice()[r * c - n + i] * total;
                    prop_assert!((value[i] - want).abs() < 1e-12);
                }
            }
            _ => {}
        }
        check_gradients(&f, &[a, b], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn affine_matches_matmul_plus_bias(m in 1usize..9, k in 1usize..9, n in 1usize..9, full in any::<bool>(), seed in 0u64..1000) {
        // Sizes up to 8 cross the threshold (5) between the small-product loop and faer.
        let gen = |r: usize, c: usize, s: f64| DMatrix::from_fn(r, c, |i, j| ((i * 7 + j * 3) as f64 * 0.53 + s).sin());
        let s = seed as f64;
        let x = gen(m, k, s);
        let w = gen(k, n, s + 1.0);
        let b = gen(if full { m } else { 1 }, n, s + 2.0);
        // Independent value: the product by nalgebra plus the bias broadcast by hand.
        let mut expected = &x * &w;
        for i in 0..m {
            for j in 0..n {
                expected[(i, j)] += b[(if full { i } else { 0 }, j)];
            }
        }
        let mut tape = Tape::new();
        let vars = [tape.leaf(&x), tape.leaf(&w), tape.leaf(&b)];
        let y = tape.affine(vars[0], vars[1], vars[2]).unwrap();
        prop_assert!((tape.value(y) - &expected).amax() < 1e-12);
        // Fan-out: the output is used twice, and x also feeds the loss directly.
        let f = |t: &mut Tape<f64>, v: &[Var]| {
            let y = t.affine(v[0], v[1], v[2])?;
            let y = t.tanh(y);
            let q = t.mul(y, y)?;
            let l = t.sum(q);
            let lx = t.sum(v[0]);
            t.add(l, lx)
        };
        check_gradients(&f, &[x, w, b], TOL).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn mlp_composite(batch in 1usize..5, seed in 0u64..1000) {
        // x (B x 3) -> tanh(x W1 + b1) (B x 4) -> softplus(.. W2 + b2) -> log_softmax -> mean.
        let gen = |r: usize, c: usize, s: f64| DMatrix::from_fn(r, c, |i, j| 0.8 * ((i * 13 + j * 5) as f64 * 0.41 + s).sin());
        let s = seed as f64;
        let inputs = [gen(batch, 3, s), gen(3, 4, s + 1.0), gen(1, 4, s + 2.0), gen(4, 2, s + 3.0), gen(1, 2, s + 4.0)];
        let f = |t: &mut Tape<f64>, v: &[Var]| {
            let h = t.matmul(v[0], v[1])?;
            let h = t.add(h, v[2])?;
            let h = t.tanh(h);
            let o = t.matmul(h, v[3])?;
            let o = t.add(o, v[4])?;
            let o = t.softplus(o);
            let o = t.log_softmax(o);
            Ok(t.mean(o))
        };
        check_gradients(&f, &inputs, TOL).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn large_matmul_with_transposes() {
    // Every dimension above 5: the product goes through faer's gemm.
    let (m, k, n) = (7, 9, 8);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let sa = if ta { (k, m) } else { (m, k) };
        let sb = if tb { (n, k) } else { (k, n) };
        let a = DMatrix::from_fn(sa.0, sa.1, |i, j| ((i * 5 + j * 11) as f64 * 0.61).sin());
        let b = DMatrix::from_fn(sb.0, sb.1, |i, j| ((i * 3 + j * 7) as f64 * 0.29).cos());
        let f = move |t: &mut Tape<f64>, v: &[Var]| t.matmul_t(v[0], ta, v[1], tb);
        let oa = if ta { a.transpose() } else { a.clone() };
        let ob = if tb { b.transpose() } else { b.clone() };
        let mut tape = Tape::new();
        let vars = [tape.leaf(&a), tape.leaf(&b)];
        let y = f(&mut tape, &vars).unwrap();
        assert_close(tape.value(y), &(oa * ob), 1e-13);
        check_gradients(&f, &[a, b], TOL).unwrap();
    }
}
