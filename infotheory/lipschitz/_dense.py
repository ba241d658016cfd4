"""Top singular value of dense matrices and batches of them (``spectral_norm``)."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _arrays, _core
from .._result import ResultMixin


def warn_unconverged(
    run: str,
    tol: float,
    max_iter: int,
    n_bad: int,
    total: int,
    *,
    stacklevel: int,
    bracket: bool = True,
) -> None:
    """The one RuntimeWarning for matrices that did not reach ``tol``; ``stacklevel`` as seen by
    the caller. ``bracket``: whether [lower, upper] still holds for them."""
    warnings.warn(
        f"spectral_norm ({run}) did not reach tol={tol} within max_iter={max_iter} for "
        f"{n_bad} of {total} matrices"
        + ("; the bracket [lower, upper] still holds" if bracket else ""),
        RuntimeWarning,
        stacklevel=stacklevel + 1,
    )


METHODS = ("auto", "power", "lanczos", "svd")
CERTIFY = ("auto", "cholesky", "none")
STOPS = ("residual", "kato-temple")
# certify="auto" runs the Cholesky certificate when min(m, n) is at most this (its cost, about
# (5/6) min(m, n)^3 multiply-adds, stays within a few Lanczos runs there)
_CERTIFY_AUTO_MAX = 256
# certified Lanczos on at most this many rows or columns runs the Gram kernel
# (``spectral_top_gram``): Lanczos on the float64 Gram matrix that the certificate factors anyway
_GRAM_MAX = 256
_KERNEL_METHOD = {"power": 0, "lanczos": 1}
# Lanczos keeps at most this many basis vectors, then restarts from its best Ritz vector.
_MAX_BASIS = 128
# Block Lanczos: at most this many basis vectors per block vector (block size 4: 256).
_MAX_BASIS_PER_BLOCK = 64
_MAX_BLOCK = 4
_MAX_ITER = 2**31 - 1  # the kernels count in int32


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
        Bracket on ``sigma_max``. ``lower = sqrt(y^T W^T W y)`` for the final unit vector ``y`` (a
        Rayleigh quotient): always a lower bound. ``upper``: where ``certified`` is True, a
        guaranteed upper bound: ``mu I - W^T W`` (or ``W W^T``, the smaller) was shown positive
        semi-definite by a float64 Cholesky factorisation, and ``upper = sqrt(mu + margin)`` with
        a margin covering the rounding of the product and of the factorisation (about ``(m + n)
        2^-53 (k mu + ||W||_F^2)``), so it holds for every matrix, clustered or repeated top
        singular values included (where Lanczos misses the top one the certificate fails and a
        full SVD decides). Where ``certified`` is False (``certify="none"``, or more than 256 rows
        and columns with ``"auto"``), ``upper`` is an estimate, not a bound, and so is the
        stopping rule built on it. Power iteration reports the residual bound ``sqrt(theta +
        r)``, ``r = ||W^T W y - theta y||``: a bound on the singular value nearest the estimate,
        hence on ``sigma_max`` once ``y`` has converged to the top singular direction; so does
        Lanczos by default (``stop="residual"``). With ``stop="kato-temple"`` Lanczos
        reports the smaller of that and the Kato-Temple estimate ``sqrt(theta + r^2 / g)``, where
        the gap ``g = min(theta - (theta_2 + r_2), 0.01 theta)`` comes from Lanczos's second Ritz
        pair (value ``theta_2``, residual ``r_2``; the residual bound alone where ``theta <=
        theta_2 + r_2``, and before 30 Lanczos steps). Kato-Temple is a bound when no eigenvalue
        of ``W^T W`` other than the top one lies above ``theta_2 + r_2``; an eigenvalue that the
        Krylov space has not found yet (a top singular direction that the start vector barely
        contains, or a cluster member) breaks that. The cap on ``g`` (Lanczos then runs until
        ``r <= sqrt(0.02 tol) theta``) and the 30 steps limit the damage: without them a top
        pair 1e-3 to 1e-2 apart stopped on the second singular value in about 1% of random
        trials; with them, in 6000 trials (30 to 110 rows and columns: Gaussian, a top pair 1e-3
        apart above a dense spectrum, top clusters 0 to 1e-1 wide), only where the residual bound
        failed as well (once: a start vector nearly orthogonal to the top direction). On Gaussian
        matrices the true error stays about 10x below ``tol`` while Lanczos stops after about
        two thirds of the steps the residual bound needs. Both
        estimates can fail for a cluster of top singular values a little wider than ``tol``,
        which one start vector cannot tell apart before its residual falls below the cluster's
        width: at ``tol=1e-6``, sweeps found ``upper`` up to about the cluster's width below
        ``sigma_max`` for two or three top singular values 1e-6 to 1e-4 apart (the residual
        bound alone: 1e-6 to 1e-5 apart; power iteration, 2e-5 below). Use
        ``certify="cholesky"`` where that matters. The Kato-Temple estimate is not the default
        because of convolutional layers: their operators have a dense band of top singular values
        whose top member the Krylov space finds late, and on the materialised matrices of 16 small
        He-initialised 3x3 convolutions (8-32 channels, 7x7 to 16x16 inputs; 6 start vectors each)
        it stopped more than ``tol=1e-6`` below ``sigma_max`` in 20 of 96 runs (up to 3e-4 below),
        the residual bound in 1 of 96 (1e-5 below). ``upper - lower <= tol * lower`` when
        ``converged``.
    iterations : int or array of int
        Applications of ``W^T W`` (each reads ``W`` once), including the final certificate; for
        block Lanczos (``block_size`` > 1), passes over ``W`` (each applies ``W^T W`` to the
        whole block) plus the certificate's single application.
    converged : bool or array of bool
        Whether the bracket met ``tol`` within ``max_iter``.
    method : str
        The method that ran: "power", "lanczos" or "svd".
    u, v : array or None
        Unit left and right singular vectors, shapes ``(..., m)`` and ``(..., n)``, with
        ``W v = value * u``; ``v`` is returned always (pass it back as ``init`` to warm-start), ``u``
        only with ``return_vectors=True``.
    certified : bool or array of bool
        Whether ``upper`` is guaranteed (see ``lower, upper``). Always True for ``method="svd"``.
    """

    value: Any
    lower: Any
    upper: Any
    iterations: Any
    converged: Any
    method: str
    u: Any = None
    v: Any = None
    certified: Any = False

    def __float__(self) -> float:
        return float(self.value)


