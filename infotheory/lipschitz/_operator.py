"""Lanczos for the top eigenvalue of one matrix-free PSD operator ``B = A^T A`` (torch vectors).

Used for convolutions and other torch-defined layers, where one application of ``B`` (a forward
and an adjoint convolution) costs far more than the vector work. Two operators may be given: a
fast one (e.g. float32 convolutions) that drives the iteration, and an exact one (float64) that
computes the bracket on the final Ritz vector, so the bracket is that of the exact operator.

The basis is kept whole up to ``max_basis`` vectors (a restart from the best Ritz vector follows
only beyond that) and kept semi-orthogonal by partial reorthogonalisation (Simon 1984): a scalar
recurrence estimates ``|q_j^T q_{k+1}|`` from the tridiagonal entries, and only when an estimate
exceeds ``sqrt(eps)`` is the new vector (and the next one) examined. Its overlaps with the whole
basis are measured (one matrix-vector product); where all are below ``sqrt(n) eps``, the level the
recurrence assumes after a reorthogonalisation, the vector is kept as it is, else it is
reorthogonalised (classical Gram-Schmidt, the measured overlaps being the first product; a second
pass only when the first removed much). Semi-orthogonality keeps the tridiagonal's Ritz values
those of an orthogonal basis to working precision, so the iteration count is that of full
reorthogonalisation (same counts measured on 512-channel 7^2 convolutions and, within 3 steps, on
90 dense-band diagonal operators over 130-600 steps with restarts).

The recurrence is a worst case: on a 512-channel 7^2 convolution the true loss without any
reorthogonalisation stayed below 6.2e-5 over 124 steps (below sqrt(eps) = 2.4e-4 throughout)
while its estimate reached 0.17, so 55 of its 58 triggers measure and keep the vector (one
product instead of two or three; 47 of 52 at 128 channels, 28^2, 49 of 56 at 64 channels, 32^2,
where the basis sweeps had taken 10-20% of the time). Not used, measured: raising the threshold
(1e-3 or 1e-2 for sqrt(eps)) kept the conv layers' steps but took 2-9x the steps on the dense
bands; halving the recurrence's rounding term after each kept vector (down to ``eps``) cut the conv
layers' triggers to 14-16 but broke down on a dense band.

Between two operator applications one compiled call (``_core.lanczos_step``) does the step's
vector work (``a = q.w``, ``w -= a q + beta q_prev``, ``b = ||w||``, sums in double) and the omega
recurrence: the ~25 torch and numpy calls it replaces ran 3-4x slower inside the iteration than
alone, each convolution having streamed its weights through the caches (at 512 channels, 7^2: 47
ms of a run against 10 ms, same 124 steps).

The stopping estimate ``beta_k |s_k|`` is the exact residual norm of the Ritz vector in exact
arithmetic; the bracket recomputes it with the exact operator: ``[sqrt(theta), sqrt(theta + r)]``,
the residual bound, which holds for ``lambda_1`` once the Ritz vector has reached the top
eigenvector rather than a lower one. Near the stop the refined Ritz vector (the vector of the
basis with the smallest ``||(B - theta) y||``, from the tridiagonal alone) takes the Ritz vector's
place when its bound is smaller; the same rule and certificate then apply to it.

Not used, measured: a Kato-Temple estimate ``theta + r^2 / gap`` with ``gap = theta - (theta_2 +
r_2)`` from the second Ritz pair (capped at ``0.01 theta``, only from 20 steps on, as the dense
kernels use it) stops 30-40% earlier on ResNet-like 3x3 convolutions, but stopped on a lower
eigenvalue in 5 of 16 He-initialised layers (64 channels at 32^2, 128 at 28^2, 32 at 16^2, 256 at
14^2; errors 1e-6 to 2e-4 at ``tol=1e-6``), from random starts too: their top spectrum is a dense
band in which the top eigenvector emerges late, after the second pair looks converged. The
residual rule, which waits for ``r <= 2 tol theta``, got all 24 of such layers within ``tol``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np


def _top_ritz(alphas: list[float], betas: list[float]) -> tuple[float, np.ndarray]:
    """Top eigenpair of the ``k x k`` Lanczos tridiagonal (diagonal ``alphas``, off-diagonal
    ``betas[:k-1]``): LAPACK's ``dstemr`` for the one index (0.09 ms at k = 100, against 0.18 ms
    through ``eigh_tridiagonal``'s checks; it runs every step), ``eigh_tridiagonal`` where that
    reports a failure."""
    from scipy.linalg import eigh_tridiagonal, lapack

    k = len(alphas)
    if k == 1:
        return alphas[0], np.ones(1)
    d = np.array(alphas, dtype=np.float64)
    e = np.zeros(k)
    e[: k - 1] = betas[: k - 1]
    m, w, z, info = lapack.dstemr(d, e, 3, 0.0, 0.0, k, k, compute_v=True)
    if info == 0 and m == 1 and np.isfinite(w[0]) and np.isfinite(z[:, 0]).all():
        return float(w[0]), z[:, 0]
    w, s = eigh_tridiagonal(
        np.asarray(alphas), np.asarray(betas[: k - 1]), select="i", select_range=(k - 1, k - 1)
    )
    return float(w[0]), s[:, 0]


def _omega_next(
    om_prev: np.ndarray,
    om_cur: np.ndarray,
    alphas: list[float],
    betas: list[float],
    a: float,
    b: float,
    noise: float,
) -> np.ndarray:
    """The reference of the recurrence in ``_core.lanczos_step`` (same operations, same order).

    Estimates of ``|q_j^T q_{k+1}|`` for ``j <= k + 1`` (Simon's recurrence) from those of
    ``q_k`` (``om_cur``, length ``k + 1``) and ``q_{k-1}`` (``om_prev``, length ``k``), with
    ``alphas``/``betas`` the first ``k`` coefficients, ``a = alpha_k``, ``b = beta_k`` (the new
    vector's norm before normalisation) and ``noise = eps ||B||``, the rounding of one step."""
    k = len(alphas)
    nxt = np.empty(k + 2)
    if k:
        al = np.asarray(alphas)
        be = np.asarray(betas)
        t = be * om_cur[1 : k + 1] + (al - a) * om_cur[:k]
        t[1:] += be[: k - 1] * om_cur[: k - 1]
        t -= be[k - 1] * om_prev[:k]
        nxt[:k] = (t + np.where(t < 0, -noise, noise)) / b if b > 0 else np.inf
    nxt[k] = noise / b if b > 0 else np.inf
    nxt[k + 1] = 1.0
    return nxt


def _refined(alphas: list[float], betas: list[float], theta: float) -> tuple[float, np.ndarray]:
    """The refined Ritz vector for ``theta`` (Jia 1997): the unit ``s`` minimising ``||(B - theta)
    Q s|| = ||(T_bar - theta I_bar) s||``, with ``T_bar`` the ``(k + 1) x k`` Lanczos matrix, and
    that minimum, which bounds the residual of ``Q s`` (for its own Rayleigh quotient too). Its
    square is the smallest eigenvalue of the pentadiagonal ``(T - theta)^2 + beta_k^2 e_k e_k^T``.
    On ResNet-like 3x3 layers it passes the residual rule 3-5 steps (3-5%) before the Ritz
    vector, whose residual is about twice as large at the end."""
    from scipy.linalg import eig_banded

    k = len(alphas)
    a = np.asarray(alphas) - theta
    b = np.asarray(betas[: k - 1])
    band = np.zeros((3, k))  # lower form: band[i, j] = M[j + i, j]
    band[0] = a * a
    band[0, 1:] += b * b
    band[0, : k - 1] += b * b
    band[0, k - 1] += betas[k - 1] ** 2
    band[1, : k - 1] = b * (a[:-1] + a[1:])
    band[2, : k - 2] = b[:-1] * b[1:]
    w, v = eig_banded(band, lower=True, select="i", select_range=(0, 0))
    return math.sqrt(max(float(w[0]), 0.0)), v[:, 0]


def certify(apply: Any, y: Any) -> tuple[float, float]:
    """``(lower, upper)`` for ``sqrt(lambda)``, ``lambda`` the eigenvalue of ``apply`` nearest the
    Rayleigh quotient of unit ``y`` (float64): ``sqrt(theta)`` and ``sqrt(theta + ||B y - theta
    y||)``."""
    w = apply(y)
    theta = max(0.0, float(y @ w))
    r = float((w - theta * y).norm())
    if not (math.isfinite(theta) and math.isfinite(r)):
        raise ValueError("the operator produced NaN or inf")
    return math.sqrt(theta), math.sqrt(theta + r)


# one reusable basis buffer per thread, up to _BASIS_CACHE_BYTES (the basis size the convolutions
# ask for, about 96 MB; only the rows a run has touched are resident): the basis's fresh pages cost
# 12-80 ms a run at 512 channels, 7^2 (124 rows of 100 kB, page faults of 3-25 us each on this
# machine, against a step of 6-8 ms) and 15-30 ms at 64-128 channels, 28^2-32^2, paid again on
# every call where glibc returns the block to the system
_BASIS_CACHE_BYTES = 100 << 20
_basis_cache = threading.local()


@contextlib.contextmanager
def _basis(rows: int, n: int, dtype: Any) -> Iterator[Any]:
    """An uninitialised ``(rows, n)`` tensor for the duration of the block: a view of this thread's
    cached buffer when that fits within ``_BASIS_CACHE_BYTES`` and no enclosing call (an operator
    that runs Lanczos itself) holds it, else a fresh one."""
    import torch

    size = rows * n
    if size * torch.finfo(dtype).bits // 8 > _BASIS_CACHE_BYTES or getattr(
        _basis_cache, "busy", False
    ):
        yield torch.empty((rows, n), dtype=dtype)
        return
    buf = getattr(_basis_cache, "buf", None)
    if buf is None or buf.dtype != dtype or buf.numel() < size:
        buf = torch.empty(size, dtype=dtype)
        _basis_cache.buf = buf
    _basis_cache.busy = True
    try:
        yield buf[:size].view(rows, n)
    finally:
        _basis_cache.busy = False


_runs: contextvars.ContextVar[list[dict[str, int]] | None] = contextvars.ContextVar(
    "lanczos_runs", default=None
)


@contextlib.contextmanager
def recorded_runs() -> Iterator[list[dict[str, int]]]:
    """The counts of each ``lanczos_top`` call made inside the block, in call order (tests and
    benchmarks): ``reorthogonalised``, vectors reorthogonalised, and ``measured``, vectors whose
    overlaps were measured and found below the rounding level (not reorthogonalised). Nothing
    is recorded outside such a block."""
    runs: list[dict[str, int]] = []
    token = _runs.set(runs)
    try:
        yield runs
    finally:
        _runs.reset(token)


def lanczos_top(
    apply_fast: Any,
    apply_exact: Any,
    v0: Any,
    *,
    tol: float,
    max_iter: int,
    max_basis: int,
    reorth: str = "partial",
) -> tuple[float, float, int, Any]:
    """Top singular value bracket ``(lower, upper, applications, y)`` of ``A`` with ``apply_* =
    A^T A`` on 1-D torch vectors: ``apply_fast`` takes and returns vectors of its own dtype (the
    dtype of ``v0``), ``apply_exact`` float64 vectors. ``applications`` counts both kinds.
    ``reorth``: "partial" (semi-orthogonality, see the module notes) or "full" (every step)."""
    import torch

    if reorth not in ("partial", "full"):
        raise ValueError(f"reorth must be 'partial' or 'full', got {reorth!r}")
    full = reorth == "full"
    if v0.device.type != "cpu" or v0.dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"v0 must be a float32 or float64 CPU tensor, got {v0.dtype} on {v0.device}"
        )
    dt = v0.dtype
    n = v0.numel()
    kmax = max(2, min(max_basis, n + 1))
    with _basis(kmax, n, dt) as Q:
        return _lanczos(apply_fast, apply_exact, v0, Q, tol, max_iter, full)


