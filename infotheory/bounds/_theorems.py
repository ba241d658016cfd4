"""Theorem 2 (psi and the robustness bound) and Theorem 4 (transferability) of the IB robustness
paper (math.md §B4.1 and §B4.3)."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._arrays import host_array


def _nonneg(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = value.item() if isinstance(value, np.generic) else value  # no float32 overflow warning
    v = math.inf if abs(value) > sys.float_info.max else float(value)  # ints beyond float range
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def _prob(value: Any, name: str) -> float:
    v = _nonneg(value, name)
    if v > 1:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v


def psi(x: Any) -> Any:
    """psi of Theorem 2, eq. (6): 0 at 0, x ln(1/x) on (0, 1/e), 1/e from 1/e on.

    The paper leaves x = 1/e undefined; both branches give 1/e there, so psi is continuous and
    non-decreasing. Natural log. Vectorised: a float for a scalar, an ndarray otherwise.

    Examples: psi(0.01) = 0.046052, psi(0.1) = 0.230259, psi(1/e) = psi(1) = 0.367879.
    """
    a = host_array(x, "x")
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise TypeError(f"x must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if np.isnan(a).any():
        raise ValueError("x must not be NaN")
    if (a < 0).any():
        raise ValueError(f"x must be >= 0, got a minimum of {float(a.min())}")
    inv_e = math.exp(-1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # the unused branch
        out = np.where(a >= inv_e, inv_e, np.where(a > 0, -a * np.log(a), 0.0))
    return float(out) if out.ndim == 0 else out


def robustness_bound(
    *,
    L: float,
    eps: float,
    n_benign: int,
    n_adv: int,
    mi_benign: float,
    mi_adv: float,
    constants: Sequence[float],
    n_union: int | None = None,
) -> float:
    """Right-hand side of Theorem 2, eq. (5): a bound on |I(Y;T) - I(Y;T')|.

        |T_b u T_a| psi(L eps) + max{ C1 sqrt|T_b| I(X;T)^(1/2) + C2 |T_b|^(3/4) I(X;T)^(1/4),
                                      C3 sqrt|T_a| I(X';T')^(1/2) + C4 |T_a|^(3/4) I(X';T')^(1/4) }

    Parameters
    ----------
    L : float
        Lipschitz constant of the encoder p(t|x) in x.
    eps : float
        Perturbation budget.
    n_benign, n_adv : int
        Support sizes |T_b| and |T_a| of the benign and adversarial features.
    mi_benign, mi_adv : float
        I(X;T) and I(X';T') in nats.
    constants : (C1, C2, C3, C4)
        The paper's constants "depending only on p(x) and the attack"; it gives no values
        (math.md marks them unknown), so they must be supplied.
    n_union : int, optional
        |T_b u T_a|; defaults to n_benign + n_adv, its upper bound, which keeps the bound valid.
    """
    L, eps = _nonneg(L, "L"), _nonneg(eps, "eps")
    mb, ma = _nonneg(mi_benign, "mi_benign"), _nonneg(mi_adv, "mi_adv")
    tb, ta = _nonneg(n_benign, "n_benign"), _nonneg(n_adv, "n_adv")
    if isinstance(constants, (str, bytes)) or not hasattr(constants, "__len__"):
        raise TypeError(f"constants must be a sequence (C1, C2, C3, C4), got {constants!r}")
    if len(constants) != 4:
        raise ValueError(f"constants must be (C1, C2, C3, C4), got {len(constants)} values")
    c1, c2, c3, c4 = (_nonneg(c, f"constants[{i}]") for i, c in enumerate(constants))
    tu = tb + ta if n_union is None else _nonneg(n_union, "n_union")
    if n_union is not None and not max(tb, ta) <= tu <= tb + ta:
        raise ValueError(
            f"n_union must be between max(n_benign, n_adv) and n_benign + n_adv, got {n_union}"
        )
    benign = c1 * math.sqrt(tb) * mb**0.5 + c2 * tb**0.75 * mb**0.25
    adv = c3 * math.sqrt(ta) * ma**0.5 + c4 * ta**0.75 * ma**0.25
    return tu * psi(L * eps) + max(benign, adv)


def transfer_delta(delta: float, tau: float, T: int, L: float, eps: float) -> float:
    """Theorem 4: an attack delta-effective on f1 is delta'-effective on f2 = g2 o T, with

        delta' = delta + 4 tau + |T| L eps,

    when f1 and f2 share an L-Lipschitz encoder p(t|x) with feature support size |T| and both
    have 0-1 risk <= tau. The bound is vacuous once delta' >= 1; the value is returned unclipped.
    (tau is a maximum ERROR rate; the paper's text calls it an accuracy, math.md §B4.3.)

    Examples: (0.1, 0.02, 100, 1e-4, 0.3) -> 0.1830; (0.05, 0.01, 16, 0.01, 0.1) -> 0.1060.
    """
    d, t = _prob(delta, "delta"), _prob(tau, "tau")
    size = _nonneg(T, "T")
    if size < 1:
        raise ValueError(f"T must be >= 1, got {T!r}")
    return d + 4 * t + size * _nonneg(L, "L") * _nonneg(eps, "eps")
