"""Batched certified Lanczos for many small matrices on a GPU (family spectral_lanczos): the kernel
(one thread block a matrix) vs ``torch.linalg.svdvals`` on the device and vs the torch-operations
Lanczos + torch Cholesky certificate that CUDA tensors used before (``_torch_iter``).

    python bench/spectral_lanczos.py [--quick]

Needs a CUDA build and a GPU (exits with a message otherwise). Writes
bench/results/spectral_lanczos.json (ratios > 1: we are faster); each row also records the largest
relative error against svdvals in float64.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Bench, parser


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    from infotheory import _core
    from infotheory.lipschitz import _cuda_lanczos, spectral_norm
    from infotheory.lipschitz._torch_iter import certify_torch, spectral_norm_torch

    if not (_cuda_lanczos.available() and torch.cuda.is_available() and _core.cuda_device_count()):
        raise SystemExit("needs a CUDA build of infotheory and a CUDA GPU")
    bench = Bench("spectral_lanczos", threads=args.threads, out=args.out, device="cuda")
    sync = torch.cuda.synchronize
    tol = 1e-6
    cases = [(512, 64, 64), (544, 128, 128), (64, 256, 256), (4096, 16, 16)]
    if args.quick:
        cases = cases[:2]
    g = torch.Generator().manual_seed(0)
    for b, m, n in cases:
        for dtype in (torch.float32, torch.float64):
            W = torch.randn(b, m, n, generator=g, dtype=dtype).cuda()
            ref = torch.linalg.svdvals(W.double())[:, 0]

            def ours(W=W):  # type: ignore[no-untyped-def]
                return spectral_norm(W, method="lanczos", tol=tol)

            def svdvals(W=W):  # type: ignore[no-untyped-def]
                return torch.linalg.svdvals(W)[:, 0]

            def torch_lanczos(W=W):  # type: ignore[no-untyped-def]
                res = spectral_norm_torch(
                    W, method="lanczos", tol=tol, max_iter=None, return_vectors=False, init=None,
                    seed=0,
                )  # fmt: skip
                return certify_torch(W, res, tol)

            res = ours()
            err = float(((res.value - ref).abs() / ref).max())
            ok = bool(res.converged.all() and (res.upper >= ref * (1 - 1e-12)).all())
            name = f"{b} x {m}x{n} {str(dtype).split('.')[-1]}"
            extra = {"max_rel_err": err, "certified_bracket_holds": ok,
                     "mean_iterations": float(res.iterations.double().mean())}  # fmt: skip
            bench.compare(name, ours, svdvals, baseline_name="torch.linalg.svdvals", work=b,
                          sync=sync, repeat=3, extra=extra)  # fmt: skip
            bench.compare(name, ours, torch_lanczos, baseline_name="torch-ops lanczos+chol",
                          work=b, sync=sync, repeat=3, extra=extra)  # fmt: skip
    bench.finish()


if __name__ == "__main__":
    main()
