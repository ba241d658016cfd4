"""Batched reverse water-filling: our C++ kernel vs a vectorised numpy falling bar and vs cvxpy.

    python bench/waterfill.py [--threads 1] [--quick]

Writes bench/results/waterfill.json (ratios > 1: we are faster).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _harness import Bench, parser, timeit


def numpy_reverse_waterfill(s: np.ndarray, D: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Algorithm 1 vectorised over the batch: sort, suffix sums, pick the interval that holds tau."""
    srt = -np.sort(-s, axis=-1)
    n, k = srt.shape
    zeros = np.zeros((n, 1))
    suffix_next = np.concatenate([np.cumsum(srt[:, ::-1], axis=-1)[:, ::-1][:, 1:], zeros], axis=1)
    tau = (D[:, None] - suffix_next) / np.arange(1, k + 1)
    below = np.concatenate([srt[:, 1:], zeros], axis=1)
    idx = np.argmax((tau >= below) & (tau <= srt), axis=-1)
    level = np.take_along_axis(tau, idx[:, None], axis=1)[:, 0]
    alloc = np.minimum(s, level[:, None])
    mi = 0.5 * np.log(s / alloc).sum(axis=-1)
    return level, mi


def cvxpy_reverse_waterfill(s: np.ndarray, D: float) -> float:
    import cvxpy as cp

    d = cp.Variable(s.shape[0])
    prob = cp.Problem(cp.Maximize(cp.sum(cp.log(d))), [d >= 0, d <= s, cp.sum(d) == D])
    prob.solve(solver=cp.CLARABEL)
    return 0.5 * float(np.sum(np.log(s)) - prob.value)


def main() -> None:
    args = parser(__doc__).parse_args()
    bench = Bench("waterfill", threads=args.threads, out=args.out)
    from infotheory.channels import reverse_waterfill

    rng = np.random.default_rng(0)
    n, k = (2000, 256) if args.quick else (10_000, 256)
    s = rng.gamma(0.5, 2.0, size=(n, k))  # a spread-out spectrum, as singular values squared are
    D = rng.uniform(0.05, 0.95, size=n) * s.sum(-1)

    ours = reverse_waterfill(s, D)
    _, mi_np = numpy_reverse_waterfill(s, D)
    err = float(np.max(np.abs(ours.mi - mi_np)))
    if err > 1e-8:
        raise SystemExit(f"kernel and numpy baseline disagree: max |dMI| = {err}")

    bench.compare(
        f"reverse_waterfill {n}x{k}",
        lambda: reverse_waterfill(s, D),
        lambda: numpy_reverse_waterfill(s, D),
        baseline_name="numpy vectorised",
        work=n,
        extra={"max_abs_mi_diff": err},
    )

    m = 2 if args.quick else 5
    t_cvx = (
        timeit(lambda: [cvxpy_reverse_waterfill(s[i], D[i]) for i in range(m)], repeat=3, warmup=0)[
            "median_s"
        ]
        / m
    )
    cvx_err = max(abs(cvxpy_reverse_waterfill(s[i], D[i]) - float(ours.mi[i])) for i in range(m))
    t_ours = timeit(lambda: reverse_waterfill(s, D))["median_s"] / n
    bench.record(
        f"reverse_waterfill 1x{k} vs cvxpy",
        baseline="cvxpy (Clarabel), per problem",
        ours_per_problem_s=t_ours,
        baseline_per_problem_s=t_cvx,
        ratio=t_cvx / t_ours,
        max_abs_mi_diff=cvx_err,
    )
    bench.finish()


if __name__ == "__main__":
    main()
