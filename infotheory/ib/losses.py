"""VIB losses (math.md §B3.2) and the variational MI estimates (§B3.3)."""

from __future__ import annotations

import math
import sys

import numpy as np
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
    if not isinstance(mu, torch.Tensor) or not isinstance(sigma, torch.Tensor):
        raise TypeError(
            f"mu and sigma must be torch tensors, got {type(mu).__name__} and "
            f"{type(sigma).__name__}"
        )
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
    if not 0 <= beta <= sys.float_info.max:  # NaN, inf and ints beyond the float range fail
        raise ValueError(f"beta must be finite and non-negative, got {beta}")
    ce = F.cross_entropy(logits, y)
    if mu is None or sigma is None:
        kl = ce.new_zeros(())
    else:
        kl = gaussian_kl(mu, sigma).mean()
    return ce + beta * kl, ce, kl


def label_entropy(y: torch.Tensor, n_classes: int | None = None) -> float:
    """Empirical entropy H(Y) of integer labels, in nats (log 10 for balanced 10-class data).

    ``y``: a tensor (or array-like) of non-negative integer labels; ``n_classes``, when given,
    bounds them (``y < n_classes``)."""
    if not isinstance(y, torch.Tensor):
        from .._arrays import host_array

        y = torch.from_numpy(np.ascontiguousarray(host_array(y, "y")))
    if y.device.type == "meta":
        raise ValueError("y is a tensor on the meta device, which holds no data")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer labels, got dtype {y.dtype}")
    y = y.reshape(-1).long().cpu()
    if y.numel() == 0:
        raise ValueError("y must hold at least one label")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0:
        raise ValueError(f"y must be >= 0, got {lo}")
    if n_classes is not None:
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
            raise TypeError(f"n_classes must be an int, got {type(n_classes).__name__}")
        if hi >= n_classes:
            raise ValueError(f"y must be < n_classes = {n_classes}, got {hi}")
    # the counts of the labels present (a bincount of the largest label would allocate
    # max(y) + 1 counters); the zero counts a bincount adds do not change the entropy
    counts = torch.unique(y, sorted=True, return_counts=True)[1].double()
    p = counts / counts.sum()
    return float(-(p * p.log()).sum())
