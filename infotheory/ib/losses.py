"""VIB losses (math.md §B3.2) and the variational MI estimates (§B3.3)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._arrays import host_array, real_scalar, refuse_meta

LN2 = math.log(2.0)


def _checked_here(t: torch.Tensor, check: bool | None) -> bool:
    """Whether to check values: always on the CPU (cheap), on a GPU only when asked (``check=True``
    costs a device sync per call), never on the meta device (no data)."""
    if t.device.type == "meta":
        return False
    return t.device.type == "cpu" if check is None else bool(check)


def _check_float_tensor(t: Any, name: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")


def gaussian_kl(
    mu: torch.Tensor, sigma: torch.Tensor, *, check: bool | None = None
) -> torch.Tensor:
    """KL( N(mu, diag sigma^2) || N(0, I) ) per sample, in nats.

    ``(1/2) sum_k (sigma_k^2 + mu_k^2 - 1 - ln sigma_k^2)`` over the last dimension.

    Parameters
    ----------
    mu, sigma : torch.Tensor
        Means and standard deviations (sigma > 0), floating point, shape (..., K).
    check : bool, optional
        Check the values: ``mu`` finite, ``sigma`` finite and > 0 (``ln sigma`` of a non-positive
        sigma is a NaN or infinite KL), else ValueError. None (default): on CPU tensors only; a
        check on a CUDA tensor costs a device sync per call, so it is made only with ``check=True``.
        Unchecked, a bad value gives a non-finite KL (:class:`Trainer` raises on a non-finite
        training loss at its next read-back).

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
    _check_float_tensor(mu, "mu")
    _check_float_tensor(sigma, "sigma")
    if mu.shape != sigma.shape:
        raise ValueError(
            f"mu and sigma must have the same shape, got {tuple(mu.shape)} and {tuple(sigma.shape)}"
        )
    if mu.device != sigma.device:
        raise ValueError(f"mu is on {mu.device} but sigma is on {sigma.device}")
    if _checked_here(sigma, check):
        with torch.no_grad():
            if not bool(torch.isfinite(mu).all()):
                raise ValueError("mu must be finite, found NaN or inf")
            ok = (sigma > 0) & torch.isfinite(sigma)
            if not bool(ok.all()):
                bad = sigma.reshape(-1)[int((~ok).reshape(-1).nonzero()[0, 0])]
                raise ValueError(f"sigma must be finite and > 0, found {float(bad)!r}")
    return 0.5 * (sigma.square() + mu.square() - 1.0 - 2.0 * torch.log(sigma)).sum(-1)


def vib_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    mu: torch.Tensor | None,
    sigma: torch.Tensor | None,
    beta: float,
    *,
    check: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The VIB objective ``CE + beta * KL`` averaged over the batch (math.md §B3.2), in nats.

    With ``mu = sigma = None`` (a deterministic model) it is the plain cross-entropy and KL is 0.

    Parameters
    ----------
    logits : torch.Tensor
        Floating point, shape (N, C).
    y : torch.Tensor
        Integer class labels in [0, C), shape (N,).
    mu, sigma : torch.Tensor or None
        The encoder's means and standard deviations (sigma > 0), shape (N, K).
    beta : float
        Weight of the KL term, finite and >= 0.
    check : bool, optional
        Check the values: finite logits, labels in [0, C), and mu / sigma as in
        :func:`gaussian_kl`, else ValueError. None (default): on CPU tensors only (cheap). On a
        GPU a check costs a device sync per call, so it is made only with ``check=True``;
        unchecked, a label outside [0, C) makes that sample's CE NaN (not a device-side assert)
        and a non-positive sigma the KL non-finite: test ``torch.isfinite(loss)`` where the loss is
        read back anyway (:class:`Trainer` does, and raises).

    Returns
    -------
    (loss, ce, kl) : scalar tensors, nats; CE is over the given logits (one sample of t per input).
    """
    beta = real_scalar(beta, "beta", minimum=0.0)  # NaN, inf and ints beyond the float range fail
    _check_float_tensor(logits, "logits")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch tensor of class labels, got {type(y).__name__}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if logits.ndim != 2 or y.shape != logits.shape[:1] or 0 in logits.shape:
        raise ValueError(
            f"logits must have shape (N, C) with N, C >= 1 and y shape (N,), got "
            f"{tuple(logits.shape)} and {tuple(y.shape)}"
        )  # an empty batch's mean CE is NaN
    if y.device != logits.device:
        raise ValueError(f"y is on {y.device} but logits are on {logits.device}")
    n_classes = logits.shape[1]
    y = y.long()
    if _checked_here(logits, check):
        if not bool(torch.isfinite(logits.detach()).all()):
            raise ValueError("logits must be finite, found NaN or inf")
        if not 0 <= int(y.min()) <= int(y.max()) < n_classes:
            raise ValueError(
                f"y must hold labels in [0, {n_classes}) (logits have {n_classes} columns), got "
                f"min {int(y.min())} and max {int(y.max())}"
            )
        ce = F.cross_entropy(logits, y)
    else:
        # no sync: a label outside [0, C) gives a NaN CE instead of a device-side assert
        bad = (y < 0) | (y >= n_classes)
        ce_i = F.cross_entropy(logits, y.clamp(0, n_classes - 1), reduction="none")
        ce = ce_i.masked_fill(bad, math.nan).mean()
    if mu is None or sigma is None:
        kl = ce.new_zeros(())
    else:
        kl = gaussian_kl(mu, sigma, check=check).mean()
    return ce + beta * kl, ce, kl


def label_entropy(y: torch.Tensor, n_classes: int | None = None) -> float:
    """Empirical entropy H(Y) of integer labels, in nats (log 10 for balanced 10-class data).

    ``y``: a tensor (or array-like) of non-negative integer labels; ``n_classes``, when given,
    bounds them (``y < n_classes``)."""
    if not isinstance(y, torch.Tensor):
        y = torch.from_numpy(np.ascontiguousarray(host_array(y, "y")))
    refuse_meta(y, "y")
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
