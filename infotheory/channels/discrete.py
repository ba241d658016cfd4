"""Lemma 2.1 of arXiv 2007.14042: the optimal attack on finite alphabets as a convex program
(math.md §A1.2), with a fast C++ solver and a cvxpy reference."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .. import _core
from .._arrays import int_scalar, real_scalar
from .._result import ResultMixin
from .._units import log_base
from ._validate import as_float, as_scalar

_MAX_ITER = 2**62  # the kernel counts updates in int64


@dataclass(frozen=True)
class DiscreteAttackResult(ResultMixin):
    """Optimal channel of the finite-alphabet attack (math.md §A1.2).

    Attributes
    ----------
    channel : ndarray, shape ``(|U|, |X|, |Y|)``
        ``q(y | u, x)``: each ``channel[u, x]`` is a distribution over Y.
    mi : float
        ``I(U; Y)`` of ``channel`` in ``unit`` (the minimum, within ``gap``).
    distortion : float
        ``E[d(X, Y)]`` of ``channel`` (<= the budget).
    budget : float
        The budget D.
    multiplier : float
        The budget's multiplier (nats per unit of distortion; +inf at the least reachable
        distortion, 0 at and beyond the zero-information budget). NaN from the cvxpy solver when it
        reports no dual.
    gap : float
        Certified bound on ``mi - optimum`` in ``unit`` for the fast solver: ``mi`` minus a
        Lagrangian dual value (the interior-point solver's is ``H(U) + sum p lambda - mu D -
        ln max_y sum_u max_x exp(lambda(u,x) - mu d(x,y))`` at its multipliers); the
        solver's tolerance is not certified for cvxpy (reported as NaN). For "fast->cvxpy",
        cvxpy's ``mi`` minus the fast solver's dual value (still a certified bound, for
        cvxpy's channel).
    solver : str
        "fast", "cvxpy", "fast->cvxpy" (the fast solver did not certify its gap in time, so cvxpy
        was used) or "exact-zero" (the budget reaches the zero-information budget).
    unit : str
    solver_used : str or None
        The cvxpy solver whose solution is returned ("CLARABEL", or the solver it fell back to
        when Clarabel failed: "ECOS", "SCS", ...); None when cvxpy was not used.
    """

    channel: np.ndarray
    mi: float
    distortion: float
    budget: float
    multiplier: float
    gap: float
    solver: str
    unit: str
    p_ux: np.ndarray = field(repr=False)
    distortion_matrix: np.ndarray = field(repr=False)
    solver_used: str | None = None

    @cached_property
    def zero_information_budget(self) -> float:
        """``D_0 = min_r sum_u p(u) OT_d(p(.|u), r)``: the least budget with ``I = 0`` (an LP)."""
        return zero_information_budget(self.p_ux, self.distortion_matrix)[0]

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["zero_information_budget"] = self.zero_information_budget
        return d


def _check(p_ux: Any, distortion: Any) -> tuple[np.ndarray, np.ndarray]:
    p = as_float(p_ux, "p_ux")
    d = as_float(distortion, "distortion")
    if p.ndim != 2 or p.size == 0:
        raise ValueError(f"p_ux must be a non-empty 2-D array (|U|, |X|), got shape {p.shape}")
    if d.ndim != 2 or d.shape[0] != p.shape[1] or d.shape[1] == 0:
        raise ValueError(
            f"distortion must have shape (|X|, |Y|) = ({p.shape[1]}, |Y|), got {d.shape}"
        )
    if abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"p_ux must sum to 1 (within 1e-9), got {p.sum()!r}")
    return np.ascontiguousarray(p), np.ascontiguousarray(d)


def zero_information_budget(p_ux: Any, distortion: Any) -> tuple[float, np.ndarray]:
    """The least budget at which ``I(U;Y) = 0`` is reachable, and a channel that reaches it.

    ``D_0 = min_r sum_u p(u) OT_d(p(.|u), r)`` (math.md §A1.2), solved as one linear program (scipy
    HiGHS) over the couplings ``pi_u(x, y)`` and the common output law r.

    Returns
    -------
    (float, ndarray)
        D_0 and the channel ``q(y|u,x)``, shape ``(|U|, |X|, |Y|)``, with every ``P(Y|U=u) = r``.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    p, d = _check(p_ux, distortion)
    # far from 1, the LP in units of a power of two that brings max(d) into [0.5, 1) (exact):
    # HiGHS rounded costs of 2**-1000 (D_0 = 0.75 where it is 1/6) and failed on 2**600
    e = _far_exponent(d)
    d = np.ldexp(d, -e) if e else d
    U, X = p.shape
    Y = d.shape[1]
    pu = p.sum(1)
    live = np.flatnonzero(pu > 0)  # a class of probability 0 constrains nothing
    L = live.size
    # the couplings in conditional form, sigma_u(x, y) = pi_u(x, y) / p(u): every constraint then
    # has O(1) coefficients (tiny p(u) made HiGHS declare the joint form infeasible)
    pxu = p[live] / pu[live, None]
    nv = L * X * Y + Y
    idx = np.arange(L * X * Y).reshape(L, X, Y)
    rows, cols, vals = [], [], []
    # row sums: sum_y sigma_u(x, y) = p(x | u)
    rows.append(np.repeat(np.arange(L * X), Y))
    cols.append(idx.reshape(-1))
    vals.append(np.ones(L * X * Y))
    # column sums: sum_x sigma_u(x, y) - r(y) = 0 (they make r a distribution)
    col_row = L * X + (np.arange(L)[:, None, None] * Y + np.arange(Y)[None, None, :])
    rows.append(np.broadcast_to(col_row, (L, X, Y)).reshape(-1))
    cols.append(idx.reshape(-1))
    vals.append(np.ones(L * X * Y))
    rows.append(L * X + np.arange(L * Y))
    cols.append(L * X * Y + np.tile(np.arange(Y), L))
    vals.append(-np.ones(L * Y))
    A = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(L * X + L * Y, nv),
    ).tocsr()
    b = np.concatenate([pxu.reshape(-1), np.zeros(L * Y)])
    c = np.concatenate([(pu[live, None, None] * d[None, :, :]).reshape(-1), np.zeros(Y)])
    res = linprog(c, A_eq=A, b_eq=b, bounds=(0, None), method="highs")
    if res.status == 2:
        # HiGHS's presolve can call the (always feasible) program infeasible: its equalities are
        # dependent (each class's rows and columns both sum to 1) up to rounding
        res = linprog(
            c, A_eq=A, b_eq=b, bounds=(0, None), method="highs", options={"presolve": False}
        )
    if res.status != 0:
        raise RuntimeError(f"the zero-information LP failed: {res.message}")
    sig = np.maximum(res.x[: L * X * Y].reshape(L, X, Y), 0.0)
    r = np.maximum(res.x[L * X * Y :], 0.0)
    r = r / r.sum()
    q = np.broadcast_to(r, (U, X, Y)).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ql = np.where(pxu[..., None] > 0, sig / pxu[..., None], r[None, None, :])
    # a row the solver left empty (its mass below HiGHS's tolerance) takes the common law r
    ql = np.where(ql.sum(-1, keepdims=True) > 0, ql, r[None, None, :])
    q[live] = ql / ql.sum(-1, keepdims=True)
    return math.ldexp(float(res.fun), e), q


