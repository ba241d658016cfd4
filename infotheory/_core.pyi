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

# channel family: float64 only, C-contiguous, no conversion. p is (n, 4); flip (n, 4); alpha (n, 2).
def binary_attack(
    p: npt.NDArray[np.float64],
    eps: npt.NDArray[np.float64],
    mi: npt.NDArray[np.float64],
    flip: npt.NDArray[np.float64],
    alpha: npt.NDArray[np.float64],
    multiplier: npt.NDArray[np.float64],
    zero_information_budget: npt.NDArray[np.float64],
) -> None: ...
def binary_attack_cuda(
    p: Any,
    eps: Any,
    mi: Any,
    flip: Any,
    alpha: Any,
    multiplier: Any,
    zero_information_budget: Any,
    status: Any,
    stream: int,
) -> None: ...
def discrete_attack(
    p_ux: npt.NDArray[np.float64],
    distortion: npt.NDArray[np.float64],
    D: float,
    tol: float,
    max_iter: int,
    q: npt.NDArray[np.float64],
) -> tuple[float, float, float, float, int, bool]: ...
def gaussian_vector_attack(
    a2: npt.NDArray[np.float64],
    s2: npt.NDArray[np.float64],
    D: npt.NDArray[np.float64],
    allocation: npt.NDArray[np.float64],
    mi: npt.NDArray[np.float64],
    multiplier: npt.NDArray[np.float64],
) -> None: ...
