"""Mutual information (discrete and KSG), the Gaussian closed form, discretisation and the entropy of
a network layer's features."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infotheory.estimators import (
    discretize,
    entropy,
    feature_entropy,
    gaussian_mi,
    ksg_mi,
    mutual_information,
)

DISCRETE = ["jvhw", "mle", "miller_madow"]


def test_numerics_do_not_import_torch(tmp_path):
    code = (
        "import sys, infotheory.estimators, infotheory.bounds; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    # From a neutral folder: in the source root the unbuilt infotheory/ would shadow the install.
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr


# ---- discrete MI --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", DISCRETE)
def test_mi_of_identical_samples_is_entropy(method):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 30, size=500)
    assert mutual_information(x, x, method=method, base="e") == pytest.approx(
        entropy(x, method=method, base="e"), rel=1e-12
    )
    assert mutual_information(x, 3 * x + 1, method=method, base=2) == pytest.approx(
        entropy(x, method=method, base=2), rel=1e-12
    )


@pytest.mark.parametrize("method", DISCRETE)
def test_mi_of_independent_samples_near_zero(method):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=100_000)
    y = rng.integers(0, 5, size=100_000)
    mi = mutual_information(x, y, method=method, base="e")
    assert 0.0 <= mi < 2e-3


def test_plugin_mi_matches_joint_table():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, size=2000)
    y = (x + rng.integers(0, 2, size=2000)) % 4
    p = np.zeros((3, 4))
    np.add.at(p, (x, y), 1.0)
    p /= p.sum()
    px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    ref = float(np.sum(p[nz] * np.log(p[nz] / (px @ py)[nz])))
    assert mutual_information(x, y, method="mle", base="e") == pytest.approx(ref, rel=1e-12)
    # Rows of 2-D input are symbols.
    xy = np.stack([x, x], axis=1)
    assert mutual_information(xy, y, method="mle", base="e") == pytest.approx(ref, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(DISCRETE))
def test_mi_symmetric_and_relabelling_invariant(seed, method):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    x = rng.integers(0, 6, size=n)
    y = (x * rng.integers(0, 2, size=n) + rng.integers(0, 3, size=n)) % 7
    mi = mutual_information(x, y, method=method, base="e")
    assert mutual_information(y, x, method=method, base="e") == pytest.approx(mi, abs=1e-12)
    perm = rng.permutation(50)
    assert mutual_information(perm[x], perm[y] - 100, method=method, base="e") == pytest.approx(
        mi, abs=1e-12
    )


def test_discrete_mi_bad_input():
    with pytest.raises(ValueError, match="same number"):
        mutual_information(np.arange(3), np.arange(4))
    with pytest.raises(TypeError, match="x"):
        mutual_information(np.array([0.5, 0.2]), np.arange(2))
    with pytest.raises(ValueError, match="method"):
        mutual_information(np.arange(3), np.arange(3), method="knn")


# ---- KSG and the Gaussian closed form -----------------------------------------------------------


def test_gaussian_mi_closed_form():
    for rho in (0.0, 0.3, 0.9, -0.99):
        cov = [[1.0, rho], [rho, 1.0]]
        assert gaussian_mi(cov, [0], [1], base="e") == pytest.approx(
            -0.5 * math.log(1 - rho**2), abs=1e-14
        )
    rng = np.random.default_rng(0)
    A = rng.normal(size=(5, 5))
    cov = A @ A.T + np.eye(5)
    # Chain rule: I(X; Y1 Y2) = I(X; Y1) + I(X; Y2 | Y1) >= I(X; Y1).
    assert (
        gaussian_mi(cov, [0, 1], [2, 3, 4], base="e")
        >= gaussian_mi(cov, [0, 1], [2], base="e") - 1e-12
    )
    assert gaussian_mi(cov, [0, 1], [2, 3, 4], base=2) == pytest.approx(
        gaussian_mi(cov, [0, 1], [2, 3, 4], base="e") / math.log(2)
    )
    with pytest.raises(ValueError, match="disjoint"):
        gaussian_mi(cov, [0, 1], [1])
    with pytest.raises(ValueError, match="symmetric"):
        gaussian_mi([[1, 0.5], [0.1, 1]], [0], [1])


@pytest.mark.parametrize("rho", [0.0, 0.6, 0.9])
def test_ksg_gaussian_1d(rho):
    rng = np.random.default_rng(4)
    n = 4000
    cov = np.array([[1.0, rho], [rho, 1.0]])
    z = rng.multivariate_normal([0, 0], cov, size=n)
    est = mutual_information(z[:, 0], z[:, 1], method="ksg", k=3, base="e")
    assert est == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.03)


def test_ksg_gaussian_multivariate():
    rng = np.random.default_rng(5)
    d = 4
    A = rng.normal(size=(d, d)) * 0.5
    cov = A @ A.T + np.eye(d)
    z = rng.multivariate_normal(np.zeros(d), cov, size=5000)
    truth = gaussian_mi(cov, [0, 1], [2, 3], base="e")
    assert ksg_mi(z[:, :2], z[:, 2:], k=4) == pytest.approx(truth, abs=0.05)


def test_ksg_matches_sklearn_on_standardised_data():
    feature_selection = pytest.importorskip("sklearn.feature_selection")
    rng = np.random.default_rng(6)
    n = 1500
    x = rng.normal(size=n)
    y = 0.7 * x + 0.5 * rng.normal(size=n)
    ref = feature_selection.mutual_info_regression(x[:, None], y, n_neighbors=3, random_state=0)[0]
    ours = ksg_mi(x / x.std(), y / y.std(), k=3)
    assert ours == pytest.approx(ref, abs=1e-6)


def test_ksg_bad_input():
    with pytest.raises(ValueError, match="finite"):
        ksg_mi(np.array([0.0, np.nan, 1.0]), np.arange(3.0))
    with pytest.raises(ValueError, match="k"):
        ksg_mi(np.arange(5.0), np.arange(5.0), k=5)
    with pytest.raises(ValueError, match="same number"):
        ksg_mi(np.arange(5.0), np.arange(6.0))
    with pytest.raises(ValueError, match="empty"):
        ksg_mi(np.zeros(0), np.zeros(0))


# ---- discretisation -----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bins=st.integers(1, 300))
def test_discretize_uniform_matches_histogram(seed, bins):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 3)) * rng.uniform(0.1, 10)
    codes = discretize(x, bins=bins)
    assert codes.shape == x.shape and codes.min() >= 0 and codes.max() <= bins - 1
    hist, _ = np.histogram(x, bins=bins)
    np.testing.assert_array_equal(np.bincount(codes.ravel(), minlength=bins), hist)


def test_discretize_strategies():
    x = np.linspace(-1, 1, 1000).reshape(250, 4)
    q = discretize(x, bins=4, strategy="quantile")
    for j in range(4):
        np.testing.assert_array_equal(np.bincount(q[:, j]), [63, 62, 62, 63])
    s = discretize(x, strategy="sign")
    np.testing.assert_array_equal(s, (x > 0).astype(np.int8))
    r = discretize(np.array([-5.0, 0.0, 0.5, 5.0]), bins=2, range=(0.0, 1.0))
    np.testing.assert_array_equal(r, [0, 0, 1, 1])
    assert discretize(np.ones(5), bins=3).tolist() == [0] * 5
    assert discretize(np.zeros(3), bins=1000).dtype == np.int16
    assert discretize(np.zeros((3, 2, 2))).shape == (3, 4)


def test_discretize_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        discretize(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="bins"):
        discretize(np.zeros(3), bins=0)
    with pytest.raises(ValueError, match="strategy"):
        discretize(np.zeros(3), strategy="kmeans")
    with pytest.raises(ValueError, match="range"):
        discretize(np.zeros(3), range=(1.0, 0.0))
    with pytest.raises(ValueError, match="features"):
        discretize(np.zeros((0, 3)))


def test_feature_entropy_of_a_layer():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)
    ).double()
    x = torch.randn(700, 6, dtype=torch.float64)
    model.train()
    h = feature_entropy(model, x, "1", bins=4, method="mle", batch_size=128, base="e")
    assert model.training  # mode restored
    with torch.no_grad():
        feats = model[1](model[0](x)).numpy()
    assert h == pytest.approx(entropy(discretize(feats, bins=4), method="mle", base="e"), rel=1e-12)
    loader = [(x[i : i + 100], None) for i in range(0, 700, 100)]
    assert feature_entropy(
        model, loader, model[1], bins=4, method="mle", base="e"
    ) == pytest.approx(h)
    assert feature_entropy(model, x, "1", strategy="sign", method="jvhw", base="e") > 0

    class Data:  # duck-typed infotheory.data.Dataset
        x_test = x

    assert feature_entropy(model, Data(), "1", bins=4, method="mle", base="e") == pytest.approx(h)


def ksg_ckdtree(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """KSG algorithm 1 with scipy's cKDTree (max-norm), the independent reference."""
    from scipy.spatial import cKDTree
    from scipy.special import digamma

    x = x.reshape(x.shape[0], -1)
    y = y.reshape(y.shape[0], -1)
    xy = np.hstack([x, y])
    eps = cKDTree(xy).query(xy, k=[k + 1], p=np.inf)[0][:, 0]
    r = np.nextafter(eps, 0.0)
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True)
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, return_length=True)
    n = x.shape[0]
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx)) - np.mean(digamma(ny)))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 400),
    dx=st.integers(1, 3),
    dy=st.integers(1, 3),
    k=st.integers(1, 6),
    ties=st.booleans(),
)
def test_ksg_kernel_equals_ckdtree(seed, n, dx, dy, k, ties):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dx))
    y = x[:, :1] * rng.normal() + rng.normal(size=(n, dy))
    if ties:  # coarse values: many equal distances and duplicate points
        x, y = np.round(x), np.round(y * 2) / 2
    k = min(k, n - 1)
    assert ksg_mi(x, y, k=k) == pytest.approx(ksg_ckdtree(x, y, k), rel=1e-12, abs=1e-12)


