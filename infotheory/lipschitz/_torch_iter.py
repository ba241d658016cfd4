"""Power iteration and Lanczos written with torch operations (any device, batched).

Used for CUDA tensors; the CPU path runs the C++ kernels. The same brackets as the kernels: a
Rayleigh quotient below; above, the residual bound or, for ``spectral_norm``'s Lanczos, the capped
Kato-Temple estimate (see :class:`SpectralNormResult`).
"""

from __future__ import annotations

import math
from typing import Any

from ._dense import SpectralNormResult, warn_unconverged


def _start(W: Any, init: Any, seed: int) -> Any:
    import torch

    *batch, _, n = W.shape
    if init is not None:
        v = torch.as_tensor(init, dtype=torch.float64, device=W.device)
        try:
            v = torch.broadcast_to(v, (*batch, n)).clone()
        except RuntimeError as e:
            raise ValueError(
                f"init must have shape (..., {n}) matching W's batch {tuple(batch)}, got "
                f"{tuple(v.shape)}"
            ) from e
        if not bool(torch.isfinite(v).all()):
            raise ValueError("init must be finite")
        dead = v.norm(dim=-1, keepdim=True) == 0
    else:
        dead = None
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    rnd = torch.rand((*batch, n), generator=g, dtype=torch.float64).to(W.device)
    rnd = torch.where(rnd < 0.5, -0.5 - rnd, rnd)
    if dead is None:
        return rnd
    return torch.where(dead, rnd, v)


def _apply(W64: Any, v: Any) -> Any:
    return (W64.mT @ (W64 @ v.unsqueeze(-1))).squeeze(-1)


def _bracket(apply: Any, y: Any) -> tuple[Any, Any, Any]:
    w = apply(y)
    theta = (y * w).sum(-1).clamp_min(0)
    r = (w - theta.unsqueeze(-1) * y).norm(dim=-1)
    return theta.sqrt(), (theta + r).sqrt(), w


def spectral_norm_torch(
    W: Any,
    *,
    method: str,
    tol: float,
    max_iter: int | None,
    return_vectors: bool,
    init: Any,
    seed: int,
    stop: str = "residual",
) -> SpectralNormResult:
    import torch

    if not bool(torch.isfinite(W).all()):
        raise ValueError("W must be finite, found NaN or inf")
    batch = W.shape[:-2]
    W64 = W.to(torch.float64)
    if method == "svd":
        s = torch.linalg.matrix_norm(W64, ord=2)
        U = V = None
        if return_vectors:
            Uf, _, Vh = torch.linalg.svd(W64, full_matrices=False)
            U, V = Uf[..., :, 0], Vh[..., 0, :]
        else:
            V = None
        it = torch.zeros_like(s, dtype=torch.int32)
        return _wrap(batch, s, s, it, torch.ones_like(s, dtype=torch.bool), "svd", U, V, W.dtype)
    run = "power" if method == "power" else "lanczos"
    if max_iter is None:
        max_iter = 2000 if run == "lanczos" else 20000
    v = _start(W64, init, seed)
    v = v / v.norm(dim=-1, keepdim=True)
    flat = v.reshape(-1, v.shape[-1])
    Wb = W64.reshape(-1, *W64.shape[-2:])
    lo, hi, it, flat = iterate(
        lambda x: _apply(Wb, x),
        flat,
        run,
        tol,
        max_iter,
        kato_temple=run == "lanczos" and stop == "kato-temple",
    )
    lo, hi, it = (t.reshape(batch) for t in (lo, hi, it))
    v = flat.reshape(v.shape)
    ok = hi - lo <= tol * lo
    ok = ok | (hi == 0)
    if not bool(ok.all()):
        warn_unconverged(
            run, tol, max_iter, int((~ok).sum()), math.prod(batch), stacklevel=3, bracket=False
        )
    u = None
    if return_vectors:
        Av = (W64 @ v.unsqueeze(-1)).squeeze(-1)
        u = Av / Av.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return _wrap(batch, lo, hi, it, ok, run, u, v, W.dtype)


def _wrap(batch, lo, hi, it, ok, method, u, v, dtype) -> SpectralNormResult:  # type: ignore[no-untyped-def]
    u = None if u is None else u.to(dtype)
    v = None if v is None else v.to(dtype)
    if not batch:
        return SpectralNormResult(float(lo), float(lo), float(hi), int(it), bool(ok), method, u, v)
    return SpectralNormResult(lo, lo, hi, it.to(lo.device), ok, method, u, v)


