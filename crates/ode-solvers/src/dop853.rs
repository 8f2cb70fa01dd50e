//! Dormand–Prince 8(5,3): eighth order, with a fifth- and a third-order error estimator
//! combined as in Hairer's DOP853, and a seventh-order dense output built from three extra
//! stages.
//!
//! Coefficients: J. R. Dormand, P. J. Prince, "High order embedded Runge-Kutta formulae",
//! J. Comput. Appl. Math. 7 (1981) 67-75, in the form of Hairer's DOP853 code (Hairer,
//! Nørsett, Wanner, Solving Ordinary Differential Equations I, 2nd ed. 1993, §II.10).

// Coefficients are kept with the digits of their published sources.
#![allow(clippy::excessive_precision)]

use crate::erk::{arr, comb, lincomb, Terms};
use crate::tableau::Interpolant;
use crate::{ErrorScale, OdeSystem, PiController, Real, StepReport, Stepper, Tableau};

/// Number of stages of a step (the 13th evaluation, at the new solution, is the next step's
/// first stage).
const S: usize = 12;
/// Stages including the three extra stages of the dense output (stage 13 is `f(t + h, y1)`).
const S_DENSE: usize = 16;

/// Nodes c_1 … c_16 (index 12, stage 13, is the new solution at c = 1).
pub(crate) const C: [f64; S_DENSE] = [
    0.0,
    0.526001519587677318785587544488e-01,
    0.789002279381515978178381316732e-01,
    0.118350341907227396726757197510e+00,
    0.281649658092772603273242802490e+00,
    0.333333333333333333333333333333e+00,
    0.25e+00,
    0.307692307692307692307692307692e+00,
    0.651282051282051282051282051282e+00,
    0.6e+00,
    0.857142857142857142857142857142e+00,
    1.0,
    1.0,
    0.1e+00,
    0.2e+00,
    0.777777777777777777777777777778e+00,
];

/// Rows 2 … 16 of the coefficient matrix (row `i` has `i` entries; row 13 is unused because
/// stage 13 is `f(t + h, y1)`).
pub(crate) const A: [&[f64]; S_DENSE] = [
    &[],
    &[5.26001519587677318785587544488e-2],
    &[
        1.97250569845378994544595329183e-2,
        5.91751709536136983633785987549e-2,
    ],
    &[
        2.95875854768068491816892993775e-2,
        0.0,
        8.87627564304205475450678981324e-2,
    ],
    &[
        2.41365134159266685502369798665e-1,
        0.0,
        -8.84549479328286085344864962717e-1,
        9.24834003261792003115737966543e-1,
    ],
    &[
        3.7037037037037037037037037037e-2,
        0.0,
        0.0,
        1.70828608729473871279604482173e-1,
        1.25467687566822425016691814123e-1,
    ],
    &[
        3.7109375e-2,
        0.0,
        0.0,
        1.70252211019544039314978060272e-1,
        6.02165389804559606850219397283e-2,
        -1.7578125e-2,
    ],
    &[
        3.70920001185047927108779319836e-2,
        0.0,
        0.0,
        1.70383925712239993810214054705e-1,
        1.07262030446373284651809199168e-1,
        -1.53194377486244017527936158236e-2,
        8.27378916381402288758473766002e-3,
    ],
    &[
        6.24110958716075717114429577812e-1,
        0.0,
        0.0,
        -3.36089262944694129406857109825e0,
        -8.68219346841726006818189891453e-1,
        2.75920996994467083049415600797e1,
        2.01540675504778934086186788979e1,
        -4.34898841810699588477366255144e1,
    ],
    &[
        4.77662536438264365890433908527e-1,
        0.0,
        0.0,
        -2.48811461997166764192642586468e0,
        -5.90290826836842996371446475743e-1,
        2.12300514481811942347288949897e1,
        1.52792336328824235832596922938e1,
        -3.32882109689848629194453265587e1,
        -2.03312017085086261358222928593e-2,
    ],
    &[
        -9.3714243008598732571704021658e-1,
        0.0,
        0.0,
        5.18637242884406370830023853209e0,
        1.09143734899672957818500254654e0,
        -8.14978701074692612513997267357e0,
        -1.85200656599969598641566180701e1,
        2.27394870993505042818970056734e1,
        2.49360555267965238987089396762e0,
        -3.0467644718982195003823669022e0,
    ],
    &[
        2.27331014751653820792359768449e0,
        0.0,
        0.0,
        -1.05344954667372501984066689879e1,
        -2.00087205822486249909675718444e0,
        -1.79589318631187989172765950534e1,
        2.79488845294199600508499808837e1,
        -2.85899827713502369474065508674e0,
        -8.87285693353062954433549289258e0,
        1.23605671757943030647266201528e1,
        6.43392746015763530355970484046e-1,
    ],
    // Stage 13: the new solution itself (weights b), see `B`.
    &[],
    &[
        5.61675022830479523392909219681e-2,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        2.53500210216624811088794765333e-1,
        -2.46239037470802489917441475441e-1,
        -1.24191423263816360469010140626e-1,
        1.5329179827876569731206322685e-1,
        8.20105229563468988491666602057e-3,
        7.56789766054569976138603589584e-3,
        -8.298e-3,
    ],
    &[
        3.18346481635021405060768473261e-2,
        0.0,
        0.0,
        0.0,
        0.0,
        2.83009096723667755288322961402e-2,
        5.35419883074385676223797384372e-2,
        -5.49237485713909884646569340306e-2,
        0.0,
        0.0,
        -1.08347328697249322858509316994e-4,
        3.82571090835658412954920192323e-4,
        -3.40465008687404560802977114492e-4,
        1.41312443674632500278074618366e-1,
    ],
    &[
        -4.28896301583791923408573538692e-1,
        0.0,
        0.0,
        0.0,
        0.0,
        -4.69762141536116384314449447206e0,
        7.68342119606259904184240953878e0,
        4.06898981839711007970213554331e0,
        3.56727187455281109270669543021e-1,
        0.0,
        0.0,
        0.0,
        -1.39902416515901462129418009734e-3,
        2.9475147891527723389556272149e0,
        -9.15095847217987001081870187138e0,
    ],
];

