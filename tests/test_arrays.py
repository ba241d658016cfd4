"""infotheory._arrays and the C++ boundary: no silent copies or casts, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from infotheory import _arrays, _core


def test_contiguous_float_arrays_pass_without_copy():
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    for allow_copy in (False, True):
        arg = _arrays.float_array(x, "x", allow_copy=allow_copy)
        assert arg.array is x and arg.backend == "numpy"
    x32 = x.astype(np.float32)
    assert _arrays.float_array(x32, "x", allow_copy=False).array is x32


def test_torch_cpu_tensor_is_viewed_not_copied():
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.float64, requires_grad=True).reshape(2, 3)
    arg = _arrays.float_array(t, "t", allow_copy=False)
    assert arg.backend == "torch"
    assert arg.array.ctypes.data == t.data_ptr()  # the same memory
    out = arg.wrap(np.ones(2))
    assert isinstance(out, torch.Tensor)


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: np.ones((4, 4))[:, ::2], ValueError, "x must be C-contiguous"),
        (
            lambda: np.ones(3, dtype=np.int64),
            TypeError,
            "x must have dtype float32 or float64, got int64",
        ),
        (lambda: np.ones(3, dtype=np.float16), TypeError, "got float16"),
        (lambda: [1.0, 2.0], TypeError, "x must be a numpy array or torch tensor, got list"),
    ],
)
def test_refuse_to_copy(make, exc, match):
    with pytest.raises(exc, match=match):
        _arrays.float_array(make(), "x", allow_copy=False)


def test_refuse_to_copy_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="t must be contiguous"):
        _arrays.float_array(torch.ones(4, 4).t(), "t", allow_copy=False)
    with pytest.raises(TypeError, match="t must have dtype float32 or float64, got int32"):
        _arrays.float_array(torch.ones(3, dtype=torch.int32), "t", allow_copy=False)
    with pytest.raises(ValueError, match="only CPU and CUDA"):
        _arrays.float_array(torch.ones(3, device="meta"), "t", allow_copy=True)


def test_explicit_conversions_when_allowed():
    arg = _arrays.float_array([1, 2, 3], "x", allow_copy=True)
    assert arg.array.dtype == np.float64
    nc = np.ones((4, 4))[:, ::2]
    arg = _arrays.float_array(nc, "x", allow_copy=True)
    assert arg.array.flags.c_contiguous and not np.shares_memory(arg.array, nc)
    with pytest.raises(TypeError, match="x must have dtype"):
        _arrays.float_array(np.array([1j]), "x", allow_copy=True)


def test_cuda_tensor_without_cuda_build_says_what_to_do():
    torch = pytest.importorskip("torch")
    if _core.WITH_CUDA or not torch.cuda.is_available():
        pytest.skip("needs a CPU-only build on a machine with a GPU")
    with pytest.raises(ValueError, match="built without CUDA"):
        _arrays.float_array(torch.ones(3, device="cuda"), "x", allow_copy=True)


# ---- the C++ boundary itself (what _arrays must hand it) ----------------------------------------


def _outputs(n, k, dtype=np.float64):
    return np.empty(n, dtype), np.empty((n, k), dtype), np.empty(n, dtype)


def test_kernel_writes_through_to_caller_memory():
    s = np.array([[4.0, 2.0, 1.0, 0.25]])
    level, alloc, mi = _outputs(1, 4)
    level[:] = alloc[:] = mi[:] = -1.0
    _core.reverse_waterfill(s, np.array([2.0]), level, alloc, mi)
    assert level[0] == pytest.approx(0.583333, abs=1e-6) and mi[0] > 0
    np.testing.assert_allclose(alloc[0], [0.583333, 0.583333, 0.583333, 0.25], atol=1e-6)


def test_kernel_refuses_casts_and_strided_arrays():
    s = np.ones((2, 3))
    level, alloc, mi = _outputs(2, 3)
    with pytest.raises(TypeError):  # float32 budget with float64 rows: no overload, no cast
        _core.reverse_waterfill(s, np.ones(2, np.float32), level, alloc, mi)
    with pytest.raises(TypeError):  # a strided view is not taken (noconvert + c_style)
        _core.reverse_waterfill(np.ones((2, 6))[:, ::2], np.ones(2), level, alloc, mi)
    with pytest.raises(TypeError):
        _core.reverse_waterfill(s.astype(np.int64), np.ones(2), level, alloc, mi)


def test_kernel_checks_shapes_and_writability():
    s = np.ones((2, 3))
    level, alloc, mi = _outputs(2, 3)
    with pytest.raises(ValueError, match=r"D must have shape \(2,\), got \(3,\)"):
        _core.reverse_waterfill(s, np.ones(3), level, alloc, mi)
    with pytest.raises(ValueError, match=r"allocation must have shape \(2, 3\)"):
        _core.reverse_waterfill(s, np.ones(2), level, np.empty((2, 4)), mi)
    with pytest.raises(ValueError, match="sigma2 must be 2-D"):
        _core.reverse_waterfill(np.ones(3), np.ones(2), level, alloc, mi)
    ro = np.empty(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="mi must be writable"):
        _core.reverse_waterfill(s, np.ones(2), level, alloc, ro)
