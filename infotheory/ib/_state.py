"""Training state that outlives an epoch: the weight EMA, the per-epoch history, atomic checkpoints."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

CHECKPOINT_FORMAT = "infotheory.ib.checkpoint"
CHECKPOINT_VERSION = 1


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers.

    Two corrections for small data sets (where a fixed 0.999 lags by ~1000 steps):

    - ramped decay: step n (1-based) uses ``d_n = min(decay, (1 + n) / (10 + n))``;
    - bias correction: the average starts at zero and is divided by ``1 - prod_n d_n``, so it is a
      normalised weighted mean of the iterates (a constant sequence averages to itself exactly).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(decay, bool) or not isinstance(decay, (int, float)):
            raise TypeError(f"ema must be a number in [0, 1), got {type(decay).__name__}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.steps = 0
        self.retained = 1.0  # prod of d_n: the weight the zero start still has
        self.shadow = {k: torch.zeros_like(v) for k, v in self._tracked(model).items()}

    @staticmethod
    def _tracked(model: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}

    def step_decay(self) -> float:
        """The decay the next update will use."""
        n = self.steps + 1
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.step_decay()
        for k, v in self._tracked(model).items():
            self.shadow[k].mul_(d).add_(v.detach(), alpha=1.0 - d)
        self.steps += 1
        self.retained *= d

    @torch.no_grad()
    def averaged(self) -> dict[str, torch.Tensor]:
        """The bias-corrected averages (a partial state dict)."""
        if self.steps == 0:
            raise ValueError("the EMA has no updates yet")
        scale = 1.0 / (1.0 - self.retained)
        return {k: v * scale for k, v in self.shadow.items()}

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the averaged weights into ``model`` (same architecture)."""
        model.load_state_dict(self.averaged(), strict=False)

    def state_dict(self) -> dict[str, Any]:
        return {
            "decay": self.decay,
            "steps": self.steps,
            "retained": self.retained,
            "shadow": self.shadow,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.steps = int(state["steps"])
        self.retained = float(state["retained"])
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


@dataclass
class History:
    """Per-epoch training records.

    ``records`` is a list of dicts with keys epoch, loss, ce, kl, ixt, iyt, ixt_bits, iyt_bits, ixt_adv,
    iyt_adv, ixt_adv_bits, iyt_adv_bits, train_acc, test_acc, test_ixt, test_iyt, beta, lr, seconds. Information is in nats unless the
    key ends in ``_bits``; I(X;T) <= mean KL and I(Y;T) >= H(Y) - CE (math.md §B3.3); ``*_adv`` are the same
    on the adversarial training inputs (None without an adversary); KL quantities are None for
    deterministic models; accuracies are fractions in [0, 1]; ``seconds`` is the epoch's wall time.
    """

    records: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def column(self, key: str) -> list[Any]:
        """One key across epochs."""
        return [r.get(key) for r in self.records]

    @property
    def last(self) -> dict[str, Any]:
        if not self.records:
            raise ValueError("history is empty")
        return self.records[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"records": [{k: _clean(v) for k, v in r.items()} for r in self.records]}

    def save(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``history.json`` (a list of records) and ``history.csv`` into ``folder``, atomically."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        rows = self.to_dict()["records"]
        js = folder / "history.json"
        _atomic_write_text(js, json.dumps(rows, indent=2) + "\n")
        fields: list[str] = []
        for r in rows:
            fields.extend(k for k in r if k not in fields)
        cs = folder / "history.csv"
        tmp = cs.with_name(cs.name + ".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, cs)
        return js, cs


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    return Path(path)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` to a temporary file in the same folder, flush it to disk, then
    rename it over ``path``: a crash leaves either the old checkpoint or the new one, never half of one."""
    path = _path(path)
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    doc = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    try:
        with tmp.open("wb") as f:
            torch.save(doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``torch.load(weights_only=True)``.

    ``path`` is the file or the run folder holding ``checkpoint.pt``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is truncated, corrupt, or not an infotheory checkpoint.
    """
    path = _path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated zips and unsafe pickles
        raise ValueError(
            f"checkpoint {str(path)!r} cannot be read (truncated, corrupt, or not written by "
            f"infotheory): {type(e).__name__}: {e}"
        ) from e
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {str(path)!r} is not an infotheory training checkpoint")
    if doc.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"checkpoint {str(path)!r} has version {doc.get('version')!r}; this infotheory reads "
            f"version {CHECKPOINT_VERSION}"
        )
    return doc
