"""Gradient-sign attacks: FGSM (Goodfellow et al. 2015), BIM (Kurakin et al. 2017) and PGD (Madry et
al. 2018), in the L-inf or the L2 norm, with one fused in-place step per iteration."""

from __future__ import annotations

import torch
from torch import nn

from ._attack import Attack
from ._base import (
    check_budget,
    check_int,
    generator,
    is_success,
    loss_grad,
    parse_loss,
    parse_norm,
    per_sample,
    predict,
)
from ._step import Stepper, default_alpha, random_start_


class _Iterative(Attack):
    """Projected gradient ascent on the loss: ``x <- clip(proj_{B(x0, eps)}(x + alpha dir(g)))``.

    Each sample keeps the first iterate at which it was fooled (the attack never gives a found
    adversarial example back), and across ``restarts`` the first restart that fooled it.
    """

    random_start = False
    keep_best = True

    def __init__(
        self,
        eps: float | torch.Tensor,
        alpha: float | torch.Tensor | None,
        steps: int,
        norm: str,
        loss: str,
        eot: int,
        clip: tuple[float, float] | None,
        seed: int | None,
        restarts: int = 1,
    ) -> None:
        super().__init__(clip)
        self.eps = check_budget(eps, "eps")
        self.steps = check_int(steps, "steps", 1)
        self.alpha = (
            default_alpha(self.eps, self.steps) if alpha is None else check_budget(alpha, "alpha")
        )
        self.norm = parse_norm(norm)
        self.loss = parse_loss(loss)
        self.eot = check_int(eot, "eot", 1)
        self.restarts = check_int(restarts, "restarts", 1)
        if seed is not None:
            check_int(seed, "seed", 0, 2**64 - 1)
        self.seed = seed

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        x0 = x.contiguous()
        eps = per_sample(self.eps, n, x0, "eps")
        alpha = per_sample(self.alpha, n, x0, "alpha")
        gen = generator(self.seed, x.device)
        best = x0.clone()
        best_found = torch.zeros(n, dtype=torch.bool, device=x.device)
        best_iter = torch.full((n,), self.steps, dtype=torch.int64, device=x.device)
        for r in range(self.restarts):
            xa = x0.clone()
            if self.random_start:
                random_start_(xa, x0, eps, self.norm, self.clip, gen)
            step = Stepper(xa, x0, eps, alpha, self.norm, self.clip)
            keep: torch.Tensor | None = None
            found = torch.zeros(n, dtype=torch.bool, device=x.device)
            iters = torch.full((n,), self.steps, dtype=torch.int64, device=x.device)
            for t in range(self.steps):
                g, probs = loss_grad(model, xa, y, self.loss, self.eot, target)
                if self.keep_best:
                    new = is_success(probs.argmax(1), y, target) & ~found
                    if bool(new.any()):
                        idx = new.nonzero()[:, 0]
                        if keep is None:
                            keep = xa.clone()
                        keep[idx] = xa[idx]
                        iters[idx] = t
                        found |= new
                step(g.contiguous())
            if keep is not None:
                xa = torch.where(found.view((n,) + (1,) * (x.dim() - 1)), keep, xa)
            if r < self.restarts - 1:
                # the last step's iterate was never checked: a sample it fools is fooled by this
                # restart, and a later restart must not replace it
                found |= is_success(predict(model, xa, self.eot), y, target)
            take = ~best_found
            best[take] = xa[take]
            best_iter[take] = iters[take]
            best_found |= found
            if bool(best_found.all()):
                break
        return best, best_iter


class FGSM(_Iterative):
    """Fast gradient sign method: one step of size ``eps`` (L-inf: ``eps * sign(g)``; L2:
    ``eps * g / ||g||``), then clipped to the box.

    Every attack class takes an optional ``nn.Module`` as first positional argument (or
    ``model=``): ``FGSM(model, eps=0.1)(x, y)``; without it call ``FGSM(eps=0.1)(model, x, y)``.
    ``eot_samples=`` is accepted as an alias of ``eot=``.

    Parameters
    ----------
    eps : float or Tensor of shape (n,)
        Perturbation budget, per sample if a tensor.
    norm : "inf" or "2"
    loss : "ce" (cross-entropy) or "margin" (``max_{j != y} z_j - z_y``, immune to a saturated
        softmax)
    eot : int
        Forward passes averaged per gradient (expectation over transformation, for stochastic
        models).
    clip : (lo, hi) or None
        Box the inputs live in.
    seed : int or None
        Unused by FGSM (kept for a uniform signature).
    """

    name = "fgsm"
    keep_best = False

    def __init__(
        self,
        eps: float | torch.Tensor = 0.3,
        norm: str = "inf",
        loss: str = "ce",
        eot: int = 1,
        clip: tuple[float, float] | None = (0.0, 1.0),
        seed: int | None = None,
    ) -> None:
        super().__init__(eps, eps, 1, norm, loss, eot, clip, seed)


class BIM(_Iterative):
    """Basic iterative method: ``steps`` FGSM steps of size ``alpha`` from ``x``, each projected
    onto the eps-ball and the box. ``alpha=None`` takes ``2.5 * eps / steps``."""

    name = "bim"

    def __init__(
        self,
        eps: float | torch.Tensor = 0.2,
        alpha: float | torch.Tensor | None = None,
        steps: int = 10,
        norm: str = "inf",
        loss: str = "ce",
        eot: int = 1,
        clip: tuple[float, float] | None = (0.0, 1.0),
        seed: int | None = None,
    ) -> None:
        super().__init__(eps, alpha, steps, norm, loss, eot, clip, seed)


class PGD(_Iterative):
    """Projected gradient descent (Madry et al. 2018): BIM from a random start drawn uniformly in
    the eps-ball (L2: uniform in volume), with ``restarts`` that keep each sample's first success.
    ``alpha=None`` takes ``2.5 * eps / steps``."""

    name = "pgd"

    def __init__(
        self,
        eps: float | torch.Tensor = 0.2,
        alpha: float | torch.Tensor | None = None,
        steps: int = 40,
        norm: str = "inf",
        random_start: bool = True,
        loss: str = "ce",
        eot: int = 1,
        clip: tuple[float, float] | None = (0.0, 1.0),
        seed: int | None = None,
        restarts: int = 1,
    ) -> None:
        super().__init__(eps, alpha, steps, norm, loss, eot, clip, seed, restarts)
        self.random_start = bool(random_start)
