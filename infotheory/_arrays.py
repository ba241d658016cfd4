"""The one module that knows array libraries.

It turns numpy arrays and torch tensors into kernel arguments without copies, or raises a
``TypeError``/``ValueError`` naming the argument. Torch is never imported here: a tensor can only
exist if the caller already imported torch, so we look it up in ``sys.modules``.

Backends
--------
``"numpy"``  numpy array in, numpy out.
``"torch"``  torch CPU tensor in; the kernel sees a zero-copy numpy view, outputs go back as tensors.
``"cuda"``   torch CUDA tensor in; the kernel gets DLPack capsules and torch's current stream.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def torch_module() -> Any | None:
    """Return the torch module if it is already imported, else None (never imports it)."""
    return sys.modules.get("torch")


def is_tensor(x: object) -> bool:
    torch = torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def _dtype_name(dt: object) -> str:
    return str(dt).replace("torch.", "")


@dataclass(frozen=True)
class Arg:
    """A validated array argument: ``array`` is what the kernel reads (numpy or CUDA tensor)."""

    name: str
    array: Any
    backend: str  # "numpy" | "torch" | "cuda"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def np_dtype(self) -> np.dtype:
        if self.backend == "cuda":
            return np.dtype(_dtype_name(self.array.dtype))
        return self.array.dtype

    def empty(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        """An uninitialised output on the same backend and device (numpy for CPU backends)."""
        if self.backend == "cuda":
            torch = torch_module()
            dt = self.array.dtype if dtype is None else getattr(torch, np.dtype(dtype).name)
            return torch.empty(shape, dtype=dt, device=self.array.device)
        return np.empty(shape, dtype=self.array.dtype if dtype is None else dtype)

    def like(self, value: Any, name: str, shape: tuple[int, ...]) -> Any:
        """A small secondary argument (a budget, say) broadcast to ``shape`` on this backend and
        dtype, as a fresh contiguous array: explicit, documented, never an output."""
        if self.backend == "cuda":
            torch = torch_module()
            if is_tensor(value):
                if value.device != self.array.device:
                    raise ValueError(
                        f"{name} is on {value.device} but {self.name} is on {self.array.device}"
                    )
                if value.is_complex() or value.dtype == torch.bool:
                    raise TypeError(f"{name} must be real numbers, got dtype {value.dtype}")
            else:
                _reject_bad_kind(np.asarray(value), name)
            t = torch.as_tensor(value, dtype=self.array.dtype, device=self.array.device)
            try:
                return torch.broadcast_to(t, shape).contiguous()
            except RuntimeError as e:
                raise ValueError(
                    f"{name} with shape {tuple(t.shape)} does not broadcast to {shape}"
                ) from e
        v = host_array(value, name)
        _reject_bad_kind(v, name)
        try:
            b = np.broadcast_to(v.astype(self.array.dtype, copy=False), shape)
        except ValueError as e:
            raise ValueError(f"{name} with shape {v.shape} does not broadcast to {shape}") from e
        return np.ascontiguousarray(b)

    def wrap(self, out: Any) -> Any:
        """Return a kernel output in the caller's array type."""
        if self.backend == "torch":
            return torch_module().from_numpy(np.asarray(out))
        return out


def _reject_bad_kind(a: np.ndarray, name: str) -> None:
    if a.dtype == object or a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers, got dtype {a.dtype}")


def float_array(
    x: Any,
    name: str,
    *,
    allow_copy: bool,
    dtypes: tuple[np.dtype, ...] = FLOAT_DTYPES,
    min_ndim: int = 0,
    allow_empty: bool = False,
) -> Arg:
    """Validate a floating-point array argument.

    With ``allow_copy=False`` (in-place kernels, outputs) nothing is ever copied or cast: a wrong
    dtype raises TypeError and a non-contiguous array raises ValueError. With ``allow_copy=True``
    (read-only inputs of the public numerics) integers and array-likes are converted to float64 and
    non-contiguous arrays are made contiguous, once, explicitly; arrays that already fit pass through
    without a copy.
    """
    if is_tensor(x):
        arg = _tensor_arg(x, name, allow_copy=allow_copy, dtypes=dtypes)
    else:
        arg = _numpy_arg(x, name, allow_copy=allow_copy, dtypes=dtypes)
    if len(arg.shape) < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimension(s), got shape {arg.shape}"
        )
    if not allow_empty and int(np.prod(arg.shape)) == 0:
        raise ValueError(f"{name} must not be empty, got shape {arg.shape}")
    return arg


def _numpy_arg(x: Any, name: str, *, allow_copy: bool, dtypes: tuple[np.dtype, ...]) -> Arg:
    if not isinstance(x, np.ndarray):
        if not allow_copy:
            raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as e:  # ragged lists
            raise ValueError(f"{name} must be a rectangular array of numbers: {e}") from e
    if x.dtype not in dtypes:
        if allow_copy and x.dtype.kind in "iu":
            x = x.astype(np.float64)
        elif allow_copy and x.dtype.kind == "f" and np.dtype(np.float64) in dtypes:
            x = x.astype(np.float64)  # float16 / longdouble: widen or narrow explicitly
        else:
            want = " or ".join(d.name for d in dtypes)
            raise TypeError(f"{name} must have dtype {want}, got {x.dtype}")
    if not x.flags.c_contiguous:
        if not allow_copy:
            raise ValueError(
                f"{name} must be C-contiguous (no copy is made here); call numpy.ascontiguousarray"
            )
        x = np.ascontiguousarray(x)
    return Arg(name, x, "numpy")


