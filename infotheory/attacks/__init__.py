"""Adversarial attacks on any PyTorch classifier: FGSM, BIM, PGD (L-inf and L2), DeepFool, CW-L2.

Every attack is called as ``attack(model, x, y) -> AttackResult`` with success flags and
per-sample perturbation norms. Only input gradients are computed (parameters' ``.grad`` stay
untouched) and the model's train/eval mode is restored. The projected gradient step runs as one
fused in-place kernel on CPU tensors (``attack_step``).
"""

from __future__ import annotations

from ._attack import Attack
from ._base import AttackResult
from ._step import attack_step
from .cw import CW
from .deepfool import DeepFool
from .evaluate import evaluate
from .gradient import BIM, FGSM, PGD
from .normalize import Normalize

__all__ = [
    "BIM",
    "CW",
    "FGSM",
    "PGD",
    "Attack",
    "AttackResult",
    "DeepFool",
    "Normalize",
    "attack_step",
    "evaluate",
]
