"""Entropy and mutual-information estimators, and discretisation of network features.

Discrete estimators (plug-in, Miller-Madow, JVHW, NSB) run on the C++ ``entropy`` kernel family:
rows of an integer array are counted in one hashing pass and the estimators read the fingerprint.
The Kraskov k-NN estimator of I(X;Y) for continuous data uses the family's kd-tree. Results are in
nats unless ``base=`` says otherwise. Torch is imported only by :func:`feature_entropy`.
"""

from __future__ import annotations

from ._counting import count_symbols, fingerprint
from ._discretize import discretize, feature_entropy
from ._entropy import entropy, entropy_from_counts, jvhw_coefficients
from ._mi import gaussian_mi, ksg_mi, mutual_information

__all__ = [
    "count_symbols",
    "discretize",
    "entropy",
    "entropy_from_counts",
    "feature_entropy",
    "fingerprint",
    "gaussian_mi",
    "jvhw_coefficients",
    "ksg_mi",
    "mutual_information",
]
