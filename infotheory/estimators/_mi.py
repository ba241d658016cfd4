"""Mutual information: plug-in/JVHW from joint symbols, Kraskov k-NN for continuous data, and the
Gaussian closed form by log-determinants."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from .._arrays import host_array
from .._units import log_base
from ._counting import as_codes
from ._entropy import _from_counts, _g_table, _method
from ._value import Information


def _entropy_of_labels(labels: np.ndarray, n: int, method: str) -> float:
    plugin, jvhw, k = _core.entropy_codes(labels, _g_table())
    if method == "jvhw":
        return float(jvhw)
    if method == "miller_madow":
        return float(plugin) + (k - 1) / (2.0 * n)
    if method == "mle":
        return float(plugin)
    return _from_counts(_core.count_symbols(labels, False, False)[0], n, method)


def _discrete_mi(x: Any, y: Any, method: str) -> float:
    a = as_codes(x, "x")
    b = as_codes(y, "y")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"x and y must have the same number of samples, got {a.shape[0]} and {b.shape[0]}"
        )
    n = a.shape[0]
    # Relabel each variable to 0..k-1 (first occurrence) and count the pairs of labels.
    cx, lx = _core.count_symbols(a, False, True)[::2]
    cy, ly = _core.count_symbols(b, False, True)[::2]
    joint = np.stack([lx, ly], axis=1)
    hx = _from_counts(cx, n, method)
    hy = _from_counts(cy, n, method)
    hxy = _entropy_of_labels(joint, n, method)
    return max(0.0, hx + hy - hxy)


def _as_float2d(v: Any, name: str) -> np.ndarray:
    a = host_array(v, name)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be 1-D (n,) or 2-D (n, d), got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, found NaN or inf")
    return np.ascontiguousarray(a)


def ksg_mi(x: Any, y: Any, *, k: int = 3) -> float:
    """Kraskov-Stoegbauer-Grassberger estimate (their algorithm 1) of I(X;Y) in nats (always: the
    low-level form; ``mutual_information(x, y, method="ksg")`` converts, to bits by default).

    I = psi(k) + psi(n) - < psi(n_x + 1) + psi(n_y + 1) >, where eps_i is the max-norm distance
    from point i to its k-th neighbour in the joint space and n_x, n_y count the other points
    strictly closer than eps_i in each marginal space (Phys. Rev. E 69, 066138, 2004). The
    estimate is not clipped at 0 and depends on the scales of x and y (standardise them first to
    compare with scikit-learn, which does). Neighbours come from the C++ kd-tree of the
    ``entropy`` family (threads: ``infotheory.set_num_threads``); the counts equal those of
    scipy's cKDTree with p = inf, ties included.
    """
    from scipy.special import digamma

    a = _as_float2d(x, "x")
    b = _as_float2d(y, "y")
    n = a.shape[0]
    if b.shape[0] != n:
        raise ValueError(f"x and y must have the same number of samples, got {n} and {b.shape[0]}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if not 1 <= k < n:
        raise ValueError(f"k must be in 1..n-1 = {n - 1}, got {k}")
    # The kernel's counts include the point itself, so they are n_x + 1 and n_y + 1 already.
    nx, ny = _core.ksg_counts(np.hstack([a, b]), a.shape[1], int(k))
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx)) - np.mean(digamma(ny)))


def mutual_information(
    x: Any, y: Any, *, method: str = "jvhw", base: str | float = 2, k: int = 3
) -> Information:
    """Estimate I(X;Y) from paired samples, in bits unless ``base=`` says otherwise.

    Parameters
    ----------
    x, y : array_like, shape (n,) or (n, d)
        Paired samples. Discrete methods need integer symbols (rows of 2-D input are symbols);
        ``"ksg"`` takes real values.
    method : {"jvhw", "mle", "miller_madow", "nsb", "ksg"}
        Discrete methods estimate H(X) + H(Y) - H(X,Y) with that entropy estimator, the pair
        encoded as one symbol (math.md §C2 step 7), clipped at 0. ``"ksg"`` is the Kraskov k-NN
        estimator (:func:`ksg_mi`), not clipped.
    base : {2, "bits", "e", "nats", 10, ...}
        Unit of the result. Default ``2`` (bits); ``base="e"`` for nats.
    k : int
        Neighbours for ``"ksg"``.

    Returns
    -------
    Information
        A ``float`` whose ``unit`` attribute names its unit.
    """
    log_base(base)  # validate before any work
    if isinstance(method, str) and method == "ksg":
        return Information.from_nats(ksg_mi(x, y, k=k), base)
    return Information.from_nats(_discrete_mi(x, y, _method(method)), base)


def _indices(idx: Any, name: str, m: int) -> list[int]:
    """Coordinate indices into an m x m covariance: integers, non-empty, in range, no repeats;
    negative ones count from the end (so [-1] and [m - 1] are the same coordinate)."""
    a = np.atleast_1d(np.asarray(idx))
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of indices, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must be non-empty")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer indices, got dtype {a.dtype}")
    out = []
    for i in a.tolist():
        if not -m <= i < m:
            raise ValueError(f"{name} has an index out of range for a {m}x{m} covariance: {i}")
        out.append(i % m)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a coordinate, got {a.tolist()}")
    return out


def gaussian_mi(
    cov: Any, x_idx: Sequence[int], y_idx: Sequence[int], *, base: str | float = 2
) -> Information:
    """I(X;Y) of jointly Gaussian coordinates, the closed-form oracle for KSG.

    I = 1/2 (ln det S_xx + ln det S_yy - ln det S_(x,y)) for the sub-covariances of ``cov`` on the
    index sets ``x_idx`` and ``y_idx`` (disjoint). For one pair with correlation rho this is
    -1/2 ln(1 - rho^2) nats. Like :func:`mutual_information`, the default unit is bits
    (``base=2``); ``base="e"`` gives nats, the unit of :func:`ksg_mi`.
    """
    log_base(base)
    c = host_array(cov, "cov")
    if c.dtype.kind not in "iuf":
        raise TypeError(f"cov must be real numbers, got dtype {c.dtype}")
    c = c.astype(np.float64, copy=False)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"cov must be a square matrix, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError("cov must be finite")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12):
        raise ValueError("cov must be symmetric")
    m = c.shape[0]
    xi = _indices(x_idx, "x_idx", m)
    yi = _indices(y_idx, "y_idx", m)
    if set(xi) & set(yi):
        raise ValueError("x_idx and y_idx must be disjoint")

    # on the correlation matrix of the chosen coordinates (I is scale-free): the checks do not
    # depend on the units (a singular 1e308 * ones matrix gave 26 bits, a tiny asymmetric one
    # passed the absolute tolerance), and no determinant over- or underflows
    idx = xi + yi
    sub = c[np.ix_(idx, idx)]
    var = np.diag(sub)
    if not np.all(var > 0):
        raise ValueError("cov must be positive definite on the chosen coordinates")
    sd = np.sqrt(var)
    r = sub / sd[:, None] / sd[None, :]
    if not np.allclose(r, r.T, rtol=1e-10, atol=1e-12):
        raise ValueError("cov must be symmetric")
    nx = len(xi)

    def logdet(block: np.ndarray) -> float:
        sign, val = np.linalg.slogdet(block)
        if sign <= 0:
            raise ValueError("cov must be positive definite on the chosen coordinates")
        return float(val)

    nats = 0.5 * (logdet(r[:nx, :nx]) + logdet(r[nx:, nx:]) - logdet(r))
    return Information.from_nats(nats, base)
