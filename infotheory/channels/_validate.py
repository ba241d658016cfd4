"""Argument checks shared by the channel solvers: numpy float64, finite, named in every error."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import host_array


def as_float(x: Any, name: str, *, nonneg: bool = True) -> np.ndarray:
    """``x`` as a float64 numpy array (torch CPU tensors and array-likes accepted), checked finite
    and, by default, non-negative. Raises TypeError/ValueError naming ``name``."""
    if type(x) is np.ndarray and x.dtype == np.float64:
        # the common case, checked with two reductions: a NaN makes the minimum NaN, an inf (or
        # an overflow) the sum; anything else falls through to the checks that name the problem
        if x.size and (not nonneg or x.min() >= 0.0) and np.isfinite(x.sum()):
            return x
    a = host_array(x, name)
    if a.dtype == object or a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite, found NaN or inf")
    if nonneg and (a < 0).any():
        raise ValueError(f"{name} must be >= 0, got {a[a < 0].flat[0]!r}")
    return a


def scalar_out(a: np.ndarray) -> Any:
    """0-d arrays as numpy scalars (np.float64), others unchanged."""
    return a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a


def as_scalar(x: Any, name: str, *, nonneg: bool = True) -> float:
    """``x`` as one finite float (>= 0 by default): :func:`as_float`'s checks and messages, and
    one number (a 0-d or 1-element array); TypeError/ValueError naming ``name``."""
    a = as_float(x, name, nonneg=nonneg)
    if a.size != 1:
        raise ValueError(f"{name} must be a single number, got shape {a.shape}")
    return float(a.reshape(()))