/// Eighth-order weights b_1 … b_12.
pub(crate) const B: [f64; S] = [
    5.42937341165687622380535766363e-2,
    0.0,
    0.0,
    0.0,
    0.0,
    4.45031289275240888144113950566e0,
    1.89151789931450038304281599044e0,
    -5.8012039600105847814672114227e0,
    3.1116436695781989440891606237e-1,
    -1.52160949662516078556178806805e-1,
    2.01365400804030348374776537501e-1,
    4.47106157277725905176885569043e-2,
];

/// DOP853's twelve propagating stages as a [`Tableau`] (error weights: the fifth-order
/// estimator), for code that needs the coefficients, such as differentiating through the
/// steps. [`Dop853`] itself also uses the third-order estimator and its own dense output.
pub const DOP853_TABLEAU: Tableau = Tableau {
    name: "dop853",
    citation: "J. R. Dormand, P. J. Prince, J. Comput. Appl. Math. 7 (1981) 67-75; Hairer's DOP853",
    order: 8,
    error_order: Some(7),
    c: &[
        C[0], C[1], C[2], C[3], C[4], C[5], C[6], C[7], C[8], C[9], C[10], C[11],
    ],
    a: &[
        A[0], A[1], A[2], A[3], A[4], A[5], A[6], A[7], A[8], A[9], A[10], A[11],
    ],
    b: &B,
    e: Some(&ER),
    interpolant: Interpolant::Hermite,
};

/// Third-order estimator weights (b - b̂₃ uses these on stages 1, 9 and 12).
const BHH: [(usize, f64); 3] = [
    (0, 0.244094488188976377952755905512e+00),
    (8, 0.733846688281611857341361741547e+00),
    (11, 0.220588235294117647058823529412e-01),
];

/// Fifth-order error weights e_1 … e_12.
pub(crate) const ER: [f64; S] = [
    0.1312004499419488073250102996e-01,
    0.0,
    0.0,
    0.0,
    0.0,
    -0.1225156446376204440720569753e+01,
    -0.4957589496572501915214079952e+00,
    0.1664377182454986536961530415e+01,
    -0.3503288487499736816886487290e+00,
    0.3341791187130174790297318841e+00,
    0.8192320648511571246570742613e-01,
    -0.2235530786388629525884427845e-01,
];

