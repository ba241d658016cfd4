"""Top singular value of dense matrices and batches of them (``spectral_norm``)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _arrays, _core
from .._result import ResultMixin

METHODS = ("auto", "power", "lanczos", "svd")
_KERNEL_METHOD = {"power": 0, "lanczos": 1}
# Lanczos keeps at most this many basis vectors, then restarts from its best Ritz vector.
_MAX_BASIS = 64


@dataclass(frozen=True)
class SpectralNormResult(ResultMixin):
    """Top singular value of a matrix or of each matrix in a batch.

    Attributes
    ----------
    value : float or array, shape ``(...)``
        Estimate of the spectral norm ``sigma_max(W)`` (the largest singular value), equal to
        ``lower``. A float for a single matrix; otherwise an array of the caller's type (numpy
        array or torch tensor) over the batch dimensions.
    lower, upper : float or array, shape ``(...)``
        Bracket ``lower <= sigma_max <= upper``. ``lower = sqrt(y^T W^T W y)`` for the final unit
        vector ``y`` (a Rayleigh quotient: always a lower bound); ``upper = sqrt(theta + ||W^T W y -
        theta y||)``, the residual bound, which holds once ``y`` has converged to the top singular
        direction (it does from a random start with probability one; where the top singular
        value is repeated up to a relative gap g, up to that gap: power iteration can settle
        between two such values with a small residual, Lanczos separates them). ``upper - lower
        <= tol * lower`` when ``converged``.
    iterations : int or array of int
        Applications of ``W^T W`` (each reads ``W`` once), including the final certificate.
    converged : bool or array of bool
        Whether the bracket met ``tol`` within ``max_iter``.
    method : str
        The method that ran: "power", "lanczos" or "svd".
    u, v : array or None
        Unit left and right singular vectors, shapes ``(..., m)`` and ``(..., n)``, with
        ``W v = value * u``; ``v`` is returned always (pass it back as ``init`` to warm-start), ``u``
        only with ``return_vectors=True``.
    """

    value: Any
    lower: Any
    upper: Any
    iterations: Any
    converged: Any
    method: str
    u: Any = None
    v: Any = None

    def __float__(self) -> float:
        return float(self.value)


def _check_matrix(W: Any) -> _arrays.Arg:
    if _arrays.is_tensor(W):
        torch = _arrays.torch_module()
        if W.dtype == torch.bool or W.is_complex() or not W.is_floating_point():
            raise TypeError(f"W must be a real floating-point tensor, got dtype {W.dtype}")
        if W.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"W must have dtype float32 or float64, got {W.dtype}")
    else:
        a = np.asarray(W) if not isinstance(W, np.ndarray) else W
        if a.dtype.kind != "f":
            raise TypeError(f"W must be a real floating-point array, got dtype {a.dtype}")
    arg = _arrays.float_array(W, "W", allow_copy=True, allow_empty=True)
    if len(arg.shape) < 2:
        raise ValueError(f"W must have at least 2 dimensions (..., m, n), got shape {arg.shape}")
    if 0 in arg.shape:
        raise ValueError(f"W must not be empty, got shape {arg.shape}")
    return arg


def spectral_norm(
    W: Any,
    *,
    method: str = "auto",
    tol: float = 1e-8,
    max_iter: int | None = None,
    return_vectors: bool = False,
    init: Any = None,
    seed: int = 0,
) -> SpectralNormResult:
    """Largest singular value of a matrix or of a batch of matrices.

    Parameters
    ----------
    W : array or tensor, shape ``(..., m, n)``
        float32 or float64; numpy arrays, torch CPU tensors and torch CUDA tensors. Leading
        dimensions are a batch.
    method : {"auto", "power", "lanczos", "svd"}
        ``"lanczos"``: Lanczos on ``W^T W`` with full reorthogonalisation (the same Krylov space as
        Golub-Kahan bidiagonalisation), restarted every 64 steps; a few tens of operator
        applications on a Gaussian 1024x1024 matrix. ``"power"``: power iteration, best with a
        warm start (``init``) in training loops. ``"svd"``: full SVD (numpy or torch), the
        reference. ``"auto"``: lanczos. On CUDA tensors ``power`` runs the compiled kernel and
        ``lanczos`` runs batched torch operations on the device.
    tol : float
        Relative width of the certified bracket: stops when ``upper - lower <= tol * lower``
        (see :class:`SpectralNormResult`). Not the relative change between iterations, which
        under-reports the error of power iteration by orders of magnitude.
    max_iter : int, optional
        Cap on operator applications per matrix (default 2000 for lanczos, 20000 for power). A
        matrix that does not converge gets ``converged=False`` and a ``RuntimeWarning``.
    return_vectors : bool
        Also return the left singular vector ``u``.
    init : array or tensor, shape ``(..., n)`` or ``(n,)``, optional
        Start vector (e.g. the ``v`` of a previous call). Default: a reproducible random vector
        drawn from ``seed``.
    seed : int
        Seed of the default start vector.

    Returns
    -------
    SpectralNormResult
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (0.0 < tol < 1.0):
        raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
    if max_iter is not None and (
        isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1
    ):
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    arg = _check_matrix(W)
    if arg.backend == "cuda":
        from . import _cuda
        from ._torch_iter import spectral_norm_torch

        if method == "power" and _cuda.available():
            return _cuda.spectral_norm_cuda_power(
                arg.array,
                tol=tol,
                max_iter=max_iter,
                return_vectors=return_vectors,
                init=init,
                seed=seed,
            )

        return spectral_norm_torch(
            arg.array,
            method=method,
            tol=tol,
            max_iter=max_iter,
            return_vectors=return_vectors,
            init=init,
            seed=seed,
        )
    A = arg.array  # numpy (a zero-copy view of a CPU tensor for the "torch" backend)
    batch, (m, n) = A.shape[:-2], A.shape[-2:]
    if method == "svd":
        return _svd(arg, return_vectors)
    run = "lanczos" if method == "auto" else method
    if max_iter is None:
        max_iter = 2000 if run == "lanczos" else 20000
    b = math.prod(batch)
    A3 = A.reshape(b, m, n)
    v = np.zeros((b, n))
    if init is not None:
        iv = init.detach().cpu().numpy() if _arrays.is_tensor(init) else np.asarray(init)
        if iv.dtype.kind not in "iuf":
            raise TypeError(f"init must be real numbers, got dtype {iv.dtype}")
        try:
            v[...] = np.broadcast_to(iv, (*batch, n)).reshape(b, n)
        except ValueError as e:
            raise ValueError(
                f"init must have shape (..., {n}) matching W's batch {batch}, got {iv.shape}"
            ) from e
        if not np.isfinite(v).all():
            raise ValueError("init must be finite")
    u = np.zeros((b, m)) if return_vectors else None
    sigma, lower, upper = np.empty(b), np.empty(b), np.empty(b)
    iters = np.empty(b, np.int32)
    status = np.empty(b, np.int32)
    _core.spectral_top(
        A3,
        v,
        u,
        sigma,
        lower,
        upper,
        iters,
        status,
        _KERNEL_METHOD[run],
        float(tol),
        int(max_iter),
        _MAX_BASIS,
        int(seed) % (1 << 63),
    )
    bad = np.flatnonzero(status == 1)
    if bad.size:
        idx = tuple(int(i) for i in np.unravel_index(int(bad[0]), batch))
        where = f" (matrix {idx} of the batch)" if batch else ""
        raise ValueError(f"W must be finite, found NaN or inf{where}")
    converged = status == 0
    if not converged.all():
        warnings.warn(
            f"spectral_norm ({run}) did not reach tol={tol} within max_iter={max_iter} for "
            f"{int((~converged).sum())} of {b} matrices; the bracket [lower, upper] still holds",
            RuntimeWarning,
            stacklevel=2,
        )
    vecs_dtype = A.dtype
    v_out = arg.wrap(v.reshape(*batch, n).astype(vecs_dtype, copy=False))
    u_out = arg.wrap(u.reshape(*batch, m).astype(vecs_dtype, copy=False)) if u is not None else None
    return _package(arg, batch, sigma, lower, upper, iters, converged, run, u_out, v_out)