def test_ksg_thread_count_does_not_change_results():
    import infotheory

    rng = np.random.default_rng(8)
    x = rng.normal(size=(3000, 2))
    y = x + rng.normal(size=(3000, 2))
    before = infotheory.get_num_threads()
    try:
        infotheory.set_num_threads(1)
        a = ksg_mi(x, y)
        infotheory.set_num_threads(2)
        b = ksg_mi(x, y)
    finally:
        infotheory.set_num_threads(before)
    assert a == b


# ---- units: bits by default, results say their unit -------------------------------------------


def test_default_unit_is_bits_everywhere():
    import json
    import pickle

    from infotheory.estimators import Information, entropy_from_counts

    s = np.repeat(np.arange(8), 5)  # uniform on 8 symbols: H = 3 bits = 3 ln 2 nats exactly (MLE)
    h = entropy(s, method="mle")
    assert isinstance(h, Information) and isinstance(h, float)
    assert h == pytest.approx(3.0, abs=1e-12) and h.unit == "bits" and h.base == 2
    he = entropy(s, method="mle", base="e")
    assert he == pytest.approx(3 * math.log(2), abs=1e-12) and he.unit == "nats"
    assert entropy(s, method="mle", base=10).unit == "hartleys"
    assert h.to("e") == pytest.approx(he, abs=1e-15) and h.to("e").unit == "nats"
    assert he.to(2) == pytest.approx(3.0, abs=1e-15)
    assert entropy_from_counts([5] * 8, method="mle") == pytest.approx(3.0, abs=1e-12)
    # identical samples: I(X;X) = H(X) in bits by default, for every discrete method
    assert mutual_information(s, s, method="mle") == pytest.approx(3.0, abs=1e-12)
    assert mutual_information(s, s, method="mle").unit == "bits"
    rho = 0.6
    cov = [[1.0, rho], [rho, 1.0]]
    assert gaussian_mi(cov, [0], [1]) == pytest.approx(-0.5 * math.log2(1 - rho**2), abs=1e-14)
    assert gaussian_mi(cov, [0], [1]).unit == "bits"
    rng = np.random.default_rng(3)
    z = rng.multivariate_normal([0, 0], cov, size=500)
    ksg = mutual_information(z[:, 0], z[:, 1], method="ksg")
    assert ksg == pytest.approx(ksg_mi(z[:, 0], z[:, 1]) / math.log(2), rel=1e-12)  # ksg_mi: nats
    # still a plain float for arithmetic, JSON and pickling
    assert type(h + 1.0) is float and json.loads(json.dumps({"h": h}))["h"] == float(h)
    back = pickle.loads(pickle.dumps(h))
    assert back == h and back.unit == "bits"
    assert repr(h) == repr(float(h))


