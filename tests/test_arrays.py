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


# ---- validators and units (mutation audit: boundaries that no test pinned) -----------------------


def test_float_array_boundaries():
    with pytest.raises(ValueError, match=r"x must not be empty, got shape \(0, 3\)"):
        _arrays.float_array(np.empty((0, 3)), "x", allow_copy=True)
    assert _arrays.float_array(np.empty((0, 3)), "x", allow_copy=True, allow_empty=True)
    with pytest.raises(ValueError, match="x must have at least 2 dimension"):
        _arrays.float_array(np.ones(3), "x", allow_copy=True, min_ndim=2)
    assert _arrays.float_array(np.ones((1, 3)), "x", allow_copy=True, min_ndim=2).shape == (1, 3)
    u = np.array([0, 7, 255], dtype=np.uint8)  # unsigned integers widen like signed ones
    got = _arrays.float_array(u, "x", allow_copy=True).array
    assert got.dtype == np.float64 and got.tolist() == [0.0, 7.0, 255.0]


def test_like_gives_a_fresh_contiguous_writable_array():
    arg = _arrays.float_array(np.zeros((4, 2), np.float32), "x", allow_copy=False)
    e = arg.like(0.5, "eps", (4,))
    assert e.dtype == np.float32 and e.flags.c_contiguous and e.flags.writeable
    assert e.strides == (4,) and e.tolist() == [0.5] * 4
    with pytest.raises(ValueError, match=r"eps with shape \(3,\) does not broadcast to \(4,\)"):
        arg.like(np.ones(3), "eps", (4,))


def test_scalar_validators_at_their_bounds():
    assert _arrays.int_scalar(5, "k", minimum=5, maximum=5) == 5
    with pytest.raises(ValueError, match="k must be <= 5, got 6"):
        _arrays.int_scalar(6, "k", maximum=5)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        _arrays.int_scalar(0, "k", minimum=1)
    assert _arrays.real_scalar(0.0, "t", minimum=0.0) == 0.0
    with pytest.raises(ValueError, match="t must be finite and > 0"):
        _arrays.real_scalar(0.0, "t", minimum=0.0, strict=True)
    for bad in (float("nan"), np.float32("nan")):
        with pytest.raises(ValueError, match="t must be"):
            _arrays.real_scalar(bad, "t", finite=False)
    assert _arrays.real_scalar(float("inf"), "t", finite=False) == float("inf")
    with pytest.raises(ValueError, match="t must be finite"):
        _arrays.real_scalar(float("-inf"), "t")


def test_host_array_widens_bfloat16():
    torch = pytest.importorskip("torch")
    t = torch.tensor([0.5, -1.25, 3.0], dtype=torch.bfloat16)
    a = _arrays.host_array(t, "t")
    assert a.dtype == np.float32 and a.tolist() == [0.5, -1.25, 3.0]


def test_log_base_values_and_units():
    import math

    from infotheory._units import log_base

    assert log_base("e") == (1.0, "nats") and log_base("nats") == (1.0, "nats")
    assert log_base("bits") == (math.log(2.0), "bits") and log_base(2) == (math.log(2.0), "bits")
    assert log_base(10) == (math.log(10.0), "hartleys")
    assert log_base(math.e) == (1.0, "nats")
    assert log_base(3) == (math.log(3.0), "log3 units")
    assert log_base(np.float32(0.5)) == (math.log(0.5), "log0.5 units")
    for bad in (0, 0.0, -2, 1, 1.0, float("inf"), float("nan"), 10**400):
        with pytest.raises(ValueError, match="base must be a positive number other than 1"):
            log_base(bad)
    for bad in (True, None, [2]):
        with pytest.raises(TypeError, match="base must be a string or a number"):
            log_base(bad)
    with pytest.raises(ValueError, match="base must be"):
        log_base("bit")


def test_entropy_in_base_three_of_a_uniform_ternary_source_is_one():
    from infotheory.estimators import entropy

    s = np.tile(np.arange(3), 40)
    h = entropy(s, method="mle", base=3)
    assert float(h) == pytest.approx(1.0, abs=1e-12) and h.unit == "log3 units"
