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

# attack_step family: x, grad, x0, eps, alpha, l2, linf of one dtype (float64 or float32),
# C-contiguous, no conversion; x is updated in place, l2/linf (n,) are outputs. norm: "inf" | "2".
def attack_step(
    x: npt.NDArray[np.floating],
    grad: npt.NDArray[np.floating],
    x0: npt.NDArray[np.floating],
    eps: npt.NDArray[np.floating],
    alpha: npt.NDArray[np.floating],
    lo: float,
    hi: float,
    norm: str,
    l2: npt.NDArray[np.floating],
    linf: npt.NDArray[np.floating],
) -> None: ...
def attack_step_cuda(
    x: Any,
    grad: Any,
    x0: Any,
    eps: Any,
    alpha: Any,
    lo: float,
    hi: float,
    norm: str,
    l2: Any,
    linf: Any,
    stream: int,
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

# spectral family: Cholesky certificates, ok[p] = 1 where mu[p] I - Gram(W[p]) factors (float64)
def spectral_certify(
    W: npt.NDArray[np.float64] | npt.NDArray[np.float32],
    mu: npt.NDArray[np.float64],
    ok: npt.NDArray[np.int32],
    fro2: npt.NDArray[np.float64],
) -> None: ...

# spectral family: certified top singular triplets of small matrices in one call (float64 Gram
# matrix, Lanczos on it, Cholesky certificate of mu I - G on the same G)
def spectral_top_gram(
    W: npt.NDArray[np.float64] | npt.NDArray[np.float32],
    v: npt.NDArray[np.float64],
    u: npt.NDArray[np.float64] | None,
    sigma: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    iterations: npt.NDArray[np.int32],
    status: npt.NDArray[np.int32],
    mu: npt.NDArray[np.float64],
    ok: npt.NDArray[np.int32],
    fro2: npt.NDArray[np.float64],
    tol: float,
    max_iter: int,
    max_basis: int,
    seed: int,
) -> None: ...

# attack_step family, CW and DeepFool updates (one dtype, float64 or float32, C-contiguous, no
# conversion). cw_adam_step: w, m, v, xa updated in place, l2sq (n,) output. deepfool_step: grads
# k arrays (a, ...), f (m, k-1), sel/rows (m,) int64; r_tot and x_adv (n, ...) updated in place.
def attack_step_loops() -> str: ...

class AttackStepPlan:
    """attack_step with x, x0, eps, alpha, the box and the norm bound once."""

    def __init__(
        self,
        x: npt.NDArray[np.floating],
        x0: npt.NDArray[np.floating],
        eps: npt.NDArray[np.floating],
        alpha: npt.NDArray[np.floating],
        lo: float,
        hi: float,
        norm: str,
    ) -> None: ...
    def __call__(self, grad: npt.NDArray[np.floating]) -> None: ...
    @property
    def l2(self) -> npt.NDArray[np.floating]: ...
    @property
    def linf(self) -> npt.NDArray[np.floating]: ...

def cw_adam_step(
    w: npt.NDArray[np.floating],
    m: npt.NDArray[np.floating],
    v: npt.NDArray[np.floating],
    xa: npt.NDArray[np.floating],
    x: npt.NDArray[np.floating],
    grad: npt.NDArray[np.floating],
    step_size: float,
    bc2_sqrt: float,
    b1: float,
    b2: float,
    adam_eps: float,
    lo: float,
    hi: float,
    box: bool,
    l2sq: npt.NDArray[np.floating],
) -> None: ...
def deepfool_step(
    grads: list[npt.NDArray[np.floating]],
    f: npt.NDArray[np.floating],
    sel: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
    r_tot: npt.NDArray[np.floating],
    x: npt.NDArray[np.floating],
    x_adv: npt.NDArray[np.floating],
    overshoot: float,
    lo: float,
    hi: float,
) -> None: ...
def cw_adam_step_cuda(
    w: Any,
    m: Any,
    v: Any,
    xa: Any,
    x: Any,
    grad: Any,
    step_size: float,
    bc2_sqrt: float,
    b1: float,
    b2: float,
    adam_eps: float,
    lo: float,
    hi: float,
    box: bool,
    l2sq: Any,
    stream: int,
) -> None: ...
def deepfool_step_cuda(
    grads: Any,
    f: Any,
    sel: Any,
    rows: Any,
    r_tot: Any,
    x: Any,
    x_adv: Any,
    overshoot: float,
    lo: float,
    hi: float,
    stream: int,
) -> None: ...

# entropy family (appended): sparse fingerprints (j ascending, f_j > 0, k distinct) of the rows of
# codes or of counts, in one pass; plug-in and JVHW entropies (nats) from them or from codes.
def sparse_fingerprint(
    codes: npt.NDArray[np.integer] | npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]: ...
def sparse_fingerprint_of_counts(
    counts: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]: ...
def entropy_pairs(
    j: npt.NDArray[np.int64], f: npt.NDArray[np.int64], n: int, g_table: npt.NDArray[np.float64]
) -> tuple[float, float]: ...
def entropy_codes(
    codes: npt.NDArray[np.integer] | npt.NDArray[np.bool_], g_table: npt.NDArray[np.float64]
) -> tuple[float, float, int]: ...

# spectral_lanczos family (appended): certified Lanczos on the float64 Gram matrix of small
# matrices (min(m, n) <= 256), the outputs of spectral_top_gram. spectral_lanczos_cuda: DLPack
# capsules on one CUDA device, one thread block a matrix, on `stream` (a CPU-only build binds a
# stub that raises RuntimeError); work (b, spectral_lanczos_work_size(m, n, max_basis)) float64.
# spectral_lanczos_emulate: the same kernel code on the CPU, team_size threads standing in for a
# block.
SPECTRAL_LANCZOS_MAX_SIDE: int

def spectral_lanczos_work_size(m: int, n: int, max_basis: int) -> int: ...
def spectral_lanczos_emulate(
    W: npt.NDArray[np.float64] | npt.NDArray[np.float32],
    v: npt.NDArray[np.float64],
    u: npt.NDArray[np.float64] | None,
    sigma: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    iterations: npt.NDArray[np.int32],
    status: npt.NDArray[np.int32],
    mu: npt.NDArray[np.float64],
    ok: npt.NDArray[np.int32],
    fro2: npt.NDArray[np.float64],
    tol: float,
    max_iter: int,
    max_basis: int,
    gap_cap: float,
    seed: int,
    certify: bool,
    team_size: int,
    group_size: int = 1,
) -> None: ...
def spectral_lanczos_cuda(
    W: Any,
    v: Any,
    u: Any | None,
    sigma: Any,
    lower: Any,
    upper: Any,
    iterations: Any,
    status: Any,
    mu: Any,
    ok: Any,
    fro2: Any,
    work: Any,
    tol: float,
    max_iter: int,
    max_basis: int,
    gap_cap: float,
    seed: int,
    certify: bool,
    stream: int,
) -> None: ...

# spectral: one fused pass w = W^T (W v) (tests and profiles; kernel 0 scalar, 1 dispatched,
# 2 float32 arithmetic)
def spectral_gram_apply(
    W: npt.NDArray[np.floating],
    v: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    Av: npt.NDArray[np.float64] | None,
    kernel: int,
) -> None: ...

# channel family: discrete_attack with the Python layer's argument checks in the kernel (None when
# a check fails or is too close to call)
def discrete_attack_checked(
    p_ux: npt.NDArray[np.float64],
    distortion: npt.NDArray[np.float64],
    D: float,
    tol: float,
    max_iter: int,
    q: npt.NDArray[np.float64],
) -> tuple[float, float, float, float, int, bool] | None: ...

# spectral family, block Lanczos: W float64 or float32 (batch, m, n); block in [1, 4].
def spectral_top_block(
    W: npt.NDArray[np.floating],
    v: npt.NDArray[np.float64],
    u: npt.NDArray[np.float64] | None,
    sigma: npt.NDArray[np.float64],
    lower: npt.NDArray[np.float64],
    upper: npt.NDArray[np.float64],
    iterations: npt.NDArray[np.int32],
    status: npt.NDArray[np.int32],
    block: int,
    tol: float,
    max_iter: int,
    max_basis: int,
    seed: int,
) -> None: ...
def spectral_gram_block(
    W: npt.NDArray[np.floating],
    V: npt.NDArray[np.float64],
    out: npt.NDArray[np.float64],
    kernel: int,
) -> None: ...
def lanczos_step(
    q: npt.NDArray[np.floating],
    q_prev: npt.NDArray[np.floating] | None,
    w: npt.NDArray[np.floating],
    beta_prev: float,
    alphas: npt.NDArray[np.float64],
    betas: npt.NDArray[np.float64],
    k: int,
    om_prev: npt.NDArray[np.float64],
    om_cur: npt.NDArray[np.float64],
    om_next: npt.NDArray[np.float64],
    eps1: float,
    anorm: float,
) -> tuple[float, float, float, float]: ...
def spectral_band_top_pair(
    T: npt.NDArray[np.float64],
    p: int,
    lo: float,
    hint: float,
    s: npt.NDArray[np.float64],
) -> float: ...
