"""Theorem 3.2: the optimal attack on a linear projection X = HU of a standard Gaussian vector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _arrays
from ._result import ResultMixin
from .waterfill import reverse_waterfill


@dataclass(frozen=True)
class ProjectionAttackResult(ResultMixin):
    """Optimal attack on ``X = HU`` (math.md §A3.1).

    Attributes
    ----------
    singular_values : array, shape ``(..., min(n, m))``
        Singular values of H, descending; those below the rank tolerance are set to 0.
    rank : array of int, shape ``(...)``
        Number of singular values above the tolerance (k in the paper).
    level : array, shape ``(...)``
        Water level tau.
    allocation : array, shape ``(..., min(n, m))``
        Distortion per singular direction, ``D_i = min(sigma_i^2, tau)``.
    mi : array, shape ``(...)``
        Minimal ``I(U; HU + E)`` under ``E||E||^2 <= D``, in ``unit``.
    unit : str
    """

    singular_values: Any
    rank: Any
    level: Any
    allocation: Any
    mi: Any
    unit: str


def projection_attack(
    H: Any, D: Any, *, base: str | float = "e", rtol: float | None = None
) -> ProjectionAttackResult:
    """Minimal mutual information ``I(U; HU + E)`` over perturbations with ``E||E||^2 <= D``,
    for ``U ~ N(0, I_m)`` (Theorem 3.2 of arXiv 2007.14042, corrected as in math.md §A3.1).

    Parameters
    ----------
    H : array_like, shape ``(..., n, m)``
        Projection matrix (or a batch of them).
    D : array_like
        Power budget, broadcast against ``H.shape[:-2]``.
    base : "e", 2, 10 or a positive number
        Unit of ``mi``.
    rtol : float, optional
        Singular values ``<= rtol * max(singular values)`` count as zero (the rank-deficient case);
        default ``max(n, m) * eps`` of the dtype, as ``numpy.linalg.matrix_rank``.

    Returns
    -------
    ProjectionAttackResult
        The reverse water-filling of the squared singular values:
        ``I* = 1/2 sum_i ln(sigma_i^2 / D_i)``, zero for ``D >= ||H||_F^2`` (the paper prints
        ``sum sigma_i`` there; the squared norm is right).
    """
    arg = _arrays.float_array(H, "H", allow_copy=True, min_ndim=2)
    n, m = arg.shape[-2:]
    if n == 0 or m == 0:
        raise ValueError(f"H must have non-empty matrix dimensions, got shape {arg.shape}")
    if rtol is not None and (not np.isfinite(rtol) or rtol < 0):
        raise ValueError(f"rtol must be finite and >= 0, got {rtol}")
    eps = float(np.finfo(arg.np_dtype).eps)
    tol = max(n, m) * eps if rtol is None else float(rtol)
    if arg.backend == "cuda":
        torch = _arrays.torch_module()
        if not bool(torch.isfinite(arg.array).all()):
            raise ValueError("H must be finite, found NaN or inf")
        s = torch.linalg.svdvals(arg.array)
        keep = s > tol * s[..., :1]
        s = torch.where(keep, s, torch.zeros_like(s))
        rank = keep.sum(-1)
    else:
        if not np.isfinite(arg.array).all():
            raise ValueError("H must be finite, found NaN or inf")
        s = np.linalg.svd(arg.array, compute_uv=False)
        keep = s > tol * s[..., :1]
        s = np.where(keep, s, 0.0).astype(arg.array.dtype, copy=False)
        rank = keep.sum(-1)
    wf = reverse_waterfill(s * s, D, base=base)
    return ProjectionAttackResult(
        singular_values=arg.wrap(s),
        rank=arg.wrap(rank),
        level=arg.wrap(wf.level),
        allocation=arg.wrap(wf.allocation),
        mi=arg.wrap(wf.mi),
        unit=wf.unit,
    )