/// Dense-output coefficients d_{4..7, j} for stages j = 1 … 16.
const D: [[f64; S_DENSE]; 4] = [
    [
        -0.84289382761090128651353491142e+01,
        0.0,
        0.0,
        0.0,
        0.0,
        0.56671495351937776962531783590e+00,
        -0.30689499459498916912797304727e+01,
        0.23846676565120698287728149680e+01,
        0.21170345824450282767155149946e+01,
        -0.87139158377797299206789907490e+00,
        0.22404374302607882758541771650e+01,
        0.63157877876946881815570249290e+00,
        -0.88990336451333310820698117400e-01,
        0.18148505520854727256656404962e+02,
        -0.91946323924783554000451984436e+01,
        -0.44360363875948939664310572000e+01,
    ],
    [
        0.10427508642579134603413151009e+02,
        0.0,
        0.0,
        0.0,
        0.0,
        0.24228349177525818288430175319e+03,
        0.16520045171727028198505394887e+03,
        -0.37454675472269020279518312152e+03,
        -0.22113666853125306036270938578e+02,
        0.77334326684722638389603898808e+01,
        -0.30674084731089398182061213626e+02,
        -0.93321305264302278729567221706e+01,
        0.15697238121770843886131091075e+02,
        -0.31139403219565177677282850411e+02,
        -0.93529243588444783865713862664e+01,
        0.35816841486394083752465898540e+02,
    ],
    [
        0.19985053242002433820987653617e+02,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.38703730874935176555105901742e+03,
        -0.18917813819516756882830838328e+03,
        0.52780815920542364900561016686e+03,
        -0.11573902539959630126141871134e+02,
        0.68812326946963000169666922661e+01,
        -0.10006050966910838403183860980e+01,
        0.77771377980534432092869265740e+00,
        -0.27782057523535084065932004339e+01,
        -0.60196695231264120758267380846e+02,
        0.84320405506677161018159903784e+02,
        0.11992291136182789328035130030e+02,
    ],
    [
        -0.25693933462703749003312586129e+02,
        0.0,
        0.0,
        0.0,
        0.0,
        -0.15418974869023643374053993627e+03,
        -0.23152937917604549567536039109e+03,
        0.35763911791061412378285349910e+03,
        0.93405324183624310003907691704e+02,
        -0.37458323136451633156875139351e+02,
        0.10409964950896230045147246184e+03,
        0.29840293426660503123344363579e+02,
        -0.43533456590011143754432175058e+02,
        0.96324553959188282948394950600e+02,
        -0.39177261675615439165231486172e+02,
        -0.14972683625798562581422125276e+03,
    ],
];

/// The Dormand–Prince 8(5,3) stepper (Hairer's DOP853).
///
/// Its error estimate combines a fifth-order estimator `e5` and a third-order one `e3` as
/// `err = ‖e5‖² / sqrt(‖e5‖² + 0.01‖e3‖²)`, which behaves like the error of order 7; the
/// default controller is Hairer's for DOP853 (no PI term, growth within [0.333, 6]).
///
/// ```
/// use ode_solvers::{Dop853, Integrator, Options};
/// let sys = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -y[0];
/// let sol = Integrator::new(Dop853::new()).solve(&sys, 0.0, 2.0, &[1.0], &Options::default().rtol(1e-12).atol(1e-14)).unwrap();
/// assert!((sol.y_final[0] - (-2.0f64).exp()).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct Dop853<T> {
    b: Vec<T>,
    er: Vec<T>,
    e3: Vec<T>,
    d: Vec<Vec<T>>,
    /// `A` row-major with stride `S_DENSE` (row `i`: stage `i`'s input weights).
    a_flat: Vec<T>,
}

impl<T: Real> Default for Dop853<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real> Dop853<T> {
    /// Creates the stepper (coefficients converted to `T` once).
    pub fn new() -> Self {
        let conv = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();
        let mut e3: Vec<T> = conv(&B);
        for (j, w) in BHH {
            e3[j] -= T::from_f64(w);
        }
        let b = conv(&B);
        let er = conv(&ER);
        let mut a_flat = vec![T::zero(); S_DENSE * S_DENSE];
        for (i, row) in A.iter().enumerate() {
            for (l, &v) in row.iter().enumerate() {
                a_flat[i * S_DENSE + l] = T::from_f64(v);
            }
        }
        Dop853 {
            b,
            er,
            e3,
            d: D.iter().map(|r| conv(r)).collect(),
            a_flat,
        }
    }
}

