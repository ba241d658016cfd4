"""Bad input, third pass: numpy scalars where Python numbers are accepted, the right exception type
for a wrong type, non-positive sigma / out-of-range labels in the VIB losses, and NaN training
losses (each case failed before its fix)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from infotheory import bounds, estimators, ib, lipschitz  # noqa: E402

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


# ----------------------------------------------------------------------------------- VIB losses
MU = torch.zeros(3, 2, dtype=torch.float64)
SIGMA = torch.ones(3, 2, dtype=torch.float64)
LOGITS = torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
LABELS = torch.tensor([0, 3, 1])


@pytest.mark.parametrize(
    ("sigma_value", "match"),
    [
        (0.0, "sigma must be finite and > 0, found 0.0"),  # KL = inf before
        (-0.5, "sigma must be finite and > 0, found -0.5"),  # KL = NaN before
        (float("nan"), "sigma must be finite and > 0, found nan"),
        (float("inf"), "sigma must be finite and > 0, found inf"),
    ],
)
def test_gaussian_kl_sigma_checked_on_cpu(sigma_value, match):
    sigma = SIGMA.clone()
    sigma[1, 1] = sigma_value
    with pytest.raises(ValueError, match=match):
        ib.gaussian_kl(MU, sigma)
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        ib.vib_loss(LOGITS, LABELS, MU, sigma, 0.1)
    # check=False: what a CUDA tensor gets by default (no sync), a non-finite KL
    assert not bool(torch.isfinite(ib.gaussian_kl(MU, sigma, check=False)).all())


def test_gaussian_kl_other_inputs():
    mu = MU.clone()
    mu[0, 0] = float("nan")
    with pytest.raises(ValueError, match="mu must be finite"):  # NaN KL before
        ib.gaussian_kl(mu, SIGMA)
    with pytest.raises(TypeError, match="sigma must be a floating-point tensor"):
        ib.gaussian_kl(MU, torch.ones(3, 2, dtype=torch.int64))  # an integer KL before
    kl = ib.gaussian_kl(MU.to("meta"), SIGMA.to("meta"))  # no data, no check, no error
    assert kl.shape == (3,) and kl.device.type == "meta"
    assert ib.gaussian_kl(MU, SIGMA).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("y", "exc", "match"),
    [
        (torch.tensor([0, 4, 1]), ValueError, r"y must hold labels in \[0, 4\)"),  # IndexError
        (torch.tensor([0, -1, 1]), ValueError, r"y must hold labels in \[0, 4\)"),  # IndexError
        (torch.full((3,), -100), ValueError, r"y must hold labels in \[0, 4\)"),  # NaN CE before
        (torch.tensor([0.0, 3.0, 1.0]), TypeError, "y must hold integer class labels"),
        (torch.tensor([True, False, True]), TypeError, "y must hold integer class labels"),
        (np.array([0, 3, 1]), TypeError, "y must be a torch tensor"),
        (torch.tensor([0, 3]), ValueError, r"logits must have shape \(N, C\)"),
    ],
)
def test_vib_loss_labels(y, exc, match):
    with pytest.raises(exc, match=match):
        ib.vib_loss(LOGITS, y, MU, SIGMA, 0.1)


def test_vib_loss_other_inputs():
    ref = ib.vib_loss(LOGITS, LABELS, MU, SIGMA, 0.1)[1]
    # int32 labels (RuntimeError "expected target dtype to be Long" before)
    assert float(ib.vib_loss(LOGITS, LABELS.int(), MU, SIGMA, 0.1)[1]) == float(ref)
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\) with N, C >= 1"):
        ib.vib_loss(LOGITS[:0], LABELS[:0], None, None, 0.1)  # NaN CE before
    bad = LOGITS.clone()
    bad[2, 0] = float("nan")
    with pytest.raises(ValueError, match="logits must be finite"):  # NaN loss before
        ib.vib_loss(bad, LABELS, None, None, 0.1)
    with pytest.raises(ValueError, match="y is on meta but logits are on cpu"):
        ib.vib_loss(LOGITS, LABELS.to("meta"), None, None, 0.1)
    with pytest.raises(ValueError, match="beta must be finite and >= 0"):
        ib.vib_loss(LOGITS, LABELS, None, None, -1.0)


def test_vib_loss_unchecked_label_is_nan_not_an_error():
    # check=False is what a CUDA tensor gets by default: a label outside [0, C) makes the CE NaN
    # (on a GPU, F.cross_entropy hits a device-side assert, which spoils the CUDA context)
    loss, ce, _ = ib.vib_loss(LOGITS, torch.tensor([0, 4, 1]), MU, SIGMA, 0.1, check=False)
    assert np.isnan(float(ce)) and np.isnan(float(loss))
    good = ib.vib_loss(LOGITS, LABELS, MU, SIGMA, 0.1, check=False)
    ref = ib.vib_loss(LOGITS, LABELS, MU, SIGMA, 0.1)
    assert [float(v) for v in good] == [float(v) for v in ref]
    logits = LOGITS.clone().requires_grad_(True)
    ib.vib_loss(logits, LABELS, None, None, 0.0, check=False)[0].backward()
    ref_grad = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, LABELS), logits)[0]
    torch.testing.assert_close(logits.grad, ref_grad, rtol=1e-15, atol=0)


# --------------------------------------------------------------------- non-finite training loss
class _NaNAfter(torch.nn.Module):
    """A classifier whose output turns NaN after ``calls`` forward passes."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 3)
        self.calls = calls

    def forward(self, x):
        self.calls -= 1
        out = self.lin(x)
        return out if self.calls >= 0 else out * float("nan")


