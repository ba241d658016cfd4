"""The binary attack of Section 3.3 (math.md §A4): exact 1-D reduction against cvxpy and the spec."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from infotheory.channels import binary_attack, binary_attack_grid, check_kkt

cp = pytest.importorskip("cvxpy")


def cvxpy_binary(w: np.ndarray, eps: float) -> tuple[float, float]:
    """Problem (21) written directly on p1..p4 (exponential cone, Clarabel); value and dual."""
    a, b, c, d = (float(v) for v in w)
    p = cp.Variable(4)
    j = cp.hstack(
        [
            a * (1 - p[0]) + b * p[1],  # U=0, Y=0
            a * p[0] + b * (1 - p[1]),  # U=0, Y=1
            c * (1 - p[2]) + d * p[3],  # U=1, Y=0
            c * p[2] + d * (1 - p[3]),  # U=1, Y=1
        ]
    )
    py = cp.hstack([j[0] + j[2], j[1] + j[3]])
    pu = np.array([a + b, a + b, c + d, c + d])
    prod = cp.multiply(pu, cp.hstack([py, py]))
    budget = np.array([a, b, c, d]) @ p <= eps
    prob = cp.Problem(cp.Minimize(cp.sum(cp.rel_entr(j, prod))), [p >= 0, p <= 1, budget])
    prob.solve(solver=cp.CLARABEL)
    return float(prob.value), float(budget.dual_value)


# math.md §A4.4 worked examples: [a,b,c,d], eps, I*, p*, alpha, lambda
WORKED = [
    ([0.45, 0.05, 0.05, 0.45], 0.10, 0.19274476, (1 / 9, 0, 0, 1 / 9), (0.2, 0.8), 1.386294),
    ([0.7, 0.1, 0.1, 0.1], 0.03, 0.02498076, (0, 0, 0, 0.3), (0.125, 0.35), 0.966588),
    ([0.5, 0.2, 0.1, 0.2], 0.05, 0.02071377, (0, 0, 0, 0.25), (0.285714, 0.5), 0.619039),
]


@pytest.mark.parametrize(("w", "eps", "mi", "flip", "alpha", "lam"), WORKED)
def test_worked_examples(w, eps, mi, flip, alpha, lam):
    r = binary_attack(w, eps)
    assert float(r.mi) == pytest.approx(mi, abs=5e-9)
    np.testing.assert_allclose(r.flip, flip, atol=1e-12)
    np.testing.assert_allclose(r.alpha, alpha, atol=5e-7)
    assert (float(r.alpha0), float(r.alpha1)) == pytest.approx(alpha, abs=5e-7)
    assert float(r.multiplier) == pytest.approx(lam, abs=5e-7)
    assert check_kkt(r).max_violation < 1e-10


def test_paper_theorem_33_fails_at_the_counterexample():
    r = binary_attack([0.45, 0.05, 0.05, 0.45], 0.1)
    paper = check_kkt(r, conditions="paper")
    # the p2-equation of (23): b (ln 4 + ln 4) = 0.1386 != 0 (math.md §A4.3)
    assert paper.stationarity[1] == pytest.approx(0.05 * 2 * np.log(4), abs=1e-9)
    assert paper.max_violation > 0.1
    assert check_kkt(r).max_violation < 1e-12
    # and the true optimum has I > 0, against the theorem's claim I = 0
    assert float(r.mi) > 0.19


FIG6_D = 0.01 + 0.04 * np.arange(10)
# math.md §A4.5 (nats, 4 decimals): prior, I(U;X), D0, values (padded with 0)
FIG6 = [
    (
        [0.45, 0.05, 0.05, 0.45],
        0.36806,
        0.40000,
        ".3466 .2704 .2069 .1539 .1099 .0740 .0457 .0244 .0098 .0018",
    ),
    ([0.40, 0.10, 0.10, 0.40], 0.19274, 0.30000, ".1792 .1308 .0910 .0590 .0342 .0163 .0050 .0002"),
    ([0.30, 0.20, 0.20, 0.30], 0.02014, 0.10000, ".0163 .0050 .0002"),
    ([0.25, 0.25, 0.25, 0.25], 0.0, 0.0, ""),
    ([0.94, 0.02, 0.02, 0.02], 0.04300, 0.01917, ".0150"),
    ([0.70, 0.10, 0.10, 0.10], 0.06036, 0.07500, ".0472 .0088"),
    ([0.40, 0.20, 0.20, 0.20], 0.01384, 0.06667, ".0101 .0009"),
    ([0.22, 0.26, 0.26, 0.26], 0.00087, 0.02000, ".0002"),
    ([0.47, 0.47, 0.03, 0.03], 0.0, 0.0, ""),
    ([0.40, 0.40, 0.10, 0.10], 0.0, 0.0, ""),
]


@pytest.mark.parametrize(("w", "ixu", "d0", "values"), FIG6)
def test_figure_6_reference(w, ixu, d0, values):
    want = [float(v) for v in values.split()] + [0.0] * (10 - len(values.split()))
    r = binary_attack(np.array([w] * 10), FIG6_D)
    np.testing.assert_allclose(r.mi, want, atol=5e-5)
    assert np.all(r.mi[FIG6_D >= r.zero_information_budget] == 0.0)
    assert float(r.zero_information_budget[0]) == pytest.approx(d0, abs=5e-6)
    assert float(binary_attack(w, 0.0).mi) == pytest.approx(ixu, abs=5e-6)


def test_symmetric_closed_form_and_grid():
    beta = 0.1
    eps = np.linspace(0.0, 0.45, 46)
    r = binary_attack([0.45, 0.05, 0.05, 0.45], eps)

    def hb(x):
        return -(x * np.log(x) + (1 - x) * np.log1p(-x))

    want = np.where(eps < 0.5 - beta, np.log(2) - hb(np.minimum(beta + eps, 0.5)), 0.0)
    np.testing.assert_allclose(r.mi, want, atol=1e-13)
    # the paper's 100^4 grid (math.md §A4.4): 0.348537 against the exact 0.346632
    grid = binary_attack_grid([0.45, 0.05, 0.05, 0.45], 0.01)
    assert grid == pytest.approx(0.348537, abs=5e-7)
    assert grid >= float(binary_attack([0.45, 0.05, 0.05, 0.45], 0.01).mi)


dirichlet = st.integers(0, 2**32 - 1).map(
    lambda s: np.random.default_rng(s).dirichlet(np.full(4, 0.8))
)


@settings(max_examples=10, deadline=None)
@given(w=dirichlet, eps=st.floats(0.0, 0.5))
@example(w=np.random.default_rng(1551).dirichlet(np.full(4, 0.8)), eps=0.0)
def test_against_cvxpy(w, eps):
    w = w / w.sum()
    r = binary_attack(w, eps)
    ref, dual = cvxpy_binary(w, eps)
    if eps == 0.0:  # no flips: the prior's own I(U;X)
        p = w.reshape(2, 2)
        ixu = float(np.sum(p * np.log(p / np.outer(p.sum(1), p.sum(0)))))
        assert float(r.mi) == pytest.approx(ixu, rel=1e-13, abs=1e-15)
    assert float(r.mi) == pytest.approx(ref, abs=1e-7)
    # never worse than the solver beyond its tolerance: Clarabel's optimum can sit below the true
    # one by about its gap tolerance (1.4e-8 at the prior [0.859, 0.108, 4.6e-5, 0.033] with
    # eps = 0, where the true value is the prior's I(U;X), which we return to 1e-16)
    assert float(r.mi) <= ref + 5e-8
    assert check_kkt(r).max_violation < 1e-8
    if float(r.mi) > 1e-6 and eps > 1e-3:  # at eps = 0 any large enough lambda is a multiplier
        # Clarabel's dual is only as good as its tolerance (hypothesis found a 4e-3 relative gap
        # at a prior with a 9e-4 atom), so it is a loose check; the tight one is that the
        # multiplier is a subgradient of the convex MI(eps): between the one-sided slopes.
        lam = float(r.multiplier)
        assert lam == pytest.approx(dual, rel=2e-2, abs=1e-5)
        h = 1e-6
        m = binary_attack(np.tile(w, (3, 1)), np.array([eps - h, eps, eps + h])).mi
        assert (m[1] - m[2]) / h - 1e-5 <= lam <= (m[0] - m[1]) / h + 1e-5


@settings(max_examples=40, deadline=None)
@given(w=dirichlet)
def test_monotone_convex_zero_beyond_d0(w):
    w = w / w.sum()
    eps = np.linspace(0.0, 0.6, 121)
    r = binary_attack(w, eps)
    mi = r.mi
    assert np.all(np.diff(mi) <= 1e-14)
    assert np.all(np.diff(mi, 2) >= -1e-11)
    d0 = float(r.zero_information_budget[0])
    assert np.all(mi[eps >= d0] == 0.0)
    assert float(binary_attack(w, d0).mi) == 0.0
    assert np.all(mi[eps < d0 * (1 - 1e-6)] > 0.0)
    # budget fully spent below D_0, never exceeded
    used = (r.flip * w).sum(-1)
    assert np.all(used <= eps + 1e-15)
    np.testing.assert_allclose(used[eps < d0], eps[eps < d0], atol=1e-15)


def test_batched_equals_one_by_one_and_shapes():
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(4), size=(3, 5))
    eps = rng.uniform(0, 0.3, size=(3, 5))
    r = binary_attack(w, eps)
    assert r.mi.shape == (3, 5) and r.flip.shape == (3, 5, 4) and r.alpha.shape == (3, 5, 2)
    for i in range(3):
        for j in range(5):
            one = binary_attack(w[i, j], eps[i, j])
            assert float(one.mi) == float(r.mi[i, j])
            np.testing.assert_array_equal(one.flip, r.flip[i, j])
    # (2, 2) form, broadcast eps, bits
    m = binary_attack(w[0, 0].reshape(2, 2), [0.0, 0.1])
    assert m.mi.shape == (2,)
    b = binary_attack(w[0, 0], 0.1, base=2)
    assert b.unit == "bits"
    assert float(b.mi) == pytest.approx(float(m.mi[1]) / np.log(2), abs=1e-15)
    assert set(b.to_dict()) >= {"mi", "flip", "alpha", "multiplier", "zero_information_budget"}


def test_degenerate_priors():
    for w in ([0.6, 0.4, 0.0, 0.0], [0.0, 0.0, 0.3, 0.7], [0.2, 0.3, 0.2, 0.3]):
        r = binary_attack(w, [0.0, 0.2])
        np.testing.assert_array_equal(r.mi, [0.0, 0.0])
        assert np.isfinite(r.alpha).all() and np.isfinite(r.flip).all()
    # a zero cell: X = U exactly for U = 0 (b = 0) and for U = 1 (c = 0)
    r = binary_attack([0.5, 0.0, 0.0, 0.5], [0.0, 0.1, 0.5])
    assert float(r.mi[0]) == pytest.approx(np.log(2), abs=1e-15)
    assert float(r.mi[1]) == pytest.approx(np.log(2) - (-(0.1 * np.log(0.1) + 0.9 * np.log(0.9))))
    assert float(r.mi[2]) == 0.0
    assert check_kkt(r).max_violation < 1e-10


def test_torch_cpu_input():
    torch = pytest.importorskip("torch")
    p = torch.tensor([[0.45, 0.05, 0.05, 0.45]], dtype=torch.float64)
    r = binary_attack(p, torch.tensor([0.1], dtype=torch.float64))
    assert isinstance(r.mi, torch.Tensor)
    assert float(r.mi[0]) == pytest.approx(0.19274476, abs=5e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="sum to 1"):
        binary_attack([0.5, 0.2, 0.2, 0.2], 0.1)
    with pytest.raises(ValueError, match="p must be >= 0"):
        binary_attack([0.5, -0.1, 0.4, 0.2], 0.1)
    with pytest.raises(ValueError, match="p must be finite"):
        binary_attack([0.5, np.nan, 0.3, 0.2], 0.1)
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):
        binary_attack([0.25] * 4, -0.1)
    with pytest.raises(ValueError, match="eps must be finite"):
        binary_attack([0.25] * 4, np.nan)
    with pytest.raises(ValueError, match=r"p must have shape \(\.\.\., 4\)"):
        binary_attack([0.2] * 5, 0.1)
    with pytest.raises(ValueError, match="broadcast"):
        binary_attack(np.full((3, 4), 0.25), [0.1, 0.2])
    with pytest.raises(ValueError, match="conditions"):
        check_kkt(binary_attack([0.25] * 4, 0.1), conditions="x")


@pytest.mark.cuda
def test_cuda_matches_cpu():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(4), size=4096)
    eps = rng.uniform(0, 0.4, size=4096)
    cpu = binary_attack(w, eps)
    gpu = binary_attack(torch.tensor(w, device="cuda"), torch.tensor(eps, device="cuda"))
    np.testing.assert_allclose(gpu.mi.cpu().numpy(), cpu.mi, atol=1e-12)
    np.testing.assert_allclose(gpu.flip.cpu().numpy(), cpu.flip, atol=1e-10)
    with pytest.raises(ValueError, match="sum to 1"):
        binary_attack(torch.full((2, 4), 0.3, device="cuda", dtype=torch.float64), 0.1)


def test_concurrent_calls_release_the_gil_and_agree():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    w = rng.dirichlet(np.ones(4), size=(4, 20_000))
    eps = rng.uniform(0, 0.4, size=(4, 20_000))
    serial = [binary_attack(w[i], eps[i]).mi for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda i: binary_attack(w[i], eps[i]).mi, range(4)))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
