"""One projected gradient step, in place: ``x <- clip(proj_{B(x0, eps)}(x + alpha * dir(g)), lo, hi)``.

``dir`` is ``sign(g)`` for the L-inf norm and ``g / ||g||_2`` (per sample) for L2. The eager torch
sequence below is the reference and the fallback for inputs the kernel cannot take.
"""

from __future__ import annotations

import torch


def torch_step_(
    x: torch.Tensor,
    grad: torch.Tensor,
    x0: torch.Tensor,
    eps: torch.Tensor,
    alpha: torch.Tensor,
    norm: str,
    clip: tuple[float, float] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager torch version of the step (several passes over memory); returns (l2, linf) norms of
    ``x - x0`` after the step."""
    n = x.shape[0]
    view = (n,) + (1,) * (x.dim() - 1)
    if norm == "inf":
        x.add_(grad.sign() * alpha.view(view))
        delta = torch.maximum(torch.minimum(x - x0, eps.view(view)), -eps.view(view))
    else:
        gn = grad.reshape(n, -1).norm(dim=1)
        scale = torch.where(gn > 0, alpha / gn, torch.zeros_like(gn))
        x.add_(grad * scale.view(view))
        delta = x - x0
        dn = delta.reshape(n, -1).norm(dim=1)
        factor = torch.where(dn > eps, eps / dn, torch.ones_like(dn))
        delta = delta * factor.view(view)
    torch.add(x0, delta, out=x)
    if clip is not None:
        x.clamp_(clip[0], clip[1])
    d = (x - x0).reshape(n, -1)
    return d.norm(dim=1), d.abs().amax(dim=1)


def random_start_(
    x: torch.Tensor,
    x0: torch.Tensor,
    eps: torch.Tensor,
    norm: str,
    clip: tuple[float, float] | None,
    gen: torch.Generator | None,
) -> None:
    """``x <- clip(x0 + u)`` with ``u`` uniform in the eps-ball: a uniform cube for L-inf; for L2 a
    Gaussian direction with radius ``eps * U^(1/d)`` (uniform in volume, not on the sphere)."""
    n = x.shape[0]
    d = x[0].numel()
    view = (n,) + (1,) * (x.dim() - 1)
    if norm == "inf":
        u = torch.rand(x.shape, generator=gen, dtype=x.dtype, device=x.device)
        u.mul_(2).sub_(1).mul_(eps.view(view))
    else:
        u = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
        un = u.reshape(n, -1).norm(dim=1).clamp_min(torch.finfo(x.dtype).tiny)
        r = torch.rand(n, generator=gen, dtype=x.dtype, device=x.device).pow(1.0 / d)
        u.mul_((eps * r / un).view(view))
    torch.add(x0, u, out=x)
    if clip is not None:
        x.clamp_(clip[0], clip[1])


def default_alpha(eps: float | torch.Tensor, steps: int) -> float | torch.Tensor:
    """Madry et al.'s rule of thumb: 2.5 * eps / steps, enough to cross the ball and come back."""
    return eps * (2.5 / max(steps, 1))


def step_(
    x: torch.Tensor,
    grad: torch.Tensor,
    x0: torch.Tensor,
    eps: torch.Tensor,
    alpha: torch.Tensor,
    norm: str,
    clip: tuple[float, float] | None,
) -> None:
    """The step the attacks use: the fused kernel where it takes the input, else eager torch."""
    torch_step_(x, grad, x0, eps, alpha, norm, clip)
