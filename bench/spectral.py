"""Spectral norms: our kernels vs torch.linalg.matrix_norm(ord=2), scipy svds (ARPACK), batched
numpy SVD, and for convolutions ARPACK on the conv operator and rfft2 + batched SVD.

    python bench/spectral.py [--threads 1] [--quick]

Every case runs to relative error 1e-6 (ours: the certified bracket width; svds: tol=1e-6) at the
same thread count on both sides. Writes bench/results/spectral.json (ratios > 1: we are faster)
with achieved GB/s (bytes of W read per operator application x applications / time).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _harness import Bench, parser, timeit

TOL = 1e-6


def hard_spectrum(n: int, rng: np.random.Generator, dtype: type) -> np.ndarray:
    """U diag(s) V^T with the top two singular values 1e-3 apart (slow for power iteration)."""
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.linspace(1.0, 0.0, n) ** 2
    s[0], s[1] = 1.0, 0.999
    return ((U * s) @ V.T).astype(dtype)


def conv_case(bench: Bench, rng: np.random.Generator, c: int, hw: int, quick: bool) -> None:
    import torch
    from scipy.sparse.linalg import LinearOperator, svds

    from infotheory.lipschitz import conv_operator_norm

    w = rng.standard_normal((c, c, 3, 3)) * np.sqrt(2.0 / (9 * c))
    shape = (c, hw, hw)
    wt = torch.from_numpy(w)
    N = c * hw * hw

    def conv(x: np.ndarray) -> np.ndarray:
        X = torch.from_numpy(np.ascontiguousarray(x)).reshape(-1, *shape)
        return torch.nn.functional.conv2d(X, wt, padding=1).reshape(-1).numpy()

    def conv_t(y: np.ndarray) -> np.ndarray:
        Y = torch.from_numpy(np.ascontiguousarray(y)).reshape(-1, *shape)
        return torch.nn.functional.conv_transpose2d(Y, wt, padding=1).reshape(-1).numpy()

    op = LinearOperator((N, N), matvec=conv, rmatvec=conv_t, dtype=np.float64)

    def ours_zero() -> object:
        return conv_operator_norm(w, shape, padding=1, method="lanczos", tol=TOL)

    def arpack() -> float:
        return float(svds(op, k=1, tol=TOL, return_singular_vectors=False)[0])

    def ours_zero32() -> object:
        return conv_operator_norm(
            w, shape, padding=1, method="lanczos", tol=TOL, precision="float32"
        )

    r32 = ours_zero32()
    t_ours32 = timeit(ours_zero32, repeat=1, warmup=0)["median_s"]
    r = ours_zero()
    t_ours = timeit(ours_zero, repeat=1, warmup=0)["median_s"]
    t0 = timeit(arpack, repeat=1, warmup=0)["median_s"]
    arp = arpack()
    bench.record(
        f"conv3x3 {c}ch@{hw}^2 zero padding",
        baseline="ARPACK svds on conv/conv_transpose",
        ours_s=t_ours,
        baseline_s=t0,
        ratio=t0 / t_ours,
        iterations=r.iterations,
        value=r.value,
        arpack_value=arp,
        rel_diff=abs(r.value - arp) / arp,
        ours_float32_convs_s=t_ours32,
        ratio_float32_convs=t0 / t_ours32,
        rel_diff_float32=abs(r32.value - arp) / arp,
    )

    def circular() -> object:
        return conv_operator_norm(
            w, shape, padding=1, padding_mode="circular", method="fft", tol=TOL
        )

    def fft_svd() -> float:
        blocks = np.fft.rfft2(w, s=(hw, hw), axes=(2, 3)).transpose(2, 3, 0, 1)
        return float(np.linalg.svd(blocks, compute_uv=False).max())

    exact = fft_svd()
    rc = circular()
    ratio = bench.compare(
        f"conv3x3 {c}ch@{hw}^2 circular",
        circular,
        fft_svd,
        baseline_name="rfft2 + batched svd",
        repeat=3,
        extra={"rel_error": abs(rc.value - exact) / exact, "iterations": rc.iterations},
    )
    bench.rows[-1]["share_of_baseline"] = 1.0 / ratio


def main() -> None:
    args = parser(__doc__).parse_args()
    bench = Bench("spectral", threads=args.threads, out=args.out)
    import torch
    from scipy.sparse.linalg import svds

    torch.set_num_threads(args.threads)
    from infotheory.lipschitz import spectral_norm

    rng = np.random.default_rng(0)
    quick = args.quick

    def dense_case(name: str, A: np.ndarray, baselines: list[str]) -> None:
        ref = float(np.linalg.svd(A.astype(np.float64), compute_uv=False)[0]) if not quick else None
        res = spectral_norm(A, tol=TOL)
        t_ours = timeit(lambda: spectral_norm(A, tol=TOL), repeat=3)["median_s"]
        gbs = A.nbytes * res.iterations / t_ours / 1e9
        err = abs(res.value - ref) / ref if ref else None
        extra = {"iterations": res.iterations, "GB_per_s": gbs, "rel_error_vs_svd": err}
        T = torch.from_numpy(A)
        for base in baselines:
            if base == "torch.linalg.matrix_norm(ord=2)":
                fn = lambda: torch.linalg.matrix_norm(T, ord=2)  # noqa: E731
            else:
                fn = lambda: svds(A, k=1, tol=TOL, return_singular_vectors=False)  # noqa: E731
            bench.compare(
                name,
                lambda: spectral_norm(A, tol=TOL),
                fn,
                baseline_name=base,
                repeat=3,
                extra=extra,
            )

    sizes = [1024] if quick else [1024, 4096]
    for n in sizes:
        for dt in (np.float32, np.float64):
            A = rng.standard_normal((n, n)).astype(dt)
            # a full SVD of 4096^2 at one thread takes about a minute: torch only at 1024^2
            bases = ["torch.linalg.matrix_norm(ord=2)"] if n <= 1024 else []
            bases.append("scipy svds(k=1)")
            dense_case(f"gaussian {n}^2 {np.dtype(dt).name}", A, bases)
    n = 512 if quick else 1024
    dense_case(
        f"hard spectrum {n}^2 float64", hard_spectrum(n, rng, np.float64), ["scipy svds(k=1)"]
    )

    B = rng.standard_normal((512, 64, 64))
    res = spectral_norm(B, tol=TOL)
    err = float(
        np.max(
            np.abs(res.value - np.linalg.svd(B, compute_uv=False)[:, 0])
            / np.linalg.svd(B, compute_uv=False)[:, 0]
        )
    )
    bench.compare(
        "512 x 64^2 float64",
        lambda: spectral_norm(B, tol=TOL),
        lambda: np.linalg.svd(B, compute_uv=False),
        baseline_name="numpy batched svd",
        work=512,
        extra={"max_rel_error": err, "mean_iterations": float(np.mean(res.iterations))},
    )

    # ResNet-like 3x3 convolutions (He-initialised weights)
    convs = [(16, 16), (32, 8)] if quick else [(64, 32), (128, 28), (512, 7)]
    for c, hw in convs:
        conv_case(bench, rng, c, hw, quick)
    bench.finish()


if __name__ == "__main__":
    main()
