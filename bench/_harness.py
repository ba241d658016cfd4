"""Shared benchmark harness: warm-up, repeats, median, ratio against a baseline measured in the same
run, a printed table, and ``bench/results/<name>.json`` naming the machine, versions and device.

Every benchmark runs both sides at the same thread count (1 by default: these machines have 2
shared cores, and oversubscribed threads measure the neighbour, not the code).

Usage in a benchmark script::

    bench = Bench("waterfill", threads=args.threads)
    bench.compare("10^4 x k=256", ours, baseline, baseline_name="numpy", work=10_000)
    bench.finish()
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


_THREADS: int | None = None


def pin_loaded_libraries() -> None:
    """Apply the thread count of ``set_threads`` to every BLAS/OpenMP library loaded so far.

    The environment variables only reach libraries loaded after they are set: numpy's OpenBLAS,
    loaded with ``import numpy`` before any benchmark builds its ``Bench``, kept its default
    (2 threads here), so until 2026-11-30 numpy and scipy baselines (svds's products, gemv
    references) ran on 2 threads against our 1. threadpoolctl resets the loaded ones."""
    if _THREADS is None:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print(
            "warning: threadpoolctl is not installed (pip install threadpoolctl): numpy's BLAS "
            "keeps its default thread count, so baselines may use more threads than ours",
            file=sys.stderr,
        )
        return
    threadpool_limits(limits=_THREADS)


def set_threads(n: int) -> None:
    """Pin every library we use to ``n`` threads. Call before heavy imports where possible."""
    global _THREADS
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "INFOTHEORY_NUM_THREADS",
    ):
        os.environ[var] = str(n)
    import scipy.linalg  # noqa: F401  (loads scipy's own BLAS now, so the pin below reaches it)

    import infotheory

    infotheory.set_num_threads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    _THREADS = n
    pin_loaded_libraries()


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=int, default=1, help="threads for both sides (default 1)")
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats (smoke run)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    return p


def timeit(
    fn: Callable[[], Any],
    *,
    repeat: int = 7,
    warmup: int = 1,
    min_time: float = 0.02,
    sync: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Median seconds per call. Each repeat runs enough calls to last ``min_time``."""
    pin_loaded_libraries()  # libraries loaded since set_threads (outside the timed calls)
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if sync:
            sync()
        dt = time.perf_counter() - t0
        if dt >= min_time or number >= 1 << 20:
            break
        number *= 2 if dt == 0 else max(2, min(10, int(min_time / dt) + 1))
    samples = [dt / number]
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if sync:
            sync()
        samples.append((time.perf_counter() - t0) / number)
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "calls": number,
        "repeats": repeat,
    }


def machine() -> dict[str, Any]:
    import numpy

    import infotheory

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "infotheory": infotheory.show_config(),
    }
    for mod in ("scipy", "torch", "cvxpy"):
        if mod in sys.modules:
            info[mod] = getattr(sys.modules[mod], "__version__", "?")
    try:
        from threadpoolctl import threadpool_info

        info["thread_pools"] = [
            {"api": p["internal_api"], "library": p["prefix"], "threads": p["num_threads"]}
            for p in threadpool_info()
        ]
    except ImportError:
        info["thread_pools"] = "threadpoolctl not installed: BLAS threads not pinned"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


class Bench:
    """Collects comparisons and writes ``<out>/<name>.json``."""

    def __init__(
        self, name: str, *, threads: int = 1, out: Path = RESULTS, device: str = "cpu"
    ) -> None:
        set_threads(threads)
        self.name, self.threads, self.out, self.device = name, threads, Path(out), device
        self.rows: list[dict[str, Any]] = []

    def compare(
        self,
        case: str,
        ours: Callable[[], Any],
        baseline: Callable[[], Any],
        *,
        baseline_name: str,
        work: float | None = None,
        repeat: int = 7,
        sync: Callable[[], None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> float:
        """Time both callables; return baseline time / our time (> 1 means we are faster).
        ``work`` (problems, bytes, ...) adds per-unit times to the record."""
        b = timeit(baseline, repeat=repeat, sync=sync)
        o = timeit(ours, repeat=repeat, sync=sync)
        ratio = b["median_s"] / o["median_s"]
        row = {
            "case": case,
            "baseline": baseline_name,
            "ours_s": o["median_s"],
            "baseline_s": b["median_s"],
            "ratio": ratio,
            "device": self.device,
        }
        if work:
            row["ours_per_unit_s"] = o["median_s"] / work
            row["baseline_per_unit_s"] = b["median_s"] / work
        row.update(extra or {})
        self.rows.append(row)
        print(
            f"{case:<38} {baseline_name:<22} ours {o['median_s'] * 1e3:10.3f} ms   "
            f"base {b['median_s'] * 1e3:10.3f} ms   x{ratio:10.1f}",
            flush=True,
        )
        return ratio

    def record(self, case: str, **fields: Any) -> None:
        """A row that is not a timed pair (accuracy, a single timing measured elsewhere)."""
        self.rows.append({"case": case, "device": self.device, **fields})
        print(f"{case:<38} " + "  ".join(f"{k}={v}" for k, v in fields.items()), flush=True)

    def finish(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{self.name}.json"
        doc = {
            "name": self.name,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "threads": self.threads,
            "device": self.device,
            "machine": machine(),
            "rows": self.rows,
        }
        path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        print(f"wrote {path}")
        return path
