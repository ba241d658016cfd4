"""Bad input to the public API: a ValueError / TypeError that names the argument, never a raw
torch / numpy error, a hang, a huge allocation or a silent NaN (the robustness audit's regression
cases; each failed before its fix)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from infotheory import bounds, channels, estimators, lipschitz  # noqa: E402
from infotheory._units import log_base  # noqa: E402

P4 = np.array([0.1, 0.2, 0.3, 0.4])
P_UX = np.full((2, 2), 0.25)
HAMMING = 1.0 - np.eye(2)


def _meta(x):
    return torch.as_tensor(x).to("meta")


def _conj(x):  # a real-valued tensor behind a lazy conjugation: complex, so refused as such
    return torch.as_tensor(np.asarray(x, dtype=np.float64)).to(torch.complex128).conj()


def _neg(x):  # a lazy negation of -x, i.e. x itself
    return torch.as_tensor(-np.asarray(x, dtype=np.float64))._neg_view()


# (call taking the array argument, argument name, a valid value of it)
ARRAY_ARGS = [
    (lambda v: channels.reverse_waterfill(np.ones((1, 3)), v), "D", np.array([1.0])),
    (lambda v: channels.waterfill(np.ones((1, 3)), v), "power", np.array([1.0])),
    (lambda v: channels.gaussian_scalar_attack(v, 0.5, 0.3), "a2", np.array([1.0])),
    (lambda v: channels.gaussian_vector_attack(v, np.ones(2), 1.0), "a2", np.ones(2)),
    (lambda v: channels.subset_attack(v, 1, noise_var=0.1), "variances", np.ones(3)),
    (lambda v: channels.discrete_attack(v, HAMMING, 0.1), "p_ux", P_UX),
    (lambda v: channels.zero_information_budget(P_UX, v), "distortion", HAMMING),
    (lambda v: channels.binary_attack(P4, v), "eps", np.array([0.1])),
    (lambda v: channels.binary_attack_grid(v, 0.1, points=10), "p", P4),
    (lambda v: estimators.ksg_mi(v, np.arange(10.0) ** 2), "x", np.arange(10.0)),
    (lambda v: estimators.gaussian_mi(v, [0], [1]), "cov", np.array([[1.0, 0.5], [0.5, 1.0]])),
    (lambda v: estimators.discretize(v), "features", np.arange(6.0)),
    (lambda v: lipschitz.certified_radius(v, 1.0), "logits", np.array([[1.0, 2.0], [3.0, 1.0]])),
    (lambda v: lipschitz.conv_operator_norm(v, (1, 6, 6)), "weight", np.ones((2, 1, 3, 3))),
    (lambda v: bounds.psi(v), "x", np.array([0.1])),
]
INT_ARGS = [
    (lambda v: estimators.count_symbols(v), "codes", np.array([0, 1, 1, 2])),
    (lambda v: estimators.fingerprint(v), "counts", np.array([1, 2, 2, 3])),
    (lambda v: estimators.entropy(v), "samples", np.array([0, 1, 1, 2])),
    (lambda v: estimators.entropy_from_counts(v), "counts", np.array([1, 2, 2, 3])),
    (lambda v: estimators.mutual_information(v, [1, 1, 0, 0]), "x", np.array([0, 1, 1, 2])),
]


@pytest.mark.parametrize(("call", "name", "good"), ARRAY_ARGS + INT_ARGS)
def test_meta_tensors_are_refused_by_name(call, name, good):
    with pytest.raises(ValueError, match=f"{name} is a tensor on the meta device"):
        call(_meta(good))


@pytest.mark.parametrize(("call", "name", "good"), ARRAY_ARGS)
def test_lazy_conj_and_neg_tensors_are_resolved(call, name, good):
    # a lazily negated tensor holds valid values: the same result as the plain array (it raised
    # torch's "Can't call numpy() on Tensor that has negative bit set")
    assert call(_neg(good)) is not None
    # a lazily conjugated tensor is complex: refused as complex, naming the argument
    with pytest.raises(TypeError, match=name):
        call(_conj(good))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda v: channels.reverse_waterfill(np.ones((2, 3)), v), "D"),
        (lambda v: estimators.fingerprint(v), "counts"),
        (lambda v: estimators.ksg_mi(v, np.arange(2.0)), "x"),
        (lambda v: estimators.gaussian_mi(v, [0], [1]), "cov"),
        (lambda v: estimators.discretize(v), "features"),
        (lambda v: bounds.psi(v), "x"),
    ],
)
def test_ragged_lists_name_the_argument(call, name):
    with pytest.raises(ValueError, match=f"{name} must be a rectangular array"):
        call([[1.0, 2.0], [3.0]])


def test_requires_grad_tensors_are_read_without_grad():
    cov = torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=torch.float64, requires_grad=True)
    assert estimators.gaussian_mi(cov, [0], [1]) == pytest.approx(0.20751874963942185)
    assert bounds.psi(torch.tensor([0.1], requires_grad=True))[0] == pytest.approx(0.230258509)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"tol": float("nan")}, ValueError, "tol must be finite and > 0, got nan"),
        ({"tol": -1.0}, ValueError, "tol must be finite and > 0"),
        ({"tol": 0.0}, ValueError, "tol must be finite and > 0"),
        ({"tol": "x"}, TypeError, "tol must be a real number"),
        ({"tol": None}, TypeError, "tol must be a real number"),
        ({"max_iter": 0}, ValueError, "max_iter must be >= 1"),
        ({"max_iter": -5}, ValueError, "max_iter must be >= 1"),
        ({"max_iter": float("inf")}, TypeError, "max_iter must be an int"),
        ({"max_iter": 10**30}, ValueError, "max_iter must be <="),
        ({"max_iter": 2.0}, TypeError, "max_iter must be an int"),
        ({"D": [0.1, 0.2]}, ValueError, "D must be a single number, got shape"),
    ],
)
def test_discrete_attack_solver_options(kwargs, exc, match):
    kw = {"D": 0.1, **kwargs}
    D = kw.pop("D")
    with pytest.raises(exc, match=match):
        channels.discrete_attack(P_UX, HAMMING, D, **kw)


def test_discrete_attack_valid_options_unchanged():
    p = np.array([[0.4, 0.1], [0.1, 0.4]])
    a = channels.discrete_attack(p, HAMMING, 0.05)
    b = channels.discrete_attack(
        p, HAMMING, np.float64(0.05), tol=np.float64(1e-8), max_iter=np.int64(200_000)
    )
    assert a.solver == b.solver == "fast" and a.mi > 0.1
    assert a.mi == pytest.approx(b.mi, abs=1e-7)


@pytest.mark.parametrize("bad", [None, "x", 1.0])
def test_check_kkt_needs_a_binary_result(bad):
    with pytest.raises(TypeError, match="result must be a BinaryAttackResult"):
        channels.check_kkt(bad)


def test_subset_attack_refuses_an_exhaustive_search_it_cannot_hold():
    # C(60, 30) ~ 1.2e17 subsets: this used to run (and allocate) for ever
    with pytest.raises(ValueError, match=r"exhaustive.*greedy"):
        channels.subset_attack(np.ones(60), 30, noise_var=0.1, D=1.0, method="exhaustive")


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"noise_var": [0.1, 0.2]}, ValueError, "noise_var must be a single number"),
        ({"D": np.ones(2)}, ValueError, "D must be a single number"),
        ({"method": np.array(["auto", "greedy"])}, ValueError, "method must be"),
    ],
)
def test_subset_attack_scalars(kwargs, exc, match):
    kw = {"noise_var": 0.1, "D": 1.0, **kwargs}
    with pytest.raises(exc, match=match):
        channels.subset_attack(np.ones(3), 2, **kw)


@pytest.mark.parametrize(
    ("points", "exc", "match"),
    [
        (10**7, ValueError, "points must be <="),  # 728 TiB of work arrays before
        (10.5, TypeError, "points must be an int"),
        (float("nan"), TypeError, "points must be an int"),
        ("a", TypeError, "points must be an int"),
        (np.ones(2), TypeError, "points must be an int"),
    ],
)
def test_binary_attack_grid_points(points, exc, match):
    with pytest.raises(exc, match=match):
        channels.binary_attack_grid(P4, 0.1, points=points)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"noise_var": "a"}, TypeError, "noise_var must be a real number"),
        ({"noise_var": None}, TypeError, "noise_var must be a real number"),
        ({"noise_var": [1.0, 2.0]}, ValueError, "noise_var must be a single number"),
        ({"rtol": "a"}, TypeError, "rtol must be a real number"),
        ({"rtol": [1.0, 2.0]}, ValueError, "rtol must be a single number"),
        ({"rtol": 1j}, TypeError, "rtol must be a real number"),
    ],
)
def test_projection_attack_scalars(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        channels.projection_attack(np.eye(3)[:2], 0.5, **kwargs)


def test_projection_sample_checks_its_samples():
    res = channels.projection_attack(np.eye(2), 0.5)
    with pytest.raises(ValueError, match="U must be finite"):  # returned NaN samples before
        res.sample(np.full((3, 2), np.nan))
    with pytest.raises(TypeError, match="seed must be"):
        res.sample(np.ones((3, 2)), seed="a")
    with pytest.raises(ValueError, match="seed must be"):
        res.sample(np.ones((3, 2)), seed=-1)
    noisy = channels.projection_attack(np.eye(2), 0.5, noise_var=0.1)
    with pytest.raises(ValueError, match="W must be finite"):
        noisy.sample(np.ones((3, 2)), W=np.full((3, 2), np.inf))


@pytest.mark.parametrize("iters", [0, -1, 2.5, "a", None])
def test_gaussian_vector_attack_iters(iters):
    with pytest.raises((TypeError, ValueError), match="iters must be"):
        channels.gaussian_vector_attack(np.ones(2), np.ones(2), 1.0, iters=iters)


def test_numpy_integer_bases_are_numbers():
    assert log_base(np.int64(2)) == log_base(2)
    assert channels.waterfill(np.ones((1, 2)), 1.0, base=np.int64(2)).unit == "bits"


# ---- estimators.discretize


@pytest.mark.parametrize(
    ("x", "codes"),
    [
        # the range's width is subnormal: bins / width overflowed and NaN codes became an
        # IndexError (index -2**63)
        (np.array([5e-324, 1e-310, 5e-311]), [0, 29, 15]),
        # the width overflows: (x - lo) * (bins / inf) was inf * 0 = NaN
        (np.array([-1e308, 1e308, 0.0]), [0, 29, 15]),
    ],
)
def test_discretize_extreme_ranges(x, codes):
    assert estimators.discretize(x).tolist() == codes


def test_discretize_matches_histogram_bins():
    rng = np.random.default_rng(3)
    x = rng.normal(size=2000) * 1e3
    for bins in (1, 7, 30, 1000):
        codes = estimators.discretize(x, bins=bins)
        ref = np.digitize(x, np.histogram_bin_edges(x, bins=bins)[1:-1])
        assert np.array_equal(codes, ref)


def test_discretize_many_bins_allocates_nothing_per_bin():
    # 2**31 bins used to build 2**31 + 1 edges (16 GiB): a hang
    codes = estimators.discretize(np.linspace(0.0, 1.0, 5), bins=2**31)
    assert codes.dtype == np.int32 and codes.tolist() == [
        0,
        536870912,
        1073741824,
        1610612736,
        2147483647,
    ]
    with pytest.raises(ValueError, match=r"bins must be in 1\.\.2147483648"):
        estimators.discretize(np.arange(3.0), bins=2**31 + 1)  # the int32 codes would wrap


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"range": 5}, TypeError, "range must be a pair"),
        ({"range": "ab"}, TypeError, "range must be a pair"),
        ({"range": (None, 1)}, TypeError, r"range\[0\] must be a real number"),
        ({"range": (0, float("nan"))}, ValueError, r"range\[1\] must be finite"),
        ({"range": (0, float("inf"))}, ValueError, r"range\[1\] must be finite"),
        ({"strategy": np.array(["a", "b"])}, ValueError, "strategy must be one of"),
    ],
)
def test_discretize_options(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        estimators.discretize(np.arange(3.0), **kwargs)


# ---- bounds


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"L": float("inf"), "eps": 0.0}, "L must be finite"),  # psi(inf * 0): "x must not be NaN"
        ({"mi_benign": float("inf"), "constants": (0, 0, 1, 1)}, "mi_benign must be finite"),
        ({"n_benign": float("inf"), "mi_benign": 0.0}, "n_benign must be finite"),  # returned NaN
    ],
)
def test_robustness_bound_needs_finite_arguments(kwargs, match):
    kw = {
        "L": 1.0,
        "eps": 0.1,
        "n_benign": 10,
        "n_adv": 10,
        "mi_benign": 1.0,
        "mi_adv": 1.0,
        "constants": (1, 1, 1, 1),
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        bounds.robustness_bound(**kw)


@pytest.mark.parametrize("constants", [None, "abcd", 4])
def test_robustness_bound_constants_type(constants):
    with pytest.raises(TypeError, match="constants must be"):
        bounds.robustness_bound(
            L=1.0, eps=0.1, n_benign=1, n_adv=1, mi_benign=1.0, mi_adv=1.0, constants=constants
        )


@pytest.mark.parametrize(
    "args", [(0.1, 0.02, 100, float("inf"), 0.0), (0.1, 0.02, float("inf"), 0.0, 0.3)]
)
def test_transfer_delta_needs_finite_arguments(args):  # inf * 0 returned NaN
    with pytest.raises(ValueError, match="must be finite"):
        bounds.transfer_delta(*args)


@pytest.mark.parametrize(
    ("H", "exc"), [("a", TypeError), (None, TypeError), (np.ones(2), ValueError), (1j, TypeError)]
)
def test_fano_names_H(H, exc):
    with pytest.raises(exc, match="H must be"):
        bounds.fano_lower_bound(H, 10)


def test_gaussian_bayes_classifier_arguments():
    S = [[1.0, 0.5], [0.5, 2.0]]
    with pytest.raises(TypeError, match="mu0 must be real numbers"):
        bounds.gaussian_bayes_classifier("ab", [1, 2], S)
    with pytest.raises(TypeError, match="Sigma must be real numbers"):
        bounds.gaussian_bayes_classifier([0, 0], [1, 2], [[1, "a"], [0, 1]])
    with pytest.raises(TypeError, match="prior must be a real number"):
        bounds.gaussian_bayes_classifier([0, 0], [1, 2], S, "a")
    with pytest.raises(ValueError, match="overflow"):  # returned theta = [nan, inf], c = nan
        bounds.gaussian_bayes_classifier([0, 0], [1e200, 2e200], np.eye(2) * 1e-200)


# ---- second pass: attacks, ib, lipschitz, data, and overflow of finite inputs


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))


X = torch.rand(5, 4)
Y = torch.tensor([0, 1, 2, 0, 1])


@pytest.mark.parametrize(
    ("make", "call", "name"),
    [
        (lambda A, M: A.PGD(M, steps=2), lambda atk: atk(X.to("meta"), Y), "x"),
        (lambda A, M: A.PGD(M, steps=2), lambda atk: atk(X, Y.to("meta")), "y"),
        (lambda A, M: A.FGSM(M), lambda atk: atk(X, Y, Y.to("meta")), "target"),
        (lambda A, M: A.FGSM(M, eps=torch.full((5,), 0.1).to("meta")), lambda atk: atk, "eps"),
    ],
)
def test_attacks_refuse_meta_tensors(make, call, name):
    from infotheory import attacks

    # "Tensor.item() cannot be called on meta tensors" (RuntimeError) before
    with pytest.raises(ValueError, match=f"{name} is a tensor on the meta device"):
        call(make(attacks, _mlp()))


@pytest.mark.parametrize("cls", ["PGD", "CW"])
def test_attack_box_must_fit_the_dtype(cls):
    from infotheory import attacks

    # PGD: torch's "value cannot be converted to type float without overflow"; CW: NaN x_adv
    atk = getattr(attacks, cls)(_mlp(), clip=(-1e308, 1e308), steps=2)
    with pytest.raises(ValueError, match=r"clip=.* is wider than x's dtype torch\.float32"):
        atk(X, Y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"steps": 10**30}, "steps must be <="), ({"seed": 2**70}, "seed must be <=")],
)
def test_attack_counts_fit_64_bits(kwargs, match):
    from infotheory import attacks

    with pytest.raises(ValueError, match=match):  # OverflowError / unnamed ValueError before
        attacks.PGD(_mlp(), **kwargs)(X, Y)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_attack_step_lazy_negation_is_named(which):
    from infotheory import attacks

    args = [X.clone(), torch.randn(5, 4), X.clone()]
    args[which] = args[which]._neg_view()
    name = ("x", "grad", "x0")[which]
    # torch's "Can't call numpy() on Tensor that has negative bit set" before
    with pytest.raises(ValueError, match=f"{name} has a lazy conj/neg bit"):
        attacks.attack_step(*args, 0.1, 0.01)


def test_normalize_needs_values():
    from infotheory import attacks

    with pytest.raises(ValueError, match="mean must hold at least one value"):
        attacks.Normalize(_mlp(), [], 0.5)(X)  # "shape '[1, 1]' is invalid" (RuntimeError) before


def test_label_entropy_inputs():
    from infotheory.ib import label_entropy

    ref = label_entropy(torch.tensor([0, 1, 1, 2]))
    assert label_entropy(np.array([0, 1, 1, 2])) == ref  # AttributeError before
    assert label_entropy([0, 1, 1, 2]) == ref
    # a bincount of 10**12 + 1 counters (8 TB) before
    assert label_entropy(torch.tensor([10**12, 0])) == pytest.approx(np.log(2))
    for bad, exc, match in [
        (torch.tensor([-1, 0]), ValueError, "y must be >= 0"),
        (torch.tensor([0, 1]).to("meta"), ValueError, "y is a tensor on the meta device"),
        (torch.tensor([0.5]), TypeError, "y must hold integer labels"),
        (torch.tensor([], dtype=torch.long), ValueError, "y must hold at least one label"),
    ]:
        with pytest.raises(exc, match=match):
            label_entropy(bad)
    with pytest.raises(TypeError, match="n_classes must be an int"):
        label_entropy(torch.tensor([0, 1]), "a")
    with pytest.raises(ValueError, match="y must be < n_classes = 2"):
        label_entropy(torch.tensor([0, 2]), 2)


def test_vib_losses_arguments():
    from infotheory.ib import gaussian_kl, vib_loss

    with pytest.raises(TypeError, match="mu and sigma must be torch tensors"):
        gaussian_kl(np.zeros((2, 3)), np.ones((2, 3)))  # AttributeError before
    with pytest.raises(ValueError, match="beta must be finite"):  # a NaN loss before
        vib_loss(torch.randn(5, 3), Y, torch.zeros(5, 2), torch.ones(5, 2), float("nan"))


MLP_CFG = {"arch": "mlp", "in_features": 4, "n_classes": 3, "K": 2, "widths": [8]}


@pytest.mark.parametrize(
    ("config", "exc", "match"),
    [
        ({}, ValueError, r"config\['arch'\] must be"),  # KeyError 'K' before
        ({"arch": "mlp", "n_classes": 3}, ValueError, "misses"),
        ({**MLP_CFG, "in_features": -4}, ValueError, "in_features must be >= 1"),
        (
            {**MLP_CFG, "arch": "cnn_mlp", "in_shape": (1, 8, 8), "channels": [2]}
            | {"kernel_size": -3},
            ValueError,
            "kernel_size must be >= 1",
        ),
        ("abc", TypeError, "config must be a dict"),
    ],
)
@pytest.mark.parametrize("model", ["VIB", "CEClassifier"])
def test_model_configs_are_checked(model, config, exc, match):
    from infotheory import ib

    with pytest.raises(exc, match=match):
        getattr(ib, model)(config)


@pytest.mark.parametrize("std_bias", [float("nan"), float("inf"), "a"])
def test_vib_std_bias(std_bias):
    from infotheory import ib

    with pytest.raises((TypeError, ValueError), match="std_bias must be"):  # NaN logits before
        ib.VIB(MLP_CFG, std_bias=std_bias)


def test_ema_arguments():
    from infotheory import ib

    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        ib.EMA(None, 0.9)
    with pytest.raises(TypeError, match="ema must be a number"):
        ib.EMA(_mlp(), "a")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": float("inf")}, "beta must be in"),
        ({"lr": float("inf")}, "lr must be in"),
        ({"seed": 2**70}, "seed must be <="),
    ],
)
def test_trainer_scalars(kwargs, match):
    from infotheory import ib

    with pytest.raises(ValueError, match=match):
        ib.Trainer(ib.VIB(MLP_CFG), quiet=True, **kwargs)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ((torch.full((5, 4), float("nan")), Y), "train_data x must be finite"),  # NaN history
        ((X, Y + 5), "train_data y must be < n_classes = 3"),  # IndexError before
        ((X, Y - 3), "train_data y must be >= 0"),
    ],
)
def test_trainer_fit_data(data, match):
    from infotheory import ib

    trainer = ib.Trainer(ib.VIB(MLP_CFG), quiet=True, batch_size=2)
    with pytest.raises(ValueError, match=match):
        trainer.fit(data, epochs=1)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "exc", "match"),
    [
        (X.numpy(), Y, {}, TypeError, "x must be a torch.Tensor"),  # AttributeError before
        (X, Y + 5, {}, ValueError, "y must be < n_classes = 3"),  # RuntimeError before
        (torch.full((5, 4), float("nan")), Y, {}, ValueError, "x must be finite"),  # NaN before
        (X.to("meta"), Y, {}, ValueError, "x is a tensor on the meta device"),
        (X, Y.float(), {}, TypeError, "y must hold integer class indices"),
        (X, Y, {"h_y": float("nan")}, ValueError, "h_y must be finite"),  # NaN before
        (X, Y, {"seed": "a"}, TypeError, "seed must be an int"),  # RuntimeError before
    ],
)
def test_estimate_mi_arguments(x, y, kwargs, exc, match):
    from infotheory import ib

    with pytest.raises(exc, match=match):
        ib.estimate_mi(ib.VIB(MLP_CFG), x, y, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"max_iter": 0}, ValueError, "max_iter must be >= 1"),  # a 2.06 "estimate" before
        ({"max_iter": float("nan")}, TypeError, "max_iter must be an int"),
        ({"gram_steps": -1}, ValueError, "gram_steps must be >= 0"),
        ({"gram_steps": "a"}, TypeError, "gram_steps must be an int"),
        ({"seed": float("inf")}, TypeError, "seed must be an int"),  # OverflowError before
        ({"seed": 2**70}, ValueError, "seed must be < 2"),
        ({"stride": 1.5}, TypeError, "stride must be an int or a pair"),
        ({"padding": 10**9}, ValueError, "more than"),  # torch's storage-size RuntimeError
        ({"input_shape": None}, TypeError, "input_shape must be a tuple of ints"),
        ({"input_shape": "abc"}, TypeError, "input_shape must be a tuple of ints"),
        ({"input_shape": (1, 8.5, 8)}, TypeError, "input_shape entries must be an int"),
        ({"dilation": 100}, ValueError, r"dilation \(100, 100\)"),
    ],
)
def test_conv_operator_norm_options(kwargs, exc, match):
    kw = {"input_shape": (1, 8, 8), **kwargs}
    with pytest.raises(exc, match=match):
        lipschitz.conv_operator_norm(np.ones((2, 1, 3, 3)), **kw)


@pytest.mark.parametrize(
    "args",
    [
        (1.0, 1.0, 1e-300, 10**6),  # OverflowError: math range error before
        (1.0, 1.0, 1e-300, 2),
        (1e308, 1e308, 1e-10, 2),  # returned inf
    ],
)
@pytest.mark.parametrize("form", ["corrected", "paper"])
def test_gaussian_encoder_bound_overflow(args, form):
    if form == "paper" and args[3] == 10**6:
        # sqrt(2 pi)^(K-1) wins: the bound underflows to 0 (OverflowError before)
        assert lipschitz.gaussian_encoder_bound(*args, form=form) == 0.0
        return
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        lipschitz.gaussian_encoder_bound(*args, form=form)


def test_gaussian_encoder_bound_values_unchanged():
    # math.md §B4.2 form, computed directly
    K, s, lm, ls = 3, 0.5, 2.0, 1.5
    ref = K / ((2 * np.pi) ** (K / 2) * s ** (K + 1)) * (ls + np.exp(-0.5) * lm)
    assert lipschitz.gaussian_encoder_bound(lm, ls, s, K) == pytest.approx(ref, rel=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"seed": float("inf")}, ValueError, "seed must be an int"),  # OverflowError before
        ({"search": "a"}, ValueError, "search must be an int"),  # str + int TypeError before
        ({"x": X.to("meta")}, ValueError, "x is a tensor on the meta device"),
    ],
)
def test_lipschitz_lower_bound_arguments(kwargs, exc, match):
    kw = {"x": X, **kwargs}
    with pytest.raises(exc, match=match):
        lipschitz.lipschitz_lower_bound(_mlp(), **kw)


def test_lipschitz_lower_bound_non_finite_model():
    model = _mlp()
    model[1].weight.data.fill_(float("nan"))
    with pytest.raises(ValueError, match="not finite"):  # LowerBound(value=nan) before
        lipschitz.lipschitz_lower_bound(model, X)


def test_certified_radius_meta_labels():
    with pytest.raises(ValueError, match="y is a tensor on the meta device"):
        lipschitz.certified_radius(np.array([[1.0, 2.0]]), 1.0, torch.tensor([0]).to("meta"))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        # S = a2 + s2 overflows: NaN allocations before
        (
            lambda: channels.gaussian_vector_attack(
                np.array([1e308, 1.0]), np.array([1e308, 1]), 1
            ),
            "a2 \\+ s2 overflows",
        ),
        # the water level itself (noise + power = 3.4e308) is beyond float64: level = allocation =
        # capacity = inf before (a sum that overflows while the level does not is solved in units
        # of a power of two: tests/test_waterfill_magnitude.py)
        (lambda: channels.waterfill(np.array([[1.7e308]]), 1.7e308), "overflow float64"),
    ],
)
def test_finite_inputs_that_overflow(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_estimator_odds_and_ends():
    with pytest.raises(TypeError, match="value must be a real number"):
        estimators.Information("x")
    with pytest.raises(TypeError, match="method must be a string"):  # ambiguous truth value
        estimators.mutual_information([0, 1], [0, 1], method=np.array(["a", "b"]))
    with pytest.raises(TypeError, match="range must be a pair"):  # "len() of a 0-d tensor"
        estimators.discretize(np.arange(3.0), range=torch.tensor(1.0))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"test_fraction": 1 - 1e-9}, ValueError, "leaves the training set empty"),
        ({"test_fraction": 1e-9}, ValueError, "leaves the test set empty"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),  # numpy's unnamed message before
        ({"test_fraction": "a"}, TypeError, "test_fraction must be a number"),
    ],
)
def test_data_load_split(kwargs, exc, match):
    from infotheory import data

    with pytest.raises(exc, match=match):
        data.load("digits", **kwargs)


def test_discrete_kernel_refuses_an_empty_output_alphabet():
    from infotheory import _core

    # a segfault before (the Python layer never passes this, the binding now refuses it itself)
    with pytest.raises(ValueError, match="p_ux and distortion must be non-empty"):
        _core.discrete_attack(P_UX, np.zeros((2, 0)), 0.1, 1e-8, 100, np.empty((2, 2, 0)))


@pytest.fixture(scope="module")
def untrained_run(tmp_path_factory):
    from infotheory import ib

    pytest.importorskip("sklearn")  # the digits data
    out = tmp_path_factory.mktemp("run")
    ib.Trainer(ib.VIB.mlp(64, 10, K=2, widths=[8]), quiet=True, out=out).save()
    return out


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--eps", "nan"], "eps must be finite"),
        (["--batch-size", "0"], "batch_size must be >= 1"),
        (["--steps", "-1"], "steps must be >= 1"),
    ],
)
def test_cli_attack_reports_bad_options(untrained_run, capsys, args, match):
    from infotheory.cli import main

    # a ValueError traceback (exit status 1) before
    assert main(["attack", "--checkpoint", str(untrained_run), "--data", "digits", *args]) == 2
    assert match in capsys.readouterr().err


def test_cli_train_reports_bad_out_and_seed(tmp_path, capsys):
    from infotheory.cli import main

    pytest.importorskip("sklearn")
    tiny = ["--data", "digits", "--K", "2", "--widths", "8", "--epochs", "0", "--quiet"]
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert main(["train", *tiny, "--out", str(a_file)]) == 2  # FileExistsError traceback before
    assert "error" in capsys.readouterr().err
    out = str(tmp_path / "r")
    assert main(["train", *tiny, "--seed", str(2**70), "--out", out]) == 2  # torch's overflow
    assert "--seed must be in" in capsys.readouterr().err


@pytest.mark.parametrize("fast", [True, False])
def test_attack_step_bumps_the_autograd_version(fast):
    from infotheory import attacks

    # the kernel wrote through a numpy view without telling autograd: backward then silently
    # differentiated the new values of x (2 x_new instead of 2 x_old)
    x = torch.rand(3, 4, requires_grad=True)
    y = (x * x).sum()
    eps = 0.1 if fast else np.full(3, 0.1)  # an array budget takes the general path
    attacks.attack_step(x, torch.randn(3, 4), x.detach().clone(), eps, 0.01)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        # torch's "new(): invalid data type 'str'" / "must be real number, not NoneType" before
        (lambda at, it: at.Normalize(_mlp(), "a", 0.2), TypeError, "mean must be a number"),
        (lambda at, it: at.Normalize(_mlp(), 0.5, None), TypeError, "std must be a number"),
        # "'NoneType' object is not callable" at the first forward before
        (lambda at, it: at.Normalize(None, 0.5, 0.2), TypeError, "model must be a torch"),
        (
            lambda at, it: it.Trainer(it.VIB(MLP_CFG), optimizer="adam"),
            TypeError,
            "optimizer must be",
        ),
        (lambda at, it: it.Trainer(it.VIB(MLP_CFG), out=5), TypeError, "out must be a folder path"),
        (lambda at, it: it.load_checkpoint(None), TypeError, "path must be a str or a path"),
        (lambda at, it: it.save_checkpoint("unused.pt", "abc"), TypeError, "state must be a dict"),
    ],
)
def test_wrapper_and_trainer_argument_types(call, exc, match):
    from infotheory import attacks, ib

    with pytest.raises(exc, match=match):
        call(attacks, ib)


def test_normalize_keeps_shaped_statistics():
    from infotheory import attacks

    m = _mlp()
    a = attacks.Normalize(m, torch.tensor([0.5]).view(1, 1, 1), 0.2)(X)
    b = attacks.Normalize(m, 0.5, 0.2)(X)
    assert torch.equal(a, b)


def test_quantile_bins_of_infinite_samples():
    x = np.array([-np.inf] * 3 + [np.inf] * 3)
    # the interpolated edges were NaN and every sample landed in bin 0
    assert estimators.discretize(x, strategy="quantile", bins=3).tolist() == [1, 1, 1, 2, 2, 2]


def test_dense_fingerprint_size_is_bounded():
    # std::bad_alloc (or a 16+ GiB zero-filled vector) before
    with pytest.raises(ValueError, match="entropy_from_counts reads the sparse one"):
        estimators.fingerprint([10**12])
    assert estimators.entropy_from_counts([10**12, 5]) > 0


@pytest.mark.parametrize("cls", ["FGSM", "PGD", "DeepFool", "CW"])
def test_attacks_refuse_nan_models(cls):
    from infotheory import attacks

    model = _mlp()
    model[1].bias.data[0] = float("nan")
    kw = {} if cls == "FGSM" else {"steps": 2}
    # finite garbage before (DeepFool: x_adv all 0, CW: all 1, "successes" from argmax of NaN)
    with pytest.raises(ValueError, match="model returned NaN logits"):
        getattr(attacks, cls)(model, **kw)(X, Y)


def test_attacks_need_two_classes():
    from infotheory import attacks

    one = torch.nn.Sequential(torch.nn.Linear(4, 1))
    with pytest.raises(ValueError, match="at least 2 logits"):  # the kernel's message before
        attacks.DeepFool(one)(X, torch.zeros(5, dtype=torch.long))


def test_thread_setting_range():
    import infotheory

    before = infotheory.get_num_threads()
    try:
        # pybind11's "incompatible function arguments" (TypeError) before
        with pytest.raises(ValueError, match="threads must be <= 32768"):
            infotheory.set_num_threads(10**30)
        infotheory.set_num_threads(np.int64(2))  # a numpy integer is an int (TypeError before)
        assert infotheory.get_num_threads() == 2
    finally:
        infotheory.set_num_threads(before)


HUGE = 10**400  # an int no float can hold: float() raised OverflowError in each validator


@pytest.mark.parametrize(
    ("call", "exc", "name"),
    [
        (lambda at, it: at.PGD(_mlp(), eps=HUGE), ValueError, "eps"),
        (lambda at, it: at.CW(_mlp(), c=HUGE), ValueError, "c"),
        (lambda at, it: at.PGD(_mlp(), clip=(0, HUGE)), ValueError, "clip"),
        (
            lambda at, it: at.attack_step(X.clone(), X.clone(), X.clone(), HUGE, 0.1),
            TypeError,
            "eps",
        ),
        (lambda at, it: at.Normalize(_mlp(), 0.5, HUGE), TypeError, "std"),
        (lambda at, it: bounds.transfer_delta(0.1, 0.1, 10, HUGE, 0.1), ValueError, "L"),
        (lambda at, it: lipschitz.gaussian_encoder_bound(HUGE, 1.0, 0.5, 2), ValueError, "L_mu"),
        (lambda at, it: lipschitz.certified_radius(np.ones((2, 2)), HUGE), ValueError, "L"),
        (
            lambda at, it: lipschitz.lipschitz_lower_bound(_mlp(), X, radius=HUGE),
            ValueError,
            "radius",
        ),
        (lambda at, it: it.Trainer(it.VIB(MLP_CFG), beta=HUGE), ValueError, "beta"),
        (lambda at, it: it.VIB(MLP_CFG, std_bias=HUGE), ValueError, "std_bias"),
        (
            lambda at, it: it.vib_loss(torch.randn(2, 3), Y[:2], None, None, HUGE),
            ValueError,
            "beta",
        ),
        (lambda at, it: it.EMA(_mlp(), HUGE), ValueError, "ema"),
        (lambda at, it: estimators.Information(HUGE), TypeError, "value"),
        (lambda at, it: channels.discrete_attack(P_UX, HAMMING, 0.1, tol=HUGE), ValueError, "tol"),
    ],
)
def test_integers_beyond_the_float_range(call, exc, name):
    from infotheory import attacks, ib

    with pytest.raises(exc, match=rf"^{name} must"):
        call(attacks, ib)


@pytest.mark.cuda
def test_binary_attack_cuda_eps_is_named():
    p = torch.tensor([[0.1, 0.2, 0.3, 0.4]] * 3, dtype=torch.float64, device="cuda")
    with pytest.raises(TypeError, match="eps must be real numbers"):  # numpy's unnamed error
        channels.binary_attack(p, "a")
    with pytest.raises(ValueError, match="eps with shape"):  # numpy's broadcast error
        channels.binary_attack(p, np.ones(2))
