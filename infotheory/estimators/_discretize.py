"""Discretising continuous features into integer symbols, and the entropy of a network layer's
features (the first paper's Figure 4: MLE and JVHW on quantised last-layer features)."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from .._arrays import host_array, is_tensor, real_scalar
from ._entropy import entropy
from ._value import Information

STRATEGIES = ("uniform", "quantile", "sign")


def _code_dtype(bins: int) -> type:
    if bins <= np.iinfo(np.int8).max + 1:
        return np.int8
    if bins <= np.iinfo(np.int16).max + 1:
        return np.int16
    return np.int32


def discretize(
    features: Any,
    *,
    bins: int = 30,
    strategy: str = "uniform",
    range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Quantise real features into integer codes, one symbol per row.

    Parameters
    ----------
    features : array_like of float, shape (n,), (n, d) or (n, ...)
        Numpy array or torch tensor; trailing dimensions (feature maps) are flattened to d.
    bins : int
        Number of bins per coordinate (``"uniform"`` and ``"quantile"``).
    strategy : {"uniform", "quantile", "sign"}
        ``"uniform"``: ``bins`` equal-width bins over ``range`` (default: the global min and max of
        all features, as in binning-based MI estimates of network layers); values outside the
        range fall into the end bins. ``"quantile"``: per-coordinate bins with equal mass.
        ``"sign"``: 1 where the feature is > 0 (ReLU activation patterns), else 0.
    range : (float, float), optional
        Lower and upper edge for ``"uniform"``.

    Returns
    -------
    ndarray of int8/int16/int32, shape (n,) or (n, d)
        Codes in 0..bins-1 (0..1 for ``"sign"``), ready for :func:`entropy` or
        :func:`count_symbols`.
    """
    x = host_array(features, "features")
    if x.dtype.kind not in "iuf":
        raise TypeError(f"features must be real numbers, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[0] == 0 or x.size == 0:
        raise ValueError(f"features must hold at least one sample, got shape {x.shape}")
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    x = x.astype(np.float64, copy=False)
    if np.isnan(x).any():
        raise ValueError("features must not contain NaN")
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if strategy == "sign":
        return (x > 0).astype(np.int8)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise TypeError(f"bins must be an int, got {type(bins).__name__}")
    if not 1 <= bins <= _MAX_BINS:
        raise ValueError(f"bins must be in 1..{_MAX_BINS} (the codes are int32), got {bins}")
    dtype = _code_dtype(int(bins))
    if strategy == "quantile":
        if range is not None:
            raise ValueError('range applies to strategy="uniform" only')
        cols = x.reshape(x.shape[0], -1)
        probs = np.linspace(0.0, 1.0, int(bins) + 1)[1:-1]
        codes = np.empty(cols.shape, dtype=dtype)
        for j in builtins.range(cols.shape[1]):
            with np.errstate(invalid="ignore"):  # inf - inf between infinite samples
                edges = np.quantile(cols[:, j], probs)
            if np.isnan(edges).any():  # interpolating between -inf and +inf: data values instead
                edges = np.quantile(cols[:, j], probs, method="lower")
            codes[:, j] = np.searchsorted(edges, cols[:, j], side="right")
        return codes.reshape(x.shape)
    if range is None:
        finite = x[np.isfinite(x)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    else:
        try:
            pair = not isinstance(range, (str, bytes)) and len(range) == 2
        except TypeError:  # no len(): a number, a 0-d tensor
            pair = False
        if not pair:
            raise TypeError(f"range must be a pair (low, high) of numbers, got {range!r}")
        lo, hi = real_scalar(range[0], "range[0]"), real_scalar(range[1], "range[1]")
        if hi < lo:
            raise ValueError(f"range must be finite with low <= high, got {range!r}")
    if hi == lo:
        return np.zeros(x.shape, dtype=dtype)
    width = hi - lo
    if not np.isfinite(width) or not np.isfinite(bins / width):
        # the range's width overflows (or bins / width does, for a subnormal width): bin the data
        # scaled by a power of two, exactly, so that the arithmetic below stays finite
        shift = -1 if not np.isfinite(width) else -int(np.frexp(width)[1])
        x, lo, hi = np.ldexp(x, shift), float(np.ldexp(lo, shift)), float(np.ldexp(hi, shift))
    # Bin i holds edges[i] <= x < edges[i+1] (the last bin is closed), as numpy.histogram: the
    # scaled index can be off by one next to an edge, so it is corrected against the edges.
    idx = np.clip(np.floor((x - lo) * (bins / (hi - lo))), 0, bins - 1).astype(np.intp)
    if bins < 2**20:  # a table of the edges (gathers are cheaper than recomputing them)
        table = np.linspace(lo, hi, int(bins) + 1)

        def edges(i: np.ndarray) -> np.ndarray:
            return table[i]
    else:

        def edges(i: np.ndarray) -> np.ndarray:
            return _edges(i, lo, hi, bins)

    idx -= x < edges(idx)
    idx += (x >= edges(idx + 1)) & (idx != bins - 1)
    return np.clip(idx, 0, bins - 1).astype(dtype)


_MAX_BINS = 2**31  # codes 0..bins-1 fit in int32


def _edges(i: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    """``numpy.linspace(lo, hi, bins + 1)[i]``, value for value, without building the bins + 1
    edges (2**31 bins would be 16 GiB): numpy computes ``i * step + lo`` and sets the last to hi.
    Used for very many bins; fewer use the table itself."""
    f = i.astype(np.float64)
    step = (hi - lo) / bins
    e = (f / bins) * (hi - lo) + lo if step == 0 else f * step + lo
    return np.where(i == bins, hi, e)


def _batches(data: Any, batch_size: int) -> Any:
    if hasattr(data, "x_test") and not is_tensor(data):  # an infotheory.data.Dataset
        data = data.x_test
    if is_tensor(data) or isinstance(data, np.ndarray):
        if data.ndim == 0:
            raise ValueError("data must have a batch axis first, got a 0-d array")
        for i in builtins.range(0, data.shape[0], batch_size):
            yield data[i : i + batch_size]
        return
    for batch in data:
        yield batch[0] if isinstance(batch, (tuple, list)) else batch


def feature_entropy(
    model: Any,
    data: Any,
    layer: Any,
    *,
    method: str = "jvhw",
    bins: int = 30,
    strategy: str = "uniform",
    range: tuple[float, float] | None = None,
    base: str | float = 2,
    batch_size: int = 256,
) -> Information:
    """Entropy H(T) of a deterministic network's features at ``layer`` over ``data``, in bits unless
    ``base=`` says otherwise (``base="e"``: nats).

    For a deterministic encoder I(X;T) = H(T) (math.md §B3.3); the first paper estimates it on
    the last convolutional layer with MLE and JVHW after quantising each coordinate.

    Parameters
    ----------
    model : torch.nn.Module
        Run in eval mode under ``torch.no_grad``; its mode is restored afterwards.
    data : tensor, ndarray, Dataset or iterable of batches
        Inputs; an ``infotheory.data.Dataset`` (its ``x_test``); or an iterable (a DataLoader)
        yielding inputs or (inputs, labels) pairs.
    layer : torch.nn.Module or str
        The submodule whose output is T, or its name in ``model.named_modules()``.
    method, base
        As in :func:`entropy` (default ``base=2``, bits).
    bins, strategy, range
        As in :func:`discretize`, applied to the features of all inputs at once.
    """
    import torch

    from .._units import log_base
    from ._entropy import _method

    # Check the options before running the model over the whole data.
    _method(method)
    log_base(base)
    discretize(np.zeros((1, 1)), bins=bins, strategy=strategy, range=range)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(layer, str):
        try:
            layer = model.get_submodule(layer)
        except AttributeError:
            raise ValueError(f"layer {layer!r} names no submodule of model") from None
    if not isinstance(layer, torch.nn.Module):
        raise TypeError(f"layer must be a torch.nn.Module or its name, got {type(layer).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    feats: list[np.ndarray] = []

    def hook(_mod: Any, _inp: Any, out: Any) -> None:
        t = out[0] if isinstance(out, (tuple, list)) else out
        feats.append(t.detach().reshape(t.shape[0], -1).cpu().double().numpy())

    was_training = model.training
    handle = layer.register_forward_hook(hook)
    batches = 0
    try:
        model.eval()
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        # floating inputs in the model's floating dtype (a float64 ndarray into a float32 model)
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
        with torch.no_grad():
            for xb in _batches(data, batch_size):
                try:
                    xb = torch.as_tensor(xb)
                except (TypeError, ValueError, RuntimeError) as e:
                    raise TypeError(
                        f"data must yield arrays or tensors, got {type(xb).__name__}: {e}"
                    ) from None
                if xb.device.type == "meta":
                    raise ValueError("data holds a tensor on the meta device, which holds no data")
                if xb.ndim == 0:
                    raise ValueError("data must yield batches with a batch axis first, got 0-d")
                if xb.is_floating_point() and dtype is not None:
                    xb = xb.to(dtype)
                model(xb.to(device))
                batches += 1
    finally:
        handle.remove()
        model.train(was_training)
    if not feats:
        if batches:
            raise ValueError("layer never ran in model's forward: is it a submodule of model?")
        raise ValueError("data yielded no inputs")
    codes = discretize(np.concatenate(feats), bins=bins, strategy=strategy, range=range)
    return entropy(codes, method=method, base=base)
