"""Bounds of the IB robustness paper (math.md Part B): psi and Theorem 2, Theorem 4's transfer
bound, Fano's inequality and the Gaussian toy classifier. Pure Python on numpy/scipy."""

from __future__ import annotations

from ._classical import GaussianClassifier, fano_lower_bound, gaussian_bayes_classifier
from ._theorems import psi, robustness_bound, transfer_delta

__all__ = [
    "GaussianClassifier",
    "fano_lower_bound",
    "gaussian_bayes_classifier",
    "psi",
    "robustness_bound",
    "transfer_delta",
]
