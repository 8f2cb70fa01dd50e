#!/usr/bin/env python3
"""Coefficients of `autodiff::math::C`: expm1(r) ~ r * P(r) on |r| <= 0.3466 (just over ln2/2).

P has degree 10 with P(0) = 1 and P'(0) = 1/2 fixed (exact small-argument behaviour); the other
nine coefficients minimise the largest relative error of r * P(r) against expm1(r), found by
Lawson's iteration (reweighted least squares converging to the minimax solution) on 400
Chebyshev nodes in 50-digit arithmetic. The script then rounds them to f64 and reports the
largest relative error on a grid of 20,001 points.

Run: python3 crates/autodiff/tools/expm1_minimax.py   (needs mpmath)
"""
import mpmath as mp

mp.mp.dps = 50
H = mp.mpf("0.3466")
DEG = 8  # degree of S, where P(r) = 1 + r/2 + r^2 S(r)


def q(r):
    return mp.expm1(r) / r if r != 0 else mp.mpf(1)


def s_target(r):
    if abs(r) < mp.mpf("1e-20"):
        return mp.mpf(1) / 6
    return (q(r) - 1 - r / 2) / r**2


def main():
    n = 400
    xs = [H * mp.cos(mp.pi * (k + mp.mpf(0.5)) / n) for k in range(n)]
    ys = [s_target(x) for x in xs]
    # The relative error of expm1 is r^2 (S_fit - S) / q(r).
    scale = [x**2 / q(x) for x in xs]
    w = [mp.mpf(1) / n] * n
    for _ in range(60):
        a = mp.matrix(DEG + 1, DEG + 1)
        b = mp.matrix(DEG + 1, 1)
        for x, y, sc, wi in zip(xs, ys, scale, w):
            powers = [x**j for j in range(DEG + 1)]
            for i in range(DEG + 1):
                b[i] += wi * sc * sc * powers[i] * y
                for j in range(DEG + 1):
                    a[i, j] += wi * sc * sc * powers[i] * powers[j]
        c = mp.lu_solve(a, b)
        coefs = [c[j] for j in range(DEG + 1)]
        errs = [abs(sc * (mp.polyval(list(reversed(coefs)), x) - y)) for x, y, sc in zip(xs, ys, scale)]
        total = sum(wi * e for wi, e in zip(w, errs))
        w = [wi * e / total for wi, e in zip(w, errs)]
    f64 = [float(v) for v in coefs]
    worst = mp.mpf(0)
    m = 20001
    for k in range(m):
        r = -H + 2 * H * k / (m - 1)
        if r == 0:
            continue
        acc = mp.mpf(0)
        for cj in reversed(f64):
            acc = acc * r + mp.mpf(cj)
        p = 1 + r / 2 + r * r * acc
        worst = max(worst, abs(r * p - mp.expm1(r)) / abs(mp.expm1(r)))
    print("largest relative error of expm1 with f64 coefficients:", mp.nstr(worst, 5))
    print("C = [1.0, 0.5, " + ", ".join(repr(v) for v in f64) + "]")


if __name__ == "__main__":
    main()
