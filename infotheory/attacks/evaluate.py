"""Robust accuracy of a model under a set of attacks."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ._attack import Attack
from ._base import check_inputs, check_int, eval_mode, predict


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attacks: Mapping[str, Attack],
    batch_size: int = 256,
) -> dict[str, float]:
    """Clean and robust accuracy.

    Parameters
    ----------
    model : nn.Module
        Returns logits; its train/eval mode is restored afterwards.
    x, y : Tensor
        Inputs ``(n, ...)`` and integer labels ``(n,)``.
    attacks : mapping name -> Attack
    batch_size : int
        Samples attacked at once.

    Returns
    -------
    dict
        ``{"clean": accuracy, name: robust accuracy, ...}``, fractions in [0, 1]. Robust accuracy is
        the fraction of samples the model still labels correctly at the attack's output
        (``1 - success rate``); a sample misclassified when clean counts as fooled whenever the
        attack's output is misclassified too.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_int(batch_size, "batch_size", 1)
    for name, atk in attacks.items():
        if not isinstance(atk, Attack):
            raise TypeError(f"attacks[{name!r}] must be an Attack, got {type(atk).__name__}")
        if name == "clean":
            raise ValueError("attacks must not use the name 'clean' (it holds the clean accuracy)")
    x, y, _ = check_inputs(x, y, None)
    n = x.shape[0]
    correct = {"clean": 0, **dict.fromkeys(attacks, 0)}
    for s in range(0, n, batch_size):
        xb, yb = x[s : s + batch_size], y[s : s + batch_size]
        with eval_mode(model):
            correct["clean"] += int((predict(model, xb) == yb).sum())
        for name, atk in attacks.items():
            correct[name] += int((~atk(model, xb, yb).success).sum())
    return {k: v / n for k, v in correct.items()}