def _far_exponent(d: np.ndarray) -> int:
    """The binary exponent of ``max(d)`` when it is far from 1 (beyond 2**+-20), else 0."""
    e = math.frexp(float(d.max()))[1]
    return e if abs(e) > 20 else 0


def _ldexp(x: float, e: int) -> float:
    """``x * 2**e`` as a float, inf where it overflows (math.ldexp raises there)."""
    with np.errstate(over="ignore"):
        return float(np.ldexp(x, e))


def _mi_nats(p: np.ndarray, q: np.ndarray) -> float:
    J = np.einsum("ux,uxy->uy", p, q)
    pu, py = p.sum(1), J.sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(J > 0, J * np.log(J / (pu[:, None] * py[None, :])), 0.0)
    return max(float(t.sum()), 0.0)


# cvxpy's solvers of exponential-cone programs, in the order they are tried, with their options:
# Clarabel (interior point, cvxpy's default), then the other interior-point solvers, then SCS
# (first order: its tolerances tightened to 1e-9, its iteration cap raised)
_CVXPY_SOLVERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("CLARABEL", {}),
    ("MOSEK", {}),
    ("ECOS", {"abstol": 1e-10, "reltol": 1e-10, "feastol": 1e-10, "max_iters": 500}),
    ("SCS", {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iters": 200_000}),
)


def _cvxpy(p: np.ndarray, d: np.ndarray, D: float) -> tuple[np.ndarray, float, str]:
    """The exponential-cone program solved by cvxpy: Clarabel, and should it fail (it raises
    SolverError now and then, seen on a random 5 x 16 x 17 draw) or report no solution, the next
    installed solver of _CVXPY_SOLVERS. Returns the channel, the budget's multiplier and the name of
    the solver that solved it; cvxpy's SolverError naming every solver tried if none did."""
    try:
        import cvxpy as cp
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError('solver="cvxpy" needs cvxpy: pip install cvxpy') from e
    U, X = p.shape
    Y = d.shape[1]
    pu = p.sum(1)
    q = [cp.Variable((X, Y), nonneg=True) for _ in range(U)]
    J = cp.vstack([p[u] @ q[u] for u in range(U)])
    PY = cp.sum(J, axis=0)
    prod = cp.vstack([pu[u] * PY for u in range(U)])
    budget = sum(cp.sum(cp.multiply(p[u][:, None] * d, q[u])) for u in range(U)) <= D
    cons = [cp.sum(q[u], axis=1) == 1 for u in range(U)] + [budget]
    prob = cp.Problem(cp.Minimize(cp.sum(cp.rel_entr(J, prod))), cons)
    installed = set(cp.installed_solvers())
    failures: list[str] = []
    for name, options in _CVXPY_SOLVERS:
        if name not in installed:
            continue
        try:
            prob.solve(solver=name, **options)
        except cp.error.SolverError as e:
            failures.append(f"{name} ({e})")
            continue
        if prob.status not in ("optimal", "optimal_inaccurate") or any(v.value is None for v in q):
            failures.append(f"{name} (status {prob.status})")
            continue
        ch = np.stack([np.maximum(v.value, 0.0) for v in q])
        ch = ch / ch.sum(-1, keepdims=True)
        dual = budget.dual_value
        return ch, float(dual) if dual is not None else float("nan"), name
    tried = "; ".join(failures) if failures else "none of them is installed"
    raise cp.error.SolverError(
        "cvxpy did not solve the attack program with any of its exponential-cone solvers "
        f"({', '.join(n for n, _ in _CVXPY_SOLVERS)}): {tried}. "
        'discrete_attack(..., solver="fast") solves it without cvxpy.'
    )


def discrete_attack(
    p_ux: Any,
    distortion: Any,
    D: float,
    *,
    solver: str = "fast",
    base: str | float = "e",
    tol: float = 1e-8,
    max_iter: int = 200_000,
) -> DiscreteAttackResult:
    """Minimal ``I(U; Y)`` over attack channels ``q(y | u, x)`` with ``E[d(X, Y)] <= D``
    (Lemma 2.1 of arXiv 2007.14042; the convex program of math.md §A1.2).

    Parameters
    ----------
    p_ux : array_like, shape ``(|U|, |X|)``
        Joint law of the label U and the data X (>= 0, sums to 1 within 1e-9).
    distortion : array_like, shape ``(|X|, |Y|)``
        ``d(x, y) >= 0``: e.g. Hamming ``1 - eye`` or ``|x - y|`` (Y may differ from X).
    D : float
        Budget on the expected distortion; at least the least reachable distortion
        ``sum_x p(x) min_y d(x, y)``.
    solver : "fast" or "cvxpy"
        "fast": our C++ solver, a primal-dual interior-point method on the joint masses
        ``p(u,x) q(y|u,x)`` (Mehrotra predictor-corrector; the Hessian of I is inverted in closed
        form per output, so an iteration is one dense Cholesky of size |U||X| + 1), stopped by a
        certified duality gap <= ``tol``; long steps first, then, should they fail, steps that
        follow the central path closely (about 300 iterations: near ``D_0`` with a smooth
        distortion such as ``(x - y)^2`` the long steps can lose the path). Should it not certify,
        an alternating (Blahut-Arimoto-style) minimisation of the Lagrangian with a search on the
        multiplier takes over, and cvxpy (with a warning) if that does not reach the gap in
        ``max_iter`` updates.
        "cvxpy": the exponential-cone program with ``rel_entr``, solved by Clarabel; should it
        fail, by the next installed exponential-cone solver (MOSEK, ECOS, then SCS with its
        tolerances at 1e-9); the result's ``solver_used`` names the one used. cvxpy's
        SolverError, naming each solver tried, if none solves it.
    base : "e", 2, 10 or a positive number
        Unit of ``mi``.
    tol, max_iter :
        The fast solver's certified gap (nats) and its cap on inner updates.

    Returns
    -------
    DiscreteAttackResult
        At ``D >= D_0`` (the zero-information budget) the channel is the exact ``I = 0`` solution of
        the transport LP.
    """
    factor, unit = log_base(base)
    out = None
    if (
        solver == "fast"
        and type(D) is float
        and type(p_ux) is np.ndarray
        and type(distortion) is np.ndarray
        and p_ux.ndim == 2
        and distortion.ndim == 2
        and p_ux.dtype == np.float64
        and distortion.dtype == np.float64
        and p_ux.flags.c_contiguous
        and distortion.flags.c_contiguous
        and type(tol) is float
        and 0.0 < tol < math.inf
        and type(max_iter) is int
        and 1 <= max_iter <= _MAX_ITER
        and distortion.size
        and not _far_exponent(distortion)
    ):
        # the common call: the kernel checks the arguments in one pass (None if any check fails
        # or is too close to call; the checks below then name the problem)
        p, d, budget = p_ux, distortion, D
        q = np.empty((p.shape[0], p.shape[1], d.shape[1]))
        out = _core.discrete_attack_checked(p, d, budget, float(tol), int(max_iter), q)
    if out is None:
        p, d = _check(p_ux, distortion)
        if type(D) is float and 0.0 <= D < math.inf:
            budget = D  # the common case; anything else gets the checks that name the problem
        else:
            budget = as_scalar(D, "D")
        if not isinstance(solver, str) or solver not in ("fast", "cvxpy"):
            raise ValueError(f'solver must be "fast" or "cvxpy", got {solver!r}')
        tol = real_scalar(tol, "tol", minimum=0.0, strict=True)
        max_iter = int_scalar(max_iter, "max_iter", minimum=1)
        if max_iter > _MAX_ITER:
            raise ValueError(f"max_iter must be <= {_MAX_ITER}, got {max_iter}")
        floor = float(p.sum(0) @ d.min(1))
        if budget < floor * (1 - 1e-12) - 1e-15:
            raise ValueError(
                f"D must be at least the least reachable distortion {floor!r} "
                f"(every x on its cheapest y), got {budget!r}"
            )
        q = np.empty((p.shape[0], p.shape[1], d.shape[1]))
        # far from 1, the solvers work in units of a power of two (exact): at 2**-600 the result
        # was "exact-zero" with E[d] twice the budget, at 2**600 cvxpy's channel broke it 11x
        e = _far_exponent(d)
        d_run, b_run = (np.ldexp(d, -e), math.ldexp(budget, -e)) if e else (d, budget)
        if solver == "fast":
            out = _core.discrete_attack(p, d_run, b_run, float(tol), int(max_iter), q)
            if e:
                mi_, cost_, mult_, *rest = out
                out = (mi_, math.ldexp(cost_, e), _ldexp(mult_, -e), *rest)
    used = solver
    solver_used = None
    gap = float("nan")
    cost = float("nan")
    if out is not None:
        mi, cost, mult, gap, _, ok = out
        if not ok:
            warnings.warn(
                f"the fast solver's certified gap is {gap:.2e} > tol after {max_iter} updates; "
                "using cvxpy",
                RuntimeWarning,
                stacklevel=2,
            )
            used = "fast->cvxpy"
    if used != "fast":
        e = _far_exponent(d)
        q, mult, solver_used = _cvxpy(p, np.ldexp(d, -e), math.ldexp(budget, -e))
        mult = _ldexp(mult, -e) if e else mult
        # the fast solver's dual value (mi - gap) is a lower bound on the optimum whatever its
        # channel: cvxpy's MI minus it bounds cvxpy's excess (cvxpy's tolerance is not ours)
        dual = mi - gap if used == "fast->cvxpy" else float("nan")
        mi = _mi_nats(p, q)
        cost = float(np.einsum("ux,uxy,xy->", p, q, d))
        if used == "fast->cvxpy":
            gap = max(0.0, mi - dual)
    # the frozen dataclass's __init__ sets each field through object.__setattr__ (~4 us, 1% of a
    # 4x16x16 solve): every field is filled in directly instead
    result = object.__new__(DiscreteAttackResult)
    result.__dict__.update(
        channel=q,
        mi=mi,
        distortion=cost,
        budget=budget,
        multiplier=mult,
        gap=gap,
        solver=used,
        unit=unit,
        p_ux=p,
        distortion_matrix=d,
        solver_used=solver_used,
    )
    # at and beyond D_0 the optimum is exactly 0: return the transport LP's channel
    if mi <= max(10 * tol, 1e-6):
        d0, q0 = zero_information_budget(p, d)
        if budget >= d0 - 1e-12 * max(1.0, d0):
            result = dataclasses.replace(
                result,
                channel=q0,
                mi=0.0,
                distortion=float(np.einsum("ux,uxy,xy->", p, q0, d)),
                multiplier=0.0,
                gap=0.0,
                solver="exact-zero",
                solver_used=None,
            )
            result.__dict__["zero_information_budget"] = d0
    if factor != 1.0:
        result = dataclasses.replace(result, mi=result.mi / factor, gap=result.gap / factor)
    return result
