"""Theorem 3.2: the optimal attack on a linear projection X = HU of a standard Gaussian vector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _arrays
from .._result import ResultMixin
from ._validate import as_float
from .gaussian import gaussian_scalar_attack, gaussian_vector_attack
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
        Water level tau (with ``noise_var > 0``: ``1 / (2 lambda)``, the level that the multiplier
        lambda of §A2.4 sets, equal to tau in the noiseless limit).
    allocation : array, shape ``(..., min(n, m))``
        Distortion per singular direction, ``D_i = min(sigma_i^2, tau)``.
    mi : array, shape ``(...)``
        Minimal ``I(U; HU + W + E)`` under ``E||E||^2 <= D``, in ``unit``.
    unit : str
    noise_var : float
        Variance of the observation noise W ~ N(0, noise_var I_n) (0: Theorem 3.2 as stated).
    """

    singular_values: Any
    rank: Any
    level: Any
    allocation: Any
    mi: Any
    unit: str
    noise_var: float = 0.0
    _Q: Any = field(default=None, repr=False)
    _V: Any = field(default=None, repr=False)

    def sample(self, U: Any, seed: Any = None, *, W: Any = None) -> np.ndarray:
        """Draw the optimal perturbation E for given source samples (math.md §A3.2, corrected).

        Parameters
        ----------
        U : array_like, shape ``(N, m)``
            Samples of the source U ~ N(0, I_m), one per row.
        seed : int or numpy Generator, optional
            Randomness of the independent part of E.
        W : array_like, shape ``(N, n)``, optional
            The observation-noise samples; required when ``noise_var > 0`` (the attacker sees X).

        Returns
        -------
        ndarray, shape ``(N, n)``
            ``E = Q Lambda``. Noiseless: ``Lambda_i = -(D_i / sigma_i^2) U''_i + N_i`` with
            ``U'' = C V^T U`` and ``N_i ~ N(0, D_i (1 - D_i / sigma_i^2))`` independent, so that
            ``U''_i + Lambda_i`` is independent of ``Lambda_i`` (the paper's condition has the
            opposite sign, which leaks information). Noisy: ``Lambda_i = alpha_i U''_i + beta_i
            W'_i`` with ``W' = Q^T W`` and the coefficients of Theorem 3.1 (§A2.2) per coordinate.
        """
        if self._Q is None or np.ndim(self.mi) != 0:
            raise ValueError("sample() needs the result of a single (unbatched) H on the CPU")
        Q, V = self._Q, self._V
        s = np.asarray(self.singular_values, dtype=np.float64)[: Q.shape[1]]
        Dk = np.asarray(self.allocation, dtype=np.float64)[: Q.shape[1]]
        Uarr = as_float(U, "U", nonneg=False)
        if Uarr.ndim != 2 or Uarr.shape[1] != V.shape[0]:
            raise ValueError(f"U must have shape (N, {V.shape[0]}), got {Uarr.shape}")
        try:
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as e:
            raise type(e)(f"seed must be None, a non-negative int or a Generator: {e}") from e
        u2 = (Uarr @ V) * s  # U''_i = sigma_i V_i^T U, one row per sample
        s2 = s * s
        if self.noise_var == 0:
            keep = s2 > 0
            ratio = np.where(keep, Dk / np.where(keep, s2, 1.0), 0.0)
            noise_sd = np.sqrt(np.maximum(Dk * (1.0 - ratio), 0.0))
            lam = -ratio * u2 + noise_sd * rng.standard_normal(u2.shape)
        else:
            if W is None:
                raise ValueError("W (the observation noise samples) is required when noise_var > 0")
            Warr = as_float(W, "W", nonneg=False)
            if Warr.shape != (Uarr.shape[0], Q.shape[0]):
                raise ValueError(
                    f"W must have shape ({Uarr.shape[0]}, {Q.shape[0]}), got {Warr.shape}"
                )
            coef = gaussian_scalar_attack(s2, self.noise_var, Dk)
            lam = coef.alpha * u2 + coef.beta * (Warr @ Q)
        return lam @ Q.T