def test_feature_entropy_default_unit_is_bits():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).double()
    x = torch.randn(300, 4, dtype=torch.float64)
    hb = feature_entropy(model, x, "1", bins=3, method="mle")
    he = feature_entropy(model, x, "1", bins=3, method="mle", base="e")
    assert hb.unit == "bits" and he.unit == "nats"
    assert hb == pytest.approx(he / math.log(2), rel=1e-12) and hb > 0


# ---- bad input across the API: floats where integers are needed, empty arrays, NaN -------------


def test_bad_input_is_refused_clearly():
    from infotheory.estimators import count_symbols, entropy_from_counts, fingerprint

    ints = np.arange(4)
    nan = np.array([0.0, np.nan, 1.0, 2.0])
    empty = np.array([], dtype=np.int64)
    # floats where integer symbols or counts are needed
    for call in (
        lambda: entropy(nan),
        lambda: count_symbols(np.array([[1.0, 2.0]])),
        lambda: mutual_information(ints, nan),
        lambda: entropy_from_counts(np.array([1.0, 2.0])),
        lambda: fingerprint(np.array([1.5])),
    ):
        with pytest.raises(TypeError, match=r"integer|discretize|dtype"):
            call()
    with pytest.raises(TypeError, match="alphabet_size"):
        entropy(ints, method="nsb", alphabet_size=10.0)
    with pytest.raises(TypeError, match="k must be an int"):
        ksg_mi(np.arange(5.0), np.arange(5.0), k=2.0)
    # empty arrays
    for call in (
        lambda: entropy(empty),
        lambda: count_symbols(empty),
        lambda: mutual_information(empty, empty),
        lambda: mutual_information(np.zeros(0), np.zeros(0), method="ksg"),
        lambda: entropy_from_counts(empty),
        lambda: discretize(np.zeros(0)),
    ):
        with pytest.raises(ValueError, match=r"at least one|empty|positive"):
            call()
    # NaN in real-valued inputs
    with pytest.raises(ValueError, match="finite"):
        mutual_information(nan, np.arange(4.0), method="ksg")
    with pytest.raises(ValueError, match="NaN"):
        discretize(nan)
    with pytest.raises(ValueError, match="finite"):
        gaussian_mi([[1.0, np.nan], [np.nan, 1.0]], [0], [1])