# The capped Kato-Temple estimate of the kernels (csrc/core/spectral.hpp: kGapCap, kGapMinSteps)
_GAP_CAP = 0.01
_GAP_MIN_STEPS = 30


def iterate(
    apply: Any, v: Any, method: str, tol: float, max_iter: int, *, kato_temple: bool = False
) -> tuple[Any, Any, Any, Any]:
    """Top eigenvalue of the PSD operator ``apply`` (batched: ``(B, n) -> (B, n)``, float64) from
    unit start vectors ``v``: returns ``(lower, upper, iterations, y)`` for ``sqrt`` of it, i.e.
    the singular-value bracket when ``apply`` is ``A^T A``. ``kato_temple``: Lanczos may stop on,
    and reports, the capped Kato-Temple estimate of the kernels' uncertified Lanczos (an estimate,
    see :class:`SpectralNormResult`); otherwise the residual bound."""
    if method == "power":
        return _power(apply, v, tol, max_iter)
    return _lanczos(apply, v, tol, max_iter, kato_temple)


def _kato_temple(theta: Any, r: Any, alpha: Any) -> Any:
    """``theta + r^2 / min(theta - alpha, cap theta)`` where ``theta > alpha``, else inf."""
    import torch

    g = torch.minimum(theta - alpha, _GAP_CAP * theta)
    return torch.where(g > 0, theta + r * r / g.clamp_min(1e-300), torch.inf)


def _power(apply: Any, v: Any, tol: float, max_iter: int) -> tuple[Any, Any, Any, Any]:
    import torch

    it = torch.zeros(v.shape[:-1], dtype=torch.int32, device=v.device)
    check_every = 8
    done = 0
    while True:
        steps = min(check_every, max_iter - done)
        for _ in range(steps - 1):
            w = apply(v)
            v = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        done += steps
        lo, hi, w = _bracket(apply, v)
        it += steps
        if done >= max_iter or bool((hi - lo <= tol * lo).all() | (hi == 0).all()):
            return lo, hi, it, v
        v = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-300)


def _lanczos(
    apply: Any, v: Any, tol: float, max_iter: int, kato_temple: bool = False
) -> tuple[Any, Any, Any, Any]:
    import torch

    n = v.shape[-1]
    kmax = min(64, n)
    total = torch.zeros(v.shape[:-1], dtype=torch.int32, device=v.device)
    Q = v.new_zeros((*v.shape[:-1], kmax, n))  # basis rows, allocated once
    done = 0
    while True:
        Q[..., 0, :] = v
        alphas, betas = [], []
        k = 0
        scale = None  # per matrix: one global scale stopped the smaller matrices of a batch
        while True:
            q = Q[..., k, :]
            w = apply(q)
            k += 1
            Qk = Q[..., :k, :]
            a = (q * w).sum(-1)
            alphas.append(a)
            # three-term recurrence, then full reorthogonalisation; a second pass only when the
            # first removed much (Kahan-Parlett)
            w = w - a.unsqueeze(-1) * q
            if k > 1:
                w = w - betas[-1].unsqueeze(-1) * Q[..., k - 2, :]
            b = w.norm(dim=-1)
            for _ in range(2):
                w = w - (Qk.mT @ (Qk @ w.unsqueeze(-1))).squeeze(-1)
                after = w.norm(dim=-1)
                again = bool((after < 0.7 * b).any())
                b = after
                if not again:
                    break
            betas.append(b)
            scale = a.abs() if scale is None else torch.maximum(scale, a.abs())
            live = b > 1e-13 * scale
            if k >= kmax or done + k + 1 >= max_iter or not bool(live.any()):
                break
            if k % 2 == 0:
                # the singular-value bracket needs r <= (2 tol + tol^2) theta (as the C++ kernel)
                theta, S = torch.linalg.eigh(_tridiag(alphas, betas))
                est = b * S[..., -1, -1].abs()
                ok = est <= 1.9 * tol * theta[..., -1]
                if kato_temple and k >= _GAP_MIN_STEPS:
                    alpha = theta[..., -2] + b * S[..., -1, -2].abs()
                    kt = _kato_temple(theta[..., -1], est, alpha)
                    ok = ok | (kt - theta[..., -1] <= 1.9 * tol * theta[..., -1])
                if bool(ok.all()):
                    break
            Q[..., k, :] = torch.where(
                live.unsqueeze(-1), w / b.clamp_min(1e-300).unsqueeze(-1), 0.0
            )
        theta, S = torch.linalg.eigh(_tridiag(alphas, betas))
        y = (Q[..., :k, :].mT @ S[..., :, -1:]).squeeze(-1)
        y = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        done += k + 1
        total += k + 1
        if kato_temple and k >= _GAP_MIN_STEPS:
            # the final vector's Rayleigh quotient and residual, the second Ritz pair's bound
            alpha = theta[..., -2] + betas[-1] * S[..., -1, -2].abs()
            w = apply(y)
            th = (y * w).sum(-1).clamp_min(0)
            r = (w - th.unsqueeze(-1) * y).norm(dim=-1)
            lo = th.sqrt()
            hi = torch.minimum(th + r, _kato_temple(th, r, alpha)).sqrt()
        else:
            lo, hi, _ = _bracket(apply, y)
        if done >= max_iter or bool((hi - lo <= tol * lo).all() | (hi == 0).all()):
            return lo, hi, total, y
        v = y


