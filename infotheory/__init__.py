"""infotheory: information-theoretic adversarial robustness with a compiled C++/CUDA core.

Subpackages (imported on first use): ``channels`` (optimal attacks, water-filling), ``estimators``,
``bounds``, ``lipschitz``, ``attacks``, ``ib``, ``data``, ``experiments``. Torch is imported only
by ``attacks`` and ``ib`` (and by functions that receive tensors).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# OpenMP worker threads sleep instead of spinning between kernels: these machines are shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    from . import _core  # noqa: F401  (fail here, with the build hint, if the core is missing)
except ImportError as _err:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "infotheory's compiled core (infotheory._core) could not be imported: "
        f"{_err}. Install the package with `pip install .` from the source checkout (it compiles "
        "the C++ core; a C++17 compiler and CMake >= 3.18 are needed), or for development run "
        "`pip install --no-build-isolation -ve .` or `tools/devbuild.sh`. If you are inside the "
        "source tree, make sure Python is not importing the unbuilt `infotheory/` folder."
    ) from _err

from ._config import get_num_threads, set_num_threads, show_config

__version__ = "0.1.0"

_SUBPACKAGES = (
    "attacks",
    "bounds",
    "channels",
    "cli",
    "data",
    "estimators",
    "experiments",
    "ib",
    "lipschitz",
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'infotheory' has no attribute {name!r}")


def _init_threads() -> None:
    from ._config import _default_threads

    set_num_threads(_default_threads())


_init_threads()

__all__ = ["__version__", "get_num_threads", "set_num_threads", "show_config"]
