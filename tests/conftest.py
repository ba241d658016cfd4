from __future__ import annotations

import pytest

import infotheory  # noqa: F401  (fails early with the build hint if _core is missing)
from infotheory import _core


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _core.WITH_CUDA and _core.cuda_device_count() > 0:
        return
    why = (
        "needs a CUDA build and a CUDA GPU"
        if not _core.WITH_CUDA
        else "no CUDA GPU on this machine"
    )
    skip = pytest.mark.skip(reason=why)
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