def test_trainer_raises_on_nan_loss_each_step_on_cpu(tmp_path):
    t = ib.Trainer(_NaNAfter(1), batch_size=2, quiet=True, out=tmp_path)
    with pytest.raises(ValueError, match=r"training loss is not finite \(loss nan\) in step 2 of"):
        t.fit((X, Y), None, 2)  # trained on, and saved, NaN weights before
    assert t.step == 1 and bool(torch.isfinite(t.model.lin.weight).all())
    assert not (tmp_path / "checkpoint.pt").exists() and len(t.history) == 0


def test_trainer_raises_on_nan_loss_at_epoch_end(tmp_path):
    # the path of a GPU (or torchrun) run: no read-back per step, the epoch's sums are checked
    t = ib.Trainer(_NaNAfter(1), batch_size=2, quiet=True, out=tmp_path)
    t._step_check = False
    with pytest.raises(ValueError, match=r"not finite \(CE sum nan, KL sum 0.0\) in epoch 1: lik"):
        t.fit((X, Y), None, 2)
    assert not (tmp_path / "checkpoint.pt").exists() and len(t.history) == 0


def test_trainer_vib_sigma_zero():
    # softplus(rho - 200) is 0 in float32: the KL was inf and the weights NaN after one step
    torch.manual_seed(0)
    t = ib.Trainer(ib.VIB(MLP_CFG, std_bias=-200.0), batch_size=3, quiet=True)
    with pytest.raises(ValueError, match=r"sigma must be finite and > 0, found 0\.0"):
        t.fit((X, Y), None, 1)
    t._step_check = False  # the KL is computed on the CPU, so gaussian_kl checks it anyway
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        t.fit((X, Y), None, 1)


def test_trainer_labels_beyond_the_logits():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))  # no n_classes
    with pytest.raises(ValueError, match=r"y must be < the model's number of logits \(2,\), got 2"):
        ib.Trainer(net, quiet=True).fit((X, Y), None, 1)  # IndexError (GPU: device assert) before


def test_estimate_mi_nan_model():
    with pytest.raises(ValueError, match="model's output on x is not finite"):
        ib.estimate_mi(_NaNAfter(0), X, Y)  # iyt = nan before
    vib = ib.VIB(MLP_CFG, std_bias=-200.0)
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        ib.estimate_mi(vib, X, Y)  # ixt = inf before


# ------------------------------------------------------------ estimators and bounds (fuzz findings)
HUGE = 10**400  # an int no float holds


@pytest.mark.parametrize(
    "call",
    [
        lambda b: estimators.entropy(np.array([0, 1, 1]), base=b),
        lambda b: estimators.entropy_from_counts(np.array([2, 1]), base=b),
        lambda b: estimators.mutual_information(np.array([0, 1]), np.array([1, 0]), base=b),
        lambda b: estimators.Information(0.5, base=b),
        lambda b: bounds.fano_lower_bound(1.0, 4, base=b),
        lambda b: bounds.gaussian_bayes_classifier(np.zeros(2), np.ones(2), np.eye(2), base=b),
    ],
)
@pytest.mark.parametrize("base", [HUGE, -HUGE], ids=["huge", "-huge"])
def test_base_beyond_the_float_range(call, base):
    with pytest.raises(ValueError, match="base must be a positive number"):  # OverflowError before
        call(base)


