"""Section 3.3 of arXiv 2007.14042: the binary ("BSC-like") attack, solved exactly (math.md §A4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _arrays, _core
from .._arrays import int_scalar
from .._result import ResultMixin
from .._units import log_base
from ._validate import as_float, as_scalar, scalar_out

# points**2 = 16.8M flip pairs per class: about 1 GiB of float64 work arrays
_MAX_GRID_POINTS = 4096

_CUDA_STATUS = {
    1: "p must be finite, found NaN or inf",
    2: "p must be >= 0, found a negative probability",
    3: "eps must be finite and >= 0",
    5: "p must sum to 1 (within 1e-9) over its last four entries",
}


@dataclass(frozen=True)
class BinaryAttackResult(ResultMixin):
    """Optimal flip probabilities of the binary attack (math.md §A4.4).

    Attributes
    ----------
    mi : array, shape ``(...)``
        Minimal ``I(U; X xor E)`` in ``unit``.
    flip : array, shape ``(..., 4)``
        p1..p4 = P(E=1 | U=u, X=x) for (u, x) = (0,0), (0,1), (1,0), (1,1): the cheapest
        realisation, which flips in one direction per class.
    alpha : array, shape ``(..., 2)``
        ``alpha_u = P(Y=1 | U=u)`` at the optimum.
    multiplier : array, shape ``(...)``
        lambda of the budget constraint, in nats per unit of budget (0 when ``eps >= D_0``).
    zero_information_budget : array, shape ``(...)``
        ``D_0 = min(pi_0, pi_1) |beta_1 - beta_0|``: the least budget that makes ``I = 0``.
    prior : array, shape ``(..., 4)``
        [a, b, c, d] as solved (broadcast against eps).
    eps : array, shape ``(...)``
        The budget on ``P(E = 1)``.
    unit : str
    """

    mi: Any
    flip: Any
    alpha: Any
    multiplier: Any
    zero_information_budget: Any
    prior: Any
    eps: Any
    unit: str

    @property
    def alpha0(self) -> Any:
        """``P(Y=1 | U=0)`` at the optimum, shape ``(...)``."""
        return self.alpha[..., 0]

    @property
    def alpha1(self) -> Any:
        """``P(Y=1 | U=1)`` at the optimum, shape ``(...)``."""
        return self.alpha[..., 1]


def _prior_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) >= 1 and shape[-1] == 4:
        return shape[:-1]
    if len(shape) >= 2 and shape[-2:] == (2, 2):
        return shape[:-2]
    raise ValueError(f"p must have shape (..., 4) or (..., 2, 2), got {shape}")


def binary_attack(p: Any, eps: Any, *, base: str | float = "e") -> BinaryAttackResult:
    """Minimal ``I(U; Y)``, ``Y = X xor E``, over flip laws ``P(E | U, X)`` with ``P(E=1) <= eps``
    (Section 3.3 of arXiv 2007.14042, solved by the exact one-dimensional reduction of math.md §A4.4;
    the paper's Theorem 3.3 omits the box multipliers, see :func:`check_kkt`).

    Parameters
    ----------
    p : array_like, shape ``(..., 4)`` or ``(..., 2, 2)``
        Joint law [a, b, c, d] = P(U=0,X=0), P(U=0,X=1), P(U=1,X=0), P(U=1,X=1) (rows u, columns x
        in the 2x2 form). Non-negative, finite, each problem summing to 1 within 1e-9. A float64
        CUDA tensor runs on the GPU.
    eps : array_like
        Hamming budget ``P(Y != X) <= eps`` (>= 0), broadcast with the batch shape.
    base : "e", 2, 10 or a positive number
        Unit of ``mi``.

    Returns
    -------
    BinaryAttackResult

    Notes
    -----
    One C++ call solves the whole batch (OpenMP over problems; about 0.3 us a problem), by Newton's
    method on the convex split of the budget between the two classes, inside a bisection bracket.
    """
    factor, unit = log_base(base)
    arg = _arrays.float_array(p, "p", allow_copy=True, dtypes=(np.dtype(np.float64),), min_ndim=1)
    pbatch = _prior_shape(arg.shape)
    if arg.backend == "cuda":
        torch = _arrays.torch_module()
        if _arrays.is_tensor(eps):
            e_t = eps
        else:
            e_np = _arrays.host_array(eps, "eps")
            _arrays._reject_bad_kind(e_np, "eps")
            e_t = torch.as_tensor(e_np.astype(np.float64))
        e_shape = tuple(e_t.shape)
    else:
        e_np = as_float(eps, "eps", nonneg=False)
        e_shape = e_np.shape
    try:
        batch = tuple(np.broadcast_shapes(pbatch, e_shape))
    except ValueError as e:
        raise ValueError(f"eps with shape {e_shape} does not broadcast to {pbatch}") from e
    n = int(np.prod(batch))
    flat = arg.array.reshape((*pbatch, 4))
    if arg.backend == "cuda":
        flat = torch.broadcast_to(flat, (*batch, 4)).reshape(n, 4).contiguous()
    else:
        flat = np.ascontiguousarray(np.broadcast_to(flat, (*batch, 4)).reshape(n, 4))
    e = arg.like(eps, "eps", batch).reshape(n)
    mi, flip, alpha = arg.empty((n,)), arg.empty((n, 4)), arg.empty((n, 2))
    lam, d0 = arg.empty((n,)), arg.empty((n,))
    if n == 0:
        pass
    elif arg.backend == "cuda":
        status = torch.empty((n,), dtype=torch.int32, device=flat.device)
        stream = _arrays.cuda_stream(flat)
        caps = [_arrays.dlpack(t, stream) for t in (flat, e, mi, flip, alpha, lam, d0, status)]
        _core.binary_attack_cuda(*caps, stream)
        _arrays.raise_cuda_status(status, _CUDA_STATUS)
    else:
        _core.binary_attack(flat, e, mi, flip, alpha, lam, d0)
    if factor != 1.0:
        mi = mi / factor

    def out(x: Any, tail: tuple[int, ...] = ()) -> Any:
        x = x.reshape(batch + tail)
        return arg.wrap(x) if tail or arg.backend != "numpy" else scalar_out(x)

    return BinaryAttackResult(
        mi=out(mi),
        flip=out(flip, (4,)),
        alpha=out(alpha, (2,)),
        multiplier=out(lam),
        zero_information_budget=out(d0),
        prior=out(flat.clone() if arg.backend == "cuda" else flat.copy(), (4,)),
        eps=out(e.clone() if arg.backend == "cuda" else e.copy()),
        unit=unit,
    )


@dataclass(frozen=True)
class KKTReport(ResultMixin):
    """Violations of the optimality conditions of a binary attack (all >= 0; 0 = satisfied).

    Attributes
    ----------
    max_violation : float
        The largest of the three below over the whole batch.
    stationarity : array, shape ``(..., 4)``
        Per flip probability: ``|g_i + lambda w_i|`` for interior p_i, its wrong-signed part at a
        bound (corrected conditions), or ``|g_i + lambda w_i|`` everywhere (the paper's (23)).
    feasibility : array, shape ``(...)``
        ``max(0, w.p - eps)``.
    complementarity : array, shape ``(...)``
        ``lambda |eps - w.p|``.
    conditions : str
        "corrected" (math.md §A4.3) or "paper" (Theorem 3.3 as printed).
    """

    max_violation: float
    stationarity: Any
    feasibility: Any
    complementarity: Any
    conditions: str


def check_kkt(result: BinaryAttackResult, *, conditions: str = "corrected") -> KKTReport:
    """Evaluate the KKT conditions of problem (21) at a binary attack result.

    Parameters
    ----------
    result : BinaryAttackResult
        From :func:`binary_attack` (or built by hand with a candidate flip vector and multiplier).
    conditions : "corrected" or "paper"
        "corrected" (default): the KKT system of math.md §A4.3, with the box multipliers of
        ``0 <= p_i <= 1``: ``g_i + lambda w_i >= 0`` at ``p_i = 0``, ``= 0`` inside, ``<= 0`` at
        ``p_i = 1``, where ``g_i = dI/dp_i`` (nats) and ``w = [a, b, c, d]``. "paper": the four
        equalities (23) of Theorem 3.3 as printed, which omit those multipliers and therefore fail
        at genuine optima whose budget is below ``D_0``.

    Returns
    -------
    KKTReport
    """
    if not isinstance(result, BinaryAttackResult):
        raise TypeError(f"result must be a BinaryAttackResult, got {type(result).__name__}")
    if not isinstance(conditions, str) or conditions not in ("corrected", "paper"):
        raise ValueError(f'conditions must be "corrected" or "paper", got {conditions!r}')
    w = np.asarray(_plain(result.prior), dtype=np.float64)
    p = np.asarray(_plain(result.flip), dtype=np.float64)
    eps = np.asarray(_plain(result.eps), dtype=np.float64)
    lam = np.asarray(_plain(result.multiplier), dtype=np.float64)
    # a NaN read as "satisfied" before (max_violation 0.0): the checks below ignore NaN
    if w.ndim == 0 or w.shape[-1] != 4 or p.shape != w.shape:
        raise ValueError(
            f"result.flip and result.prior must have the same shape (..., 4), got {p.shape} "
            f"and {w.shape}"
        )
    for name, v in (("prior", w), ("flip", p), ("eps", eps)):
        if not np.isfinite(v).all():
            raise ValueError(f"result.{name} must be finite, found NaN or inf")
    if np.isnan(lam).any():
        raise ValueError("result.multiplier must not be NaN")
    a, b, c, d = np.moveaxis(w, -1, 0)
    p1, p2, p3, p4 = np.moveaxis(p, -1, 0)
    pi0, pi1 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        a0 = np.where(pi0 > 0, (a * p1 + b * (1 - p2)) / pi0, 0.5)
        a1 = np.where(pi1 > 0, (c * p3 + d * (1 - p4)) / pi1, 0.5)
        q = pi0 * a0 + pi1 * a1

        def logit(x: np.ndarray) -> np.ndarray:
            return np.log(x) - np.log1p(-x)

        L0 = np.where((pi0 > 0) & (a0 != q), logit(a0) - logit(q), 0.0)
        L1 = np.where((pi1 > 0) & (a1 != q), logit(a1) - logit(q), 0.0)
        g = np.stack([a * L0, -b * L0, c * L1, -d * L1], axis=-1)
        r = g + lam[..., None] * w
        r = np.where(w > 0, r, 0.0)  # a zero-probability cell's flip is irrelevant
        if conditions == "paper":
            viol = np.abs(r)
        else:
            lower, upper = p <= 1e-12, p >= 1 - 1e-12
            viol = np.where(
                lower, np.maximum(-r, 0.0), np.where(upper, np.maximum(r, 0.0), np.abs(r))
            )
        # inf - inf: an infinite gradient met by an infinite multiplier (eps = 0 with a class whose
        # X is deterministic), which is the limit of satisfied conditions, not a violation
        viol = np.nan_to_num(viol, nan=0.0)
        used = np.sum(w * p, axis=-1)
        feas = np.maximum(used - eps, 0.0)
        comp = np.where(lam > 0, lam * np.abs(eps - used), 0.0)
        comp = np.nan_to_num(comp, nan=0.0)
    worst = max(float(np.max(viol, initial=0.0)), float(np.max(feas, initial=0.0)))
    worst = max(worst, float(np.max(comp, initial=0.0)))
    return KKTReport(worst, viol, feas, comp, conditions)


def _plain(x: Any) -> Any:
    if _arrays.is_tensor(x):
        return x.detach().cpu().numpy()
    return x


def binary_attack_grid(p: Any, eps: float, *, points: int = 100, base: str | float = "e") -> float:
    """The paper's own method for Figure 6: the minimum of ``I(U;Y)`` over the grid
    ``{0, 1/(points-1), ..., 1}^4`` of flip probabilities, keeping the points within budget.

    Parameters
    ----------
    p : array_like, shape ``(4,)`` or ``(2, 2)``
        One joint law [a, b, c, d].
    eps : float
        Budget on ``P(E = 1)``.
    points : int
        Grid values per axis (the paper: 100, i.e. 10^8 grid points).
    base : "e", 2, 10 or a positive number

    Returns
    -------
    float
        The grid minimum: an upper bound on the exact :func:`binary_attack` value.

    Notes
    -----
    The value equals the literal scan of all ``points^4`` points, but is computed from the feasible
    (p1, p2) and (p3, p4) pairs of each class separately (each class's cost is a p1 + b p2 or
    c p3 + d p4), which skips the infeasible part of the grid.
    """
    factor, _ = log_base(base)
    w = as_float(p, "p").reshape(-1)
    if w.size != 4:
        raise ValueError(f"p must hold one law of 4 probabilities, got {w.size} numbers")
    if abs(w.sum() - 1.0) > 1e-9:
        raise ValueError(f"p must sum to 1 (within 1e-9), got {w.sum()!r}")
    e = as_scalar(eps, "eps")
    points = int_scalar(points, "points", minimum=2)
    if points > _MAX_GRID_POINTS:
        raise ValueError(
            f"points must be <= {_MAX_GRID_POINTS} (the search holds points**2 flip pairs per "
            f"class), got {points}"
        )
    a, b, c, d = w
    grid = np.linspace(0.0, 1.0, points)
    P1, P2 = np.meshgrid(grid, grid, indexing="ij")
    cost0 = (a * P1 + b * P2).ravel()
    y0 = (a * P1 + b * (1 - P2)).ravel()  # P(U=0, Y=1)
    cost1 = (c * P1 + d * P2).ravel()
    y1 = (c * P1 + d * (1 - P2)).ravel()  # P(U=1, Y=1)
    k0, k1 = cost0 <= e, cost1 <= e
    cost0, y0, cost1, y1 = cost0[k0], y0[k0], cost1[k1], y1[k1]
    order = np.argsort(cost1)
    cost1, y1 = cost1[order], y1[order]
    pi0, pi1 = a + b, c + d

    def xlogx(x: np.ndarray) -> np.ndarray:
        return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)

    def part(yv: np.ndarray, pi: float) -> np.ndarray:  # -pi H_b(y/pi), as joint-probability terms
        return xlogx(yv) + xlogx(pi - yv) - (xlogx(np.array(pi)))

    h0, h1 = part(y0, pi0), part(y1, pi1)
    best = np.inf
    for start in range(0, cost0.size, 256):
        sl = slice(start, start + 256)
        cnt = int(np.searchsorted(cost1, e - cost0[sl].min(), side="right"))
        if cnt == 0:
            continue
        q = y0[sl, None] + y1[None, :cnt]
        hq = -(xlogx(q) + xlogx(1 - q))
        val = hq + h0[sl, None] + h1[None, :cnt]
        ok = cost0[sl, None] + cost1[None, :cnt] <= e
        best = min(best, float(np.min(np.where(ok, val, np.inf))))
    # the entropy sums cancel to ~1e-16 where the grid holds an exact zero-information point
    return (best if best > 1e-14 else 0.0) / factor
