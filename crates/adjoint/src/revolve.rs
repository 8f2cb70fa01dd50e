//! Binomial checkpointing: the order in which a sequence of steps is recomputed and reversed
//! when at most a given number of intermediate states may be held at once.
//!
//! Reversing `l` steps (backpropagating through step `l - 1`, then `l - 2`, …, then `0`) needs
//! the state at the start of each step when it is reversed. With the state at step 0 held and
//! room for `free` more, the schedule of Griewank (“Achieving logarithmic growth of temporal
//! and spatial complexity in reverse automatic differentiation”, Optimization Methods and
//! Software 1, 1992; Griewank & Walther, ACM TOMS 26, 2000, “Algorithm 799: revolve”) advances
//! a copy of the top held state by `m` steps, holds the result, reverses the `l - m` steps
//! after it with one slot fewer, frees the slot and reverses the first `m` steps with all of
//! them. With `S = free + 1` snapshots (the start included) and `β(S, r) = C(S + r, S)`, the
//! fewest steps advanced is
//! ```text
//! T(l, S) = r·l − β(S + 1, r − 1),   r the smallest integer with l ≤ β(S, r)
//! ```
//! (every step is advanced at most `r` times), and a split `m` attains it exactly when the
//! left part needs at most `r − 1` repetitions with `S` snapshots and the right part at most
//! `r` with `S − 1`:
//! ```text
//! max(β(S, r − 2), l − β(S − 1, r)) ≤ m ≤ min(β(S, r − 1), l − β(S − 1, r − 1)).
//! ```
//! (The tests check both against a dynamic programme over all splits.) With no free slot the
//! only schedule advances from the start to each step in turn, `l(l − 1)/2` steps.

/// `β(s, r) = C(s + r, s)`, the most steps `s` snapshots reverse with each step advanced at
/// most `r` times; saturates at `usize::MAX`. `r < 0` gives 0.
fn beta(s: usize, r: isize) -> usize {
    if r < 0 {
        return 0;
    }
    let mut b: u128 = 1;
    for k in 1..=r as u128 {
        // C(s + k, k) = C(s + k − 1, k − 1)·(s + k)/k, exact at every k.
        b = b * (s as u128 + k) / k;
        if b >= usize::MAX as u128 {
            return usize::MAX;
        }
    }
    b as usize
}

/// The smallest `r ≥ 1` with `l ≤ β(s, r)` (`s ≥ 1`).
fn repetitions(l: usize, s: usize) -> isize {
    let mut r: isize = 1;
    let mut b = s as u128 + 1;
    while b < l as u128 {
        r += 1;
        b = b * (s as u128 + r as u128) / r as u128;
    }
    r
}

/// The fewest steps advanced to reverse `l` steps from a held start state with `free` more
/// states held at most: the closed form above (the schedule's tests compare against it).
#[cfg(test)]
pub(crate) fn min_advances(l: usize, free: usize) -> usize {
    if l <= 1 {
        return 0;
    }
    let free = free.min(l - 1);
    if free == 0 {
        return l * (l - 1) / 2;
    }
    let s = free + 1;
    let r = repetitions(l, s);
    r as usize * l - beta(s + 1, r - 1)
}

/// How many steps to advance from the top held state before holding the next one, to reverse
/// `l ≥ 2` steps with `free ≥ 1` free slots at the fewest steps advanced (the largest optimal
/// split).
pub(crate) fn split(l: usize, free: usize) -> usize {
    debug_assert!(l >= 2 && free >= 1);
    let s = free.min(l - 1) + 1;
    let r = repetitions(l, s);
    let lo = beta(s, r - 2).max(l.saturating_sub(beta(s - 1, r)));
    let hi = beta(s, r - 1).min(l - beta(s - 1, r - 1).min(l));
    debug_assert!(lo <= hi, "l {l} free {free}: [{lo}, {hi}]");
    hi.clamp(1, l - 1)
}

/// One action of a reversal schedule, in step positions relative to the sequence's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Advance a copy of the top held state (at `from`) to `to` and hold it on top.
    Hold {
        /// Position of the top held state.
        from: usize,
        /// Position of the new held state.
        to: usize,
    },
    /// Advance a copy of the top held state (at `from`) to `step` (nothing to advance when
    /// they are equal) and reverse step `step`; then, if `release`, drop the top held state
    /// (every step after it is reversed).
    Reverse {
        /// Position of the top held state.
        from: usize,
        /// The step to reverse, `≥ from`.
        step: usize,
        /// Whether the top held state is dropped afterwards.
        release: bool,
    },
}

/// The reversal schedule of `l` steps from a held start state with at most `free` more held
/// states (`usize::MAX`: as many as there are steps), as an iterator of [`Action`]s. Each
/// step is reversed once, from the last to the first, and the number of steps advanced is
/// [`min_advances`].
pub(crate) struct Schedule {
    /// Steps `≥ end` are reversed.
    end: usize,
    /// Positions of the held states; `held[0] = 0`, the start.
    held: Vec<usize>,
    free: usize,
    /// Most states held at once beyond the start.
    pub(crate) peak: usize,
}

impl Schedule {
    /// The schedule of `steps` steps with `free` free slots.
    pub(crate) fn new(steps: usize, free: usize) -> Self {
        Schedule {
            end: steps,
            held: vec![0],
            free,
            peak: 0,
        }
    }

    /// Starts the schedule of `steps` steps with `free` free slots over, keeping the
    /// allocation (no allocation once the stack has grown to its largest size).
    pub(crate) fn restart(&mut self, steps: usize, free: usize) {
        self.end = steps;
        self.held.clear();
        self.held.push(0);
        self.free = free;
        self.peak = 0;
    }