def projection_attack(
    H: Any,
    D: Any,
    *,
    noise_var: float = 0.0,
    base: str | float = "e",
    rtol: float | None = None,
) -> ProjectionAttackResult:
    """Minimal mutual information ``I(U; HU + E)`` over perturbations with ``E||E||^2 <= D``,
    for ``U ~ N(0, I_m)`` (Theorem 3.2 of arXiv 2007.14042, corrected as in math.md §A3.1).

    Parameters
    ----------
    H : array_like, shape ``(..., n, m)``
        Projection matrix (or a batch of them).
    D : array_like
        Power budget, broadcast against ``H.shape[:-2]``.
    noise_var : float
        Observation noise ``Y = HU + W + E`` with ``W ~ N(0, noise_var I_n)`` (math.md §A3.4): the
        vector Theorem 3.1 allocation with ``a2_i = sigma_i^2`` and ``s2_i = noise_var``. 0 (default)
        is Theorem 3.2's reverse water-filling.
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
    if rtol is not None:
        rtol = _arrays.real_scalar(rtol, "rtol", minimum=0.0)
    nv = _arrays.real_scalar(noise_var, "noise_var", minimum=0.0)
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
        if arg.array.ndim == 2:  # one H: keep the bases, which sample() needs
            Qf, s, Vt = np.linalg.svd(arg.array, full_matrices=False)
        else:
            s = np.linalg.svd(arg.array, compute_uv=False)
        keep = s > tol * s[..., :1]
        s = np.where(keep, s, 0.0).astype(arg.array.dtype, copy=False)
        rank = keep.sum(-1)
    Q = V = None
    if arg.backend != "cuda" and arg.array.ndim == 2:
        Q, V = Qf.astype(np.float64, copy=False), Vt.T.astype(np.float64, copy=False)
    s_run, D_run, nv_run, scale = s, D, nv, None
    if arg.backend != "cuda":
        # each problem in units of 2**(2e), e the exponent of its largest singular value (exact):
        # s * s underflowed to 0 at H = 1e-200 I (mi 0 where it is inf) and overflowed at 1e200
        arg.like(D, "D", s.shape[:-1])  # the type and shape checks of reverse_waterfill
        Dv = np.broadcast_to(as_float(D, "D", nonneg=False), s.shape[:-1])  # float64 always
        if (Dv < 0).any():
            raise ValueError(f"D must be finite and >= 0, got {float(Dv[Dv < 0].flat[0])!r}")
        _, scale = np.frexp(s[..., 0].astype(np.float64))
        s_run = np.ldexp(s, -scale[..., None]).astype(s.dtype, copy=False)
        with np.errstate(over="ignore"):  # beyond 2 k (> sum of the squares) D changes nothing
            D_run = np.minimum(np.ldexp(Dv, -2 * scale), 2.0 * s.shape[-1])
            nv_run = np.minimum(np.ldexp(np.float64(nv), -2 * scale), 2.0**1000)
    if nv == 0:
        wf = reverse_waterfill(s_run * s_run, D_run, base=base)
        level, alloc, mi, unit = wf.level, wf.allocation, wf.mi, wf.unit
    else:
        s_np = s_run.detach().cpu().numpy() if arg.backend == "cuda" else np.asarray(s_run)
        D_np = _arrays.host_array(D_run, "D") if _arrays.is_tensor(D_run) else D_run
        a2 = s_np.astype(np.float64) ** 2
        va = gaussian_vector_attack(a2, np.asarray(nv_run)[..., None], D_np, base=base)
        with np.errstate(divide="ignore"):
            level = 0.5 / np.asarray(va.multiplier)
        alloc, mi, unit = va.allocation, va.mi, va.unit
    if scale is not None:
        with np.errstate(over="ignore"):
            level = np.asarray(np.ldexp(level, 2 * scale), dtype=np.asarray(level).dtype)
            alloc = np.asarray(np.ldexp(alloc, 2 * scale[..., None]), dtype=np.asarray(alloc).dtype)
        if not np.isfinite(alloc).all():
            raise ValueError(f"the allocation overflows {alloc.dtype}: rescale H and D")
        if arg.backend == "cuda":
            torch = _arrays.torch_module()
            level, alloc, mi = (
                torch.as_tensor(np.asarray(v), device=s.device) for v in (level, alloc, mi)
            )
    return ProjectionAttackResult(
        singular_values=arg.wrap(s),
        rank=arg.wrap(rank),
        level=arg.wrap(level),
        allocation=arg.wrap(alloc),
        mi=arg.wrap(mi),
        unit=unit,
        noise_var=nv,
        _Q=Q,
        _V=V,
    )