/// Scratch memory of [`Dop853`]: 16 stage vectors (rows 0 and 12, the stages `f0` and
/// `f1`, unused) and a stage input.
#[derive(Debug, Clone)]
pub struct Dop853Workspace<T> {
    k: Vec<T>,
    tmp: Vec<T>,
}

/// Stage `l` of the step just taken: `f0`, `f1` (stage 13 of the dense output, at the new
/// solution) or row `l` of `k`.
#[inline(always)]
fn stage<'a, T>(l: usize, n: usize, k: &'a [T], f0: &'a [T], f1: &'a [T]) -> &'a [T] {
    match l {
        0 => f0,
        S => f1,
        _ => &k[l * n..(l + 1) * n],
    }
}

/// The positions of the non-zero entries of `row` (and their number), at compile time: each
/// stage combination of a step touches just those stages.
const fn nonzero(row: &[f64]) -> ([usize; S_DENSE], usize) {
    let mut idx = [0; S_DENSE];
    let mut m = 0;
    let mut l = 0;
    while l < row.len() {
        if row[l] != 0.0 {
            idx[m] = l;
            m += 1;
        }
        l += 1;
    }
    (idx, m)
}

/// The stages the end of a step combines: those with a non-zero weight in `b`.
const FIN: ([usize; S_DENSE], usize) = nonzero(&B);

/// Whether every non-zero of `row` is among the stages of [`FIN`].
const fn within_fin(row: &[f64]) -> bool {
    let mut l = 0;
    while l < row.len() {
        let mut found = row[l] == 0.0;
        let mut q = 0;
        while q < FIN.1 {
            found |= FIN.0[q] == l;
            q += 1;
        }
        if !found {
            return false;
        }
        l += 1;
    }
    true
}

// The two error estimates use no stage that `b` does not (the fused end of a step relies on it).
const _: () = assert!(within_fin(&ER));
const _: () = assert!(BHH[0].0 == 0 && BHH[1].0 == 8 && BHH[2].0 == 11 && within_fin(&BHH_AS_ROW));

/// [`BHH`] as a row of `S` weights.
const BHH_AS_ROW: [f64; S] = {
    let mut row = [0.0; S];
    let mut q = 0;
    while q < BHH.len() {
        row[BHH[q].0] = BHH[q].1;
        q += 1;
    }
    row
};

/// `h ·` the weights `w` of the stages of [`FIN`].
#[inline(always)]
fn er_h<T: Real>(w: &[T], ht: T) -> [T; FIN.1] {
    arr(|q| ht * w[FIN.0[q]])
}

/// The end of a step in one pass over `range`: `y1 = y0 + Σ b_q k_q` and the sums
/// `(Σ_j (e5_j/sk_j)², Σ_j (e3_j/sk_j)²)` of the two error estimates `e5 = Σ er_q k_q`,
/// `e3 = Σ e3_q k_q`, over the same `M` stages.
#[inline(always)]
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
fn finish<T: Real, const M: usize>(
    range: std::ops::Range<usize>,
    y1: &mut [T],
    y0: &[T],
    rows: &[&[T]; M],
    b: &[T; M],
    er: &[T; M],
    e3: &[T; M],
    sc: &ErrorScale<'_>,
) -> (f64, f64) {
    let len = range.len();
    let rows: [&[T]; M] = arr(|q| &rows[q][range.clone()][..len]);
    let y1 = &mut y1[range.clone()][..len];
    let y0 = &y0[range.clone()][..len];
    let atol = &sc.atol[range.clone()][..len];
    let rtol = &sc.rtol[range][..len];
    let (mut err5, mut err3) = (0.0, 0.0);
    for j in 0..len {
        let mut y = y0[j];
        let mut a5 = T::zero();
        let mut a3 = T::zero();
        for q in 0..M {
            let kq = rows[q][j];
            y += b[q] * kq;
            a5 += er[q] * kq;
            a3 += e3[q] * kq;
        }
        y1[j] = y;
        // `ErrorScale::weight`, inlined.
        let w = atol[j] + rtol[j] * y0[j].as_f64().abs().max(y.as_f64().abs());
        let a = a5.as_f64() / w;
        let b = a3.as_f64() / w;
        err5 += a * a;
        err3 += b * b;
    }
    (err5, err3)
}

