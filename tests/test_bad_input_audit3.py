"""Bad input, fourth pass (fuzzing channels, attacks, lipschitz, data, the CLI): finite inputs whose
results were NaN, inf or wrong, and odd arguments that raised the wrong exception (each case failed
before its fix)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from infotheory import channels

# a2, s2, D of four problems: interior, D between, erasing (D >= a2), a2 = 0
A2 = np.array([1.0, 2.0, 0.5, 0.0])
S2 = np.array([1.0, 0.5, 0.0, 1.0])
D = np.array([0.5, 1.0, 0.25, 3.0])


@pytest.mark.parametrize("aware", [True, False])
@pytest.mark.parametrize("k", [-1072, -1000, 600, 1000])
def test_gaussian_scalar_attack_scales_exactly(aware, k):
    # a2 D overflowed at 1e200 (cov_ue = -inf, beta = NaN); subnormal products lost their digits
    ref = channels.gaussian_scalar_attack(A2, S2, D, aware=aware)
    c = 2.0**k
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = channels.gaussian_scalar_attack(A2 * c, S2 * c, D * c, aware=aware)
    for name in ("mi", "rho2", "alpha", "beta"):
        np.testing.assert_allclose(getattr(r, name), getattr(ref, name), rtol=1e-12, err_msg=name)
    for name in ("cov_ue", "cov_we", "noise_var", "power"):
        got = np.ldexp(getattr(r, name), -k)  # subnormal outputs hold few digits: atol = one step
        np.testing.assert_allclose(got, getattr(ref, name), rtol=1e-12, atol=2.0 ** (-1074 - k))


def test_gaussian_scalar_attack_near_the_float_range():
    r = channels.gaussian_scalar_attack(1.7e308, 1.7e308, 1.0)  # S overflowed: all NaN
    assert np.isfinite([r.mi, r.rho2, r.cov_ue, r.cov_we, r.alpha, r.beta]).all()
    # blind attacker, rho2 within 1e-308 of 1: log1p(-rho2) gave inf; I = 1/2 ln(S / (s2 + a2 D/S))
    r = channels.gaussian_scalar_attack(1.7e308, 1.0, 1.0, aware=False)
    assert r.mi == pytest.approx(0.5 * np.log(1.7e308 / 2.0), rel=1e-12)


def test_gaussian_vector_attack_subnormal_variances():
    # the total mi was 2 ln 2 (each coordinate's ln(S / (sigma sqrt(S))) rounded to ln 2)
    r = channels.gaussian_vector_attack([5e-324, 5e-324], [5e-324, 5e-324], 0.0)
    assert r.mi == pytest.approx(np.log(2.0), rel=1e-12)
    np.testing.assert_allclose(r.coordinate_mi, [0.5 * np.log(2.0)] * 2, rtol=1e-12)


@pytest.mark.parametrize("k", [-1060, -1000, 1000, 1020])
def test_gaussian_vector_attack_scales_exactly(k):
    a2 = np.array([[1.0, 2.0, 0.5], [3.0, 0.0, 1.0]])
    s2 = np.array([[1.0, 0.5, 0.0], [1.0, 1.0, 0.0]])
    budget = np.array([0.75, 2.0])
    ref = channels.gaussian_vector_attack(a2, s2, budget)
    c = 2.0**k
    r = channels.gaussian_vector_attack(a2 * c, s2 * c, budget * c)
    np.testing.assert_allclose(r.mi, ref.mi, rtol=1e-12)
    got = np.ldexp(r.allocation, -k)
    np.testing.assert_allclose(got, ref.allocation, rtol=1e-12, atol=2.0 ** (-1074 - k))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("flip", np.full(4, np.nan), "result.flip must be finite"),
        ("prior", np.array([0.1, np.nan, 0.3, 0.4]), "result.prior must be finite"),
        ("eps", np.nan, "result.eps must be finite"),
        ("multiplier", np.nan, "result.multiplier must not be NaN"),
        ("flip", np.zeros(3), "same shape"),
    ],
)
def test_check_kkt_refuses_nan_results(field, value, match):
    # a hand-built result with NaN flips reported max_violation 0.0 (NaN fails every comparison)
    import dataclasses

    r = dataclasses.replace(channels.binary_attack([0.1, 0.2, 0.3, 0.4], 0.05), **{field: value})
    with pytest.raises(ValueError, match=match):
        channels.check_kkt(r)


def test_check_kkt_infinite_multiplier_still_accepted():
    r = channels.binary_attack([0.5, 0.0, 0.0, 0.5], 0.0)  # eps = 0 on a deterministic X
    assert np.isinf(r.multiplier)
    assert channels.check_kkt(r).max_violation == 0.0


H = np.array([[1.0, 0.5, 0.2], [0.3, -1.0, 0.4]])


@pytest.mark.parametrize("noise_var", [0.0, 0.5])
def test_projection_attack_scales_exactly(noise_var):
    # the squared singular values (2^-1060) lost their digits as subnormals
    ref = channels.projection_attack(H, 0.25, noise_var=noise_var)
    k = -530
    c = 2.0**k
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = channels.projection_attack(H * c, 0.25 * c * c, noise_var=noise_var * c * c)
    assert r.mi == pytest.approx(ref.mi, rel=1e-12)
    step = 2.0 ** (-1074 - 2 * k)  # level and allocation are subnormal: one step of them
    np.testing.assert_allclose(np.ldexp(r.level, -2 * k), ref.level, rtol=1e-12, atol=step)
    np.testing.assert_allclose(np.ldexp(r.allocation, -2 * k), ref.allocation, atol=step)


def test_projection_attack_large_H():
    # sigma^2 = 1e400 overflowed: a ValueError about "sigma2", an argument the caller never passed
    r = channels.projection_attack(np.eye(2) * 1e200, 1e300)
    assert r.mi == pytest.approx(np.log(2e100), rel=1e-12)  # 2 x 1/2 ln(1e400 / 5e299)
    np.testing.assert_allclose(r.allocation, [5e299, 5e299], rtol=1e-12)


def test_projection_attack_tiny_H_without_budget_is_infinite():
    # D = 0 leaves a deterministic X = HU: I = inf; 1e-200 squared gave 0 and mi = 0 (a perfect
    # attack claimed for free)
    assert channels.projection_attack(np.eye(2) * 1e-200, 0.0).mi == np.inf
    r = channels.projection_attack(np.stack([np.eye(2) * 1e-200, np.eye(2)]), [0.0, 1.0])
    np.testing.assert_allclose(r.mi, [np.inf, np.log(2.0)], rtol=1e-12)


def test_certified_radius_of_huge_margins():
    from infotheory import lipschitz

    # z_top - z_second overflowed: radius inf where it is 2e308 / sqrt(2) = 1.41e308
    z = np.array([[1e308, -1e308], [1.0, 2.0]])
    np.testing.assert_allclose(
        lipschitz.certified_radius(z, 1.0), [np.sqrt(2) * 1e308, 1 / np.sqrt(2)]
    )
    r = lipschitz.certified_radius(z, 1.0, y=np.array([0, 0]))
    np.testing.assert_allclose(r, [np.sqrt(2) * 1e308, 0.0])
    # a radius beyond float64 (a tiny L) is an error, not an infinite certificate
    with pytest.raises(ValueError, match=r"radius .* overflows"):
        lipschitz.certified_radius(np.array([[1.0, 0.0]]), 1e-310)


@pytest.mark.parametrize("kwargs", [{"K": 10**9}, {"widths": [10**8]}])
def test_models_refuse_terabyte_layers(kwargs):
    # `infotheory train --K 1000000000` asked the allocator for 2 TB (a RuntimeError traceback)
    torch = pytest.importorskip("torch")
    from infotheory import ib

    for cls in (ib.VIB, ib.CEClassifier):
        with pytest.raises(ValueError, match="reduce widths or K"):
            cls.mlp(in_features=784, n_classes=10, **kwargs)
    assert torch.is_tensor(ib.VIB.mlp(in_features=4, n_classes=3, K=2, widths=[8]).decoder.weight)


def test_attack_constants_that_do_not_fit_the_dtype():
    torch = pytest.importorskip("torch")
    from infotheory import attacks

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    x, y = torch.rand(5, 4), torch.tensor([0, 1, 2, 0, 1])
    # CW: torch.full's RuntimeError ("value cannot be converted ... without overflow") before
    with pytest.raises(ValueError, match=r"c=1e\+300 does not fit"):
        attacks.CW(model, steps=2, c=1e300)(x, y)
    # Normalize: std = 1e-300 is 0 in float32, so every logit was NaN or inf, silently
    norm = attacks.Normalize(model, mean=0.5, std=1e-300)
    with pytest.raises(ValueError, match="do not fit x's dtype"):
        norm(x)
    assert torch.isfinite(norm.double()(x.double())).all()  # float64 holds it
    fresh = torch.nn.Linear(4, 3)
    assert torch.isfinite(attacks.Normalize(fresh, mean=0.5, std=0.25)(x)).all()


@pytest.mark.parametrize(
    "dims", [(65536, 65536, 65536, 65536), (2**32 - 1, 2**32 - 1)]
)  # products 2**64 (int64: 0) and ~2**64 (int64: negative)
def test_read_idx_huge_headers(tmp_path, dims):
    import struct

    from infotheory.data._files import read_idx

    f = tmp_path / "x-idx"
    f.write_bytes(b"\x00\x00\x08" + bytes([len(dims)]) + struct.pack(f">{len(dims)}I", *dims))
    with pytest.raises(ValueError, match="IDX size mismatch: header says"):
        read_idx(f)


@pytest.mark.parametrize(
    ("shape", "exc"),
    [(4, TypeError), ("4", TypeError), ((4.7,), TypeError), ((True,), TypeError)],
)
def test_upper_bound_input_shape_entries(shape, exc):
    # (4.7,) was truncated to (4,) and bounded silently; 4 raised "'int' object is not iterable"
    torch = pytest.importorskip("torch")
    from infotheory import lipschitz

    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    with pytest.raises(exc, match="input_shape"):
        lipschitz.lipschitz_upper_bound(model, shape)
    assert lipschitz.lipschitz_upper_bound(model, (np.int64(4),)).input_shape == (4,)


def test_cli_reproduce_quick_and_full_exclude_each_other(capsys):
    from infotheory import cli

    with pytest.raises(SystemExit) as e:  # argparse's usage error, before any work
        cli.main(["reproduce", "fig3", "--quick", "--full"])
    assert e.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("k", [-1000, 600, 1000])
def test_zero_information_budget_scales_exactly(k):
    # 2**-1000 costs gave D_0 = 0.75 (it is 1/6); 2**600 a RuntimeError from HiGHS
    p = np.array([[0.3, 0.1], [0.2, 0.4]])
    d = np.array([[0.0, 1.0, 2.0], [1.5, 0.0, 1.0]])
    d0, q0 = channels.zero_information_budget(p, d)
    dk, qk = channels.zero_information_budget(p, d * 2.0**k)
    assert np.ldexp(dk, -k) == pytest.approx(d0, rel=1e-9)
    assert d0 == pytest.approx(1 / 6, rel=1e-9)
    np.testing.assert_allclose(qk, q0, atol=1e-9)


@pytest.mark.parametrize("k", [-600, 600])
def test_discrete_attack_scales_exactly(k):
    # 2**-600: "exact-zero" with E[d] = 1/6, twice the budget; 2**600: the fast solver gave up and
    # cvxpy's channel had E[d] = 0.92, 11x the budget (both with mi ~ 0)
    p = np.array([[0.3, 0.1], [0.2, 0.4]])
    d = np.array([[0.0, 1.0, 2.0], [1.5, 0.0, 1.0]])
    ref = channels.discrete_attack(p, d, 0.08)
    c = 2.0**k
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = channels.discrete_attack(p, d * c, 0.08 * c)
    assert r.solver == ref.solver == "fast"
    assert r.mi == ref.mi
    assert np.ldexp(r.distortion, -k) == ref.distortion <= 0.08
    assert np.ldexp(r.multiplier, k) == ref.multiplier
    np.testing.assert_array_equal(r.channel, ref.channel)
