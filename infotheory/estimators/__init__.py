"""Entropy and mutual-information estimators, and discretisation of network features.

Discrete estimators (plug-in, Miller-Madow, JVHW, NSB) run on the C++ ``entropy`` kernel family:
rows of an integer array are counted in one hashing pass and the estimators read the fingerprint.
The Kraskov k-NN estimator of I(X;Y) for continuous data uses the family's kd-tree.

Units: :func:`entropy`, :func:`entropy_from_counts`, :func:`mutual_information`,
:func:`feature_entropy` and :func:`gaussian_mi` return bits by default (``base=2``, as the JVHW
reference and the issue specify); pass ``base="e"`` for nats. Their results are
:class:`Information` floats whose ``unit`` attribute says the unit. :func:`ksg_mi`, the low-level
Kraskov estimator, always returns nats. Torch is imported only by :func:`feature_entropy`.
"""

from __future__ import annotations

from ._counting import count_symbols, fingerprint
from ._discretize import discretize, feature_entropy
from ._entropy import entropy, entropy_from_counts, jvhw_coefficients
from ._mi import gaussian_mi, ksg_mi, mutual_information
from ._value import Information

__all__ = [
    "Information",
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
