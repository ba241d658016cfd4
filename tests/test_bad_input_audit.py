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
        ({"noise_var": "a"}, TypeError, "noise_var must be real"),
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
        ({"noise_var": float("nan")}, ValueError, "noise_var must be finite"),
        ({"rtol": "a"}, TypeError, "rtol must be a real number"),
        ({"rtol": [1.0, 2.0]}, ValueError, "rtol must be a single number"),
        ({"rtol": 1j}, TypeError, "rtol must be a real number"),
        ({"rtol": -1.0}, ValueError, "rtol must be finite and >= 0"),
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
