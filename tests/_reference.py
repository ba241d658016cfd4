"""Independent float64 reference solvers shared by the tests (no infotheory code inside)."""

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