def _check_matrix(W: Any) -> _arrays.Arg:
    if _arrays.is_tensor(W):
        torch = _arrays.torch_module()
        if W.dtype == torch.bool or W.is_complex() or not W.is_floating_point():
            raise TypeError(f"W must be a real floating-point tensor, got dtype {W.dtype}")
        _arrays.refuse_meta(W, "W")
        if W.dtype not in (torch.float32, torch.float64):
            W = W.float()  # float16, bfloat16 (and float8) weights: computed in float32
    else:
        a = _arrays.host_array(W, "W") if not isinstance(W, np.ndarray) else W
        if a.dtype.kind != "f":
            raise TypeError(f"W must be a real floating-point array, got dtype {a.dtype}")
        W = a
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
    certify: str = "auto",
    stop: str = "residual",
    block_size: int | None = None,
) -> SpectralNormResult:
    """Largest singular value of a matrix or of a batch of matrices.

    Parameters
    ----------
    W : array or tensor, shape ``(..., m, n)``
        float32 or float64 (float16 and bfloat16 tensors are computed in float32); numpy arrays,
        torch CPU tensors and torch CUDA tensors. Leading dimensions are a batch. On the CPU any
        finite magnitude works: a matrix whose products would overflow or underflow (norms beyond
        about 2^+-200, or 2^+-40 for float32) is solved again scaled by a power of two, exactly;
        a norm beyond the float64 range raises ValueError.
    method : {"auto", "power", "lanczos", "svd"}
        ``"lanczos"``: Lanczos on ``W^T W`` with full reorthogonalisation (the same Krylov space as
        Golub-Kahan bidiagonalisation), restarted every 128 steps (fewer where the basis would
        pass 64 MB); without a certificate it stops on the residual bound, or with
        ``stop="kato-temple"`` on the Kato-Temple estimate from its second Ritz pair (see
        :class:`SpectralNormResult`): about 50 operator applications to ``tol=1e-6`` on a Gaussian
        1024x1024 matrix and 85-90 at 4096x4096 (Kato-Temple: 35-40 and 65-75), one pass over
        ``W`` each (the fused, software-pipelined ``W^T (W
        v)`` kernel, in float32 arithmetic for float32 matrices of 65536 entries or more, with the
        certificate in double; float64 matrices that size iterate the same way on a float32
        copy of ``W`` when ``tol >= 2.5e-7`` (the copy's rounding, about 6e-8 relative, stays
        below tol; half the bytes per pass) and every nonzero entry's magnitude lies in
        [1e-30, 1e30], and certify with ``W`` itself; a certificate that misses tol switches
        the iteration to float64; the copy's buffer is kept per thread for the next call up
        to 256 MB). With ``stop="kato-temple"`` and no certificate the gap of that
        estimate is capped and trusted only after 30 steps; when the Cholesky certificate follows
        (``certify``) Lanczos always stops on the uncapped estimate, since the certificate
        catches a wrong stop. ``"power"``: power iteration,
        best with a warm start (``init``) in training loops. ``"svd"``: full SVD (numpy or torch), the
        reference. ``"auto"``: lanczos. On CUDA tensors ``power`` runs the compiled kernel;
        ``lanczos``/``auto`` with ``min(m, n) <= 256`` run one compiled kernel per batch (one
        thread block per matrix, certified as on the CPU) and larger matrices batched torch
        operations on the device.
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
    certify : {"auto", "cholesky", "none"}
        ``"cholesky"``: make ``upper`` a guaranteed bound (see :class:`SpectralNormResult`) by one
        float64 Cholesky factorisation of ``mu I - W^T W`` per matrix, about ``(5/6) k^3``
        multiply-adds for ``k = min(m, n)``. With Lanczos and ``k <= 256`` the whole solve is one
        kernel call per batch: the float64 Gram matrix ``G`` (``W^T W`` or ``W W^T``, the
        smaller) is formed once, Lanczos iterates on ``G`` (``iterations`` then counts products
        with ``G``), ``lower`` is recomputed from ``W`` itself, and the Cholesky certificate
        factors ``mu I - G`` from the same ``G``. ``"auto"``: that where ``k <= 256``. ``"none"``:
        the iteration's estimate (``certified=False``), chosen by ``stop`` (see
        :class:`SpectralNormResult`). On CUDA tensors the certificate runs with torch on the
        device or in the batched Lanczos kernel, and uncertified Lanczos stops as on the CPU.
    stop : {"residual", "kato-temple"}
        Stopping rule of uncertified Lanczos (power iteration always uses the residual bound).
        ``"residual"``: the residual bound, as ARPACK. ``"kato-temple"``: the capped Kato-Temple
        estimate, about a quarter fewer operator applications on Gaussian matrices, but it can
        stop below ``sigma_max`` where the top singular values form a dense band, as in
        convolutional layers (see :class:`SpectralNormResult`).
    block_size : int, optional
        Block Lanczos with this many vectors (1 to 4; 1 is single-vector Lanczos): one fused pass
        over ``W`` applies ``W^T W`` to the whole block, and the block Krylov space converges at
        the rate of the gap between the top singular value and the ``(block_size + 1)``-th, so
        fewer passes reach ``tol`` (about 0.7x at 2 and 0.55x at 4 on Gaussian matrices) and a
        top singular value of multiplicity up to ``block_size`` is found from any start. Each
        pass does ``block_size`` times the arithmetic on the same bytes of ``W``, so it can pay
        only where a pass is bound by memory traffic (large matrices). It stops
        on the residual norm of the top Ritz pair, ``||W^T W y - theta y|| <= 2 tol theta``
        (the block residual ``||T s - theta s||^2 + ||R_k s_k||^2`` of the block tridiagonal
        projection), then certifies as single-vector Lanczos: ``upper = sqrt(theta + r)`` from
        one more exact application. ``iterations`` then counts passes over ``W`` (each applies
        ``W^T W`` to ``block_size`` vectors) plus that single application. CPU only (ignored for
        CUDA tensors and for the small-matrix certified path, ``min(m, n) <= 256`` with
        ``certify="auto"``); ``method="lanczos"`` or ``"auto"`` with ``stop="residual"`` only.
        Default (None): 1. Measured at 1 thread on a 2-core AMD EPYC (Zen 3, shared with other
        jobs), to ``tol=1e-6`` on Gaussian matrices: 2 vectors took 0.7-0.9x the passes of
        single-vector Lanczos at 1.1-1.6x the time per pass, so 0.84-1.06x its total time at
        4096x4096 and 6144x6144 and 1.4-1.5x at 1024x1024 (in cache); 4 vectors 0.55-0.65x the
        passes at 1.6-2.8x the time per pass, 1.1-1.9x the total time. Use it for top singular
        values of multiplicity up to ``block_size`` or a start vector nearly orthogonal to the
        top direction.

    Returns
    -------
    SpectralNormResult
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (0.0 < tol < 1.0):
        raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
    if max_iter is not None and (
        isinstance(max_iter, bool)
        or not isinstance(max_iter, (int, np.integer))
        or not 1 <= max_iter <= _MAX_ITER
    ):
        raise ValueError(f"max_iter must be an int in [1, {_MAX_ITER}], got {max_iter!r}")
    seed = _arrays.int_scalar(seed, "seed", minimum=0, maximum=2**64 - 1)
    if certify not in CERTIFY:
        raise ValueError(f"certify must be one of {CERTIFY}, got {certify!r}")
    if stop not in STOPS:
        raise ValueError(f"stop must be one of {STOPS}, got {stop!r}")
    block = _check_block(block_size, method, stop)
    arg = _check_matrix(W)
    if arg.backend == "cuda":
        from . import _cuda, _cuda_lanczos
        from ._torch_iter import certify_torch, spectral_norm_torch

        Wt, exps = _scale_entries(arg.array)  # the kernels' magnitude range (see _ENTRY_EXPONENT)
        m, n = Wt.shape[-2:]
        if _cuda_lanczos.use_kernel(method, m, n):  # the batched kernel, certified as on the CPU
            res = _cuda_lanczos.spectral_norm_cuda_lanczos(
                Wt, tol=tol, max_iter=max_iter, return_vectors=return_vectors,
                init=init, seed=seed, certify=certify != "none", stop=stop,
            )  # fmt: skip
        elif method != "svd" and (
            certify == "cholesky" or (certify == "auto" and min(m, n) <= _CERTIFY_AUTO_MAX)
        ):
            with warnings.catch_warnings():
                # the certificate decides convergence
                warnings.simplefilter("ignore", RuntimeWarning)
                res = spectral_norm(
                    Wt, method=method, tol=tol, max_iter=max_iter,
                    return_vectors=return_vectors, init=init, seed=seed, certify="none",
                    stop="kato-temple",  # the certificate catches a wrong stop
                )  # fmt: skip
            res = certify_torch(Wt, res, tol)
            import torch

            bad = ~torch.as_tensor(res.converged, dtype=torch.bool)
            if bool(bad.any()):
                warn_unconverged(method, tol, max_iter, int(bad.sum()), bad.numel(), stacklevel=2)
        elif method == "power" and _cuda.available():
            res = _cuda.spectral_norm_cuda_power(
                Wt, tol=tol, max_iter=max_iter, return_vectors=return_vectors, init=init,
                seed=seed,
            )  # fmt: skip
        else:
            res = spectral_norm_torch(
                Wt, method=method, tol=tol, max_iter=max_iter, return_vectors=return_vectors,
                init=init, seed=seed, stop=stop,
            )  # fmt: skip
        return _scaled_back(res, exps)
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
    cert = certify == "cholesky" or (certify == "auto" and min(m, n) <= _CERTIFY_AUTO_MAX)
    u = np.zeros((b, m)) if return_vectors else None
    opts = (run, stop, cert, block, float(tol), int(max_iter), int(seed) % (1 << 63))
    out = _cpu_top(A3, v, u, *opts)
    _rescaled(A3, v, u, out, opts)
    _raise_nonfinite(out.status, batch)
    return _finish(
        arg, A3, batch, out.sigma, out.lower, out.upper, out.iters, out.status, run, u, v,
        out.certified, tol, max_iter,
    )  # fmt: skip


@dataclass
class _Out:
    """Per-matrix results of the CPU kernels (arrays over the flattened batch)."""

    sigma: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    iters: np.ndarray
    status: np.ndarray
    certified: np.ndarray


def _cpu_top(
    A3: np.ndarray,
    v: np.ndarray,
    u: np.ndarray | None,
    run: str,
    stop: str,
    cert: bool,
    block: int | None,
    tol: float,
    max_iter: int,
    seed: int,
) -> _Out:
    """The CPU kernels on the batch ``A3`` ``(b, m, n)``: start vectors ``v`` ``(b, n)`` in, right
    singular vectors out (``u`` ``(b, m)`` too where given), certified where ``cert``. A matrix whose
    products were not finite gets status 1 and is left to the caller."""
    b, m, n = A3.shape
    kernel_method = _KERNEL_METHOD[run]
    if cert and run == "lanczos":
        kernel_method = 2  # may stop on the Kato-Temple estimate: the certificate checks it
    elif run == "lanczos" and stop == "kato-temple":
        kernel_method = 3  # the Kato-Temple estimate with the gap capped (uncertified upper)
    out = _Out(
        np.empty(b), np.empty(b), np.empty(b), np.empty(b, np.int32), np.empty(b, np.int32),
        np.zeros(b, bool),
    )  # fmt: skip
    sigma, lower, upper, iters, status = out.sigma, out.lower, out.upper, out.iters, out.status
    max_basis = int(min(_MAX_BASIS, max(16, (1 << 23) // n)))  # the basis within 64 MB
    if cert and run == "lanczos" and min(m, n) <= _GRAM_MAX:
        _gram_path(A3, v, u, out, tol, max_iter, max_basis, seed)
        return out
    if block is None:
        # single-vector Lanczos: block Lanczos measured no faster at 1 thread (see block_size)
        block = 1
    if block > 1 and run == "lanczos":
        max_basis = int(min(_MAX_BASIS_PER_BLOCK * block, max(4 * block, (1 << 23) // n)))
        _core.spectral_top_block(
            A3, v, u, sigma, lower, upper, iters, status, block, tol, max_iter, max_basis, seed
        )
    else:
        _core.spectral_top(
            A3, v, u, sigma, lower, upper, iters, status, kernel_method, tol, max_iter, max_basis,
            seed,
        )  # fmt: skip
    if cert:
        live = np.flatnonzero(status != 1)
        out.certified[live] = True
        if live.size == b:
            redo = _cholesky_certify(A3, lower, upper, tol)
        else:
            up = upper[live]
            redo = live[_cholesky_certify(np.ascontiguousarray(A3[live]), lower[live], up, tol)]
            upper[live] = up
        if redo.size:
            # the iteration missed the top singular value (or rounding hid it): a full SVD decides
            _svd_into(A3, redo, sigma, lower, upper, v, u)
        _certified_status(status, status != 1, lower, upper, tol)
    return out


# The kernels form squares of W^T W products (residual norms: about sigma^4), in float32 on the
# float32 pass: results are exact only while those stay normal numbers. Outside these bounds on the
# computed bracket (or where the products overflowed) a matrix is solved again scaled by a power of
# two, exactly: 2^+-200 (float64 arithmetic fails beyond about 2^+-255) and 2^+-40 for float32
# matrices (the float32 pass fails beyond about 2^+-60).
_RANGE = {np.dtype(np.float64): 2.0**200, np.dtype(np.float32): 2.0**40}


def _rescaled(
    A3: np.ndarray, v: np.ndarray, u: np.ndarray | None, out: _Out, opts: tuple[Any, ...]
) -> None:
    """Solve again, scaled by a power of two, the matrices whose magnitude the kernels could not
    handle (see ``_RANGE``): a finite, nonzero matrix with non-finite products or a bracket outside
    the range. Raises ValueError where the spectral norm itself exceeds float64."""
    big = _RANGE[A3.dtype]
    odd = (out.status == 1) | ~(out.upper <= big) | ~(out.lower >= 1.0 / big)
    idx = [i for i in np.flatnonzero(odd) if np.isfinite(A3[i]).all() and A3[i].any()]
    if not idx:
        return
    idx = np.asarray(idx)
    peak = np.abs(A3[idx]).reshape(idx.size, -1).max(axis=1).astype(np.float64)
    exp = np.frexp(peak)[1]  # peak * 2^-exp in [0.5, 1)
    sub = np.ldexp(A3[idx], -exp[:, None, None]).astype(A3.dtype, copy=False)  # exact
    vs = np.ascontiguousarray(v[idx])
    vs[~np.isfinite(vs).all(axis=1)] = 0.0  # overflowed vectors: a fresh random start
    us = None if u is None else np.ascontiguousarray(u[idx])
    res = _cpu_top(np.ascontiguousarray(sub), vs, us, *opts)
    v[idx] = vs
    if u is not None:
        u[idx] = us
    with np.errstate(over="ignore"):
        for name in ("sigma", "lower", "upper"):
            getattr(out, name)[idx] = np.ldexp(getattr(res, name), exp)
    if not np.isfinite(out.upper[idx]).all():
        raise ValueError(
            "W's spectral norm exceeds the float64 range (about "
            f"{float(np.max(res.upper)):.3g} * 2^{int(np.max(exp))}); rescale W"
        )
    out.iters[idx] = res.iters
    out.status[idx] = res.status
    out.certified[idx] = res.certified


# The CUDA branch's kernels and the torch iteration square products of W^T W as the CPU kernels do
# (see _RANGE), but without _rescaled's check of the result: there a matrix whose largest entry lies
# outside [2^-k, 2^k] runs scaled by an exact power of two into [0.5, 1), and its results are
# scaled back. With k = 100 (float64) and 12 (float32, whose CUDA passes multiply in float32) the
# norm, at most the largest entry times sqrt(m n), keeps its fourth power normal for m n <= 2^32.
_ENTRY_EXPONENT = {"torch.float64": 100, "torch.float32": 12}


def _pow2(k: Any, dtype: Any) -> Any:
    """2^k, exactly, for an integer tensor ``k`` in [-100, 100], as ``dtype`` (float32/64)."""
    torch = _arrays.torch_module()
    if dtype == torch.float64:
        return torch.bitwise_left_shift(k.to(torch.int64) + 1023, 52).view(torch.float64)
    return torch.bitwise_left_shift(k.to(torch.int32) + 127, 23).view(torch.float32)


def _times_pow2(x: Any, e: Any) -> Any:
    """``x * 2^e``, exact while the result is normal, for an integer tensor ``e`` broadcasting
    against ``x``: steps of at most 2^+-100, so that every factor is a normal number."""
    while True:
        k = e.clamp(-100, 100)
        if not bool((k != 0).any()):
            return x
        x = x * _pow2(k, x.dtype)
        e = e - k


def _scale_entries(W: Any) -> tuple[Any, Any]:
    """``(W, None)`` where every matrix of the float32/64 tensor ``W`` ``(..., m, n)`` has its
    largest entry in range (``_ENTRY_EXPONENT``: then nothing changes); else ``(W 2^-e, e)``
    with integer exponents ``e`` ``(...)`` that bring the out-of-range matrices' largest entries
    into [0.5, 1), exactly, and are 0 for the others. Costs one pass over W and one device sync."""
    torch = _arrays.torch_module()
    k = _ENTRY_EXPONENT[str(W.dtype)]
    peak = torch.linalg.vector_norm(W, ord=float("inf"), dim=(-2, -1))
    odd = torch.isfinite(peak) & (peak > 0) & ((peak < 2.0**-k) | (peak > 2.0**k))
    if not bool(odd.any()):
        return W, None
    e = torch.where(odd, torch.frexp(peak).exponent.to(torch.int64), 0)  # peak in [2^(e-1), 2^e)
    return _times_pow2(W, -e[..., None, None]), e


def _scaled_back(res: SpectralNormResult, e: Any) -> SpectralNormResult:
    """``res`` of a matrix scaled by ``2^-e`` (``_scale_entries``) with value, lower and upper
    scaled back (vectors, iterations and flags need nothing); ValueError where the norm exceeds
    the range of the result's float type."""
    if e is None:
        return res
    torch = _arrays.torch_module()
    fields = {}
    for name in ("value", "lower", "upper"):
        x = getattr(res, name)
        if isinstance(x, float):
            try:
                y = math.ldexp(x, int(e))
            except OverflowError:
                y = math.inf
            ok, kind = math.isfinite(y), "float64"
        else:
            y = _times_pow2(x.to(torch.float64), e.to(x.device)).to(x.dtype)
            ok, kind = bool(torch.isfinite(y).all()), str(y.dtype).replace("torch.", "")
        if not ok:
            raise ValueError(
                f"W's spectral norm exceeds the {kind} range (about "
                f"{float(torch.as_tensor(res.upper).max()):.3g} * 2^{int(e.max())}); rescale W"
            )
        fields[name] = y
    return dataclasses.replace(res, **fields)


