"""Certified Lanczos on CUDA tensors with the compiled batched kernel (``_core.spectral_lanczos_cuda``):
one thread block a matrix for ``min(m, n) <= 256`` (the FFT blocks of convolutions, batches of
small layers). The kernel mirrors the CPU's one-call Gram path (``_core.spectral_top_gram``) and
this module finishes its outputs as :func:`infotheory.lipschitz._dense._gram_path` does (rounding
margin, full SVD where the certificate failed), with torch on the device.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _arrays, _core
from ._dense import _GRAM_MAX, _MAX_BASIS, SpectralNormResult, warn_unconverged

# Largest min(m, n) the kernel takes (csrc/core/spectral_lanczos.hpp).
MAX_SIDE = min(_GRAM_MAX, int(getattr(_core, "SPECTRAL_LANCZOS_MAX_SIDE", 0)))
# Matrices a kernel call at most, so that its float64 work space stays within this many bytes.
_WORK_BYTES = 1 << 28
_U = 2.0**-53
# The Kato-Temple stop without the Cholesky certificate (the kernel's gap_cap) with
# stop="kato-temple": the guarded gap ``min(theta - (theta_2 + r_2), 0.01 theta)`` of the CPU's
# uncertified Lanczos (spectral.hpp); 0 (the residual bound) otherwise. Certified runs use it
# uncapped (inf).
_UNCERTIFIED_GAP_CAP = 0.01


def available() -> bool:
    """Whether this build has the CUDA kernel (a CPU-only build binds a stub that raises)."""
    return bool(getattr(_core, "WITH_CUDA", False)) and hasattr(_core, "spectral_lanczos_cuda")


def use_kernel(method: str, m: int, n: int) -> bool:
    """Whether :func:`spectral_norm` sends a CUDA tensor of ``m x n`` matrices here."""
    return method in ("lanczos", "auto") and min(m, n) <= MAX_SIDE and available()


def _start(W3: Any, init: Any, batch: tuple[int, ...]) -> Any:
    import torch

    b, _, n = W3.shape
    v = torch.zeros((b, n), dtype=torch.float64, device=W3.device)
    if init is None:
        return v  # zero rows: the kernel draws the reproducible start from seed + p
    iv = torch.as_tensor(init, device=W3.device)
    if iv.is_complex() or iv.dtype == torch.bool:
        raise TypeError(f"init must be real numbers, got dtype {iv.dtype}")
    try:
        v[...] = torch.broadcast_to(iv.to(torch.float64), (*batch, n)).reshape(b, n)
    except RuntimeError as e:
        raise ValueError(
            f"init must have shape (..., {n}) matching W's batch {batch}, got {tuple(iv.shape)}"
        ) from e
    if not bool(torch.isfinite(v).all()):
        raise ValueError("init must be finite")
    return v


def spectral_norm_cuda_lanczos(
    W: Any,
    *,
    tol: float,
    max_iter: int | None,
    return_vectors: bool,
    init: Any,
    seed: int,
    certify: bool,
    stop: str = "residual",
) -> SpectralNormResult:
    """``spectral_norm(W, method="lanczos")`` for a torch tensor ``W`` (..., m, n) with ``min(m,
    n) <= 256``: one kernel call a chunk of the batch. ``certify``: Kato-Temple stop and the
    Cholesky certificate (``certified=True``); else the residual bound of the iteration, or with
    ``stop="kato-temple"`` the capped Kato-Temple estimate."""
    import torch

    *bdims, m, n = W.shape
    batch = tuple(bdims)
    b = math.prod(batch)
    if min(m, n) > MAX_SIDE:
        raise ValueError(f"W must have min(m, n) <= {MAX_SIDE}, got ({m}, {n})")
    if max_iter is None:
        max_iter = 2000
    max_basis = int(min(_MAX_BASIS, max(16, (1 << 23) // n)))  # as the CPU path
    W3 = W.reshape(b, m, n).contiguous()
    dev = W3.device
    v = _start(W3, init, batch)
    u = torch.zeros((b, m), dtype=torch.float64, device=dev) if return_vectors else None

    def f64() -> Any:
        return torch.empty(b, dtype=torch.float64, device=dev)

    def i32() -> Any:
        return torch.empty(b, dtype=torch.int32, device=dev)

    sigma, lower, upper, mu, fro2 = f64(), f64(), f64(), f64(), f64()
    iters, status, ok = i32(), i32(), i32()
    per = int(_core.spectral_lanczos_work_size(m, n, max_basis))
    chunk = max(1, min(b, _WORK_BYTES // (8 * per)))
    work = torch.empty((chunk, per), dtype=torch.float64, device=dev)
    stream = _arrays.cuda_stream(W3)
    for p0 in range(0, b, chunk):
        p1 = min(b, p0 + chunk)
        outs = (sigma, lower, upper, iters, status, mu, ok, fro2)
        _core.spectral_lanczos_cuda(
            _arrays.dlpack(W3[p0:p1], stream),
            _arrays.dlpack(v[p0:p1], stream),
            None if u is None else _arrays.dlpack(u[p0:p1], stream),
            *(_arrays.dlpack(t[p0:p1], stream) for t in outs),
            _arrays.dlpack(work[: p1 - p0], stream),
            float(tol),
            int(max_iter),
            max_basis,
            math.inf if certify else (_UNCERTIFIED_GAP_CAP if stop == "kato-temple" else 0.0),
            (int(seed) + p0) % (1 << 63),
            bool(certify),
            stream,
        )
    bad = status == 1
    if bool(bad.any()):
        p = int(bad.nonzero()[0, 0])
        where = f" (matrix {_unravel(p, batch)} of the batch)" if batch else ""
        raise ValueError(f"W must be finite, found NaN or inf{where}")
    if certify:
        zero = fro2 == 0.0
        upper = torch.where(zero, torch.zeros_like(upper), upper)
        good = (ok != 0) & ~zero
        k = min(m, n)
        g = 2.0 * (max(m, n) + k + 2) * _U  # the margin of _dense._margin_upper
        margin = 2.0 * g * (k * mu + 2.0 * fro2) / (1.0 - g)
        upper = torch.where(good, (mu + margin).sqrt(), upper)
        redo = (~(good | zero)).nonzero().flatten()
        if redo.numel():
            # the iteration missed the top singular value (or rounding hid it): a full SVD decides
            Uf, S, Vh = torch.linalg.svd(W3[redo].to(torch.float64), full_matrices=False)
            slack = 8.0 * max(m, n) * _U
            s0 = S[:, 0]
            sigma[redo], lower[redo], upper[redo] = s0, s0 * (1 - slack), s0 * (1 + slack)
            v[redo] = Vh[:, 0, :]
            if u is not None:
                u[redo] = Uf[:, :, 0]
        converged = (upper - lower <= tol * lower) | (upper == 0)
    else:
        converged = status == 0
    if not bool(converged.all()):
        warn_unconverged("lanczos", tol, max_iter, int((~converged).sum()), b, stacklevel=3)
    v_out = v.to(W.dtype).reshape(*batch, n)
    u_out = None if u is None else u.to(W.dtype).reshape(*batch, m)
    if not batch:
        return SpectralNormResult(
            float(sigma[0]),
            float(lower[0]),
            float(upper[0]),
            int(iters[0]),
            bool(converged[0]),
            "lanczos",
            u_out,
            v_out,
            certify,
        )
    cert = torch.full((b,), certify, dtype=torch.bool, device=dev)
    return SpectralNormResult(
        *(x.reshape(batch) for x in (sigma, lower, upper, iters, converged)),
        "lanczos",
        u_out,
        v_out,
        cert.reshape(batch),
    )


def _unravel(p: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    out = []
    for d in reversed(shape):
        out.append(p % d)
        p //= d
    return tuple(reversed(out))
