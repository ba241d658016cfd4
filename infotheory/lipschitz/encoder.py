"""Stochastic-encoder Lipschitz bounds (math.md §B4.2) and certified radii from logit margins."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from .._arrays import host_array, int_scalar, is_tensor, real_scalar, torch_module

FORMS = ("corrected", "paper")


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type where this module once raised ValueError for every bad
    value: a TypeError, and still a ValueError for callers that catch that."""


def _int_arg(x: Any, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """``_arrays.int_scalar`` (Python or numpy integers), its type errors also ValueErrors."""
    try:
        return int_scalar(x, name, minimum=minimum, maximum=maximum)
    except TypeError as e:
        raise ArgumentTypeError(str(e)) from None


def _real_arg(x: Any, name: str, *, minimum: float, strict: bool = False) -> float:
    """``_arrays.real_scalar`` (finite), its type errors also ValueErrors."""
    try:
        return real_scalar(x, name, minimum=minimum, strict=strict)
    except TypeError as e:
        raise ArgumentTypeError(str(e)) from None


def _nonneg(name: str, x: Any, *, positive: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    x = x.item() if isinstance(x, np.generic) else x  # no float32 overflow warning
    v = math.inf if abs(x) > sys.float_info.max else float(x)  # ints beyond float range
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {x!r}")
    return v


def gaussian_encoder_bound(
    L_mu: float, L_sigma: float, sigma_min: float, K: int, *, form: str = "corrected"
) -> float:
    """Lipschitz constant in x of the density ``p(t|x) = N(t | f_mu(x), diag f_sigma(x)^2)``.

    ``corrected`` (math.md §B4.2, the default; holds for every K):

        K / ((2 pi)^(K/2) sigma_min^(K+1)) * (L_sigma + e^(-1/2) L_mu)

    ``paper`` (the first paper's Theorem 3, eq. 8; valid for K = 1 only, violated for K >= 2):

        K / (sqrt(2 pi)^(K-1) sigma_min^2) * (2 L_sigma / e^(3/2) + L_mu / e^(1/2))

    Parameters
    ----------
    L_mu, L_sigma : float
        Coordinate-wise Lipschitz constants of the mean and standard-deviation networks (an l2
        bound on the whole head, e.g. from :func:`lipschitz_upper_bound`, is one).
    sigma_min : float
        ``min_x min_k f_sigma_k(x) > 0``.
    K : int
        Dimension of t.
    form : {"corrected", "paper"}

    Returns
    -------
    float
        The bound, in units of density per unit of ``||x - x'||``.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    K = _int_arg(K, "K", minimum=1)
    lm, ls = _nonneg("L_mu", L_mu), _nonneg("L_sigma", L_sigma)
    smin = _nonneg("sigma_min", sigma_min, positive=True)
    k = int(K)
    if form == "paper":
        tail = 2 * ls / math.e**1.5 + lm / math.e**0.5
        try:
            value = k / (math.sqrt(2 * math.pi) ** (k - 1) * smin**2) * tail
        except (OverflowError, ZeroDivisionError):  # sqrt(2 pi)^(K-1) or sigma_min^2 overflowed
            value = math.inf
        # the same in logs, to tell a huge bound from an intermediate overflow
        log_pre = math.log(k) - 0.5 * (k - 1) * math.log(2 * math.pi) - 2 * math.log(smin)
    else:
        # in logs: sigma_min^(K+1) under/overflows for large K
        log_pre = math.log(k) - 0.5 * k * math.log(2 * math.pi) - (k + 1) * math.log(smin)
        tail = ls + math.exp(-0.5) * lm
        try:
            value = math.exp(log_pre) * tail
        except OverflowError:
            value = math.inf
    if tail == 0.0 or math.isfinite(value):
        return value if tail else 0.0
    log_bound = log_pre + math.log(tail)
    if log_bound > _LOG_MAX:
        raise ValueError(
            f"the bound exp({log_bound:.6g}) exceeds the float64 range (K={k}, "
            f"sigma_min={smin:g}, L_mu={lm:g}, L_sigma={ls:g})"
        )
    return math.exp(log_bound)


_LOG_MAX = math.log(np.finfo(np.float64).max)


def certified_radius(logits: Any, L: float, y: Any = None) -> Any:
    """l2 radius within which the prediction cannot change: ``margin / (sqrt(2) L)``.

    The margin is ``z_top - z_second`` (or ``z_y - max_{j != y} z_j`` with labels, clipped at 0
    for misclassified inputs). Each difference ``z_i - z_j`` is ``sqrt(2) L``-Lipschitz when the
    logit map is ``L``-Lipschitz in l2 (Tsuzuku, Sato and Sugiyama 2018).

    Parameters
    ----------
    logits : array or tensor, shape ``(N, classes)``
    L : float
        Upper bound on the logit map's l2 Lipschitz constant (> 0).
    y : array or tensor of int, shape ``(N,)``, optional

    Returns
    -------
    array or tensor, shape ``(N,)``
        In the caller's array type (float64 for numpy).
    """
    Lf = _nonneg("L", L, positive=True)
    tensor = is_tensor(logits)
    z = host_array(logits, "logits")
    if z.dtype == object or z.dtype.kind not in "iuf":
        raise TypeError(f"logits must be real numbers, got dtype {z.dtype}")
    z = z.astype(np.float64, copy=False)
    if z.ndim != 2 or z.shape[1] < 2 or z.shape[0] == 0:
        raise ValueError(f"logits must have shape (N, classes >= 2), got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite")
    # halved margins (exact): z_top - z_second overflowed to inf at logits +-1e308 (an infinite
    # radius from a finite one, 1.4e308); margin / (sqrt(2) L) = (margin / 2) / (sqrt(1/2) L)
    z = z * 0.5
    if y is None:
        top2 = np.sort(z, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
    else:
        yy = host_array(y, "y")
        if yy.shape != (z.shape[0],) or yy.dtype.kind not in "iu":
            raise ValueError(f"y must be integer labels of shape ({z.shape[0]},), got {yy.shape}")
        if yy.min() < 0 or yy.max() >= z.shape[1]:
            raise ValueError(f"y must be in [0, {z.shape[1]}), got range [{yy.min()}, {yy.max()}]")
        idx = np.arange(z.shape[0])
        zy = z[idx, yy]
        other = z.copy()
        other[idx, yy] = -np.inf
        margin = np.maximum(zy - other.max(axis=1), 0.0)
    with np.errstate(over="ignore"):
        r = margin / (math.sqrt(0.5) * Lf)
    if not np.isfinite(r).all():
        raise ValueError(
            f"the certified radius margin / (sqrt(2) L) overflows float64 (L={Lf!r}): rescale "
            "the logits or L"
        )
    if tensor:
        return torch_module().from_numpy(r).to(logits.device)
    return r


def certified_accuracy(logits: Any, y: Any, L: float, eps: float) -> float:
    """Fraction of inputs classified correctly with certified radius >= ``eps`` (l2)."""
    e = _nonneg("eps", eps)
    r = certified_radius(logits, L, y)
    r = r.cpu().numpy() if is_tensor(r) else r
    z = host_array(logits, "logits")
    yy = host_array(y, "y")
    correct = z.argmax(axis=1) == yy
    return float(np.mean(correct & (r >= e)))