impl<T: Real> Dop853<T> {
    /// One step (without the dense output's stages) for states of length `DIM` (any length
    /// when `DIM` is 0); returns the squared error norm.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn step_n<Sys: OdeSystem<T> + ?Sized, const DIM: usize>(
        &self,
        sys: &Sys,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        scale: Option<ErrorScale<'_>>,
        k: &mut [T],
        tmp: &mut [T],
    ) -> f64 {
        // With `DIM > 0` the state's length is a compile-time constant.
        let n = if DIM > 0 { DIM } else { y0.len() };
        let (y0, f0, y1) = (&y0[..n], &f0[..n], &mut y1[..n]);
        let ht = T::from_f64(h);
        let a = &self.a_flat[..S_DENSE * S_DENSE];
        let k = &mut k[..S_DENSE * n];
        let tmp = &mut tmp[..n];
        // Each stage combines just the stages its row of `A` weights (known at compile time).
        macro_rules! stages {
            ($($i:literal)*) => {$({
                const P: ([usize; S_DENSE], usize) = nonzero(A[$i]);
                const M: usize = P.1;
                let (done, rest) = k.split_at_mut($i * n);
                let coef: [T; M] = arr(|q| ht * a[$i * S_DENSE + P.0[q]]);
                let rows: [&[T]; M] = arr(|q| {
                    let l = P.0[q];
                    if l == 0 { f0 } else { &done[l * n..(l + 1) * n] }
                });
                comb(tmp, Some(y0), &coef, &rows);
                sys.rhs(t + C[$i] * h, tmp, &mut rest[..n]);
            })*};
        }
        stages!(1 2 3 4 5 6 7 8 9 10 11);
        const M: usize = FIN.1;
        let k = &k[..S_DENSE * n];
        let rows: [&[T]; M] = arr(|q| stage(FIN.0[q], n, k, f0, &[]));
        let (b, er, e3) = (&self.b[..S], &self.er[..S], &self.e3[..S]);
        let b: [T; M] = er_h(b, ht);
        match scale {
            Some(sc) => {
                let (er, e3) = (er_h(er, ht), er_h(e3, ht));
                let mut block = |r: std::ops::Range<usize>| {
                    let len = r.len();
                    let (err5, err3) = finish(r, y1, y0, &rows, &b, &er, &e3, &sc);
                    let mut deno = err5 + 0.01 * err3;
                    if deno <= 0.0 {
                        deno = 1.0;
                    }
                    // The square of `err5 / sqrt(len · deno)`: the square root is left to
                    // the caller (see `Stepper::step_err_sq`).
                    err5 * err5 / (len as f64 * deno)
                };
                if sc.groups <= 1 {
                    block(0..n)
                } else {
                    sc.combine(n, block)
                }
            }
            None => {
                comb(y1, Some(y0), &b, &rows);
                0.0
            }
        }
    }
}

impl<T: Real> Stepper<T> for Dop853<T> {
    type Workspace = Dop853Workspace<T>;

