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

# spectral family: W float64 or float32 (batch, m, n), C-contiguous; vectors and outputs float64.
def spectral_top(
    W: npt.NDArray[np.floating],
    v: npt.NDArray[np.float64],
    u: npt.NDArray[np.float64] | None,
    sigma: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    iterations: npt.NDArray[np.int32],
    status: npt.NDArray[np.int32],
    method: int,
    tol: float,
    max_iter: int,
    max_basis: int,
    seed: int,
) -> None: ...
def spectral_power_cuda(
    W: Any, v: Any, Av: Any, sigma: Any, resid: Any, scale: Any, iters: int, stream: int
) -> None: ...
def spectral_top_complex(
    W: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    sigma: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    iterations: npt.NDArray[np.int32],
    status: npt.NDArray[np.int32],
    method: int,
    tol: float,
    max_iter: int,
    max_basis: int,
    seed: int,
) -> None: ...
