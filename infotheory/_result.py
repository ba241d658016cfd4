"""``to_dict()`` for the result dataclasses of the numeric packages (channels, lipschitz)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._arrays import is_tensor


def plain(value: Any) -> Any:
    """Arrays and tensors as nested lists (inf/nan kept as floats); numpy scalars as Python numbers;
    lists, tuples, dicts and dataclasses converted element by element."""
    if is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


class ResultMixin:
    """``to_dict()`` for result dataclasses: JSON-ready values (lists, floats, strings). Fields whose
    names start with an underscore (internal bases kept for sampling) are left out."""

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if not f.name.startswith("_")
        }
