"""Theorem 3.1 of arXiv 2007.14042: the optimal power-limited attack on a Gaussian source observed in
Gaussian noise, in closed form (math.md §A2.2-§A2.3), and its vector extension (§A2.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from .._arrays import int_scalar
from .._result import ResultMixin
from .._units import log_base
from ._validate import as_float, scalar_out


@dataclass(frozen=True)
class GaussianScalarResult(ResultMixin):
    """Optimal attack ``E = alpha U + beta W + N`` on ``X = U + W`` (math.md §A2.2, §A2.3).

    Attributes
    ----------
    mi : array
        Minimal ``I(U; X + E)`` in ``unit``.
    rho2 : array
        Squared correlation of U and Y = X + E at the optimum (the value of the paper's program (4),
        which is what the paper's Figure 3 plots).
    cov_ue, cov_we : array
        ``Cov(U, E*)`` and ``Cov(W, E*)`` (the paper's x and y).
    alpha, beta : array
        Linear coefficients of the optimal perturbation on U and on W.
    noise_var : array
        Variance of the independent Gaussian part N. U-aware attacker: 0 when ``s2 > 0`` (its W
        part plays that role), ``D (1 - D/a2)`` when ``s2 = 0`` (the backward test channel).
    power : array
        ``E[E*^2]`` actually used (``min(D, a2)`` for the aware attacker: beyond ``a2`` the
        information is already 0 and extra power is not needed).
    unit : str
    aware : bool
        True: the attacker sees U and X (Theorem 3.1). False: it sees X only (§A2.3).
    """

    mi: Any
    rho2: Any
    cov_ue: Any
    cov_we: Any
    alpha: Any
    beta: Any
    noise_var: Any
    power: Any
    unit: str
    aware: bool


@dataclass(frozen=True)
class GaussianVectorResult(ResultMixin):
    """Optimal per-coordinate allocation of a power budget (math.md §A2.4).

    Attributes
    ----------
    mi : array, shape ``(...)``
        Minimal ``I(U; U + W + E)`` in ``unit``.
    allocation : array, shape ``(..., k)``
        Power ``D_i`` spent on coordinate i (sum ``min(D, sum a2)``).
    coordinate_mi : array, shape ``(..., k)``
        ``I*_scalar(a2_i, s2_i, D_i)`` in ``unit``.
    multiplier : array, shape ``(...)``
        lambda with ``dI*_i/dD_i = -lambda`` on every coordinate that is not erased, in nats per unit
        power; 0 when the budget erases everything, +inf when ``D = 0``.
    unit : str
    """

    mi: Any
    allocation: Any
    coordinate_mi: Any
    multiplier: Any
    unit: str


def _unit_scale(
    a2: np.ndarray, s2: np.ndarray, D: np.ndarray, cap: float
) -> tuple[np.ndarray, ...]:
    """``a2``, ``s2`` and ``D`` divided by the power of two ``2**e`` that brings ``max(a2, s2)``
    into [0.25, 1) (exact), with ``D`` clipped at ``cap`` (beyond which it changes nothing), and
    ``e``: the closed forms then neither overflow (``a2 D`` at 1e200) nor lose their digits in
    subnormal products, and every result scales back exactly."""
    _, e = np.frexp(np.maximum(a2, s2))
    e = e + (e & 1)  # even: sqrt scales exactly too, so in-range results are bit for bit unchanged
    with np.errstate(over="ignore"):
        Dn = np.minimum(np.ldexp(D, -e), cap)
    return np.ldexp(a2, -e), np.ldexp(s2, -e), Dn, e


def _scalar_mi_nats(a2: np.ndarray, s2: np.ndarray, D: np.ndarray) -> np.ndarray:
    """``ln(S / (sigma sqrt(S - D) + a sqrt(D)))`` for D < a2, else 0 (math.md §A2.2)."""
    a2, s2, D, _ = _unit_scale(a2, s2, D, 4.0)
    S = a2 + s2
    Dc = np.minimum(D, a2)
    g = np.sqrt(s2) * np.sqrt(np.maximum(S - Dc, 0.0)) + np.sqrt(a2) * np.sqrt(Dc)
    with np.errstate(divide="ignore", invalid="ignore"):
        mi = np.log(S / g)
    mi = np.where(D >= a2, 0.0, mi)
    return np.maximum(mi, 0.0)


def gaussian_scalar_attack(
    a2: Any, s2: Any, D: Any, *, aware: bool = True, base: str | float = "e"
) -> GaussianScalarResult:
    """Minimal ``I(U; U + W + E)`` for ``U ~ N(0, a2)``, ``W ~ N(0, s2)`` independent and
    ``E[E^2] <= D`` (Theorem 3.1 of arXiv 2007.14042, closed form of math.md §A2.2).

    Parameters
    ----------
    a2, s2, D : array_like
        Source variance, noise variance and power budget (all finite, >= 0), broadcast together.
    aware : bool
        True (default): the attacker knows U and X, p(E | U, X), as in the paper. False: it knows X
        only (the blind attacker of §A2.3), ``I = -1/2 ln(1 - (a2/S)(1 - D/S))`` with ``S = a2+s2``.
    base : "e", 2, 10 or a positive number
        Unit of ``mi``.

    Returns
    -------
    GaussianScalarResult
        For the aware attacker and ``D < a2``: ``I* = ln(S / (sigma sqrt(S-D) + a sqrt(D)))``,
        ``rho*^2 = ((a sqrt(S-D) - sigma sqrt(D)) / S)^2``,
        ``x* = -(a2 D + a sigma sqrt(D(S-D))) / S``, ``y* = (-s2 D + a sigma sqrt(D(S-D))) / S``,
        ``E* = (x*/a2) U + (y*/s2) W`` (with ``s2 = 0``: ``E* = -(D/a2) U + N``, ``N`` independent
        of variance ``D (1 - D/a2)``). For ``D >= a2``: ``I* = 0`` with ``E* = -U``.
    """
    factor, unit = log_base(base)
    a2 = as_float(a2, "a2")
    s2 = as_float(s2, "s2")
    D = as_float(D, "D")
    try:
        a2, s2, D = np.broadcast_arrays(a2, s2, D)
    except ValueError as e:
        raise ValueError(f"a2, s2 and D do not broadcast together: {e}") from e
    a2, s2, D, scale = _unit_scale(a2, s2, D, 4.0)  # results in units of 2**scale
    S = a2 + s2
    a, sig = np.sqrt(a2), np.sqrt(s2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if aware:
            Dc = np.minimum(D, a2)
            root = np.sqrt(Dc * np.maximum(S - Dc, 0.0))
            x = np.where(S > 0, -(a2 * Dc + a * sig * root) / S, 0.0)
            y = np.where(S > 0, (-s2 * Dc + a * sig * root) / S, 0.0)
            rho = np.where(
                S > 0, (a * np.sqrt(np.maximum(S - Dc, 0.0)) - sig * np.sqrt(Dc)) / S, 0.0
            )
            rho2 = np.where(D >= a2, 0.0, rho * rho)
            mi = _scalar_mi_nats(a2, s2, D)
            x = np.where(D >= a2, -a2, x)
            y = np.where(D >= a2, 0.0, y)
            # s2 > 0: the W part plays the independent noise's role (N = 0). s2 = 0: the backward
            # test channel of rate-distortion, E = -(D/a2) U + N with var N = D (1 - D/a2); without
            # N, Y = (1 - D/a2) U would carry infinite information
            safe = np.where(a2 > 0, a2, 1.0)
            noise = np.where((s2 == 0) & (a2 > 0), Dc * np.maximum(1.0 - Dc / safe, 0.0), 0.0)
            power = Dc
        else:
            f = np.where(S > 0, np.minimum(D, S) / np.where(S > 0, S, 1.0), 1.0)
            rho2 = np.where(S > 0, (a2 / np.where(S > 0, S, 1.0)) * (1.0 - f), 0.0)
            # 1 - rho2 = (s2 + a2 f) / S, from its terms where rho2 is near 1 (log1p(-rho2) loses
            # every digit there: inf for a2 = 1.7e308, s2 = D = 1)
            rest = np.where(S > 0, (s2 + a2 * f) / np.where(S > 0, S, 1.0), 1.0)
            mi = np.where(rho2 < 0.5, -0.5 * np.log1p(-rho2), -0.5 * np.log(rest))
            x, y = -f * a2, -f * s2
            noise = np.minimum(D, S) * (1.0 - f)
            power = np.minimum(D, S)
        alpha = np.where(a2 > 0, x / np.where(a2 > 0, a2, 1.0), -1.0 if aware else -f)
        beta = np.where(s2 > 0, y / np.where(s2 > 0, s2, 1.0), 0.0 if aware else -f)
    mi = mi / factor

    def back(v: np.ndarray) -> np.ndarray:  # no overflow: each is at most max(a2, s2, D) in size
        return np.ldexp(v, scale)

    return GaussianScalarResult(
        mi=scalar_out(mi),
        rho2=scalar_out(rho2),
        cov_ue=scalar_out(back(x)),
        cov_we=scalar_out(back(y)),
        alpha=scalar_out(alpha),
        beta=scalar_out(beta),
        noise_var=scalar_out(back(noise)),
        power=scalar_out(back(power)),
        unit=unit,
        aware=bool(aware),
    )


def gaussian_vector_attack(
    a2: Any, s2: Any, D: Any, *, base: str | float = "e", iters: int = 64
) -> GaussianVectorResult:
    """Minimal ``I(U; U + W + E)`` for independent coordinates ``U_i ~ N(0, a2_i)``,
    ``W_i ~ N(0, s2_i)`` under ``E||E||^2 <= D`` (math.md §A2.4).

    Parameters
    ----------
    a2, s2 : array_like, shape ``(..., k)``
        Source and noise variances (finite, >= 0), broadcast together; leading axes are a batch.
    D : array_like
        Total power budget; its shape broadcasts with the batch shape ``a2.shape[:-1]``.
    base : "e", 2, 10 or a positive number
        Unit of ``mi``.

    Returns
    -------
    GaussianVectorResult
        The allocation solves ``min sum_i I*_scalar(a2_i, s2_i, D_i)`` s.t. ``sum D_i <= D`` by the
        KKT condition ``dI*_i/dD = -lambda`` (outer Newton on ln(lambda), inner Newton per
        coordinate, both inside bisection brackets; one C++ call for the whole batch, OpenMP over
        problems). As ``s2 -> 0`` it reduces to reverse water-filling with level ``1/(2 lambda)``.
    """
    factor, unit = log_base(base)
    int_scalar(iters, "iters", minimum=1)  # kept for compatibility: the solver needs no cap
    a2 = as_float(a2, "a2")
    s2 = as_float(s2, "s2")
    try:
        a2, s2 = np.broadcast_arrays(a2, s2)
    except ValueError as e:
        raise ValueError(f"a2 and s2 do not broadcast together: {e}") from e
    if a2.ndim == 0:
        raise ValueError("a2 must have at least one dimension (the coordinates), got a scalar")
    with np.errstate(over="ignore"):
        if not np.isfinite(a2 + s2).all():  # the solver works with S = a2 + s2: NaN allocations
            raise ValueError("a2 + s2 overflows float64: rescale a2, s2 and D")
    if a2.shape[-1] == 0:
        raise ValueError(f"a2 must have at least one coordinate, got shape {a2.shape}")
    D = as_float(D, "D")
    try:
        batch = np.broadcast_shapes(a2.shape[:-1], D.shape)
    except ValueError as e:
        raise ValueError(f"D with shape {D.shape} does not broadcast to {a2.shape[:-1]}") from e
    D = np.broadcast_to(D, batch)
    a2 = np.broadcast_to(a2, batch + a2.shape[-1:])
    s2 = np.broadcast_to(s2, a2.shape)
    n, k = int(np.prod(batch)), a2.shape[-1]
    flat_a = np.ascontiguousarray(a2, dtype=np.float64).reshape(n, k)
    flat_s = np.ascontiguousarray(s2, dtype=np.float64).reshape(n, k)
    flat_d = np.ascontiguousarray(D, dtype=np.float64).reshape(n)
    # each problem in units of the power of two that brings its largest variance into [0.25, 1):
    # exact, and subnormal variances keep their digits (the total mi was 2x off before); a budget
    # beyond 2k (> sum a2) changes nothing
    _, scale = np.frexp(np.maximum(flat_a, flat_s).max(axis=1))
    scale = scale + (scale & 1)  # even, as in _unit_scale
    flat_a = np.ldexp(flat_a, -scale[:, None])
    flat_s = np.ldexp(flat_s, -scale[:, None])
    with np.errstate(over="ignore"):
        flat_d = np.minimum(np.ldexp(flat_d, -scale), 2.0 * k)
    alloc, mi, lam = np.empty((n, k)), np.empty(n), np.empty(n)
    if n:
        _core.gaussian_vector_attack(flat_a, flat_s, flat_d, alloc, mi, lam)
    alloc = np.ldexp(alloc, scale[:, None]).reshape(a2.shape)
    with np.errstate(over="ignore"):  # lambda ~ 1 / power: inf where it exceeds float64
        lam = np.ldexp(lam, -scale).reshape(batch)
    mi = mi.reshape(batch)
    coord = _scalar_mi_nats(a2, s2, alloc)
    return GaussianVectorResult(
        mi=scalar_out(mi / factor),
        allocation=alloc,
        coordinate_mi=coord / factor,
        multiplier=scalar_out(lam),
        unit=unit,
    )
