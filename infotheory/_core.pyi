"""Type stubs for the private compiled core. Users call the public API, never these."""

from typing import Any

import numpy as np
import numpy.typing as npt

WITH_CUDA: bool
FAMILIES: list[str]

def cuda_device_count() -> int: ...
def build_info() -> dict[str, Any]: ...
def get_num_threads() -> int: ...
def set_num_threads(threads: int) -> None: ...

# waterfill family: float64 or float32, all arrays of one dtype, C-contiguous, no conversion.
def reverse_waterfill(
    sigma2: npt.NDArray[np.floating],
    D: npt.NDArray[np.floating],
    level: npt.NDArray[np.floating],
    allocation: npt.NDArray[np.floating],
    mi: npt.NDArray[np.floating],
) -> None: ...
def forward_waterfill(
    noise: npt.NDArray[np.floating],
    power: npt.NDArray[np.floating],
    level: npt.NDArray[np.floating],
    allocation: npt.NDArray[np.floating],
    capacity: npt.NDArray[np.floating],
) -> None: ...

# CUDA entry points (present when WITH_CUDA): DLPack capsules and torch's stream handle.
def reverse_waterfill_cuda(
    sigma2: Any, D: Any, level: Any, allocation: Any, mi: Any, status: Any, stream: int
) -> None: ...
def forward_waterfill_cuda(
    noise: Any, power: Any, level: Any, allocation: Any, capacity: Any, status: Any, stream: int
) -> None: ...

# entropy family: integer/bool codes (n, d) C-contiguous; counts, fingerprints and estimators (nats).
def count_symbols(
    codes: npt.NDArray[np.integer] | npt.NDArray[np.bool_], return_index: bool, return_inverse: bool
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64] | None, npt.NDArray[np.int64] | None]: ...
def fingerprint(counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]: ...
def entropy_plugin(fingerprint: npt.NDArray[np.int64], n: int) -> float: ...
def entropy_jvhw(
    fingerprint: npt.NDArray[np.int64], n: int, g_table: npt.NDArray[np.float64]
) -> float: ...
def ksg_counts(
    xy: npt.NDArray[np.float64], dx: int, k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
