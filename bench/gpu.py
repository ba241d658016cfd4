"""The CUDA kernels on a GPU, each against a named baseline in the same run: our CPU kernel at the
bench thread count (1 by default) and, where one exists, the same work written as eager torch
operations on the same GPU.

    python bench/gpu.py [--quick]

Needs a CUDA build and a GPU (exits with a message otherwise). Writes bench/results/gpu.json (ratio >
1: the CUDA kernel is faster); each row records the largest difference from the CPU kernel's answer.
The batched Lanczos kernel has its own script, bench/spectral_lanczos.py.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Bench, parser, set_threads


def main() -> None:
    args = parser(__doc__).parse_args()
    import numpy as np
    import torch

    from infotheory import _core

    if not (_core.WITH_CUDA and torch.cuda.is_available() and _core.cuda_device_count()):
        raise SystemExit("needs a CUDA build of infotheory and a CUDA GPU")
    set_threads(args.threads)
    from infotheory.attacks import PGD, attack_step
    from infotheory.attacks._step import torch_step_
    from infotheory.channels import binary_attack, reverse_waterfill
    from infotheory.lipschitz import spectral_norm

    bench = Bench("gpu", threads=args.threads, out=args.out, device="cuda")
    sync = torch.cuda.synchronize
    rng = np.random.default_rng(0)
    dev = torch.device("cuda")

    # binary channel: 10^6 problems (10^5 with --quick)
    n = 100_000 if args.quick else 1_000_000
    w = rng.dirichlet(np.ones(4), size=n)
    eps = rng.uniform(0, 0.4, size=n)
    wg, eg = torch.tensor(w, device=dev), torch.tensor(eps, device=dev)
    cpu = binary_attack(w, eps)
    gpu = binary_attack(wg, eg)
    err = float(np.abs(gpu.mi.cpu().numpy() - cpu.mi).max())
    bench.compare(
        f"binary_attack {n} problems f64",
        lambda: binary_attack(wg, eg),
        lambda: binary_attack(w, eps),
        baseline_name="infotheory CPU kernel",
        work=n,
        sync=sync,
        repeat=3,
        extra={"max_abs_mi_diff_vs_cpu": err},
    )

    # reverse water-filling: 10^4 problems of 256 coordinates
    s = rng.gamma(0.6, 2.0, size=(10_000, 256))
    D = rng.uniform(0, 1, size=10_000) * s.sum(-1)
    sg, Dg = torch.tensor(s, device=dev), torch.tensor(D, device=dev)
    cpu = reverse_waterfill(s, D)
    gpu = reverse_waterfill(sg, Dg)
    err = float(np.abs(gpu.mi.cpu().numpy() - cpu.mi).max())
    bench.compare(
        "reverse_waterfill 10^4 x 256 f64",
        lambda: reverse_waterfill(sg, Dg),
        lambda: reverse_waterfill(s, D),
        baseline_name="infotheory CPU kernel",
        work=10_000,
        sync=sync,
        repeat=3,
        extra={"max_abs_mi_diff_vs_cpu": err},
    )

    # fused attack step vs eager torch ops on the same GPU: 256 CIFAR-sized images
    shape = (256, 3, 32, 32)
    g = torch.Generator(device="cpu").manual_seed(1)
    x0 = torch.rand(shape, generator=g).to(dev)
    grad = torch.randn(shape, generator=g).to(dev)
    e = torch.full((shape[0],), 8 / 255, device=dev)
    a = torch.full((shape[0],), 2 / 255, device=dev)
    for norm in ("inf", "2"):
        x1, x2 = x0.clone(), x0.clone()
        attack_step(x1, grad, x0, e, a, norm)
        torch_step_(x2, grad, x0, e, a, norm, (0.0, 1.0))
        err = float((x1 - x2).abs().max())
        xa, xb = x0.clone(), x0.clone()
        bench.compare(
            f"attack_step L{norm} 256x3x32x32 f32",
            lambda xa=xa, norm=norm: attack_step(xa, grad, x0, e, a, norm),
            lambda xb=xb, norm=norm: torch_step_(xb, grad, x0, e, a, norm, (0.0, 1.0)),
            baseline_name="eager torch ops on cuda",
            work=shape[0],
            sync=sync,
            extra={"max_abs_diff_vs_torch": err},
        )

    # the step as the attacks take it (Stepper: budgets checked once a run, no device sync a step)
    from infotheory.attacks._step import Stepper

    for norm in ("inf", "2"):
        xa, xb = x0.clone(), x0.clone()
        stepper = Stepper(xa, x0, e, a, norm, (0.0, 1.0))
        bench.compare(
            f"Stepper L{norm} 256x3x32x32 f32 (attack loop)",
            lambda stepper=stepper: stepper(grad),
            lambda xb=xb, norm=norm: torch_step_(xb, grad, x0, e, a, norm, (0.0, 1.0)),
            baseline_name="eager torch ops on cuda",
            work=shape[0],
            sync=sync,
        )

    # a whole PGD attack on a small CNN, on the GPU, against the same loop on our CPU kernel
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * 8 * 8, 10),
    )  # fmt: skip
    xs = torch.rand((128, 3, 32, 32), generator=g)
    ys = torch.randint(0, 10, (128,), generator=g)
    atk = PGD(eps=8 / 255, steps=10, seed=0)
    net_g = copy.deepcopy(net).to(dev)  # Module.to moves in place: keep the CPU model
    xs_g, ys_g = xs.to(dev), ys.to(dev)
    rob_g = float(atk(net_g, xs_g, ys_g).success.float().mean())
    bench.compare(
        "PGD-10 Linf, 128 CIFAR-sized images, small CNN",
        lambda: atk(net_g, xs_g, ys_g),
        lambda: atk(net, xs, ys),
        baseline_name="the same attack on the CPU",
        work=128,
        sync=sync,
        repeat=3,
        extra={"success_rate_gpu": rob_g},
    )

    # power iteration (family spectral, CUDA) vs torch.linalg.matrix_norm(ord=2) on the GPU
    for size, dtype in ((1024, torch.float32), (4096, torch.float32), (4096, torch.float64)):
        W = torch.randn(size, size, generator=g, dtype=dtype).to(dev)
        ref = float(torch.linalg.matrix_norm(W.double(), ord=2))
        res = spectral_norm(W, method="power", tol=1e-6)
        extra = {
            "rel_err_vs_float64_svd": abs(float(res.value) - ref) / ref,
            "iterations": int(res.iterations),
        }
        bench.compare(
            f"spectral_norm power {size}^2 {str(dtype).split('.')[-1]} tol 1e-6",
            lambda W=W: spectral_norm(W, method="power", tol=1e-6),
            lambda W=W: torch.linalg.matrix_norm(W, ord=2),
            baseline_name="torch.linalg.matrix_norm(ord=2) on cuda",
            work=1,
            sync=sync,
            repeat=3,
            extra=extra,
        )
    bench.finish()


if __name__ == "__main__":
    main()
