"""The ``Attack`` base class: validation, evaluation mode, the result."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._base import (
    AttackResult,
    check_inputs,
    check_labels,
    eval_mode,
    is_success,
    logits_of,
    parse_clip,
    perturbation_norms,
    predict,
)


class Attack:
    """Base class. ``attack(model, x, y, target=None) -> AttackResult``.

    ``model`` is any ``nn.Module`` mapping a batch to logits ``(n, n_classes)``; it runs in
    evaluation mode during the attack and every submodule's mode is restored afterwards. Only input
    gradients are computed: parameters' ``.grad`` are never written.
    """

    name = "attack"
    norm = "inf"
    targeted_ok = True

    def __init__(self, clip: tuple[float, float] | None) -> None:
        self.clip = parse_clip(clip)

    def __call__(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: Any = None
    ) -> AttackResult:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if target is not None and not self.targeted_ok:
            raise ValueError(f"{self.name} is untargeted: target must be None")
        x, y, tgt = check_inputs(x, y, self.clip, target)
        with eval_mode(model):
            with torch.no_grad():
                k = logits_of(model, x[:1]).shape[1]
            check_labels(y, k)
            if tgt is not None:
                check_labels(tgt, k, "target")
            x_adv, iterations = self._run(model, x, y, tgt)
            x_adv = x_adv.detach()
            labels = predict(model, x_adv, getattr(self, "eot", 1))
        l2, linf = perturbation_norms(x_adv, x)
        return AttackResult(
            x_adv=x_adv,
            success=is_success(labels, y, tgt),
            norms=linf if self.norm == "inf" else l2,
            l2=l2,
            linf=linf,
            adv_labels=labels,
            iterations=iterations,
            attack=self.name,
            norm=self.norm,
        )

    def _run(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
