"""Operator norms of 2-D convolutions as linear maps on a given input shape.

``fft``: a circular convolution on an ``N1 x N2`` torus is block-diagonalised by the 2-D DFT; its
singular values are those of the ``c_out x c_in`` blocks ``K_hat(w) = sum_k K[:, :, k] e^{-2 pi i
<w, k> / N}`` (Sedghi, Gupta and Long 2019). We take the top singular value of every block with the
batched kernel (a complex block ``B + iC`` has the singular values of the real ``[[B, -C], [C, B]]``,
each twice) and return the largest. A zero-padded convolution is the restriction of the full linear
convolution, which is a circular one on the ``(n + k - 1)`` torus, so the same computation there is
a certified upper bound. ``gram``: Gram iteration on those blocks (Delattre, Barthelemy, Araujo and
Allauzen 2023), a certified upper bound. ``power``/``lanczos``: iterate ``A^T A`` with the layer's
own convolution and its exact adjoint (autograd), for any padding, stride and dilation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _arrays, _core
from .._result import ResultMixin
from ._dense import spectral_norm

METHODS = ("power", "lanczos", "fft", "gram", "reshape")
PADDING_MODES = ("zeros", "circular")


@dataclass(frozen=True)
class ConvNormResult(ResultMixin):
    """Operator norm of a convolution on a fixed input shape.

    Attributes
    ----------
    value : float
        The reported norm: the estimate (``power``/``lanczos``/exact ``fft``) or the upper bound
        (``gram``, ``fft`` on zero padding).
    lower, upper : float
        Bracket on the true operator norm (``lower`` is 0.0 where a method gives no lower bound).
        ``lower`` is always a lower bound. For ``power``/``lanczos`` ``upper`` is the residual
        bound of the final vector (float64 operator), which holds once the iteration has reached
        the top singular direction, as for ``spectral_norm(..., certify="none")``; the
        guaranteed upper bounds are ``fft`` (zero padding) and ``gram``.
    kind : str
        "exact" (to ``tol``: circular ``fft``), "estimate" (iterative bracket), "upper_bound"
        (certified), or "heuristic" (``reshape``: torch's ``spectral_norm`` for convolutions, the
        norm of the weight reshaped to ``(c_out, c_in k1 k2)``: neither bound in general).
    method : str
    iterations : int
        Operator applications (iterative methods) or Gram steps.
    input_shape, output_shape : tuple of int
        ``(c_in, H, W)`` and ``(c_out, H_out, W_out)``.
    """

    value: float
    lower: float
    upper: float
    kind: str
    method: str
    iterations: int
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    def __float__(self) -> float:
        return float(self.value)


_MAX_ELEMENTS = 2**40  # numbers in one image of the padded input or of the output (8 TiB)


def _pair(x: Any, name: str, minimum: int) -> tuple[int, int]:
    try:
        t = (x, x) if isinstance(x, (int, np.integer)) and not isinstance(x, bool) else tuple(x)
    except TypeError:
        raise TypeError(f"{name} must be an int or a pair of ints, got {x!r}") from None
    if len(t) != 2 or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in t):
        raise TypeError(f"{name} must be an int or a pair of ints, got {x!r}")
    if any(a < minimum for a in t):
        raise ValueError(f"{name} must be >= {minimum}, got {x!r}")
    return int(t[0]), int(t[1])


def _weight_numpy(weight: Any) -> np.ndarray:
    w = _arrays.host_array(weight, "weight")
    if w.dtype.kind != "f":
        raise TypeError(f"weight must be a real floating-point array, got dtype {w.dtype}")
    if w.ndim != 4:
        raise ValueError(f"weight must have shape (c_out, c_in, k1, k2), got {w.shape}")
    if 0 in w.shape:
        raise ValueError(f"weight must not be empty, got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("weight must be finite, found NaN or inf")
    # no copy of a float64 weight (the iteration only reads it; 19 MB at 512 x 512 x 3 x 3, whose
    # fresh pages cost more than the copy), unless torch could not share a read-only array
    w = np.ascontiguousarray(w, dtype=np.float64)
    return w if w.flags.writeable else w.copy()


# Weights with max |w| outside [2^-30, 2^30] are scaled by a power of two into [0.5, 1) (the norm
# scales with them, exactly): the float32 convolutions and the squared residual norms of Lanczos
# and of the Gram iteration over- or underflow far from 1 (before this, 2^-300 weights gave half
# the norm or 0.0, 2^300 weights 0.0 or inf, float32 convolutions overflowed from 2^60).
_WEIGHT_RANGE = 2.0**30


def _in_range(w: np.ndarray) -> tuple[np.ndarray, int]:
    """``(w 2^-shift, shift)``: ``shift`` 0 (``w`` itself) unless max |w| lies outside
    ``[1 / _WEIGHT_RANGE, _WEIGHT_RANGE]`` (a zero weight stays as it is)."""
    peak = max(float(w.max()), -float(w.min()))  # no |w| temporary (19 MB at 512 channels)
    if peak == 0.0 or 1.0 / _WEIGHT_RANGE <= peak <= _WEIGHT_RANGE:
        return w, 0
    shift = int(np.frexp(peak)[1])
    return np.ldexp(w, -shift), shift


def conv_output_shape(
    input_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    out = tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, s, p, d in zip(input_hw, kernel, stride, padding, dilation, strict=True)
    )
    return out  # type: ignore[return-value]


def fft_blocks(w: np.ndarray, torus: tuple[int, int], dilation: tuple[int, int]) -> np.ndarray:
    """``K_hat`` on the half-spectrum of an ``N1 x N2`` torus: shape ``(N1, N2 // 2 + 1, c_out,
    c_in)``, complex (C-contiguous for small kernels, else a transposed view). Kernel taps beyond
    the torus wrap around (a circular convolution)."""
    c_out, c_in, k1, k2 = w.shape
    N1, N2 = torus
    d1, d2 = dilation
    if k1 * k2 <= 64:
        # direct DFT of the few taps: one (N1 N2', k1 k2) x (k1 k2, c_out c_in) product, written
        # once in the block layout (cheaper than padding to the torus and transposing)
        f1 = np.arange(N1)[:, None] * (np.arange(k1) * d1)[None, :] / N1
        f2 = np.arange(N2 // 2 + 1)[:, None] * (np.arange(k2) * d2)[None, :] / N2
        phase = np.exp(-2j * np.pi * (f1[:, None, :, None] + f2[None, :, None, :]))
        taps = w.transpose(2, 3, 0, 1).reshape(k1 * k2, c_out * c_in)
        out = phase.reshape(-1, k1 * k2) @ taps.astype(np.complex128)
        return out.reshape(N1, N2 // 2 + 1, c_out, c_in)
    if d1 * (k1 - 1) < N1 and d2 * (k2 - 1) < N2:
        full = np.zeros((c_out, c_in, d1 * (k1 - 1) + 1, d2 * (k2 - 1) + 1))
        full[:, :, ::d1, ::d2] = w
        spec = np.fft.rfft2(full, s=(N1, N2), axes=(2, 3))  # zero-pads to the torus
    else:
        full = np.zeros((c_out, c_in, N1, N2))
        for a in range(k1):
            for b in range(k2):
                full[:, :, (a * d1) % N1, (b * d2) % N2] += w[:, :, a, b]
        spec = np.fft.rfft2(full, axes=(2, 3))
    return spec.transpose(2, 3, 0, 1)


def _complex_top(
    C: np.ndarray, tol: float, v: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Top singular values of complex128 blocks ``(B, m, n)`` (C-contiguous) with the kernel:
    ``(lower, upper, iterations, v)``, ``v`` the interleaved right vectors ``(B, 2n)``."""
    B, m, n = C.shape
    W = C.view(np.float64).reshape(B, m, 2 * n)
    v = np.zeros((B, 2 * n)) if v is None else np.array(v, dtype=np.float64, order="C")
    sigma, lo, hi = np.empty(B), np.empty(B), np.empty(B)
    its, status = np.empty(B, np.int32), np.empty(B, np.int32)
    _core.spectral_top_complex(W, v, sigma, lo, hi, its, status, 1, float(tol), 2000, 64, 0)
    if (status == 1).any():
        raise ValueError("weight must be finite, found NaN or inf")
    return lo, hi, its, v


