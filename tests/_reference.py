"""Independent float64 reference solvers and test matrices shared by the tests (no infotheory code
inside)."""

from __future__ import annotations

import numpy as np


def bisect_level(s: np.ndarray, D: float, *, forward: bool = False, iters: int = 200) -> float:
    """Level by plain bisection on the monotone mass function."""
    s = np.asarray(s, dtype=np.float64)
    if forward:
        lo, hi = float(s.min()), float(s.max()) + D
        mass = lambda t: np.maximum(t - s, 0.0).sum()  # noqa: E731
    else:
        lo, hi = 0.0, float(s.max())
        mass = lambda t: np.minimum(s, t).sum()  # noqa: E731
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if mass(mid) < D:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def reverse_mi(s: np.ndarray, alloc: np.ndarray) -> float:
    s, a = np.asarray(s, np.float64), np.asarray(alloc, np.float64)
    pos = s > 0
    # a budget so small that a positive variance gets a zero allocation (underflow) means infinite
    # information: log(0) = -inf is the intended value here, not an accident worth a warning
    with np.errstate(divide="ignore"):
        return float(0.5 * np.sum(np.log(s[pos]) - np.log(a[pos])))


def spectrum_matrix(kind: str, m: int, n: int, rng: np.random.Generator, gap: float, size: int):
    """An m x n matrix: Gaussian ("gaussian"); a top pair 1, 0.999 above a dense quadratic
    spectrum ("hard"); or a top cluster of `size` singular values `gap` apart below 1 with the
    rest far below ("geom", from 0.5 down) or dense ("flat")."""
    if kind == "gaussian":
        return rng.standard_normal((m, n))
    k = min(m, n)
    U, _ = np.linalg.qr(rng.standard_normal((m, m)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    if kind == "hard":
        s = np.linspace(1.0, 0.0, k) ** 2
        s[0], s[1] = 1.0, 0.999
    else:
        s = np.geomspace(0.5, 0.5e-6, k) if kind == "geom" else np.sqrt(np.linspace(0.9, 0.0, k))
        top = min(size, k)
        s[:top] = 1.0 - gap * np.arange(top)
    return (U[:, :k] * s) @ V[:, :k].T
