#!/usr/bin/env python3
"""Peer measurements for `cargo xtask bench --python PATH`: torchdiffeq (PyTorch) and diffrax (JAX).

Prints markdown tables on stdout (one thread, float64, CPU):
  * solvers: the classic problems of the `ode-solvers` benchmark (lorenz, arenstorf, linear10)
    at rtol = atol = 1e-3, 1e-6, 1e-9, with time per solve (median), NFE and error against a
    scipy DOP853 reference at 1e-13;
  * spiral: the spiral training task of issue 6 (torchdiffeq ode_demo settings), ms per
    iteration and the full-trajectory loss, for each gradient method.

Install: python3 -m venv .venv && .venv/bin/pip install torch torchdiffeq jax diffrax
Usage:   .venv/bin/python benches/python/peers.py [--quick] [--only solvers|spiral]
"""
import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

LORENZ_Y0 = [1.0, 0.0, 0.0]
ARENSTORF_MU = 0.012277471
ARENSTORF_Y0 = [0.994, 0.0, 0.0, -2.00158510637908252240537862224]
ARENSTORF_T1 = 17.0652165601579625588917206249


def linear10_matrix():
    a = np.zeros((10, 10))
    for i in range(10):
        a[i, i] = -(0.5 + 0.1 * i)
        if i + 1 < 10:
            a[i, i + 1] = 1.0
            a[i + 1, i] = -1.0
    return a


def problems_numpy():
    a10 = linear10_matrix()

    def lorenz(t, y):
        return np.array([10.0 * (y[1] - y[0]), y[0] * (28.0 - y[2]) - y[1], y[0] * y[1] - 8.0 / 3.0 * y[2]])

    def arenstorf(t, y):
        mu, mu1 = ARENSTORF_MU, 1.0 - ARENSTORF_MU
        d1 = ((y[0] + mu) ** 2 + y[1] ** 2) ** 1.5
        d2 = ((y[0] - mu1) ** 2 + y[1] ** 2) ** 1.5
        return np.array([y[2], y[3], y[0] + 2 * y[3] - mu1 * (y[0] + mu) / d1 - mu * (y[0] - mu1) / d2,
                         y[1] - 2 * y[2] - mu1 * y[1] / d1 - mu * y[1] / d2])

    def linear10(t, y):
        return a10 @ y

    return [("lorenz", lorenz, LORENZ_Y0, 20.0), ("arenstorf", arenstorf, ARENSTORF_Y0, ARENSTORF_T1),
            ("linear10", linear10, [1.0] * 10, 5.0)]


def median_time(fn, reps):
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def solvers(quick):
    from scipy.integrate import solve_ivp
    tols = [1e-3, 1e-6] if quick else [1e-3, 1e-6, 1e-9]
    reps = 3 if quick else 15
    rows = []
    probs = problems_numpy()
    refs = {name: solve_ivp(f, (0.0, t1), y0, method="DOP853", rtol=1e-13, atol=1e-13).y[:, -1] for name, f, y0, t1 in probs}

    # torchdiffeq
    try:
        import torch
        import torchdiffeq
        torch.set_num_threads(1)
        torch.set_default_dtype(torch.float64)
        a10 = torch.tensor(linear10_matrix())

        class Counted(torch.nn.Module):
            def __init__(self, f):
                super().__init__()
                self.f, self.nfe = f, 0

            def forward(self, t, y):
                self.nfe += 1
                return self.f(t, y)

        def t_lorenz(t, y):
            return torch.stack([10.0 * (y[1] - y[0]), y[0] * (28.0 - y[2]) - y[1], y[0] * y[1] - 8.0 / 3.0 * y[2]])

        def t_arenstorf(t, y):
            mu, mu1 = ARENSTORF_MU, 1.0 - ARENSTORF_MU
            d1 = ((y[0] + mu) ** 2 + y[1] ** 2) ** 1.5
            d2 = ((y[0] - mu1) ** 2 + y[1] ** 2) ** 1.5
            return torch.stack([y[2], y[3], y[0] + 2 * y[3] - mu1 * (y[0] + mu) / d1 - mu * (y[0] - mu1) / d2,
                                y[1] - 2 * y[2] - mu1 * y[1] / d1 - mu * y[1] / d2])

        tfs = {"lorenz": t_lorenz, "arenstorf": t_arenstorf, "linear10": lambda t, y: a10 @ y}
        for name, _, y0, t1 in probs:
            for tol in tols:
                f = Counted(tfs[name])
                ts = torch.tensor([0.0, t1])
                y0t = torch.tensor(y0)
                with torch.no_grad():
                    out = torchdiffeq.odeint(f, y0t, ts, method="dopri5", rtol=tol, atol=tol)
                    nfe = f.nfe
                    err = float(np.max(np.abs(out[-1].numpy() - refs[name])))
                    sec = median_time(lambda: torchdiffeq.odeint(f, y0t, ts, method="dopri5", rtol=tol, atol=tol), reps)
                rows.append((name, tol, "torchdiffeq 0.2.5", "dopri5", sec * 1e6, nfe, err))
    except Exception as e:  # noqa: BLE001
        print(f"- torchdiffeq: skipped ({type(e).__name__}: {e})")

    # diffrax
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import diffrax
        a10 = jnp.array(linear10_matrix())

        def j_lorenz(t, y, args):
            return jnp.stack([10.0 * (y[1] - y[0]), y[0] * (28.0 - y[2]) - y[1], y[0] * y[1] - 8.0 / 3.0 * y[2]])

        def j_arenstorf(t, y, args):
            mu, mu1 = ARENSTORF_MU, 1.0 - ARENSTORF_MU
            d1 = ((y[0] + mu) ** 2 + y[1] ** 2) ** 1.5
            d2 = ((y[0] - mu1) ** 2 + y[1] ** 2) ** 1.5
            return jnp.stack([y[2], y[3], y[0] + 2 * y[3] - mu1 * (y[0] + mu) / d1 - mu * (y[0] - mu1) / d2,
                              y[1] - 2 * y[2] - mu1 * y[1] / d1 - mu * y[1] / d2])

        jfs = {"lorenz": j_lorenz, "arenstorf": j_arenstorf, "linear10": lambda t, y, args: a10 @ y}
        for name, _, y0, t1 in probs:
            for tol in tols:
                for solver_name, solver in [("dopri5", diffrax.Dopri5()), ("tsit5", diffrax.Tsit5())]:
                    term = diffrax.ODETerm(jfs[name])
                    ctrl = diffrax.PIDController(rtol=tol, atol=tol)

                    @jax.jit
                    def run(y0v, term=term, solver=solver, ctrl=ctrl, t1=t1):
                        return diffrax.diffeqsolve(term, solver, 0.0, t1, None, y0v, stepsize_controller=ctrl,
                                                   max_steps=1_000_000)

                    y0v = jnp.array(y0)
                    sol = run(y0v)
                    sol.ys.block_until_ready()
                    steps = int(sol.stats["num_steps"])
                    # FSAL: 6 evaluations per step attempt, plus the first and the initial-step trial.
                    nfe = 6 * steps + 2
                    err = float(np.max(np.abs(np.asarray(sol.ys[-1]) - refs[name])))
                    sec = median_time(lambda: run(y0v).ys.block_until_ready(), reps)
                    rows.append((name, tol, f"diffrax {diffrax.__version__} (jit)", solver_name, sec * 1e6, nfe, err))
    except Exception as e:  # noqa: BLE001
        print(f"- diffrax: skipped ({type(e).__name__}: {e})")

    print("| problem | tol | peer | method | µs per solve (median) | NFE | error |")
    print("|---|---|---|---|---|---|---|")
    for name, tol, peer, meth, us, nfe, err in rows:
        print(f"| {name} | {tol:.0e} | {peer} | {meth} | {us:.1f} | {nfe} | {err:.2e} |")
    print()