def _package(
    arg: _arrays.Arg,
    batch: tuple[int, ...],
    sigma: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iters: np.ndarray,
    converged: np.ndarray,
    method: str,
    u: Any,
    v: Any,
) -> SpectralNormResult:
    if not batch:
        return SpectralNormResult(
            float(sigma[0]),
            float(lower[0]),
            float(upper[0]),
            int(iters[0]),
            bool(converged[0]),
            method,
            u,
            v,
        )
    shaped = [x.reshape(batch) for x in (sigma, lower, upper, iters, converged)]
    return SpectralNormResult(*(arg.wrap(x) for x in shaped), method, u, v)


def _svd(arg: _arrays.Arg, return_vectors: bool) -> SpectralNormResult:
    A = arg.array
    batch = A.shape[:-2]
    b = math.prod(batch)
    if not np.isfinite(A).all():
        raise ValueError("W must be finite, found NaN or inf")
    if return_vectors:
        U, S, Vt = np.linalg.svd(A, full_matrices=False)
        u, v = U[..., :, 0], Vt[..., 0, :]
        u_out, v_out = arg.wrap(np.ascontiguousarray(u)), arg.wrap(np.ascontiguousarray(v))
    else:
        S = np.linalg.svd(A, compute_uv=False)
        u_out = v_out = None
    s = np.asarray(S[..., 0], dtype=np.float64).reshape(b)
    iters = np.zeros(b, np.int32)
    ok = np.ones(b, bool)
    return _package(arg, batch, s, s, s, iters, ok, "svd", u_out, v_out)
