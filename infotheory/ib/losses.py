"""VIB losses (math.md §B3.2) and the variational MI estimates (§B3.3)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag sigma^2) || N(0, I) ) per sample, in nats.

    ``(1/2) sum_k (sigma_k^2 + mu_k^2 - 1 - ln sigma_k^2)`` over the last dimension.

    Parameters
    ----------
    mu, sigma : torch.Tensor
        Means and standard deviations (sigma > 0), shape (..., K).

    Returns
    -------
    torch.Tensor
        Shape (...,), nats.
    """
    if mu.shape != sigma.shape:
        raise ValueError(
            f"mu and sigma must have the same shape, got {tuple(mu.shape)} and {tuple(sigma.shape)}"
        )
    return 0.5 * (sigma.square() + mu.square() - 1.0 - 2.0 * torch.log(sigma)).sum(-1)


def vib_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    mu: torch.Tensor | None,
    sigma: torch.Tensor | None,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The VIB objective ``CE + beta * KL`` averaged over the batch (math.md §B3.2), in nats.

    With ``mu = sigma = None`` (a deterministic model) it is the plain cross-entropy and KL is 0.

    Returns
    -------
    (loss, ce, kl) : scalar tensors, nats; CE is over the given logits (one sample of t per input).
    """
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got {beta}")
    ce = F.cross_entropy(logits, y)
    if mu is None or sigma is None:
        kl = ce.new_zeros(())
    else:
        kl = gaussian_kl(mu, sigma).mean()
    return ce + beta * kl, ce, kl


def label_entropy(y: torch.Tensor, n_classes: int | None = None) -> float:
    """Empirical entropy H(Y) of integer labels, in nats (log 10 for balanced 10-class data)."""
    counts = torch.bincount(y.reshape(-1).long().cpu(), minlength=n_classes or 0).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())
