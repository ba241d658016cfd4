"""The Nemenman-Shafee-Bialek (NSB) entropy estimator, computed in the log domain.

NSB averages the posterior mean entropy of a symmetric Dirichlet(beta) model over beta, with the
prior on beta chosen so that the implied prior on the entropy is flat (NIPS 2001; Phys. Rev. E 2004):

    evidence  P(n | b) = G(K b) / G(N + K b) * prod_i G(n_i + b) / G(b)
    prior     p(b)     = d xi / d b = K psi1(K b + 1) - psi1(b + 1),  xi(b) = psi(K b + 1) - psi(b + 1)
    <H>_b              = psi(N + K b + 1) - sum_i (n_i + b) / (N + K b) psi(n_i + b + 1)
    H_NSB              = int p(b) P(n|b) <H>_b db / int p(b) P(n|b) db

with K the alphabet size and N the sample size. Everything is summed over the fingerprint (unseen
symbols have n_i = 0) and integrated over u = ln b on a grid refined around the posterior peak, with
weights kept as logarithms, so it works for any N (a naive product of Gamma functions overflows for
N in the hundreds).
"""

from __future__ import annotations

import numpy as np


def _log_weights(u: np.ndarray, j: np.ndarray, f: np.ndarray, n: int, K: int) -> np.ndarray:
    from scipy.special import gammaln, polygamma

    b = np.exp(u)
    prior = K * polygamma(1, K * b + 1) - polygamma(1, b + 1)
    seen = (f[None, :] * (gammaln(j[None, :] + b[:, None]) - gammaln(b)[:, None])).sum(axis=1)
    with np.errstate(divide="ignore"):
        return np.log(prior) + gammaln(K * b) - gammaln(n + K * b) + seen + u


def _posterior_mean_entropy(
    u: np.ndarray, j: np.ndarray, f: np.ndarray, n: int, K: int, unseen: int
) -> np.ndarray:
    from scipy.special import digamma

    b = np.exp(u)
    total = n + K * b
    seen = (f[None, :] * (j[None, :] + b[:, None]) * digamma(j[None, :] + b[:, None] + 1)).sum(1)
    return digamma(total + 1) - (seen + unseen * b * digamma(b + 1)) / total


def nsb_nats(j: np.ndarray, f: np.ndarray, n: int, alphabet_size: int) -> float:
    """NSB entropy in nats from the sparse fingerprint of n samples: ``f[i]`` symbols were seen
    ``j[i]`` times (j > 0)."""
    j = np.asarray(j)
    f = np.asarray(f, dtype=np.float64)
    keep = (j > 0) & (f > 0)
    j, f = j[keep], f[keep]
    k_seen = int(f.sum())
    K = int(alphabet_size)
    if K == 1:
        return 0.0
    jf = j.astype(np.float64)
    unseen = K - k_seen
    coarse = np.linspace(-30.0, 30.0, 601)
    lw = _log_weights(coarse, jf, f, n, K)
    peak = int(np.argmax(lw))
    # Refine on the region where the weight is within e^-40 of the peak (one coarse step around).
    keep = np.nonzero(lw > lw[peak] - 40.0)[0]
    lo = coarse[max(keep[0] - 1, 0)]
    hi = coarse[min(keep[-1] + 1, coarse.size - 1)]
    u = np.linspace(lo, hi, 2001)
    lw = _log_weights(u, jf, f, n, K)
    w = np.exp(lw - lw.max())
    h = _posterior_mean_entropy(u, jf, f, n, K, unseen)
    # Trapezoid rule on the uniform grid (the common step cancels in the ratio).
    return float(((w * h)[1:] + (w * h)[:-1]).sum() / (w[1:] + w[:-1]).sum())