def blocks_top_singular(blocks: np.ndarray, tol: float) -> tuple[float, float, int]:
    """Max over complex blocks ``(..., m, n)`` of the top singular value: ``(lower, upper,
    applications)``. A cheap pass brackets every block to 1e-2; only blocks whose upper end can
    still exceed the best lower end are refined to ``tol``."""
    C = np.ascontiguousarray(blocks.reshape(-1, *blocks.shape[-2:]), dtype=np.complex128)
    coarse_tol = max(tol, 1e-2)
    lo, hi, its, v = _complex_top(C, coarse_tol)
    total = int(its.sum())
    if coarse_tol > tol:
        # the coarse residual bound covers a block's top singular value only once the block's
        # iteration has separated it from its neighbours: widen it by the coarse tolerance
        keep = np.flatnonzero(hi * (1.0 + coarse_tol) >= lo.max())
        flo, fhi, fits, _ = _complex_top(np.ascontiguousarray(C[keep]), tol, v[keep])
        lo[keep], hi[keep] = flo, fhi
        total += int(fits.sum())
    return float(lo.max()), float(hi.max()), total


def _gram_bound(blocks: np.ndarray, steps: int) -> float:
    """Gram iteration per block: ``sigma(G) <= ||G_T||_F^(1/2^T) prod_t f_t^(1/2^t)`` with
    ``G_{t+1} = (G_t / f_t)^H (G_t / f_t)`` and ``f_t = ||G_t||_F`` (rescaled: no overflow)."""
    G = blocks.reshape(-1, *blocks.shape[-2:])
    if G.shape[-2] < G.shape[-1]:
        G = np.conj(np.swapaxes(G, -1, -2))
    log_bound = np.zeros(G.shape[0])
    for t in range(steps):
        f = np.linalg.norm(G, axis=(-2, -1))
        f = np.where(f > 0, f, 1.0)
        log_bound += np.log(f) / 2.0**t
        G = G / f[:, None, None]
        G = np.conj(np.swapaxes(G, -1, -2)) @ G
    last = np.linalg.norm(G, axis=(-2, -1))
    with np.errstate(divide="ignore"):
        log_bound += np.log(last) / 2.0**steps
    return float(np.exp(log_bound.max()))