def test_nsb_alphabet_size_beyond_float64():
    x = np.array([0, 1, 1, 2, 3, 3, 3])
    top = estimators.entropy(x, method="nsb", alphabet_size=10**290, base="e")
    assert top == pytest.approx(290 * np.log(10), rel=1e-12)  # the unseen symbols dominate
    for k in (10**291, 10**300, HUGE):  # IndexError (and OverflowError for HUGE) before
        with pytest.raises(ValueError, match=r"alphabet_size must be <= 10\*\*290"):
            estimators.entropy(x, method="nsb", alphabet_size=k)
    with pytest.raises(ValueError, match=r"alphabet_size must be <= 10\*\*290"):
        estimators.entropy_from_counts(np.array([3, 2]), method="nsb", alphabet_size=10**300)


@pytest.mark.parametrize(
    "call",
    [
        lambda: bounds.psi(np.array([1e308, 0.1])),  # "overflow encountered in multiply"
        lambda: bounds.transfer_delta(np.float32(0.1), 0.1, 10, np.float32(1.0), 0.1),
        lambda: lipschitz.gaussian_encoder_bound(np.float32(1.0), 1.0, np.float32(0.5), 2),
    ],
)
def test_no_overflow_warnings(call):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from a correct result before
        assert np.all(np.isfinite(call()))


def test_gaussian_mi_checks_are_scale_free():
    rho = np.array([[2.0, 1.0], [1.0, 2.0]])
    ref = -0.5 * np.log(1 - 0.25)
    for scale in (1e-300, 1e-20, 1.0, 1e150, 1e300):
        assert estimators.gaussian_mi(rho * scale, [0], [1], base="e") == pytest.approx(ref)
    with pytest.raises(ValueError, match="positive definite"):  # 26 bits before
        estimators.gaussian_mi(np.full((2, 2), 1e308), [0], [1])
    with pytest.raises(ValueError, match="symmetric"):  # within the absolute tolerance before
        estimators.gaussian_mi(np.array([[1e-20, 5e-21], [0.0, 1e-20]]), [0], [1])
    with pytest.raises(ValueError, match="positive definite"):
        estimators.gaussian_mi(np.diag([1.0, 0.0, 1.0]), [0], [1, 2])
    assert estimators.gaussian_mi(np.diag([1.0, 0.0, 1.0]), [0], [2]) == 0.0  # [1] unused


def _feature_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))


def test_feature_entropy_numpy_float64_data():
    net = _feature_net()  # float32: "mat1 and mat2 must have the same dtype" before
    ref = estimators.feature_entropy(net, X, net[1])
    assert estimators.feature_entropy(net, X.double().numpy(), net[1]) == ref
    assert estimators.feature_entropy(net, [X[:4].double(), X[4:].numpy()], net[1]) == ref


@pytest.mark.parametrize(
    ("model", "data", "layer", "exc", "match"),
    [
        (None, X, "1", TypeError, "model must be a torch.nn.Module"),  # AttributeError before
        ("net", X, "1", TypeError, "model must be a torch.nn.Module"),  # AttributeError before
        (
            _feature_net(),
            X,
            "nope",
            ValueError,
            "layer 'nope' names no submodule",
        ),  # AttributeError
        (_feature_net(), X, torch.nn.Linear(4, 3), ValueError, "layer never ran"),  # "no inputs"
        (_feature_net(), torch.tensor(1.0), "1", ValueError, "data must have a batch axis"),
        (_feature_net(), [1.0, 2.0], "1", ValueError, "batches with a batch axis first, got 0-d"),
        (_feature_net(), X.to("meta"), "1", ValueError, "data holds a tensor on the meta device"),
        (_feature_net(), [object()], "1", TypeError, "data must yield arrays or tensors"),
    ],
)
def test_feature_entropy_arguments(model, data, layer, exc, match):
    with pytest.raises(exc, match=match):
        estimators.feature_entropy(model, data, layer)


