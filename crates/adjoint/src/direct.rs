//! `Direct` and `Checkpointed` gradients: backpropagation through the Runge–Kutta stages of
//! every accepted step, with the step sizes as taken.
//!
//! One step of an explicit method with tableau `(c, A, b)` from `(t, y0)` with size `h` is
//! ```text
//! Y_i = y0 + h Σ_{j<i} a_ij k_j,   k_i = f(Y_i, t + c_i h, θ),   y1 = y0 + h Σ_i b_i k_i.
//! ```
//! Its reverse sweep, from the cotangent `ȳ1`:
//! ```text
//! k̄_i = h b_i ȳ1,  h̄ = Σ_i b_i k_i·ȳ1,  ȳ0 = ȳ1,
//! for i = s-1 … 0:  (Ȳ_i, θ̄_i, T̄_i) = vjp of f at (Y_i, t + c_i h) with cotangent k̄_i,
//!                   ȳ0 += Ȳ_i,  θ̄ += θ̄_i,  t̄ += T̄_i,  h̄ += c_i T̄_i,
//!                   k̄_j += h a_ij Ȳ_i,  h̄ += a_ij k_j·Ȳ_i   (j < i).
//! ```
//! Within the interval `[t_{i-1}, t_i]` the steps start at `t_{i-1} + Σ_{j<k} h_j` with the
//! `h_j` constants, except the last, `h_{m-1} = t_i - t_{m-1}`, which lands on `t_i`; so
//! `dL/dt_{i-1} += Σ_k t̄_k - h̄_{m-1}` and `dL/dt_i += h̄_{m-1}`.

use ode_solvers::{Real, Stepper, Tableau};

use crate::odeint::{Gradients, Steps, Trajectory};
use crate::revolve::{Action, Schedule};
use crate::{AdjointError, Dynamics, GradStats, Pass, PassStats, Result};

/// The steps of one interval `[t_{i-1}, t_i]` and the states kept of them.
#[derive(Debug, Clone)]
pub(crate) struct Interval<T> {
    /// Step boundaries: `times[0] = t_{i-1}`, `times[m] = t_i`.
    pub(crate) times: Vec<f64>,
    /// Positions (step indices, ascending, starting with 0, all `< m`) of the kept states.
    pub(crate) positions: Vec<usize>,
    /// The kept states, `positions.len() × dim`.
    pub(crate) states: Vec<T>,
}

impl<T> Interval<T> {
    /// The steps `[start, end)` of segment `r`: from the `r`-th kept state to the next, or to
    /// the interval's end.
    fn segment(&self, r: usize) -> (usize, usize) {
        let end = self.positions.get(r + 1).copied();
        (self.positions[r], end.unwrap_or(self.times.len() - 1))
    }
}

/// Records step times and checkpoints during the forward pass (through an event function that
/// sees every accepted step).
///
/// The budget `M` is the most states the checkpointing holds at once, forward checkpoints and
/// the backward pass's recomputed states together. When the step count is known in advance
/// (fixed steps), the checkpoints go where the first sweep of the binomial schedule with `M`
/// free slots holds its states ([`Schedule::first_sweep`]), so that the backward pass
/// continues that schedule and the whole gradient advances the fewest steps possible in `M`
/// states. Otherwise (adaptive steps) `M / 2` checkpoints are kept evenly spaced by a doubling
/// stride (between `M / 4` and `M / 2` of them remain), and each segment is reversed with the
/// slots left.
pub(crate) struct Checkpoints<T> {
    budget: usize,
    dim: usize,
    /// The global step indices of the checkpoints, when the step count is known; the next one
    /// to store is `planned[next_planned]`.
    planned: Option<Vec<usize>>,
    next_planned: usize,
    stride: usize,
    global: usize,
    interval: usize,
    pos: Option<usize>,
    times: Vec<Vec<f64>>,
    /// (interval, position, global step index)
    entries: Vec<(usize, usize, usize)>,
    states: Vec<T>,
}

