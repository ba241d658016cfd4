"""Carlini-Wagner L2 (Carlini and Wagner 2017): Adam in tanh space with a per-sample binary search
over the trade-off constant ``c``."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._attack import Attack
from ._base import check_float, check_int, margin, mean_logits
from ._fused import CwAdam


class CW(Attack):
    """Minimise ``||x' - x||_2^2 + c * max(z_y - max_{j != y} z_j, -kappa)`` over ``x'`` in the box,
    with ``x' = lo + (hi - lo) (tanh(w) + 1) / 2`` and Adam on ``w`` (targeted: ``max_{j != t} z_j -
    z_t``). Each sample keeps its smallest successful perturbation over all iterates.

    With ``search_steps = s > 0`` the attack runs ``s`` times; after each run a sample's ``c`` moves
    by bisection (down after a success, up after a failure, times 10 while no upper bound is
    known), as in the paper. ``search_steps=0`` is a single run at ``c``. A run stops early when
    the total loss has not fallen by 1e-4 (relative) over a tenth of ``steps``.

    Parameters
    ----------
    c : float
        Initial trade-off constant (the seed papers use 0.1).
    steps : int
        Adam steps per run.
    lr : float
        Adam learning rate.
    kappa : float
        Confidence margin: success requires the logit margin to reach ``kappa``.
    search_steps : int
        Binary-search runs over ``c`` (0: one run at ``c``); alias ``binary_search_steps``.
    abort_early : bool
    clip : (lo, hi) or None
        Box; with None the attack optimises ``x'`` directly.
    eot : int
        Forward passes whose logits are averaged (stochastic models); alias ``eot_samples``.
    """

    name = "cw"
    norm = "2"

    def __init__(
        self,
        c: float = 0.1,
        steps: int = 100,
        lr: float = 0.01,
        kappa: float = 0.0,
        search_steps: int = 0,
        abort_early: bool = True,
        clip: tuple[float, float] | None = (0.0, 1.0),
        eot: int = 1,
    ) -> None:
        super().__init__(clip)
        self.eot = check_int(eot, "eot", 1)
        self.c = check_float(c, "c", strict=True)
        self.steps = check_int(steps, "steps", 1)
        self.lr = check_float(lr, "lr", strict=True)
        self.kappa = check_float(kappa, "kappa")
        self.search_steps = check_int(search_steps, "search_steps", 0)
        self.abort_early = bool(abort_early)

    def _to_w(self, x: torch.Tensor) -> torch.Tensor:
        if self.clip is None:
            return x.clone()
        lo, hi = self.clip
        u = ((x - lo) / (hi - lo) * 2.0 - 1.0).clamp(-1 + 1e-6, 1 - 1e-6)
        return torch.atanh(u)

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        dev, dt = x.device, x.dtype
        if self.c > torch.finfo(dt).max:  # torch.full raised a RuntimeError about "overflow"
            raise ValueError(
                f"c={self.c!r} does not fit x's dtype {dt} (max {torch.finfo(dt).max})"
            )
        w0 = self._to_w(x)
        c = torch.full((n,), self.c, dtype=dt, device=dev)
        lower = torch.zeros(n, dtype=dt, device=dev)
        upper = torch.full((n,), math.inf, dtype=dt, device=dev)
        best_l2 = torch.full((n,), math.inf, dtype=dt, device=dev)
        best = x.clone()
        iters = torch.zeros(n, dtype=torch.int64, device=dev)
        last = x
        label = y if target is None else target
        for _ in range(max(1, self.search_steps)):
            # w, Adam's moments, x' = x'(w) and ||x' - x||^2 advance together in one fused pass
            # a step; autograd differentiates only the model's part of the loss, at x'.
            opt = CwAdam(w0, x, self.lr, self.clip)
            found = torch.zeros(n, dtype=torch.bool, device=dev)
            prev = math.inf
            check_every = max(1, self.steps // 10)
            for t in range(self.steps):
                xa, l2sq = opt.xa, opt.l2sq
                xr = xa.detach().requires_grad_(True)
                z = mean_logits(model, xr, self.eot)
                # m > 0 exactly when the attack's goal holds (untargeted: not y; targeted: t).
                m = margin(z, label) if target is None else -margin(z, label)
                hinge = c * (self.kappa - m).clamp_min(0.0)
                (g,) = torch.autograd.grad(hinge.sum(), xr, allow_unused=True)
                with torch.no_grad():
                    ok = m >= self.kappa if self.kappa > 0 else m > 0
                    better = ok & (l2sq < best_l2)
                    if bool(better.any()):
                        best[better] = xa[better]
                        best_l2 = torch.where(better, l2sq, best_l2)
                    found |= ok
                    iters += 1
                    total = (l2sq + hinge.detach()).sum()
                opt.step(torch.zeros_like(xa) if g is None else g)
                if self.abort_early and (t + 1) % check_every == 0:
                    cur = float(total)
                    if cur > prev * (1 - 1e-4):
                        break
                    prev = cur
            last = opt.xa
            upper = torch.where(found, torch.minimum(upper, c), upper)
            lower = torch.where(found, lower, torch.maximum(lower, c))
            c = torch.where(torch.isfinite(upper), (lower + upper) / 2, c * 10)
        fooled = torch.isfinite(best_l2).view((-1,) + (1,) * (x.dim() - 1))
        return torch.where(fooled, best, last), iters
