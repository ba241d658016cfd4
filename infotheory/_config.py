"""Build and runtime configuration: ``show_config`` and the CPU thread setting."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from typing import Any

import numpy as np

from . import _core


def _package_version(name: str) -> str | None:
    if importlib.util.find_spec(name) is None:
        return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def get_num_threads() -> int:
    """Number of threads the CPU kernels use (1 means serial)."""
    return int(_core.get_num_threads())


def set_num_threads(threads: int) -> None:
    """Set the number of threads for the CPU kernels.

    The default comes from ``INFOTHEORY_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the CPU count.
    Small inputs always run serially.
    """
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be an int, got {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if threads > MAX_THREADS:
        raise ValueError(f"threads must be <= {MAX_THREADS}, got {threads}")
    _core.set_num_threads(int(threads))


MAX_THREADS = 2**15  # OpenMP teams beyond this exhaust the machine rather than use it


def _default_threads() -> int:
    for var in ("INFOTHEORY_NUM_THREADS", "OMP_NUM_THREADS"):
        raw = os.environ.get(var, "").split(",")[0].strip()
        if raw:
            try:
                n = int(raw)
            except ValueError as e:
                raise ValueError(f"{var} must be a positive integer, got {raw!r}") from e
            if n >= 1:
                return min(n, MAX_THREADS)  # an environment setting never fails the import
    return os.cpu_count() or 1


def show_config() -> dict[str, Any]:
    """Describe this build and machine: versions, compiler, OpenMP, threads and CUDA.

    Returns
    -------
    dict
        Keys ``version``, ``python``, ``platform``, ``compiler``, ``openmp``, ``openmp_version``,
        ``threads``, ``with_cuda``, ``cuda_runtime_version``, ``cuda_architectures``,
        ``cuda_devices``, ``numpy``, ``torch`` (None when torch is not installed). Torch is not
        imported to find its version.
    """
    info = dict(_core.build_info())
    from . import __version__

    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "compiler": info["compiler"],
        "openmp": info["openmp"],
        "openmp_version": info["openmp_version"],
        "threads": get_num_threads(),
        "with_cuda": bool(_core.WITH_CUDA),
        "cuda_runtime_version": info["cuda_runtime_version"],
        "cuda_architectures": info["cuda_architectures"],
        "cuda_devices": int(_core.cuda_device_count()),
        "numpy": np.__version__,
        "torch": _package_version("torch"),
    }