def _lanczos(
    apply_fast: Any, apply_exact: Any, v0: Any, Q: Any, tol: float, max_iter: int, full: bool
) -> tuple[float, float, int, Any]:
    """The body of ``lanczos_top`` on the basis buffer ``Q`` (``kmax`` rows of ``n``)."""
    import torch

    from .. import _core

    dt = v0.dtype
    kmax, n = Q.shape
    # the rule is on lambda = sigma^2 (relative bracket width about r / (2 theta)); the float32
    # operator's rounding adds to the float64 residual, hence the smaller target in mixed mode:
    # at 512 channels, 7^2 it added 0.045 tol to the width with torch's conv2d/conv_transpose2d
    # and 0.09 tol with the prepacked pair (the stop at est 1.69 tol gave 0.934 tol), so 1.6 tol
    # keeps the width below 0.9 tol there
    want = 1.9 * tol if apply_fast is apply_exact else 1.6 * tol
    its = 0
    passes = measured = 0
    y = (v0 / v0.norm()).to(torch.float64)
    lo = hi = 0.0
    fast = apply_fast
    while True:
        Q[0] = y.to(dt)
        Qn = Q.numpy()  # the same memory: the step kernel and numpy work on it directly
        # the tridiagonal's coefficients, and the omega estimates in three rotating buffers
        alphas = np.zeros(kmax + 1)
        betas = np.zeros(kmax + 1)
        om_prev, om_cur, om_next = (np.zeros(kmax + 2) for _ in range(3))
        om_cur[0] = 1.0
        s = np.ones(1)
        theta, est = 0.0, math.inf
        k = 0
        settled = False
        # orthogonality estimates (Simon's omega recurrence): om_cur[j] ~ |Q[j] . Q[k]|
        eps = float(torch.finfo(dt).eps) / 2
        # the rounding level of one step and of a freshly reorthogonalised vector, sqrt(n) eps as
        # in PROPACK (Larsen 1998); with eps alone the estimates fell behind the true loss after
        # a reorthogonalisation (measured: 10x low within 10 steps on a dense top band)
        eps1 = math.sqrt(n) * eps
        sqrt_eps = math.sqrt(eps)

        force = False
        anorm = 0.0
        while True:
            q = Q[k]
            w = fast(q).detach()
            its += 1
            if w.dtype != dt or not w.is_contiguous():
                w = w.to(dt).contiguous()
            wn = w.numpy()
            # a = q.w, w -= a q + beta q_prev, b = ||w||, anorm, and the estimates om_next of
            # |Q[j] . w / b| (Simon's recurrence, as _omega_next) in one call (_lanczos_step)
            a, b, anorm, om_max = _core.lanczos_step(
                Qn[k],
                Qn[k - 1] if k else None,
                wn,
                float(betas[k - 1]) if k else 0.0,
                alphas,
                betas,
                k,
                om_prev,
                om_cur,
                om_next,
                eps1,
                anorm,
            )
            if not math.isfinite(a):  # a NaN or inf anywhere in w reaches the dot product
                raise ValueError("the operator produced NaN or inf")
            if force or full or not (om_max <= sqrt_eps):
                # the overlaps are measured first (h / b): where all are below eps1, the level the
                # recurrence assumes after a reorthogonalisation, the vector is kept as it is
                Qk = Q[: k + 1]
                h = torch.mv(Qk, w)
                if full or not (float(h.abs().max()) <= eps1 * b):
                    for _ in range(2):
                        w.addmv_(Qk.T, h, alpha=-1.0)
                        after = float(torch.linalg.vector_norm(w))
                        again = after < 0.7 * b
                        b = after
                        if not again:
                            break
                        h = torch.mv(Qk, w)
                    passes += 1
                else:
                    measured += 1
                om_next[: k + 1] = eps1
                force = not force  # the vector after a reorthogonalised one is, too
            om_prev, om_cur, om_next = om_cur, om_next, om_prev
            if not math.isfinite(b):
                raise ValueError("the operator produced NaN or inf")
            alphas[k] = a
            betas[k] = b
            k += 1
            if (
                k > 12
                and k % 3
                and est > 64.0 * want * theta
                and b > 1e-13 * max(abs(theta), 1e-300)
                and k < min(kmax, n)
                and its + 1 < max_iter
            ):
                # far from the stop (the last estimate 64x above it; near the end it shrinks by
                # about 12% a step) the top Ritz pair is computed every third step only
                np.divide(wn, b, out=Qn[k])
                continue
            theta, s = _top_ritz(alphas[:k], betas[:k])
            est = b * abs(float(s[-1]))
            if want * theta < est <= 4.0 * want * theta:
                # near the stop: the refined Ritz vector's residual bound may already pass
                est_r, s_r = _refined(alphas[:k], betas[:k], theta)
                if est_r < est:
                    est, s = est_r, s_r
            invariant = not (b > 1e-13 * max(abs(theta), 1e-300)) or k >= n
            settled = invariant or est <= want * theta
            if settled or k >= kmax or its + 1 >= max_iter:
                break
            np.divide(wn, b, out=Qn[k])
        y = (Q[:k].T @ torch.as_tensor(s, dtype=dt)).to(torch.float64)
        y = y / y.norm()
        lo, hi = certify(apply_exact, y)
        its += 1
        if hi - lo <= tol * lo or hi == 0.0 or its >= max_iter:
            runs = _runs.get()
            if runs is not None:
                runs.append({"reorthogonalised": passes, "measured": measured})
            return lo, hi, its, y
        if fast is not apply_exact and settled:
            # the fast iteration has converged (or exhausted the space) as far as its own operator
            # goes, but the exact one disagrees: its rounding hides the last digits, so finish in
            # the exact one (restarting in the fast one would stop at the same place again: a
            # rank-one layer at tol=1e-8 ran to max_iter that way)
            fast = apply_exact
            dt = torch.float64
            Q = Q.to(dt)
            want = 1.9 * tol
