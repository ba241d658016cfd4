"""Power iteration on CUDA tensors with the compiled kernel (``_core.spectral_power_cuda``)."""

from __future__ import annotations

import math
from typing import Any

from .. import _arrays, _core
from ._dense import SpectralNormResult, warn_unconverged

# Kernel steps between convergence checks (each check reads two numbers a matrix to the host).
_CHUNK = 8


def available() -> bool:
    return hasattr(_core, "spectral_power_cuda")


def spectral_norm_cuda_power(
    W: Any, *, tol: float, max_iter: int | None, return_vectors: bool, init: Any, seed: int
) -> SpectralNormResult:
    import torch

    from ._torch_iter import _start

    if not bool(torch.isfinite(W).all()):
        raise ValueError("W must be finite, found NaN or inf")
    *batch, m, n = W.shape
    b = math.prod(batch)
    W3 = W.reshape(b, m, n)
    if max_iter is None:
        max_iter = 20000
    v64 = _start(W3, None if init is None else torch.as_tensor(init).reshape(-1, n), seed)
    scale = 1.0 / v64.norm(dim=-1)
    v = v64.to(W.dtype).contiguous()
    Av = torch.empty((b, m), dtype=W.dtype, device=W.device)
    sigma = torch.empty(b, dtype=W.dtype, device=W.device)
    resid = torch.empty(b, dtype=W.dtype, device=W.device)
    stream = _arrays.cuda_stream(W3)
    done = 0
    while True:
        steps = min(_CHUNK, max_iter - done)
        _core.spectral_power_cuda(
            *(_arrays.dlpack(t, stream) for t in (W3, v, Av, sigma, resid, scale)),
            steps,
            stream,
        )
        done += steps
        lo = sigma.double()
        hi = torch.sqrt(lo * lo + resid.double())
        ok = (hi - lo <= tol * lo) | (hi == 0)
        if done >= max_iter or bool(ok.all()):
            break
    if not bool(ok.all()):
        warn_unconverged("power", tol, max_iter, int((~ok).sum()), b, stacklevel=3)
    vec = (v.double() * scale.unsqueeze(-1)).to(W.dtype)
    u = None
    if return_vectors:
        Wu = (W3.double() @ vec.double().unsqueeze(-1)).squeeze(-1)
        u = (Wu / Wu.norm(dim=-1, keepdim=True).clamp_min(1e-300)).to(W.dtype).reshape(*batch, m)
    it = torch.full((b,), done, dtype=torch.int32, device=W.device)
    vec = vec.reshape(*batch, n)
    if not batch:
        return SpectralNormResult(
            float(lo[0]), float(lo[0]), float(hi[0]), done, bool(ok[0]), "power", u, vec
        )
    shape = tuple(batch)
    return SpectralNormResult(
        lo.reshape(shape),
        lo.reshape(shape),
        hi.reshape(shape),
        it.reshape(shape),
        ok.reshape(shape),
        "power",
        u,
        vec,
    )