def _check_block(block_size: Any, method: str, stop: str) -> int | None:
    """Validate ``block_size``: None (the default choice) or an int in [1, 4]; block Lanczos
    (> 1) needs ``method`` "lanczos"/"auto" and the residual stop."""
    if block_size is None:
        return None
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)):
        raise TypeError(f"block_size must be an int or None, got {type(block_size).__name__}")
    block = int(block_size)
    if not 1 <= block <= _MAX_BLOCK:
        raise ValueError(f"block_size must be in [1, {_MAX_BLOCK}], got {block}")
    if block > 1 and method not in ("auto", "lanczos"):
        raise ValueError(f"block_size > 1 needs method 'lanczos' or 'auto', got {method!r}")
    if block > 1 and stop != "residual":
        raise ValueError(f"block_size > 1 stops on the residual bound only, got stop={stop!r}")
    return block


def _raise_nonfinite(status: np.ndarray, batch: tuple[int, ...]) -> None:
    bad = np.flatnonzero(status == 1)
    if bad.size:
        idx = tuple(int(i) for i in np.unravel_index(int(bad[0]), batch))
        where = f" (matrix {idx} of the batch)" if batch else ""
        raise ValueError(f"W must be finite, found NaN or inf{where}")


def _finish(
    arg: _arrays.Arg,
    A3: np.ndarray,
    batch: tuple[int, ...],
    sigma: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iters: np.ndarray,
    status: np.ndarray,
    run: str,
    u: np.ndarray | None,
    v: np.ndarray,
    certified: np.ndarray,
    tol: float,
    max_iter: int,
    stacklevel: int = 3,
) -> SpectralNormResult:
    b, m, n = A3.shape
    converged = status == 0
    if not converged.all():
        warn_unconverged(run, tol, max_iter, int((~converged).sum()), b, stacklevel=stacklevel)
    A = arg.array
    vecs_dtype = A.dtype
    v_out = arg.wrap(v.reshape(*batch, n).astype(vecs_dtype, copy=False))
    u_out = arg.wrap(u.reshape(*batch, m).astype(vecs_dtype, copy=False)) if u is not None else None
    return _package(arg, batch, sigma, lower, upper, iters, converged, run, u_out, v_out, certified)


