"""``Normalize``: attack a model that expects normalised input in the raw pixel box."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """``Normalize(model, mean, std)(x) = model((x - mean) / std)``, per channel (axis 1).

    Attacks then run in pixel space (box ``[0, 1]``, eps in pixel units) while the wrapped model
    sees the inputs it was trained on. Scalars apply to every channel.
    """

    def __init__(
        self, model: nn.Module, mean: float | Sequence[float], std: float | Sequence[float]
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        m, s = (_per_channel(v, name) for v, name in ((mean, "mean"), (std, "std")))
        if not bool(torch.isfinite(s).all()) or bool((s <= 0).any()):
            raise ValueError(f"std must be finite and positive, got {s.tolist()}")
        if not bool(torch.isfinite(m).all()):
            raise ValueError(f"mean must be finite, got {m.tolist()}")
        if m.numel() != s.numel() and 1 not in (m.numel(), s.numel()):
            raise ValueError(f"mean has {m.numel()} channels but std has {s.numel()}")
        self.model = model
        self.register_buffer("mean", m, persistent=False)
        self.register_buffer("std", s, persistent=False)
        self._fits: set[torch.dtype] = set()  # the dtypes whose mean and std were checked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = max(self.mean.numel(), self.std.numel())
        if c > 1 and (x.dim() < 2 or x.shape[1] != c):
            raise ValueError(f"x must have {c} channels on axis 1, got shape {tuple(x.shape)}")
        shape = (1, -1) + (1,) * (x.dim() - 2) if c > 1 else (1,) * x.dim()
        m = self.mean.to(x.dtype).view(shape)
        s = self.std.to(x.dtype).view(shape)
        if x.dtype not in self._fits:  # once per dtype: std = 1e-300 is 0 in float32 (NaN logits)
            if not (bool(torch.isfinite(m).all()) and bool(torch.isfinite(1.0 / s).all())):
                raise ValueError(
                    f"mean {self.mean.tolist()} and std {self.std.tolist()} do not fit x's dtype "
                    f"{x.dtype}: a mean overflows or 1 / std does"
                )
            self._fits.add(x.dtype)
        return self.model((x - m) / s)


def _per_channel(value: float | Sequence[float], name: str) -> torch.Tensor:
    """A number or a sequence of numbers (one per channel) as a flat float64 tensor."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {value!r}") from e
    if t.numel() == 0:
        raise ValueError(f"{name} must hold at least one value (one per channel)")
    return t.reshape(-1)
