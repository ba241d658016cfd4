"""Symbols from integer arrays: validation, counting distinct rows and fingerprints (C++ kernel)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._arrays import host_array


def as_codes(samples: Any, name: str = "samples") -> np.ndarray:
    """Validate integer symbols: (n,) or (n, d), integer or bool dtype, n >= 1.

    Returns a C-contiguous 2-D numpy view (a copy only when the input is not contiguous or is a
    tensor on another device). Floats are refused: they must be discretised first.
    """
    if not isinstance(samples, np.ndarray):
        samples = host_array(samples, name)
    a = samples
    if a.dtype.kind not in "iub":
        if a.dtype.kind == "f":
            raise TypeError(
                f"{name} must hold integer symbols, got dtype {a.dtype}; discretise continuous "
                "values first with infotheory.estimators.discretize"
            )
        raise TypeError(f"{name} must hold integer symbols, got dtype {a.dtype}")
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    elif a.ndim != 2:
        raise ValueError(f"{name} must be 1-D (n,) or 2-D (n, d), got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {samples.shape}")
    if a.dtype == np.bool_:
        a = a.view(np.uint8)
    elif not a.dtype.isnative:  # the kernel reads native-endian integers
        a = a.astype(a.dtype.newbyteorder("="))
    return np.ascontiguousarray(a)


def count_symbols(
    codes: Any, *, return_index: bool = False, return_inverse: bool = False
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Count the distinct symbols (rows) of an integer array in one pass, without sorting.

    Parameters
    ----------
    codes : array_like of int or bool, shape (n,) or (n, d)
        Each entry (1-D) or each row (2-D) is one symbol. Numpy arrays and torch tensors.
    return_index : bool
        Also return, for each symbol, the index of its first occurrence (``codes[index]`` are the
        distinct rows).
    return_inverse : bool
        Also return the symbol id of every row (``counts[inverse]`` is each row's count).

    Returns
    -------
    counts : ndarray of int64, shape (k,)
        Occurrences of each of the k distinct symbols. The order is deterministic but
        unspecified; with ``return_index`` or ``return_inverse`` it is the order of first
        occurrence. ``counts.sum() == n``.
    index, inverse : ndarray of int64
        Only when requested, in that order.

    Notes
    -----
    Rows become 64-bit mixed-radix keys when the column ranges allow (a dense bincount for small
    key spaces, else an open-addressing hash table); wider rows are hashed byte-wise. The column
    range and key passes use the library's threads (``infotheory.set_num_threads``).
    """
    a = as_codes(codes, "codes")
    counts, index, inverse = _core.count_symbols(a, return_index, return_inverse)
    out = [counts]
    if return_index:
        out.append(index)
    if return_inverse:
        out.append(inverse)
    return out[0] if len(out) == 1 else tuple(out)


def as_counts(counts: Any, name: str = "counts") -> np.ndarray:
    """Validate a 1-D array of non-negative integer counts as contiguous int64."""
    c = host_array(counts, name)
    if c.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {c.dtype}")
    if c.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {c.shape}")
    if c.size and int(c.min()) < 0:
        raise ValueError(f"{name} must be >= 0, got a minimum of {int(c.min())}")
    if c.dtype == np.uint64 and c.size and int(c.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name} must fit in int64")
    return np.ascontiguousarray(c, dtype=np.int64)


def fingerprint(counts: Any) -> np.ndarray:
    """Fingerprint of a vector of symbol counts.

    Parameters
    ----------
    counts : array_like of int, shape (k,)
        Occurrences of each symbol (zeros, unseen symbols, are ignored).

    Returns
    -------
    ndarray of int64, shape (max(counts) + 1,)
        ``f[j]`` is the number of symbols seen exactly j times; ``f[0]`` is always 0 (math.md §C2
        step 1). ``sum(j * f[j]) == sum(counts)``.
    """
    c = as_counts(counts)
    if c.size and int(c.max()) > _MAX_FINGERPRINT:
        raise ValueError(
            f"counts has a count of {int(c.max())}: its dense fingerprint would hold that many "
            f"entries (more than {_MAX_FINGERPRINT}); entropy_from_counts reads the sparse one"
        )
    return _core.fingerprint(c)


_MAX_FINGERPRINT = 2**31  # entries of a dense fingerprint (16 GiB of int64)