_U = 2.0**-53


def _margin_upper(mu: np.ndarray, fro2: np.ndarray, m: int, n: int) -> np.ndarray:
    """``sqrt(mu + margin)``: the guaranteed bound once ``mu I - G`` factored (see
    :func:`_cholesky_certify`)."""
    k = min(m, n)
    # Rounding: |fl(X^T X) - X^T X| <= gamma_max(m,n) |X|^T |X|, whose 2-norm is at most
    # gamma ||X||_F^2; a Cholesky factorisation that succeeds on H = fl(mu I - G) is exact for
    # H + E with ||E|| <= gamma_(k+1) tr(R^T R) ~ gamma (k mu + ||X||_F^2) (Demmel 1989); the
    # diagonal subtraction adds u (mu + ||X||_F^2). The margin is twice their sum.
    g = 2.0 * (max(m, n) + k + 2) * _U
    margin = 2.0 * g * (k * mu + 2.0 * fro2) / (1.0 - g)
    return np.sqrt(mu + margin)


def _certified_status(
    status: np.ndarray, live: np.ndarray, lower: np.ndarray, upper: np.ndarray, tol: float
) -> None:
    """Convergence of the certified matrices ``live`` is the certified bracket's: 0 where it
    meets ``tol``, 4 (no convergence) where it does not, whatever the iteration's own status was
    (a ``tol`` below the certificate's rounding margin, about ``(m + n) 2^-53 min(m, n)``
    relative, cannot be met)."""
    within = (upper - lower <= tol * lower) | (upper == 0)
    status[live & within] = 0
    status[live & ~within] = 4