def test_gaussian_mi_index_checks():
    cov = [[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.5]]
    assert gaussian_mi(cov, [-3], [-1]) == gaussian_mi(cov, [0], [2])  # negative = from the end
    assert gaussian_mi(cov, np.array([0, 1]), (2,)) == gaussian_mi(cov, [0, 1], [2])
    with pytest.raises(TypeError, match=r"x_idx.*integer"):
        gaussian_mi(cov, [0.5], [1])
    with pytest.raises(ValueError, match="disjoint"):
        gaussian_mi(cov, [0], [-3])  # the same coordinate twice
    with pytest.raises(ValueError, match="repeat"):
        gaussian_mi(cov, [0, 0], [1])
    with pytest.raises(ValueError, match="range"):
        gaussian_mi(cov, [3], [1])
    with pytest.raises(ValueError, match="non-empty"):
        gaussian_mi(cov, [], [1])


def test_feature_entropy_checks_options_before_running_the_model():
    torch = pytest.importorskip("torch")
    calls = []

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x):
            calls.append(1)
            return self.lin(x)

    net, x = Net(), torch.randn(8, 2)
    for kwargs, err in (
        ({"method": "knn"}, ValueError),
        ({"base": 1}, ValueError),
        ({"bins": 2.5}, TypeError),
        ({"strategy": "kmeans"}, ValueError),
        ({"batch_size": 0}, ValueError),
    ):
        with pytest.raises(err):
            feature_entropy(net, x, "lin", **kwargs)
    assert not calls


# ---- mutation audit: behaviour the tests above left open ----------------------------------------


def test_mutual_information_passes_k_to_ksg():
    rng = np.random.default_rng(12)
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    for k in (1, 5, 9):
        assert mutual_information(x, y, method="ksg", k=k, base="e") == ksg_mi(x, y, k=k)
    assert ksg_mi(x, y, k=9) != ksg_mi(x, y, k=3)


def test_ksg_small_hand_counts():
    # n = 4 points, k = 1 (KSG algorithm 1, max-norm). Joint distances to the nearest other point:
    # eps = (2, 2, 2, 6.5). Other points strictly closer than eps_i in x: (1, 1, 0, 2), in y:
    # (0, 1, 1, 0); the ties |3 - 1| = 2 = eps_1, |2 - 0| = 2 = eps_0 and |9 - 2.5| = 6.5 = eps_3
    # are not counted. With psi(m) = H_{m-1} - gamma:
    # I = psi(1) + psi(4) - mean psi(2, 2, 1, 3) - mean psi(1, 2, 2, 1) = 11/6 - 11/8 = 11/24.
    x = np.array([0.0, 1.0, 3.0, 7.0])
    y = np.array([0.0, 2.0, 2.5, 9.0])
    assert ksg_mi(x, y, k=1) == pytest.approx(11 / 24, rel=1e-14)
    assert ksg_mi(y, x, k=1) == pytest.approx(11 / 24, rel=1e-14)


