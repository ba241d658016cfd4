"""Variational MI estimates of a trained model on given data, clean and adversarial (math.md §B3.3)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .losses import LN2, gaussian_kl, label_entropy


def _is_vib(model: nn.Module) -> bool:
    return bool(getattr(model, "stochastic", False)) and hasattr(model, "encode")


def _check_width(width: int, max_label: int | None) -> None:
    if max_label is not None and max_label >= width:
        raise ValueError(f"y must be < the model's number of logits {width}, got {max_label}")


@torch.no_grad()
def batch_stats(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    gen: torch.Generator,
    max_label: int | None = None,
) -> tuple[int, float, float]:
    """(correct, sum of CE, sum of KL) over one batch, ``model`` in eval mode.

    For a VIB the CE is E_t[-ln q(y|t)] over ``model.samples`` draws of t (the variational bound's
    term, not the CE of the averaged prediction) and the prediction is the averaged softmax's argmax.
    ``max_label`` (the largest label of the data, read once by the caller) is checked against the
    number of logits (an IndexError on the CPU, a device-side assert on a GPU otherwise).
    """
    if _is_vib(model):
        mu, sigma = model.encode(x)
        eps = torch.randn((int(model.samples), *mu.shape), generator=gen).to(mu.device, mu.dtype)
        logp = F.log_softmax(model.decoder(mu + sigma * eps), dim=-1)  # (S, N, C)
        _check_width(logp.shape[-1], max_label)
        ce = -logp.gather(-1, y.expand(len(eps), -1)[..., None]).mean(0).sum()
        pred = (torch.logsumexp(logp, dim=0)).argmax(-1)
        out = int((pred == y).sum()), float(ce), float(gaussian_kl(mu, sigma).sum())
    else:
        logits = model(x)
        if logits.ndim != 2:
            raise ValueError(f"the model must return logits (N, C), got {tuple(logits.shape)}")
        _check_width(logits.shape[1], max_label)
        ce = F.cross_entropy(logits, y, reduction="sum")
        out = int((logits.argmax(1) == y).sum()), float(ce), math.nan
    # the values are read back anyway: a NaN / inf CE or KL would be a silent NaN estimate
    if not all(map(math.isfinite, out[1:] if _is_vib(model) else out[1:2])):
        raise ValueError(
            f"the model's output on x is not finite (CE sum {out[1]}, KL sum {out[2]}): NaN/inf "
            "weights, or an encoder sigma of 0"
        )
    return out


def estimate_mi(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    adversary: Any = None,
    batch_size: int = 500,
    seed: int = 0,
    h_y: float | None = None,
) -> dict[str, Any]:
    """I(X;T) <= mean KL and I(Y;T) >= H(Y) - E[CE] on (x, y), and the same on adversarial inputs.

    Parameters
    ----------
    model : nn.Module
        A ``VIB`` (I(X;T) from its KL rate) or a deterministic classifier (I(X;T) is then None).
    x, y : torch.Tensor
        Inputs (N, ...) and int64 labels (N,).
    adversary : attack, optional
        ``adversary(model, x, y).x_adv``; adds ``ixt_adv``, ``iyt_adv``, ``acc_adv`` (I(X';T') of the
        paper's Table 1).
    batch_size : int
        Evaluation batch size.
    seed : int
        Seed of the encoder noise draws.
    h_y : float, optional
        H(Y) in nats; default the empirical entropy of ``y``.

    Returns
    -------
    dict
        ``ixt``, ``iyt`` (nats), ``ixt_bits``, ``iyt_bits``, ``acc``, ``n``, and the ``*_adv`` keys when an
        adversary is given. The model's mode is restored.
    """
    from ..attacks._base import check_inputs, check_int

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and len(x) != len(y):
        raise ValueError(f"x and y must have the same non-zero length, got {len(x)} and {len(y)}")
    # x: a finite float tensor with a non-empty batch; y: int labels >= 0 of shape (N,)
    x, y, _ = check_inputs(x, y, None)
    k = getattr(model, "n_classes", None)
    top = int(y.max())
    if isinstance(k, int) and top >= k:
        raise ValueError(f"y must be < n_classes = {k}, got {top}")
    batch_size = check_int(batch_size, "batch_size", 1)
    seed = check_int(seed, "seed", 0)
    if h_y is None:
        h = label_entropy(y)
    else:
        from .._arrays import real_scalar

        h = real_scalar(h_y, "h_y", minimum=0.0)
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    if param is None:
        raise ValueError("model has no floating-point parameters")
    dev, dtype = param.device, param.dtype  # floating x is cast to the model's dtype
    was = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    sums = {"": [0, 0.0, 0.0], "_adv": [0, 0.0, 0.0]}
    try:
        for i in range(0, len(y), batch_size):
            xb, yb = x[i : i + batch_size].to(dev, dtype), y[i : i + batch_size].to(dev)
            parts = [("", xb)]
            if adversary is not None:
                res = adversary(model, xb, yb)
                x_adv = getattr(res, "x_adv", res)
                if not isinstance(x_adv, torch.Tensor) or x_adv.shape != xb.shape:
                    raise TypeError(
                        "adversary must return an AttackResult (or tensor) with x_adv shaped "
                        f"like x, got {type(x_adv).__name__}"
                    )
                parts.append(("_adv", x_adv.detach()))
                model.eval()
            for key, xs in parts:
                c, ce, kl = batch_stats(model, xs, yb, gen, top)
                s = sums[key]
                s[0], s[1], s[2] = s[0] + c, s[1] + ce, s[2] + kl
    finally:
        model.train(was)
    n = len(y)
    out: dict[str, Any] = {"n": n, "unit": "nats", "h_y": h}
    for key in ("", "_adv") if adversary is not None else ("",):
        c, ce, kl = sums[key]
        ixt = kl / n if _is_vib(model) else None
        iyt = h - ce / n
        out.update({
            f"ixt{key}": ixt, f"iyt{key}": iyt, f"acc{key}": c / n,
            f"ixt{key}_bits": ixt / LN2 if ixt is not None else None, f"iyt{key}_bits": iyt / LN2,
        })  # fmt: skip
    return out