def _gram_path(
    A3: np.ndarray,
    v: np.ndarray,
    u: np.ndarray | None,
    out: _Out,
    tol: float,
    max_iter: int,
    max_basis: int,
    seed: int,
) -> None:
    """Certified Lanczos for small matrices in one kernel call: Lanczos on the float64 Gram
    matrix, then the Cholesky certificate of ``mu I - G`` from the same ``G`` (the two ``mu``
    candidates of :func:`_cholesky_certify`); a full SVD where both fail."""
    b, m, n = A3.shape
    sigma, lower, upper, status = out.sigma, out.lower, out.upper, out.status
    mu, fro2 = np.empty(b), np.empty(b)
    ok = np.empty(b, np.int32)
    _core.spectral_top_gram(
        A3, v, u, sigma, lower, upper, out.iters, status, mu, ok, fro2, tol, max_iter, max_basis,
        seed,
    )  # fmt: skip
    bad = status == 1
    zero = (fro2 == 0.0) & ~bad
    upper[zero] = 0.0
    good = ok.astype(bool) & ~zero & ~bad
    upper[good] = _margin_upper(mu[good], fro2[good], m, n)
    redo = np.flatnonzero(~(good | zero | bad))
    if redo.size:
        # the iteration missed the top singular value (or rounding hid it): a full SVD decides
        _svd_into(A3, redo, sigma, lower, upper, v, u)
    _certified_status(status, ~bad, lower, upper, tol)
    out.certified[:] = ~bad


