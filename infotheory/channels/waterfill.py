"""Batched water-filling: the reverse (rate-distortion) and forward (capacity) forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from .. import _arrays, _core
from .._result import ResultMixin
from .._units import log_base

_CUDA_STATUS = {
    1: "{rows} must be finite, found NaN or inf",
    2: "{rows} must be >= 0, found a negative entry",
    3: "{budget} must be finite and >= 0",
}


@dataclass(frozen=True)
class ReverseWaterfillResult(ResultMixin):
    """Reverse water-filling solution (math.md §A3.3).

    Attributes
    ----------
    level : array, shape ``(...)``
        Water level tau with ``sum_i min(sigma2_i, tau) = D``. Where ``D >= sum(sigma2)`` every
        coordinate is erased and ``level = max(sigma2)``; where ``D = 0``, ``level = 0``.
    allocation : array, shape ``(..., k)``
        Per-coordinate distortion ``D_i = min(sigma2_i, tau)``.
    mi : array, shape ``(...)``
        Minimal mutual information ``1/2 sum_i log(sigma2_i / D_i)`` in ``unit``; +inf where D = 0
        and some variance is positive, 0 where ``D >= sum(sigma2)``.
    unit : str
        "nats", "bits", ...
    """

    level: Any
    allocation: Any
    mi: Any
    unit: str


@dataclass(frozen=True)
class WaterfillResult(ResultMixin):
    """Forward (capacity) water-filling solution.

    Attributes
    ----------
    level : array, shape ``(...)``
        Water level nu with ``sum_i max(0, nu - N_i) = power``.
    allocation : array, shape ``(..., k)``
        Per-channel power ``P_i = max(0, nu - N_i)``.
    capacity : array, shape ``(...)``
        ``1/2 sum_i log(1 + P_i / N_i)`` in ``unit``; +inf where a noiseless channel gets power.
    unit : str
    """

    level: Any
    allocation: Any
    capacity: Any
    unit: str


def _raise_overflow(rname: str, bname: str, dtype: Any, p: int) -> NoReturn:
    """Finite inputs whose water level lies beyond the dtype's range (forward: noise + power)."""
    raise ValueError(
        f"{rname} and {bname} overflow {dtype} in the water level (problem {p} of the batch): "
        "rescale them"
    )


def _solve(rows: Any, budget: Any, base: str | float, *, reverse: bool) -> tuple[Any, ...]:
    rname, bname = ("sigma2", "D") if reverse else ("noise", "power")
    factor, unit = log_base(base)
    arg = _arrays.float_array(rows, rname, allow_copy=True, min_ndim=1)
    batch, k = arg.shape[:-1], arg.shape[-1]
    if k == 0:
        raise ValueError(
            f"{rname} must have at least one coordinate in its last axis, got shape {arg.shape}"
        )
    n = int(np.prod(batch))
    flat = arg.array.reshape(n, k)
    b = arg.like(budget, bname, batch).reshape(n)
    level, alloc, value = arg.empty((n,)), arg.empty((n, k)), arg.empty((n,))
    if arg.backend == "cuda":
        torch = _arrays.torch_module()
        status = torch.empty((n,), dtype=torch.int32, device=flat.device)
        stream = _arrays.cuda_stream(flat)
        caps = [_arrays.dlpack(t, stream) for t in (flat, b, level, alloc, value, status)]
        fn = _core.reverse_waterfill_cuda if reverse else _core.forward_waterfill_cuda
        fn(*caps, stream)
        # the status and the level's overflow check share the one device sync of a clean call
        overflow = ~torch.isfinite(level)
        if bool(((status != 0) | overflow).any()):
            msgs = {c: m.format(rows=rname, budget=bname) for c, m in _CUDA_STATUS.items()}
            _arrays.raise_cuda_status(status, msgs)  # bad input first: its level is unset
            _raise_overflow(rname, bname, arg.np_dtype, int(overflow.nonzero()[0, 0]))
    else:
        fn = _core.reverse_waterfill if reverse else _core.forward_waterfill
        fn(flat, b, level, alloc, value)
        if not np.isfinite(level).all():  # finite inputs whose sums overflow the dtype
            _raise_overflow(rname, bname, flat.dtype, int(np.flatnonzero(~np.isfinite(level))[0]))
    if factor != 1.0:
        value = value / factor
    shape = tuple(batch)
    return (
        arg.wrap(level.reshape(shape)),
        arg.wrap(alloc.reshape(arg.shape)),
        arg.wrap(value.reshape(shape)),
        unit,
    )


def reverse_waterfill(sigma2: Any, D: Any, *, base: str | float = "e") -> ReverseWaterfillResult:
    """Reverse water-filling: the minimal mutual information of independent Gaussians under a
    squared-error budget (the paper's falling-bar Algorithm 1, math.md §A3.3; Cover & Thomas
    Thm 10.3.3).

    Parameters
    ----------
    sigma2 : array_like, shape ``(..., k)``
        Variances (>= 0, finite). Batched over the leading axes. numpy arrays, torch CPU tensors and
        CUDA tensors are used without copies when float32/float64 and contiguous; other array-likes
        are converted to float64 once.
    D : array_like
        Distortion budget (>= 0), broadcast against ``sigma2.shape[:-1]``.
    base : "e", 2, 10 or a positive number
        Unit of ``mi`` (default nats).

    Returns
    -------
    ReverseWaterfillResult
        ``level`` (tau), ``allocation`` (D_i) and ``mi``, in the caller's array type.

    Notes
    -----
    ``D_i = min(sigma2_i, tau)`` with ``sum_i D_i = D`` when ``D <= sum(sigma2)``, and
    ``I* = 1/2 sum_i ln(sigma2_i / D_i)``. Solved in C++ (OpenMP over problems) or CUDA, one call
    for the whole batch. A float64 problem whose largest variance lies below 2^-1000 (subnormal
    variances included) or whose sum could pass 2^1000 is solved in units of an exact power of two:
    ``mi`` is scale-free and keeps full precision there; ``level`` and ``allocation`` are scaled
    back and round to the nearest double (a level below the smallest subnormal, 5e-324, is 0).
    """
    level, alloc, mi, unit = _solve(sigma2, D, base, reverse=True)
    return ReverseWaterfillResult(level, alloc, mi, unit)


def waterfill(noise: Any, power: Any, *, base: str | float = "e") -> WaterfillResult:
    """Forward water-filling: the capacity of parallel Gaussian channels under a power budget
    (Cover & Thomas Thm 9.4.1).

    Parameters
    ----------
    noise : array_like, shape ``(..., k)``
        Noise variances (>= 0, finite).
    power : array_like
        Total power (>= 0), broadcast against ``noise.shape[:-1]``.
    base : "e", 2, 10 or a positive number
        Unit of ``capacity`` (default nats).

    Returns
    -------
    WaterfillResult
        ``level`` (nu), ``allocation`` (P_i = max(0, nu - N_i)) and ``capacity``.

    Raises
    ------
    ValueError
        Where the level itself lies beyond the dtype's range (noise and power near its largest
        value). Noise far from 1 is otherwise solved in units of an exact power of two, as in
        :func:`reverse_waterfill`.
    """
    level, alloc, cap, unit = _solve(noise, power, base, reverse=False)
    return WaterfillResult(level, alloc, cap, unit)
