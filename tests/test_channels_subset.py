"""The subset attack (math.md §A5): the corrected value, the paper's formula, the search over T."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infotheory.channels import gaussian_vector_attack, subset_attack

SIGMA = [4.0, 1.0, 0.25, 0.01]


def test_spec_values_unlimited_power():
    r = subset_attack(SIGMA, 2, noise_var=0.1)
    assert r.attacked == (0, 1) and r.method == "closed-form"
    assert r.mi == pytest.approx(0.6740, abs=5e-5)
    assert subset_attack(SIGMA, 2, noise_var=1.0).mi == pytest.approx(0.1165, abs=5e-5)
    # math.md §A5.3 table (s_w^2 = 0.1), in the order of the attacked sets {1,2}, {1,3}, ...
    want = {(0, 1): 0.6740, (0, 2): 1.2466, (0, 3): 1.8253, (1, 2): 1.9044, (1, 3): 2.4832}
    for T, v in want.items():
        rest = [SIGMA[i] for i in range(4) if i not in T]
        assert 0.5 * np.sum(np.log1p(np.array(rest) / 0.1)) == pytest.approx(v, abs=5e-5)
    assert subset_attack(SIGMA, 2, noise_var=0.0).mi == np.inf
    assert subset_attack(SIGMA, 4, noise_var=0.0).mi == 0.0


def test_paper_formula_warns_and_can_be_negative():
    with pytest.warns(UserWarning, match="not a mutual information"):
        r = subset_attack(SIGMA, 2, noise_var=0.0, formula="paper")
    assert r.attacked == (0, 1)
    assert r.mi == pytest.approx(-0.1579, abs=5e-5)


@settings(max_examples=15, deadline=None)
@given(
    s=st.lists(st.floats(0.01, 5.0), min_size=2, max_size=6),
    k=st.integers(1, 5),
    nv=st.floats(0.05, 2.0),
    frac=st.floats(0.05, 1.2),
)
def test_budgeted_search_is_exhaustive_minimum(s, k, nv, frac):
    s = np.array(s)
    k = min(k, s.size)
    D = frac * float(np.sort(s)[-k:].sum())
    r = subset_attack(s, k, noise_var=nv, D=D)
    assert r.method == "exhaustive"
    best = np.inf
    for T in itertools.combinations(range(s.size), k):
        rest = np.delete(s, T)
        v = float(gaussian_vector_attack(s[list(T)], nv, D).mi) + 0.5 * np.log1p(rest / nv).sum()
        best = min(best, v)
    assert r.mi == pytest.approx(best, abs=1e-10)
    assert sum(r.allocation) == pytest.approx(min(D, s[list(r.attacked)].sum()), rel=1e-9)
    greedy = subset_attack(s, k, noise_var=nv, D=D, method="greedy")
    assert greedy.method == "greedy" and greedy.mi >= r.mi - 1e-12
    # unlimited power is the limit of a large budget
    big = subset_attack(s, k, noise_var=nv, D=1e3 * s.sum())
    assert big.mi == pytest.approx(subset_attack(s, k, noise_var=nv).mi, abs=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="k must be an integer"):
        subset_attack(SIGMA, 5, noise_var=0.1)
    with pytest.raises(ValueError, match="variances must be >= 0"):
        subset_attack([-1.0, 1.0], 1, noise_var=0.1)
    with pytest.raises(ValueError, match="noise_var must be finite"):
        subset_attack(SIGMA, 1, noise_var=np.nan)
    with pytest.raises(ValueError, match="formula"):
        subset_attack(SIGMA, 1, noise_var=0.1, formula="x")
    with pytest.raises(ValueError, match="method"):
        subset_attack(SIGMA, 1, noise_var=0.1, D=1.0, method="x")
    assert set(subset_attack(SIGMA, 1, noise_var=0.1).to_dict()) >= {"attacked", "mi", "method"}