impl<T: Real> Checkpoints<T> {
    pub(crate) fn new(budget: usize, dim: usize) -> Self {
        Checkpoints {
            budget,
            dim,
            planned: None,
            next_planned: 0,
            stride: 1,
            global: 0,
            interval: 0,
            pos: None,
            times: Vec::new(),
            entries: Vec::new(),
            states: Vec::new(),
        }
    }

    /// For a solve whose number of steps is known in advance (fixed steps): the checkpoints go
    /// where the binomial schedule's first sweep holds its states. If more steps come than
    /// expected, the ones after the last planned checkpoint get none (the backward pass still
    /// reverses them within the budget, advancing more).
    pub(crate) fn expect_steps(&mut self, steps: usize) {
        if self.budget > 0 {
            self.planned = Some(Schedule::first_sweep(steps, self.budget));
        }
    }

    pub(crate) fn start_interval(&mut self, i: usize) {
        self.interval = i;
        self.pos = None;
        self.times.push(Vec::new());
    }

    /// Called at the interval's start and after every accepted step.
    pub(crate) fn see(&mut self, t: f64, y: &[T]) {
        self.times[self.interval].push(t);
        let pos = match self.pos {
            None => {
                self.pos = Some(0);
                return;
            }
            Some(p) => p + 1,
        };
        self.pos = Some(pos);
        self.global += 1;
        if let Some(plan) = &self.planned {
            if plan.get(self.next_planned) == Some(&self.global) {
                if self.states.capacity() == 0 {
                    // The planned states and the observed state `finish` puts in front.
                    self.states.reserve_exact((plan.len() + 1) * self.dim);
                }
                self.next_planned += 1;
                self.entries.push((self.interval, pos, self.global));
                self.states.extend_from_slice(y);
            }
            return;
        }
        let budget = self.budget / 2;
        if budget == 0 || !self.global.is_multiple_of(self.stride) {
            return;
        }
        self.entries.push((self.interval, pos, self.global));
        if self.states.capacity() == 0 {
            // Room for the most states ever held (the budget and one before thinning) and the
            // observed state `finish` puts in front, so that the store never grows by doubling.
            self.states.reserve_exact((budget + 2) * self.dim);
        }
        self.states.extend_from_slice(y);
        if self.entries.len() > budget {
            // Double the stride and keep the entries on it.
            self.stride *= 2;
            let n = self.dim;
            let mut w = 0;
            for r in 0..self.entries.len() {
                if self.entries[r].2.is_multiple_of(self.stride) {
                    self.entries[w] = self.entries[r];
                    self.states.copy_within(r * n..(r + 1) * n, w * n);
                    w += 1;
                }
            }
            self.entries.truncate(w);
            self.states.truncate(w * n);
        }
    }

    /// Splits the record into intervals; each starts with its observed state.
    pub(crate) fn finish(mut self, zs: &[T], ts: &[f64]) -> Vec<Interval<T>> {
        let n = self.dim;
        if self.times.len() == 1 {
            // One interval: its states are the record's own, with the observed one put in
            // front in place (no second copy of the checkpoints is ever held).
            let mut times = self.times.pop().expect("one interval");
            let m = times.len() - 1;
            times[m] = ts[1];
            let kept = self.entries.iter().take_while(|e| e.1 < m).count();
            let mut positions = Vec::with_capacity(kept + 1);
            positions.push(0);
            positions.extend(self.entries[..kept].iter().map(|e| e.1));
            let mut states = std::mem::take(&mut self.states);
            states.truncate(kept * n);
            states.splice(0..0, zs[..n].iter().copied());
            // Fewer than reserved may be left (the doubling thinned them, or the plan reached
            // past the last step): give the rest back.
            states.shrink_to_fit();
            return vec![Interval {
                times,
                positions,
                states,
            }];
        }
        let mut out: Vec<Interval<T>> = self
            .times
            .into_iter()
            .enumerate()
            .map(|(i, mut times)| {
                let m = times.len() - 1;
                times[m] = ts[i + 1];
                Interval {
                    times,
                    positions: vec![0],
                    states: zs[i * n..(i + 1) * n].to_vec(),
                }
            })
            .collect();
        for (r, &(i, pos, _)) in self.entries.iter().enumerate() {
            let iv = &mut out[i];
            if pos < iv.times.len() - 1 {
                iv.positions.push(pos);
                iv.states
                    .extend_from_slice(&self.states[r * n..(r + 1) * n]);
            }
        }
        out
    }
}