def _cholesky_certify(
    A3: np.ndarray, lower: np.ndarray, upper: np.ndarray, tol: float
) -> np.ndarray:
    """Replace ``upper`` by a guaranteed bound where a float64 Cholesky factorisation (the
    kernel's) shows ``mu I - G`` positive definite (``G`` the smaller Gram matrix), trying ``mu``
    from the iteration's bracket; returns the indices where every try failed."""
    m, n = A3.shape[1:]
    todo = np.arange(A3.shape[0])
    for cand in (
        np.maximum(upper**2, (lower * (1.0 + 0.25 * tol)) ** 2),
        (lower * (1.0 + 0.9 * tol)) ** 2,
    ):
        if not todo.size:
            break
        sub = A3 if todo.size == A3.shape[0] else np.ascontiguousarray(A3[todo])
        mu = np.ascontiguousarray(cand[todo])
        ok = np.zeros(todo.size, np.int32)
        fro2 = np.empty(todo.size)
        _core.spectral_certify(sub, mu, ok, fro2)
        zero = fro2 == 0.0
        upper[todo[zero]] = 0.0
        ok = ok.astype(bool) & ~zero
        upper[todo[ok]] = _margin_upper(mu[ok], fro2[ok], m, n)
        todo = todo[~(ok | zero)]
    return todo