def test_ksg_counts_a_point_one_ulp_inside_eps():
    # "strictly closer than eps" is "within nextafter(eps, 0)": a marginal distance of exactly
    # 1 - 2^-53 = nextafter(1, 0) counts when eps = 1. Points (0, 0), (0.5, 1), (-(1 - 2^-53), 5),
    # k = 1: eps = (1, 1, 4); n_x = (2, 1, 2) others, n_y = (0, 0, 0).
    # I = psi(1) + psi(3) - mean psi(3, 2, 3) - psi(1) = (psi(3) - psi(2)) / 3 = 1/6.
    below_one = np.nextafter(1.0, 0.0)
    x = np.array([0.0, 0.5, -below_one])
    y = np.array([0.0, 1.0, 5.0])
    assert ksg_mi(x, y, k=1) == pytest.approx(1 / 6, rel=1e-14)
    assert ksg_mi(-x, y, k=1) == pytest.approx(1 / 6, rel=1e-14)  # the point above, not below
    assert ksg_mi(y, x, k=1) == pytest.approx(1 / 6, rel=1e-14)
    assert ksg_mi(x, y, k=1) == pytest.approx(ksg_ckdtree(x, y, 1), rel=1e-14)


def test_discretize_sign_is_strictly_positive():
    # ReLU activation patterns: 0 is an inactive unit
    x = np.array([[-1.0, 0.0, -0.0, 1e-300, np.inf, -np.inf]])
    np.testing.assert_array_equal(discretize(x, strategy="sign"), [[0, 0, 0, 1, 1, 0]])


@settings(max_examples=60, deadline=None)
@given(
    bins=st.integers(1, 400),
    lo=st.floats(-1e6, 1e6),
    width=st.floats(1e-6, 1e6),
    seed=st.integers(0, 2**32 - 1),
)
def test_discretize_uniform_on_the_edges(bins, lo, width, seed):
    # values on and next to every edge: bin i holds edges[i] <= x < edges[i+1], the last closed,
    # as numpy.histogram (checked value by value, not only by counts)
    hi = lo + width
    edges = np.linspace(lo, hi, bins + 1)
    if not np.all(np.diff(edges) > 0):
        return
    x = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    x = np.random.default_rng(seed).permutation(x)
    codes = discretize(x, bins=bins, range=(lo, hi))
    expected = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    np.testing.assert_array_equal(codes, expected)
    inside = (x >= lo) & (x <= hi)
    hist = np.histogram(x[inside], bins=bins, range=(lo, hi))[0]
    np.testing.assert_array_equal(np.bincount(codes[inside], minlength=bins), hist)


def test_discretize_quantile_ties_go_up():
    # edges that are data values: x == edge falls in the upper bin (as for "uniform")
    x = np.arange(9.0)  # quartile edges 2, 4, 6
    np.testing.assert_array_equal(
        discretize(x, bins=4, strategy="quantile"), [0, 0, 1, 1, 2, 2, 3, 3, 3]
    )


def test_discretize_code_dtype_boundaries():
    x = np.linspace(0.0, 1.0, 1000)
    for bins, dtype in ((128, np.int8), (129, np.int16), (2**15, np.int16), (2**15 + 1, np.int32)):
        c = discretize(x, bins=bins)
        assert c.dtype == dtype and int(c.min()) == 0 and int(c.max()) == bins - 1


def test_feature_entropy_restores_eval_mode_and_bins_all_features_together():
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh()).double().eval()
    x = torch.randn(200, 3, dtype=torch.float64)
    with torch.no_grad():
        feats = model(x).numpy()
    for strategy in ("quantile", "uniform"):
        h = feature_entropy(model, x, "1", bins=3, strategy=strategy, batch_size=50, method="mle")
        ref = entropy(discretize(feats, bins=3, strategy=strategy), method="mle")
        assert h == pytest.approx(ref, rel=1e-12)
    assert not model.training
