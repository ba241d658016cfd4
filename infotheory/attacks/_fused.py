"""Fused inner updates of CW and DeepFool (family ``attack_step``), with the pure-torch versions
they replace; the torch versions serve the inputs the kernels cannot take (and the tests compare
the two).

CW: one Adam step on ``w`` in tanh space, the reparametrisation ``x' = lo + h (tanh(w) + 1)``
(``h = (hi - lo) / 2``) and the per-sample ``||x' - x||^2``, in one pass instead of about fifteen
elementwise torch kernels (the reparametrisation and the distance with their backward, and
Adam's update). The caller differentiates only the model's part of the loss, with respect to
``x'``; the distance's gradient ``2 (x' - x)`` and the chain rule through ``tanh`` are added in
the pass.

DeepFool: from the candidate classes' gradients, the per-sample choice of the nearest linearised
boundary and the step ``r_tot += r; x_adv = clip(x + (1 + overshoot) r_tot)``, reading the
gradients where autograd left them (no stacking, no gathering of the still-active rows).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .. import _arrays, _core

_NP = {torch.float32: np.float32, torch.float64: np.float64}


def _cpu_kernel_ok(*ts: torch.Tensor) -> bool:
    dt = ts[0].dtype
    return dt in _NP and all(
        t.device.type == "cpu" and t.dtype == dt and t.is_contiguous() and not t.requires_grad
        for t in ts
    )


def _cuda_kernel_ok(*ts: torch.Tensor) -> bool:
    dt = ts[0].dtype
    return (
        bool(_core.WITH_CUDA)
        and hasattr(_core, "deepfool_step_cuda")
        and dt in _NP
        and all(
            t.device == ts[0].device
            and t.device.type == "cuda"
            and t.dtype == dt
            and t.is_contiguous()
            and not t.requires_grad
            for t in ts
        )
    )


class CwAdam:
    """State of CW's optimiser for one run: ``w`` (tanh space), Adam's moments ``m`` and ``v``,
    the iterate ``xa = x'(w)`` and ``l2sq = ||xa - x||^2`` per sample. ``step(grad)`` takes the
    gradient of the model's part of the loss with respect to ``xa`` and advances everything by
    one Adam step (torch.optim.Adam's formula, ``betas=(0.9, 0.999)``, ``eps=1e-8``)."""

    def __init__(
        self,
        w: torch.Tensor,
        x: torch.Tensor,
        lr: float,
        clip: tuple[float, float] | None,
        betas: tuple[float, float] = (0.9, 0.999),
        adam_eps: float = 1e-8,
    ) -> None:
        self.w = w.contiguous().clone()
        self.x = x.contiguous()
        self.m = torch.zeros_like(self.w)
        self.v = torch.zeros_like(self.w)
        self.clip = clip
        self.lr, self.b1, self.b2, self.adam_eps = float(lr), *map(float, betas), float(adam_eps)
        self.t = 0
        self.xa = to_x(self.w, clip)
        self.l2sq = (self.xa - self.x).flatten(1).square().sum(1)
        bufs = (self.w, self.m, self.v, self.xa, self.x)
        self._kernel = (
            "cpu" if _cpu_kernel_ok(*bufs) else "cuda" if _cuda_kernel_ok(*bufs) else None
        )
        if self._kernel == "cpu":
            self._np = [t.numpy() for t in bufs]
            self._l2_np = np.empty(self.x.shape[0], dtype=_NP[self.x.dtype])

    def step(self, grad: torch.Tensor) -> torch.Tensor:
        self.t += 1
        step_size = self.lr / (1.0 - self.b1**self.t)
        bc2_sqrt = math.sqrt(1.0 - self.b2**self.t)
        grad = grad.detach()
        lo, hi = self.clip if self.clip is not None else (0.0, 1.0)
        args = (step_size, bc2_sqrt, self.b1, self.b2, self.adam_eps, lo, hi, self.clip is not None)
        if self._kernel == "cpu" and _cpu_kernel_ok(grad, self.x) and grad.shape == self.x.shape:
            w, m, v, xa, x = self._np
            _core.cw_adam_step(w, m, v, xa, x, grad.numpy(), *args, self._l2_np)
            self.l2sq = torch.from_numpy(self._l2_np.copy())
        elif (
            self._kernel == "cuda" and _cuda_kernel_ok(grad, self.x) and grad.shape == self.x.shape
        ):
            self.l2sq = torch.empty(self.x.shape[0], dtype=self.x.dtype, device=self.x.device)
            stream = _arrays.cuda_stream(self.x)
            caps = [
                _arrays.dlpack(t, stream)
                for t in (self.w, self.m, self.v, self.xa, self.x, grad.contiguous())
            ]
            _core.cw_adam_step_cuda(*caps, *args, _arrays.dlpack(self.l2sq, stream), stream)
        else:
            self.l2sq = cw_adam_step_torch_(
                self.w, self.m, self.v, self.xa, self.x, grad, *args[:5], self.clip
            )
        return self.l2sq


def to_x(w: torch.Tensor, clip: tuple[float, float] | None) -> torch.Tensor:
    """``x' = lo + h (tanh(w) + 1)``, ``h = (hi - lo) / 2`` (``x' = w`` without a box)."""
    if clip is None:
        return w.clone()
    lo, hi = clip
    return (torch.tanh(w) + 1.0).mul_((hi - lo) * 0.5).add_(lo)


def cw_adam_step_torch_(
    w: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    xa: torch.Tensor,
    x: torch.Tensor,
    grad: torch.Tensor,
    step_size: float,
    bc2_sqrt: float,
    b1: float,
    b2: float,
    adam_eps: float,
    clip: tuple[float, float] | None,
) -> torch.Tensor:
    """The eager torch version of the fused CW step (in place on w, m, v, xa); returns
    ``||xa - x||^2`` per sample after the step."""
    g = grad + 2.0 * (xa - x)
    if clip is not None:
        lo, hi = clip
        h = (hi - lo) * 0.5
        u = (xa - lo) / h - 1.0
        g = g * (h * (1.0 - u * u))
    m.lerp_(g, 1.0 - b1)
    v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
    denom = (v.sqrt() / bc2_sqrt).add_(adam_eps)
    w.addcdiv_(m, denom, value=-step_size)
    xa.copy_(to_x(w, clip))
    return (xa - x).flatten(1).square().sum(1)


def deepfool_kernel_takes(x: torch.Tensor, *bufs: torch.Tensor) -> bool:
    """Whether the fused DeepFool update runs for these (otherwise the torch version does)."""
    return _cpu_kernel_ok(x, *bufs) or _cuda_kernel_ok(x, *bufs)


def deepfool_step_(
    grads: list[torch.Tensor],
    f: torch.Tensor,
    sel: torch.Tensor,
    rows: torch.Tensor,
    r_tot: torch.Tensor,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    overshoot: float,
    clip: tuple[float, float] | None,
) -> None:
    """DeepFool's update for the samples ``rows`` (of x, r_tot, x_adv), whose candidate-logit
    gradients are rows ``sel`` of ``grads[j]`` (``grads[0]`` the true class) and whose logit
    differences are ``f[:, j - 1] = z_j - z_y``. In place on r_tot and x_adv; the kernel where it
    takes the input, else :func:`deepfool_step_torch_`."""
    lo, hi = clip if clip is not None else (-math.inf, math.inf)
    gs = [g.detach() for g in grads]
    f = f.detach().contiguous()
    sel = sel.to(torch.int64).contiguous()
    rows = rows.to(torch.int64).contiguous()
    if _cpu_kernel_ok(x, r_tot, x_adv, f, *gs) and sel.device.type == "cpu":
        _core.deepfool_step(
            [g.numpy() for g in gs],
            f.numpy(),
            sel.numpy(),
            rows.numpy(),
            r_tot.numpy(),
            x.numpy(),
            x_adv.numpy(),
            float(overshoot),
            float(lo),
            float(hi),
        )
    elif _cuda_kernel_ok(x, r_tot, x_adv, f, *gs):
        stream = _arrays.cuda_stream(x)
        caps: list[Any] = [
            _arrays.dlpack(t, stream) for t in (torch.stack(gs), f, sel, rows, r_tot, x, x_adv)
        ]
        _core.deepfool_step_cuda(*caps, float(overshoot), float(lo), float(hi), stream)
    else:
        deepfool_step_torch_(gs, f, sel, rows, r_tot, x, x_adv, overshoot, clip)


def deepfool_step_torch_(
    grads: list[torch.Tensor],
    f: torch.Tensor,
    sel: torch.Tensor,
    rows: torch.Tensor,
    r_tot: torch.Tensor,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    overshoot: float,
    clip: tuple[float, float] | None,
) -> None:
    """The eager torch version of :func:`deepfool_step_` (the attack's original sequence)."""
    tiny = torch.finfo(x.dtype).tiny
    gy = grads[0][sel].flatten(1)
    w = torch.stack([g[sel].flatten(1) - gy for g in grads[1:]], dim=1)  # (m, k-1, d)
    wn = w.norm(dim=2)
    dist = f.abs() / wn.clamp_min(tiny)
    best = dist.argmin(1)
    wl = w[torch.arange(w.shape[0], device=w.device), best]  # (m, d)
    dl = dist.gather(1, best[:, None])[:, 0]
    wln = wn.gather(1, best[:, None])[:, 0].clamp_min(tiny)
    r = ((dl + 1e-4) / wln)[:, None] * wl
    r_tot[rows] += r.view((-1, *x.shape[1:])).to(r_tot.dtype)
    step = x[rows] + (1.0 + overshoot) * r_tot[rows]
    if clip is not None:
        step.clamp_(clip[0], clip[1])
    x_adv[rows] = step.to(x_adv.dtype)
