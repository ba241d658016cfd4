"""Section 4 / Theorem 4.1 of arXiv 2007.14042: which k coordinates to attack (math.md §A5)."""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._result import ResultMixin
from .._units import log_base
from ._validate import as_float, as_scalar
from .gaussian import gaussian_vector_attack

_EXHAUSTIVE_LIMIT = 20_000  # subsets; beyond this the greedy search is used
_EXHAUSTIVE_MAX_ENTRIES = 2**26  # subsets x k: an explicit "exhaustive" beyond this is refused


@dataclass(frozen=True)
class SubsetAttackResult(ResultMixin):
    """The best set of attacked coordinates (math.md §A5.3).

    Attributes
    ----------
    attacked : tuple of int
        Indices of the attacked coordinates T (sorted).
    mi : float
        Minimal ``I(U; Y)`` with T attacked, in ``unit`` (``formula="paper"``: the paper's
        ``h(U_Tbar)``, a differential entropy, not a mutual information).
    method : str
        "closed-form" (unlimited power: the k largest variances), "exhaustive" or "greedy".
    formula : str
        "corrected" or "paper".
    allocation : tuple of float or None
        Power per attacked coordinate (in the order of ``attacked``) when ``D`` is given.
    unit : str
    """

    attacked: tuple[int, ...]
    mi: float
    method: str
    formula: str
    allocation: tuple[float, ...] | None
    unit: str


def subset_attack(
    variances: Any,
    k: int,
    *,
    noise_var: float,
    D: float | None = None,
    formula: str = "corrected",
    method: str = "auto",
    base: str | float = "e",
) -> SubsetAttackResult:
    """Attack k of m independent Gaussian coordinates ``U_i ~ N(0, variances_i)`` observed as
    ``X = U + W``, ``W ~ N(0, noise_var I)`` (math.md §A5.3, correcting Theorem 4.1).

    Parameters
    ----------
    variances : array_like, shape ``(m,)``
        sigma_i^2 (>= 0).
    k : int
        Number of attacked coordinates, ``0 <= k <= m``.
    noise_var : float
        Observation noise variance. With ``noise_var = 0`` the true minimum is +inf whenever some
        unattacked variance is positive (Y_Tbar = U_Tbar exactly), which is returned.
    D : float, optional
        Power budget ``E||E_T||^2 <= D``. None: unlimited power, ``E_T = -X_T`` is optimal and
        ``I* = sum_{i not in T} 1/2 ln(1 + sigma_i^2 / noise_var)``, minimised by attacking the k
        largest variances. With a budget the value is §A5.3 item 4 (the vector allocation of §A2.4
        on T plus the untouched rest), searched over T.
    formula : "corrected" or "paper"
        "paper": Theorem 4.1's value (35), ``h(U_Tbar) = 1/2 ln((2 pi e)^|Tbar| det Sigma_Tbar)``
        with T the k largest variances, with a warning: it is a differential entropy (it can be
        negative), not the minimal mutual information, which is +inf without noise.
    method : "auto", "exhaustive" or "greedy"
        Search over T when D is given: "auto" is exhaustive up to 20000 subsets, else greedy
        (add, one at a time, the coordinate whose attack lowers the MI most).
    base : "e", 2, 10 or a positive number

    Returns
    -------
    SubsetAttackResult
    """
    factor, unit = log_base(base)
    s = as_float(variances, "variances").reshape(-1)
    m = s.size
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= m:
        raise ValueError(f"k must be an integer in [0, {m}], got {k!r}")
    nv = as_scalar(noise_var, "noise_var")
    if D is not None:
        D = as_scalar(D, "D")
    if not isinstance(formula, str) or formula not in ("corrected", "paper"):
        raise ValueError(f'formula must be "corrected" or "paper", got {formula!r}')
    if not isinstance(method, str) or method not in ("auto", "exhaustive", "greedy"):
        raise ValueError(f'method must be "auto", "exhaustive" or "greedy", got {method!r}')
    largest = tuple(sorted(int(i) for i in np.argsort(-s, kind="stable")[:k]))
    if formula == "paper":
        warnings.warn(
            "Theorem 4.1's value h(U_Tbar) is a differential entropy, not a mutual information: "
            "without observation noise the minimal I(U; U+E) is +inf (math.md §A5.3)",
            UserWarning,
            stacklevel=2,
        )
        rest = np.delete(s, list(largest))
        with np.errstate(divide="ignore"):
            h = 0.5 * (rest.size * math.log(2 * math.pi * math.e) + float(np.sum(np.log(rest))))
        return SubsetAttackResult(largest, h / factor, "closed-form", "paper", None, unit)

    def untouched(idx: np.ndarray) -> np.ndarray:
        """sum over the complement of 1/2 ln(1 + sigma^2/noise_var), per row of attacked indices."""
        mask = np.ones((idx.shape[0], m), dtype=bool)
        np.put_along_axis(mask, idx, False, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(s > 0, 0.5 * np.log1p(s / nv) if nv > 0 else np.inf, 0.0)
        return np.where(mask, per, 0.0).sum(1)

    def value(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        rest = untouched(idx)
        if D is None or idx.shape[1] == 0:
            return rest, None
        va = gaussian_vector_attack(s[idx], nv, D)
        return rest + np.asarray(va.mi), va.allocation

    if D is None or k == 0:
        idx = np.array([largest], dtype=np.int64).reshape(1, k)
        mi, _ = value(idx)
        return SubsetAttackResult(
            largest, float(mi[0]) / factor, "closed-form", "corrected", None, unit
        )
    n_sub = math.comb(m, k)
    use = method if method != "auto" else ("exhaustive" if n_sub <= _EXHAUSTIVE_LIMIT else "greedy")
    if use == "exhaustive" and n_sub * k > _EXHAUSTIVE_MAX_ENTRIES:
        raise ValueError(
            f'method="exhaustive" would evaluate all C({m}, {k}) = {n_sub} subsets of the '
            f'coordinates, more than this machine can hold; use method="greedy" (or "auto")'
        )
    if use == "exhaustive":
        idx = np.array(list(itertools.combinations(range(m), k)), dtype=np.int64)
        mi, alloc = value(idx)
        best = int(np.argmin(mi))
        chosen, best_mi, best_alloc = tuple(int(i) for i in idx[best]), float(mi[best]), alloc[best]
    else:
        chosen_list: list[int] = []
        for _ in range(k):
            cand = [i for i in range(m) if i not in chosen_list]
            idx = np.array([sorted([*chosen_list, i]) for i in cand], dtype=np.int64)
            mi, _ = value(idx)
            chosen_list.append(cand[int(np.argmin(mi))])
        idx = np.array([sorted(chosen_list)], dtype=np.int64)
        mi, alloc = value(idx)
        chosen, best_mi, best_alloc = tuple(int(i) for i in idx[0]), float(mi[0]), alloc[0]
    return SubsetAttackResult(
        chosen,
        best_mi / factor,
        use,
        "corrected",
        tuple(float(a) for a in best_alloc),
        unit,
    )
