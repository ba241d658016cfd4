"""Information-bottleneck training: VIB (Alemi et al. 2016) and cross-entropy classifiers, the trainer
(beta warm-up, weight EMA, adversarial training, I(X;T) / I(Y;T) tracking, checkpoints, torchrun), and
the losses of math.md §B3.2-§B3.3."""

from __future__ import annotations

from ._state import EMA, History, load_checkpoint, save_checkpoint
from .estimate import estimate_mi
from .losses import gaussian_kl, label_entropy, vib_loss
from .models import VIB, CEClassifier, build_model
from .trainer import Trainer

__all__ = [
    "EMA",
    "VIB",
    "CEClassifier",
    "History",
    "Trainer",
    "build_model",
    "estimate_mi",
    "gaussian_kl",
    "label_entropy",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
    "vib_loss",
]


def load_model(path: str, *, ema: bool = True) -> VIB | CEClassifier:
    """Rebuild the model saved in a training checkpoint (a file or a run folder), with the averaged
    (EMA) weights when the run kept them and ``ema`` is True. Returned in eval mode."""
    state = load_checkpoint(path)
    if state.get("model_config") is None:
        raise ValueError(f"checkpoint {path!r} holds a model that infotheory cannot rebuild")
    model = build_model(state["model_config"])
    model.load_state_dict(state["model"])
    if ema and state.get("ema_weights") is not None:
        model.load_state_dict(state["ema_weights"], strict=False)
    return model.eval()
