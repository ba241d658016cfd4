"""Adversarial attacks on any PyTorch classifier: FGSM, BIM, PGD (L-inf and L2), DeepFool, CW-L2.

An attack is bound to a model, ``PGD(model, eps=0.3)(x, y)``, or called unbound,
``PGD(eps=0.3)(model, x, y)``; both return an ``AttackResult`` with success flags and per-sample
perturbation norms. ``evaluate(model, (x, y), attacks)`` returns a ``RobustnessReport``. Only input gradients are computed (parameters' ``.grad`` stay
untouched) and the model's train/eval mode is restored. The projected gradient step runs as one
fused in-place kernel on CPU tensors (``attack_step``).
"""

from __future__ import annotations

from ._attack import Attack
from ._base import AttackResult
from ._step import attack_step
from .cw import CW
from .deepfool import DeepFool
from .evaluate import AttackStats, RobustnessReport, evaluate
from .gradient import BIM, FGSM, PGD
from .normalize import Normalize

__all__ = [
    "BIM",
    "CW",
    "FGSM",
    "PGD",
    "Attack",
    "AttackResult",
    "AttackStats",
    "DeepFool",
    "Normalize",
    "RobustnessReport",
    "attack_step",
    "evaluate",
]
