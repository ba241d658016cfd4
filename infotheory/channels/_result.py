"""Result dataclasses' shared ``to_dict``."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._arrays import is_tensor


def plain(value: Any) -> Any:
    """Arrays and tensors as nested lists (inf/nan kept as floats); scalars as Python numbers."""
    if is_tensor(value):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class ResultMixin:
    """``to_dict()`` for frozen result dataclasses: JSON-ready values (lists and floats). Fields whose
    names start with an underscore (internal bases kept for sampling) are left out."""

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if not f.name.startswith("_")
        }