/// A tableau's coefficients in `T`, and the buffers to replay and backpropagate one step.
struct Replay<T> {
    s: usize,
    n: usize,
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    /// Whether stage `i` influences `y1` (directly or through later stages).
    needed: Vec<bool>,
    /// Whether `k_i` enters the input of a later needed stage. A needed stage that feeds none
    /// (the last one, at least) is not evaluated when backpropagating: its vector–Jacobian
    /// product returns `k_i` as well.
    feeds: Vec<bool>,
    /// `ȳ1` of the step being backpropagated.
    ybar1: Vec<T>,
    k: Vec<T>,
    ys: Vec<T>,
    kbar: Vec<T>,
    ybar_stage: Vec<T>,
    f: Vec<T>,
    thbar: Vec<T>,
    nfe: usize,
    vjps: usize,
}

/// `Σ x_i y_i` in f64: the products in 8 interleaved lanes (element `i` into lane `i mod 8`)
/// added as a fixed tree, so that the loop vectorises (a single running sum is one long chain
/// of dependent additions: at the spiral's size, 40 elements and 28 products per Dopri5
/// step, it was most of this module's backward sweep).
fn dot<T: Real>(x: &[T], y: &[T]) -> f64 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0.0f64; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for l in 0..8 {
            acc[l] += (a[l] * b[l]).as_f64();
        }
    }
    for (l, (a, b)) in xr.iter().zip(yr).enumerate() {
        acc[l] += (*a * *b).as_f64();
    }
    let q: [f64; 4] = std::array::from_fn(|l| acc[l] + acc[l + 4]);
    (q[0] + q[2]) + (q[1] + q[3])
}