    fn name(&self) -> &'static str {
        "dop853"
    }

    fn order(&self) -> u32 {
        8
    }

    fn error_order(&self) -> Option<u32> {
        Some(7)
    }

    fn workspace(&self, dim: usize) -> Dop853Workspace<T> {
        Dop853Workspace {
            k: vec![T::zero(); S_DENSE * dim],
            tmp: vec![T::zero(); dim],
        }
    }

    fn default_controller(&self) -> PiController {
        PiController {
            safety: 0.9,
            fac_min: 0.333,
            fac_max: 6.0,
            beta: 0.0,
        }
    }

    fn step<Sys: OdeSystem<T> + ?Sized>(
        &self,
        sys: &Sys,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        f1: &mut [T],
        scale: Option<ErrorScale<'_>>,
        ws: &mut Dop853Workspace<T>,
    ) -> StepReport {
        let rep = self.step_err_sq(sys, t, h, y0, f0, y1, f1, scale, ws);
        StepReport {
            err: rep.err.sqrt(),
            ..rep
        }
    }

    fn step_err_sq<Sys: OdeSystem<T> + ?Sized>(
        &self,
        sys: &Sys,
        t: f64,
        h: f64,
        y0: &[T],
        f0: &[T],
        y1: &mut [T],
        _f1: &mut [T],
        scale: Option<ErrorScale<'_>>,
        ws: &mut Dop853Workspace<T>,
    ) -> StepReport {
        // Small states get a step with a compile-time length (fully unrolled combinations).
        macro_rules! dims {
            ($($d:literal)*) => {
                match y0.len() {
                    $($d => self.step_n::<Sys, $d>(sys, t, h, y0, f0, y1, scale, &mut ws.k, &mut ws.tmp),)*
                    _ => self.step_n::<Sys, 0>(sys, t, h, y0, f0, y1, scale, &mut ws.k, &mut ws.tmp),
                }
            };
        }
        let err = dims!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
        StepReport {
            nfe: S - 1,
            f1_valid: false,
            err,
        }
    }

    fn dense_order(&self) -> u32 {
        7
    }

    fn dense_vectors(&self) -> usize {
        8
    }

    fn dense_prepare<Sys: OdeSystem<T> + ?Sized>(
        &self,
        sys: &Sys,
        t: f64,
        h: f64,
        y0: &[T],
        y1: &[T],
        f0: &[T],
        f1: &[T],
        ws: &mut Dop853Workspace<T>,
        data: &mut [T],
    ) -> usize {
        let n = y0.len();
        let ht = T::from_f64(h);
        let k = &mut ws.k[..S_DENSE * n];
        let tmp = &mut ws.tmp[..];
        for (i, &ci) in C.iter().enumerate().skip(S + 1) {
            let (done, rest) = k.split_at_mut(i * n);
            let mut terms = Terms::new();
            for (l, &al) in self.a_flat[i * S_DENSE..i * S_DENSE + i].iter().enumerate() {
                terms.push(ht * al, stage(l, n, done, f0, f1));
            }
            lincomb(tmp, Some(y0), &terms);
            sys.rhs(t + ci * h, tmp, &mut rest[..n]);
        }
        let k = &ws.k[..S_DENSE * n];
        let (head, tail) = data.split_at_mut(4 * n);
        for (m, dm) in self.d.iter().enumerate() {
            let mut terms = Terms::new();
            for (l, &v) in dm.iter().enumerate() {
                terms.push(ht * v, stage(l, n, k, f0, f1));
            }
            lincomb(&mut tail[m * n..(m + 1) * n], None, &terms);
        }
        let (r1, rest) = head.split_at_mut(n);
        let (r2, rest) = rest.split_at_mut(n);
        let (r3, r4) = rest.split_at_mut(n);
        for i in 0..n {
            let dy = y1[i] - y0[i];
            let bspl = ht * f0[i] - dy;
            r1[i] = y0[i];
            r2[i] = dy;
            r3[i] = bspl;
            r4[i] = dy - ht * f1[i] - bspl;
        }
        S_DENSE - S - 1
    }

    fn dense_eval(&self, theta: f64, _h: f64, data: &[T], out: &mut [T]) {
        let n = out.len();
        let s = T::from_f64(theta);
        let s1 = T::one() - s;
        for i in 0..n {
            let r = |m: usize| data[m * n + i];
            out[i] = r(0)
                + s * (r(1)
                    + s1 * (r(2) + s * (r(3) + s1 * (r(4) + s * (r(5) + s1 * (r(6) + s * r(7)))))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_to_nodes_and_weights_are_consistent() {
        for (i, row) in A.iter().enumerate() {
            if i == S {
                continue;
            }
            let sum: f64 = row.iter().sum();
            assert!((sum - C[i]).abs() < 1e-13, "row {i}: {sum} vs {}", C[i]);
        }
        assert!((B.iter().sum::<f64>() - 1.0).abs() < 1e-13);
        assert!(ER.iter().sum::<f64>().abs() < 1e-13);
        let bhh: f64 = BHH.iter().map(|&(_, w)| w).sum();
        assert!((bhh - 1.0).abs() < 1e-13);
        DOP853_TABLEAU.check().unwrap();
        assert!(!DOP853_TABLEAU.is_fsal());
    }
}