def _tridiag(alphas: list[Any], betas: list[Any]) -> Any:
    import torch

    T = torch.diag_embed(torch.stack(alphas, -1))
    if len(alphas) > 1:
        off = torch.stack(betas[: len(alphas) - 1], -1)
        T = T + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    return T


def certify_torch(W: Any, res: SpectralNormResult, tol: float) -> SpectralNormResult:
    """The Cholesky certificate of :func:`spectral_norm` with torch operations on ``W``'s device
    (float64): ``upper`` becomes guaranteed (see :class:`SpectralNormResult`); matrices where it
    fails get a full SVD."""
    import dataclasses

    import torch

    batch = W.shape[:-2]
    m, n = W.shape[-2:]
    k = min(m, n)
    X = W.to(torch.float64).reshape(-1, m, n)
    G = X @ X.mT if m < n else X.mT @ X
    fro2 = (X * X).sum(dim=(-2, -1))
    lo = torch.as_tensor(res.lower, dtype=torch.float64, device=W.device).reshape(-1).clone()
    hi = torch.as_tensor(res.upper, dtype=torch.float64, device=W.device).reshape(-1).clone()
    value = torch.as_tensor(res.value, dtype=torch.float64, device=W.device).reshape(-1).clone()
    g = 2.0 * (max(m, n) + k + 2) * 2.0**-53  # the margin of _dense._cholesky_certify
    eye = torch.eye(k, dtype=torch.float64, device=W.device)
    todo = torch.nonzero(fro2 > 0).flatten()
    hi[fro2 == 0] = 0.0
    for cand in (
        torch.maximum(hi**2, (lo * (1.0 + 0.25 * tol)) ** 2),
        (lo * (1.0 + 0.9 * tol)) ** 2,
    ):
        if todo.numel() == 0:
            break
        mu = cand[todo]
        _, info = torch.linalg.cholesky_ex(mu[:, None, None] * eye - G[todo])
        ok = info == 0
        good = todo[ok]
        hi[good] = (mu[ok] + 2.0 * g * (k * mu[ok] + 2.0 * fro2[good]) / (1.0 - g)).sqrt()
        todo = todo[~ok]
    u, v = res.u, res.v
    if todo.numel():
        U, S, Vh = torch.linalg.svd(X[todo])
        if u is not None:
            u = u.reshape(-1, m).clone()
            u[todo] = U[:, :, 0].to(u.dtype)
            u = u.reshape(*batch, m)
        slack = 8.0 * max(m, n) * 2.0**-53
        s0 = S[:, 0]
        value[todo], lo[todo], hi[todo] = s0, s0 * (1 - slack), s0 * (1 + slack)
        if v is not None:
            v = v.reshape(-1, n).clone()
            v[todo] = Vh[:, 0, :].to(v.dtype)
            v = v.reshape(*batch, n)
    ok_all = (hi - lo <= tol * lo) | (hi == 0)
    certified = torch.ones_like(ok_all)
    if not batch:
        return dataclasses.replace(
            res,
            value=float(value[0]),
            lower=float(lo[0]),
            upper=float(hi[0]),
            converged=bool(ok_all[0]),
            u=u,
            v=v,
            certified=True,
        )
    return dataclasses.replace(
        res,
        value=value.reshape(batch),
        lower=lo.reshape(batch),
        upper=hi.reshape(batch),
        converged=ok_all.reshape(batch),
        u=u,
        v=v,
        certified=certified.reshape(batch),
    )
