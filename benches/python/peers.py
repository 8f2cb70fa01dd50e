#!/usr/bin/env python3
"""Peer measurements for `cargo xtask bench --python PATH`: torchdiffeq (PyTorch) and diffrax (JAX).

Prints markdown tables on stdout (one thread, float64, CPU):
  * solvers: the classic problems of the `ode-solvers` benchmark (lorenz, arenstorf, linear10)
    at rtol = atol = 1e-3, 1e-6, 1e-9, with time per solve (median), NFE and error against a
    scipy DOP853 reference at 1e-13;
  * spiral: the spiral training task of issue 6 (torchdiffeq ode_demo settings), ms per
    iteration and the full-trajectory loss, for each gradient method: torchdiffeq (backprop
    through the solver, odeint_adjoint) and diffrax with optax (RecursiveCheckpointAdjoint,
    BacksolveAdjoint; jitted training step, its compile time shown apart);
  * adjoint: the issue-4 configuration of `benches/benches/adjoint.rs` (one gradient of
    sum(z(T)) through fixed-step RK4, dt = 0.01, of an MLP 32 -> 256 tanh -> 32 on a batch of
    128) at 100, 400 and (not with --quick) 1600 steps: seconds per gradient (median), JAX
    compile time and the extra peak memory, each configuration in a fresh process, for
    torchdiffeq (backprop through the solver, odeint_adjoint) and diffrax
    (RecursiveCheckpointAdjoint, BacksolveAdjoint).

Install: python3 -m venv .venv && .venv/bin/pip install torch torchdiffeq jax diffrax optax
Usage:   .venv/bin/python benches/python/peers.py [--quick] [--only solvers|spiral|adjoint] [--seed N]
                                                     [--spiral-skip-odeint-adjoint] [--no-pin]
  --seed N: the seed of the spiral section (default 0), for every peer: torch.manual_seed (torch init),
            np.random.seed (the training windows, the same for all peers) and the numpy Generator of the
            diffrax init (diffrax uses no JAX PRNG key);
  --spiral-skip-odeint-adjoint: leave torchdiffeq's odeint_adjoint out of the spiral section (about 6 minutes
            a run), e.g. to repeat the other peers over several seeds;
  --no-pin: do not pin the process to one CPU (by default it is, so that every peer really runs on one
            thread; see the comment at the XLA_FLAGS line).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The flags above do not keep XLA on one core: measured on the 2-core development machine,
# diffrax's issue-4 backsolve gradient took 4.78-5.04 s free and 5.30-5.52 s pinned to one CPU
# (its runtime runs part of the work on a second thread). "One thread" is therefore enforced by
# pinning this process (and the subprocesses it starts, which inherit it) to one CPU, unless
# --no-pin is given. Our Rust benchmarks are single-threaded by construction.
if "--no-pin" not in sys.argv and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

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
        r1, r2 = (y[0] + mu) ** 2 + y[1] ** 2, (y[0] - mu1) ** 2 + y[1] ** 2
        d1, d2 = r1 * np.sqrt(r1), r2 * np.sqrt(r2)  # r^(3/2) as r·√r, as in Hairer's driver
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
            r1, r2 = (y[0] + mu) ** 2 + y[1] ** 2, (y[0] - mu1) ** 2 + y[1] ** 2
            d1, d2 = r1 * torch.sqrt(r1), r2 * torch.sqrt(r2)
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
            r1, r2 = (y[0] + mu) ** 2 + y[1] ** 2, (y[0] - mu1) ** 2 + y[1] ** 2
            d1, d2 = r1 * jnp.sqrt(r1), r2 * jnp.sqrt(r2)
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


def spiral(quick, seed=0, skip_odeint_adjoint=False):
    iters = 200 if quick else 2000
    print(f"Spiral task ({iters} iterations; batch 20 windows of 10 times; Dopri5 rtol 1e-7 atol 1e-9; RMSprop 1e-3; "
          "diffrax: the training step (value_and_grad + optax update) jitted once, its trace + XLA compile (and the "
          "full-trajectory solve's) excluded from ms per iteration, included in the whole run):")
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
            if use_adjoint and skip_odeint_adjoint:
                continue
            torch.manual_seed(seed)
            np.random.seed(seed)

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
    notes = []
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import diffrax
        import optax
        true_a = jnp.array([[-0.1, 2.0], [-2.0, -0.1]])
        t = jnp.linspace(0.0, 25.0, 1000)
        true_y0 = jnp.array([2.0, 0.0])
        # torchdiffeq's defaults (rtol 1e-7, atol 1e-9, dopri5, I-controller with safety 0.9 and factors 0.2..10,
        # RMS error norm over the whole state) are diffrax's PIDController defaults at the same tolerances.
        ctrl = diffrax.PIDController(rtol=1e-7, atol=1e-9)
        true_y = diffrax.diffeqsolve(diffrax.ODETerm(lambda tt, y, args: (y ** 3) @ true_a), diffrax.Dopri5(), 0.0, 25.0,
                                     None, true_y0, saveat=diffrax.SaveAt(ts=t), stepsize_controller=ctrl,
                                     max_steps=100_000).ys
        term = diffrax.ODETerm(lambda tt, y, p: jnp.tanh((y ** 3) @ p[0] + p[1]) @ p[2] + p[3])
        bt = t[:10]
        offsets = jnp.arange(10)[:, None]
        # torch.optim.RMSprop divides by sqrt(v) + eps; optax.rmsprop by default by sqrt(v + eps) (eps_in_sqrt=True),
        # a floor of 1e-4 on the denominator instead of 1e-8. eps_in_sqrt=False gives PyTorch's update exactly
        # (v starts at 0 in both, no momentum, not centered).
        opt = optax.rmsprop(1e-3, decay=0.99, eps=1e-8, eps_in_sqrt=False)

        def full_loss(p):
            sol = diffrax.diffeqsolve(term, diffrax.Dopri5(), 0.0, 25.0, None, true_y0, args=p,
                                      saveat=diffrax.SaveAt(ts=t), stepsize_controller=ctrl, max_steps=100_000)
            return jnp.mean(jnp.abs(sol.ys - true_y))

        for label, adj in [("RecursiveCheckpointAdjoint", diffrax.RecursiveCheckpointAdjoint()),
                           ("BacksolveAdjoint", diffrax.BacksolveAdjoint(solver=diffrax.Dopri5(), stepsize_controller=ctrl))]:
            try:
                np.random.seed(seed)  # the same windows as the torchdiffeq runs
                rng = np.random.default_rng(seed)  # the same distribution as the torch init, not the same numbers
                params = tuple(jnp.asarray(a) for a in (rng.normal(0.0, 0.1, (2, 50)), np.zeros(50),
                                                        rng.normal(0.0, 0.1, (50, 2)), np.zeros(2)))
                opt_state = opt.init(params)

                def loss(p, s, adj=adj):
                    sol = diffrax.diffeqsolve(term, diffrax.Dopri5(), bt[0], bt[-1], None, true_y[s], args=p,
                                              saveat=diffrax.SaveAt(ts=bt), stepsize_controller=ctrl, adjoint=adj)
                    return jnp.mean(jnp.abs(sol.ys - true_y[s[None, :] + offsets])), sol.stats["num_steps"]

                def train_step(p, o, s, loss=loss):
                    (value, steps), g = jax.value_and_grad(loss, has_aux=True)(p, s)
                    updates, o = opt.update(g, o, p)
                    return optax.apply_updates(p, updates), o, value, steps

                start = time.perf_counter()
                step = jax.jit(train_step).lower(params, opt_state, jnp.zeros(20, dtype=jnp.int64)).compile()
                full = jax.jit(full_loss).lower(params).compile()
                compile_s = time.perf_counter() - start
                losses, steps = [], []
                start = time.perf_counter()
                for it in range(1, iters + 1):
                    s = jnp.asarray(np.random.choice(np.arange(1000 - 10, dtype=np.int64), 20, replace=False))
                    params, opt_state, _, n = step(params, opt_state, s)
                    steps.append(n)
                    if it % 100 == 0:
                        losses.append(float(full(params)))
                jax.block_until_ready(params)
                total = time.perf_counter() - start
                tail = losses[int(0.8 * len(losses)):] or losses
                print(f"| diffrax {diffrax.__version__} (jit) | {label} | {1e3 * total / iters:.2f} | "
                      f"{compile_s + total:.1f} (compile {compile_s:.1f} s) | {statistics.mean(tail):.4f} |")
                # As in `solvers`: 6 evaluations per step attempt (FSAL), plus 2 for the initial step.
                notes.append(f"{label} {6 * statistics.mean(int(n) for n in steps) + 2:.1f}")
            except Exception as e:  # noqa: BLE001
                msg = (str(e).splitlines() or [""])[0].replace("|", "/")
                print(f"| diffrax | {label} | skipped | | {type(e).__name__}: {msg} |")
    except Exception as e:  # noqa: BLE001
        msg = (str(e).splitlines() or [""])[0].replace("|", "/")
        print(f"| diffrax | skipped | | | {type(e).__name__}: {msg} |")
    if notes:
        print()
        print(f"diffrax forward NFE per training iteration (mean, 6 · step attempts + 2): {'; '.join(notes)}.")
    print()


ADJ_BATCH, ADJ_DIM, ADJ_HIDDEN, ADJ_DT = 128, 32, 256, 0.01
# Timed (warm) gradients per configuration, by number of steps.
ADJ_REPS = {100: 5, 400: 3, 1600: 2}
ADJ_REPS_QUICK = {100: 3, 400: 2}
# (peer, method key for --adjoint-case, label).
ADJ_METHODS = [("torchdiffeq", "backprop", "backprop through solver"), ("torchdiffeq", "adjoint", "odeint_adjoint"),
               ("diffrax", "checkpoint", "RecursiveCheckpointAdjoint"), ("diffrax", "backsolve", "BacksolveAdjoint")]


def adjoint_init():
    """θ = [W1, b1, W2, b2] and z0 with the patterns of `benches/benches/adjoint.rs` (column-major)."""
    d, h = ADJ_DIM, ADJ_HIDDEN
    n = 2 * d * h + h + d
    theta = ((np.arange(n) * 0.618) % 1.0 - 0.5) * 2.0 / np.sqrt(h)
    o = d * h + h
    params = (theta[:d * h].reshape(d, h, order="F"), theta[d * h:o].reshape(1, h),
              theta[o:o + h * d].reshape(h, d, order="F"), theta[o + h * d:].reshape(1, d))
    z0 = ((np.arange(ADJ_BATCH * d) * 0.377) % 1.0 - 0.5).reshape(ADJ_BATCH, d, order="F")
    return params, z0


def torch_gradient(method, steps):
    """Returns (peer label, function computing d sum(z(T)) / d(z0, θ), compile time or None)."""
    import torch
    import torchdiffeq
    torch.set_num_threads(1)
    params, z0 = adjoint_init()

    class Mlp(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w1, self.b1, self.w2, self.b2 = (torch.nn.Parameter(torch.tensor(p)) for p in params)

        def forward(self, t, z):
            return torch.tanh(z @ self.w1 + self.b1) @ self.w2 + self.b2

    func = Mlp()
    z = torch.tensor(z0, requires_grad=True)
    # torchdiffeq's "rk4" is the 3/8-rule variant of RK4 (also four evaluations per step).
    rk4 = dict(method="rk4", options=dict(step_size=ADJ_DT))

    def grad(t1=steps * ADJ_DT):
        ts = torch.tensor([0.0, t1], dtype=torch.float64)
        if method == "adjoint":
            out = torchdiffeq.odeint_adjoint(func, z, ts, adjoint_method="rk4", adjoint_options=dict(step_size=ADJ_DT),
                                             **rk4)
        else:
            out = torchdiffeq.odeint(func, z, ts, **rk4)
        return torch.autograd.grad(out[-1].sum(), (z, *func.parameters()))

    grad(ADJ_DT)  # one step, to load the kernels and the autograd engine before the memory baseline
    return f"torchdiffeq {torchdiffeq.__version__}", grad, None


def jax_gradient(method, steps):
    """Like `torch_gradient`; the whole value_and_grad is jitted and compiled ahead of time."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import diffrax
    params, z0 = adjoint_init()
    params, z0 = tuple(jnp.asarray(p) for p in params), jnp.asarray(z0)

    class RK4(diffrax.AbstractERK):
        """Classical RK4 (diffrax has none); no error estimate, so constant steps only."""
        tableau = diffrax.ButcherTableau(c=np.array([0.5, 0.5, 1.0]), b_sol=np.array([1, 2, 2, 1]) / 6.0,
                                         b_error=np.zeros(4), a_lower=(np.array([0.5]), np.array([0.0, 0.5]),
                                                                       np.array([0.0, 0.0, 1.0])))
        interpolation_cls = diffrax.ThirdOrderHermitePolynomialInterpolation.from_k

        def order(self, terms):
            return 4

    adj = diffrax.BacksolveAdjoint(solver=RK4()) if method == "backsolve" else diffrax.RecursiveCheckpointAdjoint()

    def mlp(t, z, p):
        w1, b1, w2, b2 = p
        return jnp.tanh(z @ w1 + b1) @ w2 + b2

    def loss(p, y0):
        sol = diffrax.diffeqsolve(diffrax.ODETerm(mlp), RK4(), 0.0, steps * ADJ_DT, ADJ_DT, y0, args=p,
                                  saveat=diffrax.SaveAt(t1=True), stepsize_controller=diffrax.ConstantStepSize(),
                                  max_steps=steps, adjoint=adj)
        return jnp.sum(sol.ys[-1])

    start = time.perf_counter()
    compiled = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(params, z0).compile()
    compile_s = time.perf_counter() - start
    return f"diffrax {diffrax.__version__} (jit)", lambda: jax.block_until_ready(compiled(params, z0)), compile_s