def spiral(quick):
    iters = 200 if quick else 2000
    print(f"Spiral task ({iters} iterations; batch 20 windows of 10 times; Dopri5 rtol 1e-7 atol 1e-9; RMSprop 1e-3):")
    print()
    print("| peer | gradient | ms per iteration | whole run (s) | full-trajectory loss (mean of evaluations from 80% of the run) |")
    print("|---|---|---|---|---|")
    try:
        import torch
        import torchdiffeq
        torch.set_num_threads(1)
        torch.set_default_dtype(torch.float64)
        true_a = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])
        t = torch.linspace(0.0, 25.0, 1000)
        true_y0 = torch.tensor([[2.0, 0.0]])
        with torch.no_grad():
            true_y = torchdiffeq.odeint(lambda tt, y: (y ** 3) @ true_a, true_y0, t, method="dopri5")
        for label, use_adjoint in [("backprop through solver", False), ("odeint_adjoint", True)]:
            torch.manual_seed(0)
            np.random.seed(0)

            class F(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.net = torch.nn.Sequential(torch.nn.Linear(2, 50), torch.nn.Tanh(), torch.nn.Linear(50, 2))
                    for m in self.net.modules():
                        if isinstance(m, torch.nn.Linear):
                            torch.nn.init.normal_(m.weight, mean=0, std=0.1)
                            torch.nn.init.constant_(m.bias, val=0)

                def forward(self, tt, y):
                    return self.net(y ** 3)

            func = F()
            opt = torch.optim.RMSprop(func.parameters(), lr=1e-3)
            solve = torchdiffeq.odeint_adjoint if use_adjoint else torchdiffeq.odeint
            losses = []
            start = time.perf_counter()
            for it in range(1, iters + 1):
                s = torch.from_numpy(np.random.choice(np.arange(1000 - 10, dtype=np.int64), 20, replace=False))
                by0, bt = true_y[s], t[:10]
                by = torch.stack([true_y[s + i] for i in range(10)], dim=0)
                opt.zero_grad()
                pred = solve(func, by0, bt)
                loss = torch.mean(torch.abs(pred - by))
                loss.backward()
                opt.step()
                if it % 100 == 0:
                    with torch.no_grad():
                        full = torchdiffeq.odeint(func, true_y0, t)
                        losses.append(float(torch.mean(torch.abs(full - true_y))))
            total = time.perf_counter() - start
            tail = losses[int(0.8 * len(losses)):] or losses
            print(f"| torchdiffeq 0.2.5 | {label} | {1e3 * total / iters:.2f} | {total:.1f} | {statistics.mean(tail):.4f} |")
    except Exception as e:  # noqa: BLE001
        print(f"| torchdiffeq | skipped | | | {type(e).__name__}: {e} |")
    print()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["solvers", "spiral"])
    a = p.parse_args()
    if a.only in (None, "solvers"):
        solvers(a.quick)
    if a.only in (None, "spiral"):
        spiral(a.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