    /// Positions of the states a first sweep from the start holds (the `Hold`s before the
    /// first `Reverse`): where a forward pass that knows the step count puts its checkpoints.
    pub(crate) fn first_sweep(steps: usize, free: usize) -> Vec<usize> {
        let mut s = Schedule::new(steps, free);
        let mut out = Vec::new();
        while let Some(Action::Hold { to, .. }) = s.next() {
            out.push(to);
        }
        out
    }
}

impl Iterator for Schedule {
    type Item = Action;

    fn next(&mut self) -> Option<Action> {
        if self.end == 0 {
            return None;
        }
        let top = *self.held.last().expect("the start is held");
        let l = self.end - top;
        let used = self.held.len() - 1;
        if l == 1 {
            self.end = top;
            let release = used > 0;
            if release {
                self.held.pop();
            }
            return Some(Action::Reverse {
                from: top,
                step: top,
                release,
            });
        }
        // More free slots than steps left to hold are of no use (and `usize::MAX` stands for
        // no limit).
        let free = self.free.saturating_sub(used).min(l - 1);
        if free == 0 {
            self.end -= 1;
            return Some(Action::Reverse {
                from: top,
                step: self.end,
                release: false,
            });
        }
        let to = top + split(l, free);
        self.held.push(to);
        self.peak = self.peak.max(used + 1);
        Some(Action::Hold { from: top, to })
    }
}

#[cfg(test)]
mod tests {
    use super::{min_advances, split, Action, Schedule};

    /// The fewest steps advanced, by a dynamic programme over every first split:
    /// `T(l, f) = min_m m + T(l − m, f − 1) + T(m, f)`, `T(1, f) = 0`, `T(l, 0) = l(l−1)/2`.
    fn dp(lmax: usize, fmax: usize) -> Vec<Vec<usize>> {
        let mut t = vec![vec![0usize; fmax + 1]; lmax + 1];
        for (l, row) in t.iter_mut().enumerate().skip(2) {
            row[0] = l * (l - 1) / 2;
        }
        for f in 1..=fmax {
            for l in 2..=lmax {
                t[l][f] = (1..l).map(|m| m + t[l - m][f - 1] + t[m][f]).min().unwrap();
            }
        }
        t
    }

    /// Runs a schedule on a model that tracks which states are held, checks that every step
    /// is reversed once in reverse order from its own start state, that no more than `free`
    /// states beyond the start are held, and returns the steps advanced.
    fn run(steps: usize, free: usize) -> usize {
        let mut held = vec![0usize];
        let mut next_reversed = steps;
        let mut advanced = 0;
        let mut sched = Schedule::new(steps, free);
        for a in &mut sched {
            match a {
                Action::Hold { from, to } => {
                    assert_eq!(Some(&from), held.last());
                    assert!(to > from && to < next_reversed);
                    advanced += to - from;
                    held.push(to);
                    assert!(held.len() - 1 <= free, "{steps}/{free}: too many held");
                }
                Action::Reverse {
                    from,
                    step,
                    release,
                } => {
                    assert_eq!(Some(&from), held.last());
                    assert_eq!(step + 1, next_reversed, "{steps}/{free}: order");
                    advanced += step - from;
                    next_reversed = step;
                    if release {
                        assert_eq!(from, step);
                        held.pop();
                    }
                }
            }
        }
        assert_eq!(next_reversed, 0, "{steps}/{free}: not all reversed");
        assert_eq!(held, vec![0]);
        assert!(sched.peak <= free);
        advanced
    }

    #[test]
    fn the_schedule_is_optimal_and_matches_the_closed_form() {
        let (lmax, fmax) = (120, 7);
        let t = dp(lmax, fmax);
        for (l, row) in t.iter().enumerate().skip(1) {
            for (f, &best) in row.iter().enumerate() {
                assert_eq!(min_advances(l, f), best, "closed form, l {l} free {f}");
                assert_eq!(run(l, f), best, "schedule, l {l} free {f}");
            }
        }
    }

    #[test]
    fn long_sequences_few_slots_and_unlimited_slots() {
        // Hand-checked values: 10 steps with one free slot advance 20 steps (split at 6:
        // 6 + T(4, 0) = 6 + 6 + T(6, 1) = 8).
        assert_eq!(split(10, 1), 6);
        assert_eq!(run(10, 1), 20);
        // 1600 steps, 52 free slots: r = 3, 3·1600 − C(56, 2) = 3260.
        assert_eq!(min_advances(1600, 52), 3260);
        assert_eq!(run(1600, 52), 3260);
        // As many slots as steps: one sweep holding every state.
        assert_eq!(run(50, usize::MAX), 49);
        assert_eq!(Schedule::first_sweep(6, usize::MAX), vec![1, 2, 3, 4, 5]);
        // A restarted schedule is the new one's.
        let mut s = Schedule::new(30, 2);
        let _ = s.by_ref().take(7).count();
        s.restart(17, 3);
        assert!(s.eq(Schedule::new(17, 3)));
        // Large counts do not overflow.
        assert!(min_advances(5_000_000, 3) > 5_000_000);
        assert!(split(5_000_000, 3) < 5_000_000);
    }

    #[test]
    fn the_first_sweep_holds_at_most_the_free_slots_in_increasing_order() {
        for (l, f) in [(1600, 52), (1600, 8), (48, 1), (7, 3), (2, 5)] {
            let p = Schedule::first_sweep(l, f);
            assert!(p.len() <= f);
            assert!(p.windows(2).all(|w| w[0] < w[1]));
            assert!(p.iter().all(|&x| x > 0 && x < l));
        }
    }
}
