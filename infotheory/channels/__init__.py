"""Information-theoretically optimal attacks (Yi, Mudumbai and Xu 2020, arXiv 2007.14042).

Every function takes numpy arrays or torch tensors (CPU, or CUDA when built with CUDA), works in
float64 by default, and reports information in nats unless ``base=`` says otherwise.
"""

from __future__ import annotations

from .binary import BinaryAttackResult, KKTReport, binary_attack, binary_attack_grid, check_kkt
from .discrete import DiscreteAttackResult, discrete_attack, zero_information_budget
from .gaussian import (
    GaussianScalarResult,
    GaussianVectorResult,
    gaussian_scalar_attack,
    gaussian_vector_attack,
)
from .projection import ProjectionAttackResult, projection_attack
from .subset import SubsetAttackResult, subset_attack
from .waterfill import (
    ReverseWaterfillResult,
    WaterfillResult,
    reverse_waterfill,
    waterfill,
)

__all__ = [
    "BinaryAttackResult",
    "DiscreteAttackResult",
    "GaussianScalarResult",
    "GaussianVectorResult",
    "KKTReport",
    "ProjectionAttackResult",
    "ReverseWaterfillResult",
    "SubsetAttackResult",
    "WaterfillResult",
    "binary_attack",
    "binary_attack_grid",
    "check_kkt",
    "discrete_attack",
    "gaussian_scalar_attack",
    "gaussian_vector_attack",
    "projection_attack",
    "reverse_waterfill",
    "subset_attack",
    "waterfill",
    "zero_information_budget",
]