def _tensor_arg(t: Any, name: str, *, allow_copy: bool, dtypes: tuple[np.dtype, ...]) -> Arg:
    torch = torch_module()
    t = t.detach()
    want_dtypes = [getattr(torch, d.name) for d in dtypes]
    if t.dtype not in want_dtypes:
        if (
            allow_copy
            and not t.is_complex()
            and t.dtype != torch.bool
            and np.dtype(np.float64) in dtypes
        ):
            t = t.to(torch.float64)
        else:
            want = " or ".join(d.name for d in dtypes)
            raise TypeError(f"{name} must have dtype {want}, got {_dtype_name(t.dtype)}")
    if not t.is_contiguous():
        if not allow_copy:
            raise ValueError(
                f"{name} must be contiguous (no copy is made here); call .contiguous()"
            )
        t = t.contiguous()
    if t.device.type == "cpu":
        if t.is_conj() or t.is_neg():
            raise ValueError(f"{name} has a lazy conj/neg bit; call .resolve_conj().resolve_neg()")
        return Arg(name, t.numpy(), "torch")
    if t.device.type == "cuda":
        if not _core.WITH_CUDA:
            raise ValueError(
                f"{name} is a CUDA tensor but infotheory was built without CUDA: move it to the CPU "
                "with .cpu(), or reinstall with a CUDA compiler on PATH (INFOTHEORY_CUDA=ON)"
            )
        return Arg(name, t, "cuda")
    raise ValueError(f"{name} is on device {t.device}; only CPU and CUDA are supported")


def cuda_stream(t: Any) -> int:
    """torch's current CUDA stream for the tensor's device, as an integer handle."""
    torch = torch_module()
    return int(torch.cuda.current_stream(t.device).cuda_stream)


def dlpack(t: Any, stream: int) -> Any:
    """A DLPack capsule of ``t`` for a kernel that runs on ``stream`` (no copy, no sync needed)."""
    if stream == 0:  # CUDA's legacy default stream: DLPack calls it 1 and torch refuses 0
        stream = 1
    try:
        return t.__dlpack__(stream=stream, max_version=(1, 0))
    except TypeError:  # torch before DLPack 1.0 support
        return t.__dlpack__(stream=stream)


def raise_cuda_status(status: Any, names: dict[int, str]) -> None:
    """Check a kernel's per-problem int32 status on the GPU (one device sync, in Python)."""
    bad = status != 0
    if bool(bad.any()):
        p = int(bad.nonzero()[0, 0])
        code = int(status[p])
        raise ValueError(f"{names.get(code, f'status {code}')} (problem {p} of the batch)")


def refuse_meta(t: Any, name: str) -> None:
    """ValueError for a tensor on the ``meta`` device: it holds no data to read."""
    if t.device.type == "meta":
        raise ValueError(f"{name} is a tensor on the meta device, which holds no data")


def host_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a numpy array on the host, for the validators that read small or CPU inputs.

    Torch tensors are detached and copied off their device (lazy conj/neg bits resolved, and
    bfloat16 / float8 widened to float32, which numpy cannot hold); a tensor on the ``meta`` device
    has no data and raises ValueError. Other inputs go through ``numpy.asarray``; a ragged list
    raises ValueError naming ``name``. No dtype check: the caller names what it accepts.
    """
    if is_tensor(x):
        refuse_meta(x, name)
        t = x.detach()
        if t.is_conj():
            t = t.resolve_conj()
        if t.is_neg():
            t = t.resolve_neg()
        torch = torch_module()
        if t.is_floating_point() and t.dtype not in (torch.float16, torch.float32, torch.float64):
            t = t.float()
        return t.cpu().numpy()
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged lists
        raise ValueError(f"{name} must be a rectangular array of numbers: {e}") from e


def real_scalar(
    x: Any,
    name: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    finite: bool = True,
) -> float:
    """``x`` as a Python float: a real number (Python or numpy scalar, or a 0-d / 1-element
    array), not bool; TypeError otherwise. ValueError when NaN, infinite (unless ``finite`` is
    False) or below ``minimum`` (at ``minimum`` too when ``strict``). Errors name ``name``."""
    if isinstance(x, (bool, np.bool_)) or isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    if isinstance(x, (int, float, np.integer, np.floating)):
        try:
            v = float(x)
        except OverflowError:  # an int beyond the float range
            v = float(np.sign(x)) * np.inf
    else:
        a = host_array(x, name)
        if a.dtype == object or a.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real number, got {type(x).__name__} of {a.dtype}")
        if a.size != 1:
            raise ValueError(f"{name} must be a single number, got shape {a.shape}")
        v = float(a.reshape(()))
    low = minimum is not None and (v < minimum or (strict and v == minimum))
    if v != v or (finite and v in (np.inf, -np.inf)) or low:
        want = ["finite"] if finite else ["a number"]
        if minimum is not None:
            want.append(f"{'>' if strict else '>='} {minimum:g}")
        raise ValueError(f"{name} must be {' and '.join(want)}, got {v!r}")
    return v


def int_scalar(x: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``x`` as a Python int (Python or numpy integer, not bool): TypeError otherwise, ValueError
    below ``minimum`` or above ``maximum``. Errors name ``name``."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(x).__name__}")
    v = int(x)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v
