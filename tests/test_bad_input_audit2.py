"""Bad input, third pass: numpy scalars where Python numbers are accepted, the right exception type
for a wrong type, non-positive sigma / out-of-range labels in the VIB losses, and NaN training
losses (each case failed before its fix)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from infotheory import ib, lipschitz  # noqa: E402

MLP_CFG = {"arch": "mlp", "in_features": 4, "n_classes": 3, "K": 2, "widths": [8]}
X = torch.rand(6, 4, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([0, 1, 2, 0, 1, 2])


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))


def _vib():
    torch.manual_seed(0)
    return ib.VIB(MLP_CFG, samples=2)


# ----------------------------------------------------------------------- integer validator twins
def test_trainer_takes_numpy_scalars():
    # np.int64 counts and np.float32 rates come out of numpy arithmetic (TypeError before)
    t = ib.Trainer(
        _vib(),
        beta=np.float32(1e-3),
        lr=np.float64(1e-3),
        batch_size=np.int64(3),
        seed=np.uint32(7),
        eval_batch_size=np.int32(4),
        adv_ratio=np.float16(0.5),
        quiet=True,
    )
    assert (t.batch_size, t.seed, t.eval_batch_size) == (3, 7, 4)
    assert all(type(v) is int for v in (t.batch_size, t.seed, t.eval_batch_size))
    assert type(t.beta) is float and t.beta == pytest.approx(1e-3)
    h = t.fit((X, Y), None, epochs=np.int64(1))
    assert len(h) == 1


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"batch_size": 3.0}, TypeError, "batch_size must be an int"),
        ({"batch_size": np.int64(0)}, ValueError, "batch_size must be >= 1"),
        ({"seed": np.int64(-1)}, ValueError, "seed must be >= 0"),
        ({"seed": np.True_}, TypeError, "seed must be an int"),
        ({"beta": np.float32("nan")}, ValueError, "beta must be in"),
        ({"lr": np.str_("1e-3")}, TypeError, "lr must be a number"),
    ],
)
def test_trainer_numpy_scalar_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ib.Trainer(_vib(), quiet=True, **kwargs)


def test_models_take_numpy_ints_and_store_python_ints():
    # TypeError before; the config (checkpointed, compared, JSON-dumped) now holds Python ints
    m = ib.VIB.mlp(
        np.int64(4), np.int64(3), K=np.int32(2), widths=(np.int64(8),), samples=np.int8(2)
    )
    cfg = {**MLP_CFG, "K": np.int64(2), "n_classes": np.int16(3)}
    for model in (m, ib.VIB(cfg), ib.CEClassifier(cfg)):
        ints = [model.config[k] for k in ("in_features", "n_classes", "K")] + model.config["widths"]
        assert all(type(v) is int for v in ints)
        assert model(X).shape == (6, 3)
    assert type(m.config["samples"]) is int and m.samples == 2
    assert ib.VIB(MLP_CFG, std_bias=np.float32(-4.0)).std_bias == -4.0  # TypeError before


@pytest.mark.parametrize(
    ("key", "value"),
    [("in_shape", (1, 8.5, 8)), ("channels", [2.7]), ("in_shape", ("1", 8, 8))],
)
def test_cnn_config_fractional_sizes_refused(key, value):
    # int() truncated 8.5 to 8 and 2.7 to 2 (and parsed "1") silently before
    cfg = {**MLP_CFG, "arch": "cnn_mlp", "in_shape": (1, 8, 8), "channels": [2], "kernel_size": 3}
    cfg[key] = value
    with pytest.raises(TypeError, match=f"{key} entries must be an int"):
        ib.VIB(cfg)


def test_estimate_mi_batch_size():
    m = _vib()
    assert ib.estimate_mi(m, X, Y, batch_size=np.int64(4))["n"] == 6  # ValueError before
    with pytest.raises(TypeError, match="batch_size must be an int"):
        ib.estimate_mi(m, X, Y, batch_size=4.0)


def test_lower_bound_takes_numpy_scalars():
    net = _mlp()
    ref = lipschitz.lipschitz_lower_bound(net, X, steps=5, search=1, radius=0.1, seed=3)
    got = lipschitz.lipschitz_lower_bound(
        net,
        X,
        steps=np.int64(5),
        search=np.int32(1),
        radius=np.float32(0.1),
        seed=np.uint64(3),
        batch_size=np.int64(256),
    )  # ValueError before
    assert got.steps == 5 and type(got.steps) is int
    assert got.value == pytest.approx(ref.value, rel=1e-6)
    top = lipschitz.lipschitz_lower_bound(net, X, steps=2, seed=np.uint64(2**64 - 1))
    assert np.isfinite(top.value)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"steps": 5.0}, TypeError, "steps must be an int"),
        ({"batch_size": "a"}, TypeError, "batch_size must be an int"),
        ({"search": True}, TypeError, "search must be an int"),
        ({"seed": 2.0}, TypeError, "seed must be an int"),
        ({"radius": "a"}, TypeError, "radius must be a real number"),
        ({"radius": True}, TypeError, "radius must be a real number"),  # taken as 1.0 before
        ({"steps": np.int64(0)}, ValueError, "steps must be >= 1"),
        ({"seed": 2**64}, ValueError, "seed must be <= "),
        ({"seed": -(2**63) - 1}, ValueError, "seed must be >= "),
        ({"radius": np.float64(-1.0)}, ValueError, "radius must be finite and > 0"),
    ],
)
def test_lower_bound_argument_types(kwargs, exc, match):
    with pytest.raises(exc, match=match) as info:
        lipschitz.lipschitz_lower_bound(_mlp(), X, **kwargs)
    # a wrong type is a TypeError that is still the ValueError it was before
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("K", [2.0, "2", None, np.float64(2)])
def test_encoder_bound_K_type(K):
    with pytest.raises(TypeError, match="K must be an int"):  # ValueError before
        lipschitz.gaussian_encoder_bound(1.0, 1.0, 0.5, K)
    assert lipschitz.gaussian_encoder_bound(1.0, 1.0, 0.5, np.int64(2)) == pytest.approx(
        lipschitz.gaussian_encoder_bound(1.0, 1.0, 0.5, 2), rel=1e-15
    )