impl<T: Real> Replay<T> {
    fn new(tab: &Tableau, n: usize, p: usize) -> Self {
        let s = tab.stages();
        let mut a = vec![0.0; s * s];
        for (i, row) in tab.a.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                a[i * s + j] = v;
            }
        }
        let mut needed = vec![false; s];
        for i in (0..s).rev() {
            needed[i] = tab.b[i] != 0.0 || (i + 1..s).any(|j| needed[j] && a[j * s + i] != 0.0);
        }
        let feeds = (0..s)
            .map(|i| (i + 1..s).any(|j| needed[j] && a[j * s + i] != 0.0))
            .collect();
        Replay {
            s,
            n,
            feeds,
            ybar1: vec![T::zero(); n],
            a,
            b: tab.b.to_vec(),
            c: tab.c.to_vec(),
            needed,
            k: vec![T::zero(); s * n],
            ys: vec![T::zero(); s * n],
            kbar: vec![T::zero(); s * n],
            ybar_stage: vec![T::zero(); n],
            f: vec![T::zero(); n],
            thbar: vec![T::zero(); p],
            nfe: 0,
            vjps: 0,
        }
    }

    /// Computes the stage inputs `Y_i` and stages `k_i` of the step `(t, h, y0)`; with
    /// `all == false`, the stages that feed no later stage are not evaluated (their `k_i` is
    /// left for the vector–Jacobian product to return).
    fn stages<D: Dynamics<T> + ?Sized>(
        &mut self,
        dy: &D,
        theta: &[T],
        t: f64,
        h: f64,
        y0: &[T],
        all: bool,
    ) {
        let (s, n) = (self.s, self.n);
        let ht = T::from_f64(h);
        for i in 0..s {
            if !self.needed[i] {
                continue;
            }
            let (kdone, krest) = self.k.split_at_mut(i * n);
            let yi = &mut self.ys[i * n..(i + 1) * n];
            // The same operations in the same order as `ode_solvers`' Runge–Kutta step (zero
            // coefficients included), so that the stage inputs have the bits of the forward
            // solve's and dynamics that keep their forward passes recognise them.
            yi.copy_from_slice(y0);
            for j in 0..i {
                let cj = ht * T::from_f64(self.a[i * s + j]);
                for (o, &kv) in yi.iter_mut().zip(&kdone[j * n..(j + 1) * n]) {
                    *o += cj * kv;
                }
            }
            if all || self.feeds[i] {
                dy.eval(t + self.c[i] * h, yi, theta, &mut krest[..n]);
                self.nfe += 1;
            }
        }
    }

    /// One step `y0 → y1`.
    fn step<D: Dynamics<T> + ?Sized>(
        &mut self,
        dy: &D,
        theta: &[T],
        t: f64,
        h: f64,
        y0: &[T],
        y1: &mut [T],
    ) {
        self.stages(dy, theta, t, h, y0, true);
        let n = self.n;
        let ht = T::from_f64(h);
        y1.copy_from_slice(y0);
        for i in 0..self.s {
            if self.b[i] == 0.0 {
                continue;
            }
            let ci = ht * T::from_f64(self.b[i]);
            for (o, &kv) in y1.iter_mut().zip(&self.k[i * n..(i + 1) * n]) {
                *o += ci * kv;
            }
        }
    }

    /// Backpropagates through the step `(t, h, y0)`: `ybar` holds `ȳ1` on entry and `ȳ0` on
    /// exit; `θ̄` is accumulated into `dtheta`. Returns `(t̄, h̄)`.
    #[allow(clippy::too_many_arguments)]
    fn backprop<D: Dynamics<T> + ?Sized>(
        &mut self,
        dy: &D,
        theta: &[T],
        t: f64,
        h: f64,
        y0: &[T],
        ybar: &mut [T],
        dtheta: &mut [T],
    ) -> (f64, f64) {
        self.stages(dy, theta, t, h, y0, false);
        let (s, n) = (self.s, self.n);
        let ht = T::from_f64(h);
        let mut hbar = 0.0;
        let mut tbar = 0.0;
        self.ybar1.copy_from_slice(ybar);
        for i in 0..s {
            let kb = &mut self.kbar[i * n..(i + 1) * n];
            if self.b[i] == 0.0 {
                kb.fill(T::zero());
                continue;
            }
            let ci = ht * T::from_f64(self.b[i]);
            for (o, &yb) in kb.iter_mut().zip(ybar.iter()) {
                *o = ci * yb;
            }
            if self.feeds[i] {
                hbar += self.b[i] * dot(&self.k[i * n..(i + 1) * n], ybar);
            }
        }
        for i in (0..s).rev() {
            if !self.needed[i] {
                continue;
            }
            let at = dy.vjp(
                t + self.c[i] * h,
                &self.ys[i * n..(i + 1) * n],
                theta,
                &self.kbar[i * n..(i + 1) * n],
                &mut self.f,
                &mut self.ybar_stage,
                &mut self.thbar,
            );
            self.vjps += 1;
            if !self.feeds[i] {
                // Not evaluated by `stages`: the product returned k_i.
                self.k[i * n..(i + 1) * n].copy_from_slice(&self.f);
                hbar += self.b[i] * dot(&self.k[i * n..(i + 1) * n], &self.ybar1);
            }
            let at = at.as_f64();
            tbar += at;
            hbar += self.c[i] * at;
            for (d, &v) in dtheta.iter_mut().zip(&self.thbar) {
                *d += v;
            }
            for (o, &v) in ybar.iter_mut().zip(&self.ybar_stage) {
                *o += v;
            }
            for j in 0..i {
                let aij = self.a[i * s + j];
                if aij == 0.0 {
                    continue;
                }
                let cj = ht * T::from_f64(aij);
                let (kbar_lo, _) = self.kbar.split_at_mut(i * n);
                for (o, &v) in kbar_lo[j * n..(j + 1) * n].iter_mut().zip(&self.ybar_stage) {
                    *o += cj * v;
                }
                hbar += aij * dot(&self.k[j * n..(j + 1) * n], &self.ybar_stage);
            }
        }
        (tbar, hbar)
    }
}