# ------------------------------------------------------------------------- water level overflow
@pytest.mark.cuda
@pytest.mark.parametrize(("dtype", "big"), [("float64", 1.7e308), ("float32", 3e38)])
def test_waterfill_cuda_level_overflow(dtype, big):
    from infotheory import channels

    # finite inputs whose water level (1.5 big) overflows the dtype: level = allocation = capacity
    # = inf on the GPU before (the CPU path raised); the GPU's one status sync now covers the level
    # too. (At big = 1e308 the level is finite and both paths now solve it in units of 2^shift.)
    noise = np.array([[1.0, 2.0], [big, big]], dtype=dtype)
    power = np.array([1.0, big], dtype=dtype)
    match = rf"noise and power overflow {dtype} in the water level \(problem 1 of the batch\)"
    with pytest.raises(ValueError, match=match):
        channels.waterfill(noise, power)  # the CPU path, unchanged
    with pytest.raises(ValueError, match=match):
        channels.waterfill(torch.from_numpy(noise).cuda(), torch.from_numpy(power).cuda())
    noise[0, 0] = np.nan  # a bad input's status is reported first (its level is never written)
    with pytest.raises(ValueError, match=r"noise must be finite.*problem 0"):
        channels.waterfill(torch.from_numpy(noise).cuda(), torch.from_numpy(power).cuda())
    ok = channels.waterfill(torch.from_numpy(noise[1:] / big).cuda(), 1.0)
    assert bool(torch.isfinite(ok.level).all())


# ------------------------------------------------------------------ evaluation of a trained model
def _two_logits():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))  # no n_classes


@pytest.mark.parametrize(
    ("call", "match"),
    [
        # labels beyond a generic model's logits: IndexError (GPU: device-side assert) before
        (
            lambda net: ib.estimate_mi(net, X, Y),
            r"y must be < the model's number of logits 2, got 2",
        ),
        (
            lambda net: ib.Trainer(net, quiet=True).evaluate(X, Y),
            r"y must be < the model's number of logits 2, got 2",
        ),
        (
            lambda net: ib.Trainer(net, quiet=True).fit((X, Y % 2), (X, Y), 1),
            r"y must be < the model's number of logits 2, got 2",
        ),
        (
            lambda net: ib.Trainer(net, quiet=True).evaluate(X, (Y % 2).int()),
            "data y must be a 1-d int64 tensor",  # RuntimeError before
        ),
        (lambda net: ib.Trainer(net, quiet=True).evaluate(X[:0], Y[:0]), "same non-zero length"),
        (lambda net: ib.Trainer(net, quiet=True).evaluate(X, Y[:3] % 2), "same non-zero length"),
        (
            lambda net: ib.Trainer(net, quiet=True).evaluate(X * np.nan, Y % 2),
            "data x must be finite",  # a NaN CE before
        ),
        (
            lambda net: ib.Trainer(net, quiet=True).evaluate(X, Y % 2, seed="a"),
            "seed must be an int",
        ),
    ],
)
def test_evaluation_data(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(_two_logits())


def test_evaluate_unchanged():
    t = ib.Trainer(_vib(), quiet=True, seed=3)
    a = t.evaluate(X, Y)
    assert a == t.evaluate(X, Y, seed=np.int64(3)) and 0.0 <= a["acc"] <= 1.0
    h = t.fit((X, Y), (X, Y), 1)
    assert h.records[0]["test_acc"] == t.evaluate(X, Y, seed=3 + 7919)["acc"]


def test_float64_data_into_a_float32_model():
    # "mat1 and mat2 must have the same dtype" before: floating data now takes the model's dtype
    t = ib.Trainer(_vib(), quiet=True, seed=1)
    h = t.fit((X.double(), Y), (X.double(), Y), 1)
    assert np.isfinite(h.records[0]["loss"])
    assert t.evaluate(X.double(), Y) == t.evaluate(X, Y)
    assert ib.estimate_mi(_vib(), X.double(), Y) == ib.estimate_mi(_vib(), X, Y)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        # StopIteration (from next(model.parameters())) before
        (lambda: ib.Trainer(torch.nn.Flatten(), quiet=True), ValueError, "no floating-point param"),
        (lambda: ib.estimate_mi(torch.nn.Flatten(), X, Y), ValueError, "no floating-point param"),
        (  # AttributeError: 'str' object has no attribute 'param_groups' before
            lambda: ib.Trainer(_vib(), optimizer=lambda p: "sgd", quiet=True),
            TypeError,
            "optimizer must return a torch.optim.Optimizer, got str",
        ),
        (  # AttributeError: 'int' object has no attribute 'detach' before
            lambda: ib.estimate_mi(_vib(), X, Y, adversary=lambda m, x, y: 3),
            TypeError,
            "adversary must return an AttackResult",
        ),
    ],
)
def test_trainer_and_estimate_odd_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