def conv_operator_norm(
    weight: Any,
    input_shape: tuple[int, ...],
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    padding_mode: str = "zeros",
    method: str = "lanczos",
    tol: float = 1e-6,
    max_iter: int | None = None,
    gram_steps: int = 8,
    seed: int = 0,
    precision: str = "mixed",
) -> ConvNormResult:
    """Operator norm ``max ||conv(x)|| / ||x||`` of a ``Conv2d`` on inputs of a given shape.

    Parameters
    ----------
    weight : array or tensor, shape ``(c_out, c_in, k1, k2)``
        The layer's weight (``groups=1``; the bias does not change the Lipschitz constant).
    input_shape : tuple
        ``(c_in, H, W)`` or ``(H, W)``.
    stride, padding, dilation : int or pair
        As in ``torch.nn.Conv2d`` (integer padding).
    padding_mode : {"zeros", "circular"}
    method : {"lanczos", "power", "fft", "gram", "reshape"}
        ``lanczos`` (default)/``power``: iterate the convolution and its adjoint (needs torch), any
        settings; bracket to ``tol``. Convolutions have many near-equal top singular values, which
        Lanczos separates and power iteration may not. Lanczos keeps its basis in a per-thread
        buffer that later calls reuse (up to 100 MB of address space; the rows a run touched stay
        resident, 12-25 MB for ResNet-sized layers), which saves the page faults of a fresh one.
        ``fft``: exact for circular padding with stride 1 and output size equal to the input size;
        for zero padding (any stride) a certified upper bound through the ``(n + d (k - 1))`` torus.
        ``gram``: certified upper bound by ``gram_steps`` Gram iterations on the same blocks.
        ``reshape``: the norm of ``weight.reshape(c_out, -1)``, what
        ``torch.nn.utils.spectral_norm`` uses for convolutions; flagged ``kind="heuristic"``.
    tol : float
        Relative bracket width for the iterative parts.
    max_iter : int, optional
        Cap on operator applications (``power``/``lanczos``).
    gram_steps : int
        Gram iterations (``gram``): the bound overshoots by a factor of at most
        ``rank^(1/2^(steps+1))``.
    seed : int
        Seed of the start vector's noise (``power``/``lanczos`` start from the top plane wave of
        the circular layer, or from a random vector on small images, ``H W < 16 k1 k2``, where
        that start costs more than it saves).
    precision : {"mixed", "float64", "float32"}
        Arithmetic of the convolutions in ``power``/``lanczos``. ``mixed`` (default): Lanczos
        iterates with float32 convolutions (two to four times faster) and the certificate on its
        final vector uses float64 ones, so the bracket is that of the float64 operator; where
        float32 rounding keeps the bracket above ``tol`` the iteration finishes in float64.
        Zero-padded stride-1 layers with at least 2048 weights iterate with oneDNN float32
        convolutions on weights reordered once (not on every call).
        ``float64``: float64 throughout. ``float32``: float32 convolutions for the certificate
        too (the bracket then holds for the float32-rounded operator, about 1e-7 off).

    Returns
    -------
    ConvNormResult
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if precision not in ("mixed", "float64", "float32"):
        raise ValueError(f"precision must be 'mixed', 'float64' or 'float32', got {precision!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (0.0 < tol < 1.0):
        raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
    if max_iter is not None:
        max_iter = _arrays.int_scalar(max_iter, "max_iter", minimum=1)
    gram_steps = _arrays.int_scalar(gram_steps, "gram_steps", minimum=0)
    if gram_steps > 64:  # 2**-64 weights: later steps change nothing
        raise ValueError(f"gram_steps must be <= 64, got {gram_steps}")
    seed = _arrays.int_scalar(seed, "seed", minimum=-(2**63))
    if seed >= 2**64:  # torch's generators take 64-bit seeds
        raise ValueError(f"seed must be < 2**64, got {seed}")
    w = _weight_numpy(weight)
    w, shift = _in_range(w)
    c_out, c_in, k1, k2 = w.shape
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise TypeError(f"input_shape must be a tuple of ints, got {input_shape!r}")
    shape = tuple(_arrays.int_scalar(s, "input_shape entries") for s in input_shape)
    if len(shape) == 2:
        shape = (c_in, *shape)
    if len(shape) != 3 or shape[0] != c_in or min(shape) < 1:
        raise ValueError(
            f"input_shape must be (c_in, H, W) with c_in={c_in} (or (H, W)), got {input_shape!r}"
        )
    st, pd, dl = (
        _pair(stride, "stride", 1),
        _pair(padding, "padding", 0),
        _pair(dilation, "dilation", 1),
    )
    hw = (shape[1], shape[2])
    out_hw = conv_output_shape(hw, (k1, k2), st, pd, dl)
    if min(out_hw) < 1:
        raise ValueError(
            f"the convolution has an empty output for input_shape {shape} (kernel {(k1, k2)}, "
            f"stride {st}, padding {pd}, dilation {dl})"
        )
    padded = c_in * (hw[0] + 2 * pd[0]) * (hw[1] + 2 * pd[1])
    if max(padded, c_out * out_hw[0] * out_hw[1]) > _MAX_ELEMENTS:
        raise ValueError(
            f"input_shape {shape} with padding {pd} makes a padded input of {padded} and an "
            f"output of {c_out * out_hw[0] * out_hw[1]} numbers, more than {_MAX_ELEMENTS}"
        )
    if padding_mode == "circular" and any(p > n for p, n in zip(pd, hw, strict=True)):
        raise ValueError(f"circular padding {pd} must not exceed the input size {hw}")
    out_shape = (c_out, *out_hw)

    def result(value: float, lo: float, hi: float, kind: str, its: int) -> ConvNormResult:
        if shift:  # back to the caller's scale, exactly
            with np.errstate(over="ignore"):
                value, lo, hi = (float(np.ldexp(x, shift)) for x in (value, lo, hi))
            if not math.isfinite(hi):
                raise ValueError(f"the operator norm exceeds the float64 range (weight scaled by "
                                 f"2^{shift}); rescale the weight")  # fmt: skip
        return ConvNormResult(value, lo, hi, kind, method, its, shape, out_shape)

    if method == "reshape":
        r = spectral_norm(w.reshape(c_out, -1), tol=tol)
        return result(r.value, r.value, r.value, "heuristic", r.iterations)
    if method in ("fft", "gram"):
        ext = tuple(d * (k - 1) for d, k in zip(dl, (k1, k2), strict=True))
        if padding_mode == "circular":
            if st != (1, 1) or out_hw != hw:
                raise ValueError(
                    f"method={method!r} with circular padding needs stride 1 and an output of the "
                    f"input's size (2 * padding == dilation * (k - 1)); got stride {st}, output "
                    f"{out_hw} for input {hw}: use method='power'"
                )
            torus = hw
        else:
            torus = (hw[0] + ext[0], hw[1] + ext[1])
        blocks = fft_blocks(w, torus, dl)
        if method == "gram":
            ub = _gram_bound(blocks, gram_steps)
            return result(ub, 0.0, ub, "upper_bound", gram_steps)
        lo, hi, its = blocks_top_singular(blocks, tol)
        if padding_mode == "circular":
            return result(lo, lo, hi, "exact", its)
        return result(hi, 0.0, hi, "upper_bound", its)
    return _iterative(
        w, shape, st, pd, dl, padding_mode, method, tol, max_iter, seed, precision, result
    )


def _adjoint_padding(
    k: tuple[int, int], pd: tuple[int, int], dl: tuple[int, int]
) -> tuple[int, int]:
    """At stride 1 the adjoint of ``conv2d(x, w, padding=p, dilation=d)`` is ``conv2d(y,
    flip(w)^T, padding=d (k - 1) - p, dilation=d)``: that padding per axis (negative where the
    padding reaches beyond the kernel and there is no such form)."""
    return (dl[0] * (k[0] - 1) - pd[0], dl[1] * (k[1] - 1) - pd[1])


def _torch_maps(
    w: np.ndarray,
    shape: tuple[int, ...],
    st: tuple[int, int],
    pd: tuple[int, int],
    dl: tuple[int, int],
    padding_mode: str,
    dtype: Any,
) -> tuple[Any, Any]:
    """``(forward, adjoint)`` of the convolution in torch's ``dtype`` (float32 or float64) on
    batches ``(B, *shape)``; ``adjoint`` is None where autograd supplies it (circular padding)."""
    import torch
    import torch.nn.functional as F

    k = (w.shape[2], w.shape[3])
    # numpy's conversion: torch's own took 13 ms for 512 x 512 x 3 x 3 (numpy's 1.3 ms)
    weight = torch.from_numpy(w.astype(np.float32) if dtype == torch.float32 else w)

    def forward(x: Any) -> Any:
        x = x.to(weight.dtype)
        if padding_mode == "circular" and any(pd):
            x = F.pad(x, (pd[1], pd[1], pd[0], pd[0]), mode="circular")
            return F.conv2d(x, weight, stride=st, dilation=dl)
        return F.conv2d(x, weight, stride=st, padding=pd, dilation=dl)

    if padding_mode == "circular" and any(pd):
        return forward, None  # autograd supplies the adjoint of the circular pad

    # at stride 1 the adjoint is also a convolution (_adjoint_padding): in float64 (the
    # certificate's operator) torch's conv2d takes half the time of its conv_transpose2d at 512
    # channels, 7^2 (11 against 24 ms a call), 0.8-0.9x at 64-128 channels, 28^2-32^2
    pad_adj = _adjoint_padding(k, pd, dl)
    if st == (1, 1) and min(pad_adj) >= 0 and dtype == torch.float64:
        flipped = torch.from_numpy(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).copy())

        def adjoint(y: Any) -> Any:
            return F.conv2d(y, flipped, padding=pad_adj, dilation=dl)

        return forward, adjoint

    out_hw = conv_output_shape((shape[1], shape[2]), k, st, pd, dl)
    # conv_transpose2d is the exact adjoint once output_padding restores the input size
    op = tuple(
        n - ((o - 1) * s - 2 * p + d * (kk - 1) + 1)
        for n, o, s, p, d, kk in zip(shape[1:], out_hw, st, pd, dl, k, strict=True)
    )

    def transposed(y: Any) -> Any:
        return F.conv_transpose2d(y, weight, stride=st, padding=pd, output_padding=op, dilation=dl)

    return forward, transposed


def _iterative(w, shape, st, pd, dl, padding_mode, method, tol, max_iter, seed, precision, result):  # type: ignore[no-untyped-def]
    import torch

    k = (w.shape[2], w.shape[3])

    def maps(dtype: Any) -> tuple[Any, Any]:
        return _torch_maps(w, shape, st, pd, dl, padding_mode, dtype)

    def fast_maps() -> tuple[Any, Any]:
        packed = None
        if padding_mode == "zeros":
            packed = _prepacked_maps(w, shape, st, pd, dl)
        return packed if packed is not None else maps(torch.float32)

    forward, adjoint = maps(torch.float32 if precision == "float32" else torch.float64)
    fast = fast_maps() if precision == "mixed" else None
    lo, hi, its = linear_operator_norm(
        forward,
        shape,
        method=method,
        tol=tol,
        max_iter=max_iter,
        seed=seed,
        adjoint=adjoint,
        init=_plane_wave_start(w, (shape[1], shape[2]), dl, seed)
        if shape[1] * shape[2] >= 16 * k[0] * k[1]
        else None,
        fast=fast,
    )
    return result(lo, lo, hi, "estimate", its)


# oneDNN reorders a float32 weight into its blocked layout on every conv2d/conv_transpose2d call;
# for large weights that reorder is a third of the call (measured at 512 channels, 3x3, 7^2: 1.0-1.2
# ms of a 4 ms call, per call, with ONEDNN_VERBOSE=1), so the float32 iteration uses weights
# reordered once, with the channels-last brgemm convolutions (see _prepacked_maps). Whole calls
# (CPU time, minima of 3-4 interleaved runs, same steps) against the plain calls: 0.74-0.93x from
# 16 channels at 32^2 (2304 weights) to 512 at 7^2, except 64 channels at 8^2 (1.07x, 26 ms);
# below this size the one-off reorders and kernel generation are not worth it.
_PREPACK_MIN_WEIGHTS = 2048


def _prepacked_maps(
    w: np.ndarray,
    shape: tuple[int, ...],
    st: tuple[int, int],
    pd: tuple[int, int],
    dl: tuple[int, int],
) -> tuple[Any, Any] | None:
    """float32 ``(forward, adjoint)`` of a zero-padded stride-1 convolution on batch-1 inputs
    with weights reordered once for oneDNN, or None where that does not apply (small weight,
    stride > 1, padding beyond the kernel's reach, or no such operators in this torch build). The
    adjoint of ``conv2d(x, w, padding=p)`` at stride 1 is ``conv2d(y, flip(w)^T, padding=d (k - 1)
    - p)``; any mismatch of these private operators would still be caught by the float64
    certificate.

    Two private operator sets, tried in turn: ``mkldnn._convolution_pointwise`` and
    ``_convolution_transpose_pointwise`` on weights from ``mkldnn._reorder_convolution_weight``
    and ``_reorder_convolution_transpose_weight`` (the channels-last brgemm convolutions, as
    torch's frozen inference graphs use them), then ``mkldnn_prepacked.conv2d_run`` (oneDNN's
    direct blocked-layout convolution). At 512 channels, 3x3, 7^2 the first took 5.6-6.1 ms per
    ``A^T A`` application against 6.6-7.8 ms (CPU time, minima and quartiles of 30 interleaved
    calls each, 2 busy cores), 12-20% less (2.65 + 2.77 ms median per convolution pair inside the
    iteration by ONEDNN_VERBOSE, about 86 GFLOP/s counting the padding's zeros, near this CPU's
    94 GFLOP/s single-core sgemm); at 128 channels, 28^2 about as long per application, but the
    whole call 10% shorter (no per-call reorders of the input or output layouts)."""
    import torch

    c_out, _, k1, k2 = w.shape
    if w.size < _PREPACK_MIN_WEIGHTS or st != (1, 1):
        return None
    pad_adj = list(_adjoint_padding((k1, k2), pd, dl))
    if min(pad_adj) < 0:
        return None
    out_hw = conv_output_shape((shape[1], shape[2]), (k1, k2), st, pd, dl)
    # float32 in channels-last memory order, converted by numpy: oneDNN's weight reorders take
    # their source in that order (2.0 and 2.2 ms at 512 x 512 x 3 x 3, against 5.5 and 6.8 ms
    # from the contiguous layout, which torch first permutes), and torch's own conversion took
    # 13 ms against numpy's 3 ms
    w32 = torch.from_numpy(np.ascontiguousarray(w.transpose(0, 2, 3, 1), dtype=np.float32))
    w32 = w32.permute(0, 3, 1, 2)
    for build in _PAIR_BUILDERS:
        try:
            forward, adjoint = build(w32, shape, out_hw, list(pd), pad_adj, list(dl))
            # one trial call each way: a build that has the operators but rejects these shapes
            # falls back here rather than inside the iteration
            probe = forward(torch.zeros((1, *shape), dtype=torch.float32))
            back = adjoint(probe)
            if tuple(probe.shape) != (1, c_out, *out_hw) or tuple(back.shape) != (1, *shape):
                continue
        except (AttributeError, RuntimeError, NotImplementedError, TypeError):
            continue
        return forward, adjoint
    return None


def _brgemm_pair(w32, shape, out_hw, pd, pad_adj, dl):  # type: ignore[no-untyped-def]
    """The channels-last brgemm pair (``_prepacked_maps``): the adjoint is oneDNN's transposed
    convolution of the same weight (reordered once, with the flip; as fast as the forward
    convolution of a flipped copy, without the copy). Outputs are channels-last."""
    import torch

    mk = torch.ops.mkldnn
    one, zero = [1, 1], [0, 0]
    wr = mk._reorder_convolution_weight(w32, pd, one, dl, 1, [1, *shape])
    wt = mk._reorder_convolution_transpose_weight(
        w32, pd, zero, one, dl, 1, [1, w32.shape[0], *out_hw]
    )
    conv, conv_t = mk._convolution_pointwise, mk._convolution_transpose_pointwise

    def forward(x: Any) -> Any:
        return conv(x.to(torch.float32), wr, None, pd, one, dl, 1, "none", [], "")

    def adjoint(y: Any) -> Any:
        return conv_t(y, wt, None, pd, zero, one, dl, 1, "none", [], "")

    forward.channels_last = True  # type: ignore[attr-defined]
    return forward, adjoint


def _direct_pair(w32, shape, out_hw, pd, pad_adj, dl):  # type: ignore[no-untyped-def]
    """The ``mkldnn_prepacked`` pair (``_prepacked_maps``): the adjoint is the forward
    convolution of the flipped, transposed kernel."""
    import torch

    ops = torch.ops.mkldnn_prepacked
    one = [1, 1]
    wf = w32.flip(2, 3).transpose(0, 1).contiguous()
    ctx = ops.conv2d_prepack(w32, None, one, pd, dl, 1, [1, *shape], "none")
    ctx_adj = ops.conv2d_prepack(wf, None, one, pad_adj, dl, 1, [1, wf.shape[1], *out_hw], "none")
    run = ops.conv2d_run

    def forward(x: Any) -> Any:
        return run(x.to(torch.float32).contiguous(), ctx)

    def adjoint(y: Any) -> Any:
        return run(y.contiguous(), ctx_adj)

    return forward, adjoint


_PAIR_BUILDERS = (_brgemm_pair, _direct_pair)


def _plane_wave_start(
    w: np.ndarray, hw: tuple[int, int], dl: tuple[int, int], seed: int
) -> np.ndarray:
    """Start vector for the iterative methods: the top singular vector of the circular
    convolution on the input's torus (a plane wave at the top frequency, with that block's right
    singular vector across channels), which the zero-padded layer's top vector resembles away from
    the border; plus 1% noise, so no symmetry can make it orthogonal to the answer.

    With 64 x 64 channels or more the frequencies are searched on a torus of at most 16 x 16
    (the wave is still laid over the whole input): the per-block pass costs as much per channel
    pair as the iteration it shortens, and on the finer grid it took 20-30% of the total time at
    28^2-32^2 (0.12-0.47 s at 128 channels, load of 3-5 on 2 cores). Measured on 13 layers of
    64-256 channels at 28^2-32^2 (and 14^2-16^2, unchanged): steps within -10%..+20% of the fine
    grid's, the start 3-10x cheaper, total time lower on 10 of them (128 channels at 28^2, the
    bench layer: 80 steps either way, 0.95 -> 0.67 s). Below 64 x 64 channels the pass is cheap
    and the fine grid saved 5-15% of the steps."""
    c_out, c_in = w.shape[:2]
    torus = hw if c_out * c_in < 64 * 64 else (min(hw[0], 16), min(hw[1], 16))
    B = fft_blocks(w, torus, dl)
    N2h = B.shape[1]
    # every block to 1e-2: the blocks' top singular values are close (a random-matrix edge), and
    # which of the near-top blocks seeds Lanczos changes its step count by chance alone; on 24
    # He-initialised layers (32-256 channels, 14^2-32^2) 1e-2 took 1988 steps in all, 1e-3 1987,
    # 2e-2 2066, at two thirds of the 1e-3 pass's cost
    lo, _, _, v = _complex_top(np.ascontiguousarray(B.reshape(-1, c_out, c_in)), 1e-2)
    top = int(np.argmax(lo))
    o1, o2 = divmod(top, N2h)
    xh = v[top, 0::2] + 1j * v[top, 1::2]
    p1 = np.arange(hw[0])[:, None] / torus[0]
    p2 = np.arange(hw[1])[None, :] / torus[1]
    wave = np.exp(-2j * np.pi * (o1 * p1 + o2 * p2))
    v0 = np.real(xh[:, None, None] * wave[None])
    v0 /= max(float(np.linalg.norm(v0)), 1e-300)
    noise = np.random.default_rng(seed).standard_normal(v0.shape)
    return v0 + 0.01 * noise / np.linalg.norm(noise)


def linear_operator_norm(
    forward: Any,
    input_shape: tuple[int, ...],
    *,
    method: str = "lanczos",
    tol: float = 1e-6,
    max_iter: int | None = None,
    seed: int = 0,
    adjoint: Any = None,
    init: Any = None,
    fast: tuple[Any, Any] | None = None,
) -> tuple[float, float, int]:
    """Bracket ``(lower, upper, applications)`` on the operator norm of a linear torch map
    ``forward`` from tensors ``(B, *input_shape)`` (float64), by power iteration or Lanczos on
    ``A^T A`` with the adjoint from autograd (or ``adjoint``, when given). ``fast``: an optional
    ``(forward, adjoint)`` pair in float32 that drives the Lanczos iteration; the certificate then
    still uses ``forward``/``adjoint``."""
    import warnings

    import torch

    from ._operator import lanczos_top
    from ._torch_iter import iterate

    n = math.prod(input_shape)

    def gram_of(fwd: Any, adj: Any, dtype: Any) -> Any:
        def gram(v: Any) -> Any:
            x = v.reshape(-1, *input_shape)
            if adj is not None:
                with torch.no_grad():
                    out = adj(fwd(x))
                return out.to(dtype).reshape(v.shape)
            with torch.enable_grad():
                x = x.detach().requires_grad_(True)
                y = fwd(x)
                (g,) = torch.autograd.grad(y, x, grad_outputs=y.detach())
            return g.to(dtype).reshape(v.shape)

        return gram

    gram = gram_of(forward, adjoint, torch.float64)
    if init is not None:
        v = torch.as_tensor(np.asarray(init, dtype=np.float64)).reshape(1, n)
    else:
        g = torch.Generator().manual_seed(int(seed))
        v = torch.rand((1, n), generator=g, dtype=torch.float64)
        v = torch.where(v < 0.5, -0.5 - v, v)
    v = v / v.norm()
    if max_iter is None:
        max_iter = 2000 if method == "lanczos" else 20000
    if method == "lanczos":
        dtype = torch.float64 if fast is None else torch.float32
        if fast is None:
            apply_fast, apply_exact, v0 = gram, gram, v[0]
        elif getattr(fast[0], "channels_last", False):
            # the pair maps channels-last tensors to channels-last tensors: Lanczos runs on the
            # vectors in (H, W, C) order (any fixed order of the coordinates is the same
            # problem), so no step copies between layouts; the start vector and the float64
            # certificate's operator are permuted to match
            apply_fast, apply_exact, v0 = _channels_last_problem(fast, gram, v[0], input_shape)
        else:
            apply_fast, apply_exact, v0 = gram_of(fast[0], fast[1], torch.float32), gram, v[0]
        # keep the whole Krylov basis within about 96 MB
        basis = int(min(256, max(32, 96e6 // (n * (8 if fast is None else 4)))))
        lo_f, hi_f, its, _ = lanczos_top(
            apply_fast, apply_exact, v0.to(dtype), tol=tol, max_iter=max_iter, max_basis=basis
        )
    else:
        lo, hi, its_t, _ = iterate(gram, v, method, tol, max_iter)
        lo_f, hi_f, its = float(lo[0]), float(hi[0]), int(its_t[0])
    if not hi_f - lo_f <= tol * lo_f and hi_f > 0:
        warnings.warn(
            f"operator norm ({method}) did not reach tol={tol} within max_iter={max_iter}",
            RuntimeWarning,
            stacklevel=3,
        )
    return lo_f, hi_f, int(its)


def _channels_last_problem(fast: Any, gram: Any, v: Any, shape: tuple[int, ...]) -> Any:
    """``(apply_fast, apply_exact, v)`` for ``B = A^T A`` on flat vectors in ``(H, W, C)`` order,
    from a channels-last float32 pair ``fast``, the float64 ``gram`` on ``(C, H, W)``-ordered
    vectors and a start vector in that order."""
    import torch

    c, h, w = shape

    def to_hwc(x: Any) -> Any:
        return x.reshape(c, h, w).permute(1, 2, 0).reshape(-1)

    def to_chw(x: Any) -> Any:
        return x.reshape(h, w, c).permute(2, 0, 1).reshape(-1)

    def apply_fast(x: Any) -> Any:
        with torch.no_grad():
            out = fast[1](fast[0](x.view(1, h, w, c).permute(0, 3, 1, 2)))
        return out.permute(0, 2, 3, 1).reshape(-1)  # a view of a channels-last output

    def apply_exact(x: Any) -> Any:
        return to_hwc(gram(to_chw(x)))

    return apply_fast, apply_exact, to_hwc(v)