def _svd_into(
    A3: np.ndarray,
    idx: np.ndarray,
    sigma: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    v: np.ndarray,
    u: np.ndarray | None,
) -> None:
    """Full SVD (float64) for the matrices ``idx``: value, a bracket covering LAPACK's error
    (a few ``max(m, n) 2^-53 sigma_max``), and the vectors."""
    m, n = A3.shape[1:]
    slack = 8.0 * max(m, n) * _U
    for i in idx:
        U, S, Vt = np.linalg.svd(A3[i].astype(np.float64))
        sigma[i] = S[0]
        lower[i] = S[0] * (1.0 - slack)
        upper[i] = S[0] * (1.0 + slack)
        v[i] = Vt[0]
        if u is not None:
            u[i] = U[:, 0]


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
    certified: np.ndarray,
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
            bool(certified[0]),
        )
    shaped = [x.reshape(batch) for x in (sigma, lower, upper, iters, converged)]
    return SpectralNormResult(
        *(arg.wrap(x) for x in shaped), method, u, v, arg.wrap(certified.reshape(batch))
    )


def _svd(arg: _arrays.Arg, return_vectors: bool) -> SpectralNormResult:
    A = arg.array
    batch = A.shape[:-2]
    b = math.prod(batch)
    if not np.isfinite(A).all():
        raise ValueError("W must be finite, found NaN or inf")
    with np.errstate(over="ignore"):
        if return_vectors:
            U, S, Vt = np.linalg.svd(A, full_matrices=False)
            u, v = U[..., :, 0], Vt[..., 0, :]
            u_out, v_out = arg.wrap(np.ascontiguousarray(u)), arg.wrap(np.ascontiguousarray(v))
        else:
            S = np.linalg.svd(A, compute_uv=False)
            u_out = v_out = None
    if not np.isfinite(S[..., 0]).all():
        # a float32 matrix whose norm exceeds float32 (LAPACK scales inside, the result is cast):
        # the values in float64, which the result holds anyway
        S = np.linalg.svd(A.astype(np.float64), compute_uv=False)
    s = np.asarray(S[..., 0], dtype=np.float64).reshape(b)
    iters = np.zeros(b, np.int32)
    ok = np.ones(b, bool)
    return _package(arg, batch, s, s, s, iters, ok, "svd", u_out, v_out, ok)
