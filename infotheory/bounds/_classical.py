"""Fano's inequality and the Gaussian toy classifier of the IB robustness paper (math.md §B1, §B2)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._arrays import host_array, real_scalar
from .._units import log_base


def _binary_entropy_bits(p: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def fano_lower_bound(H: float, M: int, form: str = "weak", *, base: str | float = 2) -> float:
    """Lower bound on the error probability P_e of guessing Y (M classes) from T, given H(Y|T).

    Parameters
    ----------
    H : float
        Conditional entropy H(Y|T) in units of ``base`` (default bits), 0 <= H <= log M.
    M : int
        Number of classes |Y| >= 2.
    form : {"weak", "full"}
        ``"weak"`` is the form the paper uses, eq. (3): P_e >= (H - 1 bit) / log2 M, clipped at 0
        (vacuous for H <= 1 bit). ``"full"`` inverts Fano's inequality
        H <= h_b(P_e) + P_e log2(M - 1): the smallest P_e in [0, 1 - 1/M] satisfying it.

    Examples: H = 2 bits, M = 10 gives 0.3010 (weak) and 0.3394 (full).
    """
    if isinstance(M, bool) or not isinstance(M, (int, np.integer)):
        raise TypeError(f"M must be an int, got {type(M).__name__}")
    if M < 2:
        raise ValueError(f"M must be >= 2, got {M}")
    ln_b, _ = log_base(base)
    h = real_scalar(H, "H", finite=False)
    if h < 0:
        raise ValueError(f"H must be >= 0, got {H!r}")
    bits = h * ln_b / math.log(2.0)
    top = math.log2(M)
    if bits > top * (1 + 1e-12) + 1e-12:
        raise ValueError(f"H must be <= log(M) = {top:.6g} bits, got {bits:.6g} bits")
    if not isinstance(form, str) or form not in ("weak", "full"):
        raise ValueError(f'form must be "weak" or "full", got {form!r}')
    if form == "weak":
        return max(0.0, (bits - 1.0) / top)
    if form != "full":
        raise ValueError(f'form must be "weak" or "full", got {form!r}')
    p_max = 1.0 - 1.0 / M
    if bits <= 0.0:
        return 0.0
    if bits >= top:
        return p_max

    def gap(p: float) -> float:
        return _binary_entropy_bits(p) + p * math.log2(M - 1) - bits

    from scipy.optimize import brentq

    return float(brentq(gap, 0.0, p_max, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


@dataclass(frozen=True)
class GaussianClassifier:
    """The Bayes classifier of Y ~ Bernoulli(prior), X | Y=i ~ N(mu_i, Sigma): decide 1 iff
    theta^T x > c.

    Attributes
    ----------
    theta : ndarray, shape (d,)
        Sigma^{-1} (mu1 - mu0); T(X) = theta^T X is a minimal sufficient statistic.
    c : float
        Threshold used by the classifier.
    c_llr : float
        1/2 (mu1^T Sigma^{-1} mu1 - mu0^T Sigma^{-1} mu0): ln p(x|1)/p(x|0) = theta^T x - c_llr.
    delta : float
        Mahalanobis distance between the means.
    error : float
        Error probability of this classifier (the Bayes error with the Bayes threshold).
    mi : float
        I(Y; theta^T X) = I(Y; X), in ``unit``.
    prior : float
        P(Y = 1).
    unit : str
    """

    theta: np.ndarray
    c: float
    c_llr: float
    delta: float
    error: float
    mi: float
    prior: float
    unit: str

    def llr(self, x: Any) -> Any:
        """Log-likelihood ratio ln p(x|1)/p(x|0) at x of shape (d,) or (n, d)."""
        return np.asarray(x, dtype=np.float64) @ self.theta - self.c_llr

    def predict(self, x: Any) -> Any:
        """1 where theta^T x > c, else 0."""
        return (np.asarray(x, dtype=np.float64) @ self.theta > self.c).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["theta"] = self.theta.tolist()
        return d


def _mi_nats(delta: float, prior: float) -> float:
    """I(Y; L) for the LLR L ~ N(+-delta^2/2, delta^2) under Y = 1/0, by quadrature."""
    if delta == 0.0:
        return 0.0
    from scipy.integrate import quad

    p1, p0 = prior, 1.0 - prior
    lp1, lp0 = math.log(p1), math.log(p0)
    m, s = delta * delta / 2.0, delta

    def term(z: float, sign: float) -> float:  # z standard normal
        ell = sign * m + s * z
        phi = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        if sign > 0:
            return -phi * np.logaddexp(lp1, lp0 - ell)  # ln p(l|1)/p(l)
        return -phi * np.logaddexp(lp0, lp1 + ell)  # ln p(l|0)/p(l)

    i1 = quad(term, -np.inf, np.inf, args=(1.0,), epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    i0 = quad(term, -np.inf, np.inf, args=(-1.0,), epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    return max(0.0, p1 * i1 + p0 * i0)


def _real(x: Any, name: str) -> np.ndarray:
    a = host_array(x, name)
    if a.dtype == object or a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be real numbers, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def gaussian_bayes_classifier(
    mu0: Any,
    mu1: Any,
    Sigma: Any,
    prior: float = 0.5,
    *,
    threshold: str = "bayes",
    base: str | float = "e",
) -> GaussianClassifier:
    """The paper's Gaussian toy example (math.md §B2): oracle classifier, Bayes error, I(Y; theta^T X).

    Parameters
    ----------
    mu0, mu1 : array_like, shape (d,)
        Class means.
    Sigma : array_like, shape (d, d)
        Shared covariance, symmetric positive definite.
    prior : float
        P(Y = 1) in (0, 1).
    threshold : {"bayes", "paper"}
        ``"bayes"``: c = c_llr - ln(prior / (1 - prior)), the Bayes rule for any prior.
        ``"paper"``: the paper's c = c_llr, which is Bayes-optimal only for prior = 1/2 (its
        formula silently assumes equal priors); the error reported is that rule's error.
    base : {"e", "bits", 2, ...}
        Unit of ``mi``.

    Examples: mu0 = (0, 0), mu1 = (1, 2), Sigma = [[1, .5], [.5, 2]] gives theta = (0.571429,
    0.857143), c = 1.142857, delta = 1.511858, error = Phi(-delta/2) = 0.224846.
    """
    m0, m1, S = (_real(v, n) for v, n in ((mu0, "mu0"), (mu1, "mu1"), (Sigma, "Sigma")))
    if m0.ndim != 1 or m0.shape != m1.shape or m0.size == 0:
        raise ValueError(f"mu0 and mu1 must be 1-D of equal length, got {m0.shape} and {m1.shape}")
    d = m0.size
    if S.shape != (d, d):
        raise ValueError(f"Sigma must have shape ({d}, {d}), got {S.shape}")
    if not (np.all(np.isfinite(S)) and np.all(np.isfinite(m0)) and np.all(np.isfinite(m1))):
        raise ValueError("mu0, mu1 and Sigma must be finite")
    if not np.allclose(S, S.T, rtol=1e-10, atol=1e-12):
        raise ValueError("Sigma must be symmetric")
    try:
        chol = np.linalg.cholesky(S)
    except np.linalg.LinAlgError as e:
        raise ValueError("Sigma must be positive definite") from e
    p = real_scalar(prior, "prior")
    if not 0.0 < p < 1.0:
        raise ValueError(f"prior must be in (0, 1), got {prior!r}")
    if not isinstance(threshold, str) or threshold not in ("bayes", "paper"):
        raise ValueError(f'threshold must be "bayes" or "paper", got {threshold!r}')
    ln_b, unit = log_base(base)

    def solve(v: np.ndarray) -> np.ndarray:
        return np.linalg.solve(chol.T, np.linalg.solve(chol, v))

    theta = solve(m1 - m0)
    c_llr = 0.5 * float(m1 @ solve(m1) - m0 @ solve(m0))
    delta = math.sqrt(max(0.0, float((m1 - m0) @ theta)))
    if not (np.isfinite(theta).all() and math.isfinite(c_llr) and math.isfinite(delta)):
        raise ValueError(
            "mu0, mu1 and Sigma overflow float64 in Sigma^-1 mu (theta or the threshold is not "
            "finite); rescale the data"
        )
    shift = 0.0 if threshold == "paper" else -math.log(p / (1.0 - p))
    c = c_llr + shift
    # Decide 1 iff LLR > shift; LLR ~ N(+delta^2/2, delta^2) under Y=1, N(-delta^2/2, delta^2) under 0.
    if delta == 0.0:
        error = (1.0 - p) if shift < 0.0 else p
    else:
        h = delta * delta / 2.0
        error = p * _normal_cdf((shift - h) / delta) + (1 - p) * _normal_cdf(-(shift + h) / delta)
    return GaussianClassifier(
        theta=theta,
        c=c,
        c_llr=c_llr,
        delta=delta,
        error=error,
        mi=_mi_nats(delta, p) / ln_b,
        prior=p,
        unit=unit,
    )