def vm_mib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024.0


def adjoint_case(peer, method, steps, reps):
    """Child process: one configuration, printed as one JSON line."""
    try:
        label, grad, compile_s = (torch_gradient if peer == "torchdiffeq" else jax_gradient)(method, steps)
        # Reset the peak RSS (VmHWM) to the current RSS: the peak after the first gradient is its own.
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = vm_mib("VmHWM")
        grad()
        mib = vm_mib("VmHWM") - base
        print(json.dumps(dict(peer=label, seconds=median_time(grad, reps), compile=compile_s, mib=mib)))
    except Exception as e:  # noqa: BLE001
        print(json.dumps(dict(error=f"{type(e).__name__}: {e}")))


def adjoint(quick):
    reps = ADJ_REPS_QUICK if quick else ADJ_REPS
    print(f"Issue-4 gradient (MLP {ADJ_DIM}→{ADJ_HIDDEN} tanh→{ADJ_DIM}, batch {ADJ_BATCH}, f64, one thread; "
          f"fixed-step RK4 dt = {ADJ_DT} on [0, steps·dt]; d sum(z(T)) / d(z0, θ)). Each row runs in a fresh process: "
          "setup (torchdiffeq: a one-step gradient; diffrax: trace + XLA compile of the jitted value_and_grad, "
          "the compile column), one gradient that gives the memory, then the timed warm gradients "
          f"({', '.join(f'{r} at {n}' for n, r in reps.items())} steps):")
    print()
    print("| peer | gradient | steps | seconds per gradient (median) | compile (s) | "
          "extra peak memory (MiB): peak RSS during the first gradient − RSS after setup |")
    print("|---|---|---|---|---|---|")
    for peer, method, label in ADJ_METHODS:
        for steps, n in reps.items():
            cmd = [sys.executable, os.path.abspath(__file__), "--adjoint-case", peer, method, str(steps), str(n)]
            if "--no-pin" in sys.argv:
                cmd.append("--no-pin")
            proc = subprocess.run(cmd, capture_output=True, text=True)
            lines = proc.stdout.strip().splitlines()
            r = json.loads(lines[-1]) if proc.returncode == 0 and lines else \
                dict(error=f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1]}")
            if "error" in r:
                print(f"| {peer} | {label} | skipped | | | {r['error'].splitlines()[0].replace('|', '/')} |")
                break
            compile_s = "—" if r["compile"] is None else f"{r['compile']:.1f}"
            print(f"| {r['peer']} | {label} | {steps} | {r['seconds']:.3f} | {compile_s} | {r['mib']:.1f} |")
    print()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument("--only", choices=["solvers", "spiral", "adjoint"])
    p.add_argument("--seed", type=int, default=0, help="seed of the spiral section (default 0)")
    p.add_argument("--spiral-skip-odeint-adjoint", action="store_true",
                   help="leave torchdiffeq's odeint_adjoint out of the spiral section")
    p.add_argument("--adjoint-case", nargs=4, metavar=("PEER", "METHOD", "STEPS", "REPS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.adjoint_case:
        peer, method, steps, reps = a.adjoint_case
        adjoint_case(peer, method, int(steps), int(reps))
        return 0
    if a.only in (None, "solvers"):
        solvers(a.quick)
    if a.only in (None, "spiral"):
        spiral(a.quick, a.seed, a.spiral_skip_odeint_adjoint)
    if a.only in (None, "adjoint"):
        adjoint(a.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