/// The backward sweep of `Direct` and `Checkpointed`. Segments (the steps from one stored
/// state to the next) are reversed from the last, each by the binomial schedule of
/// [`crate::revolve`]. Its held states go first into the slots of the interval's checkpoints
/// after the segment (already gone past, so no longer needed), then into a buffer of at most
/// `budget` minus the stored checkpoints: no more than `budget` states are held at once,
/// checkpoints included (`budget = usize::MAX`: no limit, a segment's states are recomputed in
/// one sweep and all held). Overwritten checkpoints mark the record spent; the next call first
/// recomputes them (one forward sweep).
pub(crate) fn backward<T, D, M, B>(
    traj: &Trajectory<'_, T, D, M, B>,
    steps: &Steps<T>,
    dl_dz: &[T],
    budget: usize,
) -> Result<Gradients<T>>
where
    T: Real,
    D: Dynamics<T> + ?Sized,
    M: Stepper<T>,
    B: Stepper<T>,
{
    let dy = traj.dynamics;
    let theta = &traj.theta[..];
    let n = traj.dim;
    let p = theta.len();
    let nt = traj.ts.len();
    let mut intervals = steps.intervals.borrow_mut();
    let mut rp = Replay::<T>::new(steps.tableau, n, p);
    let mut ybar = vec![T::zero(); n];
    let mut dtheta = vec![T::zero(); p];
    let mut dts = vec![0.0; nt];
    let mut y0 = vec![T::zero(); n];
    let mut y1 = vec![T::zero(); n];
    let mut backward = PassStats::default();
    if steps.spent.get() {
        // A previous call held states in checkpoint slots: recompute the checkpoints.
        for iv in intervals.iter_mut() {
            let Some(&last) = iv.positions.last() else {
                continue;
            };
            y0.copy_from_slice(&iv.states[..n]);
            let mut q = 1;
            for k in 0..last {
                let (t, h) = (iv.times[k], iv.times[k + 1] - iv.times[k]);
                rp.step(dy, theta, t, h, &y0, &mut y1);
                std::mem::swap(&mut y0, &mut y1);
                backward.accepted += 1;
                if iv.positions[q] == k + 1 {
                    iv.states[q * n..(q + 1) * n].copy_from_slice(&y0);
                    q += 1;
                }
            }
        }
        steps.spent.set(false);
    }
    // Slots beyond the stored checkpoints, and the most of them any segment uses.
    let stored: usize = intervals.iter().map(|iv| iv.positions.len() - 1).sum();
    let extra = budget.saturating_sub(stored);
    let most_extra = intervals
        .iter()
        .flat_map(|iv| {
            let c = iv.positions.len() - 1;
            (0..=c).map(move |r| {
                let (start, end) = iv.segment(r);
                let (len, dead) = (end - start, c - r);
                dead.saturating_add(extra)
                    .min(len.saturating_sub(1))
                    .saturating_sub(dead)
            })
        })
        .max()
        .unwrap_or(0);
    let mut held_extra = vec![T::zero(); most_extra * n];
    // One schedule for every segment (its stack is reused).
    let mut schedule = Schedule::new(0, 0);
    let mut segment_states = 0;
    for i in (1..nt).rev() {
        for (y, &g) in ybar.iter_mut().zip(&dl_dz[i * n..(i + 1) * n]) {
            *y += g;
        }
        let iv = &mut intervals[i - 1];
        let m = iv.times.len() - 1;
        let c = iv.positions.len() - 1;
        let mut tbar_sum = 0.0;
        for r in (0..=c).rev() {
            let (seg_start, seg_end) = iv.segment(r);
            // The checkpoints after this segment are spent: their slots hold states first.
            let dead = c - r;
            let (kept, spare) = iv.states.split_at_mut((r + 1) * n);
            let start_state = &kept[r * n..];
            schedule.restart(seg_end - seg_start, dead.saturating_add(extra));
            let mut held = 0;
            for action in &mut schedule {
                let (from, to) = match action {
                    Action::Hold { from, to } => (from, to),
                    Action::Reverse { from, step, .. } => (from, step),
                };
                // A copy of the top held state, advanced from `from` to `to`.
                let top = match held {
                    0 => start_state,
                    h if h <= dead => &spare[(h - 1) * n..h * n],
                    h => &held_extra[(h - 1 - dead) * n..(h - dead) * n],
                };
                y0.copy_from_slice(top);
                for k in seg_start + from..seg_start + to {
                    let (t, h) = (iv.times[k], iv.times[k + 1] - iv.times[k]);
                    rp.step(dy, theta, t, h, &y0, &mut y1);
                    std::mem::swap(&mut y0, &mut y1);
                    backward.accepted += 1;
                }
                match action {
                    Action::Hold { .. } => {
                        let slot = if held < dead {
                            steps.spent.set(true);
                            &mut spare[held * n..(held + 1) * n]
                        } else {
                            &mut held_extra[(held - dead) * n..(held - dead + 1) * n]
                        };
                        slot.copy_from_slice(&y0);
                        held += 1;
                    }
                    Action::Reverse { release, .. } => {
                        let k = seg_start + to;
                        let (t, h) = (iv.times[k], iv.times[k + 1] - iv.times[k]);
                        let (tbar, hbar) =
                            rp.backprop(dy, theta, t, h, &y0, &mut ybar, &mut dtheta);
                        tbar_sum += tbar;
                        if k == m - 1 {
                            dts[i] += hbar;
                            tbar_sum -= hbar;
                        }
                        backward.accepted += 1;
                        if release {
                            held -= 1;
                        }
                    }
                }
            }
            segment_states = segment_states.max(schedule.peak + 1);
        }
        dts[i - 1] += tbar_sum;
        if let Some(message) = dy.take_error() {
            return Err(AdjointError::Dynamics {
                pass: Pass::Backward,
                t: traj.ts[i - 1],
                message,
            });
        }
    }
    for (y, &g) in ybar.iter_mut().zip(&dl_dz[..n]) {
        *y += g;
    }
    backward.nfe = rp.nfe;
    backward.vjps = rp.vjps;
    Ok(Gradients {
        dz0: ybar,
        dtheta,
        dts,
        stats: GradStats {
            backward,
            segment_states,
            ..GradStats::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::{dot, Checkpoints};

    /// Feeds `steps` steps of a one-dimensional state (the step index) through a record with
    /// `budget` checkpoints, and returns the kept positions of its single interval.
    fn kept(budget: usize, steps: usize, hint: Option<usize>) -> Vec<usize> {
        let mut c = Checkpoints::<f64>::new(budget, 1);
        if let Some(h) = hint {
            c.expect_steps(h);
        }
        c.start_interval(0);
        for k in 0..=steps {
            c.see(k as f64, &[k as f64]);
        }
        let iv = c.finish(&[0.0, steps as f64], &[0.0, steps as f64]);
        assert_eq!(iv.len(), 1);
        // Each kept state is the one of its position.
        for (r, &p) in iv[0].positions.iter().enumerate() {
            assert_eq!(iv[0].states[r], p as f64);
        }
        iv[0].positions.clone()
    }

    #[test]
    fn a_known_step_count_places_the_checkpoints_of_the_binomial_schedule() {
        // 1600 steps in 40 slots (S = 41 with the start): C(43, 2) = 903 < 1600, so each
        // step is advanced up to r = 3 times. The first checkpoint leaves for the rest what
        // the other 39 slots (S = 40) reverse with r = 2, C(42, 2) = 861 steps: it is at
        // 1600 − 861 = 739. From there, with S snapshots and C(S + 2, 2) steps left, the
        // next state is held S + 1 steps on (leaving C(S + 1, 2) to S − 1 snapshots):
        // 739 + 41, + 40, …, + 3, until no slot is free, 3 steps before the end.
        let mut want = vec![0, 739];
        for inc in (3..=41).rev() {
            want.push(want.last().unwrap() + inc);
        }
        assert_eq!(want.len(), 41);
        assert_eq!(*want.last().unwrap(), 1597);
        assert_eq!(kept(40, 1600, Some(1600)), want);
        // One slot in 48 steps: C(10, 2) = 45 < 48 ≤ C(11, 2) = 55, so r = 9, and the split
        // leaves between C(9, 2) = 36 and 45 steps to the left and between 9 and 10 to the
        // right: the largest split is 39.
        assert_eq!(kept(1, 48, Some(48)), vec![0, 39]);
        // Without the count, half the budget by the doubling stride: 20 fit at a stride of
        // 128 (64 would need 25), so every 128th step.
        let doubled: Vec<usize> = (0..13).map(|j| 128 * j).collect();
        assert_eq!(kept(40, 1600, None), doubled);
        // A count that is too low or too high: never more checkpoints than the budget.
        let p = kept(4, 100, Some(10));
        assert!(p.len() <= 5 && p.iter().all(|&x| x < 10), "{p:?}");
        let p = kept(4, 50, Some(100));
        assert!(p.len() <= 5 && p.iter().all(|&x| x < 50), "{p:?}");
    }

    #[test]
    fn dot_is_exact_on_integers_and_close_on_reals_at_every_tail_length() {
        for n in 0..=41 {
            // Small integers: every product and partial sum is exact in f64.
            let x: Vec<f64> = (0..n).map(|i| (i % 7) as f64 - 3.0).collect();
            let y: Vec<f64> = (0..n).map(|i| (i % 5) as f64 + 1.0).collect();
            let exact: f64 = (0..n)
                .map(|i| (((i % 7) as i64 - 3) * ((i % 5) as i64 + 1)) as f64)
                .sum();
            assert_eq!(dot(&x, &y), exact, "n {n}");
            // Reals against a sum in extended precision (pairs of f64, Knuth's two-sum).
            let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.77).sin()).collect();
            let y: Vec<f64> = (0..n).map(|i| (i as f64 * 1.31).cos()).collect();
            let (mut s, mut c) = (0.0f64, 0.0f64);
            for (a, b) in x.iter().zip(&y) {
                let p = a * b;
                let e = a.mul_add(*b, -p);
                let t = s + p;
                let bp = t - s;
                c += (s - (t - bp)) + (p - bp) + e;
                s = t;
            }
            let reference = s + c;
            let scale: f64 = x.iter().zip(&y).map(|(a, b)| (a * b).abs()).sum();
            assert!(
                (dot(&x, &y) - reference).abs() <= 1e-15 * scale.max(1e-300),
                "n {n}"
            );
            // f32 goes through f64 after each product.
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
            let want: f64 = xf.iter().zip(&yf).map(|(a, b)| (a * b) as f64).sum();
            assert!(
                (dot(&xf, &yf) - want).abs() <= 1e-12 * scale.max(1e-30),
                "f32, n {n}"
            );
        }
    }
}
